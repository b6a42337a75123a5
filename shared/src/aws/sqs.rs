//! The queue on SQS FIFO. The dead-letter queue is a second `SqsQueue` (the redrive policy lives
//! on the queue itself, in `template.yaml`).

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry};

use super::classify;
use crate::error::{Error, Result};
use crate::ports::{OutgoingMessage, QueueConsumer, ReceivedMessage, RecordQueue};

#[derive(Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        SqsQueue { client, url: url.into() }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn arn(&self) -> Result<String> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| classify("reading the queue's ARN", e))?;
        out.attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .ok_or_else(|| Error::permanent(anyhow::anyhow!("SQS did not say the ARN of {}", self.url)))
    }
}

/// How a dead-letter queue was emptied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redriven {
    /// SQS moves the messages itself (`StartMessageMoveTask`); they arrive over the next moments.
    Task { handle: String },
    /// Where the endpoint has no move task (moto, some emulators): moved here, one by one.
    Moved(usize),
}

/// Moves every message of `dead_letters` back to the queue whose redrive policy sent it there,
/// with SQS's own `StartMessageMoveTask`; only an endpoint that does not know that action gets
/// the receive/send/delete fallback.
pub async fn redrive_dead_letters(dead_letters: &SqsQueue, queue: &SqsQueue) -> Result<Redriven> {
    let source = dead_letters.arn().await?;
    let destination = queue.arn().await?;
    match dead_letters.client.start_message_move_task().source_arn(&source).destination_arn(&destination).send().await {
        Ok(out) => Ok(Redriven::Task { handle: out.task_handle.unwrap_or_default() }),
        // An endpoint that does not speak this action answers with an unknown action code, or
        // (moto) with a bare HTML 500 that carries no AWS error code at all.
        Err(e)
            if matches!(
                super::error_code(&e),
                Some("InvalidAction" | "UnsupportedOperation" | "NotImplemented" | "UnknownOperationException")
            ) || (matches!(e, aws_sdk_sqs::error::SdkError::ServiceError(_)) && super::error_code(&e).is_none()) =>
        {
            tracing::warn!("this SQS endpoint has no StartMessageMoveTask; moving the dead letters one by one");
            Ok(Redriven::Moved(crate::poster::redrive(dead_letters, queue).await?))
        }
        Err(e) => Err(classify("starting the dead-letter redrive", e)),
    }
}

#[async_trait]
impl RecordQueue for SqsQueue {
    async fn send_batch(&self, messages: &[OutgoingMessage]) -> Result<()> {
        for chunk in messages.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(&m.body)
                        .message_group_id(&m.group_id)
                        .message_deduplication_id(&m.deduplication_id)
                        .build()
                        .map_err(|e| Error::permanent(anyhow::anyhow!("building an SQS batch entry: {e}")))
                })
                .collect::<Result<Vec<_>>>()?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| classify("sending to SQS", e))?;
            // A batch can partly fail; the caller retries the whole batch (dedup ids make that safe).
            if let Some(failed) = out.failed.first() {
                let why = format!(
                    "SQS refused {} of {} messages: {} {}",
                    out.failed.len(),
                    chunk.len(),
                    failed.code,
                    failed.message.as_deref().unwrap_or("")
                );
                return Err(if failed.sender_fault {
                    Error::permanent(anyhow::anyhow!(why))
                } else {
                    Error::retryable(anyhow::anyhow!(why))
                });
            }
        }
        Ok(())
    }
}

#[async_trait]
impl QueueConsumer for SqsQueue {
    async fn receive(&self, max: usize, wait: Duration, visibility_timeout: Duration) -> Result<Vec<ReceivedMessage>> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .visibility_timeout(visibility_timeout.as_secs() as i32)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| classify("receiving from SQS", e))?;
        out.messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let attrs = m.attributes.unwrap_or_default();
                let attr = |name: MessageSystemAttributeName| attrs.get(&name).cloned();
                Ok(ReceivedMessage {
                    message_id: m.message_id.unwrap_or_default(),
                    group_id: attr(MessageSystemAttributeName::MessageGroupId).unwrap_or_default(),
                    receive_count: attr(MessageSystemAttributeName::ApproximateReceiveCount)
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(1),
                    body: m.body.unwrap_or_default(),
                    receipt: m.receipt_handle.ok_or_else(|| {
                        Error::permanent(anyhow::anyhow!("SQS returned a message without a receipt handle"))
                    })?,
                })
            })
            .collect()
    }

    async fn delete(&self, receipt: &str) -> Result<()> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|e| classify("deleting from SQS", e))?;
        Ok(())
    }

    async fn extend_visibility(&self, receipt: &str, visibility_timeout: Duration) -> Result<()> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(visibility_timeout.as_secs().min(43_200) as i32)
            .send()
            .await
            .map_err(|e| classify("extending a message's visibility on SQS", e))?;
        Ok(())
    }

    async fn approximate_depth(&self) -> Result<u64> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| classify("reading SQS queue attributes", e))?;
        let attrs = out.attributes.unwrap_or_default();
        let n = |name| attrs.get(&name).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        Ok(n(QueueAttributeName::ApproximateNumberOfMessages)
            + n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible))
    }
}
