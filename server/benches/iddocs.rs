//! ID-document upload throughput: 10 MiB documents encrypted to 3 verifier recipients.
//! Prints (1) raw age encryption in memory on one core, (2) the storage path (encryption,
//! SHA-256, file write and fsync, key wrapping), (3) the HTTP upload endpoint end to end, and
//! how much each adds on top of raw encryption.
//!
//! `cargo bench -p livestars-server --bench iddocs` (env: BENCH_ROUNDS, default 8).

use std::io::Write;
use std::time::Instant;

use livestars_api::Role;
use livestars_server::accounts::{self, Password, TokenKind, Username};
use livestars_server::iddocs::{self, crypto, storage};
use livestars_server::{Application, Config};

const DOC: usize = 10 * 1024 * 1024;

fn mb_per_s(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / secs
}

fn main() -> anyhow::Result<()> {
    // The workspace's reqwest has TLS without a built-in crypto provider: install ring's.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let mut doc = b"%PDF-1.7\n".to_vec();
    doc.extend((0..DOC - 9).map(|i| (i * 31 % 251) as u8));
    let identities: Vec<_> = (0..3)
        .map(|_| livestars_envelope::Identity::generate())
        .collect();
    let recipients: Vec<_> = identities.iter().map(|i| i.to_public()).collect();

    // (1) raw encryption in memory.
    let start = Instant::now();
    for _ in 0..rounds {
        let key = crypto::new_document_key();
        let mut out = Vec::with_capacity(DOC + 64 * 1024);
        let mut w = crypto::encrypt_stream(&key, &mut out)?;
        for chunk in doc.chunks(64 * 1024) {
            w.write_all(chunk)?;
        }
        w.finish()?;
        crypto::wrap_key(&key, &recipients)?;
    }
    let raw = mb_per_s(DOC * rounds, start.elapsed().as_secs_f64());

    // (2) the storage path.
    let dir = tempfile::tempdir()?;
    let start = Instant::now();
    for _ in 0..rounds {
        let mut chunks = doc.chunks(64 * 1024);
        let stored = storage::store_encrypted(dir.path(), &recipients, DOC + 1, || {
            chunks.next().map(Ok::<_, std::io::Error>)
        })?;
        storage::remove(dir.path(), &stored.storage_key)?;
    }
    let store = mb_per_s(DOC * rounds, start.elapsed().as_secs_f64());

    // (3) the HTTP endpoint, on a real instance (SQLite) with 3 verifiers.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let data = tempfile::tempdir()?;
    let config = Config {
        bind: "127.0.0.1:0".into(),
        data_dir: data.path().to_path_buf(),
        workers: 1,
        iddoc_max_bytes: DOC + 1,
        // Throughput, not refusals: one model uploads again and again.
        limits: livestars_server::config::Limits::unlimited(),
        ..Config::default()
    };
    let http = rt.block_on(async move {
        let app = Application::build(config).await?;
        let db = app.db().clone();
        let url = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        let rs: Vec<String> = recipients.iter().map(|r| r.to_string()).collect();
        let token = tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
            let hash = accounts::hash_password(
                &Password::parse("bench password").map_err(anyhow::Error::msg)?,
            )?;
            let name = |s: &str| Username::parse(s).map_err(anyhow::Error::msg);
            db.write_blocking(|conn| {
                let admin = accounts::create_user(conn, &name("boss")?, &hash, Role::Admin)?;
                for r in &rs {
                    iddocs::add_verifier(conn, &admin, r)?;
                }
                let model =
                    accounts::create_user(conn, &name("bench_model")?, &hash, Role::Viewer)?;
                let model = accounts::become_model(conn, &model)?;
                let (token, _) = accounts::issue_token(conn, model.id, TokenKind::Session, None)?;
                Ok::<_, anyhow::Error>(token)
            })
        })
        .await??;
        let client = reqwest::Client::new();
        let start = Instant::now();
        for _ in 0..rounds {
            let r = client
                .post(format!("{url}/api/iddocs"))
                .bearer_auth(&token)
                .body(doc.clone())
                .send()
                .await?;
            anyhow::ensure!(r.status() == 201, "upload: {}", r.status());
        }
        Ok::<_, anyhow::Error>(mb_per_s(DOC * rounds, start.elapsed().as_secs_f64()))
    })?;

    println!("iddocs bench: {rounds} x 10 MiB documents, 3 verifier recipients");
    println!("raw age encryption, 1 core     : {raw:>8.0} MB/s");
    println!(
        "storage path (hash, file, fsync): {store:>8.0} MB/s  ({:+.0}% time vs raw)",
        100.0 * (raw / store - 1.0)
    );
    println!(
        "HTTP upload endpoint, end to end: {http:>8.0} MB/s  ({:+.0}% time vs raw)",
        100.0 * (raw / http - 1.0)
    );
    Ok(())
}
