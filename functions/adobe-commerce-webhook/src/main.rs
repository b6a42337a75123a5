//! Lambda: `POST /webhooks/adobe-commerce/{connection_id}` on the HTTP API. Verifies the RSA
//! signature Commerce puts on each after-save event, queues a fetch reference and answers
//! `{"op":"success"}` at once, whatever happened: a synchronous hook must never block the
//! shopper's checkout. Everything else lives in `shared::stores::adobe_commerce`.

use aws_lambda_events::event::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::lambda::{adobe_connector_from_env, handle_webhook};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::lambda::init_tracing();
    let connector = adobe_connector_from_env().await?;
    let connector = &connector;
    run(service_fn(move |event: LambdaEvent<ApiGatewayV2httpRequest>| async move {
        Ok::<ApiGatewayV2httpResponse, Error>(handle_webhook(connector.pipeline(), connector, &event.payload).await)
    }))
    .await
}
