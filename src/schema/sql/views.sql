-- Views and materialized views with their normalized definitions.
SELECT n.nspname::text, c.relname::text, c.relkind::text, pg_get_viewdef(c.oid, true),
       coalesce(c.reloptions::text[], '{}'),
       d.description,
       c.oid
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
WHERE c.relkind IN ('v', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_|migration_guard$)'
  AND c.oid NOT IN (SELECT e.objid FROM pg_depend e
                    WHERE e.refclassid = 'pg_extension'::regclass AND e.deptype = 'e'
                      AND e.classid = 'pg_class'::regclass)
