//! One EventBridge Scheduler schedule per connection, running its store's poller with
//! `{"connection_id": "…"}`. Created when a connection is added, removed with it.

use aws_sdk_scheduler::types::{FlexibleTimeWindow, FlexibleTimeWindowMode, Target};

use super::{classify, error_code};
use crate::error::{Error, Result};
use crate::ids::ConnectionId;

/// One connection's schedule: when, which function, as which role, with what input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub expression: String,
    pub target_arn: String,
    pub role_arn: String,
    pub input: String,
}

#[derive(Clone)]
pub struct PollSchedules {
    client: aws_sdk_scheduler::Client,
    /// The poller function's ARN and the role Scheduler assumes to invoke it (stack outputs).
    pub poller_arn: String,
    pub role_arn: String,
    pub group: String,
}

impl PollSchedules {
    pub fn new(
        client: aws_sdk_scheduler::Client,
        poller_arn: impl Into<String>,
        role_arn: impl Into<String>,
        group: impl Into<String>,
    ) -> Self {
        PollSchedules { client, poller_arn: poller_arn.into(), role_arn: role_arn.into(), group: group.into() }
    }

    pub fn name(connection: &ConnectionId) -> String {
        format!("mlc-poll-{connection}")
    }

    /// Creates or updates the connection's schedule (`rate(15 minutes)` unless told otherwise).
    pub async fn ensure(&self, connection: &ConnectionId, expression: &str) -> Result<()> {
        let target = Target::builder()
            .arn(&self.poller_arn)
            .role_arn(&self.role_arn)
            .input(serde_json::json!({ "connection_id": connection }).to_string())
            .build()
            .map_err(|e| Error::permanent(anyhow::anyhow!("building the schedule target: {e}")))?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|e| Error::permanent(anyhow::anyhow!("building the schedule window: {e}")))?;
        let name = Self::name(connection);
        let created = self
            .client
            .create_schedule()
            .name(&name)
            .group_name(&self.group)
            .schedule_expression(expression)
            .target(target.clone())
            .flexible_time_window(window.clone())
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e) if error_code(&e) == Some("ConflictException") => {
                self.client
                    .update_schedule()
                    .name(&name)
                    .group_name(&self.group)
                    .schedule_expression(expression)
                    .target(target)
                    .flexible_time_window(window)
                    .send()
                    .await
                    .map_err(|e| classify(&format!("updating schedule {name}"), e))?;
                Ok(())
            }
            Err(e) => Err(classify(&format!("creating schedule {name}"), e)),
        }
    }

    /// The connection's schedule expression and input, if it has a schedule.
    pub async fn get(&self, connection: &ConnectionId) -> Result<Option<(String, String)>> {
        Ok(self.describe(connection).await?.map(|s| (s.expression, s.input)))
    }

    /// The connection's schedule as Scheduler holds it.
    pub async fn describe(&self, connection: &ConnectionId) -> Result<Option<Schedule>> {
        let name = Self::name(connection);
        match self.client.get_schedule().name(&name).group_name(&self.group).send().await {
            Ok(out) => {
                let target = out.target;
                Ok(Some(Schedule {
                    expression: out.schedule_expression.unwrap_or_default(),
                    target_arn: target.as_ref().map(|t| t.arn.clone()).unwrap_or_default(),
                    role_arn: target.as_ref().map(|t| t.role_arn.clone()).unwrap_or_default(),
                    input: target.and_then(|t| t.input).unwrap_or_default(),
                }))
            }
            Err(e) if error_code(&e) == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(classify(&format!("reading schedule {name}"), e)),
        }
    }

    pub async fn remove(&self, connection: &ConnectionId) -> Result<()> {
        let name = Self::name(connection);
        match self.client.delete_schedule().name(&name).group_name(&self.group).send().await {
            Ok(_) => Ok(()),
            Err(e) if error_code(&e) == Some("ResourceNotFoundException") => Ok(()),
            Err(e) => Err(classify(&format!("deleting schedule {name}"), e)),
        }
    }
}
