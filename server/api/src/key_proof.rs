//! The proof that whoever decides about an ID document could read it.
//!
//! Every document is encrypted to its own age identity (the document key). Whoever holds that
//! identity — the uploader for a moment, and any verifier who unwraps it — can compute the
//! document's **key proof**: `SHA-256("livestars/iddoc-key-proof/v1\n" ‖ identity)`, where
//! `identity` is the `AGE-SECRET-KEY-1…` text. At upload the server (or the model's browser)
//! stores only the **commitment** `SHA-256("livestars/iddoc-key-commitment/v1\n" ‖ proof)`.
//! A decision or a re-wrap carries the proof; the server checks it against the commitment.
//! Neither value helps to decrypt the document (both are one-way from the identity), and an
//! admin who cannot unwrap the key cannot produce the proof.
//!
//! All values are lower-case hex. The test vectors below are shared by every implementation
//! (server, console, the web app's upload page).

use sha2::{Digest, Sha256};

const PROOF_TAG: &[u8] = b"livestars/iddoc-key-proof/v1\n";
const COMMITMENT_TAG: &[u8] = b"livestars/iddoc-key-commitment/v1\n";

/// The key proof of a document key, from its `AGE-SECRET-KEY-1…` text.
pub fn proof(identity: &str) -> String {
    let mut h = Sha256::new();
    h.update(PROOF_TAG);
    h.update(identity.trim().as_bytes());
    hex::encode(h.finalize())
}

/// The commitment stored at upload, from the proof (hex).
pub fn commitment(proof_hex: &str) -> Option<String> {
    let proof = hex::decode(proof_hex.trim()).ok()?;
    if proof.len() != 32 {
        return None;
    }
    let mut h = Sha256::new();
    h.update(COMMITMENT_TAG);
    h.update(&proof);
    Some(hex::encode(h.finalize()))
}

/// Whether `proof_hex` opens `commitment_hex`, compared in constant time.
pub fn opens(proof_hex: &str, commitment_hex: &str) -> bool {
    let Some(c) = commitment(proof_hex) else {
        return false;
    };
    let (a, b) = (c.as_bytes(), commitment_hex.trim().to_ascii_lowercase());
    let b = b.as_bytes();
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shared test vector: an identity (the example of the age README) with its proof and
    /// commitment.
    pub const IDENTITY: &str =
        "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX";
    pub const PROOF: &str = "198c8e7d2e542ade5e035882aca3142711ec3febe1daaec47c1f0d57f0b0b80d";
    pub const COMMITMENT: &str = "726dfe2d70bfc1c6ae0bc553a3707aec9e1a967c570ca33720fab95b508cc410";

    #[test]
    fn vectors() {
        assert_eq!(proof(IDENTITY), PROOF);
        assert_eq!(
            proof(&format!("  {IDENTITY}\n")),
            PROOF,
            "surrounding space ignored"
        );
        assert_eq!(commitment(PROOF).as_deref(), Some(COMMITMENT));
        assert!(opens(PROOF, COMMITMENT));
        assert!(opens(&PROOF.to_uppercase(), COMMITMENT));
    }

    #[test]
    fn wrong_or_malformed_proofs_open_nothing() {
        let other = proof("AGE-SECRET-KEY-1OTHER");
        assert!(!opens(&other, COMMITMENT));
        assert!(!opens("", COMMITMENT));
        assert!(!opens("zz", COMMITMENT));
        assert!(!opens(&PROOF[..62], COMMITMENT));
        assert!(
            !opens(COMMITMENT, COMMITMENT),
            "the commitment is not a proof of itself"
        );
    }
}
