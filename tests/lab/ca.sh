#!/bin/bash
# Shared by the directory lab scripts (sourced, not run, after common.sh): the lab's own certificate authority,
# a server certificate for 127.0.0.1 signed by it, and a second, unrelated CA for the
# "certificate from another CA is refused" tests. Everything lives under $LAB/ca and
# $LAB/ca-other; created once, reused after.

lab_ca() {
    local lab=$1
    local ca=$lab/ca other=$lab/ca-other
    mkdir -p "$lab"
    (
        flock 9
        if [ ! -s "$ca/server.crt" ]; then
            mkdir -p "$ca" && chmod 700 "$ca"
            openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj '/CN=keyreeve lab CA' \
                -keyout "$ca/ca.key" -out "$ca/ca.crt" 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -subj '/CN=127.0.0.1' \
                -keyout "$ca/server.key" -out "$ca/server.csr" 2>/dev/null
            printf 'subjectAltName = IP:127.0.0.1, DNS:localhost, DNS:dc1.lab.test\nextendedKeyUsage = serverAuth\nbasicConstraints = CA:FALSE\n' >"$ca/server.ext"
            openssl x509 -req -in "$ca/server.csr" -CA "$ca/ca.crt" -CAkey "$ca/ca.key" -CAcreateserial \
                -days 3650 -extfile "$ca/server.ext" -out "$ca/server.crt" 2>/dev/null
            chmod 600 "$ca/ca.key" "$ca/server.key"
            chmod 644 "$ca/ca.crt" "$ca/server.crt"
        fi
        if [ ! -s "$other/ca.crt" ]; then
            mkdir -p "$other" && chmod 700 "$other"
            openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj '/CN=keyreeve lab CA' \
                -keyout "$other/ca.key" -out "$other/ca.crt" 2>/dev/null
            chmod 600 "$other/ca.key"
            chmod 644 "$other/ca.crt"
        fi
        if [ ! -s "$other/server.crt" ]; then
            # A server certificate for 127.0.0.1 from the OTHER CA: what an impostor would present.
            openssl req -newkey rsa:2048 -nodes -subj '/CN=127.0.0.1' \
                -keyout "$other/server.key" -out "$other/server.csr" 2>/dev/null
            openssl x509 -req -in "$other/server.csr" -CA "$other/ca.crt" -CAkey "$other/ca.key" -CAcreateserial \
                -days 3650 -extfile "$ca/server.ext" -out "$other/server.crt" 2>/dev/null
            chmod 600 "$other/server.key"
        fi
        chmod 755 "$ca" "$other"
    ) 9>"$lab/.ca.lock"
}

# Waits until something listens on 127.0.0.1:$1 (at most $2 seconds).
lab_wait_port() {
    local port=$1 limit=${2:-30} i
    for ((i = 0; i < limit * 10; i++)); do
        [ -n "$(ss -Hltn "src 127.0.0.1:$port")" ] && return 0
        sleep 0.1
    done
    return 1
}
