#!/bin/bash
# The test lab's CUPS, a real IPP server for `keyreeve scan`: its own cupsd (own config, spool
# and logs under $LAB_DIR/cups, not the system's) on 127.0.0.1:8631 only, no browsing, with one
# raw queue `lab` (the default destination) so that Get-Printer-Attributes answers.
#
#   tests/lab/cups.sh          install if needed, start (idempotent)
#   tests/lab/cups.sh stop     stop it
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "cups.sh: run as root" >&2; exit 1; }
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
. "$HERE/common.sh"
C=$LAB_DIR/cups
PORT=8631

running() { [ -s "$C/cupsd.pid" ] && kill -0 "$(cat "$C/cupsd.pid")" 2>/dev/null; }

stop() {
    if running; then
        local pid
        pid=$(cat "$C/cupsd.pid")
        kill -TERM "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$C/cupsd.pid"
}

start() {
    lab_install cups-daemon cups-client cups-ipp-utils cups-server-common curl
    running && return 0
    mkdir -p "$C/etc" "$C/spool/tmp" "$C/cache" "$C/state" "$C/log"
    cat >"$C/etc/cupsd.conf" <<CONF
Listen 127.0.0.1:$PORT
ServerName 127.0.0.1
Browsing No
BrowseLocalProtocols none
WebInterface Yes
DefaultAuthType None
<Location />
  Order allow,deny
  Allow 127.0.0.1
</Location>
<Policy default>
  <Limit All>
    Order deny,allow
  </Limit>
</Policy>
CONF
    cat >"$C/etc/cups-files.conf" <<CONF
ServerRoot $C/etc
RequestRoot $C/spool
TempDir $C/spool/tmp
CacheDir $C/cache
StateDir $C/state
AccessLog $C/log/access_log
ErrorLog $C/log/error_log
PageLog $C/log/page_log
Printcap $C/printcap
FileDevice Yes
User lp
Group lp
SystemGroup root
CONF
    chown -R root:lp "$C"
    chmod -R g+rwX "$C"
    cupsd -t -c "$C/etc/cupsd.conf" -s "$C/etc/cups-files.conf" >/dev/null
    setsid cupsd -f -c "$C/etc/cupsd.conf" -s "$C/etc/cups-files.conf" </dev/null >"$C/log/stdout" 2>&1 &
    echo $! >"$C/cupsd.pid"
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break
        sleep 0.05
    done
    curl -s -o /dev/null "http://127.0.0.1:$PORT/" || { echo "cupsd did not start; see $C/log" >&2; exit 1; }
    if ! lpstat -h "127.0.0.1:$PORT" -p lab >/dev/null 2>&1; then
        lpadmin -h "127.0.0.1:$PORT" -p lab -E -v file:///dev/null -m raw 2>/dev/null
        lpadmin -h "127.0.0.1:$PORT" -d lab
    fi
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 [start|stop]" >&2; exit 2 ;;
esac
