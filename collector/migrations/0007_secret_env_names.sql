-- Catalogue specs may name only environment variables of their app's agency's namespace,
-- PANTAU_SECRET_<AGENCY>_<NAME> (the agency id upper-cased, '-' as '_'): issue 8, an agency's
-- spec could name the probe's own token, DATABASE_URL, or another agency's secret. Names stored
-- before that rule are renamed here, so every stored spec stays readable:
--   `SIMPUS_DSN` and `PANTAU_SECRET_SIMPUS_DSN` of an app of agency dinkes both become
--   `PANTAU_SECRET_DINKES_SIMPUS_DSN`; a name already in the namespace is left alone.
-- Until the probe's operator renames the variable on the probe, the check fails with reason
-- `config` ("environment variable PANTAU_SECRET_DINKES_SIMPUS_DSN is not set").
-- Specs refused for other reasons (a secret-looking header or query parameter, a writing SQL
-- query) are left alone: the collector skips them with a warning (collector/catalog/store.py).

CREATE FUNCTION pg_temp.secret_env(name text, agency text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    WITH p AS (SELECT 'PANTAU_SECRET_' || upper(replace(agency, '-', '_')) || '_' AS prefix)
    SELECT CASE
        WHEN starts_with(name, p.prefix) AND length(name) > length(p.prefix)
             AND name ~ '^PANTAU_SECRET_[A-Z0-9_]+$' THEN name
        ELSE p.prefix || upper(regexp_replace(
            CASE WHEN starts_with(name, 'PANTAU_SECRET_') AND length(name) > 14
                 THEN substr(name, 15) ELSE name END,
            '[^A-Za-z0-9_]', '_', 'g'))
    END
    FROM p
$$;

-- One spec object: its `*_env` strings (and `headers_env` mappings) renamed, and those of its
-- basic_auth.
CREATE FUNCTION pg_temp.secret_spec(spec jsonb, agency text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF jsonb_typeof(spec) IS DISTINCT FROM 'object' THEN
        RETURN spec;
    END IF;
    RETURN (
        SELECT coalesce(jsonb_object_agg(key, CASE
            WHEN key LIKE '%\_env' AND jsonb_typeof(value) = 'string'
                THEN to_jsonb(pg_temp.secret_env(value #>> '{}', agency))
            WHEN key LIKE '%\_env' AND jsonb_typeof(value) = 'object' THEN (
                SELECT coalesce(jsonb_object_agg(h.key, CASE
                    WHEN jsonb_typeof(h.value) = 'string'
                        THEN to_jsonb(pg_temp.secret_env(h.value #>> '{}', agency))
                    ELSE h.value END), '{}'::jsonb)
                FROM jsonb_each(value) AS h)
            WHEN key = 'basic_auth' THEN pg_temp.secret_spec(value, agency)
            ELSE value
        END), '{}'::jsonb)
        FROM jsonb_each(spec)
    );
END
$$;

UPDATE apps SET
    checks = (
        SELECT coalesce(jsonb_agg(pg_temp.secret_spec(c, apps.agency_id) ORDER BY n), '[]'::jsonb)
        FROM jsonb_array_elements(checks) WITH ORDINALITY AS t(c, n)
    ),
    usage = (
        SELECT coalesce(jsonb_agg(
            CASE WHEN u ? 'source'
                 THEN jsonb_set(u, '{source}', pg_temp.secret_spec(u -> 'source', apps.agency_id))
                 ELSE u END ORDER BY n), '[]'::jsonb)
        FROM jsonb_array_elements(usage) WITH ORDINALITY AS t(u, n)
    )
WHERE checks::text ~ '_env' OR usage::text ~ '_env';

-- Probes fetch their targets again.
UPDATE catalog_version SET version = version + 1;

DROP FUNCTION pg_temp.secret_spec(jsonb, text);
DROP FUNCTION pg_temp.secret_env(text, text);
