#!/usr/bin/env bash
# Debian packages the tests use: Redis (real server), flow peers (softflowd, fprobe, pmacct, nfdump)
# and tshark as reference decoder. Installs only what is missing.
set -euo pipefail
need=()
for pair in redis-server:redis-server softflowd:softflowd nfcapd:nfdump tshark:tshark fprobe:fprobe pmacctd:pmacct editcap:wireshark-common; do
  bin=${pair%%:*}; pkg=${pair##*:}
  command -v "$bin" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} with apt-get" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
