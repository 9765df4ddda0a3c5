-- Sotto schema v1 (SQLite). Only hashes, public keys, signed public structures and opaque
-- ciphertext are stored here: no plaintext, no private key, no password, no token.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    master_key    BLOB,
    account_id    BLOB    UNIQUE,
    created_at    INTEGER NOT NULL
);

CREATE TABLE devices (
    id              BLOB    PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    state           TEXT    NOT NULL,
    signing_key     BLOB    NOT NULL,
    auth_key        BLOB    NOT NULL,
    name            TEXT    NOT NULL,
    certificate     BLOB,
    exchange_cert   BLOB,
    exchange_serial INTEGER,
    queued          INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL
);
CREATE INDEX devices_by_user ON devices(user_id, state);

CREATE TABLE revocations (
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    device     BLOB    NOT NULL,
    serial     INTEGER NOT NULL,
    body       BLOB    NOT NULL,
    PRIMARY KEY (user_id, device)
);

CREATE TABLE sessions (
    id              BLOB    PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    device          BLOB,
    access_hash     BLOB    NOT NULL UNIQUE,
    access_expires  INTEGER NOT NULL,
    refresh_hash    BLOB    UNIQUE,
    refresh_expires INTEGER NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX sessions_by_user ON sessions(user_id);

CREATE TABLE refresh_spent (
    hash       BLOB PRIMARY KEY,
    session_id BLOB NOT NULL REFERENCES sessions(id) ON DELETE CASCADE
);
CREATE INDEX refresh_spent_by_session ON refresh_spent(session_id);

CREATE TABLE challenges (
    nonce      BLOB    PRIMARY KEY,
    session_id BLOB    NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    device     BLOB    NOT NULL,
    issued_at  INTEGER NOT NULL
);

CREATE TABLE tickets (
    hash       BLOB    PRIMARY KEY,
    session_id BLOB    NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    expires    INTEGER NOT NULL
);

CREATE TABLE conversations (
    id         BLOB    PRIMARY KEY,
    created_at INTEGER NOT NULL
);

CREATE TABLE group_changes (
    conversation BLOB    NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    epoch        INTEGER NOT NULL,
    change       BLOB    NOT NULL,
    author       BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (conversation, epoch)
);

CREATE TABLE members (
    conversation BLOB    NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (conversation, user_id)
);
CREATE INDEX members_by_user ON members(user_id);

-- One row per message id, kept after delivery (body set to NULL) so a replayed id is refused.
CREATE TABLE messages (
    id             BLOB    PRIMARY KEY,
    conversation   BLOB    NOT NULL,
    sender_account BLOB    NOT NULL,
    sender_device  BLOB    NOT NULL,
    received_at    INTEGER NOT NULL,
    body           BLOB
);

-- One row per (recipient device, message) until the device acknowledges it.
CREATE TABLE deliveries (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    device  BLOB    NOT NULL,
    message BLOB    NOT NULL,
    UNIQUE (device, message)
);
CREATE INDEX deliveries_by_message ON deliveries(message);

CREATE TABLE attachments (
    id           BLOB    PRIMARY KEY,
    conversation BLOB    NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    uploader     INTEGER NOT NULL,
    size         INTEGER NOT NULL,
    body         BLOB    NOT NULL,
    created_at   INTEGER NOT NULL
);
