-- Functions, procedures and aggregates, keyed by their identity signature; not those made by
-- extensions, nor those PostgreSQL creates along with a type (range constructors).
SELECT n.nspname::text, p.proname::text, pg_get_function_identity_arguments(p.oid), p.prokind::text,
       pg_get_function_result(p.oid), l.lanname::text, p.provolatile::text, p.proisstrict, p.prosecdef,
       CASE WHEN p.prokind <> 'a' THEN pg_get_functiondef(p.oid) END,
       d.description,
       p.oid
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
JOIN pg_language l ON l.oid = p.prolang
LEFT JOIN pg_description d ON d.objoid = p.oid AND d.classoid = 'pg_proc'::regclass AND d.objsubid = 0
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_|migration_guard$)'
  AND p.oid NOT IN (SELECT e.objid FROM pg_depend e
                    WHERE e.refclassid = 'pg_extension'::regclass AND e.deptype = 'e'
                      AND e.classid = 'pg_proc'::regclass)
  AND p.oid NOT IN (SELECT i.objid FROM pg_depend i WHERE i.classid = 'pg_proc'::regclass AND i.deptype = 'i')
