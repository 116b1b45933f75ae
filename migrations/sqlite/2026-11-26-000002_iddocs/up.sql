-- ID documents, envelope-encrypted with age. The bulk ciphertext lives in files under the data
-- directory; the per-document key, wrapped to the verifiers' age recipients, lives in
-- id_document_keys. Deleting the key row makes every copy of the ciphertext unreadable.

-- An admin's age X25519 recipient (public key). Identities (private keys) never reach the server.
CREATE TABLE verifiers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    recipient TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE id_documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'deleted')),
    -- File name of the ciphertext under <data_dir>/iddocs; NULL once the file is removed.
    storage_key TEXT,
    sha256 TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    mime TEXT NOT NULL,
    uploaded_at TIMESTAMP NOT NULL,
    decided_at TIMESTAMP,
    decided_by BIGINT,
    -- Only the fact of adulthood is kept, never the date of birth.
    adult BOOLEAN NOT NULL DEFAULT FALSE,
    valid_until DATE,
    reject_reason TEXT,
    deleted_at TIMESTAMP,
    -- Under a retention policy: when the key is shredded. NULL when nothing is retained.
    shred_after TIMESTAMP
);
CREATE INDEX id_documents_user_id ON id_documents(user_id);
CREATE INDEX id_documents_status ON id_documents(status);

CREATE TABLE id_document_keys (
    document_id BIGINT PRIMARY KEY NOT NULL REFERENCES id_documents(id) ON DELETE CASCADE,
    -- ASCII-armored age file holding the per-document identity, encrypted to `recipients`.
    wrapped_key TEXT NOT NULL,
    recipients TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- Who did what when, without personal data. No foreign keys: the trail outlives accounts.
CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TIMESTAMP NOT NULL,
    actor_id BIGINT,
    subject_id BIGINT,
    document_id BIGINT,
    action TEXT NOT NULL
);
CREATE INDEX audit_events_at ON audit_events(at);
