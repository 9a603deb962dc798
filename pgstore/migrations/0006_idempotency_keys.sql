-- tasklife schema version 6: idempotency keys.
-- Runs with search_path set to the store's schema (see Migrate).

-- idempotency_keys records a client's Idempotency-Key with the task its
-- create or cancel answered with, written by the same statement as the
-- change: there is no change without its key, and no key without its
-- change. The primary key makes a second request with the key wait for
-- the first's commit and then fail, rolling its own change back.
CREATE TABLE idempotency_keys (
	caller      text COLLATE "C" NOT NULL,
	key         text COLLATE "C" NOT NULL,
	fingerprint text NOT NULL,
	-- task is the task as the operation left it, as jsonb (see
	-- pgstore/idempotency.go): the response is rendered from it, the
	-- first time and on every repeat.
	task        jsonb NOT NULL,
	created_at  timestamptz NOT NULL,
	PRIMARY KEY (caller, key)
);

-- Expiry deletes the oldest keys, a batch at a time.
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
