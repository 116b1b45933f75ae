//! The age envelope of ID documents is the shared `livestars-envelope` crate (the console reads
//! with the same code); this module adds the key commitment the server stores at upload.
//! Nothing else in the server touches age.

pub use livestars_envelope::{
    check_wrapped_key, decrypt_document, encrypt_document, encrypt_stream, new_document_key,
    parse_recipient, plaintext_len, read_armored_header, read_header, unwrap_key, wrap_key,
    EnvelopeError as CryptoError, ExposeSecret, Identity, Recipient,
};

/// The commitment to `doc_key`'s key proof, stored at upload (see `livestars_api::key_proof`).
pub fn key_commitment(doc_key: &Identity) -> String {
    let proof = livestars_api::key_proof::proof(doc_key.to_string().expose_secret());
    livestars_api::key_proof::commitment(&proof).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed vectors (made by the Go `age` CLI) open with the server's envelope.
    #[test]
    fn committed_vectors_open() {
        let me = livestars_envelope::parse_identity(include_str!(
            "../../../envelope/vectors/verifier-1.key"
        ))
        .unwrap();
        let wrapped = include_str!("../../../envelope/vectors/wrapped-key.age");
        let ct = include_bytes!("../../../envelope/vectors/document.age");
        let key = unwrap_key(wrapped, &me).unwrap();
        assert_eq!(
            decrypt_document(ct, &key).unwrap(),
            include_bytes!("../../../envelope/vectors/document.bin")
        );
        check_wrapped_key(wrapped).unwrap();
    }

    #[test]
    fn the_commitment_binds_the_document_key() {
        let (a, b) = (new_document_key(), new_document_key());
        assert_ne!(key_commitment(&a), key_commitment(&b));
        assert!(!key_commitment(&a).is_empty());
        assert!(!key_commitment(&a).contains(a.to_string().expose_secret()));
    }
}
