//! ActivityPub for Live Stars: wire types, WebFinger, NodeInfo, signatures and the delivery
//! queue logic. It knows nothing of diesel; the server implements its storage trait.
//!
//! - [`objects`]: the JSON documents we publish (Person, Application, Video, Note) and parse.
//! - [`protocol`]: the storage trait the server implements and the `activitypub_federation`
//!   glue (remote actors, inbound activities, stored outgoing activities).
//! - [`delivery`]: backoff, final answers, request freshness, signature scheme detection.
//! - [`nodeinfo`]: WebFinger and NodeInfo 2.1 documents.
#![forbid(unsafe_code)]

pub mod delivery;
pub mod nodeinfo;
pub mod objects;
pub mod protocol;

pub use activitypub_federation as apf;
pub use async_trait::async_trait;
pub use url::{ParseError as UrlError, Url};

use std::fmt;

/// Why an `acct:` address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcctError {
    #[error("an account address looks like name@host")]
    Shape,
    #[error("the name part is empty or has characters outside a-z, 0-9, _, ., -")]
    Name,
    #[error("the host part is empty or not a DNS name with an optional port")]
    Host,
}

/// An account address `name@host`, as used by WebFinger (`acct:name@host`) and typed by users
/// (`@name@host`). Names are compared case-insensitively and kept in lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Acct {
    pub name: String,
    pub host: String,
}

impl Acct {
    pub fn parse(s: &str) -> Result<Acct, AcctError> {
        let s = s.trim();
        let s = s.strip_prefix("acct:").unwrap_or(s);
        let s = s.strip_prefix('@').unwrap_or(s);
        let (name, host) = s.split_once('@').ok_or(AcctError::Shape)?;
        let name = name.to_ascii_lowercase();
        let host = host.to_ascii_lowercase();
        let name_ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !name_ok {
            return Err(AcctError::Name);
        }
        let (hostname, port) = match host.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host.as_str(), None),
        };
        let host_ok = !hostname.is_empty()
            && hostname
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
            && port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
        if !host_ok {
            return Err(AcctError::Host);
        }
        Ok(Acct { name, host })
    }
}

impl fmt::Display for Acct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_spellings() {
        for s in [
            "alice@stars.example",
            "@Alice@Stars.Example",
            "acct:alice@stars.example",
        ] {
            let a = Acct::parse(s).unwrap();
            assert_eq!(a.to_string(), "alice@stars.example");
        }
        assert_eq!(
            Acct::parse("bob@127.0.0.1:8080").unwrap().host,
            "127.0.0.1:8080"
        );
    }

    #[test]
    fn refuses_malformed() {
        assert_eq!(Acct::parse("alice"), Err(AcctError::Shape));
        assert_eq!(Acct::parse("@stars.example"), Err(AcctError::Shape));
        assert_eq!(Acct::parse("@@stars.example"), Err(AcctError::Name));
        assert_eq!(Acct::parse("al/ice@stars.example"), Err(AcctError::Name));
        assert_eq!(Acct::parse("alice@"), Err(AcctError::Host));
        assert_eq!(Acct::parse("alice@host:99999"), Err(AcctError::Host));
        assert_eq!(Acct::parse("alice@ho st"), Err(AcctError::Host));
    }
}
