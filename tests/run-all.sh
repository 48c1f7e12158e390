#!/usr/bin/env bash
# The whole test suite, as CI runs it (README quick start, second command):
#   1. installs what is needed (Debian packages),
#   2. builds and runs every test (unit, corpus, CLI),
#   3. builds and runs them again under ASan + UBSan,
#   4. builds the libFuzzer targets and runs each briefly on the samples
#      and the corpus.
# Ends with "N passed, N failed, N skipped" (test programs, and the parts of
# a test that could not run here, each named) and exits non-zero on any
# failure.  FUZZ_SECONDS (default 60) sets the fuzzing time per target.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scripts/install-deps.sh || { echo "dependency installation failed"; echo "0 passed, 1 failed"; exit 1; }

passed=0 failed=0 skipped=0 skipnames=

# A real PostgreSQL server for the store tests (the same suite runs against
# SQLite and PostgreSQL).  Its own throwaway cluster on a Unix socket.
pgdir=$(mktemp -d /tmp/rebound-pg.XXXXXX)
if url=$(tests/pg-server.sh start "$pgdir"); then
  export REBOUND_TEST_PG="$url"
  echo "PostgreSQL test server: $url"
else
  echo "PostgreSQL test server could not be started; the PostgreSQL store tests will be skipped"
  if [ "${CI:-}" = true ]; then failed=$((failed+1)); echo "(CI: a missing PostgreSQL is a failure)"; fi
fi
trap 'tests/pg-server.sh stop "$pgdir" >/dev/null 2>&1' EXIT
run_suite() {  # $1 build dir, rest: meson setup options
  local dir=$1; shift
  if [ ! -d "$dir" ]; then meson setup "$dir" "$@" >/dev/null || { failed=$((failed+1)); echo "setup of $dir failed"; return; }; fi
  if ! ninja -C "$dir" >"$dir.build.log" 2>&1; then cat "$dir.build.log"; failed=$((failed+1)); echo "build of $dir failed"; return; fi
  meson test -C "$dir" --print-errorlogs --no-rebuild ${test_args:-} > "$dir.test.log" 2>&1
  cat "$dir.test.log" | grep -vE '^(==|--|$)' | grep -E '^ *[0-9]+/[0-9]+|^(Ok|Fail|Skipped|Timeout):' 
  local ok fl to
  ok=$(awk '/^Ok:/{print $2}' "$dir.test.log"); fl=$(awk '/^Fail:/{print $2}' "$dir.test.log"); to=$(awk '/^Timeout:/{print $2}' "$dir.test.log")
  passed=$((passed + ${ok:-0})); failed=$((failed + ${fl:-0} + ${to:-0}))
  # CI has ../shared and a PostgreSQL server: nothing may skip there
  local sk; sk=$(awk '/^Skipped:/{print $2}' "$dir.test.log")
  skipped=$((skipped + ${sk:-0}))
  if [ "${sk:-0}" != 0 ]; then
    skipnames="$skipnames $(grep -E '^ *[0-9]+/[0-9]+ .* SKIP' "$dir.test.log" | sed -E 's/^ *[0-9]+\/[0-9]+ +//; s/ +SKIP.*//' | sort -u | tr '\n' ' ')($dir)"
  fi
  # parts of a passing test that could not run here (no IPv6 loopback, no
  # chromium, no PostgreSQL): each test says "SKIP-PART: what and why"
  local parts np
  parts=$(grep -h '^SKIP-PART: ' "$dir/meson-logs/testlog.txt" 2>/dev/null | sed 's/^SKIP-PART: //' | sort -u)
  if [ -n "$parts" ]; then
    np=$(printf '%s\n' "$parts" | wc -l)
    skipped=$((skipped + np))
    skipnames="$skipnames $(printf '%s\n' "$parts" | sed 's/:.*//' | tr '\n' ';' | sed 's/;$//; s/;/; /g') ($dir)"
    printf '%s\n' "$parts" | sed 's/^/  part skipped: /'
  fi
  if [ "${CI:-}" = true ] && [ "${sk:-0}" != 0 ]; then
    echo "CI: ${sk} test(s) skipped"; grep -B2 -A3 SKIP "$dir/meson-logs/testlog.txt" | head -20; failed=$((failed + sk))
  fi
  if [ "${fl:-0}" != 0 ] || [ "${to:-0}" != 0 ] || [ -z "$ok" ]; then
    grep -E '^(FAIL|  miss|.*FAILED)' "$dir/meson-logs/testlog.txt" | head -60
    [ -z "$ok" ] && { failed=$((failed+1)); cat "$dir.test.log" | tail -20; }
  fi
}

echo "== build and test"
run_suite build
echo "== build and test under AddressSanitizer + UndefinedBehaviorSanitizer"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# the end-to-end Postfix tests (suite postfix: a real Postfix instance) run once, on the plain build
test_args="--no-suite postfix"
run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false --buildtype=debug
test_args=
unset ASAN_OPTIONS UBSAN_OPTIONS

echo "== fuzzing (${FUZZ_SECONDS:-60} s per target)"
if [ ! -d build-fuzz ]; then
  CC=clang meson setup build-fuzz -Dfuzz=true -Dtests=false -Db_sanitize=address,undefined -Db_lundef=false \
     -Dc_args=-fsanitize=fuzzer-no-link --buildtype=debugoptimized >/dev/null
fi
if ninja -C build-fuzz >build-fuzz.build.log 2>&1; then
  # seeds: our samples, every input that once crashed a fuzzer, and the corpus
  seeds=$(mktemp -d); cp samples/*.eml tests/fuzz-regressions/* "$seeds/"
  [ -d ../shared/corpus/maildir/bsd ] && cp ../shared/corpus/maildir/bsd/*-01.eml "$seeds/"
  # the record/contact-list reader gets CSV and JSONL seeds
  iseeds=$(mktemp -d); cp tests/fuzz-seeds-input/* examples/contacts.csv "$iseeds/"
  for t in fuzz_analyze fuzz_reader fuzz_input fuzz_verp fuzz_maillog fuzz_api; do
    work=$(mktemp -d)
    if [ $t = fuzz_input ]; then cp "$iseeds"/* "$work/"
    elif [ $t = fuzz_verp ]; then cp tests/fuzz-seeds-verp/* "$work/"     # return paths, Received: lines
    elif [ $t = fuzz_maillog ]; then cp tests/fuzz-seeds-maillog/* "$work/"   # Postfix logs, state lines
    elif [ $t = fuzz_api ]; then cp tests/fuzz-seeds-api/* "$work/"   # status API bodies: type byte + body
    else cp "$seeds"/* "$work/"; fi
    if REBOUND_DATADIR=$root/data build-fuzz/fuzz/$t -max_total_time="${FUZZ_SECONDS:-60}" -max_len=65536 \
         -timeout=10 -rss_limit_mb=2048 -artifact_prefix=build-fuzz/ "$work" > "build-fuzz/$t.log" 2>&1; then
      echo "fuzz $t: OK ($(grep -oE 'Done [0-9]+ runs' "build-fuzz/$t.log" | tail -1))"; passed=$((passed+1))
    else
      echo "fuzz $t: FAILED (reproducer in build-fuzz/crash-*; add it to tests/fuzz-regressions/)"
      grep -A30 -E "ERROR: |SUMMARY" "build-fuzz/$t.log" | head -40; failed=$((failed+1))
    fi
    rm -rf "$work"
  done
  rm -rf "$seeds" "$iseeds"
else
  cat build-fuzz.build.log | tail -20; echo "fuzz build failed"; failed=$((failed+1))
fi

[ "$skipped" -ne 0 ] && echo "skipped:$skipnames"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
