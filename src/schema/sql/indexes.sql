-- Indexes that do not implement a constraint (those are part of the constraint's definition).
-- indnullsnotdistinct is read through jsonb so that servers before 15 still answer. Key and
-- INCLUDE columns are cut from the definition: a pg_get_indexdef call per column costs more
-- than the rest of the query.
SELECT n.nspname::text, ic.relname::text, c.relname::text, am.amname::text, i.indisunique,
       coalesce((to_jsonb(i) ->> 'indnullsnotdistinct')::boolean, false),
       pg_get_expr(i.indpred, i.indrelid, true),
       pg_get_indexdef(i.indexrelid, 0, true),
       d.description,
       c.oid
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
-- Looked up per index (`OFFSET 0` keeps it a lookup): a generic plan may otherwise merge-join
-- the index rows with pg_class read in OID order up to the table, which costs more the later
-- the table was created.
CROSS JOIN LATERAL (SELECT c.oid, c.relname FROM pg_class c WHERE c.oid = i.indrelid OFFSET 0) c
JOIN pg_namespace n ON n.oid = ic.relnamespace
JOIN pg_am am ON am.oid = ic.relam
LEFT JOIN pg_description d ON d.objoid = ic.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_|migration_guard$)'
  AND NOT EXISTS (SELECT 1 FROM pg_constraint con
                  WHERE con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x'))
  AND c.oid NOT IN (SELECT e.objid FROM pg_depend e
                    WHERE e.refclassid = 'pg_extension'::regclass AND e.deptype = 'e'
                      AND e.classid = 'pg_class'::regclass)
