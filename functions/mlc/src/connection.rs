//! `mlc connection …` and `mlc mappings …`.

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use clap::Subcommand;
use shared::checks::{self, Finding, SECRET_ODOO_KEY, SECRET_ODOO_LOGIN};
use shared::ids::ConnectionId;
use shared::local::LocalStack;
use shared::ports::*;
use shared::records::SourceSystem;
use shared::rules::MappingRules;
use shared::stores::woocommerce::webhook::{SECRET_KEY, SECRET_SECRET, SECRET_WEBHOOK};

use crate::ProblemsFound;
use crate::output;

#[derive(Subcommand)]
pub enum ConnectionCommand {
    /// Adds (or updates) a connection. Secrets come from the environment, never from the
    /// command line (which other users can read in `ps`): MLC_ODOO_API_KEY,
    /// MLC_WOO_CONSUMER_KEY, MLC_WOO_CONSUMER_SECRET, MLC_WOO_WEBHOOK_SECRET. They are stored
    /// encrypted in the state directory.
    ///
    /// Example: mlc connection add shop --store-url https://shop.example --odoo-url https://acme.odoo.com --odoo-login finance@acme.example
    Add {
        /// A name for the connection: letters, digits, `-` and `_` (it is in the webhook URL).
        id: String,
        /// The store's home URL, as WordPress knows it.
        #[arg(long)]
        store_url: String,
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
    },
    /// Lists connections.
    ///
    /// Example: mlc connection list
    List,
    /// Pings both sides for real: Odoo's version, the login, read access to the models posting
    /// needs; the store's authentication and one read. Says what works and what does not.
    ///
    /// Example: mlc connection test shop
    Test { id: Option<String> },
    /// Removes a connection and its secrets (its audit trail stays until it expires).
    ///
    /// Example: mlc connection remove shop
    Remove { id: String },
}

#[derive(Subcommand)]
pub enum MappingsCommand {
    /// Saves mapping rules from a JSON file as the connection's next version.
    ///
    /// Example: mlc mappings set rules.json
    Set { file: std::path::PathBuf },
    /// Prints the connection's current mapping rules.
    ///
    /// Example: mlc mappings show
    Show,
    /// Pre-flight before going live: lists SKUs, categories and tax rates of the store that no
    /// rule maps, and accounts, taxes and cost centers the rules name that Odoo lacks.
    ///
    /// Example: mlc mappings check
    Check,
}

pub async fn pick(stack: &LocalStack, name: Option<&str>) -> Result<Connection> {
    let all = stack.store.connections().await?;
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
            store_url,
            odoo_url,
            odoo_database,
            odoo_login,
            allow_private_network,
            audit_retention,
        } => {
            let id = ConnectionId::parse(&id)?;
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
            // The text is not echoed: a mistyped URL may still hold a password.
            let url = |what: &str, text: &str, secrets: &str| -> Result<url::Url> {
                let u = url::Url::parse(text)
                    .map_err(|e| shared::Error::bad_input(format!("{what} is not a URL ({e})")))?;
                shared::http::guard::refuse_credentials_in_url(&u, what, secrets)?;
                if !matches!(u.scheme(), "http" | "https") {
                    return Err(shared::Error::bad_input(format!("{what} {u} must be http(s)")).into());
                }
                Ok(u)
            };
            let connection = Connection {
                id: id.clone(),
                source: SourceSystem::Woocommerce,
                store_url: url("--store-url", &store_url, "MLC_WOO_CONSUMER_KEY and MLC_WOO_CONSUMER_SECRET")?,
                odoo_url: url("--odoo-url", &odoo_instance_url(&odoo_url), "--odoo-login and MLC_ODOO_API_KEY")?,
                odoo_database,
                audit_retention: retention,
                allow_private_network,
                paused: false,
            };
            let wanted = [
                ("MLC_ODOO_API_KEY", SECRET_ODOO_KEY),
                ("MLC_WOO_CONSUMER_KEY", SECRET_KEY),
                ("MLC_WOO_CONSUMER_SECRET", SECRET_SECRET),
                ("MLC_WOO_WEBHOOK_SECRET", SECRET_WEBHOOK),
            ];
            let missing: Vec<&str> =
                wanted.iter().filter(|(env, _)| env_secret(env).is_none()).map(|(env, _)| *env).collect();
            if !missing.is_empty() {
                return Err(shared::Error::bad_input(format!(
                    "set {} in the environment (secrets are never taken from the command line)",
                    missing.join(", ")
                ))
                .into());
            }
            let mut bundle = SecretBundle::new().with(SECRET_ODOO_LOGIN, odoo_login);
            for (env, name) in wanted {
                bundle = bundle.with(name, env_secret(env).expect("checked above"));
            }
            let stack = LocalStack::open(dir, true)?;
            stack.secrets.put(&id, &bundle).await?;
            stack.store.put_connection(&connection).await?;
            if json {
                return output::json(&connection);
            }
            println!("connection {id} saved (secrets encrypted in {})", dir.display());
            println!("next: `mlc connection test {id}`, then `mlc mappings set rules.json` and `mlc mappings check`");
            Ok(())
        }
        ConnectionCommand::List => {
            let stack = LocalStack::open(dir, false)?;
            let mut rows = Vec::new();
            let mut out = Vec::new();
            for c in stack.store.connections().await? {
                let rules = stack.store.latest_rules(&c.id).await?.map(|r| r.version);
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
        ConnectionCommand::Test { id } => {
            let stack = LocalStack::open(dir, false)?;
            let connection = pick(&stack, id.as_deref()).await?;
            let secrets = stack.secrets.get(&connection.id).await?.unwrap_or_default();
            let findings = checks::test_connection(&connection, &secrets).await;
            report(&format!("connection {}", connection.id), &findings, json)
        }
        ConnectionCommand::Remove { id } => {
            let stack = LocalStack::open(dir, false)?;
            let id = ConnectionId::parse(&id)?;
            if stack.store.connection(&id).await?.is_none() {
                return Err(shared::Error::bad_input(format!("there is no connection {id}")).into());
            }
            stack.store.delete_connection(&id).await?;
            stack.secrets.delete(&id).await?;
            if json {
                return output::json(&serde_json::json!({ "removed": id }));
            }
            println!("connection {id} and its secrets removed; its audit trail stays until it expires");
            Ok(())
        }
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
    let stack = LocalStack::open(dir, false)?;
    let connection = pick(&stack, name).await?;
    match command {
        MappingsCommand::Set { file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let value: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| shared::Error::bad_input(format!("{} is not valid JSON: {e}", file.display())))?;
            MappingRules::from_json(&value)
                .map_err(|e| shared::Error::bad_input(format!("{}: {e}", file.display())))?;
            let current = stack.store.latest_rules(&connection.id).await?.map(|r| r.version);
            match stack.store.save_rules(&connection.id, current, &value).await? {
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
        MappingsCommand::Show => {
            let rules = stack.store.latest_rules(&connection.id).await?.ok_or_else(|| {
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
        MappingsCommand::Check => {
            let rules = stack.store.latest_rules(&connection.id).await?.ok_or_else(|| {
                shared::Error::bad_input(format!(
                    "{} has no mapping rules yet: `mlc mappings set rules.json`",
                    connection.id
                ))
            })?;
            let rules = MappingRules::from_json(&rules.rules)?;
            let secrets = stack.secrets.get(&connection.id).await?.unwrap_or_default();
            let report = checks::check_mappings(&connection, &secrets, &rules).await?;
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
