//! End-to-end tests across processes: the real `livestars` binary, started as an operator
//! starts it. Later issues add several federating instances, a local EVM node, a browser and
//! tmux here.
#![forbid(unsafe_code)]

use std::path::PathBuf;

/// The `livestars` binary built in this workspace's target directory, next to the test binary
/// (`cargo test --workspace` builds it before any test runs).
pub fn livestars_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("LIVESTARS_BIN") {
        return PathBuf::from(p);
    }
    workspace_binary("livestars")
}

/// The `livestars-admin` console binary, found the same way.
pub fn admin_binary() -> PathBuf {
    workspace_binary("livestars-admin")
}

fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> → target/<profile>/livestars
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target directory layout");
    let bin = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} not found: run `cargo build --workspace` first",
        bin.display()
    );
    bin
}

/// An HTTP client for the tests. The workspace's reqwest is built with TLS but without a crypto
/// provider of its own, so the process-wide one (ring) is installed first.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// `GET url` with a bearer token, as JSON.
pub async fn get_json(client: &reqwest::Client, url: &str, token: &str) -> serde_json::Value {
    client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json body")
}

/// `livestars-admin keygen` against `url`: writes `identity`, registers its recipient.
pub fn admin_keygen(
    url: &str,
    token_file: &std::path::Path,
    identity: &std::path::Path,
    ca_file: Option<&std::path::Path>,
) -> std::process::Output {
    let mut cmd = std::process::Command::new(admin_binary());
    cmd.args(["--url", url, "--token-file"])
        .arg(token_file)
        .arg("--identity")
        .arg(identity);
    if let Some(ca) = ca_file {
        cmd.arg("--ca-file").arg(ca);
    }
    cmd.arg("keygen")
        .output()
        .expect("run livestars-admin keygen")
}

/// A `livestars serve` process on a random port, killed when dropped.
pub struct Instance {
    pub url: String,
    pub data_dir: tempfile::TempDir,
    child: std::process::Child,
}

impl Instance {
    /// Start an instance on SQLite in a fresh directory.
    pub fn start() -> Instance {
        use std::io::{BufRead, BufReader};
        let data_dir = tempfile::tempdir().expect("tempdir");
        let mut child = std::process::Command::new(livestars_binary())
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir.path())
            .env_remove("LIVESTARS_DATABASE_URL")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn livestars");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read");
        let url = line
            .trim()
            .strip_prefix("Live Stars listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Instance {
            url,
            data_dir,
            child,
        }
    }

    /// `livestars admin create`: the admin API token.
    pub fn create_admin(&self, username: &str) -> String {
        let out = std::process::Command::new(livestars_binary())
            .args(["admin", "create", "--username", username, "--data-dir"])
            .arg(self.data_dir.path())
            .env_remove("LIVESTARS_DATABASE_URL")
            .output()
            .expect("admin create");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .expect("utf8")
            .trim()
            .to_string()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
