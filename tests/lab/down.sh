#!/usr/bin/env bash
# Stops every service of the test lab.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
for service in sshd samba slapd postgres mariadb web cups snmpd sip; do
  [ -f "$here/$service.sh" ] && bash "$here/$service.sh" stop
done
exit 0
