#!/bin/sh
# Make sure headless Chromium is at /usr/bin/chromium, for the browser test of the HTML
# report (tests/test_report.py). Installs the Debian package when it is missing and this
# runs as root with apt-get; does nothing otherwise.
#
# Idempotent, and always exits 0: without Chromium the browser test is skipped and says
# why, so a machine that cannot install it still runs every other test.

CHROMIUM=/usr/bin/chromium
say() { echo "ensure_chromium: $*"; }

if [ -x "$CHROMIUM" ]; then
    say "$CHROMIUM is installed: nothing to do"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    say "$CHROMIUM is missing and this is not root: not installing (the browser test will be skipped)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    say "$CHROMIUM is missing and there is no apt-get: not installing (the browser test will be skipped)"
    exit 0
fi

say "installing Debian's chromium with apt-get (about a minute)"
start=$(date +%s)
log=$(mktemp)
# Recommends (mesa, fonts, upower, udev...) are not needed to render headless without a GPU.
if DEBIAN_FRONTEND=noninteractive timeout 300 apt-get update -q >"$log" 2>&1 &&
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q --no-install-recommends chromium >>"$log" 2>&1 &&
    [ -x "$CHROMIUM" ]; then
    say "installed $("$CHROMIUM" --version 2>/dev/null | head -n 1) in $(($(date +%s) - start)) s"
else
    say "installing failed after $(($(date +%s) - start)) s (the browser test will be skipped); last lines of apt-get:"
    tail -n 5 "$log" | sed 's/^/    /'
fi
rm -f "$log"
exit 0
