-- The extension installs into a database whose server preloaded the library.
CREATE EXTENSION pg_postmaster_stats;
SELECT extversion FROM pg_extension WHERE extname = 'pg_postmaster_stats';
SHOW shared_preload_libraries;
