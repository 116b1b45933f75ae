use chrono::{Duration, Utc};
use diesel::prelude::*;
use livestars_envelope::ExposeSecret;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::both_backends;
use crate::helpers::{assert_error, files_under, spawn_app_with, Backend, TestApp, ID_PNG};
use livestars_server::db::schema::{id_document_keys, id_documents, rooms};
use livestars_server::iddocs::{self, crypto};

both_backends!(
    upload_is_encrypted_approved_then_deleted_for_good,
    gate_covers_every_way_to_show,
    expired_approval_ends_the_show,
    bad_uploads_are_refused_and_store_nothing,
    upload_without_verifier_is_refused,
    documents_are_private_to_their_owner,
    decisions_are_checked_and_bound_to_the_hash,
    rewrap_to_a_new_verifier_set,
    verifier_registration_is_checked,
    sealed_uploads_are_checked_then_decided_like_any_other,
);

fn iddoc_files(app: &TestApp) -> Vec<std::path::PathBuf> {
    files_under(&app.config.data_dir.join("iddocs"))
}

/// No file the instance wrote contains the document's text (the SQLite database included).
fn assert_no_plaintext_on_disk(app: &TestApp) {
    for f in files_under(&app.config.data_dir) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !bytes.windows(13).any(|w| w == b"PASSPORT 4711"),
            "plaintext found in {}",
            f.display()
        );
    }
}

async fn start(app: &TestApp, room: i64, token: &str, status: &str) -> reqwest::Response {
    app.post_json(
        &format!("/api/rooms/{room}/start"),
        &json!({"status": status}),
        Some(token),
    )
    .await
}

/// Neither a public nor a private show can start.
async fn assert_gate_shut(app: &TestApp, room: i64, token: &str) {
    for status in ["live", "private"] {
        assert_error(
            start(app, room, token, status).await,
            403,
            "verification_required",
        )
        .await;
    }
}

async fn verification(app: &TestApp, token: &str) -> Value {
    app.verification(token).await
}

async fn upload_ok(app: &TestApp, token: &str) -> Value {
    let r = app.upload_iddoc(token, ID_PNG.to_vec()).await;
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

async fn upload_is_encrypted_approved_then_deleted_for_good(app: TestApp) {
    let (admin, identity) = app.verifier().await;
    let (m, room) = app.model("iris").await;
    assert_eq!(verification(&app, &m.token).await["status"], "none");

    let doc = upload_ok(&app, &m.token).await;
    assert_eq!(doc["status"], "pending");
    assert_eq!(doc["mime"], "image/png");
    assert_eq!(doc["size_bytes"], ID_PNG.len());
    let id = doc["id"].as_i64().unwrap();
    let sha = doc["sha256"].as_str().unwrap().to_string();

    // What is stored is an age file, hashing to the recorded hash, without the plaintext.
    let files = iddoc_files(&app);
    assert_eq!(files.len(), 1);
    let stored = std::fs::read(&files[0]).unwrap();
    assert!(stored.starts_with(b"age-encryption.org/v1\n"));
    assert_eq!(hex::encode(Sha256::digest(&stored)), sha);
    assert_no_plaintext_on_disk(&app);

    // The verifier downloads both parts and decrypts on her side.
    let r = app
        .get(&format!("/api/admin/iddocs/{id}/ciphertext"), Some(admin))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-content-sha256"], sha.as_str());
    let ct = r.bytes().await.unwrap();
    assert_eq!(ct.as_ref(), stored.as_slice());
    let key: Value = app
        .get(&format!("/api/admin/iddocs/{id}/key"), Some(admin))
        .await
        .json()
        .await
        .unwrap();
    let doc_key = crypto::unwrap_key(key["wrapped_key"].as_str().unwrap(), identity).unwrap();
    assert_eq!(crypto::decrypt_document(&ct, &doc_key).unwrap(), ID_PNG);

    // Pending: no show yet.
    let v = verification(&app, &m.token).await;
    assert_eq!(v["status"], "pending");
    assert_eq!(v["may_go_live"], false);
    assert_error(
        start(&app, room, &m.token, "live").await,
        403,
        "verification_required",
    )
    .await;

    let r = app.approve(id, &sha).await;
    assert_eq!(r.status(), 200);
    let v = verification(&app, &m.token).await;
    assert_eq!(v["status"], "approved");
    assert_eq!(v["may_go_live"], true);
    assert_eq!(start(&app, room, &m.token, "live").await.status(), 200);

    // She deletes it: ciphertext and key gone, verification revoked, show ended.
    let r = app
        .client
        .delete(app.url(&format!("/api/iddocs/{id}")))
        .bearer_auth(&m.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(iddoc_files(&app).is_empty(), "ciphertext removed");
    {
        let mut conn = app.db.conn().unwrap();
        let keys: i64 = id_document_keys::table
            .count()
            .get_result(&mut *conn)
            .unwrap();
        assert_eq!(keys, 0, "wrapped key shredded");
        let status: String = rooms::table
            .find(room)
            .select(rooms::status)
            .first(&mut *conn)
            .unwrap();
        assert_eq!(status, "offline", "running show ended");
    }
    assert_eq!(verification(&app, &m.token).await["status"], "none");
    assert_error(
        start(&app, room, &m.token, "live").await,
        403,
        "verification_required",
    )
    .await;
    let r = app
        .get(&format!("/api/admin/iddocs/{id}/ciphertext"), Some(admin))
        .await;
    assert_error(r, 404, "not_found").await;

    // The audit trail says who did what, and nothing personal.
    let trail: Value = app
        .get("/api/admin/audit", Some(admin))
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = trail
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in ["document_uploaded", "document_approved", "document_deleted"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    let text = trail.to_string();
    assert!(
        !text.contains("1990") && !text.contains("PASSPORT"),
        "{text}"
    );
}

async fn gate_covers_every_way_to_show(app: TestApp) {
    app.verifier().await;
    let (m, room) = app.model("jade").await;
    assert_gate_shut(&app, room, &m.token).await;
    let doc = upload_ok(&app, &m.token).await;
    assert_gate_shut(&app, room, &m.token).await;
    let r = decide(
        &app,
        &doc["id"],
        json!({"decision": "reject", "sha256": doc["sha256"], "reason": "The photo is blurred"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v = verification(&app, &m.token).await;
    assert_eq!(v["status"], "rejected");
    assert_eq!(v["reason"], "The photo is blurred");
    assert_gate_shut(&app, room, &m.token).await;
    // A new upload replaces the rejected one and, once approved, opens both ways.
    let doc = upload_ok(&app, &m.token).await;
    assert_eq!(
        app.approve(doc["id"].as_i64().unwrap(), doc["sha256"].as_str().unwrap())
            .await
            .status(),
        200
    );
    assert_eq!(start(&app, room, &m.token, "private").await.status(), 200);
    assert_eq!(start(&app, room, &m.token, "live").await.status(), 200);
    // Uploading a replacement while live ends the show until the new one is approved.
    upload_ok(&app, &m.token).await;
    let v: Value = app
        .get(&format!("/api/rooms/{room}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "offline");
    assert_error(
        start(&app, room, &m.token, "live").await,
        403,
        "verification_required",
    )
    .await;
}

async fn expired_approval_ends_the_show(app: TestApp) {
    app.verifier().await;
    let (m, room) = app.model("kate").await;
    let doc = upload_ok(&app, &m.token).await;
    let today = Utc::now().date_naive();
    let r = decide(
        &app,
        &doc["id"],
        json!({"decision": "approve", "sha256": doc["sha256"], "date_of_birth": "1990-05-05",
                "valid_until": today.to_string()}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        verification(&app, &m.token).await["valid_until"],
        today.to_string()
    );
    assert_eq!(start(&app, room, &m.token, "live").await.status(), 200);

    // The day after the document's expiry, housekeeping ends the show and the gate stays shut.
    let tomorrow = Utc::now().naive_utc() + Duration::days(1);
    let ended = iddocs::housekeeping(&app.db, &app.config.data_dir, tomorrow)
        .await
        .unwrap();
    assert!(ended);
    let v: Value = app
        .get(&format!("/api/rooms/{room}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "offline");
    {
        let mut conn = app.db.conn().unwrap();
        diesel::update(id_documents::table)
            .set(id_documents::valid_until.eq(Some(today - Duration::days(1))))
            .execute(&mut *conn)
            .unwrap();
    }
    assert_gate_shut(&app, room, &m.token).await;
    assert_eq!(verification(&app, &m.token).await["may_go_live"], false);
}

async fn bad_uploads_are_refused_and_store_nothing(app: TestApp) {
    app.verifier().await;
    let (m, _) = app.model("lola").await;
    let viewer = app.viewer("max").await;
    let exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00 This program cannot be run in DOS mode".to_vec();
    assert_error(
        app.upload_iddoc(&m.token, exe).await,
        415,
        "unsupported_document",
    )
    .await;
    let mut big = ID_PNG.to_vec();
    big.resize(app.config.iddoc_max_bytes + 1, b'x');
    assert_error(
        app.upload_iddoc(&m.token, big).await,
        413,
        "payload_too_large",
    )
    .await;
    assert_error(app.upload_iddoc(&m.token, vec![]).await, 400, "empty_body").await;
    assert_error(
        app.upload_iddoc(&viewer.token, ID_PNG.to_vec()).await,
        403,
        "forbidden",
    )
    .await;
    let r = app
        .client
        .post(app.url("/api/iddocs"))
        .body(ID_PNG.to_vec())
        .send()
        .await
        .unwrap();
    assert_error(r, 401, "unauthenticated").await;
    assert!(iddoc_files(&app).is_empty());
    let mut conn = app.db.conn().unwrap();
    let n: i64 = id_documents::table.count().get_result(&mut *conn).unwrap();
    assert_eq!(n, 0);
    drop(conn);
    assert_eq!(verification(&app, &m.token).await["status"], "none");
}

async fn upload_without_verifier_is_refused(app: TestApp) {
    let (m, _) = app.model("nina").await;
    assert_error(
        app.upload_iddoc(&m.token, ID_PNG.to_vec()).await,
        409,
        "no_verifiers",
    )
    .await;
    assert!(iddoc_files(&app).is_empty());
}

async fn documents_are_private_to_their_owner(app: TestApp) {
    app.verifier().await;
    let (a, _) = app.model("opal").await;
    let (b, _) = app.model("pearl").await;
    let doc = upload_ok(&app, &a.token).await;
    let id = doc["id"].as_i64().unwrap();
    let theirs = format!("/api/iddocs/{id}");
    let missing = assert_error(
        app.get("/api/iddocs/999999", Some(&b.token)).await,
        404,
        "not_found",
    )
    .await;
    let other = assert_error(app.get(&theirs, Some(&b.token)).await, 404, "not_found").await;
    assert_eq!(missing, other, "no leak of existence");
    let r = app
        .client
        .delete(app.url(&theirs))
        .bearer_auth(&b.token)
        .send()
        .await
        .unwrap();
    assert_error(r, 404, "not_found").await;
    // Not an admin: the admin API is closed to models.
    for path in [
        "/api/admin/iddocs".to_string(),
        format!("/api/admin/iddocs/{id}/ciphertext"),
        format!("/api/admin/iddocs/{id}/key"),
        "/api/admin/verifiers".to_string(),
        "/api/admin/audit".to_string(),
    ] {
        assert_error(app.get(&path, Some(&b.token)).await, 403, "forbidden").await;
    }
    let r = app
        .post_json(
            &format!("/api/admin/iddocs/{id}/decision"),
            &json!({"decision": "approve", "sha256": doc["sha256"], "date_of_birth": "1990-01-01"}),
            Some(&b.token),
        )
        .await;
    assert_error(r, 403, "forbidden").await;
    let mine: Value = app.get(&theirs, Some(&a.token)).await.json().await.unwrap();
    assert_eq!(mine["status"], "pending");
    assert_eq!(mine["sha256"], doc["sha256"]);
}

/// A decision as the verifier sends it: with the document's key proof unless the body has one.
async fn decide(app: &TestApp, id: &Value, mut body: Value) -> reqwest::Response {
    let (admin, _) = app.verifier().await;
    if body.get("key_proof").is_none() {
        if let Some(proof) = app.key_proof(id.as_i64().unwrap_or(0)).await {
            body["key_proof"] = json!(proof);
        }
    }
    app.post_json(
        &format!("/api/admin/iddocs/{id}/decision"),
        &body,
        Some(admin),
    )
    .await
}

async fn decisions_are_checked_and_bound_to_the_hash(app: TestApp) {
    app.verifier().await;
    let (m, _) = app.model("quin").await;
    let first = upload_ok(&app, &m.token).await;
    let id = &first["id"];
    let sha = first["sha256"].as_str().unwrap();
    let today = Utc::now().date_naive();
    let seventeen = today - Duration::days(17 * 365);
    for (body, status, code) in [
        (
            json!({"decision": "approve", "sha256": sha, "date_of_birth": seventeen}),
            400,
            "under_age",
        ),
        (
            json!({"decision": "approve", "sha256": sha, "date_of_birth": today + Duration::days(1)}),
            400,
            "invalid_field",
        ),
        (
            json!({"decision": "approve", "sha256": sha}),
            400,
            "invalid_field",
        ),
        (
            json!({"decision": "approve", "sha256": sha, "date_of_birth": "1990-01-01",
                "valid_until": today - Duration::days(1)}),
            400,
            "invalid_field",
        ),
        (
            json!({"decision": "reject", "sha256": sha}),
            400,
            "invalid_field",
        ),
        (
            json!({"decision": "reject", "sha256": sha, "reason": ""}),
            400,
            "invalid_field",
        ),
        (
            json!({"decision": "approve", "sha256": "00".repeat(32), "date_of_birth": "1990-01-01"}),
            409,
            "stale_document",
        ),
        (
            json!({"decision": "maybe", "sha256": sha}),
            400,
            "invalid_request",
        ),
        (
            json!({"decision": "approve", "sha256": sha, "date_of_birth": "1990-01-01", "name": "x"}),
            400,
            "invalid_request",
        ),
    ] {
        assert_error(decide(&app, id, body).await, status, code).await;
    }
    assert_eq!(
        verification(&app, &m.token).await["status"],
        "pending",
        "nothing changed"
    );

    // She replaces the document meanwhile: the old id is gone, and the old hash does not
    // approve the new document.
    let second = upload_ok(&app, &m.token).await;
    let ok = json!({"decision": "approve", "sha256": sha, "date_of_birth": "1990-01-01"});
    assert_error(decide(&app, id, ok.clone()).await, 404, "not_found").await;
    assert_error(decide(&app, &second["id"], ok).await, 409, "stale_document").await;
    let body =
        json!({"decision": "approve", "sha256": second["sha256"], "date_of_birth": "1990-01-01"});
    assert_eq!(
        decide(&app, &second["id"], body.clone()).await.status(),
        200
    );
    assert_error(decide(&app, &second["id"], body).await, 409, "not_pending").await;
}

async fn rewrap_to_a_new_verifier_set(app: TestApp) {
    let (chief, chief_identity) = app.verifier().await;
    let (m, _) = app.model("rosa").await;
    let doc = upload_ok(&app, &m.token).await;
    let id = doc["id"].as_i64().unwrap();

    // A second verifier joins: the document is not wrapped to her yet.
    let deputy = app.make_admin("deputy").await;
    let deputy_identity = app.add_verifier_key(&deputy).await;
    let list: Value = app
        .get("/api/admin/iddocs", Some(chief))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["needs_rewrap"], true);
    let key: Value = app
        .get(&format!("/api/admin/iddocs/{id}/key"), Some(chief))
        .await
        .json()
        .await
        .unwrap();
    assert!(crypto::unwrap_key(key["wrapped_key"].as_str().unwrap(), &deputy_identity).is_err());

    // The chief re-wraps on her machine: unwrap with her identity, wrap to both recipients.
    let doc_key = crypto::unwrap_key(key["wrapped_key"].as_str().unwrap(), chief_identity).unwrap();
    let recipients: Vec<String> = key["current_recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    assert_eq!(recipients.len(), 2);
    let parsed: Vec<_> = recipients
        .iter()
        .map(|r| crypto::parse_recipient(r).unwrap())
        .collect();
    let rewrapped = crypto::wrap_key(&doc_key, &parsed).unwrap();
    let proof = livestars_api::key_proof::proof(doc_key.to_string().expose_secret());
    let path = format!("/api/admin/iddocs/{id}/key");
    let put = |body: Value| {
        let app = &app;
        let path = path.clone();
        async move {
            app.client
                .put(app.url(&path))
                .bearer_auth(chief)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    // Garbage and wrong recipient sets are refused, and change nothing.
    let r = put(json!({"wrapped_key": "not age", "previous_key_sha256": key["key_sha256"], "recipients": recipients, "key_proof": proof})).await;
    assert_error(r, 400, "invalid_field").await;
    let r = put(json!({"wrapped_key": rewrapped, "previous_key_sha256": key["key_sha256"], "recipients": [recipients[0]], "key_proof": proof})).await;
    assert_error(r, 400, "invalid_field").await;
    let r = put(json!({"wrapped_key": rewrapped, "previous_key_sha256": key["key_sha256"], "recipients": recipients, "key_proof": proof})).await;
    assert_eq!(r.status(), 200);
    let r = put(json!({"wrapped_key": rewrapped, "previous_key_sha256": key["key_sha256"], "recipients": recipients, "key_proof": proof})).await;
    assert_error(r, 409, "stale_key").await;

    // The deputy can now read it; the ciphertext did not change.
    let list: Value = app
        .get("/api/admin/iddocs", Some(&deputy))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["needs_rewrap"], false);
    assert_eq!(list[0]["sha256"], doc["sha256"]);
    let key: Value = app
        .get(&format!("/api/admin/iddocs/{id}/key"), Some(&deputy))
        .await
        .json()
        .await
        .unwrap();
    let k = crypto::unwrap_key(key["wrapped_key"].as_str().unwrap(), &deputy_identity).unwrap();
    let ct = app
        .get(&format!("/api/admin/iddocs/{id}/ciphertext"), Some(&deputy))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        hex::encode(Sha256::digest(&ct)),
        doc["sha256"].as_str().unwrap()
    );
    assert_eq!(crypto::decrypt_document(&ct, &k).unwrap(), ID_PNG);
}

async fn verifier_registration_is_checked(app: TestApp) {
    let admin = app.make_admin("boss").await;
    let viewer = app.viewer("sam").await;
    let identity = livestars_envelope::Identity::generate();
    let recipient = identity.to_public().to_string();
    use livestars_envelope::ExposeSecret;
    let secret = identity.to_string().expose_secret().to_string();
    for bad in ["", "age1notakey", secret.as_str(), "ssh-ed25519 AAAAC3Nza"] {
        let r = app
            .post_json(
                "/api/admin/verifiers",
                &json!({"recipient": bad}),
                Some(&admin),
            )
            .await;
        assert_error(r, 400, "invalid_recipient").await;
    }
    let r = app
        .post_json(
            "/api/admin/verifiers",
            &json!({"recipient": recipient}),
            Some(&viewer.token),
        )
        .await;
    assert_error(r, 403, "forbidden").await;
    let r = app
        .post_json(
            "/api/admin/verifiers",
            &json!({"recipient": recipient}),
            None,
        )
        .await;
    assert_error(r, 401, "unauthenticated").await;
    let list: Value = app
        .get("/api/admin/verifiers", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!([]), "nothing registered by refused requests");

    let r = app
        .post_json(
            "/api/admin/verifiers",
            &json!({"recipient": recipient}),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    let r = app
        .post_json(
            "/api/admin/verifiers",
            &json!({"recipient": recipient}),
            Some(&admin),
        )
        .await;
    assert_error(r, 409, "recipient_exists").await;
    let list: Value = app
        .get("/api/admin/verifiers", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["recipient"], recipient.as_str());
    assert_eq!(list[0]["username"], "boss");
    let r = app
        .client
        .delete(app.url(&format!("/api/admin/verifiers/{}", v["id"])))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let list: Value = app
        .get("/api/admin/verifiers", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!([]));
}

/// Under `retain`, a deletion revokes and hides at once; the key is shredded when the period
/// ends.
async fn retention_hides_then_shreds(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.iddoc_retention = "retain".into();
        c.iddoc_retain_days = 30;
    })
    .await;
    let (m, room) = app.verified_model("tess").await;
    let (admin, _) = app.verifier().await;
    assert_eq!(start(&app, room, &m.token, "live").await.status(), 200);
    let id = verification(&app, &m.token).await["document_id"]
        .as_i64()
        .unwrap();
    let r = app
        .client
        .delete(app.url(&format!("/api/iddocs/{id}")))
        .bearer_auth(&m.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // Revoked and hidden at once…
    assert_error(
        start(&app, room, &m.token, "live").await,
        403,
        "verification_required",
    )
    .await;
    assert_eq!(verification(&app, &m.token).await["status"], "none");
    let approved: Value = app
        .get("/api/admin/iddocs?status=approved", Some(admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(approved, json!([]));
    for part in ["ciphertext", "key"] {
        let r = app
            .get(&format!("/api/admin/iddocs/{id}/{part}"), Some(admin))
            .await;
        assert_error(r, 404, "not_found").await;
    }
    assert_error(
        app.get(&format!("/api/iddocs/{id}"), Some(&m.token)).await,
        404,
        "not_found",
    )
    .await;
    // …but kept, restricted, until the period ends.
    assert_eq!(iddoc_files(&app).len(), 1);
    let keys = |app: &TestApp| -> i64 {
        let mut conn = app.db.conn().unwrap();
        id_document_keys::table
            .count()
            .get_result(&mut *conn)
            .unwrap()
    };
    assert_eq!(keys(&app), 1);
    let day29 = Utc::now().naive_utc() + Duration::days(29);
    iddocs::housekeeping(&app.db, &app.config.data_dir, day29)
        .await
        .unwrap();
    assert_eq!(keys(&app), 1, "not before the period ends");
    let day31 = Utc::now().naive_utc() + Duration::days(31);
    iddocs::housekeeping(&app.db, &app.config.data_dir, day31)
        .await
        .unwrap();
    assert_eq!(keys(&app), 0, "key shredded");
    assert!(iddoc_files(&app).is_empty(), "ciphertext removed");
    let trail: Value = app
        .get("/api/admin/audit", Some(admin))
        .await
        .json()
        .await
        .unwrap();
    assert!(trail.to_string().contains("key_shredded"));
}

#[tokio::test]
async fn sqlite_retention_hides_then_shreds() {
    retention_hides_then_shreds(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_retention_hides_then_shreds() {
    retention_hides_then_shreds(Backend::Postgres).await;
}

/// What a model's browser sends for a document it sealed itself.
struct Sealed {
    ciphertext: Vec<u8>,
    wrapped_key: String,
    commitment: String,
    recipients: String,
    mime: &'static str,
}

impl Sealed {
    fn new(plain: &[u8], recipients: &[crypto::Recipient]) -> Sealed {
        let doc_key = crypto::new_document_key();
        let proof = livestars_api::key_proof::proof(doc_key.to_string().expose_secret());
        Sealed {
            ciphertext: crypto::encrypt_document(&doc_key, plain).unwrap(),
            wrapped_key: crypto::wrap_key(&doc_key, recipients).unwrap(),
            commitment: livestars_api::key_proof::commitment(&proof).unwrap(),
            recipients: recipients
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join(" "),
            mime: "image/png",
        }
    }

    async fn send(&self, app: &TestApp, token: &str) -> reqwest::Response {
        use base64::Engine;
        app.client
            .post(app.url("/api/iddocs/sealed"))
            .bearer_auth(token)
            .header("content-type", "application/octet-stream")
            .header(
                "livestars-wrapped-key",
                base64::engine::general_purpose::STANDARD.encode(&self.wrapped_key),
            )
            .header("livestars-key-commitment", &self.commitment)
            .header("livestars-recipients", &self.recipients)
            .header("livestars-document-type", self.mime)
            .body(self.ciphertext.clone())
            .send()
            .await
            .unwrap()
    }
}

async fn sealed_uploads_are_checked_then_decided_like_any_other(app: TestApp) {
    let (admin, identity) = app.verifier().await;
    let (m, room) = app.model("sela").await;
    let viewer = app.viewer("vera").await;
    let r = app.get("/api/iddocs/recipients", Some(&m.token)).await;
    assert_eq!(r.status(), 200);
    let info: Value = r.json().await.unwrap();
    let me = identity.to_public();
    assert_eq!(info["recipients"], json!([me.to_string()]));
    assert_eq!(info["max_bytes"], app.config.iddoc_max_bytes);
    assert_error(
        app.get("/api/iddocs/recipients", Some(&viewer.token)).await,
        403,
        "forbidden",
    )
    .await;

    // Refused, each changing nothing.
    let stranger = crypto::Identity::generate().to_public();
    let good = Sealed::new(ID_PNG, std::slice::from_ref(&me));
    let mut cases: Vec<(&str, Sealed, u16, &str)> = vec![];
    let mut stale = Sealed::new(ID_PNG, std::slice::from_ref(&stranger));
    stale.recipients = stranger.to_string();
    cases.push(("another verifier set", stale, 409, "stale_recipients"));
    let mut extra = Sealed::new(ID_PNG, &[me.clone(), stranger.clone()]);
    extra.recipients = me.to_string();
    cases.push(("a key wrapped to one more", extra, 400, "invalid_field"));
    let mut plain = Sealed::new(ID_PNG, std::slice::from_ref(&me));
    plain.ciphertext = ID_PNG.to_vec();
    cases.push(("plaintext", plain, 400, "not_sealed"));
    let mut garbage_key = Sealed::new(ID_PNG, std::slice::from_ref(&me));
    garbage_key.wrapped_key =
        "-----BEGIN AGE ENCRYPTED FILE-----\nbm90\n-----END AGE ENCRYPTED FILE-----\n".into();
    cases.push(("a garbage key", garbage_key, 400, "invalid_field"));
    let mut no_commitment = Sealed::new(ID_PNG, std::slice::from_ref(&me));
    no_commitment.commitment = "abc".into();
    cases.push(("a short commitment", no_commitment, 400, "invalid_field"));
    let mut html = Sealed::new(b"<html>", std::slice::from_ref(&me));
    html.mime = "text/html";
    cases.push(("a declared web page", html, 415, "unsupported_document"));
    let mut big = vec![0u8; app.config.iddoc_max_bytes + 1];
    big[..ID_PNG.len()].copy_from_slice(ID_PNG);
    cases.push((
        "too large",
        Sealed::new(&big, std::slice::from_ref(&me)),
        413,
        "payload_too_large",
    ));
    for (what, sealed, status, code) in cases {
        let r = sealed.send(&app, &m.token).await;
        assert_eq!(r.status(), status, "{what}");
        assert_error(r, status, code).await;
    }
    assert_error(good.send(&app, &viewer.token).await, 403, "forbidden").await;
    let r = app
        .client
        .post(app.url("/api/iddocs/sealed"))
        .bearer_auth(&m.token)
        .header("content-type", "application/octet-stream")
        .body(good.ciphertext.clone())
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "invalid_field").await;
    assert!(iddoc_files(&app).is_empty());
    assert_eq!(verification(&app, &m.token).await["status"], "none");

    // Accepted: stored byte for byte, read by the verifier, approved with the key proof.
    let r = good.send(&app, &m.token).await;
    assert_eq!(r.status(), 201);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["status"], "pending");
    assert_eq!(doc["mime"], "image/png");
    assert_eq!(doc["size_bytes"], ID_PNG.len());
    let files = iddoc_files(&app);
    assert_eq!(files.len(), 1);
    assert_eq!(std::fs::read(&files[0]).unwrap(), good.ciphertext);
    assert_no_plaintext_on_disk(&app);
    let id = doc["id"].as_i64().unwrap();
    let key: Value = app
        .get(&format!("/api/admin/iddocs/{id}/key"), Some(admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(key["wrapped_key"], good.wrapped_key.as_str());
    let doc_key = crypto::unwrap_key(key["wrapped_key"].as_str().unwrap(), identity).unwrap();
    assert_eq!(
        crypto::decrypt_document(&good.ciphertext, &doc_key).unwrap(),
        ID_PNG
    );
    let r = app.approve(id, doc["sha256"].as_str().unwrap()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(start(&app, room, &m.token, "live").await.status(), 200);
}
