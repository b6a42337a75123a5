//! `mlc connection …` and `mlc mappings …`.

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use clap::Subcommand;
use shared::aws::DeployedAdmin;
use shared::checks::{self, Finding};
use shared::ids::ConnectionId;
use shared::local::LocalStack;
use shared::ports::*;
use shared::rules::MappingRules;
use shared::stores::Stores;
use std::sync::Arc;

use crate::ProblemsFound;
use crate::output;

#[derive(Subcommand)]
pub enum ConnectionCommand {
    // Its help is `AddArgs`'s own.
    Add(Box<crate::connection_add::AddArgs>),
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
    /// Lists what sales-order rules can name, read live from both sides: the store's scopes,
    /// customer groups, payment and shipping methods (and Adobe Commerce attribute sets), and
    /// Odoo's journals, carriers, payment terms, pricelists and fiscal positions. Kept for an
    /// hour; --refresh reads again.
    ///
    /// Example: mlc mappings catalogue
    Catalogue {
        #[arg(long)]
        aws: bool,
        #[arg(long)]
        refresh: bool,
    },
}

/// Where connections live: this machine's state, or a deployed stack.
pub(crate) struct Place {
    pub(crate) connections: Arc<dyn ConnectionStore>,
    pub(crate) secrets: Arc<dyn SecretStore>,
    pub(crate) stores: Arc<Stores>,
    pub(crate) aws: Option<DeployedAdmin>,
    pub(crate) label: String,
}

impl Place {
    pub(crate) async fn open(dir: &Path, aws: bool, create: bool) -> Result<Place> {
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

pub async fn run(dir: &Path, command: ConnectionCommand, json: bool) -> Result<()> {
    match command {
        ConnectionCommand::Add(args) => crate::connection_add::add(dir, *args, json).await,
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
        MappingsCommand::Set { aws, .. }
        | MappingsCommand::Show { aws }
        | MappingsCommand::Check { aws }
        | MappingsCommand::Catalogue { aws, .. } => *aws,
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
                let mode = MappingRules::from_json(&rules.rules).map(|r| r.posting.mode.as_str()).unwrap_or("invalid");
                println!(
                    "# mapping rules v{} of {}, saved {}; posting mode {mode}",
                    rules.version,
                    connection.id,
                    rules.saved_at.format("%Y-%m-%d %H:%M:%S UTC")
                );
            }
            output::json(&rules.rules)
        }
        MappingsCommand::Catalogue { refresh, .. } => {
            let secrets = place.secrets.get(&connection.id).await?.unwrap_or_default();
            crate::catalogue::show(dir, &place.stores, &connection, &secrets, refresh, json).await
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
