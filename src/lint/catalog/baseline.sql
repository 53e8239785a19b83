-- Before a statement that may scan a table (SET NOT NULL) or drop its columns: the table's
-- sequential-scan count in this transaction and its number of dropped columns, to compare with
-- after it. Only such statements pay for this query.
SELECT r::oid::int8 AS oid, coalesce(pg_catalog.pg_stat_get_xact_numscans(r), 0)::int8 AS scans,
       (SELECT count(*) FROM pg_catalog.pg_attribute a WHERE a.attrelid = r AND a.attisdropped) AS dropped
FROM pg_catalog.to_regclass($1) r
WHERE r IS NOT NULL
