DELETE FROM wallet_challenges WHERE purpose = 'delete_account';
ALTER TABLE wallet_challenges DROP CONSTRAINT wallet_challenges_purpose_check;
ALTER TABLE wallet_challenges ADD CONSTRAINT wallet_challenges_purpose_check
    CHECK (purpose IN ('bind', 'sign_in'));
ALTER TABLE id_documents DROP COLUMN key_commitment;
