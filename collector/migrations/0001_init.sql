-- Catalogue, auth, ingest bookkeeping, raw results (partitioned by month) and latest state.

CREATE TABLE agencies (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    parent_id   text REFERENCES agencies (id) ON DELETE SET NULL,
    contact     text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE apps (
    id             text PRIMARY KEY,
    name           text NOT NULL,
    agency_id      text NOT NULL REFERENCES agencies (id) ON DELETE RESTRICT,
    managed_by     text NOT NULL CHECK (managed_by IN ('self', 'central', 'vendor')),
    provider       text,
    category       text,
    lifecycle      text NOT NULL CHECK (lifecycle IN ('planned', 'active', 'deprecated', 'retired')),
    url            text,
    description    text,
    owner          jsonb NOT NULL DEFAULT '{}'::jsonb,
    target_uptime  double precision NOT NULL DEFAULT 99.0,
    criticality    text NOT NULL DEFAULT 'medium' CHECK (criticality IN ('low', 'medium', 'high')),
    tags           text[] NOT NULL DEFAULT '{}',
    zones          text[] NOT NULL DEFAULT '{}',
    checks         jsonb NOT NULL DEFAULT '[]'::jsonb,
    usage          jsonb NOT NULL DEFAULT '[]'::jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX apps_agency_idx ON apps (agency_id);
CREATE INDEX apps_zones_idx ON apps USING gin (zones);

-- Bumped on every catalogue write; the probes' target ETag derives from it.
CREATE TABLE catalog_version (
    id       boolean PRIMARY KEY DEFAULT true CHECK (id),
    version  bigint NOT NULL
);
INSERT INTO catalog_version VALUES (true, 1);

CREATE TABLE tokens (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('admin', 'agency', 'probe', 'app')),
    agency_id     text REFERENCES agencies (id) ON DELETE CASCADE,
    zone          text,
    app_id        text REFERENCES apps (id) ON DELETE CASCADE,
    secret_hash   bytea NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    CHECK ((kind = 'agency') = (agency_id IS NOT NULL)),
    CHECK ((kind = 'probe') = (zone IS NOT NULL)),
    CHECK ((kind = 'app') = (app_id IS NOT NULL))
);

CREATE TABLE probes (
    name        text PRIMARY KEY,
    zone        text NOT NULL,
    first_seen  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now()
);

-- De-duplication of retried batches: (probe, batch_id) is stored once.
CREATE TABLE ingested_batches (
    probe        text NOT NULL,
    batch_id     text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    results      integer NOT NULL,  -- stored
    usage        integer NOT NULL,  -- stored
    dropped      integer NOT NULL DEFAULT 0,  -- items for apps the zone does not watch
    PRIMARY KEY (probe, batch_id)
);
CREATE INDEX ingested_batches_received_idx ON ingested_batches (received_at);

CREATE TABLE check_results (
    ts                timestamptz NOT NULL,
    app_id            text NOT NULL,
    check_name        text NOT NULL,
    kind              text NOT NULL,
    zone              text NOT NULL,
    probe             text NOT NULL,
    ok                boolean NOT NULL,
    reason            text,
    message           text,
    duration_seconds  double precision NOT NULL,
    status_code       smallint,
    tls_expiry        timestamptz,
    attempts          smallint NOT NULL DEFAULT 1
) PARTITION BY RANGE (ts);
CREATE INDEX check_results_app_ts_idx ON check_results (app_id, ts);

CREATE TABLE usage_samples (
    ts        timestamptz NOT NULL,
    app_id    text NOT NULL,
    metric    text NOT NULL,
    kind      text NOT NULL CHECK (kind IN ('counter', 'gauge')),
    zone      text NOT NULL,
    source    text NOT NULL,             -- probe name, or 'push'
    value     double precision NOT NULL, -- as read
    total     double precision           -- counters: cumulative, never going backwards over resets
) PARTITION BY RANGE (ts);
CREATE INDEX usage_samples_app_ts_idx ON usage_samples (app_id, metric, ts);

-- Latest result per app, zone and check, with the consecutive-result counters behind the state
-- thresholds (see collector/state/machine.py): what /metrics and the state evaluator read.
CREATE TABLE check_latest (
    app_id            text NOT NULL,
    zone              text NOT NULL,
    check_name        text NOT NULL,
    kind              text NOT NULL,
    probe             text NOT NULL,
    ts                timestamptz NOT NULL,
    ok                boolean NOT NULL,
    reason            text,
    message           text,
    duration_seconds  double precision NOT NULL,
    status_code       smallint,
    tls_expiry        timestamptz,
    state             text NOT NULL CHECK (state IN ('up', 'down', 'degraded', 'unknown')),
    failures          integer NOT NULL,
    successes         integer NOT NULL,
    since             timestamptz NOT NULL,
    PRIMARY KEY (app_id, zone, check_name)
);

-- Latest usage per app and metric; `total` carries counter resets forward.
CREATE TABLE usage_latest (
    app_id   text NOT NULL,
    metric   text NOT NULL,
    kind     text NOT NULL,
    ts       timestamptz NOT NULL,
    value    double precision NOT NULL,
    total    double precision,
    PRIMARY KEY (app_id, metric)
);
