//! The attacker's floods against a real `livestars` process (release build, SQLite, loopback
//! only), each bounded in time: prints the server's resident memory (peak and after a pause),
//! the directory's latency under attack and the share of refused requests.
//!
//! 1. **Password flood**: 128 tasks signing up and 128 signing in with wrong passwords, for
//!    `BENCH_SECONDS` (default 30) — once with the default limits (one address: mostly 429s),
//!    once with every limit off, as a distributed attacker would see it (the hashing threads
//!    and their queue are all that stand).
//! 2. **Slow-hash write stall**: 64 parallel wrong-password account deletions while another
//!    user writes; prints that user's write latency.
//! 3. **Challenge flood**: 64 tasks asking for wallet challenges for 10 s with the default
//!    limits; prints how many were issued (each is a row) and refused.
//!
//! `cargo bench -p livestars-server --bench attack` (env: BENCH_SECONDS).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const PASSWORD: &str = "a long enough password";

fn env_num(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Server {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(envs: &[(&str, &str)]) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_livestars"));
    cmd.arg("serve")
        .arg("--bind")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(dir.path())
        .env("LIVESTARS_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start livestars");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("listening line");
    let url = line
        .trim()
        .strip_prefix("Live Stars listening on ")
        .expect("listening line")
        .to_string();
    Server {
        child,
        url,
        _dir: dir,
    }
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    limited: AtomicU64,
    busy: AtomicU64,
    other: AtomicU64,
}

impl Counts {
    fn add(&self, status: u16, ok: &[u16]) {
        let c = if ok.contains(&status) {
            &self.ok
        } else if status == 429 {
            &self.limited
        } else if status == 503 {
            &self.busy
        } else {
            &self.other
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    fn line(&self) -> String {
        let (ok, l, b, o) = (
            self.ok.load(Ordering::Relaxed),
            self.limited.load(Ordering::Relaxed),
            self.busy.load(Ordering::Relaxed),
            self.other.load(Ordering::Relaxed),
        );
        let all = (ok + l + b + o).max(1) as f64;
        format!(
            "{} requests: {ok} done, {l} refused 429 ({:.1}%), {b} refused 503 ({:.1}%), {o} other",
            ok + l + b + o,
            100.0 * l as f64 / all,
            100.0 * b as f64 / all
        )
    }
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

async fn sign_up(c: &reqwest::Client, url: &str, name: &str) -> String {
    let r = c
        .post(format!("{url}/api/accounts"))
        .json(&json!({"username": name, "password": PASSWORD}))
        .send()
        .await
        .expect("sign-up");
    assert_eq!(r.status(), 201, "sign-up of {name}");
    let r = c
        .post(format!("{url}/api/sessions"))
        .json(&json!({"username": name, "password": PASSWORD}))
        .send()
        .await
        .expect("sign-in");
    let v: Value = r.json().await.expect("session");
    v["token"].as_str().expect("token").to_string()
}

/// Sequential directory requests until `done`; their latencies in ms.
async fn probe_directory(url: String, done: Arc<AtomicBool>) -> Vec<f64> {
    let c = client();
    let mut lat = vec![];
    while !done.load(Ordering::Relaxed) {
        let t = Instant::now();
        if let Ok(r) = c.get(format!("{url}/api/rooms")).send().await {
            let _ = r.bytes().await;
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    lat
}

async fn password_flood(label: &str, envs: &[(&str, &str)], secs: u64) {
    let server = start(envs);
    let pid = server.child.id();
    let url = server.url.clone();
    let c = client();
    sign_up(&c, &url, "victim").await;
    let idle = rss_mib(pid);
    let done = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let peak = Arc::new(Mutex::new(idle));
    let sampler = {
        let (done, peak) = (done.clone(), peak.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                let r = rss_mib(pid);
                {
                    let mut p = peak.lock().expect("peak");
                    *p = p.max(r);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let probe = tokio::spawn(probe_directory(url.clone(), done.clone()));
    let mut tasks = vec![];
    for i in 0..256u64 {
        let (done, counts, url, c) = (done.clone(), counts.clone(), url.clone(), c.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !done.load(Ordering::Relaxed) {
                n += 1;
                let (path, body, ok) = if i % 2 == 0 {
                    (
                        "/api/accounts",
                        json!({"username": format!("a{i}x{n}"), "password": PASSWORD}),
                        [201, 201],
                    )
                } else {
                    (
                        "/api/sessions",
                        json!({"username": "victim", "password": format!("wrong guess {n}")}),
                        [401, 401],
                    )
                };
                match c.post(format!("{url}{path}")).json(&body).send().await {
                    Ok(r) => counts.add(r.status().as_u16(), &ok),
                    Err(_) => counts.add(0, &[]),
                };
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    done.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let _ = sampler.await;
    let mut lat = probe.await.expect("probe");
    lat.sort_by(f64::total_cmp);
    let peak = *peak.lock().expect("peak");
    tokio::time::sleep(Duration::from_secs(15)).await;
    let after = rss_mib(pid);
    println!("password flood, {label}, 256 attackers for {secs} s:");
    println!("  {}", counts.line());
    println!(
        "  server RSS: idle {idle:.0} MiB, peak {peak:.0} MiB, 15 s after {after:.0} MiB (goal < 300)"
    );
    println!(
        "  directory under attack: {} requests, p50 {:.1} ms, p99 {:.1} ms (goal < 50)",
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    );
}

async fn write_stall(secs: u64) {
    let server = start(&[
        ("LIVESTARS_LIMIT_SIGN_IN_PER_IP", "off"),
        ("LIVESTARS_LIMIT_SIGN_IN_FAILURES_PER_ACCOUNT", "off"),
        ("LIVESTARS_LIMIT_SIGN_UP_PER_IP", "off"),
    ]);
    let url = server.url.clone();
    let c = client();
    let attacker = sign_up(&c, &url, "mallory").await;
    let writer = sign_up(&c, &url, "wendy").await;
    let done = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let mut tasks = vec![];
    for _ in 0..64 {
        let (done, counts, url, c, token) = (
            done.clone(),
            counts.clone(),
            url.clone(),
            c.clone(),
            attacker.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                match c
                    .delete(format!("{url}/api/me"))
                    .bearer_auth(&token)
                    .json(&json!({"password": "not my password"}))
                    .send()
                    .await
                {
                    Ok(r) => counts.add(r.status().as_u16(), &[401]),
                    Err(_) => counts.add(0, &[]),
                };
            }
        }));
    }
    // The other user's writes: becoming a model, then retitling her room over and over.
    let r = c
        .post(format!("{url}/api/me/model"))
        .bearer_auth(&writer)
        .send()
        .await
        .expect("model");
    assert_eq!(r.status(), 200);
    let p: Value = c
        .get(format!("{url}/api/profiles/wendy"))
        .send()
        .await
        .expect("profile")
        .json()
        .await
        .expect("json");
    let room = p["room_id"].as_i64().expect("room");
    let mut lat = vec![];
    let end = Instant::now() + Duration::from_secs(secs);
    let mut n = 0;
    while Instant::now() < end {
        n += 1;
        let t = Instant::now();
        let r = c
            .patch(format!("{url}/api/rooms/{room}"))
            .bearer_auth(&writer)
            .json(&json!({"title": format!("show {n}")}))
            .send()
            .await
            .expect("write");
        assert_eq!(r.status(), 200);
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    lat.sort_by(f64::total_cmp);
    println!("slow-hash write stall, 64 wrong-password deletions for {secs} s (limits off):");
    println!("  {}", counts.line());
    println!(
        "  another user's writes: {} done, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(f64::NAN)
    );
}

async fn challenge_flood() {
    let server = start(&[]);
    let url = server.url.clone();
    let c = client();
    let done = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let mut tasks = vec![];
    for _ in 0..64 {
        let (done, counts, url, c) = (done.clone(), counts.clone(), url.clone(), c.clone());
        tasks.push(tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                match c
                    .post(format!("{url}/api/wallet/challenges"))
                    .json(
                        &json!({"address": "0x8ba1f109551bD432803012645Ac136ddd64DBA72",
                        "purpose": "sign_in"}),
                    )
                    .send()
                    .await
                {
                    Ok(r) => counts.add(r.status().as_u16(), &[201]),
                    Err(_) => counts.add(0, &[]),
                };
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(10)).await;
    done.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    println!("challenge flood, 64 tasks for 10 s (default limits):");
    println!("  {} (each done one is a stored challenge)", counts.line());
}

#[tokio::main]
async fn main() {
    let secs = env_num("BENCH_SECONDS", 30);
    password_flood("default limits", &[], secs).await;
    password_flood(
        "every limit off",
        &[
            ("LIVESTARS_LIMIT_SIGN_IN_PER_IP", "off"),
            ("LIVESTARS_LIMIT_SIGN_IN_FAILURES_PER_ACCOUNT", "off"),
            ("LIVESTARS_LIMIT_SIGN_UP_PER_IP", "off"),
        ],
        secs,
    )
    .await;
    write_stall(secs.min(15)).await;
    challenge_flood().await;
}
