#!/usr/bin/env bash
# The image smoke test, without a Docker engine: builds the runtime stage's root filesystem with
# debootstrap (Debian bookworm, the Dockerfile's base), installs into it what the Dockerfile
# installs (docker/install-runtime.sh), copies in the release binary and the SQLAlchemy helper as
# the Dockerfile does, and runs the entrypoint under chroot the way the runner starts the action's
# container: the workspace at /github/workspace, GITHUB_* variables and files, the INPUT_*
# variables action.yml passes. It checks the sample project (examples/shop) and the Alembic one
# (examples/alembic) and asserts their status, outputs, job summary and reports.
#
#   sudo docker/smoke-test.sh [ROOTFS]
#
# ROOTFS defaults to target/image-smoke/rootfs and is reused while docker/install-runtime.sh and
# the settings below are unchanged. MIRROR (default http://deb.debian.org/debian) is the Debian
# mirror; PG_MAJORS (default 15) and PGDG (default 0) are passed to the install script: the image
# takes 15, 16 and 17 from the PostgreSQL project's apt repository (PGDG=1), Debian has 15.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(realpath -m "${1:-target/image-smoke/rootfs}")"
mirror="${MIRROR:-http://deb.debian.org/debian}"
majors="${PG_MAJORS:-15}"
pgdg="${PGDG:-0}"

fail() { echo "smoke test: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "error: run as root (debootstrap and chroot need it)" >&2; exit 2; }
command -v debootstrap >/dev/null || { echo "error: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 2; }

mounted=()
cleanup() {
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
mount_in() { # TYPE TARGET [OPTIONS]
    mkdir -p "$root$2"
    mount -t "$1" ${3:+-o "$3"} "$1" "$root$2"
    mounted+=("$root$2")
}

stamp="$(sha256sum docker/install-runtime.sh | cut -c1-16) $majors $pgdg"
if [ "$(cat "$root/.smoke-stamp" 2>/dev/null)" != "$stamp" ]; then
    echo "== root filesystem: debootstrap bookworm into $root"
    rm -rf "$root"
    mkdir -p "$root"
    debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.debootstrap.log" 2>&1 \
        || { tail -n 20 "$root.debootstrap.log" >&2; fail "debootstrap failed"; }
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    # A network that inspects TLS needs the host's own certificate authorities in the root too
    # (the ca-certificates package adds them to the bundle when it installs), and pip told to
    # use that bundle instead of its own.
    network=()
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        mkdir -p "$root/usr/local/share/ca-certificates"
        cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
        network+=(PIP_CERT=/etc/ssl/certs/ca-certificates.crt)
    fi
    for name in PIP_INDEX_URL http_proxy https_proxy HTTP_PROXY HTTPS_PROXY no_proxy NO_PROXY; do
        [ -n "${!name:-}" ] && network+=("$name=${!name}")
    done
    cp docker/install-runtime.sh "$root/tmp/install-runtime.sh"
    mount_in proc /proc
    echo "== install-runtime.sh (PG_MAJORS=$majors PGDG=$pgdg)"
    chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin PG_MAJORS="$majors" PGDG="$pgdg" "${network[@]}" \
        sh /tmp/install-runtime.sh
    rm "$root/tmp/install-runtime.sh"
    cleanup
    mounted=()
    echo "$stamp" >"$root/.smoke-stamp"
fi
echo "== root filesystem: $(du -sh --exclude=github "$root" | cut -f1)"

echo "== binary (as the Dockerfile's build stage builds it)"
cargo build --release --locked --bin migration-guard
install -D -m 0755 target/release/migration-guard "$root/usr/local/bin/migration-guard"
strip "$root/usr/local/bin/migration-guard"
install -D -m 0644 python/migration_guard_sqlalchemy.py "$root/usr/local/share/migration-guard/migration_guard_sqlalchemy.py"

mount_in proc /proc
mount_in tmpfs /dev/shm size=1g

# One run of the entrypoint as the runner starts the container: `docker run --workdir
# /github/workspace -e INPUT_... -e GITHUB_... image check`, with the image's ENV PATH.
run_action() { # NAME EXPECTED_STATUS INPUT=VALUE...
    local name="$1" expected="$2"
    shift 2
    rm -rf "$root/github"
    mkdir -p "$root/github/workspace" "$root/github/home" "$root/github/file_commands" "$root/github/workflow"
    cp -r "examples/$name/." "$root/github/workspace/"
    printf '{"ref": "refs/heads/main", "before": "0000000000000000000000000000000000000000"}\n' \
        >"$root/github/workflow/event.json"
    local env=(
        PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/github/home
        GITHUB_ACTIONS=true CI=true GITHUB_WORKSPACE=/github/workspace GITHUB_EVENT_NAME=push
        GITHUB_EVENT_PATH=/github/workflow/event.json GITHUB_REPOSITORY=example/shop GITHUB_SHA=0000000
        GITHUB_WORKFLOW=smoke GITHUB_JOB=check GITHUB_RUN_ID=1 GITHUB_SERVER_URL=https://github.com
        GITHUB_API_URL=http://127.0.0.1:9 GITHUB_OUTPUT=/github/file_commands/output
        GITHUB_STEP_SUMMARY=/github/file_commands/summary INPUT_COMMENT=false INPUT_CHECK_RUN=false
        "$@"
    )
    echo "== action on examples/$name: ${*}"
    local status=0
    chroot "$root" /usr/bin/env -i "${env[@]}" sh -c 'cd /github/workspace && exec migration-guard check' \
        >"$root/github/log" 2>&1 || status=$?
    sed 's/^/   | /' "$root/github/log"
    [ "$status" -eq "$expected" ] || fail "examples/$name: exit status $status, expected $expected"
    grep -q "^status=" "$root/github/file_commands/output" || fail "examples/$name: no status output"
    [ -s "$root/github/file_commands/summary" ] || fail "examples/$name: empty job summary"
    for file in report.json report.md; do
        [ -s "$root/github/workspace/migration-guard-report/$file" ] || fail "examples/$name: no $file"
    done
    echo "   outputs: $(tr '\n' ' ' <"$root/github/file_commands/output" | cut -c1-200)"
}

# The sample fails by design (a table rewrite and a drift); the Alembic project passes, with its
# models named by module and its requirements installed into the image's venv.
run_action shop 1 INPUT_PATH=migrations INPUT_MODELS=models.yaml
grep -q "^status=fail" "$root/github/file_commands/output" || fail "examples/shop: status is not fail"
grep -q "type-change-rewrite" "$root/github/file_commands/summary" || fail "examples/shop: summary lacks the rewrite"
run_action alembic 0 INPUT_MODELS=app.models:Base INPUT_PYTHON_REQUIREMENTS=requirements.txt
grep -q "^status=pass" "$root/github/file_commands/output" || fail "examples/alembic: status is not pass"
grep -q '"format": "alembic"' "$root/github/workspace/migration-guard-report/report.json" \
    || fail "examples/alembic: not checked as Alembic"
echo "== image smoke test passed"
