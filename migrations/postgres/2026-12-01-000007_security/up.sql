-- The commitment to an ID document's key proof (livestars_api::key_proof): a decision or a
-- re-wrap must open it, which only someone who could unwrap the document key can do. NULL for
-- documents uploaded before it existed (those are decided by registered verifiers only).
ALTER TABLE id_documents ADD COLUMN key_commitment TEXT;

-- Wallet challenges may also confirm an account's deletion (wallet-only accounts have no
-- password).
ALTER TABLE wallet_challenges DROP CONSTRAINT wallet_challenges_purpose_check;
ALTER TABLE wallet_challenges ADD CONSTRAINT wallet_challenges_purpose_check
    CHECK (purpose IN ('bind', 'sign_in', 'delete_account'));
