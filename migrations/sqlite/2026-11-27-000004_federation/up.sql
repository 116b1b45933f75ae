-- Federation over ActivityPub: signing keys of local actors, cached remote actors, follows in
-- both directions, federated room listings, the persistent delivery queue, per-instance
-- delivery state, operator domain policy, and the ids of activities already received.

CREATE TABLE actor_keys (
    -- '@instance' for the instance actor, otherwise the local username.
    name TEXT PRIMARY KEY,
    public_key_pem TEXT NOT NULL,
    private_key_pem TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE remote_actors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ap_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    username TEXT NOT NULL,
    domain TEXT NOT NULL,
    display_name TEXT NOT NULL,
    summary TEXT NOT NULL,
    icon_url TEXT,
    url TEXT,
    inbox TEXT NOT NULL,
    shared_inbox TEXT,
    followers_url TEXT,
    room_url TEXT,
    public_key_pem TEXT NOT NULL,
    fetched_at TIMESTAMP NOT NULL
);
CREATE INDEX remote_actors_handle ON remote_actors(username, domain);

-- A local account following a remote actor.
CREATE TABLE follows (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    remote_actor_id BIGINT NOT NULL REFERENCES remote_actors(id) ON DELETE CASCADE,
    activity_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'accepted')),
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, remote_actor_id)
);

-- A remote actor following a local model.
CREATE TABLE followers (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    remote_actor_id BIGINT NOT NULL REFERENCES remote_actors(id) ON DELETE CASCADE,
    activity_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, remote_actor_id)
);

-- Room listings of remote models, as their Video objects last said.
CREATE TABLE remote_rooms (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ap_id TEXT NOT NULL UNIQUE,
    remote_actor_id BIGINT NOT NULL REFERENCES remote_actors(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    tags TEXT NOT NULL,
    languages TEXT NOT NULL,
    status TEXT NOT NULL,
    viewer_count INTEGER NOT NULL,
    url TEXT,
    thumbnail_url TEXT,
    started_at TIMESTAMP,
    published_at TIMESTAMP,
    updated_at TIMESTAMP NOT NULL
);

-- Activities we send, kept until every delivery of them has ended.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    activity_id TEXT NOT NULL UNIQUE,
    actor_name TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    outbox_id BIGINT NOT NULL REFERENCES outbox(id) ON DELETE CASCADE,
    inbox TEXT NOT NULL,
    domain TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'rejected', 'dropped')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    last_error TEXT,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (outbox_id, inbox)
);
CREATE INDEX deliveries_due ON deliveries(state, next_attempt_at);

CREATE TABLE instances (
    domain TEXT PRIMARY KEY,
    failing_since TIMESTAMP,
    dead BOOLEAN NOT NULL DEFAULT FALSE,
    last_success_at TIMESTAMP,
    last_error TEXT,
    delivered INTEGER NOT NULL DEFAULT 0
);

-- Operator policy per domain: 'block' always; 'allow' matters in allowlist mode.
CREATE TABLE domain_policies (
    domain TEXT PRIMARY KEY,
    policy TEXT NOT NULL CHECK (policy IN ('block', 'allow')),
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Inbound activity ids already applied (idempotent receive) and the signature they came with
-- (an identical request again is a replay).
CREATE TABLE inbound_activities (
    activity_id TEXT PRIMARY KEY,
    signature_sha256 TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL
);
-- What the federation last sent of a room and a profile: a change newer than that is sent by
-- the delivery worker's sweep, whichever code path made it (Create once, then Update).
ALTER TABLE rooms ADD COLUMN federated_at TIMESTAMP;
ALTER TABLE rooms ADD COLUMN federated_status TEXT;
ALTER TABLE profiles ADD COLUMN federated_at TIMESTAMP;
-- A deleted account keeps its row (and so its username: an actor URL is never reused by
-- someone else); everything personal is gone.
ALTER TABLE users ADD COLUMN deleted_at TIMESTAMP;
-- Named links on a profile, as a JSON array of {"name", "url"} (federated as PropertyValue).
ALTER TABLE profiles ADD COLUMN links TEXT NOT NULL DEFAULT '[]';
