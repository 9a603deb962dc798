-- tasklife schema version 5: every list filter in both orders, and retention.
-- Runs with search_path set to the store's schema (see Migrate).

-- Version 1 served each filter in creation order only: a list by updated_at
-- of one app or one state, or any list by name, read more than its page.
-- Each filter now has an index per list order, ending in id so that ties
-- come back in creation order from the index, in either direction.
CREATE INDEX tasks_app_guid_updated_at ON tasks (app_guid, updated_at, id);
CREATE INDEX tasks_state_updated_at ON tasks (state, updated_at, id);
CREATE INDEX tasks_name_created_at ON tasks (name, created_at, id);
CREATE INDEX tasks_name_updated_at ON tasks (name, updated_at, id);
DROP INDEX tasks_name;

-- Retention deletes the tasks that ended longest ago, a batch at a time:
-- this partial index holds only ended tasks, in the order they go.
CREATE INDEX tasks_ended ON tasks (updated_at) WHERE state = 'SUCCEEDED' OR state = 'FAILED';
