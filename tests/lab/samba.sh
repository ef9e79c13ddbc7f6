#!/bin/bash
# The test lab's Active Directory: a real Samba AD domain controller (realm LAB.TEST, base
# DC=lab,DC=test) on 127.0.0.1 only, LDAPS on 636 and StartTLS on 389 with a certificate signed
# by the lab's own CA ($LAB/ca/ca.crt). Facts behind every option: lab-notes.md.
#
#   tests/lab/samba.sh          install if needed, provision once, start (idempotent)
#   tests/lab/samba.sh stop     stop the DC
#   tests/lab/samba.sh reset    stop, throw the data away, start a fresh copy of the provisioned DC
#
# State: ${KEYREEVE_LAB_DIR:-/tmp/keyreeve-lab}/samba; the Administrator password is in
# samba/admin.pw (mode 0600). A provisioned, never-started copy is kept in samba-template so that
# a fresh DC costs a copy (about half a second) instead of a provision (about 8 s). The LAPS
# schema attributes (samba-laps.sh) are in the template and added to a DC provisioned before them.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "samba.sh: run as root" >&2; exit 1; }
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
. "$HERE/common.sh"
# shellcheck source=ca.sh
. "$HERE/ca.sh"
LAB=${KEYREEVE_LAB_DIR:-/tmp/keyreeve-lab}
D=$LAB/samba
T=$LAB/samba-template
mkdir -p "$LAB"

running() { [ -s "$D/samba.pid" ] && kill -0 "$(cat "$D/samba.pid")" 2>/dev/null; }

stop() {
    if running; then
        local pid
        pid=$(cat "$D/samba.pid")
        kill "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$D/samba.pid"
}

provision_template() {
    rm -rf "$T.tmp"
    mkdir -p "$T.tmp"/{run,log}
    local pw
    pw="Lab-$(openssl rand -hex 10)-Aa9"
    (umask 077; printf '%s' "$pw" >"$T.tmp/admin.pw")
    # The password passes through argv of samba-tool once, at provision, on a throwaway lab DC:
    # samba-tool offers no other way. keyreeve itself never does this.
    samba-tool domain provision --targetdir="$T.tmp" --realm=LAB.TEST --domain=LAB \
        --adminpass="$pw" --server-role=dc --dns-backend=NONE --use-rfc2307 \
        --host-name=dc1 --host-ip=127.0.0.1 \
        --option="interfaces=127.0.0.1/8" --option="bind interfaces only=yes" \
        --option="server services=ldap, cldap, kdc" \
        --option="pid directory=$T.tmp/run" --option="ncalrpc dir=$T.tmp/run/ncalrpc" \
        --option="winbindd socket directory=$T.tmp/run/winbindd" \
        --option="ntp signd socket directory=$T.tmp/run/ntp_signd" \
        --option="log file=$T.tmp/log/log.%m" >"$T.tmp/log/provision.log" 2>&1
    sed -i "/^\[global\]/a\\
\\told password allowed period = 0\\
\\ttls enabled = yes\\
\\ttls keyfile = $LAB/ca/server.key\\
\\ttls certfile = $LAB/ca/server.crt\\
\\ttls cafile = $LAB/ca/ca.crt" "$T.tmp/etc/smb.conf"
    samba-tool domain passwordsettings set -s "$T.tmp/etc/smb.conf" --min-pwd-age=0 >/dev/null
    bash "$HERE/samba-laps.sh" "$T.tmp" >/dev/null
    # Only smb.conf holds absolute paths: write it with a placeholder to rebind on copy.
    sed -i "s#$T.tmp#@DIR@#g" "$T.tmp/etc/smb.conf"
    mv "$T.tmp" "$T"
}

start() {
    lab_install samba samba-ad-dc samba-ad-provision winbind krb5-user ldap-utils openssl ldb-tools
    lab_ca "$LAB"
    (
        flock 8
        running && exit 0
        [ -s "$T/etc/smb.conf" ] || provision_template
        if [ ! -s "$D/etc/smb.conf" ]; then
            rm -rf "$D"
            cp -a "$T" "$D"
            sed -i "s#@DIR@#$D#g" "$D/etc/smb.conf"
        fi
        mkdir -p "$D/run" "$D/log"
        setsid samba -i -M single -s "$D/etc/smb.conf" </dev/null >"$D/log/samba.log" 2>&1 8>&- &
        echo $! >"$D/samba.pid"
        if ! lab_wait_port 636 60; then
            echo "samba.sh: the DC did not start; see $D/log/samba.log" >&2
            tail -20 "$D/log/samba.log" >&2
            exit 1
        fi
        lab_wait_port 389 10
    ) 8>"$LAB/.samba.lock"
    # A DC provisioned before the LAPS schema existed gets it without a restart.
    bash "$HERE/samba-laps.sh" "$D" >/dev/null
    echo "samba AD DC: ldaps://127.0.0.1:636 base DC=lab,DC=test CA $LAB/ca/ca.crt admin password file $D/admin.pw"
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    reset) stop; rm -rf "$D"; start ;;
    *) echo "usage: $0 [start|stop|reset]" >&2; exit 2 ;;
esac
