//! Tip throughput with three-tier referral chains on both sides, every tip to one model:
//! directly through `ledger::tip()` (8 threads, one transaction each) and through
//! `POST /api/rooms/{id}/tips` (32 concurrent clients; the server batches waiting tips into one
//! transaction), on SQLite or PostgreSQL. Goal: ≥ 2,000 tips/s through HTTP on PostgreSQL.
//!
//! `cargo bench -p livestars-server --bench tips` (SQLite);
//! `LIVESTARS_BENCH_POSTGRES=1 cargo bench -p livestars-server --bench tips` (PostgreSQL at
//! `LIVESTARS_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432`).
//! Env: BENCH_SECONDS (HTTP phase, default 5), BENCH_DIRECT (direct tips, default 4000).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use livestars_api::Role;
use livestars_server::accounts::{self, AccountError, Password, TokenKind, User, Username};
use livestars_server::config::{DatabaseTarget, Secret};
use livestars_server::db::schema::{rooms, users};
use livestars_server::db::Db;
use livestars_server::ledger::{self, Split, UNITS_PER_LIVE};
use livestars_server::{Application, Config};

const TIPPERS: usize = 32;

fn env_num(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn open(dir: &std::path::Path) -> anyhow::Result<(Db, Option<String>)> {
    if std::env::var_os("LIVESTARS_BENCH_POSTGRES").is_none() {
        return Ok((
            Db::open(&DatabaseTarget::Sqlite(dir.join("tips.db")), 8)?,
            None,
        ));
    }
    let (_, url) = livestars_testkit::TestDatabase::create("ls_bench_tips").keep();
    Ok((
        Db::open(&DatabaseTarget::Postgres(url.clone()), 16)?,
        Some(url),
    ))
}

fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir()?;
    let (db, pg) = open(dir.path())?;
    let backend = if pg.is_some() { "PostgreSQL" } else { "SQLite" };
    let hash =
        accounts::hash_password(&Password::parse("bench password").map_err(anyhow::Error::msg)?)?;
    // Referral chains: tippers ← t1 ← t2 ← t3, the model ← m1 ← m2 ← m3.
    let (model, room, tippers, tokens) = db.write_blocking(|conn| {
        let mut make = |name: &str, referrer: Option<i64>| -> Result<User, AccountError> {
            let u = accounts::create_user(
                conn,
                &Username::parse(name).map_err(AccountError::InvalidUsername)?,
                &hash,
                Role::Viewer,
            )?;
            diesel::update(users::table.find(u.id))
                .set(users::referred_by.eq(referrer))
                .execute(conn)?;
            Ok(u)
        };
        let t3 = make("tthree", None)?;
        let t2 = make("ttwo", Some(t3.id))?;
        let t1 = make("tone", Some(t2.id))?;
        let m3 = make("mthree", None)?;
        let m2 = make("mtwo", Some(m3.id))?;
        let m1 = make("mone", Some(m2.id))?;
        let model = make("model", Some(m1.id))?;
        let mut tippers = Vec::new();
        for i in 0..TIPPERS {
            tippers.push(make(&format!("tipper{i:02}"), Some(t1.id))?);
        }
        let model = accounts::become_model(conn, &model)?;
        diesel::update(rooms::table.filter(rooms::user_id.eq(model.id)))
            .set(rooms::status.eq("live"))
            .execute(conn)?;
        let room: i64 = rooms::table
            .filter(rooms::user_id.eq(model.id))
            .select(rooms::id)
            .first(conn)?;
        let mut tokens = Vec::new();
        for (i, t) in tippers.iter().enumerate() {
            ledger::credit_deposit(
                conn,
                t.id,
                &format!("0x{i:04x}"),
                0,
                1_000_000 * UNITS_PER_LIVE,
            )
            .map_err(|e| AccountError::Hashing(e.to_string()))?;
            tokens.push(accounts::issue_token(conn, t.id, TokenKind::Session, None)?.0);
        }
        Ok::<_, AccountError>((model, room, tippers, tokens))
    })?;
    let _ = model;
    let split = Split {
        model_bps: 7500,
        referral_bps: vec![200, 100, 50],
    };

    // Direct: 8 threads, each tip one transaction.
    let n = env_num("BENCH_DIRECT", 4000) as usize;
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..8 {
            let (db, next, split, tippers) = (db.clone(), next.clone(), split.clone(), &tippers);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= n {
                    break;
                }
                let t = &tippers[i % TIPPERS];
                db.write_blocking(|c| {
                    ledger::tip(
                        c,
                        &split,
                        t,
                        room,
                        1 + (i as i64 % 997) * 1000,
                        &format!("d{i:08}"),
                    )
                })
                .expect("tip");
            });
        }
    });
    let direct = n as f64 / start.elapsed().as_secs_f64();

    // HTTP: 32 clients for BENCH_SECONDS.
    let secs = env_num("BENCH_SECONDS", 5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut config = Config {
        bind: "127.0.0.1:0".into(),
        workers: 2,
        // Throughput, not refusals: one address plays every tipper.
        limits: livestars_server::config::Limits::unlimited(),
        ..Config::default()
    };
    if let Some(url) = &pg {
        config.database_url = Secret::new(url.clone());
    }
    let http_rate = rt.block_on(async {
        let app = Application::with_db(config, db.clone()).await?;
        let url = format!("http://127.0.0.1:{}/api/rooms/{room}/tips", app.port());
        tokio::spawn(app.run_until_stopped());
        // The bench's model has no ID document: the housekeeping that runs at start ends her
        // show. Put the room back on once it has run.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let db2 = db.clone();
        tokio::task::spawn_blocking(move || {
            db2.write_blocking(|c| {
                diesel::update(rooms::table.find(room))
                    .set(rooms::status.eq("live"))
                    .execute(c)
                    .map_err(livestars_server::db::DbError::from)
            })
        })
        .await??;
        let done = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let mut tasks = vec![];
        for (i, token) in tokens.iter().enumerate() {
            let (done, count, url, token) = (done.clone(), count.clone(), url.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut k = 0u64;
                while !done.load(Ordering::Relaxed) {
                    k += 1;
                    let r = client
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&serde_json::json!({"amount": "0.25", "idempotency_key": format!("h{i:02}-{k:09}")}))
                        .send()
                        .await
                        .expect("request");
                    assert_eq!(r.status(), 201);
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let c0 = count.load(Ordering::Relaxed);
        let t0 = Instant::now();
        tokio::time::sleep(Duration::from_secs(secs)).await;
        let rate = (count.load(Ordering::Relaxed) - c0) as f64 / t0.elapsed().as_secs_f64();
        done.store(true, Ordering::Relaxed);
        for t in tasks {
            let _ = t.await;
        }
        Ok::<_, anyhow::Error>(rate)
    })?;
    let report = db.write_blocking(ledger::check)?;
    println!("tips ({backend}, 3-tier referrals on both sides): ledger::tip() {direct:.0}/s (8 threads); HTTP {http_rate:.0}/s (32 clients, 2 workers); goal >= 2000/s through HTTP on PostgreSQL");
    println!(
        "ledger check after the run: {}",
        if report.ok() { "passed" } else { "FAILED" }
    );
    if let Some(url) = pg {
        drop(db);
        if let Some((_, name)) = url.rsplit_once('/') {
            livestars_testkit::drop_database(name);
        }
    }
    Ok(())
}
