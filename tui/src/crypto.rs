//! Local decryption with the admin's own age identity. Nothing here ever leaves this machine:
//! the identity is read from a local file (optionally passphrase-protected), documents are
//! decrypted in memory. The envelope itself is `livestars-envelope`, the server's own code.

use std::path::Path;

pub use livestars_envelope::Identity;
use livestars_envelope::{EnvelopeError, ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, thiserror::Error)]
pub enum CryptoError {
    #[error("cannot read identity file {0}: {1}")]
    Read(String, String),
    #[error("{0} holds no age X25519 identity (AGE-SECRET-KEY-1…)")]
    NoIdentity(String),
    #[error("wrong passphrase or damaged identity file: {0}")]
    Passphrase(String),
    #[error("this document's key is not wrapped to your identity: {0}")]
    NotForMe(String),
    #[error("the downloaded document does not match its hash: refusing it")]
    HashMismatch,
    #[error("decryption failed: {0}")]
    Decrypt(String),
    #[error("encryption failed: {0}")]
    Encrypt(String),
}

impl From<EnvelopeError> for CryptoError {
    fn from(e: EnvelopeError) -> Self {
        match e {
            EnvelopeError::NotAge(m) | EnvelopeError::NotForMe(m) => CryptoError::NotForMe(m),
            EnvelopeError::Decrypt(m) => CryptoError::Decrypt(m),
            other => CryptoError::Encrypt(other.to_string()),
        }
    }
}

/// Whether an identity file is itself age-encrypted (passphrase-protected).
pub fn is_encrypted(bytes: &[u8]) -> bool {
    livestars_envelope::is_age_file(bytes)
}

fn parse_identity_text(text: &str, origin: &str) -> Result<Identity, CryptoError> {
    livestars_envelope::parse_identity(text)
        .ok_or_else(|| CryptoError::NoIdentity(origin.to_string()))
}

/// Load an identity file as `age-keygen` writes it. If it is passphrase-protected,
/// `passphrase` is asked for it.
pub fn load_identity(
    path: &Path,
    passphrase: impl FnOnce() -> String,
) -> Result<Identity, CryptoError> {
    let origin = path.display().to_string();
    let bytes =
        std::fs::read(path).map_err(|e| CryptoError::Read(origin.clone(), e.to_string()))?;
    if !is_encrypted(&bytes) {
        let text = String::from_utf8_lossy(&bytes);
        return parse_identity_text(&text, &origin);
    }
    let plain =
        livestars_envelope::decrypt_with_passphrase(&bytes, SecretString::from(passphrase()))
            .map_err(|e| CryptoError::Passphrase(e.to_string()))?;
    parse_identity_text(&String::from_utf8_lossy(&plain), &origin)
}

/// A new identity: the file text (as `age-keygen` writes it) and its recipient.
pub fn keygen() -> (String, String) {
    let id = Identity::generate();
    let recipient = id.to_public().to_string();
    let text = format!(
        "# created: {} by livestars-admin keygen\n# public key: {recipient}\n{}\n",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"),
        id.to_string().expose_secret()
    );
    (text, recipient)
}

/// Decrypt a downloaded document: check the ciphertext against `sha256`, unwrap the document
/// key with `me`, decrypt. Returns the plaintext.
pub fn decrypt_document(
    me: &Identity,
    wrapped: &str,
    ciphertext: &[u8],
    sha256: &str,
) -> Result<Vec<u8>, CryptoError> {
    if !hex::encode(Sha256::digest(ciphertext)).eq_ignore_ascii_case(sha256) {
        return Err(CryptoError::HashMismatch);
    }
    let key = livestars_envelope::unwrap_key(wrapped, me)?;
    Ok(livestars_envelope::decrypt_document(ciphertext, &key)?)
}

/// The document's key proof (`livestars_api::key_proof`), from its wrapped key: only someone
/// who can unwrap the key computes it.
pub fn key_proof(me: &Identity, wrapped: &str) -> Result<String, CryptoError> {
    let key = livestars_envelope::unwrap_key(wrapped, me)?;
    Ok(livestars_api::key_proof::proof(
        key.to_string().expose_secret(),
    ))
}

/// Re-wrap a document key to `recipients`: unwrap with `me`, wrap to all of them (armored).
pub fn rewrap(me: &Identity, wrapped: &str, recipients: &[String]) -> Result<String, CryptoError> {
    let parsed = recipients
        .iter()
        .map(|r| livestars_envelope::parse_recipient(r))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CryptoError::Encrypt(e.to_string()))?;
    Ok(livestars_envelope::rewrap(me, wrapped, &parsed)?)
}

/// What kind of document the bytes are, for the viewer.
pub fn kind(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "JPEG image"
    } else if bytes.starts_with(b"\x89PNG") {
        "PNG image"
    } else if bytes.starts_with(b"%PDF-") {
        "PDF document"
    } else {
        "unknown type"
    }
}

/// Whether a [`kind`] is one an ID document may be.
pub fn is_accepted(kind: &str) -> bool {
    kind != "unknown type"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../envelope/vectors")
            .join(name)
    }

    #[test]
    fn keygen_file_loads_back() {
        let (text, recipient) = keygen();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        std::fs::write(&p, &text).unwrap();
        let id = load_identity(&p, || unreachable!("not encrypted")).unwrap();
        assert_eq!(id.to_public().to_string(), recipient);
    }

    /// The committed vectors (made by the Go `age` CLI, identity files as `age-keygen` writes
    /// them) open in the console, hash-checked as a download is.
    #[test]
    fn committed_vectors_open_in_the_console() {
        let sums = std::fs::read_to_string(vector("SHA256SUMS")).unwrap();
        let sha = sums
            .lines()
            .find(|l| l.ends_with("document.age"))
            .and_then(|l| l.split_whitespace().next())
            .unwrap()
            .to_string();
        let wrapped = std::fs::read_to_string(vector("wrapped-key.age")).unwrap();
        let ct = std::fs::read(vector("document.age")).unwrap();
        let plain = std::fs::read(vector("document.bin")).unwrap();
        for v in ["verifier-1.key", "verifier-2.key"] {
            let me = load_identity(&vector(v), || unreachable!("not encrypted")).unwrap();
            assert_eq!(decrypt_document(&me, &wrapped, &ct, &sha).unwrap(), plain);
            assert_eq!(kind(&plain), "PDF document");
        }
        let stranger = Identity::generate();
        assert!(matches!(
            decrypt_document(&stranger, &wrapped, &ct, &sha),
            Err(CryptoError::NotForMe(_))
        ));
        let me = load_identity(&vector("verifier-1.key"), || unreachable!()).unwrap();
        assert!(matches!(
            decrypt_document(&me, &wrapped, &ct, &"00".repeat(32)),
            Err(CryptoError::HashMismatch)
        ));
    }

    #[test]
    fn rewrap_makes_a_document_readable_by_the_new_verifier() {
        let me = Identity::generate();
        let newcomer = Identity::generate();
        let doc_key = livestars_envelope::new_document_key();
        // As the server stores them: the document to the document key, the key wrapped to me.
        let ct = livestars_envelope::encrypt_document(&doc_key, b"%PDF-1.4 passport").unwrap();
        let wrapped = livestars_envelope::wrap_key(&doc_key, &[me.to_public()]).unwrap();
        let sha = hex::encode(Sha256::digest(&ct));

        let recipients = vec![me.to_public().to_string(), newcomer.to_public().to_string()];
        let rewrapped = rewrap(&me, &wrapped, &recipients).unwrap();
        for who in [&me, &newcomer] {
            assert_eq!(
                decrypt_document(who, &rewrapped, &ct, &sha).unwrap(),
                b"%PDF-1.4 passport"
            );
        }
        assert!(matches!(
            decrypt_document(&newcomer, &wrapped, &ct, &sha),
            Err(CryptoError::NotForMe(_))
        ));
        assert!(matches!(
            rewrap(&me, &wrapped, &["age1nope".to_string()]),
            Err(CryptoError::Encrypt(_))
        ));
    }

    #[test]
    fn passphrase_protected_identity() {
        let (text, recipient) = keygen();
        let armored = livestars_envelope::encrypt_with_passphrase(
            text.as_bytes(),
            SecretString::from("hunter22".to_string()),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.age");
        std::fs::write(&p, &armored).unwrap();
        let id = load_identity(&p, || "hunter22".into()).unwrap();
        assert_eq!(id.to_public().to_string(), recipient);
        assert!(matches!(
            load_identity(&p, || "wrong".into()),
            Err(CryptoError::Passphrase(_))
        ));
    }
}
