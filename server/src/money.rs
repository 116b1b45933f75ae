//! Money's plain types, below every domain module: LIVE amounts in integer units, the USD
//! rate and where it comes from, and Ethereum addresses (EIP-55 checked). No database, no
//! chain library: the ledger, settlement and the configuration all build on these.

use std::fmt;
use std::str::FromStr;

use sha3::{Digest, Keccak256};

/// Units per LIVE: amounts are integers of 1e-8 LIVE.
pub const UNITS_PER_LIVE: i64 = 100_000_000;
/// Decimals of a LIVE amount in the ledger.
pub const DECIMALS: usize = 8;

/// The mainnet LIVE token of the Live Stars whitepaper (chain id 1).
pub const MAINNET_LIVE_TOKEN: &str = "0x24a77c1f17c547105e14813e517be06b0040aa76";

/// A refused amount, with what a person should type instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AmountError(pub String);

/// Parse a decimal LIVE amount (`"12"`, `"0.5"`, `"0.00000001"`) into units. Refuses negative,
/// zero, more than 8 decimals, exponents, and anything that overflows.
pub fn parse_amount(s: &str) -> Result<i64, AmountError> {
    let bad = |why: &str| AmountError(format!("{s:?}: {why}"));
    let s = s.trim();
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() && frac.is_empty() {
        return Err(bad("not a number"));
    }
    if s.ends_with('.') {
        // "1." is most likely a slip of the finger before the decimals: say so, guess nothing.
        return Err(bad("digits must follow the decimal point, like 1.5"));
    }
    if !whole.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad("a positive decimal number of LIVE, like 1.5"));
    }
    if frac.len() > DECIMALS {
        return Err(bad("at most 8 decimals (the unit is 0.00000001 LIVE)"));
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad("too large"))?
    };
    let frac_units: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<8}")
            .parse()
            .map_err(|_| bad("not a number"))?
    };
    let units = whole
        .checked_mul(UNITS_PER_LIVE)
        .and_then(|w| w.checked_add(frac_units))
        .ok_or_else(|| bad("too large"))?;
    if units <= 0 {
        return Err(bad("must be more than zero"));
    }
    Ok(units)
}

/// Units as a decimal LIVE string without trailing zeros (`150000000` → `"1.5"`).
pub fn format_amount(units: i64) -> String {
    let sign = if units < 0 { "-" } else { "" };
    let u = units.unsigned_abs();
    let per = UNITS_PER_LIVE as u64;
    let (whole, frac) = (u / per, u % per);
    if frac == 0 {
        format!("{sign}{whole}")
    } else {
        let f = format!("{frac:08}");
        format!("{sign}{whole}.{}", f.trim_end_matches('0'))
    }
}

/// A rate in 1e-8 USD per LIVE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate(pub i64);

impl Rate {
    /// Parse a decimal USD price of one LIVE (`"0.05"`), at most 8 decimals.
    pub fn parse(s: &str) -> Option<Rate> {
        let s = s.trim();
        if s.is_empty() || s.starts_with('-') {
            return None;
        }
        // The same exact decimal parser as LIVE amounts (8 decimals); zero is allowed here.
        if s.chars().all(|c| c == '0' || c == '.') && s.contains('0') {
            return Some(Rate(0));
        }
        parse_amount(s).ok().map(Rate)
    }

    /// The USD value of `units` of LIVE, rounded half up to cents (`"12.35"`).
    pub fn usd(self, units: i64) -> String {
        // units (1e-8 LIVE) × rate (1e-8 USD/LIVE) / 1e8 = 1e-8 USD; cents = that / 1e6.
        let micro = i128::from(units) * i128::from(self.0);
        let per_cent = i128::from(UNITS_PER_LIVE) * 1_000_000;
        let neg = micro < 0;
        let cents = (micro.abs() + per_cent / 2) / per_cent;
        format!(
            "{}{}.{:02}",
            if neg && cents > 0 { "-" } else { "" },
            cents / 100,
            cents % 100
        )
    }

    pub fn to_decimal(self) -> String {
        format_amount(self.0)
    }
}

/// Where the USD rate comes from.
#[derive(Debug, Clone)]
pub enum PriceSource {
    None,
    Fixed(Rate),
    /// GET `url`, read the number or string at the JSON pointer `field` (e.g. `/live/usd`).
    Http {
        url: String,
        field: String,
    },
}

/// A refused address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AddrError(pub String);

/// An Ethereum address. Shown and stored as lower-case `0x` hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Addr(pub [u8; 20]);

impl Addr {
    /// The EIP-55 mixed-case form (`0x` + 40 hex digits, upper case where the Keccak-256 of
    /// the lower-case hex has a nibble ≥ 8).
    pub fn checksummed(&self) -> String {
        let lower = hex::encode(self.0);
        let hash = Keccak256::digest(lower.as_bytes());
        let mut out = String::with_capacity(42);
        out.push_str("0x");
        for (i, c) in lower.chars().enumerate() {
            let nibble = (hash[i / 2] >> if i % 2 == 0 { 4 } else { 0 }) & 0x0f;
            out.push(if nibble >= 8 {
                c.to_ascii_uppercase()
            } else {
                c
            });
        }
        out
    }
}

impl FromStr for Addr {
    type Err = AddrError;
    fn from_str(s: &str) -> Result<Addr, AddrError> {
        let bad = || {
            AddrError(format!(
                "{s:?} is not an Ethereum address (0x and 40 hex digits)"
            ))
        };
        let h = s.trim().strip_prefix("0x").ok_or_else(bad)?;
        if h.len() != 40 {
            return Err(bad());
        }
        let bytes = hex::decode(h).map_err(|_| bad())?;
        let mut a = [0u8; 20];
        a.copy_from_slice(&bytes);
        let a = Addr(a);
        // Mixed case is an EIP-55 checksum, and a checksum exists to catch typos: it must match.
        // All lower or all upper case carries none.
        let has_upper = h.chars().any(|c| c.is_ascii_uppercase());
        let has_lower = h.chars().any(|c| c.is_ascii_lowercase());
        if has_upper && has_lower && a.checksummed().trim_start_matches("0x") != h {
            return Err(AddrError(format!(
                "{s:?} has a wrong EIP-55 checksum (its mixed case): check the address for a typo"
            )));
        }
        Ok(a)
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vectors of EIP-55 itself.
    #[test]
    fn eip55_vectors() {
        for s in [
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
            "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        ] {
            let a: Addr = s.parse().unwrap();
            assert_eq!(a.checksummed(), s);
            assert_eq!(a.to_string(), s.to_ascii_lowercase());
        }
        // One letter's case flipped: refused; all lower or all upper: no checksum, accepted.
        assert!("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"
            .parse::<Addr>()
            .is_err());
        assert!("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
            .parse::<Addr>()
            .is_ok());
        assert!("0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED"
            .parse::<Addr>()
            .is_ok());
        for bad in ["", "0x", "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "0xzz"] {
            assert!(bad.parse::<Addr>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rates_price_amounts_in_cents() {
        let r = Rate::parse("0.05").unwrap();
        assert_eq!(r.usd(100 * UNITS_PER_LIVE), "5.00");
        assert_eq!(Rate::parse("0").unwrap().usd(UNITS_PER_LIVE), "0.00");
        assert!(Rate::parse("-1").is_none());
        assert_eq!(r.to_decimal(), "0.05");
    }
}
