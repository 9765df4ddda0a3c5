-- Sotto schema v5: the attachment bytes each account has stored, next to the account, so an
-- upload is checked against the per-account quota and counted by one conditional UPDATE
-- (limits.max_attachment_bytes_per_account). Existing attachments are counted here.
ALTER TABLE users ADD COLUMN attachment_bytes INTEGER NOT NULL DEFAULT 0;
UPDATE users SET attachment_bytes =
    (SELECT COALESCE(SUM(a.size), 0) FROM attachments a WHERE a.uploader = users.id);
