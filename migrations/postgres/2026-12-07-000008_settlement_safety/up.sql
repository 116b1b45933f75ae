-- A deposit is one transfer, wherever a reorganisation re-mines it: its identity is the
-- transaction and the transfer's position among that transaction's Transfer logs to the
-- treasury (the block's log index changes when the transaction lands in another block).
ALTER TABLE chain_deposits ADD COLUMN transfer_index BIGINT NOT NULL DEFAULT 0;
UPDATE chain_deposits SET transfer_index = (
    SELECT COUNT(*) FROM chain_deposits d2
    WHERE d2.tx_hash = chain_deposits.tx_hash AND d2.log_index < chain_deposits.log_index
);
CREATE UNIQUE INDEX chain_deposits_transfer ON chain_deposits(tx_hash, transfer_index);
-- Set when a reorganisation deeper than the confirmations removed a counted deposit's block;
-- cleared when the same transfer is seen again on the canonical chain.
ALTER TABLE chain_deposits ADD COLUMN orphaned_at TIMESTAMP;

-- The chain this database settles on: its id and genesis block, recorded on first contact.
-- A node that later reports another one stops settlement until an operator resolves it.
CREATE TABLE chain_identity (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    chain_id BIGINT NOT NULL,
    genesis_hash TEXT NOT NULL,
    recorded_at TIMESTAMP NOT NULL
);

-- Leases: one process at a time holds a named duty (the payout signer); others stand by.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
