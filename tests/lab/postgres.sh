#!/bin/bash
# The test lab's PostgreSQL 15: a cluster of its own (not the system one) on 127.0.0.1:54329, with
# the passwordcheck module loaded (a server-side password check for the refused-password tests),
# scram-sha-256 over TCP, peer on its own socket directory. keyreeve's scripted-target tests
# log in as `keyreeve_admin` (CREATEROLE), whose password is in postgres/admin.pw (mode 0600),
# and create roles of their own.
#
#   tests/lab/postgres.sh          install if needed, create once, start (idempotent)
#   tests/lab/postgres.sh stop     stop it
#   tests/lab/postgres.sh reset    stop, throw the data away, start afresh
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "postgres.sh: run as root" >&2; exit 1; }
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
. "$HERE/common.sh"
LAB=${KEYREEVE_LAB_DIR:-/tmp/keyreeve-lab}
D=$LAB/postgres
PORT=54329
PGBIN=/usr/lib/postgresql/15/bin
# setpriv execs (runuser would fork), so `$!` is the postmaster itself; initdb refuses root.
AS="setpriv --reuid=postgres --regid=postgres --init-groups"

ready() { "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; }
running() { [ -s "$D/data/postmaster.pid" ] && kill -0 "$(head -1 "$D/data/postmaster.pid")" 2>/dev/null; }

stop() {
    if running; then
        local pid
        pid=$(head -1 "$D/data/postmaster.pid")
        kill -INT "$pid"
        # The postmaster removes its pid file last; kill -0 would see a zombie for seconds.
        for _ in $(seq 100); do [ -e "$D/data/postmaster.pid" ] || break; sleep 0.1; done
    fi
}

create() {
    rm -rf "$D"
    mkdir -p "$D"
    chown postgres: "$D"
    chmod 700 "$D"
    (umask 077
     printf 'Su-%s-9' "$(openssl rand -hex 12)" >"$D/su.pw"
     printf 'Admin-%s-7' "$(openssl rand -hex 12)" >"$D/admin.pw")
    chown postgres: "$D/su.pw"
    $AS "$PGBIN/initdb" -D "$D/data" -U postgres --pwfile="$D/su.pw" --auth-local=peer \
        --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 --no-sync >"$D/initdb.log"
}

start() {
    running && ready && return 0
    # stdin from /dev/null and the log to a file: the postmaster outlives this script.
    $AS "$PGBIN/postgres" -D "$D/data" -c listen_addresses=127.0.0.1 -p "$PORT" -k "$D" \
        -c shared_preload_libraries=passwordcheck </dev/null >>"$D/server.log" 2>&1 &
    for _ in $(seq 200); do ready && break; sleep 0.05; done
    ready || { echo "postgres.sh: the server did not start; see $D/server.log" >&2; exit 1; }
    # The admin's password goes in on stdin (printf is a shell builtin), never in argv; it is
    # made of letters, digits and `-`, so it needs no quoting.
    { printf "SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'keyreeve_admin') AS missing \\gset\n"
      printf '\\if :missing\nCREATE ROLE keyreeve_admin LOGIN CREATEROLE;\n\\endif\n'
      printf "ALTER ROLE keyreeve_admin PASSWORD '%s';\n" "$(cat "$D/admin.pw")"
    } | $AS "$PGBIN/psql" -X -q -h "$D" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -f - >/dev/null
}

case "${1:-start}" in
    start)
        lab_install postgresql python3
        [ -s "$D/data/PG_VERSION" ] || create
        start
        ;;
    stop) stop ;;
    reset) stop; rm -rf "$D"; lab_install postgresql python3; create; start ;;
    *) echo "usage: $0 [start|stop|reset]" >&2; exit 2 ;;
esac
