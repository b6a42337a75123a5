//! Lambda: a daily EventBridge Scheduler schedule runs it with `{}` (every connection, yesterday
//! in UTC), or `{"connection_id": "…", "from": "…", "to": "…", "list_only": true}`.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::lambda::reconciler_from_env;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::lambda::init_tracing();
    let reconciler = &reconciler_from_env().await?;
    run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        let report = reconciler.run_scheduled(&event.payload, chrono::Utc::now()).await?;
        Ok::<serde_json::Value, Error>(report)
    }))
    .await
}
