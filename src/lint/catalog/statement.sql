-- After one statement: the relation locks this backend holds (with each relation's current
-- file node, owning table, scan count in this transaction and dropped-column count), the constraints of those
-- relations (with a foreign key's referenced table), and lock_timeout. A relation that no longer
-- has a pg_class row was dropped.
WITH held AS MATERIALIZED (
    SELECT l.relation, array_agg(l.mode::text) AS modes
    FROM pg_catalog.pg_locks l
    WHERE l.pid = pg_catalog.pg_backend_pid() AND l.locktype = 'relation' AND l.granted
      AND l.relation >= 16384
      -- The snapshots' DDL log (written by event triggers) is not the migration's.
      AND l.relation NOT IN (SELECT c.oid FROM pg_catalog.pg_class c
                             WHERE c.relnamespace = pg_catalog.to_regnamespace('pg_migration_guard'))
    GROUP BY l.relation
)
SELECT 'l' AS tag, h.relation::int8 AS oid, coalesce(c.relkind::text, '') AS kind,
       coalesce(c.relfilenode, 0)::int8 AS filenode, coalesce(i.indrelid, 0)::int8 AS parent,
       coalesce(n.nspname::text, '') AS schema, coalesce(c.relname::text, '') AS name,
       coalesce(pg_catalog.pg_stat_get_xact_numscans(h.relation), 0)::int8 AS scans,
       c.oid IS NOT NULL AS flag, h.modes,
       (SELECT count(*) FROM pg_catalog.pg_attribute a WHERE a.attrelid = h.relation AND a.attisdropped) AS dropped,
       0::int8 AS referenced
FROM held h
LEFT JOIN pg_catalog.pg_class c ON c.oid = h.relation
LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = h.relation
UNION ALL
SELECT 'c', k.oid::int8, k.contype::text, 0, k.conrelid::int8, '', k.conname::text, 0, k.convalidated, NULL, 0,
       k.confrelid::int8
FROM pg_catalog.pg_constraint k
-- Adding or validating a constraint takes at least SHARE UPDATE EXCLUSIVE on its table.
WHERE k.conrelid IN (SELECT relation FROM held WHERE modes && ARRAY['ShareUpdateExclusiveLock', 'ShareLock',
      'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock'])
UNION ALL
SELECT 't', 0, pg_catalog.current_setting('lock_timeout'), 0, 0, '', '', 0, false, NULL, 0, 0
