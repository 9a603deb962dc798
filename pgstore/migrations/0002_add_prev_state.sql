-- tasklife schema version 2: the state a task's last transition left.
-- Runs with search_path set to the store's schema (see Migrate).

-- A transition sets prev_state = state in the same UPDATE that writes the
-- new state (SET reads the old row), so RETURNING reports where the task
-- came from without reading the row first. Nothing else reads it: no index.
-- Rows written before this migration keep NULL until their next transition.
-- A nullable column without a default is added without rewriting the table.
ALTER TABLE tasks ADD COLUMN prev_state text COLLATE "C";
