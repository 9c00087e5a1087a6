#!/usr/bin/env bash
# The integration tests need a real nats-server, and the COSE receipt test an outside verifier
# (Debian's /usr/bin/python3 with python3-cbor2 and python3-cryptography). Install them from
# Debian's packages when missing; fail loudly (never skip tests) when that is impossible.
set -euo pipefail
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
if ! /usr/bin/python3 -c "import cbor2, cryptography" >/dev/null 2>&1; then
  echo "python3-cbor2 or python3-cryptography not found: installing them from Debian packages" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-cbor2 python3-cryptography
  /usr/bin/python3 -c "import cbor2, cryptography" || {
    echo "error: python3-cbor2 could not be installed; the COSE receipt test needs it" >&2
    exit 1
  }
fi
if command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ]; then exit 0; fi
echo "nats-server not found: installing it from Debian packages" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nats-server
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || {
  echo "error: nats-server could not be installed; the integration tests need it" >&2
  exit 1
}
