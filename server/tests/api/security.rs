//! The attacker's findings of the security review, each as a test: suspension and deletion
//! racing sign-in, bounded password hashing, rate limits, no hashing under the write lock,
//! cross-site requests.

use std::time::Duration;

use livestars_server::accounts::{self, TokenKind};
use livestars_server::config::Limits;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{assert_error, spawn_app_with, Backend, TestApp};

both_backends!(
    suspended_and_deleted_accounts_get_no_working_token,
    parallel_sign_ins_during_a_suspension_leave_no_working_token,
    parallel_sign_ins_during_a_deletion_leave_no_working_token,
    a_suspended_model_cannot_start_a_show_with_a_stale_session,
    a_demoted_admins_token_stops_working,
    admin_tokens_are_listed_and_revoked,
    names_and_titles_show_what_they_are,
    cross_site_requests_on_a_cookie_session_are_refused,
    forms_and_plain_text_are_refused_on_every_state_change,
);

const PASSWORD: &str = "a long enough password";

async fn me_status(app: &TestApp, token: &str) -> u16 {
    app.get("/api/me", Some(token)).await.status().as_u16()
}

async fn suspend(app: &TestApp, id: i64) {
    let (admin, _) = app.verifier().await;
    let r = app
        .post_json(
            &format!("/api/admin/users/{id}/suspend"),
            &json!({}),
            Some(admin),
        )
        .await;
    assert_eq!(r.status(), 200, "suspend");
}

/// Finding 1, by construction: no token is issued to, and no token works for, an account that
/// is suspended or deleted — whatever an earlier read said.
async fn suspended_and_deleted_accounts_get_no_working_token(app: TestApp) {
    let v = app.viewer("sam").await;
    suspend(&app, v.id).await;
    let db = app.db.clone();
    let id = v.id;
    let issued = tokio::task::spawn_blocking(move || {
        db.write_blocking(|conn| accounts::issue_token(conn, id, TokenKind::Session, None))
    })
    .await
    .unwrap();
    assert!(
        matches!(issued, Err(accounts::AccountError::Suspended)),
        "a suspended account gets no token: {issued:?}"
    );
    // A session row that exists anyway (issued just before the suspension committed) does not
    // authenticate.
    let token = "ab".repeat(32);
    insert_session(&app, v.id, &token).await;
    assert_eq!(me_status(&app, &token).await, 401);

    // Deleted: the same.
    let w = app.viewer("wes").await;
    let r = app
        .client
        .delete(app.url("/api/me"))
        .bearer_auth(&w.token)
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let token = "cd".repeat(32);
    insert_session(&app, w.id, &token).await;
    assert_eq!(me_status(&app, &token).await, 401);
}

async fn insert_session(app: &TestApp, user_id: i64, token: &str) {
    use diesel::prelude::*;
    use livestars_server::db::schema::sessions;
    use sha2::{Digest, Sha256};
    let db = app.db.clone();
    let hash = hex::encode(Sha256::digest(token.as_bytes()));
    tokio::task::spawn_blocking(move || {
        db.write_blocking(|conn| {
            diesel::insert_into(sessions::table)
                .values((
                    sessions::token_hash.eq(hash),
                    sessions::user_id.eq(user_id),
                    sessions::kind.eq("session"),
                    sessions::created_at.eq(livestars_server::db::now()),
                    sessions::expires_at.eq(None::<chrono::NaiveDateTime>),
                ))
                .execute(conn)
                .map(|_| ())
                .map_err(livestars_server::db::DbError::from)
        })
    })
    .await
    .unwrap()
    .expect("insert session");
}

async fn race_sign_ins(app: &TestApp, username: &str, n: usize) -> Vec<String> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let client = app.client.clone();
        let url = app.url("/api/sessions");
        let body = json!({"username": username, "password": PASSWORD});
        tasks.push(tokio::spawn(async move {
            let r = client.post(url).json(&body).send().await.ok()?;
            if r.status() != 200 {
                return None;
            }
            let v: Value = r.json().await.ok()?;
            v["token"].as_str().map(str::to_string)
        }));
    }
    let mut tokens = Vec::new();
    for t in tasks {
        if let Some(tok) = t.await.unwrap() {
            tokens.push(tok);
        }
    }
    tokens
}

async fn parallel_sign_ins_during_a_suspension_leave_no_working_token(app: TestApp) {
    let (m, room) = app.verified_model("mia").await;
    app.post_empty(&format!("/api/rooms/{room}/start"), &m.token)
        .await;
    let (racing, _) = tokio::join!(race_sign_ins(&app, "mia", 24), async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        suspend(&app, m.id).await;
    });
    for token in racing.iter().chain([&m.token]) {
        assert_eq!(me_status(&app, token).await, 401, "a token survived");
        let r = app
            .post_empty(&format!("/api/rooms/{room}/start"), token)
            .await;
        assert_eq!(r.status(), 401);
    }
    let v: Value = app.get_json(&format!("/api/rooms/{room}"), None).await;
    assert_eq!(v["status"], "offline");
}

async fn parallel_sign_ins_during_a_deletion_leave_no_working_token(app: TestApp) {
    let v = app.viewer("dora").await;
    let (racing, deleted) = tokio::join!(race_sign_ins(&app, "dora", 24), async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        app.client
            .delete(app.url("/api/me"))
            .bearer_auth(&v.token)
            .json(&json!({"password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(deleted, 204);
    for token in &racing {
        assert_eq!(me_status(&app, token).await, 401, "a token survived");
    }
}

/// The session was looked up before the suspension committed; the start comes after it.
async fn a_suspended_model_cannot_start_a_show_with_a_stale_session(app: TestApp) {
    let (m, room) = app.verified_model("tess").await;
    let db = app.db.clone();
    let id = m.id;
    let stale = tokio::task::spawn_blocking(move || {
        let token = db
            .write_blocking(|conn| accounts::issue_token(conn, id, TokenKind::Session, None))
            .unwrap()
            .0;
        let mut conn = db.conn().unwrap();
        accounts::authenticate(&mut conn, &token).unwrap()
    })
    .await
    .unwrap();
    suspend(&app, m.id).await;
    let db = app.db.clone();
    let started = tokio::task::spawn_blocking(move || {
        db.write_blocking(|conn| {
            livestars_server::rooms::start(conn, room, &stale, livestars_api::RoomStatus::Live)
        })
    })
    .await
    .unwrap();
    assert!(
        matches!(started, Err(livestars_server::rooms::RoomError::Suspended)),
        "{started:?}"
    );
    let v: Value = app.get_json(&format!("/api/rooms/{room}"), None).await;
    assert_eq!(v["status"], "offline");
}

async fn a_demoted_admins_token_stops_working(app: TestApp) {
    let (chief, _) = app.verifier().await;
    let second = app.make_admin("second").await;
    let me: Value = app.get_json("/api/me", Some(&second)).await;
    let r = app
        .client
        .put(app.url(&format!("/api/admin/users/{}/role", me["id"])))
        .bearer_auth(chief)
        .json(&json!({"role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(me_status(&app, &second).await, 401);
    assert_error(
        app.get("/api/admin/stats", Some(&second)).await,
        401,
        "unauthenticated",
    )
    .await;
}

async fn admin_tokens_are_listed_and_revoked(app: TestApp) {
    let (chief, _) = app.verifier().await;
    let second = app.make_admin("second").await;
    let list: Value = app.get_json("/api/admin/tokens", Some(chief)).await;
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["second", "chief"], "newest first: {list}");
    assert!(
        !list.to_string().contains(second.as_str()),
        "never the token itself"
    );
    let id = list[0]["id"].as_str().unwrap().to_string();
    // Viewers cannot list or revoke.
    let v = app.viewer("val").await;
    assert_error(
        app.get("/api/admin/tokens", Some(&v.token)).await,
        403,
        "forbidden",
    )
    .await;
    let revoke = |token: &str, id: &str| {
        app.client
            .delete(app.url(&format!("/api/admin/tokens/{id}")))
            .bearer_auth(token.to_string())
            .send()
    };
    assert_error(revoke(&v.token, &id).await.unwrap(), 403, "forbidden").await;
    assert_eq!(me_status(&app, &second).await, 200);
    assert_eq!(revoke(chief, &id).await.unwrap().status(), 204);
    assert_eq!(me_status(&app, &second).await, 401, "revoked at once");
    assert_error(revoke(chief, &id).await.unwrap(), 404, "not_found").await;
    // A session is no admin API token: not revocable here.
    assert_error(
        revoke(chief, &"ab".repeat(32)).await.unwrap(),
        404,
        "not_found",
    )
    .await;
    let trail: Value = app.get_json("/api/admin/audit", Some(chief)).await;
    assert!(trail.to_string().contains("admin_token_revoked"), "{trail}");
}

/// Low finding: bidi overrides, zero-width-only names and look-alike names.
async fn names_and_titles_show_what_they_are(app: TestApp) {
    app.model("anna").await;
    let (b, room) = app.model("bella").await;
    let set = |name: &str| {
        app.client
            .patch(app.url("/api/profiles/bella"))
            .bearer_auth(&b.token)
            .json(&json!({ "display_name": name }))
            .send()
    };
    // Another model's name, in other letters, case or with invisible characters: refused.
    for look_alike in ["ANNA", "\u{0410}nna", "Ann\u{0430}", "A\u{200B}nna"] {
        let r = set(look_alike).await.unwrap();
        assert_error(r, 409, "name_taken").await;
    }
    // Nothing visible: refused.
    for blank in ["\u{200B}\u{200B}", "\u{3164}", "\u{202E}\u{202C}"] {
        let r = set(blank).await.unwrap();
        assert_error(r, 400, "invalid_field").await;
    }
    // Overrides are removed from what is stored and shown.
    let r = set("\u{202E}Bella Star\u{202C}").await.unwrap();
    assert_eq!(r.status(), 200);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["display_name"], "Bella Star");
    let r = app
        .patch_json(
            &format!("/api/rooms/{room}"),
            &json!({"title": "Late \u{2066}show\u{2069} \u{202E}tonight"}),
            &b.token,
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = app.get_json(&format!("/api/rooms/{room}"), None).await;
    assert_eq!(v["title"], "Late show tonight");
}

/// A model signed in by cookie, as a browser holds her session.
async fn cookie_model(app: &TestApp, name: &str) -> (String, i64) {
    let (_, room) = app.verified_model(name).await;
    let r = app
        .post_json(
            "/api/sessions",
            &json!({"username": name, "password": PASSWORD}),
            None,
        )
        .await;
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("session cookie")
        .to_string();
    (cookie, room)
}

async fn cross_site_requests_on_a_cookie_session_are_refused(app: TestApp) {
    let (cookie, room) = cookie_model(&app, "cleo").await;
    let start = |headers: Vec<(&'static str, String)>| {
        let mut r = app
            .client
            .post(app.url(&format!("/api/rooms/{room}/start")))
            .header("cookie", &cookie);
        for (k, v) in headers {
            r = r.header(k, v);
        }
        r.send()
    };
    let r = start(vec![("origin", "https://evil.example".into())])
        .await
        .unwrap();
    assert_error(r, 403, "cross_site").await;
    let r = start(vec![("sec-fetch-site", "cross-site".into())])
        .await
        .unwrap();
    assert_error(r, 403, "cross_site").await;
    let r = start(vec![("sec-fetch-site", "same-site".into())])
        .await
        .unwrap();
    assert_error(r, 403, "cross_site").await;
    assert_eq!(app.room_status(room).await, "offline", "nothing changed");
    // Replacing the ID document from another site: refused, the approved one stays.
    let r = app
        .client
        .post(app.url("/api/iddocs"))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .header("content-type", "application/octet-stream")
        .body(crate::helpers::ID_PNG.to_vec())
        .send()
        .await
        .unwrap();
    assert_error(r, 403, "cross_site").await;
    // From our own pages it works.
    let r = start(vec![
        ("origin", app.address.clone()),
        ("sec-fetch-site", "same-origin".into()),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(app.room_status(room).await, "live");
}

async fn forms_and_plain_text_are_refused_on_every_state_change(app: TestApp) {
    let (cookie, room) = cookie_model(&app, "flo").await;
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "Text/Plain; charset=utf-8",
    ] {
        for path in [
            format!("/api/rooms/{room}/start"),
            "/api/me/model".to_string(),
            "/api/iddocs".to_string(),
        ] {
            let r = app
                .client
                .post(app.url(&path))
                .header("cookie", &cookie)
                .header("content-type", ct)
                .body("status=live")
                .send()
                .await
                .unwrap();
            assert_error(r, 415, "unsupported_media_type").await;
        }
    }
    assert_eq!(app.room_status(room).await, "offline");
    let v: Value = app
        .client
        .get(app.url("/api/me/verification"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "approved", "the approved document stays: {v}");
}

// ------------------------------------------------------------------ limits (SQLite: in memory)

fn limits(f: impl FnOnce(&mut Limits)) -> impl FnOnce(&mut livestars_server::Config) {
    move |c| {
        let mut l = Limits::unlimited();
        f(&mut l);
        c.limits = l;
    }
}

async fn assert_limited(r: reqwest::Response) {
    let retry: u64 = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!(retry >= 1, "{retry}");
    assert_error(r, 429, "rate_limited").await;
}

#[tokio::test]
async fn wrong_passwords_are_limited_per_address() {
    let app = spawn_app_with(
        Backend::Sqlite,
        limits(|l| l.sign_in_per_ip = "5/60".into()),
    )
    .await;
    app.viewer("amy").await; // one sign-in
    for _ in 0..4 {
        let r = app
            .post_json(
                "/api/sessions",
                &json!({"username": "amy", "password": "wrong password!"}),
                None,
            )
            .await;
        assert_eq!(r.status(), 401);
    }
    let r = app
        .post_json(
            "/api/sessions",
            &json!({"username": "amy", "password": PASSWORD}),
            None,
        )
        .await;
    assert_limited(r).await;
}

#[tokio::test]
async fn repeated_failures_slow_one_account_only_and_a_success_clears_them() {
    let app = spawn_app_with(
        Backend::Sqlite,
        limits(|l| l.sign_in_failures_per_account = "3/600".into()),
    )
    .await;
    app.viewer("bob").await;
    app.viewer("cyd").await;
    let sign_in = |name: &'static str, pw: &'static str| {
        app.client
            .post(app.url("/api/sessions"))
            .json(&json!({"username": name, "password": pw}))
            .send()
    };
    // Two failures, then the right password: the failures are forgotten.
    for _ in 0..2 {
        assert_eq!(
            sign_in("bob", "wrong password!").await.unwrap().status(),
            401
        );
    }
    assert_eq!(sign_in("bob", PASSWORD).await.unwrap().status(), 200);
    for _ in 0..3 {
        assert_eq!(
            sign_in("bob", "wrong password!").await.unwrap().status(),
            401
        );
    }
    // Now even the right password waits (no hashing is spent on this account) …
    assert_limited(sign_in("bob", PASSWORD).await.unwrap()).await;
    // … with a short delay (one token back per 200 s here), and other accounts are untouched.
    assert_eq!(sign_in("cyd", PASSWORD).await.unwrap().status(), 200);
    // Unknown names are limited too (no telling them apart).
    for _ in 0..3 {
        assert_eq!(
            sign_in("nobody", "wrong password!").await.unwrap().status(),
            401
        );
    }
    assert_limited(sign_in("nobody", "wrong password!").await.unwrap()).await;
}

#[tokio::test]
async fn sign_ups_challenges_reports_tips_and_uploads_are_limited() {
    let app = spawn_app_with(
        Backend::Sqlite,
        limits(|l| {
            l.sign_up_per_ip = "3/3600".into();
            l.challenges_per_ip = "2/600".into();
            l.reports_per_account = "2/3600".into();
            l.uploads_per_account = "2/3600".into();
            l.tips_per_account = "2/60".into();
        }),
    )
    .await;
    let (m, room) = app.model("gia").await; // sign-up 1
    let v = app.viewer("hal").await; // sign-up 2
    app.viewer("ian").await; // sign-up 3
    let r = app
        .post_json(
            "/api/accounts",
            &json!({"username": "joe", "password": PASSWORD}),
            None,
        )
        .await;
    assert_limited(r).await;

    let addr = "0x8ba1f109551bD432803012645Ac136ddd64DBA72";
    for _ in 0..2 {
        let r = app
            .post_json(
                "/api/wallet/challenges",
                &json!({"address": addr, "purpose": "sign_in"}),
                None,
            )
            .await;
        assert_eq!(r.status(), 201);
    }
    let r = app
        .post_json(
            "/api/wallet/challenges",
            &json!({"address": addr, "purpose": "sign_in"}),
            None,
        )
        .await;
    assert_limited(r).await;

    for _ in 0..2 {
        let r = app
            .post_json(
                "/api/reports",
                &json!({"room_id": room, "reason": "spam"}),
                Some(&v.token),
            )
            .await;
        assert_eq!(r.status(), 201);
    }
    let r = app
        .post_json(
            "/api/reports",
            &json!({"room_id": room, "reason": "spam"}),
            Some(&v.token),
        )
        .await;
    assert_limited(r).await;

    // Tips: the limit comes before the balance check (nothing to tip with here: 409).
    for i in 0..2 {
        let r = app
            .post_json(
                &format!("/api/rooms/{room}/tips"),
                &json!({"amount": "1", "idempotency_key": format!("tip-key-{i}")}),
                Some(&v.token),
            )
            .await;
        assert_eq!(r.status(), 409);
    }
    let r = app
        .post_json(
            &format!("/api/rooms/{room}/tips"),
            &json!({"amount": "1", "idempotency_key": "tip-key-9"}),
            Some(&v.token),
        )
        .await;
    assert_limited(r).await;

    let png = crate::helpers::ID_PNG.to_vec();
    for _ in 0..2 {
        let r = app
            .client
            .put(app.url("/api/profiles/gia/avatar"))
            .bearer_auth(&m.token)
            .header("content-type", "application/octet-stream")
            .body(png.clone())
            .send()
            .await
            .unwrap();
        assert_ne!(r.status(), 429);
    }
    let r = app.upload_iddoc(&m.token, png).await;
    assert_limited(r).await;
}

/// An instance that limits sign-ups to one per address and reads `X-Forwarded-For` from the
/// given proxies.
async fn behind_proxy(trusted: Vec<String>) -> TestApp {
    spawn_app_with(Backend::Sqlite, move |c| {
        c.limits = Limits {
            sign_up_per_ip: "1/3600".into(),
            ..Limits::unlimited()
        };
        c.client_ip_header = "X-Forwarded-For".into();
        c.trusted_proxies = trusted;
    })
    .await
}

async fn sign_up_from(app: &TestApp, name: &str, forwarded_for: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/accounts"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"username": name, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_client_address_comes_from_a_trusted_proxy_only() {
    // Behind a proxy on loopback: each forwarded address has its own bucket.
    let app = behind_proxy(vec!["127.0.0.1".into()]).await;
    assert_eq!(sign_up_from(&app, "kai", "203.0.113.7").await.status(), 201);
    // The client forged a first entry; the proxy's (last) one counts.
    assert_limited(sign_up_from(&app, "kbo", "198.51.100.1, 203.0.113.7").await).await;
    assert_eq!(sign_up_from(&app, "kcy", "203.0.113.8").await.status(), 201);
    // IPv6 counts per /64.
    assert_eq!(
        sign_up_from(&app, "kdi", "2001:db8:1:2::1").await.status(),
        201
    );
    assert_limited(sign_up_from(&app, "kev", "2001:db8:1:2::ffff").await).await;

    // Not behind a trusted proxy: the header is ignored, the peer address counts.
    let app = behind_proxy(vec![]).await;
    assert_eq!(sign_up_from(&app, "lai", "203.0.113.7").await.status(), 201);
    assert_limited(sign_up_from(&app, "lbo", "203.0.113.8").await).await;
}

#[tokio::test]
async fn event_streams_are_capped_per_address() {
    let app = spawn_app_with(Backend::Sqlite, limits(|l| l.streams_per_ip = 2)).await;
    let (_, room) = app.model("ola").await;
    let url = app.url(&format!("/api/rooms/{room}/events"));
    let a = app.client.get(&url).send().await.unwrap();
    let b = app.client.get(&url).send().await.unwrap();
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    assert_limited(app.client.get(&url).send().await.unwrap()).await;
    drop(a);
    // The slot comes back once the server notices the closed stream: a write to it fails (the
    // keep-alive comment every 15 s; the first write after the close may still succeed).
    let mut freed = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let r = app.client.get(&url).send().await.unwrap();
        if r.status() == 200 {
            freed = true;
            break;
        }
    }
    assert!(freed, "a closed stream's slot is freed");
    drop(b);
}

/// Finding 2: past the hashing threads and their queue, password work is refused at once with
/// 503 and Retry-After — never queued without bound, never a server error.
#[tokio::test]
async fn password_hashing_beyond_its_queue_is_refused_with_retry_after() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.limits = Limits::unlimited();
        c.password_hash_threads = 1;
        c.password_hash_queue = 1;
    })
    .await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let client = app.client.clone();
        let url = app.url("/api/accounts");
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .json(&json!({"username": format!("flood{i}"), "password": PASSWORD}))
                .send()
                .await
                .unwrap();
            let retry = r.headers().get("retry-after").is_some();
            (r.status().as_u16(), retry)
        }));
    }
    let mut created = 0;
    let mut busy = 0;
    for t in tasks {
        match t.await.unwrap() {
            (201, _) => created += 1,
            (503, true) => busy += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert!(created >= 1 && busy >= 1, "created {created}, busy {busy}");
}

/// Finding 4: a password check never holds the write lock. With the SQLite writer held by
/// another transaction, a wrong-password deletion is still answered (before, it queued behind
/// the lock and hashed inside it).
#[tokio::test]
async fn a_password_check_does_not_wait_for_the_writer() {
    let app = crate::helpers::spawn_app(Backend::Sqlite).await;
    let v = app.viewer("pia").await;
    let (hold_tx, hold_rx) = std::sync::mpsc::channel::<()>();
    let (held_tx, held_rx) = tokio::sync::oneshot::channel::<()>();
    let db = app.db.clone();
    let holder = tokio::task::spawn_blocking(move || {
        db.write_blocking(|_conn| {
            let _ = held_tx.send(());
            let _ = hold_rx.recv();
            Ok::<_, livestars_server::db::DbError>(())
        })
    });
    held_rx.await.unwrap();
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        app.client
            .delete(app.url("/api/me"))
            .bearer_auth(&v.token)
            .json(&json!({"password": "not her password"}))
            .send(),
    )
    .await;
    hold_tx.send(()).unwrap();
    holder.await.unwrap().unwrap();
    let r = r.expect("answered while the writer was held").unwrap();
    assert_error(r, 401, "bad_credentials").await;
    assert_eq!(me_status(&app, &v.token).await, 200, "still there");
}

// ------------------------------------------------------------------ ID documents

mod iddocs {
    use std::path::Path;

    use serde_json::{json, Value};

    use crate::both_backends;
    use crate::helpers::{assert_error, files_under, spawn_app_with, Backend, TestApp, ID_PNG};

    both_backends!(
        only_a_verifier_who_read_the_document_decides,
        a_rewrap_must_prove_it_holds_the_same_key,
        a_deleted_documents_row_keeps_nothing_of_its_content,
    );

    #[tokio::test]
    async fn uploads_are_limited_per_day_sqlite() {
        uploads_are_limited_per_day(Backend::Sqlite).await
    }

    #[tokio::test]
    async fn uploads_are_limited_per_day_postgres() {
        uploads_are_limited_per_day(Backend::Postgres).await
    }

    async fn upload(app: &TestApp, token: &str) -> Value {
        let r = app.upload_iddoc(token, ID_PNG.to_vec()).await;
        assert_eq!(r.status(), 201, "upload");
        r.json().await.unwrap()
    }

    async fn status(app: &TestApp, token: &str) -> String {
        let v = app.verification(token).await;
        v["status"].as_str().unwrap_or_default().to_string()
    }

    /// Findings 7: the hash every admin sees is not enough; a decision proves the decider
    /// could unwrap the document key.
    async fn only_a_verifier_who_read_the_document_decides(app: TestApp) {
        let (chief, _) = app.verifier().await;
        let (m, _) = app.model("vera").await;
        let doc = upload(&app, &m.token).await;
        let id = doc["id"].as_i64().unwrap();
        let approve = |proof: Option<String>| {
            json!({"decision": "approve", "sha256": doc["sha256"],
                "date_of_birth": "1990-01-01", "key_proof": proof})
        };
        let path = format!("/api/admin/iddocs/{id}/decision");
        // A second admin who is no verifier: refused, with or without a made-up proof.
        let second = app.make_admin("second").await;
        for proof in [None, Some("00".repeat(32))] {
            let r = app.post_json(&path, &approve(proof), Some(&second)).await;
            assert_error(r, 403, "not_a_verifier").await;
        }
        // She registers a recipient now: the document was not wrapped to it, she cannot
        // compute the proof, and the hash alone proves nothing.
        app.add_verifier_key(&second).await;
        for proof in [
            None,
            Some("00".repeat(32)),
            Some(doc["sha256"].as_str().unwrap().into()),
        ] {
            let r = app.post_json(&path, &approve(proof), Some(&second)).await;
            assert_error(r, 403, "bad_key_proof").await;
        }
        // The registered verifier without the proof: refused too.
        let r = app.post_json(&path, &approve(None), Some(chief)).await;
        assert_error(r, 403, "bad_key_proof").await;
        assert_eq!(status(&app, &m.token).await, "pending", "nothing decided");
        // With the proof from the unwrapped key: decided.
        let proof = app.key_proof(id).await.expect("the chief unwraps the key");
        let r = app
            .post_json(&path, &approve(Some(proof)), Some(chief))
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(status(&app, &m.token).await, "approved");
    }

    /// Finding 8: "re-wrapping" to a key of one's own destroys the document for the real
    /// verifiers; a re-wrap must prove it wraps the same document key.
    async fn a_rewrap_must_prove_it_holds_the_same_key(app: TestApp) {
        use livestars_envelope::ExposeSecret;
        use livestars_server::iddocs::crypto;
        let (chief, chief_identity) = app.verifier().await;
        let (m, _) = app.model("wren").await;
        let doc = upload(&app, &m.token).await;
        let id = doc["id"].as_i64().unwrap();
        let second = app.make_admin("second").await;
        let mine = app.add_verifier_key(&second).await;
        let key: Value = app
            .get_json(&format!("/api/admin/iddocs/{id}/key"), Some(&second))
            .await;
        let recipients: Vec<_> = key["current_recipients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| crypto::parse_recipient(r.as_str().unwrap()).unwrap())
            .collect();
        // The attack: a fresh key of her own, wrapped to everyone, with a made-up proof.
        let forged = crypto::wrap_key(&crypto::new_document_key(), &recipients).unwrap();
        let put = |wrapped: String, proof: Option<String>, token: &str| {
            app.client
                .put(app.url(&format!("/api/admin/iddocs/{id}/key")))
                .bearer_auth(token)
                .json(
                    &json!({"wrapped_key": wrapped, "previous_key_sha256": key["key_sha256"],
                    "recipients": key["current_recipients"], "key_proof": proof}),
                )
                .send()
        };
        for proof in [None, Some("11".repeat(32))] {
            let r = put(forged.clone(), proof, &second).await.unwrap();
            assert_error(r, 403, "bad_key_proof").await;
        }
        let after: Value = app
            .get_json(&format!("/api/admin/iddocs/{id}/key"), Some(chief))
            .await;
        assert_eq!(
            after["key_sha256"], key["key_sha256"],
            "the key is untouched"
        );
        assert!(crypto::unwrap_key(after["wrapped_key"].as_str().unwrap(), chief_identity).is_ok());
        // The chief, who holds the document key, re-wraps it to both.
        let doc_key =
            crypto::unwrap_key(key["wrapped_key"].as_str().unwrap(), chief_identity).unwrap();
        let proof = livestars_api::key_proof::proof(doc_key.to_string().expose_secret());
        let rewrapped = crypto::wrap_key(&doc_key, &recipients).unwrap();
        let r = put(rewrapped, Some(proof), chief).await.unwrap();
        assert_eq!(r.status(), 200);
        let after: Value = r.json().await.unwrap();
        assert!(crypto::unwrap_key(after["wrapped_key"].as_str().unwrap(), &mine).is_ok());
    }

    /// Finding 9: a model cannot fill the disk with uploads.
    async fn uploads_are_limited_per_day(backend: Backend) {
        let app = spawn_app_with(backend, |c| c.limits.iddoc_uploads_per_day = 3).await;
        app.verifier().await;
        let (m, _) = app.model("una").await;
        let per_day = app.config.limits.iddoc_uploads_per_day;
        for _ in 0..per_day {
            upload(&app, &m.token).await;
        }
        let r = app.upload_iddoc(&m.token, ID_PNG.to_vec()).await;
        assert!(r.headers().contains_key("retry-after"));
        assert_error(r, 429, "rate_limited").await;
        // Deleting does not give uploads back.
        let v = app.verification(&m.token).await;
        let r = app
            .client
            .delete(app.url(&format!("/api/iddocs/{}", v["document_id"])))
            .bearer_auth(&m.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        let r = app.upload_iddoc(&m.token, ID_PNG.to_vec()).await;
        assert_error(r, 429, "rate_limited").await;
    }

    async fn a_deleted_documents_row_keeps_nothing_of_its_content(app: TestApp) {
        use diesel::prelude::*;
        use livestars_server::db::schema::id_documents;
        let (chief, _) = app.verifier().await;
        let (m, _) = app.model("xena").await;
        let doc = upload(&app, &m.token).await;
        let id = doc["id"].as_i64().unwrap();
        let proof = app.key_proof(id).await;
        let r = app
            .post_json(
                &format!("/api/admin/iddocs/{id}/decision"),
                &json!({"decision": "reject", "sha256": doc["sha256"],
                    "reason": "Name JANE DOE does not match", "key_proof": proof}),
                Some(chief),
            )
            .await;
        assert_eq!(r.status(), 200);
        let r = app
            .client
            .delete(app.url(&format!("/api/iddocs/{id}")))
            .bearer_auth(&m.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        let db = app.db.clone();
        let row: (Option<String>, Option<chrono::NaiveDate>, Option<String>) =
            tokio::task::spawn_blocking(move || {
                let mut c = db.conn().unwrap();
                id_documents::table
                    .find(id)
                    .select((
                        id_documents::reject_reason,
                        id_documents::valid_until,
                        id_documents::storage_key,
                    ))
                    .first(&mut c)
                    .unwrap()
            })
            .await
            .unwrap();
        assert_eq!(row, (None, None, None));
    }

    /// Finding 6: after a deletion commits, no file the server writes holds the deleted
    /// wrapped key (SQLite: neither the database nor its write-ahead log).
    #[tokio::test]
    async fn a_deleted_key_leaves_no_copy_in_the_database_files() {
        let app = crate::helpers::spawn_app(Backend::Sqlite).await;
        let (chief, _) = app.verifier().await;
        let (m, _) = app.model("yara").await;
        let (n, _) = app.model("zoe").await;
        let mut keys = vec![];
        for token in [&m.token, &n.token] {
            let doc = upload(&app, token).await;
            let key: Value = app
                .get_json(&format!("/api/admin/iddocs/{}/key", doc["id"]), Some(chief))
                .await;
            // A line of the armored body: unique to this key.
            let armored = key["wrapped_key"].as_str().unwrap().to_string();
            let line = armored.lines().nth(2).unwrap().to_string();
            assert!(line.len() >= 40, "{armored}");
            keys.push((doc["id"].as_i64().unwrap(), line));
        }
        let found = |needle: &str| -> Vec<String> {
            files_under(&app.config.data_dir)
                .into_iter()
                .filter(|f| {
                    let bytes = std::fs::read(f).unwrap_or_default();
                    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
                })
                .map(|f| f.display().to_string())
                .collect()
        };
        assert!(!found(&keys[0].1).is_empty(), "the key is stored before");
        // She deletes her document; the other model deletes her account.
        let r = app
            .client
            .delete(app.url(&format!("/api/iddocs/{}", keys[0].0)))
            .bearer_auth(&m.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        let r = app
            .client
            .delete(app.url("/api/me"))
            .bearer_auth(&n.token)
            .json(&json!({"password": super::PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        for (_, line) in &keys {
            assert_eq!(found(line), Vec::<String>::new(), "a deleted key survived");
        }
    }

    /// Finding 6 on PostgreSQL: after a deletion commits, the keys table's file on disk holds no
    /// copy of the deleted key (the table is rewritten). Reads the table's file in PostgreSQL's
    /// data directory, so it needs the server on this machine (as in CI).
    #[tokio::test]
    async fn a_deleted_key_leaves_no_copy_in_the_postgresql_table_file() {
        use diesel::prelude::*;
        #[derive(diesel::QueryableByName)]
        struct Setting {
            #[diesel(sql_type = diesel::sql_types::Text)]
            value: String,
        }
        let app = crate::helpers::spawn_app(Backend::Postgres).await;
        let (chief, _) = app.verifier().await;
        let (m, _) = app.model("yoko").await;
        let doc = upload(&app, &m.token).await;
        let key: Value = app
            .get_json(&format!("/api/admin/iddocs/{}/key", doc["id"]), Some(chief))
            .await;
        let armored = key["wrapped_key"].as_str().unwrap().to_string();
        let line = armored.lines().nth(2).unwrap().to_string();
        let db = app.db.clone();
        let table_file = move || -> Vec<u8> {
            let mut c = db.conn().unwrap();
            diesel::sql_query("CHECKPOINT").execute(&mut *c).unwrap();
            let dir: Vec<Setting> =
                diesel::sql_query("SELECT current_setting('data_directory') AS value")
                    .load(&mut *c)
                    .unwrap();
            let file: Vec<Setting> =
                diesel::sql_query("SELECT pg_relation_filepath('id_document_keys') AS value")
                    .load(&mut *c)
                    .unwrap();
            let path = Path::new(&dir[0].value).join(&file[0].value);
            std::fs::read(&path).unwrap_or_else(|e| {
                panic!(
                    "this test reads {} (PostgreSQL on this machine, readable): {e}",
                    path.display()
                )
            })
        };
        let contains = |bytes: &[u8]| bytes.windows(line.len()).any(|w| w == line.as_bytes());
        let f = table_file.clone();
        let before = tokio::task::spawn_blocking(f).await.unwrap();
        assert!(contains(&before), "the key is in the table file before");
        let r = app
            .client
            .delete(app.url(&format!("/api/iddocs/{}", doc["id"])))
            .bearer_auth(&m.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        let after = tokio::task::spawn_blocking(table_file).await.unwrap();
        assert!(
            !contains(&after),
            "the deleted key is still in the table file"
        );
    }

    /// Under `retain`, one retained copy per model at most: an older one is shredded.
    #[tokio::test]
    async fn at_most_one_retained_copy_per_model() {
        let app = spawn_app_with(Backend::Sqlite, |c| {
            c.iddoc_retention = "retain".into();
            c.iddoc_retain_days = 30;
        })
        .await;
        app.verifier().await;
        let (m, _) = app.model("ada").await;
        for _ in 0..4 {
            upload(&app, &m.token).await;
        }
        let files = files_under(&app.config.data_dir.join("iddocs"));
        assert_eq!(
            files.len(),
            2,
            "the current document and one retained: {files:?}"
        );
    }

    /// Low finding: the data directory, the database and the ciphertexts are the server's
    /// alone.
    #[cfg(unix)]
    #[tokio::test]
    async fn the_data_directory_is_private() {
        use std::os::unix::fs::PermissionsExt;
        // A data directory the server creates itself (the test's temporary one is private
        // already).
        let app = spawn_app_with(Backend::Sqlite, |c| c.data_dir = c.data_dir.join("data")).await;
        app.verifier().await;
        let (m, _) = app.model("bea").await;
        upload(&app, &m.token).await;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = &app.config.data_dir;
        assert_eq!(mode(dir), 0o700, "data dir");
        assert_eq!(mode(&dir.join("iddocs")), 0o700, "iddocs dir");
        for f in files_under(dir) {
            assert_eq!(mode(&f), 0o600, "{}", f.display());
        }
    }
}
