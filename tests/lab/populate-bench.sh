#!/bin/bash
# The directory benchmark's own Samba AD DC, apart from the test lab's: a copy of the provisioned
# template (tests/lab/samba.sh makes it) bound to 127.0.0.2, populated with 20,000 users and
# 2,000 groups nested under Domain Admins (a tree ten wide, about four levels deep, plus a loop),
# ten users per group. Then `cargo bench --bench directory` times discovery against ldapsearch.
#
#   tests/lab/populate-bench.sh          start (and populate once; takes minutes)
#   tests/lab/populate-bench.sh stop     stop it
#
# State: ${KEYREEVE_LAB_DIR:-/tmp/keyreeve-lab}/samba-bench (admin.pw as for the lab DC).
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "populate-bench.sh: run as root" >&2; exit 1; }
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
. "$HERE/common.sh"
# shellcheck source=ca.sh
. "$HERE/ca.sh"
LAB=${KEYREEVE_LAB_DIR:-/tmp/keyreeve-lab}
D=$LAB/samba-bench
T=$LAB/samba-template
IP=127.0.0.2
NUSERS=${BENCH_USERS:-20000}
NGROUPS=${BENCH_GROUPS:-2000}
BASE=DC=lab,DC=test

running() { [ -s "$D/samba.pid" ] && kill -0 "$(cat "$D/samba.pid")" 2>/dev/null; }

if [ "${1:-start}" = stop ]; then
    if running; then
        pid=$(cat "$D/samba.pid"); kill "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$D/samba.pid"; exit 0
fi

[ -s "$T/etc/smb.conf" ] || bash "$HERE/samba.sh" start >/dev/null
lab_ca "$LAB"
if [ ! -s "$LAB/ca/bench.crt" ]; then
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$IP" -keyout "$LAB/ca/bench.key" -out "$LAB/ca/bench.csr" 2>/dev/null
    printf 'subjectAltName = IP:%s\nextendedKeyUsage = serverAuth\nbasicConstraints = CA:FALSE\n' "$IP" >"$LAB/ca/bench.ext"
    openssl x509 -req -in "$LAB/ca/bench.csr" -CA "$LAB/ca/ca.crt" -CAkey "$LAB/ca/ca.key" -CAcreateserial \
        -days 3650 -extfile "$LAB/ca/bench.ext" -out "$LAB/ca/bench.crt" 2>/dev/null
    chmod 600 "$LAB/ca/bench.key"
fi
if [ ! -s "$D/etc/smb.conf" ]; then
    rm -rf "$D"; cp -a "$T" "$D"
    sed -i -e "s#@DIR@#$D#g" -e "s#interfaces = .*#interfaces = $IP/8#" \
        -e "s#$LAB/ca/server.key#$LAB/ca/bench.key#" -e "s#$LAB/ca/server.crt#$LAB/ca/bench.crt#" "$D/etc/smb.conf"
fi
if ! running; then
    mkdir -p "$D/run" "$D/log"
    setsid samba -i -M single -s "$D/etc/smb.conf" </dev/null >"$D/log/samba.log" 2>&1 &
    echo $! >"$D/samba.pid"
    for _ in $(seq 600); do [ -n "$(ss -Hltn "src $IP:636")" ] && break; sleep 0.1; done
fi

if [ ! -e "$D/populated" ]; then
    ldif=$D/populate.ldif
    python3 - "$NUSERS" "$NGROUPS" "$BASE" >"$ldif" <<'PY'
import sys
users, groups, base = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ou = f"OU=bench,{base}"
print(f"dn: {ou}\nobjectClass: organizationalUnit\n")
for j in range(users):
    # Disabled, no password: the benchmark measures discovery, not password hashing at populate.
    print(f"dn: CN=bu{j},{ou}\nobjectClass: user\nsAMAccountName: bu{j}\nuserAccountControl: 546\n")
children = {i: [] for i in range(groups)}
for i in range(1, groups):
    children[(i - 1) // 10].append(i)
for i in reversed(range(groups)):
    lines = [f"dn: CN=bg{i},{ou}", "objectClass: group", f"sAMAccountName: bg{i}"]
    lines += [f"member: CN=bg{c},{ou}" for c in children[i]]
    lines += [f"member: CN=bu{j},{ou}" for j in range(i, users, groups)]
    print("\n".join(lines) + "\n")
print(f"dn: CN=Domain Admins,CN=Users,{base}\nchangetype: modify\nadd: member\nmember: CN=bg0,{ou}\n")
print(f"dn: CN=bg{groups - 1},{ou}\nchangetype: modify\nadd: member\nmember: CN=bg0,{ou}\n")
PY
    start=$(date +%s)
    LDAPTLS_CACERT=$LAB/ca/ca.crt ldapmodify -a -c -H "ldaps://$IP:636" -x -D "Administrator@lab.test" \
        -y "$D/admin.pw" -f "$ldif" >"$D/log/populate.log" 2>&1 || true
    echo "populated in $(( $(date +%s) - start )) s: $(grep -c '^adding' "$D/log/populate.log") entries added"
    touch "$D/populated"
fi
echo "bench DC: ldaps://$IP:636 base $BASE admin password file $D/admin.pw"
