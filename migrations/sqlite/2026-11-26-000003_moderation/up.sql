-- Suspension of accounts and viewers' reports about rooms.
ALTER TABLE users ADD COLUMN suspended_at TIMESTAMP;

CREATE TABLE reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    reporter_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    room_id BIGINT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    reason TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    resolution TEXT,
    resolved_by BIGINT,
    resolved_at TIMESTAMP
);
CREATE INDEX reports_status ON reports(status);
