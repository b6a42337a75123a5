//! `mlc`: ml-connector on one machine, on the embedded default (SQLite, an encrypted secrets
//! file), and a few operations on a deployed stack (`--aws`). The logic is `shared`'s; this
//! binary parses the command line and reports, as tables or `--json`.

mod catalogue;
mod connection;
mod connection_add;
mod console;
#[cfg(feature = "demo")]
mod demo;
#[cfg(feature = "demo")]
mod demo_adobe_commerce;
#[cfg(feature = "demo")]
mod demo_bigcommerce;
mod output;
mod pipeline;
mod state;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

const AFTER_HELP: &str = "\
Exit codes: 0 done; 1 failed; 2 bad usage; 3 a check found problems; 4 bad input or
configuration (fix it, then run again); 5 a system could not be reached (try again later).

Start with `mlc demo`: it runs everything against sandboxes on this machine.";

#[derive(Parser)]
#[command(name = "mlc", version, about = "ml-connector: store orders into Odoo, on one machine", after_help = AFTER_HELP)]
struct Cli {
    /// The machine's state: SQLite database, encrypted secrets and their key.
    #[arg(long, global = true, env = "MLC_HOME", default_value = ".mlc")]
    dir: PathBuf,
    /// Which connection (when there are several).
    #[arg(long, global = true)]
    connection: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// Seconds to wait for one answer from Odoo (each call is tried up to 4 times).
    #[arg(long, global = true, env = "MLC_ODOO_TIMEOUT", default_value_t = 20)]
    odoo_timeout: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
// Parsed once per process: the size of its largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Runs the whole pipeline against sandbox WooCommerce and BigCommerce stores and a sandbox
    /// Odoo on this machine, then prints what was posted, what failed and why, and one order's trace.
    ///
    /// Example: mlc demo
    Demo {
        /// Keep the demo's state here (then `mlc --dir DIR trace 1001` reads it); a temporary directory otherwise.
        #[arg(long = "keep-in")]
        keep_in: Option<PathBuf>,
    },
    /// Adds, lists, tests and removes connections (a store and an Odoo database).
    #[command(subcommand)]
    Connection(connection::ConnectionCommand),
    /// Sets, shows and checks a connection's mapping rules (accounts, taxes, cost centers).
    #[command(subcommand)]
    Mappings(connection::MappingsCommand),
    /// Runs the webhook endpoint, the poller and the poster in one process until Ctrl-C (or
    /// SIGTERM), which stops it without losing any accepted record.
    ///
    /// Webhook URL for WooCommerce: http://<listen>/webhooks/woocommerce/<connection>
    ///
    /// Example: mlc serve --listen 0.0.0.0:8080 --poll-every 300
    Serve(pipeline::ServeArgs),
    /// The finance team's console in a browser: overview, failures and replay, trace, preview,
    /// reconciliation, settings. `mlc serve` serves it too, at /console beside the webhooks.
    ///
    /// Example: mlc console        mlc console token --name alice        mlc console --aws --listen 0.0.0.0:8443 --tls-cert c.pem --tls-key k.pem
    Console(console::ConsoleArgs),
    /// Polls the store once now and posts what it finds (what webhooks may have missed).
    ///
    /// Example: mlc sync
    Sync {
        /// Only queue what was read; `mlc serve` (or a later sync) posts it.
        #[arg(long)]
        queue_only: bool,
    },
    /// Reads every order and customer changed since DATE, with a progress bar, and posts them.
    /// Interrupted, it resumes where it stopped when run again with the same DATE.
    ///
    /// Example: mlc backfill --from 2026-01-01
    Backfill {
        /// First day to read (UTC), YYYY-MM-DD.
        #[arg(long)]
        from: String,
        /// Last day to read (UTC, included), YYYY-MM-DD; up to now when left out.
        #[arg(long)]
        to: Option<String>,
        /// Hours the store is asked about at a time (smaller for very busy stores); pages are
        /// read and queued one at a time whatever the window.
        #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=24 * 31))]
        window_hours: u32,
        /// Only queue what was read; `mlc serve` (or a later sync) posts it.
        #[arg(long)]
        queue_only: bool,
    },
    /// Proves the books of a period complete: the store's orders and refunds in posting
    /// statuses against what Odoo holds under ml-connector's markers. Missing ones are sent
    /// again and posted (unless --list-only); documents in Odoo twice, at another amount, or
    /// not in the store are reported with both figures and left for review.
    ///
    /// Example: mlc reconcile --from 2026-11-01 --to 2026-11-30
    Reconcile {
        /// First day (UTC), YYYY-MM-DD.
        #[arg(long)]
        from: String,
        /// Last day (UTC, included), YYYY-MM-DD.
        #[arg(long)]
        to: String,
        /// Report what is missing without sending it again.
        #[arg(long)]
        list_only: bool,
    },
    /// Shows the invoice or journal entry an order would become — lines, accounts, cost
    /// centers, taxes, totals against the store's, and the rule behind each line — without
    /// writing anything to Odoo. Adobe Commerce keeps the books from invoices: name the
    /// invoice's number there.
    ///
    /// Example: mlc preview 1042        mlc preview 200000001
    Preview { order: String },
    /// Shows a record's journey from the audit trail: by store order id, Odoo move id
    /// (`account.move:17`) or Odoo move name (`INV/2026/00017`).
    ///
    /// Example: mlc trace 1042        mlc trace account.move:17        mlc trace INV/2026/00017
    Trace { record: String },
    /// Records that could not post, with the reason.
    #[command(subcommand)]
    Failed(state::FailedCommand),
    /// Queues failed records again (after the rule or the data was fixed); each posts once.
    /// With --aws: on a deployed stack, and the dead-letter queue is redriven too
    /// (StartMessageMoveTask).
    ///
    /// Example: mlc replay 1100        mlc replay --all        mlc replay --all --aws
    Replay {
        record: Option<String>,
        #[arg(long)]
        all: bool,
        /// Act on the deployed stack named by MLC_*_TABLE / MLC_QUEUE_URL / MLC_DLQ_URL.
        #[arg(long)]
        aws: bool,
    },
}

/// A check ran and found problems: reported already, exit 3.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProblemsFound(pub String);

fn exit_code(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<ProblemsFound>().is_some() {
        return 3;
    }
    for cause in e.chain() {
        if let Some(shared) = cause.downcast_ref::<shared::Error>() {
            return match shared.class() {
                shared::ErrorClass::BadInput => 4,
                shared::ErrorClass::Retryable => 5,
                shared::ErrorClass::Permanent => 1,
            };
        }
    }
    1
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mlc: {e:#}");
            ExitCode::from(exit_code(&e))
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let (dir, name, json) = (cli.dir, cli.connection, cli.json);
    let poster = shared::poster::PosterSettings {
        odoo_timeout: std::time::Duration::from_secs(cli.odoo_timeout.max(1)),
        ..Default::default()
    };
    match cli.command {
        Command::Demo { keep_in } => {
            let dir = match keep_in {
                Some(dir) => {
                    std::fs::create_dir_all(&dir)?;
                    dir
                }
                None => tempfile::tempdir()?.keep(),
            };
            #[cfg(feature = "demo")]
            return demo::run(&dir).await;
            #[cfg(not(feature = "demo"))]
            return Err(shared::Error::bad_input(format!(
                "this mlc was built without the sandboxes (`--no-default-features`); build it with the `demo` feature to run the demo in {}",
                dir.display()
            ))
            .into());
        }
        Command::Connection(c) => connection::run(&dir, c, json).await,
        Command::Mappings(m) => connection::mappings(&dir, name.as_deref(), m, json).await,
        Command::Serve(args) => pipeline::serve(&dir, args, poster, json).await,
        Command::Console(args) => console::run(&dir, args, json).await,
        Command::Sync { queue_only } => pipeline::sync(&dir, name.as_deref(), None, queue_only, poster, json).await,
        Command::Backfill { from, to, window_hours, queue_only } => {
            let range = pipeline::Range { from: &from, to: to.as_deref(), window_hours };
            pipeline::sync(&dir, name.as_deref(), Some(range), queue_only, poster, json).await
        }
        Command::Reconcile { from, to, list_only } => {
            pipeline::reconcile(&dir, name.as_deref(), &from, &to, list_only, poster, json).await
        }
        Command::Preview { order } => pipeline::preview(&dir, name.as_deref(), &order, json).await,
        Command::Trace { record } => state::trace(&dir, name.as_deref(), &record, json).await,
        Command::Failed(f) => state::failed(&dir, name.as_deref(), f, json).await,
        Command::Replay { record, all, aws } => {
            state::replay(&dir, name.as_deref(), record.as_deref(), all, aws, json).await
        }
    }
}
