//! The LIVE/USD rate shown next to every LIVE amount: a fixed rate from the settings, or an
//! HTTP JSON endpoint with a configured field, fetched at most once per cache period. A failed
//! fetch keeps the last known rate (with its time); without any rate, USD figures are `null`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::money::UNITS_PER_LIVE;

pub use crate::money::{PriceSource as Source, Rate};

pub struct Prices {
    source: Source,
    cache_for: Duration,
    client: reqwest::Client,
    cached: Mutex<Option<(Rate, Instant)>>,
}

impl Prices {
    pub fn new(source: Source, cache_for: Duration, client: reqwest::Client) -> Prices {
        Prices {
            source,
            cache_for,
            client,
            cached: Mutex::new(None),
        }
    }

    pub fn source_name(&self) -> &'static str {
        match self.source {
            Source::None => "none",
            Source::Fixed(_) => "fixed",
            Source::Http { .. } => "http",
        }
    }

    fn cached(&self) -> Option<(Rate, Instant)> {
        *self.cached.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The rate known now without fetching: fixed, or the last one fetched (however old).
    pub fn known_rate(&self) -> Option<Rate> {
        match &self.source {
            Source::None => None,
            Source::Fixed(r) => Some(*r),
            Source::Http { .. } => self.cached().map(|(r, _)| r),
        }
    }

    /// The current rate: fixed, or cached, or fetched now (a failure keeps the last rate).
    pub async fn rate(&self) -> Option<Rate> {
        match &self.source {
            Source::None => None,
            Source::Fixed(r) => Some(*r),
            Source::Http { url, field } => {
                if let Some((r, at)) = self.cached() {
                    if at.elapsed() < self.cache_for {
                        return Some(r);
                    }
                }
                match fetch(&self.client, url, field).await {
                    Ok(r) => {
                        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) =
                            Some((r, Instant::now()));
                        Some(r)
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "USD rate fetch failed; keeping the last rate");
                        self.cached().map(|(r, _)| r)
                    }
                }
            }
        }
    }
}

async fn fetch(client: &reqwest::Client, url: &str, field: &str) -> Result<Rate, String> {
    let res = client
        .get(url)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !res.status().is_success() {
        return Err(format!("status {}", res.status()));
    }
    let body = res.bytes().await.map_err(|e| e.to_string())?;
    if body.len() > 64 * 1024 {
        return Err("answer too large".into());
    }
    let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    let at = v
        .pointer(field)
        .ok_or_else(|| format!("no field {field:?} in the answer"))?;
    let text = match at {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s.clone(),
        _ => return Err(format!("{field:?} is not a number")),
    };
    // Numbers like 5e-2 or more than 8 decimals: round to 8 decimals through f64 only when the
    // exact parse fails (a price feed is not money we hold).
    Rate::parse(&text)
        .or_else(|| {
            text.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|f| Rate((f * UNITS_PER_LIVE as f64).round() as i64))
        })
        .ok_or_else(|| format!("{text:?} is not a price"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usd_rounds_half_up_to_cents() {
        let r = Rate::parse("0.05").unwrap();
        assert_eq!(r.usd(100 * UNITS_PER_LIVE), "5.00");
        assert_eq!(r.usd(UNITS_PER_LIVE / 10), "0.01"); // 0.005 → 0.01
        assert_eq!(r.usd(UNITS_PER_LIVE / 100), "0.00"); // 0.0005 → 0.00
        assert_eq!(
            Rate::parse("1234.5").unwrap().usd(3 * UNITS_PER_LIVE),
            "3703.50"
        );
        assert_eq!(r.usd(-100 * UNITS_PER_LIVE), "-5.00");
        assert_eq!(Rate::parse("0").unwrap().usd(UNITS_PER_LIVE), "0.00");
        assert!(Rate::parse("-1").is_none());
        assert!(Rate::parse("abc").is_none());
    }

    #[tokio::test]
    async fn an_http_source_is_read_and_cached() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = served.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf).await;
                let n = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let body = if n == 0 {
                    r#"{"live":{"usd":0.0625}}"#
                } else {
                    r#"{"live":{"usd":"0.07"}}"#
                };
                let _ = s
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .await;
            }
        });
        let prices = Prices::new(
            Source::Http {
                url: format!("http://127.0.0.1:{port}/price"),
                field: "/live/usd".into(),
            },
            Duration::from_millis(300),
            reqwest::Client::new(),
        );
        assert_eq!(prices.rate().await, Some(Rate(6_250_000)));
        assert_eq!(prices.rate().await, Some(Rate(6_250_000)), "cached");
        assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert_eq!(prices.rate().await, Some(Rate(7_000_000)), "refetched");
        let missing = Prices::new(
            Source::Http {
                url: format!("http://127.0.0.1:{port}/price"),
                field: "/nope".into(),
            },
            Duration::from_secs(60),
            reqwest::Client::new(),
        );
        assert_eq!(missing.rate().await, None);
    }
}
