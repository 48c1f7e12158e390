#!/usr/bin/env bash
# bench/report.sh -- time and peak memory of `rebound report` over a large
# store: N contacts, M events, K sends (default 1,000,000 / 3,000,000 /
# 3,000,000) spread over 30 days, on SQLite and on PostgreSQL.
#
# The store is made by rebound (the schema, by its migrations), then filled
# in SQL by the database itself (a recursive CTE on SQLite, generate_series
# on PostgreSQL): every contact in one of 6 sources and 8 providers, a tenth
# of them bounced, some complaints and quarantines, two thirds in the queue
# (dead ones among them); events of every type and reason with diagnostic
# texts that each name their own address (so the masked grouping works on M
# distinct texts); sends to the contacts, many of them followed by an NDR.
# The rows bypass rebound's writers, so `rebound report --rebuild` first
# computes the report's rollups from them (timed apart: what the schema-6
# migration does once for an existing store; rebound's writers keep them).
# Then `rebound report --format json` and `--html` run under /usr/bin/time
# (wall seconds, peak RSS of rebound; PostgreSQL's server memory is not in
# it), and the same on a store with a tenth of the events and sends: the
# peak RSS should not move (memory flat in the number of events).
#
# usage: bench/report.sh [--rebound PATH] [--contacts N] [--events M] [--sends K]
#                        [--backends "sqlite postgresql"] [--keep]
# PostgreSQL: a throwaway server started by tests/pg-server.sh (skipped with
# a message when PostgreSQL is not installed).
set -u -o pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
REBOUND=${REBOUND:-$REPO/build/src/rebound}
C=${CONTACTS:-1000000} E=${EVENTS:-3000000} S=${SENDS:-3000000}
BACKENDS=${BENCH_BACKENDS:-sqlite postgresql}
KEEP=0
END=1796083200      # 2026-12-01T00:00:00Z: the period is the 30 days before
while [ $# -gt 0 ]; do
  case $1 in
    --rebound) REBOUND=$2; shift 2 ;;
    --contacts) C=$2; shift 2 ;;
    --events) E=$2; shift 2 ;;
    --sends) S=$2; shift 2 ;;
    --backends) BACKENDS=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "report.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x "$REBOUND" ] || { echo "report.sh: no rebound at $REBOUND (build it, or --rebound PATH)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "report.sh: needs GNU time (/usr/bin/time; Debian package time)" >&2; exit 2; }
export REBOUND_DATADIR=${REBOUND_DATADIR:-$REPO/data}
W=$(mktemp -d /tmp/rebound-bench-report.XXXXXX)
PGDIR=
cleanup() {
  [ -n "$PGDIR" ] && "$REPO/tests/pg-server.sh" stop "$PGDIR" >/dev/null 2>&1
  if [ $KEEP = 1 ]; then echo "kept: $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

# fill SQL: $1 dialect, $2 contacts, $3 events, $4 sends
fill_sql() {
  local d=$1 c=$2 e=$3 s=$4 gen
  if [ "$d" = sqlite ]; then
    gen() { echo "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < $1)"; }
    echo "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; BEGIN;"
  else
    gen() { echo "WITH g(n) AS (SELECT generate_series(1, $1)::bigint)"; }
    echo "BEGIN;"
  fi
  cat <<SQL
$(gen $c)
INSERT INTO contacts (id, email, email_norm, source, for_mailing, status, bounce_type, reason, provider,
  provider_source, soft_since, quarantine_until, last_bounce_at, created_at, updated_at)
SELECT n, 'u' || n || '@d' || (n % 5000) || '.example', 'u' || n || '@d' || (n % 5000) || '.example',
  CASE n % 6 WHEN 0 THEN 'Website' WHEN 1 THEN 'Webinar2025' WHEN 2 THEN 'ImportBeurs' WHEN 3 THEN 'FacebookAdsJsonCSV'
    WHEN 4 THEN 'Test' ELSE 'MailTester' END,
  CASE WHEN n % 10 = 0 OR n % 37 = 0 OR n % 13 = 0 THEN 0 ELSE 1 END,
  CASE WHEN n % 10 = 0 THEN 'bounced' WHEN n % 37 = 0 THEN 'complaint' WHEN n % 13 = 0 THEN 'quarantined'
    WHEN n % 11 = 0 THEN 'blocked' ELSE 'active' END,
  CASE WHEN n % 10 = 0 THEN 'hard' ELSE '' END, CASE WHEN n % 10 = 0 THEN 'userunknown' ELSE '' END,
  CASE n % 8 WHEN 0 THEN 'business_microsoft' WHEN 1 THEN 'consumer_microsoft' WHEN 2 THEN 'google' WHEN 3 THEN 'yahoo'
    WHEN 4 THEN 'apple' WHEN 5 THEN 'gmx' WHEN 6 THEN 'orange' ELSE '' END, 'domain',
  CASE WHEN n % 17 = 0 THEN $END - (n % 2592000) ELSE 0 END,
  CASE WHEN n % 13 = 0 THEN $END + 86400 ELSE 0 END,
  CASE WHEN n % 10 = 0 THEN $END - (n % 2592000) ELSE 0 END, $END - 5184000, $END - 5184000
FROM g;
$(gen $c)
INSERT INTO queue (position, contact_id, added_at) SELECT n, n, $END - 2592000 FROM g WHERE n % 3 <> 0;
$(gen $e)
INSERT INTO events (key, contact_id, event_time, applied_at, bounce_type, reason, status, decision, diagnostic,
  remote_mta, provider, source)
SELECT 'k' || n, (n * 7919) % $c + 1, $END - 1 - ((n * 31) % 2592000), $END,
  CASE n % 10 WHEN 0 THEN 'hard' WHEN 1 THEN 'hard' WHEN 2 THEN 'hard' WHEN 3 THEN 'soft' WHEN 4 THEN 'soft'
    WHEN 5 THEN 'soft' WHEN 6 THEN 'blocked' WHEN 7 THEN 'blocked' WHEN 8 THEN 'complaint' ELSE 'none' END,
  CASE n % 10 WHEN 0 THEN 'userunknown' WHEN 1 THEN 'hostunknown' WHEN 2 THEN 'mailboxfull' WHEN 3 THEN 'expired'
    WHEN 4 THEN CASE WHEN n % 20 = 4 THEN 'onhold' ELSE 'networkerror' END WHEN 5 THEN 'undefined'
    WHEN 6 THEN 'spamdetected' WHEN 7 THEN 'blocked' WHEN 8 THEN 'feedback' ELSE 'delivered' END,
  '5.1.1',
  CASE n % 10 WHEN 0 THEN 'disabled' WHEN 1 THEN 'disabled' WHEN 2 THEN 'unchanged' WHEN 3 THEN 'counted'
    WHEN 4 THEN 'quarantined' WHEN 5 THEN 'counted' WHEN 8 THEN 'disabled' ELSE 'recorded' END,
  'host mx' || (n % 50) || '.example said: 550 5.1.1 <u' || n || '@d' || (n % 5000) || '.example>: Recipient address rejected ('
    || (n % 40) || ')',
  'mx' || (n % 50) || '.example',
  CASE n % 9 WHEN 0 THEN '' WHEN 1 THEN 'business_microsoft' WHEN 2 THEN 'google' WHEN 3 THEN 'consumer_microsoft'
    WHEN 4 THEN 'yahoo' WHEN 5 THEN 'apple' WHEN 6 THEN 'gmx' WHEN 7 THEN 'orange' ELSE 'business_microsoft' END,
  'bench'
FROM g;
$(gen $s)
INSERT INTO sends (key, queue_id, message_id, recipient_norm, sent_at, relay, provider, reply, source)
SELECT 's' || n, 'Q' || n, 'm' || n || '@bench.example',
  'u' || ((n * 7919) % $c + 1) || '@d' || (((n * 7919) % $c + 1) % 5000) || '.example',
  $END - 1 - ((n * 31) % 2592000) - 600 - (n % 7200), 'mx.example', 
  CASE n % 8 WHEN 0 THEN 'business_microsoft' WHEN 1 THEN 'consumer_microsoft' WHEN 2 THEN 'google' WHEN 3 THEN 'yahoo'
    WHEN 4 THEN 'apple' WHEN 5 THEN 'gmx' WHEN 6 THEN 'orange' ELSE '' END,
  '250 2.6.0 Queued mail for delivery', 'bench.log'
FROM g;
COMMIT;
SQL
  [ "$d" = sqlite ] || echo "SELECT setval(pg_get_serial_sequence('contacts', 'id'), $c); ANALYZE;"
  if [ "$d" = sqlite ]; then echo "ANALYZE;"; fi
}

timed() {   # label, then the command: prints "label  seconds  peak-RSS"
  local label=$1; shift
  /usr/bin/time -f '%e %U %S %M' -o "$W/time" "$@" > "$W/out" 2> "$W/err" || { echo "$label: FAILED"; cat "$W/err" "$W/time"; return 1; }
  read -r secs usr sys kib < <(tail -1 "$W/time")
  printf '  %-28s %7.2f s wall  %7.2f s CPU  %8.1f MiB peak RSS\n' "$label" "$secs" "$(echo "$usr + $sys" | bc -l)" \
    "$(echo "$kib / 1024" | bc -l)"
}

run() {   # backend, url, contacts, events, sends
  local b=$1 url=$2 c=$3 e=$4 s=$5 t0 t1
  "$REBOUND" init --db "$url" >/dev/null || return 1
  t0=$(date +%s.%N)
  if [ "$b" = sqlite ]; then fill_sql sqlite $c $e $s | sqlite3 "$url" >/dev/null || return 1
  else fill_sql postgresql $c $e $s | psql -q -v ON_ERROR_STOP=1 "$url" >/dev/null || return 1; fi
  t1=$(date +%s.%N)
  printf '%s: %d contacts, %d events, %d sends (made in %.0f s)\n' "$b" $c $e $s "$(echo "$t1 - $t0" | bc -l)"
  # the rows were written by SQL, not by rebound: its rollups are computed
  # from them once (what the schema-6 migration does for an existing store)
  timed "rollups (report --rebuild)" "$REBOUND" report --rebuild --db "$url" --since 2026-11-01 --until 2026-11-02 --format json || return 1
  timed "report --format json" "$REBOUND" report --db "$url" --since 2026-11-01 --until 2026-12-01 --format json || return 1
  cp "$W/out" "$W/$b-$e.json"
  timed "report --html" "$REBOUND" report --db "$url" --since 2026-11-01 --until 2026-12-01 --html "$W/$b-$e.html" || return 1
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); t=d["totals"]; print("  totals: sends %d, bounces %d, accepted then NDR %d, dead in queue %d; %d distinct masked diagnostics" % (t["sends"], t["bounces"], t["accepted_then_ndr"], t["dead_in_queue"], d["diagnostics"]["distinct"]))' "$W/$b-$e.json"
}

rc=0
for b in $BACKENDS; do
  for scale in 1 10; do
    e=$((E / scale)) s=$((S / scale))
    if [ $b = sqlite ]; then
      run sqlite "$W/bench-$scale.db" $C $e $s || rc=1
    else
      command -v psql >/dev/null || { echo "postgresql: skipped (psql not installed)"; break; }
      if [ -z "$PGDIR" ]; then
        PGDIR=$(mktemp -d /tmp/rebound-bench-pg.XXXXXX)
        PGURL=$("$REPO/tests/pg-server.sh" start "$PGDIR") || { echo "postgresql: skipped (cannot start a server)"; PGDIR=; break; }
      fi
      base=${PGURL%%\?*}; query=${PGURL#*\?}
      psql -q "$PGURL" -c "DROP DATABASE IF EXISTS bench_report_$scale" -c "CREATE DATABASE bench_report_$scale" >/dev/null
      run postgresql "${base%/*}/bench_report_$scale?$query" $C $e $s || rc=1
    fi
  done
done
exit $rc
