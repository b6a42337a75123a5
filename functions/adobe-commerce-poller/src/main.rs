//! Lambda: an EventBridge Scheduler schedule runs it with `{"connection_id": "…"}` (or `{}` for
//! every Adobe Commerce connection) and it reads orders, invoices, credit memos and customers
//! changed since each stream's watermark: the fallback where webhooks are off, the safety net
//! where they run.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::lambda::{adobe_connector_from_env, poll_settings_from_env};
use shared::stores::poll::Poller;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::lambda::init_tracing();
    let connector = adobe_connector_from_env().await?;
    let poller = Poller::new(connector.pipeline().clone());
    let (connector, poller) = (&connector, &poller);
    let settings = &poll_settings_from_env()?;
    run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        let report = poller.poll_scheduled(connector, &event.payload, settings, chrono::Utc::now()).await?;
        Ok::<serde_json::Value, Error>(report)
    }))
    .await
}
