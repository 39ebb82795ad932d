#!/usr/bin/env bash
# Installs the real third-party peers the interop tests run against: the npm packages pinned
# by each tests/peers/*/package-lock.json and the PyPI packages pinned by each
# tests/peers/*/requirements.txt. Idempotent: a folder whose lock file has not changed since
# its last install is skipped.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
for dir in "$here"/*/; do
  if [ -f "$dir/package-lock.json" ]; then
    stamp="$dir/node_modules/.installed-lock"
    if ! cmp -s "$dir/package-lock.json" "$stamp" 2>/dev/null; then
      echo "peers: npm ci in ${dir#"$here"/}"
      (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
      cp "$dir/package-lock.json" "$stamp"
    fi
  fi
  if [ -f "$dir/requirements.txt" ]; then
    echo "peers: pip install -r ${dir#"$here"/}requirements.txt"
    python3 -m pip install --quiet --disable-pip-version-check -r "$dir/requirements.txt"
  fi
done
