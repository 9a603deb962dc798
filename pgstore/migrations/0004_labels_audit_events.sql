-- tasklife schema version 4: label selectors and audit events.
-- Runs with search_path set to the store's schema (see Migrate).

-- label_selector is evaluated in SQL: "k=v" and "k in (...)" as
-- labels @> '{"k":"v"}', which this index serves. jsonb_path_ops indexes
-- each key with its value as one entry, so a selective k=v reads only its
-- own rows; the default jsonb_ops would also serve "k" (labels ? 'k') but
-- indexes keys and values apart, so that k=v intersects the posting list
-- of k (every task with that label) with that of v. "k", "!k", != and
-- notin filter what
-- the other conditions select. Building it locks writes to tasks for as
-- long as it takes; on a large table, create it CONCURRENTLY by hand
-- first (CREATE INDEX IF NOT EXISTS is then a no-op here).
CREATE INDEX IF NOT EXISTS tasks_labels ON tasks USING gin (labels jsonb_path_ops);

-- audit_events records who asked for a create or a cancel. A create or an
-- audited transition writes its event in the same statement as the task.
-- Events are never updated: created_at is also their updated_at.
CREATE TABLE audit_events (
	-- id is the order events were recorded in: the tie-breaker.
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	guid         text COLLATE "C" NOT NULL UNIQUE,
	type         text COLLATE "C" NOT NULL,
	actor_guid   text NOT NULL,
	actor_type   text NOT NULL,
	actor_name   text NOT NULL,
	reason       text NOT NULL,
	target_guid  text COLLATE "C" NOT NULL,
	task_guid    text COLLATE "C" NOT NULL,
	task_name    text NOT NULL,
	memory_in_mb bigint NOT NULL,
	created_at   timestamptz NOT NULL
);

-- The list, oldest or newest first, and its created_ats filter.
CREATE INDEX audit_events_created_at ON audit_events (created_at, id);
-- The target_guids filter (one app's events).
CREATE INDEX audit_events_target ON audit_events (target_guid, created_at, id);
