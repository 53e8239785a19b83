-- Owners (see versions.sql) of the objects that depend on any of $1 (or on a renamed relation's
-- row type, or a renamed type's array type): renaming a table, column, type or function changes
-- how objects that reference it print, without touching their rows.
SELECT DISTINCT coalesce(
  CASE d.classid
    WHEN 'pg_class'::regclass THEN coalesce((SELECT i.indrelid FROM pg_index i WHERE i.indexrelid = d.objid), d.objid)
    WHEN 'pg_attrdef'::regclass THEN (SELECT ad.adrelid FROM pg_attrdef ad WHERE ad.oid = d.objid)
    WHEN 'pg_constraint'::regclass THEN
      (SELECT CASE WHEN con.conrelid <> 0 THEN con.conrelid ELSE con.contypid END FROM pg_constraint con WHERE con.oid = d.objid)
    WHEN 'pg_type'::regclass THEN
      coalesce((SELECT ty.typrelid FROM pg_type ty WHERE ty.oid = d.objid AND ty.typtype = 'c'), d.objid)
    WHEN 'pg_trigger'::regclass THEN (SELECT t.tgrelid FROM pg_trigger t WHERE t.oid = d.objid)
    WHEN 'pg_rewrite'::regclass THEN (SELECT r.ev_class FROM pg_rewrite r WHERE r.oid = d.objid)
    WHEN 'pg_policy'::regclass THEN (SELECT p.polrelid FROM pg_policy p WHERE p.oid = d.objid)
    ELSE d.objid
  END, 0)
FROM pg_depend d
WHERE d.refclassid IN ('pg_class'::regclass, 'pg_type'::regclass, 'pg_proc'::regclass)
  AND (d.refobjid = ANY($1)
       OR d.refobjid IN (SELECT c.reltype FROM pg_class c WHERE c.oid = ANY($1))
       OR d.refobjid IN (SELECT ty.typarray FROM pg_type ty WHERE ty.oid = ANY($1)))
