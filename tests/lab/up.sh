#!/usr/bin/env bash
# Starts the whole test lab on loopback: installs the test tools (stock age, keepassxc-cli, chromium for the HTML report) and
# starts each service script in this folder. Idempotent; state lives in ${KEYREEVE_LAB_DIR:-/tmp/keyreeve-lab}.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=tests/lab/common.sh
. "$here/common.sh"
lab_install age git keepassxc openssh-server sshpass sudo \
  samba samba-ad-dc samba-ad-provision winbind krb5-user ldap-utils openssl slapd ldb-tools chromium
for service in sshd samba slapd; do
  if [ -f "$here/$service.sh" ]; then
    echo "== starting $service"
    bash "$here/$service.sh" start
  fi
done
echo "== starting postgres" && bash "$here/postgres.sh" start
echo "== starting mariadb" && bash "$here/mariadb.sh" start
bash "$here/web.sh" start
bash "$here/cups.sh" start
bash "$here/snmpd.sh" start
bash "$here/sip.sh" start
