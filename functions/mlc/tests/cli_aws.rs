//! `mlc failed list --aws` and `mlc replay --aws` on a deployed stack: DynamoDB tables and SQS
//! FIFO queues in moto (started by the test command), reached by the real AWS SDK.

use std::process::Command;
use std::time::Duration;

use blackbox::{Family, create_fifo_queues, moto_config, moto_endpoint};
use shared::ids::{ConnectionId, SourceId};
use shared::ports::*;
use shared::records::{EntityKind, Record, SourceSystem, samples};

/// The deployed stack's connection `shop`, as `mlc connection add --aws` stores one.
fn shop_connection() -> Connection {
    Connection {
        id: ConnectionId::parse("shop").unwrap(),
        source: SourceSystem::Woocommerce,
        store_url: "https://shop.example".parse().unwrap(),
        odoo_url: "https://acme.odoo.com".parse().unwrap(),
        odoo_database: None,
        audit_retention: Retention::Days30,
        allow_private_network: false,
        paused: false,
        settings: Default::default(),
        poll_start: None,
        ca_pem: None,
        reconcile_list_only: false,
        alerts: None,
    }
}

/// Order `order` of `shop`, kept as failed for `reason`.
async fn park_failed_order(family: &Family, order: &str, reason: &str) {
    let envelope = samples::envelope("shop", order, Record::Order(samples::order()));
    let record = FailedRecord {
        connection_id: envelope.connection_id.clone(),
        kind: EntityKind::Order,
        source_id: SourceId::parse(order).unwrap(),
        trace_id: envelope.trace_id,
        failed_at: chrono::Utc::now(),
        class: "permanent".into(),
        reason: reason.into(),
        body: envelope.to_json(),
    };
    family.failed().park(&record).await.unwrap();
}

fn mlc(env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mlc"));
    c.args(args)
        .env("AWS_ENDPOINT_URL", moto_endpoint())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_list_and_replay_work_on_a_deployed_stack() {
    let family = Family::aws().await;
    let Family::Aws(aws) = &family else { unreachable!() };
    let sqs = aws_sdk_sqs::Client::new(&moto_config().await);
    let name = format!("mlc-{}", uuid_like());
    let (queue_url, dlq_url) = create_fifo_queues(&sqs, &name, 5).await;

    family.connections().put_connection(&shop_connection()).await.unwrap();
    park_failed_order(&family, "1100", "no mapping rule matches line \"Garden gnome\"").await;
    // And one message the poster gave up on, in the dead-letter queue.
    let dead = samples::envelope("shop", "1200", Record::Order(samples::order()));
    sqs.send_message()
        .queue_url(&dlq_url)
        .message_body(dead.to_json())
        .message_group_id("shop:order:1200")
        .message_deduplication_id("dead-1200")
        .send()
        .await
        .unwrap();

    let env = [
        ("MLC_CONNECTIONS_TABLE", aws.connections_table.as_str()),
        ("MLC_STATE_TABLE", aws.state_table.as_str()),
        ("MLC_AUDIT_TABLE", aws.audit_table.as_str()),
        ("MLC_QUEUE_URL", queue_url.as_str()),
        ("MLC_DLQ_URL", dlq_url.as_str()),
    ];
    let (code, stdout, stderr) = mlc(&env, &["failed", "list", "--aws"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("order 1100") && stdout.contains("Garden gnome"), "{stdout}");

    let (code, stdout, stderr) = mlc(&env, &["replay", "--all", "--aws", "--json"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["replayed"], 1, "{report}");
    // moto has no StartMessageMoveTask: the fallback moved it (SQS would run a move task).
    assert!(report["dead_letters"]["moved"] == 1 || report["dead_letters"]["task"].is_string(), "{report}");

    // Both are back on the main queue, the DLQ is empty, and nothing is listed as failed.
    let mut bodies = Vec::new();
    for _ in 0..5 {
        let got = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in got.messages.unwrap_or_default() {
            bodies.push(m.body.unwrap_or_default());
            sqs.delete_message().queue_url(&queue_url).receipt_handle(m.receipt_handle.unwrap()).send().await.unwrap();
        }
        if bodies.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut sources: Vec<String> =
        bodies.iter().map(|b| shared::records::Envelope::from_json(b).unwrap().source_id.to_string()).collect();
    sources.sort();
    assert_eq!(sources, vec!["1100", "1200"]);
    let dlq = sqs.receive_message().queue_url(&dlq_url).max_number_of_messages(10).send().await.unwrap();
    assert!(dlq.messages.unwrap_or_default().is_empty());
    let (_, stdout, _) = mlc(&env, &["failed", "list", "--aws", "--json"]);
    assert_eq!(stdout.trim(), "[]");

    // Without the stack's outputs it says what to set.
    let (code, _, stderr) = mlc(&[], &["failed", "list", "--aws"]);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("is not set: export the stack's outputs"), "{stderr}");
}

fn uuid_like() -> String {
    format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos())
}

/// `mlc connection add --aws` writes the connections table and Secrets Manager and creates the
/// connection's schedule (target: the poller, role: the scheduler's); the schedule's input, handed
/// to the poller's handler, polls the store; `remove --aws` deletes the schedule and the secrets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_add_on_a_deployed_stack_creates_its_schedule_and_remove_deletes_it() {
    let family = Family::aws().await;
    let Family::Aws(aws) = &family else { unreachable!() };
    let config = moto_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let name = format!("mlc-{}", uuid_like());
    let (queue_url, _) = create_fifo_queues(&sqs, &name, 5).await;
    let (fetch_url, _) = create_fifo_queues(&sqs, &format!("{name}-fetch"), 5).await;
    let store = woo_sandbox::SandboxStore::start(woo_sandbox::StoreOptions::default()).await.unwrap();
    store.add_order(8001, 0, "processing", chrono::Utc::now() - chrono::Duration::hours(1));
    let (poller, role) = (
        "arn:aws:lambda:us-east-1:123456789012:function:ml-connector-WooCommercePollerFunction",
        "arn:aws:iam::123456789012:role/ml-connector-PollSchedulerRole",
    );
    let s = store.options();
    let env = [
        ("MLC_CONNECTIONS_TABLE", aws.connections_table.as_str()),
        ("MLC_STATE_TABLE", aws.state_table.as_str()),
        ("MLC_AUDIT_TABLE", aws.audit_table.as_str()),
        ("MLC_QUEUE_URL", queue_url.as_str()),
        ("MLC_FETCH_QUEUE_URL", fetch_url.as_str()),
        ("MLC_SECRETS_PREFIX", aws.secrets_prefix.as_str()),
        ("MLC_SCHEDULER_ROLE_ARN", role),
        ("MLC_WOOCOMMERCE_POLLER_ARN", poller),
        ("MLC_ODOO_API_KEY", "odoo-key-1"),
        ("MLC_WOO_CONSUMER_KEY", s.consumer_key.as_str()),
        ("MLC_WOO_CONSUMER_SECRET", s.consumer_secret.as_str()),
        ("MLC_WOO_WEBHOOK_SECRET", s.webhook_secret.as_str()),
    ];
    let id = format!("shop-{}", &uuid_like()[..8]);
    let add = [
        "connection",
        "add",
        &id,
        "--aws",
        "--store-url",
        store.url(),
        "--odoo",
        "http://127.0.0.1:9",
        "--odoo-database",
        "acme",
        "--odoo-login",
        "finance@acme.example",
        "--allow-private-network",
        "--schedule",
        "rate(10 minutes)",
    ];
    let (code, stdout, stderr) = mlc(&env, &add);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("rate(10 minutes)"), "{stdout}");

    let connection_id = ConnectionId::parse(&id).unwrap();
    let saved = family.connections().connection(&connection_id).await.unwrap().expect("in the connections table");
    assert_eq!(saved.store_url.as_str().trim_end_matches('/'), store.url().trim_end_matches('/'));
    let secrets = family.secrets().get(&connection_id).await.unwrap().expect("in Secrets Manager");
    assert_eq!(secrets.get("woo_consumer_key").map(|k| k.expose().to_string()), Some(s.consumer_key.clone()));

    let schedules = shared::aws::PollSchedules::new(aws_sdk_scheduler::Client::new(&config), poller, role, "default");
    let schedule = schedules.describe(&connection_id).await.unwrap().expect("the schedule exists");
    assert_eq!(
        (schedule.expression.as_str(), schedule.target_arn.as_str(), schedule.role_arn.as_str()),
        ("rate(10 minutes)", poller, role)
    );
    // What Scheduler would invoke the poller with, handed to the poller's handler.
    let input: serde_json::Value = serde_json::from_str(&schedule.input).unwrap();
    assert_eq!(input["connection_id"], id.as_str());
    let deps = shared::stores::webhook::StoreDeps {
        connections: family.connections(),
        secrets: family.secrets(),
        queue: std::sync::Arc::new(shared::aws::SqsQueue::new(sqs.clone(), &queue_url)),
        fetch_queue: std::sync::Arc::new(shared::aws::SqsQueue::new(sqs.clone(), &fetch_url)),
        audit: family.audit(),
        state: family.state(),
    };
    let connector = shared::stores::woocommerce::WooConnector::new(deps);
    let settings = shared::stores::poll::PollSettings {
        start: chrono::Utc::now() - chrono::Duration::days(1),
        ..Default::default()
    };
    let report = connector.poll_scheduled(&input, &settings, chrono::Utc::now()).await.unwrap();
    assert_eq!(report[id.as_str()]["orders"], 1, "{report}");

    let (code, stdout, stderr) = mlc(&env, &["connection", "test", &id, "--aws", "--json"]);
    let findings: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_default();
    assert!(
        findings.as_array().is_some_and(|f| f.iter().any(|f| f["side"] == "schedule" && f["ok"] == true)),
        "{code} {stdout}{stderr}"
    );

    // Mapping rules go to the deployed connections table, versioned.
    let rules_file = std::env::temp_dir().join(format!("{id}-rules.json"));
    let rules = serde_json::json!({
        "accounts": { "shipping": "410000", "rounding": "400000" },
        "lines": [ { "name": "all", "when": {}, "account": "400000" } ]
    });
    std::fs::write(&rules_file, rules.to_string()).unwrap();
    let file = rules_file.to_str().unwrap();
    let (code, stdout, stderr) = mlc(&env, &["mappings", "set", file, "--aws", "--connection", &id]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(family.connections().latest_rules(&connection_id).await.unwrap().map(|r| r.version), Some(1));
    let (code, stdout, stderr) = mlc(&env, &["mappings", "show", "--aws", "--connection", &id, "--json"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&stdout).unwrap(), rules);

    let (code, stdout, stderr) = mlc(&env, &["connection", "remove", &id, "--aws"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(schedules.describe(&connection_id).await.unwrap(), None, "the schedule is gone");
    assert!(family.connections().connection(&connection_id).await.unwrap().is_none());
    assert!(family.secrets().get(&connection_id).await.unwrap().is_none());
}

/// `mlc console --aws`: the deployed stack's failures on the page, replayed from it (the replay
/// in the trail with who asked), and its settings read-only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_and_replays_a_deployed_stacks_failures_with_settings_read_only() {
    use std::io::{BufRead as _, BufReader};
    let family = Family::aws().await;
    let Family::Aws(aws) = &family else { unreachable!() };
    let sqs = aws_sdk_sqs::Client::new(&moto_config().await);
    let name = format!("mlc-{}", uuid_like());
    let (queue_url, dlq_url) = create_fifo_queues(&sqs, &name, 5).await;
    let (fetch_url, _) = create_fifo_queues(&sqs, &format!("{name}-fetch"), 5).await;
    let id = ConnectionId::parse("shop").unwrap();
    let connection = shop_connection();
    family.connections().put_connection(&connection).await.unwrap();
    let reason = "no mapping rule matches line \"Garden gnome\" (SKU GNOME-1, category Garden)";
    park_failed_order(&family, "1300", reason).await;

    let dir = tempfile::tempdir().unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_mlc"));
    c.args(["--dir", dir.path().to_str().unwrap(), "console", "--aws", "--listen", "127.0.0.1:0"])
        .env("AWS_ENDPOINT_URL", moto_endpoint())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("MLC_CONNECTIONS_TABLE", &aws.connections_table)
        .env("MLC_STATE_TABLE", &aws.state_table)
        .env("MLC_AUDIT_TABLE", &aws.audit_table)
        .env("MLC_QUEUE_URL", &queue_url)
        .env("MLC_DLQ_URL", &dlq_url)
        .env("MLC_FETCH_QUEUE_URL", &fetch_url)
        .env("MLC_SECRETS_PREFIX", &aws.secrets_prefix)
        .stdout(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut first).unwrap();
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _console = Stop(child);
    let base = first.split_whitespace().nth(2).unwrap().trim_end_matches("/console").to_string();

    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = http.get(format!("{base}/console/failures?connection=shop")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let cookie = page.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let html = page.text().await.unwrap();
    assert!(html.contains("order 1300") && html.contains("Add a rule for category Garden"), "{html}");
    let csrf = html.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();

    let settings =
        http.get(format!("{base}/console/settings?connection=shop")).header("cookie", &cookie).send().await.unwrap();
    assert!(settings.text().await.unwrap().contains("read-only"));
    let change = http
        .post(format!("{base}/console/settings"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str()), ("connection", "shop"), ("retention", "never")])
        .send()
        .await
        .unwrap();
    assert_eq!(change.status(), 403, "a deployed stack's settings are not changed from the console");
    let kept = family.connections().connection(&id).await.unwrap().unwrap();
    assert_eq!(kept.audit_retention, Retention::Days30);

    let replay = http
        .post(format!("{base}/console/replay"))
        .header("cookie", &cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("connection", "shop"),
            (
                "reason",
                shared::alerts::reason_key(
                    "no mapping rule matches line \"Garden gnome\" (SKU GNOME-1, category Garden)",
                )
                .as_str(),
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 303, "{}", replay.text().await.unwrap());
    assert!(family.failed().failed(&id).await.unwrap().is_empty());
    let got = sqs
        .receive_message()
        .queue_url(&queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    let bodies: Vec<String> = got.messages.unwrap_or_default().into_iter().filter_map(|m| m.body).collect();
    assert_eq!(bodies.len(), 1);
    assert_eq!(shared::records::Envelope::from_json(&bodies[0]).unwrap().source_id.as_str(), "1300");
    let trail = family.audit().by_source(&id, EntityKind::Order, &SourceId::parse("1300").unwrap()).await.unwrap();
    assert!(trail.iter().any(|e| e.message.starts_with("replayed by loopback from the console")), "{trail:?}");
}
