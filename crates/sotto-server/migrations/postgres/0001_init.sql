-- Sotto schema v1 (PostgreSQL). Only hashes, public keys, signed public structures and opaque
-- ciphertext are stored here: no plaintext, no private key, no password, no token.
CREATE TABLE users (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    master_key    BYTEA,
    account_id    BYTEA    UNIQUE,
    created_at    BIGINT NOT NULL
);

CREATE TABLE devices (
    id              BYTEA    PRIMARY KEY,
    user_id         BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    state           TEXT    NOT NULL,
    signing_key     BYTEA    NOT NULL,
    auth_key        BYTEA    NOT NULL,
    name            TEXT    NOT NULL,
    certificate     BYTEA,
    exchange_cert   BYTEA,
    exchange_serial BIGINT,
    queued          BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL
);
CREATE INDEX devices_by_user ON devices(user_id, state);

CREATE TABLE revocations (
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    device     BYTEA    NOT NULL,
    serial     BIGINT NOT NULL,
    body       BYTEA    NOT NULL,
    PRIMARY KEY (user_id, device)
);

CREATE TABLE sessions (
    id              BYTEA    PRIMARY KEY,
    user_id         BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    device          BYTEA,
    access_hash     BYTEA    NOT NULL UNIQUE,
    access_expires  BIGINT NOT NULL,
    refresh_hash    BYTEA    UNIQUE,
    refresh_expires BIGINT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions(user_id);

CREATE TABLE refresh_spent (
    hash       BYTEA PRIMARY KEY,
    session_id BYTEA NOT NULL REFERENCES sessions(id) ON DELETE CASCADE
);
CREATE INDEX refresh_spent_by_session ON refresh_spent(session_id);

CREATE TABLE challenges (
    nonce      BYTEA    PRIMARY KEY,
    session_id BYTEA    NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    device     BYTEA    NOT NULL,
    issued_at  BIGINT NOT NULL
);

CREATE TABLE tickets (
    hash       BYTEA    PRIMARY KEY,
    session_id BYTEA    NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    expires    BIGINT NOT NULL
);

CREATE TABLE conversations (
    id         BYTEA    PRIMARY KEY,
    created_at BIGINT NOT NULL
);

CREATE TABLE group_changes (
    conversation BYTEA    NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    epoch        BIGINT NOT NULL,
    change       BYTEA    NOT NULL,
    author       BYTEA    NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (conversation, epoch)
);

CREATE TABLE members (
    conversation BYTEA    NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    user_id      BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (conversation, user_id)
);
CREATE INDEX members_by_user ON members(user_id);

-- One row per message id, kept after delivery (body set to NULL) so a replayed id is refused.
CREATE TABLE messages (
    id             BYTEA    PRIMARY KEY,
    conversation   BYTEA    NOT NULL,
    sender_account BYTEA    NOT NULL,
    sender_device  BYTEA    NOT NULL,
    received_at    BIGINT NOT NULL,
    body           BYTEA
);

-- One row per (recipient device, message) until the device acknowledges it.
CREATE TABLE deliveries (
    seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device  BYTEA    NOT NULL,
    message BYTEA    NOT NULL,
    UNIQUE (device, message)
);
CREATE INDEX deliveries_by_message ON deliveries(message);

CREATE TABLE attachments (
    id           BYTEA    PRIMARY KEY,
    conversation BYTEA    NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    uploader     BIGINT NOT NULL,
    size         BIGINT NOT NULL,
    body         BYTEA    NOT NULL,
    created_at   BIGINT NOT NULL
);
