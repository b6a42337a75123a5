//! The webhook routes on one machine (`mlc serve`, `mlc demo`, black-box tests): the same paths
//! API Gateway routes to the webhook Lambdas, handled by the same code, behind a server that a
//! slow or hostile client cannot starve: headers must arrive within [`ServerLimits::header_timeout`],
//! bodies within [`ServerLimits::body_timeout`], at most [`ServerLimits::max_connections`] are
//! served at once, and bodies are read against the handler's limit while they stream, within a
//! process-wide budget of buffered bytes.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::Semaphore;

use crate::stores::Stores;
use crate::stores::webhook::{Delivery, Reply};
use crate::stores::woocommerce::webhook::MAX_BODY_BYTES;

/// An unsigned request can only be WooCommerce's creation ping, a few hundred bytes.
pub const MAX_UNSIGNED_BODY_BYTES: usize = 4 * 1024;

#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: usize,
    /// Bytes of request bodies buffered at once across all connections.
    pub body_budget_bytes: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: 4096,
            body_budget_bytes: 64 * MAX_BODY_BYTES,
        }
    }
}

struct WebhookApp {
    stores: Arc<Stores>,
    body_timeout: Duration,
    /// One permit per KiB of body being buffered.
    body_budget: Arc<Semaphore>,
}

fn lower_case(headers: &HeaderMap) -> HashMap<String, String> {
    headers.iter().filter_map(|(k, v)| Some((k.as_str().to_lowercase(), v.to_str().ok()?.to_string()))).collect()
}

fn reply(status: u16, body: String) -> Response {
    (StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), body).into_response()
}

/// An answer sent before the body was read: the connection cannot carry another request, and a
/// client that pools connections must be told so.
fn reply_closing(status: u16, body: String) -> Response {
    let mut response = reply(status, body);
    response.headers_mut().insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
    response
}

/// Why a body was not read to its end.
enum Unread {
    TooLarge(usize),
    Slow,
}

/// Reads at most `limit` bytes of `body` within `timeout`.
async fn read_limited(body: Body, limit: usize, timeout: Duration) -> Result<Bytes, Unread> {
    let mut body = body;
    let mut buffer = Vec::new();
    let read = async {
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return Err(Unread::Slow) };
            if let Some(data) = frame.data_ref() {
                if buffer.len() + data.len() > limit {
                    return Err(Unread::TooLarge(buffer.len() + data.len()));
                }
                buffer.extend_from_slice(data);
            }
        }
        Ok(())
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok(())) => Ok(Bytes::from(buffer)),
        Ok(Err(why)) => Err(why),
        Err(_) => Err(Unread::Slow),
    }
}

fn from_reply(reply: Reply, closing: bool) -> Response {
    let mut response =
        if closing { reply_closing(reply.status, reply.body) } else { self::reply(reply.status, reply.body) };
    if let Ok(value) = axum::http::HeaderValue::from_str(reply.content_type) {
        response.headers_mut().insert(axum::http::header::CONTENT_TYPE, value);
    }
    response
}

/// `POST /webhooks/{store}/{connection_id}`: the store's part from the registry, the rest the
/// shared pipeline's.
async fn webhook(
    State(app): State<Arc<WebhookApp>>,
    Path((store, connection)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(source) = app.stores.by_webhook_name(&store).map(|s| s.webhook()) else {
        return reply(404, "no such store".into());
    };
    let pipeline = &app.stores.pipeline;
    let headers = lower_case(&headers);
    let probe = Delivery { headers: &headers, body: &[] };
    let limit = if source.claims_signature(&probe) { source.max_body_bytes() } else { MAX_UNSIGNED_BODY_BYTES };
    let declared = headers.get("content-length").and_then(|l| l.trim().parse::<usize>().ok());
    if let Some(len) = declared.filter(|&len| len > limit) {
        return from_reply(pipeline.refuse_unread(source, &connection, &probe, Some(len)).await, true);
    }
    // Hold budget for what may be buffered, so many large bodies at once wait instead of
    // taking the process's memory.
    let kib = (declared.unwrap_or(limit).div_ceil(1024)).max(1) as u32;
    let Ok(Ok(_permit)) = tokio::time::timeout(app.body_timeout, app.body_budget.clone().acquire_many_owned(kib)).await
    else {
        return reply_closing(503, "busy, try again".into());
    };
    let body = match read_limited(body, limit, app.body_timeout).await {
        Ok(body) => body,
        Err(Unread::TooLarge(len)) => {
            return from_reply(pipeline.refuse_unread(source, &connection, &probe, Some(len)).await, true);
        }
        Err(Unread::Slow) => return reply_closing(408, "the body did not arrive in time".into()),
    };
    from_reply(pipeline.handle(source, &connection, &Delivery { headers: &headers, body: &body }).await, false)
}

/// The webhook routes for every store, with the default [`ServerLimits`].
pub fn webhook_router(stores: Arc<Stores>) -> axum::Router {
    stores_router(stores, ServerLimits::default())
}

/// `POST /webhooks/{store}/{connection_id}` for every store in `stores`.
pub fn stores_router(stores: Arc<Stores>, limits: ServerLimits) -> axum::Router {
    let permits = (limits.body_budget_bytes / 1024).clamp(MAX_BODY_BYTES / 1024, Semaphore::MAX_PERMITS);
    let app = WebhookApp { stores, body_timeout: limits.body_timeout, body_budget: Arc::new(Semaphore::new(permits)) };
    axum::Router::new()
        .route("/webhooks/{store}/{connection}", axum::routing::post(webhook))
        // The handler reads bodies itself, against its own limits.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(Arc::new(app))
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets in-flight requests finish
/// (for at most `drain`). HTTP/1.1 only, as webhooks are.
pub async fn serve_http(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) {
    serve_http_maybe_tls(listener, None, router, limits, shutdown, drain).await
}

/// A TLS server configuration from PEM files: the certificate chain and its private key.
pub fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> crate::Result<tokio_rustls::TlsAcceptor> {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |what: &str, path: &std::path::Path, e: &dyn std::fmt::Display| {
        crate::Error::bad_input(format!("{what} {}: {e}", path.display()))
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad("the certificate file", cert, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad("the certificate file", cert, &e))?;
    if chain.is_empty() {
        return Err(crate::Error::bad_input(format!("{} holds no certificate", cert.display())));
    }
    // The key's own bytes are never part of an error message.
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|_| crate::Error::bad_input(format!("{} holds no readable PEM private key", key.display())))?;
    let provider = std::sync::Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| crate::Error::permanent(anyhow::anyhow!("TLS versions: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| crate::Error::bad_input(format!("the certificate and key do not make a TLS server: {e}")))?;
    let mut config = config;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
}

/// [`serve_http`], over TLS when `tls` is given (the handshake within the header timeout).
pub async fn serve_http_maybe_tls(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    router: axum::Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) {
    let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // At the cap, new connections wait in the listen backlog until one ends.
        let permit = tokio::select! {
            p = connections.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, say: wait a little rather than spin.
                    tracing::warn!(error = %e, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).max_buf_size(64 * 1024);
        let service = TowerToHyperService::new(router.clone());
        match &tls {
            None => {
                let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    let _ = connection.await;
                    drop(permit);
                });
            }
            Some(acceptor) => {
                let (acceptor, watcher, handshake) = (acceptor.clone(), graceful.watcher(), limits.header_timeout);
                tokio::spawn(async move {
                    if let Ok(Ok(stream)) = tokio::time::timeout(handshake, acceptor.accept(stream)).await {
                        let _ = watcher.watch(http.serve_connection(TokioIo::new(stream), service)).await;
                    }
                    drop(permit);
                });
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown()).await.is_err() {
        tracing::warn!("some connections were still open after {} s; closing them", drain.as_secs());
    }
}

/// Serves `router` on a random loopback port; returns its base URL and the server task.
pub async fn on_loopback(router: axum::Router) -> std::io::Result<(String, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let task =
        tokio::spawn(serve_http(listener, router, ServerLimits::default(), std::future::pending(), Duration::ZERO));
    Ok((url, task))
}
