//! `mlc console`: the console's tokens, and the console on its own (this machine's state, or a
//! deployed stack with `--aws`). `mlc serve` serves the same console beside the webhooks.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use shared::console::{Access, TokenFile};
use shared::local::{CONSOLE_TOKENS, LocalStack};

#[derive(clap::Args)]
pub struct ConsoleArgs {
    #[command(subcommand)]
    command: Option<ConsoleCommand>,
    /// Address to serve the console on. Beyond loopback (or behind a proxy) a token is asked for
    /// (`mlc console token`).
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// The deployed stack named by MLC_CONNECTIONS_TABLE, MLC_STATE_TABLE, MLC_AUDIT_TABLE,
    /// MLC_QUEUE_URL, MLC_FETCH_QUEUE_URL, MLC_DLQ_URL and MLC_SECRETS_PREFIX (the stack's
    /// outputs); its settings are shown read-only.
    #[arg(long)]
    aws: bool,
    #[command(flatten)]
    tls: TlsArgs,
}

#[derive(clap::Args, Clone)]
pub struct TlsArgs {
    /// Serve https with this certificate chain (PEM); the console's cookies are then Secure.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// A TLS proxy in front of this server serves https: the console's cookies are Secure.
    #[arg(long)]
    pub behind_tls_proxy: bool,
}

impl TlsArgs {
    pub fn files(&self) -> Option<(PathBuf, PathBuf)> {
        self.tls_cert.clone().zip(self.tls_key.clone())
    }
}

#[derive(clap::Subcommand)]
enum ConsoleCommand {
    /// Makes a sign-in token for one person (replacing theirs) and prints it once; only its
    /// hash is kept.
    ///
    /// Example: mlc console token --name alice
    Token {
        /// Whose token it is: replays and settings changes are audited with this name.
        #[arg(long, default_value = "admin")]
        name: String,
    },
}

pub async fn run(dir: &Path, args: ConsoleArgs, json: bool) -> Result<()> {
    let tokens = TokenFile { path: dir.join(CONSOLE_TOKENS) };
    if let Some(ConsoleCommand::Token { name }) = args.command {
        // The token file may be the first thing in the directory (a console for a deployed stack).
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        let token = tokens.issue(&name)?;
        if json {
            return crate::output::json(&serde_json::json!({ "name": name, "token": token }));
        }
        println!("console token for {name} (shown once; only its hash is kept in {}):\n{token}", tokens.path.display());
        return Ok(());
    }
    let console = if args.aws {
        shared::lambda::console_from_env().await?
    } else {
        let stack = LocalStack::open(dir, false)?;
        let stores = stack.stores();
        let poster = Arc::new(stack.poster(shared::poster::PosterSettings::default()));
        stack.console(stores, poster)
    };
    let tls = match args.tls.files() {
        Some((cert, key)) => Some(shared::serve::tls_acceptor(&cert, &key)?),
        None => None,
    };
    let secure = tls.is_some() || args.tls.behind_tls_proxy;
    // Behind a proxy every visitor arrives from loopback: a token is asked for all the same.
    let access = Access::new(!args.listen.ip().is_loopback() || args.tls.behind_tls_proxy, secure, tokens);
    let router = shared::console::router(Arc::new(console), Arc::new(access));
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("console on {scheme}://{}/console", listener.local_addr()?);
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    let limits = shared::serve::ServerLimits::default();
    shared::serve::serve_http_maybe_tls(
        listener,
        tls,
        router,
        limits,
        crate::pipeline::shutdown_signal(),
        Duration::from_secs(5),
    )
    .await;
    Ok(())
}
