-- Sotto schema v10: one-time prekeys (docs/protocol.md §18.4; docs/api.md "Prekeys").
-- A device's uploaded one-time prekeys, each a signed `sotto/prekey` body the server verified
-- on upload. A claim deletes the device's oldest row and returns its body, so each prekey is
-- handed out once. `seq` orders a device's prekeys by upload; a device's rows go with it
-- (revocation deletes them explicitly, the purge of pending devices by the cascade).
CREATE TABLE prekeys (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device     BYTEA  NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    prekey_id  BYTEA  NOT NULL,
    body       BYTEA  NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (device, prekey_id)
);
CREATE INDEX prekeys_by_device ON prekeys(device, seq);
