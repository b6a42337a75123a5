//! `mlc` driven as a user drives it: the binary, a state directory, and a sandbox store and Odoo
//! on loopback (started here, since a real store and Odoo cannot run here).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use chrono::{Duration as Span, TimeZone, Utc};
use odoo_sandbox::{Sandbox, SandboxOptions};
use shared::odoo::Val;
use woo_sandbox::{SandboxStore, StoreOptions};

mod adobe_commerce;
mod console;
mod hardening;
mod lifecycle;
mod reconcile;
mod registration;
mod sales;

struct World {
    dir: tempfile::TempDir,
    odoo: Sandbox,
    store: SandboxStore,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

fn run_of(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

fn rules() -> serde_json::Value {
    serde_json::json!({
        "posting": { "mode": "invoice", "post": true },
        "accounts": { "shipping": "410000", "rounding": "400000" },
        "taxes": [ { "store_rate": "1", "odoo_tax": "VAT 20%" }, { "store_rate": "2", "odoo_tax": "VAT 5.5%" } ],
        "lines": [
            { "name": "apparel", "when": { "category": "Apparel" }, "account": "400100", "analytic": [ { "account": "CC-EU", "percent": "100" } ] },
            { "name": "books", "when": { "category": "Books" }, "account": "400200",
              "analytic": [ { "account": "CC-EU", "percent": "60" }, { "account": "CC-WHS", "percent": "40" } ] }
        ]
    })
}

impl World {
    async fn start() -> World {
        World {
            dir: tempfile::tempdir().unwrap(),
            odoo: Sandbox::start(SandboxOptions::default()).await.unwrap(),
            store: SandboxStore::start(StoreOptions::default()).await.unwrap(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let (o, s) = (self.odoo.options(), self.store.options());
        let mut c = Command::new(env!("CARGO_BIN_EXE_mlc"));
        c.arg("--dir")
            .arg(self.dir.path())
            .args(args)
            .env_remove("MLC_HOME")
            .env_remove("MLC_SECRETS_KEY")
            // Every run logs at debug, and no output may carry a secret (see `mlc_with`).
            .env("RUST_LOG", "debug")
            .env("MLC_ODOO_API_KEY", &o.api_key)
            .env("MLC_WOO_CONSUMER_KEY", &s.consumer_key)
            .env("MLC_WOO_CONSUMER_SECRET", &s.consumer_secret)
            .env("MLC_WOO_WEBHOOK_SECRET", &s.webhook_secret);
        c
    }

    /// Runs `mlc` to completion (on a blocking thread: the sandboxes keep serving meanwhile).
    async fn mlc(&self, args: &[&str]) -> Run {
        self.mlc_with(args, &[]).await
    }

    async fn mlc_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = self.command(args);
        for (k, v) in env {
            c.env(k, v);
        }
        let run = tokio::task::spawn_blocking(move || run_of(c.output().unwrap())).await.unwrap();
        self.assert_no_secret_in(&run.all());
        for (_, v) in env.iter().filter(|(k, _)| k.contains("KEY") || k.contains("SECRET")) {
            assert!(
                v.is_empty() || !run.all().contains(v),
                "a secret given in the environment was printed:\n{}",
                run.all()
            );
        }
        run
    }

    async fn add_connection(&self, store_url: &str, odoo_key: &str) -> Run {
        let odoo_url = self.odoo.url().to_string();
        let db = self.odoo.options().database.clone();
        let login = self.odoo.options().login.clone();
        self.mlc_with(
            &[
                "connection",
                "add",
                "shop",
                "--store-url",
                store_url,
                "--odoo-url",
                &odoo_url,
                "--odoo-database",
                &db,
                "--odoo-login",
                &login,
                "--allow-private-network",
            ],
            &[("MLC_ODOO_API_KEY", odoo_key)],
        )
        .await
    }

    /// A connection to both sandboxes, with the rules above.
    async fn connected(&self) {
        let r = self.add_connection(self.store.url(), &self.odoo.options().api_key.clone()).await;
        assert_eq!(r.code, 0, "{}", r.all());
        let file = self.dir.path().join("rules.json");
        std::fs::write(&file, rules().to_string()).unwrap();
        let r = self.mlc(&["mappings", "set", file.to_str().unwrap()]).await;
        assert_eq!(r.code, 0, "{}", r.all());
    }

    fn secrets(&self) -> Vec<String> {
        let (o, s) = (self.odoo.options(), self.store.options());
        vec![o.api_key.clone(), s.consumer_key.clone(), s.consumer_secret.clone(), s.webhook_secret.clone()]
    }

    fn assert_no_secret_in(&self, text: &str) {
        for secret in self.secrets() {
            assert!(!text.contains(&secret), "a secret was printed:\n{text}");
        }
    }

    /// Store order id → number of customer invoices in Odoo carrying its marker.
    fn invoices_by_order(&self) -> BTreeMap<String, usize> {
        let ids = self.odoo.search(
            "account.move",
            Val::list([Val::list([Val::from("move_type"), Val::from("="), Val::from("out_invoice")])]),
        );
        let mut out = BTreeMap::new();
        for row in self.odoo.read("account.move", &ids, &["invoice_origin"]) {
            let origin = row.get("invoice_origin").and_then(Val::as_str).unwrap_or_default().to_string();
            // mlc:<connection>:order:<id>:<hash>
            let order = origin.split(':').nth(3).unwrap_or_default().to_string();
            *out.entry(order).or_default() += 1;
        }
        out
    }

    fn writes_to_odoo(&self) -> Vec<(String, String)> {
        self.odoo
            .call_names()
            .into_iter()
            .filter(|(_, m)| {
                !matches!(
                    m.as_str(),
                    "read"
                        | "search"
                        | "search_read"
                        | "search_count"
                        | "version"
                        | "authenticate"
                        | "web_version"
                        | ""
                )
            })
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_add_list_test_and_remove_with_secrets_kept_encrypted() {
    let w = World::start().await;
    w.connected().await;
    let list = w.mlc(&["connection", "list"]).await;
    assert_eq!(list.code, 0, "{}", list.all());
    assert!(
        list.stdout.contains("shop") && list.stdout.contains("v1") && list.stdout.contains("active"),
        "{}",
        list.stdout
    );

    let test = w.mlc(&["connection", "test", "shop"]).await;
    assert_eq!(test.code, 0, "{}", test.all());
    for expected in [
        "Odoo 19",
        "Odoo accepts the login and API key",
        "can read account.move",
        "can read product.product",
        "accepts the consumer key and secret",
        "can read orders",
        "everything works",
    ] {
        assert!(test.stdout.contains(expected), "missing {expected:?} in:\n{}", test.stdout);
    }
    let json = w.mlc(&["connection", "test", "--json"]).await;
    let findings: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert!(findings.as_array().unwrap().iter().all(|f| f["ok"] == true), "{findings}");

    // Encrypted at rest, and never printed.
    let at_rest = std::fs::read(w.dir.path().join("secrets.enc")).unwrap();
    for secret in w.secrets() {
        assert!(!at_rest.windows(secret.len()).any(|win| win == secret.as_bytes()));
    }
    w.assert_no_secret_in(&format!("{}{}{}", list.all(), test.all(), json.all()));

    let removed = w.mlc(&["connection", "remove", "shop"]).await;
    assert_eq!(removed.code, 0, "{}", removed.all());
    let list = w.mlc(&["connection", "list"]).await;
    assert!(list.stdout.contains("no connections yet"), "{}", list.stdout);
    let again = w.mlc(&["connection", "remove", "shop"]).await;
    assert_eq!(again.code, 4, "{}", again.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_odoo_credentials_are_reported_in_plain_words_and_the_store_is_still_checked() {
    let w = World::start().await;
    let wrong = "not-the-key-0123456789";
    let added = w.add_connection(w.store.url(), wrong).await;
    assert_eq!(added.code, 0, "{}", added.all());
    let test = w.mlc(&["connection", "test"]).await;
    assert_eq!(test.code, 3, "{}", test.all());
    assert!(test.stdout.contains("FAIL odoo    Odoo refused the login and API key"), "{}", test.stdout);
    assert!(
        test.stdout.contains("accepts the consumer key and secret"),
        "the store side is checked too:\n{}",
        test.stdout
    );
    assert!(test.stderr.contains("1 problem(s) found"), "{}", test.stderr);
    assert!(!test.all().contains(wrong), "the key must not be printed:\n{}", test.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_store_is_reported_and_a_sync_fails_with_exit_5() {
    let w = World::start().await;
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let added = w.add_connection(&format!("http://{closed}"), &w.odoo.options().api_key.clone()).await;
    assert_eq!(added.code, 0, "{}", added.all());
    let test = w.mlc(&["connection", "test"]).await;
    assert_eq!(test.code, 3, "{}", test.all());
    assert!(
        test.stdout.contains(&format!("FAIL store   cannot reach the store at http://{closed}/")),
        "{}",
        test.stdout
    );
    assert!(test.stdout.contains("ok   odoo    Odoo accepts the login and API key"), "{}", test.stdout);
    // A sync cannot reach it either: exit 5 (try again later), in plain words, every time.
    let sync = w.mlc(&["sync"]).await;
    assert_eq!(sync.code, 5, "{}", sync.all());
    assert!(sync.stderr.contains(&closed.to_string()), "the message names the store: {}", sync.stderr);
    let again = w.mlc(&["sync", "--json"]).await;
    assert_eq!(again.code, 5, "{}", again.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_configuration_is_refused_clearly_and_keeps_what_was_there() {
    let w = World::start().await;
    w.connected().await;
    let bad = w.dir.path().join("bad.json");
    std::fs::write(&bad, "{ \"accounts\": { \"shipping\": \"410000\", ").unwrap();
    let r = w.mlc(&["mappings", "set", bad.to_str().unwrap()]).await;
    assert_eq!(r.code, 4, "{}", r.all());
    assert!(r.stderr.contains("is not valid JSON") && r.stderr.contains("line 1"), "{}", r.stderr);

    let mut unknown = rules();
    unknown["lines"][0]["acount"] = serde_json::json!("400100");
    std::fs::write(&bad, unknown.to_string()).unwrap();
    let r = w.mlc(&["mappings", "set", bad.to_str().unwrap()]).await;
    assert_eq!(r.code, 4, "{}", r.all());
    assert!(r.stderr.contains("unknown field `acount`"), "{}", r.stderr);

    let mut split = rules();
    split["lines"][1]["analytic"][1]["percent"] = serde_json::json!("30");
    std::fs::write(&bad, split.to_string()).unwrap();
    let r = w.mlc(&["mappings", "set", bad.to_str().unwrap()]).await;
    assert_eq!(r.code, 4, "{}", r.all());
    assert!(r.stderr.contains("splits 90% across cost centers"), "{}", r.stderr);

    // Version 1 is still the one in force.
    let show = w.mlc(&["mappings", "show"]).await;
    assert!(show.stdout.contains("mapping rules v1"), "{}", show.stdout);

    // Secrets are never taken from the command line; missing ones are named.
    let r = w
        .mlc_with(
            &[
                "connection",
                "add",
                "other",
                "--store-url",
                "https://shop.example",
                "--odoo-url",
                "https://acme.odoo.com",
                "--odoo-login",
                "x",
            ],
            &[("MLC_WOO_WEBHOOK_SECRET", "")],
        )
        .await;
    assert_eq!(r.code, 4, "{}", r.all());
    assert!(r.stderr.contains("set MLC_WOO_WEBHOOK_SECRET in the environment"), "{}", r.stderr);
    let r = w
        .mlc(&[
            "connection",
            "add",
            "other",
            "--store-url",
            "ftp://shop.example",
            "--odoo-url",
            "https://acme.odoo.com",
            "--odoo-login",
            "x",
        ])
        .await;
    assert_eq!(r.code, 4, "{}", r.all());
    let r = w.mlc(&["backfill", "--from", "last tuesday"]).await;
    assert_eq!(r.code, 4, "{}", r.all());
    assert!(r.stderr.contains("is not a YYYY-MM-DD date"), "{}", r.stderr);

    // A directory with no state is an error, not a fresh empty state.
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mlc"))
        .arg("--dir")
        .arg(empty.path())
        .args(["failed", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no ml-connector state"));
    assert!(!empty.path().join("mlc.sqlite3").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_prints_the_move_with_its_rules_and_writes_nothing() {
    let w = World::start().await;
    w.connected().await;
    let t = Utc::now() - Span::hours(1);
    w.store.add_customer(501, "ada@example.com", "Ada", "Lovelace", t);
    w.store.add_order_items(1042, 501, "processing", t, &[(11, 2), (14, 1)]);
    w.store.add_order_items(1043, 501, "processing", t, &[(16, 1)]);
    w.odoo.clear_calls();
    let r = w.mlc(&["preview", "1042"]).await;
    assert_eq!(r.code, 0, "{}", r.all());
    for expected in [
        "Preview of order 1042",
        "mapping rules v1",
        "400100",
        "400200",
        "410000",
        "rule \"apparel\": category Apparel / Shirts is under Apparel",
        "rule \"books\"",
        "60%",
        "40%",
        "status processing posts: a posted customer invoice",
    ] {
        assert!(r.stdout.contains(expected), "missing {expected:?} in:\n{}", r.stdout);
    }
    let json = w.mlc(&["preview", "1042", "--json"]).await;
    let preview: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let store_total = w.store.order(1042)["total"].as_str().unwrap().to_string();
    assert_eq!(preview["plan"]["store_total"].as_str().unwrap(), store_total);
    assert_eq!(preview["plan"]["expected_total"], preview["plan"]["store_total"]);

    let gnome = w.mlc(&["preview", "1043"]).await;
    assert_eq!(gnome.code, 1, "{}", gnome.all());
    assert!(gnome.stderr.contains("it would fail: no mapping rule matches line \"Garden gnome\""), "{}", gnome.stderr);
    assert_eq!(w.writes_to_odoo(), vec![], "a preview only reads");
    assert!(w.invoices_by_order().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mappings_check_lists_unmapped_skus_categories_and_tax_rates() {
    let w = World::start().await;
    w.connected().await;
    let r = w.mlc(&["mappings", "check"]).await;
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(r.stdout.contains("SKU GNOME-1 (Garden gnome, category Garden) is not mapped"), "{}", r.stdout);
    assert!(r.stdout.contains("category Garden is not mapped"), "{}", r.stdout);
    assert!(r.stdout.contains("store tax rate 3 (VAT 10%, 10.0000%) is not mapped"), "{}", r.stdout);
    assert!(!r.stdout.contains("SKU SHIRT-M ("), "mapped SKUs are not listed:\n{}", r.stdout);

    // Fixed: a fallback rule and the third rate. Then it passes.
    let mut fixed = rules();
    fixed["lines"].as_array_mut().unwrap().push(serde_json::json!({ "name": "everything else", "account": "400000" }));
    fixed["taxes"].as_array_mut().unwrap().push(serde_json::json!({ "store_rate": "3", "odoo_tax": "VAT 20%" }));
    let file = w.dir.path().join("fixed.json");
    std::fs::write(&file, fixed.to_string()).unwrap();
    assert_eq!(w.mlc(&["mappings", "set", file.to_str().unwrap()]).await.code, 0);
    let r = w.mlc(&["mappings", "check"]).await;
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("everything works"), "{}", r.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_posts_and_an_interrupted_backfill_resumes_where_it_stopped() {
    let w = World::start().await;
    w.connected().await;
    let from = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    w.store.add_customer(501, "ada@example.com", "Ada", "Lovelace", from);
    for n in 0..40i64 {
        w.store.add_order(2000 + n, 501, "processing", from + Span::hours(7 * n));
    }
    // The store goes down part-way through (more 503s than the client retries).
    w.store.outage(30, 8);
    let first = w.mlc(&["backfill", "--from", "2026-11-01", "--json"]).await;
    assert_eq!(first.code, 5, "a store outage is worth retrying:\n{}", first.all());
    assert!(first.stderr.contains("run `mlc backfill --from 2026-11-01` again to resume"), "{}", first.stderr);
    let partly = w.invoices_by_order().len();

    let second = w.mlc(&["backfill", "--from", "2026-11-01", "--json"]).await;
    assert_eq!(second.code, 0, "{}", second.all());
    let report: serde_json::Value = serde_json::from_str(&second.stdout).unwrap();
    let full_windows = 2 * ((Utc::now() - from).num_hours() / 6);
    assert!(report["poll"]["windows"].as_i64().unwrap() < full_windows - 5, "resumed, not restarted: {report}");
    let invoices = w.invoices_by_order();
    assert_eq!(invoices.len(), 40, "{invoices:?} (after the interruption: {partly})");
    assert!(invoices.values().all(|&n| n == 1), "none twice: {invoices:?}");

    // `sync` picks up a new order through the regular watermark.
    w.store.add_order(3000, 501, "processing", Utc::now() - Span::minutes(1));
    let sync = w.mlc(&["sync"]).await;
    assert_eq!(sync.code, 0, "{}", sync.all());
    assert!(sync.stdout.contains("posted"), "{}", sync.stdout);
    let invoices = w.invoices_by_order();
    assert_eq!(invoices.get("3000"), Some(&1), "{invoices:?}");
    assert!(invoices.values().all(|&n| n == 1));
}

/// `mlc serve` in the background; its address read from its first line.
struct Served {
    child: Child,
    url: String,
}

/// Its log (stderr) goes to a file in the state directory: a pipe nobody reads would fill up and
/// stall it. `serve_logs` reads them all back.
fn serve(w: &World, poll_every: &str) -> Served {
    serve_with(w, &["--listen", "127.0.0.1:0", "--poll-every", poll_every, "--workers", "2"])
}

/// `mlc serve` with these arguments (its log in the state directory, as `serve`'s).
fn serve_with(w: &World, args: &[&str]) -> Served {
    let n = std::fs::read_dir(w.dir.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("serve-"))
        .count();
    let log = std::fs::File::create(w.dir.path().join(format!("serve-{n}.log"))).unwrap();
    let mut all = vec!["serve"];
    all.extend_from_slice(args);
    let mut child = w.command(&all).stdout(Stdio::piped()).stderr(log).spawn().unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut first).unwrap();
    let url = first.split_whitespace().nth(2).unwrap_or_else(|| panic!("no address in {first:?}")).to_string();
    Served { child, url }
}

fn serve_logs(w: &World) -> String {
    let mut all = String::new();
    for e in std::fs::read_dir(w.dir.path()).unwrap() {
        let path = e.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with("serve-") {
            all.push_str(&std::fs::read_to_string(path).unwrap());
        }
    }
    all
}

fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill").arg(format!("-{name}")).arg(child.id().to_string()).status().unwrap();
    assert!(ok.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_keeps_every_accepted_webhook_across_a_kill_and_a_graceful_stop() {
    let w = World::start().await;
    w.connected().await;
    // Slow Odoo calls, so a kill lands mid-batch.
    w.odoo.inject("*", "*", odoo_sandbox::Fault::Latency(Duration::from_millis(15)), usize::MAX);
    let t = Utc::now() - Span::hours(1);
    w.store.add_customer(501, "ada@example.com", "Ada", "Lovelace", t);
    let orders: Vec<serde_json::Value> =
        (0..60).map(|n| w.store.add_order(4000 + n, 501, "processing", t + Span::seconds(n))).collect();
    let mut accepted = Vec::new();
    let mut refused = Vec::new();

    // Run 1: killed (SIGKILL) while deliveries are still coming in and batches are posting.
    let mut run = serve(&w, "0");
    let hook = format!("{}/webhooks/woocommerce/shop", run.url);
    for (i, order) in orders.iter().enumerate().take(30) {
        let status = w.store.deliver(&hook, "order.created", order, &format!("d-{i}")).await;
        if status == 200 {
            accepted.push(i)
        } else {
            refused.push(i)
        }
        if i == 24 {
            run.child.kill().unwrap();
            run.child.wait().unwrap();
        }
    }
    assert!(w.invoices_by_order().len() < 25, "the kill landed before everything posted");

    // Run 2: picks up what run 1 left, takes new deliveries, and stops gracefully on SIGTERM.
    let run = serve(&w, "0");
    let hook = format!("{}/webhooks/woocommerce/shop", run.url);
    for (i, order) in orders.iter().enumerate().skip(30) {
        let status = w.store.deliver(&hook, "order.created", order, &format!("d-{i}")).await;
        if status == 200 { accepted.push(i) } else { refused.push(i) }
    }
    signal(&run.child, "TERM");
    let out = tokio::task::spawn_blocking(move || run.child.wait_with_output().unwrap()).await.unwrap();
    assert!(out.status.success(), "a graceful stop exits 0: {}", serve_logs(&w));
    assert!(String::from_utf8_lossy(&out.stdout).contains("stopped:"), "{}", String::from_utf8_lossy(&out.stdout));

    // Run 3: drains whatever was still queued, and its poller finds the deliveries refused while
    // nothing listened (WooCommerce does not resend them).
    assert!(!refused.is_empty());
    let run = serve(&w, "1");
    let waited = tokio::time::timeout(Duration::from_secs(60), async {
        while w.invoices_by_order().len() < 60 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    if waited.is_err() {
        signal(&run.child, "TERM");
        let out = run.child.wait_with_output().unwrap();
        let mut failed = w.mlc(&["failed", "list"]).await;
        for missing in (4000..4060).filter(|o| !w.invoices_by_order().contains_key(&o.to_string())) {
            failed.stdout.push_str(&w.mlc(&["trace", &missing.to_string()]).await.all());
        }
        panic!(
            "not every order posted: {:?}\naccepted {accepted:?} refused {refused:?}\nserve: {}\n{}\nfailed: {}",
            w.invoices_by_order(),
            String::from_utf8_lossy(&out.stdout),
            serve_logs(&w),
            failed.all()
        );
    }
    signal(&run.child, "TERM");
    let out = tokio::task::spawn_blocking(move || run.child.wait_with_output().unwrap()).await.unwrap();
    assert!(out.status.success());

    let invoices = w.invoices_by_order();
    assert_eq!(invoices.len(), 60);
    assert!(invoices.values().all(|&n| n == 1), "none twice: {invoices:?}");
    // Two workers met the same new customer at once: still one partner.
    let ada = w.odoo.search(
        "res.partner",
        Val::list([
            Val::list([Val::from("ref"), Val::from("="), Val::from("501")]),
            Val::list([Val::from("parent_id"), Val::from("="), Val::Bool(false)]),
        ]),
    );
    assert_eq!(ada.len(), 1, "one partner for the customer, not {ada:?}");
    assert!(accepted.len() >= 55, "most deliveries were accepted: {} refused", refused.len());
    let failed = w.mlc(&["failed", "list", "--json"]).await;
    assert_eq!(failed.stdout.trim(), "[]", "{}", failed.all());
    let logs = serve_logs(&w);
    assert!(logs.contains("DEBUG"), "serve logged at debug");
    w.assert_no_secret_in(&logs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_finds_a_record_by_order_move_id_and_move_name() {
    let w = World::start().await;
    w.connected().await;
    let t = Utc::now() - Span::hours(1);
    w.store.add_customer(501, "ada@example.com", "Ada", "Lovelace", t);
    w.store.add_order(1001, 501, "processing", t);
    assert_eq!(w.mlc(&["sync"]).await.code, 0);
    let by_order = w.mlc(&["trace", "1001"]).await;
    assert_eq!(by_order.code, 0, "{}", by_order.all());
    assert!(by_order.stdout.contains("Posted") && by_order.stdout.contains("INV/"), "{}", by_order.stdout);
    let name = by_order.stdout.split_whitespace().find(|w| w.starts_with("INV/")).unwrap().to_string();
    let id = w
        .odoo
        .search("account.move", Val::list([Val::list([Val::from("name"), Val::from("="), Val::from(name.as_str())])]))
        [0];
    for query in [format!("account.move:{id}"), name.clone()] {
        let r = w.mlc(&["trace", &query]).await;
        assert_eq!(r.code, 0, "{}", r.all());
        assert!(
            r.stdout.contains("order 1001") && r.stdout.contains("Enqueued") && r.stdout.contains("Posted"),
            "{query}: {}",
            r.stdout
        );
    }
    let missing = w.mlc(&["trace", "INV/1999/99999"]).await;
    assert_eq!(missing.code, 4, "{}", missing.all());
    assert!(missing.stderr.contains("Odoo has no move named INV/1999/99999"));
}
