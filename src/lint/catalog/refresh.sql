-- After scripts the trace did not look at (a round trip's down and up again): the relations
-- they locked ($1), with the indexes and constraints of those, as catalog/snapshot.sql reads
-- them (objects from $2 on left out). What a script did not lock it did not change, so these
-- rows bring the kept snapshot up to date. Read by index from the locked relations (lateral
-- subqueries that `OFFSET 0` keeps apart), so the cost follows what the scripts locked.
WITH locked AS MATERIALIZED (SELECT DISTINCT o::oid AS oid FROM unnest($1::int8[]) AS o),
relations AS MATERIALIZED (
    SELECT l.oid FROM locked l
    UNION
    SELECT i.indexrelid FROM locked l
    CROSS JOIN LATERAL (SELECT i.indexrelid FROM pg_catalog.pg_index i WHERE i.indrelid = l.oid OFFSET 0) i
)
SELECT 'r' AS tag, c.oid::int8 AS oid, c.relkind::text AS kind, c.relfilenode::int8 AS filenode,
       coalesce((SELECT i.indrelid FROM pg_catalog.pg_index i WHERE i.indexrelid = c.oid), 0)::int8 AS parent,
       n.nspname::text AS schema, c.relname::text AS name, true AS flag
FROM relations r
CROSS JOIN LATERAL (SELECT * FROM pg_catalog.pg_class c WHERE c.oid = r.oid OFFSET 0) c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid::int8 < $2 AND c.relkind IN ('r', 'p', 'm', 'i', 'I', 'v', 'S')
UNION ALL
SELECT 'c', k.oid::int8, k.contype::text, 0, k.conrelid::int8, '', k.conname::text, k.convalidated
FROM locked l
CROSS JOIN LATERAL (SELECT * FROM pg_catalog.pg_constraint k WHERE k.conrelid = l.oid OFFSET 0) k
WHERE k.oid >= 16384 AND k.oid::int8 < $2
