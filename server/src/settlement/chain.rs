//! The one place that speaks to an EVM chain, through ethers-rs. ethers is archived upstream:
//! every ethers type stays in this file, behind [`Chain`] and the plain types of
//! [`super`], so moving to another library touches this file only.

use std::str::FromStr;
use std::time::Duration;

use ethers_core::types::transaction::eip2718::TypedTransaction;
use ethers_core::types::{
    Address, BlockNumber, Bytes, Eip1559TransactionRequest, Filter, Signature, H256, U256, U64,
};
use ethers_core::utils::keccak256;
use ethers_providers::{Http, JsonRpcError, Middleware, Provider, ProviderError, RpcError};
use ethers_signers::{LocalWallet, Signer};

use super::{
    Addr, BlockRef, Chain, ChainError, Fees, Receipt, SendOutcome, SignedTx, TokenTransfer,
};

/// `keccak256("Transfer(address,address,uint256)")`, the ERC-20 transfer event's topic 0.
fn transfer_topic() -> H256 {
    H256::from(keccak256(b"Transfer(address,address,uint256)"))
}

fn addr(a: Addr) -> Address {
    Address::from(a.0)
}

fn from_addr(a: Address) -> Addr {
    Addr(a.0)
}

fn hex_hash(h: H256) -> String {
    format!("{h:#x}")
}

fn u128_of(v: U256) -> Result<u128, ChainError> {
    if v > U256::from(u128::MAX) {
        return Err(ChainError::Node(format!("{v} does not fit 128 bits")));
    }
    Ok(v.as_u128())
}

fn node_err(e: ProviderError) -> ChainError {
    ChainError::Node(e.to_string())
}

/// A chain reached over HTTP(S) JSON-RPC, with the instance's hot wallet for payouts.
pub struct EvmChain {
    provider: Provider<Http>,
    token: Address,
    treasury: Address,
    wallet: Option<LocalWallet>,
    chain_id: u64,
}

impl EvmChain {
    /// Connect to `rpc_url` for the token at `token`. `key_hex` is the hot wallet's secp256k1
    /// private key (the treasury); without it the treasury address must be given and the
    /// instance can watch deposits but not pay out.
    pub async fn connect(
        rpc_url: &str,
        token: Addr,
        key_hex: Option<&str>,
        treasury: Option<Addr>,
        poll: Duration,
    ) -> Result<EvmChain, ChainError> {
        let provider = Provider::<Http>::try_from(rpc_url)
            .map_err(|e| ChainError::Config(format!("chain_rpc_url: {e}")))?
            .interval(poll);
        let chain_id = provider.get_chainid().await.map_err(node_err)?.as_u64();
        let wallet = match key_hex {
            Some(k) => Some(
                LocalWallet::from_str(k.trim().trim_start_matches("0x"))
                    .map_err(|_| {
                        ChainError::Config(
                            "the hot wallet key is not a secp256k1 private key in hex".into(),
                        )
                    })?
                    .with_chain_id(chain_id),
            ),
            None => None,
        };
        let treasury = match (&wallet, treasury) {
            (Some(w), _) => w.address(),
            (None, Some(t)) => addr(t),
            (None, None) => {
                return Err(ChainError::Config(
                    "a treasury address or the hot wallet key is needed".into(),
                ))
            }
        };
        Ok(EvmChain {
            provider,
            token: addr(token),
            treasury,
            wallet,
            chain_id,
        })
    }

    async fn call(&self, data: Vec<u8>) -> Result<Bytes, ChainError> {
        let tx: TypedTransaction = Eip1559TransactionRequest::new()
            .to(self.token)
            .data(data)
            .into();
        self.provider.call(&tx, None).await.map_err(node_err)
    }
}

impl Chain for EvmChain {
    fn chain_id(&self) -> u64 {
        self.chain_id
    }

    async fn node_chain_id(&self) -> Result<u64, ChainError> {
        Ok(self
            .provider
            .get_chainid()
            .await
            .map_err(node_err)?
            .as_u64())
    }

    fn treasury(&self) -> Addr {
        from_addr(self.treasury)
    }

    fn can_sign(&self) -> bool {
        self.wallet.is_some()
    }

    async fn head(&self) -> Result<u64, ChainError> {
        Ok(self
            .provider
            .get_block_number()
            .await
            .map_err(node_err)?
            .as_u64())
    }

    async fn block(&self, number: u64) -> Result<Option<BlockRef>, ChainError> {
        let block = self
            .provider
            .get_block(BlockNumber::Number(U64::from(number)))
            .await
            .map_err(node_err)?;
        Ok(block.and_then(|b| {
            Some(BlockRef {
                number,
                hash: hex_hash(b.hash?),
                parent: hex_hash(b.parent_hash),
            })
        }))
    }

    async fn transfers_to_treasury(
        &self,
        from_block: u64,
        to_block: u64,
    ) -> Result<Vec<TokenTransfer>, ChainError> {
        let filter = Filter::new()
            .address(self.token)
            .topic0(transfer_topic())
            .topic2(H256::from(self.treasury))
            .from_block(from_block)
            .to_block(to_block);
        let logs = self.provider.get_logs(&filter).await.map_err(node_err)?;
        let mut out = Vec::with_capacity(logs.len());
        for log in logs {
            if log.removed == Some(true) {
                continue;
            }
            let (Some(n), Some(bh), Some(tx), Some(li)) = (
                log.block_number,
                log.block_hash,
                log.transaction_hash,
                log.log_index,
            ) else {
                continue;
            };
            if log.topics.len() != 3 || log.data.len() != 32 {
                continue;
            }
            let from = Address::from(log.topics[1]);
            let value = u128_of(U256::from_big_endian(&log.data))?;
            out.push(TokenTransfer {
                block_number: n.as_u64(),
                block_hash: hex_hash(bh),
                tx_hash: hex_hash(tx),
                log_index: li.as_u64(),
                from: from_addr(from),
                value,
            });
        }
        Ok(out)
    }

    async fn decimals(&self) -> Result<u8, ChainError> {
        let out = self
            .call(hex::decode("313ce567").unwrap_or_default())
            .await?;
        if out.len() != 32 {
            return Err(ChainError::Node("decimals() answered no uint8".into()));
        }
        let v = U256::from_big_endian(&out);
        if v > U256::from(77u8) {
            return Err(ChainError::Node(format!("decimals() = {v}")));
        }
        Ok(v.as_u32() as u8)
    }

    async fn token_balance(&self, of: Addr) -> Result<u128, ChainError> {
        let mut data = hex::decode("70a08231").unwrap_or_default();
        data.extend_from_slice(H256::from(addr(of)).as_bytes());
        let out = self.call(data).await?;
        if out.len() != 32 {
            return Err(ChainError::Node("balanceOf() answered no uint256".into()));
        }
        u128_of(U256::from_big_endian(&out))
    }

    async fn suggested_fees(&self) -> Result<Fees, ChainError> {
        let latest = self
            .provider
            .get_block(BlockNumber::Latest)
            .await
            .map_err(node_err)?
            .ok_or_else(|| ChainError::Node("no latest block".into()))?;
        let base = u128_of(latest.base_fee_per_gas.unwrap_or_default())?;
        let tip: U256 = self
            .provider
            .request("eth_maxPriorityFeePerGas", ())
            .await
            .unwrap_or_else(|_| U256::from(1_000_000_000u64));
        let priority = u128_of(tip)?;
        Ok(Fees {
            max_fee_per_gas: base.saturating_mul(2).saturating_add(priority),
            max_priority_fee_per_gas: priority,
        })
    }

    async fn chain_nonce(&self) -> Result<u64, ChainError> {
        Ok(self
            .provider
            .get_transaction_count(self.treasury, Some(BlockNumber::Latest.into()))
            .await
            .map_err(node_err)?
            .as_u64())
    }

    async fn nonce_at(&self, number: u64) -> Result<u64, ChainError> {
        Ok(self
            .provider
            .get_transaction_count(
                self.treasury,
                Some(BlockNumber::Number(U64::from(number)).into()),
            )
            .await
            .map_err(node_err)?
            .as_u64())
    }

    fn sign_transfer(
        &self,
        to: Addr,
        value: u128,
        nonce: u64,
        gas_limit: u64,
        fees: Fees,
    ) -> Result<SignedTx, ChainError> {
        let wallet = self
            .wallet
            .as_ref()
            .ok_or_else(|| ChainError::Config("no hot wallet key: payouts are off".into()))?;
        let mut data = hex::decode("a9059cbb").unwrap_or_default();
        data.extend_from_slice(H256::from(addr(to)).as_bytes());
        let mut amount = [0u8; 32];
        U256::from(value).to_big_endian(&mut amount);
        data.extend_from_slice(&amount);
        let tx: TypedTransaction = Eip1559TransactionRequest::new()
            .from(self.treasury)
            .to(self.token)
            .data(data)
            .value(0)
            .nonce(nonce)
            .gas(gas_limit)
            .max_fee_per_gas(fees.max_fee_per_gas)
            .max_priority_fee_per_gas(fees.max_priority_fee_per_gas)
            .chain_id(self.chain_id)
            .into();
        let sig = wallet
            .sign_transaction_sync(&tx)
            .map_err(|e| ChainError::Node(format!("signing failed: {e}")))?;
        let raw = tx.rlp_signed(&sig);
        Ok(SignedTx {
            hash: hex_hash(H256::from(keccak256(&raw))),
            raw: raw.to_vec(),
        })
    }

    async fn send_raw(&self, raw: &[u8]) -> Result<SendOutcome, ChainError> {
        let res: Result<H256, ProviderError> = self
            .provider
            .request("eth_sendRawTransaction", [Bytes::from(raw.to_vec())])
            .await;
        match res {
            Ok(_) => Ok(SendOutcome::Accepted),
            Err(e) => {
                let Some(JsonRpcError { message, .. }) = e.as_error_response().cloned() else {
                    // No answer from the node (network): nothing is known, try again later.
                    return Err(node_err(e));
                };
                let m = message.to_lowercase();
                Ok(
                    if m.contains("already known") || m.contains("already imported") {
                        SendOutcome::AlreadyKnown
                    } else if m.contains("nonce too low")
                        || m.contains("nonce has already been used")
                    {
                        SendOutcome::NonceTooLow
                    } else if m.contains("underpriced") || m.contains("replacement") {
                        SendOutcome::Underpriced
                    } else {
                        SendOutcome::Rejected(message)
                    },
                )
            }
        }
    }

    async fn receipt(&self, tx_hash: &str) -> Result<Option<Receipt>, ChainError> {
        let hash = H256::from_str(tx_hash).map_err(|_| ChainError::Node("bad hash".into()))?;
        let r = self
            .provider
            .get_transaction_receipt(hash)
            .await
            .map_err(node_err)?;
        Ok(r.and_then(|r| {
            Some(Receipt {
                block_number: r.block_number?.as_u64(),
                success: r.status == Some(U64::from(1)),
            })
        }))
    }

    async fn is_pending(&self, tx_hash: &str) -> Result<bool, ChainError> {
        let hash = H256::from_str(tx_hash).map_err(|_| ChainError::Node("bad hash".into()))?;
        Ok(self
            .provider
            .get_transaction(hash)
            .await
            .map_err(node_err)?
            .is_some())
    }
}

/// The address that signed `message` with EIP-191 `personal_sign` (65-byte hex signature,
/// `v` 27/28 or 0/1). Refuses anything that is not a valid signature.
pub fn personal_sign_signer(message: &str, signature_hex: &str) -> Result<Addr, ChainError> {
    let s = signature_hex.trim().trim_start_matches("0x");
    if s.len() != 130 {
        return Err(ChainError::BadSignature);
    }
    let sig = Signature::from_str(s).map_err(|_| ChainError::BadSignature)?;
    sig.recover(message)
        .map(from_addr)
        .map_err(|_| ChainError::BadSignature)
}

/// The address of a hex private key (for `livestars config check` and tests).
pub fn address_of_key(key_hex: &str) -> Result<Addr, ChainError> {
    LocalWallet::from_str(key_hex.trim().trim_start_matches("0x"))
        .map(|w| from_addr(w.address()))
        .map_err(|_| ChainError::Config("not a secp256k1 private key in hex".into()))
}

/// Sign `message` with EIP-191 `personal_sign` (tests and tools; the server never holds users'
/// keys).
pub fn personal_sign(key_hex: &str, message: &str) -> Result<String, ChainError> {
    let wallet = LocalWallet::from_str(key_hex.trim().trim_start_matches("0x"))
        .map_err(|_| ChainError::Config("not a secp256k1 private key in hex".into()))?;
    let hash = ethers_core::utils::hash_message(message);
    let sig = wallet
        .sign_hash(hash)
        .map_err(|e| ChainError::Node(e.to_string()))?;
    Ok(format!("0x{sig}"))
}

/// The EIP-55 mixed-case form of an address (as EIP-4361 messages show it).
pub fn checksum(a: Addr) -> String {
    ethers_core::utils::to_checksum(&addr(a), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The address checksum of `money` (our own Keccak) and the chain library's agree.
    #[test]
    fn eip55_checksums_agree_with_the_chain_library() {
        for i in 0..64u8 {
            let mut a = [0u8; 20];
            for (j, b) in a.iter_mut().enumerate() {
                *b = i.wrapping_mul(37).wrapping_add((j as u8).wrapping_mul(101)) ^ (j as u8) << 3;
            }
            let a = Addr(a);
            assert_eq!(a.checksummed(), checksum(a));
        }
    }
}
