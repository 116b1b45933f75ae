//! Federation benchmarks against real instance processes (release build):
//!
//! 1. Fan-out: one model with 1,000 followers spread over 20 instances goes live; time until
//!    every instance lists her live room, and how many deliveries that took (one per shared
//!    inbox is the goal).
//! 2. Inbound: signed activities (`Create(Note)`, each with its own id) posted concurrently to
//!    one instance's shared inbox; activities verified and applied per second.
//!
//! Run: `cargo build --release -p livestars-server && cargo bench -p livestars-e2e --bench federation`
//! (`FANOUT_INSTANCES`, `FANOUT_FOLLOWERS`, `INBOUND_N` change the sizes;
//! `LIVESTARS_BENCH_POSTGRES=1` runs the inbound target on PostgreSQL.)

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use livestars_e2e::{http_client, sign_up, verified_model, Backend, Instance};
use livestars_federation::apf::activity_sending::SendActivityTask;
use livestars_federation::apf::config::FederationConfig;
use livestars_federation::apf::http_signatures::generate_actor_keypair;
use livestars_federation::protocol::{Ctx, FedError, LocalSigner, RemoteActor, Store, Stored};
use livestars_federation::{async_trait, Url};
use serde_json::{json, Value};

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn fanout() {
    let http = http_client();
    let n_instances = env_num("FANOUT_INSTANCES", 20);
    let n_followers = env_num("FANOUT_FOLLOWERS", 1000);
    let per = n_followers / n_instances;
    let b = Instance::federating(Backend::Sqlite, &[]);
    let admin = b.create_admin("root");
    let (anna, room) = verified_model(&http, &b.url, &admin, "anna").await;
    let handle = format!("anna@{}", b.domain());

    eprintln!("fan-out: starting {n_instances} instances, {per} followers each …");
    let receivers: Vec<Instance> = (0..n_instances)
        .map(|_| Instance::federating(Backend::Sqlite, &[]))
        .collect();
    let setup = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, inst) in receivers.iter().enumerate() {
        let (http, url, handle) = (http.clone(), inst.url.clone(), handle.clone());
        tasks.spawn(async move {
            for f in 0..per {
                let token = sign_up(&http, &url, &format!("fan{i}x{f}")).await;
                let r = http
                    .post(format!("{url}/api/federation/follows"))
                    .bearer_auth(&token)
                    .json(&json!({ "handle": handle }))
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                assert_eq!(status, 200, "{}", r.text().await.unwrap_or_default());
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    // Wait until B has every follower (the Follows are delivered asynchronously).
    loop {
        let f: Value = http
            .get(format!("{}/users/anna/followers", b.url))
            .header("accept", "application/activity+json")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if f["totalItems"].as_u64() == Some((per * n_instances) as u64) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "fan-out: {} followers in place after {:.1} s",
        per * n_instances,
        setup.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let delivered_before = delivered(&http, &b.url, &admin).await;

    let t0 = Instant::now();
    let r = http
        .post(format!("{}/api/rooms/{room}/start", b.url))
        .bearer_auth(&anna)
        .json(&json!({"status": "live"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut pending: Vec<&Instance> = receivers.iter().collect();
    let mut last = Duration::ZERO;
    while !pending.is_empty() {
        let mut still = Vec::new();
        for inst in pending {
            let v: Value = http
                .get(format!("{}/api/rooms?scope=all", inst.url))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let listed = v["rooms"]
                .as_array()
                .is_some_and(|rs| rs.iter().any(|r| r["room"]["model"] == handle));
            if listed {
                last = t0.elapsed();
            } else {
                still.push(inst);
            }
        }
        pending = still;
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "fan-out did not complete"
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sent = delivered(&http, &b.url, &admin).await - delivered_before;
    println!(
        "fan-out: {} followers on {n_instances} instances; all list her live room {:.0} ms after she went live (goal < 5000 ms)",
        per * n_instances,
        last.as_secs_f64() * 1000.0
    );
    println!(
        "fan-out: {sent} deliveries for 2 activities (Update(Video) + Create(Note)) = {:.1} per activity for {n_instances} shared inboxes",
        sent as f64 / 2.0
    );
}

async fn delivered(http: &reqwest::Client, url: &str, admin: &str) -> i64 {
    let v: Value = http
        .get(format!("{url}/api/admin/federation/instances"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|i| i["delivered"].as_i64().unwrap_or(0))
        .sum()
}

/// A store for the sending side: the benchmark only signs and sends.
struct NoStore;

#[async_trait]
impl Store for NoStore {
    async fn cached_actor(&self, _id: &Url) -> Result<Option<RemoteActor>, FedError> {
        Ok(None)
    }
    async fn save_actor(&self, actor: RemoteActor) -> Result<RemoteActor, FedError> {
        Ok(actor)
    }
    async fn allowed(&self, _domain: &str) -> Result<bool, FedError> {
        Ok(true)
    }
    async fn apply(
        &self,
        _actor: RemoteActor,
        _a: livestars_federation::protocol::Incoming,
    ) -> Result<(), FedError> {
        Ok(())
    }
}

/// Serve one actor document over plain HTTP/1.1 from a thread (the target fetches it once).
fn serve_actor(listener: TcpListener, doc: String) {
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let doc = doc.clone();
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                    line.clear();
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/activity+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{doc}",
                    doc.len()
                );
            });
        }
    });
}

async fn inbound() {
    let n = env_num("INBOUND_N", 4000);
    let backend = if std::env::var_os("LIVESTARS_BENCH_POSTGRES").is_some() {
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    let target = Instance::federating(backend, &[]);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let base = format!("http://localhost:{port}");
    let actor_id = format!("{base}/users/bench");
    let keys = generate_actor_keypair().unwrap();
    let doc = json!({
        "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
        "id": actor_id, "type": "Person", "preferredUsername": "bench",
        "inbox": format!("{actor_id}/inbox"),
        "publicKey": {"id": format!("{actor_id}#main-key"), "owner": actor_id, "publicKeyPem": keys.public_key},
    });
    serve_actor(listener, doc.to_string());
    let signer = LocalSigner {
        id: Url::parse(&actor_id).unwrap(),
        inbox: Url::parse(&format!("{actor_id}/inbox")).unwrap(),
        public_key_pem: keys.public_key.clone(),
        private_key_pem: keys.private_key.clone(),
    };
    let config = FederationConfig::builder()
        .domain(format!("localhost:{port}"))
        .app_data(Ctx {
            store: Arc::new(NoStore),
        })
        .debug(true)
        .http_signature_compat(true)
        .signed_fetch_actor(&signer)
        .build()
        .await
        .unwrap();
    let data = config.to_request_data();
    let inbox = Url::parse(&format!("{}/inbox", target.url)).unwrap();
    let body_of = |i: usize| {
        json!({
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": format!("{base}/activities/{i}"), "type": "Create", "actor": actor_id,
            "object": {"id": format!("{base}/notes/{i}"), "type": "Note", "attributedTo": actor_id,
                       "content": "<p>hello</p>", "to": ["https://www.w3.org/ns/activitystreams#Public"]},
        })
    };
    // Warm the target's actor cache with one delivery.
    let warm = Stored {
        id: Url::parse(&format!("{base}/activities/warm")).unwrap(),
        actor: signer.id.clone(),
        body: body_of(n + 1),
    };
    SendActivityTask::prepare(&warm, &signer, vec![inbox.clone()], &data)
        .await
        .unwrap()[0]
        .sign_and_send(&data)
        .await
        .unwrap();

    // (a) Receiver only: every request signed before the clock starts.
    let client = reqwest::Client::new();
    let middleware = reqwest_middleware::ClientWithMiddleware::from(client.clone());
    let host = inbox.host_str().unwrap().to_string() + &format!(":{}", inbox.port().unwrap());
    let mut signed = Vec::with_capacity(n);
    for i in 0..n {
        let body = bytes::Bytes::from(body_of(i).to_string());
        let req = middleware
            .post(inbox.as_str())
            .header("content-type", "application/activity+json")
            .header("host", &host)
            .header(
                "date",
                httpdate::fmt_http_date(std::time::SystemTime::now()),
            );
        signed.push(data.sign_request(req, body).await.unwrap());
    }
    let figure = send_all(&client, signed).await;
    println!(
        "inbound ({backend:?}): {n} pre-signed activities verified and applied at {figure:.0}/s (goal >= 500/s)"
    );

    // (b) Sender and receiver on the same two cores: each request signed as it is sent.
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let stored = Stored {
            id: Url::parse(&format!("{base}/activities/live-{i}")).unwrap(),
            actor: signer.id.clone(),
            body: {
                let mut b = body_of(i);
                b["id"] = json!(format!("{base}/activities/live-{i}"));
                b
            },
        };
        tasks.extend(
            SendActivityTask::prepare(&stored, &signer, vec![inbox.clone()], &data)
                .await
                .unwrap(),
        );
    }
    let tasks = Arc::new(std::sync::Mutex::new(tasks));
    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (tasks, data) = (tasks.clone(), data.reset_request_count());
        workers.spawn(async move {
            let mut done = 0usize;
            loop {
                let next = tasks.lock().unwrap().pop();
                let Some(t) = next else { break };
                t.sign_and_send(&data).await.unwrap();
                done += 1;
            }
            done
        });
    }
    let mut total = 0;
    while let Some(r) = workers.join_next().await {
        total += r.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "inbound ({backend:?}): {total} activities signed by the sender as sent, on the same cores: {:.0}/s",
        total as f64 / secs
    );
}

/// Send pre-built requests with 32 in flight; all must be accepted. Requests per second.
async fn send_all(client: &reqwest::Client, requests: Vec<reqwest::Request>) -> f64 {
    let n = requests.len();
    let queue = Arc::new(std::sync::Mutex::new(requests));
    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (queue, client) = (queue.clone(), client.clone());
        workers.spawn(async move {
            loop {
                let next = queue.lock().unwrap().pop();
                let Some(req) = next else { break };
                let r = client.execute(req).await.unwrap();
                assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
            }
        });
    }
    while let Some(r) = workers.join_next().await {
        r.unwrap();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // `cargo bench` passes `--bench`; a plain word chooses one benchmark.
    let which = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_default();
    rt.block_on(async {
        if which.is_empty() || which.contains("inbound") {
            inbound().await;
        }
        if which.is_empty() || which.contains("fanout") {
            fanout().await;
        }
    });
}
