//! What the console's pages show, read from the ports: the same on one machine and on AWS.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};

use super::Console;
use crate::alerts::reason_key;
use crate::error::Result;
use crate::ports::{AuditEntry, AuditStage, Connection, FailedRecord, HourActivity};

pub struct FailureGroup {
    /// The reason without its record-specific parts ([`reason_key`]): what "replay all of a reason" matches.
    pub key: String,
    pub count: usize,
    /// One record's reason in full.
    pub example: String,
    pub fix: String,
}

pub fn group_failures(records: &[FailedRecord]) -> Vec<FailureGroup> {
    let mut groups: BTreeMap<String, FailureGroup> = BTreeMap::new();
    for r in records {
        let key = reason_key(&r.reason);
        groups
            .entry(key.clone())
            .or_insert_with(|| FailureGroup {
                key,
                count: 0,
                example: r.reason.clone(),
                fix: super::fixes::suggested_fix(&r.reason),
            })
            .count += 1;
    }
    let mut groups: Vec<FailureGroup> = groups.into_values().collect();
    groups.sort_by(|a, b| b.count.cmp(&a.count).then(a.key.cmp(&b.key)));
    groups
}

pub struct ConnectionOverview {
    pub connection: Connection,
    pub posted_today: u64,
    pub posted_month: u64,
    pub failed_total: usize,
    pub failures: Vec<FailureGroup>,
    pub last_poll: Option<DateTime<Utc>>,
    pub received_24h: u64,
    pub refused_24h: u64,
    /// The last 24 hours.
    pub hours: Vec<HourActivity>,
}

/// The first of the 24 hours the overview shows: the hour 23 hours before the current one.
pub fn first_of_24_hours(now: DateTime<Utc>) -> DateTime<Utc> {
    let this_hour = crate::ports::hour_of_key(&crate::ports::hour_key(now)).unwrap_or(now);
    this_hour - Duration::hours(23)
}

fn sum(hours: &[HourActivity], stage: AuditStage, since: DateTime<Utc>) -> u64 {
    hours.iter().filter(|h| h.hour >= since).map(|h| h.count(stage)).sum()
}

impl Console {
    pub async fn overview_of(&self, connection: Connection, now: DateTime<Utc>) -> Result<ConnectionOverview> {
        let month = Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0).single().unwrap_or(now);
        let today = now.date_naive().and_hms_opt(0, 0, 0).expect("midnight").and_utc();
        let day = first_of_24_hours(now);
        // One read of the month's counters answers the month, today and the last 24 hours.
        let hours = self.audit.activity(&connection.id, month.min(day), now + Duration::hours(1)).await?;
        let failed = self.failed.failed(&connection.id).await?;
        let last_poll = self.state.watermark(&connection.id, crate::stores::poll::LAST_POLL).await?.map(|w| w.at);
        Ok(ConnectionOverview {
            posted_today: sum(&hours, AuditStage::Posted, today),
            posted_month: sum(&hours, AuditStage::Posted, month),
            // Every record taken in is queued once, whether a webhook, the fetch stage or a poll sent it.
            received_24h: sum(&hours, AuditStage::Enqueued, day),
            refused_24h: sum(&hours, AuditStage::Rejected, day),
            failed_total: failed.len(),
            failures: group_failures(&failed),
            last_poll,
            hours: hours.into_iter().filter(|h| h.hour >= day).collect(),
            connection,
        })
    }
}

/// One step of a record's journey, as the trace page shows it.
pub struct TraceStep {
    pub entry: AuditEntry,
    pub label: &'static str,
    /// The rule behind each line, where the step posted lines.
    pub rules: Vec<String>,
    pub odoo_link: Option<String>,
    pub store_link: Option<String>,
}

fn label(entry: &AuditEntry) -> &'static str {
    let via = entry.details.get("via").and_then(|v| v.as_str()).unwrap_or_default();
    match entry.stage {
        AuditStage::Received if via.contains("poll") => "received by poll",
        AuditStage::Received => "received by webhook",
        AuditStage::Enqueued => "queued",
        AuditStage::Posted if entry.kind == crate::records::EntityKind::Refund => "credited",
        AuditStage::Posted => "posted",
        AuditStage::Rejected => "refused",
        AuditStage::Noted => "noted in Odoo",
        AuditStage::Skipped => "skipped",
        AuditStage::Failed => "failed",
        AuditStage::DeadLettered => "dead-lettered",
        AuditStage::Replayed => "replayed",
        AuditStage::SyncedToStore => "synced back to the store",
    }
}

/// `rule "apparel" → 400100: category Apparel / Shirts is under Apparel` for each line a
/// posting's details name.
fn rules_of(details: &serde_json::Value) -> Vec<String> {
    let Some(lines) = details.get("lines").and_then(|l| l.as_array()) else { return Vec::new() };
    lines
        .iter()
        .filter_map(|l| {
            let name = l.get("name").and_then(|v| v.as_str()).unwrap_or_default();
            let account = l.get("account").and_then(|v| v.as_str()).unwrap_or_default();
            let rule = l.get("rule").and_then(|v| v.as_str());
            let why = l.get("why").and_then(|v| v.as_str()).unwrap_or_default();
            match rule {
                Some(rule) => Some(format!("{name}: rule {rule:?} → {account} ({why})")),
                None if !account.is_empty() => Some(format!("{name} → {account}")),
                None => None,
            }
        })
        .collect()
}

/// Odoo's form view of a record (`/web#…` is understood by every version the connector supports).
pub fn odoo_link(connection: &Connection, odoo: &crate::ids::OdooRef) -> Option<String> {
    let mut url = connection.odoo_url.join("web").ok()?;
    url.set_fragment(Some(&format!("id={}&model={}&view_type=form", odoo.id, odoo.model)));
    Some(url.to_string())
}

impl Console {
    pub fn trace_steps(&self, connection: &Connection, entries: Vec<AuditEntry>) -> Vec<TraceStep> {
        let store = self.stores.for_connection(connection).ok();
        entries
            .into_iter()
            .map(|entry| TraceStep {
                label: label(&entry),
                rules: rules_of(&entry.details),
                odoo_link: entry.odoo.as_ref().and_then(|o| odoo_link(connection, o)),
                store_link: store
                    .and_then(|s| s.admin_url(connection, entry.kind, entry.source_id.as_str()))
                    .map(|u| u.to_string()),
                entry,
            })
            .collect()
    }
}
