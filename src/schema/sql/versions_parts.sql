-- The part of versions.sql (see there) that counts columns, defaults, indexes and sequences'
-- owning columns, read on another connection at the same time (the two take about as long).
WITH now AS (SELECT age('3'::xid)::bigint AS a)
SELECT owner, count(*), (count(*) * (SELECT a FROM now) - sum(x))::bigint, '' FROM (
  SELECT a.attrelid AS owner, age(a.xmin) AS x FROM pg_attribute a WHERE a.attrelid >= 16384 AND a.attnum > 0
  UNION ALL SELECT ad.adrelid, age(ad.xmin) FROM pg_attrdef ad
  UNION ALL SELECT i.indrelid, age(i.xmin)::bigint + age(ic.xmin) - (SELECT a FROM now)
    FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid WHERE i.indrelid >= 16384
  -- A sequence's owning column (OWNED BY, identity) is in pg_depend alone.
  UNION ALL SELECT d.objid, age(d.xmin) FROM pg_depend d
    WHERE d.classid = 'pg_class'::regclass AND d.objid >= 16384 AND d.deptype IN ('a', 'i')
) v
GROUP BY owner
