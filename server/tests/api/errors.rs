use serde_json::json;

use crate::both_backends;
use crate::helpers::{assert_error, TestApp};

both_backends!(
    malformed_json_is_400,
    wrong_content_type_is_415,
    oversize_body_is_413_and_changes_nothing,
    unknown_route_and_wrong_method_are_json,
    security_headers_are_set,
);

async fn malformed_json_is_400(app: TestApp) {
    for body in ["{", "[]", "{\"username\": \"a\", }", "null"] {
        let r = app
            .client
            .post(app.url("/api/accounts"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let code = if body == "{" || body.contains(", }") {
            "invalid_json"
        } else {
            "invalid_request"
        };
        assert_error(r, 400, code).await;
    }
}

async fn wrong_content_type_is_415(app: TestApp) {
    let r = app
        .client
        .post(app.url("/api/accounts"))
        .header("content-type", "text/plain")
        .body(r#"{"username":"anna","password":"long enough pw"}"#)
        .send()
        .await
        .unwrap();
    assert_error(r, 415, "unsupported_media_type").await;
    assert_error(app.get("/api/profiles/anna", None).await, 404, "not_found").await;
}

async fn oversize_body_is_413_and_changes_nothing(app: TestApp) {
    let huge = "x".repeat(app.config.max_json_bytes + 1);
    let r = app
        .post_json(
            "/api/accounts",
            &json!({"username": "bigbody", "password": huge}),
            None,
        )
        .await;
    assert_error(r, 413, "payload_too_large").await;
    let r = app
        .post_json(
            "/api/sessions",
            &json!({"username": "bigbody", "password": "long enough pw"}),
            None,
        )
        .await;
    assert_error(r, 401, "bad_credentials").await;
}

async fn unknown_route_and_wrong_method_are_json(app: TestApp) {
    assert_error(app.get("/api/nothing-here", None).await, 404, "not_found").await;
    assert_error(
        app.get("/api/rooms/not-a-number", None).await,
        404,
        "not_found",
    )
    .await;
    let r = app
        .client
        .delete(app.url("/api/rooms"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["allow"], "GET");
    assert_error(r, 405, "method_not_allowed").await;
}

async fn security_headers_are_set(app: TestApp) {
    let r = app.get("/api/health", None).await;
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["status"], "ok");
}
