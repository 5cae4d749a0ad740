#!/usr/bin/env bash
# PostgreSQL's server programs, for the tests that start a throw-away gradebook server on loopback
# (autograder/loopback.py). Debian's package; nothing is started or configured here. Does nothing if installed.
set -euo pipefail
if command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
else
    echo "install-postgresql: PostgreSQL's server is missing and installing it needs root:" >&2
    echo "  sudo apt-get install postgresql   (or your system's package)" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-postgresql: no apt-get here; install PostgreSQL's server (initdb, pg_ctl) with your system's" \
         "package manager" >&2
    exit 1
fi
echo "installing PostgreSQL's server (Debian package postgresql)"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends postgresql >/dev/null
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || { echo "install-postgresql: initdb still missing" >&2; exit 1; }
