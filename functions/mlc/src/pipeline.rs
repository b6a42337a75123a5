//! `mlc serve`, `mlc sync`, `mlc backfill` and `mlc preview`: the Lambdas' handlers, on one machine.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};
use shared::local::{self, DrainReport, LocalStack, ServeSettings};
use shared::poster::PosterSettings;
use shared::poster::plan::LineKind;
use shared::stores::poll::{PollSettings, Poller};

use crate::connection::pick;
use crate::output;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address for the webhook routes (the same paths as API Gateway's).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Poll every active connection this often, in seconds (0: webhooks only).
    #[arg(long, default_value_t = 300)]
    poll_every: u64,
    /// Poster workers (0: take webhooks and poll only, and leave posting to another process).
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Connections served at once; more wait in the listen backlog (idle ones are closed after
    /// 10 s without a complete request head).
    #[arg(long, default_value_t = 4096)]
    max_connections: usize,
    /// Do not reconcile yesterday's books once a day (`mlc reconcile` still does on demand).
    #[arg(long)]
    no_reconcile: bool,
    /// Do not serve the console at /console.
    #[arg(long)]
    no_console: bool,
    #[command(flatten)]
    tls: crate::console::TlsArgs,
}

pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("a SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

pub async fn serve(dir: &Path, args: ServeArgs, poster: PosterSettings, json: bool) -> Result<()> {
    let stack = LocalStack::open(dir, false)?;
    let settings = ServeSettings {
        listen: args.listen,
        poll_every: (args.poll_every > 0).then(|| Duration::from_secs(args.poll_every)),
        poll: PollSettings::default(),
        workers: args.workers,
        poster,
        limits: shared::serve::ServerLimits { max_connections: args.max_connections, ..Default::default() },
        // Yesterday's books, checked ten minutes after start and every hour: each day once.
        reconcile: (!args.no_reconcile).then(|| (Duration::from_secs(600), Duration::from_secs(3600))),
        console: !args.no_console,
        tls: args.tls.files(),
        behind_tls_proxy: args.tls.behind_tls_proxy,
    };
    let console = !args.no_console;
    let scheme = if args.tls.files().is_some() { "https" } else { "http" };
    let report = local::serve(stack, settings, shutdown_signal(), |addr| {
        // Printed first and flushed: scripts (and the tests) read the address from it.
        println!("listening on {scheme}://{addr}  (webhooks: POST /webhooks/woocommerce/<connection>)");
        if console {
            println!("console on {scheme}://{addr}/console");
        }
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
    })
    .await?;
    if json {
        return output::json(&report);
    }
    let p = &report.posted;
    println!(
        "stopped: {} posted, {} duplicates, {} skipped, {} failed, {} to retry (still queued); {} polls",
        p.posted, p.duplicates, p.skipped, p.failed, p.retry, report.polls
    );
    Ok(())
}

/// `sync` (`from` = None) and `backfill --from DATE`.
/// What a backfill reads: from a day, to a day (included) or now, in windows of some hours.
pub struct Range<'a> {
    pub from: &'a str,
    pub to: Option<&'a str>,
    pub window_hours: u32,
}

fn day(flag: &str, text: &str) -> Result<chrono::NaiveDate> {
    Ok(chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| shared::Error::bad_input(format!("{flag} {text:?} is not a YYYY-MM-DD date")))?)
}

pub async fn sync(
    dir: &Path,
    name: Option<&str>,
    range: Option<Range<'_>>,
    queue_only: bool,
    poster: PosterSettings,
    json: bool,
) -> Result<()> {
    let stack = LocalStack::open(dir, false)?;
    let connection = pick(&stack, name).await?;
    let mut settings = PollSettings::default();
    let mut until = Utc::now();
    let from = range.as_ref().map(|r| r.from);
    if let Some(r) = &range {
        let start = day("--from", r.from)?;
        settings.start = start.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
        settings.window = chrono::Duration::hours(i64::from(r.window_hours));
        // Each range keeps its own marks, so a backfill of another range starts afresh.
        settings.backfill = Some(start.to_string());
        if let Some(to) = r.to {
            let end = day("--to", to)?;
            if end < start {
                return Err(shared::Error::bad_input(format!("--to {to} is before --from {}", r.from)).into());
            }
            let end = (end + chrono::Duration::days(1)).and_hms_opt(0, 0, 0).expect("midnight").and_utc();
            until = until.min(end);
            settings.backfill = Some(format!("{start}..{}", end.date_naive()));
        }
    }
    let stores = stack.stores();
    let store = stores.for_connection(&connection)?;
    let bar = if json || from.is_none() { ProgressBar::hidden() } else { ProgressBar::new(0) };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix:9} [{bar:30}] {percent:>3}%  {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let started = std::time::Instant::now();
    let report = Poller::new(stores.pipeline.clone())
        .poll(store.poll(), &connection, &settings, until, &|p| {
            bar.set_length(p.span as u64);
            bar.set_position(p.covered.max(0) as u64);
            bar.set_prefix(p.stream.split_once(':').map_or(p.stream, |(_, s)| s).to_string());
            bar.set_message(format!(
                "{} orders, {} customers, {} pages",
                p.report.orders, p.report.customers, p.report.pages
            ));
        })
        .await;
    bar.finish_and_clear();
    let report = report.map_err(|e| {
        let resume = from
            .map(|f| format!(" (run `mlc backfill --from {f}` again to resume where it stopped)"))
            .unwrap_or_default();
        anyhow::Error::new(e).context(format!("reading the store{resume}"))
    })?;
    // Post what was queued, unless `mlc serve` holds the worker lock (then it posts them).
    let worker = if queue_only { None } else { stack.try_worker().await? };
    let posted = match worker {
        Some(_lock) => {
            let poster = stack.poster(poster);
            Some(DrainReport::of(&stack.drain_all(&poster).await?))
        }
        None => None,
    };
    if json {
        output::json(
            &serde_json::json!({ "poll": report, "posted": posted, "seconds": started.elapsed().as_secs_f64() }),
        )?;
    } else {
        println!(
            "read {} orders and {} customers in {} window(s), {} page(s); {} records queued",
            report.orders, report.customers, report.windows, report.pages, report.records_queued
        );
        match &posted {
            Some(p) => {
                println!(
                    "posted {}, already there {}, skipped {}, failed {}, to retry {}",
                    p.posted, p.duplicates, p.skipped, p.failed, p.retry
                );
                if p.failed > 0 {
                    println!("see why with `mlc failed list`; fix the rule, then `mlc replay --all`");
                }
            }
            None if queue_only => println!("left on the queue (--queue-only): `mlc serve` or `mlc sync` posts them"),
            None => println!("`mlc serve` is running on this state and posts them"),
        }
    }
    posting_verdict(posted.as_ref())
}

/// A sync that could not post everything does not exit 0: 5 when records wait for a system that
/// could not be reached (they stay queued; run it again), 1 when records failed.
fn posting_verdict(posted: Option<&DrainReport>) -> Result<()> {
    let Some(p) = posted else { return Ok(()) };
    if p.retry > 0 {
        let why = p.last_retry.as_deref().unwrap_or("unknown");
        return Err(shared::Error::retryable(anyhow::anyhow!(
            "{} record(s) could not be posted now and stay queued (the last error: {why}); run `mlc sync` again later",
            p.retry
        ))
        .into());
    }
    if p.failed > 0 {
        return Err(shared::Error::permanent(anyhow::anyhow!(
            "{} record(s) failed; `mlc failed list` says why",
            p.failed
        ))
        .into());
    }
    Ok(())
}

pub async fn preview(dir: &Path, name: Option<&str>, order: &str, json: bool) -> Result<()> {
    let stack = LocalStack::open(dir, false)?;
    let connection = pick(&stack, name).await?;
    let stores = stack.stores();
    let (_, document) = shared::lookup::previewed_document(&stores, &connection)?;
    let poster = stack.poster(PosterSettings::default());
    let preview = shared::lookup::preview(&stores, &poster, &connection, order).await?;
    if json {
        return output::json(&preview);
    }
    if let Some(sale) = &preview.sale_order {
        println!(
            "Preview of order {order} on {} in sale-order mode (mapping rules v{}); nothing is written to Odoo\n",
            connection.id, preview.rules_version
        );
        print_sale_order(&preview, sale);
        return Ok(());
    }
    let plan = &preview.plan;
    let what = match plan.move_type {
        "out_invoice" => "customer invoice",
        "out_refund" => "credit note",
        _ => "journal entry",
    };
    println!(
        "Preview of {document} {order} on {} (mapping rules v{}); nothing is written to Odoo\n",
        connection.id, preview.rules_version
    );
    let rows: Vec<Vec<String>> = plan
        .lines
        .iter()
        .map(|l| {
            let why = l.reason();
            vec![
                l.name.clone(),
                l.account_code.clone(),
                cost_centers(&l.analytic),
                tax_ids(&l.tax_ids),
                format!("{}", l.quantity.normalize()),
                format!("{}", l.amount),
                why,
            ]
        })
        .collect();
    output::table(&["LINE", "ACCOUNT", "COST CENTERS (id:%)", "TAX IDS", "QTY", "NET", "WHY"], &rows);
    let net: rust_decimal::Decimal =
        plan.lines.iter().filter(|l| !matches!(l.kind, LineKind::Tax | LineKind::Receivable)).map(|l| l.amount).sum();
    println!(
        "\nnet {net}; tax {}; total in Odoo {} = store total {}{}",
        plan.expected_total - net,
        plan.expected_total,
        plan.store_total,
        if plan.rounding.is_zero() { String::new() } else { format!(" (rounding line {})", plan.rounding) }
    );
    let status = if preview.posts {
        format!("status {} posts: a {} {}", preview.status, if preview.post { "posted" } else { "draft" }, what)
    } else {
        format!("status {} does not post (posting.post_statuses in the rules says which do)", preview.status)
    };
    println!("{status}");
    if let Some(existing) = preview.already_in_odoo {
        println!("already in Odoo as {existing}: posting again would only apply a change");
    }
    Ok(())
}

/// A line's cost centers as `id:percent`, `-` for none.
fn cost_centers(analytic: &std::collections::BTreeMap<String, rust_decimal::Decimal>) -> String {
    let shares: Vec<String> = analytic.iter().map(|(id, pct)| format!("{id}:{}%", pct.normalize())).collect();
    if shares.is_empty() { "-".into() } else { shares.join(" ") }
}

fn tax_ids(ids: &[i64]) -> String {
    if ids.is_empty() { "-".into() } else { ids.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(",") }
}

/// The sale order an order would become, line by line, and what happens to it after.
fn print_sale_order(preview: &shared::poster::Preview, sale: &shared::poster::sale_plan::SalePlan) {
    let rows: Vec<Vec<String>> = sale
        .lines
        .iter()
        .map(|l| {
            let why = match (&l.decision, l.kind) {
                (Some(d), _) => format!("rule {:?}: {}", d.rule_name, d.reason),
                (None, LineKind::Shipping) => "sales.shipping_methods".into(),
                (None, LineKind::Fee) => "sales.fee_product".into(),
                (None, LineKind::Rounding) => "sales.rounding_product (store total differs by rounding)".into(),
                (None, _) => String::new(),
            };
            vec![
                l.name.clone(),
                l.product.clone(),
                cost_centers(&l.analytic),
                tax_ids(&l.tax_ids),
                format!("{}", l.quantity.normalize()),
                format!("{}", l.price_unit),
                format!("{}", l.amount),
                why,
            ]
        })
        .collect();
    output::table(&["LINE", "PRODUCT", "COST CENTERS (id:%)", "TAX IDS", "QTY", "UNIT", "NET", "WHY"], &rows);
    println!(
        "\nsale order total in Odoo {} = store total {}{}",
        sale.expected_total,
        sale.store_total,
        if sale.rounding.is_zero() { String::new() } else { format!(" (rounding line {})", sale.rounding) }
    );
    let state = if sale.confirm { "confirmed" } else { "left a quotation" };
    let method = sale.payment.method.as_deref().unwrap_or("none");
    let then = match (&sale.payment.journal, sale.payment.online, sale.confirm) {
        (Some(journal), true, true) => {
            format!("paid online ({method}): invoiced, posted and paid in journal {journal}")
        }
        (_, true, false) => format!("paid online ({method}): invoiced once it is confirmed in Odoo"),
        _ => format!("paid offline ({method}): invoiced later in Odoo"),
    };
    if preview.posts {
        println!("status {} syncs: a sale order {state}; {then}", preview.status);
    } else {
        println!("status {} does not sync (posting.post_statuses in the rules says which do)", preview.status);
    }
    if let Some(existing) = &preview.already_in_odoo {
        println!("already in Odoo as {existing}");
    }
}

/// `mlc reconcile`: the period's store documents against Odoo, the gaps printed with both
/// figures, the missing ones sent again and posted (unless `list_only`).
pub async fn reconcile(
    dir: &Path,
    name: Option<&str>,
    from: &str,
    to: &str,
    list_only: bool,
    poster: PosterSettings,
    json: bool,
) -> Result<()> {
    let stack = LocalStack::open(dir, false)?;
    let connection = pick(&stack, name).await?;
    let start = day("--from", from)?;
    let end = day("--to", to)?;
    if end < start {
        return Err(shared::Error::bad_input(format!("--to {to} is before --from {from}")).into());
    }
    let reconciler = stack.reconciler(stack.stores());
    let (from, to) = (
        start.and_hms_opt(0, 0, 0).expect("midnight").and_utc(),
        (end + chrono::Duration::days(1)).and_hms_opt(0, 0, 0).expect("midnight").and_utc(),
    );
    let report = reconciler.run(&connection, from, to, !list_only && !connection.reconcile_list_only).await?;
    // What was sent again is posted now, as `mlc sync` would (or by `mlc serve`, if it runs).
    let worker = if report.backfilled > 0 { stack.try_worker().await? } else { None };
    let posted = match worker {
        Some(_lock) => Some(DrainReport::of(&stack.drain_all(&stack.poster(poster)).await?)),
        None => None,
    };
    if json {
        output::json(&serde_json::json!({ "reconciliation": report, "posted": posted }))?;
        return reconcile_verdict(&report, posted.as_ref());
    }
    println!(
        "reconciled {} .. {} on {}: {} store documents in posting statuses, {} Odoo documents of the period",
        start, end, connection.id, report.store_documents, report.odoo_documents
    );
    let rows: Vec<Vec<String>> = report
        .discrepancies
        .iter()
        .map(|d| {
            let odoo: Vec<String> = d.odoo.iter().map(|o| format!("{} {}", o.name, o.total)).collect();
            vec![
                d.gap.as_str().to_string(),
                format!("{} {}", d.kind, d.source_id),
                d.store_total.map(|t| t.to_string()).unwrap_or_else(|| "-".into()),
                if odoo.is_empty() { "-".into() } else { odoo.join(", ") },
                if d.backfilled {
                    "sent again".into()
                } else if d.gap == shared::reconcile::Gap::MissingInOdoo {
                    "listed".into()
                } else {
                    "for review".into()
                },
            ]
        })
        .collect();
    if rows.is_empty() {
        println!("the books are complete: every document once, at the store's amount");
    } else {
        println!();
        output::table(&["GAP", "DOCUMENT", "STORE", "ODOO", "DONE"], &rows);
    }
    println!("\n{} store request(s), {} Odoo request(s)", report.store_requests, report.odoo_requests);
    if let Some(p) = &posted {
        println!("sent again {}: posted {}, failed {}, to retry {}", report.backfilled, p.posted, p.failed, p.retry);
    }
    reconcile_verdict(&report, posted.as_ref())
}

/// 0 when the books are complete (or what was missing is now posted), 3 when documents wait for
/// review (twice, another amount, not in the store, or missing and only listed).
fn reconcile_verdict(report: &shared::reconcile::ReconcileReport, posted: Option<&DrainReport>) -> Result<()> {
    posting_verdict(posted)?;
    let review = report.discrepancies.iter().filter(|d| !d.backfilled).count();
    if review > 0 {
        return Err(crate::ProblemsFound(format!("{review} document(s) to review (see the table above)")).into());
    }
    Ok(())
}
