#!/usr/bin/env bash
# Installs the real third-party peers the interop tests run against: Debian's curl, nginx and
# nghttp2 client (h2load) for the HTTP tests, the npm packages pinned by each
# tests/peers/*/package-lock.json and the PyPI packages pinned by each
# tests/peers/*/requirements.txt. Idempotent: what is installed already is skipped.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

apt_packages=()
command -v curl >/dev/null || apt_packages+=(curl)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || apt_packages+=(nginx-light)
command -v h2load >/dev/null || apt_packages+=(nghttp2-client)
if [ ${#apt_packages[@]} -gt 0 ]; then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "peers: apt-get install ${apt_packages[*]}"
  "${sudo[@]}" apt-get update -qq >/dev/null
  # policy-rc.d 101: the package must not start its own nginx service while installing.
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
  "${sudo[@]}" chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${apt_packages[@]}" >/dev/null
  "${sudo[@]}" rm -f /usr/sbin/policy-rc.d
fi
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
