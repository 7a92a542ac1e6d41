-- Aggregates for the monthly review, kept for years (raw results are dropped by retention).

-- Seconds in each state per app and UTC hour, replayed from the results; `carry` is the state
-- at the end of the hour, from which the next hour is computed.
CREATE TABLE app_hourly (
    app_id         text NOT NULL,
    hour           timestamptz NOT NULL,
    up_s           double precision NOT NULL,
    down_s         double precision NOT NULL,
    degraded_s     double precision NOT NULL,
    maintenance_s  double precision NOT NULL,
    unknown_s      double precision NOT NULL,
    results        integer NOT NULL,
    failures       integer NOT NULL,
    carry          jsonb NOT NULL,
    PRIMARY KEY (app_id, hour)
);

-- The same per local calendar day (the collector's time zone).
CREATE TABLE app_daily (
    app_id         text NOT NULL,
    day            date NOT NULL,
    up_s           double precision NOT NULL,
    down_s         double precision NOT NULL,
    degraded_s     double precision NOT NULL,
    maintenance_s  double precision NOT NULL,
    unknown_s      double precision NOT NULL,
    results        integer NOT NULL,
    failures       integer NOT NULL,
    PRIMARY KEY (app_id, day)
);

-- Outages (maximal spans of `down`, see docs/accounting.md) that have ended.
CREATE TABLE app_outages (
    app_id      text NOT NULL,
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz NOT NULL,
    causes      text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (app_id, started_at)
);
CREATE INDEX app_outages_ended_idx ON app_outages (ended_at);

-- Usage per app, metric and hour/day: counters keep their running total at the first and last
-- sample; gauges their sum, count and peak.
CREATE TABLE usage_hourly (
    app_id       text NOT NULL,
    metric       text NOT NULL,
    hour         timestamptz NOT NULL,
    kind         text NOT NULL,
    first_total  double precision,
    last_total   double precision,
    gauge_sum    double precision NOT NULL DEFAULT 0,
    gauge_count  integer NOT NULL DEFAULT 0,
    gauge_max    double precision,
    PRIMARY KEY (app_id, metric, hour)
);

CREATE TABLE usage_daily (
    app_id       text NOT NULL,
    metric       text NOT NULL,
    day          date NOT NULL,
    kind         text NOT NULL,
    first_total  double precision,
    last_total   double precision,
    gauge_sum    double precision NOT NULL DEFAULT 0,
    gauge_count  integer NOT NULL DEFAULT 0,
    gauge_max    double precision,
    PRIMARY KEY (app_id, metric, day)
);

-- How far each app is rolled up, and the earliest result time that arrived since (late results
-- from a probe's spool make the job go back and recompute).
CREATE TABLE rollup_progress (
    app_id        text PRIMARY KEY,
    rolled_until  timestamptz,
    dirty_since   timestamptz
);
