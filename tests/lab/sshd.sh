#!/usr/bin/env bash
# A real OpenSSH sshd on 127.0.0.1:2222 for the linux connector's tests: its own config, host key
# and authorized keys under ${KEYREEVE_LAB_DIR:-/tmp/keyreeve-lab}/sshd/, never the system sshd.
# A second instance on 127.0.0.1:2223 offers keyboard-interactive (PAM) only, as some devices do.
# Creates the kr_* test users (one per test: /etc/shadow is shared), gives kr_sudo sudo rights through
# the sudo group, kr_sudo_user (NOPASSWD) and kr_sudo_nobody (as nobody only: no admin) through rules
# of their own, kr_sudo_grp through the custom group kr_ops, kr_rotator (chpasswd and getent
# shadow), kr_chpasswd_only (chpasswd) and kr_chpasswd_noargs (`chpasswd ""`, i.e. never `-e`, and
# getent shadow) for those commands alone; kr_sudo_mixed may run ALL with its password (outside any
# admin group) and `chpasswd ""` and getent shadow without. Writes the host key fingerprint and root's
# private key into that folder. Idempotent.
# Usage: tests/lab/sshd.sh [start|stop]   (as root)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=tests/lab/common.sh
. "$here/common.sh"
D="$LAB_DIR/sshd"
PORT=2222
KBD_PORT=2223
USERS=(kr_list kr_root_target kr_self kr_sudo kr_sudo_target kr_rollback kr_verify kr_mismatch kr_wrong kr_discover kr_kbdint
    kr_sudo_user kr_sudo_grp kr_sudo_nobody kr_sudo_user_target kr_nosudo
    kr_rotator kr_rotator_target kr_chpasswd_only kr_chpasswd_target kr_chpasswd_noargs kr_chpasswd_noargs_target
    kr_sudo_mixed kr_sudo_mixed_target)

stop_one() {
    local pid
    pid="$(cat "$1" 2>/dev/null || true)"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$1"
}

stop() {
    stop_one "$D/sshd.pid"
    stop_one "$D/sshd_kbdint.pid"
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
# Sudo rights that no admin group shows: discovery must read them from sudoers itself.
getent group kr_ops >/dev/null || groupadd kr_ops
usermod -aG kr_ops kr_sudo_grp
cat >/etc/sudoers.d/keyreeve-lab-rules <<'SUDOERS'
kr_sudo_user ALL=(ALL) NOPASSWD: ALL
%kr_ops ALL=(root) /usr/bin/systemctl
kr_sudo_nobody ALL=(nobody) ALL
kr_rotator ALL=(root) NOPASSWD: /usr/sbin/chpasswd, /usr/bin/getent shadow *
kr_chpasswd_only ALL=(root) NOPASSWD: /usr/sbin/chpasswd
kr_chpasswd_noargs ALL=(root) NOPASSWD: /usr/sbin/chpasswd "", /usr/bin/getent shadow *
kr_sudo_mixed ALL=(ALL) ALL
kr_sudo_mixed ALL=(root) NOPASSWD: /usr/sbin/chpasswd "", /usr/bin/getent shadow *
SUDOERS
chmod 440 /etc/sudoers.d/keyreeve-lab-rules
visudo -c -q

# write_config FILE PORT PIDFILE AUTH-LINES
write_config() {
    cat >"$1" <<CONF
Port $2
ListenAddress 127.0.0.1
HostKey $D/hostkey_ed25519
PidFile $3
$4
PermitRootLogin prohibit-password
AuthorizedKeysFile $D/authorized_keys/%u
StrictModes no
MaxStartups 100:30:200
MaxAuthTries 6
CONF
    /usr/sbin/sshd -t -f "$1"
}

# start_instance CONFIG PORT PIDFILE LOG
start_instance() {
    if [[ -f "$3" ]] && kill -0 "$(cat "$3")" 2>/dev/null; then
        kill -HUP "$(cat "$3")"   # re-read the config; sshd re-executes itself
        sleep 0.3
    else
        /usr/sbin/sshd -D -e -f "$1" </dev/null >>"$4" 2>&1 &
    fi
    for _ in $(seq 50); do
        ss -Hltn "src 127.0.0.1:$2" | grep -q . && break
        sleep 0.1
    done
    ss -Hltn "src 127.0.0.1:$2" | grep -q . || { echo "sshd on port $2 did not start; see $4" >&2; exit 1; }
}

write_config "$D/sshd_config" "$PORT" "$D/sshd.pid" "PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no"
write_config "$D/sshd_kbdint_config" "$KBD_PORT" "$D/sshd_kbdint.pid" "PasswordAuthentication no
KbdInteractiveAuthentication yes
UsePAM yes"
start_instance "$D/sshd_config" "$PORT" "$D/sshd.pid" "$D/sshd.log"
start_instance "$D/sshd_kbdint_config" "$KBD_PORT" "$D/sshd_kbdint.pid" "$D/sshd_kbdint.log"
echo "sshd lab ready on 127.0.0.1:$PORT and 127.0.0.1:$KBD_PORT (keyboard-interactive) ($D)"
