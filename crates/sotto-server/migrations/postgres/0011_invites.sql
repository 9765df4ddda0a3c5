-- Sotto schema v11: invitation codes for `registration = "invite"` (docs/configuration.md
-- "Registration"). The code itself is never stored: `code_hash` is SHA-256 of its 16 bytes,
-- looked up on sign-up; `id` (the hash's first 8 bytes) names it to the administrator. A code is
-- spent (`used_at`, `used_by`) in the transaction that creates the account; `revoked_at` marks a
-- withdrawn one. `used_by` is a plain user id (no foreign key): the record outlives a deleted
-- account until the purge removes it, 30 days after it was used, revoked or expired.
CREATE TABLE invites (
    code_hash  BYTEA   PRIMARY KEY,
    id         BYTEA   NOT NULL UNIQUE,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    used_at    BIGINT,
    used_by    BIGINT,
    revoked_at BIGINT
);
CREATE INDEX invites_by_expiry ON invites(expires_at);
