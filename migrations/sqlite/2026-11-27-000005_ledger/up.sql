-- The double-entry ledger. Amounts are integers of 1e-8 LIVE. Every change of a balance is a
-- transfer between two accounts; the sum of all balances is zero (the `chain` account holds
-- the negative of everything deposited and not paid out).

CREATE TABLE ledger_accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- NULL for the system accounts `instance` (its share of tips) and `chain` (the outside world).
    user_id BIGINT UNIQUE REFERENCES users(id),
    kind TEXT NOT NULL CHECK (kind IN ('user', 'instance', 'chain')),
    balance BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    CHECK (kind <> 'user' OR balance >= 0),
    CHECK ((kind = 'user') = (user_id IS NOT NULL))
);
CREATE UNIQUE INDEX ledger_system_accounts ON ledger_accounts(kind) WHERE user_id IS NULL;

CREATE TABLE ledger_transfers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    debit_account BIGINT NOT NULL REFERENCES ledger_accounts(id),
    credit_account BIGINT NOT NULL REFERENCES ledger_accounts(id),
    amount BIGINT NOT NULL CHECK (amount > 0),
    kind TEXT NOT NULL,
    reference TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    CHECK (debit_account <> credit_account)
);
CREATE INDEX ledger_transfers_debit ON ledger_transfers(debit_account);
CREATE INDEX ledger_transfers_credit ON ledger_transfers(credit_account);

CREATE TABLE tips (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tipper_id BIGINT NOT NULL REFERENCES users(id),
    model_id BIGINT NOT NULL REFERENCES users(id),
    room_id BIGINT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount > 0),
    model_share BIGINT NOT NULL,
    referral_total BIGINT NOT NULL,
    instance_share BIGINT NOT NULL,
    idempotency_key TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (tipper_id, idempotency_key),
    CHECK (model_share + referral_total + instance_share = amount)
);
CREATE INDEX tips_room_time ON tips(room_id, created_at);

-- Credited deposits, once per (transaction hash, log index).
CREATE TABLE deposits (
    tx_hash TEXT NOT NULL,
    log_index BIGINT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users(id),
    amount BIGINT NOT NULL CHECK (amount > 0),
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tx_hash, log_index)
);

-- Who brought an account here (sign-up through a referral link).
ALTER TABLE users ADD COLUMN referred_by BIGINT REFERENCES users(id);

INSERT INTO ledger_accounts (user_id, kind, balance, created_at) VALUES (NULL, 'instance', 0, CURRENT_TIMESTAMP);
INSERT INTO ledger_accounts (user_id, kind, balance, created_at) VALUES (NULL, 'chain', 0, CURRENT_TIMESTAMP);
