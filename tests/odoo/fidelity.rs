//! The sandbox's wire format checked by implementations nobody here wrote: Python's standard
//! `xmlrpc.client` for XML-RPC and `urllib` + `json` for JSON-2.

use std::process::Command;

use shared::odoo::Val;

fn python() -> String {
    // Prefer the test venv's interpreter; any Python 3 has the standard library this needs.
    let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python");
    if std::path::Path::new(venv).exists() { venv.to_string() } else { "python3".to_string() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_clients_agree_with_the_sandbox() {
    let sandbox = crate::sandbox(19).await;
    let o = sandbox.options().clone();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/odoo/fidelity.py");
    let url = sandbox.url().to_string();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python())
            .args([script, &url, &o.database, &o.login, &o.api_key])
            .output()
            .expect("Python 3 must be installed to check the sandbox's wire format")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "fidelity.py failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("fidelity.py prints JSON");

    assert_eq!(report["version"]["server_version_info"][0], 19);
    assert_eq!(report["uid"], 2);
    assert_eq!(report["bad_login"], false);
    assert_eq!(report["amounts"], serde_json::json!(["53.38", "8.87", "62.25"]));
    assert_eq!(report["state"], "posted");
    assert_eq!(report["create_single"], "int");
    assert_eq!(report["create_list"], "list");
    assert_eq!(report["none_fault"], serde_json::json!([1, true]));
    assert_eq!(report["bad_key_fault"], 3);
    assert_eq!(report["private_fault"], 4);
    assert_eq!(report["user_error_fault"], 2);
    assert_eq!(report["json2"]["create"], serde_json::json!([200, "list"]));
    assert_eq!(report["json2"]["bad_key"], serde_json::json!([401, "werkzeug.exceptions.Unauthorized"]));
    assert_eq!(report["json2"]["ids_to_model_method"][0], 422);
    assert_eq!(report["json2"]["unknown_model"][0], 404);
    assert_eq!(report["json2"]["user_error"], serde_json::json!([422, "odoo.exceptions.UserError"]));
    assert_eq!(report["json2"]["get"][0], 405);

    // What Python created is there, as Python sent it.
    let partners =
        sandbox.search("res.partner", Val::list([Val::list([Val::from("ref"), Val::from("="), Val::from("py-1")])]));
    assert_eq!(partners.len(), 1);
    let row = sandbox.read("res.partner", &partners, &["name"]).remove(0);
    assert_eq!(row.get("name").and_then(Val::as_str), Some("Zoë & <Python>"));
}
