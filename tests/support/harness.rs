//! A poster wired to one adapter family and a sandbox Odoo, with a connection, its secrets and
//! its mapping rules in place: the whole posting path, for tests and benchmarks.

use std::sync::Arc;
use std::time::Duration;

use odoo_sandbox::{Sandbox, SandboxOptions};
use shared::http::RetryPolicy;
use shared::ids::ConnectionId;
use shared::ports::{Connection, OutgoingMessage, Retention, SaveRules, SecretBundle};
use shared::poster::{BatchReport, IncomingMessage, Poster, PosterDeps, PosterSettings};
use shared::records::{Envelope, SourceSystem};

use crate::{Family, Queue};

pub const CONNECTION: &str = "acme-woo";
/// The test queues' `maxReceiveCount`, and the poster's.
pub const MAX_RECEIVES: u32 = 3;

/// Rules for the tests: apparel and books have rules, nothing else does (no fallback).
pub fn rules() -> serde_json::Value {
    serde_json::json!({
        "posting": { "rounding_tolerance": "0.05" },
        "accounts": { "shipping": "410000", "fees": "420000", "rounding": "400000",
                      "analytic": [ { "account": "CC-EU", "percent": "100" } ] },
        "taxes": [ { "store_rate": "1", "odoo_tax": "VAT 20%" }, { "store_rate": "2", "odoo_tax": "VAT 5.5%" } ],
        "lines": [
            { "name": "apparel", "when": { "category": "Apparel" }, "account": "400100",
              "analytic": [ { "account": "CC-EU", "percent": "100" } ] },
            { "name": "books", "when": { "sku": "BOOK-*" }, "account": "400200",
              "analytic": [ { "account": "CC-EU", "percent": "60" }, { "account": "CC-WHS", "percent": "40" } ] }
        ]
    })
}

/// Rules for orders from the sandbox store, mapped by its categories (no cost centers): what the
/// end-to-end and chaos suites post with.
pub fn store_rules() -> serde_json::Value {
    serde_json::json!({
        "accounts": { "shipping": "410000", "rounding": "400000" },
        "taxes": [ { "store_rate": "1", "odoo_tax": "VAT 20%" }, { "store_rate": "2", "odoo_tax": "VAT 5.5%" } ],
        "lines": [
            { "name": "apparel", "when": { "category": "Apparel" }, "account": "400100" },
            { "name": "books", "when": { "category": "Books" }, "account": "400200" }
        ]
    })
}

/// Sales-order mode on top of `rules`: card payments online into the bank journal, cash on
/// delivery and cheques offline, flat-rate shipping on its carrier.
pub fn sales_rules(base: serde_json::Value) -> serde_json::Value {
    let mut r = base;
    r["posting"]["mode"] = "sale_order".into();
    r["posting"]["payment_term"] = "Immediate Payment".into();
    r["sales"] = serde_json::json!({
        "pricelist": "Public Pricelist",
        "fiscal_position": "EU B2C",
        "payment_methods": [
            { "store_method": "stripe", "online": true, "journal": "BNK1" },
            { "store_method": "cod", "online": false },
            { "store_method": "cheque", "online": false }
        ],
        "shipping_methods": [ { "store_method": "Flat rate", "carrier": "Flat rate" } ],
        "rounding_product": "ROUNDING"
    });
    r
}

/// What a merchant selling in sales-order mode has in Odoo: the store's products (goods,
/// invoiced on ordered quantities), the flat-rate carrier and its delivery product, a
/// pricelist and a fiscal position.
pub fn sales_master_data(odoo: &Sandbox) {
    let goods = [
        ("SHIRT-M", "Shirt (M)"),
        ("SHIRT-L", "Shirt (L)"),
        ("HAT-1", "Hat"),
        ("BOOK-1", "Rust in Action"),
        ("BOOK-2", "Zero to Production"),
    ];
    odoo.add_sales_setup(&goods).expect("the sales setup");
}

/// One line of a posted move (`Harness::ledger_lines`).
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerLine {
    pub account: String,
    pub name: String,
    pub display_type: String,
    pub debit: rust_decimal::Decimal,
    pub credit: rust_decimal::Decimal,
    pub analytic: std::collections::BTreeMap<String, rust_decimal::Decimal>,
}

pub struct Harness {
    pub family: Family,
    pub odoo: Sandbox,
    pub queue: Arc<dyn Queue>,
    pub dlq: Arc<dyn Queue>,
    /// The fetch stage's queue: what thin webhooks send.
    pub fetches: Arc<dyn Queue>,
    pub connection: ConnectionId,
}

impl Harness {
    pub async fn start(family: Family) -> Harness {
        Self::start_with(family, rules()).await
    }

    pub async fn start_with(family: Family, rules: serde_json::Value) -> Harness {
        Self::start_on(family, rules, Sandbox::start(SandboxOptions::default()).await.expect("sandbox Odoo")).await
    }

    /// As `start_with`, on an Odoo sandbox started by the caller (with options of its own).
    pub async fn start_on(family: Family, rules: serde_json::Value, odoo: Sandbox) -> Harness {
        let connection = ConnectionId::parse(CONNECTION).unwrap();
        let store = family.connections();
        store
            .put_connection(&Connection {
                id: connection.clone(),
                source: SourceSystem::Woocommerce,
                store_url: "https://shop.example.com".parse().unwrap(),
                odoo_url: odoo.url().parse().unwrap(),
                odoo_database: Some(odoo.options().database.clone()),
                audit_retention: Retention::Days30,
                allow_private_network: true,
                paused: false,
                settings: Default::default(),
                poll_start: None,
                ca_pem: None,
                reconcile_list_only: false,
                alerts: None,
            })
            .await
            .unwrap();
        assert_eq!(store.save_rules(&connection, None, &rules).await.unwrap(), SaveRules::Saved { version: 1 });
        let o = odoo.options();
        family
            .secrets()
            .put(&connection, &SecretBundle::new().with("odoo_login", &o.login).with("odoo_api_key", &o.api_key))
            .await
            .unwrap();
        let (queue, dlq) = family.queue_with_dlq(MAX_RECEIVES).await;
        let (fetches, _) = family.queue_with_dlq(MAX_RECEIVES).await;
        Harness { family, odoo, queue, dlq, fetches, connection }
    }

    /// Points the connection at a sandbox store and stores all its secrets (Odoo's and the store's).
    pub async fn attach_store(&self, store: &woo_sandbox::SandboxStore) {
        let connections = self.family.connections();
        let mut connection = connections.connection(&self.connection).await.unwrap().unwrap();
        connection.store_url = store.url().parse().unwrap();
        connections.put_connection(&connection).await.unwrap();
        let (o, s) = (self.odoo.options(), store.options());
        let secrets = SecretBundle::new()
            .with("odoo_login", &o.login)
            .with("odoo_api_key", &o.api_key)
            .with("woo_consumer_key", &s.consumer_key)
            .with("woo_consumer_secret", &s.consumer_secret)
            .with("woo_webhook_secret", &s.webhook_secret);
        self.family.secrets().put(&self.connection, &secrets).await.unwrap();
    }

    /// Sets the environment `template.yaml` gives the functions, for this AWS family.
    ///
    /// # Safety
    /// Call only from a test binary running one test: nothing may read the environment meanwhile.
    pub unsafe fn set_lambda_env(&self, extra: &[(&str, &str)]) {
        let Family::Aws(aws) = &self.family else { panic!("the Lambda environment needs the AWS family") };
        // SAFETY: the caller guarantees no concurrent access to the environment.
        unsafe {
            std::env::set_var("AWS_ENDPOINT_URL", crate::moto_endpoint());
            std::env::set_var("MLC_CONNECTIONS_TABLE", &aws.connections_table);
            std::env::set_var("MLC_STATE_TABLE", &aws.state_table);
            std::env::set_var("MLC_AUDIT_TABLE", &aws.audit_table);
            std::env::set_var("MLC_SECRETS_PREFIX", &aws.secrets_prefix);
            for (k, v) in extra {
                std::env::set_var(k, v);
            }
        }
    }

    pub fn settings() -> PosterSettings {
        PosterSettings {
            claim_for: Duration::from_secs(1),
            keep_outcome_for: None,
            odoo_retry: RetryPolicy {
                attempts: 3,
                base_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(100),
            },
            odoo_timeout: Duration::from_secs(10),
            max_receives: MAX_RECEIVES,
        }
    }

    /// What every store's connector needs, on this harness's family and queues.
    pub fn store_deps(&self) -> shared::stores::webhook::StoreDeps {
        shared::stores::webhook::StoreDeps {
            connections: self.family.connections(),
            secrets: self.family.secrets(),
            queue: self.queue.clone(),
            fetch_queue: self.fetches.clone(),
            audit: self.family.audit(),
            state: self.family.state(),
        }
    }

    /// A WooCommerce connector on this harness's state and queue, as a fresh webhook or poller
    /// container would build it (the store's default retry policy; callers set their own).
    pub fn connector(&self) -> shared::stores::woocommerce::WooConnector {
        shared::stores::woocommerce::WooConnector::new(shared::stores::woocommerce::WooDeps {
            connections: self.family.connections(),
            secrets: self.family.secrets(),
            queue: self.queue.clone(),
            fetch_queue: self.fetches.clone(),
            audit: self.family.audit(),
            state: self.family.state(),
        })
    }

    /// Moves of `move_type` whose marker (`invoice_origin`) contains `marker`, such as
    /// `:order:1001:` or `:refund:2001-r1:`.
    pub fn moves(&self, marker: &str, move_type: &str) -> Vec<i64> {
        use shared::odoo::Val;
        self.odoo.search(
            "account.move",
            Val::list([
                Val::list([Val::from("invoice_origin"), Val::from("ilike"), Val::Str(marker.into())]),
                Val::list([Val::from("move_type"), Val::from("="), Val::from(move_type)]),
            ]),
        )
    }

    /// Saves a new version of the connection's mapping rules.
    pub async fn set_rules(&self, rules: serde_json::Value) {
        let connections = self.family.connections();
        let version = connections.latest_rules(&self.connection).await.unwrap().map(|r| r.version);
        connections.save_rules(&self.connection, version, &rules).await.unwrap();
    }

    /// An account's code by its id.
    pub fn account_code(&self, id: i64) -> Option<String> {
        let row = self.odoo.read("account.account", &[id], &["code"]).pop()?;
        row.get("code").and_then(shared::odoo::Val::as_str).map(String::from)
    }

    /// A move's lines as a reader of the ledger sees them: account code, label, debit, credit
    /// and cost centers (analytic account code → percent).
    pub fn ledger_lines(&self, move_id: i64) -> Vec<LedgerLine> {
        use shared::odoo::Val;
        let domain = Val::list([Val::list([Val::from("move_id"), Val::from("="), Val::Int(move_id)])]);
        let ids = self.odoo.search("account.move.line", domain);
        let fields = ["account_id", "name", "debit", "credit", "analytic_distribution", "display_type"];
        let code_of = |model: &str, id: i64| {
            let row = self.odoo.read(model, &[id], &["code"]).pop();
            row.and_then(|r| r.get("code").and_then(Val::as_str).map(String::from)).unwrap_or_default()
        };
        self.odoo
            .read("account.move.line", &ids, &fields)
            .iter()
            .map(|l| LedgerLine {
                account: l
                    .get("account_id")
                    .and_then(Val::many2one_id)
                    .map(|a| code_of("account.account", a))
                    .unwrap_or_default(),
                name: l.get("name").and_then(Val::as_str).unwrap_or_default().to_string(),
                display_type: l.get("display_type").and_then(Val::as_str).unwrap_or_default().to_string(),
                debit: l.get("debit").and_then(Val::as_decimal).unwrap_or_default(),
                credit: l.get("credit").and_then(Val::as_decimal).unwrap_or_default(),
                analytic: l
                    .get("analytic_distribution")
                    .and_then(Val::as_map)
                    .into_iter()
                    .flatten()
                    .filter_map(|(k, v)| Some((code_of("account.analytic.account", k.parse().ok()?), v.as_decimal()?)))
                    .collect(),
            })
            .collect()
    }

    /// A move's `amount_total` as Odoo shows it.
    pub fn move_total(&self, id: i64) -> rust_decimal::Decimal {
        let row = self.odoo.read("account.move", &[id], &["amount_total"]).remove(0);
        row.get("amount_total").and_then(shared::odoo::Val::as_decimal).expect("a move has a total")
    }

    /// A poster as a fresh Lambda container would build it: its own handles on the shared state.
    pub fn poster(&self) -> Poster {
        Poster::new(
            PosterDeps {
                connections: self.family.connections(),
                state: self.family.state(),
                audit: self.family.audit(),
                failed: self.family.failed(),
                secrets: self.family.secrets(),
            },
            Self::settings(),
        )
    }

    pub fn message(envelope: &Envelope) -> IncomingMessage {
        let m = OutgoingMessage::for_envelope(envelope);
        IncomingMessage {
            message_id: uuid::Uuid::new_v4().to_string(),
            group_id: m.group_id,
            body: m.body,
            receive_count: 1,
        }
    }

    pub async fn post(&self, poster: &Poster, envelopes: &[&Envelope]) -> BatchReport {
        let messages: Vec<IncomingMessage> = envelopes.iter().map(|e| Self::message(e)).collect();
        poster.handle_batch(&messages).await
    }

    /// Runs the fetch stage over what webhooks referenced, as a fresh fetch container would
    /// (a connector of its own); returns how many references it finished.
    pub async fn fetch_all(&self) -> usize {
        let stores = Arc::new(shared::stores::Stores::standard(self.store_deps()));
        let mut fetcher = shared::stores::fetch::Fetcher::new(stores);
        fetcher.max_receives = MAX_RECEIVES;
        shared::stores::fetch::drain_fetches(self.fetches.as_ref(), &fetcher).await.unwrap()
    }

    /// Runs the fetch stage, then posts what is queued with the product's own drain loop
    /// (`shared::local::drain`), as `mlc sync` does; the outcomes come back as one report.
    pub async fn drain(&self, poster: &Poster) -> Vec<BatchReport> {
        self.fetch_all().await;
        let outcomes = shared::local::drain(self.queue.as_ref(), poster).await.unwrap();
        if outcomes.is_empty() {
            return Vec::new();
        }
        vec![BatchReport { outcomes: outcomes.into_iter().map(|o| (String::new(), o)).collect() }]
    }
}
