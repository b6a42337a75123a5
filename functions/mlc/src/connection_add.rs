//! `mlc connection add`: a connection's settings from the command line, its secrets from the
//! environment, checked before anything is stored.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use shared::checks::{SECRET_ODOO_KEY, SECRET_ODOO_LOGIN};
use shared::ids::ConnectionId;
use shared::ports::*;
use shared::records::SourceSystem;
use shared::stores::adobe_commerce::{self, AdobeSettings, Deployment};
use shared::stores::bigcommerce::BcSettings;
use shared::stores::woocommerce::WooSettings;
use shared::stores::{StoreSecret, StoreSettings};

use crate::connection::Place;
use crate::output;

/// Adds (or updates) a connection.
///
/// Secrets come from the environment, never from the command line (which other users can read
/// in `ps`): MLC_ODOO_API_KEY, and for WooCommerce MLC_WOO_CONSUMER_KEY,
/// MLC_WOO_CONSUMER_SECRET, MLC_WOO_WEBHOOK_SECRET; for BigCommerce MLC_BC_ACCESS_TOKEN and
/// MLC_BC_CLIENT_SECRET; for Adobe Commerce PaaS the integration's MLC_ADOBE_CONSUMER_KEY,
/// MLC_ADOBE_CONSUMER_SECRET, MLC_ADOBE_ACCESS_TOKEN and MLC_ADOBE_ACCESS_TOKEN_SECRET, for the
/// Cloud Service MLC_ADOBE_IMS_CLIENT_ID and MLC_ADOBE_IMS_CLIENT_SECRET, and for its webhooks
/// MLC_ADOBE_WEBHOOK_PUBLIC_KEY (the PEM). They are stored encrypted in the state directory
/// (or, with --aws, in Secrets Manager).
///
/// Example: mlc connection add shop --store-url https://shop.example --odoo-url https://acme.odoo.com --odoo-login finance@acme.example
///
/// BigCommerce: mlc connection add bc --store bigcommerce --store-hash abc123 --store-url https://shop.example --odoo acme --odoo-login finance@acme.example
///
/// Adobe Commerce: mlc connection add m2 --store adobe-commerce --store-url https://shop.example/rest/default --webhooks --odoo acme --odoo-login finance@acme.example
#[derive(Args)]
pub struct AddArgs {
    /// A name for the connection: letters, digits, `-` and `_` (it is in the webhook URL).
    pub id: String,
    /// Which store: woocommerce (the default), bigcommerce or adobe-commerce.
    #[arg(long, default_value = "woocommerce", value_parser = ["woocommerce", "bigcommerce", "adobe-commerce"])]
    pub store: String,
    /// The store's home URL (WooCommerce: as WordPress knows it; BigCommerce: the storefront;
    /// Adobe Commerce: `https://<host>/rest/<store_code>` or `https://<server>.api.commerce.adobe.com/<tenant>`).
    #[arg(long)]
    pub store_url: String,
    /// BigCommerce: the store hash (`https://api.bigcommerce.com/stores/{store_hash}`).
    #[arg(long, required_if_eq("store", "bigcommerce"))]
    pub store_hash: Option<String>,
    /// BigCommerce: the API's base URL when it is not api.bigcommerce.com (a sandbox).
    #[arg(long)]
    pub api_base: Option<String>,
    /// Adobe Commerce: the deployment, when detection (from the URL and the credentials) should
    /// be overridden: paas (OAuth 1.0a) or saas (Cloud Service, Adobe IMS).
    #[arg(long, value_parser = ["paas", "saas"])]
    pub deployment: Option<String>,
    /// Adobe Commerce: the store view the API reads in (`/rest/<code>` on PaaS, the `Store`
    /// header on SaaS).
    #[arg(long, default_value = "default")]
    pub store_code: String,
    /// Adobe Commerce (PaaS): send the integration's access token as a Bearer token instead of
    /// signing each request (2.4.4+ refuses it unless the store allows it).
    #[arg(long)]
    pub bearer: bool,
    /// Adobe Commerce (SaaS): the IMS organization, `…@AdobeOrg`.
    #[arg(long)]
    pub ims_org_id: Option<String>,
    /// Adobe Commerce (SaaS): the IMS token endpoint, when it is not Adobe's.
    #[arg(long)]
    pub ims_url: Option<String>,
    /// Adobe Commerce: the store sends Adobe Commerce Webhooks to this connection (2.4.4+,
    /// set up in the store's admin); the poller then runs as the safety net.
    #[arg(long)]
    pub webhooks: bool,
    /// Odoo Online by its instance name (`acme` is `https://acme.odoo.com`), or a full URL:
    /// Odoo Online, Odoo.sh or self-hosted (https).
    #[arg(long, visible_alias = "odoo")]
    pub odoo_url: String,
    /// Needed for self-hosted Odoo and Odoo.sh; inferred for Odoo Online.
    #[arg(long)]
    pub odoo_database: Option<String>,
    /// The Odoo user the API key belongs to.
    #[arg(long)]
    pub odoo_login: String,
    /// Allow private and loopback addresses (a self-hosted Odoo on the LAN).
    #[arg(long)]
    pub allow_private_network: bool,
    /// How long the audit trail keeps entries: 30, 60 (days) or never.
    #[arg(long, default_value = "60")]
    pub audit_retention: String,
    /// Registers the store's webhooks for the connection (WooCommerce: order.created,
    /// order.updated, customer.created, customer.updated), signed with MLC_WOO_WEBHOOK_SECRET
    /// or, when unset, a secret generated once and stored encrypted. Run again, it changes
    /// nothing; a webhook the store disabled is re-activated.
    #[arg(long, requires = "webhook_base_url")]
    pub register_webhooks: bool,
    /// Where the store reaches the webhook endpoint: `mlc serve`'s public URL, or the stack
    /// output WebhookBaseUrl.
    #[arg(long, env = "MLC_WEBHOOK_BASE_URL")]
    pub webhook_base_url: Option<String>,
    /// WooCommerce: items per page when the poller lists (1 to 100; smaller for hosts that
    /// time out on 100 orders).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub page_size: u32,
    /// Where the poller's first run starts, YYYY-MM-DD (UTC); 30 days back when left out
    /// (on AWS, the stack's MLC_POLL_START).
    #[arg(long)]
    pub poll_start: Option<String>,
    /// A PEM file of CA certificates the store or a self-hosted Odoo is signed by (a
    /// private CA), trusted beside the public roots and stored with the connection.
    /// SSL_CERT_FILE is read as well, as other tools do.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Reconciliation lists what is missing in Odoo instead of sending it again to be posted.
    #[arg(long)]
    pub reconcile_list_only: bool,
    /// Alerts for this connection go to this HTTPS URL as a JSON body: when failures of one
    /// reason pass --alert-failures, when --alert-missed-polls polls in a row did not succeed,
    /// and when reconciliation finds a gap. Once per threshold crossing.
    #[arg(long)]
    pub alert_webhook: Option<String>,
    #[arg(long, default_value_t = 10)]
    pub alert_failures: usize,
    #[arg(long, default_value_t = 3)]
    pub alert_missed_polls: u32,
    /// With --aws: the poll schedule's expression.
    #[arg(long, default_value = "rate(15 minutes)")]
    pub schedule: String,
    /// On the deployed stack named by its outputs: MLC_CONNECTIONS_TABLE, MLC_STATE_TABLE,
    /// MLC_AUDIT_TABLE, MLC_QUEUE_URL, MLC_FETCH_QUEUE_URL, MLC_SECRETS_PREFIX,
    /// MLC_SCHEDULER_ROLE_ARN and the store's poller (MLC_WOOCOMMERCE_POLLER_ARN,
    /// MLC_BIGCOMMERCE_POLLER_ARN or MLC_ADOBE_COMMERCE_POLLER_ARN); the connection's poll
    /// schedule is created too.
    #[arg(long)]
    pub aws: bool,
}

/// Adobe Commerce's own arguments.
struct AdobeArgs {
    deployment: Option<String>,
    store_code: String,
    bearer: bool,
    ims_org_id: Option<String>,
    ims_url: Option<String>,
    webhooks: bool,
}

pub async fn add(dir: &Path, args: AddArgs, json: bool) -> Result<()> {
    let AddArgs {
        id,
        store,
        store_url,
        store_hash,
        api_base,
        deployment,
        store_code,
        bearer,
        ims_org_id,
        ims_url,
        webhooks,
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
        reconcile_list_only,
        alert_webhook,
        alert_failures,
        alert_missed_polls,
        schedule,
        aws,
    } = args;
    let alerts = alert_webhook
        .map(|u| -> Result<shared::alerts::AlertSettings> {
            let webhook = u.parse().map_err(|e| shared::Error::bad_input(format!("--alert-webhook {u:?}: {e}")))?;
            Ok(shared::alerts::AlertSettings {
                webhook: Some(webhook),
                failures_per_reason: alert_failures,
                missed_polls: alert_missed_polls,
                on_reconciliation_gap: true,
            })
        })
        .transpose()?;
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
            return Err(shared::Error::bad_input(format!("--audit-retention {other:?}: use 30, 60 or never")).into());
        }
    };
    let adobe = AdobeArgs { deployment, store_code, bearer, ims_org_id, ims_url, webhooks };
    let (source, settings) = store_settings(&store, store_hash, api_base, page_size, adobe)?;
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
        reconcile_list_only,
        alerts,
    };
    refuse_what_test_would(&connection).await?;
    let place = Place::open(dir, aws, true).await?;
    let stored = place.secrets.get(&id).await?;
    let wanted = place.stores.for_connection(&connection)?.secrets();
    let (bundle, fresh_secret) = secrets_from_env(odoo_login, wanted, register_webhooks, stored.as_ref())?;
    if let StoreSettings::AdobeCommerce(settings) = &connection.settings {
        let detected = adobe_commerce::credentials_fit(&connection.store_url, settings, &bundle)?;
        eprintln!("Adobe Commerce: {} ({})", detected.deployment.title(), detected.why);
    }
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
        let list =
            |k: &str| w[k].as_array().map(|a| a.iter().filter_map(|t| t.as_str()).collect::<Vec<_>>().join(", "));
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

/// The store's kind and its own settings.
fn store_settings(
    store: &str,
    store_hash: Option<String>,
    api_base: Option<String>,
    page_size: u32,
    adobe: AdobeArgs,
) -> Result<(SourceSystem, StoreSettings)> {
    Ok(match store {
        "bigcommerce" => {
            let api_base = api_base.as_deref().map(|a| url("--api-base", a, "MLC_BC_ACCESS_TOKEN")).transpose()?;
            let store_hash = store_hash.unwrap_or_default();
            (SourceSystem::Bigcommerce, StoreSettings::Bigcommerce(BcSettings { store_hash, api_base }))
        }
        "adobe-commerce" => {
            let deployment = adobe.deployment.as_deref().map(|d| match d {
                "saas" => Deployment::Saas,
                _ => Deployment::Paas,
            });
            let ims_url =
                adobe.ims_url.as_deref().map(|u| url("--ims-url", u, "MLC_ADOBE_IMS_CLIENT_SECRET")).transpose()?;
            let settings = AdobeSettings {
                deployment,
                store_code: adobe.store_code,
                bearer: adobe.bearer,
                ims_org_id: adobe.ims_org_id.filter(|o| !o.trim().is_empty()),
                ims_url,
                webhooks: adobe.webhooks,
                page_size: page_size.min(300),
            };
            (SourceSystem::AdobeCommerce, StoreSettings::AdobeCommerce(settings))
        }
        _ => (SourceSystem::Woocommerce, StoreSettings::Woocommerce(WooSettings { page_size })),
    })
}

fn env_secret(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
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
