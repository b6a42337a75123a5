//! AWS adapters: SQS FIFO for the queue, DynamoDB for connections, sync state and audit, Secrets
//! Manager for secrets. Clients come from `aws-config`'s environment chain, so `AWS_ENDPOINT_URL`
//! (moto on loopback in tests) and the Lambda role work without code changes.

mod alerts;
mod dynamo;
mod schedules;
mod secrets;
mod sqs;

pub use alerts::SnsAlerts;
pub use dynamo::{DynamoAudit, DynamoConnections, DynamoState, keys};
pub use schedules::{PollSchedules, Schedule};
pub use secrets::SecretsManagerStore;
pub use sqs::{Redriven, SqsQueue, redrive_dead_letters};

use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::error::Error;

/// Loads the shared AWS configuration once per process (region, credentials, endpoint).
pub async fn load_config() -> aws_config::SdkConfig {
    config_loader().load().await
}

/// The environment's configuration chain with the HTTP client every AWS client uses: rustls on
/// ring, the TLS that reqwest (Odoo, the stores) already links, so a Lambda carries one crypto
/// library rather than two (the SDK's default client would bring aws-lc beside it).
pub fn config_loader() -> aws_config::ConfigLoader {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    let http = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http)
}

/// Error codes AWS documents as throttling or transient across these services.
const RETRYABLE_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestThrottled",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "TransactionConflictException",
    "TransactionInProgressException",
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
    "RequestTimeout",
    "KMS.ThrottlingException",
    "LimitExceededException",
];

/// Classifies an SDK failure: timeouts, dispatch failures, throttling and 5xx are retryable;
/// everything else (validation, access denied, missing resources) is permanent.
pub(crate) fn classify<E, R>(what: &str, err: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let retryable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            RETRYABLE_CODES.contains(&code) || code.ends_with("ServiceUnavailable") || code.starts_with("Internal")
        }
        _ => false,
    };
    let error = anyhow::anyhow!("{what}: {}", DisplayErrorContext(&err));
    if retryable { Error::retryable(error) } else { Error::permanent(error) }
}

/// The service error code, if the failure was a service error.
pub(crate) fn error_code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    match err {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}

/// A deployed stack as `mlc --aws` operates it: the tables and queues `template.yaml` creates,
/// named by the stack's outputs in the environment (`MLC_CONNECTIONS_TABLE`, `MLC_STATE_TABLE`,
/// `MLC_AUDIT_TABLE`, `MLC_QUEUE_URL`, `MLC_DLQ_URL`).
pub struct DeployedStack {
    pub connections: DynamoConnections,
    pub state: DynamoState,
    pub audit: DynamoAudit,
    pub queue: SqsQueue,
    pub dead_letters: SqsQueue,
}

impl DeployedStack {
    pub async fn from_env() -> Result<DeployedStack, Error> {
        let var = |name: &str| {
            std::env::var(name).map_err(|_| {
                Error::bad_input(format!(
                    "{name} is not set: export the stack's outputs (see `mlc failed list --help`)"
                ))
            })
        };
        let (connections, state, audit, queue, dlq) = (
            var("MLC_CONNECTIONS_TABLE")?,
            var("MLC_STATE_TABLE")?,
            var("MLC_AUDIT_TABLE")?,
            var("MLC_QUEUE_URL")?,
            var("MLC_DLQ_URL")?,
        );
        let config = load_config().await;
        let dynamo = aws_sdk_dynamodb::Client::new(&config);
        let sqs = aws_sdk_sqs::Client::new(&config);
        Ok(DeployedStack {
            connections: DynamoConnections::new(dynamo.clone(), connections),
            state: DynamoState::new(dynamo.clone(), state),
            audit: DynamoAudit::new(dynamo, audit),
            queue: SqsQueue::new(sqs.clone(), queue),
            dead_letters: SqsQueue::new(sqs, dlq),
        })
    }
}

/// A deployed stack as `mlc connection … --aws` and `mlc mappings … --aws` manage it: the
/// connections table, Secrets Manager, the per-connection poll schedules, and the stores on the
/// stack's adapters (for checks). Named by the stack's outputs in the environment.
pub struct DeployedAdmin {
    pub connections: std::sync::Arc<DynamoConnections>,
    pub secrets: std::sync::Arc<SecretsManagerStore>,
    pub stores: std::sync::Arc<crate::stores::Stores>,
    scheduler: aws_sdk_scheduler::Client,
    role_arn: String,
    group: String,
}

impl DeployedAdmin {
    fn var(name: &str) -> Result<String, Error> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty()).ok_or_else(|| {
            Error::bad_input(format!("{name} is not set: export the stack's outputs (see `mlc connection --help`)"))
        })
    }

    pub async fn from_env() -> Result<DeployedAdmin, Error> {
        let config = load_config().await;
        let dynamo = aws_sdk_dynamodb::Client::new(&config);
        let sqs = aws_sdk_sqs::Client::new(&config);
        let connections =
            std::sync::Arc::new(DynamoConnections::new(dynamo.clone(), Self::var("MLC_CONNECTIONS_TABLE")?));
        let secrets = std::sync::Arc::new(SecretsManagerStore::new(
            aws_sdk_secretsmanager::Client::new(&config),
            Self::var("MLC_SECRETS_PREFIX")?,
        ));
        let deps = crate::stores::webhook::StoreDeps {
            connections: connections.clone(),
            secrets: secrets.clone(),
            queue: std::sync::Arc::new(SqsQueue::new(sqs.clone(), Self::var("MLC_QUEUE_URL")?)),
            fetch_queue: std::sync::Arc::new(SqsQueue::new(sqs, Self::var("MLC_FETCH_QUEUE_URL")?)),
            audit: std::sync::Arc::new(DynamoAudit::new(dynamo.clone(), Self::var("MLC_AUDIT_TABLE")?)),
            state: std::sync::Arc::new(DynamoState::new(dynamo, Self::var("MLC_STATE_TABLE")?)),
        };
        Ok(DeployedAdmin {
            connections,
            secrets,
            stores: std::sync::Arc::new(crate::stores::Stores::standard(deps)),
            scheduler: aws_sdk_scheduler::Client::new(&config),
            role_arn: Self::var("MLC_SCHEDULER_ROLE_ARN")?,
            group: std::env::var("MLC_SCHEDULE_GROUP").unwrap_or_else(|_| "default".into()),
        })
    }

    /// The schedules that run `store`'s poller (its ARN in `MLC_<STORE>_POLLER_ARN`, the stack
    /// output `<Store>PollerFunctionArn`; `adobe-commerce` reads `MLC_ADOBE_COMMERCE_POLLER_ARN`).
    pub fn schedules(&self, store: &str) -> Result<PollSchedules, Error> {
        let poller = Self::var(&poller_arn_variable(store))?;
        Ok(PollSchedules::new(self.scheduler.clone(), poller, self.role_arn.clone(), self.group.clone()))
    }
}

/// The environment variable naming a store's poller function.
pub fn poller_arn_variable(store: &str) -> String {
    format!("MLC_{}_POLLER_ARN", store.to_ascii_uppercase().replace('-', "_"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_store_s_poller_variable_is_a_shell_name() {
        assert_eq!(super::poller_arn_variable("adobe-commerce"), "MLC_ADOBE_COMMERCE_POLLER_ARN");
        assert_eq!(super::poller_arn_variable("bigcommerce"), "MLC_BIGCOMMERCE_POLLER_ARN");
    }
}
