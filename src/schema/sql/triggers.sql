-- User triggers (not the internal ones behind foreign keys, nor clones on partitions).
SELECT n.nspname::text, c.relname::text, t.tgname::text, pg_get_triggerdef(t.oid, true), t.tgenabled::text,
       d.description,
       c.oid
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_description d ON d.objoid = t.oid AND d.classoid = 'pg_trigger'::regclass AND d.objsubid = 0
WHERE NOT t.tgisinternal AND t.tgparentid = 0
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_|migration_guard$)'
  AND c.oid NOT IN (SELECT e.objid FROM pg_depend e
                    WHERE e.refclassid = 'pg_extension'::regclass AND e.deptype = 'e'
                      AND e.classid = 'pg_class'::regclass)
