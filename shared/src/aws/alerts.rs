//! Alerts on AWS: published to the stack's SNS topic (`AlertTopic` in `template.yaml`), where
//! e-mail, chat or a pager subscribe. The message is the alert as JSON, as the one-machine
//! webhook receives it; the subject is its summary, cut to what SNS takes.

use async_trait::async_trait;

use super::classify;
use crate::alerts::{Alert, AlertSettings, AlertSink};
use crate::error::Result;
use crate::ports::Connection;

pub struct SnsAlerts {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsAlerts {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        SnsAlerts { client, topic_arn: topic_arn.into() }
    }
}

/// SNS subjects are at most 100 printable ASCII characters on one line.
fn subject(alert: &Alert) -> String {
    let text: String = format!("ml-connector {}: {}", alert.connection, alert.summary)
        .chars()
        .map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { ' ' })
        .collect();
    if text.len() <= 100 { text } else { format!("{}...", &text[..97]) }
}

#[async_trait]
impl AlertSink for SnsAlerts {
    async fn send(&self, _connection: &Connection, _settings: &AlertSettings, alert: &Alert) -> Result<()> {
        let message = serde_json::to_string(alert).expect("an alert serializes");
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject(alert))
            .message(message)
            .send()
            .await
            .map_err(|e| classify("publishing an alert to SNS", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_fit_sns() {
        let alert = Alert {
            connection: "shop".into(),
            kind: "failures",
            summary: format!("12 records failed: Odoo refused — «Access Denied»\n{}", "x".repeat(200)),
            at: chrono::Utc::now(),
            details: serde_json::Value::Null,
        };
        let s = subject(&alert);
        assert!(s.len() <= 100 && s.is_ascii() && !s.contains('\n'), "{s}");
        assert!(s.starts_with("ml-connector shop: 12 records failed"), "{s}");
    }
}
