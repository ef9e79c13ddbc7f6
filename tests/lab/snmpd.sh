#!/bin/bash
# The test lab's snmpd for `keyreeve scan --snmp-community`: its own instance on UDP
# 127.0.0.1:16161 only (no SMUX on TCP 199), read-only community `labro` from 127.0.0.1, and a
# printer's sysDescr. The community is in $LAB_DIR/snmpd/community for the tests (mode 0600).
#
#   tests/lab/snmpd.sh          install if needed, start (idempotent)
#   tests/lab/snmpd.sh stop     stop it
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "snmpd.sh: run as root" >&2; exit 1; }
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
. "$HERE/common.sh"
S=$LAB_DIR/snmpd
PORT=16161

running() { [ -s "$S/snmpd.pid" ] && kill -0 "$(cat "$S/snmpd.pid")" 2>/dev/null; }

stop() {
    if running; then
        local pid
        pid=$(cat "$S/snmpd.pid")
        kill -TERM "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$S/snmpd.pid"
}

start() {
    lab_install snmpd snmp
    running && return 0
    mkdir -p "$S/persist"
    chmod 700 "$S"
    (umask 077; printf 'labro' >"$S/community")
    cat >"$S/snmpd.conf" <<CONF
agentAddress udp:127.0.0.1:$PORT
rocommunity labro 127.0.0.1
sysDescr HP ETHERNET MULTI-ENVIRONMENT
sysName lab-printer
sysObjectID .1.3.6.1.4.1.11.2.3.9.1
sysServices 72
CONF
    # -I -smux: without it snmpd also listens on TCP 0.0.0.0:199.
    SNMP_PERSISTENT_DIR=$S/persist MIBS= setsid snmpd -f -Lf "$S/snmpd.log" -C -c "$S/snmpd.conf" -I -smux \
        </dev/null >/dev/null 2>&1 &
    echo $! >"$S/snmpd.pid"
    for _ in $(seq 100); do
        ss -Hlun "sport = :$PORT" | grep -q . && return 0
        sleep 0.05
    done
    echo "snmpd did not start; see $S/snmpd.log" >&2
    exit 1
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 [start|stop]" >&2; exit 2 ;;
esac
