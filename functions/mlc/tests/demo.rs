//! The README's first command, run as a user runs it.

use std::process::Command;

#[test]
fn the_demo_runs_end_to_end_and_says_it_used_sandboxes() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mlc")).args(["demo", "--dir"]).arg(dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("against SANDBOXES"), "{stdout}");
    assert!(stdout.contains("customer invoices:     7"), "{stdout}");
    assert!(stdout.contains("credit notes:          1"), "{stdout}");
    assert!(stdout.contains("FAILED order 1100: no mapping rule matches line \"Garden gnome\""), "{stdout}");
    assert!(stdout.contains("Trace of order 1001"), "{stdout}");
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
