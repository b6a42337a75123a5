//! An in-process cache in front of any [`SecretStore`]: a Lambda container or the embedded runner
//! reads each connection's secrets once per TTL instead of once per record.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::error::Result;
use crate::ids::ConnectionId;
use crate::ports::{SecretBundle, SecretStore};

pub struct CachedSecrets<S> {
    inner: S,
    ttl: Duration,
    entries: Mutex<HashMap<ConnectionId, (Instant, Option<SecretBundle>)>>,
}

impl<S: SecretStore> CachedSecrets<S> {
    pub fn new(inner: S, ttl: Duration) -> Self {
        CachedSecrets { inner, ttl, entries: Mutex::new(HashMap::new()) }
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn cached(&self, connection: &ConnectionId) -> Option<Option<SecretBundle>> {
        let entries = self.entries.lock().expect("secret cache lock");
        entries.get(connection).filter(|(fetched, _)| fetched.elapsed() < self.ttl).map(|(_, bundle)| bundle.clone())
    }

    fn forget(&self, connection: &ConnectionId) {
        self.entries.lock().expect("secret cache lock").remove(connection);
    }
}

#[async_trait]
impl<S: SecretStore> SecretStore for CachedSecrets<S> {
    async fn get(&self, connection: &ConnectionId) -> Result<Option<SecretBundle>> {
        if let Some(hit) = self.cached(connection) {
            return Ok(hit);
        }
        let fresh = self.inner.get(connection).await?;
        self.entries.lock().expect("secret cache lock").insert(connection.clone(), (Instant::now(), fresh.clone()));
        Ok(fresh)
    }

    async fn put(&self, connection: &ConnectionId, secrets: &SecretBundle) -> Result<()> {
        self.forget(connection);
        self.inner.put(connection, secrets).await
    }

    async fn delete(&self, connection: &ConnectionId) -> Result<()> {
        self.forget(connection);
        self.inner.delete(connection).await
    }
}
