-- Schemas (namespaces) other than the system ones and those created by extensions.
SELECT n.nspname::text, d.description
FROM pg_namespace n
LEFT JOIN pg_description d ON d.objoid = n.oid AND d.classoid = 'pg_namespace'::regclass AND d.objsubid = 0
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_|migration_guard$)'
  AND n.oid NOT IN (SELECT e.objid FROM pg_depend e
                    WHERE e.refclassid = 'pg_extension'::regclass AND e.deptype = 'e'
                      AND e.classid = 'pg_namespace'::regclass)
