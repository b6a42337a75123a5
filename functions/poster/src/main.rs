//! Lambda: posts queued store records into Odoo. SQS FIFO event source with
//! `ReportBatchItemFailures`; everything else lives in `shared::poster`.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::lambda::{batch_response, poster_from_env, sqs_messages};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::lambda::init_tracing();
    // Built once per container: AWS clients, the secrets cache and Odoo sessions are reused.
    let poster = poster_from_env().await?;
    let poster = &poster;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let report = poster.handle_batch(&sqs_messages(&event.payload)).await;
        Ok::<SqsBatchResponse, Error>(batch_response(&report))
    }))
    .await
}
