//! The Odoo gateway against the sandbox on a random loopback port, over both transports.

mod accounting;
mod changes;
mod errors;
mod fidelity;
mod sales;
mod scenario;

use std::time::Duration;

use odoo_sandbox::{Sandbox, SandboxOptions};
use shared::http::RetryPolicy;
use shared::odoo::{OdooClient, OdooConfig, TransportChoice};
use shared::ports::Secret;

pub async fn sandbox(version: u32) -> Sandbox {
    Sandbox::start(SandboxOptions { version, ..SandboxOptions::default() }).await.expect("sandbox starts")
}

pub fn config(sandbox: &Sandbox, transport: TransportChoice) -> OdooConfig {
    let o = sandbox.options();
    let mut config = OdooConfig::new(sandbox.url(), Some(o.database.clone()), &o.login, Secret::new(o.api_key.clone()));
    config.transport = transport;
    config.allow_private_network = true; // the sandbox is on loopback
    config.retry =
        RetryPolicy { attempts: 4, base_delay: Duration::from_millis(20), max_delay: Duration::from_millis(200) };
    config
}

pub async fn client(sandbox: &Sandbox, transport: TransportChoice) -> OdooClient {
    OdooClient::connect(config(sandbox, transport)).await.expect("client connects")
}
