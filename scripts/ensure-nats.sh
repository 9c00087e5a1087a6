#!/usr/bin/env bash
# What the tests need beyond npm: a real nats-server (integration tests), `jq` (the README tour
# test), an outside COSE verifier (Debian's /usr/bin/python3 with python3-cbor2 and
# python3-cryptography) and Debian's Chromium (the console tests drive it headless). Install what
# is missing from Debian's packages; fail loudly (never skip tests) when that is impossible.
set -euo pipefail
has_nats() { command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ]; }
has_python() { /usr/bin/python3 -c "import cbor2, cryptography" >/dev/null 2>&1; }
missing=()
has_nats || missing+=(nats-server)
command -v jq >/dev/null 2>&1 || missing+=(jq)
has_python || missing+=(python3 python3-cbor2 python3-cryptography)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "${missing[*]} not found: installing from Debian packages" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
has_nats && command -v jq >/dev/null 2>&1 && has_python && [ -x /usr/bin/chromium ] || {
  echo "error: ${missing[*]} could not be installed; the tests need them" >&2
  exit 1
}
