//! Customers as `res.partner`: found by external id, then by e-mail, created once, with their
//! billing and shipping addresses as child contacts.

use std::collections::HashMap;

use super::moves::leaf;
use super::{Context, Poster, XMLID_MODULE};
use crate::ids::{ConnectionId, OdooRef, SourceId};
use crate::odoo::{OdooError, Val};
use crate::records::{Address, CustomerRef, SalesDocument};

/// A name Odoo accepts in an external id (no dots), readable when it can be.
pub(super) fn xmlid_name(connection: &ConnectionId, what: &str, source: &SourceId) -> String {
    let clean: String = source
        .as_str()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' })
        .collect();
    format!("{}_{what}_{clean}", connection.as_str().replace('-', "_"))
}

pub(super) fn normalized_email(email: Option<&str>) -> Option<String> {
    email.map(|e| e.trim().to_lowercase()).filter(|e| e.contains('@'))
}

pub(super) fn full_name(a: &Address) -> Option<String> {
    let name = [a.first_name.as_deref(), a.last_name.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ");
    (!name.trim().is_empty()).then_some(name).or_else(|| a.company.clone())
}

impl Poster {
    pub(super) fn partner_vals(
        &self,
        ctx: &Context,
        name: String,
        email: Option<String>,
        address: Option<&Address>,
        reference: Option<&str>,
    ) -> Val {
        let mut vals = vec![("name", Val::Str(name)), ("customer_rank", Val::Int(1))];
        if let Some(email) = email {
            vals.push(("email", Val::Str(email)));
        }
        if let Some(r) = reference {
            vals.push(("ref", Val::from(r)));
        }
        if let Some(a) = address {
            for (field, value) in [
                ("street", &a.line1),
                ("street2", &a.line2),
                ("city", &a.city),
                ("zip", &a.postcode),
                ("phone", &a.phone),
            ] {
                if let Some(v) = value.as_deref().filter(|v| !v.trim().is_empty()) {
                    vals.push((field, Val::from(v)));
                }
            }
            if let Some(country) = a.country.as_ref().and_then(|c| ctx.odoo.country(c.as_str())) {
                vals.push(("country_id", Val::Int(country)));
                if let Some(state) = a.region.as_deref().and_then(|r| ctx.odoo.state(country, r)) {
                    vals.push(("state_id", Val::Int(state)));
                }
            }
        }
        Val::map(vals)
    }

    /// Finds or creates the partner of each document: registered customers by external id,
    /// guests by normalized email (never by name), new ones created together in one call.
    pub(super) async fn resolve_partners(
        &self,
        ctx: &Context,
        docs: &[(usize, &SalesDocument)],
    ) -> std::result::Result<HashMap<usize, i64>, OdooError> {
        let conn = &ctx.connection.id;
        let client = &ctx.odoo.client;
        let guests_take_customers = ctx.rules.partners.guests_match_customers_by_email;
        let mut found: HashMap<usize, i64> = HashMap::new();
        let mut wanted_xmlids: Vec<String> = Vec::new();
        let mut wanted_emails: Vec<String> = Vec::new();
        for (idx, doc) in docs {
            let (key, xmlid, email) = partner_key(conn, doc, guests_take_customers);
            if let Some(id) = key.as_deref().and_then(|k| ctx.odoo.cached_partner(k)) {
                found.insert(*idx, id);
            } else if let Some(x) = xmlid {
                wanted_xmlids.push(x);
            } else if let Some(e) = email {
                wanted_emails.push(e);
            }
        }
        let mut by_xmlid = partners_by_xmlid(client, &wanted_xmlids).await?;
        self.bind_unbound_customers(ctx, docs, &mut by_xmlid).await?;
        let by_email = partners_by_email(client, &wanted_emails, guests_take_customers).await?;
        // Everything still unknown is created, once per customer even if they ordered twice.
        let mut to_create: Vec<NewPartner> = Vec::new();
        let mut pending: Vec<(usize, String)> = Vec::new();
        for (idx, doc) in docs {
            if found.contains_key(idx) {
                continue;
            }
            let (key, xmlid, email) = partner_key(conn, doc, guests_take_customers);
            if let Some(id) = xmlid
                .as_ref()
                .and_then(|x| by_xmlid.get(x))
                .or_else(|| email.as_ref().filter(|_| xmlid.is_none()).and_then(|e| by_email.get(e)))
            {
                found.insert(*idx, *id);
                if let Some(k) = &key {
                    ctx.odoo.remember_partner(k, *id);
                }
                continue;
            }
            let key = key.unwrap_or_else(|| format!("guest:{idx}"));
            if !to_create.iter().any(|p| p.key == key) {
                to_create.push(self.new_partner(ctx, doc, key.clone(), xmlid, email));
            }
            pending.push((*idx, key));
        }
        let (taken, claims) = self.claim_creations(ctx, &mut to_create).await?;
        let created = if to_create.is_empty() { Ok(Vec::new()) } else { self.create_partners(ctx, &to_create).await };
        // Bound now (or failed): the next worker to claim finds the binding, or the orphan.
        for token in &claims {
            let _ = self.deps.state.release(token).await;
        }
        let ids = created?;
        for (key, id) in &taken {
            if !key.starts_with("guest:") {
                ctx.odoo.remember_partner(key, *id);
            }
        }
        for (idx, key) in &pending {
            if let Some((_, id)) = taken.iter().find(|(k, _)| k == key) {
                found.insert(*idx, *id);
            }
        }
        let created: HashMap<&str, i64> = to_create.iter().zip(&ids).map(|(p, id)| (p.key.as_str(), *id)).collect();
        for (k, id) in &created {
            if !k.starts_with("guest:") {
                ctx.odoo.remember_partner(k, *id);
            }
        }
        for (idx, key) in pending {
            if let Some(id) = created.get(key.as_str()) {
                found.insert(idx, *id);
            }
        }
        self.delivery_contacts(ctx, docs, &found).await?;
        Ok(found)
    }

    /// A delivery contact for `place` under `partner`.
    pub(super) fn delivery_vals(&self, ctx: &Context, partner: i64, place: &Address) -> Val {
        let name = full_name(place).unwrap_or_else(|| "Delivery address".into());
        let mut vals = self.partner_vals(ctx, name, None, Some(place), None);
        if let Val::Map(m) = &mut vals {
            m.insert("parent_id".into(), Val::Int(partner));
            m.insert("type".into(), Val::from("delivery"));
            m.remove("customer_rank");
        }
        vals
    }

    /// One delivery contact per customer and place other than the billing address, under an
    /// external id made of the customer (or a guest's partner) and the place, so later orders
    /// and the customer record's address book reuse it. One search per batch, none when the
    /// session already knows them.
    async fn delivery_contacts(
        &self,
        ctx: &Context,
        docs: &[(usize, &SalesDocument)],
        found: &HashMap<usize, i64>,
    ) -> std::result::Result<(), OdooError> {
        let conn = &ctx.connection.id;
        let mut wanted: Vec<(String, i64, &Address)> = Vec::new();
        for (idx, doc) in docs {
            let (Some(&partner), Some(place)) = (found.get(idx), doc.shipping_address.as_ref()) else { continue };
            let Some(xmlid) = delivery_xmlid(conn, doc, partner) else { continue };
            if ctx.odoo.cached_partner(&format!("d:{xmlid}")).is_none() && !wanted.iter().any(|w| w.0 == xmlid) {
                wanted.push((xmlid, partner, place));
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let client = &ctx.odoo.client;
        let names: Vec<String> = wanted.iter().map(|w| w.0.clone()).collect();
        let known = partners_by_xmlid(client, &names).await?;
        for (xmlid, partner, place) in wanted {
            let id = match known.get(&xmlid) {
                Some(id) => *id,
                None => {
                    let id = client.create("res.partner", self.delivery_vals(ctx, partner, place)).await?;
                    match client.bind_external_id(XMLID_MODULE, &xmlid, &OdooRef::new("res.partner", id)).await {
                        Ok(_) => id,
                        // Another worker bound the same place first: theirs stays, ours goes.
                        Err(OdooError::Validation { .. }) => {
                            client.execute(crate::odoo::Call::new("res.partner", "unlink").ids(&[id])).await?;
                            client.find_external_id(XMLID_MODULE, &xmlid).await?.map(|r| r.id).unwrap_or(id)
                        }
                        Err(e) => return Err(e),
                    }
                }
            };
            ctx.odoo.remember_partner(&format!("d:{xmlid}"), id);
        }
        Ok(())
    }

    /// One worker at a time creates a registered customer: it claims the customer's external id
    /// first. Two workers creating the same customer at once would leave one partner too many if
    /// the process died between the loser's create and its clean-up. A worker that finds the
    /// claim held waits for the holder's binding and takes that partner (returned as `taken`).
    async fn claim_creations(
        &self,
        ctx: &Context,
        to_create: &mut Vec<NewPartner>,
    ) -> std::result::Result<(Vec<(String, i64)>, Vec<crate::ports::ClaimToken>), OdooError> {
        let (conn, client) = (&ctx.connection.id, &ctx.odoo.client);
        let state_error = |e: crate::Error| OdooError::transient(format!("claiming a customer's creation: {e}"));
        // Claimed in one order by every worker, so two batches sharing customers never each hold
        // one the other waits for.
        to_create.sort_by(|a, b| a.xmlid.cmp(&b.xmlid));
        let (mut taken, mut claims) = (Vec::new(), Vec::new());
        let mut i = 0;
        while i < to_create.len() {
            let Some(xmlid) = to_create[i].xmlid.clone() else {
                i += 1;
                continue;
            };
            let key = crate::ids::IdempotencyKey::parse(format!("partner:{conn}:{xmlid}"))
                .map_err(|e| OdooError::protocol(e.to_string()))?;
            let (mut acquired, mut bound) = (None, None);
            for _ in 0..80 {
                if let crate::ports::Claim::Acquired(token) =
                    self.deps.state.claim(&key, std::time::Duration::from_secs(30)).await.map_err(state_error)?
                {
                    acquired = Some(token);
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(125)).await;
                if let Some(id) = partners_by_xmlid(client, std::slice::from_ref(&xmlid)).await?.get(&xmlid) {
                    bound = Some(*id);
                    break;
                }
            }
            let ours = acquired.is_some();
            if let Some(token) = acquired {
                // Someone may have bound it just before we took the claim.
                bound = partners_by_xmlid(client, std::slice::from_ref(&xmlid)).await?.get(&xmlid).copied();
                claims.push(token);
            }
            match bound {
                Some(id) => taken.push((to_create.remove(i).key, id)),
                None if ours => i += 1,
                None => {
                    for token in &claims {
                        let _ = self.deps.state.release(token).await;
                    }
                    return Err(OdooError::transient(format!(
                        "another worker is still creating customer {xmlid}; this record is tried again"
                    )));
                }
            }
        }
        Ok((taken, claims))
    }

    /// Registered customers not bound yet: a partner with their store id and email that no
    /// external id points at is theirs — made by an earlier attempt whose answer was lost before
    /// the binding, or entered by hand. It is bound, not created again.
    async fn bind_unbound_customers(
        &self,
        ctx: &Context,
        docs: &[(usize, &SalesDocument)],
        by_xmlid: &mut HashMap<String, i64>,
    ) -> std::result::Result<(), OdooError> {
        let (conn, client) = (&ctx.connection.id, &ctx.odoo.client);
        let mut unbound: Vec<(String, String, Option<String>)> = docs
            .iter()
            .filter_map(|(_, doc)| match &doc.customer {
                CustomerRef::Registered { source_id, email, .. } => {
                    let x = xmlid_name(conn, "customer", source_id);
                    (!by_xmlid.contains_key(&x) && ctx.odoo.cached_partner(&format!("c:{source_id}")).is_none())
                        .then(|| (x, source_id.to_string(), normalized_email(email.as_deref())))
                }
                CustomerRef::Guest { .. } => None,
            })
            .collect();
        unbound.sort();
        unbound.dedup_by(|a, b| a.0 == b.0);
        if unbound.is_empty() {
            return Ok(());
        }
        let refs: Vec<&str> = unbound.iter().map(|(_, r, _)| r.as_str()).collect();
        let domain = Val::list([leaf("ref", "in", Val::list(refs)), leaf("parent_id", "=", Val::Bool(false))]);
        let candidates = client.search_read("res.partner", domain, &["ref", "email"], None, Some("id")).await?;
        if candidates.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = candidates.iter().filter_map(|c| c.get("id").and_then(Val::as_i64)).collect();
        let bound_domain =
            Val::list([leaf("model", "=", Val::from("res.partner")), leaf("res_id", "in", Val::ids(&ids))]);
        let bound: Vec<i64> = client
            .search_read("ir.model.data", bound_domain, &["res_id"], None, None)
            .await?
            .iter()
            .filter_map(|r| r.get("res_id").and_then(Val::as_i64))
            .collect();
        for (x, reference, email) in &unbound {
            let found = candidates.iter().find(|c| {
                let id = c.get("id").and_then(Val::as_i64).unwrap_or_default();
                c.get("ref").and_then(Val::as_str) == Some(reference.as_str())
                    && normalized_email(c.get("email").and_then(Val::as_str)) == *email
                    && !bound.contains(&id)
            });
            if let Some(id) = found.and_then(|c| c.get("id").and_then(Val::as_i64)) {
                client.bind_external_id(XMLID_MODULE, x, &OdooRef::new("res.partner", id)).await?;
                by_xmlid.insert(x.clone(), id);
            }
        }
        Ok(())
    }

    /// The partner to create for a document's customer (its delivery contacts are made by
    /// `delivery_contacts`, for new and known partners alike).
    fn new_partner(
        &self,
        ctx: &Context,
        doc: &SalesDocument,
        key: String,
        xmlid: Option<String>,
        email: Option<String>,
    ) -> NewPartner {
        let billing = doc.billing_address.as_ref();
        let name = billing.and_then(full_name).or_else(|| email.clone()).unwrap_or_else(|| "Guest customer".into());
        let reference = match &doc.customer {
            CustomerRef::Registered { source_id, .. } => Some(source_id.to_string()),
            CustomerRef::Guest { .. } => None,
        };
        let vals = self.partner_vals(ctx, name, email, billing, reference.as_deref());
        NewPartner { key, xmlid, vals }
    }

    /// Creates the partners (and their delivery contacts) and binds their external ids; returns
    /// their ids in order. A customer another worker created meanwhile is taken, ours removed.
    async fn create_partners(
        &self,
        ctx: &Context,
        to_create: &[NewPartner],
    ) -> std::result::Result<Vec<i64>, OdooError> {
        let client = &ctx.odoo.client;
        let mut ids =
            client.create_many("res.partner", to_create.iter().map(|p| p.vals.clone()).collect(), None).await?;
        let bindings: Vec<Val> = to_create
            .iter()
            .zip(&ids)
            .filter_map(|(p, id)| {
                p.xmlid.as_ref().map(|x| {
                    Val::map([
                        ("module", Val::from(XMLID_MODULE)),
                        ("name", Val::from(x.as_str())),
                        ("model", Val::from("res.partner")),
                        ("res_id", Val::Int(*id)),
                        ("noupdate", Val::Bool(true)),
                    ])
                })
            })
            .collect();
        if !bindings.is_empty()
            && let Err(e) = client.create_many("ir.model.data", bindings, None).await
        {
            if !matches!(e, OdooError::Validation { .. }) {
                return Err(e);
            }
            // The external id is unique: whoever bound first wins, so no customer exists twice.
            for (p, id) in to_create.iter().zip(ids.iter_mut()) {
                let Some(x) = &p.xmlid else { continue };
                match client.find_external_id(XMLID_MODULE, x).await? {
                    Some(theirs) => {
                        client.execute(crate::odoo::Call::new("res.partner", "unlink").ids(&[*id])).await?;
                        *id = theirs.id;
                    }
                    None => {
                        client.bind_external_id(XMLID_MODULE, x, &OdooRef::new("res.partner", *id)).await?;
                    }
                }
            }
        }
        Ok(ids)
    }
}

/// A partner to create: its cache key, external id, values and delivery contact.
struct NewPartner {
    key: String,
    xmlid: Option<String>,
    vals: Val,
}

/// The external id of a customer's contact for one place (`<customer xmlid>_address_<hash>`).
/// The external id of a document's delivery contact: `None` when it ships to its billing
/// address (or to no street at all), so the customer's own partner receives it.
fn delivery_xmlid(conn: &ConnectionId, doc: &SalesDocument, partner: i64) -> Option<String> {
    let place = doc.shipping_address.as_ref()?;
    let same = doc.billing_address.as_ref().is_some_and(|b| b.place_key() == place.place_key());
    if place.line1.is_none() || same {
        return None;
    }
    let base = match &doc.customer {
        CustomerRef::Registered { source_id, .. } => xmlid_name(conn, "customer", source_id),
        CustomerRef::Guest { .. } => format!("{}_partner_{partner}", conn.as_str().replace('-', "_")),
    };
    Some(address_xmlid(&base, place))
}

impl Poster {
    /// The delivery contact `resolve_partners` made or found for a document, if it has one.
    pub(super) fn delivery_partner(&self, ctx: &Context, doc: &SalesDocument, partner: i64) -> Option<i64> {
        let xmlid = delivery_xmlid(&ctx.connection.id, doc, partner)?;
        ctx.odoo.cached_partner(&format!("d:{xmlid}"))
    }
}

pub(super) fn address_xmlid(customer_xmlid: &str, address: &Address) -> String {
    let digest = crate::ids::ContentHash::of_bytes(address.place_key().as_bytes());
    format!("{customer_xmlid}_address_{}", &digest.as_str()[..12])
}

/// How a document's customer is found again: cache key, external id and e-mail. A guest's key
/// says whether customers' partners may be taken, so a change of the rule is not hidden by
/// what the session remembered under the other one.
fn partner_key(
    conn: &ConnectionId,
    doc: &SalesDocument,
    guests_take_customers: bool,
) -> (Option<String>, Option<String>, Option<String>) {
    match &doc.customer {
        CustomerRef::Registered { source_id, email, .. } => (
            Some(format!("c:{source_id}")),
            Some(xmlid_name(conn, "customer", source_id)),
            normalized_email(email.as_deref()),
        ),
        CustomerRef::Guest { email } => {
            let email =
                normalized_email(email.as_deref().or(doc.billing_address.as_ref().and_then(|a| a.email.as_deref())));
            let prefix = if guests_take_customers { "e+" } else { "e" };
            (email.as_ref().map(|e| format!("{prefix}:{e}")), None, email)
        }
    }
}

pub(super) async fn partners_by_xmlid(
    client: &crate::odoo::OdooClient,
    wanted: &[String],
) -> std::result::Result<HashMap<String, i64>, OdooError> {
    let mut by_xmlid = HashMap::new();
    if wanted.is_empty() {
        return Ok(by_xmlid);
    }
    let domain = Val::list([
        leaf("module", "=", Val::from(XMLID_MODULE)),
        leaf("name", "in", Val::list(wanted.iter().map(String::as_str))),
    ]);
    for row in client.search_read("ir.model.data", domain, &["name", "res_id"], None, None).await? {
        if let (Some(n), Some(id)) = (row.get("name").and_then(Val::as_str), row.get("res_id").and_then(Val::as_i64)) {
            by_xmlid.insert(n.to_string(), id);
        }
    }
    Ok(by_xmlid)
}

/// Partners a guest's e-mail finds. A registered customer's partner carries the store's
/// customer id in `ref`; it is left out unless the rules let guests match customers.
async fn partners_by_email(
    client: &crate::odoo::OdooClient,
    wanted: &[String],
    include_customers: bool,
) -> std::result::Result<HashMap<String, i64>, OdooError> {
    let mut by_email = HashMap::new();
    if wanted.is_empty() {
        return Ok(by_email);
    }
    let mut domain = vec![leaf("email", "in", Val::list(wanted.iter().map(String::as_str)))];
    if !include_customers {
        domain.push(leaf("ref", "=", Val::Bool(false)));
    }
    let domain = Val::list(domain);
    // The oldest partner with the e-mail; where customers may be taken, a customer's first.
    let mut best: HashMap<String, (bool, i64)> = HashMap::new();
    for row in client.search_read("res.partner", domain, &["email", "ref"], None, Some("id")).await? {
        if let (Some(e), Some(id)) = (row.get("email").and_then(Val::as_str), row.get("id").and_then(Val::as_i64)) {
            let customer = row.get("ref").is_some_and(|r| !r.is_falsy());
            let kept = best.entry(e.to_lowercase()).or_insert((customer, id));
            if customer && !kept.0 {
                *kept = (true, id);
            }
        }
    }
    by_email.extend(best.into_iter().map(|(e, (_, id))| (e, id)));
    Ok(by_email)
}
