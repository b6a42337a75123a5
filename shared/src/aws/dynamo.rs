//! Connections, sync state and audit in DynamoDB. Three tables, each keyed by string `pk` + `sk`,
//! on-demand, with point-in-time recovery; the state and audit tables expire items through the
//! TTL attribute `expires_at` (epoch seconds). `template.yaml` creates them; a test pins that it
//! matches [`keys`].
//!
//! | table       | item            | pk                                 | sk                     |
//! |-------------|-----------------|------------------------------------|------------------------|
//! | connections | connection      | `CONN#{connection}`                | `CONNECTION`           |
//! | connections | rules version   | `CONN#{connection}`                | `RULES#{version:010}`  |
//! | state       | watermark       | `WM#{connection}`                  | `{stream}`             |
//! | state       | idempotency     | `IDEM#{key}`                       | `IDEM`                 |
//! | state       | link, forward   | `LINK#{connection}#{kind}#{source}`| `LINK`                 |
//! | state       | link, reverse   | `ODOO#{connection}#{model}#{id}`   | `LINK`                 |
//! | state       | failed record   | `FAILED#{connection}`              | `{kind}#{source}`      |
//! | audit       | entry           | `{connection}#{kind}#{source}`     | `{at_us:016}#{uuid}`   |
//! | audit       | hourly activity | `ACTIVITY#{connection}`           | `{YYYY-MM-DDTHH}` (one number per stage) |
//!
//! The audit table has a global secondary index `by_odoo` on `odoo_key` (`{connection}#{model}#{id}`)
//! and `sk`. DynamoDB deletes expired items lazily (within days), so reads filter on `expires_at_us` too.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use chrono::{DateTime, TimeZone, Utc};

use super::{classify, error_code};
use crate::error::{Error, Result};
use crate::ids::{ConnectionId, IdempotencyKey, OdooRef, SourceId};
use crate::ports::*;
use crate::records::EntityKind;

/// Attribute and index names shared with `template.yaml`.
pub mod keys {
    pub const PARTITION_KEY: &str = "pk";
    pub const SORT_KEY: &str = "sk";
    pub const TTL_ATTRIBUTE: &str = "expires_at";
    pub const AUDIT_ODOO_INDEX: &str = "by_odoo";
    pub const AUDIT_ODOO_KEY: &str = "odoo_key";
}

type Item = HashMap<String, AttributeValue>;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| Error::permanent(anyhow::anyhow!("DynamoDB item lacks string attribute {name}")))
}

fn get_n(item: &Item, name: &str) -> Result<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::permanent(anyhow::anyhow!("DynamoDB item lacks number attribute {name}")))
}

fn opt_n(item: &Item, name: &str) -> Option<i64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

fn from_us(us: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(us).single().expect("stored timestamps are in range")
}

fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([(keys::PARTITION_KEY.to_string(), s(pk)), (keys::SORT_KEY.to_string(), s(sk))])
}

fn json_err(what: &str, e: serde_json::Error) -> Error {
    Error::permanent(anyhow::anyhow!("stored {what} is unreadable: {e}"))
}

fn conditional_failed<E: aws_sdk_dynamodb::error::ProvideErrorMetadata, R>(
    e: &aws_sdk_dynamodb::error::SdkError<E, R>,
) -> bool {
    error_code(e) == Some("ConditionalCheckFailedException")
}

/// Runs a query to the end, following `LastEvaluatedKey`.
async fn query_all(
    builder: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    what: &str,
) -> Result<Vec<Item>> {
    let mut pages = builder.into_paginator().send();
    let mut items = Vec::new();
    while let Some(page) = pages.next().await {
        items.extend(page.map_err(|e| classify(what, e))?.items.unwrap_or_default());
    }
    Ok(items)
}

// ---------------------------------------------------------------------------------------------

#[derive(Clone)]
pub struct DynamoConnections {
    client: Client,
    table: String,
}

impl DynamoConnections {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoConnections { client, table: table.into() }
    }

    fn pk(id: &ConnectionId) -> String {
        format!("CONN#{id}")
    }

    async fn rule_items(&self, id: &ConnectionId, newest_first: bool, limit: Option<i32>) -> Result<Vec<Item>> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :rules)")
            .expression_attribute_values(":pk", s(Self::pk(id)))
            .expression_attribute_values(":rules", s("RULES#"))
            .scan_index_forward(!newest_first)
            .set_limit(limit)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("reading mapping rules", e))?;
        Ok(out.items.unwrap_or_default())
    }

    fn rule_set(item: &Item) -> Result<RuleSet> {
        Ok(RuleSet {
            version: get_n(item, "version")? as u64,
            saved_at: from_us(get_n(item, "saved_at_us")?),
            rules: serde_json::from_str(get_s(item, "json")?).map_err(|e| json_err("rules", e))?,
        })
    }

    async fn latest_version(&self, id: &ConnectionId) -> Result<Option<u64>> {
        let items = self.rule_items(id, true, Some(1)).await?;
        items.first().map(|i| get_n(i, "version").map(|v| v as u64)).transpose()
    }
}

#[async_trait]
impl ConnectionStore for DynamoConnections {
    async fn put_connection(&self, connection: &Connection) -> Result<()> {
        let mut item = key(Self::pk(&connection.id), "CONNECTION");
        item.insert("json".into(), s(serde_json::to_string(connection).expect("a connection serializes")));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| classify("saving a connection", e))?;
        Ok(())
    }

    async fn connection(&self, id: &ConnectionId) -> Result<Option<Connection>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(Self::pk(id), "CONNECTION")))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("reading a connection", e))?;
        out.item
            .map(|item| serde_json::from_str(get_s(&item, "json")?).map_err(|e| json_err("connection", e)))
            .transpose()
    }

    async fn connections(&self) -> Result<Vec<Connection>> {
        // Connections are few (one per merchant store); a filtered scan is the simple, honest choice.
        let mut pages = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("sk = :c")
            .expression_attribute_values(":c", s("CONNECTION"))
            .consistent_read(true)
            .into_paginator()
            .send();
        let mut all = Vec::new();
        while let Some(page) = pages.next().await {
            for item in page.map_err(|e| classify("listing connections", e))?.items.unwrap_or_default() {
                all.push(
                    serde_json::from_str::<Connection>(get_s(&item, "json")?).map_err(|e| json_err("connection", e))?,
                );
            }
        }
        all.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(all)
    }

    async fn delete_connection(&self, id: &ConnectionId) -> Result<()> {
        let mut doomed = self.rule_items(id, false, None).await?;
        doomed.push(key(Self::pk(id), "CONNECTION"));
        for item in doomed {
            let k = key(get_s(&item, "pk")?, get_s(&item, "sk")?);
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(k))
                .send()
                .await
                .map_err(|e| classify("deleting a connection", e))?;
        }
        Ok(())
    }

    async fn save_rules(
        &self,
        id: &ConnectionId,
        expected: Option<u64>,
        rules: &serde_json::Value,
    ) -> Result<SaveRules> {
        let current = self.latest_version(id).await?;
        if current != expected {
            return Ok(SaveRules::Conflict { current });
        }
        let version = current.unwrap_or(0) + 1;
        let mut item = key(Self::pk(id), format!("RULES#{version:010}"));
        item.insert("version".into(), n(version as i64));
        item.insert("saved_at_us".into(), n(Utc::now().timestamp_micros()));
        item.insert("json".into(), s(rules.to_string()));
        // Two savers that read the same version race for the same sort key; exactly one wins.
        match self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
        {
            Ok(_) => Ok(SaveRules::Saved { version }),
            Err(e) if conditional_failed(&e) => Ok(SaveRules::Conflict { current: self.latest_version(id).await? }),
            Err(e) => Err(classify("saving mapping rules", e)),
        }
    }

    async fn latest_rules(&self, id: &ConnectionId) -> Result<Option<RuleSet>> {
        self.rule_items(id, true, Some(1)).await?.first().map(Self::rule_set).transpose()
    }

    async fn rules_version(&self, id: &ConnectionId, version: u64) -> Result<Option<RuleSet>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(Self::pk(id), format!("RULES#{version:010}"))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("reading mapping rules", e))?;
        out.item.as_ref().map(Self::rule_set).transpose()
    }
}

// ---------------------------------------------------------------------------------------------

#[derive(Clone)]
pub struct DynamoState {
    client: Client,
    table: String,
}

impl DynamoState {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoState { client, table: table.into() }
    }

    fn forward_pk(connection: &ConnectionId, kind: EntityKind, source_id: &SourceId) -> String {
        format!("LINK#{connection}#{kind}#{source_id}")
    }

    fn reverse_pk(connection: &ConnectionId, odoo: &OdooRef) -> String {
        format!("ODOO#{connection}#{}#{}", odoo.model, odoo.id)
    }

    async fn get(&self, k: Item, what: &str) -> Result<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(k))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(what, e))?;
        Ok(out.item)
    }

    fn claim_from_existing(item: &Item, now_ms: i64) -> Result<Option<Claim>> {
        let status = get_s(item, "status")?;
        let until = get_n(item, "in_progress_until_ms")?;
        Ok(match status {
            "completed" if opt_n(item, "expires_at_ms").is_none_or(|e| e > now_ms) => {
                Some(Claim::Completed { outcome: get_s(item, "outcome").unwrap_or_default().to_string() })
            }
            "in_progress" if until > now_ms => {
                Some(Claim::InProgress { until: Utc.timestamp_millis_opt(until).single().expect("in range") })
            }
            _ => None, // expired since the condition was evaluated: the caller tries again
        })
    }
}

#[async_trait]
impl SyncState for DynamoState {
    async fn watermark(&self, connection: &ConnectionId, stream: &str) -> Result<Option<Watermark>> {
        let item = self.get(key(format!("WM#{connection}"), stream), "reading a watermark").await?;
        item.map(|i| {
            Ok(Watermark {
                at: from_us(get_n(&i, "at_us")?),
                cursor: i.get("cursor").and_then(|v| v.as_s().ok()).cloned(),
            })
        })
        .transpose()
    }

    async fn advance_watermark(&self, connection: &ConnectionId, stream: &str, to: &Watermark) -> Result<bool> {
        let mut item = key(format!("WM#{connection}"), stream);
        item.insert("at_us".into(), n(to.at.timestamp_micros()));
        if let Some(cursor) = &to.cursor {
            item.insert("cursor".into(), s(cursor.clone()));
        }
        match self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR at_us <= :at")
            .expression_attribute_values(":at", n(to.at.timestamp_micros()))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if conditional_failed(&e) => Ok(false),
            Err(e) => Err(classify("advancing a watermark", e)),
        }
    }

    async fn claim(&self, key_: &IdempotencyKey, in_progress_for: Duration) -> Result<Claim> {
        loop {
            let now = Utc::now().timestamp_millis();
            let token = uuid::Uuid::new_v4().to_string();
            let mut item = key(format!("IDEM#{key_}"), "IDEM");
            item.insert("status".into(), s("in_progress"));
            item.insert("token".into(), s(token.clone()));
            item.insert("in_progress_until_ms".into(), n(now + in_progress_for.as_millis() as i64));
            // Keep abandoned claims from piling up: DynamoDB's TTL removes them a day after they lapse.
            item.insert(keys::TTL_ATTRIBUTE.into(), n((now + in_progress_for.as_millis() as i64) / 1000 + 86_400));
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression(
                    "attribute_not_exists(pk) \
                     OR (#status = :in_progress AND in_progress_until_ms <= :now) \
                     OR (#status = :completed AND expires_at_ms <= :now)",
                )
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":in_progress", s("in_progress"))
                .expression_attribute_values(":completed", s("completed"))
                .expression_attribute_values(":now", n(now))
                .return_values(ReturnValue::AllOld)
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .send()
                .await;
            match result {
                Ok(out) => {
                    let took_over = out
                        .attributes
                        .as_ref()
                        .and_then(|old| old.get("status"))
                        .and_then(|v| v.as_s().ok())
                        .is_some_and(|status| status == "in_progress");
                    return Ok(Claim::Acquired(ClaimToken { key: key_.clone(), token, took_over }));
                }
                Err(e) if conditional_failed(&e) => {
                    let existing = match e.as_service_error().and_then(|se| match se {
                        aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => {
                            c.item.clone()
                        }
                        _ => None,
                    }) {
                        Some(item) => Some(item),
                        None => self.get(key(format!("IDEM#{key_}"), "IDEM"), "reading an idempotency claim").await?,
                    };
                    match existing {
                        Some(item) => match Self::claim_from_existing(&item, Utc::now().timestamp_millis())? {
                            Some(claim) => return Ok(claim),
                            None => continue,
                        },
                        None => continue, // released in between: try again
                    }
                }
                Err(e) => return Err(classify("claiming an idempotency key", e)),
            }
        }
    }

    async fn complete(&self, token: &ClaimToken, outcome: &str, keep_for: Option<Duration>) -> Result<bool> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("IDEM#{}", token.key), "IDEM")))
            .condition_expression("#token = :token AND #status = :in_progress")
            .expression_attribute_names("#token", "token")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#ttl", keys::TTL_ATTRIBUTE)
            .expression_attribute_values(":token", s(token.token.clone()))
            .expression_attribute_values(":in_progress", s("in_progress"))
            .expression_attribute_values(":completed", s("completed"))
            .expression_attribute_values(":outcome", s(outcome));
        update = match keep_for {
            Some(keep) => {
                let expires_ms = Utc::now().timestamp_millis() + keep.as_millis() as i64;
                update
                    .update_expression(
                        "SET #status = :completed, outcome = :outcome, expires_at_ms = :exp_ms, #ttl = :exp",
                    )
                    .expression_attribute_values(":exp_ms", n(expires_ms))
                    .expression_attribute_values(":exp", n(expires_ms / 1000 + 1))
            }
            None => update.update_expression("SET #status = :completed, outcome = :outcome REMOVE expires_at_ms, #ttl"),
        };
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e) if conditional_failed(&e) => Ok(false),
            Err(e) => Err(classify("completing an idempotency claim", e)),
        }
    }

    async fn release(&self, token: &ClaimToken) -> Result<()> {
        match self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("IDEM#{}", token.key), "IDEM")))
            .condition_expression("#token = :token AND #status = :in_progress")
            .expression_attribute_names("#token", "token")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":token", s(token.token.clone()))
            .expression_attribute_values(":in_progress", s("in_progress"))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if conditional_failed(&e) => Ok(()), // someone else holds it now; nothing of ours to release
            Err(e) => Err(classify("releasing an idempotency claim", e)),
        }
    }

    async fn put_link(&self, link: &Link) -> Result<()> {
        let forward_pk = Self::forward_pk(&link.connection_id, link.kind, &link.source_id);
        let reverse_pk = Self::reverse_pk(&link.connection_id, &link.odoo);
        let old = self.get(key(&forward_pk, "LINK"), "reading a link").await?;
        let old_odoo = old
            .as_ref()
            .map(|i| Ok::<_, Error>(OdooRef::new(get_s(i, "odoo_model")?, get_n(i, "odoo_id")?)))
            .transpose()?;

        let mut forward = key(&forward_pk, "LINK");
        forward.insert("odoo_model".into(), s(link.odoo.model.clone()));
        forward.insert("odoo_id".into(), n(link.odoo.id));
        forward.insert("updated_at_us".into(), n(link.updated_at.timestamp_micros()));
        let mut forward_put = Put::builder().table_name(&self.table).set_item(Some(forward));
        forward_put = match &old_odoo {
            // Unchanged since we read it, or another writer moved it and we must look again.
            Some(o) => forward_put
                .condition_expression("odoo_model = :om AND odoo_id = :oid")
                .expression_attribute_values(":om", s(o.model.clone()))
                .expression_attribute_values(":oid", n(o.id)),
            None => forward_put.condition_expression("attribute_not_exists(pk)"),
        };

        let mut reverse = key(&reverse_pk, "LINK");
        reverse.insert("kind".into(), s(link.kind.as_str()));
        reverse.insert("source_id".into(), s(link.source_id.to_string()));
        let reverse_put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(reverse))
            .condition_expression("attribute_not_exists(pk) OR (kind = :k AND source_id = :s)")
            .expression_attribute_values(":k", s(link.kind.as_str()))
            .expression_attribute_values(":s", s(link.source_id.to_string()));

        let build =
            |e: aws_sdk_dynamodb::error::BuildError| Error::permanent(anyhow::anyhow!("building a link write: {e}"));
        let mut items = vec![
            TransactWriteItem::builder().put(forward_put.build().map_err(build)?).build(),
            TransactWriteItem::builder().put(reverse_put.build().map_err(build)?).build(),
        ];
        if let Some(o) = old_odoo.as_ref().filter(|o| **o != link.odoo) {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(Self::reverse_pk(&link.connection_id, o), "LINK")))
                .build()
                .map_err(build)?;
            items.push(TransactWriteItem::builder().delete(delete).build());
        }
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(()),
            Err(e) if error_code(&e) == Some("TransactionCanceledException") => {
                let reasons: Vec<String> = e
                    .as_service_error()
                    .and_then(|se| match se {
                        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(t) => {
                            Some(t.cancellation_reasons().iter().map(|r| r.code().unwrap_or("None").to_string()).collect())
                        }
                        _ => None,
                    })
                    .unwrap_or_default();
                if reasons.get(1).map(String::as_str) == Some("ConditionalCheckFailed")
                    && let Some(holder) = self.get(key(&reverse_pk, "LINK"), "reading a link").await?
                {
                    return Err(crate::embedded::link_conflict(
                        link,
                        get_s(&holder, "kind")?,
                        get_s(&holder, "source_id")?,
                    ));
                }
                Err(Error::retryable(anyhow::anyhow!(
                    "linking {} {} to {} raced with another writer ({})",
                    link.kind,
                    link.source_id,
                    link.odoo,
                    reasons.join(", ")
                )))
            }
            Err(e) => Err(classify("writing a link", e)),
        }
    }

    async fn link_by_source(
        &self,
        connection: &ConnectionId,
        kind: EntityKind,
        source_id: &SourceId,
    ) -> Result<Option<Link>> {
        let item = self.get(key(Self::forward_pk(connection, kind, source_id), "LINK"), "reading a link").await?;
        item.map(|i| {
            Ok(Link {
                connection_id: connection.clone(),
                kind,
                source_id: source_id.clone(),
                odoo: OdooRef::new(get_s(&i, "odoo_model")?, get_n(&i, "odoo_id")?),
                updated_at: from_us(get_n(&i, "updated_at_us")?),
            })
        })
        .transpose()
    }

    async fn link_by_odoo(&self, connection: &ConnectionId, odoo: &OdooRef) -> Result<Option<Link>> {
        let Some(reverse) = self.get(key(Self::reverse_pk(connection, odoo), "LINK"), "reading a link").await? else {
            return Ok(None);
        };
        let kind = EntityKind::parse(get_s(&reverse, "kind")?)?;
        let source_id = SourceId::parse(get_s(&reverse, "source_id")?)?;
        Ok(self.link_by_source(connection, kind, &source_id).await?.filter(|l| l.odoo == *odoo))
    }
}

// ---------------------------------------------------------------------------------------------

#[derive(Clone)]
pub struct DynamoAudit {
    client: Client,
    table: String,
}

impl DynamoAudit {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoAudit { client, table: table.into() }
    }

    /// Hourly counters live beside the entries, under a key no entry has: an entry's key has two
    /// `#`s at least, this one exactly one (connection ids have none).
    fn activity_pk(connection: &ConnectionId) -> String {
        format!("ACTIVITY#{connection}")
    }

    fn odoo_key(connection: &ConnectionId, odoo: &OdooRef) -> String {
        format!("{connection}#{}#{}", odoo.model, odoo.id)
    }

    fn entries(items: Vec<Item>) -> Result<Vec<AuditEntry>> {
        let mut entries: Vec<(String, AuditEntry)> = items
            .iter()
            .map(|i| {
                let entry = serde_json::from_str(get_s(i, "json")?).map_err(|e| json_err("audit entry", e))?;
                Ok((get_s(i, "sk")?.to_string(), entry))
            })
            .collect::<Result<_>>()?;
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(entries.into_iter().map(|(_, e)| e).collect())
    }
}

const NOT_EXPIRED: &str = "attribute_not_exists(expires_at_us) OR expires_at_us > :now";

#[async_trait]
impl AuditLog for DynamoAudit {
    async fn append(&self, entry: &AuditEntry, retention: Retention) -> Result<()> {
        let pk = format!("{}#{}#{}", entry.connection_id, entry.kind, entry.source_id);
        let sk = format!("{:016}#{}", entry.at.timestamp_micros(), uuid::Uuid::new_v4());
        let mut item = key(pk, sk);
        item.insert("json".into(), s(serde_json::to_string(entry).expect("an audit entry serializes")));
        if let Some(odoo) = &entry.odoo {
            item.insert(keys::AUDIT_ODOO_KEY.into(), s(Self::odoo_key(&entry.connection_id, odoo)));
        }
        if let Some(expires) = retention.expires_at(entry.at) {
            item.insert("expires_at_us".into(), n(expires.timestamp_micros()));
            item.insert(keys::TTL_ATTRIBUTE.into(), n(expires.timestamp()));
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| classify("appending to the audit trail", e))?;
        let kept_until = Utc::now() + chrono::Duration::days(ACTIVITY_KEPT_DAYS);
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(Self::activity_pk(&entry.connection_id), hour_key(entry.at))))
            .update_expression("ADD #stage :one SET #ttl = :ttl")
            .expression_attribute_names("#stage", entry.stage.as_str())
            .expression_attribute_names("#ttl", keys::TTL_ATTRIBUTE)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ttl", n(kept_until.timestamp()))
            .send()
            .await
            .map_err(|e| classify("counting the audit trail's activity", e))?;
        Ok(())
    }

    async fn activity(
        &self,
        connection: &ConnectionId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<HourActivity>> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :last")
            .expression_attribute_values(":pk", s(Self::activity_pk(connection)))
            .expression_attribute_values(":from", s(hour_key(from)))
            .expression_attribute_values(":last", s(hour_key(to - chrono::Duration::microseconds(1))));
        let mut rows = Vec::new();
        for item in query_all(query, "reading the audit trail's activity").await? {
            let hour = get_s(&item, "sk")?.to_string();
            for (stage, value) in &item {
                if let (Some(_), Ok(count)) = (AuditStage::parse(stage), value.as_n()) {
                    rows.push((hour.clone(), stage.clone(), count.parse::<u64>().unwrap_or(0)));
                }
            }
        }
        rows.sort();
        Ok(activity_of_rows(rows))
    }

    async fn by_source(
        &self,
        connection: &ConnectionId,
        kind: EntityKind,
        source_id: &SourceId,
    ) -> Result<Vec<AuditEntry>> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .filter_expression(NOT_EXPIRED)
            .expression_attribute_values(":pk", s(format!("{connection}#{kind}#{source_id}")))
            .expression_attribute_values(":now", n(Utc::now().timestamp_micros()))
            .consistent_read(true);
        Self::entries(query_all(query, "reading the audit trail").await?)
    }

    async fn by_odoo(&self, connection: &ConnectionId, odoo: &OdooRef) -> Result<Vec<AuditEntry>> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::AUDIT_ODOO_INDEX)
            .key_condition_expression("#ok = :ok")
            .filter_expression(NOT_EXPIRED)
            .expression_attribute_names("#ok", keys::AUDIT_ODOO_KEY)
            .expression_attribute_values(":ok", s(Self::odoo_key(connection, odoo)))
            .expression_attribute_values(":now", n(Utc::now().timestamp_micros()));
        Self::entries(query_all(query, "reading the audit trail by Odoo record").await?)
    }
}

#[async_trait]
impl FailedRecords for DynamoState {
    async fn park(&self, record: &FailedRecord) -> Result<()> {
        let mut item = key(format!("FAILED#{}", record.connection_id), format!("{}#{}", record.kind, record.source_id));
        item.insert("failed_at_us".into(), n(record.failed_at.timestamp_micros()));
        item.insert("json".into(), s(serde_json::to_string(record).expect("a failed record serializes")));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| classify("keeping a failed record", e))?;
        Ok(())
    }

    async fn failed(&self, connection: &ConnectionId) -> Result<Vec<FailedRecord>> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(format!("FAILED#{connection}")))
            .consistent_read(true);
        let mut records: Vec<FailedRecord> = query_all(query, "listing failed records")
            .await?
            .iter()
            .map(|i| serde_json::from_str(get_s(i, "json")?).map_err(|e| json_err("failed record", e)))
            .collect::<Result<_>>()?;
        records.sort_by(|a, b| (a.failed_at, a.kind, &a.source_id).cmp(&(b.failed_at, b.kind, &b.source_id)));
        Ok(records)
    }

    async fn get_failed(
        &self,
        connection: &ConnectionId,
        kind: EntityKind,
        source_id: &SourceId,
    ) -> Result<Option<FailedRecord>> {
        let item = self
            .get(key(format!("FAILED#{connection}"), format!("{kind}#{source_id}")), "reading a failed record")
            .await?;
        item.map(|i| serde_json::from_str(get_s(&i, "json")?).map_err(|e| json_err("failed record", e))).transpose()
    }

    async fn remove_failed(&self, connection: &ConnectionId, kind: EntityKind, source_id: &SourceId) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("FAILED#{connection}"), format!("{kind}#{source_id}"))))
            .send()
            .await
            .map_err(|e| classify("removing a failed record", e))?;
        Ok(())
    }
}
