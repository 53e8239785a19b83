# Runs Alembic commands for migration-guard in one long-lived process, so Python, SQLAlchemy
# and the project are imported once rather than once per revision.
#
# argv: the Alembic command line options (-c INI -x url=URL). The database URL also comes as
# DATABASE_URL and is set as the `sqlalchemy.url` and `url` main options of the config Alembic
# builds from them. Requests on stdin, one JSON object a line: {"cmd": "upgrade", "rev": "ab12"}.
# Replies on stdout, one JSON object a line: {"ok", "seconds", "output", "traceback"}. Output of
# each command (stdout and stderr, file-descriptor level) is captured into "output".
import json
import os
import sys
import tempfile
import time
import traceback

from alembic import command
from alembic.config import CommandLine

url = os.environ["DATABASE_URL"].replace("%", "%%")
reply = os.fdopen(os.dup(1), "w")
built = {}


class Capture(CommandLine):
    """Builds the config exactly as `alembic` would, without running a command."""

    def run_cmd(self, config, options):
        config.set_main_option("sqlalchemy.url", url)
        config.set_main_option("url", url)
        built["config"] = config


Capture(prog="alembic").main(sys.argv[1:] + ["current"])
config = built["config"]

for request in sys.stdin:
    request = json.loads(request)
    log = tempfile.TemporaryFile()
    saved = os.dup(1), os.dup(2)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    started = time.perf_counter()
    failure = None
    try:
        getattr(command, request["cmd"])(config, request["rev"])
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
    reply.write(json.dumps({"ok": failure is None, "seconds": seconds, "output": output, "traceback": failure}) + "\n")
    reply.flush()
