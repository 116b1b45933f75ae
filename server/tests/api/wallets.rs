//! Wallet binding and wallet sign-in by signature (EIP-4361 message, EIP-191 signature), and
//! settlement answers on an instance without a chain node. Signatures are made with real
//! secp256k1 keys; forged, malformed, reused, expired and misdirected ones are refused with
//! nothing changed.

use diesel::prelude::*;
use livestars_server::db::schema::{users, wallet_challenges, wallets};
use livestars_server::settlement::chain::{address_of_key, personal_sign};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{assert_error, spawn_app_with, Backend, TestApp};

both_backends!(
    binding_a_wallet_takes_a_fresh_signature_of_the_address,
    bad_signatures_and_nonces_change_nothing,
    a_wallet_signs_in_to_its_own_account,
    without_a_chain_payouts_are_refused,
    a_wallet_only_account_deletes_itself_with_a_signature,
    a_signed_challenge_works_once_under_races,
);

const KEY_A: &str = "0x1111111111111111111111111111111111111111111111111111111111111111";
const KEY_B: &str = "0x2222222222222222222222222222222222222222222222222222222222222222";

fn address(key: &str) -> String {
    address_of_key(key).unwrap().to_string()
}

async fn challenge(app: &TestApp, address: &str, purpose: &str) -> Value {
    let r = app
        .post_json(
            "/api/wallet/challenges",
            &json!({"address": address, "purpose": purpose}),
            None,
        )
        .await;
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

async fn put_address(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.client
        .put(app.url("/api/me/wallet/address"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Ask for a `bind` challenge for `key`'s address, sign it with `key`, and bind.
async fn bind_with(app: &TestApp, token: &str, key: &str) -> reqwest::Response {
    let c = challenge(app, &address(key), "bind").await;
    let sig = personal_sign(key, c["message"].as_str().unwrap()).unwrap();
    put_address(app, token, json!({"nonce": c["nonce"], "signature": sig})).await
}

fn bound(app: &TestApp, user: i64) -> Option<String> {
    let mut conn = app.db.conn().unwrap();
    wallets::table
        .find(user)
        .select(wallets::address)
        .first(&mut *conn)
        .optional()
        .unwrap()
}

async fn binding_a_wallet_takes_a_fresh_signature_of_the_address(app: TestApp) {
    let alice = app.viewer("alice").await;
    let a = address(KEY_A);
    let c = challenge(&app, &a.to_uppercase().replace("0X", "0x"), "bind").await;
    let message = c["message"].as_str().unwrap();
    // An EIP-4361 message naming this instance, the address (EIP-55), the chain and the nonce.
    let host = app.address.trim_start_matches("http://");
    assert!(
        message.starts_with(&format!(
            "{host} wants you to sign in with your Ethereum account:\n0x"
        )),
        "{message}"
    );
    assert!(message.to_lowercase().contains(&a), "{message}");
    assert!(message.contains(&format!("Nonce: {}", c["nonce"].as_str().unwrap())));
    assert!(message.contains("Chain ID: 1\n"));
    let sig = personal_sign(KEY_A, message).unwrap();
    let r = put_address(
        &app,
        &alice.token,
        json!({"nonce": c["nonce"], "signature": sig}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["address"], a.as_str());
    assert_eq!(bound(&app, alice.id).as_deref(), Some(a.as_str()));
    let w: Value = app
        .get("/api/me/wallet", Some(&alice.token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(w["address"], a.as_str());
    // Another account cannot take it.
    let bob = app.viewer("bobby").await;
    let r = bind_with(&app, &bob.token, KEY_A).await;
    assert_error(r, 409, "wallet_taken").await;
    assert_eq!(bound(&app, bob.id), None);
    // Alice moves to another address of hers: the new one replaces the old.
    let b = address(KEY_B);
    let r = bind_with(&app, &alice.token, KEY_B).await;
    assert_eq!(r.status(), 200);
    assert_eq!(bound(&app, alice.id).as_deref(), Some(b.as_str()));
}

async fn bad_signatures_and_nonces_change_nothing(app: TestApp) {
    let alice = app.viewer("alice").await;
    let a = address(KEY_A);
    for (body, code) in [
        (
            json!({"address": "0x1234", "purpose": "bind"}),
            "invalid_field",
        ),
        (json!({"address": a, "purpose": "steal"}), "invalid_field"),
        (
            json!({"address": "not an address at all 0000000000000000000", "purpose": "bind"}),
            "invalid_field",
        ),
        // Mixed case is an EIP-55 checksum: one letter's case flipped is a typo, refused.
        (
            json!({"address": "0x24a77c1F17C547105E14813e517be06b0040aa76", "purpose": "bind"}),
            "invalid_field",
        ),
    ] {
        let r = app.post_json("/api/wallet/challenges", &body, None).await;
        assert_error(r, 400, code).await;
    }
    let c = challenge(&app, &a, "bind").await;
    let message = c["message"].as_str().unwrap().to_string();
    // Signed by another key, malformed, or over another message: 401, nothing bound.
    let forged = personal_sign(KEY_B, &message).unwrap();
    let other_text = personal_sign(KEY_A, &message.replace("Nonce", "nonce")).unwrap();
    for sig in [forged.as_str(), "0x1234", "zz", other_text.as_str(), ""] {
        let r = put_address(
            &app,
            &alice.token,
            json!({"nonce": c["nonce"], "signature": sig}),
        )
        .await;
        assert_error(r, 401, "bad_signature").await;
    }
    assert_eq!(bound(&app, alice.id), None);
    // Malformed nonces (a NUL byte would not even fit in a PostgreSQL text).
    for nonce in ["", "abc\u{0}def", &"a".repeat(65), "ab cd"] {
        let r = put_address(
            &app,
            &alice.token,
            json!({"nonce": nonce, "signature": forged}),
        )
        .await;
        assert_error(r, 404, "unknown_challenge").await;
    }
    // Unknown nonce, and a sign-in challenge used to bind.
    let r = put_address(
        &app,
        &alice.token,
        json!({"nonce": "0123456789abcdef", "signature": forged}),
    )
    .await;
    assert_error(r, 404, "unknown_challenge").await;
    let s = challenge(&app, &a, "sign_in").await;
    let sig = personal_sign(KEY_A, s["message"].as_str().unwrap()).unwrap();
    let r = put_address(
        &app,
        &alice.token,
        json!({"nonce": s["nonce"], "signature": sig}),
    )
    .await;
    assert_error(r, 404, "unknown_challenge").await;
    // Without a session: 401 and the challenge stays unused.
    let sig = personal_sign(KEY_A, &message).unwrap();
    let r = app
        .client
        .put(app.url("/api/me/wallet/address"))
        .json(&json!({"nonce": c["nonce"], "signature": sig}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // The genuine signature works once; the same again is refused.
    let r = put_address(
        &app,
        &alice.token,
        json!({"nonce": c["nonce"], "signature": sig}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = put_address(
        &app,
        &alice.token,
        json!({"nonce": c["nonce"], "signature": sig}),
    )
    .await;
    assert_error(r, 409, "challenge_used").await;
    // An expired challenge.
    let e = challenge(&app, &address(KEY_B), "bind").await;
    {
        let mut conn = app.db.conn().unwrap();
        diesel::update(wallet_challenges::table.find(e["nonce"].as_str().unwrap()))
            .set(
                wallet_challenges::expires_at
                    .eq(livestars_server::db::now() - chrono::Duration::minutes(1)),
            )
            .execute(&mut *conn)
            .unwrap();
    }
    let sig = personal_sign(KEY_B, e["message"].as_str().unwrap()).unwrap();
    let r = put_address(
        &app,
        &alice.token,
        json!({"nonce": e["nonce"], "signature": sig}),
    )
    .await;
    assert_error(r, 410, "challenge_expired").await;
    assert_eq!(bound(&app, alice.id).as_deref(), Some(a.as_str()));
}

async fn a_wallet_signs_in_to_its_own_account(app: TestApp) {
    let a = address(KEY_A);
    let sign_in = |c: Value, key: &'static str| {
        let app = &app;
        async move {
            let sig = personal_sign(key, c["message"].as_str().unwrap()).unwrap();
            app.post_json(
                "/api/wallet/sessions",
                &json!({"nonce": c["nonce"], "signature": sig}),
                None,
            )
            .await
        }
    };
    // First time: a new wallet-only account.
    let r = sign_in(challenge(&app, &a, "sign_in").await, KEY_A).await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    let name = v["account"]["username"].as_str().unwrap().to_string();
    assert_eq!(name, format!("w_{}", &a[2..12]));
    let token = v["token"].as_str().unwrap();
    let me: Value = app.get("/api/me", Some(token)).await.json().await.unwrap();
    assert_eq!(me["username"], name.as_str());
    // No password signs in to it.
    let r = app
        .post_json(
            "/api/sessions",
            &json!({"username": name, "password": "!wallet-only"}),
            None,
        )
        .await;
    assert_eq!(r.status(), 401);
    // Again: the same account.
    let r = sign_in(challenge(&app, &a, "sign_in").await, KEY_A).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["account"]["username"], name.as_str());
    // An existing account that bound its wallet signs in with it.
    let carol = app.viewer("carol").await;
    let b = address(KEY_B);
    assert_eq!(bind_with(&app, &carol.token, KEY_B).await.status(), 200);
    let r = sign_in(challenge(&app, &b, "sign_in").await, KEY_B).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["account"]["username"], "carol");
    // Suspended: refused.
    {
        let mut conn = app.db.conn().unwrap();
        diesel::update(users::table.find(carol.id))
            .set(users::suspended_at.eq(Some(livestars_server::db::now())))
            .execute(&mut *conn)
            .unwrap();
    }
    let r = sign_in(challenge(&app, &b, "sign_in").await, KEY_B).await;
    assert_error(r, 403, "account_suspended").await;
    let count: i64 = {
        let mut conn = app.db.conn().unwrap();
        users::table.count().get_result(&mut *conn).unwrap()
    };
    assert_eq!(count, 2, "no account made by the refused sign-in");
}

async fn without_a_chain_payouts_are_refused(app: TestApp) {
    let alice = app.viewer("alice").await;
    let info: Value = app.get("/api/settlement", None).await.json().await.unwrap();
    assert_eq!(info["deposits"], false);
    assert_eq!(info["payouts"], false);
    assert_eq!(info["usd_rate"], Value::Null);
    assert_eq!(info["unit"], "0.00000001");
    assert_eq!(info["chain"]["status"], "off", "{info}");
    // "1." is a slip before the decimals: refused, never guessed.
    let r = app
        .post_json(
            "/api/me/payouts",
            &json!({"amount": "1.", "idempotency_key": "payout-0000"}),
            Some(&alice.token),
        )
        .await;
    assert_error(r, 400, "invalid_amount").await;
    // The correctly checksummed form of the same address is fine.
    let r = app
        .post_json(
            "/api/wallet/challenges",
            &json!({"address": "0x24A77c1F17C547105E14813e517be06b0040aa76", "purpose": "bind"}),
            None,
        )
        .await;
    assert_eq!(r.status(), 201);
    let r = app
        .post_json(
            "/api/me/payouts",
            &json!({"amount": "1", "idempotency_key": "payout-0001"}),
            Some(&alice.token),
        )
        .await;
    assert_error(r, 409, "settlement_disabled").await;
    let r = app.get("/api/me/payouts", Some(&alice.token)).await;
    assert_eq!(r.status(), 200);
    let r = app.get("/api/me/payouts/1", Some(&alice.token)).await;
    assert_error(r, 404, "not_found").await;
    let r = app.get("/api/rooms/999/events", None).await;
    assert_error(r, 404, "not_found").await;
}

#[tokio::test]
async fn usd_prices_come_with_the_fixed_rate() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let app = spawn_app_with(backend, |c| {
            c.usd_rate = "0.05".into();
            c.payout_gas = "deducted".into();
            c.payout_fee = "0.25".into();
        })
        .await;
        let info: Value = app.get("/api/settlement", None).await.json().await.unwrap();
        assert_eq!(info["usd_rate"], "0.05");
        assert_eq!(info["usd_source"], "fixed");
        assert_eq!(info["payout_gas"], "deducted");
        assert_eq!(info["payout_fee"], "0.25");
        assert_eq!(info["payout_fee_usd"], "0.01");
        let alice = app.viewer("alice").await;
        {
            let mut conn = app.db.conn().unwrap();
            livestars_server::ledger::credit_deposit(
                &mut conn,
                alice.id,
                "0xabc",
                0,
                250 * 100_000_000,
            )
            .unwrap();
        }
        let w: Value = app
            .get("/api/me/wallet", Some(&alice.token))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(w["balance"], "250");
        assert_eq!(w["balance_usd"], "12.50");
        assert_eq!(w["history"][0]["amount_usd"], "12.50");
    }
}

#[tokio::test]
async fn an_account_with_live_left_is_not_deleted() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let app = spawn_app_with(backend, |_| {}).await;
        let alice = app.viewer("alice").await;
        {
            let mut conn = app.db.conn().unwrap();
            livestars_server::ledger::credit_deposit(&mut conn, alice.id, "0xdef", 1, 1).unwrap();
        }
        let r = app
            .client
            .delete(app.url("/api/me"))
            .bearer_auth(&alice.token)
            .json(&json!({"password": "a long enough password"}))
            .send()
            .await
            .unwrap();
        assert_error(r, 409, "balance_remaining").await;
        let me = app.get("/api/me", Some(&alice.token)).await;
        assert_eq!(me.status(), 200, "still there, session and all");
        assert_eq!(
            livestars_server::ledger::balance(&mut app.db.conn().unwrap(), alice.id).unwrap(),
            1
        );
    }
}

#[tokio::test]
async fn admins_see_the_ledger_at_a_glance() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let app = spawn_app_with(backend, |_| {}).await;
        let alice = app.viewer("alice").await;
        let r = app.get("/api/admin/ledger", Some(&alice.token)).await;
        assert_eq!(r.status(), 403);
        let admin = app.make_admin("boss").await;
        {
            let mut conn = app.db.conn().unwrap();
            livestars_server::ledger::credit_deposit(&mut conn, alice.id, "0x1", 0, 250_000_000)
                .unwrap();
        }
        let r = app.get("/api/admin/ledger", Some(&admin)).await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["users_total"], "2.5");
        assert_eq!(v["users_with_balance"], 1);
        assert_eq!(v["chain_balance"], "-2.5");
        assert_eq!(v["sum"], "0");
        assert_eq!(v["instance_balance"], "0");
        assert_eq!(v["payouts"][0], json!(["queued", 0]));
    }
}

/// A wallet-only account has no password: it confirms its deletion with a signature of its
/// wallet over a `delete_account` challenge. Another wallet's signature, or a challenge of
/// another purpose, deletes nothing.
async fn a_wallet_only_account_deletes_itself_with_a_signature(app: TestApp) {
    let c = challenge(&app, &address(KEY_A), "sign_in").await;
    let sig = personal_sign(KEY_A, c["message"].as_str().unwrap()).unwrap();
    let r = app
        .post_json(
            "/api/wallet/sessions",
            &json!({"nonce": c["nonce"], "signature": sig}),
            None,
        )
        .await;
    assert_eq!(r.status(), 201);
    let s: Value = r.json().await.unwrap();
    let token = s["token"].as_str().unwrap().to_string();
    let delete = |body: Value| {
        app.client
            .delete(app.url("/api/me"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    // Neither way, or both: refused.
    assert_error(delete(json!({})).await.unwrap(), 400, "invalid_request").await;
    // A sign-in challenge does not confirm a deletion.
    let other = challenge(&app, &address(KEY_A), "sign_in").await;
    let sig = personal_sign(KEY_A, other["message"].as_str().unwrap()).unwrap();
    let r = delete(json!({"nonce": other["nonce"], "signature": sig}))
        .await
        .unwrap();
    assert_error(r, 404, "unknown_challenge").await;
    // A delete challenge signed by a wallet that is not hers.
    let d = challenge(&app, &address(KEY_B), "delete_account").await;
    let message = d["message"].as_str().unwrap();
    assert!(
        message.contains("Delete my Live Stars account"),
        "{message}"
    );
    let sig = personal_sign(KEY_B, message).unwrap();
    let r = delete(json!({"nonce": d["nonce"], "signature": sig}))
        .await
        .unwrap();
    assert_error(r, 401, "bad_signature").await;
    assert_eq!(
        app.get("/api/me", Some(&token)).await.status(),
        200,
        "still there"
    );
    // Her own wallet's signature: deleted, the token ends, the address is free again.
    let d = challenge(&app, &address(KEY_A), "delete_account").await;
    let sig = personal_sign(KEY_A, d["message"].as_str().unwrap()).unwrap();
    let r = delete(json!({"nonce": d["nonce"], "signature": sig}))
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(app.get("/api/me", Some(&token)).await.status(), 401);
    assert_eq!(bound(&app, s["account"]["id"].as_i64().unwrap()), None);
}

/// The signature is checked before the write; the nonce is taken in it by one conditional
/// statement: of parallel uses of one signed challenge, exactly one signs in.
async fn a_signed_challenge_works_once_under_races(app: TestApp) {
    let c = challenge(&app, &address(KEY_B), "sign_in").await;
    let sig = personal_sign(KEY_B, c["message"].as_str().unwrap()).unwrap();
    let body = json!({"nonce": c["nonce"], "signature": sig});
    let mut tasks = vec![];
    for _ in 0..8 {
        let (client, url, body) = (
            app.client.clone(),
            app.url("/api/wallet/sessions"),
            body.clone(),
        );
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = vec![];
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    assert_eq!(
        statuses.iter().filter(|s| **s < 300).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s < 300 || *s == 409),
        "{statuses:?}"
    );
}
