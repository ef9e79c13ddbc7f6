#!/usr/bin/env bash
# A real OpenSSH sshd on 127.0.0.1:2222 for the linux connector's tests: its own config, host key
# and authorized keys under ${KEYREEVE_LAB_DIR:-/tmp/keyreeve-lab}/sshd/, never the system sshd.
# Creates the kr_* test users (one per test: /etc/shadow is shared), gives kr_sudo sudo rights, and
# writes the host key fingerprint and root's private key into that folder. Idempotent.
# Usage: tests/lab/sshd.sh [start|stop]   (as root)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=tests/lab/common.sh
. "$here/common.sh"
D="$LAB_DIR/sshd"
PORT=2222
USERS=(kr_list kr_root_target kr_self kr_sudo kr_sudo_target kr_rollback kr_verify kr_mismatch kr_wrong kr_discover)

stop() {
    local pid
    pid="$(cat "$D/sshd.pid" 2>/dev/null || true)"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$D/sshd.pid"
}

if [[ "${1:-start}" == "stop" ]]; then
    stop
    exit 0
fi

[[ $(id -u) -eq 0 ]] || { echo "sshd.sh must run as root" >&2; exit 2; }

lab_install openssh-server sshpass sudo

mkdir -p "$D/authorized_keys" /run/sshd
chmod 700 "$D"
[[ -f "$D/hostkey_ed25519" ]] || ssh-keygen -q -t ed25519 -N '' -C keyreeve-lab -f "$D/hostkey_ed25519"
[[ -f "$D/root_key" ]] || ssh-keygen -q -t ed25519 -N '' -C keyreeve-lab-root -f "$D/root_key"
cp "$D/root_key.pub" "$D/authorized_keys/root"
chmod 600 "$D/root_key" "$D/hostkey_ed25519"
ssh-keygen -l -E sha256 -f "$D/hostkey_ed25519.pub" | awk '{print $2}' >"$D/host_key_fingerprint"

for u in "${USERS[@]}"; do
    id "$u" >/dev/null 2>&1 || useradd -m -s /bin/bash "$u"
done
getent group sudo >/dev/null || groupadd sudo
usermod -aG sudo kr_sudo
echo '%sudo ALL=(ALL:ALL) ALL' >/etc/sudoers.d/keyreeve-lab
chmod 440 /etc/sudoers.d/keyreeve-lab

cat >"$D/sshd_config" <<CONF
Port $PORT
ListenAddress 127.0.0.1
HostKey $D/hostkey_ed25519
PidFile $D/sshd.pid
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
AuthorizedKeysFile $D/authorized_keys/%u
StrictModes no
MaxStartups 100:30:200
MaxAuthTries 6
CONF
/usr/sbin/sshd -t -f "$D/sshd_config"

if [[ -f "$D/sshd.pid" ]] && kill -0 "$(cat "$D/sshd.pid")" 2>/dev/null; then
    kill -HUP "$(cat "$D/sshd.pid")"   # re-read the config; sshd re-executes itself
    sleep 0.3
else
    /usr/sbin/sshd -D -e -f "$D/sshd_config" </dev/null >>"$D/sshd.log" 2>&1 &
fi
for _ in $(seq 50); do
    ss -Hltn "src 127.0.0.1:$PORT" | grep -q . && break
    sleep 0.1
done
ss -Hltn "src 127.0.0.1:$PORT" | grep -q . || { echo "sshd did not start; see $D/sshd.log" >&2; exit 1; }
echo "sshd lab ready on 127.0.0.1:$PORT ($D)"
