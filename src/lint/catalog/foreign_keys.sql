-- At the end of a migration that added foreign keys ($1: their OIDs): those that still exist and
-- whose referencing columns are not the leading columns (in any order) of a non-partial index on
-- the referencing table, which is what the referential-integrity queries on a DELETE or key UPDATE
-- of the referenced table need. Only migrations that added a foreign key pay for this query.
SELECT k.oid::int8 AS oid, k.conname::text AS name, n.nspname::text AS schema, c.relname::text AS "table",
       ARRAY(SELECT a.attname::text
             FROM unnest(k.conkey) WITH ORDINALITY AS u(attnum, ord)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum
             ORDER BY u.ord) AS columns,
       rn.nspname::text AS referenced_schema, r.relname::text AS referenced
FROM pg_catalog.pg_constraint k
JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_class r ON r.oid = k.confrelid
JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace
WHERE k.oid = ANY($1::oid[]) AND k.contype = 'f' AND k.conparentid = 0
  AND NOT EXISTS (
      SELECT 1
      FROM pg_catalog.pg_index i
      WHERE i.indrelid = k.conrelid AND i.indpred IS NULL
        AND (SELECT array_agg(x ORDER BY x) FROM unnest((i.indkey::int2[])[0:cardinality(k.conkey) - 1]) AS x)
            = (SELECT array_agg(x ORDER BY x) FROM unnest(k.conkey) AS x))
ORDER BY k.oid
