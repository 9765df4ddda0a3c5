-- Sotto schema v8: recovery, key backup, device hand-over, the history archive and retention
-- (docs/protocol.md §6.7, §14–§17; docs/api.md "Recovery", "Hand-over", "History").
-- A conversation's retention in seconds as the verified log last set it (SetRetention);
-- NULL: the server default (history.default_retention_secs); 0: kept for good.
ALTER TABLE conversations ADD COLUMN retention_secs INTEGER;
-- Attachments past retention are found by conversation and age.
CREATE INDEX attachments_by_conversation ON attachments(conversation, created_at);
-- One recovery set-up per account: the recovery id, the method (`key` or `passphrase`), the
-- Argon2id salt of a passphrase, and the verifier (a hash of the access key). The backup's
-- item count and bytes are kept here so the caps need no scan of the items.
CREATE TABLE recovery (
    user_id     INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    recovery_id BLOB    NOT NULL,
    method      TEXT    NOT NULL,
    salt        BLOB,
    verifier    BLOB    NOT NULL,
    items       INTEGER NOT NULL DEFAULT 0,
    bytes       INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);
-- Backup items (SignedSealed ciphertext under a key the server never has), by upload order.
CREATE TABLE backup_items (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    item_id    BLOB    NOT NULL,
    body       BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (user_id, item_id)
);
-- Hand-overs waiting for their recipient device (kept 30 days at most).
CREATE TABLE handovers (
    id         BLOB    PRIMARY KEY,
    recipient  BLOB    NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    sender     BLOB    NOT NULL,
    body       BLOB    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX handovers_by_recipient ON handovers(recipient, created_at);
CREATE INDEX handovers_by_age ON handovers(created_at);
-- Every envelope of a conversation as received, kept for the conversation's retention. `seq`
-- is the rowid (no AUTOINCREMENT: its bookkeeping row would be one more write per envelope on
-- the relay's commit path); it increases with arrival, and only once every newer row is gone can
-- a number come back.
CREATE TABLE archive (
    seq          INTEGER PRIMARY KEY,
    conversation BLOB    NOT NULL,
    message      BLOB    NOT NULL,
    received_at  INTEGER NOT NULL,
    body         BLOB    NOT NULL
);
CREATE INDEX archive_by_conversation ON archive(conversation, seq);
