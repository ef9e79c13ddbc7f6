#!/bin/bash
# The test lab's OpenLDAP: a slapd instance of its own (not the system one) on 127.0.0.1, with
# ldap://127.0.0.1:3389 (StartTLS) and ldaps://127.0.0.1:3636, certificate signed by the lab's CA
# ($LAB/ca/ca.crt), suffix dc=lab,dc=test, rootdn cn=admin,dc=lab,dc=test, the memberof
# overlay, and ACLs letting a user write its own userPassword (Password Modify as self).
# The ppolicy overlay is loaded with no default policy: a test puts its own pwdPolicy entry
# under ou=policies and points its own users at it (pwdPolicySubentry), so lockouts and quality
# rules never reach another test's accounts. `ppolicy_use_lockout` makes a locked account's
# bind say so in the password policy response control.
#
#   tests/lab/slapd.sh          install if needed, create once, start (idempotent)
#   tests/lab/slapd.sh stop     stop it
#   tests/lab/slapd.sh reset    stop, throw the data away, start afresh
#
# State: ${KEYREEVE_LAB_DIR:-/tmp/keyreeve-lab}/slapd; the rootdn password is in slapd/admin.pw
# (mode 0600).
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "slapd.sh: run as root" >&2; exit 1; }
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
. "$HERE/common.sh"
# shellcheck source=ca.sh
. "$HERE/ca.sh"
LAB=${KEYREEVE_LAB_DIR:-/tmp/keyreeve-lab}
D=$LAB/slapd
mkdir -p "$LAB"

running() { [ -s "$D/slapd.pid" ] && kill -0 "$(cat "$D/slapd.pid")" 2>/dev/null; }

stop() {
    if running; then
        local pid
        pid=$(cat "$D/slapd.pid")
        kill "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$D/slapd.pid"
}

create() {
    rm -rf "$D.tmp"
    mkdir -p "$D.tmp/data"
    chmod 700 "$D.tmp"
    (umask 077; printf 'Lab-%s-Aa9' "$(openssl rand -hex 10)" >"$D.tmp/admin.pw")
    local hash
    hash=$(slappasswd -T "$D.tmp/admin.pw")
    cat >"$D.tmp/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
moduleload ppolicy
pidfile $D/slapd.pid
argsfile $D/slapd.args
TLSCACertificateFile $LAB/ca/ca.crt
TLSCertificateFile $LAB/ca/server.crt
TLSCertificateKeyFile $LAB/ca/server.key
sizelimit 5000

database mdb
suffix "dc=lab,dc=test"
rootdn "cn=admin,dc=lab,dc=test"
rootpw $hash
directory $D/data
maxsize 1073741824
index objectClass eq
index uid,cn,member,uniqueMember,memberUid eq
overlay memberof
overlay ppolicy
ppolicy_use_lockout

access to attrs=userPassword
    by self write
    by anonymous auth
    by * none
access to *
    by * read
CONF
    sed -i "s#$D/#$D.tmp/#g" "$D.tmp/slapd.conf"
    slapadd -f "$D.tmp/slapd.conf" <<LDIF
dn: dc=lab,dc=test
objectClass: dcObject
objectClass: organization
dc: lab
o: keyreeve lab

dn: ou=people,dc=lab,dc=test
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=lab,dc=test
objectClass: organizationalUnit
ou: groups

dn: ou=policies,dc=lab,dc=test
objectClass: organizationalUnit
ou: policies
LDIF
    sed -i "s#$D.tmp/#$D/#g" "$D.tmp/slapd.conf"
    mv "$D.tmp" "$D"
}

# A lab created before the ppolicy overlay was added gets it (and ou=policies) now: stopped,
# its slapd.conf extended, the entry added offline, started again below.
upgrade() {
    [ -s "$D/slapd.conf" ] || return 0
    grep -q '^overlay ppolicy$' "$D/slapd.conf" && return 0
    stop
    if ! slapcat -f "$D/slapd.conf" 2>/dev/null | grep -qx 'dn: ou=policies,dc=lab,dc=test'; then
        printf 'dn: ou=policies,dc=lab,dc=test\nobjectClass: organizationalUnit\nou: policies\n' |
            slapadd -f "$D/slapd.conf"
    fi
    sed -i -e 's/^moduleload memberof$/moduleload memberof\nmoduleload ppolicy/' \
        -e 's/^overlay memberof$/overlay memberof\noverlay ppolicy\nppolicy_use_lockout/' "$D/slapd.conf"
}

start() {
    lab_install slapd ldap-utils openssl
    lab_ca "$LAB"
    (
        flock 8
        upgrade
        running && exit 0
        [ -s "$D/slapd.conf" ] || create
        setsid slapd -d 0 -f "$D/slapd.conf" -h 'ldap://127.0.0.1:3389/ ldaps://127.0.0.1:3636/' \
            </dev/null >"$D/slapd.log" 2>&1 8>&- &
        if ! lab_wait_port 3636 30; then
            echo "slapd.sh: slapd did not start; see $D/slapd.log" >&2
            tail -20 "$D/slapd.log" >&2
            exit 1
        fi
        for _ in $(seq 50); do [ -s "$D/slapd.pid" ] && break; sleep 0.1; done
    ) 8>"$LAB/.slapd.lock"
    echo "slapd: ldaps://127.0.0.1:3636 base dc=lab,dc=test rootdn cn=admin,dc=lab,dc=test password file $D/admin.pw"
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    reset) stop; rm -rf "$D"; start ;;
    *) echo "usage: $0 [start|stop|reset]" >&2; exit 2 ;;
esac
