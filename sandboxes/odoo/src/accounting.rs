//! `account.move` as a connector sees it: invoice lines become journal items (product, tax and
//! receivable lines), amounts are computed with per-line rounding, entries must balance to post,
//! and reversals and payments go through their wizards.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::models::{create_one, round_money};
use super::orm::{Exc, OrmResult, World};
use shared::odoo::value::Val;

const M: &str = "account.move";
const L: &str = "account.move.line";

fn is_invoice(move_type: &str) -> bool {
    move_type != "entry"
}

fn move_type(world: &World, id: i64) -> String {
    world.value(M, id, "move_type").as_str().unwrap_or("entry").to_string()
}

fn decimals(world: &World, move_id: i64) -> u32 {
    world
        .m2o(M, move_id, "currency_id")
        .and_then(|c| world.value("res.currency", c, "decimal_places").as_i64())
        .unwrap_or(2) as u32
}

pub fn default_move_values(world: &World, move_type: &str, vals: &mut BTreeMap<String, Val>) -> OrmResult<()> {
    if !vals.contains_key("currency_id")
        && let Some((&id, _)) = world.table("res.currency").rows.iter().next()
    {
        vals.insert("currency_id".into(), Val::Int(id));
    }
    if !vals.contains_key("journal_id") {
        let wanted = if is_invoice(move_type) { "sale" } else { "general" };
        let journal = world
            .table("account.journal")
            .rows
            .iter()
            .find(|(_, r)| r.get("type").and_then(Val::as_str) == Some(wanted));
        let (&id, _) =
            journal.ok_or_else(|| Exc::UserError(format!("No {wanted} journal could be found; please create one.")))?;
        vals.insert("journal_id".into(), Val::Int(id));
    }
    Ok(())
}

pub fn default_line_values(world: &mut World, line: i64) -> OrmResult<()> {
    let move_id = world.m2o(L, line, "move_id").unwrap_or_default();
    if world.value(L, line, "quantity").is_falsy() && world.value(L, line, "display_type").as_str() == Some("product") {
        world.set(L, line, "quantity", Val::Num(Decimal::ONE));
    }
    if world.m2o(L, line, "account_id").is_none() {
        let from_product = world
            .m2o(L, line, "product_id")
            .and_then(|p| world.m2o("product.product", p, "categ_id"))
            .and_then(|c| world.m2o("product.category", c, "property_account_income_categ_id"));
        let from_journal =
            world.m2o(M, move_id, "journal_id").and_then(|j| world.m2o("account.journal", j, "default_account_id"));
        if let Some(account) = from_product.or(from_journal) {
            world.set(L, line, "account_id", Val::Int(account));
        }
    }
    if world.m2o(L, line, "partner_id").is_none()
        && let Some(partner) = world.m2o(M, move_id, "partner_id")
    {
        world.set(L, line, "partner_id", Val::Int(partner));
    }
    Ok(())
}

/// Net amount and tax per tax of one invoice line, each rounded on the line (`round_per_line`),
/// or the excluded taxes left unrounded for the move to round once (`round_globally`).
fn line_amounts(world: &World, line: i64, decimals: u32) -> (Decimal, Vec<(i64, Decimal)>) {
    priced_line_amounts(world, L, "quantity", line, decimals)
}

/// The same computation for any priced line (`sale.order.line` counts `product_uom_qty`):
/// Odoo computes both through `account.tax`, so an order and its invoice agree.
pub fn priced_line_amounts(
    world: &World,
    model: &str,
    qty_field: &str,
    line: i64,
    decimals: u32,
) -> (Decimal, Vec<(i64, Decimal)>) {
    let qty = world.decimal(model, line, qty_field);
    let price = world.decimal(model, line, "price_unit");
    let discount = world.decimal(model, line, "discount");
    let base = price * qty * (Decimal::ONE_HUNDRED - discount) / Decimal::ONE_HUNDRED;
    let taxes = world.x2many(model, line, "tax_ids");
    let rate = |t: i64| world.decimal("account.tax", t, "amount");
    let fixed = |t: i64| world.value("account.tax", t, "amount_type").as_str() == Some("fixed");
    let (included, excluded): (Vec<i64>, Vec<i64>) =
        taxes.iter().partition(|&&t| !world.value("account.tax", t, "price_include").is_falsy() && !fixed(t));

    let mut amounts = Vec::new();
    let subtotal = if included.is_empty() {
        round_money(base, decimals)
    } else {
        // The price includes these taxes: take them out, and give the last one the rounding remainder
        // so that net + taxes is exactly the price the customer saw.
        let total = round_money(base, decimals);
        let rates: Decimal = included.iter().map(|&t| rate(t)).sum();
        let net = round_money(total * Decimal::ONE_HUNDRED / (Decimal::ONE_HUNDRED + rates), decimals);
        let mut left = total - net;
        for (i, &t) in included.iter().enumerate() {
            let amount = if i + 1 == included.len() {
                left
            } else {
                round_money(net * rate(t) / Decimal::ONE_HUNDRED, decimals)
            };
            left -= amount;
            amounts.push((t, amount));
        }
        net
    };
    for &t in &excluded {
        let amount = if fixed(t) { rate(t) * qty } else { subtotal * rate(t) / Decimal::ONE_HUNDRED };
        amounts.push((t, if world.round_globally { amount } else { round_money(amount, decimals) }));
    }
    (subtotal, amounts)
}

fn set_balance(world: &mut World, line: i64, balance: Decimal) {
    world.set(L, line, "balance", Val::Num(balance));
    world.set(L, line, "debit", Val::Num(balance.max(Decimal::ZERO)));
    world.set(L, line, "credit", Val::Num((-balance).max(Decimal::ZERO)));
}

/// Recomputes lines and totals after any change to a move.
pub fn recompute(world: &mut World, move_id: i64) -> OrmResult<()> {
    let kind = move_type(world, move_id);
    let lines = world.children(L, "move_id", move_id);
    for &line in &lines {
        default_line_values(world, line)?;
    }
    if !is_invoice(&kind) {
        let (mut debit, mut credit) = (Decimal::ZERO, Decimal::ZERO);
        for &line in &lines {
            let (d, c) = (world.decimal(L, line, "debit"), world.decimal(L, line, "credit"));
            world.set(L, line, "balance", Val::Num(d - c));
            debit += d;
            credit += c;
        }
        let _ = credit;
        for (field, v) in [
            ("amount_untaxed", debit),
            ("amount_tax", Decimal::ZERO),
            ("amount_total", debit),
            ("amount_residual", Decimal::ZERO),
        ] {
            world.set(M, move_id, field, Val::Num(v));
        }
        return Ok(());
    }

    // Invoices: product lines are the caller's; tax and receivable lines are Odoo's and rebuilt.
    let decimals = decimals(world, move_id);
    // Revenue is a credit on an invoice and a debit on a credit note.
    let sign = if kind.starts_with("out_") == (kind.ends_with("invoice") || kind.ends_with("receipt")) {
        -Decimal::ONE
    } else {
        Decimal::ONE
    };
    let mut products = Vec::new();
    for line in lines {
        match world.value(L, line, "display_type").as_str() {
            Some("tax" | "payment_term") => {
                world.table_mut(L).rows.remove(&line);
            }
            Some("product") => products.push(line),
            _ => {}
        }
    }
    let mut untaxed = Decimal::ZERO;
    let mut per_tax: BTreeMap<i64, Decimal> = BTreeMap::new();
    for &line in &products {
        let (subtotal, taxes) = line_amounts(world, line, decimals);
        let line_tax: Decimal = taxes.iter().map(|(_, a)| *a).sum();
        world.set(L, line, "price_subtotal", Val::Num(subtotal));
        world.set(L, line, "price_total", Val::Num(round_money(subtotal + line_tax, decimals)));
        set_balance(world, line, sign * subtotal);
        untaxed += subtotal;
        for (t, a) in taxes {
            *per_tax.entry(t).or_default() += a;
        }
    }
    if world.round_globally {
        for amount in per_tax.values_mut() {
            *amount = round_money(*amount, decimals);
        }
    }
    let partner = world.m2o(M, move_id, "partner_id").map(Val::Int).unwrap_or(Val::Bool(false));
    let tax_total: Decimal = per_tax.values().copied().sum();
    for (tax, amount) in per_tax {
        let account = world.tax_accounts.get(&tax).copied().unwrap_or(world.receivable_account);
        let vals = BTreeMap::from([
            ("move_id".to_string(), Val::Int(move_id)),
            ("name".to_string(), world.value("account.tax", tax, "name")),
            ("display_type".to_string(), Val::from("tax")),
            ("account_id".to_string(), Val::Int(account)),
            ("partner_id".to_string(), partner.clone()),
        ]);
        let line = world.insert(L, &vals)?;
        world.set(L, line, "tax_line_id", Val::Int(tax));
        set_balance(world, line, sign * amount);
    }
    let total = untaxed + tax_total;
    let vals = BTreeMap::from([
        ("move_id".to_string(), Val::Int(move_id)),
        ("name".to_string(), world.value(M, move_id, "name")),
        ("display_type".to_string(), Val::from("payment_term")),
        ("account_id".to_string(), Val::Int(world.receivable_account)),
        ("partner_id".to_string(), partner),
    ]);
    let receivable = world.insert(L, &vals)?;
    set_balance(world, receivable, -sign * total);

    world.set(M, move_id, "amount_untaxed", Val::Num(untaxed));
    world.set(M, move_id, "amount_tax", Val::Num(tax_total));
    world.set(M, move_id, "amount_total", Val::Num(total));
    if world.value(M, move_id, "payment_state").as_str() != Some("paid") {
        world.set(M, move_id, "amount_residual", Val::Num(total));
    }
    Ok(())
}

fn check_analytic(world: &World, line: i64) -> OrmResult<()> {
    let Val::Map(distribution) = world.value(L, line, "analytic_distribution") else { return Ok(()) };
    for (key, percent) in &distribution {
        for account in key.split(',') {
            let id: i64 = account
                .trim()
                .parse()
                .map_err(|_| Exc::ValidationError(format!("Invalid analytic distribution key {key:?}")))?;
            if !world.exists("account.analytic.account", id) {
                return Err(World::missing("account.analytic.account", &[id]));
            }
        }
        let p = percent
            .as_decimal()
            .ok_or_else(|| Exc::ValidationError(format!("Invalid analytic percentage {percent:?}")))?;
        if p <= Decimal::ZERO || p > Decimal::ONE_HUNDRED {
            return Err(Exc::ValidationError(format!("Analytic percentage {p} must be between 0 and 100.")));
        }
    }
    Ok(())
}

pub fn action_post(world: &mut World, ids: &[i64]) -> OrmResult<Val> {
    world.check_ids(M, ids)?;
    for &id in ids {
        let name = world.value(M, id, "name").as_str().unwrap_or("/").to_string();
        match world.value(M, id, "state").as_str() {
            Some("posted") => return Err(Exc::UserError(format!("The entry {name} (id {id}) is already posted."))),
            Some("cancel") => return Err(Exc::UserError("You cannot post a cancelled entry.".into())),
            _ => {}
        }
        let kind = move_type(world, id);
        let lines = world.children(L, "move_id", id);
        if is_invoice(&kind) {
            if world.m2o(M, id, "partner_id").is_none() {
                return Err(Exc::UserError(
                    "The field 'Customer' is required, please complete it to validate the Customer Invoice.".into(),
                ));
            }
            if !lines.iter().any(|&l| world.value(L, l, "display_type").as_str() == Some("product")) {
                return Err(Exc::UserError("You need to add a line before posting.".into()));
            }
            if world.value(M, id, "invoice_date").is_falsy() {
                let today = world.today.clone();
                world.set(M, id, "invoice_date", Val::Str(today));
            }
        } else if lines.is_empty() {
            return Err(Exc::UserError("You need to add a line before posting.".into()));
        }
        for &line in &lines {
            check_analytic(world, line)?;
            if world.m2o(L, line, "account_id").is_none()
                && world.value(L, line, "display_type").as_str() != Some("line_note")
            {
                return Err(Exc::UserError(format!("Line {:?} has no account.", world.value(L, line, "name"))));
            }
        }
        let (debit, credit) = lines.iter().fold((Decimal::ZERO, Decimal::ZERO), |(d, c), &l| {
            (d + world.decimal(L, l, "debit"), c + world.decimal(L, l, "credit"))
        });
        if debit != credit {
            return Err(Exc::UserError(format!(
                "The entry is not balanced: the total of debits equals {debit} and the total of credits equals {credit}."
            )));
        }
        let date = world.value(M, id, if is_invoice(&kind) { "invoice_date" } else { "date" });
        let year = date.as_str().unwrap_or(&world.today)[..4].to_string();
        let journal = world.m2o(M, id, "journal_id").unwrap_or_default();
        let code = world.value("account.journal", journal, "code").as_str().unwrap_or("MISC").to_string();
        let prefix = match kind.as_str() {
            "out_refund" | "in_refund" => format!("R{code}/{year}/"),
            _ => format!("{code}/{year}/"),
        };
        let used = world
            .table(M)
            .rows
            .values()
            .filter(|r| r.get("name").and_then(Val::as_str).is_some_and(|n| n.starts_with(&prefix)))
            .count();
        world.set(M, id, "name", Val::Str(format!("{prefix}{:05}", used + 1)));
        world.set(M, id, "state", Val::from("posted"));
        recompute(world, id)?;
    }
    Ok(Val::Bool(false))
}

pub fn set_state(world: &mut World, ids: &[i64], state: &str) -> OrmResult<Val> {
    world.check_ids(M, ids)?;
    for &id in ids {
        if state == "cancel" && world.value(M, id, "state").as_str() == Some("posted") {
            return Err(Exc::UserError("Only draft journal entries can be cancelled.".into()));
        }
        world.set(M, id, "state", Val::from(state));
    }
    // Odoo's button_draft and button_cancel return None: XML-RPC cannot marshal that.
    Ok(Val::Nil)
}

pub fn check_reversible(world: &World, wizard: i64) -> OrmResult<()> {
    let moves = world.x2many("account.move.reversal", wizard, "move_ids");
    if moves.is_empty() {
        return Err(Exc::UserError(
            "No journal entry to reverse: open the wizard with active_model and active_ids.".into(),
        ));
    }
    if moves.iter().any(|&m| world.value(M, m, "state").as_str() != Some("posted")) {
        return Err(Exc::UserError("You can only reverse posted moves.".into()));
    }
    Ok(())
}

pub fn refund_moves(world: &mut World, wizards: &[i64]) -> OrmResult<Val> {
    world.check_ids("account.move.reversal", wizards)?;
    let mut created = Vec::new();
    for &wizard in wizards {
        let reason = world.value("account.move.reversal", wizard, "reason").as_str().map(String::from);
        let date = world
            .value("account.move.reversal", wizard, "date")
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| world.today.clone());
        let mut new_ids = Vec::new();
        for original in world.x2many("account.move.reversal", wizard, "move_ids") {
            let kind = move_type(world, original);
            let name = world.value(M, original, "name").as_str().unwrap_or_default().to_string();
            let reversed_type = match kind.as_str() {
                "out_invoice" => "out_refund",
                "out_refund" => "out_invoice",
                "in_invoice" => "in_refund",
                "in_refund" => "in_invoice",
                other => other,
            };
            let mut vals = BTreeMap::from([
                ("move_type".to_string(), Val::from(reversed_type)),
                ("reversed_entry_id".to_string(), Val::Int(original)),
                ("date".to_string(), Val::Str(date.clone())),
                (
                    "ref".to_string(),
                    Val::Str(match &reason {
                        Some(r) => format!("Reversal of: {name}, {r}"),
                        None => format!("Reversal of: {name}"),
                    }),
                ),
            ]);
            for field in ["partner_id", "currency_id", "journal_id", "invoice_origin"] {
                let v = world.value(M, original, field);
                if !v.is_falsy() {
                    vals.insert(field.to_string(), v);
                }
            }
            let mut commands = Vec::new();
            for line in world.children(L, "move_id", original) {
                let display = world.value(L, line, "display_type").as_str().unwrap_or("product").to_string();
                if is_invoice(&kind) && display != "product" {
                    continue;
                }
                let mut lv: BTreeMap<String, Val> = [
                    "name",
                    "product_id",
                    "quantity",
                    "price_unit",
                    "discount",
                    "account_id",
                    "analytic_distribution",
                    "partner_id",
                ]
                .iter()
                .map(|f| (f.to_string(), world.value(L, line, f)))
                .filter(|(_, v)| !v.is_falsy())
                .collect();
                lv.insert(
                    "tax_ids".into(),
                    Val::list([Val::list([Val::Int(6), Val::Int(0), Val::ids(&world.x2many(L, line, "tax_ids"))])]),
                );
                if !is_invoice(&kind) {
                    lv.insert("debit".into(), world.value(L, line, "credit"));
                    lv.insert("credit".into(), world.value(L, line, "debit"));
                }
                commands.push(Val::list([Val::Int(0), Val::Int(0), Val::Map(lv)]));
            }
            let field = if is_invoice(&kind) { "invoice_line_ids" } else { "line_ids" };
            vals.insert(field.to_string(), Val::List(commands));
            if is_invoice(&kind) {
                vals.insert("invoice_date".into(), Val::Str(date.clone()));
            }
            let new_id = create_one(world, M, vals)?;
            // Entries are reversed and posted at once; credit notes stay in draft for review (Odoo 17+).
            if !is_invoice(&kind) {
                action_post(world, &[new_id])?;
                world.set(M, original, "payment_state", Val::from("reversed"));
            }
            new_ids.push(new_id);
        }
        world.set("account.move.reversal", wizard, "new_move_ids", Val::ids(&new_ids));
        created.extend(new_ids);
    }
    let mut action = BTreeMap::from([
        ("name".to_string(), Val::from("Reverse Moves")),
        ("type".to_string(), Val::from("ir.actions.act_window")),
        ("res_model".to_string(), Val::from(M)),
    ]);
    if let [single] = created[..] {
        action.insert("view_mode".into(), Val::from("form"));
        action.insert("res_id".into(), Val::Int(single));
    } else {
        action.insert("view_mode".into(), Val::from("list,form"));
        action.insert("domain".into(), Val::list([Val::list([Val::from("id"), Val::from("in"), Val::ids(&created)])]));
    }
    Ok(Val::Map(action))
}

pub fn default_payment_amount(world: &mut World, wizard: i64) -> OrmResult<()> {
    let moves = world.x2many("account.payment.register", wizard, "move_ids");
    if moves.iter().any(|&m| world.value(M, m, "state").as_str() != Some("posted")) {
        return Err(Exc::UserError("You can only register payment for posted journal entries.".into()));
    }
    if world.value("account.payment.register", wizard, "amount").is_falsy() {
        let residual: Decimal = moves.iter().map(|&m| world.decimal(M, m, "amount_residual")).sum();
        world.set("account.payment.register", wizard, "amount", Val::Num(residual));
    }
    Ok(())
}

pub fn create_payments(world: &mut World, wizards: &[i64]) -> OrmResult<Val> {
    world.check_ids("account.payment.register", wizards)?;
    for &wizard in wizards {
        let mut left = world.decimal("account.payment.register", wizard, "amount");
        let date = world
            .value("account.payment.register", wizard, "payment_date")
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| world.today.clone());
        for m in world.x2many("account.payment.register", wizard, "move_ids") {
            let residual = world.decimal(M, m, "amount_residual");
            let paid = residual.min(left);
            left -= paid;
            let memo = world.value("account.payment.register", wizard, "communication");
            // Money back to the customer for a credit note, money in for an invoice.
            let direction =
                if world.value(M, m, "move_type").as_str() == Some("out_refund") { "outbound" } else { "inbound" };
            let vals = BTreeMap::from([
                ("amount".to_string(), Val::Num(paid)),
                ("payment_type".to_string(), Val::from(direction)),
                ("partner_id".to_string(), world.value(M, m, "partner_id")),
                ("date".to_string(), Val::Str(date.clone())),
                ("memo".to_string(), if memo.is_falsy() { world.value(M, m, "name") } else { memo }),
                ("state".to_string(), Val::from("paid")),
                ("journal_id".to_string(), world.value("account.payment.register", wizard, "journal_id")),
                (
                    "reconciled_invoice_ids".to_string(),
                    Val::list([Val::list([Val::Int(6), Val::Int(0), Val::ids(&[m])])]),
                ),
            ]);
            create_one(world, "account.payment", vals)?;
            world.set(M, m, "amount_residual", Val::Num(residual - paid));
            world.set(M, m, "payment_state", Val::from(if residual == paid { "paid" } else { "partial" }));
        }
    }
    Ok(Val::Bool(true))
}
