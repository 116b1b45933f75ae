CREATE TABLE wallet_challenges_old (
    nonce TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    purpose TEXT NOT NULL CHECK (purpose IN ('bind', 'sign_in')),
    message TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
INSERT INTO wallet_challenges_old SELECT nonce, address, purpose, message, expires_at, used_at
    FROM wallet_challenges WHERE purpose <> 'delete_account';
DROP TABLE wallet_challenges;
ALTER TABLE wallet_challenges_old RENAME TO wallet_challenges;
ALTER TABLE id_documents DROP COLUMN key_commitment;
