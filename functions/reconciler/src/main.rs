//! Lambda on two EventBridge Scheduler schedules: daily with `{}` (every connection's
//! yesterday in UTC; or `{"connection_id": "…", "from": "…", "to": "…", "list_only": true}`),
//! and every five minutes with `{"check": "alerts"}` (failures per reason, missed polls).

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::lambda::{failed_records_from_env, reconciler_from_env, scheduled_check};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::lambda::init_tracing();
    let reconciler = &reconciler_from_env().await?;
    let failed = &failed_records_from_env().await?;
    run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        let report = scheduled_check(reconciler, failed.clone(), &event.payload, chrono::Utc::now()).await?;
        Ok::<serde_json::Value, Error>(report)
    }))
    .await
}
