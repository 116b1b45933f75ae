//! The admin console in a real terminal (tmux): a verifier approves and rejects real
//! age-encrypted documents uploaded by models, and the instance's API confirms it.
//! Prints the console's startup-to-first-frame time (a figure, not an assertion).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use livestars_e2e::{admin_binary, admin_keygen, get_json, Instance};
use serde_json::{json, Value};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR ID CARD OF A TEST MODEL";

struct Tmux {
    session: String,
}

impl Tmux {
    fn start(cmd: &str) -> Tmux {
        let session = format!("ls{}", std::process::id());
        let ok = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &session,
                "-x",
                "120",
                "-y",
                "40",
                cmd,
            ])
            .status()
            .expect("tmux is required for this test (apt-get install tmux)");
        assert!(ok.success());
        Tmux { session }
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            let ok = Command::new("tmux")
                .args(["send-keys", "-t", &self.session, k])
                .status()
                .unwrap();
            assert!(ok.success());
        }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Wait until the screen shows `text`.
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "never showed {text:?}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .status();
    }
}

async fn model(client: &reqwest::Client, url: &str, name: &str) -> String {
    let token = model_without_document(client, url, name).await;
    let r = client
        .post(format!("{url}/api/iddocs"))
        .bearer_auth(&token)
        .body(PNG.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    token
}

async fn model_without_document(client: &reqwest::Client, url: &str, name: &str) -> String {
    let creds = json!({"username": name, "password": "model password 1"});
    let r = client
        .post(format!("{url}/api/accounts"))
        .json(&creds)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let s: Value = client
        .post(format!("{url}/api/sessions"))
        .json(&creds)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = s["token"].as_str().unwrap().to_string();
    let r = client
        .post(format!("{url}/api/me/model"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    token
}

async fn verification(client: &reqwest::Client, url: &str, token: &str) -> Value {
    get_json(client, &format!("{url}/api/me/verification"), token).await
}

fn console_cmd(url: &str, token_file: &Path, identity: &Path, timing: &Path) -> String {
    format!(
        "LIVESTARS_ADMIN_TIMING=1 {} --url {url} --token-file {} --identity {} 2> {}",
        admin_binary().display(),
        token_file.display(),
        identity.display(),
        timing.display()
    )
}

#[tokio::test]
async fn verifier_approves_and_rejects_in_the_console() {
    let inst = Instance::start();
    let token = inst.create_admin("chief");
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, &token).unwrap();
    let identity = dir.path().join("age.key");

    // keygen writes the identity locally and registers only its recipient.
    let out = admin_keygen(&inst.url, &token_file, &identity, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key_text = std::fs::read_to_string(&identity).unwrap();
    assert!(key_text.contains("AGE-SECRET-KEY-1"));
    let client = livestars_e2e::http_client();
    let verifiers = get_json(
        &client,
        &format!("{}/api/admin/verifiers", inst.url),
        &token,
    )
    .await;
    assert!(verifiers[0]["recipient"]
        .as_str()
        .unwrap()
        .starts_with("age1"));
    assert!(!verifiers.to_string().contains("AGE-SECRET-KEY"));

    let ada = model(&client, &inst.url, "ada").await;
    let bea = model(&client, &inst.url, "bea").await;

    let timing = dir.path().join("timing");
    let tmux = Tmux::start(&console_cmd(&inst.url, &token_file, &identity, &timing));
    tmux.wait_for("Pending verifications    2");
    tmux.keys(&["2"]);
    tmux.wait_for("Pending ID documents (2)");
    // Approving before looking is refused.
    tmux.keys(&["a"]);
    tmux.wait_for("decrypt and view the document first");
    tmux.keys(&["d"]);
    tmux.wait_for("hash verified");
    tmux.keys(&["a"]);
    tmux.wait_for("Date of birth on the document");
    tmux.keys(&["1990-04-23", "Enter"]);
    tmux.wait_for("Document expiry date");
    tmux.keys(&["2031-12-31", "Enter"]);
    tmux.wait_for("ada's document approved");
    tmux.wait_for("Pending ID documents (1)");

    tmux.keys(&["d"]);
    tmux.wait_for("document 2 of bea decrypted locally");
    tmux.keys(&["x"]);
    tmux.wait_for("Reason shown to the model");
    tmux.keys(&["The photo is blurred", "Enter"]);
    tmux.wait_for("bea's document rejected");
    tmux.wait_for("Pending ID documents (0)");
    let v = verification(&client, &inst.url, &bea).await;
    assert_eq!(v["status"], "rejected");
    assert_eq!(v["reason"], "The photo is blurred");

    // A second verifier joins: the chief re-wraps every key she can read to both of them.
    let deputy_token = inst.create_admin("deputy");
    let deputy_token_file = dir.path().join("deputy.token");
    std::fs::write(&deputy_token_file, &deputy_token).unwrap();
    let out = admin_keygen(
        &inst.url,
        &deputy_token_file,
        &dir.path().join("deputy.key"),
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let needs_rewrap = |docs: &Value| {
        docs.as_array()
            .unwrap()
            .iter()
            .any(|d| d["needs_rewrap"] == true)
    };
    let approved = get_json(
        &client,
        &format!("{}/api/admin/iddocs?status=approved", inst.url),
        &token,
    )
    .await;
    assert!(needs_rewrap(&approved));
    tmux.keys(&["w"]);
    tmux.wait_for("re-wrapped 2 document key(s)");
    for status in ["approved", "rejected"] {
        let docs = get_json(
            &client,
            &format!("{}/api/admin/iddocs?status={status}", inst.url),
            &deputy_token,
        )
        .await;
        assert_eq!(docs.as_array().unwrap().len(), 1);
        assert!(!needs_rewrap(&docs), "{docs}");
    }

    // A document sealed in a browser is only typed once decrypted: a web page declared as a
    // PNG is not opened, cannot be approved, and is rejected with one key.
    let cleo = model_without_document(&client, &inst.url, "cleo").await;
    let r = livestars_e2e::upload_sealed(
        &client,
        &inst.url,
        &cleo,
        b"<html><script>alert(1)</script></html>",
        "image/png",
    )
    .await;
    assert_eq!(r.status(), 201);
    tmux.keys(&["r"]);
    tmux.wait_for("Pending ID documents (1)");
    tmux.keys(&["d"]);
    tmux.wait_for("WARNING: document 3 of cleo decrypted, but it is not a JPEG, PNG or PDF");
    tmux.keys(&["a"]);
    tmux.wait_for("reject it (X)");
    tmux.keys(&["X"]);
    tmux.wait_for("cleo's document rejected");
    tmux.wait_for("Pending ID documents (0)");
    let v = verification(&client, &inst.url, &cleo).await;
    assert_eq!(v["status"], "rejected");
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .contains("not a JPEG, PNG or PDF"),
        "{v}"
    );

    // Users & rooms: find bea and suspend her.
    tmux.keys(&["3"]);
    tmux.wait_for("Accounts (");
    tmux.keys(&["/"]);
    tmux.wait_for("Search usernames");
    tmux.keys(&["bea", "Enter"]);
    tmux.wait_for("Accounts matching \"bea\" (1)");
    tmux.keys(&["s"]);
    tmux.wait_for("bea suspended");
    let r = client
        .get(format!("{}/api/me", inst.url))
        .bearer_auth(&bea)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a suspended model's session ends");

    // The deputy's admin API token: listed, then revoked; it stops working at once.
    tmux.keys(&["/"]);
    tmux.wait_for("Search usernames");
    tmux.keys(&["deputy", "Enter"]);
    tmux.wait_for("Accounts matching \"deputy\" (1)");
    // The title changes at once; the list when the search has answered.
    tmux.wait_for("deputy                 admin");
    tmux.keys(&["t"]);
    tmux.wait_for("deputy's admin API tokens:");
    tmux.keys(&["T"]);
    tmux.wait_for("revoked 1 admin API token(s) of deputy");
    let r = client
        .get(format!("{}/api/me", inst.url))
        .bearer_auth(&deputy_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a revoked admin token ends");

    // Federation: block a domain, switch to allowlist mode; the instance applies both.
    tmux.keys(&["5"]);
    tmux.wait_for("Mode: open");
    tmux.keys(&["b"]);
    tmux.wait_for("Domain to block");
    tmux.keys(&["spam.example", "Enter"]);
    tmux.wait_for("spam.example blocked");
    tmux.wait_for("Blocked: spam.example");
    tmux.keys(&["M"]);
    tmux.wait_for("federation mode is now allowlist");
    let policy = get_json(
        &client,
        &format!("{}/api/admin/federation", inst.url),
        &token,
    )
    .await;
    assert_eq!(policy["mode"], "allowlist");
    assert_eq!(policy["blocked"], serde_json::json!(["spam.example"]));
    tmux.keys(&["q", "q"]);

    let v = verification(&client, &inst.url, &ada).await;
    assert_eq!(v["status"], "approved");
    assert_eq!(v["may_go_live"], true);
    assert_eq!(v["valid_until"], "2031-12-31");

    // The console has exited and restored the terminal; it reported its startup time.
    let deadline = Instant::now() + Duration::from_secs(10);
    let t = loop {
        let t = std::fs::read_to_string(&timing).unwrap_or_default();
        if t.contains("first frame") || Instant::now() > deadline {
            break t;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    println!("console startup: {}", t.trim());
    assert!(t.contains("first frame drawn"), "{t}");
}

#[test]
fn a_wrong_token_is_reported_and_exits_non_zero() {
    let inst = Instance::start();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "0".repeat(64)).unwrap();
    // Settings from a file this time.
    let config = dir.path().join("admin.toml");
    std::fs::write(
        &config,
        format!(
            "url = \"{}\"\ntoken_file = \"{}\"\n",
            inst.url,
            token_file.display()
        ),
    )
    .unwrap();
    let out = Command::new(admin_binary())
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused the admin token"), "{err}");

    let out = Command::new(admin_binary())
        .args(["--url", "http://127.0.0.1:9", "--token-file"])
        .arg(&token_file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach the instance"));
}
