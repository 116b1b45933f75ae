//! The `livestars` binary as an operator uses it: real processes, real ports, real files.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use diesel::{Connection, RunQueryDsl};

const BIN: &str = env!("CARGO_BIN_EXE_livestars");

fn livestars(dir: &std::path::Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir);
    // The tests decide the environment; an operator's LIVESTARS_* must not leak in.
    for (k, _) in std::env::vars() {
        if k.starts_with("LIVESTARS_") {
            c.env_remove(k);
        }
    }
    c
}

struct Served {
    child: Child,
    url: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `livestars serve` and wait for the line announcing its URL.
fn serve(mut cmd: Command) -> Served {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn livestars");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read");
    let url = line
        .trim()
        .strip_prefix("Live Stars listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    Served { child, url }
}

fn get_json(url: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut r = reqwest::Client::new().get(url);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let r = r.send().await.expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.expect("json"))
    })
}

#[test]
fn two_instances_side_by_side_with_their_own_data() {
    let dir = tempfile::tempdir().unwrap();
    let a = serve({
        let mut c = livestars(dir.path());
        c.args(["serve", "--bind", "127.0.0.1:0", "--data-dir", "a"]);
        c
    });
    let b = serve({
        let mut c = livestars(dir.path());
        c.args(["serve", "--data-dir", "b"])
            .env("LIVESTARS_BIND", "127.0.0.1:0");
        c
    });
    assert_ne!(a.url, b.url);
    for s in [&a, &b] {
        let (status, v) = get_json(&format!("{}/api/health", s.url), None);
        assert_eq!(status, 200);
        assert_eq!(v["database"], "sqlite");
    }
    assert!(dir.path().join("a/livestars.db").exists());
    assert!(dir.path().join("b/livestars.db").exists());
}

#[test]
fn admin_create_prints_a_working_one_time_token() {
    let dir = tempfile::tempdir().unwrap();
    let out = livestars(dir.path())
        .args(["admin", "create", "--username", "root_admin"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(token.len(), 64);

    let again = livestars(dir.path())
        .args(["admin", "create", "--username", "root_admin"])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("taken"));

    let bad = livestars(dir.path())
        .args(["admin", "create", "--username", "Root!"])
        .output()
        .unwrap();
    assert!(!bad.status.success());

    let s = serve({
        let mut c = livestars(dir.path());
        c.args(["serve", "--bind", "127.0.0.1:0"]);
        c
    });
    let (status, me) = get_json(&format!("{}/api/me", s.url), Some(&token));
    assert_eq!(status, 200);
    assert_eq!(me["role"], "admin");
    assert_eq!(me["username"], "root_admin");
}

#[test]
fn config_check_prints_effective_config_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("livestars.toml"),
        "workers = 3\nbind = \"127.0.0.1:9999\"\n",
    )
    .unwrap();
    let out = livestars(dir.path())
        .args(["config", "check"])
        .env("LIVESTARS_BIND", "127.0.0.1:7777")
        .env(
            "LIVESTARS_DATABASE_URL",
            "postgres://app:hunter2@db.internal/live",
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("workers = 3"), "file read by default: {text}");
    assert!(
        text.contains("127.0.0.1:7777"),
        "env overrides file: {text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("app:***@db.internal"), "{text}");
}

#[test]
fn config_check_refuses_invalid_values_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = livestars(dir.path())
        .args(["config", "check"])
        .env("LIVESTARS_BIND", "everywhere")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bind") && err.contains("everywhere"), "{err}");

    let file = dir.path().join("other.toml");
    std::fs::write(&file, "wrokers = 2\n").unwrap();
    let out = livestars(dir.path())
        .args(["config", "check", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrokers"));

    let out = livestars(dir.path())
        .args(["serve", "--config", "missing.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));
}

#[test]
fn same_binary_runs_on_postgres() {
    let db = livestars_testkit::TestDatabase::create("ls_cli");
    let url = db.url().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = livestars(dir.path())
        .arg("migrate")
        .env("LIVESTARS_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("postgres"));
    {
        let s = serve({
            let mut c = livestars(dir.path());
            c.args(["serve", "--bind", "127.0.0.1:0"])
                .env("LIVESTARS_DATABASE_URL", &url);
            c
        });
        let (status, v) = get_json(&format!("{}/api/health", s.url), None);
        assert_eq!(status, 200);
        assert_eq!(v["database"], "postgres");
    }
    assert!(
        !dir.path().join("data").join("livestars.db").exists(),
        "no SQLite file on PostgreSQL"
    );
    drop(db);
}

#[test]
fn admin_add_verifier_registers_a_recipient_and_refuses_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| livestars(dir.path()).args(args).output().unwrap();
    assert!(run(&["admin", "create", "--username", "vera"])
        .status
        .success());
    let recipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
    let out = run(&[
        "admin",
        "add-verifier",
        "--username",
        "vera",
        "--recipient",
        recipient,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(recipient));

    let bad = run(&[
        "admin",
        "add-verifier",
        "--username",
        "vera",
        "--recipient",
        "age1oops",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("recipient"));
    let again = run(&[
        "admin",
        "add-verifier",
        "--username",
        "vera",
        "--recipient",
        recipient,
    ]);
    assert!(!again.status.success());
    let nobody = run(&[
        "admin",
        "add-verifier",
        "--username",
        "nobody",
        "--recipient",
        recipient,
    ]);
    assert!(!nobody.status.success());
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("no account named nobody"));
}

#[test]
fn ledger_check_passes_on_a_sound_ledger_and_names_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| livestars(dir.path()).args(args).output().unwrap();
    assert!(run(&["admin", "create", "--username", "vera"])
        .status
        .success());
    // A deposit credited as the chain watcher does it: a balanced ledger.
    let db_path = dir.path().join("data/livestars.db");
    let db = livestars_server::db::open_sqlite(&db_path).unwrap();
    db.write_blocking(|c| livestars_server::ledger::credit_deposit(c, 1, "0xabc", 0, 150_000_000))
        .unwrap();
    let out = run(&["ledger", "check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("sum of balances: 0 LIVE"), "{stdout}");
    assert!(stdout.contains("ledger check passed"), "{stdout}");
    // Someone edits a balance behind the ledger's back: the check fails and says where.
    let mut conn = diesel::SqliteConnection::establish(db_path.to_str().unwrap()).unwrap();
    diesel::sql_query("UPDATE ledger_accounts SET balance = balance + 1 WHERE kind = 'user'")
        .execute(&mut conn)
        .unwrap();
    let out = run(&["ledger", "check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        stdout.contains("sum of balances: 0.00000001 LIVE"),
        "{stdout}"
    );
    assert!(stdout.contains("transfers sum to 150000000"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("ledger check failed"));
}
