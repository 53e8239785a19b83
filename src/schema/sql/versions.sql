-- A version of every object that owns rows of the per-object queries (columns, constraints,
-- indexes, triggers, policies and rules belong to their table or view; functions, sequences and
-- types, with their labels and domain constraints, to themselves): how many catalog rows
-- describe it and the sum of their creating transaction ids. Any insert, update or delete of
-- those rows changes the pair, because a newer row's xmin is larger than every older one's.
-- (xmin is read through age(), which is cheaper than casting it; subtracting from the age of
-- the first normal xid gives back xmin - 3.)
-- The last column is the owner's kind: its relkind, 'F' for a routine, 'y' for a type.
-- Columns, their defaults, indexes and sequences' owning columns are counted by
-- versions_parts.sql, run at the same time on another connection; the two add up.
-- Owner 0 stands for what can change the printed form of any object: schemas, comments,
-- extensions and their members, collations, operators, operator classes, text search configs.
WITH now AS (SELECT age('3'::xid)::bigint AS a)
SELECT owner, count(*), (count(*) * (SELECT a FROM now) - sum(x))::bigint, max(k) FROM (
  SELECT c.oid AS owner, age(c.xmin) AS x, c.relkind::text AS k FROM pg_class c WHERE c.oid >= 16384
  UNION ALL SELECT con.conrelid, age(con.xmin), '' FROM pg_constraint con WHERE con.conrelid <> 0
  UNION ALL SELECT s.seqrelid, age(s.xmin), '' FROM pg_sequence s
  UNION ALL SELECT p.oid, age(p.xmin), 'F' FROM pg_proc p WHERE p.oid >= 16384
  UNION ALL SELECT t.oid, age(t.xmin), 'y' FROM pg_type t WHERE t.oid >= 16384
  UNION ALL SELECT e.enumtypid, age(e.xmin), 'y' FROM pg_enum e WHERE e.enumtypid >= 16384
  UNION ALL SELECT r.rngtypid, age(r.xmin), 'y' FROM pg_range r WHERE r.rngtypid >= 16384
  UNION ALL SELECT con.contypid, age(con.xmin), 'y' FROM pg_constraint con WHERE con.contypid <> 0
  UNION ALL SELECT tg.tgrelid, age(tg.xmin), '' FROM pg_trigger tg
  UNION ALL SELECT pol.polrelid, age(pol.xmin), '' FROM pg_policy pol
  UNION ALL SELECT rw.ev_class, age(rw.xmin), '' FROM pg_rewrite rw WHERE rw.ev_class >= 16384
  UNION ALL SELECT inh.inhrelid, age(inh.xmin), '' FROM pg_inherits inh
  UNION ALL SELECT pt.partrelid, age(pt.xmin), '' FROM pg_partitioned_table pt
  UNION ALL SELECT 0, age(xmin), '' FROM pg_namespace WHERE oid >= 16384
  UNION ALL SELECT 0, age(xmin), '' FROM pg_description WHERE objoid >= 16384
  UNION ALL SELECT 0, age(xmin), '' FROM pg_extension
  UNION ALL SELECT 0, age(xmin), '' FROM pg_depend WHERE refclassid = 'pg_extension'::regclass
  UNION ALL SELECT 0, age(xmin), '' FROM pg_collation WHERE oid >= 16384
  UNION ALL SELECT 0, age(xmin), '' FROM pg_operator WHERE oid >= 16384
  UNION ALL SELECT 0, age(xmin), '' FROM pg_opclass WHERE oid >= 16384
  UNION ALL SELECT 0, age(xmin), '' FROM pg_ts_config WHERE oid >= 16384
) v
GROUP BY owner
