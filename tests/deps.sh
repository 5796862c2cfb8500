#!/bin/sh
# Installs the Debian packages given as arguments that are not installed
# yet, without prompts.  Quiet and quick when everything is there.
missing=""
for p in "$@"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
	    missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -q $missing >/dev/null 2>&1 || {
	$SUDO apt-get update -q >/dev/null &&
	$SUDO apt-get install -y -q $missing; } || {
	echo "deps: could not install$missing" >&2; exit 1; }
# The Debian postfix package starts a system instance; the tests run
# their own private instances and need none.
