//! What the Lambda entry points share: configuration from the environment and the translation
//! between Lambda's event types and the logic's.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

use crate::aws::{load_config, DynamoAudit, DynamoConnections, DynamoState, SecretsManagerStore};
use crate::error::{Error, Result};
use crate::poster::{BatchReport, IncomingMessage, Poster, PosterDeps, PosterSettings};
use crate::secret_cache::CachedSecrets;

/// Secrets are read at most once per five minutes per connection and container.
pub const SECRETS_TTL: Duration = Duration::from_secs(300);

fn env(name: &str) -> Result<String> {
    std::env::var(name).map_err(|_| Error::permanent(anyhow::anyhow!("{name} is not set; template.yaml sets it for every function")))
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
