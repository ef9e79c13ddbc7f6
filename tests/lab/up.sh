#!/usr/bin/env bash
# Starts the whole test lab on loopback: installs the test tools (stock age, keepassxc-cli, git,
# chromium for the HTML report) and starts each service script in this folder. Idempotent; state lives in ${KEYREEVE_LAB_DIR:-/tmp/keyreeve-lab}.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=tests/lab/common.sh
. "$here/common.sh"
lab_install age git keepassxc openssh-server sshpass sudo \
  samba samba-ad-dc samba-ad-provision winbind krb5-user ldap-utils openssl slapd ldb-tools chromium
# The real servers the tests use, each bound to loopback only: sshd, Samba AD (with the LAPS
# schema), slapd; PostgreSQL and MariaDB for the changers; nginx, CUPS, snmpd and SIPp for the scan.
for service in sshd samba slapd postgres mariadb web cups snmpd sip; do
  echo "== starting $service"
  bash "$here/$service.sh" start
done
