-- Sequences with their options and the column that owns them (serial and identity columns).
SELECT n.nspname::text, c.relname::text, format_type(s.seqtypid, NULL),
       s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle,
       c.relpersistence::text,
       (SELECT tn.nspname || '.' || tc.relname || '.' || a.attname
        FROM pg_depend o
        JOIN pg_class tc ON tc.oid = o.refobjid
        JOIN pg_namespace tn ON tn.oid = tc.relnamespace
        JOIN pg_attribute a ON a.attrelid = o.refobjid AND a.attnum = o.refobjsubid
        WHERE o.classid = 'pg_class'::regclass AND o.objid = c.oid
          AND o.refclassid = 'pg_class'::regclass AND o.deptype IN ('a', 'i')
        LIMIT 1),
       d.description,
       c.oid
FROM pg_sequence s
JOIN pg_class c ON c.oid = s.seqrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_|migration_guard$)'
  AND c.oid NOT IN (SELECT e.objid FROM pg_depend e
                    WHERE e.refclassid = 'pg_extension'::regclass AND e.deptype = 'e'
                      AND e.classid = 'pg_class'::regclass)
