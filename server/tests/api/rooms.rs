use chrono::{Duration, Utc};
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{assert_error, TestApp};
use livestars_server::db::schema::{rooms, users};

both_backends!(
    model_starts_and_stops_her_show,
    only_the_model_controls_her_room,
    room_update_is_validated_and_atomic,
    directory_filters_by_tag_language_and_status,
    directory_orders_by_published_score,
    newcomer_boost_is_time_limited,
    directory_pages_with_a_cursor,
    directory_refuses_bad_queries,
);

async fn directory(app: &TestApp, query: &str) -> Value {
    let r = app.get(&format!("/api/rooms{query}"), None).await;
    assert_eq!(r.status(), 200, "directory {query}");
    r.json().await.unwrap()
}

fn names(page: &Value) -> Vec<String> {
    page["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["room"]["model"].as_str().unwrap().to_string())
        .collect()
}

async fn start(app: &TestApp, room: i64, token: &str) -> reqwest::Response {
    app.post_empty(&format!("/api/rooms/{room}/start"), token)
        .await
}

async fn model_starts_and_stops_her_show(app: TestApp) {
    let (m, room) = app.verified_model("olga").await;
    assert!(names(&directory(&app, "").await).is_empty());
    let r = start(&app, room, &m.token).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "live");
    let started = v["started_at"].as_str().unwrap().to_string();
    assert_eq!(names(&directory(&app, "").await), ["olga"]);

    // Switching to private keeps the start time and moves her out of the public listing.
    let r = app
        .post_json(
            &format!("/api/rooms/{room}/start"),
            &json!({"status": "private"}),
            Some(&m.token),
        )
        .await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "private");
    assert_eq!(v["started_at"], started.as_str());
    assert!(names(&directory(&app, "").await).is_empty());
    assert_eq!(names(&directory(&app, "?status=private").await), ["olga"]);

    let r = app
        .post_empty(&format!("/api/rooms/{room}/stop"), &m.token)
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "offline");
    assert_eq!(v["started_at"], Value::Null);
    assert!(names(&directory(&app, "?status=private").await).is_empty());
    assert_eq!(names(&directory(&app, "?status=offline").await), ["olga"]);
}

async fn only_the_model_controls_her_room(app: TestApp) {
    let (_, room) = app.verified_model("pia").await;
    let (other, _) = app.verified_model("quinn").await;
    let viewer = app.viewer("rex").await;
    for token in [&other.token, &viewer.token] {
        assert_error(start(&app, room, token).await, 403, "forbidden").await;
        let r = app
            .post_empty(&format!("/api/rooms/{room}/stop"), token)
            .await;
        assert_error(r, 403, "forbidden").await;
        let r = app
            .patch_json(
                &format!("/api/rooms/{room}"),
                &json!({"title": "mine now"}),
                token,
            )
            .await;
        assert_error(r, 403, "forbidden").await;
    }
    let r = app
        .client
        .post(app.url(&format!("/api/rooms/{room}/start")))
        .send()
        .await
        .unwrap();
    assert_error(r, 401, "unauthenticated").await;
    assert_error(start(&app, 999_999, &other.token).await, 404, "not_found").await;
    let v: Value = app
        .get(&format!("/api/rooms/{room}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "offline");
    assert_eq!(v["title"], "");
}

async fn room_update_is_validated_and_atomic(app: TestApp) {
    let (m, room) = app.verified_model("sara").await;
    let path = format!("/api/rooms/{room}");
    let r = app
        .patch_json(
            &path,
            &json!({"title": "Evening chat", "tags": ["chat"]}),
            &m.token,
        )
        .await;
    assert_eq!(r.status(), 200);
    for (body, code) in [
        (json!({"title": "ok", "tags": ["BAD TAG"]}), "invalid_field"),
        (json!({"title": "x".repeat(121)}), "invalid_field"),
        (json!({"title": "ok", "status": "live"}), "invalid_request"),
    ] {
        assert_error(app.patch_json(&path, &body, &m.token).await, 400, code).await;
    }
    let r = app
        .post_json(
            &format!("/api/rooms/{room}/start"),
            &json!({"status": "offline"}),
            Some(&m.token),
        )
        .await;
    assert_error(r, 400, "invalid_field").await;
    let r = app
        .post_json(
            &format!("/api/rooms/{room}/start"),
            &json!({"status": "on"}),
            Some(&m.token),
        )
        .await;
    assert_error(r, 400, "invalid_request").await;
    let v: Value = app.get(&path, None).await.json().await.unwrap();
    assert_eq!(v["title"], "Evening chat");
    assert_eq!(v["tags"], json!(["chat"]));
    assert_eq!(v["status"], "offline");
}

async fn directory_filters_by_tag_language_and_status(app: TestApp) {
    for (name, tags, langs) in [
        ("tina", json!(["music"]), json!(["en"])),
        ("uma", json!(["music", "art"]), json!(["pt"])),
        ("vera", json!(["art"]), json!(["en", "pt"])),
    ] {
        let (m, room) = app.verified_model(name).await;
        app.patch_json(
            &format!("/api/rooms/{room}"),
            &json!({"tags": tags}),
            &m.token,
        )
        .await;
        app.patch_json(
            &format!("/api/profiles/{name}"),
            &json!({"languages": langs}),
            &m.token,
        )
        .await;
        assert_eq!(start(&app, room, &m.token).await.status(), 200);
    }
    let sorted = |p: Value| {
        let mut n = names(&p);
        n.sort();
        n
    };
    assert_eq!(sorted(directory(&app, "?tag=music").await), ["tina", "uma"]);
    assert_eq!(
        sorted(directory(&app, "?tag=art&language=pt").await),
        ["uma", "vera"]
    );
    assert_eq!(
        sorted(directory(&app, "?language=en").await),
        ["tina", "vera"]
    );
    assert!(names(&directory(&app, "?tag=nothing").await).is_empty());
    assert!(names(&directory(&app, "?status=private").await).is_empty());
}

fn set_audience(app: &TestApp, room: i64, viewers: i32, guests: i32) {
    let mut conn = app.db.conn().unwrap();
    diesel::update(rooms::table.find(room))
        .set((
            rooms::viewer_count.eq(viewers),
            rooms::guest_count.eq(guests),
        ))
        .execute(&mut *conn)
        .unwrap();
}

fn age_account(app: &TestApp, user: i64, days: i64) {
    let mut conn = app.db.conn().unwrap();
    let t = (Utc::now() - Duration::days(days)).naive_utc();
    diesel::update(users::table.find(user))
        .set(users::created_at.eq(t))
        .execute(&mut *conn)
        .unwrap();
}

/// Recompute a score from the published inputs, as docs/ranking.md tells anyone to.
fn recompute(c: &Value) -> f64 {
    let f = |k: &str| c[k].as_f64().unwrap();
    let v = f("viewers") + 0.25 * f("guests");
    (1.0 + v).ln()
        + 1.5 * (1.0 + f("distinct_tippers_30m")).ln()
        + (1.0 + f("tipped_live_30m") / 50.0).ln()
        + 1.5 * (1.0 - f("account_age_days") / 14.0).max(0.0)
        + (-f("minutes_live") / 15.0).exp()
}

async fn directory_orders_by_published_score(app: TestApp) {
    let mut rooms_by_name = vec![];
    for (name, viewers, guests) in [("wren", 3, 0), ("xena", 50, 0), ("yara", 0, 40)] {
        let (m, room) = app.verified_model(name).await;
        age_account(&app, m.id, 60);
        start(&app, room, &m.token).await;
        set_audience(&app, room, viewers, guests);
        rooms_by_name.push(room);
    }
    let page = directory(&app, "").await;
    assert_eq!(names(&page), ["xena", "yara", "wren"]);
    for entry in page["rooms"].as_array().unwrap() {
        let c = &entry["components"];
        let score = entry["score"].as_f64().unwrap();
        assert!((score - recompute(c)).abs() < 1e-9, "{entry}");
        let parts = ["audience", "tippers", "tips", "newcomer", "fresh"]
            .iter()
            .map(|k| c[k].as_f64().unwrap())
            .sum::<f64>();
        assert!((score - parts).abs() < 1e-9);
        assert_eq!(
            c["newcomer"].as_f64().unwrap(),
            0.0,
            "60-day-old accounts get no boost"
        );
    }
    assert!(page["formula"].as_str().unwrap().starts_with("v1"));
}

async fn newcomer_boost_is_time_limited(app: TestApp) {
    let (old, old_room) = app.verified_model("zoe").await;
    age_account(&app, old.id, 20);
    let (new, new_room) = app.verified_model("abby").await;
    let (mid, mid_room) = app.verified_model("beth").await;
    age_account(&app, mid.id, 7);
    for (m, r) in [(&old, old_room), (&new, new_room), (&mid, mid_room)] {
        start(&app, r, &m.token).await;
    }
    let page = directory(&app, "").await;
    assert_eq!(names(&page), ["abby", "beth", "zoe"]);
    let boost = |i: usize| page["rooms"][i]["components"]["newcomer"].as_f64().unwrap();
    assert!((boost(0) - 1.5).abs() < 0.01, "{}", boost(0));
    assert!((boost(1) - 0.75).abs() < 0.01, "{}", boost(1));
    assert_eq!(boost(2), 0.0);
}

async fn directory_pages_with_a_cursor(app: TestApp) {
    let mut all = vec![];
    for i in 0..7 {
        let name = format!("page{i}");
        let (m, room) = app.verified_model(&name).await;
        start(&app, room, &m.token).await;
        all.push(name);
    }
    let mut seen = vec![];
    let mut query = "?limit=3".to_string();
    let mut pages = 0;
    loop {
        let page = directory(&app, &query).await;
        let n = names(&page);
        assert!(n.len() <= 3);
        seen.extend(n);
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(c) => query = format!("?limit=3&cursor={c}"),
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(pages, 3);
    let mut sorted = seen.clone();
    sorted.sort();
    all.sort();
    assert_eq!(sorted, all, "every room exactly once");
}

async fn directory_refuses_bad_queries(app: TestApp) {
    for (q, code) in [
        ("?limit=0", "invalid_field"),
        ("?limit=101", "invalid_field"),
        ("?limit=-1", "invalid_query"),
        ("?cursor=garbage", "invalid_cursor"),
        ("?status=dancing", "invalid_query"),
        ("?sort=hours_online", "invalid_query"),
    ] {
        assert_error(app.get(&format!("/api/rooms{q}"), None).await, 400, code).await;
    }
}
