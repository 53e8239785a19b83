-- After one statement: the relation locks this backend holds (with each relation's current
-- file node, owning table, scan count in this transaction and dropped-column count), the constraints of those
-- relations (with a foreign key's referenced table), and lock_timeout. A relation that no longer
-- has a pg_class row was dropped. Every catalog is read by index from the held relations
-- (lateral subqueries that `OFFSET 0` keeps from being flattened into joins the cached plan,
-- made when the catalogs were small, could turn into whole-catalog scans), so the cost follows
-- what the transaction locked, not the schema's size.
-- $1: relations with higher OIDs were made by the script being traced; of those, only indexes on
-- older tables and foreign keys to older tables are listed (the rules look at nothing else of
-- them), and only when $2 says the statement may have made such a thing, so that a statement
-- late in a long transaction does not read again everything the transaction created. The last
-- query of the script passes the highest OID and lists all.
-- $3: whether to list constraints (false after a statement that can neither add, drop, rename nor
-- validate one, nor make a table whose own ones are still to be listed); $4: whether to count
-- scans and dropped columns (only after a statement whose table has a baseline query before it).
-- TOAST tables and their indexes are never listed: their table's own row tells; nor are
-- relations held only in modes that change nothing.
WITH held AS MATERIALIZED (
    SELECT l.relation, array_agg(l.mode::text) AS modes
    FROM pg_catalog.pg_locks l
    WHERE l.pid = pg_catalog.pg_backend_pid() AND l.locktype = 'relation' AND l.granted
      AND l.relation >= 16384
    GROUP BY l.relation
    -- Under ACCESS SHARE, ROW SHARE and ROW EXCLUSIVE alone a relation keeps its definition, file,
    -- columns and constraints, and such a lock blocks no writes: nothing a rule looks at.
    HAVING bool_or(l.mode NOT IN ('AccessShareLock', 'RowShareLock', 'RowExclusiveLock'))
), shown AS MATERIALIZED (
    SELECT h.relation, h.modes
    FROM held h
    WHERE h.relation::int8 <= $1
       OR ($2 AND EXISTS (SELECT FROM pg_catalog.pg_index i WHERE i.indexrelid = h.relation AND i.indrelid::int8 <= $1))
)
SELECT 'l'::text AS tag, h.relation::int8 AS oid, coalesce(c.relkind::text, '') AS kind,
       coalesce(c.relfilenode, 0)::int8 AS filenode,
       coalesce((SELECT i.indrelid FROM pg_catalog.pg_index i WHERE i.indexrelid = h.relation), 0)::int8 AS parent,
       coalesce(c.nspname::text, '') AS schema, coalesce(c.relname::text, '') AS name,
       CASE WHEN $4 THEN coalesce(pg_catalog.pg_stat_get_xact_numscans(h.relation), 0) ELSE 0 END::int8 AS scans,
       c.oid IS NOT NULL AS flag, h.modes,
       CASE WHEN $4 THEN (SELECT count(*) FROM pg_catalog.pg_attribute a WHERE a.attrelid = h.relation AND a.attisdropped)
            ELSE 0 END AS dropped,
       0::int8 AS referenced
FROM shown h
LEFT JOIN LATERAL (SELECT c.oid, c.relkind, c.relfilenode, c.relname, n.nspname
                   FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                   WHERE c.oid = h.relation OFFSET 0) c ON true
-- The snapshots' DDL log (written by event triggers) is not the migration's.
WHERE c.nspname IS DISTINCT FROM 'pg_migration_guard' AND c.nspname IS DISTINCT FROM 'pg_toast'
UNION ALL
SELECT 'c', k.oid::int8, k.contype::text, 0, k.conrelid::int8, '', k.conname::text, 0, k.convalidated, NULL, 0,
       k.confrelid::int8
FROM held h
CROSS JOIN LATERAL (SELECT * FROM pg_catalog.pg_constraint k WHERE k.conrelid = h.relation OFFSET 0) k
-- Adding or validating a constraint takes at least SHARE UPDATE EXCLUSIVE on its table.
WHERE $3 AND h.modes && ARRAY['ShareUpdateExclusiveLock', 'ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock',
      'AccessExclusiveLock']
  AND (h.relation::int8 <= $1 OR $2) AND (h.relation::int8 <= $1 OR (k.contype = 'f' AND k.confrelid::int8 <= $1))
UNION ALL
SELECT 't', 0, pg_catalog.current_setting('lock_timeout'), 0, 0, '', '', 0, false, NULL, 0, 0
