-- The commitment to an ID document's key proof (livestars_api::key_proof): a decision or a
-- re-wrap must open it, which only someone who could unwrap the document key can do. NULL for
-- documents uploaded before it existed (those are decided by registered verifiers only).
ALTER TABLE id_documents ADD COLUMN key_commitment TEXT;

-- Wallet challenges may also confirm an account's deletion (wallet-only accounts have no
-- password). SQLite cannot change a CHECK constraint: the table is rebuilt. Challenges live ten
-- minutes; they are kept anyway.
CREATE TABLE wallet_challenges_new (
    nonce TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    purpose TEXT NOT NULL CHECK (purpose IN ('bind', 'sign_in', 'delete_account')),
    message TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
INSERT INTO wallet_challenges_new SELECT nonce, address, purpose, message, expires_at, used_at
    FROM wallet_challenges;
DROP TABLE wallet_challenges;
ALTER TABLE wallet_challenges_new RENAME TO wallet_challenges;
