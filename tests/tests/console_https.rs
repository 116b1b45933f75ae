//! The console reaches an instance over HTTPS: a TLS-terminating proxy (socat) with a leaf
//! certificate from a private CA (openssl) in front of a real instance.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use livestars_e2e::{admin_binary, admin_keygen, Instance};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is required for this test");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a leaf certificate for 127.0.0.1 signed by it.
fn make_certs(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=Live Stars test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("leaf.ext"),
        "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
        ],
    );
}

struct Proxy(Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tls_proxy(dir: &Path, backend: &str) -> (Proxy, String) {
    let port = livestars_e2e::free_port();
    let target = backend.trim_start_matches("http://");
    let child = Command::new("socat")
        .arg(format!(
            "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={},key={},verify=0",
            dir.join("leaf.pem").display(),
            dir.join("leaf.key").display()
        ))
        .arg(format!("TCP:{target}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("socat is required for this test");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "socat did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    (Proxy(child), format!("https://127.0.0.1:{port}"))
}

#[test]
fn the_console_speaks_https_and_checks_certificates() {
    let inst = Instance::start();
    let token = inst.create_admin("root");
    let dir = tempfile::tempdir().unwrap();
    make_certs(dir.path());
    let (_proxy, url) = tls_proxy(dir.path(), &inst.url);
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, &token).unwrap();
    let identity = dir.path().join("age.key");

    // Trusting the private CA: keygen registers the recipient over HTTPS.
    let ca = dir.path().join("ca.pem");
    let out = admin_keygen(&url, &token_file, &identity, Some(&ca));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("verifier recipient registered"));

    // Without the CA the certificate is refused, and the console says why.
    let out = Command::new(admin_binary())
        .args(["--url", &url, "--token-file"])
        .arg(&token_file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        err.contains("cannot reach the instance") && err.contains("certificate"),
        "{err}"
    );
}
