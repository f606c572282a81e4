#!/usr/bin/env bash
# Installs Debian's chromium for the browser tests (tests/browser/). Idempotent: does nothing
# when /usr/bin/chromium already exists. It installs only under CI=true or when run as root
# (apt-get needs root); otherwise it prints the command to run and exits 0, and the browser
# test is then skipped (it fails only under CI=true).
#
#   bash scripts/install-chromium.sh
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
  echo "install-chromium: $CHROMIUM is already installed ($("$CHROMIUM" --version 2>/dev/null || echo 'version unknown'))"
  exit 0
fi

if [ "${CI:-}" != "true" ] && [ "$(id -u)" != "0" ]; then
  echo "install-chromium: $CHROMIUM not found; not root and CI is not true, so not installing."
  echo "install-chromium: to install it: sudo apt-get update && sudo apt-get install -y chromium"
  exit 0
fi

SUDO=""
if [ "$(id -u)" != "0" ]; then
  SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-chromium: $CHROMIUM not found; running: ${SUDO:+$SUDO }apt-get update"
$SUDO apt-get update -q
echo "install-chromium: running: ${SUDO:+$SUDO }apt-get install -y --no-install-recommends chromium fonts-liberation"
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-liberation

if [ ! -x "$CHROMIUM" ]; then
  echo "install-chromium: apt-get finished but $CHROMIUM is missing" >&2
  exit 1
fi
echo "install-chromium: installed $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
