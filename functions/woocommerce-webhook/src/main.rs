//! Lambda: `POST /webhooks/woocommerce/{connection_id}` on the HTTP API. Verifies the signature,
//! normalizes, enqueues and answers fast; everything else lives in `shared::stores::woocommerce`.

use aws_lambda_events::event::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::lambda::{apigw_response, webhook_parts, woo_connector_from_env};
use shared::stores::woocommerce::WebhookRequest;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::lambda::init_tracing();
    let connector = woo_connector_from_env().await?;
    let connector = &connector;
    run(service_fn(move |event: LambdaEvent<ApiGatewayV2httpRequest>| async move {
        let (connection_id, headers, body) = webhook_parts(&event.payload);
        let response = connector
            .handle_webhook(WebhookRequest { connection_id: &connection_id, headers: &headers, body: &body })
            .await;
        Ok::<ApiGatewayV2httpResponse, Error>(apigw_response(&response))
    }))
    .await
}
