-- Relations and constraints of the database before a migration runs, so the trace can tell
-- objects that existed before it from objects it creates. User objects have OIDs >= 16384;
-- those from $1 on were created by the change under review (OIDs only grow), so they are new
-- in production too. The tracer appends a row `p` that says whether its queries are prepared.
SELECT 'r' AS tag, c.oid::int8 AS oid, c.relkind::text AS kind, c.relfilenode::int8 AS filenode,
       coalesce(i.indrelid, 0)::int8 AS parent, n.nspname::text AS schema, c.relname::text AS name,
       true AS flag
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid
WHERE c.oid >= 16384 AND c.oid::int8 < $1 AND c.relkind IN ('r', 'p', 'm', 'i', 'I', 'v', 'S')
UNION ALL
SELECT 'c', k.oid::int8, k.contype::text, 0, k.conrelid::int8, '', k.conname::text, k.convalidated
FROM pg_catalog.pg_constraint k
WHERE k.oid >= 16384 AND k.oid::int8 < $1 AND k.conrelid <> 0
