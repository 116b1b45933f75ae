DROP TABLE leases;
DROP TABLE chain_identity;
DROP INDEX chain_deposits_transfer;
ALTER TABLE chain_deposits DROP COLUMN orphaned_at;
ALTER TABLE chain_deposits DROP COLUMN transfer_index;
