//! Secrets in AWS Secrets Manager: one secret per connection, named `{prefix}/{connection_id}`,
//! whose value is a JSON object of named strings. Wrap it in `CachedSecrets` to read each once per TTL.

use async_trait::async_trait;

use super::{classify, error_code};
use crate::error::Result;
use crate::ids::ConnectionId;
use crate::ports::{SecretBundle, SecretStore};

#[derive(Clone)]
pub struct SecretsManagerStore {
    client: aws_sdk_secretsmanager::Client,
    prefix: String,
}

impl SecretsManagerStore {
    pub fn new(client: aws_sdk_secretsmanager::Client, prefix: impl Into<String>) -> Self {
        SecretsManagerStore { client, prefix: prefix.into().trim_end_matches('/').to_string() }
    }

    pub fn secret_name(&self, connection: &ConnectionId) -> String {
        format!("{}/{}", self.prefix, connection)
    }
}

const NOT_FOUND: &str = "ResourceNotFoundException";

#[async_trait]
impl SecretStore for SecretsManagerStore {
    async fn get(&self, connection: &ConnectionId) -> Result<Option<SecretBundle>> {
        let name = self.secret_name(connection);
        match self.client.get_secret_value().secret_id(&name).send().await {
            Ok(out) => out.secret_string.as_deref().map(SecretBundle::from_json).transpose(),
            Err(e) if error_code(&e) == Some(NOT_FOUND) => Ok(None),
            // The SDK's error names the secret, never its value.
            Err(e) => Err(classify(&format!("reading secret {name}"), e)),
        }
    }

    async fn put(&self, connection: &ConnectionId, secrets: &SecretBundle) -> Result<()> {
        let name = self.secret_name(connection);
        let value = secrets.to_json();
        match self.client.put_secret_value().secret_id(&name).secret_string(value.as_str()).send().await {
            Ok(_) => Ok(()),
            Err(e) if error_code(&e) == Some(NOT_FOUND) => {
                self.client
                    .create_secret()
                    .name(&name)
                    .secret_string(value.as_str())
                    .send()
                    .await
                    .map_err(|e| classify(&format!("creating secret {name}"), e))?;
                Ok(())
            }
            Err(e) => Err(classify(&format!("writing secret {name}"), e)),
        }
    }

    async fn delete(&self, connection: &ConnectionId) -> Result<()> {
        let name = self.secret_name(connection);
        match self.client.delete_secret().secret_id(&name).force_delete_without_recovery(true).send().await {
            Ok(_) => Ok(()),
            Err(e) if error_code(&e) == Some(NOT_FOUND) => Ok(()),
            Err(e) => Err(classify(&format!("deleting secret {name}"), e)),
        }
    }
}
