//! Alerts: a short message when failures of one reason pass a threshold, when polls have not
//! succeeded for a number of intervals, or when reconciliation finds a gap. Exactly one per
//! threshold crossing: the state remembers each alert raised (a watermark whose cursor says
//! `raised` or `armed`), so a revoked Odoo key that fails a thousand records raises one alert,
//! and raises again only after the failures were cleared and came back.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::{Error, Result};
use crate::ports::{Connection, ConnectionStore, FailedRecords, SyncState, Watermark};

/// Where a connection's alerts go and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertSettings {
    /// On one machine: an HTTPS URL that receives a JSON body (http only on loopback, for tests
    /// and local relays). On AWS the stack's SNS topic receives them.
    pub webhook: Option<url::Url>,
    /// Failed records of one reason that raise an alert.
    pub failures_per_reason: usize,
    /// Poll intervals without a successful poll that raise an alert.
    pub missed_polls: u32,
    pub on_reconciliation_gap: bool,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings { webhook: None, failures_per_reason: 10, missed_polls: 3, on_reconciliation_gap: true }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub connection: String,
    /// `failures`, `polls` or `reconciliation`.
    pub kind: &'static str,
    pub summary: String,
    pub at: DateTime<Utc>,
    pub details: serde_json::Value,
}

/// Where alerts are sent: an HTTPS webhook, or SNS on AWS.
#[async_trait]
pub trait AlertSink: Send + Sync {
    async fn send(&self, connection: &Connection, settings: &AlertSettings, alert: &Alert) -> Result<()>;
}

/// POSTs the alert as JSON to the connection's webhook.
pub struct WebhookAlerts {
    pub timeout: StdDuration,
}

#[async_trait]
impl AlertSink for WebhookAlerts {
    async fn send(&self, connection: &Connection, settings: &AlertSettings, alert: &Alert) -> Result<()> {
        let Some(url) = &settings.webhook else {
            return Err(Error::bad_input(format!("connection {} names no alert webhook", connection.id)));
        };
        let loopback = url.host_str().is_some_and(|h| h == "127.0.0.1" || h == "localhost" || h == "[::1]");
        if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
            return Err(Error::bad_input(format!("the alert webhook must be https, not {}", url.scheme())));
        }
        let client =
            crate::http::guard::guarded_client(url, loopback || connection.allow_private_network, self.timeout, None)
                .await
                .map_err(|e| Error::bad_input(e.to_string()))?;
        let response =
            client.post(url.clone()).json(alert).send().await.map_err(|e| {
                Error::retryable(anyhow::anyhow!("the alert webhook did not answer: {}", e.without_url()))
            })?;
        if !response.status().is_success() {
            return Err(Error::retryable(anyhow::anyhow!("the alert webhook answered {}", response.status())));
        }
        Ok(())
    }
}

/// What a reason is, whatever record it names: digits, quoted names and parenthesised details
/// stripped, so "order 1042" and "order 1043" failing the same way are one reason.
pub fn reason_key(reason: &str) -> String {
    let mut key = String::new();
    let (mut quoted, mut depth) = (false, 0u32);
    for c in reason.chars() {
        match c {
            '"' if depth == 0 => {
                quoted = !quoted;
                if quoted {
                    key.push('…');
                }
            }
            '(' if !quoted => {
                if depth == 0 {
                    key.push_str("(…)");
                }
                depth += 1;
            }
            ')' if !quoted && depth > 0 => depth -= 1,
            _ if quoted || depth > 0 => {}
            c if c.is_ascii_digit() => {
                if !key.ends_with('#') {
                    key.push('#');
                }
            }
            c => key.push(c),
        }
    }
    key.chars().take(120).collect()
}

pub struct Alerter {
    pub connections: Arc<dyn ConnectionStore>,
    pub failed: Arc<dyn FailedRecords>,
    pub state: Arc<dyn SyncState>,
    pub sink: Arc<dyn AlertSink>,
}

/// A watermark per alert: `raised` while its condition holds, `armed` once it cleared.
fn mark_name(kind: &str, key: &str) -> String {
    let digest = crate::ids::ContentHash::of_bytes(key.as_bytes());
    format!("alert:{kind}:{}", &digest.as_str()[..16])
}

impl Alerter {
    /// Checks every connection with alerts: failures per reason, and polls (`poll_every`).
    /// Answers the alerts sent.
    pub async fn check(&self, now: DateTime<Utc>, poll_every: Option<Duration>) -> Result<Vec<Alert>> {
        let mut sent = Vec::new();
        for c in self.connections.connections().await? {
            let Some(settings) = c.alerts.clone() else { continue };
            sent.extend(self.check_failures(&c, &settings, now).await?);
            if let Some(every) = poll_every.filter(|_| !c.paused) {
                sent.extend(self.check_polls(&c, &settings, every, now).await?);
            }
        }
        Ok(sent)
    }

    async fn check_failures(&self, c: &Connection, settings: &AlertSettings, now: DateTime<Utc>) -> Result<Vec<Alert>> {
        let mut by_reason: std::collections::BTreeMap<String, (usize, String)> = Default::default();
        for f in self.failed.failed(&c.id).await? {
            let entry = by_reason.entry(reason_key(&f.reason)).or_insert((0, f.reason.clone()));
            entry.0 += 1;
        }
        let mut sent = Vec::new();
        for (key, (count, example)) in &by_reason {
            let over = *count >= settings.failures_per_reason.max(1);
            let alert = Alert {
                connection: c.id.to_string(),
                kind: "failures",
                summary: format!("{count} records of {} failed for one reason: {example}", c.id),
                at: now,
                details: json!({ "count": count, "threshold": settings.failures_per_reason, "reason": example }),
            };
            if self.crossed(c, settings, "failures", key, over, &alert, now).await? {
                sent.push(alert);
            }
        }
        // Reasons gone from the failed records (replayed, fixed) re-arm their alert.
        for key in self.raised_keys(c, "failures").await? {
            if !by_reason.contains_key(&key) {
                self.set(c, "failures", &key, "armed", now).await?;
            }
        }
        Ok(sent)
    }

    async fn check_polls(
        &self,
        c: &Connection,
        settings: &AlertSettings,
        every: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<Alert>> {
        let last = self.state.watermark(&c.id, crate::stores::poll::LAST_POLL).await?.map(|w| w.at);
        // A connection never polled yet counts from when it was first checked.
        let since = match last {
            Some(at) => at,
            None => {
                let first = self.state.watermark(&c.id, "alert:first-check").await?.map(|w| w.at);
                match first {
                    Some(at) => at,
                    None => {
                        self.state
                            .advance_watermark(&c.id, "alert:first-check", &Watermark { at: now, cursor: None })
                            .await?;
                        now
                    }
                }
            }
        };
        let missed = ((now - since).num_seconds() / every.num_seconds().max(1)) as u32;
        let over = missed >= settings.missed_polls.max(1);
        let alert = Alert {
            connection: c.id.to_string(),
            kind: "polls",
            summary: format!(
                "no successful poll of {} for {missed} intervals (since {})",
                c.id,
                since.format("%Y-%m-%d %H:%M UTC")
            ),
            at: now,
            details: json!({ "missed": missed, "threshold": settings.missed_polls, "last_success": last }),
        };
        Ok(if self.crossed(c, settings, "polls", "polls", over, &alert, now).await? { vec![alert] } else { vec![] })
    }

    /// Sends the alert when its condition holds and it is not raised yet; re-arms it when the
    /// condition cleared. An alert that could not be sent stays armed, to be tried again.
    #[allow(clippy::too_many_arguments)]
    async fn crossed(
        &self,
        c: &Connection,
        settings: &AlertSettings,
        kind: &str,
        key: &str,
        over: bool,
        alert: &Alert,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let name = mark_name(kind, key);
        let raised =
            self.state.watermark(&c.id, &name).await?.and_then(|w| w.cursor).is_some_and(|s| s.starts_with("raised"));
        match (over, raised) {
            (true, false) => {
                self.sink.send(c, settings, alert).await?;
                self.set(c, kind, key, "raised", now).await?;
                Ok(true)
            }
            (false, true) => {
                self.set(c, kind, key, "armed", now).await?;
                Ok(false)
            }
            _ => Ok(false),
        }
    }

    async fn set(&self, c: &Connection, kind: &str, key: &str, to: &str, now: DateTime<Utc>) -> Result<()> {
        let mark = Watermark { at: now, cursor: Some(format!("{to}|{key}")) };
        self.state.advance_watermark(&c.id, &mark_name(kind, key), &mark).await?;
        // The index of raised keys, so a cleared reason can re-arm (keys joined by newlines).
        let index = format!("alert-index:{kind}");
        let mut keys = self.raised_keys(c, kind).await?;
        match to {
            "raised" if !keys.contains(&key.to_string()) => keys.push(key.to_string()),
            "armed" => keys.retain(|k| k != key),
            _ => return Ok(()),
        }
        self.state.advance_watermark(&c.id, &index, &Watermark { at: now, cursor: Some(keys.join("\n")) }).await?;
        Ok(())
    }

    async fn raised_keys(&self, c: &Connection, kind: &str) -> Result<Vec<String>> {
        let index = self.state.watermark(&c.id, &format!("alert-index:{kind}")).await?;
        Ok(index
            .and_then(|w| w.cursor)
            .map(|k| k.lines().filter(|l| !l.is_empty()).map(String::from).collect())
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_reason_whatever_record_it_names() {
        let a = reason_key("no mapping rule matches line \"Garden gnome\" (SKU GNOME-1, category Garden)");
        let b = reason_key("no mapping rule matches line \"Hat\" (SKU HAT-22, category Garden)");
        assert_eq!(a, b);
        assert_eq!(
            reason_key("Odoo refused the credentials: Access Denied"),
            "Odoo refused the credentials: Access Denied"
        );
        assert_ne!(reason_key("product SKU-9 is not in Odoo"), reason_key("the amounts are too large"));
    }
}
