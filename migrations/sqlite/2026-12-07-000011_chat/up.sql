-- Chat lines of a room, kept for the reconnect backlog and deleted after the retention time
-- (and with their author's account). No address or device of the author is stored.
CREATE TABLE chat_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id BIGINT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX chat_messages_room ON chat_messages (room_id, id);
CREATE INDEX chat_messages_user ON chat_messages (user_id);
