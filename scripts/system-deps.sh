#!/usr/bin/env bash
# Debian packages the tests use: Redis (real server), flow peers (softflowd, fprobe, pmacct, nfdump)
# and tshark as reference decoder. Installs only what is missing.
set -euo pipefail
need=()
for pair in redis-server:redis-server softflowd:softflowd nfcapd:nfdump tshark:tshark fprobe:fprobe pmacctd:pmacct editcap:wireshark-common chromium:chromium promtool:prometheus; do
  bin=${pair%%:*}; pkg=${pair##*:}
  command -v "$bin" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} with apt-get" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# helm validates the chart (helm lint/template). Built from the Go module proxy once, then cached in ~/go/bin.
if ! command -v helm >/dev/null 2>&1 && [ ! -x "${GOPATH:-$HOME/go}/bin/helm" ]; then
  command -v go >/dev/null 2>&1 || { echo "go is required to build helm" >&2; exit 1; }
  echo "building helm v3.22.0 with go install (first run only)" >&2
  GOFLAGS=-mod=mod go install helm.sh/helm/v3/cmd/helm@v3.22.0
fi
