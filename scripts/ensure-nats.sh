#!/usr/bin/env bash
# The integration tests need a real nats-server. Install it from Debian's packages when it is
# missing; fail loudly (never skip tests) when that is impossible.
set -euo pipefail
if command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ]; then exit 0; fi
echo "nats-server not found: installing it from Debian packages" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nats-server
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || {
  echo "error: nats-server could not be installed; the integration tests need it" >&2
  exit 1
}
