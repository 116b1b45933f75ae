//! The bulk store: one ciphertext file per document under `<data_dir>/iddocs/`. Files are
//! written as `<key>.age.partial` and renamed when complete, so a crash never leaves a
//! truncated file under a final name. Plaintext never touches the disk: bytes go from the
//! request straight into the age stream, whose output is the only thing written.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::crypto as x25519;
use sha2::{Digest, Sha256};

use super::crypto::{self, CryptoError};

/// What an upload left behind: a ciphertext file and what the database records about it.
#[derive(Debug)]
pub struct Stored {
    pub storage_key: String,
    /// SHA-256 of the ciphertext file, hex.
    pub sha256: String,
    /// Plaintext size in bytes.
    pub size_bytes: i64,
    pub mime: &'static str,
    /// The document key, wrapped to the verifiers (armored age).
    pub wrapped_key: String,
    /// The commitment to the document key's proof ([`livestars_api::key_proof`]): a decision
    /// must carry the proof, which only someone who unwrapped the key can compute.
    pub key_commitment: String,
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the upload is empty")]
    Empty,
    #[error("an ID document must be a JPEG, PNG or PDF file")]
    UnsupportedType,
    #[error("the document is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("storage: {0}")]
    Io(#[from] io::Error),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("the document is not an age file encrypted to one document key: {0}")]
    NotSealed(String),
}

/// The document types accepted, recognised by their first bytes.
pub fn sniff_document(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if head.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else {
        None
    }
}

/// Bytes needed to decide the type.
const SNIFF_LEN: usize = 8;

pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("iddocs")
}

fn path_of(dir: &Path, key: &str) -> Option<PathBuf> {
    // Keys are generated here: 32 hex digits. Anything else never names a file.
    let valid = key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit());
    valid.then(|| dir.join(format!("{key}.age")))
}

struct Hashing<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Encrypt the chunks `next` yields into a new ciphertext file, to a fresh document key that is
/// then wrapped to `recipients`. `next` returns `None` at the end of the upload and an error if
/// the upload broke off (nothing is stored then). Blocking. On any error the partial file is
/// removed.
pub fn store_encrypted<B: AsRef<[u8]>>(
    dir: &Path,
    recipients: &[x25519::Recipient],
    limit: usize,
    next: impl FnMut() -> Option<io::Result<B>>,
) -> Result<Stored, UploadError> {
    if recipients.is_empty() {
        return Err(CryptoError::NoRecipients.into());
    }
    create_private_dir(dir)?;
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).map_err(|e| io::Error::other(e.to_string()))?;
    let key = hex::encode(raw);
    let final_path = dir.join(format!("{key}.age"));
    let partial = dir.join(format!("{key}.age.partial"));
    let result = write_file(&partial, recipients, limit, next);
    match result {
        Ok((sha256, size_bytes, mime, wrapped_key, key_commitment)) => {
            fs::rename(&partial, &final_path).inspect_err(|_| {
                let _ = fs::remove_file(&partial);
            })?;
            Ok(Stored {
                storage_key: key,
                sha256,
                size_bytes,
                mime,
                wrapped_key,
                key_commitment,
            })
        }
        Err(e) => {
            let _ = fs::remove_file(&partial);
            Err(e)
        }
    }
}

fn write_file<B: AsRef<[u8]>>(
    path: &Path,
    recipients: &[x25519::Recipient],
    limit: usize,
    mut next: impl FnMut() -> Option<io::Result<B>>,
) -> Result<(String, i64, &'static str, String, String), UploadError> {
    let doc_key = crypto::new_document_key();
    let file = create_private_file(path)?;
    let sink = Hashing {
        inner: BufWriter::with_capacity(256 * 1024, file),
        hasher: Sha256::new(),
    };
    let mut stream = crypto::encrypt_stream(&doc_key, sink)?;
    let mut head: Vec<u8> = Vec::with_capacity(SNIFF_LEN);
    let mut mime = None;
    let mut total = 0usize;
    while let Some(chunk) = next() {
        let chunk = chunk?;
        let chunk = chunk.as_ref();
        total += chunk.len();
        if total > limit {
            return Err(UploadError::TooLarge { limit });
        }
        if mime.is_some() {
            stream.write_all(chunk)?;
            continue;
        }
        // Hold the first bytes back until the type is known: nothing of a refused file is
        // written, even encrypted.
        head.extend_from_slice(chunk);
        if head.len() >= SNIFF_LEN {
            mime = Some(sniff_document(&head).ok_or(UploadError::UnsupportedType)?);
            stream.write_all(&head)?;
            head.clear();
        }
    }
    if total == 0 {
        return Err(UploadError::Empty);
    }
    let mime = match mime {
        Some(m) => m,
        None => {
            let m = sniff_document(&head).ok_or(UploadError::UnsupportedType)?;
            stream.write_all(&head)?;
            m
        }
    };
    let mut sink = stream.finish()?;
    sink.flush()?;
    let Hashing { inner, hasher } = sink;
    let file = inner.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    let wrapped = crypto::wrap_key(&doc_key, recipients)?;
    let commitment = crypto::key_commitment(&doc_key);
    Ok((
        hex::encode(hasher.finalize()),
        total as i64,
        mime,
        wrapped,
        commitment,
    ))
}

/// The most header bytes a sealed document may start with (one X25519 stanza and grease take
/// a few hundred).
const SEALED_HEADER_MAX: usize = 4096;

/// What a sealed upload left behind before its record: the file and what it says of itself.
#[derive(Debug)]
pub struct SealedFile {
    pub storage_key: String,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// Plaintext size, from the file's length and age's chunk layout.
    pub size_bytes: i64,
}

/// Store a document the model's browser already encrypted (an age file to its own document
/// key): the bytes `next` yields are written as they come, at most `limit` plaintext bytes.
/// Without reading it, the header must be well-formed with exactly one X25519 stanza (and
/// nothing but grease beside it) and the length must fit age's chunk layout. Blocking. On any
/// error nothing is left behind.
pub fn store_sealed<B: AsRef<[u8]>>(
    dir: &Path,
    limit: usize,
    mut next: impl FnMut() -> Option<io::Result<B>>,
) -> Result<SealedFile, UploadError> {
    create_private_dir(dir)?;
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).map_err(|e| io::Error::other(e.to_string()))?;
    let key = hex::encode(raw);
    let final_path = dir.join(format!("{key}.age"));
    let partial = dir.join(format!("{key}.age.partial"));
    let mut write = || -> Result<(String, i64), UploadError> {
        // Age adds a header, a nonce and 16 bytes per 64 KiB chunk.
        let max_total = limit + SEALED_HEADER_MAX + 16 + 16 * (limit / (64 * 1024) + 1);
        let mut sink = Hashing {
            inner: BufWriter::with_capacity(256 * 1024, create_private_file(&partial)?),
            hasher: Sha256::new(),
        };
        let mut head = Vec::with_capacity(SEALED_HEADER_MAX);
        let mut total = 0usize;
        while let Some(chunk) = next() {
            let chunk = chunk?;
            let chunk = chunk.as_ref();
            total += chunk.len();
            if total > max_total {
                return Err(UploadError::TooLarge { limit });
            }
            let room = SEALED_HEADER_MAX - head.len();
            head.extend_from_slice(&chunk[..chunk.len().min(room)]);
            sink.write_all(chunk)?;
        }
        if total == 0 {
            return Err(UploadError::Empty);
        }
        let not_sealed = |why: String| UploadError::NotSealed(why);
        let header = crypto::read_header(&head).map_err(|e| not_sealed(e.to_string()))?;
        if header.x25519() != 1 || !header.only_x25519() {
            return Err(not_sealed(format!(
                "its header has {} stanzas ({}); expected one X25519 stanza",
                header.stanzas.len(),
                header.stanzas.join(", ")
            )));
        }
        let plain = crypto::plaintext_len(total as u64, header.len as u64)
            .ok_or_else(|| not_sealed("its length does not fit age's chunks".into()))?;
        if plain == 0 {
            return Err(UploadError::Empty);
        }
        if plain > limit as u64 {
            return Err(UploadError::TooLarge { limit });
        }
        sink.flush()?;
        let Hashing { inner, hasher } = sink;
        let file = inner.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok((hex::encode(hasher.finalize()), plain as i64))
    };
    match write().and_then(|r| {
        fs::rename(&partial, &final_path)?;
        Ok(r)
    }) {
        Ok((sha256, size_bytes)) => Ok(SealedFile {
            storage_key: key,
            sha256,
            size_bytes,
        }),
        Err(e) => {
            let _ = fs::remove_file(&partial);
            Err(e)
        }
    }
}

pub use crate::files::{create_private_dir, create_private_file};

/// The ciphertext of a stored document.
pub fn read(dir: &Path, key: &str) -> io::Result<Vec<u8>> {
    let path = path_of(dir, key).ok_or_else(|| io::Error::other("invalid storage key"))?;
    fs::read(path)
}

/// Remove a ciphertext file; a file already gone is not an error.
pub fn remove(dir: &Path, key: &str) -> io::Result<()> {
    let Some(path) = path_of(dir, key) else {
        return Ok(());
    };
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Storage keys of the files present (complete ones only).
pub fn list(dir: &Path) -> io::Result<Vec<(String, std::time::SystemTime)>> {
    let mut out = vec![];
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        if let Some(key) = name.strip_suffix(".age") {
            if path_of(dir, key).is_some() {
                out.push((key.to_string(), entry.metadata()?.modified()?));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(data: &[u8], size: usize) -> impl FnMut() -> Option<io::Result<Vec<u8>>> + '_ {
        let mut it = data.chunks(size);
        move || it.next().map(|c| Ok(c.to_vec()))
    }

    #[test]
    fn stores_only_ciphertext_that_decrypts_back() {
        let dir = tempfile::tempdir().unwrap();
        let verifier = x25519::Identity::generate();
        let mut doc = b"%PDF-1.7\n".to_vec();
        doc.extend(b"PASSPORT NUMBER X1234567 ".repeat(2000));
        // One-byte chunks for the head: the type is still recognised across chunk boundaries.
        let stored = store_encrypted(
            dir.path(),
            &[verifier.to_public()],
            1 << 20,
            chunks(&doc, 3),
        )
        .unwrap();
        assert_eq!(stored.mime, "application/pdf");
        assert_eq!(stored.size_bytes as usize, doc.len());
        let ct = read(dir.path(), &stored.storage_key).unwrap();
        assert_eq!(hex::encode(Sha256::digest(&ct)), stored.sha256);
        assert!(!ct.windows(15).any(|w| w == b"PASSPORT NUMBER"));
        let key = crypto::unwrap_key(&stored.wrapped_key, &verifier).unwrap();
        assert_eq!(crypto::decrypt_document(&ct, &key).unwrap(), doc);
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no partial or plaintext files left");
    }

    #[test]
    fn refused_uploads_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let r = [x25519::Identity::generate().to_public()];
        let exe = b"MZ\x90\x00\x03\x00\x00\x00 program".repeat(10);
        assert!(matches!(
            store_encrypted(dir.path(), &r, 1 << 20, chunks(&exe, 4)),
            Err(UploadError::UnsupportedType)
        ));
        let big = [&[0xFF, 0xD8, 0xFF][..], &[0u8; 5000]].concat();
        assert!(matches!(
            store_encrypted(dir.path(), &r, 4096, chunks(&big, 1000)),
            Err(UploadError::TooLarge { limit: 4096 })
        ));
        assert!(matches!(
            store_encrypted(dir.path(), &r, 4096, chunks(b"", 1)),
            Err(UploadError::Empty)
        ));
        // A broken-off upload stores nothing, even after a valid start.
        let mut parts = vec![
            Ok(b"%PDF-1.7 start".to_vec()),
            Err(io::Error::other("reset")),
        ]
        .into_iter();
        assert!(matches!(
            store_encrypted(dir.path(), &r, 4096, move || parts.next()),
            Err(UploadError::Io(_))
        ));
        // Short but valid: a 3-byte JPEG start is recognised at the end of the stream.
        assert!(store_encrypted(dir.path(), &r, 4096, chunks(&[0xFF, 0xD8, 0xFF], 1)).is_ok());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn sealed_documents_are_stored_as_sent_and_checked_without_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let doc_key = crypto::new_document_key();
        let doc = [b"%PDF-1.7\n".as_slice(), &[9u8; 70_000]].concat();
        let ct = crypto::encrypt_document(&doc_key, &doc).unwrap();
        let stored = store_sealed(dir.path(), 1 << 20, chunks(&ct, 1000)).unwrap();
        assert_eq!(stored.size_bytes as usize, doc.len());
        let back = read(dir.path(), &stored.storage_key).unwrap();
        assert_eq!(back, ct);
        assert_eq!(hex::encode(Sha256::digest(&back)), stored.sha256);
        assert_eq!(crypto::decrypt_document(&back, &doc_key).unwrap(), doc);
        // Refused: plaintext, two recipients, a passphrase file, cut short, too large.
        // A second X25519 stanza copied into the header (the MAC is not checked here).
        let two = {
            let h = crypto::read_header(&ct).unwrap();
            let first = ct.iter().position(|&b| b == b'\n').unwrap() + 1;
            let mac = ct[..h.len].windows(4).position(|w| w == b"--- ").unwrap();
            let stanzas = &ct[first..mac];
            [&ct[..mac], stanzas, &ct[mac..]].concat()
        };
        for (what, bytes) in [
            ("plaintext", doc.clone()),
            ("two recipients", two),
            // Cut inside the last chunk's tag (a cut anywhere else only the key can tell).
            (
                "cut short",
                ct[..crypto::read_header(&ct).unwrap().len + 16 + 65_552 + 10].to_vec(),
            ),
        ] {
            let r = store_sealed(dir.path(), 1 << 20, chunks(&bytes, 1000));
            assert!(matches!(r, Err(UploadError::NotSealed(_))), "{what}: {r:?}");
        }
        assert!(matches!(
            store_sealed(dir.path(), 50_000, chunks(&ct, 1000)),
            Err(UploadError::TooLarge { limit: 50_000 })
        ));
        assert!(matches!(
            store_sealed(dir.path(), 1 << 20, chunks(b"", 1)),
            Err(UploadError::Empty)
        ));
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "only the good one"
        );
    }

    #[test]
    fn storage_keys_cannot_escape_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path(), "../../etc/passwd").is_err());
        assert!(remove(dir.path(), "../x").is_ok());
    }
}
