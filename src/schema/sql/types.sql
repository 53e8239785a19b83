-- User-defined enum, domain, composite and range types.
SELECT n.nspname::text, t.typname::text, t.typtype::text,
       CASE WHEN t.typtype = 'e' THEN
         ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder)
       END,
       CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END,
       t.typnotnull,
       pg_get_expr(t.typdefaultbin, 0),
       ARRAY(SELECT con.conname || ' ' || pg_get_constraintdef(con.oid, true)
             FROM pg_constraint con WHERE con.contypid = t.oid ORDER BY con.conname),
       ARRAY(SELECT quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod)
             FROM pg_attribute a
             WHERE t.typtype = 'c' AND a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum),
       (SELECT format_type(r.rngsubtype, NULL) FROM pg_range r WHERE r.rngtypid = t.oid),
       CASE WHEN t.typtype = 'd' AND t.typcollation <> coalesce(b.typcollation, 0) THEN
         (SELECT quote_ident(co.collname) FROM pg_collation co WHERE co.oid = t.typcollation)
       END,
       d.description,
       -- The owner (see versions.sql): a composite type belongs to its relation.
       CASE WHEN t.typtype = 'c' THEN t.typrelid ELSE t.oid END
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
LEFT JOIN pg_type b ON b.oid = t.typbasetype
LEFT JOIN pg_description d ON d.objoid = t.oid AND d.classoid = 'pg_type'::regclass AND d.objsubid = 0
WHERE (t.typtype IN ('e', 'd', 'r')
       OR (t.typtype = 'c' AND EXISTS (SELECT 1 FROM pg_class r WHERE r.oid = t.typrelid AND r.relkind = 'c')))
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_|migration_guard$)'
  AND t.oid NOT IN (SELECT e.objid FROM pg_depend e
                    WHERE e.refclassid = 'pg_extension'::regclass AND e.deptype = 'e'
                      AND e.classid = 'pg_type'::regclass)
