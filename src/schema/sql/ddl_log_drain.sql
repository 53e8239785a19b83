-- Empties the DDL log (see ddl_log.sql) and returns the owners it names, with their kind and
-- whether they exist now, plus the tables related to a changed table by inheritance (an
-- ALTER TABLE on a parent changes its partitions and children; a new partition changes how its
-- parent's children read), and the dropped indexes by name.
WITH RECURSIVE t AS (DELETE FROM pg_migration_guard.touched RETURNING owner, kind, index),
o AS (SELECT owner, max(kind) AS kind FROM t WHERE owner IS NOT NULL GROUP BY owner),
down(oid) AS (
  SELECT owner FROM o
  UNION SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN down ON i.inhparent = down.oid
),
family(oid) AS (
  SELECT oid FROM down
  UNION SELECT i.inhparent FROM pg_catalog.pg_inherits i JOIN o ON i.inhrelid = o.owner
)
-- Looked up by oid one by one (a join, or EXISTS, would scan whole catalogs).
SELECT f.oid, coalesce(k.kind, (SELECT o.kind FROM o WHERE o.owner = f.oid), '') AS kind,
       k.kind IS NOT NULL AS present, NULL::text AS index
FROM family f
LEFT JOIN LATERAL (
  SELECT c.relkind::text AS kind FROM pg_catalog.pg_class c WHERE c.oid = f.oid
  UNION ALL SELECT 'F' FROM pg_catalog.pg_proc p WHERE p.oid = f.oid
  UNION ALL SELECT 'y' FROM pg_catalog.pg_type ty WHERE ty.oid = f.oid
  LIMIT 1
) k ON true
UNION ALL
SELECT 0::oid, '', false, t.index FROM t WHERE t.index IS NOT NULL
