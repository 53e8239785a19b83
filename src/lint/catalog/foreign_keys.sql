-- At the end of a migration that added foreign keys: each foreign key that still exists, and
-- whether its referencing columns are the leading columns (in any order) of a non-partial index on
-- the referencing table, which is what the referential-integrity queries on a DELETE or key UPDATE
-- of the referenced table need. $1: the keys' OIDs; NULL: the keys of the tables this transaction
-- holds locked strongly enough to add one (sent in the migration's own message, before it commits,
-- so that the answer costs no round trip), made after $2 (OIDs only grow: the keys the tables had
-- before the migration are left out before their columns and indexes are read). Only migrations
-- that may add a foreign key pay for it.
WITH held AS MATERIALIZED (
    SELECT DISTINCT l.relation
    FROM pg_catalog.pg_locks l
    WHERE $1::oid[] IS NULL AND l.pid = pg_catalog.pg_backend_pid() AND l.locktype = 'relation'
      AND l.granted AND l.relation >= 16384
      AND l.mode IN ('ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')
), keys AS (
    -- By index from the held tables (see statement.sql for the `OFFSET 0`), or by OID.
    SELECT k.oid, k.conname, k.conrelid, k.confrelid, k.conkey, k.contype, k.conparentid
    FROM held h
    CROSS JOIN LATERAL (SELECT * FROM pg_catalog.pg_constraint k WHERE k.conrelid = h.relation OFFSET 0) k
    WHERE k.oid::int8 > $2
    UNION ALL
    SELECT k.oid, k.conname, k.conrelid, k.confrelid, k.conkey, k.contype, k.conparentid
    FROM pg_catalog.pg_constraint k
    WHERE k.oid = ANY($1::oid[])
)
SELECT k.oid::int8 AS oid, k.conname::text AS name, n.nspname::text AS schema, c.relname::text AS "table",
       ARRAY(SELECT a.attname::text
             FROM unnest(k.conkey) WITH ORDINALITY AS u(attnum, ord)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum
             ORDER BY u.ord) AS columns,
       rn.nspname::text AS referenced_schema, r.relname::text AS referenced,
       EXISTS (
           SELECT 1
           FROM pg_catalog.pg_index i
           WHERE i.indrelid = k.conrelid AND i.indpred IS NULL
             AND (SELECT array_agg(x ORDER BY x) FROM unnest((i.indkey::int2[])[0:cardinality(k.conkey) - 1]) AS x)
                 = (SELECT array_agg(x ORDER BY x) FROM unnest(k.conkey) AS x)) AS covered
FROM keys k
JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_class r ON r.oid = k.confrelid
JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace
WHERE k.contype = 'f' AND k.conparentid = 0
ORDER BY k.oid
