//! Password hashing with bounded memory and concurrency.
//!
//! An argon2id hash with the default parameters works through 19 MiB. Allocating that per
//! request lets a flood of sign-ups or wrong sign-ins take gigabytes (one allocation per
//! concurrent hash, and the C allocator keeps what the many threads freed). Here a fixed set of
//! hashing threads — one per core — each own one 19 MiB working buffer for their whole life;
//! requests wait in a short bounded queue, and beyond it are refused at once ([`Busy`]), which
//! the HTTP layer answers with 503 and `Retry-After`. Memory stays `threads × 19 MiB` whatever
//! the load, and the rest of the server keeps its cores.
//!
//! The PHC strings are the standard ones (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`), so
//! hashes made before this module stay valid.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use super::Password;

/// Every hashing thread is busy and the queue is full: try again shortly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the server is busy checking passwords; try again in a second")]
pub struct Busy;

/// What can go wrong making a hash (never a wrong password: that is `false`).
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error(transparent)]
    Busy(#[from] Busy),
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// The working memory of one hash, reused from one hash to the next.
pub struct Workspace {
    blocks: Vec<Block>,
    /// argon2 computations made (each costs the same): every check makes exactly one, whatever
    /// the account — the timing cannot tell them apart.
    runs: u64,
}

impl Default for Workspace {
    fn default() -> Self {
        Workspace {
            blocks: vec![Block::default(); Params::default().block_count()],
            runs: 0,
        }
    }
}

fn argon2(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

impl Workspace {
    /// Hash `password` with a fresh salt: the PHC string to store.
    pub fn hash(&mut self, password: &[u8]) -> Result<String, HashError> {
        let failed = |e: &dyn std::fmt::Display| HashError::Failed(e.to_string());
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|e| failed(&e))?;
        let params = Params::default();
        let mut out = [0u8; 32];
        self.runs += 1;
        argon2(params.clone())
            .hash_password_into_with_memory(password, &salt, &mut out, &mut self.blocks[..])
            .map_err(|e| failed(&e))?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| failed(&e))?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(|e| failed(&e))?,
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
        };
        Ok(phc.to_string())
    }

    /// Whether `password` matches the PHC string `hash`. A string that is not an argon2 hash
    /// (a deleted or wallet-only account's marker) matches nothing, after the same work as a
    /// real check, so that the time taken tells nothing about the account.
    pub fn verify(&mut self, password: &[u8], hash: &str) -> bool {
        match self.check(password, hash) {
            Some(ok) => ok,
            None => {
                let _ = self.hash(password);
                false
            }
        }
    }

    /// `None` when `hash` cannot be checked (not an argon2id PHC string of sane parameters).
    fn check(&mut self, password: &[u8], hash: &str) -> Option<bool> {
        let parsed = PasswordHash::new(hash).ok()?;
        if parsed.algorithm != Algorithm::Argon2id.ident() {
            return None;
        }
        let params = Params::try_from(&parsed).ok()?;
        let expected = parsed.hash?;
        let mut salt = [0u8; 64];
        let salt = parsed.salt?.decode_b64(&mut salt).ok()?;
        let version = parsed
            .version
            .map(Version::try_from)
            .transpose()
            .ok()?
            .unwrap_or_default();
        let mut out = vec![0u8; expected.len()];
        let needed = params.block_count();
        let argon = Argon2::new(Algorithm::Argon2id, version, params);
        self.runs += 1;
        // Hashes of other parameters than ours (none are made today) get memory of their own,
        // bounded: nobody can store a hash here but the server itself.
        let result = if needed <= self.blocks.len() {
            argon.hash_password_into_with_memory(
                password,
                salt,
                &mut out,
                &mut self.blocks[..needed],
            )
        } else if needed <= 4 * self.blocks.len() {
            argon.hash_password_into(password, salt, &mut out)
        } else {
            return None;
        };
        result.ok()?;
        Some(Output::new(&out).ok()? == expected)
    }
}

enum Job {
    Hash {
        password: Password,
        reply: tokio::sync::oneshot::Sender<Result<String, HashError>>,
    },
    Verify {
        password: String,
        /// `None`: there is no such account; the check is made against nothing, for the time.
        hash: Option<String>,
        reply: tokio::sync::oneshot::Sender<bool>,
    },
}

/// The hashing threads and their queue. Cloning shares them.
#[derive(Clone)]
pub struct Hasher {
    jobs: SyncSender<Job>,
    threads: usize,
}

impl Hasher {
    /// `threads` hashing threads (0: one per core) and room for `queue` waiting requests.
    pub fn start(threads: usize, queue: usize) -> std::io::Result<Hasher> {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(2, usize::from)
        } else {
            threads
        };
        let (tx, rx) = sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("password-hash-{i}"))
                .spawn(move || worker(&rx))?;
        }
        Ok(Hasher { jobs: tx, threads })
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    fn submit(&self, job: Job) -> Result<(), Busy> {
        match self.jobs.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => Err(Busy),
        }
    }

    /// Hash a new password.
    pub async fn hash(&self, password: Password) -> Result<String, HashError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.submit(Job::Hash { password, reply })?;
        answer
            .await
            .map_err(|_| HashError::Failed("hashing thread ended".into()))?
    }

    /// Check `password` against `hash` (`None`: no such account — same time, always false).
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, Busy> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.submit(Job::Verify {
            password,
            hash,
            reply,
        })?;
        Ok(answer.await.unwrap_or(false))
    }
}

fn worker(jobs: &Mutex<Receiver<Job>>) {
    let mut space = Workspace::default();
    loop {
        let job = {
            let Ok(rx) = jobs.lock() else { return };
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        match job {
            Job::Hash { password, reply } => {
                let _ = reply.send(space.hash(password.expose().as_bytes()));
            }
            Job::Verify {
                password,
                hash,
                reply,
            } => {
                // No account: checked against no hash, which costs the same one run.
                let ok = space.verify(password.as_bytes(), hash.as_deref().unwrap_or(""));
                let _ = reply.send(ok);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_match_the_crates_own_format() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let mut space = Workspace::default();
        let ours = space.hash(b"correct horse").unwrap();
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        assert!(space.verify(b"correct horse", &ours));
        assert!(!space.verify(b"correct hors", &ours));
        // The crate's own verifier accepts ours, and ours accepts the crate's (older hashes).
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .is_ok());
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let theirs = Argon2::default()
            .hash_password(b"old password", &salt)
            .unwrap()
            .to_string();
        assert!(space.verify(b"old password", &theirs));
        assert!(!space.verify(b"old passwore", &theirs));
    }

    #[test]
    fn markers_match_nothing() {
        let mut space = Workspace::default();
        for marker in [
            "!deleted",
            "!wallet",
            "",
            "$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
        ] {
            assert!(!space.verify(b"anything", marker), "{marker}");
        }
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_at_once() {
        // One thread and room for one waiting request: of three sent at once, the thread takes
        // at most one and the queue holds one, so at least one is refused without waiting.
        let hasher = Hasher::start(1, 1).unwrap();
        let p = || Password::parse("a long enough password").unwrap();
        let (a, b, c) = tokio::join!(hasher.hash(p()), hasher.hash(p()), hasher.hash(p()));
        let results = [a, b, c];
        assert!(results.iter().any(|r| r.is_ok()), "{results:?}");
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(HashError::Busy(Busy)))),
            "{results:?}"
        );
    }
}
