//! `mlc connection …` and `mlc mappings …`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::Subcommand;
use shared::aws::DeployedAdmin;
use shared::checks::{self, Finding, SECRET_ODOO_KEY, SECRET_ODOO_LOGIN};
use shared::ids::ConnectionId;
use shared::local::LocalStack;
use shared::ports::*;
use shared::records::SourceSystem;
use shared::rules::MappingRules;
use shared::stores::bigcommerce::BcSettings;
use shared::stores::woocommerce::WooSettings;
use shared::stores::{StoreSecret, StoreSettings, Stores};
use std::sync::Arc;

use crate::ProblemsFound;
use crate::output;

// Parsed once per process: the size of its largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum ConnectionCommand {
    /// Adds (or updates) a connection. Secrets come from the environment, never from the
    /// command line (which other users can read in `ps`): MLC_ODOO_API_KEY, and for WooCommerce
    /// MLC_WOO_CONSUMER_KEY, MLC_WOO_CONSUMER_SECRET, MLC_WOO_WEBHOOK_SECRET; for BigCommerce
    /// MLC_BC_ACCESS_TOKEN and MLC_BC_CLIENT_SECRET. They are stored encrypted in the state
    /// directory (or, with --aws, in Secrets Manager).
    ///
    /// Example: mlc connection add shop --store-url https://shop.example --odoo-url https://acme.odoo.com --odoo-login finance@acme.example
    ///          mlc connection add bc --store bigcommerce --store-hash abc123 --store-url https://shop.example --odoo acme --odoo-login finance@acme.example
    Add {
        /// A name for the connection: letters, digits, `-` and `_` (it is in the webhook URL).
        id: String,
        /// Which store: woocommerce (the default) or bigcommerce.
        #[arg(long, default_value = "woocommerce", value_parser = ["woocommerce", "bigcommerce"])]
        store: String,
        /// The store's home URL (WooCommerce: as WordPress knows it; BigCommerce: the storefront).
        #[arg(long)]
        store_url: String,
        /// BigCommerce: the store hash (`https://api.bigcommerce.com/stores/{store_hash}`).
        #[arg(long, required_if_eq("store", "bigcommerce"))]
        store_hash: Option<String>,
        /// BigCommerce: the API's base URL when it is not api.bigcommerce.com (a sandbox).
        #[arg(long)]
        api_base: Option<String>,
        /// Odoo Online by its instance name (`acme` is `https://acme.odoo.com`), or a full URL:
        /// Odoo Online, Odoo.sh or self-hosted (https).
        #[arg(long, visible_alias = "odoo")]
        odoo_url: String,
        /// Needed for self-hosted Odoo and Odoo.sh; inferred for Odoo Online.
        #[arg(long)]
        odoo_database: Option<String>,
        /// The Odoo user the API key belongs to.
        #[arg(long)]
        odoo_login: String,
        /// Allow private and loopback addresses (a self-hosted Odoo on the LAN).
        #[arg(long)]
        allow_private_network: bool,
        /// How long the audit trail keeps entries: 30, 60 (days) or never.
        #[arg(long, default_value = "60")]
        audit_retention: String,
        /// Registers the store's webhooks for the connection (WooCommerce: order.created,
        /// order.updated, customer.created, customer.updated), signed with MLC_WOO_WEBHOOK_SECRET
        /// or, when unset, a secret generated once and stored encrypted. Run again, it changes
        /// nothing; a webhook the store disabled is re-activated.
        #[arg(long, requires = "webhook_base_url")]
        register_webhooks: bool,
        /// Where the store reaches the webhook endpoint: `mlc serve`'s public URL, or the stack
        /// output WebhookBaseUrl.
        #[arg(long, env = "MLC_WEBHOOK_BASE_URL")]
        webhook_base_url: Option<String>,
        /// WooCommerce: items per page when the poller lists (1 to 100; smaller for hosts that
        /// time out on 100 orders).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100))]
        page_size: u32,
        /// Where the poller's first run starts, YYYY-MM-DD (UTC); 30 days back when left out
        /// (on AWS, the stack's MLC_POLL_START).
        #[arg(long)]
        poll_start: Option<String>,
        /// A PEM file of CA certificates the store or a self-hosted Odoo is signed by (a
        /// private CA), trusted beside the public roots and stored with the connection.
        /// SSL_CERT_FILE is read as well, as other tools do.
        #[arg(long)]
        ca_file: Option<PathBuf>,
        /// With --aws: the poll schedule's expression.
        #[arg(long, default_value = "rate(15 minutes)")]
        schedule: String,
        /// On the deployed stack named by its outputs: MLC_CONNECTIONS_TABLE, MLC_STATE_TABLE,
        /// MLC_AUDIT_TABLE, MLC_QUEUE_URL, MLC_FETCH_QUEUE_URL, MLC_SECRETS_PREFIX,
        /// MLC_SCHEDULER_ROLE_ARN and MLC_WOOCOMMERCE_POLLER_ARN; the connection's poll schedule
        /// is created too.
        #[arg(long)]
        aws: bool,
    },
    /// Lists connections.
    ///
    /// Example: mlc connection list
    List {
        #[arg(long)]
        aws: bool,
    },
    /// Pings both sides for real: Odoo's version, the login, read access to the models posting
    /// needs; the store's authentication and one read. Says what works and what does not.
    ///
    /// Example: mlc connection test shop
    Test {
        id: Option<String>,
        #[arg(long)]
        aws: bool,
    },
    /// Removes a connection, its secrets, the webhooks it registered in the store and (with
    /// --aws) its poll schedule. Its audit trail stays until it expires.
    ///
    /// Example: mlc connection remove shop
    Remove {
        id: String,
        /// Leave the store's webhooks in place (when the store cannot be reached).
        #[arg(long)]
        keep_webhooks: bool,
        #[arg(long)]
        aws: bool,
    },
}

#[derive(Subcommand)]
pub enum MappingsCommand {
    /// Saves mapping rules from a JSON file as the connection's next version.
    ///
    /// Example: mlc mappings set rules.json
    Set {
        file: std::path::PathBuf,
        /// On the deployed stack (see `mlc connection add --help` for its outputs).
        #[arg(long)]
        aws: bool,
    },
    /// Prints the connection's current mapping rules.
    ///
    /// Example: mlc mappings show
    Show {
        #[arg(long)]
        aws: bool,
    },
    /// Pre-flight before going live: lists SKUs, categories and tax rates of the store that no
    /// rule maps, and accounts, taxes and cost centers the rules name that Odoo lacks.
    ///
    /// Example: mlc mappings check
    Check {
        #[arg(long)]
        aws: bool,
    },
}

/// Where connections live: this machine's state, or a deployed stack.
struct Place {
    connections: Arc<dyn ConnectionStore>,
    secrets: Arc<dyn SecretStore>,
    stores: Arc<Stores>,
    aws: Option<DeployedAdmin>,
    label: String,
}

impl Place {
    async fn open(dir: &Path, aws: bool, create: bool) -> Result<Place> {
        if aws {
            let admin = DeployedAdmin::from_env().await?;
            return Ok(Place {
                connections: admin.connections.clone(),
                secrets: admin.secrets.clone(),
                stores: admin.stores.clone(),
                aws: Some(admin),
                label: "the deployed stack (connections table and Secrets Manager)".into(),
            });
        }
        let stack = LocalStack::open(dir, create)?;
        Ok(Place {
            connections: stack.store.clone(),
            secrets: stack.secrets.clone(),
            stores: stack.stores(),
            aws: None,
            label: format!("{} (secrets encrypted)", dir.display()),
        })
    }

    async fn pick(&self, name: Option<&str>) -> Result<Connection> {
        pick_in(self.connections.as_ref(), name).await
    }
}

pub async fn pick(stack: &LocalStack, name: Option<&str>) -> Result<Connection> {
    pick_in(stack.store.as_ref(), name).await
}

async fn pick_in(connections: &dyn ConnectionStore, name: Option<&str>) -> Result<Connection> {
    let all = connections.connections().await?;
    match name {
        Some(n) => {
            let id = ConnectionId::parse(n)?;
            Ok(all
                .into_iter()
                .find(|c| c.id == id)
                .ok_or_else(|| shared::Error::bad_input(format!("there is no connection {n}")))?)
        }
        None => match all.len() {
            1 => Ok(all.into_iter().next().expect("one")),
            0 => Err(shared::Error::bad_input("there is no connection yet: add one with `mlc connection add`").into()),
            _ => Err(shared::Error::bad_input("several connections exist; say which with --connection").into()),
        },
    }
}

fn env_secret(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

pub async fn run(dir: &Path, command: ConnectionCommand, json: bool) -> Result<()> {
    match command {
        ConnectionCommand::Add {
            id,
            store,
            store_url,
            store_hash,
            api_base,
            odoo_url,
            odoo_database,
            odoo_login,
            allow_private_network,
            audit_retention,
            register_webhooks,
            webhook_base_url,
            page_size,
            poll_start,
            ca_file,
            schedule,
            aws,
        } => {
            let ca_pem = ca_file
                .map(|path| -> Result<String> {
                    let pem = std::fs::read_to_string(&path)
                        .map_err(|e| shared::Error::bad_input(format!("--ca-file {}: {e}", path.display())))?;
                    shared::http::guard::parse_bundle(pem.as_bytes(), &format!("--ca-file {}", path.display()))
                        .map_err(|e| shared::Error::bad_input(e.to_string()))?;
                    Ok(pem)
                })
                .transpose()?;
            let id = ConnectionId::parse(&id)?;
            let poll_start = poll_start
                .map(|d| {
                    chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d")
                        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
                        .map_err(|_| shared::Error::bad_input(format!("--poll-start {d:?} is not a YYYY-MM-DD date")))
                })
                .transpose()?;
            let retention = match audit_retention.as_str() {
                "30" => Retention::Days30,
                "60" => Retention::Days60,
                "never" => Retention::Never,
                other => {
                    return Err(
                        shared::Error::bad_input(format!("--audit-retention {other:?}: use 30, 60 or never")).into()
                    );
                }
            };
            let (source, settings) = match store.as_str() {
                "bigcommerce" => {
                    let api_base =
                        api_base.as_deref().map(|a| url("--api-base", a, "MLC_BC_ACCESS_TOKEN")).transpose()?;
                    let store_hash = store_hash.unwrap_or_default();
                    let settings = StoreSettings::Bigcommerce(BcSettings { store_hash, api_base });
                    (SourceSystem::Bigcommerce, settings)
                }
                _ => (SourceSystem::Woocommerce, StoreSettings::Woocommerce(WooSettings { page_size })),
            };
            let connection = Connection {
                id: id.clone(),
                source,
                store_url: url("--store-url", &store_url, "the store's MLC_* secret variables")?,
                odoo_url: url("--odoo-url", &odoo_instance_url(&odoo_url), "--odoo-login and MLC_ODOO_API_KEY")?,
                odoo_database,
                audit_retention: retention,
                allow_private_network,
                paused: false,
                settings,
                poll_start,
                ca_pem,
            };
            refuse_what_test_would(&connection).await?;
            let place = Place::open(dir, aws, true).await?;
            let stored = place.secrets.get(&id).await?;
            let wanted = place.stores.for_connection(&connection)?.secrets();
            let (bundle, fresh_secret) = secrets_from_env(odoo_login, wanted, register_webhooks, stored.as_ref())?;
            place.secrets.put(&id, &bundle).await?;
            place.connections.put_connection(&connection).await?;
            let mut done = serde_json::json!({ "connection": connection });
            if let Some(admin) = &place.aws {
                let store = place.stores.for_connection(&connection)?;
                admin.schedules(store.webhook().name())?.ensure(&id, &schedule).await?;
                done["schedule"] = schedule.clone().into();
            }
            if register_webhooks {
                let store = place.stores.for_connection(&connection)?;
                let registrar = store.registrar().ok_or_else(|| {
                    shared::Error::bad_input(format!("{} webhooks are registered by hand", store.webhook().title()))
                })?;
                let base = webhook_base_url.as_deref().unwrap_or_default().trim_end_matches('/');
                let delivery = format!("{base}/webhooks/{}/{id}", store.webhook().name());
                url("--webhook-base-url", &delivery, "nowhere: the endpoint needs no credentials")?;
                let registration = registrar.register(&connection, &bundle, &delivery, fresh_secret).await?;
                done["webhooks"] = serde_json::to_value(&registration)?;
                done["delivery_url"] = delivery.into();
            }
            if json {
                return output::json(&done);
            }
            println!("connection {id} saved in {}", place.label);
            if !done["schedule"].is_null() {
                println!("poll schedule {} runs {schedule}", shared::aws::PollSchedules::name(&id));
            }
            if let Some(w) = done.get("webhooks") {
                let list = |k: &str| {
                    w[k].as_array().map(|a| a.iter().filter_map(|t| t.as_str()).collect::<Vec<_>>().join(", "))
                };
                for (what, key) in [
                    ("created", "created"),
                    ("re-activated", "reactivated"),
                    ("unchanged", "unchanged"),
                    ("replaced", "replaced"),
                ] {
                    if let Some(l) = list(key).filter(|l| !l.is_empty()) {
                        println!("webhooks {what}: {l}");
                    }
                }
                println!("webhooks deliver to {}", done["delivery_url"].as_str().unwrap_or_default());
            }
            println!("next: `mlc connection test {id}`, then `mlc mappings set rules.json` and `mlc mappings check`");
            Ok(())
        }
        ConnectionCommand::List { aws } => {
            let place = Place::open(dir, aws, false).await?;
            let mut rows = Vec::new();
            let mut out = Vec::new();
            for c in place.connections.connections().await? {
                let rules = place.connections.latest_rules(&c.id).await?.map(|r| r.version);
                rows.push(vec![
                    c.id.to_string(),
                    c.source.as_str().to_string(),
                    c.store_url.to_string(),
                    c.odoo_url.to_string(),
                    c.odoo_database.clone().unwrap_or_else(|| "-".into()),
                    rules.map(|v| format!("v{v}")).unwrap_or_else(|| "none".into()),
                    if c.paused { "paused" } else { "active" }.into(),
                ]);
                out.push(serde_json::json!({ "connection": c, "rules_version": rules }));
            }
            if json {
                return output::json(&out);
            }
            if rows.is_empty() {
                println!("no connections yet: add one with `mlc connection add`");
                return Ok(());
            }
            output::table(&["ID", "STORE", "STORE URL", "ODOO URL", "DATABASE", "RULES", "STATE"], &rows);
            Ok(())
        }
        ConnectionCommand::Test { id, aws } => {
            let place = Place::open(dir, aws, false).await?;
            let connection = place.pick(id.as_deref()).await?;
            let secrets = place.secrets.get(&connection.id).await?.unwrap_or_default();
            let mut findings = checks::test_connection(&place.stores, &connection, &secrets).await;
            if let Some(admin) = &place.aws {
                findings.push(schedule_finding(admin, &place.stores, &connection).await);
            }
            report(&format!("connection {}", connection.id), &findings, json)
        }
        ConnectionCommand::Remove { id, keep_webhooks, aws } => {
            let place = Place::open(dir, aws, false).await?;
            let id = ConnectionId::parse(&id)?;
            let Some(connection) = place.connections.connection(&id).await? else {
                return Err(shared::Error::bad_input(format!("there is no connection {id}")).into());
            };
            let store = place.stores.for_connection(&connection)?;
            let mut removed_hooks = 0;
            if let (Some(registrar), false) = (store.registrar(), keep_webhooks) {
                let secrets = place.secrets.get(&id).await?.unwrap_or_default();
                removed_hooks = registrar.unregister(&connection, &secrets).await.map_err(|e| {
                    anyhow::Error::new(e).context(
                        "could not delete the connection's webhooks in the store; nothing was removed (use --keep-webhooks to remove it anyway)",
                    )
                })?;
            }
            if let Some(admin) = &place.aws {
                admin.schedules(store.webhook().name())?.remove(&id).await?;
            }
            place.connections.delete_connection(&id).await?;
            place.secrets.delete(&id).await?;
            if json {
                return output::json(&serde_json::json!({ "removed": id, "webhooks_deleted": removed_hooks }));
            }
            println!(
                "connection {id}, its secrets{} and {removed_hooks} webhook(s) in the store removed; its audit trail stays until it expires",
                if place.aws.is_some() { ", its poll schedule" } else { "" }
            );
            Ok(())
        }
    }
}

/// A URL the merchant typed, refused when it carries credentials (the text is not echoed: a
/// mistyped URL may still hold a password).
fn url(what: &str, text: &str, secrets: &str) -> Result<url::Url> {
    let u = url::Url::parse(text).map_err(|e| shared::Error::bad_input(format!("{what} is not a URL ({e})")))?;
    shared::http::guard::refuse_credentials_in_url(&u, what, secrets)?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(shared::Error::bad_input(format!("{what} {u} must be http(s)")).into());
    }
    Ok(u)
}

/// Refuses, before anything is stored, the URLs `connection test` would refuse: Odoo's
/// endpoint rules (https, or http on loopback with --allow-private-network) and the address
/// guard for Odoo and the store's API. A name that does not resolve now is left to `test`.
async fn refuse_what_test_would(connection: &Connection) -> Result<()> {
    let allow = connection.allow_private_network;
    let odoo =
        shared::odoo::OdooEndpoint::parse(connection.odoo_url.as_str(), connection.odoo_database.as_deref(), allow)
            .map_err(|e| shared::Error::bad_input(e.to_string()))?;
    let store_api = match &connection.settings {
        StoreSettings::Bigcommerce(bc) => bc.api_base()?,
        _ => connection.store_url.clone(),
    };
    if let Err(e @ shared::odoo::OdooError::Endpoint { .. }) = odoo.resolve_guarded().await {
        return Err(shared::Error::bad_input(format!("Odoo: {e}")).into());
    }
    match shared::http::guard::resolve(&store_api, allow).await {
        Err(e) if !e.is_retryable() => return Err(shared::Error::bad_input(format!("the store: {e}")).into()),
        _ => {}
    }
    Ok(())
}

/// The connection's secrets from the environment. The webhook secret may be left out when the
/// webhooks are registered here: the one stored before is kept, or a new one is made (`true`).
fn secrets_from_env(
    odoo_login: String,
    store: &[StoreSecret],
    register: bool,
    stored: Option<&SecretBundle>,
) -> Result<(SecretBundle, bool)> {
    let odoo =
        StoreSecret { env: "MLC_ODOO_API_KEY", name: SECRET_ODOO_KEY, made_when_registering: false, optional: false };
    let wanted: Vec<(&str, &str)> = std::iter::once(&odoo).chain(store).map(|s| (s.env, s.name)).collect();
    let optional =
        |env: &str| store.iter().any(|s| s.env == env && (s.optional || (register && s.made_when_registering)));
    let left_out = |env: &str| store.iter().any(|s| s.env == env && s.optional);
    let missing: Vec<&str> =
        wanted.iter().filter(|(env, _)| env_secret(env).is_none() && !optional(env)).map(|(env, _)| *env).collect();
    if !missing.is_empty() {
        return Err(shared::Error::bad_input(format!(
            "set {} in the environment (secrets are never taken from the command line)",
            missing.join(", ")
        ))
        .into());
    }
    let mut bundle = SecretBundle::new().with(SECRET_ODOO_LOGIN, odoo_login);
    let mut fresh = false;
    for (env, name) in wanted {
        let value = match env_secret(env) {
            Some(v) => v,
            None => match stored.and_then(|s| s.get(name)) {
                Some(kept) => kept.expose().to_string(),
                None if left_out(env) => continue,
                None => {
                    fresh = true;
                    Secret::generate().expose().to_string()
                }
            },
        };
        bundle = bundle.with(name, value);
    }
    Ok((bundle, fresh))
}

/// `connection test --aws`: the connection's poll schedule exists and runs its store's poller.
async fn schedule_finding(admin: &DeployedAdmin, stores: &Stores, connection: &Connection) -> Finding {
    let name = shared::aws::PollSchedules::name(&connection.id);
    let schedules = match stores.for_connection(connection).map(|s| admin.schedules(s.webhook().name())) {
        Ok(Ok(s)) => s,
        Ok(Err(e)) | Err(e) => return Finding::problem("schedule", e.to_string()),
    };
    match schedules.get(&connection.id).await {
        Ok(Some((expression, _))) => Finding::ok("schedule", format!("poll schedule {name} runs {expression}")),
        Ok(None) => {
            Finding::problem("schedule", format!("no poll schedule {name}: `mlc connection add --aws` makes it"))
        }
        Err(e) => Finding::problem("schedule", format!("cannot read the poll schedule {name}: {e}")),
    }
}

/// Prints findings; fails with exit code 3 when any is a problem.
fn report(subject: &str, findings: &[Finding], json: bool) -> Result<()> {
    let problems = findings.iter().filter(|f| !f.ok).count();
    if json {
        output::json(&findings)?;
    } else {
        for f in findings {
            println!("{} {:<7} {}", if f.ok { "ok  " } else { "FAIL" }, f.side, f.what);
        }
        if problems == 0 {
            println!("\n{subject}: everything works");
        }
    }
    if problems > 0 {
        return Err(ProblemsFound(format!("{subject}: {problems} problem(s) found")).into());
    }
    Ok(())
}

pub async fn mappings(dir: &Path, name: Option<&str>, command: MappingsCommand, json: bool) -> Result<()> {
    let aws = match &command {
        MappingsCommand::Set { aws, .. } | MappingsCommand::Show { aws } | MappingsCommand::Check { aws } => *aws,
    };
    let place = Place::open(dir, aws, false).await?;
    let connection = place.pick(name).await?;
    let store = place.connections.as_ref();
    match command {
        MappingsCommand::Set { file, .. } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let value: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| shared::Error::bad_input(format!("{} is not valid JSON: {e}", file.display())))?;
            MappingRules::from_json(&value)
                .map_err(|e| shared::Error::bad_input(format!("{}: {e}", file.display())))?;
            let current = store.latest_rules(&connection.id).await?.map(|r| r.version);
            match store.save_rules(&connection.id, current, &value).await? {
                SaveRules::Saved { version } => {
                    if json {
                        return output::json(&serde_json::json!({ "connection": connection.id, "version": version }));
                    }
                    println!(
                        "mapping rules v{version} saved for {}; records posted from now on use them",
                        connection.id
                    );
                    Ok(())
                }
                SaveRules::Conflict { current } => {
                    bail!("someone saved rules v{} meanwhile; run again", current.unwrap_or_default())
                }
            }
        }
        MappingsCommand::Show { .. } => {
            let rules = store.latest_rules(&connection.id).await?.ok_or_else(|| {
                shared::Error::bad_input(format!(
                    "{} has no mapping rules yet: `mlc mappings set rules.json`",
                    connection.id
                ))
            })?;
            if !json {
                println!(
                    "# mapping rules v{} of {}, saved {}",
                    rules.version,
                    connection.id,
                    rules.saved_at.format("%Y-%m-%d %H:%M:%S UTC")
                );
            }
            output::json(&rules.rules)
        }
        MappingsCommand::Check { .. } => {
            let rules = store.latest_rules(&connection.id).await?.ok_or_else(|| {
                shared::Error::bad_input(format!(
                    "{} has no mapping rules yet: `mlc mappings set rules.json`",
                    connection.id
                ))
            })?;
            let rules = MappingRules::from_json(&rules.rules)?;
            let secrets = place.secrets.get(&connection.id).await?.unwrap_or_default();
            let report = checks::check_mappings(&place.stores, &connection, &secrets, &rules).await?;
            if !json {
                println!(
                    "checked {} products, {} categories and {} tax rates of the store against the rules and Odoo\n",
                    report.products_checked, report.categories_checked, report.tax_rates_checked
                );
                if report.findings.is_empty() {
                    println!("everything is mapped");
                }
            }
            self::report(&format!("mappings of {}", connection.id), &report.findings, json)
        }
    }
}

/// An Odoo Online instance name (`acme`) as its URL (`https://acme.odoo.com`); anything else is
/// taken as the URL it is.
fn odoo_instance_url(given: &str) -> String {
    let name = given.trim();
    let instance = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if instance { format!("https://{}.odoo.com", name.to_ascii_lowercase()) } else { name.to_string() }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_instance_name_is_odoo_online_and_a_url_stays_a_url() {
        assert_eq!(super::odoo_instance_url("acme"), "https://acme.odoo.com");
        assert_eq!(super::odoo_instance_url(" Acme-Prod "), "https://acme-prod.odoo.com");
        assert_eq!(super::odoo_instance_url("https://erp.acme.example"), "https://erp.acme.example");
        assert_eq!(super::odoo_instance_url("acme.odoo.com"), "acme.odoo.com", "not a bare name: left to URL parsing");
    }
}
