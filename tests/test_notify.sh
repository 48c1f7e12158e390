#!/usr/bin/env bash
# rebound notify end to end over loopback HTTP, against tests/notify-server.py
# (a stand-in for the seed's status API that can fail, hang, refuse and
# recover, and logs every request) and, when src/serve.c is built, against
# `rebound serve`; with the SQLite store and (when REBOUND_TEST_PG names a
# server) PostgreSQL.  What is checked: the dry run sends nothing; a run
# delivers exactly the filtered contacts, with the seed's fields; a second run
# sends nothing; a new bounce sends only that one; 500 / hang / server down
# keep the rows and deliver them once after the back-off; a kill -9 mid-run
# loses nothing and duplicates at most the request in flight; --limit; a 4xx
# refusal is kept, reported and sent again by --retry-failed; a refused key
# changes nothing; the key is never printed.
set -uo pipefail
R=${REBOUND_BIN:?}
SRC=${REBOUND_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
SERVER=$SRC/tests/notify-server.py
pass=0 fail=0
ok()  { pass=$((pass+1)); }
bad() { fail=$((fail+1)); echo "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then ok; else bad "$what"; fi; }

command -v python3 >/dev/null || { echo "SKIP: python3 is needed for the test status API server"; exit 77; }

work=$(mktemp -d /tmp/rebound-notify.XXXXXX)
srv_pid=
cleanup() { [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"

KEY="nk-$RANDOM$RANDOM-secret"
printf '%s\n' "$KEY" > key.txt
export REBOUND_NOTIFY_KEY=   # only what a test gives
base=$(date -u -d 2026-12-01T00:00:00Z +%s)
at() { date -u -d "@$((base + $1 * 60))" +%Y-%m-%dT%H:%M:%SZ; }   # minutes after the test's epoch

# ---- the test status API --------------------------------------------------------------
start_server() {   # [port]: starts it, sets P and URL
  rm -f port
  python3 "$SERVER" --port "${1:-0}" --port-file port --log log.jsonl --control ctl.json --key "$KEY" \
    2>>server.err &
  srv_pid=$!
  local i=0
  while [ ! -s port ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
  P=$(cat port 2>/dev/null)
  URL="http://127.0.0.1:$P/contact/api/email-status/"
  [ -n "$P" ]
}
stop_server() { kill "$srv_pid" 2>/dev/null; wait "$srv_pid" 2>/dev/null; srv_pid=; }
mode() { echo "$1" > ctl.json; }
# requests logged for EMAIL with EVENT (accepted, 500, hang, 401, ...)
count() { grep -F "\"email\": \"$1\"" log.jsonl 2>/dev/null | grep -cF "\"event\": \"$2\""; }
total() { grep -cF "\"event\": \"$1\"" log.jsonl 2>/dev/null; }

N() { "$R" notify --url "$URL" --db "$DB" --key-file key.txt "$@" >>all.out 2>>all.err; }
# run notify, keep its output in out/err (and everything in all.*), rc in rc
run() { "$R" notify --url "$URL" --db "$DB" --key-file key.txt "$@" >out 2>err; rc=$?; cat out >>all.out; cat err >>all.err; }

# ---- the contacts and their bounces -----------------------------------------------------
cat > contacts.csv <<'EOF'
email,source
peter.dufaux@monard-dhulst.be,Website
hard2@example.com,Website
hard3@example.com,Website
blocked@example.com,Website
soft@example.com,Website
complainer@example.com,Website
fine@example.com,Website
late@example.com,Website
f1@example.com,Website
f2@example.com,Website
f3@example.com,Website
f4@example.com,Website
h1@example.com,Website
h2@example.com,Website
h3@example.com,Website
h4@example.com,Website
d1@example.com,Website
d2@example.com,Website
k1@example.com,Website
k2@example.com,Website
k3@example.com,Website
k4@example.com,Website
k5@example.com,Website
k6@example.com,Website
l1@example.com,Website
l2@example.com,Website
l3@example.com,Website
l4@example.com,Website
l5@example.com,Website
p1@example.com,Website
p2@example.com,Website
s1@example.com,Website
w1@example.com,Website
c1@example.com,Website
c2@example.com,Website
c3@example.com,Website
c4@example.com,Website
c5@example.com,Website
c6@example.com,Website
c7@example.com,Website
c8@example.com,Website
c9@example.com,Website
c10@example.com,Website
r1@example.com,Website
m1@example.com,Website
EOF
cat > first.jsonl <<'EOF'
{"recipient":"peter.dufaux@monard-dhulst.be","reason":"userunknown","status":"5.1.10","reply_code":"550","diagnostic":"RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup","provider":"business_microsoft","date":"2026-11-01T09:00:00Z"}
{"recipient":"hard2@example.com","reason":"hostunknown","status":"5.1.2","reply_code":"550","date":"2026-11-01T09:00:00Z"}
{"recipient":"hard3@example.com","reason":"userunknown","status":"5.1.1","reply_code":"550","diagnostic":"user unknown & gone = 100% + ü; a=b&c","date":"2026-11-01T09:00:00Z"}
{"recipient":"blocked@example.com","reason":"spamdetected","status":"5.7.1","reply_code":"550","date":"2026-11-01T00:00:00Z"}
{"recipient":"soft@example.com","reason":"networkerror","status":"4.4.1","date":"2026-10-01T00:00:00Z"}
{"recipient":"soft@example.com","reason":"expired","status":"4.4.7","date":"2026-10-15T00:00:00Z"}
{"recipient":"soft@example.com","reason":"networkerror","status":"4.4.1","date":"2026-10-30T00:00:00Z"}
{"recipient":"complainer@example.com","reason":"feedback","feedback_type":"abuse","date":"2026-11-01T00:00:00Z"}
EOF
bounce() {   # bounce EMAIL... : a hard bounce for each, dated now-ish (unique per call)
  local d=$1; shift
  : > b.jsonl
  for e in "$@"; do
    printf '{"recipient":"%s","reason":"userunknown","status":"5.1.1","reply_code":"550","date":"%s"}\n' "$e" "$d" >> b.jsonl
  done
  "$R" apply --commit -q --db "$DB" --now 2026-11-20 b.jsonl >/dev/null 2>>apply.err || bad "apply $*"
}

run_backend() {   # $1 label, $2 store URL
  local L=$1 rc i
  DB=$2
  : > log.jsonl; mode '{"mode": "ok"}'
  start_server || { bad "$L: the test server did not start"; return; }
  "$R" contacts import --create --db "$DB" contacts.csv >/dev/null 2>&1 || bad "$L import"
  "$R" apply --commit -q --db "$DB" --now 2026-11-02 first.jsonl >/dev/null 2>&1 || bad "$L apply"
  echo "== $L (server on port $P)"

  # -- dry run: the rows, nothing queued, nothing sent
  run --dry-run --now "$(at 0)"
  check "$L dry run exit 0" [ $rc = 0 ]
  check "$L dry run lists the 3 hard bounces" [ "$(grep -c ',bounced,hard,' out)" = 3 ]
  check "$L dry run: the seed's contact with its code" grep -q '^[0-9]*,peter.dufaux@monard-dhulst.be,bounced,hard,550 5.1.10,RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup,business_microsoft,ndr,0,' out
  check "$L dry run says it" grep -q "3 new change(s) would be queued.*nothing was written or sent" err
  check "$L dry run sent nothing" [ "$(wc -l < log.jsonl)" = 0 ]
  run --dry-run --now "$(at 0)"
  check "$L dry run queued nothing (a second one finds the same 3 new)" grep -q "3 new change(s) would be queued" err
  "$R" notify --url "$URL" --db "$DB" --dry-run --status blocked --bounce-type any --now "$(at 0)" > dry2.out 2>/dev/null
  check "$L dry run without a key, other filter" [ "$(tail -n +2 dry2.out | cut -d, -f2)" = blocked@example.com ]

  # -- the run: exactly the filtered ones, once, with the seed's fields, one connection
  run --now "$(at 0)"
  check "$L run exit 0" [ $rc = 0 ]
  check "$L run: enqueued 3" grep -q "^enqueued: *3$" out
  check "$L run: sent 3" grep -q "^sent: *3 " out
  check "$L run: nothing left" grep -q "^left: *0 " out
  for e in peter.dufaux@monard-dhulst.be hard2@example.com hard3@example.com; do
    check "$L $e delivered once" [ "$(count $e accepted)" = 1 ]
  done
  check "$L only those 3 arrived" [ "$(wc -l < log.jsonl)" = 3 ]
  python3 - log.jsonl <<'EOF' || bad "$L the seed's fields"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
r = [x for x in rows if x["fields"]["email"] == "peter.dufaux@monard-dhulst.be"][0]
want = {"email": "peter.dufaux@monard-dhulst.be", "status": "bounced", "bounce_type": "hard",
        "status_code": "550 5.1.10", "provider": "business_microsoft", "provider_source": "ndr",
        "status_message": "RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"}
assert r["fields"] == want, r["fields"]
assert r["content_type"] == "application/x-www-form-urlencoded", r
assert len({x["port"] for x in rows}) == 1, "not one kept-alive connection: %s" % [x["port"] for x in rows]
r = [x for x in rows if x["fields"]["email"] == "hard3@example.com"][0]
assert "user unknown & gone = 100% + \u00fc; a=b&c" in r["fields"]["status_message"], r["fields"]
EOF
  ok

  # -- again: nothing
  run --now "$(at 1)"
  check "$L second run exit 0" [ $rc = 0 ]
  check "$L second run enqueues nothing" grep -q "^enqueued: *0$" out
  check "$L second run sends nothing" [ "$(wc -l < log.jsonl)" = 3 ]

  # -- several values per filter; quarantined goes out as deferred
  run --now "$(at 2)" --status bounced,blocked,quarantined --bounce-type hard,blocked,soft
  check "$L filter lists: exit 0" [ $rc = 0 ]
  check "$L filter lists: blocked sent" [ "$(count blocked@example.com accepted)" = 1 ]
  check "$L filter lists: quarantined sent as deferred" grep -q '"email": "soft@example.com", "provider_source": "ndr", "status": "deferred"' log.jsonl
  check "$L filter lists: complaint not sent" [ "$(count complainer@example.com accepted)" = 0 ]
  check "$L filter lists: hard ones not again" [ "$(total accepted)" = 5 ]

  # -- a new bounce: only that one
  bounce 2026-11-10T10:00:00Z late@example.com
  run --now "$(at 3)"
  check "$L new bounce: sent 1" grep -q "^sent: *1 " out
  check "$L new bounce: that one" [ "$(count late@example.com accepted)" = 1 ]
  check "$L new bounce: nothing else" [ "$(total accepted)" = 6 ]

  # -- the server fails (500): kept, early stop after 3 in a row, retried after the back-off
  mode '{"mode": "fail"}'
  bounce 2026-11-11T10:00:00Z f1@example.com f2@example.com f3@example.com f4@example.com
  run --now "$(at 10)"
  check "$L 500: exit 75 (stopped early)" [ $rc = 75 ]
  check "$L 500: 3 tried, then stop" [ "$(total 500)" = 3 ]
  check "$L 500: retried later 3" grep -q "^retried later: *3$" out
  check "$L 500: left 4 (1 due now, 3 later)" grep -q "^left: *4 (1 due now, 3 due later)" out
  check "$L 500: says why" grep -q "stopped early: the server failed 3 times in a row" err
  check "$L 500: the error and the retry time reported" grep -q "f1@example.com: HTTP 500: .*retry at $(at 11)" err
  run --now "$(at 10)"
  check "$L 500, same minute: only the untried one (exit 1)" [ $rc = 1 ] && check "$L 500: f4 tried" [ "$(count f4@example.com 500)" = 1 ]
  check "$L 500: f1 not retried before its back-off" [ "$(count f1@example.com 500)" = 1 ]
  mode '{"mode": "ok"}'
  run --now "$(at 10)"
  check "$L recovered, back-off not over: nothing sent" [ "$(total accepted)" = 6 ]
  check "$L recovered, back-off not over: exit 0, 4 due later" grep -q "^left: *4 (0 due now, 4 due later)" out
  run --now "$(at 12)"
  check "$L after the back-off: exit 0" [ $rc = 0 ]
  for e in f1 f2 f3 f4; do check "$L after the back-off: $e delivered once" [ "$(count $e@example.com accepted)" = 1 ]; done

  # -- the server hangs: time-out, kept, delivered once later
  mode '{"mode": "hang", "hang": 6}'
  bounce 2026-11-12T10:00:00Z h1@example.com h2@example.com h3@example.com h4@example.com
  local t0=$SECONDS
  run --now "$(at 20)" --timeout 0.5
  check "$L hang: exit 75 after 3 time-outs" [ $rc = 75 ]
  check "$L hang: took the time-outs, not the hangs ($((SECONDS - t0)) s)" [ $((SECONDS - t0)) -lt 10 ]
  check "$L hang: reported" grep -q "h1@example.com: no answer in time" err
  check "$L hang: 3 requests hung" [ "$(total hang)" = 3 ]
  mode '{"mode": "ok"}'
  run --now "$(at 25)"
  check "$L hang: recovered, exit 0" [ $rc = 0 ]
  for e in h1 h2 h3 h4; do check "$L hang: $e delivered once" [ "$(count $e@example.com accepted)" = 1 ]; done

  # -- the server is down: early stop, exit 75, nothing lost, nothing counted
  stop_server
  bounce 2026-11-13T10:00:00Z d1@example.com d2@example.com
  run --now "$(at 30)"
  check "$L down: exit 75" [ $rc = 75 ]
  check "$L down: stopped at once" grep -q "stopped early: server unreachable" err
  check "$L down: both kept, due now" grep -q "^left: *2 (2 due now, 0 due later)" out
  start_server "$P" || bad "$L server restart on port $P"
  run --now "$(at 30)"
  check "$L up again: exit 0" [ $rc = 0 ]
  for e in d1 d2; do check "$L up again: $e delivered once" [ "$(count $e@example.com accepted)" = 1 ]; done

  # -- kill -9 in the middle (a slow server), rerun: everything once, but the one in flight
  mode '{"mode": "slow", "delay": 0.3}'
  bounce 2026-11-14T10:00:00Z k1@example.com k2@example.com k3@example.com k4@example.com k5@example.com k6@example.com
  "$R" notify --url "$URL" --db "$DB" --key "$KEY" --timeout 5 --now "$(at 40)" >kill.out 2>kill.err &
  local np=$!
  i=0
  while [ "$(grep -cF '"email": "k' log.jsonl)" -lt 1 ] && [ $i -lt 200 ]; do sleep 0.02; i=$((i+1)); done
  if [ -r /proc/$np/cmdline ]; then
    check "$L --key is not in the process list" bash -c "! tr '\0' ' ' < /proc/$np/cmdline | grep -qF -- '$KEY'"
  fi
  kill -9 $np 2>/dev/null; wait $np 2>/dev/null
  local before; before=$(grep -cF '"email": "k' log.jsonl)
  check "$L kill -9: the run was killed part-way ($before of 6 arrived)" [ "$before" -ge 1 ] && [ "$before" -lt 6 ]
  mode '{"mode": "ok"}'
  sleep 0.4   # the request in flight reaches the server's log
  run --now "$(at 40)"
  check "$L kill -9, rerun at once: the claimed rows wait for their lease" grep -q "^sent: *0$" out
  run --now "$(at 60)"
  check "$L kill -9, rerun after the lease: exit 0" [ $rc = 0 ]
  local dups=0
  for e in k1 k2 k3 k4 k5 k6; do
    n=$(count $e@example.com accepted)
    check "$L kill -9: $e arrived ($n)" [ "$n" -ge 1 ]
    [ "$n" -gt 1 ] && dups=$((dups + n - 1))
  done
  check "$L kill -9: at most the one in flight twice ($dups)" [ "$dups" -le 1 ]
  check "$L kill -9: a repeat is a no-op for the server" [ "$(grep -F '"email": "k' log.jsonl | grep -c '"result": "unchanged"')" = "$dups" ]

  # -- --limit caps a run
  bounce 2026-11-15T10:00:00Z l1@example.com l2@example.com l3@example.com l4@example.com l5@example.com
  run --now "$(at 70)" --limit 2
  check "$L --limit 2: sent 2" grep -q "^sent: *2 " out
  check "$L --limit 2: 3 left, due now" grep -q "^left: *3 (3 due now" out
  check "$L --limit 2: exit 0" [ $rc = 0 ]
  check "$L --limit 2: the oldest first" [ "$(count l1@example.com accepted)$(count l2@example.com accepted)$(count l5@example.com accepted)" = 110 ]
  N --now "$(at 70)" --limit 2; N --now "$(at 70)" --limit 2
  for e in l1 l2 l3 l4 l5; do check "$L --limit: $e delivered once" [ "$(count $e@example.com accepted)" = 1 ]; done

  # -- two runs at once (cron overlapping, two sending servers): no row posted twice
  mode '{"mode": "slow", "delay": 0.1}'
  bounce 2026-11-15T12:00:00Z c1@example.com c2@example.com c3@example.com c4@example.com c5@example.com \
    c6@example.com c7@example.com c8@example.com c9@example.com c10@example.com
  N --now "$(at 75)" --limit 3        # queue them (and send 3)
  N --now "$(at 75)" & local c1=$!
  N --now "$(at 75)" & local c2=$!
  wait $c1; wait $c2
  mode '{"mode": "ok"}'
  local twice=0
  for e in c1 c2 c3 c4 c5 c6 c7 c8 c9 c10; do [ "$(count $e@example.com accepted)" = 1 ] || twice=$((twice+1)); done
  check "$L two runs at once: every row posted exactly once ($twice not)" [ $twice = 0 ]

  # -- a refusal (400): kept as failed, reported, sent again by --retry-failed
  mode '{"mode": "ok", "codes": {"p1@example.com": 400}, "echo_key": true}'
  bounce 2026-11-16T10:00:00Z p1@example.com p2@example.com
  run --now "$(at 80)"
  check "$L 400: exit 1" [ $rc = 1 ]
  check "$L 400: p2 sent" [ "$(count p2@example.com accepted)" = 1 ]
  check "$L 400: reported" grep -q "p1@example.com: not sent, given up: HTTP 400: .*forced 400" err
  check "$L 400: the key echoed by the server is blanked" grep -q '"X-Contact-Provider-Key": "\*\*\*"' err
  check "$L 400: failed 1" grep -q "^failed total: *1 " out
  "$R" notify --url "$URL" --db "$DB" --show-failed > failed.csv 2>/dev/null
  check "$L --show-failed lists it" grep -q '^[0-9]*,p1@example.com,bounced,hard,0,.*HTTP 400' failed.csv
  run --now "$(at 81)"
  check "$L 400: not retried by itself" [ "$(count p1@example.com 400)" = 1 ]
  mode '{"mode": "ok"}'
  run --now "$(at 82)" --retry-failed
  check "$L --retry-failed: exit 0" [ $rc = 0 ]
  check "$L --retry-failed: put back 1" grep -q "^failed rows put back: *1$" out
  check "$L --retry-failed: p1 delivered" [ "$(count p1@example.com accepted)" = 1 ]

  # -- 429 with Retry-After: the server's wait when longer than the back-off
  mode '{"mode": "ok", "codes": {"r1@example.com": 429}, "retry_after": 1800}'
  bounce 2026-11-16T11:00:00Z r1@example.com
  run --now "$(at 84)"
  check "$L 429: exit 1" [ $rc = 1 ]
  check "$L 429: retried after Retry-After (30 min), not 1 min" grep -q "r1@example.com: HTTP 429: .*retry at $(at 114) " err
  mode '{"mode": "ok"}'
  run --now "$(at 110)"
  check "$L 429: not before" [ "$(count r1@example.com accepted)" = 0 ]
  run --now "$(at 114)"
  check "$L 429: then sent" [ "$(count r1@example.com accepted)" = 1 ]

  # -- --max-attempts: a row that keeps failing is given up, and reported
  mode '{"mode": "ok", "codes": {"m1@example.com": 502}}'
  bounce 2026-11-16T12:00:00Z m1@example.com
  run --now "$(at 115)" --max-attempts 2
  check "$L max-attempts: first failure retried" grep -q "^retried later: *1$" out
  run --now "$(at 117)" --max-attempts 2
  check "$L max-attempts: given up after 2" grep -q "m1@example.com: not sent, given up: gave up after 2 attempts; HTTP 502" err
  check "$L max-attempts: exit 1" [ $rc = 1 ]
  run --now "$(at 119)" --max-attempts 2
  check "$L max-attempts: not tried again" [ "$(count m1@example.com 502)" = 2 ]
  mode '{"mode": "ok"}'

  # -- a wrong URL path (404): the run stops at once with 78, every row stays
  # pending (none marked failed), and the right URL delivers them
  bounce 2026-11-17T09:00:00Z p1@example.com
  bounce 2026-11-17T09:00:01Z p2@example.com
  bounce 2026-11-17T09:00:02Z p3@example.com
  "$R" notify --url "${URL%/contact/api/email-status/}/wrong/path/" --db "$DB" --key-file key.txt --now "$(at 119)" \
    >out 2>err; rc=$?
  check "$L wrong path: exit 78 ($rc)" [ $rc = 78 ]
  check "$L wrong path: says so once, naming the URL" grep -q "stopped: HTTP 404.* from http://127.0.0.1:[0-9]*/wrong/path/" err
  check "$L wrong path: no row given up" bash -c "! grep -q 'given up' err"
  check "$L wrong path: rows kept ($(grep '^left:' out))" [ "$(awk '/^left:/{print $2}' out)" -ge 3 ]
  "$R" notify --url "$URL" --db "$DB" --show-failed > failed.csv
  check "$L wrong path: nothing failed" [ "$(grep -c 'p[123]@example.com' failed.csv)" = 0 ]
  run --now "$(at 119)"
  check "$L wrong path, then the right one: p1..p3 delivered" [ "$(count p2@example.com accepted)" = 1 ]

  # -- a refused key: exit 78, nothing counted, then the right key delivers
  bounce 2026-11-17T10:00:00Z w1@example.com
  printf 'wrong-key\n' > wrong.txt
  "$R" notify --url "$URL" --db "$DB" --key-file wrong.txt --now "$(at 120)" >out 2>err; rc=$?
  check "$L wrong key: exit 78" [ $rc = 78 ]
  check "$L wrong key: said" grep -q "stopped: HTTP 401" err
  check "$L wrong key: kept, due now" grep -q "^left: *1 (1 due now" out
  REBOUND_NOTIFY_KEY=$KEY "$R" notify --url "$URL" --db "$DB" --now "$(at 120)" >out 2>err; rc=$?
  check "$L key from the environment: exit 0" [ $rc = 0 ]
  check "$L w1 delivered once" [ "$(count w1@example.com accepted)" = 1 ]

  # -- a contact that changes again before its row went out: only the new state is sent
  # (blocked first, its row kept by a 503; then a hard bounce)
  mode '{"mode": "ok", "codes": {"s1@example.com": 503}}'
  printf '{"recipient":"s1@example.com","reason":"spamdetected","status":"5.7.1","reply_code":"550","date":"2026-11-18T10:00:00Z"}\n' > b.jsonl
  "$R" apply --commit -q --db "$DB" --now 2026-11-20 b.jsonl >/dev/null 2>&1
  run --now "$(at 130)" --status bounced,blocked --bounce-type hard,blocked
  check "$L 503: retried later" grep -q "^retried later: *1$" out
  check "$L 503: the blocked state tried" [ "$(count s1@example.com 503)" = 1 ]
  printf '{"recipient":"s1@example.com","reason":"hostunknown","status":"5.1.2","reply_code":"550","date":"2026-11-19T10:00:00Z"}\n' > b.jsonl
  "$R" apply --commit -q --db "$DB" --now 2026-11-20 b.jsonl >/dev/null 2>&1
  mode '{"mode": "ok"}'
  run --now "$(at 140)" --status bounced,blocked --bounce-type hard,blocked
  check "$L changed again: superseded 1" grep -q "^superseded: *1$" out
  check "$L changed again: sent once" [ "$(count s1@example.com accepted)" = 1 ]
  check "$L changed again: the new state" grep -q '"email": "s1@example.com", "provider_source": "ndr", "status": "bounced", "status_code": "550 5.1.2"' log.jsonl

  # -- the key never printed, and nothing accepted twice but the killed run's in-flight one
  check "$L the key is never printed" bash -c "! cat all.out all.err kill.out kill.err | grep -qF -- '$KEY'"
  check "$L accepted in all: every contact once (+ dups)" \
    [ "$(total accepted)" = $(( $(grep -F '"event": "accepted"' log.jsonl | grep -oE '"email": "[^"]*"' | sort -u | wc -l) + dups )) ]
  stop_server
}

run_backend sqlite "$work/notify.db"

if [ -n "${REBOUND_TEST_PG:-}" ]; then
  pbase=${REBOUND_TEST_PG%%\?*}; query=${REBOUND_TEST_PG#*\?}
  [ "$query" = "$REBOUND_TEST_PG" ] && query=
  psql -q "$REBOUND_TEST_PG" -c "DROP DATABASE IF EXISTS rebound_notify" -c "CREATE DATABASE rebound_notify" \
    >/dev/null 2>&1 || bad "cannot create PostgreSQL database rebound_notify"
  rm -f all.out all.err
  run_backend postgresql "${pbase%/*}/rebound_notify${query:+?$query}"
else
  echo "SKIP-PART: PostgreSQL part skipped: REBOUND_TEST_PG is not set"
fi

# ---- end to end: notify -> rebound serve --------------------------------------------------
if "$R" serve --help >/dev/null 2>&1 && "$R" keys --help >/dev/null 2>&1; then
  echo "== notify -> rebound serve"
  "$R" contacts import --create --db sender.db contacts.csv >/dev/null 2>&1
  "$R" apply --commit -q --db sender.db --now 2026-11-02 first.jsonl >/dev/null 2>&1
  "$R" contacts import --create --db receiver.db contacts.csv >/dev/null 2>&1
  skey=$("$R" keys add sender --db receiver.db 2>/dev/null | grep -oE '[A-Za-z0-9_-]{20,}' | tail -1)
  sport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$R" serve --db receiver.db --listen "127.0.0.1:$sport" >serve.log 2>&1 &
  serve_pid=$!
  python3 - "$sport" <<'EOF' || bad "serve: /healthz did not answer"
import sys, time, urllib.request
for _ in range(100):
    try:
        urllib.request.urlopen("http://127.0.0.1:%s/healthz" % sys.argv[1], timeout=1).read()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
EOF
  SURL="http://127.0.0.1:$sport/contact/api/email-status/"
  REBOUND_NOTIFY_KEY=$skey "$R" notify --url "$SURL" --db sender.db --now "$(at 0)" >out 2>err; rc=$?
  check "serve: notify exit 0" [ $rc = 0 ]
  check "serve: sent 3" grep -q "^sent: *3 " out
  "$R" contacts show --db receiver.db peter.dufaux@monard-dhulst.be >show.txt 2>&1
  check "serve: the contact is bounced on the server" grep -q "^status: *bounced" show.txt
  check "serve: with the seed's status code" grep -q "550 5.1.10" show.txt
  REBOUND_NOTIFY_KEY=$skey "$R" notify --url "$SURL" --db sender.db --retry-failed --now "$(at 1)" >out 2>err; rc=$?
  check "serve: a second run sends nothing" grep -q "^sent: *0$" out
  # the same events posted again (what a kill between the answer and the
  # commit leads to): another spelling of the URL is another target
  "$R" contacts show --db receiver.db peter.dufaux@monard-dhulst.be 2>&1 | grep -v '^created' >show1.txt
  REBOUND_NOTIFY_KEY=$skey "$R" notify --url "http://localhost:$sport/contact/api/email-status/" --db sender.db \
    --now "$(at 1)" >out 2>err; rc=$?
  check "serve: the same events again: accepted (exit 0, sent 3)" grep -q "^sent: *3 " out
  "$R" contacts show --db receiver.db peter.dufaux@monard-dhulst.be 2>&1 | grep -v '^created' >show2.txt
  check "serve: ... and nothing changed on the server" cmp -s show1.txt show2.txt
  REBOUND_NOTIFY_KEY=wrong "$R" notify --url "$SURL" --db sender.db --status blocked --bounce-type any --now "$(at 2)" >out 2>err; rc=$?
  check "serve: a wrong key is refused (exit 78)" [ $rc = 78 ]
  # blocked, quarantined (as deferred), complaint
  REBOUND_NOTIFY_KEY=$skey "$R" notify --url "$SURL" --db sender.db --status blocked,quarantined,complaint \
    --bounce-type any --now "$(at 2)" >out 2>err; rc=$?
  check "serve: blocked, deferred, complaint accepted" grep -q "^sent: *3 " out
  "$R" contacts show --db receiver.db blocked@example.com >show.txt 2>&1
  check "serve: blocked on the server, still mailed" grep -q "^status: *blocked" show.txt
  check "serve: blocked: for_mailing yes" grep -q "^for_mailing: *yes" show.txt
  "$R" contacts show --db receiver.db complainer@example.com >show.txt 2>&1
  check "serve: complaint on the server" grep -q "^status: *complaint" show.txt
  kill "$serve_pid" 2>/dev/null; wait "$serve_pid" 2>/dev/null
else
  echo "SKIP-PART: notify -> rebound serve skipped: this build has no 'rebound serve' / 'rebound keys'"
fi

# ---- usage --------------------------------------------------------------------------------
"$R" notify --db "$work/u.db" --key x >/dev/null 2>&1; check "no --url: 64" [ $? = 64 ]
"$R" notify --url ftp://x/ --key x >/dev/null 2>&1; check "not http: 64" [ $? = 64 ]
"$R" notify --url 'http://a b/' --key x >/dev/null 2>&1; check "space in URL: 64" [ $? = 64 ]
"$R" notify --url http://127.0.0.1:9/ --db "$work/u.db" >/dev/null 2>err; check "no key: 64" [ $? = 64 ]
check "no key: said how to give one" grep -q "key-file" err
"$R" notify --url http://127.0.0.1:9/ --key x --status nonsense >/dev/null 2>err; check "bad --status: 64" [ $? = 64 ]
check "bad --status named" grep -q "unknown status 'nonsense'" err
"$R" notify --url http://127.0.0.1:9/ --key x --bounce-type 'a;b' >/dev/null 2>&1; check "bad --bounce-type: 64" [ $? = 64 ]
"$R" notify --url http://127.0.0.1:9/ --key x --limit 0 >/dev/null 2>&1; check "--limit 0: 64" [ $? = 64 ]
"$R" notify --url http://127.0.0.1:9/ --key x --timeout abc >/dev/null 2>&1; check "bad --timeout: 64" [ $? = 64 ]
"$R" notify --url http://127.0.0.1:9/ --key-file /nonexistent/key >/dev/null 2>&1; check "missing key file: 66" [ $? = 66 ]
"$R" notify --url http://127.0.0.1:9/ --key "$(printf 'a\tb')" >/dev/null 2>&1; check "control character in key: 64" [ $? = 64 ]
head -c 300 /dev/urandom | tr -d '\n' > junk.key; printf '\001\n' >> junk.key
"$R" notify --url http://127.0.0.1:9/ --key-file junk.key >/dev/null 2>err; check "binary key file: 64" [ $? = 64 ]
check "binary key file: named" grep -q "junk.key: the first line holds no usable key" err
"$R" notify --url http://127.0.0.1:9/ --key x --db /nonexistent-dir/x.db >/dev/null 2>&1; check "missing store: 66" [ $? = 66 ]
"$R" notify --help | grep -q "usage: rebound notify"; check "notify --help" [ $? = 0 ]

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
