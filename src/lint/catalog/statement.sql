-- After one statement: the relation locks this backend holds (with each relation's current
-- file node, owning table, scan count in this transaction and dropped-column count), the constraints of those
-- relations (with a foreign key's referenced table), and lock_timeout. A relation that no longer
-- has a pg_class row was dropped. Every catalog is read by index from the held relations
-- (lateral subqueries that `OFFSET 0` keeps from being flattened into joins the cached plan,
-- made when the catalogs were small, could turn into whole-catalog scans), so the cost follows
-- what the transaction locked, not the schema's size.
WITH held AS MATERIALIZED (
    SELECT l.relation, array_agg(l.mode::text) AS modes
    FROM pg_catalog.pg_locks l
    WHERE l.pid = pg_catalog.pg_backend_pid() AND l.locktype = 'relation' AND l.granted
      AND l.relation >= 16384
    GROUP BY l.relation
)
SELECT 'l'::text AS tag, h.relation::int8 AS oid, coalesce(c.relkind::text, '') AS kind,
       coalesce(c.relfilenode, 0)::int8 AS filenode,
       coalesce((SELECT i.indrelid FROM pg_catalog.pg_index i WHERE i.indexrelid = h.relation), 0)::int8 AS parent,
       coalesce(c.nspname::text, '') AS schema, coalesce(c.relname::text, '') AS name,
       coalesce(pg_catalog.pg_stat_get_xact_numscans(h.relation), 0)::int8 AS scans,
       c.oid IS NOT NULL AS flag, h.modes,
       (SELECT count(*) FROM pg_catalog.pg_attribute a WHERE a.attrelid = h.relation AND a.attisdropped) AS dropped,
       0::int8 AS referenced
FROM held h
LEFT JOIN LATERAL (SELECT c.oid, c.relkind, c.relfilenode, c.relname, n.nspname
                   FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                   WHERE c.oid = h.relation OFFSET 0) c ON true
-- The snapshots' DDL log (written by event triggers) is not the migration's.
WHERE c.nspname IS DISTINCT FROM 'pg_migration_guard'
UNION ALL
SELECT 'c', k.oid::int8, k.contype::text, 0, k.conrelid::int8, '', k.conname::text, 0, k.convalidated, NULL, 0,
       k.confrelid::int8
FROM held h
CROSS JOIN LATERAL (SELECT * FROM pg_catalog.pg_constraint k WHERE k.conrelid = h.relation OFFSET 0) k
-- Adding or validating a constraint takes at least SHARE UPDATE EXCLUSIVE on its table.
WHERE h.modes && ARRAY['ShareUpdateExclusiveLock', 'ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock',
      'AccessExclusiveLock']
UNION ALL
SELECT 't', 0, pg_catalog.current_setting('lock_timeout'), 0, 0, '', '', 0, false, NULL, 0, 0
