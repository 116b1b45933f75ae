-- Settlement on chain: wallets bound by signature, sign-in challenges, the chain watcher's
-- scanned blocks and seen deposits, payouts with every signed transaction kept before it is
-- broadcast, and the hot wallet's nonces.

-- One address per account, one account per address (lower-case 0x hex).
CREATE TABLE wallets (
    user_id BIGINT PRIMARY KEY REFERENCES users(id),
    address TEXT NOT NULL UNIQUE,
    bound_at TIMESTAMP NOT NULL
);

-- Server-issued messages to sign (EIP-4361 text, EIP-191 personal_sign); each nonce works once.
CREATE TABLE wallet_challenges (
    nonce TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    purpose TEXT NOT NULL CHECK (purpose IN ('bind', 'sign_in')),
    message TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);

-- Every block the watcher scanned, to notice a reorganisation and rescan.
CREATE TABLE chain_blocks (
    number BIGINT PRIMARY KEY,
    hash TEXT NOT NULL,
    parent_hash TEXT NOT NULL,
    scanned_at TIMESTAMP NOT NULL
);

-- LIVE transfers into the treasury. value and dust are token base units as decimal text
-- (they may exceed 64 bits); units is the ledger amount (1e-8 LIVE) credited.
CREATE TABLE chain_deposits (
    tx_hash TEXT NOT NULL,
    log_index BIGINT NOT NULL,
    block_number BIGINT NOT NULL,
    block_hash TEXT NOT NULL,
    from_address TEXT NOT NULL,
    value TEXT NOT NULL,
    units BIGINT NOT NULL CHECK (units >= 0),
    dust TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'credited', 'unattributed', 'dust')),
    user_id BIGINT REFERENCES users(id),
    seen_at TIMESTAMP NOT NULL,
    credited_at TIMESTAMP,
    PRIMARY KEY (tx_hash, log_index)
);
CREATE INDEX chain_deposits_status ON chain_deposits(status, block_number);
CREATE INDEX chain_deposits_from ON chain_deposits(from_address, status);

-- The next nonce of each signing address, owned by the one payout signer task.
CREATE TABLE signer_nonces (
    address TEXT PRIMARY KEY,
    next_nonce BIGINT NOT NULL
);

CREATE TABLE payouts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users(id),
    to_address TEXT NOT NULL,
    units BIGINT NOT NULL CHECK (units > 0),
    fee_units BIGINT NOT NULL CHECK (fee_units >= 0),
    value TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'signed', 'broadcast', 'confirmed', 'failed')),
    nonce BIGINT,
    tx_hash TEXT,
    block_number BIGINT,
    reason TEXT,
    idempotency_key TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    broadcast_at TIMESTAMP,
    UNIQUE (user_id, idempotency_key)
);
CREATE INDEX payouts_status ON payouts(status, id);

-- Every transaction signed for a payout (the first and each fee bump, same nonce), stored
-- before it is broadcast: after a crash the same bytes are sent again.
CREATE TABLE payout_attempts (
    tx_hash TEXT PRIMARY KEY,
    payout_id BIGINT NOT NULL REFERENCES payouts(id),
    nonce BIGINT NOT NULL,
    raw_tx TEXT NOT NULL,
    max_fee_per_gas BIGINT NOT NULL,
    max_priority_fee_per_gas BIGINT NOT NULL,
    signed_at TIMESTAMP NOT NULL,
    broadcast_at TIMESTAMP
);
CREATE INDEX payout_attempts_payout ON payout_attempts(payout_id);
