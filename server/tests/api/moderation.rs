use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{assert_error, TestApp};

both_backends!(
    stats_count_what_is_there,
    suspension_locks_out_and_ends_the_show,
    roles_change_with_their_consequences,
    admins_force_end_shows,
    reports_are_filed_and_resolved,
    user_search_matches_usernames_only,
    moderation_is_for_admins_only,
);

async fn stats_count_what_is_there(app: TestApp) {
    let (admin, _) = app.verifier().await;
    let (m, room) = app.verified_model("ada").await;
    app.model("bea").await;
    let (c, _) = app.model("cleo").await;
    app.upload_iddoc(&c.token, crate::helpers::ID_PNG.to_vec())
        .await;
    app.viewer("dan").await;
    app.post_empty(&format!("/api/rooms/{room}/start"), &m.token)
        .await;
    let v = app.viewer("eve").await;
    app.post_json(
        "/api/reports",
        &json!({"room_id": room, "reason": "spam"}),
        Some(&v.token),
    )
    .await;
    let s: Value = app
        .get("/api/admin/stats", Some(admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["accounts"]["viewers"], 2);
    assert_eq!(s["accounts"]["models"], 3);
    assert_eq!(s["accounts"]["admins"], 1);
    assert_eq!(s["live_rooms"], 1);
    assert_eq!(s["pending_verifications"], 1);
    assert_eq!(s["open_reports"], 1);
    assert!(s["database"] == "sqlite" || s["database"] == "postgres");
}

async fn suspension_locks_out_and_ends_the_show(app: TestApp) {
    let (admin, _) = app.verifier().await;
    let (m, room) = app.verified_model("fay").await;
    app.post_empty(&format!("/api/rooms/{room}/start"), &m.token)
        .await;
    let r = app
        .post_empty(&format!("/api/admin/users/{}/suspend", m.id), admin)
        .await;
    assert_eq!(r.status(), 200);
    let u: Value = r.json().await.unwrap();
    assert_eq!(u["suspended"], true);
    assert_eq!(app.room_status(room).await, "offline");
    assert_error(
        app.get("/api/me", Some(&m.token)).await,
        401,
        "unauthenticated",
    )
    .await;
    let signin = json!({"username": "fay", "password": "a long enough password"});
    let r = app.post_json("/api/sessions", &signin, None).await;
    assert_error(r, 403, "account_suspended").await;
    // A wrong password still says only that.
    let r = app
        .post_json(
            "/api/sessions",
            &json!({"username": "fay", "password": "wrong password"}),
            None,
        )
        .await;
    assert_error(r, 401, "bad_credentials").await;
    let again = app
        .post_empty(&format!("/api/admin/users/{}/suspend", m.id), admin)
        .await;
    assert_error(again, 409, "conflict").await;
    let me: Value = app.get("/api/me", Some(admin)).await.json().await.unwrap();
    let own = app
        .post_empty(&format!("/api/admin/users/{}/suspend", me["id"]), admin)
        .await;
    assert_error(own, 409, "conflict").await;

    let r = app
        .post_empty(&format!("/api/admin/users/{}/unsuspend", m.id), admin)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.post_json("/api/sessions", &signin, None).await.status(),
        200
    );
}

async fn put_role(app: &TestApp, id: i64, role: &str) -> reqwest::Response {
    let (admin, _) = app.verifier().await;
    app.client
        .put(app.url(&format!("/api/admin/users/{id}/role")))
        .bearer_auth(admin)
        .json(&json!({"role": role}))
        .send()
        .await
        .unwrap()
}

async fn roles_change_with_their_consequences(app: TestApp) {
    let v = app.viewer("gia").await;
    assert_error(app.get("/api/profiles/gia", None).await, 404, "not_found").await;
    let r = put_role(&app, v.id, "model").await;
    assert_eq!(r.status(), 200);
    let u: Value = r.json().await.unwrap();
    assert_eq!(u["role"], "model");
    assert!(u["room_id"].is_i64());
    assert_eq!(app.get("/api/profiles/gia", None).await.status(), 200);

    let (m, room) = app.verified_model("hope").await;
    app.post_empty(&format!("/api/rooms/{room}/start"), &m.token)
        .await;
    assert_eq!(put_role(&app, m.id, "viewer").await.status(), 200);
    assert_eq!(app.room_status(room).await, "offline");
    // She may become a model again on her own, and finds her profile and room as they were.
    let r = app.post_empty("/api/me/model", &m.token).await;
    assert_eq!(r.status(), 200);
    let p: Value = app
        .get("/api/profiles/hope", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(p["room_id"], room);
    assert_error(
        put_role(&app, m.id, "emperor").await,
        400,
        "invalid_request",
    )
    .await;
    let (admin, _) = app.verifier().await;
    let me: Value = app.get("/api/me", Some(admin)).await.json().await.unwrap();
    assert_error(
        put_role(&app, me["id"].as_i64().unwrap(), "viewer").await,
        409,
        "conflict",
    )
    .await;
    assert_error(put_role(&app, 999_999, "viewer").await, 404, "not_found").await;
}

async fn admins_force_end_shows(app: TestApp) {
    let (admin, _) = app.verifier().await;
    let (m, room) = app.verified_model("ines").await;
    app.post_empty(&format!("/api/rooms/{room}/start"), &m.token)
        .await;
    let r = app
        .post_empty(&format!("/api/admin/rooms/{room}/end"), admin)
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(app.room_status(room).await, "offline");
    let r = app
        .post_empty(&format!("/api/admin/rooms/{room}/end"), admin)
        .await;
    assert_error(r, 409, "conflict").await;
    let r = app.post_empty("/api/admin/rooms/999999/end", admin).await;
    assert_error(r, 404, "not_found").await;
}

async fn reports_are_filed_and_resolved(app: TestApp) {
    let (admin, _) = app.verifier().await;
    let (m, room) = app.verified_model("juno").await;
    app.post_empty(&format!("/api/rooms/{room}/start"), &m.token)
        .await;
    let v = app.viewer("kim").await;
    for (body, status, code) in [
        (json!({"room_id": room, "reason": ""}), 400, "invalid_field"),
        (
            json!({"room_id": room, "reason": "x".repeat(1001)}),
            400,
            "invalid_field",
        ),
        (
            json!({"room_id": 999_999, "reason": "spam"}),
            404,
            "not_found",
        ),
        (json!({"room_id": room}), 400, "invalid_request"),
    ] {
        assert_error(
            app.post_json("/api/reports", &body, Some(&v.token)).await,
            status,
            code,
        )
        .await;
    }
    let r = app
        .post_json(
            "/api/reports",
            &json!({"room_id": room, "reason": "spam"}),
            None,
        )
        .await;
    assert_error(r, 401, "unauthenticated").await;
    let r = app
        .post_json(
            "/api/reports",
            &json!({"room_id": room, "reason": "Looks underage"}),
            Some(&v.token),
        )
        .await;
    assert_eq!(r.status(), 201);
    let open: Value = app
        .get("/api/admin/reports", Some(admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        open.as_array().unwrap().len(),
        1,
        "refused reports stored nothing"
    );
    assert_eq!(open[0]["model"], "juno");
    assert_eq!(open[0]["reason"], "Looks underage");
    assert!(
        !open.to_string().contains("kim"),
        "the reporter stays anonymous"
    );
    let id = &open[0]["id"];
    let r = app
        .post_json(
            &format!("/api/admin/reports/{id}/resolve"),
            &json!({"action": "end_show"}),
            Some(admin),
        )
        .await;
    assert_eq!(r.status(), 200);
    let rep: Value = r.json().await.unwrap();
    assert_eq!(rep["status"], "resolved");
    assert_eq!(rep["resolution"], "show_ended");
    assert_eq!(app.room_status(room).await, "offline");
    let r = app
        .post_json(
            &format!("/api/admin/reports/{id}/resolve"),
            &json!({"action": "dismiss"}),
            Some(admin),
        )
        .await;
    assert_error(r, 409, "conflict").await;

    let r = app
        .post_json(
            "/api/reports",
            &json!({"room_id": room, "reason": "again"}),
            Some(&v.token),
        )
        .await;
    let id = r.json::<Value>().await.unwrap()["id"].clone();
    let r = app
        .post_json(
            &format!("/api/admin/reports/{id}/resolve"),
            &json!({"action": "suspend_model"}),
            Some(admin),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_error(
        app.get("/api/me", Some(&m.token)).await,
        401,
        "unauthenticated",
    )
    .await;
    let resolved: Value = app
        .get("/api/admin/reports?status=resolved", Some(admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(resolved.as_array().unwrap().len(), 2);
}

async fn user_search_matches_usernames_only(app: TestApp) {
    let (admin, _) = app.verifier().await;
    for n in ["lana", "lara", "mona"] {
        app.viewer(n).await;
    }
    let names = |v: Value| -> Vec<String> {
        let mut n: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_string())
            .collect();
        n.sort();
        n
    };
    let r: Value = app
        .get("/api/admin/users?q=la", Some(admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(names(r), ["lana", "lara"]);
    let r: Value = app
        .get("/api/admin/users?q=%25", Some(admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        names(r).len(),
        4,
        "a % is not a wildcard: empty query lists all 4 accounts"
    );
    let r: Value = app
        .get("/api/admin/users?q=LANA", Some(admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(names(r), ["lana"]);
    assert_error(
        app.get("/api/admin/users?limit=0", Some(admin)).await,
        400,
        "invalid_field",
    )
    .await;
}

async fn moderation_is_for_admins_only(app: TestApp) {
    let (m, room) = app.model("nell").await;
    for path in ["/api/admin/stats", "/api/admin/users", "/api/admin/reports"] {
        assert_error(app.get(path, Some(&m.token)).await, 403, "forbidden").await;
        assert_error(app.get(path, None).await, 401, "unauthenticated").await;
    }
    let r = app
        .post_empty(&format!("/api/admin/rooms/{room}/end"), &m.token)
        .await;
    assert_error(r, 403, "forbidden").await;
    let r = app
        .post_empty(&format!("/api/admin/users/{}/suspend", m.id), &m.token)
        .await;
    assert_error(r, 403, "forbidden").await;
}
