//! The one-machine default: SQLite for queue, connections, state and audit; an encrypted file for secrets.

mod db;
mod queue;
mod secrets;
mod store;
pub(crate) use store::link_conflict;

pub use db::Db;
pub use queue::{EmbeddedQueue, Redrive};
pub use secrets::{EncryptedSecretsFile, KEY_ENV, SecretsKey};
pub use store::EmbeddedStore;
