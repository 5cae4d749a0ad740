#!/usr/bin/env bash
# System programs the grader uses, from Debian's packages; nothing is started or configured here. Does nothing
# for what is installed already.
#   bubblewrap   the kernel sandbox (autograder/isolation/sandbox.py): grading as root contains every kernel
#   postgresql   the server programs of the throw-away gradebook server the cluster tests start on loopback
#   chromium     Chromium and its WebDriver: the tests drive formgrader and read the feedback pages in a real browser
# Usage: install-system-tools.sh [--optional] TOOL...   (--optional: warn instead of failing when it cannot install)
set -euo pipefail
optional=0
if [ "${1:-}" = "--optional" ]; then optional=1; shift; fi
fail() {
    echo "install-system-tools: $*" >&2
    if [ "$optional" -eq 1 ]; then exit 0; fi
    exit 1
}
installed() {
    case "$1" in
        bubblewrap) command -v bwrap >/dev/null 2>&1 ;;
        postgresql) command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null ;;
        chromium) command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 ;;
        *) echo "install-system-tools: unknown tool $1" >&2; exit 2 ;;
    esac
}
packages() {  # the Debian packages of a tool
    case "$1" in
        chromium) echo chromium chromium-driver ;;
        *) echo "$1" ;;
    esac
}
missing=()
for tool in "$@"; do
    installed "$tool" || missing+=("$tool")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
else
    fail "missing: ${missing[*]}; installing needs root: sudo apt-get install ${missing[*]}"
fi
command -v apt-get >/dev/null 2>&1 || fail "missing: ${missing[*]}; no apt-get here: install them with your system's package manager"
echo "installing ${missing[*]} (Debian packages)"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
# shellcheck disable=SC2046 # one tool may be several packages
"${sudo[@]}" apt-get install -y -qq --no-install-recommends $(for tool in "${missing[@]}"; do packages "$tool"; done) \
    >/dev/null
for tool in "${missing[@]}"; do
    installed "$tool" || fail "$tool is still missing after apt-get install"
done
