//! Each Lambda binary (release, this machine's architecture) started as Lambda starts it: a
//! Runtime API on loopback (served here), the function's environment pointed at moto and the
//! sandboxes. Prints the time from process start to its first `GET /invocation/next` (ready for
//! its first event), the time to handle its sample event from `events/`, and the peak RSS
//! (VmHWM) after it. The arm64 binary sizes come from `cargo lambda build --release --arm64`
//! (scripts/bench prints them).
//!
//!     scripts/bench lambda_cold_start      (moto must be up: scripts/bench starts it)

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use blackbox::Family;
use blackbox::harness::Harness;
use chrono::{TimeZone, Utc};
use woo_sandbox::{SandboxStore, StoreOptions};

#[derive(Default)]
struct Runtime {
    event: Mutex<Option<String>>,
    first_next: Mutex<Option<Instant>>,
    response: Mutex<Option<(Instant, String)>>,
}

async fn next(State(rt): State<Arc<Runtime>>) -> impl IntoResponse {
    rt.first_next.lock().unwrap().get_or_insert_with(Instant::now);
    // Hand the event over once; later calls wait (the bench kills the process meanwhile).
    loop {
        if let Some(event) = rt.event.lock().unwrap().take() {
            let mut headers = HeaderMap::new();
            headers.insert("lambda-runtime-aws-request-id", "bench-1".parse().unwrap());
            let deadline = (Utc::now().timestamp_millis() + 60_000).to_string();
            headers.insert("lambda-runtime-deadline-ms", deadline.parse().unwrap());
            headers.insert(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:bench".parse().unwrap(),
            );
            headers.insert("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000".parse().unwrap());
            return (headers, event);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn respond(
    State(rt): State<Arc<Runtime>>,
    Path((_id, kind)): Path<(String, String)>,
    body: String,
) -> &'static str {
    *rt.response.lock().unwrap() = Some((Instant::now(), format!("{kind}: {body}")));
    "{}"
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

struct Figures {
    ready_ms: f64,
    handled_ms: f64,
    peak_mib: f64,
    response: String,
}

async fn measure(binary: &str, env: &[(String, String)], event: String) -> Figures {
    let rt = Arc::new(Runtime::default());
    *rt.event.lock().unwrap() = Some(event);
    let app = axum::Router::new()
        .route("/2018-06-01/runtime/invocation/next", axum::routing::get(next))
        .route("/2018-06-01/runtime/invocation/{id}/{kind}", axum::routing::post(respond))
        .with_state(rt.clone());
    let (url, server) = shared::serve::on_loopback(app).await.unwrap();
    let path = format!("{}/../target/release/{binary}", env!("CARGO_MANIFEST_DIR"));
    assert!(std::path::Path::new(&path).exists(), "{path} is missing: cargo build --release -p {binary} first");
    let started = Instant::now();
    let mut child = Command::new(&path)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", url.trim_start_matches("http://"))
        .env("AWS_LAMBDA_FUNCTION_NAME", binary)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while rt.response.lock().unwrap().is_none() {
        assert!(Instant::now() < deadline, "{binary} did not answer its event");
        assert!(child.try_wait().unwrap().is_none(), "{binary} exited");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let peak = peak_rss_kib(child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    server.abort();
    let ready = rt.first_next.lock().unwrap().expect("asked for an event");
    let (done, response) = rt.response.lock().unwrap().clone().unwrap();
    Figures {
        ready_ms: (ready - started).as_secs_f64() * 1000.0,
        handled_ms: (done - ready).as_secs_f64() * 1000.0,
        peak_mib: peak as f64 / 1024.0,
        response,
    }
}

fn event(path: &str) -> String {
    std::fs::read_to_string(format!("{}/../events/{path}", env!("CARGO_MANIFEST_DIR"))).expect("sample event")
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::args().nth(1).map(|a| a.parse().expect("RUNS is a number")).unwrap_or(5);
    let h = Harness::start(Family::aws().await).await;
    let store = SandboxStore::start(StoreOptions {
        webhook_secret: "ml-connector-test-webhook-secret".into(),
        ..StoreOptions::default()
    })
    .await
    .unwrap();
    h.attach_store(&store).await;
    for i in 0..100 {
        store.add_order(
            6000 + i,
            0,
            "processing",
            Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap() + chrono::Duration::minutes(i),
        );
    }
    let sqs = aws_sdk_sqs::Client::new(&blackbox::moto_config().await);
    let (queue_url, dlq_url) =
        blackbox::create_fifo_queues(&sqs, &format!("bench-{}", uuid::Uuid::new_v4().simple()), 3).await;
    let blackbox::Family::Aws(aws) = &h.family else { unreachable!() };
    let env: Vec<(String, String)> = [
        ("AWS_ENDPOINT_URL", blackbox::moto_endpoint()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("MLC_CONNECTIONS_TABLE", aws.connections_table.clone()),
        ("MLC_STATE_TABLE", aws.state_table.clone()),
        ("MLC_AUDIT_TABLE", aws.audit_table.clone()),
        ("MLC_SECRETS_PREFIX", aws.secrets_prefix.clone()),
        ("MLC_QUEUE_URL", queue_url),
        ("MLC_DLQ_URL", dlq_url),
        ("MLC_POLL_START", "2026-11-19".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();

    println!(
        "Lambda binaries (release, {}), each started {runs} times against a Runtime API on loopback\n",
        std::env::consts::ARCH
    );
    println!(
        "{:<22} {:<34} {:>9} {:>9} {:>11} {:>9}",
        "function", "event", "ready ms", "(max)", "handled ms", "peak MiB"
    );
    for (binary, sample) in [
        ("poster", "poster/sqs-batch.json"),
        ("woocommerce-webhook", "woocommerce-webhook/order-created.json"),
        ("woocommerce-poller", "woocommerce-poller/schedule.json"),
    ] {
        let mut figures = Vec::new();
        for _ in 0..runs {
            let f = measure(binary, &env, event(sample)).await;
            assert!(!f.response.starts_with("error"), "{binary}: {}", f.response);
            figures.push(f);
        }
        let mut ready: Vec<f64> = figures.iter().map(|f| f.ready_ms).collect();
        ready.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let median = ready[ready.len() / 2];
        let first = &figures[0];
        let peak = figures.iter().map(|f| f.peak_mib).fold(0.0, f64::max);
        println!(
            "{:<22} {:<34} {:>9.1} {:>9.1} {:>11.1} {:>9.1}",
            binary,
            sample,
            median,
            ready.last().unwrap(),
            first.handled_ms,
            peak
        );
    }
    println!(
        "\nready = process start to its first request for an event (median of {runs}); handled = the first event, cold"
    );
    println!("goals: ready under 20 ms, peak RSS under 32 MB");
}
