//! A room's chat over the API (the room socket says the same through the same function; the
//! browser tests drive the socket): lines cleaned and bounded, read back in order and after an
//! id, refused with a clear error, limited per account, expired, gone with their author.

use diesel::prelude::*;
use livestars_server::config::Limits;
use livestars_server::db::schema::chat_messages;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{assert_error, spawn_app_with, Backend, TestApp};

both_backends!(
    lines_are_said_read_and_refused,
    a_deleted_account_takes_its_lines
);

async fn say(app: &TestApp, room: i64, token: Option<&str>, body: Value) -> reqwest::Response {
    app.post_json(&format!("/api/rooms/{room}/chat"), &body, token)
        .await
}

async fn lines(app: &TestApp, room: i64, after: Option<i64>) -> Vec<Value> {
    let q = after.map_or(String::new(), |a| format!("?after={a}"));
    let r = app.get(&format!("/api/rooms/{room}/chat{q}"), None).await;
    assert_eq!(r.status(), 200);
    r.json::<Vec<Value>>().await.unwrap()
}

async fn lines_are_said_read_and_refused(app: TestApp) {
    let (ana, room) = app.model("ana").await;
    let vic = app.viewer("vic").await;
    let r = say(
        &app,
        room,
        Some(&vic.token),
        json!({"text": "  hello\nthere\u{202E}  "}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let first: Value = r.json().await.unwrap();
    assert_eq!(first["text"], "hello there");
    assert_eq!(first["from"], "vic");
    let r = say(
        &app,
        room,
        Some(&ana.token),
        json!({"text": "<b>welcome</b>"}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let all = lines(&app, room, None).await;
    let texts: Vec<&str> = all.iter().map(|l| l["text"].as_str().unwrap()).collect();
    assert_eq!(
        texts,
        ["hello there", "<b>welcome</b>"],
        "stored as text, in order"
    );
    let after = lines(&app, room, first["id"].as_i64()).await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["from"], "ana");

    // Refused, and nothing said.
    for (token, body, status, code) in [
        (
            Some(vic.token.as_str()),
            json!({"text": " \u{200B} "}),
            400,
            "invalid_field",
        ),
        (
            Some(vic.token.as_str()),
            json!({"text": "x".repeat(501)}),
            400,
            "invalid_field",
        ),
        (
            Some(vic.token.as_str()),
            json!({"text": "hi", "color": "red"}),
            400,
            "invalid_request",
        ),
        (None, json!({"text": "hi"}), 401, "unauthenticated"),
    ] {
        assert_error(say(&app, room, token, body).await, status, code).await;
    }
    assert_error(
        say(&app, 999_999, Some(&vic.token), json!({"text": "hi"})).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        app.get("/api/rooms/999999/chat", None).await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(lines(&app, room, None).await.len(), 2);

    // Housekeeping deletes lines past the retention time.
    let mut conn = app.db.conn().unwrap();
    let n = livestars_server::rooms::chat::expire(
        &mut conn,
        livestars_server::db::now() + chrono::Duration::seconds(1),
    )
    .unwrap();
    assert_eq!(n, 2);
    drop(conn);
    assert!(lines(&app, room, None).await.is_empty());
}

async fn a_deleted_account_takes_its_lines(app: TestApp) {
    let (_, room) = app.model("ana").await;
    let vic = app.viewer("vic").await;
    let wes = app.viewer("wes").await;
    for who in [&vic, &wes] {
        assert_eq!(
            say(&app, room, Some(&who.token), json!({"text": "hi"}))
                .await
                .status(),
            201
        );
    }
    let r = app.delete_me(&wes.token, "a long enough password").await;
    assert_eq!(r.status(), 204);
    let left = lines(&app, room, None).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["from"], "vic");
    let mut conn = app.db.conn().unwrap();
    let n: i64 = chat_messages::table.count().get_result(&mut *conn).unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn lines_are_limited_per_account() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        let mut l = Limits::unlimited();
        l.chat_per_account = "3/60".into();
        c.limits = l;
    })
    .await;
    let (_, room) = app.model("ana").await;
    let vic = app.viewer("vic").await;
    let wes = app.viewer("wes").await;
    for _ in 0..3 {
        assert_eq!(
            say(&app, room, Some(&vic.token), json!({"text": "spam"}))
                .await
                .status(),
            201
        );
    }
    let r = say(&app, room, Some(&vic.token), json!({"text": "spam"})).await;
    assert!(r.headers().contains_key("retry-after"));
    assert_error(r, 429, "rate_limited").await;
    // Another account is not held back by him.
    assert_eq!(
        say(&app, room, Some(&wes.token), json!({"text": "hi"}))
            .await
            .status(),
        201
    );
    assert_eq!(lines(&app, room, None).await.len(), 4);
}
