#!/bin/bash
# The test lab's SIP endpoint for `keyreeve scan`: SIPp (Debian's sip-tester) as an unprivileged
# UAS answering OPTIONS on UDP 127.0.0.1:5070, its control socket and media ports on 127.0.0.1
# too (by default SIPp binds 0.0.0.0:8888).
#
#   tests/lab/sip.sh          install if needed, start (idempotent)
#   tests/lab/sip.sh stop     stop it
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "sip.sh: run as root" >&2; exit 1; }
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
. "$HERE/common.sh"
P=$LAB_DIR/sip
PORT=5070

running() { [ -s "$P/sipp.pid" ] && kill -0 "$(cat "$P/sipp.pid")" 2>/dev/null; }

stop() {
    if running; then
        local pid
        pid=$(cat "$P/sipp.pid")
        kill -TERM "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$P/sipp.pid"
}

start() {
    lab_install sip-tester
    running && return 0
    mkdir -p "$P"
    cat >"$P/options-uas.xml" <<'XML'
<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="OPTIONS responder">
  <recv request="OPTIONS" crlf="true"/>
  <send>
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Server: LabPBX/1.0 (sipp)
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS
Content-Length: 0

    ]]>
  </send>
</scenario>
XML
    chmod 755 "$P"
    chmod 644 "$P/options-uas.xml"
    cd "$P"
    setsid setpriv --reuid=nobody --regid=nogroup --clear-groups sipp -sf "$P/options-uas.xml" -i 127.0.0.1 -p "$PORT" \
        -t u1 -ci 127.0.0.1 -cp 15070 -mi 127.0.0.1 -mp 16000 -nostdin -bg </dev/null >/dev/null 2>&1 &
    sleep 0.1
    for _ in $(seq 100); do
        pid=$(ss -Hlunp "sport = :$PORT" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 || true)
        if [ -n "${pid:-}" ]; then
            echo "$pid" >"$P/sipp.pid"
            return 0
        fi
        sleep 0.05
    done
    echo "sipp did not start" >&2
    exit 1
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 [start|stop]" >&2; exit 2 ;;
esac
