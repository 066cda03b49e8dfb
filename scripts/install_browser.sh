#!/usr/bin/env bash
# The browser test drives Debian's Chromium (never a downloaded browser). Says what it installs, then
# installs it with apt where this runs as root; elsewhere the browser test is skipped and says so.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "install_browser: installing Debian's chromium and fonts-liberation with apt-get for the browser test"
  apt-get update -qq && apt-get install -y -qq chromium fonts-liberation >/dev/null \
    || echo "install_browser: could not install chromium; the browser test will be skipped"
else
  echo "install_browser: chromium is not installed (apt-get install chromium fonts-liberation); the browser test will be skipped"
fi
