-- App state (thresholds, quorum), incidents and maintenance windows.

ALTER TABLE apps
    ADD COLUMN failure_threshold  smallint CHECK (failure_threshold BETWEEN 1 AND 100),
    ADD COLUMN success_threshold  smallint CHECK (success_threshold BETWEEN 1 AND 100),
    ADD COLUMN quorum             smallint CHECK (quorum BETWEEN 1 AND 100),
    ADD COLUMN maintenance        jsonb NOT NULL DEFAULT '[]'::jsonb;

CREATE TABLE app_zone_state (
    app_id  text NOT NULL,
    zone    text NOT NULL,
    state   text NOT NULL CHECK (state IN ('up', 'down', 'degraded', 'unknown')),
    since   timestamptz NOT NULL,
    PRIMARY KEY (app_id, zone)
);

CREATE TABLE app_state (
    app_id      text PRIMARY KEY,
    state       text NOT NULL CHECK (state IN ('up', 'down', 'degraded', 'maintenance', 'unknown')),
    since       timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE incidents (
    id          bigserial PRIMARY KEY,
    app_id      text NOT NULL,
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz,               -- open while NULL
    cause       text[] NOT NULL DEFAULT '{}',  -- the failure reasons seen
    zones       text[] NOT NULL DEFAULT '{}'   -- the zones that saw it down
);
CREATE UNIQUE INDEX incidents_one_open_idx ON incidents (app_id) WHERE ended_at IS NULL;
CREATE INDEX incidents_app_started_idx ON incidents (app_id, started_at);
CREATE INDEX incidents_started_idx ON incidents (started_at);
