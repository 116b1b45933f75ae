//! Directory throughput: requests per second of `GET /api/rooms` on an instance with 200 live
//! rooms (SQLite), against a bare actix-web handler returning the very same bytes, both driven
//! in the same run by the same load generator. Prints both rates and their ratio.
//!
//! Then the web pages: the home page (HTML, a page of 24 rooms) against the JSON directory of
//! the same 24 rooms (goal: HTML at least half the JSON rate), the home page's mean render time
//! one request at a time, and the weight of the home and room pages (HTML + CSS + JS, before
//! images; goal: under 100 KB each).
//!
//! `cargo bench -p livestars-server --bench directory` (env: BENCH_SECONDS, BENCH_CONNECTIONS).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use diesel::prelude::*;
use livestars_api::Role;
use livestars_server::accounts::{self, AccountError, Password, Username};
use livestars_server::db::open_sqlite;
use livestars_server::db::schema::{id_documents, rooms};
use livestars_server::{Application, Config};

const ROOMS: usize = 200;

fn env_num(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Hammer `url` with `connections` keep-alive clients for `secs`; returns requests per second.
async fn load(url: &str, connections: u64, secs: u64) -> f64 {
    let done = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let mut tasks = vec![];
    for _ in 0..connections {
        let (done, count, url) = (done.clone(), count.clone(), url.to_string());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .expect("client");
            while !done.load(Ordering::Relaxed) {
                let r = client.get(&url).send().await.expect("request");
                assert!(r.status().is_success(), "{}", r.status());
                r.bytes().await.expect("body");
                count.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // Warm-up, then measure.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let start_count = count.load(Ordering::Relaxed);
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let n = count.load(Ordering::Relaxed) - start_count;
    let rate = n as f64 / start.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    rate
}

fn main() -> anyhow::Result<()> {
    // The workspace's reqwest has TLS without a built-in crypto provider: install ring's.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let secs = env_num("BENCH_SECONDS", 5);
    let connections = env_num("BENCH_CONNECTIONS", 16);
    let dir = tempfile::tempdir()?;
    let db = open_sqlite(&dir.path().join("bench.db"))?;
    let hash =
        accounts::hash_password(&Password::parse("bench password").map_err(anyhow::Error::msg)?)?;
    db.write_blocking(|conn| {
        for i in 0..ROOMS {
            let name =
                Username::parse(&format!("model{i:03}")).map_err(AccountError::InvalidUsername)?;
            let user = accounts::create_user(conn, &name, &hash, Role::Viewer)?;
            accounts::become_model(conn, &user)?;
            // Approved and adult: the housekeeping sweep ends any show without it.
            let t = livestars_server::db::now();
            diesel::insert_into(id_documents::table)
                .values((
                    id_documents::user_id.eq(user.id),
                    id_documents::status.eq("approved"),
                    id_documents::sha256.eq("00"),
                    id_documents::size_bytes.eq(1i64),
                    id_documents::mime.eq("image/png"),
                    id_documents::uploaded_at.eq(t),
                    id_documents::decided_at.eq(Some(t)),
                    id_documents::adult.eq(true),
                ))
                .execute(conn)?;
            diesel::update(rooms::table.filter(rooms::user_id.eq(user.id)))
                .set((
                    rooms::status.eq("live"),
                    rooms::started_at.eq(Some(livestars_server::db::now())),
                    rooms::viewer_count.eq((i * 7 % 50) as i32),
                    rooms::guest_count.eq((i * 13 % 30) as i32),
                ))
                .execute(conn)?;
        }
        Ok::<_, AccountError>(())
    })?;

    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;

    let config = Config {
        bind: "127.0.0.1:0".into(),
        workers: 1,
        ..Config::default()
    };
    let app = server_rt.block_on(async { Application::with_db(config, db.clone()).await })?;
    let port = app.port();
    let app_url = format!("http://127.0.0.1:{port}/api/rooms?limit=50");
    server_rt.spawn(app.run_until_stopped());

    let body = client_rt.block_on(async { reqwest::get(&app_url).await?.bytes().await })?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let bare_port = listener.local_addr()?.port();
    let bare_body = web::Bytes::from(body.to_vec());
    let bare = server_rt.block_on(async move {
        Ok::<_, std::io::Error>(
            HttpServer::new(move || {
                let b = bare_body.clone();
                App::new().route(
                    "/api/rooms",
                    web::get().to(move || {
                        let b = b.clone();
                        async move { HttpResponse::Ok().content_type("application/json").body(b) }
                    }),
                )
            })
            .workers(1)
            .listen(listener)?
            .run(),
        )
    })?;
    server_rt.spawn(bare);
    let bare_url = format!("http://127.0.0.1:{bare_port}/api/rooms?limit=50");

    println!(
        "directory bench: {ROOMS} live rooms, page of 50 ({} bytes), {connections} connections, {secs} s each, 1 server worker",
        body.len()
    );
    let dir_rate = client_rt.block_on(load(&app_url, connections, secs));
    let bare_rate = client_rt.block_on(load(&bare_url, connections, secs));
    println!("directory  GET /api/rooms : {dir_rate:>10.0} req/s");
    println!("bare actix same bytes     : {bare_rate:>10.0} req/s");
    println!(
        "ratio directory/bare      : {:>10.1} %",
        100.0 * dir_rate / bare_rate
    );

    let base = format!("http://127.0.0.1:{port}");
    let html_url = format!("{base}/");
    let json_url = format!("{base}/api/rooms?limit=24&scope=all");
    let html_rate = client_rt.block_on(load(&html_url, connections, secs));
    let json_rate = client_rt.block_on(load(&json_url, connections, secs));
    println!("home page  GET /          : {html_rate:>10.0} req/s (24 rooms, HTML)");
    println!("directory  GET /api/rooms : {json_rate:>10.0} req/s (same 24 rooms, JSON)");
    println!(
        "ratio HTML/JSON           : {:>10.2} (goal >= 0.5)",
        html_rate / json_rate
    );
    let (mean, weights, cards, home) = client_rt.block_on(async {
        let client = reqwest::Client::new();
        let n = 200;
        let start = Instant::now();
        for _ in 0..n {
            client.get(&html_url).send().await?.bytes().await?;
        }
        let mean = start.elapsed() / n;
        let home = client.get(&html_url).send().await?.text().await?;
        let cards = home.matches("<li class=\"room\"").count();
        let mut weights = vec![];
        for (page, assets) in [
            ("/", vec!["/static/app.css", "/static/favicon.svg"]),
            (
                "/@model000/live",
                vec!["/static/app.css", "/static/favicon.svg", "/static/room.js"],
            ),
        ] {
            let mut total = client
                .get(format!("{base}{page}"))
                .send()
                .await?
                .bytes()
                .await?
                .len();
            for a in assets {
                total += client
                    .get(format!("{base}{a}"))
                    .send()
                    .await?
                    .bytes()
                    .await?
                    .len();
            }
            weights.push((page, total));
        }
        Ok::<_, reqwest::Error>((mean, weights, cards, home))
    })?;
    println!(
        "home page render, one at a time: {:>8.2} ms mean",
        mean.as_secs_f64() * 1000.0
    );
    println!("home page shows {cards} room cards");
    anyhow::ensure!(
        cards == 24,
        "the home page should show 24 of the 200 live rooms, not {cards}: {home}"
    );
    for (page, total) in weights {
        println!(
            "page weight {page:<16}: {:>8.1} KB (HTML + CSS + JS, uncompressed; goal < 100 KB)",
            total as f64 / 1024.0
        );
    }
    Ok(())
}
