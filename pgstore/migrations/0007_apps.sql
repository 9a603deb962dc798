-- tasklife schema version 7: apps (tasklife.AppStore).
-- Runs with search_path set to the store's schema (see Migrate).

-- apps are Cloud Foundry apps as far as tasks need them: a name in a
-- space. Tasks do not reference them, so that a host may run tasks for
-- apps it keeps elsewhere.
CREATE TABLE apps (
	guid        text COLLATE "C" PRIMARY KEY,
	name        text NOT NULL,
	space_guid  text COLLATE "C" NOT NULL,
	labels      jsonb,
	annotations jsonb,
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL,
	-- creation order, for ties in list ordering
	ord         bigint GENERATED ALWAYS AS IDENTITY
);

-- Names are unique in a space without case, as Cloud Controller's are; the
-- index also serves the names and space_guids filters.
CREATE UNIQUE INDEX apps_space_name ON apps (space_guid, lower(name));
