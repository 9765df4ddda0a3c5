-- Sotto schema v4: an envelope with a single recipient keeps its body in its delivery row.
-- Acknowledging it then deletes that one row; the message row (its id, to refuse replays, and
-- its metadata) is written once and never rewritten. A message shared by several devices keeps
-- its body in the message row as before (deliveries.body NULL), so existing queues stay valid.
ALTER TABLE deliveries ADD COLUMN body BYTEA;
