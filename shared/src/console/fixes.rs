//! What a failure's reason suggests doing about it, in the words of the screen that does it.

/// The text after `marker` up to the first of `ends` (or the end).
fn after<'a>(reason: &'a str, marker: &str, ends: &[char]) -> Option<&'a str> {
    let rest = &reason[reason.find(marker)? + marker.len()..];
    let end = rest.find(|c| ends.contains(&c)).unwrap_or(rest.len());
    Some(rest[..end].trim_matches(|c: char| c == '"' || c.is_whitespace())).filter(|s| !s.is_empty())
}

/// The fix a failure's reason suggests, with the command or screen that makes it.
pub fn suggested_fix(reason: &str) -> String {
    let lower = reason.to_lowercase();
    if lower.contains("no mapping rule matches") {
        let category = after(reason, "category ", &[')', ';']).unwrap_or("of this line");
        return format!(
            "Add a rule for category {category} (or a fallback rule) with `mlc mappings set`, then replay."
        );
    }
    if let Some(sku) = after(reason, "product ", &[' ']).filter(|_| lower.contains("is not in odoo")) {
        return format!("Create product {sku} in Odoo (Internal Reference {sku}), then replay.");
    }
    if lower.contains("access denied")
        || lower.contains("api key")
        || lower.contains("refused the login")
        || lower.contains("not accepted by database")
    {
        return "The Odoo key was revoked or is wrong: give the connection a new one (`mlc connection add` with \
                the same name, or the stack's secret), then replay all of this reason."
            .into();
    }
    if let Some(account) = after(reason, "account ", &[' ']).filter(|_| lower.contains("does not exist in odoo")) {
        return format!(
            "Create account {account} in Odoo's chart of accounts, or point the rule at an existing one, then replay."
        );
    }
    if lower.contains("cost center") {
        return "Create the cost center (analytic account) in Odoo, or change the rule's analytic split, then replay."
            .into();
    }
    if lower.contains("tax") && (lower.contains("does not exist") || lower.contains("no tax rule")) {
        return "Map the store's tax rate to an Odoo tax in the rules' taxes (`mlc mappings check` lists them), then replay."
            .into();
    }
    if lower.contains("currency") && lower.contains("not active") {
        return "Activate the currency in Odoo's accounting settings, then replay.".into();
    }
    if lower.contains("journal") && lower.contains("not in odoo") {
        return "Create the journal in Odoo, or name an existing one in the rules, then replay.".into();
    }
    if lower.contains("mapping rules") {
        return "Set the connection's mapping rules with `mlc mappings set`, then replay.".into();
    }
    if lower.contains("retries exhausted") || lower.contains("did not answer") || lower.contains("timed out") {
        return "Odoo or the store did not answer in time: check they are up, then replay.".into();
    }
    "Fix what the reason names in Odoo, the store or the rules, then replay.".into()
}

#[cfg(test)]
mod tests {
    use super::suggested_fix;

    #[test]
    fn each_reason_suggests_its_own_fix() {
        let rule = suggested_fix(
            "permanent: no mapping rule matches line \"Rake\" (SKU GAR-1, category Garden / Tools); add a rule or a fallback rule",
        );
        assert!(rule.contains("rule for category Garden / Tools"), "{rule}");
        let product = suggested_fix(
            "permanent: product SKU-9 is not in Odoo: create it with Internal Reference SKU-9, then replay",
        );
        assert!(product.starts_with("Create product SKU-9 in Odoo"), "{product}");
        let key = suggested_fix("permanent: Odoo refused: Access Denied");
        assert!(key.contains("Odoo key was revoked"), "{key}");
        let account = suggested_fix("permanent: it would fail: account 400900 does not exist in Odoo");
        assert!(account.contains("Create account 400900"), "{account}");
        assert!(suggested_fix("something new").contains("then replay"));
    }
}
