//! End-to-end tests across processes: the real `livestars` binary, started as an operator
//! starts it. Later issues add several federating instances, a local EVM node, a browser and
//! tmux here.
#![forbid(unsafe_code)]

pub mod browser;
pub mod chain;
pub mod chaos;
pub mod settle;

use std::path::PathBuf;

/// The `livestars` binary built in this workspace's target directory, next to the test binary
/// (`cargo test --workspace` builds it before any test runs).
pub fn livestars_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("LIVESTARS_BIN") {
        return PathBuf::from(p);
    }
    workspace_binary("livestars")
}

/// The `livestars-admin` console binary, found the same way.
pub fn admin_binary() -> PathBuf {
    workspace_binary("livestars-admin")
}

fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> → target/<profile>/livestars
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target directory layout");
    let bin = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} not found: run `cargo build --workspace` first",
        bin.display()
    );
    bin
}

/// An HTTP client for the tests. The workspace's reqwest is built with TLS but without a crypto
/// provider of its own, so the process-wide one (ring) is installed first.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// `GET url` with a bearer token, as JSON.
pub async fn get_json(client: &reqwest::Client, url: &str, token: &str) -> serde_json::Value {
    client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json body")
}

/// `livestars-admin keygen` against `url`: writes `identity`, registers its recipient.
pub fn admin_keygen(
    url: &str,
    token_file: &std::path::Path,
    identity: &std::path::Path,
    ca_file: Option<&std::path::Path>,
) -> std::process::Output {
    let mut cmd = std::process::Command::new(admin_binary());
    cmd.args(["--url", url, "--token-file"])
        .arg(token_file)
        .arg("--identity")
        .arg(identity);
    if let Some(ca) = ca_file {
        cmd.arg("--ca-file").arg(ca);
    }
    cmd.arg("keygen")
        .output()
        .expect("run livestars-admin keygen")
}

/// The project's virtualenv Python (`scripts/test` installs schemathesis and bovine into it), or
/// `LIVESTARS_PYTHON`.
pub fn venv_python() -> PathBuf {
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

/// Run `tests/interop/<script>` with `args` under [`venv_python`]; its stdout as JSON.
pub fn run_interop(script: &str, args: &[&str]) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("interop")
        .join(script);
    let out = std::process::Command::new(venv_python())
        .arg(&path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {script}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{script} output {stdout:?}: {e}"))
}

/// The password every test account gets.
pub const PASSWORD: &str = "a long enough password";

/// Sign up `name` on `url` and sign in: the session token.
pub async fn sign_up(http: &reqwest::Client, url: &str, name: &str) -> String {
    sign_up_referred(http, url, name, None).await
}

/// Sign up `name` through `referrer`'s referral link and sign in: the session token.
pub async fn sign_up_referred(
    http: &reqwest::Client,
    url: &str,
    name: &str,
    referrer: Option<&str>,
) -> String {
    use serde_json::json;
    let r = http
        .post(format!("{url}/api/accounts"))
        .json(&json!({"username": name, "password": PASSWORD, "referrer": referrer}))
        .send()
        .await
        .expect("sign-up");
    assert_eq!(r.status(), 201, "sign-up of {name}");
    let r = http
        .post(format!("{url}/api/sessions"))
        .json(&json!({"username": name, "password": PASSWORD}))
        .send()
        .await
        .expect("sign-in");
    assert_eq!(r.status(), 200, "sign-in of {name}");
    let v: serde_json::Value = r.json().await.expect("json");
    v["token"].as_str().expect("token").to_string()
}

/// A model on `url` whose ID document the admin (`admin` token) approved, after registering a
/// fresh verifier recipient: (her token, her room id).
pub async fn verified_model(
    http: &reqwest::Client,
    url: &str,
    admin: &str,
    name: &str,
) -> (String, i64) {
    verified_model_referred(http, url, admin, name, None).await
}

/// The key proof of document `id`, as a verifier computes it on her machine: unwrap the
/// document key with her identity, hash it (`livestars_api::key_proof`).
pub async fn key_proof(
    http: &reqwest::Client,
    url: &str,
    admin: &str,
    id: &serde_json::Value,
    identity: &livestars_envelope::Identity,
) -> String {
    use livestars_envelope::ExposeSecret;
    let key: serde_json::Value = http
        .get(format!("{url}/api/admin/iddocs/{id}/key"))
        .bearer_auth(admin)
        .send()
        .await
        .expect("key")
        .json()
        .await
        .expect("key json");
    let armored = key["wrapped_key"].as_str().expect("wrapped key");
    let doc_key =
        livestars_envelope::unwrap_key(armored, identity).expect("wrapped to this verifier");
    livestars_api::key_proof::proof(doc_key.to_string().expose_secret())
}

/// Upload `plain` as a model's browser does: sealed on the client to a fresh document key
/// wrapped to the current verifiers (`POST /api/iddocs/sealed`), declared as `mime`.
pub async fn upload_sealed(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    plain: &[u8],
    mime: &str,
) -> reqwest::Response {
    use base64::Engine;
    use livestars_envelope::ExposeSecret;
    let info: serde_json::Value = http
        .get(format!("{url}/api/iddocs/recipients"))
        .bearer_auth(token)
        .send()
        .await
        .expect("recipients")
        .json()
        .await
        .expect("recipients json");
    let texts: Vec<String> = info["recipients"]
        .as_array()
        .expect("recipients")
        .iter()
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect();
    let recipients: Vec<_> = texts
        .iter()
        .map(|t| livestars_envelope::parse_recipient(t).expect("recipient"))
        .collect();
    let doc_key = livestars_envelope::new_document_key();
    let ct = livestars_envelope::encrypt_document(&doc_key, plain).expect("encrypt");
    let wrapped = livestars_envelope::wrap_key(&doc_key, &recipients).expect("wrap");
    let proof = livestars_api::key_proof::proof(doc_key.to_string().expose_secret());
    http.post(format!("{url}/api/iddocs/sealed"))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .header(
            "livestars-wrapped-key",
            base64::engine::general_purpose::STANDARD.encode(wrapped),
        )
        .header(
            "livestars-key-commitment",
            livestars_api::key_proof::commitment(&proof).expect("commitment"),
        )
        .header("livestars-recipients", texts.join(" "))
        .header("livestars-document-type", mime)
        .body(ct)
        .send()
        .await
        .expect("sealed upload")
}

/// A fresh verifier key for `admin`, an ID document uploaded by the model `token` (through the
/// API's server-side encryption) and approved with that key: its id.
pub async fn approved_document(
    http: &reqwest::Client,
    url: &str,
    admin: &str,
    token: &str,
) -> serde_json::Value {
    use serde_json::{json, Value};
    let identity = livestars_envelope::Identity::generate();
    let r = http
        .post(format!("{url}/api/admin/verifiers"))
        .bearer_auth(admin)
        .json(&json!({"recipient": identity.to_public().to_string()}))
        .send()
        .await
        .expect("register verifier");
    assert_eq!(r.status(), 201, "register verifier");
    let r = http
        .post(format!("{url}/api/iddocs"))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR PASSPORT 4711 TEST 1990-01-01".to_vec())
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 201, "upload");
    let doc: Value = r.json().await.expect("json");
    let proof = key_proof(http, url, admin, &doc["id"], &identity).await;
    let r = http
        .post(format!("{url}/api/admin/iddocs/{}/decision", doc["id"]))
        .bearer_auth(admin)
        .json(&json!({"decision": "approve", "sha256": doc["sha256"],
            "date_of_birth": "1990-01-01", "key_proof": proof}))
        .send()
        .await
        .expect("approve");
    assert_eq!(r.status(), 200, "approve");
    doc["id"].clone()
}

/// [`verified_model`], signed up through `referrer`'s link.
pub async fn verified_model_referred(
    http: &reqwest::Client,
    url: &str,
    admin: &str,
    name: &str,
    referrer: Option<&str>,
) -> (String, i64) {
    use serde_json::Value;
    let token = sign_up_referred(http, url, name, referrer).await;
    let r = http
        .post(format!("{url}/api/me/model"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("become model");
    assert_eq!(r.status(), 200);
    approved_document(http, url, admin, &token).await;
    let p: Value = http
        .get(format!("{url}/api/profiles/{name}"))
        .send()
        .await
        .expect("profile")
        .json()
        .await
        .expect("json");
    (token, p["room_id"].as_i64().expect("room id"))
}

/// Which database an instance runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server for tests (`LIVESTARS_TEST_POSTGRES_URL`, as `scripts/test` sets it).
pub use livestars_testkit::{free_port, postgres_base};

/// A `livestars serve` process on a random port, killed when dropped.
pub struct Instance {
    pub url: String,
    pub data_dir: tempfile::TempDir,
    child: std::process::Child,
    /// `postgres://…/db` when on PostgreSQL (the database is dropped with the instance).
    database_url: Option<String>,
    /// How it was started, to start it again after a kill.
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// Another process of the same instance (same database): the database is not its to drop.
    shares_db: bool,
    /// The process's stderr (its log), appended across restarts, unless LIVESTARS_E2E_LOGS
    /// sends it to the test's stderr.
    log_dir: std::sync::Arc<tempfile::TempDir>,
}

/// Every rate limit off, for instances that play many users from one address.
const UNLIMITED: &[(&str, &str)] = &[
    ("LIVESTARS_LIMIT_SIGN_IN_PER_IP", "off"),
    ("LIVESTARS_LIMIT_SIGN_IN_FAILURES_PER_ACCOUNT", "off"),
    ("LIVESTARS_LIMIT_SIGN_UP_PER_IP", "off"),
    ("LIVESTARS_LIMIT_CHALLENGES_PER_IP", "off"),
    ("LIVESTARS_LIMIT_REPORTS_PER_ACCOUNT", "off"),
    ("LIVESTARS_LIMIT_UPLOADS_PER_ACCOUNT", "off"),
    ("LIVESTARS_LIMIT_TIPS_PER_ACCOUNT", "off"),
    ("LIVESTARS_LIMIT_IDDOC_UPLOADS_PER_DAY", "1000"),
];

impl Instance {
    /// Start an instance on SQLite in a fresh directory.
    pub fn start() -> Instance {
        Self::spawn(
            vec!["serve".into(), "--bind".into(), "127.0.0.1:0".into()],
            vec![],
            None,
            tempfile::tempdir().expect("tempdir"),
            std::sync::Arc::new(tempfile::tempdir().expect("tempdir")),
        )
    }

    /// Start a federating instance at `http://localhost:<port>` (debug federation: http, ports
    /// and loopback allowed), on `backend`, with extra `LIVESTARS_*` settings.
    pub fn federating(backend: Backend, env: &[(&str, &str)]) -> Instance {
        let database_url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(livestars_testkit::TestDatabase::create("ls_e2e").keep().1),
        };
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        // The public URL names the port, so it is chosen before the process binds it; another
        // process (a browser's driver) may take it in between: then again, on another port.
        let mut failures = vec![];
        for _ in 0..3 {
            let port = free_port();
            let args = vec![
                "serve".into(),
                "--bind".into(),
                format!("127.0.0.1:{port}"),
                "--public-url".into(),
                format!("http://localhost:{port}"),
                "--federation-debug".into(),
            ];
            match Self::try_spawn(
                args,
                env.clone(),
                database_url.clone(),
                tempfile::tempdir().expect("tempdir"),
                std::sync::Arc::new(tempfile::tempdir().expect("tempdir")),
            ) {
                Ok(mut i) => {
                    i.url = format!("http://localhost:{port}");
                    return i;
                }
                Err(log) => failures.push(log),
            }
        }
        panic!("livestars did not start three times: {failures:#?}");
    }

    /// A second `livestars serve` process of the same instance: the same database, public URL
    /// and settings, on its own port (as behind a load balancer). Its `url` is its own port.
    pub fn another_process(&self) -> Instance {
        let port = free_port();
        let mut args = self.args.clone();
        if let Some(i) = args.iter().position(|a| a == "--bind") {
            if let Some(v) = args.get_mut(i + 1) {
                *v = format!("127.0.0.1:{port}");
            }
        }
        let mut i = Self::spawn(
            args,
            self.env.clone(),
            self.database_url.clone(),
            tempfile::tempdir().expect("tempdir"),
            std::sync::Arc::new(tempfile::tempdir().expect("tempdir")),
        );
        i.shares_db = true;
        i.url = format!("http://127.0.0.1:{port}");
        i
    }

    /// What the process logged so far (empty with LIVESTARS_E2E_LOGS set).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_dir.path().join("server.log")).unwrap_or_default()
    }

    fn spawn(
        args: Vec<String>,
        env: Vec<(String, String)>,
        database_url: Option<String>,
        data_dir: tempfile::TempDir,
        log_dir: std::sync::Arc<tempfile::TempDir>,
    ) -> Instance {
        Self::try_spawn(args, env, database_url, data_dir, log_dir)
            .unwrap_or_else(|log| panic!("livestars did not start; its log:\n{log}"))
    }

    /// Start a process; when it does not come up, its log.
    fn try_spawn(
        args: Vec<String>,
        env: Vec<(String, String)>,
        database_url: Option<String>,
        data_dir: tempfile::TempDir,
        log_dir: std::sync::Arc<tempfile::TempDir>,
    ) -> Result<Instance, String> {
        use std::io::{BufRead, BufReader};
        let stderr = if std::env::var_os("LIVESTARS_E2E_LOGS").is_some() {
            std::process::Stdio::inherit()
        } else {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log_dir.path().join("server.log"))
                .map(std::process::Stdio::from)
                .unwrap_or_else(|_| std::process::Stdio::null())
        };
        let mut cmd = std::process::Command::new(livestars_binary());
        cmd.args(&args)
            .arg("--data-dir")
            .arg(data_dir.path())
            .env_remove("LIVESTARS_DATABASE_URL")
            // One loopback address plays every user of a scenario: per-address limits would
            // refuse the scenario, not protect anything (the limits have tests of their own
            // in server/tests/api/security.rs). A test's own settings still win.
            .envs(UNLIMITED.iter().copied())
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(std::process::Stdio::piped())
            .stderr(stderr);
        if let Some(db) = &database_url {
            cmd.env("LIVESTARS_DATABASE_URL", db);
        }
        let mut child = cmd.spawn().expect("spawn livestars");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read");
        let Some(url) = line.trim().strip_prefix("Live Stars listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(log_dir.path().join("server.log"));
            return Err(format!("first line {line:?}; {}", log.unwrap_or_default()));
        };
        let url = url.to_string();
        Ok(Instance {
            url,
            data_dir,
            child,
            database_url,
            args,
            env,
            shares_db: false,
            log_dir,
        })
    }

    /// The federation domain (`localhost:<port>`).
    pub fn domain(&self) -> String {
        self.url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, r)| r)
            .to_string()
    }

    /// Kill the process (SIGKILL: no graceful shutdown).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Start the process again on the same port, data directory and database.
    pub fn restart(&mut self) {
        self.kill();
        let dir = std::mem::replace(&mut self.data_dir, tempfile::tempdir().expect("tempdir"));
        let url = self.url.clone();
        let mut fresh = Self::spawn(
            self.args.clone(),
            self.env.clone(),
            self.database_url.take(),
            dir,
            self.log_dir.clone(),
        );
        fresh.url = url;
        fresh.shares_db = self.shares_db;
        std::mem::swap(self, &mut fresh);
        // `fresh` now holds the dead process and a throwaway directory; nothing to drop twice.
        fresh.database_url = None;
    }

    /// Set (or with `None` remove) a `LIVESTARS_*` setting for the next [`Instance::restart`].
    pub fn set_env(&mut self, key: &str, value: Option<&str>) {
        self.env.retain(|(k, _)| k != key);
        if let Some(v) = value {
            self.env.push((key.to_string(), v.to_string()));
        }
    }

    /// Run `livestars <args>` against this instance's data directory, database and settings.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = std::process::Command::new(livestars_binary());
        cmd.args(args)
            .arg("--data-dir")
            .arg(self.data_dir.path())
            .env_remove("LIVESTARS_DATABASE_URL")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if let Some(db) = &self.database_url {
            cmd.env("LIVESTARS_DATABASE_URL", db);
        }
        cmd.output().expect("run livestars")
    }

    /// `livestars admin create`: the admin API token.
    pub fn create_admin(&self, username: &str) -> String {
        let mut cmd = std::process::Command::new(livestars_binary());
        cmd.args(["admin", "create", "--username", username, "--data-dir"])
            .arg(self.data_dir.path())
            .env_remove("LIVESTARS_DATABASE_URL");
        if let Some(db) = &self.database_url {
            cmd.env("LIVESTARS_DATABASE_URL", db);
        }
        let out = cmd.output().expect("admin create");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .expect("utf8")
            .trim()
            .to_string()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.shares_db {
            return;
        }
        if let Some(db) = self.database_url.take() {
            if let Some(name) = db.rsplit('/').next() {
                livestars_testkit::drop_database(name);
            }
        }
    }
}
