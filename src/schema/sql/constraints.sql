-- Table constraints (primary key, unique, foreign key, check, exclusion); NOT NULL is a column
-- attribute and domain constraints belong to their domain.
SELECT n.nspname::text, c.relname::text, con.conname::text, con.contype::text,
       pg_get_constraintdef(con.oid, true),
       d.description,
       c.oid
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_description d ON d.objoid = con.oid AND d.classoid = 'pg_constraint'::regclass AND d.objsubid = 0
WHERE con.conrelid <> 0
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_|migration_guard$)'
  AND c.oid NOT IN (SELECT e.objid FROM pg_depend e
                    WHERE e.refclassid = 'pg_extension'::regclass AND e.deptype = 'e'
                      AND e.classid = 'pg_class'::regclass)
