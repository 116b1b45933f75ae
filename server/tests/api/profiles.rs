use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{assert_error, TestApp};

both_backends!(
    owner_edits_profile_and_anyone_reads_it,
    others_cannot_edit,
    invalid_update_changes_nothing,
    avatar_upload_and_serve,
    bad_avatars_are_refused,
    profile_links_are_validated_and_federated,
    viewers_follow_local_models,
);

/// A real 3×2 PNG image.
fn png() -> Vec<u8> {
    encode(
        &image::DynamicImage::new_rgba8(3, 2),
        image::ImageFormat::Png,
    )
}

fn encode(img: &image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

async fn profile(app: &TestApp, name: &str) -> Value {
    app.get(&format!("/api/profiles/{name}"), None)
        .await
        .json()
        .await
        .unwrap()
}

async fn owner_edits_profile_and_anyone_reads_it(app: TestApp) {
    let (m, _) = app.model("gina").await;
    let r = app
        .patch_json(
            "/api/profiles/gina",
            &json!({"display_name": "Gina ✨", "bio": "Hello!", "tags": ["music", "chat"], "languages": ["en", "pt"]}),
            &m.token,
        )
        .await;
    assert_eq!(r.status(), 200);
    let p = profile(&app, "gina").await;
    assert_eq!(p["display_name"], "Gina ✨");
    assert_eq!(p["bio"], "Hello!");
    assert_eq!(p["tags"], json!(["music", "chat"]));
    assert_eq!(p["languages"], json!(["en", "pt"]));
    // A partial update leaves the other fields alone.
    let r = app
        .patch_json("/api/profiles/gina", &json!({"bio": "New bio"}), &m.token)
        .await;
    assert_eq!(r.status(), 200);
    let p = profile(&app, "gina").await;
    assert_eq!(p["bio"], "New bio");
    assert_eq!(p["display_name"], "Gina ✨");
    assert_error(
        app.get("/api/profiles/nobody", None).await,
        404,
        "not_found",
    )
    .await;
}

async fn others_cannot_edit(app: TestApp) {
    app.model("hana").await;
    let (other, _) = app.model("ivy").await;
    let viewer = app.viewer("jack").await;
    let before = profile(&app, "hana").await;
    for token in [&other.token, &viewer.token] {
        let r = app
            .patch_json("/api/profiles/hana", &json!({"bio": "pwned"}), token)
            .await;
        assert_error(r, 403, "forbidden").await;
    }
    let r = app
        .client
        .patch(app.url("/api/profiles/hana"))
        .json(&json!({"bio": "pwned"}))
        .send()
        .await
        .unwrap();
    assert_error(r, 401, "unauthenticated").await;
    assert_eq!(profile(&app, "hana").await, before);
}

async fn invalid_update_changes_nothing(app: TestApp) {
    let (m, _) = app.model("kira").await;
    let before = profile(&app, "kira").await;
    for (body, code) in [
        // A valid field beside an invalid one: neither is applied.
        (json!({"bio": "ok", "tags": ["has space"]}), "invalid_field"),
        (
            json!({"bio": "ok", "languages": ["english"]}),
            "invalid_field",
        ),
        (json!({"display_name": ""}), "invalid_field"),
        (json!({"display_name": "x".repeat(61)}), "invalid_field"),
        (json!({"bio": "x".repeat(2001)}), "invalid_field"),
        (
            json!({"bio": "ok", "tags": ["a","b","c","d","e","f","g","h","i","j","k"]}),
            "invalid_field",
        ),
        (
            json!({"bio": "ok", "avatar_url": "http://evil"}),
            "invalid_request",
        ),
        (json!({"bio": 7}), "invalid_request"),
    ] {
        let r = app.patch_json("/api/profiles/kira", &body, &m.token).await;
        assert_error(r, 400, code).await;
    }
    assert_eq!(profile(&app, "kira").await, before);
}

async fn put_avatar(app: &TestApp, name: &str, token: &str, bytes: Vec<u8>) -> reqwest::Response {
    app.client
        .put(app.url(&format!("/api/profiles/{name}/avatar")))
        .bearer_auth(token)
        .header("content-type", "image/jpeg")
        .body(bytes)
        .send()
        .await
        .unwrap()
}

async fn avatar_upload_and_serve(app: TestApp) {
    let (m, _) = app.model("lena").await;
    assert_error(
        app.get("/api/profiles/lena/avatar", None).await,
        404,
        "not_found",
    )
    .await;
    // Declared as JPEG, really a PNG: the bytes decide.
    let r = put_avatar(&app, "lena", &m.token, png()).await;
    assert_eq!(r.status(), 200);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["avatar_url"], "/api/profiles/lena/avatar");
    let r = app.get("/api/profiles/lena/avatar", None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let served = image::load_from_memory(&r.bytes().await.unwrap()).unwrap();
    assert_eq!((served.width(), served.height()), (3, 2));

    // A phone's photo: large, with its GPS position in EXIF. Served small, without it.
    let photo = {
        let jpeg = encode(
            &image::DynamicImage::new_rgb8(2000, 1000),
            image::ImageFormat::Jpeg,
        );
        let exif = b"Exif\0\0MM\0*\0\0\0\x08GPSLatitude 48.8584 N GPSLongitude 2.2945 E";
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&((exif.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(exif);
        out.extend_from_slice(&jpeg[2..]);
        out
    };
    let r = put_avatar(&app, "lena", &m.token, photo).await;
    assert_eq!(r.status(), 200);
    let r = app.get("/api/profiles/lena/avatar", None).await;
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    let bytes = r.bytes().await.unwrap();
    assert!(
        !bytes.windows(3).any(|w| w == b"GPS"),
        "location data served"
    );
    assert!(!bytes.windows(4).any(|w| w == b"Exif"), "EXIF served");
    let served = image::load_from_memory(&bytes).unwrap();
    assert_eq!((served.width(), served.height()), (512, 256));
}

async fn bad_avatars_are_refused(app: TestApp) {
    let (m, _) = app.model("mia").await;
    let (other, _) = app.model("nora").await;
    let limit = app.config.max_avatar_bytes;
    let exe = b"MZ\x90\0\x03\0\0\0 this is a windows program".to_vec();
    assert_error(
        put_avatar(&app, "mia", &m.token, exe).await,
        415,
        "unsupported_image",
    )
    .await;
    let svg = b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>".to_vec();
    // The first bytes of a PNG and then anything: it must decode to be an avatar.
    let fake = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR <script>alert(1)</script>".to_vec();
    assert_error(
        put_avatar(&app, "mia", &m.token, fake).await,
        415,
        "unsupported_image",
    )
    .await;
    assert_error(
        put_avatar(&app, "mia", &m.token, svg).await,
        415,
        "unsupported_image",
    )
    .await;
    let mut big = png();
    big.resize(limit + 1, 0);
    assert_error(
        put_avatar(&app, "mia", &m.token, big).await,
        413,
        "payload_too_large",
    )
    .await;
    assert_error(
        put_avatar(&app, "mia", &m.token, vec![]).await,
        400,
        "empty_body",
    )
    .await;
    assert_error(
        put_avatar(&app, "mia", &other.token, png()).await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        app.get("/api/profiles/mia/avatar", None).await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(profile(&app, "mia").await["avatar_url"], Value::Null);
}

async fn profile_links_are_validated_and_federated(app: TestApp) {
    let (m, _) = app.model("lina").await;
    assert_eq!(profile(&app, "lina").await["links"], json!([]));
    let links = json!([
        {"name": "Website", "url": "https://lina.example/"},
        {"name": "Wishlist", "url": "https://shop.example/l?id=7&x=<b>"}
    ]);
    let r = app
        .patch_json("/api/profiles/lina", &json!({ "links": links }), &m.token)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(profile(&app, "lina").await["links"], links);
    for bad in [
        json!([{"name": "", "url": "https://x.example"}]),
        json!([{"name": "Site", "url": "javascript:alert(1)"}]),
        json!([{"name": "Site", "url": "https://"}]),
        json!([{"name": "two\nlines", "url": "https://x.example"}]),
        json!([{"name": "Site", "url": format!("https://x.example/{}", "a".repeat(300))}]),
        json!([{"name": "a", "url": "https://a.example"}, {"name": "b", "url": "https://b.example"},
               {"name": "c", "url": "https://c.example"}, {"name": "d", "url": "https://d.example"},
               {"name": "e", "url": "https://e.example"}]),
    ] {
        let r = app
            .patch_json(
                "/api/profiles/lina",
                &json!({ "links": bad, "bio": "changed" }),
                &m.token,
            )
            .await;
        assert_error(r, 400, "invalid_field").await;
    }
    let p = profile(&app, "lina").await;
    assert_eq!(p["links"], links, "refused updates change nothing");
    assert_ne!(p["bio"], "changed");
    // Her actor shows them as Mastodon-style PropertyValue fields, HTML-escaped, and the
    // FEP-0ea0 payment link.
    let actor: Value = app.get("/users/lina", None).await.json().await.unwrap();
    let att = actor["attachment"].as_array().unwrap();
    assert_eq!(att[0]["type"], "PropertyValue");
    assert_eq!(att[0]["name"], "Website");
    assert!(att[0]["value"]
        .as_str()
        .unwrap()
        .contains("href=\"https://lina.example/\""));
    let v = att[1]["value"].as_str().unwrap();
    assert!(v.contains("&amp;x=&lt;b&gt;") && !v.contains("<b>"), "{v}");
    assert_eq!(att[2]["rel"], "payment");
}

async fn follow(app: &TestApp, token: &str, name: &str, on: bool) -> reqwest::Response {
    let url = app.url(&format!("/api/profiles/{name}/follow"));
    let r = if on {
        app.client.put(url)
    } else {
        app.client.delete(url)
    };
    r.bearer_auth(token).send().await.unwrap()
}

async fn viewers_follow_local_models(app: TestApp) {
    let (ana, _) = app.model("ana").await;
    let vic = app.viewer("vic").await;
    let wes = app.viewer("wes").await;
    for (who, n) in [(&vic, 1), (&vic, 1), (&wes, 2)] {
        let r = follow(&app, &who.token, "ana", true).await;
        assert_eq!(r.status(), 200);
        let s: Value = r.json().await.unwrap();
        assert_eq!(
            s,
            json!({"following": true, "followers": n}),
            "following twice is one follow"
        );
    }
    // Not a model, nobody, oneself, nobody signed in: refused, nothing changes.
    assert_error(
        follow(&app, &vic.token, "wes", true).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        follow(&app, &vic.token, "nobody", true).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        follow(&app, &ana.token, "ana", true).await,
        400,
        "invalid_field",
    )
    .await;
    let r = app
        .client
        .put(app.url("/api/profiles/ana/follow"))
        .send()
        .await
        .unwrap();
    assert_error(r, 401, "unauthenticated").await;
    let r = follow(&app, &vic.token, "ana", false).await;
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"following": false, "followers": 1})
    );
    // A viewer who deletes her account follows nobody any more.
    let r = app.delete_me(&wes.token, "a long enough password").await;
    assert_eq!(r.status(), 204);
    let r = follow(&app, &vic.token, "ana", true).await;
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"following": true, "followers": 1})
    );
}
