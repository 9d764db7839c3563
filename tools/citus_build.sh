#!/usr/bin/env bash
# Build and install Citus (the PostgreSQL extension that distributes tables by tenant) for the
# newest PostgreSQL server installed here, from the source kept beside this project
# (../shared/vendor/citus: the release archive and a patch for PostgreSQL 15.20). Once per
# machine: when the server already has citus.so, nothing is done. Installs the build's Debian
# packages when missing (needs root, as `make install` into the server's directories does).
#
#     bash tools/citus_build.sh [SOURCE_DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
version=13.2.2
# The source: the argument, CITUS_SOURCE, or the workplace's copy beside the project.
vendor="${1:-${CITUS_SOURCE:-}}"
if [ -z "$vendor" ]; then
  for candidate in "$here/../shared/vendor/citus" /work/shared/vendor/citus; do
    [ -f "$candidate/citus-$version.tar.gz" ] && { vendor="$candidate"; break; }
  done
fi

pg_config=$(ls /usr/lib/postgresql/*/bin/pg_config 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$pg_config" ]; then
  # (Debian puts pg_config of the server's version here only with its -dev package)
  major=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n1)
  [ -n "$major" ] || { echo "citus_build: no PostgreSQL server installed" >&2; exit 2; }
  pg_config=/usr/lib/postgresql/$major/bin/pg_config
fi
major=$(basename "$(dirname "$(dirname "$pg_config")")")
if [ -f "/usr/lib/postgresql/$major/lib/citus.so" ]; then
  echo "citus_build: Citus is installed for PostgreSQL $major"
  exit 0
fi
[ -n "$vendor" ] && [ -f "$vendor/citus-$version.tar.gz" ] || {
  echo "citus_build: no citus-$version.tar.gz found (pass its directory, or set CITUS_SOURCE)" >&2
  exit 2
}

packages="postgresql-server-dev-$major libcurl4-openssl-dev liblz4-dev libzstd-dev libkrb5-dev"
missing=""
for package in $packages; do
  dpkg -s "$package" >/dev/null 2>&1 || missing="$missing $package"
done
if [ -n "$missing" ]; then
  echo "citus_build: installing Debian's$missing"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null 2>&1 || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  }
fi
pg_config=/usr/lib/postgresql/$major/bin/pg_config

build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
tar -xzf "$vendor/citus-$version.tar.gz" -C "$build"
cd "$build"/citus-*
# The patch is for servers whose headers declare have_createdb_privilege (15.20 and later 15s).
if grep -q "have_createdb_privilege" "$("$pg_config" --includedir-server)/commands/dbcommands.h"; then
  patch -s -p1 < "$vendor/pg15.20.patch"
fi
echo "citus_build: building Citus $version for PostgreSQL $major (a few minutes on two cores)"
./configure -q PG_CONFIG="$pg_config" >/dev/null
make -s -j"$(nproc)" with_llvm=no >/dev/null
make -s install with_llvm=no >/dev/null
echo "citus_build: installed /usr/lib/postgresql/$major/lib/citus.so"
