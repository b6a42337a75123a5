//! The webhook routes on a random loopback port, as API Gateway (or `mlc serve`) puts them in
//! front of the handler: `POST /webhooks/woocommerce/{connection_id}`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use shared::stores::woocommerce::{WebhookRequest, WooConnector};

pub struct WebhookServer {
    pub url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for WebhookServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn woocommerce(State(connector): State<Arc<WooConnector>>, Path(connection): Path<String>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    let headers: HashMap<String, String> = headers.iter().filter_map(|(k, v)| Some((k.as_str().to_lowercase(), v.to_str().ok()?.to_string()))).collect();
    let response = connector.handle_webhook(WebhookRequest { connection_id: &connection, headers: &headers, body: &body }).await;
    (StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), response.body)
}

impl WebhookServer {
    pub async fn start(connector: Arc<WooConnector>) -> WebhookServer {
        let app = axum::Router::new()
            .route("/webhooks/woocommerce/{connection}", axum::routing::post(woocommerce))
            .layer(axum::extract::DefaultBodyLimit::max(8 * 1024 * 1024))
            .with_state(connector);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        WebhookServer { url, server }
    }
}
