//! Local decryption with the admin's own age identity. Nothing here ever leaves this machine:
//! the identity is read from a local file (optionally passphrase-protected), documents are
//! decrypted in memory.

use std::io::Read;
use std::iter;
use std::path::Path;
use std::str::FromStr;

use age::secrecy::{ExposeSecret, SecretString};
use age::x25519;
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

/// Whether an identity file is itself age-encrypted (passphrase-protected).
pub fn is_encrypted(bytes: &[u8]) -> bool {
    bytes.starts_with(b"age-encryption.org/v1")
        || bytes.starts_with(b"-----BEGIN AGE ENCRYPTED FILE")
}

fn parse_identity_text(text: &str, origin: &str) -> Result<x25519::Identity, CryptoError> {
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .and_then(|l| x25519::Identity::from_str(l).ok())
        .ok_or_else(|| CryptoError::NoIdentity(origin.to_string()))
}

/// Load an identity file as `age-keygen` writes it. If it is passphrase-protected,
/// `passphrase` is asked for it.
pub fn load_identity(
    path: &Path,
    passphrase: impl FnOnce() -> String,
) -> Result<x25519::Identity, CryptoError> {
    let origin = path.display().to_string();
    let bytes =
        std::fs::read(path).map_err(|e| CryptoError::Read(origin.clone(), e.to_string()))?;
    if !is_encrypted(&bytes) {
        let text = String::from_utf8_lossy(&bytes);
        return parse_identity_text(&text, &origin);
    }
    let pass = SecretString::from(passphrase());
    let scrypt = age::scrypt::Identity::new(pass);
    let reader = age::armor::ArmoredReader::new(&bytes[..]);
    let dec = age::Decryptor::new(reader).map_err(|e| CryptoError::Passphrase(e.to_string()))?;
    let mut r = dec
        .decrypt(iter::once(&scrypt as &dyn age::Identity))
        .map_err(|e| CryptoError::Passphrase(e.to_string()))?;
    let mut text = String::new();
    r.read_to_string(&mut text)
        .map_err(|e| CryptoError::Passphrase(e.to_string()))?;
    parse_identity_text(&text, &origin)
}

/// A new identity: the file text (as `age-keygen` writes it) and its recipient.
pub fn keygen() -> (String, String) {
    let id = x25519::Identity::generate();
    let recipient = id.to_public().to_string();
    let text = format!(
        "# created: {} by livestars-admin keygen\n# public key: {recipient}\n{}\n",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"),
        id.to_string().expose_secret()
    );
    (text, recipient)
}

fn unwrap_key(wrapped: &str, me: &x25519::Identity) -> Result<x25519::Identity, CryptoError> {
    let dec = age::Decryptor::new(age::armor::ArmoredReader::new(wrapped.as_bytes()))
        .map_err(|e| CryptoError::NotForMe(e.to_string()))?;
    let mut r = dec
        .decrypt(iter::once(me as &dyn age::Identity))
        .map_err(|e| CryptoError::NotForMe(e.to_string()))?;
    let mut text = String::new();
    r.read_to_string(&mut text)
        .map_err(|e| CryptoError::NotForMe(e.to_string()))?;
    parse_identity_text(&text, "the wrapped key")
}

/// Decrypt a downloaded document: check the ciphertext against `sha256`, unwrap the document
/// key with `me`, decrypt. Returns the plaintext.
pub fn decrypt_document(
    me: &x25519::Identity,
    wrapped: &str,
    ciphertext: &[u8],
    sha256: &str,
) -> Result<Vec<u8>, CryptoError> {
    if !hex::encode(Sha256::digest(ciphertext)).eq_ignore_ascii_case(sha256) {
        return Err(CryptoError::HashMismatch);
    }
    let key = unwrap_key(wrapped, me)?;
    let dec = age::Decryptor::new_buffered(ciphertext)
        .map_err(|e| CryptoError::Decrypt(e.to_string()))?;
    let mut r = dec
        .decrypt(iter::once(&key as &dyn age::Identity))
        .map_err(|e| CryptoError::Decrypt(e.to_string()))?;
    let mut out = vec![];
    r.read_to_end(&mut out)
        .map_err(|e| CryptoError::Decrypt(e.to_string()))?;
    Ok(out)
}

/// The document's key proof (`livestars_api::key_proof`), from its wrapped key: only someone
/// who can unwrap the key computes it.
pub fn key_proof(me: &x25519::Identity, wrapped: &str) -> Result<String, CryptoError> {
    let key = unwrap_key(wrapped, me)?;
    Ok(livestars_api::key_proof::proof(
        key.to_string().expose_secret(),
    ))
}

/// Re-wrap a document key to `recipients`: unwrap with `me`, wrap to all of them (armored).
pub fn rewrap(
    me: &x25519::Identity,
    wrapped: &str,
    recipients: &[String],
) -> Result<String, CryptoError> {
    let key = unwrap_key(wrapped, me)?;
    let parsed = recipients
        .iter()
        .map(|r| x25519::Recipient::from_str(r).map_err(|e| CryptoError::Encrypt(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let enc = age::Encryptor::with_recipients(parsed.iter().map(|r| r as &dyn age::Recipient))
        .map_err(|e| CryptoError::Encrypt(e.to_string()))?;
    let mut out = vec![];
    let armor = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
        .map_err(|e| CryptoError::Encrypt(e.to_string()))?;
    let mut w = enc
        .wrap_output(armor)
        .map_err(|e| CryptoError::Encrypt(e.to_string()))?;
    use std::io::Write;
    w.write_all(key.to_string().expose_secret().as_bytes())
        .and_then(|_| w.finish())
        .and_then(|a| a.finish())
        .map_err(|e| CryptoError::Encrypt(e.to_string()))?;
    String::from_utf8(out).map_err(|e| CryptoError::Encrypt(e.to_string()))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keygen_file_loads_back() {
        let (text, recipient) = keygen();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        std::fs::write(&p, &text).unwrap();
        let id = load_identity(&p, || unreachable!("not encrypted")).unwrap();
        assert_eq!(id.to_public().to_string(), recipient);
    }

    #[test]
    fn rewrap_makes_a_document_readable_by_the_new_verifier() {
        use std::io::Write;
        let me = x25519::Identity::generate();
        let newcomer = x25519::Identity::generate();
        let doc_key = x25519::Identity::generate();
        // As the server stores them: the document to the document key, the key wrapped to me.
        let mut ct = vec![];
        let enc = age::Encryptor::with_recipients(iter::once(
            &doc_key.to_public() as &dyn age::Recipient
        ))
        .unwrap();
        let mut w = enc.wrap_output(&mut ct).unwrap();
        w.write_all(b"%PDF-1.4 passport").unwrap();
        w.finish().unwrap();
        let wrapped = rewrap_to(&doc_key, &[me.to_public().to_string()]);
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
            decrypt_document(&me, &wrapped, &ct, &"00".repeat(32)),
            Err(CryptoError::HashMismatch)
        ));
    }

    /// Wrap `key` to `recipients` the way the server does (armored age of the key's text).
    fn rewrap_to(key: &x25519::Identity, recipients: &[String]) -> String {
        let holder = x25519::Identity::generate();
        let first = {
            use std::io::Write;
            let enc = age::Encryptor::with_recipients(iter::once(
                &holder.to_public() as &dyn age::Recipient
            ))
            .unwrap();
            let mut out = vec![];
            let armor =
                age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
                    .unwrap();
            let mut w = enc.wrap_output(armor).unwrap();
            w.write_all(key.to_string().expose_secret().as_bytes())
                .unwrap();
            w.finish().unwrap().finish().unwrap();
            String::from_utf8(out).unwrap()
        };
        rewrap(&holder, &first, recipients).unwrap()
    }

    #[test]
    fn passphrase_protected_identity() {
        let (text, recipient) = keygen();
        let enc = age::Encryptor::with_user_passphrase(SecretString::from("hunter22".to_string()));
        let mut out = vec![];
        let armor =
            age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
                .unwrap();
        let mut w = enc.wrap_output(armor).unwrap();
        use std::io::Write;
        w.write_all(text.as_bytes()).unwrap();
        w.finish().unwrap().finish().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.age");
        std::fs::write(&p, &out).unwrap();
        let id = load_identity(&p, || "hunter22".into()).unwrap();
        assert_eq!(id.to_public().to_string(), recipient);
        assert!(matches!(
            load_identity(&p, || "wrong".into()),
            Err(CryptoError::Passphrase(_))
        ));
    }
}
