DROP TABLE payout_attempts;
DROP TABLE payouts;
DROP TABLE signer_nonces;
DROP TABLE chain_deposits;
DROP TABLE chain_blocks;
DROP TABLE wallet_challenges;
DROP TABLE wallets;
