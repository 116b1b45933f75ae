use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{assert_error, TestApp};

both_backends!(
    production_mode_refuses_private_addresses,
    webfinger_and_nodeinfo_describe_the_instance,
    federation_policy_is_for_admins_and_validated,
    a_late_older_update_does_not_overwrite_a_newer_one,
);

/// Outside federation debug mode, nothing is fetched from loopback, private addresses or
/// explicit ports, whatever the user types.
async fn production_mode_refuses_private_addresses(app: TestApp) {
    assert!(!app.config.federation_debug);
    let v = app.viewer("vic").await;
    for handle in [
        "anna@localhost",
        "anna@127.0.0.1",
        "anna@10.1.2.3",
        "anna@example.org:8443",
        "http://127.0.0.1:9/users/anna",
        "https://localhost/users/anna",
        "https://192.168.1.5/users/anna",
    ] {
        let r = app
            .post_json(
                "/api/federation/follows",
                &json!({ "handle": handle }),
                Some(&v.token),
            )
            .await;
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, 400, "{handle}: {body}");
        // The refusal names nothing of what the server resolved (no probing of the inside).
        let message = body["message"].as_str().unwrap_or_default();
        for inside in ["127.0.0.1", "internal", "resolves", "10.1.2.3", "192.168"] {
            assert!(!message.contains(inside), "{handle}: {message}");
        }
    }
}

async fn webfinger_and_nodeinfo_describe_the_instance(app: TestApp) {
    app.model("anna").await;
    let domain = app.address.trim_start_matches("http://").to_string();
    let r = app
        .get(
            &format!("/.well-known/webfinger?resource=acct:anna@{domain}"),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/jrd+json"
    );
    let wf: Value = r.json().await.unwrap();
    let actor_url = wf["links"][0]["href"].as_str().unwrap().to_string();
    assert!(actor_url.ends_with("/users/anna"), "{wf}");
    let r = app
        .get(
            "/.well-known/webfinger?resource=acct:nobody@elsewhere.example",
            None,
        )
        .await;
    assert_error(r, 404, "not_found").await;
    let r = app
        .get("/.well-known/webfinger?resource=acct:ghost@x", None)
        .await;
    assert_eq!(r.status(), 404);

    let links: Value = app
        .get("/.well-known/nodeinfo", None)
        .await
        .json()
        .await
        .unwrap();
    let href = links["links"][0]["href"].as_str().unwrap();
    assert!(href.ends_with("/nodeinfo/2.1"));
    let ni: Value = app.get("/nodeinfo/2.1", None).await.json().await.unwrap();
    assert_eq!(ni["version"], "2.1");
    assert_eq!(ni["software"]["name"], "livestars");
    assert_eq!(ni["protocols"], json!(["activitypub"]));
    assert_eq!(ni["usage"]["users"]["total"], 1);
    assert!(ni["openRegistrations"].is_boolean());

    let r = app.get("/users/anna", None).await;
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/activity+json"
    );
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "Person");
    assert_eq!(p["preferredUsername"], "anna");
    assert!(p["publicKey"]["publicKeyPem"]
        .as_str()
        .unwrap()
        .contains("PUBLIC KEY"));
    let room = p["room"].as_str().unwrap().to_string();
    let path = room
        .split_once("/rooms/")
        .map(|(_, id)| format!("/rooms/{id}"))
        .unwrap();
    let v: Value = app.get(&path, None).await.json().await.unwrap();
    assert_eq!(
        (v["type"].as_str(), v["isLiveBroadcast"].as_bool()),
        (Some("Video"), Some(true))
    );
    assert_eq!(v["state"], 4, "an offline room is waiting");
    assert_eq!(v["attributedTo"][1]["type"], "Group");
    let channel = v["attributedTo"][1]["id"].as_str().unwrap();
    let path = format!("/users/{}", channel.split("/users/").nth(1).unwrap());
    let g: Value = app.get(&path, None).await.json().await.unwrap();
    assert_eq!(
        (g["type"].as_str(), g["id"].as_str()),
        (Some("Group"), Some(channel))
    );
    assert_eq!(g["attributedTo"][0]["id"], p["id"]);
    assert_ne!(
        g["publicKey"]["publicKeyPem"],
        p["publicKey"]["publicKeyPem"]
    );
    let a: Value = app.get("/actor", None).await.json().await.unwrap();
    assert_eq!(a["type"], "Application");
}

async fn federation_policy_is_for_admins_and_validated(app: TestApp) {
    let v = app.viewer("vic").await;
    let r = app.get("/api/admin/federation", Some(&v.token)).await;
    assert_error(r, 403, "forbidden").await;
    let admin = app.make_admin("root").await;
    let p: Value = app
        .get("/api/admin/federation", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(p, json!({"mode": "open", "blocked": [], "allowed": []}));
    let put = |path: &'static str, body: Value| {
        let (app, admin) = (&app, admin.clone());
        async move {
            app.client
                .put(app.url(path))
                .bearer_auth(admin)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    assert_error(
        put("/api/admin/federation/mode", json!({"mode": "closed"})).await,
        400,
        "invalid_mode",
    )
    .await;
    assert_error(
        put(
            "/api/admin/federation/domains",
            json!({"domain": "bad domain", "policy": "block"}),
        )
        .await,
        400,
        "invalid_domain",
    )
    .await;
    assert_error(
        put(
            "/api/admin/federation/domains",
            json!({"domain": "spam.example", "policy": "maybe"}),
        )
        .await,
        400,
        "invalid_policy",
    )
    .await;
    let r = put(
        "/api/admin/federation/domains",
        json!({"domain": "Spam.Example", "policy": "block"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = put("/api/admin/federation/mode", json!({"mode": "allowlist"})).await;
    let p: Value = r.json().await.unwrap();
    assert_eq!(
        p,
        json!({"mode": "allowlist", "blocked": ["spam.example"], "allowed": []})
    );
    // A blocked domain's activities get 403 before anything else is looked at.
    let r = app
        .client
        .post(app.url("/inbox"))
        .header("content-type", "application/activity+json")
        .body(r#"{"id":"https://spam.example/a/1","type":"Follow","actor":"https://spam.example/users/x","object":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_error(r, 403, "domain_blocked").await;
    let r = put(
        "/api/admin/federation/domains",
        json!({"domain": "spam.example", "policy": "none"}),
    )
    .await;
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["blocked"], json!([]));
}

/// docs/security.md: the server never follows redirects when it fetches remote objects. An
/// actor URL that answers 302 to another address is refused, and the address it points to is
/// never asked.
#[tokio::test]
async fn redirects_are_never_followed() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let server = actix_web::HttpServer::new(move || {
        let h = h.clone();
        actix_web::App::new()
            .route(
                "/users/anna",
                actix_web::web::get().to(|req: actix_web::HttpRequest| async move {
                    let host = req.connection_info().host().to_string();
                    actix_web::HttpResponse::Found()
                        .insert_header(("location", format!("http://{host}/target")))
                        .finish()
                }),
            )
            .route(
                "/target",
                actix_web::web::get().to(move || {
                    h.fetch_add(1, Ordering::SeqCst);
                    async { actix_web::HttpResponse::Ok().json(json!({"type": "Person"})) }
                }),
            )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let port = server.addrs()[0].port();
    let running = server.run();
    let handle = running.handle();
    tokio::spawn(running);
    let app = crate::helpers::spawn_app_with(crate::helpers::Backend::Sqlite, |c| {
        c.federation_debug = true
    })
    .await;
    let v = app.viewer("ray").await;
    let r = app
        .post_json(
            "/api/federation/follows",
            &json!({"handle": format!("http://127.0.0.1:{port}/users/anna")}),
            Some(&v.token),
        )
        .await;
    assert!(!r.status().is_success(), "{}", r.status());
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the redirect target was fetched"
    );
    handle.stop(false).await;
}

/// Retried deliveries arrive out of order: a Video older than the one stored (by its `updated`
/// time) is ignored, a newer one is applied.
async fn a_late_older_update_does_not_overwrite_a_newer_one(app: TestApp) {
    use diesel::prelude::*;
    use livestars_federation::objects::VideoJson;
    use livestars_server::db::schema::remote_rooms;
    use livestars_server::db::DbError;
    use livestars_server::federation::{actors, listings};

    let actor = livestars_federation::protocol::RemoteActor {
        id: 0,
        ap_id: "https://elsewhere.example/users/anna".parse().unwrap(),
        kind: "Person".into(),
        username: "anna".into(),
        domain: "elsewhere.example".into(),
        display_name: "Anna".into(),
        summary: String::new(),
        icon_url: None,
        url: None,
        inbox: "https://elsewhere.example/users/anna/inbox"
            .parse()
            .unwrap(),
        shared_inbox: None,
        followers_url: None,
        room_url: None,
        public_key_pem: String::new(),
        fetched_at: chrono::Utc::now(),
    };
    fn video(title: &str, updated: &str) -> VideoJson {
        serde_json::from_value(json!({
            "id": "https://elsewhere.example/users/anna/live",
            "type": "Video",
            "name": title,
            "attributedTo": "https://elsewhere.example/users/anna",
            "isLiveBroadcast": true,
            "state": 1,
            "updated": updated,
        }))
        .unwrap()
    }
    let title = |app: &TestApp| {
        let db = app.db.clone();
        async move {
            db.read(|c| {
                remote_rooms::table
                    .select(remote_rooms::title)
                    .first::<String>(c)
                    .map_err(DbError::from)
            })
            .await
            .unwrap()
        }
    };
    let saved = app
        .db
        .write(move |c| {
            let actor = actors::save_actor(c, &actor)?;
            for (t, at) in [
                ("Two", "2026-12-07T10:00:02.250Z"),
                ("One", "2026-12-07T10:00:01.500Z"),
            ] {
                assert!(listings::save_video(c, &actor, &video(t, at))?);
            }
            Ok::<_, DbError>(actor)
        })
        .await
        .unwrap();
    assert_eq!(title(&app).await, "Two", "the late older copy was ignored");
    app.db
        .write(move |c| {
            listings::save_video(c, &saved, &video("Three", "2026-12-07T10:00:03Z"))
                .map_err(DbError::from)
        })
        .await
        .unwrap();
    assert_eq!(title(&app).await, "Three", "a newer copy is applied");
}
