#!/usr/bin/env bash
# README quick start, first command: install what is needed, build, and run
# the main job (rebound analyze) on the shipped samples.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
[ -d build ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null
echo "== rebound analyze samples/ (built at build/src/rebound)"
build/src/rebound analyze --format table samples/
