#!/usr/bin/env bash
# Installs the real peers the integration tests start (nginx, Apache httpd, Redis, cgi-fcgi, wrk,
# Chromium, curl, systemd-analyze, Prometheus) from Debian's packages, when they are missing. Needs root (or sudo) for apt-get.
set -euo pipefail
need=()
for pair in nginx:nginx apache2:apache2 redis-server:redis-server cgi-fcgi:libfcgi-bin wrk:wrk chromium:chromium curl:curl systemd-analyze:systemd prometheus:prometheus; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${pair%%:*}" ] || need+=("${pair##*:}")
done
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "Installing test peers: ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
