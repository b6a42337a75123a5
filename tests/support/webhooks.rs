//! The webhook routes on a random loopback port, as `mlc serve` runs them.

use std::sync::Arc;

use shared::stores::woocommerce::WooConnector;

pub struct WebhookServer {
    pub url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for WebhookServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl WebhookServer {
    pub async fn start(connector: Arc<WooConnector>) -> WebhookServer {
        let (url, server) = shared::serve::on_loopback(shared::serve::webhook_router(stores_of(connector)))
            .await
            .expect("loopback server");
        WebhookServer { url, server }
    }
}

/// A registry of one WooCommerce connector (as a test built it), on its own pipeline.
pub fn stores_of(connector: Arc<WooConnector>) -> Arc<shared::stores::Stores> {
    Arc::new(shared::stores::Stores::new(connector.pipeline.clone(), vec![connector]))
}

/// An alert receiver on a random loopback port: what a merchant's webhook would get.
pub struct AlertReceiver {
    /// Where alerts are to be sent (`…/alerts`).
    pub url: url::Url,
    received: Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for AlertReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl AlertReceiver {
    pub async fn start() -> AlertReceiver {
        let received: Arc<std::sync::Mutex<Vec<serde_json::Value>>> = Arc::default();
        let sink = received.clone();
        let router = axum::Router::new().route(
            "/alerts",
            axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| async move {
                sink.lock().expect("lock").push(body);
                "ok"
            }),
        );
        let (base, server) = shared::serve::on_loopback(router).await.expect("loopback server");
        AlertReceiver { url: format!("{base}/alerts").parse().expect("a URL"), received, server }
    }

    /// The alerts received so far, oldest first.
    pub fn alerts(&self) -> Vec<serde_json::Value> {
        self.received.lock().expect("lock").clone()
    }

    /// Alert settings that send here, with the defaults otherwise.
    pub fn settings(&self) -> shared::alerts::AlertSettings {
        shared::alerts::AlertSettings { webhook: Some(self.url.clone()), ..Default::default() }
    }
}
