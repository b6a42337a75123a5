//! The webhook routes on one machine (`mlc serve`, `mlc demo`, black-box tests): the same paths
//! API Gateway routes to the webhook Lambdas, handled by the same code.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;

use crate::stores::woocommerce::{WebhookRequest, WooConnector, webhook::MAX_BODY_BYTES};

async fn woocommerce(State(connector): State<Arc<WooConnector>>, Path(connection): Path<String>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    let headers: HashMap<String, String> = headers.iter().filter_map(|(k, v)| Some((k.as_str().to_lowercase(), v.to_str().ok()?.to_string()))).collect();
    let response = connector.handle_webhook(WebhookRequest { connection_id: &connection, headers: &headers, body: &body }).await;
    (StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), response.body)
}

/// `POST /webhooks/woocommerce/{connection_id}`. Bodies up to twice the handler's limit reach the
/// handler, so an oversize delivery gets its 413 and its audit entry from the handler itself.
pub fn webhook_router(woocommerce_connector: Arc<WooConnector>) -> axum::Router {
    axum::Router::new()
        .route("/webhooks/woocommerce/{connection}", axum::routing::post(woocommerce))
        .layer(axum::extract::DefaultBodyLimit::max(4 * MAX_BODY_BYTES))
        .with_state(woocommerce_connector)
}

/// Serves `router` on a random loopback port; returns its base URL and the server task.
pub async fn on_loopback(router: axum::Router) -> std::io::Result<(String, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok((url, task))
}
