//! Lambda: an EventBridge Scheduler schedule runs it with `{"connection_id": "…"}` (or `{}` for
//! every WooCommerce connection) and it polls for what webhooks missed.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::lambda::{poll_settings_from_env, woo_connector_from_env};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::lambda::init_tracing();
    let connector = woo_connector_from_env().await?;
    let connector = &connector;
    let settings = &poll_settings_from_env()?;
    run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        let report = connector.poll_scheduled(&event.payload, settings, chrono::Utc::now()).await?;
        Ok::<serde_json::Value, Error>(report)
    }))
    .await
}
