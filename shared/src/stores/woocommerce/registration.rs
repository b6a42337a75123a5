//! The connection's webhooks in the store (`/wp-json/wc/v3/webhooks`): registered when asked
//! (`mlc connection add --register-webhooks`), reported by `connection test`, deleted by
//! `connection remove`. A webhook is the connection's when its delivery URL ends with the
//! connection's path, `/webhooks/woocommerce/<connection id>`, so nothing else in the store is
//! touched, and nothing needs remembering between runs.

use serde_json::{Value, json};

use super::client::WooClient;
use crate::checks::Finding;
use crate::error::{Error, Result};
use crate::ids::ConnectionId;
use crate::ports::{Connection, SecretBundle};
use crate::stores::Registration;

/// The topics that become records (the `deleted` ones are only noted, and the poller sees
/// everything else).
pub const TOPICS: [&str; 4] = ["order.created", "order.updated", "customer.created", "customer.updated"];

/// The connection's own path on the webhook endpoint.
pub fn path(connection: &ConnectionId) -> String {
    format!("/webhooks/woocommerce/{connection}")
}

async fn ours(client: &WooClient, connection: &ConnectionId) -> Result<Vec<Value>> {
    let suffix = path(connection);
    let all = client.all("/webhooks", &[]).await?;
    Ok(all
        .into_iter()
        .filter(|w| w["delivery_url"].as_str().is_some_and(|u| u.trim_end_matches('/').ends_with(&suffix)))
        .collect())
}

fn id_of(hook: &Value) -> Result<i64> {
    hook["id"].as_i64().ok_or_else(|| Error::bad_input("WooCommerce listed a webhook without an id"))
}

async fn delete(client: &WooClient, hook: &Value) -> Result<()> {
    let id = id_of(hook)?;
    let force = [("force".to_string(), "true".to_string())];
    client.send(reqwest::Method::DELETE, &format!("/webhooks/{id}"), &force, None).await?;
    Ok(())
}

/// Makes the store deliver the four topics to `delivery_url`, signed with `secret`: creates what
/// is missing, re-activates what the store disabled, and leaves the rest. `fresh_secret` says the
/// secret was just made, so hooks already there (signed with an older one) are replaced.
pub async fn register(
    client: &WooClient,
    connection: &ConnectionId,
    delivery_url: &str,
    secret: &str,
    fresh_secret: bool,
) -> Result<Registration> {
    let mut done = Registration::default();
    let existing = ours(client, connection).await?;
    for topic in TOPICS {
        let mut same: Vec<&Value> = existing.iter().filter(|w| w["topic"] == topic).collect();
        // One per topic, with the URL given now; any other is removed.
        let keep = if fresh_secret {
            None
        } else {
            same.iter().position(|w| w["delivery_url"].as_str() == Some(delivery_url))
        };
        let kept = keep.map(|i| same.remove(i));
        for extra in same {
            delete(client, extra).await?;
            done.replaced.push(topic.to_string());
        }
        match kept {
            Some(hook) if hook["status"] == "active" => done.unchanged.push(topic.to_string()),
            Some(hook) => {
                let body = json!({ "status": "active" });
                client.send(reqwest::Method::PUT, &format!("/webhooks/{}", id_of(hook)?), &[], Some(&body)).await?;
                done.reactivated.push(topic.to_string());
            }
            None => {
                let body = json!({
                    "name": format!("ml-connector {connection} {topic}"),
                    "topic": topic,
                    "delivery_url": delivery_url,
                    "secret": secret,
                    "status": "active",
                });
                client.send(reqwest::Method::POST, "/webhooks", &[], Some(&body)).await?;
                done.created.push(topic.to_string());
            }
        }
    }
    Ok(done)
}

/// Deletes every webhook of the connection; returns how many.
pub async fn unregister(client: &WooClient, connection: &ConnectionId) -> Result<usize> {
    let hooks = ours(client, connection).await?;
    for hook in &hooks {
        delete(client, hook).await?;
    }
    Ok(hooks.len())
}

/// `connection test`'s lines on webhooks: each topic active, disabled or missing.
pub async fn report(client: &WooClient, connection: &Connection, _secrets: &SecretBundle) -> Vec<Finding> {
    let hooks = match ours(client, &connection.id).await {
        Ok(h) => h,
        Err(e) => return vec![Finding::problem("store", format!("cannot list the store's webhooks: {e}"))],
    };
    if hooks.is_empty() {
        return vec![Finding::ok(
            "store",
            "no webhooks of this connection in the store: the poller alone reads it (`mlc connection add --register-webhooks` adds them)",
        )];
    }
    TOPICS
        .iter()
        .map(|topic| match hooks.iter().find(|w| w["topic"] == *topic).and_then(|w| w["status"].as_str()) {
            Some("active") => Finding::ok("store", format!("webhook {topic} is active")),
            Some(status) => Finding::problem(
                "store",
                format!(
                    "webhook {topic} is {status} (WooCommerce disables a webhook after failed deliveries); `mlc connection add --register-webhooks` re-activates it"
                ),
            ),
            None => Finding::problem(
                "store",
                format!("webhook {topic} is missing; `mlc connection add --register-webhooks` adds it"),
            ),
        })
        .collect()
}

#[async_trait::async_trait]
impl crate::stores::WebhookRegistrar for super::WooConnector {
    fn secret_name(&self) -> &'static str {
        super::webhook::SECRET_WEBHOOK
    }

    async fn register(
        &self,
        connection: &Connection,
        secrets: &SecretBundle,
        delivery_url: &str,
        fresh_secret: bool,
    ) -> Result<Registration> {
        let client = super::checks::woo_client(connection, secrets, crate::http::RetryPolicy::default())
            .await
            .map_err(|f| Error::bad_input(f.what))?;
        let secret = secrets
            .get(super::webhook::SECRET_WEBHOOK)
            .ok_or_else(|| Error::bad_input("the connection has no webhook secret to register webhooks with"))?;
        register(&client, &connection.id, delivery_url, secret.expose(), fresh_secret).await
    }

    async fn unregister(&self, connection: &Connection, secrets: &SecretBundle) -> Result<usize> {
        let client = super::checks::woo_client(connection, secrets, crate::http::RetryPolicy::default())
            .await
            .map_err(|f| Error::bad_input(f.what))?;
        unregister(&client, &connection.id).await
    }
}
