-- Empties the DDL log (see ddl_log.sql) and returns the owners it names, with their kind and
-- whether they exist now, plus the tables related to a changed table by inheritance (an
-- ALTER TABLE on a parent changes its partitions and children; a new partition changes how its
-- parent's children read), and the dropped indexes by name.
WITH RECURSIVE t AS (DELETE FROM pg_migration_guard.touched RETURNING owner, kind, index, classid, objid),
-- The owner of each catalog row a command created or altered, looked up now: a row gone since
-- was dropped, and its drop named its owner.
made AS (
  SELECT CASE r.classid
      WHEN 'pg_catalog.pg_class'::regclass THEN
        coalesce((SELECT i.indrelid FROM pg_catalog.pg_index i WHERE i.indexrelid = r.objid), r.objid)
      WHEN 'pg_catalog.pg_proc'::regclass THEN r.objid
      -- A composite type belongs to its relation.
      WHEN 'pg_catalog.pg_type'::regclass THEN
        coalesce((SELECT ty.typrelid FROM pg_catalog.pg_type ty WHERE ty.oid = r.objid AND ty.typtype = 'c'), r.objid)
      WHEN 'pg_catalog.pg_constraint'::regclass THEN
        (SELECT CASE WHEN k.conrelid <> 0 THEN k.conrelid ELSE k.contypid END
         FROM pg_catalog.pg_constraint k WHERE k.oid = r.objid)
      WHEN 'pg_catalog.pg_trigger'::regclass THEN (SELECT t.tgrelid FROM pg_catalog.pg_trigger t WHERE t.oid = r.objid)
      WHEN 'pg_catalog.pg_policy'::regclass THEN (SELECT p.polrelid FROM pg_catalog.pg_policy p WHERE p.oid = r.objid)
      WHEN 'pg_catalog.pg_rewrite'::regclass THEN (SELECT w.ev_class FROM pg_catalog.pg_rewrite w WHERE w.oid = r.objid)
      WHEN 'pg_catalog.pg_attrdef'::regclass THEN (SELECT a.adrelid FROM pg_catalog.pg_attrdef a WHERE a.oid = r.objid)
      ELSE 0
    END AS owner
  FROM (SELECT DISTINCT classid, objid FROM t WHERE classid IS NOT NULL) r
),
o AS (
  SELECT owner, max(kind) AS kind
  FROM (SELECT owner, kind FROM t UNION ALL SELECT owner, NULL FROM made) named
  WHERE owner IS NOT NULL
  GROUP BY owner
),
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
