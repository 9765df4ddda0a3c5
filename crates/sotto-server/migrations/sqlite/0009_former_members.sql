-- Sotto schema v9: former members (docs/api.md "GET /v1/conversations/{conversation}").
-- A member a group change removed (or who left) may still read the log up to and including
-- that change, never after, so its client can verify its own removal. One row per
-- (conversation, user): the epoch of the latest change that removed the user.
CREATE TABLE former_members (
    conversation  BLOB    NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    removed_epoch INTEGER NOT NULL,
    PRIMARY KEY (conversation, user_id)
);
