-- A dancer who deletes their journal leaves a tombstone: a SHA-256 of their
-- anonymous id (not the id itself) and when. Actions of that id up to that
-- time are never written again, even when the actions stream (which keeps
-- them until it expires) is replayed into this database.

-- +goose Up
CREATE TABLE deleted_clients (
    client_hash text        PRIMARY KEY,
    deleted_at  timestamptz NOT NULL
);

-- +goose Down
DROP TABLE deleted_clients;
