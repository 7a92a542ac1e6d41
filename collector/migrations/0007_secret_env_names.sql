-- Catalogue specs may name only environment variables matching PANTAU_SECRET_[A-Z0-9_]+
-- (issue 8: an agency's spec could name the probe's own token, or DATABASE_URL). Names stored
-- before that rule are renamed here, `SIMPUS_DSN` to `PANTAU_SECRET_SIMPUS_DSN`, so every stored
-- spec stays readable; until the probe's operator renames the variable on the probe, the check
-- fails with reason `config` ("environment variable PANTAU_SECRET_SIMPUS_DSN is not set").
-- Specs refused for other reasons (a secret-looking header or query parameter, a writing SQL
-- query) are left alone: the collector skips them with a warning (collector/catalog/store.py).

CREATE FUNCTION pg_temp.secret_env(name text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN name ~ '^PANTAU_SECRET_[A-Z0-9_]+$' THEN name
                ELSE 'PANTAU_SECRET_' || upper(regexp_replace(name, '[^A-Za-z0-9_]', '_', 'g'))
           END
$$;

-- One spec object: its `*_env` strings renamed, and those of its basic_auth.
CREATE FUNCTION pg_temp.secret_spec(spec jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF jsonb_typeof(spec) IS DISTINCT FROM 'object' THEN
        RETURN spec;
    END IF;
    RETURN (
        SELECT coalesce(jsonb_object_agg(key, CASE
            WHEN key LIKE '%\_env' AND jsonb_typeof(value) = 'string'
                THEN to_jsonb(pg_temp.secret_env(value #>> '{}'))
            WHEN key = 'basic_auth' THEN pg_temp.secret_spec(value)
            ELSE value
        END), '{}'::jsonb)
        FROM jsonb_each(spec)
    );
END
$$;

UPDATE apps SET
    checks = (
        SELECT coalesce(jsonb_agg(pg_temp.secret_spec(c) ORDER BY n), '[]'::jsonb)
        FROM jsonb_array_elements(checks) WITH ORDINALITY AS t(c, n)
    ),
    usage = (
        SELECT coalesce(jsonb_agg(
            CASE WHEN u ? 'source' THEN jsonb_set(u, '{source}', pg_temp.secret_spec(u -> 'source'))
                 ELSE u END ORDER BY n), '[]'::jsonb)
        FROM jsonb_array_elements(usage) WITH ORDINALITY AS t(u, n)
    )
WHERE checks::text ~ '_env' OR usage::text ~ '_env';

-- Probes fetch their targets again.
UPDATE catalog_version SET version = version + 1;

DROP FUNCTION pg_temp.secret_spec(jsonb);
DROP FUNCTION pg_temp.secret_env(text);
