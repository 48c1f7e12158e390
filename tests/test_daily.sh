#!/usr/bin/env bash
# contrib/rebound-daily.sh, the job contrib/systemd/rebound-daily.{service,timer}
# runs every day, against a temporary SQLite store and the project's samples
# (examples/contacts.csv, examples/mail.log, samples/): the same store as the
# steps run by hand, notify end to end into a real `rebound serve` on
# loopback, the report (skipped with a message while `rebound report` does
# not exist), a second run changing nothing, a failing step stopping the run,
# the lock, --dry-run; and the units checked with systemd-analyze verify.
set -uo pipefail
R=${REBOUND_BIN:?}
SRC=${REBOUND_SRCDIR:?}
D=$SRC/contrib/rebound-daily.sh
pass=0 fail=0
ok()  { pass=$((pass+1)); }
bad() { fail=$((fail+1)); echo "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then ok; else bad "$what"; fi; }

if ! command -v python3 >/dev/null; then
  echo "SKIP: python3 is not installed (Debian package python3)"
  [ "${CI:-}" = true ] && { echo "0 passed, 1 failed"; exit 1; }
  exit 77
fi

work=$(mktemp -d /tmp/rebound-daily-test.XXXXXX)
SP=
cleanup() { [ -n "$SP" ] && kill "$SP" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
[ -n "${KEEP_WORK:-}" ] && trap - EXIT
cd "$work" || exit 1

# ---- the script and the units
check "bash -n contrib/rebound-daily.sh" bash -n "$D"
check "the script is executable" [ -x "$D" ]
U=$SRC/contrib/systemd
check "the service runs the installed script" grep -qx 'ExecStart=/usr/local/bin/rebound-daily' "$U/rebound-daily.service"
check "the service reads /etc/rebound/daily.env" grep -qx 'EnvironmentFile=-/etc/rebound/daily.env' "$U/rebound-daily.service"
check "the timer starts the service" grep -qx 'Unit=rebound-daily.service' "$U/rebound-daily.timer"
if command -v systemd-analyze >/dev/null; then
  mkdir units
  cp "$U/rebound-daily.service" "$U/rebound-daily.timer" units/
  # the script where the test can see it, not where it is installed
  sed -i "s|^ExecStart=.*|ExecStart=$D|" units/rebound-daily.service
  systemd-analyze verify --man=no units/rebound-daily.service units/rebound-daily.timer > verify.out 2>&1
  check "systemd-analyze verify: clean ($(cat verify.out))" [ $? = 0 -a ! -s verify.out ]
else
  echo "SKIP-PART: systemd-analyze verify skipped: systemd-analyze is not installed"
fi
# every setting the script reads is listed, with its default, in the env file
for v in $(grep -oE '^(export )?[A-Z_]+=\$\{[A-Z_]+' "$D" | sed -E 's/^export //; s/=.*//'); do
  grep -qE "^#?$v=" "$U/rebound-daily.env" || bad "rebound-daily.env does not list $v"
done
ok
# the env file, uncommented, is valid as assignments
sed -n 's/^#\([A-Z_]*=\)/\1/p' "$U/rebound-daily.env" > env.sh
check "rebound-daily.env: the commented defaults are valid assignments" bash -n env.sh

# ---- the reference: the steps by hand, as README's daily workflow
EX='FacebookAdsJsonCSV,UnsubscribeTakeOutSpamBlocked,Test,MailTester'
"$R" contacts import --create --db ref.db "$SRC/examples/contacts.csv" >/dev/null 2>&1 || bad "reference import"
"$R" maillog --commit --db ref.db "$SRC/examples/mail.log" >/dev/null 2>&1 || bad "reference maillog"
"$R" analyze --write-csv ref.csv "$SRC/samples" >/dev/null 2>&1
"$R" apply --commit --db ref.db ref.csv >/dev/null 2>&1 || bad "reference apply"
"$R" queue rebuild --db ref.db --exclude-source-names "$EX" >/dev/null 2>&1 || bad "reference queue rebuild"
"$R" queue export --db ref.db --output ref-cycle.csv >/dev/null 2>&1 || bad "reference queue export"

# ---- the contact server, for notify: a real rebound serve on loopback
"$R" contacts import --create --db cs.db "$SRC/examples/contacts.csv" >/dev/null 2>&1
"$R" keys add --db cs.db sender > notify.key 2>/dev/null || bad "keys add"
"$R" serve --db cs.db --listen 127.0.0.1:0 2> serve.log &
SP=$!
for _ in $(seq 100); do grep -q 'listening on' serve.log && break; kill -0 $SP 2>/dev/null || break; sleep 0.05; done
PORT=$(grep -oE 'http://127\.0\.0\.1:[0-9]+/' serve.log | grep -oE '[0-9]+/$' | tr -d /)
[ -n "$PORT" ] || bad "rebound serve did not start: $(cat serve.log)"

# ---- the daily job
HAVE_REPORT=
"$R" report --help >/dev/null 2>&1 && HAVE_REPORT=1
mkdir logs && cp "$SRC/examples/mail.log" logs/mail.log
"$R" contacts import --create --db d.db "$SRC/examples/contacts.csv" >/dev/null 2>&1
cat > daily.env <<EOF
REBOUND=$R
REBOUND_DB=$work/d.db
WORK_DIR=$work/daily
MAILLOG_FILES="$work/logs/mail.log*"
BOUNCE_MAILBOX=$SRC/samples
NOTIFY_URL=http://127.0.0.1:$PORT/contact/api/email-status/
NOTIFY_KEY_FILE=$work/notify.key
EXCLUDE_SOURCES=$EX
QUEUE_EXPORT=$work/cycle.csv
REPORT_HTML=$work/report.html
EOF
bash "$D" --config daily.env > run1.out 2> run1.err; rc=$?
if [ -n "$HAVE_REPORT" ]; then
  check "daily: exit 0 ($rc; $(tail -3 run1.err))" [ $rc = 0 ]
  check "daily: the report is written" [ -s report.html ]
  check "daily: ... an HTML page" grep -qi '<html' report.html
  check "daily: no temporary report left" bash -c "! ls report.html.tmp.* 2>/dev/null | grep -q ."
else
  echo "report step: 'rebound report' does not exist yet in this build: its check is skipped (the job says so and exits 1)"
  check "daily without rebound report: exit 1 ($rc)" [ $rc = 1 ]
  check "daily without rebound report: a clear message" grep -q "\[report\] skipped: this rebound has no 'report' command" run1.err
fi
for step in maillog analyze apply notify queue; do
  check "daily: step $step ran" grep -q "^rebound-daily: \[$step\] exit 0" run1.err
done
check "daily: nothing on standard output" [ ! -s run1.out ]
day=$(date -u +%Y%m%d)
check "daily: the day's bounce CSV kept" [ -s "daily/bounces-$day.csv" ]
check "daily: the day's apply plan kept" [ -s "daily/plan-$day.csv" ]
# the same store as by hand (the columns but the contacts' own created/updated times)
strip() { "$R" contacts export --db "$1" 2>/dev/null | python3 -c "
import csv, sys
for r in csv.DictReader(sys.stdin):
    r.pop('created_at'); r.pop('updated_at'); print(sorted(r.items()))" | sort; }
strip ref.db > ref.contacts; strip d.db > d.contacts
check "daily: contacts as by hand" cmp -s ref.contacts d.contacts
check "daily: some contacts bounced" grep -q "('status', 'bounced')" d.contacts
check "daily: the queue as by hand" cmp -s ref-cycle.csv cycle.csv
check "daily: the queue is not empty" [ "$(wc -l < cycle.csv)" -gt 1 ]
# notify: every hard-bounced contact reached the contact server
sent=$(grep "('bounce_type', 'hard')" d.contacts | grep -c "('status', 'bounced')")
strip cs.db > cs.contacts
got=$(grep -c "('status', 'bounced')" cs.contacts)
check "daily: notify delivered the $sent hard bounces ($got bounced on the contact server)" [ "$sent" -gt 0 -a "$got" = "$sent" ]

# ---- a second run: nothing new, nothing changes
bash "$D" --config daily.env > run2.out 2> run2.err; rc2=$?
check "daily again: same exit ($rc2)" [ $rc2 = $rc ]
check "daily again: the log is not read twice" grep -q ' 0 new line(s)' run2.err
strip d.db > d2.contacts
check "daily again: contacts unchanged" cmp -s d.contacts d2.contacts
strip cs.db > cs2.contacts
check "daily again: nothing new on the contact server" cmp -s cs.contacts cs2.contacts
check "daily again: the queue unchanged" cmp -s ref-cycle.csv cycle.csv

# ---- failures: a store that cannot be opened stops the run at once
sed "s|^REBOUND_DB=.*|REBOUND_DB=/nonexistent-dir/x.db|" daily.env > bad.env
bash "$D" --config bad.env > /dev/null 2> bad.err; rc=$?
check "daily, store missing: exit 66 ($rc)" [ $rc = 66 ]
check "daily, store missing: says it stops" grep -q '\[store\] failed (exit 66): stopping' bad.err
check "daily, store missing: no store made" [ ! -e /nonexistent-dir/x.db ]
check "daily, store unavailable: the queue is not rebuilt" bash -c "! grep -q '\[queue\]' bad.err"
sed "s|^MAILLOG_FILES=.*|MAILLOG_FILES=$work/nologs/mail.log*|" daily.env > nolog.env
bash "$D" --config nolog.env > /dev/null 2> nolog.err; rc=$?
check "daily, no log matches: exit 66 naming the setting ($rc)" [ $rc = 66 ] && check "... named" grep -q 'no log matches MAILLOG_FILES' nolog.err
bash "$D" --config missing.env > /dev/null 2> miss.err; rc=$?
check "daily, missing --config: exit 66" [ $rc = 66 ] && check "... named" grep -q 'missing.env' miss.err
bash "$D" --frob > /dev/null 2>&1; check "daily, unknown argument: 64" [ $? = 64 ]
# the lock: one run at a time
if command -v flock >/dev/null; then
  flock daily/.lock sleep 3 &
  lp=$!
  sleep 0.3
  bash "$D" --config daily.env > /dev/null 2> lock.err; rc=$?
  check "daily, another run holds the lock: exit 75 ($rc)" [ $rc = 75 ] && check "... said" grep -q 'another run holds' lock.err
  wait $lp
fi
# --dry-run: the commands, nothing written
sed "s|^REBOUND_DB=.*|REBOUND_DB=$work/dry.db|; s|^WORK_DIR=.*|WORK_DIR=$work/drywork|" daily.env > dry.env
bash "$D" --config dry.env --dry-run > /dev/null 2> dry.err; rc=$?
want=0; [ -n "$HAVE_REPORT" ] || want=1     # without rebound report: the skipped report makes it 1
check "daily --dry-run: exit $want ($rc)" [ $rc = $want ]
check "daily --dry-run: prints the apply command" grep -q '\[apply\] would run:.* apply --commit' dry.err
check "daily --dry-run: writes no store" [ ! -e dry.db ]
check "daily --dry-run: makes no work folder" [ ! -e drywork ]

kill -TERM $SP; wait $SP; SP=
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
