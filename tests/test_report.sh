#!/usr/bin/env bash
# rebound report end to end: a store built from the quick start's data
# (examples/contacts.csv, examples/mail.log via maillog --commit, samples/ via
# analyze + apply --commit), its numbers (terminal, JSON, CSV) checked against
# direct SQL counts, on SQLite and (when REBOUND_TEST_PG names a server)
# PostgreSQL; the HTML page opened in a real headless Chromium
# (tests/report-html-check.py).  $1: where to keep the artefacts (the
# screenshot), default the work directory.
set -uo pipefail
R=${REBOUND_BIN:?}
SRC=${REBOUND_SRCDIR:?}
ART=${1:-}
pass=0 fail=0
ok()  { pass=$((pass+1)); }
bad() { fail=$((fail+1)); echo "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then ok; else bad "$what"; fi; }
eq() { if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; fi; }

work=$(mktemp -d /tmp/rebound-report.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
[ -n "$ART" ] || ART=$work
mkdir -p "$ART"

export TZ=UTC     # the syslog times of the logs written below
SINCE=2026-11-01 UNTIL=2026-12-01
S0=1793491200 U0=1796083200   # the same, in seconds

# j FILE PATH: a value of the JSON (null -> "null")
j() { python3 -c 'import json,sys
v=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): v = v[int(k)] if isinstance(v, list) else v[k]
print("null" if v is None else v)' "$1" "$2"; }

run_backend() {
  local L=$1 DB=$2 sql
  if [ "$L" = sqlite ]; then sql() { sqlite3 "$DB" "$1"; }; else sql() { psql -qAt "$DB" -c "$1"; }; fi
  export REBOUND_DB=$DB
  "$R" contacts import --create "$SRC/examples/contacts.csv" >/dev/null || bad "$L import"
  "$R" maillog --commit --state "$work/$L.state" "$SRC/examples/mail.log" >/dev/null 2>&1 || bad "$L maillog"
  # the queue is rebuilt before the bounces are applied: the contacts they
  # disable are dead addresses still in the queue until the next rebuild
  "$R" queue rebuild >/dev/null || bad "$L queue rebuild"
  "$R" analyze -q --write-csv "$work/$L-bounces.csv" "$SRC/samples/" >/dev/null 2>&1
  "$R" apply --commit "$work/$L-bounces.csv" >/dev/null || bad "$L apply"

  "$R" report --since $SINCE --until $UNTIL --format json > "$L.json"; check "$L report json exits 0" [ $? = 0 ]
  python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$L.json"; check "$L json parses" [ $? = 0 ]
  local W="BETWEEN $S0 AND $((U0 - 1))"
  eq "$L sends" "$(j $L.json totals.sends)" "$(sql "SELECT COUNT(*) FROM sends WHERE sent_at $W")"
  for t in hard soft blocked complaint; do
    eq "$L $t" "$(j $L.json totals.$t)" "$(sql "SELECT COUNT(*) FROM events WHERE bounce_type = '$t' AND event_time $W")"
  done
  eq "$L bounces" "$(j $L.json totals.bounces)" \
     "$(sql "SELECT COUNT(*) FROM events WHERE bounce_type IN ('hard','soft','blocked','complaint') AND event_time $W")"
  local dead
  dead=$(sql "SELECT COUNT(*) FROM contacts c JOIN queue q ON q.contact_id = c.id WHERE c.status IN ('bounced','complaint')")
  eq "$L dead in queue" "$(j $L.json totals.dead_in_queue)" "$dead"
  check "$L some dead addresses queued" [ "$dead" -gt 0 ]
  eq "$L dead curve ends at the total" "$(j $L.json dead_in_queue_daily.29.dead_in_queue)" "$dead"
  local atn
  atn=$(sql "SELECT COUNT(*) FROM sends s JOIN contacts c ON c.email_norm = s.recipient_norm WHERE s.sent_at $W
             AND EXISTS (SELECT 1 FROM events e WHERE e.contact_id = c.id AND e.bounce_type IN ('hard','soft','blocked')
             AND e.event_time >= s.sent_at)")
  eq "$L accepted then NDR" "$(j $L.json totals.accepted_then_ndr)" "$atn"
  check "$L an accepted-then-NDR send (jan.peeters)" [ "$atn" -ge 1 ]
  local med
  med=$(sql "SELECT MIN(e.event_time) - s.sent_at FROM sends s JOIN contacts c ON c.email_norm = s.recipient_norm
             JOIN events e ON e.contact_id = c.id WHERE c.email_norm = 'jan.peeters@contoso-mail.example'
             AND e.event_time >= s.sent_at GROUP BY s.id, s.sent_at")
  # the median is exact below 64 s, within 1/32 above (the rollups' buckets)
  python3 - "$L.json" "$med" <<'PY' || bad "$L median delay of business_microsoft (~$med s)"
import json, sys
d = json.load(open(sys.argv[1]))
p = [x for x in d["providers"] if x["accepted_then_ndr"]]
want = int(sys.argv[2])
sys.exit(0 if p and abs(p[0]["median_queued_to_ndr_seconds"] - want) <= want / 32 + 1 else 1)
PY
  local medr; medr=$(python3 -c 'import json,sys; print([x for x in json.load(open(sys.argv[1]))["providers"] if x["accepted_then_ndr"]][0]["median_queued_to_ndr_seconds"])' "$L.json")
  # per source: contacts and bounced now, from the contacts table
  python3 - "$L.json" > "$L-src.txt" <<'PY'
import json, sys
for s in sorted(json.load(open(sys.argv[1]))["sources"], key=lambda s: s["source"]):
    print("%s|%d|%d|%d" % (s["source"], s["contacts"], s["bounced"], s["hard_bounces"]))
PY
  sql "SELECT c.source, COUNT(*), SUM(CASE WHEN c.status = 'bounced' THEN 1 ELSE 0 END),
       (SELECT COUNT(*) FROM events e JOIN contacts c2 ON c2.id = e.contact_id WHERE c2.source = c.source
        AND e.bounce_type = 'hard' AND e.event_time $W)
       FROM contacts c GROUP BY c.source ORDER BY c.source" > "$L-src-sql.txt"
  check "$L per source = SQL" cmp -s "$L-src.txt" "$L-src-sql.txt"
  # reasons add up; soft pipeline adds up
  eq "$L reasons add up" "$(python3 -c 'import json,sys; print(sum(r["count"] for r in json.load(open(sys.argv[1]))["reasons"]))' $L.json)" \
     "$(j $L.json totals.bounces)"
  eq "$L soft pipeline" "$(j $L.json soft_pipeline.soft_bounces)" "$(j $L.json totals.soft)"
  eq "$L top diagnostics total" "$(j $L.json diagnostics.total)" "$(j $L.json totals.bounces)"
  check "$L diagnostics masked" bash -c "! grep -q '@[a-z0-9.-]*example' <(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"diagnostics\"])' $L.json)"
  eq "$L unclassified" "$(j $L.json unclassified.total)" \
     "$(sql "SELECT COUNT(*) FROM events WHERE reason IN ('onhold','undefined') AND event_time $W")"

  # filters
  "$R" report --since $SINCE --until $UNTIL --provider google --format json > "$L-g.json"
  eq "$L --provider google blocked" "$(j $L-g.json totals.blocked)" \
     "$(sql "SELECT COUNT(*) FROM events e JOIN contacts c ON c.id = e.contact_id WHERE e.bounce_type = 'blocked'
             AND COALESCE(NULLIF(e.provider, ''), c.provider) = 'google' AND e.event_time $W")"
  eq "$L --provider google hard" "$(j $L-g.json totals.hard)" "0"
  "$R" report --since $SINCE --until $UNTIL --source Website --format json > "$L-w.json"
  eq "$L --source Website hard" "$(j $L-w.json totals.hard)" \
     "$(sql "SELECT COUNT(*) FROM events e JOIN contacts c ON c.id = e.contact_id WHERE e.bounce_type = 'hard'
             AND c.source = 'Website' AND e.event_time $W")"
  eq "$L --source Website: one source" "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["sources"]))' $L-w.json)" 1

  # CSV: the same numbers
  "$R" report --since $SINCE --until $UNTIL --format csv > "$L.csv"
  check "$L csv header" grep -qx 'section,key,metric,value' "$L.csv"
  for t in sends hard soft blocked bounces dead_in_queue accepted_then_ndr; do
    check "$L csv totals $t" grep -qx "totals,,$t,$(j $L.json totals.$t)" "$L.csv"
  done
  check "$L csv per provider" grep -q "^providers,business_microsoft,accepted_then_ndr,1$" "$L.csv"
  # terminal
  "$R" report --since $SINCE --until $UNTIL > "$L.txt"
  check "$L table totals" grep -q "sends $(j $L.json totals.sends)   bounces $(j $L.json totals.bounces) (hard $(j $L.json totals.hard)," "$L.txt"
  check "$L table: no colour when not a terminal" bash -c "! grep -q $'\033' $L.txt"
  check "$L table per provider" grep -Eq "^  business_microsoft +1 +1 +100.0%" "$L.txt"
  # the same report from JSON and HTML (the HTML file is written alongside)
  "$R" report --since $SINCE --until $UNTIL --format json --html "$L.html" > "$L-2.json"
  check "$L html written" [ -s "$L.html" ]
  check "$L json with --html unchanged" cmp -s <(grep -v generated "$L.json") <(grep -v generated "$L-2.json")
  check "$L html: no other host" bash -c "! grep -Eqi '(src|href)=|url\\(|@import' $L.html"
  check "$L html: no script" bash -c "! grep -qi '<script' $L.html"

  # more sends to jan.peeters, logged after the NDR was stored (rebound
  # keeps each send's NDR as sends and bounces arrive, in any order)
  local ndr
  ndr=$(sql "SELECT MIN(e.event_time) FROM events e JOIN contacts c ON c.id = e.contact_id
             WHERE c.email_norm = 'jan.peeters@contoso-mail.example' AND e.bounce_type IN ('hard','soft','blocked')")
  sendlog() {   # queue ID, time (seconds): a 250 to jan.peeters through Exchange Online
    local ts; ts=$(date -u -d "@$2" '+%b %e %H:%M:%S')
    printf '%s mail1 postfix/qmgr[1190]: %s: from=<news@sender.example>, size=1000, nrcpt=1 (queue active)\n' "$ts" "$1"
    printf '%s mail1 postfix/smtp[4020]: %s: to=<jan.peeters@contoso-mail.example>, relay=contosomail-example.mail.protection.outlook.com[52.101.73.2]:25, delay=1, delays=0.1/0/0.4/0.5, dsn=2.6.0, status=sent (250 2.6.0 <%s@sender.example> Queued mail for delivery)\n' "$ts" "$1" "$1"
    printf '%s mail1 postfix/qmgr[1190]: %s: removed\n' "$ts" "$1"
  }
  mp() {   # FILE: business_microsoft's sent, accepted_then_ndr, median delay
    python3 -c 'import json,sys
p=[x for x in json.load(open(sys.argv[1]))["providers"] if x["provider"]=="business_microsoft"][0]
print(p["sent"], p["accepted_then_ndr"], p["median_queued_to_ndr_seconds"])' "$1"
  }
  local first; first=$(sql "SELECT MIN(sent_at) FROM sends WHERE recipient_norm = 'jan.peeters@contoso-mail.example'")
  # an earlier send: followed by the later send, not by the NDR
  sendlog 4A0000EA01 $((first - 3600)) > "$work/$L-early.log"
  "$R" maillog --commit --state "$work/$L-early.state" "$work/$L-early.log" >/dev/null 2>&1 || bad "$L maillog (earlier send)"
  "$R" report --since $SINCE --until $UNTIL --format json > "$L-resend.json"
  eq "$L re-send: one more send" "$(j $L-resend.json totals.sends)" "$(( $(j $L.json totals.sends) + 1 ))"
  eq "$L re-send: accepted then NDR unchanged" "$(j $L-resend.json totals.accepted_then_ndr)" "$atn"
  eq "$L re-send: business_microsoft 2 sent, 1 NDR, the same delay" "$(mp $L-resend.json)" "2 1 $medr"
  # a send between the first send and the NDR takes the NDR over: 60 s before it
  sendlog 4A0000EA02 $((ndr - 60)) > "$work/$L-mid.log"
  "$R" maillog --commit --state "$work/$L-mid.state" "$work/$L-mid.log" >/dev/null 2>&1 || bad "$L maillog (send in between)"
  "$R" report --since $SINCE --until $UNTIL --format json > "$L-mid.json"
  eq "$L in between: 3 sent, 1 NDR 60 s after the last" "$(mp $L-mid.json)" "3 1 60"
  eq "$L in between: the NDR is the last send's (SQL)" \
     "$(sql "SELECT COUNT(*) FROM sends WHERE recipient_norm = 'jan.peeters@contoso-mail.example' AND ndr_at > 0")|$(sql "SELECT ndr_at - sent_at FROM sends WHERE recipient_norm = 'jan.peeters@contoso-mail.example' AND ndr_at > 0")" "1|60"
  # the rollups kept while writing = the rollups computed again from the rows
  "$R" report --rebuild --since $SINCE --until $UNTIL --format json > "$L-rebuilt.json"; check "$L report --rebuild exits 0" [ $? = 0 ]
  check "$L rollups kept = rollups rebuilt" cmp -s <(grep -v generated "$L-mid.json") <(grep -v generated "$L-rebuilt.json")
}

run_backend sqlite "$work/r.db"

# ---- the HTML page in a real Chromium ---------------------------------------------------
CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -n "$CHROME" ]; then
  python3 "$SRC/tests/report-html-check.py" "$CHROME" sqlite.html sqlite-2.json "$ART/report-screenshot.png"; rc=$?
  if [ $rc = 77 ]; then echo "SKIP-PART: HTML check skipped: chromium does not start"; else check "html in chromium" [ $rc = 0 ]; fi
else
  echo "SKIP-PART: HTML check skipped: chromium is not installed (contrib/debian-packages.txt)"
fi

if [ -n "${REBOUND_TEST_PG:-}" ]; then
  base=${REBOUND_TEST_PG%%\?*}; query=${REBOUND_TEST_PG#*\?}
  [ "$query" = "$REBOUND_TEST_PG" ] && query=
  psql -q "$REBOUND_TEST_PG" -c "DROP DATABASE IF EXISTS rebound_report" -c "CREATE DATABASE rebound_report" >/dev/null 2>&1 ||
    bad "cannot create PostgreSQL database rebound_report"
  run_backend postgresql "${base%/*}/rebound_report${query:+?$query}"
  # both stores give the same report
  check "sqlite and postgresql reports equal" cmp -s <(grep -v -e generated -e '"store"' sqlite.json) \
    <(grep -v -e generated -e '"store"' postgresql.json)
else
  echo "SKIP-PART: PostgreSQL part skipped: REBOUND_TEST_PG is not set"
fi

# ---- rates when the mail log was not read: bounces without sends never pass 100 % ----------
printf 'email,source\nh1@example.net,Web\nh2@example.net,Web\nb1@example.net,Web\nx1@example.net,Web\nx2@example.net,Web\n' > nosend.csv
"$R" contacts import --create --db "$work/ns.db" nosend.csv >/dev/null 2>&1
printf 'recipient,reason,status,date\nh1@example.net,userunknown,5.1.1,2026-11-10T10:00:00Z\nh2@example.net,userunknown,5.1.1,2026-11-11T10:00:00Z\nb1@example.net,blocked,5.7.1,2026-11-12T10:00:00Z\n' > nosend-b.csv
# two bounces under alerts: kept apart from the bounce figures, shown as alerts
printf 'recipient,reason,status,date,alert,account\nx1@example.net,userunknown,5.1.1,2026-11-13T10:00:00Z,backscatter,\nx2@example.net,userunknown,5.1.1,2026-11-14T10:00:00Z,compromised_account,anna@example.org\n' > alerts.csv
"$R" apply --commit --db "$work/ns.db" alerts.csv >/dev/null 2>&1
"$R" apply --commit --db "$work/ns.db" nosend-b.csv >/dev/null 2>&1
"$R" report --db "$work/ns.db" --since $SINCE --until $UNTIL --format json > ns.json
eq "no sends: attempts are the bounces" "$(j ns.json totals.attempts)" 3
eq "no sends: hard rate 2/3" "$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["totals"]["hard_rate"], 4))' ns.json)" 0.6667
eq "alerts: backscatter" "$(j ns.json alerts.backscatter)" 1
eq "alerts: compromised account" "$(j ns.json alerts.compromised_account)" 1
eq "alerts: the account named" "$(j ns.json alerts.by_account.0.account)" "anna@example.org"
eq "alerts: not among the bounces" "$(j ns.json totals.bounces)" 3
eq "alerts: = SQL" "$(sqlite3 "$work/ns.db" "SELECT COUNT(*) FROM events WHERE alert <> ''")" 2
eq "alerts: contacts unchanged" "$(sqlite3 "$work/ns.db" "SELECT status FROM contacts WHERE email_norm LIKE 'x%' ORDER BY 1" | tr '\n' ' ')" "active active "
"$R" report --db "$work/ns.db" --since $SINCE --until $UNTIL > ns.txt
check "alerts: in the table" grep -q "backscatter (mail we never sent) 1; compromised account" ns.txt
check "no sends: no rate above 100 %" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
rates = [d["totals"]] + d["providers"]
sys.exit(0 if all(0 <= (x[k] or 0) <= 1 for x in rates for k in ("hard_rate", "block_rate", "accepted_then_ndr_share")) else 1)' ns.json

# ---- the default period, usage errors -----------------------------------------------------
export REBOUND_DB=$work/r.db
"$R" report --now 2026-11-30T12:00:00Z --format json > d.json
eq "default period: 30 whole days back, today's included" "$(j d.json period.since)" "2026-11-01T00:00:00Z"
eq "default period: to the end of today" "$(j d.json period.until)" "2026-12-01T00:00:00Z"
eq "default period: 30 days" "$(j d.json period.days)" 30
"$R" report --since yesterdayish >/dev/null 2>err; rc=$?
check "bad --since: 64" [ $rc = 64 ]
check "bad --since named" grep -q "yesterdayish" err
"$R" report --since 2026-12-01 --until 2026-11-01 >/dev/null 2>&1; check "until before since: 64" [ $? = 64 ]
"$R" report --format xml >/dev/null 2>&1; check "bad format: 64" [ $? = 64 ]
"$R" report --html /nonexistent-dir/r.html >/dev/null 2>err; rc=$?
check "unwritable html: 73" [ $rc = 73 ]
check "unwritable html named" grep -q /nonexistent-dir/r.html err
"$R" report --db /nonexistent-dir/x.db >/dev/null 2>&1; check "no store: 66" [ $? = 66 ]
"$R" report --help | grep -q usage; check "report --help" [ $? = 0 ]

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
