-- The DDL log: event triggers that write down, per DDL command, the catalog row of each object
-- it created or altered and the owner (see versions.sql) of each it dropped, so that a snapshot
-- re-reads those owners alone (the drain finds the owners of the rows) instead of scanning the
-- catalogs for what changed. Run by the superuser on a scratch
-- database before any migration. The schema's `pg_` name is reserved (no migration can create
-- or name it; introspection, the data checks and pg_dump leave `pg_` schemas out), and it is
-- the superuser's with no privileges granted, so migrations cannot read, write or drop it.
SET LOCAL allow_system_table_mods = on;
CREATE SCHEMA pg_migration_guard;
REVOKE ALL ON SCHEMA pg_migration_guard FROM PUBLIC;
-- owner: 0 for what may change how anything prints (schemas, extensions, collations,
-- operators...); kind: a dropped owner's kind (relkind, 'F', 'y'); index: a dropped index's
-- qualified name (its table is found by the reader's cache); classid and objid: the catalog
-- row a command created or altered, whose owner the drain finds.
CREATE UNLOGGED TABLE pg_migration_guard.touched (owner oid, kind text, index text, classid oid, objid oid);

CREATE FUNCTION pg_migration_guard.ended() RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  -- The catalog row alone: its owner is found when the log is drained (in one query for all
  -- the commands since the previous drain), which keeps each DDL command cheap.
  INSERT INTO pg_migration_guard.touched (classid, objid)
  SELECT d.classid, d.objid
  FROM pg_event_trigger_ddl_commands() d
  -- GRANT and REVOKE name no catalog row; privileges, statistics objects, publications and
  -- default privileges are not part of the schema read.
  WHERE d.classid <> 0
    AND d.classid NOT IN ('pg_default_acl'::regclass, 'pg_statistic_ext'::regclass,
                          'pg_publication'::regclass, 'pg_publication_rel'::regclass,
                          'pg_event_trigger'::regclass)
    -- What an extension's script runs: CREATE EXTENSION itself stands for it.
    AND NOT d.in_extension;
-- The migration's DDL must never fail because of the log: anything unforeseen reads everything.
EXCEPTION WHEN OTHERS THEN
  INSERT INTO pg_migration_guard.touched (owner) VALUES (0);
END $$;

CREATE FUNCTION pg_migration_guard.dropped() RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  INSERT INTO pg_migration_guard.touched (owner, kind, index)
  SELECT CASE
      WHEN d.object_type = 'index' THEN NULL
      WHEN d.classid IN ('pg_class'::regclass, 'pg_proc'::regclass, 'pg_type'::regclass) THEN d.objid
      -- A part of a table (or domain) that is still there: the address names it.
      WHEN d.object_type IN ('table constraint', 'trigger', 'policy', 'rule', 'default value', 'table column')
        THEN to_regclass(format('%I.%I', d.address_names[1], d.address_names[2]))
      -- A domain's address is its qualified name.
      WHEN d.object_type = 'domain constraint' THEN to_regtype(d.address_names[1])
      WHEN d.classid IN ('pg_default_acl'::regclass, 'pg_statistic_ext'::regclass, 'pg_publication'::regclass,
                         'pg_publication_rel'::regclass) THEN NULL
      ELSE 0
    END,
    CASE d.object_type
      WHEN 'table' THEN 'r' WHEN 'view' THEN 'v' WHEN 'materialized view' THEN 'm'
      WHEN 'sequence' THEN 'S' WHEN 'foreign table' THEN 'f' WHEN 'composite type' THEN 'c'
      WHEN 'function' THEN 'F' WHEN 'procedure' THEN 'F' WHEN 'aggregate' THEN 'F'
      WHEN 'type' THEN 'y' WHEN 'domain' THEN 'y'
      ELSE ''
    END,
    CASE WHEN d.object_type = 'index' THEN d.schema_name || '.' || d.object_name END
  FROM pg_event_trigger_dropped_objects() d
  -- A dropped table's row and array types go with it.
  WHERE NOT d.is_temporary AND (d.original OR d.normal OR d.classid <> 'pg_type'::regclass);
EXCEPTION WHEN OTHERS THEN
  INSERT INTO pg_migration_guard.touched (owner) VALUES (0);
END $$;

CREATE EVENT TRIGGER pg_migration_guard_ended ON ddl_command_end EXECUTE FUNCTION pg_migration_guard.ended();
CREATE EVENT TRIGGER pg_migration_guard_dropped ON sql_drop EXECUTE FUNCTION pg_migration_guard.dropped();
