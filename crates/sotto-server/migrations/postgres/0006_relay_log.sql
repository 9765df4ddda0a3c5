-- Sotto schema v6: the relay log of the SQLite backend (D25). PostgreSQL writes its queue
-- straight into `messages` and `deliveries` (bulk statements per group commit), so this step
-- changes nothing here; it keeps the two backends' version numbers in step.
SELECT 1;
