//! Lambda: an EventBridge Scheduler schedule runs it with `{"connection_id": "…"}` (or `{}` for
//! every BigCommerce connection) and it polls for what callbacks missed.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::lambda::{bc_connector_from_env, poll_settings_from_env};
use shared::stores::poll::Poller;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::lambda::init_tracing();
    let connector = bc_connector_from_env().await?;
    let poller = Poller::new(connector.pipeline().clone());
    let (connector, poller) = (&connector, &poller);
    let settings = &poll_settings_from_env()?;
    run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        let report = poller.poll_scheduled(connector, &event.payload, settings, chrono::Utc::now()).await?;
        Ok::<serde_json::Value, Error>(report)
    }))
    .await
}
