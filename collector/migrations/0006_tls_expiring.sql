-- A tls check whose only fault is a certificate with fewer than min_days_left days left did
-- answer: probes now report it as reason 'expiring', which makes the app degraded, never down
-- (docs/accounting.md). Reclassify the results stored before: those are exactly the failing tls
-- results that carry the certificate's expiry, still in the future when the check ran (a failed
-- handshake or an expired certificate carries none). Then have the rollup recompute each app
-- from its earliest reclassified result, so past reviews stop counting it as downtime.
CREATE TEMP TABLE reclassified ON COMMIT DROP AS
SELECT app_id, min(ts) AS since FROM check_results
 WHERE kind = 'tls' AND NOT ok AND reason = 'tls' AND tls_expiry IS NOT NULL AND tls_expiry > ts
 GROUP BY app_id;

UPDATE check_results SET reason = 'expiring'
 WHERE kind = 'tls' AND NOT ok AND reason = 'tls' AND tls_expiry IS NOT NULL AND tls_expiry > ts;

UPDATE check_latest SET reason = 'expiring'
 WHERE kind = 'tls' AND NOT ok AND reason = 'tls' AND tls_expiry IS NOT NULL AND tls_expiry > ts;

UPDATE rollup_progress p SET dirty_since = least(p.dirty_since, r.since)
  FROM reclassified r WHERE r.app_id = p.app_id;
