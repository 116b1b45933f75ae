//! The chain node's health as this process sees it: when it last answered, how far the watcher
//! has scanned, since when it fails, and whether settlement is halted because the node is on
//! another chain than the database settles (a changed genesis block or chain id).
//!
//! Held in memory and published by `GET /api/settlement`, the console's ledger screen and the
//! payout reasons; a halt is decided again by every process from the database's recorded
//! identity, so it survives restarts without a stored flag.

use std::sync::Mutex;

use chrono::NaiveDateTime;
use livestars_api::ChainHealth;

use crate::db::now;

#[derive(Debug, Default, Clone)]
struct State {
    configured: bool,
    head: Option<u64>,
    scanned_to: Option<u64>,
    last_contact: Option<NaiveDateTime>,
    failing: Option<(NaiveDateTime, String)>,
    halted: Option<String>,
}

/// Shared by the watcher, the signer and the HTTP handlers.
#[derive(Debug, Default)]
pub struct Health(Mutex<State>);

impl Health {
    pub fn new(configured: bool) -> Health {
        Health(Mutex::new(State {
            configured,
            ..State::default()
        }))
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    /// The node answered; `scanned_to` is the watcher's cursor when known.
    pub fn contact(&self, head: u64, scanned_to: Option<u64>) {
        self.with(|s| {
            s.head = Some(head);
            if scanned_to.is_some() {
                s.scanned_to = scanned_to;
            }
            s.last_contact = Some(now());
            s.failing = None;
        })
    }

    /// The node did not answer (or answered an error). Returns whether this is the first
    /// failure of a run (to log once, not every poll).
    pub fn failed(&self, error: &str) -> bool {
        self.with(|s| {
            let first = s.failing.is_none();
            let since = s.failing.as_ref().map_or_else(now, |(t, _)| *t);
            s.failing = Some((since, error.to_string()));
            first
        })
    }

    /// Stop settlement with an operator error. Returns whether it was not halted before.
    pub fn halt(&self, reason: &str) -> bool {
        self.with(|s| {
            let first = s.halted.as_deref() != Some(reason);
            s.halted = Some(reason.to_string());
            first
        })
    }

    /// Lift a halt (the node is back on the recorded chain).
    pub fn resume(&self) {
        self.with(|s| s.halted = None)
    }

    pub fn halted(&self) -> Option<String> {
        self.with(|s| s.halted.clone())
    }

    /// Whether deposits and payouts can move now.
    pub fn is_ok(&self) -> bool {
        self.with(|s| s.halted.is_none() && s.failing.is_none() && s.last_contact.is_some())
    }

    /// Why an in-flight payout waits, when the cause is the chain (else `None`).
    pub fn payout_reason(&self) -> Option<String> {
        self.with(|s| {
            if let Some(h) = &s.halted {
                return Some(format!(
                    "settlement is stopped by the instance: {h} The payout is sent once an operator resolves it."
                ));
            }
            s.failing.as_ref().map(|(since, _)| {
                format!(
                    "the chain node has not answered since {} UTC; the payout goes out as soon as it does",
                    since.format("%Y-%m-%d %H:%M:%S")
                )
            })
        })
    }

    /// The view of the chain's health. `detail` adds the last error as the node's client
    /// reported it: for admins only, since it names the node's address (which may carry an
    /// API key of the node's provider).
    pub fn view(&self, connected: bool, detail: bool) -> ChainHealth {
        self.with(|s| {
            let (status, message) = if !s.configured {
                ("off", Some("no chain node is configured on this instance".to_string()))
            } else if let Some(h) = &s.halted {
                ("halted", Some(h.clone()))
            } else if let Some((since, e)) = &s.failing {
                (
                    "unreachable",
                    Some(format!(
                        "the chain node has not answered since {} UTC{}; deposits are credited and payouts sent once it does",
                        since.format("%Y-%m-%d %H:%M:%S"),
                        if detail { format!(" ({e})") } else { String::new() }
                    )),
                )
            } else if !connected || s.last_contact.is_none() {
                (
                    "connecting",
                    Some("waiting for the chain node's first answer".to_string()),
                )
            } else {
                ("ok", None)
            };
            ChainHealth {
                status: status.into(),
                message,
                head: s.head,
                scanned_to: s.scanned_to,
                lag_blocks: s.head.zip(s.scanned_to).map(|(h, t)| h.saturating_sub(t)),
                last_contact_at: s.last_contact.map(|t| t.and_utc()),
                failing_since: s.failing.as_ref().map(|(t, _)| t.and_utc()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_keep_their_first_time_and_a_contact_clears_them() {
        let h = Health::new(true);
        assert_eq!(h.view(false, false).status, "connecting");
        h.contact(10, Some(8));
        assert!(h.is_ok());
        let v = h.view(true, false);
        assert_eq!((v.status.as_str(), v.lag_blocks), ("ok", Some(2)));
        assert!(h.failed("connection refused"), "first failure");
        let since = h.view(true, false).failing_since;
        assert!(!h.failed("connection refused"), "not logged again");
        let v = h.view(true, false);
        assert_eq!(v.status, "unreachable");
        assert_eq!(v.failing_since, since);
        let public = v.message.unwrap();
        assert!(public.contains("has not answered"));
        assert!(
            !public.contains("connection refused"),
            "the cause is the admins'"
        );
        let admin = h.view(true, true).message.unwrap();
        assert!(admin.contains("connection refused"), "{admin}");
        assert!(h.payout_reason().unwrap().contains("has not answered"));
        h.contact(11, None);
        assert!(h.is_ok());
        assert_eq!(h.view(true, false).scanned_to, Some(8));
        assert_eq!(h.payout_reason(), None);
    }

    #[test]
    fn a_halt_wins_over_everything_until_lifted() {
        let h = Health::new(true);
        h.contact(1, Some(1));
        assert!(h.halt("the genesis block changed."));
        assert!(!h.halt("the genesis block changed."), "said once");
        assert!(!h.is_ok());
        assert_eq!(h.view(true, false).status, "halted");
        assert!(h.payout_reason().unwrap().contains("genesis"));
        h.resume();
        assert!(h.is_ok());
        assert_eq!(Health::new(false).view(false, false).status, "off");
    }
}
