-- Sotto schema v6: the relay log (D25). Each group commit appends one row holding the envelopes
-- it stored and the hot copies it saw acknowledged (format in src/store/relay_log.rs); the
-- writer keeps the same state in memory and settles it a slice of the id space at a time,
-- deleting rows once they and every older row are settled.
CREATE TABLE relay_log (
    id   INTEGER PRIMARY KEY,
    data BLOB    NOT NULL
);
-- Every settled message id, kept for good so that a reused id is refused. A settled envelope
-- with copies still queued also gets its `messages` row (and its `deliveries` rows); one
-- delivered while hot needs nothing else.
CREATE TABLE spent (
    id BLOB PRIMARY KEY
) WITHOUT ROWID;
INSERT INTO spent (id) SELECT id FROM messages;
