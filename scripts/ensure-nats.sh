#!/usr/bin/env bash
# The integration tests need a real nats-server, and the README tour test runs the tour's `jq`.
# Install what is missing from Debian's packages; fail loudly (never skip tests) when that is
# impossible.
set -euo pipefail
missing=()
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)
command -v jq >/dev/null 2>&1 || missing+=(jq)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "${missing[*]} not found: installing from Debian packages" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
{ command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ]; } && command -v jq >/dev/null 2>&1 || {
  echo "error: ${missing[*]} could not be installed; the tests need them" >&2
  exit 1
}
