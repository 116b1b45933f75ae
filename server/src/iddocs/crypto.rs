//! The thin layer over `age` that ID documents use. Nothing else in the server touches age.
//!
//! Envelope encryption: every document is encrypted to its own freshly generated X25519
//! identity (the *document key*). That identity, in its `AGE-SECRET-KEY-1…` text form, is then
//! age-encrypted to all verifier recipients and ASCII-armored (the *wrapped key*). The server
//! keeps only the wrapped key and the ciphertext; the document key exists in server memory only
//! while an upload is being encrypted.

use std::io::{self, Read, Write};
use std::iter;
use std::str::FromStr;

use age::secrecy::ExposeSecret;
use age::x25519;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("not an age X25519 recipient (age1…): {0}")]
    InvalidRecipient(String),
    #[error("no recipients to encrypt to")]
    NoRecipients,
    #[error("encryption failed: {0}")]
    Encrypt(String),
    #[error("not an armored age file: {0}")]
    NotAge(String),
    #[error("decryption failed: {0}")]
    Decrypt(String),
}

/// Parse a verifier's public key.
pub fn parse_recipient(s: &str) -> Result<x25519::Recipient, CryptoError> {
    let s = s.trim();
    x25519::Recipient::from_str(s).map_err(|e| CryptoError::InvalidRecipient(e.to_string()))
}

/// A fresh per-document identity.
pub fn new_document_key() -> x25519::Identity {
    x25519::Identity::generate()
}

/// Start an age stream encrypting to `doc_key`'s public half, writing ciphertext to `out`.
/// The caller must call `finish()` on the returned writer.
pub fn encrypt_stream<W: Write>(
    doc_key: &x25519::Identity,
    out: W,
) -> Result<age::stream::StreamWriter<W>, CryptoError> {
    let recipient = doc_key.to_public();
    let enc = age::Encryptor::with_recipients(iter::once(&recipient as &dyn age::Recipient))
        .map_err(|e| CryptoError::Encrypt(e.to_string()))?;
    enc.wrap_output(out)
        .map_err(|e| CryptoError::Encrypt(e.to_string()))
}

/// Wrap `doc_key` to every recipient: an ASCII-armored age file.
pub fn wrap_key(
    doc_key: &x25519::Identity,
    recipients: &[x25519::Recipient],
) -> Result<String, CryptoError> {
    if recipients.is_empty() {
        return Err(CryptoError::NoRecipients);
    }
    let enc = age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
        .map_err(|e| CryptoError::Encrypt(e.to_string()))?;
    let mut out = vec![];
    let armor = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
        .map_err(|e| CryptoError::Encrypt(e.to_string()))?;
    let mut w = enc
        .wrap_output(armor)
        .map_err(|e| CryptoError::Encrypt(e.to_string()))?;
    let secret = doc_key.to_string();
    w.write_all(secret.expose_secret().as_bytes())
        .and_then(|_| w.finish())
        .and_then(|armor| armor.finish())
        .map_err(|e| CryptoError::Encrypt(e.to_string()))?;
    String::from_utf8(out).map_err(|e| CryptoError::Encrypt(e.to_string()))
}

/// The commitment to `doc_key`'s key proof, stored at upload (see `livestars_api::key_proof`).
pub fn key_commitment(doc_key: &x25519::Identity) -> String {
    let proof = livestars_api::key_proof::proof(doc_key.to_string().expose_secret());
    livestars_api::key_proof::commitment(&proof).unwrap_or_default()
}

/// Check that `armored` is an armored age file with a well-formed header (used when an admin
/// uploads a re-wrapped key: the server cannot decrypt it, but it can refuse garbage).
pub fn check_wrapped_key(armored: &str) -> Result<(), CryptoError> {
    if !armored
        .trim_start()
        .starts_with("-----BEGIN AGE ENCRYPTED FILE-----")
    {
        return Err(CryptoError::NotAge("missing the armor header".into()));
    }
    let reader = age::armor::ArmoredReader::new(armored.as_bytes());
    age::Decryptor::new(reader)
        .map(|_| ())
        .map_err(|e| CryptoError::NotAge(e.to_string()))
}

/// Recover the document key from a wrapped key with a verifier's identity. The server never
/// calls this (it has no identity); the console and the tests do the same on their side.
pub fn unwrap_key(
    armored: &str,
    identity: &x25519::Identity,
) -> Result<x25519::Identity, CryptoError> {
    let reader = age::armor::ArmoredReader::new(armored.as_bytes());
    let dec = age::Decryptor::new(reader).map_err(|e| CryptoError::NotAge(e.to_string()))?;
    let mut r = dec
        .decrypt(iter::once(identity as &dyn age::Identity))
        .map_err(|e| CryptoError::Decrypt(e.to_string()))?;
    let mut text = String::new();
    r.read_to_string(&mut text)
        .map_err(|e| CryptoError::Decrypt(e.to_string()))?;
    x25519::Identity::from_str(text.trim()).map_err(|e| CryptoError::Decrypt(e.to_string()))
}

/// Decrypt a document's ciphertext with its document key.
pub fn decrypt_document(
    ciphertext: &[u8],
    doc_key: &x25519::Identity,
) -> Result<Vec<u8>, CryptoError> {
    let dec =
        age::Decryptor::new_buffered(ciphertext).map_err(|e| CryptoError::NotAge(e.to_string()))?;
    let mut r = dec
        .decrypt(iter::once(doc_key as &dyn age::Identity))
        .map_err(|e| CryptoError::Decrypt(e.to_string()))?;
    let mut out = vec![];
    r.read_to_end(&mut out)
        .map_err(|e: io::Error| CryptoError::Decrypt(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encrypt_all(doc_key: &x25519::Identity, plain: &[u8]) -> Vec<u8> {
        let mut out = vec![];
        let mut w = encrypt_stream(doc_key, &mut out).unwrap();
        // Several writes, as the upload stream does.
        for chunk in plain.chunks(7000) {
            w.write_all(chunk).unwrap();
        }
        w.finish().unwrap();
        out
    }

    #[test]
    fn envelope_round_trip_for_every_verifier() {
        let v1 = x25519::Identity::generate();
        let v2 = x25519::Identity::generate();
        let doc_key = new_document_key();
        let plain: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let ct = encrypt_all(&doc_key, &plain);
        let wrapped = wrap_key(&doc_key, &[v1.to_public(), v2.to_public()]).unwrap();
        check_wrapped_key(&wrapped).unwrap();
        for v in [&v1, &v2] {
            let k = unwrap_key(&wrapped, v).unwrap();
            assert_eq!(decrypt_document(&ct, &k).unwrap(), plain);
        }
        let stranger = x25519::Identity::generate();
        assert!(unwrap_key(&wrapped, &stranger).is_err());
        assert!(decrypt_document(&ct, &stranger).is_err());
    }

    #[test]
    fn the_wrapped_key_does_not_contain_the_document_key() {
        let doc_key = new_document_key();
        let v = x25519::Identity::generate();
        let wrapped = wrap_key(&doc_key, &[v.to_public()]).unwrap();
        let secret = doc_key.to_string();
        assert!(!wrapped.contains(secret.expose_secret()));
        assert!(!wrapped.contains("AGE-SECRET-KEY"));
    }

    /// The example recipient from the age README, used by scripts/schemathesis.sh.
    pub const EXAMPLE_RECIPIENT: &str =
        "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

    #[test]
    fn recipients_are_validated() {
        assert!(parse_recipient(EXAMPLE_RECIPIENT).is_ok());
        let ok = x25519::Identity::generate().to_public().to_string();
        assert!(parse_recipient(&ok).is_ok());
        for bad in [
            "",
            "age1",
            "AGE-SECRET-KEY-1QQQ",
            "ssh-ed25519 AAAA",
            &ok[..ok.len() - 1],
        ] {
            assert!(parse_recipient(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            wrap_key(&new_document_key(), &[]),
            Err(CryptoError::NoRecipients)
        ));
    }

    #[test]
    fn garbage_is_not_a_wrapped_key() {
        assert!(check_wrapped_key("hello").is_err());
        assert!(check_wrapped_key(
            "-----BEGIN AGE ENCRYPTED FILE-----\nbm90IGFnZQ==\n-----END AGE ENCRYPTED FILE-----\n"
        )
        .is_err());
    }
}
