#!/usr/bin/env bash
# Stops every service of the test lab.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
for service in sshd samba slapd; do
  [ -f "$here/$service.sh" ] && bash "$here/$service.sh" stop
done
for service in postgres mariadb; do [ -f "$here/$service.sh" ] && bash "$here/$service.sh" stop; done
for service in web cups snmpd sip; do bash "$here/$service.sh" stop; done
exit 0
