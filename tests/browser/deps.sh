#!/bin/sh
# The browser tests' npm packages (puppeteer-core, pinned by
# package-lock.json; it downloads no browser: the tests drive Debian's
# /usr/bin/chromium).  npm ci runs only when node_modules is missing.
set -e
dir=$(cd "$(dirname "$0")" && pwd)
[ -f "$dir/node_modules/puppeteer-core/package.json" ] && exit 0
command -v npm >/dev/null 2>&1 || sh "$dir/../deps.sh" npm
cd "$dir"
echo "npm ci in tests/browser"
npm ci --no-audit --no-fund --loglevel=error
