//! Ports: the narrow capabilities the logic needs from the outside world. Each has an AWS adapter
//! (`crate::aws`) and an embedded one (`crate::embedded`); `tests/conformance` runs one suite per
//! port against both, so the logic cannot tell them apart.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;
use zeroize::Zeroizing;

use crate::error::Result;
use crate::ids::{ConnectionId, IdempotencyKey, OdooRef, SourceId, TraceId};
use crate::records::{EntityKind, Envelope, SourceSystem};

// ---------------------------------------------------------------------------------------------
// Queue

/// A message to enqueue. Messages with the same `group_id` are delivered in order, one at a time;
/// a second message with the same `deduplication_id` within five minutes is dropped (SQS FIFO rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub group_id: String,
    pub deduplication_id: String,
    pub body: String,
}

impl OutgoingMessage {
    /// A message with ids made FIFO-safe (see [`fifo_safe_id`]).
    pub fn new(group: String, deduplication: String, body: String) -> Self {
        OutgoingMessage { group_id: fifo_safe_id(&group), deduplication_id: fifo_safe_id(&deduplication), body }
    }

    /// One group per connection and record, so versions of one order stay in order while
    /// different orders post in parallel; one deduplication id per version of the record.
    pub fn for_envelope(envelope: &Envelope) -> Self {
        let group = format!("{}:{}:{}", envelope.connection_id, envelope.kind(), envelope.source_id);
        let dedup = match &envelope.repost {
            Some(run) => format!("{group}:{}:{run}", envelope.content_hash),
            None => format!("{group}:{}", envelope.content_hash),
        };
        OutgoingMessage {
            group_id: fifo_safe_id(&group),
            deduplication_id: fifo_safe_id(&dedup),
            body: envelope.to_json(),
        }
    }
}

/// SQS FIFO ids are at most 128 characters of `[A-Za-z0-9!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~]`.
/// Ids that fit are kept readable; anything else becomes its SHA-256.
fn fifo_safe_id(id: &str) -> String {
    if id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()) {
        id.to_string()
    } else {
        hex::encode(Sha256::digest(id.as_bytes()))
    }
}

/// A message handed to a consumer. It stays invisible to other consumers until its visibility
/// timeout passes; deleting it by `receipt` acknowledges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    pub message_id: String,
    pub group_id: String,
    pub body: String,
    pub receipt: String,
    /// How many times this message has been received, this time included.
    pub receive_count: u32,
}

/// Sends to a queue (the webhook and poller functions' side).
#[async_trait]
pub trait RecordQueue: Send + Sync {
    /// Sends all messages or fails; a retry of the same batch is harmless thanks to deduplication ids.
    async fn send_batch(&self, messages: &[OutgoingMessage]) -> Result<()>;
}

/// Receives from a queue (the embedded runner's and the replay tool's side; on AWS, Lambda's
/// event source mapping receives for the poster).
#[async_trait]
pub trait QueueConsumer: Send + Sync {
    /// Up to `max` messages (at most 10), waiting up to `wait` for the first, each hidden for
    /// `visibility_timeout` (whole seconds, as SQS counts them).
    async fn receive(&self, max: usize, wait: Duration, visibility_timeout: Duration) -> Result<Vec<ReceivedMessage>>;
    async fn delete(&self, receipt: &str) -> Result<()>;
    /// Keeps a received message hidden for `visibility_timeout` from now (SQS's
    /// ChangeMessageVisibility): a batch that takes longer than expected is not delivered twice.
    async fn extend_visibility(&self, receipt: &str, visibility_timeout: Duration) -> Result<()>;
    /// Messages waiting or in flight (approximate on SQS).
    async fn approximate_depth(&self) -> Result<u64>;
}

// ---------------------------------------------------------------------------------------------
// Connections and mapping rules

/// How long audit entries are kept for a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Retention {
    Days30,
    #[default]
    Days60,
    Never,
}

impl Retention {
    pub fn as_str(self) -> &'static str {
        match self {
            Retention::Days30 => "days30",
            Retention::Days60 => "days60",
            Retention::Never => "never",
        }
    }

    pub fn parse(text: &str) -> Option<Retention> {
        [Retention::Days30, Retention::Days60, Retention::Never].into_iter().find(|r| r.as_str() == text)
    }

    /// When an entry written at `at` expires; `None` means never.
    pub fn expires_at(self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Retention::Days30 => Some(at + chrono::Duration::days(30)),
            Retention::Days60 => Some(at + chrono::Duration::days(60)),
            Retention::Never => None,
        }
    }
}

/// One merchant's link between a store and an Odoo database. Secrets live in the [`SecretStore`],
/// never here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub id: ConnectionId,
    pub source: SourceSystem,
    pub store_url: Url,
    pub odoo_url: Url,
    /// Needed for self-hosted and Odoo.sh databases; inferred for Odoo Online.
    #[serde(default)]
    pub odoo_database: Option<String>,
    #[serde(default)]
    pub audit_retention: Retention,
    /// Lets a connection reach private or loopback addresses (a self-hosted Odoo on the LAN, tests).
    #[serde(default)]
    pub allow_private_network: bool,
    /// A paused connection accepts webhooks but posts nothing until resumed.
    #[serde(default)]
    pub paused: bool,
    /// What only its store has (see [`crate::stores::StoreSettings`]).
    #[serde(default)]
    pub settings: crate::stores::StoreSettings,
    /// Where the poller's first run starts (`mlc connection add --poll-start`); the deployment's
    /// default (`MLC_POLL_START`, else 30 days back) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_start: Option<chrono::DateTime<chrono::Utc>>,
    /// CA certificates (PEM) the connection's servers may be signed by, beside the public
    /// roots: a self-hosted store or Odoo with a private CA (`mlc connection add --ca-file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
    /// Reconciliation lists what is missing in Odoo instead of sending it again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reconcile_list_only: bool,
    /// Where and when alerts are sent; none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<crate::alerts::AlertSettings>,
}

/// A saved version of a connection's mapping rules. The rules' shape belongs to the poster; the
/// store keeps every version so any posting can be explained by the rules it used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleSet {
    pub version: u64,
    pub saved_at: DateTime<Utc>,
    pub rules: serde_json::Value,
}

/// The result of saving rules with optimistic concurrency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveRules {
    Saved {
        version: u64,
    },
    /// Someone saved since the caller read; `current` is the latest version.
    Conflict {
        current: Option<u64>,
    },
}

#[async_trait]
pub trait ConnectionStore: Send + Sync {
    async fn put_connection(&self, connection: &Connection) -> Result<()>;
    async fn connection(&self, id: &ConnectionId) -> Result<Option<Connection>>;
    async fn connections(&self) -> Result<Vec<Connection>>;
    /// Removes the connection and all its rule versions.
    async fn delete_connection(&self, id: &ConnectionId) -> Result<()>;
    /// Saves a new version if the latest is still `expected` (`None`: there are no rules yet).
    async fn save_rules(
        &self,
        id: &ConnectionId,
        expected: Option<u64>,
        rules: &serde_json::Value,
    ) -> Result<SaveRules>;
    async fn latest_rules(&self, id: &ConnectionId) -> Result<Option<RuleSet>>;
    async fn rules_version(&self, id: &ConnectionId, version: u64) -> Result<Option<RuleSet>>;
}

// ---------------------------------------------------------------------------------------------
// Sync state: watermarks, idempotency, links

/// How far a poller has read a stream: the last `updated_at` it fully processed, and an optional
/// opaque cursor for stores that page by cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermark {
    pub at: DateTime<Utc>,
    pub cursor: Option<String>,
}

/// Proof that the holder owns an idempotency key until it completes or releases it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimToken {
    pub key: IdempotencyKey,
    pub token: String,
    /// The previous holder's in-progress claim had expired and was taken over.
    pub took_over: bool,
}

/// What a claim found (the Powertools idempotency states).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The caller holds the key; do the work, then `complete` or `release`.
    Acquired(ClaimToken),
    /// Someone else holds it and their claim has not expired.
    InProgress { until: DateTime<Utc> },
    /// The work was done; here is what it produced.
    Completed { outcome: String },
}

/// Which Odoo record a source record became.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub connection_id: ConnectionId,
    pub kind: EntityKind,
    pub source_id: SourceId,
    pub odoo: OdooRef,
    pub updated_at: DateTime<Utc>,
}

#[async_trait]
pub trait SyncState: Send + Sync {
    async fn watermark(&self, connection: &ConnectionId, stream: &str) -> Result<Option<Watermark>>;
    /// Moves the watermark forward; returns false (and changes nothing) if it would move back.
    async fn advance_watermark(&self, connection: &ConnectionId, stream: &str, to: &Watermark) -> Result<bool>;

    /// Claims `key` for `in_progress_for`; an in-progress claim older than that can be taken over.
    async fn claim(&self, key: &IdempotencyKey, in_progress_for: Duration) -> Result<Claim>;
    /// Records the outcome, kept for `keep_for` (`None`: forever). False if the claim was lost.
    async fn complete(&self, token: &ClaimToken, outcome: &str, keep_for: Option<Duration>) -> Result<bool>;
    /// Gives the key up after a failure so a retry can claim it at once.
    async fn release(&self, token: &ClaimToken) -> Result<()>;

    /// Records (or moves) a link; one source record maps to one Odoo record and back.
    async fn put_link(&self, link: &Link) -> Result<()>;
    async fn link_by_source(
        &self,
        connection: &ConnectionId,
        kind: EntityKind,
        source_id: &SourceId,
    ) -> Result<Option<Link>>;
    async fn link_by_odoo(&self, connection: &ConnectionId, odoo: &OdooRef) -> Result<Option<Link>>;
}

// ---------------------------------------------------------------------------------------------
// Audit

/// The step of a record's journey an audit entry describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditStage {
    Received,
    Rejected,
    Enqueued,
    Posted,
    /// A note on an Odoo document's chatter (a status change, a shipment): nothing booked.
    Noted,
    Skipped,
    Failed,
    DeadLettered,
    Replayed,
    SyncedToStore,
}

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub connection_id: ConnectionId,
    pub kind: EntityKind,
    pub source_id: SourceId,
    pub trace_id: TraceId,
    pub at: DateTime<Utc>,
    pub stage: AuditStage,
    /// The Odoo record this step created or touched, if any.
    pub odoo: Option<OdooRef>,
    /// Why, in words a finance team can read (for failures: the error, class included).
    pub message: String,
    #[serde(default)]
    pub details: serde_json::Value,
}

#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends an entry, kept as long as `retention` says from the entry's `at`.
    async fn append(&self, entry: &AuditEntry, retention: Retention) -> Result<()>;
    /// A record's trail, oldest first; expired entries are never returned.
    async fn by_source(
        &self,
        connection: &ConnectionId,
        kind: EntityKind,
        source_id: &SourceId,
    ) -> Result<Vec<AuditEntry>>;
    /// Every entry that touched an Odoo record, oldest first.
    async fn by_odoo(&self, connection: &ConnectionId, odoo: &OdooRef) -> Result<Vec<AuditEntry>>;
    /// How many entries of each stage were appended per hour, for the hours that overlap
    /// `[from, to)`, oldest first; hours without entries are left out. Counted as entries are
    /// appended, and kept for [`ACTIVITY_KEPT_DAYS`] whatever the entries' retention.
    async fn activity(
        &self,
        connection: &ConnectionId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<HourActivity>>;
}

/// How long hourly activity counts are kept: a year and a month, for "this month" a year on.
pub const ACTIVITY_KEPT_DAYS: i64 = 400;

/// Audit entries of one hour, by stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HourActivity {
    /// The hour's start (UTC).
    pub hour: DateTime<Utc>,
    pub counts: BTreeMap<AuditStage, u64>,
}

impl HourActivity {
    pub fn count(&self, stage: AuditStage) -> u64 {
        self.counts.get(&stage).copied().unwrap_or(0)
    }
}

impl AuditStage {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditStage::Received => "received",
            AuditStage::Rejected => "rejected",
            AuditStage::Enqueued => "enqueued",
            AuditStage::Posted => "posted",
            AuditStage::Noted => "noted",
            AuditStage::Skipped => "skipped",
            AuditStage::Failed => "failed",
            AuditStage::DeadLettered => "dead_lettered",
            AuditStage::Replayed => "replayed",
            AuditStage::SyncedToStore => "synced_to_store",
        }
    }

    pub fn parse(text: &str) -> Option<AuditStage> {
        serde_json::from_value(serde_json::Value::String(text.to_string())).ok()
    }
}

/// The hour an instant falls in, as its counters key it: `2026-12-03T17`.
pub fn hour_key(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H").to_string()
}

/// Hourly activity from `(hour key, stage, count)` rows in hour order; rows it cannot read
/// (a stage this build does not know) are left out.
pub fn activity_of_rows(rows: impl IntoIterator<Item = (String, String, u64)>) -> Vec<HourActivity> {
    let mut hours: Vec<HourActivity> = Vec::new();
    for (key, stage, n) in rows {
        let (Some(hour), Some(stage)) = (hour_of_key(&key), AuditStage::parse(&stage)) else { continue };
        match hours.last_mut() {
            Some(last) if last.hour == hour => *last.counts.entry(stage).or_default() += n,
            _ => hours.push(HourActivity { hour, counts: BTreeMap::from([(stage, n)]) }),
        }
    }
    hours
}

/// The start of the hour a [`hour_key`] names.
pub fn hour_of_key(key: &str) -> Option<DateTime<Utc>> {
    chrono::NaiveDateTime::parse_from_str(&format!("{key}:00:00"), "%Y-%m-%dT%H:%M:%S").ok().map(|t| t.and_utc())
}

// ---------------------------------------------------------------------------------------------
// Failed records

/// A record that could not post and will not by retrying as it is: kept whole, with the reason,
/// until it is replayed (after a rule or the data is fixed) or discarded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedRecord {
    pub connection_id: ConnectionId,
    pub kind: EntityKind,
    pub source_id: SourceId,
    pub trace_id: TraceId,
    pub failed_at: DateTime<Utc>,
    /// `permanent`, `bad input` or `retryable` (retries exhausted).
    pub class: String,
    pub reason: String,
    /// The envelope as it was queued, so replay sends exactly it again.
    pub body: String,
}

#[async_trait]
pub trait FailedRecords: Send + Sync {
    /// Keeps (or replaces) the failed record of one source record.
    async fn park(&self, record: &FailedRecord) -> Result<()>;
    /// A connection's failed records, oldest failure first.
    async fn failed(&self, connection: &ConnectionId) -> Result<Vec<FailedRecord>>;
    async fn get_failed(
        &self,
        connection: &ConnectionId,
        kind: EntityKind,
        source_id: &SourceId,
    ) -> Result<Option<FailedRecord>>;
    async fn remove_failed(&self, connection: &ConnectionId, kind: EntityKind, source_id: &SourceId) -> Result<()>;
}

// ---------------------------------------------------------------------------------------------
// Secrets

/// A secret value: zeroed on drop, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Zeroizing::new(value.into()))
    }

    /// The only way to read the value; grep for it to audit where secrets go.
    /// A new random secret: 32 bytes from the OS's generator, as 64 hex digits (safe in any
    /// store's settings and headers).
    pub fn generate() -> Self {
        let bytes: [u8; 32] = rand::random();
        Secret::new(hex::encode(bytes))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A connection's secrets by name (`odoo_api_key`, `webhook_secret`, `store_consumer_secret`, ...).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretBundle(BTreeMap<String, Secret>);

impl SecretBundle {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.0.insert(name.to_string(), Secret::new(value));
        self
    }

    pub fn get(&self, name: &str) -> Option<&Secret> {
        self.0.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// The JSON object stored at rest (inside an encrypted file or a Secrets Manager secret).
    pub fn to_json(&self) -> Zeroizing<String> {
        let map: BTreeMap<&str, &str> = self.0.iter().map(|(k, v)| (k.as_str(), v.expose())).collect();
        Zeroizing::new(serde_json::to_string(&map).expect("a map of strings serializes"))
    }

    pub fn from_json(json: &str) -> Result<Self> {
        // The parser's error could quote the value; report only where it failed.
        let map: BTreeMap<String, String> = serde_json::from_str(json).map_err(|e| {
            crate::error::Error::permanent(anyhow::anyhow!(
                "stored secrets are not a JSON object of strings (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        Ok(SecretBundle(map.into_iter().map(|(k, v)| (k, Secret::new(v))).collect()))
    }
}

impl fmt::Debug for SecretBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}

#[async_trait]
pub trait SecretStore: Send + Sync {
    async fn get(&self, connection: &ConnectionId) -> Result<Option<SecretBundle>>;
    async fn put(&self, connection: &ConnectionId, secrets: &SecretBundle) -> Result<()>;
    async fn delete(&self, connection: &ConnectionId) -> Result<()>;
}

/// Shared handles are stores too, so wrappers like `CachedSecrets` take `Arc<dyn SecretStore>`.
#[async_trait]
impl<T: SecretStore + ?Sized> SecretStore for std::sync::Arc<T> {
    async fn get(&self, connection: &ConnectionId) -> Result<Option<SecretBundle>> {
        (**self).get(connection).await
    }
    async fn put(&self, connection: &ConnectionId, secrets: &SecretBundle) -> Result<()> {
        (**self).put(connection, secrets).await
    }
    async fn delete(&self, connection: &ConnectionId) -> Result<()> {
        (**self).delete(connection).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{Record, samples};

    #[test]
    fn secrets_never_print() {
        let bundle = SecretBundle::new().with("odoo_api_key", "hunter2-very-secret");
        let shown =
            format!("{bundle:?} {:?} {}", bundle.get("odoo_api_key").unwrap(), bundle.get("odoo_api_key").unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("odoo_api_key"));
        let err = SecretBundle::from_json(r#"{"odoo_api_key": hunter2-very-secret}"#).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert_eq!(SecretBundle::from_json(&bundle.to_json()).unwrap(), bundle);
    }

    #[test]
    fn fifo_ids_group_by_record_and_dedup_by_version() {
        let a = OutgoingMessage::for_envelope(&samples::envelope("acme", "1042", Record::Order(samples::order())));
        let mut changed = samples::order();
        changed.number = "1042-b".into();
        let b = OutgoingMessage::for_envelope(&samples::envelope("acme", "1042", Record::Order(changed)));
        assert_eq!(a.group_id, "acme:order:1042");
        assert_eq!(a.group_id, b.group_id);
        assert_ne!(a.deduplication_id, b.deduplication_id);
        assert!(a.deduplication_id.len() <= 128);

        let long = samples::envelope("acme", &"é".repeat(100), Record::Order(samples::order()));
        let m = OutgoingMessage::for_envelope(&long);
        assert_eq!(m.group_id.len(), 64);
        assert!(m.group_id.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn retention_sets_expiry() {
        let at = Utc::now();
        assert_eq!(Retention::Days30.expires_at(at), Some(at + chrono::Duration::days(30)));
        assert_eq!(Retention::Days60.expires_at(at), Some(at + chrono::Duration::days(60)));
        assert_eq!(Retention::Never.expires_at(at), None);
    }
}
