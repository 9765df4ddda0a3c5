-- Sotto schema v8: recovery, key backup, device hand-over, the history archive and retention
-- (docs/protocol.md §6.7, §14–§17; docs/api.md "Recovery", "Hand-over", "History").
-- A conversation's retention in seconds as the verified log last set it (SetRetention);
-- NULL: the server default (history.default_retention_secs); 0: kept for good.
ALTER TABLE conversations ADD COLUMN retention_secs BIGINT;
-- Attachments past retention are found by conversation and age.
CREATE INDEX attachments_by_conversation ON attachments(conversation, created_at);
-- One recovery set-up per account: the recovery id, the method (`key` or `passphrase`), the
-- Argon2id salt of a passphrase, and the verifier (a hash of the access key). The backup's
-- item count and bytes are kept here so the caps need no scan of the items.
CREATE TABLE recovery (
    user_id     BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    recovery_id BYTEA   NOT NULL,
    method      TEXT    NOT NULL,
    salt        BYTEA,
    verifier    BYTEA   NOT NULL,
    items       BIGINT  NOT NULL DEFAULT 0,
    bytes       BIGINT  NOT NULL DEFAULT 0,
    created_at  BIGINT  NOT NULL
);
-- Backup items (SignedSealed ciphertext under a key the server never has), by upload order.
CREATE TABLE backup_items (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    item_id    BYTEA   NOT NULL,
    body       BYTEA   NOT NULL,
    created_at BIGINT  NOT NULL,
    UNIQUE (user_id, item_id)
);
-- Hand-overs waiting for their recipient device (kept 30 days at most).
CREATE TABLE handovers (
    id         BYTEA   PRIMARY KEY,
    recipient  BYTEA   NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    sender     BYTEA   NOT NULL,
    body       BYTEA   NOT NULL,
    created_at BIGINT  NOT NULL
);
CREATE INDEX handovers_by_recipient ON handovers(recipient, created_at);
CREATE INDEX handovers_by_age ON handovers(created_at);
-- Every envelope of a conversation as received, kept for the conversation's retention.
CREATE TABLE archive (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation BYTEA   NOT NULL,
    message      BYTEA   NOT NULL,
    received_at  BIGINT  NOT NULL,
    body         BYTEA   NOT NULL
);
CREATE INDEX archive_by_conversation ON archive(conversation, seq);
