//! The README's first command on a fresh directory: `livestars serve` with no configuration
//! creates and migrates `./data/livestars.db` and serves on the address it prints.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[tokio::test]
async fn serve_on_the_embedded_default_creates_data_and_answers() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(livestars_e2e::livestars_binary())
        .arg("serve")
        .current_dir(dir.path())
        // Only the port differs from the default, so tests can run beside a real instance.
        .env("LIVESTARS_BIND", "127.0.0.1:0")
        .env_remove("LIVESTARS_DATABASE_URL")
        .env_remove("LIVESTARS_DATA_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("Live Stars listening on ")
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_string();
    let client = livestars_e2e::http_client();
    let health: serde_json::Value = client
        .get(format!("{url}/api/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let signup = client
        .post(format!("{url}/api/accounts"))
        .json(&serde_json::json!({"username": "first", "password": "first password"}))
        .send()
        .await
        .unwrap()
        .status();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(health["database"], "sqlite");
    assert_eq!(signup, 201);
    assert!(dir.path().join("data/livestars.db").exists());
}
