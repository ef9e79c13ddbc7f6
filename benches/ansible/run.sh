#!/usr/bin/env bash
# keyreeve against Ansible: rotate one user's password on each of 20 real OpenSSH sshd instances
# on loopback (ports 2300-2319), then prove the new password by a login. keyreeve: `apply` of a
# plan (journal, chpasswd as root over SSH, fresh password login, vault). Ansible: an
# ansible-core playbook (ansible.builtin.user with a SHA-512 hash, then a login as the user).
# Usage (as root, after tests/lab/sshd.sh): bash benches/ansible/run.sh [ROUNDS]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
. "$repo/tests/lab/common.sh"
ROUNDS="${1:-3}"
N=20
B="${KEYREEVE_BENCH_DIR:-/tmp/keyreeve-bench-ansible}"
S="$LAB_DIR/sshd"
[[ -f "$S/root_key" && -f "$S/hostkey_ed25519" ]] || { echo "lab missing: run tests/lab/sshd.sh first" >&2; exit 2; }
lab_install sshpass python3-venv
mkdir -p "$B"; chmod 700 "$B"

# 20 sshd instances sharing the lab's host key and root key.
for i in $(seq 0 $((N-1))); do
  port=$((2300+i))
  sed -e "s/^Port .*/Port $port/" -e "s#^PidFile .*#PidFile $B/sshd-$port.pid#" "$S/sshd_config" > "$B/sshd-$port.conf"
  if ! { [[ -f "$B/sshd-$port.pid" ]] && kill -0 "$(cat "$B/sshd-$port.pid")" 2>/dev/null; }; then
    /usr/sbin/sshd -D -e -f "$B/sshd-$port.conf" </dev/null >>"$B/sshd.log" 2>&1 &
  fi
  u="kr_bench_$i"
  id "$u" >/dev/null 2>&1 || useradd -m -s /bin/bash "$u"
done
sleep 1
fp="$(cat "$S/host_key_fingerprint")"

# Ansible in a venv from PyPI.
if [[ ! -x "$B/venv/bin/ansible-playbook" ]]; then
  python3 -m venv "$B/venv"
  "$B/venv/bin/pip" install -q ansible-core passlib
fi

cargo build --release --bin keyreeve --manifest-path "$repo/Cargo.toml" -q
KR="$repo/target/release/keyreeve"

newpw() { python3 -c 'import secrets,string; a=string.ascii_letters+string.digits; print("Kr-"+"".join(secrets.choice(a) for _ in range(20))+"-9")'; }

setpw() { # user password-file
  printf '%s:%s\n' "$1" "$(cat "$2")" | chpasswd
}

keyreeve_round() {
  local w="$B/ws"
  rm -rf "$w" "$B/id.txt"
  pub="$("$KR" identity new -o "$B/id.txt" 2>&1 | grep -o 'age1[0-9a-z]*' | head -1)"
  "$KR" init "$w" --recipient "$pub" >/dev/null
  { echo; echo "[clients.bench]"; for i in $(seq 0 $((N-1))); do
      printf '[[clients.bench.targets]]\nname = "h%02d"\nkind = "linux"\naddress = "127.0.0.1"\nport = %d\nlogin = "root"\nlogin_method = "private-key"\nhost_key = "%s"\n\n' "$i" $((2300+i)) "$fp"
    done; } >> "$w/keyreeve.toml"
  for i in $(seq 0 $((N-1))); do
    newpw > "$B/pw"; setpw "kr_bench_$i" "$B/pw"
    "$KR" --workspace "$w" --identity "$B/id.txt" vault set "bench/$(printf h%02d "$i")/kr_bench_$i" < "$B/pw" >/dev/null
    "$KR" --workspace "$w" --identity "$B/id.txt" vault set "bench/$(printf h%02d "$i")/root" < "$S/root_key" >/dev/null
  done
  "$KR" --workspace "$w" --identity "$B/id.txt" plan --all --client bench -o "$B/plan.json" >/dev/null
  local t0 t1
  t0=$(date +%s.%N)
  "$KR" --workspace "$w" --identity "$B/id.txt" apply "$B/plan.json" --yes --concurrency $N > "$B/apply.out"
  t1=$(date +%s.%N)
  grep -q "Rotated $N, failed 0" "$B/apply.out" || { cat "$B/apply.out"; exit 1; }
  echo "$t1 - $t0" | bc
}

ansible_round() {
  { echo "[bench]"; for i in $(seq 0 $((N-1))); do
      echo "h$i ansible_host=127.0.0.1 ansible_port=$((2300+i)) ansible_user=root idx=$i"
    done; } > "$B/hosts"
  cat > "$B/rotate.yml" <<'YML'
- hosts: bench
  gather_facts: false
  tasks:
    - name: a new password per host
      ansible.builtin.set_fact:
        new_pw: "{{ lookup('ansible.builtin.password', '/dev/null', chars=['ascii_letters', 'digits'], length=24) }}"
      no_log: true
    - name: set it
      ansible.builtin.user:
        name: "kr_bench_{{ idx }}"
        password: "{{ new_pw | password_hash('sha512') }}"
      no_log: true
    - name: log in as the user with it
      ansible.builtin.command: "true"
      vars:
        ansible_user: "kr_bench_{{ idx }}"
        ansible_password: "{{ new_pw }}"
        ansible_ssh_private_key_file: /dev/null
        ansible_ssh_extra_args: "-o PubkeyAuthentication=no"
      no_log: true
      changed_when: false
YML
  local t0 t1
  t0=$(date +%s.%N)
  ANSIBLE_HOST_KEY_CHECKING=False ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3 ANSIBLE_FORKS=$N \
    ANSIBLE_PRIVATE_KEY_FILE="$S/root_key" "$B/venv/bin/ansible-playbook" -i "$B/hosts" "$B/rotate.yml" > "$B/ansible.out"
  t1=$(date +%s.%N)
  grep -q "failed=0" "$B/ansible.out" || { cat "$B/ansible.out"; exit 1; }
  echo "$t1 - $t0" | bc
}

lab_install bc
echo "| round | keyreeve apply (20 hosts) | ansible-playbook (20 hosts) | ratio |"
echo "|---|---|---|---|"
for r in $(seq 1 "$ROUNDS"); do
  k=$(keyreeve_round); a=$(ansible_round)
  printf '| %d | %.2f s | %.2f s | %.1fx |\n' "$r" "$k" "$a" "$(echo "$a / $k" | bc -l)"
done
for pidf in "$B"/sshd-*.pid; do kill "$(cat "$pidf")" 2>/dev/null || true; done
