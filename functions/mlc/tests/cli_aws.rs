//! `mlc failed list --aws` and `mlc replay --aws` on a deployed stack: DynamoDB tables and SQS
//! FIFO queues in moto (started by the test command), reached by the real AWS SDK.

use std::process::Command;
use std::time::Duration;

use blackbox::{Family, create_fifo_queues, moto_config, moto_endpoint};
use shared::ids::{ConnectionId, SourceId, TraceId};
use shared::ports::*;
use shared::records::{EntityKind, Record, SourceSystem, samples};

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

    let id = ConnectionId::parse("shop").unwrap();
    let connection = Connection {
        id: id.clone(),
        source: SourceSystem::Woocommerce,
        store_url: "https://shop.example".parse().unwrap(),
        odoo_url: "https://acme.odoo.com".parse().unwrap(),
        odoo_database: None,
        audit_retention: Retention::Days30,
        allow_private_network: false,
        paused: false,
    };
    family.connections().put_connection(&connection).await.unwrap();
    let envelope = samples::envelope("shop", "1100", Record::Order(samples::order()));
    family
        .failed()
        .park(&FailedRecord {
            connection_id: id.clone(),
            kind: EntityKind::Order,
            source_id: SourceId::parse("1100").unwrap(),
            trace_id: TraceId::new(),
            failed_at: chrono::Utc::now(),
            class: "permanent".into(),
            reason: "no mapping rule matches line \"Garden gnome\"".into(),
            body: envelope.to_json(),
        })
        .await
        .unwrap();
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
