//! Payout latency: from the request (`POST /api/me/payouts`) to the signed transaction accepted
//! by the node (`broadcast`), against a real hardhat node on this machine, with the release
//! server. Goal: < 1 s.
//!
//! `cargo build --release -p livestars-server && cargo bench -p livestars-e2e --bench payouts`
//! Env: BENCH_PAYOUTS (default 100).

use std::time::{Duration, Instant};

use livestars_e2e::chain::{Node, LIVE, TREASURY, TREASURY_KEY};
use livestars_e2e::{sign_up, Backend, Instance};
use serde_json::{json, Value};

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let n: usize = std::env::var("BENCH_PAYOUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let node = Node::start().await;
    let issuer = node.accounts[1].clone();
    let token = node.deploy_token(&issuer, 18, 1_000_000 * LIVE).await;
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("hot.key");
    std::fs::write(&key_file, TREASURY_KEY).unwrap();
    let key_path = key_file.to_str().unwrap().to_string();
    let env = [
        ("LIVESTARS_CHAIN_RPC_URL", node.url.as_str()),
        ("LIVESTARS_CHAIN_ID", "31337"),
        ("LIVESTARS_CHAIN_TOKEN", token.as_str()),
        ("LIVESTARS_CHAIN_KEY_FILE", key_path.as_str()),
        ("LIVESTARS_CHAIN_CONFIRMATIONS", "1"),
        ("LIVESTARS_CHAIN_POLL_MS", "200"),
        ("LIVESTARS_CHAIN_START_BLOCK", "0"),
        ("LIVESTARS_LOG", "warn"),
    ];
    let i = Instance::federating(Backend::Sqlite, &env);
    let http = livestars_e2e::http_client();
    let t = sign_up(&http, &i.url, "bench").await;
    let wallet = node.accounts[2].clone();
    let c: Value = http
        .post(format!("{}/api/wallet/challenges", i.url))
        .json(&json!({"address": wallet, "purpose": "bind"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sig = node
        .personal_sign(&wallet, c["message"].as_str().unwrap())
        .await;
    let r = http
        .put(format!("{}/api/me/wallet/address", i.url))
        .bearer_auth(&t)
        .json(&json!({"nonce": c["nonce"], "signature": sig}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    node.transfer(&token, &issuer, &wallet, 1000 * LIVE).await;
    node.transfer(&token, &wallet, TREASURY, 1000 * LIVE).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let w: Value = http
            .get(format!("{}/api/me/wallet", i.url))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if w["balance"] == "1000" {
            break;
        }
        assert!(Instant::now() < deadline, "deposit not credited");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut server_ms = Vec::with_capacity(n);
    let mut client_ms = Vec::with_capacity(n);
    for k in 0..n {
        let start = Instant::now();
        let p: Value = http
            .post(format!("{}/api/me/payouts", i.url))
            .bearer_auth(&t)
            .json(&json!({"amount": "0.5", "idempotency_key": format!("bench-{k:06}")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = p["id"].as_i64().expect("payout id");
        let p = loop {
            let p: Value = http
                .get(format!("{}/api/me/payouts/{id}", i.url))
                .bearer_auth(&t)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if p["broadcast_at"].is_string() {
                break p;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        client_ms.push(start.elapsed().as_secs_f64() * 1000.0);
        let at = |k: &str| chrono_ms(p[k].as_str().unwrap());
        server_ms.push(at("broadcast_at") - at("created_at"));
    }
    let stats = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        let pct = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        format!(
            "median {:.1} ms, p95 {:.1} ms, max {:.1} ms",
            pct(0.5),
            pct(0.95),
            pct(1.0)
        )
    };
    println!(
        "payout latency, request to broadcast, {n} payouts one after another (hardhat on this machine, SQLite): \
         server-side {}; seen by the client (incl. polling) {}; goal < 1 s",
        stats(&mut server_ms),
        stats(&mut client_ms)
    );
}

/// Milliseconds of an RFC 3339 UTC timestamp within its day (enough for differences here).
fn chrono_ms(s: &str) -> f64 {
    // 2026-11-29T21:03:04.123456Z
    let time = s.split('T').nth(1).unwrap_or("0:0:0").trim_end_matches('Z');
    let mut parts = time.split(':');
    let h: f64 = parts.next().unwrap_or("0").parse().unwrap_or(0.0);
    let m: f64 = parts.next().unwrap_or("0").parse().unwrap_or(0.0);
    let sec: f64 = parts.next().unwrap_or("0").parse().unwrap_or(0.0);
    ((h * 60.0 + m) * 60.0 + sec) * 1000.0
}
