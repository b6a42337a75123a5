//! The poster: takes a batch of queued envelopes and writes them into Odoo exactly once, on the
//! accounts the mapping rules choose, explaining every step in the audit trail.
//!
//! Exactly once rests on three things: an idempotency claim per record version (a redelivered
//! or concurrently delivered message finds it completed or in progress); a marker on the move
//! (`invoice_origin = mlc:<connection>:<kind>:<id>:<version>`) searched before creating again
//! when a claim had to be taken over from a worker that died; and links from store ids to Odoo
//! ids recorded once the move exists.

mod customers;
mod moves;
mod notes;
mod partners;
mod refunds;
mod routing;
mod sales;
pub use crate::operations::{redrive, replay};
pub mod plan;
pub mod sale_plan;
pub mod session;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use serde_json::json;

use self::session::OdooSession;
use crate::error::{Error, ErrorClass, Result};
use crate::http::RetryPolicy;
use crate::ids::{ConnectionId, IdempotencyKey, OdooRef, SourceId};
use crate::odoo::{OdooClient, OdooConfig};
use crate::ports::*;
use crate::records::Envelope;
use crate::rules::MappingRules;

/// The module external ids are created in.
pub const XMLID_MODULE: &str = "ml_connector";

pub struct PosterDeps {
    pub connections: Arc<dyn ConnectionStore>,
    pub state: Arc<dyn SyncState>,
    pub audit: Arc<dyn AuditLog>,
    pub failed: Arc<dyn FailedRecords>,
    pub secrets: Arc<dyn SecretStore>,
}

#[derive(Debug, Clone)]
pub struct PosterSettings {
    /// How long a claim protects a record being posted; longer than the function's timeout.
    pub claim_for: Duration,
    /// How long a completed claim answers duplicates (`None`: forever).
    pub keep_outcome_for: Option<Duration>,
    pub odoo_retry: RetryPolicy,
    pub odoo_timeout: Duration,
    /// The queue's `maxReceiveCount`: a record still to retry on its last delivery is kept as a
    /// failed record with its last error (listed, traced, replayable) rather than left to the
    /// dead-letter queue. 0 leaves it to the queue.
    pub max_receives: u32,
}

impl Default for PosterSettings {
    fn default() -> Self {
        PosterSettings {
            claim_for: Duration::from_secs(120),
            keep_outcome_for: Some(Duration::from_secs(90 * 86_400)),
            odoo_retry: RetryPolicy::default(),
            odoo_timeout: Duration::from_secs(20),
            max_receives: 5,
        }
    }
}

/// A queued message as the poster receives it.
#[derive(Debug, Clone)]
pub struct IncomingMessage {
    pub message_id: String,
    pub group_id: String,
    pub body: String,
    /// How many times the queue has delivered it, this time included.
    pub receive_count: u32,
}

impl From<&ReceivedMessage> for IncomingMessage {
    fn from(m: &ReceivedMessage) -> Self {
        IncomingMessage {
            message_id: m.message_id.clone(),
            group_id: m.group_id.clone(),
            body: m.body.clone(),
            receive_count: m.receive_count,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum RecordOutcome {
    Posted {
        odoo: OdooRef,
        name: String,
    },
    /// Already done by an earlier delivery.
    Duplicate,
    Skipped(String),
    /// Cannot post as it is: kept as a failed record, acknowledged.
    Parked(String),
    /// Try again later: the message stays on the queue (and reaches the DLQ if it keeps failing).
    Retry(String),
}

#[derive(Debug, Default)]
pub struct BatchReport {
    pub outcomes: Vec<(String, RecordOutcome)>,
}

impl BatchReport {
    /// Message ids to report as failed (`ReportBatchItemFailures`).
    pub fn failed_message_ids(&self) -> Vec<String> {
        self.outcomes.iter().filter(|(_, o)| matches!(o, RecordOutcome::Retry(_))).map(|(id, _)| id.clone()).collect()
    }
}

/// What `preview` found: the plan, and whether posting would happen at all.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Preview {
    pub rules_version: u64,
    pub status: String,
    /// Whether the order's status posts (the rules' `post_statuses`).
    pub posts: bool,
    /// Posted at once, or left as a draft.
    pub post: bool,
    pub already_in_odoo: Option<OdooRef>,
    pub plan: plan::MovePlan,
    /// In sales-order mode: the sale order the order becomes (`plan` is then its invoice's).
    pub sale_order: Option<sale_plan::SalePlan>,
}

/// What a connection's records are posted with.
struct Context {
    connection: Connection,
    rules: MappingRules,
    rules_version: u64,
    odoo: Arc<OdooSession>,
}

/// Where a claimed record goes next.
enum Routed {
    /// A new move, created together with the batch's other new moves.
    Create(Box<Work>),
    Done(usize, RecordOutcome),
}

/// A claimed record being worked on.
struct Work {
    idx: usize,
    envelope: Envelope,
    token: ClaimToken,
}

pub struct Poster {
    deps: PosterDeps,
    settings: PosterSettings,
    sessions: tokio::sync::Mutex<HashMap<ConnectionId, Arc<OdooSession>>>,
    /// Test hook: behave as if the process died right after Odoo's create.
    crash_after_create: AtomicBool,
    /// Test hook: the next batches panic, as a bug would.
    panics_to_come: std::sync::atomic::AtomicU32,
}

fn claim_key(e: &Envelope) -> IdempotencyKey {
    // Bounded by construction: a connection id is at most 64 bytes, a source id 256, a hash 64,
    // a repost's run id 40 (longer is cut).
    let mut key = format!("post:{}:{}:{}:{}", e.connection_id, e.kind(), e.source_id, e.content_hash);
    if let Some(run) = &e.repost {
        key.push(':');
        key.extend(run.chars().take(40));
    }
    IdempotencyKey::parse(key).expect("a key under 512 bytes")
}

fn marker(e: &Envelope) -> String {
    format!("mlc:{}:{}:{}:{}", e.connection_id, e.kind(), e.source_id, &e.content_hash.as_str()[..12])
}

/// Store line links live beside the record's own: `1042#301`, `1042#ship:302`.
/// A store line id too long for an id is bad input, never a panic.
fn line_source(order: &SourceId, store_line: &str) -> Result<SourceId> {
    SourceId::parse(format!("{order}#{store_line}"))
}

/// What an earlier delivery of the same version did, from the outcome its claim kept.
fn earlier(outcome: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(outcome).unwrap_or_default();
    if let Some(why) = v["skipped"].as_str() {
        format!("already handled by an earlier delivery, which skipped it: {why}")
    } else if v["cancelled"].is_i64() {
        format!("already cancelled by an earlier delivery ({})", v["name"].as_str().unwrap_or_default())
    } else if let Some(name) = v["name"].as_str() {
        format!("already posted by an earlier delivery as {name}")
    } else if v["noted"].is_i64() {
        "already noted on its document by an earlier delivery".into()
    } else if v["partner"].is_i64() {
        format!("already written to partner {} by an earlier delivery", v["partner"])
    } else if v["credit_note"].is_i64() {
        "already credited by an earlier delivery".into()
    } else {
        "already handled by an earlier delivery".into()
    }
}

fn class_name(class: ErrorClass) -> String {
    class.to_string()
}

impl Poster {
    pub fn new(deps: PosterDeps, settings: PosterSettings) -> Self {
        Poster {
            deps,
            settings,
            sessions: tokio::sync::Mutex::new(HashMap::new()),
            crash_after_create: AtomicBool::new(false),
            panics_to_come: std::sync::atomic::AtomicU32::new(0),
        }
    }

    /// Makes the next batch stop right after Odoo's create, as if the process died there.
    pub fn crash_after_next_create(&self) {
        self.crash_after_create.store(true, Ordering::SeqCst);
    }

    /// Makes the next `n` batches panic (a test of what survives a bug).
    pub fn panic_on_next_batches(&self, n: u32) {
        self.panics_to_come.store(n, Ordering::SeqCst);
    }

    /// Posts a batch. FIFO-safe: once a message of a group must be retried, the group's later
    /// messages in the batch are not attempted and are reported failed too.
    pub async fn handle_batch(&self, messages: &[IncomingMessage]) -> BatchReport {
        if self.panics_to_come.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            panic!("injected by panic_on_next_batches");
        }
        let mut outcomes: Vec<Option<RecordOutcome>> = vec![None; messages.len()];
        let mut queues: Vec<(String, VecDeque<usize>)> = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            match queues.iter_mut().find(|(g, _)| *g == m.group_id) {
                Some((_, q)) => q.push_back(i),
                None => queues.push((m.group_id.clone(), VecDeque::from([i]))),
            }
        }
        loop {
            // One wave: the next message of every group still moving.
            let wave: Vec<usize> = queues.iter_mut().filter_map(|(_, q)| q.pop_front()).collect();
            if wave.is_empty() {
                break;
            }
            let mut envelopes = Vec::new();
            for &i in &wave {
                match Envelope::from_json(&messages[i].body) {
                    Ok(e) => envelopes.push((i, e)),
                    Err(e) => outcomes[i] = Some(RecordOutcome::Retry(format!("unreadable message: {e}"))),
                }
            }
            // A refund credits what its order became: orders of the same wave post first, so an
            // order and its refund delivered together post in one batch.
            let (refunds, others): (Vec<_>, Vec<_>) =
                envelopes.into_iter().partition(|(_, e)| matches!(e.record, crate::records::Record::Refund(_)));
            for part in [others, refunds] {
                for (i, outcome) in self.process_wave(part).await {
                    outcomes[i] = Some(outcome);
                }
            }
            for &i in &wave {
                if matches!(outcomes[i], Some(RecordOutcome::Retry(_))) {
                    let group = &messages[i].group_id;
                    if let Some((_, q)) = queues.iter_mut().find(|(g, _)| g == group) {
                        for later in q.drain(..) {
                            outcomes[later] =
                                Some(RecordOutcome::Retry(format!("an earlier message of group {group} failed")));
                        }
                    }
                }
            }
        }
        let mut report = Vec::with_capacity(messages.len());
        for (m, o) in messages.iter().zip(outcomes) {
            let outcome = match o.unwrap_or(RecordOutcome::Retry("not processed".into())) {
                RecordOutcome::Retry(why)
                    if self.settings.max_receives > 0 && m.receive_count >= self.settings.max_receives =>
                {
                    self.give_up(m, why).await
                }
                other => other,
            };
            report.push((m.message_id.clone(), outcome));
        }
        BatchReport { outcomes: report }
    }

    /// A record still to retry on its last delivery: kept as failed with the last error, so
    /// nothing hides in the dead-letter queue. An unreadable message is left to the queue.
    async fn give_up(&self, m: &IncomingMessage, why: String) -> RecordOutcome {
        let Ok(envelope) = Envelope::from_json(&m.body) else { return RecordOutcome::Retry(why) };
        let retention = match self.deps.connections.connection(&envelope.connection_id).await {
            Ok(Some(c)) => c.audit_retention,
            _ => Retention::default(),
        };
        let reason = format!("gave up after {} deliveries; the last error: {why}", m.receive_count);
        self.park(&envelope, retention, None, ErrorClass::Retryable, reason).await
    }

    async fn process_wave(&self, envelopes: Vec<(usize, Envelope)>) -> Vec<(usize, RecordOutcome)> {
        let mut by_connection: BTreeMap<ConnectionId, Vec<(usize, Envelope)>> = BTreeMap::new();
        for (i, e) in envelopes {
            by_connection.entry(e.connection_id.clone()).or_default().push((i, e));
        }
        let mut out = Vec::new();
        for (connection, items) in by_connection {
            out.extend(self.process_connection(&connection, items).await);
        }
        out
    }

    async fn context(&self, id: &ConnectionId) -> Result<Context> {
        let connection = self
            .deps
            .connections
            .connection(id)
            .await?
            .ok_or_else(|| Error::permanent(anyhow::anyhow!("connection {id} does not exist")))?;
        if connection.paused {
            return Err(Error::permanent(anyhow::anyhow!(
                "connection {id} is paused; replay its failed records once resumed"
            )));
        }
        let rule_set = self
            .deps
            .connections
            .latest_rules(id)
            .await?
            .ok_or_else(|| Error::permanent(anyhow::anyhow!("connection {id} has no mapping rules yet")))?;
        let rules = MappingRules::from_json(&rule_set.rules)?;
        let odoo = self.session(&connection).await?;
        if rules.posting.mode == crate::rules::PostingMode::SaleOrder {
            odoo.load_sales_data().await?;
        }
        for (what, journal) in
            [("journal", &rules.posting.journal), ("refund payment journal", &rules.posting.refund_payment_journal)]
        {
            if let Some(journal) = journal.as_deref().filter(|j| odoo.journal(j).is_none()) {
                return Err(Error::permanent(anyhow::anyhow!(
                    "the mapping rules name {what} {journal:?}, which Odoo does not have"
                )));
            }
        }
        if let Some(term) = rules.posting.payment_term.as_deref().filter(|t| odoo.payment_term(t).is_none()) {
            return Err(Error::permanent(anyhow::anyhow!(
                "the mapping rules name payment term {term:?}, which Odoo does not have"
            )));
        }
        Ok(Context { connection, rules, rules_version: rule_set.version, odoo })
    }

    /// The move an order or invoice would become, from the same rules and Odoo master data
    /// posting uses, without writing anything to Odoo (reads only).
    pub async fn preview(&self, envelope: &Envelope) -> Result<Preview> {
        let ctx = self.context(&envelope.connection_id).await?;
        let doc = match &envelope.record {
            crate::records::Record::Order(doc) | crate::records::Record::Invoice(doc) => doc,
            other => {
                return Err(Error::bad_input(format!(
                    "only orders and invoices can be previewed, not {} records",
                    other.kind()
                )));
            }
        };
        let skus: Vec<String> = doc.lines.iter().filter_map(|l| l.sku.as_ref().map(|s| s.to_string())).collect();
        ctx.odoo.load_products(&skus).await?;
        let store = ctx.connection.store_url.host_str();
        let would_fail = |e: plan::PlanError| Error::permanent(anyhow::anyhow!("it would fail: {e}"));
        let sale_order = match ctx.rules.posting.mode {
            crate::rules::PostingMode::SaleOrder => {
                let extra = ctx.rules.sales.rounding_product.iter().chain(&ctx.rules.sales.fee_product).cloned();
                ctx.odoo.load_required_products(&extra.chain(skus.iter().cloned()).collect::<Vec<_>>()).await?;
                Some(sale_plan::plan_sale_order(doc, store, &ctx.rules, ctx.odoo.as_ref()).map_err(would_fail)?)
            }
            _ => None,
        };
        let plan = plan::plan_sales_document(doc, store, &ctx.rules, ctx.odoo.as_ref()).map_err(would_fail)?;
        let status = doc.source_status.to_lowercase();
        let posts = ctx.rules.posting.decision(doc.status, &doc.source_status) == crate::rules::StatusDecision::Post;
        let link =
            self.deps.state.link_by_source(&envelope.connection_id, envelope.kind(), &envelope.source_id).await?;
        Ok(Preview {
            rules_version: ctx.rules_version,
            status,
            posts,
            post: ctx.rules.posting.post,
            already_in_odoo: link.map(|l| l.odoo),
            plan,
            sale_order,
        })
    }

    async fn session(&self, connection: &Connection) -> Result<Arc<OdooSession>> {
        let mut sessions = self.sessions.lock().await;
        if let Some(s) = sessions.get(&connection.id) {
            return Ok(s.clone());
        }
        let secrets =
            self.deps.secrets.get(&connection.id).await?.ok_or_else(|| {
                Error::permanent(anyhow::anyhow!("connection {} has no secrets stored", connection.id))
            })?;
        let need = |name: &str| {
            secrets.get(name).cloned().ok_or_else(|| {
                Error::permanent(anyhow::anyhow!("connection {} lacks the secret {name}", connection.id))
            })
        };
        let mut config = OdooConfig::new(
            connection.odoo_url.as_str(),
            connection.odoo_database.clone(),
            need("odoo_login")?.expose(),
            need("odoo_api_key")?,
        );
        config.allow_private_network = connection.allow_private_network;
        config.ca_pem = connection.ca_pem.clone();
        config.retry = self.settings.odoo_retry;
        config.timeout = self.settings.odoo_timeout;
        let client = OdooClient::connect(config).await?;
        let session = Arc::new(OdooSession::open(client).await?);
        sessions.insert(connection.id.clone(), session.clone());
        Ok(session)
    }

    async fn audit(
        &self,
        e: &Envelope,
        retention: Retention,
        stage: AuditStage,
        odoo: Option<OdooRef>,
        message: String,
        details: serde_json::Value,
    ) {
        let entry = AuditEntry {
            connection_id: e.connection_id.clone(),
            kind: e.kind(),
            source_id: e.source_id.clone(),
            trace_id: e.trace_id,
            at: Utc::now(),
            stage,
            odoo,
            message,
            details,
        };
        if let Err(err) = self.deps.audit.append(&entry, retention).await {
            tracing::error!(error = %err, source_id = %e.source_id, "could not write the audit trail");
        }
    }

    /// Keeps a record that cannot post, explains why, and lets its claim go so a replay can claim it.
    async fn park(
        &self,
        e: &Envelope,
        retention: Retention,
        token: Option<&ClaimToken>,
        class: ErrorClass,
        reason: String,
    ) -> RecordOutcome {
        let record = FailedRecord {
            connection_id: e.connection_id.clone(),
            kind: e.kind(),
            source_id: e.source_id.clone(),
            trace_id: e.trace_id,
            failed_at: Utc::now(),
            class: class_name(class),
            reason: reason.clone(),
            body: e.to_json(),
        };
        if let Err(err) = self.deps.failed.park(&record).await {
            // Not kept: let the queue keep it instead.
            return RecordOutcome::Retry(format!("could not keep the failed record ({err}): {reason}"));
        }
        if let Some(t) = token {
            let _ = self.deps.state.release(t).await;
        }
        self.audit(
            e,
            retention,
            AuditStage::Failed,
            None,
            format!("failed ({class}): {reason}"),
            json!({ "class": class_name(class) }),
        )
        .await;
        RecordOutcome::Parked(reason)
    }

    /// Turns an error into the outcome its class calls for.
    async fn fail(&self, e: &Envelope, retention: Retention, token: Option<&ClaimToken>, err: Error) -> RecordOutcome {
        match err.class() {
            ErrorClass::Retryable => {
                if let Some(t) = token {
                    let _ = self.deps.state.release(t).await;
                }
                self.audit(
                    e,
                    retention,
                    AuditStage::Failed,
                    None,
                    format!("will retry: {err}"),
                    json!({ "class": "retryable" }),
                )
                .await;
                RecordOutcome::Retry(err.to_string())
            }
            class => self.park(e, retention, token, class, err.to_string()).await,
        }
    }

    async fn process_connection(
        &self,
        id: &ConnectionId,
        items: Vec<(usize, Envelope)>,
    ) -> Vec<(usize, RecordOutcome)> {
        let ctx = match self.context(id).await {
            Ok(ctx) => ctx,
            Err(err) => {
                let mut out = Vec::new();
                for (i, e) in items {
                    out.push((i, self.fail(&e, Retention::default(), None, err.duplicate()).await));
                }
                return out;
            }
        };
        let retention = ctx.connection.audit_retention;
        let mut out = Vec::new();
        let mut to_create: Vec<Work> = Vec::new();
        for (idx, envelope) in items {
            let token = match self.deps.state.claim(&claim_key(&envelope), self.settings.claim_for).await {
                Ok(Claim::Acquired(token)) => token,
                Ok(Claim::Completed { outcome }) => {
                    self.audit(&envelope, retention, AuditStage::Skipped, None, earlier(&outcome), json!({})).await;
                    // The same content as a version already settled (a newer date, say): settled too.
                    if matches!(
                        envelope.kind(),
                        crate::records::EntityKind::Order | crate::records::EntityKind::Invoice
                    ) {
                        let (c, k, s, at) =
                            (&envelope.connection_id, envelope.kind(), &envelope.source_id, envelope.source_updated_at);
                        let _ = self.settle(c, k, s, at, &envelope.content_hash.to_string()).await;
                    }
                    out.push((idx, RecordOutcome::Duplicate));
                    continue;
                }
                Ok(Claim::InProgress { until }) => {
                    out.push((idx, RecordOutcome::Retry(format!("another worker is posting it (until {until})"))));
                    continue;
                }
                Err(err) => {
                    out.push((idx, self.fail(&envelope, retention, None, err).await));
                    continue;
                }
            };
            // Every log line of this record's posting carries its connection and trace id.
            let span = tracing::info_span!(
                "record",
                connection_id = %envelope.connection_id,
                trace_id = %envelope.trace_id,
                kind = %envelope.kind(),
                source_id = %envelope.source_id
            );
            match tracing::Instrument::instrument(self.route(&ctx, Work { idx, envelope, token }), span).await {
                Routed::Create(work) => to_create.push(*work),
                Routed::Done(idx, outcome) => out.push((idx, outcome)),
            }
        }
        let traces: Vec<String> = to_create.iter().map(|w| w.envelope.trace_id.to_string()).collect();
        let span = tracing::info_span!("create_moves", connection_id = %id, trace_ids = %traces.join(","));
        out.extend(tracing::Instrument::instrument(self.create_moves(&ctx, to_create), span).await);
        out
    }
}
