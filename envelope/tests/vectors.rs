//! The committed vectors (made by the Go `age` CLI) open with this crate, and what this crate
//! writes opens with the Go `age` CLI, byte-identical both ways.

use std::path::{Path, PathBuf};
use std::process::Command;

use livestars_envelope::{
    encrypt_document, new_document_key, open, parse_identity, parse_recipient, unwrap_key,
    wrap_key, ExposeSecret, Identity,
};

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

fn identity(name: &str) -> Identity {
    let text = std::fs::read_to_string(vectors().join(name)).unwrap();
    parse_identity(&text).unwrap_or_else(|| panic!("{name} holds no identity"))
}

/// The Go `age` CLI, installed by scripts/setup.sh (Debian package `age`).
fn age_cli() -> &'static str {
    let ok = Command::new("age")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "the `age` command is missing: run scripts/setup.sh (Debian package `age`)"
    );
    "age"
}

fn age_decrypt(identity_file: &Path, input: &Path) -> Vec<u8> {
    let out = Command::new(age_cli())
        .arg("-d")
        .arg("-i")
        .arg(identity_file)
        .arg(input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "age -d failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn committed_vectors_open_for_each_verifier_and_not_for_others() {
    let wrapped = std::fs::read_to_string(vectors().join("wrapped-key.age")).unwrap();
    let ct = std::fs::read(vectors().join("document.age")).unwrap();
    let plain = std::fs::read(vectors().join("document.bin")).unwrap();
    let doc_key = identity("document.key");
    for v in ["verifier-1.key", "verifier-2.key"] {
        let me = identity(v);
        let k = unwrap_key(&wrapped, &me).unwrap();
        assert_eq!(
            k.to_string().expose_secret(),
            doc_key.to_string().expose_secret(),
            "{v} unwraps the document key"
        );
        assert_eq!(
            open(&me, &wrapped, &ct).unwrap(),
            plain,
            "{v} reads the document"
        );
    }
    // The document key is not a verifier key.
    assert!(open(&doc_key, &wrapped, &ct).is_err());
    assert!(open(&Identity::generate(), &wrapped, &ct).is_err());
}

#[test]
fn the_go_age_cli_reads_the_committed_vectors() {
    let dir = vectors();
    let key_text = age_decrypt(&dir.join("verifier-2.key"), &dir.join("wrapped-key.age"));
    let tmp = tempfile::tempdir().unwrap();
    let key_file = tmp.path().join("doc.key");
    std::fs::write(&key_file, &key_text).unwrap();
    let plain = age_decrypt(&key_file, &dir.join("document.age"));
    assert_eq!(plain, std::fs::read(dir.join("document.bin")).unwrap());
}

#[test]
fn the_go_age_cli_reads_what_this_crate_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let verifier = Identity::generate();
    let verifier_file = tmp.path().join("verifier.key");
    std::fs::write(
        &verifier_file,
        format!("{}\n", verifier.to_string().expose_secret()),
    )
    .unwrap();
    // More than one 64 KiB age chunk, and not a multiple of it.
    let plain: Vec<u8> = (0..150_001u32).map(|i| (i * 7 % 256) as u8).collect();
    let doc_key = new_document_key();
    let recipient = parse_recipient(&verifier.to_public().to_string()).unwrap();
    let wrapped = wrap_key(&doc_key, &[recipient, Identity::generate().to_public()]).unwrap();
    let ct = encrypt_document(&doc_key, &plain).unwrap();
    std::fs::write(tmp.path().join("wrapped.age"), &wrapped).unwrap();
    std::fs::write(tmp.path().join("document.age"), &ct).unwrap();

    let key_text = age_decrypt(&verifier_file, &tmp.path().join("wrapped.age"));
    assert_eq!(key_text, doc_key.to_string().expose_secret().as_bytes());
    let key_file = tmp.path().join("doc.key");
    std::fs::write(&key_file, &key_text).unwrap();
    assert_eq!(
        age_decrypt(&key_file, &tmp.path().join("document.age")),
        plain
    );
}
