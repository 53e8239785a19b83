-- Installed extensions with their schema and version.
SELECT e.extname::text, n.nspname::text, e.extversion
FROM pg_extension e
JOIN pg_namespace n ON n.oid = e.extnamespace
