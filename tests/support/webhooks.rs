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
