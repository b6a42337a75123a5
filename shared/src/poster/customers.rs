//! Customer records: the partner created or updated on its own (without an order).

use chrono::Utc;
use serde_json::json;

use super::partners::{normalized_email, xmlid_name};
use super::{Context, Poster, RecordOutcome, Work, XMLID_MODULE};
use crate::error::Result;
use crate::ids::OdooRef;
use crate::odoo::Val;
use crate::ports::{AuditStage, Link};
use crate::records::{Customer, EntityKind};

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
            format!("{verb} partner {name} ({XMLID_MODULE}.{xmlid})"),
            json!({}),
        )
        .await;
        let _ = self.deps.failed.remove_failed(&e.connection_id, e.kind(), &e.source_id).await;
        Ok(RecordOutcome::Posted { odoo, name })
    }
}
