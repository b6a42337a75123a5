//! Lambda: `POST /webhooks/bigcommerce/{connection_id}` on the HTTP API. Verifies the Standard
//! Webhooks signature, dedupes, queues a fetch reference and answers at once; everything else
//! lives in `shared::stores::bigcommerce`.

use aws_lambda_events::event::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::lambda::{bc_connector_from_env, handle_webhook};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::lambda::init_tracing();
    let connector = bc_connector_from_env().await?;
    let connector = &connector;
    run(service_fn(move |event: LambdaEvent<ApiGatewayV2httpRequest>| async move {
        Ok::<ApiGatewayV2httpResponse, Error>(handle_webhook(connector.pipeline(), connector, &event.payload).await)
    }))
    .await
}
