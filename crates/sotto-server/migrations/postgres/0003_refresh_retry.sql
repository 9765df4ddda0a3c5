-- Sotto schema v3: a refresh whose answer was lost can be retried with a device proof.
-- `previous_refresh_hash` is the refresh token the current pair was issued for; `pair_used_at`
-- is when the current pair was first used (NULL: never). A spent token equal to
-- `previous_refresh_hash` while `pair_used_at` IS NULL may be re-presented with a signature of the
-- session's device (docs/protocol.md "Token refresh"); any other spent token revokes the session.
-- Existing sessions count as used, so nothing already spent becomes retryable.
ALTER TABLE sessions ADD COLUMN previous_refresh_hash BYTEA;
ALTER TABLE sessions ADD COLUMN pair_used_at BIGINT;
UPDATE sessions SET pair_used_at = created_at;
