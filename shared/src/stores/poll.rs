//! The poll loop, written once for every store: what webhooks missed, caught by reading each
//! stream in bounded windows of modified time from its watermark, each window starting a little
//! before the last one ended (stores' bounds are exclusive and their modified times can lag),
//! the watermark moving to the newest modified time seen, never to "now". A backfill keeps its
//! own watermarks and resumes where it stopped. Streams a store cannot filter by modified time
//! (WooCommerce's customers) are read whole on their own cadence, and only records whose content
//! changed since the last pass are queued. Connections are polled one by one, and one that fails
//! (a revoked key) does not stop the next.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration as ChronoDuration, Utc};

use super::webhook::WebhookPipeline;
use crate::error::{Error, Result};
use crate::ports::{Connection, Watermark};
use crate::records::{Envelope, SourceSystem};

#[derive(Debug, Clone)]
pub struct PollSettings {
    /// Where a first run starts (the backfill start date).
    pub start: DateTime<Utc>,
    pub window: ChronoDuration,
    pub overlap: ChronoDuration,
    /// A backfill keeps its own watermarks, named by this tag (its start date): it resumes where
    /// it stopped, and never moves the regular poller's.
    pub backfill: Option<String>,
    /// How often the whole-stream passes run (a slow safety net beside webhooks).
    pub customers_every: ChronoDuration,
}

impl Default for PollSettings {
    fn default() -> Self {
        PollSettings {
            start: Utc::now() - ChronoDuration::days(30),
            window: ChronoDuration::hours(6),
            overlap: ChronoDuration::minutes(5),
            backfill: None,
            customers_every: ChronoDuration::hours(1),
        }
    }
}

/// Where a poll is, after each window: for progress bars.
#[derive(Debug, Clone, Copy)]
pub struct PollProgress<'a> {
    pub stream: &'a str,
    /// Seconds of the stream's time range covered so far, and in all.
    pub covered: i64,
    pub span: i64,
    pub report: &'a PollReport,
}

#[derive(Debug, Default, Clone, PartialEq, serde::Serialize)]
pub struct PollReport {
    pub windows: u64,
    pub orders: u64,
    pub customers: u64,
    pub records_queued: u64,
    pub pages: u64,
    /// When the store's watchdog found a webhook down: the backfill started there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backfilled_from: Option<DateTime<Utc>>,
}

/// What one listing of a stream found.
#[derive(Debug, Default)]
pub struct Listed {
    pub envelopes: Vec<Envelope>,
    /// The newest modified time among what was read (the watermark moves there).
    pub newest: Option<DateTime<Utc>>,
    /// Store records read, for the report.
    pub orders: u64,
    pub customers: u64,
}

/// The watermark a successful scheduled poll moves to its time.
pub const LAST_POLL: &str = "last-successful-poll";

/// What a store's polling is made of.
#[async_trait]
pub trait PollSource: Send + Sync {
    fn source(&self) -> SourceSystem;
    /// The store's name in the audit trail.
    fn title(&self) -> &'static str;
    /// Streams read in windows of modified time, each with its own watermark.
    fn windowed_streams(&self) -> &'static [&'static str];
    /// Records of `stream` modified between `from` and `to`.
    async fn list_window(
        &self,
        connection: &Connection,
        stream: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Listed>;
    /// One page (from 1) of a window, and whether more pages follow, so a poll holds one page
    /// at a time however busy the window. A store that does not page lists it all as page 1.
    async fn list_window_page(
        &self,
        connection: &Connection,
        stream: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        page: u64,
    ) -> Result<(Listed, bool)> {
        if page > 1 {
            return Ok((Listed::default(), false));
        }
        Ok((self.list_window(connection, stream, from, to).await?, false))
    }
    /// Streams the store cannot filter by modified time, read whole.
    fn whole_streams(&self) -> &'static [&'static str] {
        &[]
    }
    async fn list_whole(&self, _connection: &Connection, _stream: &str) -> Result<Listed> {
        Ok(Listed::default())
    }
    /// One page (from 1) of a whole stream, and whether more follow (see `list_window_page`).
    async fn list_whole_page(&self, connection: &Connection, stream: &str, page: u64) -> Result<(Listed, bool)> {
        if page > 1 {
            return Ok((Listed::default(), false));
        }
        Ok((self.list_whole(connection, stream).await?, false))
    }
    /// Requests made to the store for `connection` so far (for the report's page count).
    async fn requests_made(&self, connection: &Connection) -> u64;
    /// Run before each scheduled poll: repairs the store's webhooks for the connection where the
    /// store can disable them, and says from when records may have been missed (the poll then
    /// backfills from there). `None`: nothing was wrong.
    async fn watchdog(&self, _connection: &Connection) -> Result<Option<DateTime<Utc>>> {
        Ok(None)
    }
}

/// Polls connections through a store's [`PollSource`] and queues through the webhook pipeline.
pub struct Poller {
    pub pipeline: Arc<WebhookPipeline>,
}

impl Poller {
    pub fn new(pipeline: Arc<WebhookPipeline>) -> Self {
        Poller { pipeline }
    }

    /// One poll of `connection` up to `now`, reporting progress after every window.
    pub async fn poll(
        &self,
        source: &dyn PollSource,
        connection: &Connection,
        settings: &PollSettings,
        now: DateTime<Utc>,
        progress: &(dyn Fn(PollProgress) + Sync),
    ) -> Result<PollReport> {
        let pages_before = source.requests_made(connection).await;
        let mut report = PollReport::default();
        if settings.backfill.is_none()
            && let Some(since) = source.watchdog(connection).await?
        {
            // A webhook was down: what it missed is read again, as a backfill of its own.
            let gap = PollSettings {
                start: since,
                backfill: Some(format!("watchdog-{}", since.format("%Y%m%dT%H%M%S"))),
                ..settings.clone()
            };
            report.backfilled_from = Some(since);
            for &stream in source.windowed_streams() {
                self.poll_windows(source, connection, stream, &gap, now, progress, &mut report, pages_before).await?;
            }
        }
        for &stream in source.windowed_streams() {
            self.poll_windows(source, connection, stream, settings, now, progress, &mut report, pages_before).await?;
        }
        for &stream in source.whole_streams() {
            self.poll_whole(source, connection, stream, settings, now, &mut report).await?;
            report.pages = source.requests_made(connection).await - pages_before;
            progress(PollProgress { stream, covered: 1, span: 1, report: &report });
        }
        report.pages = source.requests_made(connection).await - pages_before;
        if settings.backfill.is_none() {
            // When the connection last polled successfully, for the alert on missed polls.
            let mark = crate::ports::Watermark { at: now, cursor: None };
            self.pipeline.deps.state.advance_watermark(&connection.id, LAST_POLL, &mark).await?;
        }
        Ok(report)
    }

    fn mark_name(stream: &str, settings: &PollSettings) -> String {
        match &settings.backfill {
            Some(tag) => format!("{stream}:backfill:{tag}"),
            None => stream.to_string(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn poll_windows(
        &self,
        source: &dyn PollSource,
        connection: &Connection,
        stream: &str,
        settings: &PollSettings,
        now: DateTime<Utc>,
        progress: &(dyn Fn(PollProgress) + Sync),
        report: &mut PollReport,
        pages_before: u64,
    ) -> Result<()> {
        let state = &self.pipeline.deps.state;
        let mark_name = Self::mark_name(stream, settings);
        let mark = state.watermark(&connection.id, &mark_name).await?;
        // A connection's own first-run start wins over the deployment's (not over a backfill's).
        let start = match (&settings.backfill, connection.poll_start) {
            (None, Some(own)) => own,
            _ => settings.start,
        };
        let mut from = mark.map(|w| (w.at - settings.overlap).max(start)).unwrap_or(start);
        let span = (now - start).num_seconds().max(1);
        while from < now {
            let to = (from + settings.window).min(now);
            // Page by page: each is queued before the next is read, so memory stays flat.
            let mut newest = None;
            for page in 1.. {
                let (listed, more) = source.list_window_page(connection, stream, from, to, page).await?;
                report.orders += listed.orders;
                report.customers += listed.customers;
                self.pipeline.enqueue(source.title(), connection, &listed.envelopes, "the poller").await?;
                report.records_queued += listed.envelopes.len() as u64;
                newest = newest.max(listed.newest);
                if !more {
                    break;
                }
            }
            let listed = Listed { newest, ..Listed::default() };
            report.windows += 1;
            // A backfill's empty windows move its mark too (its range is fixed, so nothing can
            // appear there later that the regular poller will not see as modified).
            let mark_at = if settings.backfill.is_some() { listed.newest.max(Some(to)) } else { listed.newest };
            if let Some(at) = mark_at {
                state.advance_watermark(&connection.id, &mark_name, &Watermark { at, cursor: None }).await?;
            }
            from = to;
            report.pages = source.requests_made(connection).await - pages_before;
            progress(PollProgress { stream, covered: (to - start).num_seconds(), span, report });
        }
        Ok(())
    }

    /// A whole-stream pass: every record once, queued only when changed since the last pass.
    async fn poll_whole(
        &self,
        source: &dyn PollSource,
        connection: &Connection,
        stream: &str,
        settings: &PollSettings,
        now: DateTime<Utc>,
        report: &mut PollReport,
    ) -> Result<()> {
        let state = &self.pipeline.deps.state;
        let mark_name = Self::mark_name(stream, settings);
        let last_pass = state.watermark(&connection.id, &mark_name).await?;
        let due = match (&last_pass, &settings.backfill) {
            (None, _) => true,
            (Some(_), Some(_)) => false, // a backfill's pass is done once
            (Some(w), None) => now - w.at >= settings.customers_every,
        };
        if !due {
            return Ok(());
        }
        // Page by page, as windows are: one page of records in memory at a time.
        for page in 1.. {
            let (listed, more) = source.list_whole_page(connection, stream, page).await?;
            report.orders += listed.orders;
            report.customers += listed.customers;
            let mut changed: Vec<(Envelope, String)> = Vec::new();
            for envelope in listed.envelopes {
                let seen = format!("{stream}:seen:{}", envelope.source_id);
                let hash = envelope.content_hash.as_str().to_string();
                let last = state.watermark(&connection.id, &seen).await?.and_then(|w| w.cursor);
                if last.as_deref() != Some(hash.as_str()) {
                    changed.push((envelope, seen));
                }
            }
            let envelopes: Vec<Envelope> = changed.iter().map(|(e, _)| e.clone()).collect();
            self.pipeline.enqueue(source.title(), connection, &envelopes, "the poller").await?;
            report.records_queued += envelopes.len() as u64;
            // Remembered only once queued: a failed enqueue is read again on the next pass.
            for (e, seen) in &changed {
                let mark = Watermark { at: e.source_updated_at, cursor: Some(e.content_hash.as_str().to_string()) };
                state.advance_watermark(&connection.id, seen, &mark).await?;
            }
            if !more {
                break;
            }
        }
        state.advance_watermark(&connection.id, &mark_name, &Watermark { at: now, cursor: None }).await?;
        Ok(())
    }

    /// A scheduled poll: the connection the schedule names (`{"connection_id": …}`), or every
    /// active connection of the store. Each is polled even when one before it fails; the
    /// failures are reported together once all were tried.
    pub async fn poll_scheduled(
        &self,
        source: &dyn PollSource,
        input: &serde_json::Value,
        settings: &PollSettings,
        now: DateTime<Utc>,
    ) -> Result<serde_json::Value> {
        let connections = &self.pipeline.deps.connections;
        let connections = match input.get("connection_id").and_then(|c| c.as_str()) {
            Some(id) => {
                let id = crate::ids::ConnectionId::parse(id)?;
                vec![
                    connections
                        .connection(&id)
                        .await?
                        .ok_or_else(|| Error::bad_input(format!("connection {id} does not exist")))?,
                ]
            }
            None => connections.connections().await?,
        };
        let mut reports = serde_json::Map::new();
        let mut failed: Vec<(String, Error)> = Vec::new();
        for c in connections.into_iter().filter(|c| c.source == source.source() && !c.paused) {
            let span = tracing::info_span!("poll", connection_id = %c.id);
            match tracing::Instrument::instrument(self.poll(source, &c, settings, now, &|_| {}), span).await {
                Ok(r) => {
                    let figures = serde_json::json!({ "windows": r.windows, "orders": r.orders, "customers": r.customers, "queued": r.records_queued, "pages": r.pages });
                    reports.insert(c.id.to_string(), figures);
                }
                Err(e) => {
                    tracing::warn!(connection = %c.id, error = %e, "poll failed; the next connection is polled all the same");
                    reports.insert(c.id.to_string(), serde_json::json!({ "error": e.to_string() }));
                    failed.push((c.id.to_string(), e));
                }
            }
        }
        match failed.len() {
            0 => Ok(serde_json::Value::Object(reports)),
            1 => {
                let (id, e) = failed.remove(0);
                Err(e.context(format!("polling connection {id} (the others were polled)")))
            }
            _ => {
                let class = failed[0].1.class();
                let which: Vec<String> = failed.iter().map(|(id, e)| format!("{id}: {e}")).collect();
                let why = anyhow::anyhow!(
                    "{} connections could not be polled (the others were): {}",
                    failed.len(),
                    which.join("; ")
                );
                Err(match class {
                    crate::ErrorClass::Retryable => Error::retryable(why),
                    crate::ErrorClass::BadInput => Error::bad_input(why.to_string()),
                    crate::ErrorClass::Permanent => Error::permanent(why),
                })
            }
        }
    }
}
