# Runs Alembic commands for migration-guard in one long-lived process, so Python, SQLAlchemy
# and the project are imported once rather than once per revision.
#
# argv: the Alembic command line options (-c INI). The database URL comes as DATABASE_URL (never
# in argv, where other users of the machine could read it); it is passed on as `-x url=URL` and
# set as the `sqlalchemy.url` and `url` main options of the config Alembic builds. Requests come
# over the Unix socket named by MIGRATION_GUARD_DRIVER_SOCKET (stdin is the revisions' own, and
# empty), one JSON object a line: {"cmd": "upgrade", "rev": "ab12"}. Replies go back over it, one
# JSON object a line: {"ok", "seconds", "output", "traceback"}. Output of each command (stdout
# and stderr, file-descriptor level) is captured into "output". MIGRATION_GUARD_VERSION_LOCATIONS,
# when set, holds the version locations (one a line) of a project that keeps one folder per
# database dialect and picks one at run time: Alembic is given them, as the project's runner does.
#
# Commands: "upgrade" (`alembic upgrade REV`), "revert" (downgrade exactly revision REV: its
# own step through the project's env.py, whatever branches or merges surround it) and "capture"
# (`alembic upgrade REV` through env.py, rolled back: the reply's "statements" lists {"sql",
# "line"} per statement REV's upgrade() executed, as the database driver sent it, and
# {"autocommit": true, "line", "what"} where it leaves the transaction (what: why, a clause),
# where the capture stops; "lock_timeout" is the session's when the upgrade's first statement
# ran (env.py may set one on its connection);
# "line" is the revision file's line that caused it).
import sys

# `python -c` puts the working directory (the project) first on sys.path, where the `alembic`
# command has its own bin folder: a project module named like a standard one (`logging`,
# `types`) would shadow it. The project is on sys.path only as alembic.ini says
# (`prepend_sys_path`).
if sys.path and sys.path[0] == "":
    del sys.path[0]

import json
import os
import socket
import tempfile
import time
import traceback

import contextlib
import re

from alembic import command
from alembic.config import CommandLine
from alembic.runtime import migration
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import HeadMaintainer, MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Engine

raw_url = os.environ["DATABASE_URL"]
url = raw_url.replace("%", "%%")
connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
connection.connect(os.environ.pop("MIGRATION_GUARD_DRIVER_SOCKET"))
channel = connection.makefile("rw", encoding="utf-8", newline="\n")
built = {}


class Capture(CommandLine):
    """Builds the config exactly as `alembic` would, without running a command."""

    def run_cmd(self, config, options):
        config.set_main_option("sqlalchemy.url", url)
        config.set_main_option("url", url)
        locations = os.environ.pop("MIGRATION_GUARD_VERSION_LOCATIONS", None)
        if locations:
            # Both spellings of the separator option: Alembic renamed it.
            config.set_main_option("path_separator", "newline")
            config.set_main_option("version_path_separator", "newline")
            config.set_main_option("version_locations", locations.replace("%", "%%"))
        built["config"] = config


Capture(prog="alembic").main(sys.argv[1:] + ["-x", "url=" + raw_url, "current"])
config = built["config"]


def revert(rev):
    script = ScriptDirectory.from_config(config)
    target = script.get_revision(rev)
    parents = target.down_revision
    parents = () if parents is None else (parents,) if isinstance(parents, str) else tuple(parents)

    def steps(heads, context):
        return [migration.MigrationStep.downgrade_from_script(script.revision_map, target)]

    destination = parents[0] if len(parents) == 1 else "base" if not parents else None
    with EnvironmentContext(config, script, fn=steps, as_sql=False, destination_rev=destination):
        script.run_env()


class Captured(BaseException):
    """Ends a capture: what it ran is rolled back. Not an Exception, so that an env.py or a
    revision catching errors lets it through."""


# While a capture runs: the revision captured, its file, and what it executed so far.
capturing = {}
# A statement that ends the transaction: the capture stops before it.
CONTROL = re.compile(r"\s*(COMMIT|END|ROLLBACK|ABORT|BEGIN|START\s+TRANSACTION)\b", re.IGNORECASE)


def active():
    """Whether a capture runs and its revision has not finished yet."""
    return bool(capturing) and not capturing.get("done")


def revision_line():
    """The line of the captured revision's file on the stack, if it is on it."""
    known = capturing["known"]
    for frame, number in traceback.walk_stack(None):
        name = frame.f_code.co_filename
        if name not in known:
            known[name] = os.path.realpath(name) == capturing["path"]
        if known[name]:
            return number
    return None


def sent(cursor, statement, parameters, executemany):
    """The statements as the database driver sends them (parameters bound)."""
    mogrify = getattr(cursor, "mogrify", None)
    if mogrify is None:
        try:
            import psycopg

            mogrify = psycopg.ClientCursor(cursor.connection).mogrify
        except Exception:
            mogrify = None
    rows = parameters if executemany else [parameters]
    if mogrify is None:
        if any(rows):
            capturing["failed"] = "the database driver cannot show a statement with its parameters bound"
            raise Captured(capturing["failed"])
        return [statement]
    texts = []
    for row in rows:
        text = mogrify(statement, row)
        texts.append(text.decode("utf-8", "replace") if isinstance(text, bytes) else text)
    return texts


def stop(what):
    capturing["statements"].append({"autocommit": True, "line": revision_line(), "what": what})
    raise Captured(what)


@event.listens_for(Engine, "before_cursor_execute")
def before_cursor_execute(conn, cursor, statement, parameters, context, executemany):
    if not active():
        return
    line = revision_line()
    if line is None:
        return  # Alembic's own version table, env.py's settings
    main = capturing.get("connection")
    if main is not None and getattr(cursor, "connection", main) is not main:
        # What it runs there commits on its own: the capture must not run it.
        stop("it runs statements on a database connection of its own")
    if "lock_timeout" not in capturing:
        probe = cursor.connection.cursor()
        probe.execute("SELECT pg_catalog.current_setting('lock_timeout')")
        capturing["lock_timeout"] = probe.fetchone()[0]
        probe.close()
    if control := CONTROL.match(statement):
        stop(control.group(1).upper() + " ends the migration's transaction")
    for text in sent(cursor, statement, parameters, executemany):
        capturing["statements"].append({"sql": text, "line": line})


@event.listens_for(Engine, "commit")
def before_commit(conn):
    if active() and revision_line() is not None:
        stop("it commits the migration's transaction")


original_autocommit_block = MigrationContext.autocommit_block


@contextlib.contextmanager
def autocommit_block(self):
    if active():
        stop("its autocommit_block() runs outside the migration's transaction")
    with original_autocommit_block(self) as block:
        yield block


MigrationContext.autocommit_block = autocommit_block
original_run_migrations = MigrationContext.run_migrations


def run_migrations(self, **kw):
    if capturing and self.connection is not None:
        try:
            capturing["connection"] = self.connection.connection.dbapi_connection
        except AttributeError:
            pass
    return original_run_migrations(self, **kw)


MigrationContext.run_migrations = run_migrations
original_update_to_step = HeadMaintainer.update_to_step


def update_to_step(self, step):
    if active() and step.info.up_revision_id == capturing["rev"]:
        # The revision ran: roll it back before Alembic records or commits it.
        capturing["done"] = True
        raise Captured("done")
    return original_update_to_step(self, step)


HeadMaintainer.update_to_step = update_to_step


def capture(rev):
    target = ScriptDirectory.from_config(config).get_revision(rev)
    capturing.update(rev=target.revision, path=os.path.realpath(target.path), known={}, statements=[])
    try:
        command.upgrade(config, rev)
        raise RuntimeError("alembic upgrade did not run revision " + rev)
    except Captured:
        if "failed" in capturing:
            raise RuntimeError(capturing["failed"]) from None
        return {"statements": capturing["statements"], "lock_timeout": capturing.get("lock_timeout")}
    finally:
        capturing.clear()


def run(request):
    if request["cmd"] == "revert":
        return revert(request["rev"])
    if request["cmd"] == "capture":
        return capture(request["rev"])
    return getattr(command, request["cmd"])(config, request["rev"])


for request in channel:
    request = json.loads(request)
    log = tempfile.TemporaryFile()
    saved = os.dup(1), os.dup(2)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    started = time.perf_counter()
    failure = None
    extra = None
    try:
        extra = run(request)
    except BaseException:  # noqa: B036 - SystemExit from a migration is a failure too
        failure = traceback.format_exc()
    seconds = time.perf_counter() - started
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(saved[0], 1)
    os.dup2(saved[1], 2)
    os.close(saved[0])
    os.close(saved[1])
    log.seek(0)
    output = log.read().decode("utf-8", "replace")
    log.close()
    answer = {"ok": failure is None, "seconds": seconds, "output": output, "traceback": failure}
    if isinstance(extra, dict):
        answer.update(extra)
    channel.write(json.dumps(answer) + "\n")
    channel.flush()
