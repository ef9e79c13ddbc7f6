#!/bin/bash
# The LAPS schema on the lab's Samba AD: legacy Microsoft LAPS (ms-Mcs-AdmPwd,
# ms-Mcs-AdmPwdExpirationTime) and Windows LAPS (msLAPS-*) attributes, with the OIDs, syntaxes and
# searchFlags Microsoft publishes, allowed on the computer class. Samba ships neither.
#
#   tests/lab/samba-laps.sh SAMBA_DIR    add them to the DC in SAMBA_DIR (idempotent)
#
# It writes sam.ldb directly with ldbmodify (ldb-tools) and the "schema update allowed" option,
# which Samba refuses over LDAP unless smb.conf allows it and the DC restarts (lab-notes.md
# "adding a schema attribute"); a running DC reloads the schema by itself, so the shared DC is
# never restarted. Attributes and class go in separate runs: Samba rolls back a run that adds an
# attribute and names it in mayContain at once.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "samba-laps.sh: run as root" >&2; exit 1; }
DIR=${1:?usage: samba-laps.sh SAMBA_DIR}
SAM=$DIR/private/sam.ldb
SCHEMA="CN=Schema,CN=Configuration,DC=lab,DC=test"
LEGACY=1.2.840.113556.1.8000.2554.50051.45980.28112.18903.35903.6685103.1224907.2

# name  OID  attributeSyntax  oMSyntax  single-valued  searchFlags
ATTRIBUTES="
ms-Mcs-AdmPwd $LEGACY.1 2.5.5.5 19 TRUE 904
ms-Mcs-AdmPwdExpirationTime $LEGACY.2 2.5.5.16 65 TRUE 0
msLAPS-PasswordExpirationTime 1.2.840.113556.1.6.44.1.1 2.5.5.16 65 TRUE 0
msLAPS-Password 1.2.840.113556.1.6.44.1.2 2.5.5.5 19 TRUE 904
msLAPS-EncryptedPassword 1.2.840.113556.1.6.44.1.3 2.5.5.10 4 TRUE 904
msLAPS-EncryptedPasswordHistory 1.2.840.113556.1.6.44.1.4 2.5.5.10 4 FALSE 904
"

modify() {
    ldbmodify -H "$SAM" --option="dsdb:schema update allowed=true" "$1" >/dev/null
}

update_now="dn:
changetype: modify
add: schemaUpdateNow
schemaUpdateNow: 1
-"

has_attribute() {
    ldbsearch -H "$SAM" -b "$SCHEMA" -s one "(lDAPDisplayName=$1)" dn 2>/dev/null | grep -q '^dn:'
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "$ATTRIBUTES" | while read -r name oid syntax om single flags; do
    [ -n "$name" ] || continue
    has_attribute "$name" && continue
    cat >"$work/attr.ldif" <<EOF
dn: CN=$name,$SCHEMA
changetype: add
objectClass: attributeSchema
lDAPDisplayName: $name
adminDisplayName: $name
attributeID: $oid
attributeSyntax: $syntax
oMSyntax: $om
isSingleValued: $single
searchFlags: $flags

$update_now
EOF
    modify "$work/attr.ldif"
done

missing=()
current=$(ldbsearch -H "$SAM" -b "CN=Computer,$SCHEMA" -s base mayContain 2>/dev/null)
for name in $(echo "$ATTRIBUTES" | awk 'NF {print $1}'); do
    grep -qix "mayContain: $name" <<<"$current" || missing+=("$name")
done
if [ ${#missing[@]} -gt 0 ]; then
    {
        echo "dn: CN=Computer,$SCHEMA"
        echo "changetype: modify"
        echo "add: mayContain"
        for name in "${missing[@]}"; do echo "mayContain: $name"; done
        echo "-"
        echo
        echo "$update_now"
    } >"$work/class.ldif"
    modify "$work/class.ldif"
fi
echo "LAPS schema present in $DIR"
