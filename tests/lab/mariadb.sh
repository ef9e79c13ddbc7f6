#!/bin/bash
# The test lab's MariaDB 10.11: a datadir of its own (not /var/lib/mysql) on 127.0.0.1:33306,
# with the simple_password_check and password_reuse_check plugins (the server-side password
# checks of the refused-password tests). root logs in on the socket only (unix_socket); the
# scripted-target tests log in over TCP as 'keyreeve_admin'@'127.0.0.1' (all privileges, with
# grant option), whose password is in mariadb/admin.pw (mode 0600), and create users of their own.
#
#   tests/lab/mariadb.sh          install if needed, create once, start (idempotent)
#   tests/lab/mariadb.sh stop     stop it
#   tests/lab/mariadb.sh reset    stop, throw the data away, start afresh
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "mariadb.sh: run as root" >&2; exit 1; }
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
. "$HERE/common.sh"
LAB=${KEYREEVE_LAB_DIR:-/tmp/keyreeve-lab}
D=$LAB/mariadb
PORT=33306

# Over the socket: root over TCP is refused (1130), so a TCP ping as root would never succeed.
ready() { mariadb-admin --no-defaults -S "$D/mysqld.sock" ping >/dev/null 2>&1; }
running() { [ -s "$D/mysqld.pid" ] && kill -0 "$(cat "$D/mysqld.pid")" 2>/dev/null; }

stop() {
    if running; then
        kill -TERM "$(cat "$D/mysqld.pid")"
        # mariadbd removes its pid file last; kill -0 would see a zombie for seconds.
        for _ in $(seq 100); do [ -e "$D/mysqld.pid" ] || break; sleep 0.1; done
    fi
}

create() {
    rm -rf "$D"
    mkdir -p "$D"
    chown mysql: "$D"
    chmod 700 "$D"
    (umask 077; printf 'Admin-%s-7x' "$(openssl rand -hex 12)" >"$D/admin.pw")
    # --no-defaults first, or /etc/mysql is read; a small redo log keeps the datadir at 38 MB.
    mariadb-install-db --no-defaults --datadir="$D/data" --user=mysql --skip-test-db \
        --auth-root-authentication-method=socket --innodb-log-file-size=8M >"$D/install.log" 2>&1
}

start() {
    running && ready && return 0
    mariadbd --no-defaults --user=mysql --datadir="$D/data" --socket="$D/mysqld.sock" \
        --pid-file="$D/mysqld.pid" --bind-address=127.0.0.1 --port="$PORT" --skip-name-resolve \
        --innodb-log-file-size=8M --log-error="$D/error.log" \
        --plugin-load-add=simple_password_check --plugin-load-add=password_reuse_check \
        </dev/null >/dev/null 2>&1 &
    # Bounded: every failed try writes a line to the error log.
    for _ in $(seq 200); do ready && break; sleep 0.05; done
    ready || { echo "mariadb.sh: the server did not start; see $D/error.log" >&2; exit 1; }
    # The password on stdin (printf is a builtin), never in argv; letters, digits and `-` only.
    # password_reuse_check refuses setting the same password again: only set it when created.
    { printf "CREATE USER IF NOT EXISTS 'keyreeve_admin'@'127.0.0.1' IDENTIFIED BY '%s';\n" "$(cat "$D/admin.pw")"
      printf "GRANT ALL PRIVILEGES ON *.* TO 'keyreeve_admin'@'127.0.0.1' WITH GRANT OPTION;\n"
    } | mariadb --no-defaults -S "$D/mysqld.sock" -u root
}

case "${1:-start}" in
    start)
        lab_install mariadb-server mariadb-client python3
        [ -d "$D/data/mysql" ] || create
        start
        ;;
    stop) stop ;;
    reset) stop; rm -rf "$D"; lab_install mariadb-server mariadb-client python3; create; start ;;
    *) echo "usage: $0 [start|stop|reset]" >&2; exit 2 ;;
esac
