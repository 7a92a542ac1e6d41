-- Ingest advances each check's state in SQL, from the batch staged by one COPY
-- (collector/state/record.py; issue 11: a batch of 1,000 different checks).

-- Unix seconds to timestamptz exactly as Python's datetime.fromtimestamp rounds them: the whole
-- seconds, then the fraction rounded half-even to the microsecond (to_timestamp alone rounds
-- the product with the whole seconds, and differs now and then by a microsecond). Staged rows
-- carry the probe's float, so the stored instants stay what they were. STABLE rather than
-- IMMUTABLE (timestamptz + interval is stable), so that the planner inlines it.
CREATE FUNCTION pantau_unix_ts(seconds double precision) RETURNS timestamptz
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN to_timestamp(trunc(seconds))
           + round((seconds - trunc(seconds)) * 1e6) * interval '1 microsecond';

-- Every result rewrites its check's row: room on the page keeps the new version there (a HOT
-- update: no index entry, pruned in place). Pages written before this fill up as rows move.
ALTER TABLE check_latest SET (fillfactor = 50);
