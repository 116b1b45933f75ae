//! Interop with an independent ActivityPub implementation: bovine (PyPI), driven by
//! `tests/interop/bovine_peer.py` from the project's virtualenv (`scripts/test` installs it).
//! The peer looks Anna up by WebFinger, fetches her actor, sends a signed Follow (digest in
//! lower case, as bovine writes it), verifies our signed Accept with bovine's own checker, and
//! sends a signed Undo that we accept.

use std::path::PathBuf;

use livestars_e2e::{http_client, Backend, Instance};
use serde_json::{json, Value};

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("LIVESTARS_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(
        venv.exists(),
        "{} is missing: run ./scripts/test (it installs bovine into .venv)",
        venv.display()
    );
    venv
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bovine_follows_and_unfollows_a_model() {
    let b = Instance::federating(Backend::Sqlite, &[]);
    let http = http_client();
    let r = http
        .post(format!("{}/api/accounts", b.url))
        .json(&json!({"username": "anna", "password": "a long enough password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop/bovine_peer.py");
    let (url, handle) = (b.url.clone(), format!("anna@{}", b.domain()));
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python())
            .arg(&script)
            .arg(&url)
            .arg(&handle)
            .output()
    })
    .await
    .unwrap()
    .expect("run the bovine peer");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bovine peer failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let findings: Value = serde_json::from_str(stdout.trim()).expect("findings JSON");
    assert_eq!(findings["webfinger"], format!("{}/users/anna", b.url));
    assert_eq!(findings["follow_status"], 202);
    assert_eq!(findings["accept_verified"], true);
    assert_eq!(findings["followers_after_undo"], 0);
}
