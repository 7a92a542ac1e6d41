-- Grafana's read-only role (grafana/provisioning/datasources/pantau.yml): run by the compose
-- file's `grafana-reader` service after the migrations, as `psql -f grafana-reader.sql` with the
-- password in the environment (GRAFANA_DB_PASSWORD), never on a command line.
-- Idempotent: every `up` sets the password from .env again. Needs psql 15 or later (\getenv).
\getenv pw GRAFANA_DB_PASSWORD
\if :{?pw}
\else
  \warn 'GRAFANA_DB_PASSWORD is not set'
  \quit 3
\endif
SELECT format('CREATE ROLE grafana_pantau LOGIN PASSWORD %L', :'pw')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'grafana_pantau') \gexec
SELECT format('ALTER ROLE grafana_pantau PASSWORD %L', :'pw') \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO grafana_pantau', current_database()) \gexec
GRANT USAGE ON SCHEMA public TO grafana_pantau;
GRANT SELECT ON agencies, apps, incidents, probes TO grafana_pantau;
ALTER ROLE grafana_pantau SET default_transaction_read_only = on;
