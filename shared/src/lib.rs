//! ml-connector's library. The entry points in `functions/` and the `mlc` CLI are thin: they build
//! adapters and hand off to the logic here, which sees the outside world only through [`ports`].

pub mod alerts;
pub mod aws;
pub mod catalogue;
pub mod checks;
pub mod console;
pub mod embedded;
pub mod error;
pub mod http;
pub mod ids;
pub mod lambda;
pub mod local;
pub mod lookup;
pub mod money;
pub mod odoo;
pub mod operations;
pub mod ports;
pub mod poster;
pub mod reconcile;
pub mod records;
pub mod refusals;
pub mod rules;
pub mod secret_cache;
pub mod serve;
pub mod stores;
pub mod trail;

pub use error::{Error, ErrorClass, Result};
