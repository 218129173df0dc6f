-- The diagnosis: its findings (identifiers are API), severities and
-- thresholds, as pg_postmaster_stats_diagnosis_rules lists them.
SELECT finding, severity, min_samples,
       string_agg(coalesce(threshold || ' = ' || value || coalesce(' ' || unit, ''), '-')
                  || coalesce(' (' || setting || ')', ''), '; ' ORDER BY threshold) AS thresholds
  FROM pg_postmaster_stats_diagnosis_rules
 GROUP BY finding, severity, min_samples
 ORDER BY array_position(ARRAY['critical', 'warning', 'info'], severity), finding;

-- A window must be positive and at most 366 days; NULL is no diagnosis.
SELECT * FROM pg_postmaster_stats_diagnose('0 seconds');
SELECT * FROM pg_postmaster_stats_diagnose('-1 minute');
SELECT * FROM pg_postmaster_stats_diagnose('400 days');
SELECT count(*) FROM pg_postmaster_stats_diagnose(NULL);
-- A window that ends before the history began holds no sample, so no finding.
SELECT count(*) FROM pg_postmaster_stats_diagnose('1 hour', now() - interval '1 day');

-- The view is the last minute; every row is a known finding, ordered most
-- severe first, with its figures.  This idle instance has none above info.
SELECT count(*) FILTER (WHERE severity <> 'info') AS above_info,
       coalesce(bool_and(finding IN (SELECT finding FROM pg_postmaster_stats_diagnosis_rules)), true) AS known,
       coalesce(bool_and(samples >= 1 AND since <= now() AND jsonb_typeof(evidence) = 'object'
                AND summary <> '' AND remedy <> '' AND cardinality(source_views) >= 1), true) AS complete
  FROM pg_postmaster_stats_diagnosis;

-- One pg_postmaster_diagnosis_active series per finding, 1 or 0.
SELECT count(*) = (SELECT count(DISTINCT finding) FROM pg_postmaster_stats_diagnosis_rules) AS one_per_finding,
       bool_and(value IN (0, 1)) AS zero_or_one,
       sum(value) = (SELECT count(*) FROM pg_postmaster_stats_diagnosis) AS active_match
  FROM pg_postmaster_stats_metrics WHERE name = 'pg_postmaster_diagnosis_active';

-- The disputable thresholds are settings; a value out of range says the range.
ALTER SYSTEM SET pg_postmaster_stats.diagnosis_busy_pct = 101;
ALTER SYSTEM SET pg_postmaster_stats.diagnosis_headroom_pct = 100;
ALTER SYSTEM SET pg_postmaster_stats.diagnosis_churn_per_s = 0;
SHOW pg_postmaster_stats.diagnosis_busy_pct;
SHOW pg_postmaster_stats.diagnosis_setup_ms;
