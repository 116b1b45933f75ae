//! Money never paid twice: the scenarios of a chaos run, each against a real hardhat node and
//! the real `livestars` binary — two processes racing a fee bump, a reorganisation deeper than
//! the confirmations, a node reset to a new genesis, an outage, a fee that fell below the base
//! fee, concurrent repeats of one idempotency key, and kills during a run of payouts.

use std::time::Duration;

use livestars_e2e::chain::{Node, ProxyRules, RpcProxy, LIVE, TREASURY};
use livestars_e2e::settle::{setup, sign_in, Client, Setup};
use livestars_e2e::{sign_up, Backend};
use serde_json::{json, Value};

fn hex_u128(v: &Value) -> u128 {
    u128::from_str_radix(v.as_str().unwrap_or("0x0").trim_start_matches("0x"), 16).unwrap()
}

/// A deposit credited at (T, log index 0); the chain reorganises deeper than the
/// confirmations and re-mines T in a later block at log index 1: still one credit. Then a
/// reorganisation removes T for good: the ledger check names the orphaned deposit and the
/// admin overview counts it, for an operator to resolve.
async fn a_deep_reorg_counts_a_transfer_once(backend: Backend) {
    let s = setup(backend, &[("LIVESTARS_CHAIN_CONFIRMATIONS", "3")]).await;
    let (i, c, node) = (&s.instance, &s.c, &s.node);
    let admin = i.create_admin("root");
    let t = sign_up(&c.http, &i.url, "dana").await;
    let wallet = node.accounts[2].clone();
    assert_eq!(c.bind(i, node, &t, &wallet).await.0, 200);
    s.fund(&wallet, 10 * LIVE).await;
    let snap = node.snapshot().await;
    let tx = node.transfer(&s.token, &wallet, TREASURY, 5 * LIVE).await;
    let original = node.rpc("eth_getTransactionByHash", json!([tx])).await;
    let first_block = hex_u128(&original["blockNumber"]) as i64;
    node.mine(3).await;
    c.wait_for(format!("{}/api/me/wallet", i.url), &t, "credit", |w| {
        w["balance"] == "5"
    })
    .await;

    // Deeper than 3 confirmations: back to before T. In the new chain another token transfer
    // (not to the treasury, a higher tip) comes first in T's block.
    node.revert(&snap).await;
    let snap2 = node.snapshot().await;
    node.mine(1).await; // T lands a block later than before
    node.set_automine(false).await;
    let issuer = node.accounts[1].clone();
    let data = format!(
        "0xa9059cbb{:0>64}{:064x}",
        node.accounts[5].trim_start_matches("0x"),
        LIVE
    );
    node.rpc(
        "eth_sendTransaction",
        json!([{
            "from": issuer, "to": s.token, "data": data, "gas": "0x4c4b40",
            "maxFeePerGas": format!("0x{:x}", hex_u128(&original["maxFeePerGas"]) * 2),
            "maxPriorityFeePerGas": format!("0x{:x}", hex_u128(&original["maxPriorityFeePerGas"]) * 2),
        }]),
    )
    .await;
    // T again: the same sender, nonce, fees and data sign to the same transaction.
    let again = node
        .rpc(
            "eth_sendTransaction",
            json!([{
                "from": wallet, "to": s.token, "data": original["input"],
                "gas": original["gas"], "nonce": original["nonce"], "value": "0x0",
                "maxFeePerGas": original["maxFeePerGas"],
                "maxPriorityFeePerGas": original["maxPriorityFeePerGas"],
            }]),
        )
        .await;
    assert_eq!(again.as_str(), Some(tx.as_str()), "the same transaction");
    node.mine(1).await;
    node.set_automine(true).await;
    let receipt = node.receipt(&tx).await;
    assert_eq!(receipt["logs"][0]["logIndex"], "0x1", "{receipt}");
    let new_block = hex_u128(&receipt["blockNumber"]) as i64;
    node.mine(6).await;
    let deps = c
        .wait_for(
            format!("{}/api/me/deposits", i.url),
            &t,
            "the deposit at its new place",
            |d| d[0]["log_index"] == 1 && d[0]["block_number"] == new_block,
        )
        .await;
    assert_eq!(deps.as_array().unwrap().len(), 1, "one deposit: {deps}");
    assert_eq!(deps[0]["status"], "credited");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(c.balance(i, &t).await, "5", "credited once");
    s.ledger_check();
    let (_, overview) = c
        .call(
            reqwest::Method::GET,
            format!("{}/api/admin/ledger", i.url),
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(overview["deposits_orphaned"], 0, "{overview}");

    // Removed for good: the chain goes on without T.
    node.revert(&snap2).await;
    node.mine(8).await;
    c.wait_for(
        format!("{}/api/admin/ledger", i.url),
        &admin,
        "the orphaned deposit counted",
        |o| o["deposits_orphaned"] == 1,
    )
    .await;
    assert_eq!(c.balance(i, &t).await, "5", "never credited a second time");
    let out = i.cli(&["ledger", "check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(&format!("deposit {tx} (5 LIVE, credited"))
            && text.contains("removed from the chain by a reorganisation"),
        "{text}"
    );
    assert!(text.contains("LESS than the ledger accounts for"), "{text}");
    assert!(first_block < new_block);
}

#[tokio::test]
async fn a_deep_reorg_counts_a_transfer_once_on_sqlite() {
    a_deep_reorg_counts_a_transfer_once(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_deep_reorg_counts_a_transfer_once_on_postgres() {
    a_deep_reorg_counts_a_transfer_once(Backend::Postgres).await;
}

#[tokio::test]
async fn a_node_reset_to_a_new_genesis_halts_settlement_once() {
    let port = livestars_e2e::free_port();
    let node = Node::start_on(port).await;
    let issuer = node.accounts[1].clone();
    let token = node.deploy_token(&issuer, 18, 1_000_000 * LIVE).await;
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("hot.key");
    std::fs::write(&key_file, livestars_e2e::chain::TREASURY_KEY).unwrap();
    let env = livestars_e2e::settle::chain_env(&node, &token, &key_file, &[]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let i = livestars_e2e::Instance::federating(Backend::Sqlite, &env);
    let s = Setup {
        node,
        token,
        keys,
        instance: i,
        c: Client::new(),
    };
    let t = s.funded_user("gina", &s.node.accounts[2].clone(), 3).await;
    let info =
        s.c.get(format!("{}/api/settlement", s.instance.url), &t)
            .await;
    assert_eq!(info["chain"]["status"], "ok", "{info}");

    // The node is reset: a new chain (new genesis) on the same address, the same token address.
    let Setup {
        node,
        token,
        keys: _keys,
        instance: i,
        c,
    } = s;
    drop(node);
    let node = Node::start_on(port).await;
    assert_eq!(
        node.deploy_token(&node.accounts[1].clone(), 18, LIVE).await,
        token
    );
    node.mine(5).await;
    let info = c
        .wait_for(format!("{}/api/settlement", i.url), &t, "halted", |v| {
            v["chain"]["status"] == "halted"
        })
        .await;
    let message = info["chain"]["message"].as_str().unwrap();
    assert!(message.contains("genesis"), "{message}");
    assert_eq!(info["payouts"], false);
    assert_eq!(info["deposits"], false);
    let (st, e) = c.payout(&i, &t, "1", "halted-001").await;
    assert_eq!(
        (st, e["error"].as_str()),
        (409, Some("settlement_halted")),
        "{e}"
    );
    assert_eq!(c.balance(&i, &t).await, "3", "nothing debited");
    let out = i.cli(&["ledger", "check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("settlement is halted") && text.contains("genesis"),
        "{text}"
    );
    // Said once, not every poll (the watcher polls every 50 ms).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let log = i.log();
    let said = log.matches("settlement halted").count();
    assert_eq!(said, 1, "{log}");
    assert!(
        log.lines().filter(|l| l.contains("ERROR")).count() <= 2,
        "{log}"
    );
}

// Multi-threaded: the RPC proxy serves while the test blocks on starting a process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_shown_and_payouts_wait_with_a_reason() {
    let mut s = setup(Backend::Sqlite, &[]).await;
    let proxy = RpcProxy::start(&s.node.url).await;
    // The instance again, now through the proxy.
    s.instance
        .set_env("LIVESTARS_CHAIN_RPC_URL", Some(proxy.url.as_str()));
    s.instance.restart();
    s.c = Client::new();
    let (i, c, node) = (&s.instance, &s.c, &s.node);
    let t = s.funded_user("olga", &node.accounts[2].clone(), 4).await;
    let info = c.get(format!("{}/api/settlement", i.url), &t).await;
    assert_eq!(
        (info["chain"]["status"].as_str(), info["payouts"].as_bool()),
        (Some("ok"), Some(true)),
        "{info}"
    );
    assert!(info["chain"]["head"].as_u64().unwrap() >= 1);

    proxy.set(ProxyRules {
        down: true,
        ..ProxyRules::default()
    });
    let info = c
        .wait_for(
            format!("{}/api/settlement", i.url),
            &t,
            "unreachable",
            |v| v["chain"]["status"] == "unreachable",
        )
        .await;
    assert_eq!(info["payouts"], false, "{info}");
    assert_eq!(info["deposits"], false, "{info}");
    assert!(info["chain"]["failing_since"].is_string(), "{info}");
    assert!(
        info["chain"]["message"]
            .as_str()
            .unwrap()
            .contains("has not answered"),
        "{info}"
    );
    let (st, p) = c.payout(i, &t, "1.25", "outage-001").await;
    assert_eq!(st, 201, "{p}");
    assert_eq!(p["status"], "queued");
    assert!(
        p["reason"]
            .as_str()
            .unwrap_or("")
            .contains("has not answered"),
        "{p}"
    );
    assert_eq!(c.balance(i, &t).await, "2.75", "reserved at once");

    proxy.set(ProxyRules::default());
    let id = p["id"].as_i64().unwrap();
    c.wait_payout(i, &t, id, "broadcast").await;
    node.mine(2).await;
    let done = c.wait_payout(i, &t, id, "confirmed").await;
    assert!(done["reason"].is_null(), "{done}");
    let info = c.get(format!("{}/api/settlement", i.url), &t).await;
    assert_eq!(info["chain"]["status"], "ok", "{info}");
    assert_eq!(
        node.transfers(&s.token, TREASURY, &node.accounts[2])
            .await
            .len(),
        1
    );
    s.ledger_check();
}

#[tokio::test]
async fn a_payout_signed_below_the_base_fee_is_re_priced() {
    let mut s = setup(Backend::Sqlite, &[("LIVESTARS_TEST_PAUSE_AFTER_SIGN", "1")]).await;
    let wallet = s.node.accounts[2].clone();
    let t = s.funded_user("rita", &wallet, 5).await;
    let (st, p) = s.c.payout(&s.instance, &t, "1.5", "reprice-01").await;
    assert_eq!(st, 201);
    let id = p["id"].as_i64().unwrap();
    let signed = s.c.wait_payout(&s.instance, &t, id, "signed").await;
    s.instance.kill();
    // The base fee jumps far above what the stored transaction offers.
    s.node
        .rpc("hardhat_setNextBlockBaseFeePerGas", json!(["0x174876e800"]))
        .await; // 100 gwei
    s.node.mine(1).await;
    s.instance.set_env("LIVESTARS_TEST_PAUSE_AFTER_SIGN", None);
    s.instance.restart();
    s.c = Client::new();
    let t = sign_in(&s.c, &s.instance, "rita").await;
    s.c.wait_for(
        format!("{}/api/me/payouts/{id}", s.instance.url),
        &t,
        "mined",
        |p| p["status"] == "broadcast" || p["status"] == "confirmed",
    )
    .await;
    s.node.mine(2).await;
    let done = s.c.wait_payout(&s.instance, &t, id, "confirmed").await;
    assert_ne!(
        done["tx_hash"], signed["tx_hash"],
        "re-priced: a new transaction with the same nonce"
    );
    assert_eq!(done["nonce"], signed["nonce"]);
    let logs = s.node.transfers(&s.token, TREASURY, &wallet).await;
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0]["transactionHash"], done["tx_hash"]);
    assert_eq!(s.c.balance(&s.instance, &t).await, "3.5");
    s.ledger_check();
}

async fn one_key_many_requests(backend: Backend) {
    let s = setup(backend, &[]).await;
    let t = s.funded_user("ivy", &s.node.accounts[2].clone(), 5).await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (http, url, t) = (s.c.http.clone(), s.instance.url.clone(), t.clone());
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(format!("{url}/api/me/payouts"))
                .bearer_auth(&t)
                .json(&json!({"amount": "2", "idempotency_key": "same-key-20"}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    let created = answers.iter().filter(|(s, _)| *s == 201).count();
    let repeated = answers.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!((created, repeated), (1, 19), "{answers:?}");
    let id = &answers[0].1["id"];
    assert!(answers.iter().all(|(_, p)| &p["id"] == id), "{answers:?}");
    assert_eq!(s.c.balance(&s.instance, &t).await, "3", "debited once");
    // The same key with another amount is refused.
    let (st, e) = s.c.payout(&s.instance, &t, "1", "same-key-20").await;
    assert_eq!(
        (st, e["error"].as_str()),
        (409, Some("idempotency_key_reused"))
    );
}

#[tokio::test]
async fn one_idempotency_key_from_twenty_requests_is_one_payout_on_postgres() {
    one_key_many_requests(Backend::Postgres).await;
}

#[tokio::test]
async fn one_idempotency_key_from_twenty_requests_is_one_payout_on_sqlite() {
    one_key_many_requests(Backend::Sqlite).await;
}

/// Two processes on one PostgreSQL. Process 1 reads the hot wallet's nonce through a link that
/// takes 8 s; process 2 replaces the stuck payout with higher fees, and the replacement is
/// mined. Without the signer's lease both act (with it, the slow one would stand by): the
/// rule alone must hold. Paid once, never refunded.
// Multi-threaded: the RPC proxy serves while the test blocks on starting a process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replacement_mined_by_another_process_is_never_refunded() {
    let env = [
        ("LIVESTARS_PAYOUT_BUMP_AFTER_SECS", "2"),
        ("LIVESTARS_PAYOUT_LEASE_SECS", "0"),
        ("LIVESTARS_CHAIN_CONFIRMATIONS", "2"),
    ];
    let s = setup(Backend::Postgres, &env).await;
    let proxy = RpcProxy::start(&s.node.url).await;
    let wallet = s.node.accounts[2].clone();
    let t = s.funded_user("pia", &wallet, 5).await;
    let mut slow = s.instance.another_process();
    slow.set_env("LIVESTARS_CHAIN_RPC_URL", Some(proxy.url.as_str()));
    slow.restart();
    proxy.set(ProxyRules {
        delays: vec![("eth_getTransactionCount".into(), Duration::from_secs(8))],
        down: false,
    });
    // The slow process reads the hot wallet's nonce when it starts signing: let it pass that,
    // so that it follows the payout from its broadcast on.
    tokio::time::sleep(Duration::from_secs(10)).await;
    s.node.set_automine(false).await;
    let (st, p) = s.c.payout(&s.instance, &t, "2", "two-procs-1").await;
    assert_eq!(st, 201, "{p}");
    let id = p["id"].as_i64().unwrap();
    let first = s.c.wait_payout(&s.instance, &t, id, "broadcast").await;
    let first_hash = first["tx_hash"].as_str().unwrap().to_string();
    s.c.wait_for(
        format!("{}/api/me/payouts/{id}", s.instance.url),
        &t,
        "a replacement",
        |p| p["tx_hash"].as_str() != Some(first_hash.as_str()),
    )
    .await;
    // The replacement is mined; its confirmations wait while the slow process, whose nonce
    // read began before the replacement was stored, gets its answer (8 s) and decides.
    s.node.mine(1).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let waiting =
        s.c.get(format!("{}/api/me/payouts/{id}", s.instance.url), &t)
            .await;
    assert_eq!(waiting["status"], "broadcast", "{waiting}");
    assert!(
        waiting["reason"]
            .as_str()
            .unwrap_or("")
            .contains("1 of 2 confirmations"),
        "{waiting}"
    );
    assert_eq!(s.c.balance(&s.instance, &t).await, "3", "not refunded");
    s.node.set_automine(true).await;
    s.node.mine(2).await;
    let done = s.c.wait_payout(&s.instance, &t, id, "confirmed").await;
    let logs = s.node.transfers(&s.token, TREASURY, &wallet).await;
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0]["transactionHash"], done["tx_hash"]);
    tokio::time::sleep(Duration::from_secs(9)).await;
    let again =
        s.c.get(format!("{}/api/me/payouts/{id}", s.instance.url), &t)
            .await;
    assert_eq!(again["status"], "confirmed", "{again}");
    assert_eq!(
        s.c.balance(&s.instance, &t).await,
        "3",
        "paid, not refunded"
    );
    s.ledger_check();
    drop(slow);
}

#[tokio::test]
async fn kills_during_payouts_on_two_processes_pay_each_confirmed_payout_once() {
    let report = livestars_e2e::chaos::run(livestars_e2e::chaos::Plan {
        payouts: 30,
        kills: 10,
    })
    .await;
    println!("{report:?}");
    assert_eq!(report.confirmed + report.failed, 30, "{report:?}");
    assert_eq!(report.transfers_on_chain, report.confirmed, "{report:?}");
    assert_eq!(report.confirmed_without_transfer, 0, "{report:?}");
    assert!(report.ledger_check_passed, "{report:?}");
}
