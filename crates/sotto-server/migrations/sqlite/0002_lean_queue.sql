-- Sotto schema v2: a lean relay queue. Each message row counts the copies still queued for it,
-- so dropping a body once its last copy is acknowledged needs no index from deliveries back to
-- messages: one random-keyed index fewer to update for every envelope and every ack.
ALTER TABLE messages ADD COLUMN copies INTEGER NOT NULL DEFAULT 0;
UPDATE messages SET copies = (SELECT count(*) FROM deliveries WHERE deliveries.message = messages.id);
DROP INDEX deliveries_by_message;
