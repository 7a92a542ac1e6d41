-- The catalogue's audit trail (issue 10): every change to an agency or an app, from any path
-- (API, portal, `catalog apply`, `catalog import`, a migration, psql), is recorded by the
-- triggers below with who made it, when, and the record before and after.
--
-- Who: the transaction's actor, a JSON object {kind, name, id, via} that the writer sets with
--   SELECT set_config('pantau.actor', '{"kind": "cli", "name": "...", "via": "psql"}', true);
-- (collector/audit.py). A change made without one is refused, so no path, present or future,
-- can leave the trail out. "Transaction-local" (the `true`) matters: behind pgbouncer in
-- transaction mode a session setting would carry over to someone else's transaction.

CREATE TABLE catalog_audit (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),  -- the transaction's time: one change, one time
    tx          bigint NOT NULL DEFAULT txid_current(),  -- rows of one change share it
    actor_kind  text NOT NULL CHECK (actor_kind IN ('token', 'account', 'file', 'cli', 'system')),
    actor       text NOT NULL CHECK (actor <> ''),
    actor_id    text,
    via         text NOT NULL CHECK (via <> ''),
    subject     text NOT NULL CHECK (subject IN ('agency', 'app')),
    subject_id  text NOT NULL,
    -- Whose record it is: an app's agency before and after (an app moved by an admin belongs
    -- to both changes' readers), an agency's own id. Agency tokens read these entries only.
    agencies    text[] NOT NULL,
    action      text NOT NULL CHECK (action IN ('insert', 'update', 'delete')),
    changed     text[] NOT NULL,  -- fields whose value differs (all of them for insert/delete)
    before      jsonb,            -- the record as the API names its fields; NULL for an insert
    after       jsonb             -- NULL for a delete
);
CREATE INDEX catalog_audit_subject_idx ON catalog_audit (subject, subject_id, id);
CREATE INDEX catalog_audit_agencies_idx ON catalog_audit USING gin (agencies);
CREATE INDEX catalog_audit_at_idx ON catalog_audit (at);

-- A row as the trail keeps it: the API's field names, without bookkeeping (when the row was
-- made or touched, which of its maintenance windows came through the API).
CREATE FUNCTION pantau_audit_record(rec jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN rec IS NULL THEN NULL ELSE
        (rec - 'created_at' - 'updated_at' - 'maintenance_api' - 'agency_id' - 'parent_id')
        || CASE WHEN rec ? 'agency_id' THEN jsonb_build_object('agency', rec -> 'agency_id')
                ELSE '{}'::jsonb END
        || CASE WHEN rec ? 'parent_id' THEN jsonb_build_object('parent', rec -> 'parent_id')
                ELSE '{}'::jsonb END
    END
$$;

CREATE FUNCTION pantau_catalog_audit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    subject text := CASE TG_TABLE_NAME WHEN 'apps' THEN 'app' ELSE 'agency' END;
    old_rec jsonb;
    new_rec jsonb;
    fields text[];
    raw text := current_setting('pantau.actor', true);
    who jsonb;
BEGIN
    IF TG_OP <> 'INSERT' THEN old_rec := pantau_audit_record(to_jsonb(OLD)); END IF;
    IF TG_OP <> 'DELETE' THEN new_rec := pantau_audit_record(to_jsonb(NEW)); END IF;
    SELECT coalesce(array_agg(k ORDER BY k), '{}') INTO fields
    FROM (SELECT jsonb_object_keys(coalesce(old_rec, '{}') || coalesce(new_rec, '{}')) AS k) keys
    WHERE old_rec -> k IS DISTINCT FROM new_rec -> k;
    IF fields = '{}' THEN
        RETURN NULL;  -- only bookkeeping changed: nothing of the catalogue, nothing to record
    END IF;
    IF coalesce(raw, '') = '' THEN
        RAISE EXCEPTION 'catalogue change without an actor (% of % %)',
            lower(TG_OP), subject, coalesce(new_rec, old_rec) ->> 'id'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'set the transaction''s actor first: SELECT set_config(''pantau.actor'','
                      ' ''{"kind": "cli", "name": "<who>", "via": "psql"}'', true)';
    END IF;
    who := raw::jsonb;
    INSERT INTO catalog_audit
        (actor_kind, actor, actor_id, via, subject, subject_id, agencies, action, changed,
         before, after)
    VALUES (
        who ->> 'kind', who ->> 'name', who ->> 'id', who ->> 'via', subject,
        coalesce(new_rec, old_rec) ->> 'id',
        CASE subject
            WHEN 'app' THEN ARRAY(
                SELECT DISTINCT a FROM unnest(ARRAY[old_rec ->> 'agency', new_rec ->> 'agency']) a
                WHERE a IS NOT NULL ORDER BY a)
            ELSE ARRAY[coalesce(new_rec, old_rec) ->> 'id']
        END,
        lower(TG_OP), fields, old_rec, new_rec
    );
    RETURN NULL;
END
$$;

CREATE TRIGGER agencies_audit AFTER INSERT OR UPDATE OR DELETE ON agencies
    FOR EACH ROW EXECUTE FUNCTION pantau_catalog_audit();
CREATE TRIGGER apps_audit AFTER INSERT OR UPDATE OR DELETE ON apps
    FOR EACH ROW EXECUTE FUNCTION pantau_catalog_audit();

-- TRUNCATE fires no row trigger: it would empty the catalogue past the trail.
CREATE FUNCTION pantau_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'TRUNCATE of % would leave the audit trail out: delete the rows, with an'
        ' actor', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER agencies_no_truncate BEFORE TRUNCATE ON agencies
    FOR EACH STATEMENT EXECUTE FUNCTION pantau_refuse_truncate();
CREATE TRIGGER apps_no_truncate BEFORE TRUNCATE ON apps
    FOR EACH STATEMENT EXECUTE FUNCTION pantau_refuse_truncate();
