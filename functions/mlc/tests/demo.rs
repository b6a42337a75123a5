//! The README's first command, run as a user runs it.

use std::process::Command;

#[test]
fn the_demo_runs_end_to_end_and_says_it_used_sandboxes() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mlc")).args(["demo", "--keep-in"]).arg(dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("against SANDBOXES"), "{stdout}");
    assert!(stdout.contains("customer invoices:     7"), "{stdout}");
    assert!(stdout.contains("credit notes:          1"), "{stdout}");
    assert!(stdout.contains("FAILED order 1100: no mapping rule matches line \"Garden gnome\""), "{stdout}");
    assert!(stdout.contains("Trace of order 1001"), "{stdout}");
    // BigCommerce beside it, on the same Odoo: 2101, 2102 (tax-inclusive), 2103 (USD) by
    // webhook, 2105 by the poller; 2104 is incomplete and never posts.
    assert!(stdout.contains("answered HTTP 200, 200, 200, 200"), "{stdout}");
    assert!(stdout.contains("Summary, BigCommerce (demo-bigcommerce)"), "{stdout}");
    let bc = &stdout[stdout.find("Summary, BigCommerce").unwrap()..];
    assert!(bc.contains("customer invoices:     4 (total 90.00 EUR + 18.00 USD)"), "{bc}");
    assert!(bc.contains("credit notes:          1 (total 12.00 EUR)"), "{bc}");
    assert!(bc.contains("tracking UPS 1Z999AA10123456784"), "{bc}");
    assert!(bc.contains("status Shipped (was Awaiting Fulfillment)"), "{bc}");
    assert!(!bc.contains("FAILED"), "{bc}");
    // Adobe Commerce beside them: two invoices booked as journal entries on PaaS (one by
    // webhook, one by the poller), the memo reversed, the Cloud Service on one IMS token.
    let adobe = &stdout[stdout.find("Summary, Adobe Commerce").expect("the Adobe Commerce part ran")..];
    assert!(stdout.contains("answered 200 {\"op\":\"success\"}"), "{stdout}");
    assert!(adobe.contains("demo-adobe: 2 journal entries from invoices, 1 reversing entries"), "{adobe}");
    assert!(adobe.contains("demo-adobe-cloud: 1 journal entries from invoices, 0 reversing entries"), "{adobe}");
    assert!(adobe.contains("228.0           121000 Account Receivable"), "{adobe}");
    assert!(adobe.contains("IMS tokens minted for the Cloud Service: 1; writes to either store: 0"), "{adobe}");
    assert!(!adobe.contains("FAILED"), "{adobe}");
    assert!(stdout.contains("This demo ran against sandboxes."), "{stdout}");
    // The embedded state it used is real: SQLite and an encrypted secrets file with a private key.
    assert!(dir.path().join("mlc.sqlite3").exists());
    let secrets = std::fs::read_to_string(dir.path().join("secrets.enc")).unwrap();
    assert!(!secrets.contains("odoo_api_key"));
}

#[test]
fn an_unknown_command_explains_itself_and_fails() {
    let out = Command::new(env!("CARGO_BIN_EXE_mlc")).arg("frobnicate").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unrecognized subcommand"));
}

fn mlc(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mlc")).arg("--dir").arg(dir).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn trace_failed_and_replay_read_the_state_the_demo_left() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = mlc(dir.path(), &["trace", "1001"]);
    assert!(!ok && err.contains("no ml-connector state"), "{err}");
    let demo = Command::new(env!("CARGO_BIN_EXE_mlc")).args(["demo", "--keep-in"]).arg(dir.path()).output().unwrap();
    assert!(demo.status.success());

    let (ok, out, err) = mlc(dir.path(), &["trace", "1001"]);
    assert!(ok, "{err}");
    assert!(out.contains("order") && out.contains("Posted") && out.contains("INV/"), "{out}");
    assert!(out.contains("refund") && out.contains("RINV/"), "the refund shows in the order's trace: {out}");
    let (ok, out, _) = mlc(dir.path(), &["trace", "1001", "--json"]);
    assert!(ok);
    let entries: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    // The refund's own steps are reached through its credit note, and the whole is in time order.
    let refund: Vec<&serde_json::Value> = entries.iter().filter(|e| e["kind"] == "refund").collect();
    assert!(refund.iter().any(|e| e["stage"] == "enqueued") && refund.iter().any(|e| e["stage"] == "posted"), "{out}");
    let times: Vec<chrono::DateTime<chrono::Utc>> =
        entries.iter().map(|e| e["at"].as_str().unwrap().parse().unwrap()).collect();
    assert!(times.is_sorted(), "{out}");
    // How each copy came in: the webhook delivery (order 1001 was delivered) or the poller.
    let order_enqueued: Vec<&str> = entries
        .iter()
        .filter(|e| e["kind"] == "order" && e["stage"] == "enqueued")
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(order_enqueued.iter().any(|m| m.contains("by webhook order.created (delivery ")), "{order_enqueued:?}");
    assert!(order_enqueued.iter().any(|m| m.contains("by the poller")), "{order_enqueued:?}");
    let (ok, out, _) = mlc(dir.path(), &["trace", "account.move:1", "--json"]);
    assert!(ok);
    let entries: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(entries.as_array().unwrap().iter().any(|e| e["source_id"] == "1001"));

    let (ok, out, _) = mlc(dir.path(), &["failed", "list", "--json"]);
    assert!(ok);
    let failed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(failed.as_array().unwrap().len(), 1);
    assert_eq!(failed[0]["source_id"], "1100");
    assert!(failed[0]["reason"].as_str().unwrap().contains("GNOME-1"));

    let (ok, _, err) = mlc(dir.path(), &["replay"]);
    assert!(!ok && err.contains("--all"), "{err}");
    let (ok, _, err) = mlc(dir.path(), &["replay", "9999"]);
    assert!(!ok && err.contains("not a failed record"), "{err}");
    let (ok, out, _) = mlc(dir.path(), &["replay", "1100"]);
    assert!(ok && out.contains("queued 1 failed record"), "{out}");
    let (_, out, _) = mlc(dir.path(), &["failed", "list"]);
    assert!(out.contains("no failed records"), "{out}");
    let (ok, _, err) = mlc(dir.path(), &["trace", "424242"]);
    assert!(!ok && err.contains("nothing in the audit trail"), "{err}");
}

#[test]
fn every_command_explains_itself_with_an_example() {
    let commands: &[&[&str]] = &[
        &["demo"],
        &["serve"],
        &["sync"],
        &["backfill"],
        &["preview"],
        &["trace"],
        &["replay"],
        &["failed", "list"],
        &["connection", "add"],
        &["connection", "list"],
        &["connection", "test"],
        &["connection", "remove"],
        &["mappings", "set"],
        &["mappings", "show"],
        &["mappings", "check"],
    ];
    for command in commands {
        let out = Command::new(env!("CARGO_BIN_EXE_mlc")).args(*command).arg("--help").output().unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{command:?}");
        assert!(help.contains("Example: mlc"), "{command:?} --help has no example:\n{help}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_mlc")).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("Exit codes: 0 done"));
}
