//! Customer records: the partner created or updated on its own (without an order).

use chrono::Utc;
use serde_json::json;

use super::partners::{normalized_email, xmlid_name};
use super::{Context, Poster, RecordOutcome, Work, XMLID_MODULE};
use crate::error::Result;
use crate::ids::OdooRef;
use crate::odoo::Val;
use crate::ports::{AuditStage, Link};
use crate::records::{Address, Customer, EntityKind};

impl Poster {
    pub(super) async fn upsert_customer(
        &self,
        ctx: &Context,
        work: &Work,
        customer: &Customer,
    ) -> Result<RecordOutcome> {
        let e = &work.envelope;
        let client = &ctx.odoo.client;
        let xmlid = xmlid_name(&e.connection_id, "customer", &e.source_id);
        let address = customer.billing_address.as_ref().or(customer.addresses.first());
        let name = [customer.first_name.as_deref(), customer.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let name = if name.trim().is_empty() {
            customer.company.clone().or(customer.email.clone()).unwrap_or_else(|| format!("Customer {}", e.source_id))
        } else {
            name
        };
        let mut vals = self.partner_vals(
            ctx,
            name.clone(),
            normalized_email(customer.email.as_deref()),
            address,
            Some(e.source_id.as_str()),
        );
        if let (Val::Map(m), Some(phone)) = (&mut vals, customer.phone.as_deref()) {
            m.insert("phone".into(), Val::from(phone));
        }
        let existing = client.find_external_id(XMLID_MODULE, &xmlid).await?;
        let (id, verb) = match existing {
            Some(target) => {
                client.write("res.partner", &[target.id], vals).await?;
                (target.id, "updated")
            }
            None => {
                let id = client.create("res.partner", vals).await?;
                client.bind_external_id(XMLID_MODULE, &xmlid, &OdooRef::new("res.partner", id)).await?;
                (id, "created")
            }
        };
        let contacts = self.address_contacts(ctx, &xmlid, id, address, &customer.addresses).await?;
        ctx.odoo.remember_partner(&format!("c:{}", e.source_id), id);
        let odoo = OdooRef::new("res.partner", id);
        self.deps
            .state
            .put_link(&Link {
                connection_id: e.connection_id.clone(),
                kind: EntityKind::Customer,
                source_id: e.source_id.clone(),
                odoo: odoo.clone(),
                updated_at: Utc::now(),
            })
            .await?;
        self.deps
            .state
            .complete(&work.token, &json!({ "partner": id }).to_string(), self.settings.keep_outcome_for)
            .await?;
        self.audit(
            e,
            ctx.connection.audit_retention,
            AuditStage::Posted,
            Some(odoo.clone()),
            format!("{verb} partner {name} ({XMLID_MODULE}.{xmlid}){contacts}"),
            json!({}),
        )
        .await;
        let _ = self.deps.failed.remove_failed(&e.connection_id, e.kind(), &e.source_id).await;
        Ok(RecordOutcome::Posted { odoo, name })
    }

    /// The customer's other addresses as child contacts (`type` delivery), one per distinct
    /// place, each under an external id made from the place, so a repeat creates nothing.
    /// Answers what was added, for the trail.
    async fn address_contacts(
        &self,
        ctx: &Context,
        xmlid: &str,
        partner: i64,
        main: Option<&Address>,
        addresses: &[Address],
    ) -> Result<String> {
        let client = &ctx.odoo.client;
        let mut wanted: Vec<(String, &Address)> = Vec::new();
        for a in addresses {
            let key = a.place_key();
            if main.is_some_and(|m| m.place_key() == key) || wanted.iter().any(|(_, w)| w.place_key() == key) {
                continue;
            }
            wanted.push((super::partners::address_xmlid(xmlid, a), a));
        }
        if wanted.is_empty() {
            return Ok(String::new());
        }
        let names: Vec<String> = wanted.iter().map(|(n, _)| n.clone()).collect();
        let known = super::partners::partners_by_xmlid(client, &names).await?;
        let mut added = 0;
        for (name, a) in wanted.iter().filter(|(n, _)| !known.contains_key(n)) {
            let id = client.create("res.partner", self.delivery_vals(ctx, partner, a)).await?;
            client.bind_external_id(XMLID_MODULE, name, &OdooRef::new("res.partner", id)).await?;
            added += 1;
        }
        Ok(if added == 0 { String::new() } else { format!(", with {added} new address contact(s)") })
    }
}
