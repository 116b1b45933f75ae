//! A real local EVM node for the settlement tests: hardhat 2 from `chain/node_modules` (installed
//! by `scripts/test`), started on a free port in its own process group and stopped with it.
//! Accounts are the node's unlocked development accounts: the tests send transactions and sign
//! messages through the node's JSON-RPC, so no Ethereum library is needed here.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The private key of the node's first development account (publicly known; hardhat's default
/// mnemonic): the instance's hot wallet in the tests.
pub const TREASURY_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
pub const TREASURY: &str = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";

fn chain_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .join("chain")
}

/// The LIVE test token's deployment bytecode (committed, compiled with solc-js).
fn token_bytecode() -> String {
    let text = std::fs::read_to_string(chain_dir().join("LiveTestToken.json"))
        .expect("chain/LiveTestToken.json");
    let v: Value = serde_json::from_str(&text).expect("artifact json");
    v["bytecode"].as_str().expect("bytecode").to_string()
}

fn word(hex_or_num: &str) -> String {
    format!("{:0>64}", hex_or_num.trim_start_matches("0x"))
}

fn u128_word(v: u128) -> String {
    format!("{v:064x}")
}

pub struct Node {
    pub url: String,
    child: std::process::Child,
    http: reqwest::Client,
    /// The development accounts, lower-case.
    pub accounts: Vec<String>,
}

impl Node {
    /// Start hardhat's node and wait until it answers.
    pub async fn start() -> Node {
        Self::start_on(crate::free_port()).await
    }

    /// [`Node::start`] on a given port.
    pub async fn start_on(port: u16) -> Node {
        let bin = chain_dir().join("node_modules/.bin/hardhat");
        assert!(
            bin.exists(),
            "{} missing: run `npm ci` in chain/ (scripts/test does)",
            bin.display()
        );
        let child = std::process::Command::new(bin)
            .args([
                "node",
                "--hostname",
                "127.0.0.1",
                "--port",
                &port.to_string(),
            ])
            .current_dir(chain_dir())
            .env("HARDHAT_DISABLE_TELEMETRY_PROMPT", "true")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .expect("spawn hardhat node");
        let mut node = Node {
            url: format!("http://127.0.0.1:{port}"),
            child,
            // Idle connections are dropped well before the node's keep-alive (5 s) ends them, so a
            // call never goes out on a connection the node is closing.
            http: {
                let _ = rustls::crypto::ring::default_provider().install_default();
                reqwest::Client::builder()
                    .pool_idle_timeout(Duration::from_secs(2))
                    .build()
                    .expect("client")
            },
            accounts: vec![],
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(v) = node.try_rpc("eth_accounts", json!([])).await {
                node.accounts = v
                    .as_array()
                    .expect("accounts")
                    .iter()
                    .map(|a| a.as_str().unwrap_or_default().to_lowercase())
                    .collect();
                break;
            }
            assert!(Instant::now() < deadline, "hardhat node did not start");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(node.accounts[0], TREASURY);
        node
    }

    async fn try_rpc(&self, method: &str, params: Value) -> Result<Value, String> {
        let r = self
            .http
            .post(&self.url)
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let v: Value = r.json().await.map_err(|e| e.to_string())?;
        match v.get("error") {
            Some(e) => Err(e.to_string()),
            None => Ok(v["result"].clone()),
        }
    }

    pub async fn rpc(&self, method: &str, params: Value) -> Value {
        self.try_rpc(method, params)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    pub async fn block_number(&self) -> u64 {
        let v = self.rpc("eth_blockNumber", json!([])).await;
        u64::from_str_radix(v.as_str().unwrap_or("0x0").trim_start_matches("0x"), 16).expect("hex")
    }

    /// Mine `n` empty blocks.
    pub async fn mine(&self, n: u64) {
        self.rpc("hardhat_mine", json!([format!("0x{n:x}")])).await;
    }

    pub async fn set_automine(&self, on: bool) {
        self.rpc("evm_setAutomine", json!([on])).await;
    }

    pub async fn snapshot(&self) -> String {
        self.rpc("evm_snapshot", json!([]))
            .await
            .as_str()
            .expect("snapshot id")
            .to_string()
    }

    pub async fn revert(&self, id: &str) {
        assert_eq!(self.rpc("evm_revert", json!([id])).await, json!(true));
    }

    async fn send(&self, from: &str, to: Option<&str>, data: String) -> String {
        let mut tx = json!({"from": from, "data": data, "gas": "0x4c4b40"});
        if let Some(to) = to {
            tx["to"] = json!(to);
        }
        self.rpc("eth_sendTransaction", json!([tx]))
            .await
            .as_str()
            .expect("tx hash")
            .to_string()
    }

    pub async fn receipt(&self, tx: &str) -> Value {
        self.rpc("eth_getTransactionReceipt", json!([tx])).await
    }

    /// Deploy the LIVE test token from `from`, who gets the whole `supply`.
    pub async fn deploy_token(&self, from: &str, decimals: u8, supply: u128) -> String {
        let data = format!(
            "{}{}{}",
            token_bytecode(),
            u128_word(u128::from(decimals)),
            u128_word(supply)
        );
        let tx = self.send(from, None, data).await;
        let r = self.receipt(&tx).await;
        r["contractAddress"]
            .as_str()
            .expect("contract address (automine on?)")
            .to_lowercase()
    }

    /// ERC-20 `transfer(to, value)` from the unlocked account `from`: the transaction hash.
    pub async fn transfer(&self, token: &str, from: &str, to: &str, value: u128) -> String {
        let data = format!("0xa9059cbb{}{}", word(to), u128_word(value));
        self.send(from, Some(token), data).await
    }

    pub async fn balance_of(&self, token: &str, of: &str) -> u128 {
        let data = format!("0x70a08231{}", word(of));
        let v = self
            .rpc("eth_call", json!([{"to": token, "data": data}, "latest"]))
            .await;
        u128::from_str_radix(v.as_str().expect("hex").trim_start_matches("0x"), 16)
            .expect("balance")
    }

    /// Every `Transfer` log of `token` from `from` to `to` on the canonical chain.
    pub async fn transfers(&self, token: &str, from: &str, to: &str) -> Vec<Value> {
        let topic = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";
        let v = self
            .rpc(
                "eth_getLogs",
                json!([{
                    "address": token,
                    "fromBlock": "0x0",
                    "toBlock": "latest",
                    "topics": [topic, format!("0x{}", word(from)), format!("0x{}", word(to))]
                }]),
            )
            .await;
        v.as_array().cloned().unwrap_or_default()
    }

    /// EIP-191 `personal_sign` of `message` by the unlocked account `account`.
    pub async fn personal_sign(&self, account: &str, message: &str) -> String {
        let hex: String = message.bytes().map(|b| format!("{b:02x}")).collect();
        self.rpc("personal_sign", json!([format!("0x{hex}"), account]))
            .await
            .as_str()
            .expect("signature")
            .to_string()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // The whole process group: the node runs under a launcher.
        let _ = std::process::Command::new("kill")
            .args(["-9", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

/// 10^18: one LIVE in the token's base units (18 decimals).
pub const LIVE: u128 = 1_000_000_000_000_000_000;

/// What the [`RpcProxy`] does to the calls it passes on.
#[derive(Debug, Default, Clone)]
pub struct ProxyRules {
    /// JSON-RPC methods held back this long before they are forwarded (the node then answers
    /// with its state after the delay, like a slow link).
    pub delays: Vec<(String, Duration)>,
    /// Every connection is closed at once: the node looks down.
    pub down: bool,
}

/// An HTTP JSON-RPC proxy in front of a [`Node`], for outages and slow methods on demand:
/// an instance configured with [`RpcProxy::url`] talks to the node through it.
/// It runs on the test's runtime: use a multi-threaded one, since starting a process blocks.
pub struct RpcProxy {
    pub url: String,
    rules: std::sync::Arc<std::sync::Mutex<ProxyRules>>,
    task: tokio::task::JoinHandle<()>,
}

impl RpcProxy {
    /// Listen on a free port and forward to `node_url`.
    pub async fn start(node_url: &str) -> RpcProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let rules = std::sync::Arc::new(std::sync::Mutex::new(ProxyRules::default()));
        let (target, r) = (node_url.to_string(), rules.clone());
        let task = tokio::spawn(async move {
            let http = reqwest::Client::new();
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    continue;
                };
                if r.lock().map(|g| g.down).unwrap_or(false) {
                    drop(sock);
                    continue;
                }
                tokio::spawn(serve(sock, http.clone(), target.clone(), r.clone()));
            }
        });
        RpcProxy { url, rules, task }
    }

    pub fn set(&self, rules: ProxyRules) {
        *self.rules.lock().expect("rules") = rules;
    }
}

impl Drop for RpcProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One client connection: HTTP/1.1 requests with a Content-Length body, kept alive.
async fn serve(
    mut sock: tokio::net::TcpStream,
    http: reqwest::Client,
    target: String,
    rules: std::sync::Arc<std::sync::Mutex<ProxyRules>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf: Vec<u8> = Vec::new();
    loop {
        // Headers.
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 8192];
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + len {
            let mut chunk = [0u8; 8192];
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buf[head_end..head_end + len].to_vec();
        buf.drain(..head_end + len);
        let (delay, down) = {
            let g = rules.lock().expect("rules");
            let method = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v["method"].as_str().map(str::to_string))
                .unwrap_or_default();
            let d = g.delays.iter().find(|(m, _)| *m == method).map(|(_, d)| *d);
            (d, g.down)
        };
        if down {
            return;
        }
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        let Ok(r) = http
            .post(&target)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
        else {
            return;
        };
        let status = r.status().as_u16();
        let Ok(answer) = r.bytes().await else { return };
        let reply = format!(
            "HTTP/1.1 {status} OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            answer.len()
        );
        if sock.write_all(reply.as_bytes()).await.is_err() || sock.write_all(&answer).await.is_err()
        {
            return;
        }
    }
}
