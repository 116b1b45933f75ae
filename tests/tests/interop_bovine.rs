//! Interop with an independent ActivityPub implementation: bovine (PyPI), driven by scripts in
//! `tests/interop/` from the project's virtualenv (`scripts/test` installs it).

use livestars_e2e::{http_client, run_interop, verified_model, Backend, Instance};
use serde_json::json;

async fn instance_with_anna(env: &[(&str, &str)]) -> Instance {
    let b = Instance::federating(Backend::Sqlite, env);
    let r = http_client()
        .post(format!("{}/api/accounts", b.url))
        .json(&json!({"username": "anna", "password": "a long enough password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    b
}

/// bovine looks Anna up by WebFinger, fetches her actor, sends a signed Follow (digest in lower
/// case, as bovine writes it), verifies our signed Accept with its own checker (we fetched its
/// actor with a signed GET, which it requires), receives the "now live" Note and the live Video
/// when she goes live, and sends a signed Undo that we accept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bovine_follows_sees_her_go_live_and_unfollows() {
    let b = Instance::federating(Backend::Sqlite, &[]);
    let admin = b.create_admin("root");
    let http = http_client();
    let (token, room) = verified_model(&http, &b.url, &admin, "anna").await;
    let r = http
        .patch(format!("{}/api/rooms/{room}", b.url))
        .bearer_auth(&token)
        .json(&json!({"title": "Jazz night", "tags": ["jazz", "piano"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (url, handle) = (b.url.clone(), format!("anna@{}", b.domain()));
    let room = room.to_string();
    let findings = tokio::task::spawn_blocking(move || {
        run_interop(
            "bovine_peer.py",
            &[url.as_str(), handle.as_str(), room.as_str(), token.as_str()],
        )
    })
    .await
    .unwrap();
    assert_eq!(findings["webfinger"], format!("{}/users/anna", b.url));
    assert_eq!(findings["follow_status"], 202);
    assert_eq!(findings["accept_verified"], true, "{findings}");
    assert_eq!(
        findings["actor_fetches"][0],
        format!("{}/actor", b.url),
        "signed GET"
    );
    assert_eq!(findings["start_status"], 200);
    assert_eq!(findings["note"]["sensitive"], true, "{findings}");
    assert_eq!(findings["note"]["links_to_show"], true, "{findings}");
    assert_eq!(findings["note"]["hashtags"], json!(["#jazz", "#piano"]));
    assert_eq!(
        findings["video"],
        json!({"isLiveBroadcast": true, "state": 1})
    );
    assert_eq!(findings["followers_after_undo"], 0);
}

/// Bad inbound requests, signed (or not) by a bovine peer: each is refused with the right status
/// and leaves Anna without a follower; the good ones are applied exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_refuses_bad_requests_and_applies_good_ones_once() {
    let b = instance_with_anna(&[("LIVESTARS_FEDERATION_MAX_BYTES", "65536")]).await;
    let url = b.url.clone();
    let r = tokio::task::spawn_blocking(move || run_interop("inbound_checks.py", &[url.as_str()]))
        .await
        .unwrap();
    let expect = [
        ("unsigned", 401, 0),
        ("wrong_key", 401, 0),
        ("digest_mismatch", 401, 0),
        ("stale_date", 401, 0),
        ("rfc9421", 401, 0),
        ("oversize", 413, 0),
        ("malformed_json", 400, 0),
        ("id_host_differs", 400, 0),
        ("object_host_differs", 400, 0),
        ("key_of_another_actor", 401, 0),
        ("valid_uppercase_digest", 202, 1),
        ("replay", 401, 1),
        ("same_id_resigned", 202, 1),
        ("large_context_with_proofs", 202, 0),
    ];
    for (case, status, followers) in expect {
        assert_eq!(r[case]["status"], status, "{case}: {}", r[case]);
        assert_eq!(r[case]["followers"], followers, "{case}: {}", r[case]);
    }
    assert_eq!(r.as_object().unwrap().len(), expect.len());
}
