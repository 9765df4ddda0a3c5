-- Sotto schema v12: what the operator set on an account (`sotto-server admin users …`,
-- src/admin/users.rs). `disabled_at`: sign-ins are refused from then on. `deleted_at`: the
-- account's devices, sessions, queues, keys and uploads are gone; the row stays so that its
-- username and account id are never given to anyone else (docs/configuration.md
-- "Administration").
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
ALTER TABLE users ADD COLUMN deleted_at BIGINT;
