use serde_json::Value;

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(
    openapi_document_covers_every_route,
    health_names_the_backend
);

/// Every route the server answers, as (method, path). Kept beside the router by review; the
/// test below proves each one is both served and documented.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/health"),
    ("get", "/api/openapi.json"),
    ("post", "/api/accounts"),
    ("post", "/api/sessions"),
    ("delete", "/api/sessions/current"),
    ("get", "/api/me"),
    ("delete", "/api/me"),
    ("post", "/api/me/model"),
    ("get", "/api/profiles/{username}"),
    ("patch", "/api/profiles/{username}"),
    ("get", "/api/profiles/{username}/avatar"),
    ("put", "/api/profiles/{username}/avatar"),
    ("put", "/api/profiles/{username}/follow"),
    ("delete", "/api/profiles/{username}/follow"),
    ("get", "/api/rooms"),
    ("get", "/api/rooms/{id}"),
    ("patch", "/api/rooms/{id}"),
    ("post", "/api/rooms/{id}/start"),
    ("post", "/api/rooms/{id}/stop"),
    ("get", "/api/me/verification"),
    ("post", "/api/iddocs"),
    ("get", "/api/iddocs/recipients"),
    ("post", "/api/iddocs/sealed"),
    ("get", "/api/iddocs/{id}"),
    ("delete", "/api/iddocs/{id}"),
    ("get", "/api/admin/verifiers"),
    ("post", "/api/admin/verifiers"),
    ("delete", "/api/admin/verifiers/{id}"),
    ("get", "/api/admin/iddocs"),
    ("get", "/api/admin/iddocs/{id}/ciphertext"),
    ("get", "/api/admin/iddocs/{id}/key"),
    ("put", "/api/admin/iddocs/{id}/key"),
    ("post", "/api/admin/iddocs/{id}/decision"),
    ("get", "/api/admin/audit"),
    ("get", "/api/admin/stats"),
    ("get", "/api/admin/users"),
    ("post", "/api/admin/users/{id}/suspend"),
    ("post", "/api/admin/users/{id}/unsuspend"),
    ("put", "/api/admin/users/{id}/role"),
    ("get", "/api/admin/tokens"),
    ("delete", "/api/admin/tokens/{id}"),
    ("post", "/api/admin/rooms/{id}/end"),
    ("get", "/api/admin/reports"),
    ("post", "/api/admin/reports/{id}/resolve"),
    ("post", "/api/reports"),
    ("post", "/api/rooms/{id}/tips"),
    ("get", "/api/me/wallet"),
    ("put", "/api/me/wallet/address"),
    ("get", "/api/settlement"),
    ("post", "/api/wallet/challenges"),
    ("post", "/api/wallet/sessions"),
    ("get", "/api/me/deposits"),
    ("get", "/api/me/payouts"),
    ("post", "/api/me/payouts"),
    ("get", "/api/me/payouts/{id}"),
    ("get", "/api/rooms/{id}/events"),
    ("get", "/api/rooms/{id}/chat"),
    ("post", "/api/rooms/{id}/chat"),
    ("get", "/api/federation/lookup"),
    ("post", "/api/federation/follows"),
    ("delete", "/api/federation/follows/{handle}"),
    ("get", "/api/admin/ledger"),
    ("get", "/api/admin/federation"),
    ("put", "/api/admin/federation/mode"),
    ("put", "/api/admin/federation/domains"),
    ("get", "/api/admin/federation/instances"),
];

async fn openapi_document_covers_every_route(app: TestApp) {
    let r = app.get("/api/openapi.json", None).await;
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            documented += 1;
            assert!(
                ROUTES.contains(&(method.as_str(), path.as_str())),
                "documented but not in the route list: {method} {path}"
            );
            assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()));
        }
    }
    assert_eq!(documented, ROUTES.len(), "every route is documented");
    // Each documented route is really served: it never answers 404 for the route itself
    // or 405 for the method.
    for (method, path) in ROUTES {
        let concrete = path
            .replace("{username}", "nobody")
            .replace("{id}", "1")
            .replace("{handle}", "nobody@example.org");
        let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let r = app
            .client
            .request(m, app.url(&concrete))
            .send()
            .await
            .unwrap();
        assert_ne!(r.status(), 405, "{method} {path}");
        if r.status() == 404 {
            let v: Value = r.json().await.unwrap();
            assert_ne!(
                v["message"], "no such resource",
                "{method} {path} is not routed"
            );
        }
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    // Every reference resolves: a client generator fails on a dangling `$ref`.
    let mut refs = vec![];
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("external ref {r}"));
        assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
    }
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("$ref", Value::String(s)) => out.push(s.clone()),
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

async fn health_names_the_backend(app: TestApp) {
    let v: Value = app.get("/api/health", None).await.json().await.unwrap();
    let expected = if app.config.database_url.expose().starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(v["database"], expected);
}
