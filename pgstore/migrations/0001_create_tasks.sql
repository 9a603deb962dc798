-- tasklife schema version 1: tasks and the per-app sequence counters.
-- Runs with search_path set to the store's schema (see Migrate).

-- app_sequences hands out sequence ids: creating a task upserts its app's
-- row, which both assigns the next id and serialises creates per app until
-- commit, so ids are unique and gap-free without a table lock.
CREATE TABLE app_sequences (
	app_guid         text COLLATE "C" PRIMARY KEY,
	last_sequence_id bigint NOT NULL
);

CREATE TABLE tasks (
	-- id is the creation order: the tie-breaker for list ordering.
	id                                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	guid                               text COLLATE "C" NOT NULL UNIQUE,
	app_guid                           text COLLATE "C" NOT NULL,
	sequence_id                        bigint NOT NULL,
	name                               text NOT NULL,
	command                            text NOT NULL,
	user_name                          text NOT NULL,
	state                              text COLLATE "C" NOT NULL
		CHECK (state IN ('PENDING', 'RUNNING', 'CANCELING', 'SUCCEEDED', 'FAILED')),
	memory_in_mb                       bigint NOT NULL,
	disk_in_mb                         bigint,
	log_rate_limit_in_bytes_per_second bigint NOT NULL,
	droplet_guid                       text NOT NULL,
	failure_reason                     text CHECK ((state = 'FAILED') = (failure_reason IS NOT NULL)),
	labels                             jsonb,
	annotations                        jsonb,
	created_at                         timestamptz NOT NULL,
	updated_at                         timestamptz NOT NULL,
	version                            bigint NOT NULL,
	UNIQUE (app_guid, sequence_id)
);

-- One index per list ordering, each ending in id so that ties come back in
-- creation order straight from the index, in either direction.
CREATE INDEX tasks_created_at ON tasks (created_at, id);
CREATE INDEX tasks_updated_at ON tasks (updated_at, id);
-- A host's per-app list (GET /v3/apps/{guid}/tasks), newest or oldest first.
CREATE INDEX tasks_app_guid_created_at ON tasks (app_guid, created_at, id);
-- Filters by state, and the reconciler's scan for CANCELING tasks.
CREATE INDEX tasks_state_created_at ON tasks (state, created_at, id);
-- The names filter.
CREATE INDEX tasks_name ON tasks (name);
