-- Identities: probes and batch ids belong to the zone of the token that sent them; the zones an
-- admin opened to each agency; revocation notices for every replica's token cache.

-- A probe is its zone and its name: a token of another zone naming it is another probe, and can
-- neither move it nor touch its batches. (Names only need to be unique within a zone.)
ALTER TABLE probes DROP CONSTRAINT probes_pkey;
ALTER TABLE probes ADD PRIMARY KEY (zone, name);

-- A batch id is scoped to the zone and probe that sent it; the hash of its content tells a true
-- retry (same content: acknowledged again) from a different batch reusing the id (refused).
ALTER TABLE ingested_batches ADD COLUMN zone text, ADD COLUMN content_sha256 bytea;
UPDATE ingested_batches b SET zone = p.zone FROM probes p WHERE p.name = b.probe;
UPDATE ingested_batches SET zone = '' WHERE zone IS NULL;  -- probe unknown: kept, matches nothing
ALTER TABLE ingested_batches ALTER COLUMN zone SET NOT NULL;
ALTER TABLE ingested_batches DROP CONSTRAINT ingested_batches_pkey;
ALTER TABLE ingested_batches ADD PRIMARY KEY (zone, probe, batch_id);

-- Zones an admin opened to the agency: its agency token may place apps only there.
ALTER TABLE agencies ADD COLUMN zones text[] NOT NULL DEFAULT '{}';

-- Every collector LISTENs on pantau_tokens and forgets its cached tokens when one is revoked,
-- changed or deleted (also by a cascade from its agency or app), however that happened.
CREATE FUNCTION pantau_token_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pantau_tokens', OLD.id::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER tokens_changed
    AFTER UPDATE OF revoked_at, kind, agency_id, zone, app_id, secret_hash OR DELETE ON tokens
    FOR EACH ROW EXECUTE FUNCTION pantau_token_changed();
