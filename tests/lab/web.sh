#!/bin/bash
# The test lab's web server for `keyreeve scan`: nginx (its own instance, not the system one) on
# http://127.0.0.1:18080 and https://127.0.0.1:18443, the latter with a self-signed certificate
# as web-managed devices have (subject O=Lab Devices, CN=lab-portal.lab.test). Loopback only.
#
#   tests/lab/web.sh          install if needed, start (idempotent)
#   tests/lab/web.sh stop     stop it
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "web.sh: run as root" >&2; exit 1; }
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
. "$HERE/common.sh"
D=$LAB_DIR/web
HTTP_PORT=18080
HTTPS_PORT=18443

running() { [ -s "$D/nginx.pid" ] && kill -0 "$(cat "$D/nginx.pid")" 2>/dev/null; }

stop() {
    if running; then
        local pid
        pid=$(cat "$D/nginx.pid")
        kill "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$D/nginx.pid"
}

start() {
    lab_install nginx-light openssl
    running && return 0
    mkdir -p "$D/www" "$D/tmp"
    if [ ! -s "$D/cert.pem" ]; then
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj '/O=Lab Devices/CN=lab-portal.lab.test' \
            -keyout "$D/key.pem" -out "$D/cert.pem" 2>/dev/null
        chmod 600 "$D/key.pem"
    fi
    printf '<!DOCTYPE html>\n<html><head><title>Lab Portal Login</title></head><body>Sign in</body></html>\n' >"$D/www/index.html"
    cat >"$D/nginx.conf" <<CONF
daemon on;
pid $D/nginx.pid;
error_log $D/error.log;
worker_processes 1;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $D/tmp;
    proxy_temp_path $D/tmp;
    fastcgi_temp_path $D/tmp;
    uwsgi_temp_path $D/tmp;
    scgi_temp_path $D/tmp;
    server {
        listen 127.0.0.1:$HTTP_PORT;
        root $D/www;
    }
    server {
        listen 127.0.0.1:$HTTPS_PORT ssl;
        ssl_certificate $D/cert.pem;
        ssl_certificate_key $D/key.pem;
        root $D/www;
    }
}
CONF
    nginx -t -q -c "$D/nginx.conf" -e "$D/error.log"
    nginx -c "$D/nginx.conf" -e "$D/error.log"
    for _ in $(seq 100); do
        ss -Hltn "src 127.0.0.1:$HTTPS_PORT" | grep -q . && return 0
        sleep 0.05
    done
    echo "nginx did not start; see $D/error.log" >&2
    exit 1
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 [start|stop]" >&2; exit 2 ;;
esac
