use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{assert_error, TestApp, User};
use livestars_server::ledger::{self, UNITS_PER_LIVE};

both_backends!(
    a_tip_splits_between_model_referrers_and_instance,
    refused_tips_change_nothing,
    a_retried_tip_counts_once,
    deposits_are_credited_once,
    concurrent_tippers_add_up,
    a_batch_answers_each_tip_as_alone,
    a_deleted_referrer_earns_nothing,
    direct_tips_in_parallel_never_deadlock,
);

const PASSWORD: &str = "a long enough password";

/// Sign up `name` through `referrer`'s link and sign in.
async fn referred(app: &TestApp, name: &str, referrer: Option<&str>) -> User {
    let r = app
        .post_json(
            "/api/accounts",
            &json!({"username": name, "password": PASSWORD, "referrer": referrer}),
            None,
        )
        .await;
    assert_eq!(r.status(), 201, "sign-up of {name}");
    let v: Value = app
        .post_json(
            "/api/sessions",
            &json!({"username": name, "password": PASSWORD}),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    User {
        token: v["token"].as_str().unwrap().to_string(),
        id: v["account"]["id"].as_i64().unwrap(),
    }
}

/// A confirmed deposit of `live` LIVE (as the chain watcher credits it).
async fn deposit(app: &TestApp, user: i64, tx: &str, units: i64) -> bool {
    let tx = tx.to_string();
    app.db
        .write(move |c| ledger::credit_deposit(c, user, &tx, 0, units))
        .await
        .unwrap()
}

async fn units_of(app: &TestApp, user: &User) -> i64 {
    let w: Value = app
        .get("/api/me/wallet", Some(&user.token))
        .await
        .json()
        .await
        .unwrap();
    w["units"].as_i64().unwrap()
}

async fn instance_units(app: &TestApp) -> i64 {
    use diesel::prelude::*;
    use livestars_server::db::schema::ledger_accounts;
    let mut c = app.db.conn().unwrap();
    ledger_accounts::table
        .filter(ledger_accounts::kind.eq("instance"))
        .select(ledger_accounts::balance)
        .first(&mut c)
        .unwrap()
}

async fn check_ok(app: &TestApp) {
    let report = app.db.write(ledger::check).await.unwrap();
    assert!(report.ok(), "{report:?}");
}

async fn tip(app: &TestApp, user: &User, room: i64, amount: &str, key: &str) -> reqwest::Response {
    app.post_json(
        &format!("/api/rooms/{room}/tips"),
        &json!({"amount": amount, "idempotency_key": key}),
        Some(&user.token),
    )
    .await
}

async fn live_model(app: &TestApp, name: &str) -> (User, i64) {
    let (m, room) = app.verified_model(name).await;
    let r = app
        .post_json(
            &format!("/api/rooms/{room}/start"),
            &json!({"status": "live"}),
            Some(&m.token),
        )
        .await;
    assert_eq!(r.status(), 200);
    (m, room)
}

async fn a_tip_splits_between_model_referrers_and_instance(app: TestApp) {
    // Tipper's chain: t ← r1 ← r2 ← r3 ← r4 (only three tiers are paid).
    let r4 = referred(&app, "rfour", None).await;
    let r3 = referred(&app, "rthree", Some("rfour")).await;
    let r2 = referred(&app, "rtwo", Some("rthree")).await;
    let r1 = referred(&app, "rone", Some("rtwo")).await;
    let t = referred(&app, "tipper", Some("rone")).await;
    // The model's chain: her recruiter m1.
    let m1 = referred(&app, "mone", None).await;
    let r = app
        .post_json(
            "/api/accounts",
            &json!({"username": "nobody", "password": PASSWORD, "referrer": "ghost"}),
            None,
        )
        .await;
    assert_error(r, 400, "invalid_username").await;
    let (m, room) = app.verified_model("model").await;
    {
        use diesel::prelude::*;
        use livestars_server::db::schema::users;
        let mut c = app.db.conn().unwrap();
        diesel::update(users::table.find(m.id))
            .set(users::referred_by.eq(Some(m1.id)))
            .execute(&mut c)
            .unwrap();
    }
    app.post_json(
        &format!("/api/rooms/{room}/start"),
        &json!({"status": "live"}),
        Some(&m.token),
    )
    .await;
    assert!(deposit(&app, t.id, "0xaaa", 100 * UNITS_PER_LIVE).await);
    let r = tip(&app, &t, room, "10", "tip-0001").await;
    assert_eq!(r.status(), 201);
    let receipt: Value = r.json().await.unwrap();
    assert_eq!(receipt["amount"], "10");
    assert_eq!(receipt["model_share"], "7.5");
    assert_eq!(receipt["referral_total"], "0.55");
    assert_eq!(receipt["instance_share"], "1.95");
    assert_eq!(receipt["balance"], "90");
    assert_eq!(receipt["model"], "model");
    let live = |x: f64| (x * UNITS_PER_LIVE as f64).round() as i64;
    assert_eq!(units_of(&app, &t).await, live(90.0));
    assert_eq!(units_of(&app, &m).await, live(7.5));
    assert_eq!(units_of(&app, &r1).await, live(0.2));
    assert_eq!(units_of(&app, &r2).await, live(0.1));
    assert_eq!(units_of(&app, &r3).await, live(0.05));
    assert_eq!(units_of(&app, &r4).await, 0, "a fourth tier earns nothing");
    assert_eq!(
        units_of(&app, &m1).await,
        live(0.2),
        "the model's recruiter"
    );
    assert_eq!(instance_units(&app).await, live(1.95));
    let w: Value = app
        .get("/api/me/wallet", Some(&t.token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(w["referral_code"], "tipper");
    let kinds: Vec<&str> = w["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["tip", "deposit"]);
    assert_eq!(w["history"][0]["amount"], "-10");
    check_ok(&app).await;
}

async fn refused_tips_change_nothing(app: TestApp) {
    let (m, room) = live_model(&app, "model").await;
    let t = app.viewer("tipper").await;
    assert!(deposit(&app, t.id, "0xbbb", 5 * UNITS_PER_LIVE).await);
    for amount in [
        "0",
        "-1",
        "0.000000001",
        "1e3",
        "1,5",
        "",
        "99999999999",
        "abc",
    ] {
        assert_error(
            tip(&app, &t, room, amount, "tip-bad-0001").await,
            400,
            "invalid_amount",
        )
        .await;
    }
    assert_error(
        tip(&app, &t, room, "1", "short").await,
        400,
        "invalid_field",
    )
    .await;
    assert_error(
        tip(&app, &t, room, "1", "not allowed!").await,
        400,
        "invalid_field",
    )
    .await;
    assert_error(
        tip(&app, &t, room, "5.00000001", "tip-much-0001").await,
        409,
        "insufficient_balance",
    )
    .await;
    assert_error(
        tip(&app, &t, 999_999, "1", "tip-none-0001").await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        tip(&app, &m, room, "1", "tip-self-0001").await,
        403,
        "self_tip",
    )
    .await;
    let (_, offline) = app.verified_model("sleepy").await;
    assert_error(
        tip(&app, &t, offline, "1", "tip-off-0001").await,
        409,
        "room_offline",
    )
    .await;
    let r = app
        .post_json(
            &format!("/api/rooms/{room}/tips"),
            &json!({"amount": "1", "idempotency_key": "tip-anon-0001"}),
            None,
        )
        .await;
    assert_eq!(r.status(), 401);
    assert_eq!(units_of(&app, &t).await, 5 * UNITS_PER_LIVE);
    assert_eq!(units_of(&app, &m).await, 0);
    assert_eq!(instance_units(&app).await, 0);
    check_ok(&app).await;
    // The whole balance can go, to the last unit.
    assert_eq!(tip(&app, &t, room, "5", "tip-all-0001").await.status(), 201);
    assert_eq!(units_of(&app, &t).await, 0);
    assert_error(
        tip(&app, &t, room, "0.00000001", "tip-more-0001").await,
        409,
        "insufficient_balance",
    )
    .await;
    check_ok(&app).await;
}

async fn a_retried_tip_counts_once(app: TestApp) {
    let (m, room) = live_model(&app, "model").await;
    let t = app.viewer("tipper").await;
    assert!(deposit(&app, t.id, "0xccc", 10 * UNITS_PER_LIVE).await);
    let first = tip(&app, &t, room, "2", "retry-key-1").await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = tip(&app, &t, room, "2", "retry-key-1").await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    assert_eq!(units_of(&app, &t).await, 8 * UNITS_PER_LIVE);
    assert_eq!(units_of(&app, &m).await, 150_000_000);
    assert_error(
        tip(&app, &t, room, "3", "retry-key-1").await,
        409,
        "idempotency_key_reused",
    )
    .await;
    assert_eq!(units_of(&app, &t).await, 8 * UNITS_PER_LIVE);
    check_ok(&app).await;
}

async fn deposits_are_credited_once(app: TestApp) {
    let t = app.viewer("tipper").await;
    assert!(deposit(&app, t.id, "0xddd", 3).await);
    assert!(
        !deposit(&app, t.id, "0xddd", 3).await,
        "the same (tx, log index) again"
    );
    assert_eq!(units_of(&app, &t).await, 3);
    let bad = app
        .db
        .write(move |c| ledger::credit_deposit(c, t.id, "0xeee", 1, 0))
        .await;
    assert!(bad.is_err());
    check_ok(&app).await;
}

/// 50 tippers × 200 tips of random amounts, all at once, against one model: every balance is
/// what arithmetic says, and the invariants hold.
async fn concurrent_tippers_add_up(app: TestApp) {
    const TIPPERS: usize = 50;
    const TIPS: usize = 200;
    let (m, room) = live_model(&app, "model").await;
    let mut tippers = Vec::new();
    for i in 0..TIPPERS {
        let t = app.viewer(&format!("tipper{i}")).await;
        assert!(deposit(&app, t.id, &format!("0x{i:04x}"), 1_000 * UNITS_PER_LIVE).await);
        tippers.push(t);
    }
    // Deterministic pseudo-random amounts (1 unit to 5 LIVE).
    let mut seed: u64 = 0x2026_1126;
    let mut amounts: Vec<Vec<i64>> = (0..TIPPERS).map(|_| Vec::with_capacity(TIPS)).collect();
    for list in amounts.iter_mut() {
        for _ in 0..TIPS {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            list.push(1 + (seed >> 33) as i64 % (5 * UNITS_PER_LIVE));
        }
    }
    let app = std::sync::Arc::new(app);
    let mut tasks = tokio::task::JoinSet::new();
    for (i, t) in tippers.iter().enumerate() {
        let (app, token, list) = (app.clone(), t.token.clone(), amounts[i].clone());
        tasks.spawn(async move {
            for (n, a) in list.iter().enumerate() {
                let r = app
                    .post_json(
                        &format!("/api/rooms/{room}/tips"),
                        &json!({"amount": ledger::format_amount(*a), "idempotency_key": format!("c{i}-{n:05}")}),
                        Some(&token),
                    )
                    .await;
                assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let model_expected: i64 = amounts.iter().flatten().map(|a| a * 7500 / 10_000).sum();
    let total: i64 = amounts.iter().flatten().sum();
    for (i, t) in tippers.iter().enumerate() {
        let spent: i64 = amounts[i].iter().sum();
        assert_eq!(
            units_of(&app, t).await,
            1_000 * UNITS_PER_LIVE - spent,
            "tipper {i}"
        );
    }
    assert_eq!(units_of(&app, &m).await, model_expected);
    assert_eq!(instance_units(&app).await, total - model_expected);
    check_ok(&app).await;
}

/// Tips decided together in one batch: a refusal in the middle disturbs nobody, the balance is
/// spent in order, the same key twice counts once, a key reused for another amount is refused,
/// and every receipt and balance equals what tips one by one would have given.
async fn a_batch_answers_each_tip_as_alone(app: TestApp) {
    use livestars_server::accounts::User as Account;
    use livestars_server::ledger::batch::{tip_batch, TipJob};
    use livestars_server::ledger::{Split, TipCache, Tipped};
    let (m, room) = live_model(&app, "model").await;
    let a = referred(&app, "anna", None).await;
    let b = referred(&app, "bert", None).await;
    deposit(&app, a.id, "0xa", 10 * UNITS_PER_LIVE).await;
    deposit(&app, b.id, "0xb", UNITS_PER_LIVE).await;
    let account = |u: &User, name: &str| Account {
        id: u.id,
        username: name.into(),
        role: "viewer".into(),
        created_at: livestars_server::db::now(),
    };
    let job = |u: &User, name: &str, room: i64, live: i64, key: &str| TipJob {
        tipper: account(u, name),
        room_id: room,
        amount: live * UNITS_PER_LIVE,
        key: key.into(),
    };
    let jobs = vec![
        job(&a, "anna", room, 4, "key-a-0001"),
        job(&b, "bert", room, 2, "key-b-0001"), // bert has 1: refused
        job(&a, "anna", 999_999, 1, "key-a-0002"), // no such room
        job(&a, "anna", room, 4, "key-a-0001"), // the same tip again
        job(&a, "anna", room, 5, "key-a-0001"), // the key for another amount
        job(&a, "anna", room, 5, "key-a-0003"),
        job(&a, "anna", room, 2, "key-a-0004"), // 10 - 4 - 5 = 1 left: refused
        job(&b, "bert", room, 1, "key-b-0002"),
        job(&m, "model", room, 1, "key-m-0001"), // her own room
    ];
    let split = Split {
        model_bps: 7500,
        referral_bps: vec![200, 100, 50],
    };
    let results = app
        .db
        .write(move |c| {
            let refs: Vec<&TipJob> = jobs.iter().collect();
            tip_batch(c, &split, &refs, &mut TipCache::default())
        })
        .await
        .unwrap();
    let outcome: Vec<String> = results
        .iter()
        .map(|r| match r {
            Ok(Tipped::Created(t)) => format!("created {} {}", t.amount, t.balance),
            Ok(Tipped::Replayed(t)) => format!("replayed {} id={}", t.amount, t.id),
            Err(e) => format!("{e:?}"),
        })
        .collect();
    let first_id = match &results[0] {
        Ok(Tipped::Created(t)) => t.id,
        _ => panic!("{outcome:?}"),
    };
    assert_eq!(
        outcome,
        vec![
            "created 4 6".to_string(),
            "InsufficientBalance".into(),
            "RoomNotFound".into(),
            format!("replayed 4 id={first_id}"),
            "KeyReused".into(),
            "created 5 1".into(),
            "InsufficientBalance".into(),
            "created 1 0".into(),
            "SelfTip".into(),
        ]
    );
    assert_eq!(units_of(&app, &a).await, UNITS_PER_LIVE);
    assert_eq!(units_of(&app, &b).await, 0);
    assert_eq!(units_of(&app, &m).await, 10 * UNITS_PER_LIVE * 3 / 4);
    assert_eq!(instance_units(&app).await, 10 * UNITS_PER_LIVE / 4);
    // The batch's tips replay through the API like any other.
    let r = tip(&app, &a, room, "4", "key-a-0001").await;
    assert_eq!(r.status(), 200);
    check_ok(&app).await;
}

/// A referrer who deleted her account earns nothing more: her tier's share stays with the
/// instance, and the next tier up is still paid.
async fn a_deleted_referrer_earns_nothing(app: TestApp) {
    let top = referred(&app, "topref", None).await;
    let gone = referred(&app, "goneref", Some("topref")).await;
    let t = referred(&app, "tipper", Some("goneref")).await;
    let (_m, room) = live_model(&app, "model").await;
    deposit(&app, t.id, "0xt", 100 * UNITS_PER_LIVE).await;
    let r = app
        .client
        .delete(app.url("/api/me"))
        .bearer_auth(&gone.token)
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = tip(&app, &t, room, "10", "after-delete-1").await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["referral_total"], "0.1", "only tier 2 (1%) is paid: {v}");
    assert_eq!(v["instance_share"], "2.4");
    assert_eq!(units_of(&app, &top).await, UNITS_PER_LIVE / 10);
    assert_eq!(
        ledger::balance(&mut app.db.conn().unwrap(), gone.id).unwrap(),
        0
    );
    assert_eq!(instance_units(&app).await, 24 * UNITS_PER_LIVE / 10);
    check_ok(&app).await;
}

/// `ledger::tip()` from 8 threads, each tip its own transaction, where tippers are also each
/// other's referrers (so every tip debits one tipper and credits others): every tip succeeds
/// (PostgreSQL would abort one of two transactions locking rows in opposite orders) and the
/// ledger adds up.
async fn direct_tips_in_parallel_never_deadlock(app: TestApp) {
    use livestars_server::accounts::User as Account;
    use livestars_server::ledger::Split;
    let (_m, room) = live_model(&app, "model").await;
    let mut tippers = Vec::new();
    let mut previous: Option<String> = None;
    for i in 0..8 {
        let name = format!("tipper{i}");
        let u = referred(&app, &name, previous.as_deref()).await;
        deposit(&app, u.id, &format!("0x{i}"), 1000 * UNITS_PER_LIVE).await;
        tippers.push(Account {
            id: u.id,
            username: name.clone(),
            role: "viewer".into(),
            created_at: livestars_server::db::now(),
        });
        previous = Some(name);
    }
    let split = Split {
        model_bps: 7500,
        referral_bps: vec![200, 100, 50],
    };
    let mut tasks = tokio::task::JoinSet::new();
    for t in tippers {
        let (db, split) = (app.db.clone(), split.clone());
        tasks.spawn_blocking(move || {
            for k in 0..40 {
                db.write_blocking(|c| {
                    ledger::tip(
                        c,
                        &split,
                        &t,
                        room,
                        UNITS_PER_LIVE + k,
                        &format!("par-{}-{k:04}", t.id),
                    )
                })
                .map(|_| ())
                .unwrap_or_else(|e| panic!("tip of {}: {e}", t.username));
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    check_ok(&app).await;
}
