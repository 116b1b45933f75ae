//! What the settlement tests share: an HTTP client with the wallet and payout calls, and a
//! hardhat node with the LIVE test token and an instance whose hot wallet is the node's
//! account 0.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::chain::{Node, LIVE, TREASURY, TREASURY_KEY};
use crate::{sign_up, Backend, Instance};

/// HTTP calls of the settlement tests.
pub struct Client {
    pub http: reqwest::Client,
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

impl Client {
    pub fn new() -> Client {
        Client {
            http: crate::http_client(),
        }
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        url: String,
        body: Option<Value>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let mut r = self.http.request(method, url);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let res = r.send().await.expect("request");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, url: String, token: &str) -> Value {
        let (s, v) = self
            .call(reqwest::Method::GET, url, None, Some(token))
            .await;
        assert_eq!(s, 200, "{v}");
        v
    }

    pub async fn post(&self, url: String, body: Value, token: Option<&str>) -> (u16, Value) {
        self.call(reqwest::Method::POST, url, Some(body), token)
            .await
    }

    /// Bind `account`'s address (an unlocked node account) to the signed-in user.
    pub async fn bind(
        &self,
        i: &Instance,
        node: &Node,
        token: &str,
        account: &str,
    ) -> (u16, Value) {
        let (s, c) = self
            .post(
                format!("{}/api/wallet/challenges", i.url),
                json!({"address": account, "purpose": "bind"}),
                None,
            )
            .await;
        assert_eq!(s, 201, "{c}");
        let sig = node
            .personal_sign(account, c["message"].as_str().unwrap())
            .await;
        self.call(
            reqwest::Method::PUT,
            format!("{}/api/me/wallet/address", i.url),
            Some(json!({"nonce": c["nonce"], "signature": sig})),
            Some(token),
        )
        .await
    }

    pub async fn wallet(&self, i: &Instance, token: &str) -> Value {
        self.get(format!("{}/api/me/wallet", i.url), token).await
    }

    pub async fn balance(&self, i: &Instance, token: &str) -> String {
        self.wallet(i, token).await["balance"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Wait (up to 30 s) until `check` holds for the value at `url`.
    pub async fn wait_for(
        &self,
        url: String,
        token: &str,
        what: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.get(url.clone(), token).await;
            if check(&v) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {v}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn payout(&self, i: &Instance, token: &str, amount: &str, key: &str) -> (u16, Value) {
        self.post(
            format!("{}/api/me/payouts", i.url),
            json!({"amount": amount, "idempotency_key": key}),
            Some(token),
        )
        .await
    }

    pub async fn wait_payout(&self, i: &Instance, token: &str, id: i64, status: &str) -> Value {
        self.wait_for(
            format!("{}/api/me/payouts/{id}", i.url),
            token,
            &format!("payout {id} {status}"),
            |p| p["status"] == status,
        )
        .await
    }
}

/// The instance's chain settings for `node` and `token`, with `extra` on top.
pub fn chain_env(
    node: &Node,
    token: &str,
    key_file: &std::path::Path,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("LIVESTARS_CHAIN_RPC_URL", node.url.as_str()),
        ("LIVESTARS_CHAIN_ID", "31337"),
        ("LIVESTARS_CHAIN_TOKEN", token),
        ("LIVESTARS_CHAIN_KEY_FILE", key_file.to_str().unwrap()),
        ("LIVESTARS_CHAIN_CONFIRMATIONS", "2"),
        ("LIVESTARS_CHAIN_POLL_MS", "50"),
        ("LIVESTARS_CHAIN_START_BLOCK", "0"),
        ("LIVESTARS_USD_RATE", "0.05"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        env.retain(|(key, _)| key != k);
        env.push((k.to_string(), v.to_string()));
    }
    env
}

pub struct Setup {
    pub node: Node,
    pub token: String,
    pub keys: tempfile::TempDir,
    pub instance: Instance,
    pub c: Client,
}

/// A node, the token (1,000,000 LIVE to the node's account 1, who hands out LIVE), and an
/// instance whose hot wallet is the node's account 0.
pub async fn setup(backend: Backend, extra: &[(&str, &str)]) -> Setup {
    let node = Node::start().await;
    let issuer = node.accounts[1].clone();
    let token = node.deploy_token(&issuer, 18, 1_000_000 * LIVE).await;
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("hot-wallet.key");
    std::fs::write(&key_file, TREASURY_KEY).unwrap();
    let env = chain_env(&node, &token, &key_file, extra);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let instance = Instance::federating(backend, &env);
    Setup {
        node,
        token,
        keys,
        instance,
        c: Client::new(),
    }
}

impl Setup {
    /// Give `account` `value` base units of LIVE from the issuer.
    pub async fn fund(&self, account: &str, value: u128) {
        self.node
            .transfer(&self.token, &self.node.accounts[1].clone(), account, value)
            .await;
    }

    /// A signed-up user with `account` bound and `live` LIVE deposited and credited.
    pub async fn funded_user(&self, name: &str, account: &str, live: u128) -> String {
        let i = &self.instance;
        let t = sign_up(&self.c.http, &i.url, name).await;
        let (s, v) = self.c.bind(i, &self.node, &t, account).await;
        assert_eq!(s, 200, "{v}");
        self.fund(account, live * LIVE).await;
        self.node
            .transfer(&self.token, account, TREASURY, live * LIVE)
            .await;
        self.node.mine(1).await;
        self.c
            .wait_for(
                format!("{}/api/me/wallet", i.url),
                &t,
                "deposit credited",
                |w| w["units"].as_i64() == Some(live as i64 * 100_000_000),
            )
            .await;
        t
    }

    pub fn ledger_check(&self) -> String {
        let out = self.instance.cli(&["ledger", "check"]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "ledger check failed:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("treasury reconciles with the ledger"),
            "{text}"
        );
        text
    }
}

pub async fn sign_in(c: &Client, i: &Instance, name: &str) -> String {
    let (st, v) = c
        .post(
            format!("{}/api/sessions", i.url),
            json!({"username": name, "password": crate::PASSWORD}),
            None,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    v["token"].as_str().unwrap().to_string()
}
