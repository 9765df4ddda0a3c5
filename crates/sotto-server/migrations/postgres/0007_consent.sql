-- Sotto schema v7: consent and never-silent delivery (docs/api.md, "Requests and blocks" and
-- "Queue policy"; D32).
-- A member's status in a conversation: `accepted`, `request` (added by someone who is not a
-- contact yet) or `declined`; who added them and when; and how many envelopes the conversation
-- has routed to them while a request (bounded by limits.max_request_envelopes). Members of
-- conversations created before this step had no say; they are taken as accepted.
ALTER TABLE members ADD COLUMN status TEXT NOT NULL DEFAULT 'accepted';
ALTER TABLE members ADD COLUMN added_by BIGINT;
ALTER TABLE members ADD COLUMN added_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN request_envelopes BIGINT NOT NULL DEFAULT 0;
-- Who created a conversation, for limits.max_conversations_per_day.
ALTER TABLE conversations ADD COLUMN created_by BIGINT;
CREATE INDEX conversations_by_creator ON conversations(created_by, created_at);
-- Who blocks whom.
CREATE TABLE blocks (
    blocker    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    blocked    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (blocker, blocked)
);
-- Copies refused at send time, so that the sender device's retry of the same message (same
-- bytes, checked by hash) delivers them; kept limits.undelivered_ttl_secs.
CREATE TABLE undelivered (
    message        BYTEA   NOT NULL,
    device         BYTEA   NOT NULL,
    reason         TEXT    NOT NULL,
    sender_device  BYTEA   NOT NULL,
    sender_account BYTEA   NOT NULL,
    body_hash      BYTEA   NOT NULL,
    at             BIGINT  NOT NULL,
    PRIMARY KEY (message, device)
);
CREATE INDEX undelivered_by_pair ON undelivered(device, sender_account);
CREATE INDEX undelivered_by_age ON undelivered(at);
