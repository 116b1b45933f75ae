//! The age envelope of ID documents — the one implementation the server and the console share.
//!
//! Every document is encrypted to its own freshly generated X25519 identity (the *document
//! key*). That identity, in its `AGE-SECRET-KEY-1…` text form, is age-encrypted to every
//! verifier's recipient and ASCII-armored (the *wrapped key*). Whoever holds a verifier
//! identity unwraps the document key and decrypts the document; the server keeps only the
//! wrapped key and the ciphertext.
//!
//! Both halves are plain age files: `age -d -i verifier.key wrapped.age > doc.key` and
//! `age -d -i doc.key document.age` read them too (the committed vectors under `vectors/` are
//! checked that way in the tests).

use std::io::{self, Read, Write};
use std::iter;
use std::str::FromStr;

pub use age::secrecy::{ExposeSecret, SecretString};
pub use age::x25519::{Identity, Recipient};

/// What can go wrong with an envelope.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EnvelopeError {
    #[error("not an age X25519 recipient (age1…): {0}")]
    InvalidRecipient(String),
    #[error("no recipients to encrypt to")]
    NoRecipients,
    #[error("encryption failed: {0}")]
    Encrypt(String),
    #[error("not an armored age file: {0}")]
    NotAge(String),
    #[error("this document's key is not wrapped to this identity: {0}")]
    NotForMe(String),
    #[error("decryption failed: {0}")]
    Decrypt(String),
}

/// Parse a verifier's public key.
pub fn parse_recipient(s: &str) -> Result<Recipient, EnvelopeError> {
    Recipient::from_str(s.trim()).map_err(|e| EnvelopeError::InvalidRecipient(e.to_string()))
}

/// Parse identity text as `age-keygen` writes it (comments allowed): its first
/// `AGE-SECRET-KEY-1…` line.
pub fn parse_identity(text: &str) -> Option<Identity> {
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .and_then(|l| Identity::from_str(l).ok())
}

/// A fresh per-document identity.
pub fn new_document_key() -> Identity {
    Identity::generate()
}

/// Start an age stream encrypting to `doc_key`'s public half, writing ciphertext to `out`.
/// The caller must call `finish()` on the returned writer.
pub fn encrypt_stream<W: Write>(
    doc_key: &Identity,
    out: W,
) -> Result<age::stream::StreamWriter<W>, EnvelopeError> {
    let recipient = doc_key.to_public();
    let enc = age::Encryptor::with_recipients(iter::once(&recipient as &dyn age::Recipient))
        .map_err(|e| EnvelopeError::Encrypt(e.to_string()))?;
    enc.wrap_output(out)
        .map_err(|e| EnvelopeError::Encrypt(e.to_string()))
}

/// Encrypt a whole document in memory to `doc_key`.
pub fn encrypt_document(doc_key: &Identity, plain: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    let mut out = vec![];
    let mut w = encrypt_stream(doc_key, &mut out)?;
    w.write_all(plain)
        .and_then(|_| w.finish().map(|_| ()))
        .map_err(|e| EnvelopeError::Encrypt(e.to_string()))?;
    Ok(out)
}

/// Wrap `doc_key` to every recipient: an ASCII-armored age file of the key's text.
pub fn wrap_key(doc_key: &Identity, recipients: &[Recipient]) -> Result<String, EnvelopeError> {
    if recipients.is_empty() {
        return Err(EnvelopeError::NoRecipients);
    }
    let enc = age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
        .map_err(|e| EnvelopeError::Encrypt(e.to_string()))?;
    armored(enc, doc_key.to_string().expose_secret().as_bytes())
}

/// `plain` encrypted with `enc`, ASCII-armored.
fn armored(enc: age::Encryptor, plain: &[u8]) -> Result<String, EnvelopeError> {
    let mut out = vec![];
    let armor = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
        .map_err(|e| EnvelopeError::Encrypt(e.to_string()))?;
    let mut w = enc
        .wrap_output(armor)
        .map_err(|e| EnvelopeError::Encrypt(e.to_string()))?;
    w.write_all(plain)
        .and_then(|_| w.finish())
        .and_then(|armor| armor.finish())
        .map_err(|e| EnvelopeError::Encrypt(e.to_string()))?;
    String::from_utf8(out).map_err(|e| EnvelopeError::Encrypt(e.to_string()))
}

/// Check that `armored` is an armored age file with a well-formed header (the server cannot
/// decrypt a wrapped key, but it can refuse garbage).
pub fn check_wrapped_key(armored: &str) -> Result<(), EnvelopeError> {
    if !armored
        .trim_start()
        .starts_with("-----BEGIN AGE ENCRYPTED FILE-----")
    {
        return Err(EnvelopeError::NotAge("missing the armor header".into()));
    }
    let reader = age::armor::ArmoredReader::new(armored.as_bytes());
    age::Decryptor::new(reader)
        .map(|_| ())
        .map_err(|e| EnvelopeError::NotAge(e.to_string()))
}

/// The recipient stanzas of an age file, read from its header without decrypting anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Each stanza's type (`X25519`, `scrypt`, …), in order.
    pub stanzas: Vec<String>,
    /// Length in bytes of the binary header, through the MAC line's newline.
    pub len: usize,
}

impl Header {
    /// How many stanzas are X25519 (one per recipient key).
    pub fn x25519(&self) -> usize {
        self.stanzas.iter().filter(|t| *t == "X25519").count()
    }

    /// Whether every stanza is X25519 or grease (random `…-grease` stanzas that age
    /// implementations add so that parsers keep ignoring unknown types).
    pub fn only_x25519(&self) -> bool {
        self.stanzas
            .iter()
            .all(|t| t == "X25519" || t.ends_with("-grease"))
    }
}

/// The header of a binary age file from its first bytes (the whole header must be among them).
/// Checks the format line, each stanza's shape (base64 body lines of 64 columns, the last
/// shorter) and the MAC line; whether the MAC is right only a recipient can tell.
pub fn read_header(bytes: &[u8]) -> Result<Header, EnvelopeError> {
    let bad = |why: &str| EnvelopeError::NotAge(why.to_string());
    let mut pos = 0usize;
    let mut line = || -> Result<&[u8], EnvelopeError> {
        let rest = &bytes[pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| bad("the header is incomplete"))?;
        pos += end + 1;
        Ok(&rest[..end])
    };
    if line()? != b"age-encryption.org/v1" {
        return Err(bad("not an age v1 file"));
    }
    let b64 = |l: &[u8]| {
        l.iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
    };
    let mut stanzas = vec![];
    let mut l = line()?;
    loop {
        if let Some(mac) = l.strip_prefix(b"--- ") {
            if mac.len() != 43 || !b64(mac) {
                return Err(bad("the header's MAC line is malformed"));
            }
            break;
        }
        let args = l
            .strip_prefix(b"-> ")
            .ok_or_else(|| bad("expected a stanza or the MAC line"))?;
        let kind = args.split(|&b| b == b' ').next().unwrap_or_default();
        if kind.is_empty() || !kind.iter().all(|b| b.is_ascii_graphic()) {
            return Err(bad("a stanza has no type"));
        }
        stanzas.push(String::from_utf8_lossy(kind).into_owned());
        // The body: full 64-column lines, ended by a shorter (possibly empty) one.
        loop {
            let body = line()?;
            if body.len() > 64 || !b64(body) {
                return Err(bad("a stanza's body is not base64"));
            }
            if body.len() < 64 {
                break;
            }
        }
        l = line()?;
    }
    if stanzas.is_empty() {
        return Err(bad("the header names no recipient"));
    }
    Ok(Header { stanzas, len: pos })
}

/// The header of an ASCII-armored age file (a wrapped key), checked as [`check_wrapped_key`]
/// does and then read as [`read_header`].
pub fn read_armored_header(armored: &str) -> Result<Header, EnvelopeError> {
    check_wrapped_key(armored)?;
    let mut raw = vec![];
    age::armor::ArmoredReader::new(armored.as_bytes())
        .read_to_end(&mut raw)
        .map_err(|e| EnvelopeError::NotAge(e.to_string()))?;
    read_header(&raw)
}

/// The plaintext length of a binary age file of `total` bytes whose header is `header_len`
/// bytes: after the header, a 16-byte nonce, then chunks of at most 64 KiB of plaintext, each
/// with a 16-byte tag. `None` when no age file has that shape.
pub fn plaintext_len(total: u64, header_len: u64) -> Option<u64> {
    const CHUNK: u64 = 64 * 1024 + 16;
    let payload = total.checked_sub(header_len)?.checked_sub(16)?;
    if payload < 16 {
        return None;
    }
    let chunks = payload.div_ceil(CHUNK);
    let last = payload - (chunks - 1) * CHUNK;
    // A last chunk is a tag plus at least one byte, unless the whole file is empty.
    if last < 16 || (last == 16 && chunks > 1) {
        return None;
    }
    Some(payload - 16 * chunks)
}

/// Recover the document key from a wrapped key with a verifier's identity.
pub fn unwrap_key(armored: &str, identity: &Identity) -> Result<Identity, EnvelopeError> {
    let reader = age::armor::ArmoredReader::new(armored.as_bytes());
    let dec = age::Decryptor::new(reader).map_err(|e| EnvelopeError::NotAge(e.to_string()))?;
    let mut r = dec
        .decrypt(iter::once(identity as &dyn age::Identity))
        .map_err(|e| EnvelopeError::NotForMe(e.to_string()))?;
    let mut text = String::new();
    r.read_to_string(&mut text)
        .map_err(|e| EnvelopeError::Decrypt(e.to_string()))?;
    parse_identity(&text)
        .ok_or_else(|| EnvelopeError::Decrypt("the wrapped key holds no age identity".into()))
}

/// Re-wrap a document key to `recipients`: unwrap with `me`, wrap to all of them.
pub fn rewrap(
    me: &Identity,
    armored: &str,
    recipients: &[Recipient],
) -> Result<String, EnvelopeError> {
    wrap_key(&unwrap_key(armored, me)?, recipients)
}

/// Decrypt a document's ciphertext with its document key.
pub fn decrypt_document(ciphertext: &[u8], doc_key: &Identity) -> Result<Vec<u8>, EnvelopeError> {
    let dec = age::Decryptor::new_buffered(ciphertext)
        .map_err(|e| EnvelopeError::NotAge(e.to_string()))?;
    let mut r = dec
        .decrypt(iter::once(doc_key as &dyn age::Identity))
        .map_err(|e| EnvelopeError::Decrypt(e.to_string()))?;
    let mut out = vec![];
    r.read_to_end(&mut out)
        .map_err(|e: io::Error| EnvelopeError::Decrypt(e.to_string()))?;
    Ok(out)
}

/// Open a document as a verifier: unwrap its key with `me`, decrypt the ciphertext.
pub fn open(me: &Identity, armored: &str, ciphertext: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    decrypt_document(ciphertext, &unwrap_key(armored, me)?)
}

/// Whether a file is itself age-encrypted (an identity file protected by a passphrase).
pub fn is_age_file(bytes: &[u8]) -> bool {
    bytes.starts_with(b"age-encryption.org/v1")
        || bytes.starts_with(b"-----BEGIN AGE ENCRYPTED FILE")
}

/// Decrypt a passphrase-protected age file (as `age -p` writes it, armored or binary): an
/// identity file a verifier keeps encrypted at rest.
pub fn decrypt_with_passphrase(
    bytes: &[u8],
    passphrase: SecretString,
) -> Result<Vec<u8>, EnvelopeError> {
    let scrypt = age::scrypt::Identity::new(passphrase);
    let reader = age::armor::ArmoredReader::new(bytes);
    let dec = age::Decryptor::new(reader).map_err(|e| EnvelopeError::NotAge(e.to_string()))?;
    let mut r = dec
        .decrypt(iter::once(&scrypt as &dyn age::Identity))
        .map_err(|e| EnvelopeError::Decrypt(e.to_string()))?;
    let mut out = vec![];
    r.read_to_end(&mut out)
        .map_err(|e| EnvelopeError::Decrypt(e.to_string()))?;
    Ok(out)
}

/// Encrypt `plain` with a passphrase, armored (what `age -p -a` writes).
pub fn encrypt_with_passphrase(
    plain: &[u8],
    passphrase: SecretString,
) -> Result<String, EnvelopeError> {
    armored(age::Encryptor::with_user_passphrase(passphrase), plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trip_for_every_verifier() {
        let v1 = Identity::generate();
        let v2 = Identity::generate();
        let doc_key = new_document_key();
        let plain: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut ct = vec![];
        let mut w = encrypt_stream(&doc_key, &mut ct).unwrap();
        // Several writes, as the upload stream does.
        for chunk in plain.chunks(7000) {
            w.write_all(chunk).unwrap();
        }
        w.finish().unwrap();
        let wrapped = wrap_key(&doc_key, &[v1.to_public(), v2.to_public()]).unwrap();
        check_wrapped_key(&wrapped).unwrap();
        for v in [&v1, &v2] {
            assert_eq!(open(v, &wrapped, &ct).unwrap(), plain);
        }
        let stranger = Identity::generate();
        assert!(matches!(
            unwrap_key(&wrapped, &stranger),
            Err(EnvelopeError::NotForMe(_))
        ));
        assert!(decrypt_document(&ct, &stranger).is_err());
    }

    #[test]
    fn the_wrapped_key_does_not_contain_the_document_key() {
        let doc_key = new_document_key();
        let v = Identity::generate();
        let wrapped = wrap_key(&doc_key, &[v.to_public()]).unwrap();
        let secret = doc_key.to_string();
        assert!(!wrapped.contains(secret.expose_secret()));
        assert!(!wrapped.contains("AGE-SECRET-KEY"));
    }

    #[test]
    fn rewrap_makes_a_document_readable_by_the_newcomer_only_in_the_new_key() {
        let (me, newcomer) = (Identity::generate(), Identity::generate());
        let doc_key = new_document_key();
        let ct = encrypt_document(&doc_key, b"%PDF-1.4 passport").unwrap();
        let wrapped = wrap_key(&doc_key, &[me.to_public()]).unwrap();
        let rewrapped = rewrap(&me, &wrapped, &[me.to_public(), newcomer.to_public()]).unwrap();
        for who in [&me, &newcomer] {
            assert_eq!(open(who, &rewrapped, &ct).unwrap(), b"%PDF-1.4 passport");
        }
        assert!(open(&newcomer, &wrapped, &ct).is_err());
    }

    /// The example recipient from the age README.
    const EXAMPLE_RECIPIENT: &str =
        "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

    #[test]
    fn recipients_and_identities_are_validated() {
        assert!(parse_recipient(EXAMPLE_RECIPIENT).is_ok());
        let ok = Identity::generate().to_public().to_string();
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
            Err(EnvelopeError::NoRecipients)
        ));
        assert!(parse_identity("# nothing here\n").is_none());
        let id = Identity::generate();
        let text = format!("# public key: x\n{}\n", id.to_string().expose_secret());
        assert_eq!(
            parse_identity(&text).unwrap().to_public().to_string(),
            id.to_public().to_string()
        );
    }

    #[test]
    fn passphrase_files_round_trip() {
        let text =
            encrypt_with_passphrase(b"AGE-SECRET-KEY-1X", "hunter22".to_string().into()).unwrap();
        assert!(is_age_file(text.as_bytes()));
        assert!(!is_age_file(b"# created by age-keygen"));
        let back = decrypt_with_passphrase(text.as_bytes(), "hunter22".to_string().into());
        assert_eq!(back.unwrap(), b"AGE-SECRET-KEY-1X");
        assert!(decrypt_with_passphrase(text.as_bytes(), "wrong".to_string().into()).is_err());
    }

    #[test]
    fn headers_are_read_without_a_key() {
        let (v1, v2) = (Identity::generate(), Identity::generate());
        let doc_key = new_document_key();
        let plain = vec![7u8; 200_000];
        let ct = encrypt_document(&doc_key, &plain).unwrap();
        let h = read_header(&ct).unwrap();
        assert_eq!(h.x25519(), 1);
        assert!(h.only_x25519(), "{:?}", h.stanzas);
        assert!(ct[..h.len].ends_with(b"\n") && ct[..h.len].windows(4).any(|w| w == b"--- "));
        assert_eq!(
            plaintext_len(ct.len() as u64, h.len as u64),
            Some(plain.len() as u64)
        );
        for n in [0usize, 1, 65_535, 65_536, 65_537, 131_072] {
            let ct = encrypt_document(&doc_key, &vec![1u8; n]).unwrap();
            let h = read_header(&ct).unwrap();
            assert_eq!(
                plaintext_len(ct.len() as u64, h.len as u64),
                Some(n as u64),
                "{n}"
            );
        }
        let wrapped = wrap_key(&doc_key, &[v1.to_public(), v2.to_public()]).unwrap();
        let h = read_armored_header(&wrapped).unwrap();
        assert_eq!(h.x25519(), 2);
        let pass = encrypt_with_passphrase(b"x", "pw".to_string().into()).unwrap();
        let h = read_armored_header(&pass).unwrap();
        assert_eq!((h.x25519(), h.only_x25519()), (0, false));
    }

    #[test]
    fn malformed_headers_are_refused() {
        let ct = encrypt_document(&new_document_key(), b"%PDF-1.4").unwrap();
        let h = read_header(&ct).unwrap();
        assert!(
            read_header(&ct[..h.len - 1]).is_err(),
            "cut in the MAC line"
        );
        assert!(read_header(b"age-encryption.org/v2\n").is_err());
        assert!(read_header(b"age-encryption.org/v1\n--- AAAA\n").is_err());
        assert!(read_header(b"age-encryption.org/v1\n-> X25519 abc\n!!!\n").is_err());
        assert!(read_header(b"%PDF-1.4 plain").is_err());
        let mut no_stanza = b"age-encryption.org/v1\n--- ".to_vec();
        no_stanza.extend([b'A'; 43]);
        no_stanza.push(b'\n');
        assert!(read_header(&no_stanza).is_err(), "no recipient at all");
        assert_eq!(plaintext_len(10, 20), None);
        assert_eq!(plaintext_len(h.len as u64 + 16 + 15, h.len as u64), None);
        assert_eq!(
            plaintext_len(h.len as u64 + 16 + 65_552 + 16, h.len as u64),
            None,
            "an empty last chunk after a full one"
        );
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
