//! Settlement in LIVE on an EVM chain: wallets bound by signature, deposits watched and credited
//! after N confirmations, payouts signed from the instance's hot wallet with nonces of our own,
//! and prices in USD.
//!
//! Only [`chain`] knows the chain library; everything else uses the plain types and the
//! [`Chain`] trait below.

pub mod chain;
pub mod health;
pub mod overview;
pub mod payouts;
pub mod prices;
pub mod wallets;
pub mod watcher;

use std::future::Future;

use crate::money::UNITS_PER_LIVE;

pub use crate::money::{Addr, MAINNET_LIVE_TOKEN};

impl From<crate::money::AddrError> for SettlementError {
    fn from(e: crate::money::AddrError) -> Self {
        SettlementError::Invalid(e.0)
    }
}

/// A scanned block: its number, hash and parent hash (lower-case `0x` hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRef {
    pub number: u64,
    pub hash: String,
    pub parent: String,
}

/// One ERC-20 `Transfer` log into the treasury.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenTransfer {
    pub block_number: u64,
    pub block_hash: String,
    pub tx_hash: String,
    pub log_index: u64,
    pub from: Addr,
    /// Token base units (10^-decimals LIVE).
    pub value: u128,
}

/// EIP-1559 fees in wei per gas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fees {
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
}

impl Fees {
    /// The fees of a replacement transaction: both raised by at least 12.5% (rounded up, and
    /// by at least 1 wei), which every common node accepts as a replacement, and never below
    /// what the chain asks now.
    pub fn bumped(self, now: Fees) -> Fees {
        let up = |v: u128| v.saturating_add(v.div_ceil(8).max(1));
        let priority = up(self.max_priority_fee_per_gas).max(now.max_priority_fee_per_gas);
        let max_fee = up(self.max_fee_per_gas)
            .max(now.max_fee_per_gas)
            .max(priority);
        Fees {
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: priority,
        }
    }
}

/// A signed raw transaction and its hash.
#[derive(Debug, Clone)]
pub struct SignedTx {
    pub raw: Vec<u8>,
    pub hash: String,
}

/// What the node said to a raw transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    Accepted,
    /// The node has it already (a rebroadcast of the same bytes).
    AlreadyKnown,
    /// The nonce is used on chain (by this transaction, a replacement, or another one).
    NonceTooLow,
    /// A transaction with this nonce and higher fees is pending.
    Underpriced,
    Rejected(String),
}

/// A mined transaction's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    pub block_number: u64,
    pub success: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("chain configuration: {0}")]
    Config(String),
    #[error("chain node: {0}")]
    Node(String),
    #[error("the signature is not valid")]
    BadSignature,
}

/// What settlement needs from a chain. Implemented by [`chain::EvmChain`] (ethers-rs).
pub trait Chain: Send + Sync + 'static {
    fn chain_id(&self) -> u64;
    /// The chain id the node reports now (it may have been replaced since we connected).
    fn node_chain_id(&self) -> impl Future<Output = Result<u64, ChainError>> + Send;
    /// The instance's treasury (deposits go there, payouts leave from there).
    fn treasury(&self) -> Addr;
    /// Whether the hot wallet's key is loaded (payouts possible).
    fn can_sign(&self) -> bool;
    fn head(&self) -> impl Future<Output = Result<u64, ChainError>> + Send;
    fn block(
        &self,
        number: u64,
    ) -> impl Future<Output = Result<Option<BlockRef>, ChainError>> + Send;
    /// The token's `Transfer` logs to the treasury in `from..=to`.
    fn transfers_to_treasury(
        &self,
        from_block: u64,
        to_block: u64,
    ) -> impl Future<Output = Result<Vec<TokenTransfer>, ChainError>> + Send;
    fn decimals(&self) -> impl Future<Output = Result<u8, ChainError>> + Send;
    fn token_balance(&self, of: Addr) -> impl Future<Output = Result<u128, ChainError>> + Send;
    fn suggested_fees(&self) -> impl Future<Output = Result<Fees, ChainError>> + Send;
    /// The treasury's mined transaction count (its next usable nonce on chain).
    fn chain_nonce(&self) -> impl Future<Output = Result<u64, ChainError>> + Send;
    /// The treasury's transaction count as of block `number`.
    fn nonce_at(&self, number: u64) -> impl Future<Output = Result<u64, ChainError>> + Send;
    /// Sign an ERC-20 `transfer(to, value)` from the treasury. Pure: nothing is sent.
    fn sign_transfer(
        &self,
        to: Addr,
        value: u128,
        nonce: u64,
        gas_limit: u64,
        fees: Fees,
    ) -> Result<SignedTx, ChainError>;
    fn send_raw(&self, raw: &[u8]) -> impl Future<Output = Result<SendOutcome, ChainError>> + Send;
    fn receipt(
        &self,
        tx_hash: &str,
    ) -> impl Future<Output = Result<Option<Receipt>, ChainError>> + Send;
    /// Whether the node knows the transaction (pending or mined).
    fn is_pending(&self, tx_hash: &str) -> impl Future<Output = Result<bool, ChainError>> + Send;
}

#[derive(Debug, thiserror::Error)]
pub enum SettlementError {
    #[error("{0}")]
    Invalid(String),
    #[error("settlement is not configured on this instance")]
    Disabled,
    #[error("settlement is stopped: {0}")]
    Halted(String),
    #[error("no such challenge: ask for a new message to sign")]
    UnknownChallenge,
    #[error("this message was signed already: ask for a new one")]
    ChallengeUsed,
    #[error("this message has expired: ask for a new one")]
    ChallengeExpired,
    #[error("the signature does not match the address of the message")]
    BadSignature,
    #[error("this address is bound to another account")]
    WalletTaken,
    #[error("bind a wallet first: payouts go to the account's bound address")]
    NoWallet,
    #[error("no such payout")]
    PayoutNotFound,
    #[error("this idempotency key was used for a different payout")]
    KeyReused,
    #[error("the account is suspended")]
    Suspended,
    #[error(transparent)]
    Ledger(#[from] crate::ledger::LedgerError),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    #[error(transparent)]
    Chain(#[from] ChainError),
}

impl From<crate::accounts::AccountError> for SettlementError {
    fn from(e: crate::accounts::AccountError) -> Self {
        use crate::accounts::AccountError as A;
        match e {
            A::Db(e) => SettlementError::Db(e),
            A::Suspended => SettlementError::Suspended,
            other => SettlementError::Invalid(other.to_string()),
        }
    }
}

impl From<diesel::result::Error> for SettlementError {
    fn from(e: diesel::result::Error) -> Self {
        SettlementError::Db(crate::db::DbError::Query(e))
    }
}

/// Token base units → ledger units (1e-8 LIVE), rounded down, and the remainder below one unit
/// in base units (kept with the deposit, never lost).
pub fn to_units(value: u128, decimals: u8) -> Result<(i64, u128), SettlementError> {
    let overflow = || SettlementError::Invalid(format!("{value} base units overflow the ledger"));
    let ledger_decimals = UNITS_PER_LIVE.ilog10() as u8;
    if decimals >= ledger_decimals {
        let per = 10u128
            .checked_pow(u32::from(decimals - ledger_decimals))
            .ok_or_else(overflow)?;
        let units = i64::try_from(value / per).map_err(|_| overflow())?;
        Ok((units, value % per))
    } else {
        let mul = 10u128.pow(u32::from(ledger_decimals - decimals));
        let units = value.checked_mul(mul).ok_or_else(overflow)?;
        Ok((i64::try_from(units).map_err(|_| overflow())?, 0))
    }
}

/// Ledger units → token base units, exactly. A token coarser than the ledger's unit can only
/// carry multiples of its own unit: anything else is refused (never rounded).
pub fn to_base(units: i64, decimals: u8) -> Result<u128, SettlementError> {
    let units =
        u128::try_from(units).map_err(|_| SettlementError::Invalid("a negative amount".into()))?;
    let ledger_decimals = UNITS_PER_LIVE.ilog10() as u8;
    if decimals >= ledger_decimals {
        10u128
            .checked_pow(u32::from(decimals - ledger_decimals))
            .and_then(|per| units.checked_mul(per))
            .ok_or_else(|| SettlementError::Invalid("the amount overflows the token".into()))
    } else {
        let div = 10u128.pow(u32::from(ledger_decimals - decimals));
        if units % div != 0 {
            return Err(SettlementError::Invalid(format!(
                "the token has {decimals} decimals: the amount must be a multiple of {}",
                crate::ledger::format_amount(div as i64)
            )));
        }
        Ok(units / div)
    }
}

/// The chain as connected: the node, and the token's decimals read from it.
pub struct Connected {
    pub chain: std::sync::Arc<chain::EvmChain>,
    pub decimals: u8,
}

/// What connecting to the chain needs, from the settings.
#[derive(Clone)]
struct ChainSettings {
    rpc_url: String,
    chain_id: u64,
    token: Addr,
    key: Option<String>,
    treasury: Option<Addr>,
}

/// Settlement as the running instance holds it.
pub struct Service {
    settings: Option<ChainSettings>,
    /// Set once the node answered: until then (and without a node configured) binding wallets
    /// and tips work; deposits are not watched and payouts answer 409 `settlement_disabled`.
    connected: std::sync::OnceLock<Connected>,
    pub prices: prices::Prices,
    /// Wakes the payout signer when a payout is queued.
    pub wake: std::sync::Arc<tokio::sync::Notify>,
    /// The chain node's health, as the watcher and the signer see it.
    pub health: std::sync::Arc<health::Health>,
    lease_secs: u64,
    pub origin: wallets::Origin,
    pub fee_units: i64,
    confirmations: u64,
    scan_blocks: u64,
    start_block: Option<u64>,
    gas_limit: u64,
    bump_after: std::time::Duration,
    pause_after_sign: bool,
    pub poll: std::time::Duration,
}

impl Service {
    /// Read the settings (a wrong key, token or rate source is an error now) and try the node
    /// once: a node that does not answer yet is retried in the background by [`Service::spawn`];
    /// a node on another chain than configured is an error.
    pub async fn start(config: &crate::config::Config) -> Result<Service, SettlementError> {
        let poll = std::time::Duration::from_millis(config.chain_poll_ms.max(10));
        let fee_units = config
            .payout_fee_units()
            .map_err(|e| SettlementError::Invalid(e.to_string()))?;
        let source = config
            .price_source()
            .map_err(|e| SettlementError::Invalid(e.to_string()))?;
        // The workspace's reqwest brings rustls without a provider: ring, as everywhere here.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .user_agent(concat!("livestars/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SettlementError::Invalid(e.to_string()))?;
        let prices = prices::Prices::new(
            source,
            std::time::Duration::from_secs(config.usd_rate_cache_secs),
            client,
        );
        let settings = if config.chain_rpc_url.is_empty() {
            None
        } else {
            let token = config
                .token_address()
                .map_err(|e| SettlementError::Invalid(e.to_string()))?;
            let key = if config.chain_key_file.as_os_str().is_empty() {
                None
            } else {
                let k = std::fs::read_to_string(&config.chain_key_file).map_err(|e| {
                    SettlementError::Invalid(format!(
                        "chain_key_file {}: {e}",
                        config.chain_key_file.display()
                    ))
                })?;
                chain::address_of_key(&k)?;
                warn_if_shared(&config.chain_key_file);
                Some(k)
            };
            let treasury = if config.chain_treasury.is_empty() {
                None
            } else {
                Some(config.chain_treasury.parse()?)
            };
            Some(ChainSettings {
                rpc_url: config.chain_rpc_url.clone(),
                chain_id: config.chain_id,
                token,
                key,
                treasury,
            })
        };
        let service = Service {
            settings,
            connected: std::sync::OnceLock::new(),
            prices,
            wake: std::sync::Arc::new(tokio::sync::Notify::new()),
            health: std::sync::Arc::new(health::Health::new(!config.chain_rpc_url.is_empty())),
            lease_secs: config.payout_lease_secs,
            origin: wallets::Origin {
                domain: url_host(&config.public_url),
                uri: config.public_url.clone(),
                chain_id: config.chain_id,
            },
            fee_units,
            confirmations: config.chain_confirmations,
            scan_blocks: config.chain_scan_blocks,
            start_block: config.chain_start_block,
            gas_limit: config.payout_gas_limit,
            bump_after: std::time::Duration::from_secs(config.payout_bump_after_secs),
            pause_after_sign: std::env::var("LIVESTARS_TEST_PAUSE_AFTER_SIGN").as_deref()
                == Ok("1"),
            poll,
        };
        match service.connect().await {
            Ok(()) | Err(SettlementError::Disabled) => {}
            Err(SettlementError::Chain(ChainError::Node(e))) => {
                tracing::error!(error = %e, "the chain node does not answer; deposits and payouts wait until it does");
            }
            Err(e) => return Err(e),
        }
        Ok(service)
    }

    /// Connect to the node once: check its chain id, read the token's decimals.
    async fn connect(&self) -> Result<(), SettlementError> {
        if self.connected.get().is_some() {
            return Ok(());
        }
        let s = self.settings.as_ref().ok_or(SettlementError::Disabled)?;
        let c =
            chain::EvmChain::connect(&s.rpc_url, s.token, s.key.as_deref(), s.treasury, self.poll)
                .await?;
        if c.chain_id() != s.chain_id {
            return Err(SettlementError::Invalid(format!(
                "the chain node reports chain id {}, the settings say {}",
                c.chain_id(),
                s.chain_id
            )));
        }
        let decimals = c.decimals().await?;
        let _ = self.connected.set(Connected {
            chain: std::sync::Arc::new(c),
            decimals,
        });
        Ok(())
    }

    /// The chain, once connected.
    pub fn connected(&self) -> Option<&Connected> {
        self.connected.get()
    }

    /// Run the chain watcher and the payout signer (with a hot wallet key), after connecting
    /// (retried with backoff while the node does not answer).
    pub fn spawn(
        self: &std::sync::Arc<Self>,
        db: &crate::db::Db,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        if self.settings.is_none() {
            return vec![];
        }
        let (me, db) = (self.clone(), db.clone());
        vec![tokio::spawn(async move {
            let mut wait = std::time::Duration::from_secs(1);
            while let Err(e) = me.connect().await {
                if !matches!(e, SettlementError::Chain(ChainError::Node(_))) {
                    tracing::error!(error = %e, "settlement stays off");
                    me.health.halt(&e.to_string());
                    return;
                }
                me.health.failed(&e.to_string());
                tracing::warn!(error = %e, retry_in = ?wait, "the chain node does not answer");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(60));
            }
            let Some(c) = me.connected() else { return };
            let watch = watcher::WatchConfig {
                confirmations: me.confirmations,
                batch_blocks: me.scan_blocks,
                start_block: me.start_block,
                decimals: c.decimals,
            };
            let watcher = watcher::run(
                c.chain.clone(),
                db.clone(),
                watch,
                me.poll,
                me.health.clone(),
            );
            if c.chain.can_sign() {
                let pay = payouts::PayoutConfig {
                    decimals: c.decimals,
                    confirmations: me.confirmations,
                    gas_limit: me.gas_limit,
                    bump_after: me.bump_after,
                    poll: me.poll,
                    pause_after_sign: me.pause_after_sign,
                    lease: std::time::Duration::from_secs(me.lease_secs),
                };
                let signer = payouts::Signer::new(
                    c.chain.clone(),
                    db,
                    pay,
                    me.wake.clone(),
                    me.health.clone(),
                );
                tokio::join!(watcher, signer.run());
            } else {
                watcher.await;
            }
        })]
    }

    /// The payout-capable chain and the token's decimals, or [`SettlementError::Disabled`]
    /// (no node or no key), or [`SettlementError::Halted`] (the node is on another chain).
    pub fn payout_chain(&self) -> Result<&Connected, SettlementError> {
        let c = self
            .connected()
            .filter(|c| c.chain.can_sign())
            .ok_or(SettlementError::Disabled)?;
        if let Some(why) = self.health.halted() {
            return Err(SettlementError::Halted(why));
        }
        Ok(c)
    }
}

/// `https://live.example:8443/x` → `live.example:8443` (the EIP-4361 domain).
fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest).to_string()
}

/// The hot wallet's key file should be the server's alone (0600): say so loudly when it is not.
fn warn_if_shared(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    file = %path.display(),
                    mode = format!("{mode:o}"),
                    "chain_key_file is readable by other users: chmod 600 it"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eighteen_decimals_keep_the_remainder_as_dust() {
        // 1.5 LIVE and 7 wei: 150000000 units and 7 base units of dust.
        let v = 1_500_000_000_000_000_000u128 + 7;
        assert_eq!(to_units(v, 18).unwrap(), (150_000_000, 7));
        // Less than one unit: all dust.
        assert_eq!(to_units(9_999_999_999, 18).unwrap(), (0, 9_999_999_999));
        assert_eq!(to_base(150_000_000, 18).unwrap(), 1_500_000_000_000_000_000);
        // Round trip of the credited part is exact.
        let (u, dust) = to_units(v, 18).unwrap();
        assert_eq!(to_base(u, 18).unwrap() + dust, v);
    }

    #[test]
    fn coarser_and_equal_tokens_convert_exactly() {
        assert_eq!(to_units(123, 8).unwrap(), (123, 0));
        assert_eq!(to_units(5, 6).unwrap(), (500, 0));
        assert_eq!(to_base(500, 6).unwrap(), 5);
        let err = to_base(501, 6).unwrap_err().to_string();
        assert!(err.contains("multiple of 0.000001"), "{err}");
        assert_eq!(to_base(123, 8).unwrap(), 123);
    }

    #[test]
    fn overflow_and_negative_are_refused() {
        assert!(to_units(u128::MAX, 18).is_err());
        assert!(to_units(u128::MAX / 10, 0).is_err());
        assert!(to_base(-1, 18).is_err());
        assert!(to_base(i64::MAX, 77).is_err());
    }

    #[test]
    fn replacement_fees_rise_by_at_least_an_eighth() {
        let old = Fees {
            max_fee_per_gas: 1_000,
            max_priority_fee_per_gas: 8,
        };
        let low = Fees {
            max_fee_per_gas: 1,
            max_priority_fee_per_gas: 1,
        };
        let b = old.bumped(low);
        assert_eq!(b.max_fee_per_gas, 1_125);
        assert_eq!(b.max_priority_fee_per_gas, 9);
        // 1 wei still rises.
        let tiny = Fees {
            max_fee_per_gas: 1,
            max_priority_fee_per_gas: 1,
        }
        .bumped(low);
        assert_eq!(tiny.max_fee_per_gas, 2);
        // The chain asking more now wins.
        let high = Fees {
            max_fee_per_gas: 5_000,
            max_priority_fee_per_gas: 50,
        };
        assert_eq!(old.bumped(high), high);
    }

    #[test]
    fn addresses_parse_and_print_lower_case() {
        let a: Addr = "0x24A77c1F17C547105E14813e517be06b0040aa76"
            .parse()
            .unwrap();
        assert_eq!(a.to_string(), MAINNET_LIVE_TOKEN);
        assert!("24a77c1f17c547105e14813e517be06b0040aa76"
            .parse::<Addr>()
            .is_err());
        assert!("0x24a7".parse::<Addr>().is_err());
        // A wrong checksum (one letter's case flipped) is a typo caught; none is fine.
        let e = "0x24a77c1F17C547105E14813e517be06b0040aa76"
            .parse::<Addr>()
            .unwrap_err();
        assert!(e.to_string().contains("checksum"), "{e}");
        assert!("0x24A77C1F17C547105E14813E517BE06B0040AA76"
            .parse::<Addr>()
            .is_ok());
        assert!("0xzz4a77c1f17c547105e14813e517be06b0040aa7"
            .parse::<Addr>()
            .is_err());
    }
}
