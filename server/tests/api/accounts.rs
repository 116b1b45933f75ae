use diesel::prelude::*;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{assert_error, TestApp};
use livestars_server::db::schema::{sessions, users};

both_backends!(
    sign_up_sign_in_me_sign_out,
    cookie_session_works_without_header,
    duplicate_username_is_refused_and_changes_nothing,
    wrong_password_and_unknown_user_look_the_same,
    invalid_sign_up_is_refused_and_stores_nothing,
    secrets_are_stored_hashed,
    viewer_becomes_model_once,
    expired_sessions_stop_working,
    deleting_an_account_removes_her_and_keeps_her_name,
);

fn count_users(app: &TestApp) -> i64 {
    let mut conn = app.db.conn().unwrap();
    users::table.count().get_result(&mut *conn).unwrap()
}

async fn sign_up_sign_in_me_sign_out(app: TestApp) {
    let r = app
        .post_json(
            "/api/accounts",
            &json!({"username": "alice", "password": "correct horse"}),
            None,
        )
        .await;
    assert_eq!(r.status(), 201);
    let acc: Value = r.json().await.unwrap();
    assert_eq!(acc["username"], "alice");
    assert_eq!(acc["role"], "viewer");

    let r = app
        .post_json(
            "/api/sessions",
            &json!({"username": "alice", "password": "correct horse"}),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("livestars_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    let s: Value = r.json().await.unwrap();
    let token = s["token"].as_str().unwrap().to_string();
    assert!(cookie.contains(&token));

    let me: Value = app.get("/api/me", Some(&token)).await.json().await.unwrap();
    assert_eq!(me["username"], "alice");

    let r = app
        .client
        .delete(app.url("/api/sessions/current"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_error(
        app.get("/api/me", Some(&token)).await,
        401,
        "unauthenticated",
    )
    .await;
    assert_error(app.get("/api/me", None).await, 401, "unauthenticated").await;
}

async fn cookie_session_works_without_header(app: TestApp) {
    let u = app.viewer("bob").await;
    let r = app
        .client
        .get(app.url("/api/me"))
        .header("cookie", format!("livestars_session={}", u.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["username"], "bob");
    let r = app
        .client
        .get(app.url("/api/me"))
        .header("cookie", "livestars_session=00ff")
        .send()
        .await
        .unwrap();
    assert_error(r, 401, "unauthenticated").await;
}

async fn duplicate_username_is_refused_and_changes_nothing(app: TestApp) {
    app.viewer("carol").await;
    let r = app
        .post_json(
            "/api/accounts",
            &json!({"username": "carol", "password": "another password"}),
            None,
        )
        .await;
    assert_error(r, 409, "username_taken").await;
    assert_eq!(count_users(&app), 1);
    // The original password still works; the second one never did.
    let ok = app
        .post_json(
            "/api/sessions",
            &json!({"username": "carol", "password": "a long enough password"}),
            None,
        )
        .await;
    assert_eq!(ok.status(), 200);
    let bad = app
        .post_json(
            "/api/sessions",
            &json!({"username": "carol", "password": "another password"}),
            None,
        )
        .await;
    assert_error(bad, 401, "bad_credentials").await;
}

async fn wrong_password_and_unknown_user_look_the_same(app: TestApp) {
    app.viewer("dave").await;
    let a = app
        .post_json(
            "/api/sessions",
            &json!({"username": "dave", "password": "not the password"}),
            None,
        )
        .await;
    let a = assert_error(a, 401, "bad_credentials").await;
    let b = app
        .post_json(
            "/api/sessions",
            &json!({"username": "nobody", "password": "not the password"}),
            None,
        )
        .await;
    let b = assert_error(b, 401, "bad_credentials").await;
    assert_eq!(a, b);
    let mut conn = app.db.conn().unwrap();
    let n: i64 = sessions::table.count().get_result(&mut *conn).unwrap();
    assert_eq!(n, 1, "only the helper's own sign-in created a session");
}

async fn invalid_sign_up_is_refused_and_stores_nothing(app: TestApp) {
    for (body, code) in [
        (
            json!({"username": "Al", "password": "long enough pw"}),
            "invalid_username",
        ),
        (
            json!({"username": "Alice", "password": "long enough pw"}),
            "invalid_username",
        ),
        (
            json!({"username": "al ice", "password": "long enough pw"}),
            "invalid_username",
        ),
        (
            json!({"username": "alice", "password": "short"}),
            "invalid_password",
        ),
        (json!({"username": "alice"}), "invalid_request"),
        (
            json!({"username": "alice", "password": "long enough pw", "email": "a@b.c"}),
            "invalid_request",
        ),
        (
            json!({"username": 5, "password": "long enough pw"}),
            "invalid_request",
        ),
    ] {
        let r = app.post_json("/api/accounts", &body, None).await;
        assert_error(r, 400, code).await;
    }
    assert_eq!(count_users(&app), 0);
}

async fn secrets_are_stored_hashed(app: TestApp) {
    let u = app.viewer("erin").await;
    let mut conn = app.db.conn().unwrap();
    let hash: String = users::table
        .select(users::password_hash)
        .first(&mut *conn)
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains("a long enough password"));
    let stored: Vec<String> = sessions::table
        .select(sessions::token_hash)
        .load(&mut *conn)
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], u.token, "the raw token must not be stored");
}

async fn viewer_becomes_model_once(app: TestApp) {
    let u = app.viewer("fiona").await;
    assert_error(app.get("/api/profiles/fiona", None).await, 404, "not_found").await;
    let r = app.post_empty("/api/me/model", &u.token).await;
    assert_eq!(r.status(), 200);
    let acc: Value = r.json().await.unwrap();
    assert_eq!(acc["role"], "model");
    let p: Value = app
        .get("/api/profiles/fiona", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(p["display_name"], "fiona");
    let room: Value = app
        .get(&format!("/api/rooms/{}", p["room_id"]), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(room["status"], "offline");
    assert_eq!(room["model"], "fiona");
    let again = app.post_empty("/api/me/model", &u.token).await;
    assert_error(again, 409, "role_conflict").await;
}

async fn expired_sessions_stop_working(app: TestApp) {
    let u = app.viewer("gwen").await;
    assert_eq!(app.get("/api/me", Some(&u.token)).await.status(), 200);
    {
        let mut conn = app.db.conn().unwrap();
        let past = (chrono::Utc::now() - chrono::Duration::minutes(1)).naive_utc();
        diesel::update(sessions::table)
            .set(sessions::expires_at.eq(Some(past)))
            .execute(&mut *conn)
            .unwrap();
    }
    assert_error(
        app.get("/api/me", Some(&u.token)).await,
        401,
        "unauthenticated",
    )
    .await;
    // Signing in again issues a fresh session and clears the expired one.
    let r = app
        .post_json(
            "/api/sessions",
            &json!({"username": "gwen", "password": "a long enough password"}),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let mut conn = app.db.conn().unwrap();
    let n: i64 = sessions::table.count().get_result(&mut *conn).unwrap();
    assert_eq!(n, 1);
}

async fn deleting_an_account_removes_her_and_keeps_her_name(app: TestApp) {
    let (m, room) = app.verified_model("dora").await;
    let r = app
        .post_json(
            &format!("/api/rooms/{room}/start"),
            &json!({"status": "live"}),
            Some(&m.token),
        )
        .await;
    assert_eq!(r.status(), 200);
    // A wrong password changes nothing.
    assert_error(
        app.delete_me(&m.token, "not her password").await,
        401,
        "bad_credentials",
    )
    .await;
    let v: Value = app
        .get("/api/me", Some(&m.token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["username"], "dora");
    let live: Value = app
        .get(&format!("/api/rooms/{room}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(live["status"], "live");

    let (admin, _) = app.verifier().await;
    let docs: Value = app
        .get("/api/admin/iddocs?status=approved", Some(admin))
        .await
        .json()
        .await
        .unwrap();
    assert!(docs
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["model"] == "dora"));

    let r = app.delete_me(&m.token, "a long enough password").await;
    assert_eq!(r.status(), 204);
    // Her session, profile and room are gone; she cannot sign in again.
    assert_eq!(app.get("/api/me", Some(&m.token)).await.status(), 401);
    assert_eq!(app.get("/api/profiles/dora", None).await.status(), 404);
    assert_eq!(
        app.get(&format!("/api/rooms/{room}"), None).await.status(),
        404
    );
    let r = app
        .post_json(
            "/api/sessions",
            &json!({"username": "dora", "password": "a long enough password"}),
            None,
        )
        .await;
    assert!(r.status() == 401 || r.status() == 403, "{}", r.status());
    // Nobody takes her name (and so her actor URL) later.
    let r = app
        .post_json(
            "/api/accounts",
            &json!({"username": "dora", "password": "another long password"}),
            None,
        )
        .await;
    assert_eq!(r.status(), 409);
    // Her approved ID document is retired: no verifier lists it any more.
    let (admin, _) = app.verifier().await;
    let docs: Value = app
        .get("/api/admin/iddocs?status=approved", Some(admin))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        docs.as_array()
            .unwrap()
            .iter()
            .all(|d| d["model"] != "dora"),
        "{docs}"
    );
    let mut conn = app.db.conn().unwrap();
    let deleted: Option<chrono::NaiveDateTime> = users::table
        .filter(users::username.eq("dora"))
        .select(users::deleted_at)
        .first(&mut conn)
        .unwrap();
    assert!(deleted.is_some());
}
