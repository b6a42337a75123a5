//! `mlc`: ml-connector on one machine, on the embedded default (SQLite, an encrypted secrets
//! file). The logic is `shared`'s; this binary parses the command line and reports.

mod demo;
mod state;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "mlc", version, about = "ml-connector: store orders into Odoo, on one machine")]
struct Cli {
    /// The machine's state: SQLite database and encrypted secrets.
    #[arg(long, global = true, env = "MLC_HOME", default_value = ".mlc")]
    dir: PathBuf,
    /// Which connection (when there are several).
    #[arg(long, global = true)]
    connection: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the whole pipeline against a sandbox WooCommerce store and a sandbox Odoo on this
    /// machine, then prints what was posted, what failed and why, and one order's trace.
    ///
    /// Example: mlc demo
    Demo {
        /// Keep the demo's state here (then `mlc trace --dir …` can read it); a temporary directory otherwise.
        #[arg(long = "keep-in")]
        keep_in: Option<PathBuf>,
    },
    /// Shows a record's journey from the audit trail: a store order id, or `account.move:<id>`.
    ///
    /// Example: mlc trace 1001        mlc trace account.move:17
    Trace { record: String },
    /// Lists records that could not post, with the reason.
    ///
    /// Example: mlc failed
    Failed,
    /// Queues failed records again (after the rule or the data was fixed); each posts once.
    ///
    /// Example: mlc replay 1100        mlc replay --all
    Replay {
        record: Option<String>,
        #[arg(long)]
        all: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_env("MLC_LOG")).with_writer(std::io::stderr).init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mlc: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo { keep_in } => {
            let dir = match keep_in {
                Some(dir) => {
                    std::fs::create_dir_all(&dir)?;
                    dir
                }
                None => tempfile::tempdir()?.keep(),
            };
            demo::run(&dir).await
        }
        Command::Trace { record } => {
            let s = state::open(&cli.dir)?;
            let c = state::connection(&s, cli.connection.as_deref()).await?;
            state::trace(&s, &c, &record, cli.json).await
        }
        Command::Failed => {
            let s = state::open(&cli.dir)?;
            let c = state::connection(&s, cli.connection.as_deref()).await?;
            state::failed(&s, &c, cli.json).await
        }
        Command::Replay { record, all } => {
            let s = state::open(&cli.dir)?;
            let c = state::connection(&s, cli.connection.as_deref()).await?;
            state::replay(&s, &c, record.as_deref(), all).await
        }
    }
}
