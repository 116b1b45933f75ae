//! Rate limits, held in memory only (an address is never written anywhere).
//!
//! Each limit is a token bucket per key — a client address or an account — of `count` tokens
//! that refills completely in `per_secs`. A request takes a token; an empty bucket answers 429
//! with `Retry-After` (the time until one token is back). Buckets are dropped once full again,
//! and the number kept is capped, so a flood from many addresses costs bounded memory.
//!
//! The client address is the TCP peer's, or — only when the peer is one of the configured
//! `trusted_proxies` — the last entry of the configured `client_ip_header`. IPv6 addresses
//! count per /64, the block a single subscriber usually holds.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix_web::HttpRequest;

use crate::config::{Config, ConfigError, Rate};

use super::error::ApiError;

/// Most buckets one limiter keeps; past it, full buckets are dropped first, then the oldest.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// One limit over many keys.
pub struct Limiter {
    rate: Option<Rate>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Limiter {
    pub fn new(rate: Option<Rate>) -> Limiter {
        Limiter {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn per_token(rate: Rate) -> f64 {
        rate.per_secs as f64 / f64::from(rate.count)
    }

    /// Take a token for `key`, or the seconds until one is back.
    pub fn take(&self, key: &str) -> Result<(), u64> {
        self.take_at(key, Instant::now())
    }

    fn refill(rate: Rate, b: &mut Bucket, now: Instant) {
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed / Self::per_token(rate)).min(f64::from(rate.count));
        b.at = now;
    }

    fn take_at(&self, key: &str, now: Instant) -> Result<(), u64> {
        let Some(rate) = self.rate else { return Ok(()) };
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_KEYS && !buckets.contains_key(key) {
            Self::prune(rate, &mut buckets, now);
        }
        let b = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: f64::from(rate.count),
            at: now,
        });
        Self::refill(rate, b, now);
        Self::wait(rate, b)?;
        b.tokens -= 1.0;
        Ok(())
    }

    /// `Ok` when the (refilled) bucket holds a token, else the seconds until it does.
    fn wait(rate: Rate, b: &Bucket) -> Result<(), u64> {
        if b.tokens >= 1.0 {
            Ok(())
        } else {
            Err(((1.0 - b.tokens) * Self::per_token(rate)).ceil().max(1.0) as u64)
        }
    }

    /// Whether `key` has a token left, without taking it (a check before slow work whose
    /// outcome decides whether the token is taken: failed sign-ins).
    pub fn check(&self, key: &str) -> Result<(), u64> {
        let Some(rate) = self.rate else { return Ok(()) };
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        match buckets.get_mut(key) {
            None => Ok(()),
            Some(b) => {
                Self::refill(rate, b, now);
                Self::wait(rate, b)
            }
        }
    }

    /// Forget `key` (a successful sign-in clears the account's failures).
    pub fn clear(&self, key: &str) {
        self.buckets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    fn prune(rate: Rate, buckets: &mut HashMap<String, Bucket>, now: Instant) {
        let full = f64::from(rate.count);
        let per = Self::per_token(rate);
        buckets.retain(|_, b| {
            let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
            b.tokens + elapsed / per < full
        });
        if buckets.len() >= MAX_KEYS {
            // Still full of active keys: drop the half that was touched longest ago.
            let mut ages: Vec<Instant> = buckets.values().map(|b| b.at).collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 2];
            buckets.retain(|_, b| b.at > cut);
        }
    }

    pub fn len(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Every limit of the instance.
pub struct Limits {
    pub sign_in_ip: Limiter,
    pub sign_in_failures: Limiter,
    pub sign_up_ip: Limiter,
    pub challenges_ip: Limiter,
    pub reports: Limiter,
    pub uploads: Limiter,
    pub tips: Limiter,
    pub follows: Limiter,
    pub chat: Limiter,
    pub streams: StreamCounter,
    header: Option<actix_web::http::header::HeaderName>,
    trusted: Vec<IpAddr>,
}

impl Limits {
    pub fn new(config: &Config) -> Result<Limits, ConfigError> {
        let l = &config.limits;
        Ok(Limits {
            sign_in_ip: Limiter::new(l.sign_in_per_ip()?),
            sign_in_failures: Limiter::new(l.sign_in_failures_per_account()?),
            sign_up_ip: Limiter::new(l.sign_up_per_ip()?),
            challenges_ip: Limiter::new(l.challenges_per_ip()?),
            reports: Limiter::new(l.reports_per_account()?),
            uploads: Limiter::new(l.uploads_per_account()?),
            tips: Limiter::new(l.tips_per_account()?),
            follows: Limiter::new(l.follows_per_account()?),
            chat: Limiter::new(l.chat_per_account()?),
            streams: StreamCounter::new(l.streams_per_ip, l.streams_total),
            header: (!config.client_ip_header.is_empty())
                .then(|| {
                    actix_web::http::header::HeaderName::try_from(config.client_ip_header.as_str())
                        .ok()
                })
                .flatten(),
            trusted: config
                .trusted_proxies
                .iter()
                .filter_map(|p| p.parse().ok())
                .collect(),
        })
    }

    /// The client's address as a limit key (IPv6 per /64).
    pub fn client_key(&self, req: &HttpRequest) -> String {
        let ip = self.client_ip(req);
        match ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let s = v6.segments();
                    format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
                }
            },
        }
    }

    fn client_ip(&self, req: &HttpRequest) -> IpAddr {
        let peer = req
            .peer_addr()
            .map(|a| a.ip())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let Some(header) = &self.header else {
            return peer;
        };
        if !self.trusted.contains(&peer) {
            return peer;
        }
        // The proxy appends the address it saw last: earlier entries are the client's to forge.
        req.headers()
            .get(header)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(peer)
    }

    /// Take a token of `limiter` for the caller's address.
    pub fn by_ip(&self, limiter: &Limiter, req: &HttpRequest) -> Result<(), ApiError> {
        limiter
            .take(&self.client_key(req))
            .map_err(ApiError::rate_limited)
    }

    /// Take a token of `limiter` for an account.
    pub fn by_account(&self, limiter: &Limiter, user_id: i64) -> Result<(), ApiError> {
        limiter
            .take(&user_id.to_string())
            .map_err(ApiError::rate_limited)
    }
}

/// Long-lived streams open per address and in total.
pub struct StreamCounter {
    per_ip: u32,
    total: u32,
    open: Arc<Mutex<HashMap<String, u32>>>,
    all: Arc<AtomicU32>,
}

/// Held while a stream is open; dropping it frees the slot.
pub struct StreamSlot {
    key: String,
    open: Arc<Mutex<HashMap<String, u32>>>,
    all: Arc<AtomicU32>,
}

impl StreamCounter {
    fn new(per_ip: u32, total: u32) -> StreamCounter {
        StreamCounter {
            per_ip,
            total,
            open: Arc::default(),
            all: Arc::default(),
        }
    }

    /// A slot for one more stream from `key`, or `None` at either cap.
    pub fn open(&self, key: String) -> Option<StreamSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if self.all.load(Ordering::SeqCst) >= self.total {
            return None;
        }
        let n = open.entry(key.clone()).or_insert(0);
        if *n >= self.per_ip {
            return None;
        }
        *n += 1;
        self.all.fetch_add(1, Ordering::SeqCst);
        Some(StreamSlot {
            key,
            open: self.open.clone(),
            all: self.all.clone(),
        })
    }

    pub fn total_open(&self) -> u32 {
        self.all.load(Ordering::SeqCst)
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.key);
            }
        }
        self.all.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_empties_and_refills() {
        let l = Limiter::new(Some(Rate {
            count: 3,
            per_secs: 30,
        }));
        let t = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.take_at("a", t), Ok(()));
        }
        assert_eq!(l.take_at("a", t), Err(10), "one token per 10 s");
        assert_eq!(l.take_at("b", t), Ok(()), "keys are apart");
        assert_eq!(l.take_at("a", t + Duration::from_secs(4)), Err(6));
        assert_eq!(l.take_at("a", t + Duration::from_secs(10)), Ok(()));
        assert!(l.take_at("a", t + Duration::from_secs(10)).is_err());
    }

    #[test]
    fn off_never_refuses() {
        let l = Limiter::new(None);
        for _ in 0..1000 {
            assert!(l.take("a").is_ok());
        }
        assert!(l.is_empty(), "nothing is kept");
    }

    #[test]
    fn memory_is_bounded() {
        let l = Limiter::new(Some(Rate {
            count: 1,
            per_secs: 3600,
        }));
        let t = Instant::now();
        for i in 0..(MAX_KEYS + 10) {
            let _ = l.take_at(&i.to_string(), t + Duration::from_micros(i as u64));
        }
        assert!(l.len() <= MAX_KEYS, "{}", l.len());
    }

    #[test]
    fn stream_slots_are_capped_and_freed() {
        let c = StreamCounter::new(2, 3);
        let a1 = c.open("a".into()).unwrap();
        let _a2 = c.open("a".into()).unwrap();
        assert!(c.open("a".into()).is_none(), "per address");
        let _b1 = c.open("b".into()).unwrap();
        assert!(c.open("c".into()).is_none(), "in total");
        drop(a1);
        assert!(c.open("c".into()).is_some());
        assert_eq!(c.total_open(), 2, "the slot for c was dropped at once");
    }
}
