-- The columns' and defaults' part of versions.sql (see there), read on another connection at
-- the same time.
WITH now AS (SELECT age('3'::xid)::bigint AS a)
SELECT owner, count(*), (count(*) * (SELECT a FROM now) - sum(x))::bigint, '' FROM (
  SELECT a.attrelid AS owner, age(a.xmin) AS x FROM pg_attribute a WHERE a.attrelid >= 16384 AND a.attnum > 0
  UNION ALL SELECT ad.adrelid, age(ad.xmin) FROM pg_attrdef ad
) v
GROUP BY owner
