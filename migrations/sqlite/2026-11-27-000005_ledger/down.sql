ALTER TABLE users DROP COLUMN referred_by;
DROP TABLE deposits;
DROP TABLE tips;
DROP TABLE ledger_transfers;
DROP TABLE ledger_accounts;
