//! What the Lambda entry points share: configuration from the environment and the translation
//! between Lambda's event types and the logic's.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

use crate::aws::{DynamoAudit, DynamoConnections, DynamoState, SecretsManagerStore, load_config};
use crate::error::{Error, Result};
use crate::ports::FailedRecords;
use crate::poster::{BatchReport, IncomingMessage, Poster, PosterDeps, PosterSettings};
use crate::secret_cache::CachedSecrets;

/// Logs as CloudWatch reads them best: JSON lines, no timestamp (Lambda adds one), filtered by
/// `RUST_LOG` (the template sets it from `AuditLogLevel`). Every function's `main` calls it first.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .without_time()
        .init();
}

/// Secrets are read at most once per five minutes per connection and container.
pub const SECRETS_TTL: Duration = Duration::from_secs(300);

fn env(name: &str) -> Result<String> {
    std::env::var(name)
        .map_err(|_| Error::permanent(anyhow::anyhow!("{name} is not set; template.yaml sets it for every function")))
}

/// The poster on the AWS adapters, configured by `template.yaml`'s environment.
pub async fn poster_from_env() -> Result<Poster> {
    let config = load_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    let secrets = SecretsManagerStore::new(aws_sdk_secretsmanager::Client::new(&config), env("MLC_SECRETS_PREFIX")?);
    let state = Arc::new(DynamoState::new(dynamo.clone(), env("MLC_STATE_TABLE")?));
    let deps = PosterDeps {
        connections: Arc::new(DynamoConnections::new(dynamo.clone(), env("MLC_CONNECTIONS_TABLE")?)),
        state: state.clone(),
        audit: Arc::new(DynamoAudit::new(dynamo, env("MLC_AUDIT_TABLE")?)),
        failed: state,
        secrets: Arc::new(CachedSecrets::new(secrets, SECRETS_TTL)),
    };
    Ok(Poster::new(deps, PosterSettings::default()))
}

/// SQS records as the poster's messages (FIFO: the group id is a system attribute).
pub fn sqs_messages(event: &SqsEvent) -> Vec<IncomingMessage> {
    event
        .records
        .iter()
        .map(|r| IncomingMessage {
            message_id: r.message_id.clone().unwrap_or_default(),
            group_id: r.attributes.get("MessageGroupId").cloned().unwrap_or_default(),
            body: r.body.clone().unwrap_or_default(),
            receive_count: r.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1),
        })
        .collect()
}

/// The partial batch response: only the messages to retry are reported.
pub fn batch_response(report: &BatchReport) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = report
        .failed_message_ids()
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

// -- WooCommerce ------------------------------------------------------------------------------

use aws_lambda_events::event::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use base64::Engine as _;

use crate::aws::SqsQueue;
use crate::stores::Stores;
use crate::stores::fetch::{FetchOutcome, Fetcher};
use crate::stores::webhook::StoreDeps;
use crate::stores::woocommerce::{WebhookResponse, WooConnector};

/// What every store function shares, on the AWS adapters, configured by `template.yaml`.
pub async fn store_deps_from_env() -> Result<StoreDeps> {
    let config = load_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let secrets = SecretsManagerStore::new(aws_sdk_secretsmanager::Client::new(&config), env("MLC_SECRETS_PREFIX")?);
    Ok(StoreDeps {
        connections: Arc::new(DynamoConnections::new(dynamo.clone(), env("MLC_CONNECTIONS_TABLE")?)),
        secrets: Arc::new(CachedSecrets::new(secrets, SECRETS_TTL)),
        queue: Arc::new(SqsQueue::new(sqs.clone(), env("MLC_QUEUE_URL")?)),
        fetch_queue: Arc::new(SqsQueue::new(sqs, env("MLC_FETCH_QUEUE_URL")?)),
        audit: Arc::new(DynamoAudit::new(dynamo.clone(), env("MLC_AUDIT_TABLE")?)),
        state: Arc::new(DynamoState::new(dynamo, env("MLC_STATE_TABLE")?)),
    })
}

/// The WooCommerce connector on the AWS adapters.
pub async fn woo_connector_from_env() -> Result<WooConnector> {
    Ok(WooConnector::new(store_deps_from_env().await?))
}

/// Where alerts go on AWS: the stack's SNS topic (`MLC_ALERT_TOPIC_ARN`, set by the template);
/// a deployment without one sends them to each connection's webhook instead.
pub async fn alert_sink_from_env() -> Arc<dyn crate::alerts::AlertSink> {
    match std::env::var("MLC_ALERT_TOPIC_ARN") {
        Ok(arn) if !arn.is_empty() => {
            let config = load_config().await;
            Arc::new(crate::aws::SnsAlerts::new(aws_sdk_sns::Client::new(&config), arn))
        }
        _ => Arc::new(crate::alerts::WebhookAlerts { timeout: Duration::from_secs(10) }),
    }
}

/// The daily reconciliation on the AWS adapters.
pub async fn reconciler_from_env() -> Result<crate::reconcile::Reconciler> {
    let deps = store_deps_from_env().await?;
    let stores = Arc::new(Stores::standard(deps.clone()));
    Ok(crate::reconcile::Reconciler::on(&deps, stores, alert_sink_from_env().await))
}

/// The checks the reconciler function runs on its schedules: `{"check": "alerts"}` every few
/// minutes (failures per reason, missed polls, against `MLC_POLL_EVERY_MINUTES`, the poll
/// schedules' rate), anything else a reconciliation ([`crate::reconcile::Reconciler::run_scheduled`]).
pub async fn scheduled_check(
    reconciler: &crate::reconcile::Reconciler,
    failed: Arc<dyn FailedRecords>,
    payload: &serde_json::Value,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<serde_json::Value> {
    if payload.get("check").and_then(|c| c.as_str()) != Some("alerts") {
        return reconciler.run_scheduled(payload, now).await;
    }
    let minutes = std::env::var("MLC_POLL_EVERY_MINUTES").ok().and_then(|m| m.parse::<i64>().ok()).unwrap_or(15);
    let alerter = crate::alerts::Alerter {
        connections: reconciler.connections.clone(),
        failed,
        state: reconciler.state.clone(),
        sink: reconciler
            .alerts
            .clone()
            .unwrap_or_else(|| Arc::new(crate::alerts::WebhookAlerts { timeout: Duration::from_secs(10) })),
    };
    let sent = alerter.check(now, Some(chrono::Duration::minutes(minutes.max(1)))).await?;
    Ok(serde_json::json!({ "alerts_sent": sent.iter().map(|a| &a.summary).collect::<Vec<_>>() }))
}

/// The failed records on the AWS adapters (the state table).
pub async fn failed_records_from_env() -> Result<Arc<dyn FailedRecords>> {
    let config = load_config().await;
    Ok(Arc::new(DynamoState::new(aws_sdk_dynamodb::Client::new(&config), env("MLC_STATE_TABLE")?)))
}

/// Every store, for the fetch stage's function.
pub async fn stores_from_env() -> Result<Stores> {
    Ok(Stores::standard(store_deps_from_env().await?))
}

/// The fetch stage's batch: each reference read from its store and queued for the poster;
/// what must be retried is reported as a batch item failure.
pub async fn fetch_batch(fetcher: &Fetcher, event: &SqsEvent) -> SqsBatchResponse {
    let outcomes = fetcher.handle_batch(&sqs_messages(event)).await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = outcomes
        .into_iter()
        .filter(|(_, o)| matches!(o, FetchOutcome::Retry(_)))
        .map(|(id, _)| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

/// Poll settings: the first run backfills from `MLC_POLL_START` (`YYYY-MM-DD`, UTC), or 30 days back.
pub fn poll_settings_from_env() -> Result<crate::stores::woocommerce::PollSettings> {
    let mut settings = crate::stores::woocommerce::PollSettings::default();
    if let Ok(start) = std::env::var("MLC_POLL_START") {
        let date = chrono::NaiveDate::parse_from_str(start.trim(), "%Y-%m-%d")
            .map_err(|_| Error::bad_input(format!("MLC_POLL_START {start:?} is not a YYYY-MM-DD date")))?;
        settings.start = date.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
    }
    Ok(settings)
}

/// An HTTP API (payload 2.0) request as the webhook handler's parts: connection id from the path,
/// lower-case headers, and the raw body bytes the signature covers.
pub fn webhook_parts(
    request: &ApiGatewayV2httpRequest,
) -> (String, std::collections::HashMap<String, String>, Vec<u8>) {
    let connection = request.path_parameters.get("connection_id").cloned().unwrap_or_default();
    let headers = request
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_lowercase(), v.to_str().ok()?.to_string())))
        .collect();
    let body = match &request.body {
        Some(b) if request.is_base64_encoded => base64::engine::general_purpose::STANDARD.decode(b).unwrap_or_default(),
        Some(b) => b.clone().into_bytes(),
        None => Vec::new(),
    };
    (connection, headers, body)
}

pub fn apigw_response(response: &WebhookResponse) -> ApiGatewayV2httpResponse {
    let mut out = ApiGatewayV2httpResponse::default();
    out.status_code = response.status.into();
    out.body = Some(aws_lambda_events::encodings::Body::Text(response.body.clone()));
    if let Ok(value) = response.content_type.parse() {
        out.headers.insert("content-type", value);
    }
    out
}

// -- BigCommerce ------------------------------------------------------------------------------

use crate::stores::bigcommerce::BcConnector;
use crate::stores::webhook::{Delivery, Reply, WebhookSource};

/// The BigCommerce connector on the AWS adapters.
pub async fn bc_connector_from_env() -> Result<BcConnector> {
    Ok(BcConnector::new(store_deps_from_env().await?))
}

/// The Adobe Commerce connector on the AWS adapters.
pub async fn adobe_connector_from_env() -> Result<crate::stores::adobe_commerce::AdobeConnector> {
    Ok(crate::stores::adobe_commerce::AdobeConnector::new(store_deps_from_env().await?))
}

/// One HTTP API request through the shared pipeline, for a store's webhook function.
pub async fn handle_webhook(
    pipeline: &crate::stores::webhook::WebhookPipeline,
    store: &dyn WebhookSource,
    request: &ApiGatewayV2httpRequest,
) -> ApiGatewayV2httpResponse {
    let (connection_id, headers, body) = webhook_parts(request);
    let reply = pipeline.handle(store, &connection_id, &Delivery { headers: &headers, body: &body }).await;
    apigw_reply(&reply)
}

pub fn apigw_reply(reply: &Reply) -> ApiGatewayV2httpResponse {
    apigw_response(&WebhookResponse {
        status: reply.status,
        content_type: reply.content_type,
        body: reply.body.clone(),
    })
}

/// The console on a deployed stack (`mlc console --aws`): the stack's tables, queues and
/// secrets, as the functions are configured, plus `MLC_DLQ_URL` for the dead letters' depth.
/// Settings are read-only here.
pub async fn console_from_env() -> Result<crate::console::Console> {
    let deps = store_deps_from_env().await?;
    let config = load_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    let state = Arc::new(DynamoState::new(dynamo, env("MLC_STATE_TABLE")?));
    let poster = Poster::new(
        PosterDeps {
            connections: deps.connections.clone(),
            state: deps.state.clone(),
            audit: deps.audit.clone(),
            failed: state.clone(),
            secrets: deps.secrets.clone(),
        },
        PosterSettings::default(),
    );
    // One set of clients (and one secrets cache) for the pages, previews and reconciliation.
    let stores = Arc::new(Stores::standard(deps.clone()));
    let reconciler = crate::reconcile::Reconciler::on(&deps, stores.clone(), alert_sink_from_env().await);
    Ok(crate::console::Console {
        connections: deps.connections.clone(),
        failed: state,
        audit: deps.audit.clone(),
        state: deps.state.clone(),
        secrets: deps.secrets.clone(),
        queue: deps.queue.clone(),
        queue_depth: Arc::new(SqsQueue::new(sqs.clone(), env("MLC_QUEUE_URL")?)),
        dead_letters: Arc::new(SqsQueue::new(sqs, env("MLC_DLQ_URL")?)),
        stores,
        poster: Arc::new(poster),
        reconciler: Arc::new(reconciler),
        editable: false,
    })
}
