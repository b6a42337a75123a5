//! `mlc mappings catalogue`: the master data sales-order rules name, read live from both sides
//! (the store's scopes, customer groups, payment and shipping methods, attribute sets; Odoo's
//! journals, carriers, payment terms, pricelists and fiscal positions), so a merchant can write
//! the rules from what is really there. The seed imports these one button at a time.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::checks::odoo_client;
use crate::error::{Error, Result};
use crate::http::RetryPolicy;
use crate::odoo::{OdooClient, OdooError, Val};
use crate::ports::{Connection, SecretBundle};
use crate::stores::{Named, StoreMasterData, Stores};

/// Odoo's side of the catalogue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OdooMasterData {
    /// Journals by code, with their type (`sale`, `bank`, `cash`, ...).
    pub journals: Vec<(Named, String)>,
    pub carriers: Vec<Named>,
    pub payment_terms: Vec<Named>,
    pub pricelists: Vec<Named>,
    pub fiscal_positions: Vec<Named>,
    /// Apps the database lacks (a model it does not have), for the reader.
    pub missing: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterData {
    pub connection: String,
    pub read_at: DateTime<Utc>,
    pub store: StoreMasterData,
    pub odoo: OdooMasterData,
}

/// Names of one model's records, or `None` when the database does not have the model.
async fn names(client: &OdooClient, model: &str, code: &str) -> Result<Option<Vec<Named>>> {
    let fields = if code == "name" { vec!["name"] } else { vec![code, "name"] };
    match client.search_read(model, Val::List(vec![]), &fields, None, Some("id")).await {
        Ok(rows) => Ok(Some(
            rows.iter()
                .filter_map(|r| {
                    let name = r.get("name")?.as_str()?;
                    Some(Named::new(r.get(code).and_then(Val::as_str).unwrap_or(name), name))
                })
                .collect(),
        )),
        Err(OdooError::Protocol { .. } | OdooError::Access { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub async fn odoo_master_data(client: &OdooClient) -> Result<OdooMasterData> {
    let mut data = OdooMasterData::default();
    let journals =
        client.search_read("account.journal", Val::List(vec![]), &["code", "name", "type"], None, Some("id")).await?;
    data.journals = journals
        .iter()
        .filter_map(|j| {
            let named = Named::new(j.get("code")?.as_str()?, j.get("name")?.as_str()?);
            Some((named, j.get("type").and_then(Val::as_str).unwrap_or_default().to_string()))
        })
        .collect();
    for (model, app, list) in [
        ("delivery.carrier", "Delivery (delivery.carrier)", &mut data.carriers),
        ("account.payment.term", "Invoicing (account.payment.term)", &mut data.payment_terms),
        ("product.pricelist", "Sales (product.pricelist)", &mut data.pricelists),
        ("account.fiscal.position", "Invoicing (account.fiscal.position)", &mut data.fiscal_positions),
    ] {
        match names(client, model, "name").await? {
            Some(found) => *list = found,
            None => data.missing.push(app.to_string()),
        }
    }
    Ok(data)
}

/// Reads both sides live.
pub async fn read(stores: &Stores, connection: &Connection, secrets: &SecretBundle) -> Result<MasterData> {
    let store = stores.for_connection(connection)?.checks().master_data(connection, secrets).await?;
    let client = odoo_client(connection, secrets, RetryPolicy::default())
        .await
        .map_err(|f| Error::retryable(anyhow::anyhow!(f.what)))?;
    let odoo = odoo_master_data(&client).await?;
    Ok(MasterData { connection: connection.id.to_string(), read_at: Utc::now(), store, odoo })
}
