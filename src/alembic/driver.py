# Runs Alembic commands for migration-guard in one long-lived process, so Python, SQLAlchemy
# and the project are imported once rather than once per revision.
#
# argv: the Alembic command line options (-c INI). The database URL comes as DATABASE_URL (never
# in argv, where other users of the machine could read it); it is passed on as `-x url=URL` and
# set as the `sqlalchemy.url` and `url` main options of the config Alembic builds. Requests come
# over the Unix socket named by MIGRATION_GUARD_DRIVER_SOCKET (stdin is the revisions' own, and
# empty), one JSON object a line: {"cmd": "upgrade", "rev": "ab12"}. Replies go back over it, one
# JSON object a line: {"ok", "seconds", "output", "traceback"}. Output of each command (stdout
# and stderr, file-descriptor level) is captured into "output".
#
# Commands: "upgrade" (`alembic upgrade REV`), "revert" (downgrade exactly revision REV: its
# own step through the project's env.py, whatever branches or merges surround it) and "render"
# (REV's upgrade() as SQL in offline mode, without env.py; the reply's "statements" lists
# {"sql", "line"} per statement and {"autocommit": true, "line"} where an autocommit block
# starts, "line" being the revision file's line that caused it).
import sys

# `python -c` puts the working directory (the project) first on sys.path, where the `alembic`
# command has its own bin folder: a project module named like a standard one (`logging`,
# `types`) would shadow it. The project is on sys.path only as alembic.ini says
# (`prepend_sys_path`).
if sys.path and sys.path[0] == "":
    del sys.path[0]

import io
import json
import os
import socket
import tempfile
import time
import traceback

from alembic import command
from alembic.config import CommandLine
from alembic.operations import Operations
from alembic.runtime import migration
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

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
        built["config"] = config


Capture(prog="alembic").main(sys.argv[1:] + ["-x", "url=" + raw_url, "current"])
config = built["config"]
scripts = {}


def script_directory():
    # Offline rendering needs the revision modules only; load them once.
    if "cached" not in scripts:
        scripts["cached"] = ScriptDirectory.from_config(config)
    return scripts["cached"]


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


def render(rev):
    target = script_directory().get_revision(rev)
    path = os.path.realpath(target.path)
    buffer = io.StringIO()
    context = MigrationContext.configure(
        dialect_name="postgresql",
        opts={"as_sql": True, "literal_binds": True, "output_buffer": buffer},
        dialect_opts={"paramstyle": "named"},
    )
    statements = []
    known = {}

    def line():
        for frame, number in traceback.walk_stack(None):
            name = frame.f_code.co_filename
            if name not in known:
                known[name] = os.path.realpath(name) == path
            if known[name]:
                return number
        return None

    execute = context.impl._exec
    commit = context.impl.emit_commit

    def traced_exec(construct, *args, **kwargs):
        at = buffer.tell()
        result = execute(construct, *args, **kwargs)
        statements.append({"sql": buffer.getvalue()[at:], "line": line()})
        return result

    def traced_commit():
        statements.append({"autocommit": True, "line": line()})
        return commit()

    context.impl._exec = traced_exec
    context.impl.emit_commit = traced_commit
    with Operations.context(context):
        target.module.upgrade()
    return {"statements": statements}


def run(request):
    if request["cmd"] == "revert":
        return revert(request["rev"])
    if request["cmd"] == "render":
        return render(request["rev"])
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
