"""Print the PostgreSQL DDL of SQLAlchemy models, for `migration-guard check --models-command`.

    python -m migration_guard_sqlalchemy myapp.models:Base
    python python/migration_guard_sqlalchemy.py myapp.models:metadata

The argument is `module:attribute`, where the attribute (dots allowed) is a `MetaData`, a
declarative base or a registry (anything with a `.metadata`). The module is imported from the
current directory, so run the command from the project root. The output creates schemas, enum
types, sequences, tables (foreign keys added after all tables, so cycles work), indexes and
comments, compiled with SQLAlchemy's own PostgreSQL dialect.
"""

import argparse
import importlib
import os
import sys


def load(spec):
    """Imports `module:attribute` and returns the attribute."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise SystemExit(f"error: {spec!r} is not module:attribute (e.g. myapp.models:Base)")
    sys.path.insert(0, os.getcwd())
    try:
        obj = importlib.import_module(module_name)
    except ImportError as e:
        raise SystemExit(f"error: cannot import {module_name}: {e}")
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise SystemExit(f"error: {module_name} has no attribute {attribute}")
    return obj


def metadata_of(obj):
    """The MetaData behind a MetaData, declarative base or registry."""
    from sqlalchemy import MetaData

    if isinstance(obj, MetaData):
        return obj
    metadata = getattr(obj, "metadata", None)
    if isinstance(metadata, MetaData):
        return metadata
    raise SystemExit(f"error: {obj!r} is not a MetaData, declarative base or registry")


def create_enum_type():
    try:
        from sqlalchemy.dialects.postgresql.named_types import CreateEnumType  # SQLAlchemy 2.x
    except ImportError:
        from sqlalchemy.dialects.postgresql.base import CreateEnumType  # SQLAlchemy 1.4
    return CreateEnumType


def statements(metadata):
    """The DDL statements for `metadata`, in an order PostgreSQL accepts."""
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import (
        AddConstraint,
        CreateIndex,
        CreateSequence,
        CreateTable,
        SetColumnComment,
        SetTableComment,
    )

    dialect = postgresql.dialect()
    preparer = dialect.identifier_preparer
    CreateEnumType = create_enum_type()

    def sql(element):
        return str(element.compile(dialect=dialect)).strip()

    tables = list(metadata.sorted_tables)
    out = []
    for schema in sorted({t.schema for t in tables if t.schema}):
        out.append(f"CREATE SCHEMA IF NOT EXISTS {preparer.quote_schema(schema)}")
    enums = {}
    for table in tables:
        for column in table.columns:
            kind = column.type
            if isinstance(kind, sa.Enum) and getattr(kind, "native_enum", True) and kind.name:
                key = (kind.schema or table.schema, kind.name)
                enums.setdefault(key, kind)
    for _, kind in sorted(enums.items(), key=lambda item: (item[0][0] or "", item[0][1])):
        out.append(sql(CreateEnumType(kind)))
    sequences = {}
    for table in tables:
        for column in table.columns:
            default = column.default
            if isinstance(default, sa.Sequence):
                sequences.setdefault((default.schema or "", default.name), default)
    for sequence in getattr(metadata, "_sequences", {}).values():
        sequences.setdefault((sequence.schema or "", sequence.name), sequence)
    for _, sequence in sorted(sequences.items()):
        out.append(sql(CreateSequence(sequence)))
    foreign_keys = []
    for table in tables:
        fks = [c for c in table.constraints if isinstance(c, sa.ForeignKeyConstraint)]
        foreign_keys.extend(fks)
        out.append(sql(CreateTable(table, include_foreign_key_constraints=[])))
        if table.comment is not None:
            out.append(sql(SetTableComment(table)))
        for column in table.columns:
            if column.comment is not None:
                out.append(sql(SetColumnComment(column)))
    for fk in foreign_keys:
        out.append(sql(AddConstraint(fk)))
    for table in tables:
        for index in sorted(table.indexes, key=lambda i: i.name or ""):
            out.append(sql(CreateIndex(index)))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="migration_guard_sqlalchemy",
        description="Print the PostgreSQL DDL of SQLAlchemy models (module:attribute).",
    )
    parser.add_argument("target", help="module:attribute of a MetaData, declarative base or registry")
    args = parser.parse_args(argv)
    metadata = metadata_of(load(args.target))
    for statement in statements(metadata):
        print(statement + ";\n")


if __name__ == "__main__":
    main()
