-- snapshot.sql for the tables $2 (OIDs) alone: those relations, the indexes of those tables and
-- the constraints on them, to bring a kept snapshot up to date. Each is read by index from the
-- given OIDs (lateral subqueries that `OFFSET 0` keeps from being flattened into joins a cached
-- plan could make whole-catalog scans of), so the cost follows the tables, not the schema's size.
WITH wanted AS (SELECT DISTINCT w::oid AS oid FROM unnest($2::int8[]) w),
relations AS (
    SELECT w.oid FROM wanted w
    UNION
    SELECT i.indexrelid FROM wanted w
    CROSS JOIN LATERAL (SELECT i.indexrelid FROM pg_catalog.pg_index i WHERE i.indrelid = w.oid OFFSET 0) i
)
SELECT 'r' AS tag, c.oid::int8 AS oid, c.relkind::text AS kind, c.relfilenode::int8 AS filenode,
       coalesce((SELECT i.indrelid FROM pg_catalog.pg_index i WHERE i.indexrelid = c.oid), 0)::int8 AS parent,
       c.nspname::text AS schema, c.relname::text AS name, true AS flag
FROM relations r
CROSS JOIN LATERAL (SELECT c.oid, c.relkind, c.relfilenode, c.relname, n.nspname
                    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                    WHERE c.oid = r.oid OFFSET 0) c
WHERE c.oid >= 16384 AND c.oid::int8 < $1 AND c.relkind IN ('r', 'p', 'm', 'i', 'I', 'v', 'S')
UNION ALL
SELECT 'c', k.oid::int8, k.contype::text, 0, k.conrelid::int8, '', k.conname::text, k.convalidated
FROM wanted w
CROSS JOIN LATERAL (SELECT * FROM pg_catalog.pg_constraint k WHERE k.conrelid = w.oid OFFSET 0) k
WHERE k.oid >= 16384 AND k.oid::int8 < $1
UNION ALL
-- Whether this session has the tracer's two queries prepared under the names it gives them.
SELECT 'p', 0, '', 0, 0, '', '', (SELECT count(*) = 2 FROM pg_catalog.pg_prepared_statements s
                                  WHERE s.name IN ('migration_guard_statement', 'migration_guard_snapshot'))
