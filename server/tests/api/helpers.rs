//! One harness for the API tests: a real server on 127.0.0.1:0 over a fresh, migrated database
//! of the chosen backend (a temporary SQLite file, or a PostgreSQL database with a unique name
//! that is dropped afterwards). Logs are quiet unless `TEST_LOG` is set.
//!
//! PostgreSQL is found at `LIVESTARS_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432`). If it is unreachable the PostgreSQL tests fail: they
//! are never skipped silently.

use std::sync::Once;

use livestars_server::config::{DatabaseTarget, Secret};
use livestars_server::db::Db;
use livestars_server::{Application, Config};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    /// An admin registered as verifier, made on first use: (API token, age identity).
    admin: tokio::sync::OnceCell<(String, livestars_envelope::Identity)>,
    pub address: String,
    pub client: reqwest::Client,
    pub db: Db,
    pub config: Config,
    handle: actix_web::dev::ServerHandle,
    _dir: tempfile::TempDir,
    pg_db: Option<(String, String)>,
}

static TRACING: Once = Once::new();

fn pg_base() -> String {
    livestars_testkit::postgres_base()
}

pub fn drop_pg_database(name: &str) {
    livestars_testkit::drop_database(name);
}

/// A fresh configuration and database target of `backend` in a new temporary directory.
pub fn fresh_config(backend: Backend) -> (Config, tempfile::TempDir, Option<String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config {
        bind: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        workers: 1,
        db_pool_size: 4,
        // Each test that checks a limit sets it; the others sign up and tip freely.
        limits: livestars_server::config::Limits::unlimited(),
        ..Config::default()
    };
    let mut pg_name = None;
    if backend == Backend::Postgres {
        let (name, url) = livestars_testkit::TestDatabase::create("ls_test").keep();
        config.database_url = Secret::new(url);
        pg_name = Some(name);
    }
    (config, dir, pg_name)
}

pub fn open_db(config: &Config) -> Db {
    let target: DatabaseTarget = config.database().expect("database target");
    Db::open(&target, config.db_pool_size).expect("open and migrate database")
}

/// An HTTP client. The workspace's reqwest has TLS without a built-in crypto provider (the
/// console brings rustls with ring), so the process-wide provider is installed first.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
    TRACING.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter("debug")
                .with_test_writer()
                .try_init();
        }
    });
    let (mut config, dir, pg_name) = fresh_config(backend);
    tweak(&mut config);
    let cfg = config.clone();
    let db = tokio::task::spawn_blocking(move || open_db(&cfg))
        .await
        .expect("join");
    let app = Application::with_db(config.clone(), db.clone())
        .await
        .expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        admin: tokio::sync::OnceCell::new(),
        address,
        client: http_client(),
        db,
        config,
        handle,
        _dir: dir,
        pg_db: pg_name.map(|n| (n, pg_base())),
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop serving; the runtime ends with the test anyway.
        drop(self.handle.stop(false));
        if let Some((name, _)) = self.pg_db.take() {
            drop_pg_database(&name);
        }
    }
}

/// A signed-in user as the tests drive it.
pub struct User {
    pub token: String,
    pub id: i64,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn post_json(
        &self,
        path: &str,
        body: &Value,
        token: Option<&str>,
    ) -> reqwest::Response {
        let mut r = self.client.post(self.url(path)).json(body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().await.expect("request")
    }

    pub async fn patch_json(&self, path: &str, body: &Value, token: &str) -> reqwest::Response {
        self.client
            .patch(self.url(path))
            .json(body)
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut r = self.client.get(self.url(path));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().await.expect("request")
    }

    pub async fn post_empty(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    /// Sign up and sign in a viewer.
    /// `DELETE /api/me`, confirmed with `password`.
    pub async fn delete_me(&self, token: &str, password: &str) -> reqwest::Response {
        self.client
            .delete(self.url("/api/me"))
            .bearer_auth(token)
            .json(&json!({ "password": password }))
            .send()
            .await
            .expect("request")
    }

    pub async fn viewer(&self, username: &str) -> User {
        let password = "a long enough password";
        let r = self
            .post_json(
                "/api/accounts",
                &json!({"username": username, "password": password}),
                None,
            )
            .await;
        assert_eq!(r.status(), 201, "sign-up of {username}");
        let r = self
            .post_json(
                "/api/sessions",
                &json!({"username": username, "password": password}),
                None,
            )
            .await;
        assert_eq!(r.status(), 200, "sign-in of {username}");
        let v: Value = r.json().await.expect("session json");
        User {
            token: v["token"].as_str().expect("token").to_string(),
            id: v["account"]["id"].as_i64().expect("id"),
        }
    }

    /// A viewer who became a model; returns her and her room id.
    pub async fn model(&self, username: &str) -> (User, i64) {
        let u = self.viewer(username).await;
        let r = self.post_empty("/api/me/model", &u.token).await;
        assert_eq!(r.status(), 200, "become model");
        let p: Value = self
            .get(&format!("/api/profiles/{username}"), None)
            .await
            .json()
            .await
            .expect("profile");
        let room = p["room_id"].as_i64().expect("room id");
        (u, room)
    }
}

/// Assert an error response: status and error code; returns the body.
pub async fn assert_error(r: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(r.status().as_u16(), status, "status");
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(ct.starts_with("application/json"), "content-type {ct}");
    let v: Value = r.json().await.expect("error json");
    assert_eq!(v["error"], code, "error body {v}");
    assert!(
        v["message"].as_str().is_some_and(|m| !m.is_empty()),
        "message in {v}"
    );
    v
}

/// Generate one test per backend for each named `async fn(TestApp)` in the calling module.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::helpers::spawn_app($crate::helpers::Backend::Sqlite).await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::helpers::spawn_app($crate::helpers::Backend::Postgres).await).await
                }
            )*
        }
    };
}

/// A model's document as the tests upload it: a PNG header and a recognisable "personal" line.
pub const ID_PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR PASSPORT 4711 JANE DOE 1990-01-01";

impl TestApp {
    /// Register a fresh age identity as a verifier key of `admin_token`'s admin; returns it.
    pub async fn add_verifier_key(&self, admin_token: &str) -> livestars_envelope::Identity {
        let identity = livestars_envelope::Identity::generate();
        let r = self
            .post_json(
                "/api/admin/verifiers",
                &json!({"recipient": identity.to_public().to_string()}),
                Some(admin_token),
            )
            .await;
        assert_eq!(r.status(), 201, "register verifier");
        identity
    }

    /// `GET path` as JSON (any status).
    pub async fn get_json(&self, path: &str, token: Option<&str>) -> Value {
        self.get(path, token).await.json().await.expect("json body")
    }

    /// A room's status as the public sees it.
    pub async fn room_status(&self, room: i64) -> String {
        let v = self.get_json(&format!("/api/rooms/{room}"), None).await;
        v["status"].as_str().unwrap_or_default().to_string()
    }

    /// The caller's verification status (`GET /api/me/verification`).
    pub async fn verification(&self, token: &str) -> Value {
        self.get("/api/me/verification", Some(token))
            .await
            .json()
            .await
            .expect("verification json")
    }

    /// An admin with an API token, registered as verifier with an age identity made here.
    pub async fn verifier(&self) -> &(String, livestars_envelope::Identity) {
        self.admin
            .get_or_init(|| async {
                let token = self.make_admin("chief").await;
                let identity = self.add_verifier_key(&token).await;
                (token, identity)
            })
            .await
    }

    /// An admin account with an admin API token, as `livestars admin create` makes them.
    pub async fn make_admin(&self, username: &str) -> String {
        use livestars_server::accounts::{self, Password, TokenKind, Username};
        let db = self.db.clone();
        let username = username.to_string();
        tokio::task::spawn_blocking(move || {
            let name = Username::parse(&username).unwrap();
            let hash =
                accounts::hash_password(&Password::parse("admin password").unwrap()).unwrap();
            db.write_blocking(|conn| {
                let u = accounts::create_user(conn, &name, &hash, livestars_api::Role::Admin)?;
                accounts::issue_token(conn, u.id, TokenKind::AdminApi, None)
            })
            .unwrap()
            .0
        })
        .await
        .unwrap()
    }

    /// Upload `bytes` as `token`'s ID document.
    pub async fn upload_iddoc(&self, token: &str, bytes: Vec<u8>) -> reqwest::Response {
        self.client
            .post(self.url("/api/iddocs"))
            .bearer_auth(token)
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .expect("request")
    }

    /// Approve document `id` as the verifier, for an adult born in 1990.
    pub async fn approve(&self, id: i64, sha256: &str) -> reqwest::Response {
        let (admin, _) = self.verifier().await;
        let proof = self.key_proof(id).await;
        self.post_json(
            &format!("/api/admin/iddocs/{id}/decision"),
            &json!({"decision": "approve", "sha256": sha256, "date_of_birth": "1990-01-01",
                "key_proof": proof}),
            Some(admin),
        )
        .await
    }

    /// Document `id`'s key proof as the verifier computes it on her machine (unwrap the key
    /// with her identity, hash it); `None` when she cannot get or unwrap the key.
    pub async fn key_proof(&self, id: i64) -> Option<String> {
        use livestars_envelope::ExposeSecret;
        let (admin, identity) = self.verifier().await;
        let r = self
            .get(&format!("/api/admin/iddocs/{id}/key"), Some(admin))
            .await;
        if r.status() != 200 {
            return None;
        }
        let key: Value = r.json().await.ok()?;
        let doc_key =
            livestars_server::iddocs::crypto::unwrap_key(key["wrapped_key"].as_str()?, identity)
                .ok()?;
        Some(livestars_api::key_proof::proof(
            doc_key.to_string().expose_secret(),
        ))
    }

    /// A model whose ID document is approved: she may go live.
    pub async fn verified_model(&self, username: &str) -> (User, i64) {
        self.verifier().await;
        let (m, room) = self.model(username).await;
        let r = self.upload_iddoc(&m.token, ID_PNG.to_vec()).await;
        assert_eq!(r.status(), 201, "upload");
        let doc: Value = r.json().await.unwrap();
        let r = self
            .approve(doc["id"].as_i64().unwrap(), doc["sha256"].as_str().unwrap())
            .await;
        assert_eq!(r.status(), 200, "approve");
        (m, room)
    }
}

/// Every file below `dir`, recursively.
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}
