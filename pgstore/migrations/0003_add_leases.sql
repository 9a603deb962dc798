-- tasklife schema version 3: claims, leases and deadlines.
-- Runs with search_path set to the store's schema (see Migrate).

-- owner is the runner that claimed the task (NULL: none did); it stays once
-- the task has ended. lease_expires_at is when the owner's claim runs out
-- unless renewed: set by a claim, moved by a renewal, cleared when the task
-- ends. canceling_since is when the task last entered CANCELING, for the
-- cancel deadline. Nullable columns without defaults: no table rewrite.
ALTER TABLE tasks ADD COLUMN owner text COLLATE "C";
ALTER TABLE tasks ADD COLUMN lease_expires_at timestamptz;
ALTER TABLE tasks ADD COLUMN canceling_since timestamptz;

-- A task CANCELING before this migration entered that state at its last
-- write: only a transition writes a task, and none stays in CANCELING.
UPDATE tasks SET canceling_since = updated_at WHERE state = 'CANCELING';

-- Every claim, renewal and sweep reads one of these small partial indexes,
-- as large as the work waiting or under way, never the whole table.
-- A claim takes the oldest PENDING tasks, in list order; the PENDING expiry
-- reads the same index from its oldest end.
CREATE INDEX tasks_pending ON tasks (created_at, id) WHERE state = 'PENDING';
-- The sweep for leases that have run out.
CREATE INDEX tasks_lease ON tasks (lease_expires_at) WHERE lease_expires_at IS NOT NULL;
-- The cancel deadline.
CREATE INDEX tasks_canceling ON tasks (canceling_since) WHERE state = 'CANCELING';
-- A renewal: every task an owner holds under a lease that has not run out.
CREATE INDEX tasks_owner ON tasks (owner, lease_expires_at) WHERE lease_expires_at IS NOT NULL;
