DROP TABLE audit_events;
DROP TABLE id_document_keys;
DROP TABLE id_documents;
DROP TABLE verifiers;
