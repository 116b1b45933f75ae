//! Delivery and receipt rules that do not depend on storage: backoff, which answers are final,
//! freshness of a signed request, and recognising the signature scheme a sender used.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::protocol::FedError;

/// Wait before attempt `attempts + 1`: 1 s, 2 s, 4 s … doubled per failure, capped.
pub fn backoff(attempts: u32, cap: Duration) -> Duration {
    let exp = attempts.saturating_sub(1).min(30);
    Duration::from_secs(1u64 << exp).min(cap)
}

/// A receiver's answer, as the queue treats it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Delivered,
    /// 4xx other than 408 and 429: retrying cannot help.
    Permanent,
    /// 5xx, 408, 429, or no answer: try again later.
    Retry,
}

pub fn classify(status: u16) -> Answer {
    match status {
        200..=299 => Answer::Delivered,
        408 | 429 => Answer::Retry,
        400..=499 => Answer::Permanent,
        _ => Answer::Retry,
    }
}

/// How far a signed request's `Date` may be from our clock. Senders sign each attempt anew,
/// so a request older than this is stale or replayed.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// Refuse a request without a `Date` header, or one outside [`MAX_CLOCK_SKEW`].
pub fn check_date(date: Option<&str>, now: DateTime<Utc>) -> Result<(), FedError> {
    let date =
        date.ok_or_else(|| FedError::Unauthorized("the request has no Date header".into()))?;
    let at = httpdate::parse_http_date(date)
        .map_err(|_| FedError::Unauthorized(format!("unreadable Date header {date:?}")))?;
    let at: DateTime<Utc> = at.into();
    let skew = (now - at).num_seconds().unsigned_abs();
    if skew > MAX_CLOCK_SKEW.as_secs() {
        return Err(FedError::Unauthorized(format!(
            "the request is dated {date}, {skew} s away from now"
        )));
    }
    Ok(())
}

/// The actor a draft-cavage `Signature` header names through its `keyId` (fragment removed).
/// An RFC 9421 signature (`Signature-Input` present) is answered with 401 so that senders
/// that try it first fall back to draft-cavage.
pub fn signing_actor(
    signature: Option<&str>,
    signature_input: Option<&str>,
) -> Result<url::Url, FedError> {
    let Some(sig) = signature else {
        return Err(FedError::Unauthorized("the request is not signed".into()));
    };
    if signature_input.is_some() {
        return Err(FedError::Unauthorized(
            "RFC 9421 signatures are not accepted; sign with draft-cavage HTTP signatures".into(),
        ));
    }
    let key_id = sig
        .split(',')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim() == "keyId")
        .map(|(_, v)| v.trim().trim_matches('"'))
        .ok_or_else(|| FedError::Unauthorized("the signature has no keyId".into()))?;
    let mut url = url::Url::parse(key_id)
        .map_err(|_| FedError::Unauthorized(format!("keyId {key_id:?} is not a URL")))?;
    url.set_fragment(None);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let cap = Duration::from_secs(60);
        let got: Vec<u64> = (1..=9).map(|a| backoff(a, cap).as_secs()).collect();
        assert_eq!(got, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff(1000, cap).as_secs(), 60);
    }

    #[test]
    fn answers_are_classified_as_the_issue_says() {
        assert_eq!(classify(202), Answer::Delivered);
        assert_eq!(classify(403), Answer::Permanent);
        assert_eq!(classify(410), Answer::Permanent);
        assert_eq!(classify(408), Answer::Retry);
        assert_eq!(classify(429), Answer::Retry);
        assert_eq!(classify(503), Answer::Retry);
    }

    #[test]
    fn stale_and_future_dates_are_refused() {
        let now = Utc::now();
        let fmt = |t: DateTime<Utc>| httpdate::fmt_http_date(t.into());
        assert!(check_date(Some(&fmt(now)), now).is_ok());
        assert!(check_date(Some(&fmt(now - chrono::Duration::minutes(14))), now).is_ok());
        assert!(check_date(Some(&fmt(now - chrono::Duration::minutes(16))), now).is_err());
        assert!(check_date(Some(&fmt(now + chrono::Duration::minutes(16))), now).is_err());
        assert!(check_date(None, now).is_err());
        assert!(check_date(Some("yesterday"), now).is_err());
    }

    #[test]
    fn key_id_names_the_actor_and_rfc9421_gets_401() {
        let sig = r#"keyId="https://b.example/users/anna#main-key",algorithm="rsa-sha256",headers="(request-target) host date digest",signature="abc=""#;
        assert_eq!(
            signing_actor(Some(sig), None).unwrap().as_str(),
            "https://b.example/users/anna"
        );
        let e = signing_actor(Some("sig1=:abc:"), Some("sig1=(\"@method\")")).unwrap_err();
        assert_eq!(e.status().0, 401);
        assert_eq!(signing_actor(None, None).unwrap_err().status().0, 401);
    }
}
