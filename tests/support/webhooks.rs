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
        let (url, server) =
            shared::serve::on_loopback(shared::serve::webhook_router(connector)).await.expect("loopback server");
        WebhookServer { url, server }
    }
}
