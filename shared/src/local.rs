//! ml-connector on one machine: the embedded adapters in one directory (`mlc.sqlite3`,
//! `secrets.enc` and its key), the worker lock, the poster's drain loop, and `serve`, which runs
//! the webhook routes, the poll schedule and the poster workers in one process.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};

use anyhow::Context as _;
use chrono::Utc;
use tokio::sync::watch;

use crate::embedded::{Db, EmbeddedQueue, EmbeddedStore, EncryptedSecretsFile, Redrive, SecretsKey};
use crate::error::{Error, Result};
use crate::ports::*;
use crate::poster::{IncomingMessage, Poster, PosterDeps, PosterSettings, RecordOutcome};
use crate::stores::Stores;
use crate::stores::fetch::Fetcher;
use crate::stores::poll::Poller;
use crate::stores::webhook::StoreDeps;
use crate::stores::woocommerce::{PollSettings, WooConnector};

pub const DATABASE_FILE: &str = "mlc.sqlite3";
pub const SECRETS_FILE: &str = "secrets.enc";
pub const KEY_FILE: &str = "secrets.key";
const LOCK_FILE: &str = "worker.lock";
pub const QUEUE: &str = "records";
pub const DEAD_LETTER_QUEUE: &str = "records-dlq";
/// The fetch stage's queue, and where what it gave up on five times goes.
pub const FETCH_QUEUE: &str = "fetches";
pub const FETCH_DEAD_LETTER_QUEUE: &str = "fetches-dlq";
/// As the deployed queue's redrive policy.
pub const MAX_RECEIVES: u32 = 5;
/// How long a received message stays invisible; longer than a batch takes.
const VISIBILITY: Duration = Duration::from_secs(60);

/// The embedded adapters of one state directory.
#[derive(Clone)]
pub struct LocalStack {
    pub dir: PathBuf,
    /// The database under the store and the queues (for its commit counts).
    pub db: Db,
    pub store: Arc<EmbeddedStore>,
    pub queue: Arc<EmbeddedQueue>,
    pub dead_letters: Arc<EmbeddedQueue>,
    pub fetch_queue: Arc<EmbeddedQueue>,
    pub secrets: Arc<EncryptedSecretsFile>,
}

impl LocalStack {
    /// Opens the state in `dir`, creating it when `create` (and refusing a missing one otherwise,
    /// so a mistyped `--dir` is an error rather than a fresh, empty state).
    pub fn open(dir: &Path, create: bool) -> Result<LocalStack> {
        let file = dir.join(DATABASE_FILE);
        if !file.exists() {
            if !create {
                return Err(Error::bad_input(format!(
                    "no ml-connector state in {} (add a connection with `mlc connection add`, or point --dir at your state)",
                    dir.display()
                )));
            }
            // Customers' names, e-mails and addresses live here: the owner's alone.
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("creating {}", dir.display()))
                .map_err(Error::permanent)?;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&file)
                .with_context(|| format!("creating {}", file.display()))
                .map_err(Error::permanent)?;
        }
        restrict_to_owner(dir, 0o700)?;
        restrict_to_owner(&file, 0o600)?;
        let db = Db::open(&file)?;
        let (key_file, secrets_file) = (dir.join(KEY_FILE), dir.join(SECRETS_FILE));
        if secrets_file.exists() && !key_file.exists() && std::env::var_os(crate::embedded::KEY_ENV).is_none() {
            // A new key would make the stored secrets unreadable for good: never make one here.
            return Err(Error::bad_input(format!(
                "the secrets key {} is missing, but {} was encrypted with it; restore the key file from your backup \
                 (or give the key in {}); until then no connection can reach its store or Odoo",
                key_file.display(),
                secrets_file.display(),
                crate::embedded::KEY_ENV
            )));
        }
        let key = SecretsKey::from_env_or_file(&key_file)?;
        Ok(LocalStack {
            dir: dir.to_path_buf(),
            db: db.clone(),
            store: Arc::new(EmbeddedStore::new(db.clone())),
            queue: Arc::new(EmbeddedQueue::new(
                db.clone(),
                QUEUE,
                Some(Redrive { dead_letter_queue: DEAD_LETTER_QUEUE.into(), max_receive_count: MAX_RECEIVES }),
            )),
            dead_letters: Arc::new(EmbeddedQueue::new(db.clone(), DEAD_LETTER_QUEUE, None)),
            fetch_queue: Arc::new(EmbeddedQueue::new(
                db,
                FETCH_QUEUE,
                Some(Redrive { dead_letter_queue: FETCH_DEAD_LETTER_QUEUE.into(), max_receive_count: MAX_RECEIVES }),
            )),
            secrets: Arc::new(EncryptedSecretsFile::new(dir.join(SECRETS_FILE), &key)),
        })
    }

    /// Reads every connection's secrets once: a process that cannot would answer 503 to every
    /// webhook (and WooCommerce disables a webhook after a few), so it refuses to start instead.
    pub async fn check_secrets(&self) -> Result<()> {
        for connection in self.store.connections().await? {
            match self.secrets.get(&connection.id).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    tracing::warn!(connection = %connection.id, "no secrets stored: its webhooks will be refused")
                }
                Err(e) => {
                    return Err(Error::bad_input(format!(
                        "the secrets of connection {} cannot be read ({e}); is {} the key they were stored with? \
                         Restore the right key file (or {}), then start again",
                        connection.id,
                        self.dir.join(KEY_FILE).display(),
                        crate::embedded::KEY_ENV
                    )));
                }
            }
        }
        Ok(())
    }

    pub fn poster(&self, settings: PosterSettings) -> Poster {
        Poster::new(
            PosterDeps {
                connections: self.store.clone(),
                state: self.store.clone(),
                audit: self.store.clone(),
                failed: self.store.clone(),
                secrets: self.secrets.clone(),
            },
            settings,
        )
    }

    pub fn store_deps(&self) -> StoreDeps {
        StoreDeps {
            connections: self.store.clone(),
            secrets: self.secrets.clone(),
            queue: self.queue.clone(),
            fetch_queue: self.fetch_queue.clone(),
            audit: self.store.clone(),
            state: self.store.clone(),
        }
    }

    /// Every store on this state (the registry).
    pub fn stores(&self) -> Arc<Stores> {
        Arc::new(Stores::standard(self.store_deps()))
    }

    pub fn fetcher(&self) -> Fetcher {
        Fetcher::new(self.stores())
    }

    pub fn woocommerce(&self) -> WooConnector {
        WooConnector::new(self.store_deps())
    }

    /// Reads what webhooks referenced (the fetch stage), then posts everything queued.
    pub async fn drain_all(&self, poster: &Poster) -> Result<Vec<RecordOutcome>> {
        crate::stores::fetch::drain_fetches(self.fetch_queue.as_ref(), &self.fetcher()).await?;
        drain(self.queue.as_ref(), poster).await
    }

    /// Takes the machine's worker lock: one process at a time posts from this state. Holding
    /// it proves that no other worker is alive, so what a dead one left in flight (received
    /// messages, in-progress claims) is handed back at once instead of after its timeouts.
    /// `None` when another process (an `mlc serve`) holds it.
    pub async fn try_worker(&self) -> Result<Option<WorkerLock>> {
        let path = self.dir.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))
            .map_err(Error::permanent)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::permanent(anyhow::Error::new(e).context("locking the state")));
            }
        }
        let messages = self.queue.release_in_flight().await? + self.fetch_queue.release_in_flight().await?;
        let claims = self.store.expire_in_progress_claims().await?;
        if messages + claims > 0 {
            tracing::warn!(messages, claims, "an earlier worker stopped mid-batch; its records are taken up again");
        }
        Ok(Some(WorkerLock { _file: file, recovered_messages: messages, recovered_claims: claims }))
    }
}

/// Takes group and other permissions off `path` when it has any (state made by an older version).
fn restrict_to_owner(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta =
        std::fs::metadata(path).with_context(|| format!("reading {}", path.display())).map_err(Error::permanent)?;
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("restricting {}", path.display()))
            .map_err(Error::permanent)?;
        tracing::info!(path = %path.display(), "restricted to its owner");
    }
    Ok(())
}

/// Held while this process posts from the state; released when dropped (or when it dies).
pub struct WorkerLock {
    _file: std::fs::File,
    pub recovered_messages: u64,
    pub recovered_claims: u64,
}

/// Counts of what a drain did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DrainReport {
    pub posted: u64,
    pub duplicates: u64,
    pub skipped: u64,
    pub failed: u64,
    pub retry: u64,
    /// Why the last record to retry could not post (Odoo unreachable, say).
    pub last_retry: Option<String>,
}

impl DrainReport {
    pub fn of(outcomes: &[RecordOutcome]) -> DrainReport {
        let mut report = DrainReport::default();
        outcomes.iter().for_each(|o| report.add(o));
        report
    }

    pub fn add(&mut self, outcome: &RecordOutcome) {
        match outcome {
            RecordOutcome::Posted { .. } => self.posted += 1,
            RecordOutcome::Duplicate => self.duplicates += 1,
            RecordOutcome::Skipped(_) => self.skipped += 1,
            RecordOutcome::Parked(_) => self.failed += 1,
            RecordOutcome::Retry(why) => {
                self.retry += 1;
                self.last_retry = Some(why.clone());
            }
        }
    }
}

/// Receives one batch, posts it and deletes what is done. Returns the outcomes (empty when the
/// queue had nothing visible within `wait`). While the batch runs its messages' visibility is
/// extended, so a slow Odoo never gets the same records delivered to a second worker.
pub async fn post_one_batch(queue: &dyn QueueConsumer, poster: &Poster, wait: Duration) -> Result<Vec<RecordOutcome>> {
    let got = queue.receive(10, wait, VISIBILITY).await?;
    if got.is_empty() {
        return Ok(Vec::new());
    }
    let messages: Vec<IncomingMessage> = got.iter().map(IncomingMessage::from).collect();
    let heartbeat = async {
        let mut tick = tokio::time::interval(VISIBILITY / 3);
        tick.tick().await;
        loop {
            tick.tick().await;
            for m in &got {
                if let Err(e) = queue.extend_visibility(&m.receipt, VISIBILITY).await {
                    tracing::warn!(error = %e, "could not extend a message's visibility");
                }
            }
        }
    };
    // A panic in the batch (where panics unwind: in release builds they abort, and the worker
    // lock hands the batch back on restart) is reported, and the batch is visible again at once.
    let batch = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(poster.handle_batch(&messages)));
    let report = tokio::select! {
        report = batch => report,
        never = heartbeat => never,
    };
    let report = match report {
        Ok(report) => report,
        Err(_) => {
            for m in &got {
                let _ = queue.extend_visibility(&m.receipt, Duration::ZERO).await;
            }
            return Err(Error::permanent(anyhow::anyhow!(
                "a batch of {} message(s) panicked; they are queued again",
                got.len()
            )));
        }
    };
    let retry = report.failed_message_ids();
    for m in &got {
        if !retry.contains(&m.message_id) {
            queue.delete(&m.receipt).await?;
        }
    }
    Ok(report.outcomes.into_iter().map(|(_, o)| o).collect())
}

/// Posts until nothing is visible on the queue, or until a batch in which every record must
/// be retried (Odoo unreachable, say: trying the next batch would only wait as long again).
/// Messages to retry become visible again after the visibility timeout; a drain does not wait.
pub async fn drain(queue: &dyn QueueConsumer, poster: &Poster) -> Result<Vec<RecordOutcome>> {
    let mut all = Vec::new();
    loop {
        let batch = post_one_batch(queue, poster, Duration::from_millis(100)).await?;
        let stuck = batch.iter().all(|o| matches!(o, RecordOutcome::Retry(_)));
        let empty = batch.is_empty();
        all.extend(batch);
        if empty || stuck {
            return Ok(all);
        }
    }
}

/// How often `mlc serve` checks what alerts are due.
const ALERT_CHECKS: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct ServeSettings {
    pub listen: SocketAddr,
    /// How often every active connection is polled (`None`: never; webhooks only).
    pub poll_every: Option<Duration>,
    pub poll: PollSettings,
    /// Poster workers; 0 takes webhooks and polls only (another process posts).
    pub workers: usize,
    pub poster: PosterSettings,
    pub limits: crate::serve::ServerLimits,
    /// When yesterday's reconciliation is looked for first, and how often after that (`None`:
    /// never). Each connection's day is reconciled once.
    pub reconcile: Option<(Duration, Duration)>,
    /// Serve the console at `/console` beside the webhooks.
    pub console: bool,
    /// Certificate chain and private key (PEM) to serve https with.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// A TLS proxy in front serves https: the console's cookies are Secure.
    pub behind_tls_proxy: bool,
}

/// The console's tokens (hashes only), in the state directory.
pub const CONSOLE_TOKENS: &str = "console-tokens.json";

impl LocalStack {
    pub fn console_tokens(&self) -> crate::console::TokenFile {
        crate::console::TokenFile { path: self.dir.join(CONSOLE_TOKENS) }
    }

    /// Reconciliation on this machine's state; gaps are announced to connections' alert webhooks.
    pub fn reconciler(&self, stores: Arc<Stores>) -> crate::reconcile::Reconciler {
        let alerts = Arc::new(crate::alerts::WebhookAlerts { timeout: Duration::from_secs(10) });
        crate::reconcile::Reconciler::on(&self.store_deps(), stores, alerts)
    }

    /// The console on this machine's state: settings can be changed here.
    pub fn console(&self, stores: Arc<Stores>, poster: Arc<Poster>) -> crate::console::Console {
        crate::console::Console {
            connections: self.store.clone(),
            failed: self.store.clone(),
            audit: self.store.clone(),
            state: self.store.clone(),
            secrets: self.secrets.clone(),
            queue: self.queue.clone(),
            queue_depth: self.queue.clone(),
            dead_letters: self.dead_letters.clone(),
            reconciler: Arc::new(self.reconciler(stores.clone())),
            stores,
            poster,
            editable: true,
        }
    }
}

/// Runs poster worker `n` until `stop`; when it fails (a panic, where panics unwind) it is
/// reported and replaced. Counts go to `counts` batch by batch, so none are lost with a worker.
/// What it held stays on the queue and is delivered again after the visibility timeout.
async fn supervise_worker(
    n: usize,
    queue: Arc<EmbeddedQueue>,
    poster: Arc<Poster>,
    stop: watch::Receiver<bool>,
    counts: Arc<std::sync::Mutex<DrainReport>>,
) {
    let mut restarts = 0u32;
    while !*stop.borrow() {
        let (queue, poster, stop, counts) = (queue.clone(), poster.clone(), stop.clone(), counts.clone());
        let worker = tokio::spawn(async move {
            while !*stop.borrow() {
                match post_one_batch(queue.as_ref(), &poster, Duration::from_millis(250)).await {
                    Ok(outcomes) => {
                        let mut counts = counts.lock().unwrap_or_else(|p| p.into_inner());
                        outcomes.iter().for_each(|o| counts.add(o));
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "a poster batch failed; the worker goes on");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        });
        match worker.await {
            Ok(()) => return,
            Err(e) => {
                restarts += 1;
                tracing::error!(worker = n, restarts, error = %e, "a poster worker failed; its batch stays queued and a new worker takes over");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(restarts.min(25)))).await;
            }
        }
    }
}

/// The fetch stage in `mlc serve`: reads what webhooks referenced until `stop`.
/// A batch in hand at shutdown is dropped: its messages stay on the queue, and reading a record
/// again is harmless (what it queues is deduplicated by content).
async fn run_fetcher(queue: Arc<EmbeddedQueue>, fetcher: Fetcher, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        let batch = crate::stores::fetch::fetch_one_batch(queue.as_ref(), &fetcher, Duration::from_millis(250));
        let stopped = async { stop.wait_for(|s| *s).await.is_ok() };
        let result = tokio::select! {
            result = batch => result,
            _ = stopped => return,
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "a fetch batch failed; the fetch stage goes on");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// What `serve` did, for its last words.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ServeReport {
    pub posted: DrainReport,
    pub polls: u64,
    pub recovered_messages: u64,
}

/// Runs the webhook routes, the poll schedule and the poster workers until `shutdown`
/// resolves, then stops in order: no new connections, in-flight requests answered (each
/// accepted delivery is already durably queued), each worker's batch finished. Whatever is
/// still queued stays in SQLite for the next start. `ready` gets the bound address.
pub async fn serve(
    stack: LocalStack,
    settings: ServeSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
    ready: impl FnOnce(SocketAddr),
) -> Result<ServeReport> {
    stack.check_secrets().await?;
    let lock = stack.try_worker().await?.ok_or_else(|| {
        Error::bad_input(format!(
            "another mlc process is already posting from {} (is `mlc serve` running?)",
            stack.dir.display()
        ))
    })?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("listening on {}", settings.listen))
        .map_err(Error::permanent)?;
    let addr = listener.local_addr().map_err(|e| Error::permanent(anyhow::Error::new(e)))?;
    let stores = stack.stores();
    let poster = Arc::new(stack.poster(settings.poster.clone()));
    let (stop_tx, stop_rx) = watch::channel(false);

    let http_stop = {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let tls = match &settings.tls {
        Some((cert, key)) => Some(crate::serve::tls_acceptor(cert, key)?),
        None => None,
    };
    let mut router = crate::serve::stores_router(stores.clone(), settings.limits);
    if settings.console {
        // Behind a proxy every visitor arrives from loopback: a token is asked for all the same.
        let access = crate::console::Access::new(
            !settings.listen.ip().is_loopback() || settings.behind_tls_proxy,
            tls.is_some() || settings.behind_tls_proxy,
            stack.console_tokens(),
        );
        let console = stack.console(stores.clone(), poster.clone());
        router = router.merge(crate::console::router(Arc::new(console), Arc::new(access)));
    }
    let http = tokio::spawn(crate::serve::serve_http_maybe_tls(
        listener,
        tls,
        router,
        settings.limits,
        http_stop,
        settings.limits.body_timeout,
    ));
    let fetcher = tokio::spawn(run_fetcher(stack.fetch_queue.clone(), Fetcher::new(stores.clone()), stop_rx.clone()));

    let counts = Arc::new(std::sync::Mutex::new(DrainReport::default()));
    let mut workers = Vec::new();
    for n in 0..settings.workers {
        workers.push(tokio::spawn(supervise_worker(
            n,
            stack.queue.clone(),
            poster.clone(),
            stop_rx.clone(),
            counts.clone(),
        )));
    }

    let poller = settings.poll_every.map(|every| {
        let (stores, mut stop, poll) = (stores.clone(), stop_rx.clone(), settings.poll.clone());
        tokio::spawn(async move {
            let mut polls = 0u64;
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let poller = Poller::new(stores.pipeline.clone());
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.wait_for(|s| *s) => return polls,
                }
                // A poll is not cut off by shutdown: its watermark only moves after its records are queued.
                for store in stores.all() {
                    match poller.poll_scheduled(store.poll(), &serde_json::json!({}), &poll, Utc::now()).await {
                        Ok(report) => tracing::info!(store = store.webhook().name(), %report, "polled"),
                        Err(e) => {
                            tracing::warn!(error = %e, "poll failed; the next one starts from the same watermark")
                        }
                    }
                }
                polls += 1;
            }
        })
    });

    // Alerts: failures per reason and missed polls checked every minute, for connections with alerts.
    let alerts: Arc<dyn crate::alerts::AlertSink> =
        Arc::new(crate::alerts::WebhookAlerts { timeout: Duration::from_secs(10) });
    let alerter = {
        let alerter = crate::alerts::Alerter {
            connections: stack.store.clone(),
            failed: stack.store.clone(),
            state: stack.store.clone(),
            sink: alerts.clone(),
        };
        let (mut stop, every) = (stop_rx.clone(), settings.poll_every);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(ALERT_CHECKS);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                let every = every.and_then(|e| chrono::Duration::from_std(e).ok());
                match alerter.check(Utc::now(), every).await {
                    Ok(sent) => sent.iter().for_each(
                        |a| tracing::warn!(connection = %a.connection, kind = a.kind, "alert sent: {}", a.summary),
                    ),
                    Err(e) => {
                        tracing::warn!(error = %e, "alerts could not be checked or sent; tried again in a minute")
                    }
                }
            }
        })
    };
    let reconciler = settings.reconcile.map(|(first, every)| {
        let reconciler = stack.reconciler(stores.clone());
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + first, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                match reconciler.reconcile_due(Utc::now()).await {
                    Ok(done) if !done.is_empty() => {
                        tracing::info!(connections = %done.join(","), "reconciled yesterday")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "the daily reconciliation could not start"),
                }
            }
        })
    });

    ready(addr);
    shutdown.await;
    tracing::info!("shutting down: finishing accepted requests and the batches in hand");
    let _ = stop_tx.send(true);
    let _ = http.await;
    let _ = fetcher.await;
    for w in workers {
        let _ = w.await;
    }
    let posted = counts.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut report = ServeReport { recovered_messages: lock.recovered_messages, posted, ..ServeReport::default() };
    if let Some(p) = poller {
        report.polls = p.await.unwrap_or_default();
    }
    if let Some(r) = reconciler {
        let _ = r.await;
    }
    let _ = alerter.await;
    drop(lock);
    Ok(report)
}
