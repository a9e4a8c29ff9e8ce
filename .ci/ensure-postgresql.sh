#!/bin/sh
# The PostgreSQL server the tests start themselves (tests/pg_server.py): install it from the
# distribution's packages when no initdb is found. CI is a fresh Debian machine running as root;
# elsewhere without root the tests that need it say why they are skipped.
set -e
for dir in /usr/lib/postgresql/*/bin; do
  [ -x "$dir/initdb" ] && exit 0
done
command -v initdb >/dev/null 2>&1 && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-postgresql: no initdb and cannot install it (not root, or no apt-get): PostgreSQL tests will be skipped" >&2
  exit 0
fi
echo "ensure-postgresql: installing the postgresql package (server for the tests)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# The package's own cluster is not used (the tests run initdb in a temporary directory).
apt-get install -y -qq --no-install-recommends postgresql >/dev/null
