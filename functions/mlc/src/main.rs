//! `mlc`: ml-connector on one machine, on the embedded default (SQLite, an encrypted secrets
//! file). The logic is `shared`'s; this binary parses the command line and reports.

mod demo;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "mlc", version, about = "ml-connector: store orders into Odoo, on one machine")]
struct Cli {
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
        /// Where to keep the demo's embedded state (a temporary directory by default).
        #[arg(long)]
        dir: Option<PathBuf>,
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
        Command::Demo { dir } => {
            let dir = match dir {
                Some(dir) => {
                    std::fs::create_dir_all(&dir)?;
                    dir
                }
                None => tempfile::tempdir()?.keep(),
            };
            demo::run(&dir).await
        }
    }
}
