-- Accounts, sessions, model profiles, avatars and rooms. Times are UTC without zone.
CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'model', 'admin')),
    created_at TIMESTAMP NOT NULL
);

-- Only the SHA-256 of a session token is stored: a database leak does not leak sessions.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('session', 'admin_api')),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP
);
CREATE INDEX sessions_user_id ON sessions(user_id);

CREATE TABLE profiles (
    user_id BIGINT PRIMARY KEY NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    bio TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '',
    languages TEXT NOT NULL DEFAULT '',
    avatar_mime TEXT,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE avatars (
    user_id BIGINT PRIMARY KEY NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    mime TEXT NOT NULL,
    bytes BYTEA NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE rooms (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    title TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'offline' CHECK (status IN ('offline', 'live', 'private')),
    viewer_count INTEGER NOT NULL DEFAULT 0 CHECK (viewer_count >= 0),
    guest_count INTEGER NOT NULL DEFAULT 0 CHECK (guest_count >= 0),
    started_at TIMESTAMP,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX rooms_status ON rooms(status);
