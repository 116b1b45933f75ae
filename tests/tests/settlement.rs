//! Settlement end to end: a real hardhat node, the LIVE test token deployed by the test, and the
//! real `livestars` binary watching deposits and signing payouts — on SQLite and PostgreSQL.

use std::time::Duration;

use livestars_e2e::chain::{Node, LIVE, TREASURY, TREASURY_KEY};
use livestars_e2e::settle::{setup, sign_in, Client};
use livestars_e2e::{sign_up, sign_up_referred, verified_model_referred, Backend, Instance};
use serde_json::{json, Value};

async fn deposit_tip_payout(backend: Backend) {
    let s = setup(backend, &[]).await;
    let (i, c, node) = (&s.instance, &s.c, &s.node);
    let admin = i.create_admin("root");
    // Referral chains: r1 brought the viewer, r2 brought the model.
    let r1 = sign_up(&c.http, &i.url, "refone").await;
    let r2 = sign_up(&c.http, &i.url, "reftwo").await;
    let viewer = sign_up_referred(&c.http, &i.url, "viewer", Some("refone")).await;
    let (model, room) =
        verified_model_referred(&c.http, &i.url, &admin, "mira", Some("reftwo")).await;

    // The instance tells where to deposit (once the watcher has heard from the node).
    let info = c
        .wait_for(format!("{}/api/settlement", i.url), &viewer, "ok", |v| {
            v["chain"]["status"] == "ok"
        })
        .await;
    assert_eq!(info["treasury"], TREASURY);
    assert_eq!(info["token"], s.token.as_str());
    assert_eq!(info["chain_id"], 31337);
    assert_eq!(info["decimals"], 18);
    assert_eq!(info["usd_rate"], "0.05");
    assert_eq!(info["payouts"], true);

    // The viewer binds her wallet and deposits 10.5 LIVE and 7 wei.
    let wallet_v = node.accounts[2].clone();
    let (st, b) = c.bind(i, node, &viewer, &wallet_v).await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["address"], wallet_v.as_str());
    s.fund(&wallet_v, 20 * LIVE).await;
    let value = 10 * LIVE + LIVE / 2 + 7;
    node.transfer(&s.token, &wallet_v, TREASURY, value).await;
    // Mined but not confirmed (2 confirmations): seen as pending, nothing credited.
    let deps = c
        .wait_for(
            format!("{}/api/me/deposits", i.url),
            &viewer,
            "pending deposit",
            |d| d.as_array().is_some_and(|a| !a.is_empty()),
        )
        .await;
    assert_eq!(deps[0]["status"], "pending", "{deps}");
    assert_eq!(c.balance(i, &viewer).await, "0");
    node.mine(1).await;
    let w = c
        .wait_for(format!("{}/api/me/wallet", i.url), &viewer, "credit", |w| {
            w["balance"] == "10.5"
        })
        .await;
    assert_eq!(w["balance_usd"], "0.53");
    assert_eq!(w["address"], wallet_v.as_str());
    let deps = c.get(format!("{}/api/me/deposits", i.url), &viewer).await;
    assert_eq!(deps[0]["status"], "credited");
    assert_eq!(deps[0]["amount"], "10.5");
    assert_eq!(deps[0]["dust"], "7", "the 7 wei below the unit are kept");

    // A tip of 4 LIVE: the room's event stream sees it.
    let mut events = c
        .http
        .get(format!("{}/api/rooms/{room}/events", i.url))
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    let (st, v) = c
        .post(
            format!("{}/api/rooms/{room}/start", i.url),
            json!({"status": "live"}),
            Some(&model),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, tip) = c
        .post(
            format!("{}/api/rooms/{room}/tips", i.url),
            json!({"amount": "4", "idempotency_key": "tip-0001"}),
            Some(&viewer),
        )
        .await;
    assert_eq!(st, 201, "{tip}");
    assert_eq!(tip["model_share"], "3");
    assert_eq!(tip["amount_usd"], "0.20");
    let mut seen = String::new();
    while !seen.contains("\n\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), events.chunk())
            .await
            .expect("tip event in time")
            .unwrap()
            .expect("stream open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.starts_with("event: tip\ndata: "), "{seen}");
    let ev: Value = serde_json::from_str(seen.trim().split_once("data: ").unwrap().1).unwrap();
    assert_eq!(ev["tipper"], "viewer");
    assert_eq!(ev["amount"], "4");
    assert_eq!(ev["amount_usd"], "0.20");
    assert_eq!(c.balance(i, &viewer).await, "6.5");
    assert_eq!(c.balance(i, &r1).await, "0.08"); // tier 1 of the tipper's chain: 2%
    assert_eq!(c.balance(i, &r2).await, "0.08"); // tier 1 of the model's chain: 2%
    assert_eq!(c.balance(i, &model).await, "3");

    // The model binds her wallet and withdraws 2.99999999 LIVE at once.
    let wallet_m = node.accounts[3].clone();
    let (st, _) = c.bind(i, node, &model, &wallet_m).await;
    assert_eq!(st, 200);
    let before = node.balance_of(&s.token, &wallet_m).await;
    let (st, p) = c.payout(i, &model, "2.99999999", "payout-0001").await;
    assert_eq!(st, 201, "{p}");
    assert_eq!(p["to"], wallet_m.as_str());
    assert_eq!(p["amount_usd"], "0.15");
    assert_eq!(c.balance(i, &model).await, "0.00000001");
    let id = p["id"].as_i64().unwrap();
    c.wait_payout(i, &model, id, "broadcast").await;
    node.mine(1).await;
    let p = c.wait_payout(i, &model, id, "confirmed").await;
    let got = node.balance_of(&s.token, &wallet_m).await - before;
    assert_eq!(
        got, 2_999_999_990_000_000_000,
        "exactly the amount in base units"
    );
    let logs = node.transfers(&s.token, TREASURY, &wallet_m).await;
    assert_eq!(logs.len(), 1, "one on-chain transfer");
    assert_eq!(logs[0]["transactionHash"], p["tx_hash"]);
    // The same request again: the same payout, nothing more.
    let (st, again) = c.payout(i, &model, "2.99999999", "payout-0001").await;
    assert_eq!(st, 200);
    assert_eq!(again["id"], id);
    assert_eq!(c.balance(i, &model).await, "0.00000001");

    // A 1-unit payout: no minimum.
    let (st, p) = c.payout(i, &model, "0.00000001", "payout-0002").await;
    assert_eq!(st, 201, "{p}");
    c.wait_payout(i, &model, p["id"].as_i64().unwrap(), "broadcast")
        .await;
    node.mine(1).await;
    c.wait_payout(i, &model, p["id"].as_i64().unwrap(), "confirmed")
        .await;
    assert_eq!(
        node.balance_of(&s.token, &wallet_m).await - before,
        3 * LIVE
    );

    // LIVE from an address nobody bound waits, then its owner signs in with the wallet.
    let stranger = node.accounts[4].clone();
    s.fund(&stranger, LIVE).await;
    node.transfer(&s.token, &stranger, TREASURY, LIVE).await;
    node.mine(2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (st, ch) = c
        .post(
            format!("{}/api/wallet/challenges", i.url),
            json!({"address": stranger, "purpose": "sign_in"}),
            None,
        )
        .await;
    assert_eq!(st, 201);
    // Signed by someone else: refused, the challenge still usable.
    let forged = node
        .personal_sign(&node.accounts[5], ch["message"].as_str().unwrap())
        .await;
    let (st, v) = c
        .post(
            format!("{}/api/wallet/sessions", i.url),
            json!({"nonce": ch["nonce"], "signature": forged}),
            None,
        )
        .await;
    assert_eq!((st, v["error"].as_str()), (401, Some("bad_signature")));
    let sig = node
        .personal_sign(&stranger, ch["message"].as_str().unwrap())
        .await;
    let (st, session) = c
        .post(
            format!("{}/api/wallet/sessions", i.url),
            json!({"nonce": ch["nonce"], "signature": sig}),
            None,
        )
        .await;
    assert_eq!(st, 201, "a new wallet-only account: {session}");
    let stranger_token = session["token"].as_str().unwrap().to_string();
    assert!(session["account"]["username"]
        .as_str()
        .unwrap()
        .starts_with("w_"));
    assert_eq!(
        c.balance(i, &stranger_token).await,
        "1",
        "the held deposit was claimed"
    );
    // The same signed message again: refused.
    let (st, v) = c
        .post(
            format!("{}/api/wallet/sessions", i.url),
            json!({"nonce": ch["nonce"], "signature": sig}),
            None,
        )
        .await;
    assert_eq!((st, v["error"].as_str()), (409, Some("challenge_used")));
    // Binding an address that belongs to another account: refused.
    let (st, v) = c.bind(i, node, &r2, &stranger).await;
    assert_eq!((st, v["error"].as_str()), (409, Some("wallet_taken")));

    // Bad payouts change nothing.
    let before_model = c.wallet(i, &model).await;
    for (amount, code) in [
        ("0", "invalid_amount"),
        ("-1", "invalid_amount"),
        ("0.000000001", "invalid_amount"),
        ("99999999999999999999", "invalid_amount"),
        ("1", "insufficient_balance"),
    ] {
        let (st, v) = c
            .payout(i, &model, amount, &format!("bad-key-{}", amount.len()))
            .await;
        assert_eq!(v["error"], code, "{amount}: {st} {v}");
    }
    let (st, v) = c.payout(i, &r1, "0.01", "no-wallet-1").await;
    assert_eq!((st, v["error"].as_str()), (409, Some("no_wallet")));
    assert_eq!(c.wallet(i, &model).await["units"], before_model["units"]);
    assert_eq!(c.balance(i, &r1).await, "0.08");

    let text = s.ledger_check();
    assert!(text.contains("paid out 3000000000000000000"), "{text}");
}

#[tokio::test]
async fn deposit_tip_payout_on_sqlite() {
    deposit_tip_payout(Backend::Sqlite).await;
}

#[tokio::test]
async fn deposit_tip_payout_on_postgres() {
    deposit_tip_payout(Backend::Postgres).await;
}

#[tokio::test]
async fn a_reorg_removes_an_unconfirmed_deposit() {
    let s = setup(Backend::Sqlite, &[("LIVESTARS_CHAIN_CONFIRMATIONS", "3")]).await;
    let (i, c, node) = (&s.instance, &s.c, &s.node);
    let t = sign_up(&c.http, &i.url, "rita").await;
    let wallet = node.accounts[2].clone();
    assert_eq!(c.bind(i, node, &t, &wallet).await.0, 200);
    s.fund(&wallet, 10 * LIVE).await;
    let snap = node.snapshot().await;
    node.transfer(&s.token, &wallet, TREASURY, 5 * LIVE).await;
    node.mine(1).await; // 2 confirmations of 3
    let deps = c
        .wait_for(
            format!("{}/api/me/deposits", i.url),
            &t,
            "pending deposit",
            |d| d.as_array().is_some_and(|a| a.len() == 1),
        )
        .await;
    assert_eq!(deps[0]["status"], "pending");
    // The chain reorganises: the deposit's block is gone; a longer chain without it follows.
    node.revert(&snap).await;
    node.mine(6).await;
    c.wait_for(
        format!("{}/api/me/deposits", i.url),
        &t,
        "deposit gone",
        |d| d.as_array().is_some_and(|a| a.is_empty()),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(c.balance(i, &t).await, "0", "nothing credited");
    // Sent again on the new chain: credited once.
    node.transfer(&s.token, &wallet, TREASURY, 5 * LIVE).await;
    node.mine(2).await;
    c.wait_for(format!("{}/api/me/wallet", i.url), &t, "credit", |w| {
        w["balance"] == "5"
    })
    .await;
    node.mine(3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(c.balance(i, &t).await, "5");
    s.ledger_check();
}

#[tokio::test]
async fn a_stuck_payout_is_replaced_with_higher_fees() {
    let s = setup(
        Backend::Sqlite,
        &[("LIVESTARS_PAYOUT_BUMP_AFTER_SECS", "1")],
    )
    .await;
    let (i, c, node) = (&s.instance, &s.c, &s.node);
    let t = s.funded_user("sara", &node.accounts[2].clone(), 5).await;
    node.set_automine(false).await;
    let (st, p) = c.payout(i, &t, "2", "stuck-0001").await;
    assert_eq!(st, 201, "{p}");
    let id = p["id"].as_i64().unwrap();
    let first = c.wait_payout(i, &t, id, "broadcast").await;
    let first_hash = first["tx_hash"].as_str().unwrap().to_string();
    // Pending in the node's pool (no block is mined): read its fees before it is replaced.
    let old_tx = node
        .rpc("eth_getTransactionByHash", json!([first_hash]))
        .await;
    assert!(old_tx["blockNumber"].is_null(), "pending: {old_tx}");
    let bumped = c
        .wait_for(
            format!("{}/api/me/payouts/{id}", i.url),
            &t,
            "replacement",
            |p| p["tx_hash"].as_str() != Some(first_hash.as_str()),
        )
        .await;
    let second_hash = bumped["tx_hash"].as_str().unwrap().to_string();
    let hexnum =
        |v: &Value| u128::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let new_tx = node
        .rpc("eth_getTransactionByHash", json!([second_hash]))
        .await;
    assert_eq!(
        new_tx["nonce"], old_tx["nonce"],
        "a replacement: the same nonce"
    );
    assert_eq!(new_tx["input"], old_tx["input"], "the same transfer");
    assert!(
        hexnum(&new_tx["maxFeePerGas"]) * 8 >= hexnum(&old_tx["maxFeePerGas"]) * 9,
        "max fee +12.5%: {old_tx} -> {new_tx}"
    );
    assert!(
        hexnum(&new_tx["maxPriorityFeePerGas"]) * 8 >= hexnum(&old_tx["maxPriorityFeePerGas"]) * 9,
        "priority fee +12.5%"
    );
    node.set_automine(true).await;
    node.mine(2).await;
    let done = c.wait_payout(i, &t, id, "confirmed").await;
    let logs = node.transfers(&s.token, TREASURY, &node.accounts[2]).await;
    assert_eq!(logs.len(), 1, "one transfer on chain: {logs:?}");
    assert_eq!(logs[0]["transactionHash"], done["tx_hash"]);
    assert_eq!(c.balance(i, &t).await, "3");
    s.ledger_check();
}

#[tokio::test]
async fn a_reverted_payout_is_refunded() {
    // A gas limit too small for the token's transfer: mined, reverted (out of gas). The
    // instance deducts a fee of 0.1 LIVE per payout: charged, then refunded with the amount.
    let s = setup(
        Backend::Sqlite,
        &[
            ("LIVESTARS_PAYOUT_GAS_LIMIT", "23000"),
            ("LIVESTARS_PAYOUT_GAS", "deducted"),
            ("LIVESTARS_PAYOUT_FEE", "0.1"),
        ],
    )
    .await;
    let (i, c, node) = (&s.instance, &s.c, &s.node);
    let t = s.funded_user("rosa", &node.accounts[2].clone(), 5).await;
    let info = c.get(format!("{}/api/settlement", i.url), &t).await;
    assert_eq!(info["payout_fee"], "0.1");
    assert_eq!(info["payout_fee_usd"], "0.01");
    let (st, p) = c.payout(i, &t, "2", "revert-001").await;
    assert_eq!(st, 201, "{p}");
    assert_eq!(p["fee"], "0.1");
    assert_eq!(c.balance(i, &t).await, "2.9");
    // Mined and reverted at once (automine); refunded only once that has the confirmations.
    let id = p["id"].as_i64().unwrap();
    let mined = c
        .wait_for(format!("{}/api/me/payouts/{id}", i.url), &t, "mined", |p| {
            p["reason"].as_str().is_some_and(|r| r.contains("1 of 2"))
        })
        .await;
    assert_eq!(mined["status"], "broadcast", "not refunded yet: {mined}");
    assert_eq!(c.balance(i, &t).await, "2.9");
    node.mine(1).await;
    let failed = c.wait_payout(i, &t, id, "failed").await;
    assert!(
        failed["reason"].as_str().unwrap().contains("reverted"),
        "{failed}"
    );
    assert_eq!(
        c.balance(i, &t).await,
        "5",
        "the money and the fee are back"
    );
    let history = c.wallet(i, &t).await["history"].clone();
    let kinds: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        &kinds[..3],
        ["payout_fee_refund", "payout_refund", "payout"],
        "{history}"
    );
    assert!(node
        .transfers(&s.token, TREASURY, &node.accounts[2])
        .await
        .is_empty());
    s.ledger_check();
    // LIVE leaving the treasury outside the ledger (a sweep, a stolen key): the check says so.
    let outsider = node.accounts[6].clone();
    node.transfer(&s.token, TREASURY, &outsider, LIVE).await;
    let out = i.cli(&["ledger", "check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(
            "treasury holds 1000000000000000000 base units LESS than the ledger accounts for"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn a_crash_between_signing_and_broadcast_sends_the_same_transaction() {
    let mut s = setup(Backend::Sqlite, &[("LIVESTARS_TEST_PAUSE_AFTER_SIGN", "1")]).await;
    let wallet = s.node.accounts[2].clone();
    let t = s.funded_user("cora", &wallet, 5).await;
    let (st, p) = s.c.payout(&s.instance, &t, "1.5", "crash-0001").await;
    assert_eq!(st, 201);
    let id = p["id"].as_i64().unwrap();
    let signed = s.c.wait_payout(&s.instance, &t, id, "signed").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        s.node
            .transfers(&s.token, TREASURY, &wallet)
            .await
            .is_empty(),
        "not sent yet"
    );
    s.instance.kill();
    s.instance.set_env("LIVESTARS_TEST_PAUSE_AFTER_SIGN", None);
    s.instance.restart();
    s.c = Client::new(); // no pooled connection to the killed process
    let t2 = sign_in(&s.c, &s.instance, "cora").await;
    s.c.wait_payout(&s.instance, &t2, id, "broadcast").await;
    s.node.mine(2).await;
    let done = s.c.wait_payout(&s.instance, &t2, id, "confirmed").await;
    assert_eq!(
        done["tx_hash"], signed["tx_hash"],
        "the stored transaction, not a new one"
    );
    let logs = s.node.transfers(&s.token, TREASURY, &wallet).await;
    assert_eq!(logs.len(), 1);
    assert_eq!(s.c.balance(&s.instance, &t2).await, "3.5");
    s.ledger_check();
}

#[tokio::test]
async fn a_crash_between_broadcast_and_confirmation_confirms_once() {
    let mut s = setup(Backend::Postgres, &[]).await;
    let wallet = s.node.accounts[2].clone();
    let t = s.funded_user("dora", &wallet, 5).await;
    s.node.set_automine(false).await;
    let (st, p) = s.c.payout(&s.instance, &t, "2.5", "crash-0002").await;
    assert_eq!(st, 201);
    let id = p["id"].as_i64().unwrap();
    let sent = s.c.wait_payout(&s.instance, &t, id, "broadcast").await;
    s.instance.kill();
    s.node.set_automine(true).await;
    s.node.mine(3).await;
    s.instance.restart();
    s.c = Client::new();
    let t2 = sign_in(&s.c, &s.instance, "dora").await;
    let done = s.c.wait_payout(&s.instance, &t2, id, "confirmed").await;
    assert_eq!(done["tx_hash"], sent["tx_hash"]);
    assert_eq!(s.node.transfers(&s.token, TREASURY, &wallet).await.len(), 1);
    assert_eq!(s.c.balance(&s.instance, &t2).await, "2.5");
    s.ledger_check();
}

#[tokio::test]
async fn a_payout_whose_nonce_another_transaction_took_is_refunded() {
    let s = setup(
        Backend::Sqlite,
        &[("LIVESTARS_PAYOUT_BUMP_AFTER_SECS", "600")],
    )
    .await;
    let (i, c, node) = (&s.instance, &s.c, &s.node);
    let t = s.funded_user("nina", &node.accounts[2].clone(), 5).await;
    node.set_automine(false).await;
    let (st, p) = c.payout(i, &t, "2", "dropped-01").await;
    assert_eq!(st, 201);
    let id = p["id"].as_i64().unwrap();
    let sent = c.wait_payout(i, &t, id, "broadcast").await;
    let ours = node
        .rpc("eth_getTransactionByHash", json!([sent["tx_hash"]]))
        .await;
    // Someone with the hot wallet's key replaces it: same nonce, ten times the fees.
    let fee = u128::from_str_radix(
        ours["maxFeePerGas"]
            .as_str()
            .unwrap()
            .trim_start_matches("0x"),
        16,
    )
    .unwrap();
    node.rpc(
        "eth_sendTransaction",
        json!([{
            "from": TREASURY, "to": TREASURY, "value": "0x0", "nonce": ours["nonce"],
            "maxFeePerGas": format!("0x{:x}", fee * 10),
            "maxPriorityFeePerGas": format!("0x{:x}", fee * 5),
        }]),
    )
    .await;
    node.set_automine(true).await;
    node.mine(2).await;
    let failed = c.wait_payout(i, &t, id, "failed").await;
    assert!(
        failed["reason"].as_str().unwrap().contains("dropped"),
        "{failed}"
    );
    assert_eq!(c.balance(i, &t).await, "5", "refunded");
    assert!(node
        .transfers(&s.token, TREASURY, &node.accounts[2])
        .await
        .is_empty());
    // The next payout takes the next free nonce and goes through.
    let (st, p) = c.payout(i, &t, "1", "dropped-02").await;
    assert_eq!(st, 201);
    c.wait_payout(i, &t, p["id"].as_i64().unwrap(), "broadcast")
        .await;
    node.mine(2).await;
    c.wait_payout(i, &t, p["id"].as_i64().unwrap(), "confirmed")
        .await;
    assert_eq!(c.balance(i, &t).await, "4");
    s.ledger_check();
}

#[tokio::test]
async fn an_instance_starts_before_its_chain_node_and_connects_when_it_answers() {
    let port = livestars_e2e::free_port();
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("hot.key");
    std::fs::write(&key_file, TREASURY_KEY).unwrap();
    let url = format!("http://127.0.0.1:{port}");
    // The address of the first contract the node's account 0 deploys (nonce 0).
    let token = "0x5fbdb2315678afecb367f032d93f642f64180aa3";
    let env = [
        ("LIVESTARS_CHAIN_RPC_URL", url.as_str()),
        ("LIVESTARS_CHAIN_ID", "31337"),
        ("LIVESTARS_CHAIN_TOKEN", token),
        ("LIVESTARS_CHAIN_KEY_FILE", key_file.to_str().unwrap()),
        ("LIVESTARS_CHAIN_POLL_MS", "50"),
    ];
    let i = Instance::federating(Backend::Sqlite, &env);
    let c = Client::new();
    let t = sign_up(&c.http, &i.url, "early").await;
    let info = c.get(format!("{}/api/settlement", i.url), &t).await;
    assert_eq!(info["deposits"], false, "{info}");
    let (st, v) = c.payout(&i, &t, "1", "early-0001").await;
    assert_eq!(
        (st, v["error"].as_str()),
        (409, Some("settlement_disabled"))
    );
    let node = Node::start_on(port).await;
    let deployed = node.deploy_token(&node.accounts[0].clone(), 18, LIVE).await;
    assert_eq!(deployed, token);
    let info = c
        .wait_for(format!("{}/api/settlement", i.url), &t, "connected", |v| {
            v["payouts"] == true
        })
        .await;
    assert_eq!(info["treasury"], TREASURY);
    assert_eq!(info["decimals"], 18);
}
