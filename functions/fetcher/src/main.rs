//! Lambda: the fetch stage. Thin webhooks queue references; this reads each record from its
//! store (every store, through the registry) and queues it for the poster. SQS FIFO event source
//! with `ReportBatchItemFailures`; everything else lives in `shared::stores::fetch`.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::lambda::{fetch_batch, stores_from_env};
use shared::stores::fetch::Fetcher;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::lambda::init_tracing();
    // Built once per container: AWS clients, the secrets cache and store clients are reused.
    let fetcher = Fetcher::new(std::sync::Arc::new(stores_from_env().await?));
    let fetcher = &fetcher;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(fetch_batch(fetcher, &event.payload).await)
    }))
    .await
}
