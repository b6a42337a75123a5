//! The chaos suite: duplicates, reordering and faults, with the exactly-once claims checked on
//! the Odoo side. CI runs it small; `MLC_CHAOS_SCALE=full` runs the issue's full scale (2,000
//! orders on the embedded family; the AWS family runs a tenth of that, since moto keeps every
//! item of every test in one Python process):
//!
//!     MLC_CHAOS_SCALE=full scripts/test -p blackbox --test chaos      (or cargo test with moto up)

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use blackbox::Family;
use blackbox::harness::Harness;
use blackbox::webhooks::WebhookServer;
use chrono::{Duration as Span, Utc};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use shared::http::RetryPolicy;
use shared::odoo::Val;
use shared::ports::*;
use shared::poster::{IncomingMessage, Poster, PosterDeps, PosterSettings};
use shared::stores::woocommerce::{PollSettings, WooConnector};
use woo_sandbox::{SandboxStore, StoreOptions};

fn scale() -> usize {
    match std::env::var("MLC_CHAOS_SCALE").as_deref() {
        Ok("full") => 2000,
        Ok("") | Err(_) => 200,
        Ok(other) => other.parse().unwrap_or_else(|_| panic!("MLC_CHAOS_SCALE is `full` or a number, not {other:?}")),
    }
}

struct Setup {
    h: Harness,
    store: Arc<SandboxStore>,
    connector: Arc<WooConnector>,
    hooks: WebhookServer,
    connection: Connection,
}

impl Setup {
    async fn start(family: Family) -> Setup {
        Self::start_with(family, blackbox::harness::store_rules()).await
    }

    async fn start_with(family: Family, rules: serde_json::Value) -> Setup {
        let h = Harness::start_with(family, rules).await;
        let store = Arc::new(SandboxStore::start(StoreOptions::default()).await.unwrap());
        h.attach_store(&store).await;
        let mut connector = h.connector();
        connector.retry =
            RetryPolicy { attempts: 5, base_delay: Duration::from_millis(10), max_delay: Duration::from_millis(200) };
        let connector = Arc::new(connector);
        let hooks = WebhookServer::start(connector.clone()).await;
        let connection = h.family.connections().connection(&h.connection).await.unwrap().unwrap();
        Setup { h, store, connector, hooks, connection }
    }

    fn hook(&self) -> String {
        format!("{}/webhooks/woocommerce/{}", self.hooks.url, self.h.connection)
    }

    /// What builds a fresh poster (a new container) on this setup's state, for worker tasks.
    fn poster_factory(&self, settings: PosterSettings) -> impl Fn() -> Poster + Send + Sync + 'static {
        let f = &self.h.family;
        let deps = (f.connections(), f.state(), f.audit(), f.failed(), f.secrets());
        move || {
            Poster::new(
                PosterDeps {
                    connections: deps.0.clone(),
                    state: deps.1.clone(),
                    audit: deps.2.clone(),
                    failed: deps.3.clone(),
                    secrets: deps.4.clone(),
                },
                settings.clone(),
            )
        }
    }

    /// A poster as a new container builds it, with Odoo's timeout and retries as given.
    fn poster(&self, settings: PosterSettings) -> Poster {
        let f = &self.h.family;
        Poster::new(
            PosterDeps {
                connections: f.connections(),
                state: f.state(),
                audit: f.audit(),
                failed: f.failed(),
                secrets: f.secrets(),
            },
            settings,
        )
    }

    /// Customer invoices by store order id: (count, amounts).
    fn invoices(&self) -> BTreeMap<i64, Vec<Decimal>> {
        let odoo = &self.h.odoo;
        let ids = odoo.search(
            "account.move",
            Val::list([Val::list([Val::from("move_type"), Val::from("="), Val::from("out_invoice")])]),
        );
        let mut out: BTreeMap<i64, Vec<Decimal>> = BTreeMap::new();
        for row in odoo.read("account.move", &ids, &["invoice_origin", "amount_total"]) {
            let origin = row.get("invoice_origin").and_then(Val::as_str).unwrap_or_default();
            let order: i64 = origin
                .split(':')
                .nth(3)
                .and_then(|id| id.parse().ok())
                .unwrap_or_else(|| panic!("a move without a marker: {origin}"));
            out.entry(order).or_default().push(row.get("amount_total").and_then(Val::as_decimal).unwrap());
        }
        out
    }

    /// Exactly one invoice per order, each for the store's total; one partner per customer.
    fn assert_exactly_once(&self, orders: &[i64], customers: &[i64]) {
        let invoices = self.invoices();
        let missing: Vec<&i64> = orders.iter().filter(|o| !invoices.contains_key(o)).collect();
        assert!(missing.is_empty(), "{} orders lost: {missing:?}", missing.len());
        let twice: Vec<(&i64, usize)> =
            invoices.iter().filter(|(_, v)| v.len() != 1).map(|(k, v)| (k, v.len())).collect();
        assert!(twice.is_empty(), "orders invoiced more than once: {twice:?}");
        assert_eq!(invoices.len(), orders.len(), "invoices for orders that do not exist");
        for o in orders {
            let store_total: Decimal = self.store.order(*o)["total"].as_str().unwrap().parse().unwrap();
            assert_eq!(invoices[o][0], store_total, "order {o}: Odoo's total differs from the store's");
        }
        for c in customers {
            let partners = self.h.odoo.search(
                "res.partner",
                Val::list([
                    Val::list([Val::from("ref"), Val::from("="), Val::Str(c.to_string())]),
                    Val::list([Val::from("parent_id"), Val::from("="), Val::Bool(false)]),
                ]),
            );
            assert_eq!(partners.len(), 1, "customer {c} is {} partners in Odoo", partners.len());
        }
    }
}

/// Receives and posts until the queue stays empty for `quiet`; a batch that crashes (the test
/// hook) leaves its messages unacknowledged, as a dead process would.
async fn drain_until_quiet(
    queue: &dyn blackbox::Queue,
    mut poster: Poster,
    make: impl Fn() -> Poster,
    quiet: Duration,
    crash_every: Option<u32>,
    rng: &Mutex<rand::rngs::StdRng>,
) -> u32 {
    let mut crashes = 0;
    // A crash stays armed until a batch reaches Odoo's create (one failing earlier, on an Odoo
    // fault, does not use it up), and the first batch arms one: every run kills a poster.
    let mut armed = crash_every.is_some();
    let mut idle_since = Instant::now();
    loop {
        let got = queue.receive(10, Duration::from_millis(50), Duration::from_secs(2)).await.unwrap();
        if got.is_empty() {
            if idle_since.elapsed() > quiet {
                return crashes;
            }
            continue;
        }
        idle_since = Instant::now();
        armed |= crash_every.is_some_and(|n| rng.lock().unwrap().random_range(0..n) == 0);
        if armed {
            poster.crash_after_next_create();
        }
        let messages: Vec<IncomingMessage> = got.iter().map(IncomingMessage::from).collect();
        let report = poster.handle_batch(&messages).await;
        if armed
            && report
                .outcomes
                .iter()
                .any(|(_, o)| matches!(o, shared::poster::RecordOutcome::Retry(r) if r.contains("died")))
        {
            // The process is gone: nothing acknowledged, a fresh container takes over.
            crashes += 1;
            armed = false;
            poster = make();
            continue;
        }
        let retry = report.failed_message_ids();
        for m in &got {
            if !retry.contains(&m.message_id) {
                queue.delete(&m.receipt).await.unwrap();
            }
        }
    }
}

fn settings(timeout: Duration) -> PosterSettings {
    PosterSettings {
        claim_for: Duration::from_secs(1),
        keep_outcome_for: None,
        odoo_retry: RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
        },
        odoo_timeout: timeout,
        max_receives: blackbox::harness::MAX_RECEIVES,
    }
}

/// 30% duplicate deliveries, shuffled, webhooks racing two posters and overlapping polls.
async fn duplicates_reordering_and_poller_overlap(family: Family, n: usize) {
    let s = Setup::start(family).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261123);
    let t0 = Utc::now() - Span::hours(30);
    let customers: Vec<i64> = (0..(n / 10).max(3) as i64).map(|i| 500 + i).collect();
    for c in &customers {
        s.store.add_customer(*c, &format!("c{c}@example.com"), "Cust", &format!("{c}"), t0);
    }
    let mut orders = Vec::new();
    let mut deliveries: Vec<(serde_json::Value, String)> = Vec::new();
    for i in 0..n as i64 {
        let id = 10_000 + i;
        let customer = if rng.random_range(0..5) == 0 { 0 } else { customers[rng.random_range(0..customers.len())] };
        let order = s.store.add_order(id, customer, "processing", t0 + Span::seconds(i * 50));
        orders.push(id);
        deliveries.push((order.clone(), format!("d-{id}")));
        if rng.random_range(0..10) < 3 {
            // Half repeat the delivery id (a proxy's retry), half are a new delivery of the same order.
            let again = if rng.random_bool(0.5) { format!("d-{id}") } else { format!("d-{id}-again") };
            deliveries.push((order, again));
        }
    }
    deliveries.shuffle(&mut rng);
    let deliveries = Arc::new(Mutex::new(deliveries));
    let delivered = Arc::new(std::sync::atomic::AtomicBool::new(false));

    let mut senders = Vec::new();
    for _ in 0..8 {
        let (store, queue, hook) = (s.store.clone(), deliveries.clone(), s.hook());
        senders.push(tokio::spawn(async move {
            loop {
                let next = queue.lock().unwrap().pop();
                let Some((order, delivery)) = next else { return };
                assert_eq!(store.deliver(&hook, "order.created", &order, &delivery).await, 200);
            }
        }));
    }
    let poller = {
        let (connector, connection) = (s.connector.clone(), s.connection.clone());
        let settings = PollSettings {
            start: t0 - Span::hours(1),
            window: Span::hours(3),
            overlap: Span::minutes(30),
            backfill: None,
            ..Default::default()
        };
        tokio::spawn(async move {
            for _ in 0..3 {
                connector.poll(&connection, &settings, Utc::now()).await.unwrap();
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let crash_rng = Mutex::new(rand::rngs::StdRng::seed_from_u64(1));
    let crash_rng = Arc::new(crash_rng);
    let mut posters = Vec::new();
    for _ in 0..2 {
        let (queue, settings_, rng) = (s.h.queue.clone(), settings(Duration::from_secs(10)), crash_rng.clone());
        let make = s.poster_factory(settings_);
        let done = delivered.clone();
        posters.push(tokio::spawn(async move {
            loop {
                drain_until_quiet(queue.as_ref(), make(), &make, Duration::from_millis(300), None, &rng).await;
                if done.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
            }
        }));
    }
    for t in senders {
        t.await.unwrap();
    }
    poller.await.unwrap();
    delivered.store(true, std::sync::atomic::Ordering::SeqCst);
    for p in posters {
        p.await.unwrap();
    }
    assert_eq!(s.h.queue.approximate_depth().await.unwrap(), 0);
    let failed = s.h.family.failed().failed(&s.h.connection).await.unwrap();
    assert!(failed.is_empty(), "{:?}", failed.iter().map(|f| (&f.source_id, &f.reason)).collect::<Vec<_>>());
    s.assert_exactly_once(&orders, &customers);
}

/// Odoo fails 20% of calls (503, 502, serialization failures, answers lost after commit) and
/// posters die between Odoo's create and the link; after draining, the DLQ's redrive and replay:
/// nothing twice, nothing lost.
async fn odoo_faults_and_posters_killed_between_create_and_link(family: Family, n: usize) {
    let s = Setup::start(family).await;
    let t0 = Utc::now() - Span::hours(10);
    let customers: Vec<i64> = (0..(n / 10).max(3) as i64).map(|i| 700 + i).collect();
    for c in &customers {
        s.store.add_customer(*c, &format!("c{c}@example.com"), "Cust", &format!("{c}"), t0);
    }
    let orders: Vec<i64> = (0..n as i64).map(|i| 20_000 + i).collect();
    for (i, id) in orders.iter().enumerate() {
        s.store.add_order(*id, customers[i % customers.len()], "processing", t0 + Span::seconds(i as i64 * 10));
    }
    let settings_poll = PollSettings {
        start: t0 - Span::hours(1),
        window: Span::hours(12),
        overlap: Span::minutes(5),
        backfill: None,
        ..Default::default()
    };
    s.connector.poll(&s.connection, &settings_poll, Utc::now()).await.unwrap();

    let timeout = Duration::from_millis(400);
    s.h.odoo.chaos(200, 42, timeout * 3);
    let rng = Mutex::new(rand::rngs::StdRng::seed_from_u64(9));
    let make = || s.poster(settings(timeout));
    let crashes = drain_until_quiet(s.h.queue.as_ref(), make(), make, Duration::from_secs(3), Some(4), &rng).await;
    assert!(crashes > 0, "some posters died between create and link");
    s.h.odoo.chaos(0, 0, Duration::ZERO);

    // What exhausted its receives went to the DLQ, what failed permanently was parked: both replay.
    let redriven = shared::poster::redrive(s.h.dlq.as_ref(), s.h.queue.as_ref()).await.unwrap();
    let connection = s.connection.clone();
    let replayed = shared::poster::replay(
        s.h.family.failed().as_ref(),
        s.h.queue.as_ref(),
        s.h.family.audit().as_ref(),
        &connection,
        None,
    )
    .await
    .unwrap();
    drain_until_quiet(s.h.queue.as_ref(), make(), make, Duration::from_secs(2), None, &rng).await;
    println!("chaos: {n} orders, {crashes} poster deaths, {redriven} redriven from the DLQ, {replayed} replayed");
    assert!(s.h.family.failed().failed(&s.h.connection).await.unwrap().is_empty());
    s.assert_exactly_once(&orders, &customers);
}

/// The store answers 429 with Retry-After while the poller reads: it waits as told, and finishes.
async fn the_poller_obeys_retry_after_and_finishes(family: Family, n: usize) {
    let s = Setup::start(family).await;
    let t0 = Utc::now() - Span::days(3);
    s.store.add_customer(501, "ada@example.com", "Ada", "Lovelace", t0);
    for i in 0..n as i64 {
        s.store.add_order(30_000 + i, 501, "processing", t0 + Span::seconds(i * (2 * 86_400) / n as i64));
    }
    let throttler = {
        let store = s.store.clone();
        tokio::spawn(async move {
            for _ in 0..4 {
                store.throttle(1, 1);
                tokio::time::sleep(Duration::from_millis(700)).await;
            }
        })
    };
    let started = Instant::now();
    let settings = PollSettings {
        start: t0 - Span::hours(1),
        window: Span::hours(6),
        overlap: Span::minutes(5),
        backfill: None,
        ..Default::default()
    };
    let report = s.connector.poll(&s.connection, &settings, Utc::now()).await.unwrap();
    throttler.await.unwrap();
    let (throttled, early) = s.store.throttling();
    assert!(throttled >= 2, "the store throttled the poller ({throttled} times)");
    assert_eq!(early, 0, "no request came before its Retry-After had passed");
    assert!(started.elapsed() >= Duration::from_secs(throttled.min(4) - 1), "it slowed down");
    assert_eq!(report.orders as usize, n, "and still read every order: {report:?}");
}

/// A move as the books check sees it: marker kind, move type, id, total, the move it reverses.
type MoveFacts = (String, String, i64, Decimal, Option<i64>);

/// Two posters draining the queue at once until it stays quiet.
async fn race_two_posters(s: &Setup) {
    let rng = Arc::new(Mutex::new(rand::rngs::StdRng::seed_from_u64(7)));
    let mut posters = Vec::new();
    for _ in 0..2 {
        let (queue, settings_, rng) = (s.h.queue.clone(), settings(Duration::from_secs(10)), rng.clone());
        let make = s.poster_factory(settings_);
        posters.push(tokio::spawn(async move {
            // Quiet for longer than a retried message stays invisible (2 s): a waiting refund comes back.
            drain_until_quiet(queue.as_ref(), make(), &make, Duration::from_millis(2500), None, &rng).await;
        }));
    }
    for p in posters {
        p.await.unwrap();
    }
}

/// An order's whole life, shuffled and duplicated: status-only changes (processing →
/// completed), partial refunds, and refunds merged with a change that reposts the order, with
/// webhooks and an overlapping poll racing two posters. For every order: exactly one live
/// invoice, every refund credited against it, and invoices − credit notes = store total − refunds.
async fn status_changes_and_refunds_merged_with_reposts_keep_the_books(family: Family, n: usize) {
    let s = Setup::start(family).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261202);
    let t0 = Utc::now() - Span::hours(30);
    let orders: Vec<i64> = (0..n as i64).map(|i| 30_000 + i).collect();
    for (i, id) in orders.iter().enumerate() {
        s.store.add_order(*id, 0, "processing", t0 + Span::seconds(i as i64 * 60));
        assert_eq!(s.store.deliver(&s.hook(), "order.created", &s.store.order(*id), &format!("c-{id}")).await, 200);
    }
    s.h.fetch_all().await;
    race_two_posters(&s).await;

    let mut refunded: BTreeMap<i64, Decimal> = BTreeMap::new();
    let mut deliveries = Vec::new();
    for (i, id) in orders.iter().enumerate() {
        let later = t0 + Span::hours(20) + Span::seconds(i as i64 * 60);
        let gmt = later.format("%Y-%m-%dT%H:%M:%S").to_string();
        match i % 4 {
            0 | 2 => {
                // Shipped: the same lines and totals, another status.
                let mut o = s.store.order(*id);
                o["status"] = "completed".into();
                o["date_modified_gmt"] = gmt.clone().into();
                o["date_modified"] = gmt.into();
                s.store.set_order(o);
            }
            1 => {
                // A refund merged with a change the books must follow (another e-mail).
                let r = s.store.refund_line(*id, 0, 90_000 + *id, later);
                *refunded.entry(*id).or_default() += r["amount"].as_str().unwrap().parse::<Decimal>().unwrap();
                let mut o = s.store.order(*id);
                o["billing"]["email"] = format!("new-{id}@example.com").into();
                s.store.set_order(o);
            }
            _ => {
                let r = s.store.refund_line(*id, 0, 90_000 + *id, later);
                *refunded.entry(*id).or_default() += r["amount"].as_str().unwrap().parse::<Decimal>().unwrap();
            }
        }
        deliveries.push((*id, format!("u-{id}")));
        if rng.random_range(0..10) < 3 {
            deliveries.push((*id, format!("u-{id}-again")));
        }
    }
    deliveries.shuffle(&mut rng);
    for (id, delivery) in &deliveries {
        assert_eq!(s.store.deliver(&s.hook(), "order.updated", &s.store.order(*id), delivery).await, 200);
    }
    let settings = PollSettings { start: t0 - Span::hours(1), window: Span::hours(6), ..Default::default() };
    s.connector.poll(&s.connection, &settings, Utc::now()).await.unwrap();
    s.h.fetch_all().await;
    race_two_posters(&s).await;

    let failed = s.h.family.failed().failed(&s.h.connection).await.unwrap();
    assert!(failed.is_empty(), "{:?}", failed.iter().map(|f| (&f.source_id, &f.reason)).collect::<Vec<_>>());
    // Every move by its order: (kind in the marker, move type, id, total, reversed move).
    let odoo = &s.h.odoo;
    let ids = odoo.search("account.move", Val::list(Vec::<Val>::new()));
    let mut by_order: BTreeMap<i64, Vec<MoveFacts>> = BTreeMap::new();
    for row in odoo.read("account.move", &ids, &["invoice_origin", "move_type", "amount_total", "reversed_entry_id"]) {
        let origin = row.get("invoice_origin").and_then(Val::as_str).unwrap_or_default().to_string();
        let parts: Vec<&str> = origin.split(':').collect();
        let order: i64 = parts[3].split("-r").next().unwrap().parse().unwrap();
        by_order.entry(order).or_default().push((
            parts[2].to_string(),
            row.get("move_type").and_then(Val::as_str).unwrap_or_default().to_string(),
            row.get("id").and_then(Val::as_i64).unwrap(),
            row.get("amount_total").and_then(Val::as_decimal).unwrap(),
            row.get("reversed_entry_id").and_then(Val::many2one_id),
        ));
    }
    for (i, id) in orders.iter().enumerate() {
        let moves = &by_order[id];
        let invoices: Vec<_> = moves.iter().filter(|m| m.1 == "out_invoice").collect();
        let reposts: Vec<_> = moves.iter().filter(|m| m.1 == "out_refund" && m.0 == "order").collect();
        let refunds: Vec<_> = moves.iter().filter(|m| m.1 == "out_refund" && m.0 == "refund").collect();
        assert_eq!(invoices.len() - reposts.len(), 1, "order {id}: exactly one live invoice: {moves:?}");
        if i % 4 == 0 || i % 4 == 2 {
            assert_eq!((invoices.len(), reposts.len()), (1, 0), "order {id}: a status change booked something");
        }
        let live = invoices.iter().map(|m| m.2).max().unwrap();
        for r in &refunds {
            assert_eq!(r.4, Some(live), "order {id}: a refund credited {:?}, not the live invoice {live}", r.4);
        }
        let invoiced: Decimal = invoices.iter().map(|m| m.3).sum();
        let credited: Decimal = reposts.iter().chain(&refunds).map(|m| m.3).sum();
        let store_total: Decimal = s.store.order(*id)["total"].as_str().unwrap().parse().unwrap();
        let back = refunded.get(id).copied().unwrap_or_default();
        assert_eq!(invoiced - credited, store_total - back, "order {id}: the books disagree with the store");
    }
}

/// Sales-order mode under the same chaos: duplicate and shuffled deliveries racing an
/// overlapping poll, Odoo failing a fifth of its calls (answers lost after commit among them)
/// and posters killed between create and link, then the DLQ redriven and failures replayed.
/// Every order is one sale order for the store's total, with one posted invoice and one payment.
async fn sale_orders_exactly_once_under_duplicates_faults_and_crashes(family: Family, n: usize) {
    let rules = blackbox::harness::sales_rules(blackbox::harness::store_rules());
    let s = Setup::start_with(family, rules).await;
    blackbox::harness::sales_master_data(&s.h.odoo);
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261203);
    let t0 = Utc::now() - Span::hours(5);
    let orders: Vec<i64> = (0..n as i64).map(|i| 40_000 + i).collect();
    let mut deliveries = Vec::new();
    for (i, id) in orders.iter().enumerate() {
        let order = s.store.add_order(*id, 0, "processing", t0 + Span::seconds(i as i64 * 20));
        deliveries.push((order.clone(), format!("s-{id}")));
        if rng.random_range(0..10) < 3 {
            deliveries.push((order, format!("s-{id}-again")));
        }
    }
    deliveries.shuffle(&mut rng);
    for (order, delivery) in &deliveries {
        assert_eq!(s.store.deliver(&s.hook(), "order.created", order, delivery).await, 200);
    }
    let poll = PollSettings { start: t0 - Span::hours(1), window: Span::hours(6), ..Default::default() };
    s.connector.poll(&s.connection, &poll, Utc::now()).await.unwrap();
    s.h.fetch_all().await;

    let timeout = Duration::from_millis(400);
    s.h.odoo.chaos(200, 7, timeout * 3);
    let crash_rng = Mutex::new(rand::rngs::StdRng::seed_from_u64(3));
    let make = || s.poster(settings(timeout));
    let crashes =
        drain_until_quiet(s.h.queue.as_ref(), make(), make, Duration::from_secs(3), Some(4), &crash_rng).await;
    assert!(crashes > 0, "some posters died between create and link");
    s.h.odoo.chaos(0, 0, Duration::ZERO);
    shared::poster::redrive(s.h.dlq.as_ref(), s.h.queue.as_ref()).await.unwrap();
    let audit = s.h.family.audit();
    shared::poster::replay(s.h.family.failed().as_ref(), s.h.queue.as_ref(), audit.as_ref(), &s.connection, None)
        .await
        .unwrap();
    drain_until_quiet(s.h.queue.as_ref(), make(), make, Duration::from_secs(2), None, &crash_rng).await;
    let failed = s.h.family.failed().failed(&s.h.connection).await.unwrap();
    assert!(failed.is_empty(), "{:?}", failed.iter().map(|f| (&f.source_id, &f.reason)).collect::<Vec<_>>());

    let odoo = &s.h.odoo;
    let all = odoo.search("sale.order", Val::list(Vec::<Val>::new()));
    let mut by_order: BTreeMap<i64, Vec<Val>> = BTreeMap::new();
    for row in odoo.read("sale.order", &all, &["origin", "state", "amount_total", "invoice_ids"]) {
        let origin = row.get("origin").and_then(Val::as_str).unwrap_or_default().to_string();
        let order: i64 = origin.split(':').nth(3).and_then(|id| id.parse().ok()).expect("a marker");
        by_order.entry(order).or_default().push(row);
    }
    assert_eq!(by_order.len(), orders.len(), "sale orders for orders that do not exist, or orders lost");
    for id in &orders {
        let made = &by_order[id];
        assert_eq!(made.len(), 1, "order {id}: {} sale orders", made.len());
        let so = &made[0];
        let total: Decimal = s.store.order(*id)["total"].as_str().unwrap().parse().unwrap();
        assert_eq!(so.get("state").and_then(Val::as_str), Some("sale"), "order {id}");
        assert_eq!(so.get("amount_total").and_then(Val::as_decimal), Some(total), "order {id}: the store's total");
        let invoices: Vec<i64> =
            so.get("invoice_ids").and_then(Val::as_list).unwrap().iter().filter_map(Val::as_i64).collect();
        assert_eq!(invoices.len(), 1, "order {id}: {} invoices", invoices.len());
        let inv = odoo.read("account.move", &invoices, &["state", "amount_total", "payment_state"]).remove(0);
        assert_eq!(inv.get("state").and_then(Val::as_str), Some("posted"), "order {id}");
        assert_eq!(inv.get("amount_total").and_then(Val::as_decimal), Some(total), "order {id}");
        let paid = odoo.search(
            "account.payment",
            Val::list([Val::list([Val::from("reconciled_invoice_ids"), Val::from("="), Val::Int(invoices[0])])]),
        );
        assert_eq!(paid.len(), 1, "order {id}: {} payments", paid.len());
        let amount = odoo.read("account.payment", &paid, &["amount"])[0].get("amount").and_then(Val::as_decimal);
        assert_eq!(amount, Some(total), "order {id}: paid the store's total");
    }
    println!("chaos (sale orders): {n} orders, {} deliveries, {crashes} poster deaths", deliveries.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_sale_orders_exactly_once_under_duplicates_faults_and_crashes() {
    sale_orders_exactly_once_under_duplicates_faults_and_crashes(Family::embedded().await, (scale() / 4).max(40)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aws_sale_orders_exactly_once_under_duplicates_faults_and_crashes() {
    sale_orders_exactly_once_under_duplicates_faults_and_crashes(Family::aws().await, (scale() / 20).max(20)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_duplicates_reordering_and_poller_overlap() {
    duplicates_reordering_and_poller_overlap(Family::embedded().await, scale()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aws_duplicates_reordering_and_poller_overlap() {
    duplicates_reordering_and_poller_overlap(Family::aws().await, (scale() / 10).max(40)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_odoo_faults_and_posters_killed_between_create_and_link() {
    odoo_faults_and_posters_killed_between_create_and_link(Family::embedded().await, scale() / 2).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aws_odoo_faults_and_posters_killed_between_create_and_link() {
    odoo_faults_and_posters_killed_between_create_and_link(Family::aws().await, (scale() / 20).max(30)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_the_poller_obeys_retry_after_and_finishes() {
    the_poller_obeys_retry_after_and_finishes(Family::embedded().await, (scale() / 2).max(100)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_status_changes_and_refunds_merged_with_reposts_keep_the_books() {
    status_changes_and_refunds_merged_with_reposts_keep_the_books(Family::embedded().await, (scale() / 4).max(40)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aws_status_changes_and_refunds_merged_with_reposts_keep_the_books() {
    status_changes_and_refunds_merged_with_reposts_keep_the_books(Family::aws().await, (scale() / 20).max(20)).await
}
