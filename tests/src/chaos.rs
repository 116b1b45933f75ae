//! A chaos run of payouts: two `livestars` processes on one PostgreSQL and a real hardhat node;
//! payouts are requested on either process while the processes are killed (SIGKILL) and
//! restarted in turn. Afterwards every payout must be final, each confirmed payout must be
//! exactly one transfer on chain and each failed one none, and `livestars ledger check` must
//! pass. Bounded in `./scripts/test` (30 payouts, 10 kills); longer as the `chaos` bench.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::chain::TREASURY;
use crate::settle::{setup, Setup};
use crate::Backend;

/// How long a run is.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub payouts: usize,
    pub kills: usize,
}

/// What a run counted.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub requested: usize,
    pub confirmed: usize,
    pub failed: usize,
    /// Token transfers from the treasury to the users' addresses, on the canonical chain.
    pub transfers_on_chain: usize,
    /// Confirmed payouts whose transaction is not among those transfers (must be 0).
    pub confirmed_without_transfer: usize,
    pub kills: usize,
    pub ledger_check_passed: bool,
    pub ledger_check: String,
    pub elapsed: Duration,
}

const USERS: usize = 3;

/// A client without pooled connections: a killed process leaves none behind to reuse.
fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// Ask for a payout on process `first`, and on the other one while it does not answer; the
/// idempotency key makes the repeats one payout.
async fn request(
    http: &reqwest::Client,
    urls: &[String; 2],
    first: usize,
    token: &str,
    amount: &str,
    key: &str,
) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut p = first;
    loop {
        let r = http
            .post(format!("{}/api/me/payouts", urls[p]))
            .bearer_auth(token)
            .json(&json!({"amount": amount, "idempotency_key": key}))
            .send()
            .await;
        if let Ok(r) = r {
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap_or(Value::Null);
            if status == 201 || status == 200 {
                return v["id"].as_i64().expect("payout id");
            }
            assert!(status >= 500, "payout refused: {status} {v}");
        }
        assert!(Instant::now() < deadline, "no process took payout {key}");
        p = 1 - p;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn run(plan: Plan) -> Report {
    let started = Instant::now();
    let env = [
        ("LIVESTARS_CHAIN_CONFIRMATIONS", "1"),
        ("LIVESTARS_PAYOUT_LEASE_SECS", "2"),
        ("LIVESTARS_CHAIN_POLL_MS", "100"),
    ];
    let s = setup(Backend::Postgres, &env).await;
    let mut tokens = Vec::new();
    let mut addresses = Vec::new();
    let per_user = (plan.payouts / USERS + 1) as u128;
    for u in 0..USERS {
        let address = s.node.accounts[2 + u].clone();
        tokens.push(
            s.funded_user(&format!("chaos{u}"), &address, per_user)
                .await,
        );
        addresses.push(address);
    }
    let Setup {
        node,
        token,
        keys: _keys,
        instance,
        c: _,
    } = s;
    let second = instance.another_process();
    let mut procs = [instance, second];
    let urls = [procs[0].url.clone(), procs[1].url.clone()];
    let http = client();
    let kill_every = (plan.payouts / plan.kills.max(1)).max(1);
    let mut report = Report::default();
    let mut ids: Vec<(usize, i64)> = Vec::new();
    for k in 0..plan.payouts {
        let u = k % USERS;
        // Amounts from 0.01 to 0.99 LIVE: each user's payouts fit her balance.
        let amount = format!("0.{:02}", k % 99 + 1);
        let id = request(
            &http,
            &urls,
            k % 2,
            &tokens[u],
            &amount,
            &format!("chaos-{k:05}"),
        )
        .await;
        ids.push((u, id));
        report.requested += 1;
        if report.kills < plan.kills && (k + 1) % kill_every == 0 {
            // Kill a process mid-flight (the one that took the request, every other time).
            let victim = (k / kill_every) % 2;
            tokio::time::sleep(Duration::from_millis((k as u64 * 37) % 250)).await;
            procs[victim].kill();
            report.kills += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
            procs[victim].restart();
        }
    }
    // Everything final: confirmed or failed (blocks mined meanwhile for the confirmations).
    let deadline = Instant::now() + Duration::from_secs(180);
    let finals = loop {
        node.mine(1).await;
        let mut statuses = Vec::new();
        for (u, id) in &ids {
            let v: Value = http
                .get(format!("{}/api/me/payouts/{id}", urls[0]))
                .bearer_auth(&tokens[*u])
                .send()
                .await
                .expect("payout")
                .json()
                .await
                .expect("json");
            statuses.push(v);
        }
        if statuses
            .iter()
            .all(|p| p["status"] == "confirmed" || p["status"] == "failed")
        {
            break statuses;
        }
        assert!(
            Instant::now() < deadline,
            "payouts not final: {:?}",
            statuses
                .iter()
                .filter(|p| p["status"] != "confirmed" && p["status"] != "failed")
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let mut hashes = Vec::new();
    for a in &addresses {
        for log in node.transfers(&token, TREASURY, a).await {
            hashes.push(log["transactionHash"].as_str().unwrap_or("").to_string());
        }
    }
    report.transfers_on_chain = hashes.len();
    for p in &finals {
        if p["status"] == "confirmed" {
            report.confirmed += 1;
            if !hashes
                .iter()
                .any(|h| Some(h.as_str()) == p["tx_hash"].as_str())
            {
                report.confirmed_without_transfer += 1;
            }
        } else {
            report.failed += 1;
        }
    }
    // Balances add up: what each user was funded minus what she was paid.
    let out = procs[0].cli(&["ledger", "check"]);
    report.ledger_check = String::from_utf8_lossy(&out.stdout).to_string();
    report.ledger_check_passed = out.status.success()
        && report
            .ledger_check
            .contains("treasury reconciles with the ledger");
    report.elapsed = started.elapsed();
    report
}
