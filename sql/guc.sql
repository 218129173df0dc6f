-- GUCs: defaults, units, and ranges enforced with a message naming the range.
-- (the loader's path depends on the installation: only its file name is shown)
SELECT name,
       CASE WHEN name LIKE '%loader' THEN regexp_replace(setting, '.*/', '.../') ELSE setting END AS setting,
       unit, context, min_val, max_val,
       CASE WHEN name LIKE '%loader' THEN regexp_replace(boot_val, '.*/', '.../') ELSE boot_val END AS boot_val
  FROM pg_settings WHERE name LIKE 'pg_postmaster_stats.%' ORDER BY name;

-- Units are understood.
SHOW pg_postmaster_stats.sample_interval;

-- Out-of-range and malformed values are rejected, naming the valid range.
-- (17 and later print the range with its unit: expected/guc_1.out)
ALTER SYSTEM SET pg_postmaster_stats.sample_interval = 50;
ALTER SYSTEM SET pg_postmaster_stats.sample_interval = '2h';
ALTER SYSTEM SET pg_postmaster_stats.sample_interval = 'often';
ALTER SYSTEM SET pg_postmaster_stats.history_size = 5;
ALTER SYSTEM SET pg_postmaster_stats.history_size = 10000000;
ALTER SYSTEM SET pg_postmaster_stats.enabled = 'maybe';
ALTER SYSTEM SET pg_postmaster_stats.cgroup_cpu_dir = 'sys/fs/cgroup';

-- Valid values are accepted, with units.
ALTER SYSTEM SET pg_postmaster_stats.sample_interval = '2s';
ALTER SYSTEM RESET pg_postmaster_stats.sample_interval;

-- Reloadable settings cannot be changed per session; history_size needs a restart.
SET pg_postmaster_stats.sample_interval = 500;
SET pg_postmaster_stats.history_size = 100;
SET pg_postmaster_stats.enabled = off;

-- The prefix is reserved: a misspelt setting is an error, not a silent placeholder.
SET pg_postmaster_stats.sample_intervall = 10;
