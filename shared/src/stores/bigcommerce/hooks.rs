//! The connection's hooks: registered per scope, and watched (BigCommerce deactivates a hook
//! after about 48 hours of failed deliveries and says so only by e-mail).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::client::BcClient;
use super::connector::*;
use crate::error::Result;
use crate::ports::*;
use crate::records::EntityKind;
use crate::stores::WebhookRegistrar;

/// A hook to create: with the custom-header secret when the connection keeps one.
fn hook_body(scope: &str, destination: &str, secrets: Option<&SecretBundle>) -> Value {
    let mut body = json!({ "scope": scope, "destination": destination, "is_active": true });
    if let Some(value) = secrets.and_then(|s| s.get(SECRET_HOOK_HEADER)) {
        body["headers"] = json!({ HOOK_HEADER: value.expose() });
    }
    body
}

impl BcConnector {
    /// BigCommerce deactivates a hook after about 48 hours of failed deliveries and says so only
    /// by e-mail: each poll re-enables the connection's deactivated hooks, re-creates missing
    /// ones (at the destination the others have), audits each, and has the gap backfilled from
    /// the earliest time a hook stopped.
    pub(super) async fn watch_hooks(&self, connection: &Connection) -> Result<Option<DateTime<Utc>>> {
        let client = self.client(connection).await?;
        let hooks = self.ours(&client, connection).await?;
        let secrets = self.pipeline.deps.secrets.get(&connection.id).await?;
        let Some(destination) = hooks.first().and_then(|h| h["destination"].as_str()).map(String::from) else {
            return Ok(None); // none registered: webhooks are not in use for this connection
        };
        let mut since: Option<DateTime<Utc>> = None;
        for scope in SCOPES {
            let hook = hooks.iter().find(|h| h["scope"] == scope);
            let (what, stopped) = match hook {
                Some(h) if h["is_active"].as_bool() == Some(false) => {
                    let id = h["id"].as_i64().unwrap_or_default();
                    let body = json!({ "is_active": true });
                    client.send(reqwest::Method::PUT, &format!("/v3/hooks/{id}"), &[], Some(&body)).await?;
                    let stopped = h["updated_at"].as_i64().and_then(|t| DateTime::from_timestamp(t, 0));
                    ("re-enabled (BigCommerce had deactivated it after failed deliveries)", stopped)
                }
                Some(_) => continue,
                None => {
                    let body = hook_body(scope, &destination, secrets.as_ref());
                    client.send(reqwest::Method::POST, "/v3/hooks", &[], Some(&body)).await?;
                    ("re-created (it was missing)", None)
                }
            };
            let stopped = stopped.unwrap_or_else(|| Utc::now() - chrono::Duration::hours(48));
            since = Some(since.map_or(stopped, |s| s.min(stopped)));
            let message =
                format!("hook {scope} {what}; the poller reads again from {}", stopped.format("%Y-%m-%d %H:%M:%S UTC"));
            self.pipeline
                .audit(
                    connection,
                    EntityKind::Order,
                    &format!("hook-{}", scope.replace('/', "-")),
                    AuditStage::Received,
                    message,
                    json!({ "scope": scope }),
                )
                .await;
        }
        Ok(since)
    }

    /// The connection's hooks: those whose destination is its path on the webhook endpoint.
    pub(super) async fn ours(&self, client: &BcClient, connection: &Connection) -> Result<Vec<Value>> {
        let suffix = format!("/webhooks/bigcommerce/{}", connection.id);
        Ok(client
            .v3_all("/v3/hooks", &[])
            .await?
            .into_iter()
            .filter(|h| h["destination"].as_str().is_some_and(|d| d.trim_end_matches('/').ends_with(&suffix)))
            .collect())
    }
}

#[async_trait]
impl WebhookRegistrar for BcConnector {
    fn secret_name(&self) -> &'static str {
        SECRET_CLIENT_SECRET
    }

    /// One hook per scope at `delivery_url` (BigCommerce signs them with the API account's client
    /// secret; there is no secret to send). Deactivated ones are re-enabled.
    async fn register(
        &self,
        connection: &Connection,
        secrets: &SecretBundle,
        delivery_url: &str,
        _fresh: bool,
    ) -> Result<crate::stores::Registration> {
        let client = self.client(connection).await?;
        let hooks = self.ours(&client, connection).await?;
        let mut done = crate::stores::Registration::default();
        for scope in SCOPES {
            let same: Vec<&Value> = hooks.iter().filter(|h| h["scope"] == scope).collect();
            let kept = same.iter().find(|h| h["destination"].as_str() == Some(delivery_url));
            for other in same.iter().filter(|h| h["destination"].as_str() != Some(delivery_url)) {
                let id = other["id"].as_i64().unwrap_or_default();
                client.send(reqwest::Method::DELETE, &format!("/v3/hooks/{id}"), &[], None).await?;
                done.replaced.push(scope.to_string());
            }
            let wanted = hook_body(scope, delivery_url, Some(secrets));
            let headers_differ = |h: &Value| {
                let given = if h["headers"].is_null() { json!({}) } else { h["headers"].clone() };
                given != wanted.get("headers").cloned().unwrap_or_else(|| json!({}))
            };
            match kept {
                Some(h) if h["is_active"].as_bool() != Some(false) && !headers_differ(h) => {
                    done.unchanged.push(scope.to_string())
                }
                Some(h) => {
                    let id = h["id"].as_i64().unwrap_or_default();
                    let update = json!({ "is_active": true, "headers": wanted.get("headers").cloned().unwrap_or_else(|| json!({})) });
                    client.send(reqwest::Method::PUT, &format!("/v3/hooks/{id}"), &[], Some(&update)).await?;
                    done.reactivated.push(scope.to_string());
                }
                None => {
                    let body = wanted;
                    client.send(reqwest::Method::POST, "/v3/hooks", &[], Some(&body)).await?;
                    done.created.push(scope.to_string());
                }
            }
        }
        Ok(done)
    }

    async fn unregister(&self, connection: &Connection, _secrets: &SecretBundle) -> Result<usize> {
        let client = self.client(connection).await?;
        let hooks = self.ours(&client, connection).await?;
        for h in &hooks {
            let id = h["id"].as_i64().unwrap_or_default();
            client.send(reqwest::Method::DELETE, &format!("/v3/hooks/{id}"), &[], None).await?;
        }
        Ok(hooks.len())
    }
}
