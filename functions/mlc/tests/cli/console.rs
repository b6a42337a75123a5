//! The console in a real browser: `mlc serve` beyond loopback with the sandboxes, driven in
//! headless Chromium through chromedriver (Debian's `chromium` and `chromium-driver`, which the
//! test command installs). A finance user signs in, finds a failed order and its reason, the
//! rule is fixed with `mlc mappings set`, the order is replayed from the page and its trace
//! shows it posted. Each page's screenshot goes to `target/test-output/console/`.

use super::*;
use fantoccini::{Client, ClientBuilder, Locator};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A process of this test's, stopped (by its pid) when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn output_dir() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-output/console");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 2000, "{name}: not a real screenshot");
    std::fs::write(output_dir().join(format!("{name}.png")), png).unwrap();
}

async fn start_browser() -> (Process, Client) {
    for tool in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            std::path::Path::new(tool).exists(),
            "{tool} is missing: the test command (scripts/test) installs Debian's chromium and chromium-driver"
        );
    }
    let port = free_port();
    let driver =
        Process(Command::new(CHROMEDRIVER).arg(format!("--port={port}")).stdout(Stdio::null()).spawn().unwrap());
    let profile = tempfile::tempdir().unwrap().keep();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            // As the machine's notes say: no sandbox as root, no background traffic to a closed network.
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1280,1000", format!("--user-data-dir={}", profile.display())],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    for _ in 0..100 {
        match ClientBuilder::new(connector.clone())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => return (driver, client),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    panic!("chromedriver did not start a Chromium session on port {port}");
}

/// The text of the first element `css` selects, waiting for it to appear: after a click the
/// next page may still be loading, and an element found on the old page goes stale.
async fn text(browser: &Client, css: &str) -> String {
    let mut last = String::new();
    for _ in 0..150 {
        match browser.find(Locator::Css(css)).await {
            Ok(element) => match element.text().await {
                Ok(text) => return text,
                Err(e) => last = e.to_string(),
            },
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{css}: {last}");
}

/// Waits until the page shows `wanted` (after a click, the next page may still be loading).
async fn text_showing(browser: &Client, css: &str, wanted: &str) -> String {
    for _ in 0..150 {
        let found = text(browser, css).await;
        if found.contains(wanted) {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{css} never showed {wanted:?}:\n{}", text(browser, css).await);
}

/// Waits for the page at `url` to contain `wanted` (what is posted in the background shows on a reload).
async fn wait_for_text(browser: &Client, url: &str, wanted: &str) -> String {
    for _ in 0..100 {
        browser.goto(url).await.unwrap();
        let body = text(browser, "body").await;
        if body.contains(wanted) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{url} never showed {wanted:?}:\n{}", text(browser, "body").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finance_user_fixes_and_replays_a_failed_order_in_the_browser() {
    let w = World::start().await;
    w.connected().await;
    let t = Utc::now() - Span::hours(1);
    w.store.add_order(8101, 0, "processing", t);
    // A garden gnome: the rules map Apparel and Books, not Garden.
    w.store.add_order_items(8102, 0, "processing", t + Span::seconds(1), &[(16, 1)]);
    let sync = w.mlc(&["sync"]).await;
    assert!(w.mlc(&["failed", "list"]).await.stdout.contains("order 8102"), "{}", sync.all());
    assert_eq!(w.invoices_by_order().get("8101"), Some(&1));

    // Beyond loopback: a token is needed.
    let served = serve_with(&w, &["--listen", "0.0.0.0:0", "--poll-every", "0", "--no-reconcile"]);
    let port = served.url.rsplit(':').next().unwrap().to_string();
    let _serve = Process(served.child);
    let base = format!("http://127.0.0.1:{port}");

    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let anonymous = http.get(format!("{base}/console")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401, "a console beyond loopback lets no one in without a token");
    let wrong = http.post(format!("{base}/console/login")).form(&[("token", "mlc_guess")]).send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let token = w.mlc(&["console", "token", "--name", "alice", "--json"]).await;
    assert_eq!(token.code, 0, "{}", token.all());
    let token =
        serde_json::from_str::<serde_json::Value>(&token.stdout).unwrap()["token"].as_str().unwrap().to_string();
    assert!(!std::fs::read_to_string(w.dir.path().join("console-tokens.json")).unwrap().contains(&token));

    // A replay form without its CSRF token is refused, and replays nothing.
    let login = http.post(format!("{base}/console/login")).form(&[("token", token.as_str())]).send().await.unwrap();
    assert_eq!(login.status(), 303);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let session = cookie.split(';').next().unwrap().to_string();
    let forged = http
        .post(format!("{base}/console/replay"))
        .header("cookie", &session)
        .form(&[("connection", "shop"), ("only", "order:8102")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert!(forged.text().await.unwrap().contains("CSRF"));
    assert!(w.mlc(&["failed", "list"]).await.stdout.contains("order 8102"), "the forged replay replayed");

    let (_driver, browser) = start_browser().await;
    browser.goto(&format!("{base}/console")).await.unwrap();
    text_showing(&browser, "body", "Sign in").await;
    browser.find(Locator::Css("input[name=token]")).await.unwrap().send_keys(&token).await.unwrap();
    screenshot(&browser, "0-sign-in").await;
    browser.find(Locator::Css("form button")).await.unwrap().click().await.unwrap();

    // The overview: one failed record, one posted today, who is signed in.
    assert_eq!(text(&browser, "#failed-shop").await, "1");
    assert_eq!(text(&browser, "#posted-today-shop").await, "1");
    assert!(text(&browser, "header").await.contains("alice"));
    assert!(browser.find(Locator::Css("svg rect")).await.is_ok(), "the hourly chart is drawn");
    screenshot(&browser, "1-overview").await;

    // Failures: the reason and the fix it suggests.
    browser.find(Locator::LinkText("Failures")).await.unwrap().click().await.unwrap();
    let row = text(&browser, "#failed-order-8102").await;
    assert!(row.contains("category Garden"), "{row}");
    assert!(row.contains("Add a rule for category Garden"), "{row}");
    screenshot(&browser, "2-failures").await;

    // The rule is fixed on the command line; the order is replayed from the page.
    let mut fixed = rules();
    fixed["lines"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({ "name": "garden", "when": { "category": "Garden" }, "account": "400100" }));
    let file = w.dir.path().join("rules-fixed.json");
    std::fs::write(&file, fixed.to_string()).unwrap();
    let set = w.mlc(&["mappings", "set", file.to_str().unwrap()]).await;
    assert_eq!(set.code, 0, "{}", set.all());
    browser.find(Locator::Css("#failed-order-8102 button")).await.unwrap().click().await.unwrap();
    text_showing(&browser, "body", "Nothing failed on shop").await;

    // Its trace: replayed by alice, then posted, with a link to the invoice in Odoo.
    let trace = format!("{base}/console/trace?connection=shop&q=8102");
    let body = wait_for_text(&browser, &trace, "posted ·").await;
    assert!(body.contains("replayed by alice from the console"), "{body}");
    assert!(body.contains("rule \"garden\""), "the rule that chose the line is shown:\n{body}");
    let link = browser.find(Locator::Css("a[href*='model=account.move']")).await.unwrap();
    assert!(link.attr("href").await.unwrap().unwrap().starts_with(w.odoo.url().trim_end_matches('/')));
    assert_eq!(w.invoices_by_order().get("8102"), Some(&1), "posted once");
    screenshot(&browser, "3-trace").await;

    // Preview: the move an order would become, written nowhere.
    let writes = w.writes_to_odoo().len();
    browser.goto(&format!("{base}/console/preview?connection=shop&id=8101")).await.unwrap();
    let total = text(&browser, "#preview-total").await;
    assert!(total.contains("= store total"), "{total}");
    assert_eq!(w.writes_to_odoo().len(), writes, "a preview writes nothing");
    screenshot(&browser, "4-preview").await;

    // Reconciliation of yesterday and today (the form's default), from the button.
    browser.goto(&format!("{base}/console/reconciliation?connection=shop")).await.unwrap();
    browser.find(Locator::Css("#backfill")).await.unwrap().click().await.unwrap();
    assert_eq!(text(&browser, "#reconcile-gaps").await, "no gap");
    screenshot(&browser, "5-reconciliation").await;

    browser.find(Locator::LinkText("Settings")).await.unwrap().click().await.unwrap();
    assert!(text(&browser, "#posting-statuses").await.contains("processing"));
    screenshot(&browser, "6-settings").await;
    let page = browser.source().await.unwrap();
    w.assert_no_secret_in(&page);
    browser.close().await.unwrap();
}

/// Starts `mlc console` with `args`; answers the process and the base URL it printed.
fn console_process(w: &World, args: &[&str]) -> (Process, String) {
    let mut all = vec!["console"];
    all.extend_from_slice(args);
    let mut child = w.command(&all).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut first).unwrap();
    let url = first.split_whitespace().nth(2).unwrap_or_else(|| panic!("no address in {first:?}"));
    // The certificate is for `localhost`.
    (Process(child), url.trim_end_matches("/console").replace("127.0.0.1", "localhost").replace("0.0.0.0", "localhost"))
}

/// Behind a TLS proxy the console listens on loopback, yet asks for the token (its visitors all
/// come from the proxy) and sets Secure cookies; served over https itself beyond loopback, the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_https_or_behind_a_proxy_the_token_is_asked_and_cookies_are_secure() {
    let w = World::start().await;
    w.connected().await;
    let token = w.mlc(&["console", "token", "--name", "bob", "--json"]).await;
    let token =
        serde_json::from_str::<serde_json::Value>(&token.stdout).unwrap()["token"].as_str().unwrap().to_string();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tls");
    let (cert, key) = (fixtures.join("localhost.pem"), fixtures.join("localhost.key"));
    let ca = reqwest::Certificate::from_pem(&std::fs::read(fixtures.join("ca.pem")).unwrap()).unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .add_root_certificate(ca)
        .build()
        .unwrap();

    let (_proxied, proxied) = console_process(&w, &["--listen", "127.0.0.1:0", "--behind-tls-proxy"]);
    let (_https, https) = console_process(
        &w,
        &["--listen", "0.0.0.0:0", "--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()],
    );
    assert!(https.starts_with("https://localhost:"), "{https}");
    for base in [proxied, https] {
        let anonymous = http.get(format!("{base}/console")).send().await.unwrap();
        assert_eq!(anonymous.status(), 401, "{base}");
        let login = http.post(format!("{base}/console/login")).form(&[("token", token.as_str())]).send().await.unwrap();
        assert_eq!(login.status(), 303, "{base}");
        let cookie = login.headers()["set-cookie"].to_str().unwrap().to_string();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Secure"),
            "{cookie}"
        );
        let session = cookie.split(';').next().unwrap().to_string();
        let page = http.get(format!("{base}/console")).header("cookie", session).send().await.unwrap();
        assert_eq!(page.status(), 200, "{base}");
        assert!(page.text().await.unwrap().contains("bob"));
    }
}
