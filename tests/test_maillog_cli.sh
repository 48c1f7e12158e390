#!/usr/bin/env bash
# rebound maillog end to end: Postfix logs (tests/maillog/ and lines written
# here) read into a store of contacts, incrementally, through a logrotate
# sequence (rename, gzip, copytruncate), a line cut in half, junk and a 1 MB
# line; the same against SQLite and (when REBOUND_TEST_PG names a server)
# PostgreSQL.  Every line must be read exactly once: the records of all the
# incremental runs together equal those of one pass over every line written.
set -uo pipefail
R=${REBOUND_BIN:?}
SRC=${REBOUND_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
S=$SRC/tests/maillog
export TZ=UTC
pass=0 fail=0
ok()  { pass=$((pass+1)); }
bad() { fail=$((fail+1)); echo "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then ok; else bad "$what"; fi; }
command -v python3 >/dev/null || { echo "python3 is needed (JSON checks)"; echo "0 passed, 0 failed"; exit 77; }

work=$(mktemp -d /tmp/rebound-maillog-cli.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"

# The logs are dated Nov 23-24 2026; their mtime is the reference for the
# year of a syslog time stamp, so it is set, whatever today's date.
MT='2026-11-25 00:00:00 UTC'
NOW=2026-11-25T00:00:00Z
stamp() { touch -d "$MT" "$@"; }

# One message: cleanup, qmgr, one delivery attempt, removed.
#   msg TIME QID RCPT STATUS DSN TEXT [RELAY]
msg() {
  local t=$1 q=$2 r=$3 st=$4 dsn=$5 text=$6 relay=${7:-mx.example.com[192.0.2.10]:25}
  local l=${r%@*} d=${r#*@}
  echo "Nov 24 $t mx1 postfix/cleanup[501]: $q: message-id=<n-$q@lists.example.org>"
  echo "Nov 24 $t mx1 postfix/qmgr[502]: $q: from=<bounces+$l=$d@lists.example.org>, size=4321, nrcpt=1 (queue active)"
  echo "Nov 24 $t mx1 postfix/smtp[503]: $q: to=<$r>, relay=$relay, delay=0.5, delays=0.1/0/0.2/0.2, dsn=$dsn, status=$st ($text)"
  echo "Nov 24 $t mx1 postfix/qmgr[502]: $q: removed"
}
sent()   { msg "$1" "$2" "$3" sent 2.0.0 "250 2.0.0 Ok: queued as 4F00$2"; }
unknown() { msg "$1" "$2" "$3" bounced 5.1.1 "host mx.example.com[192.0.2.10] said: 550 5.1.1 <$3>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command)"; }

nrec() { if [ -s "$1" ]; then wc -l < "$1" | tr -d ' '; else echo 0; fi; }
# the identity of an attempt, whatever file and line it was read from
keys() { python3 -c '
import json, sys
for f in sys.argv[1:]:
    for line in open(f, encoding="utf-8"):
        r = json.loads(line)
        print("|".join(r[k] for k in ("queue_id", "recipient", "delivery_status", "date", "original_message_id",
                                       "addresser", "reason", "bounce_type")))' "$@" | sort; }
field_of() {   # field_of FILE RECIPIENT STATUS KEY
  python3 -c '
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(line)
    if r["recipient"] == sys.argv[2] and r["delivery_status"] == sys.argv[3]:
        print(r[sys.argv[4]])' "$@"; }
show() { "$R" contacts show --db "$1" "$2" 2>/dev/null; }
state_of() { show "$1" "$2" | awk '/^status:/{print $2}'; }
export_of() { "$R" contacts export --db "$1" 2>/dev/null | cut -d, -f1-16; }

cat > contacts.csv <<'EOF'
email,source
alice@example.com,Website
peter.dufaux@contoso.com,Website
jack@contoso.com,Website
kim@hotmail.com,Website
frank@yahoo.com,Website
grace@no-such-domain.example,Website
ivy@gmail.com,Website
henry@example.net,Website
hal@example.net,Website
nobody@example.net,Website
carl@example.com,Website
dora@example.com,Website
EOF

run_backend() {   # $1 label, $2 store, $3 $4 two more empty stores, $5 state file to expect
  local L=$1 A=$2 B=$3 C=$4 ST=$5 out rc d
  echo "== $L"
  d=$work/$L; mkdir -p "$d/logs"; cd "$d"
  "$R" contacts import --create --db "$A" "$work/contacts.csv" >/dev/null 2>&1
  check "$L import" [ "$("$R" contacts export --db "$A" | wc -l)" = 13 ]

  # -- run 1: the sample log
  cp "$S/mail.log" logs/mail.log; cp logs/mail.log all.log; stamp logs/*
  out=$("$R" maillog --commit --db "$A" --now $NOW --format jsonl --output r1.jsonl logs/mail.log* 2>err); rc=$?
  check "$L run 1 exit 0" [ $rc = 0 ]
  check "$L run 1: 18 records" [ "$(nrec r1.jsonl)" = 18 ]
  check "$L run 1 summary" grep -q "1 file(s), 83 new line(s) (0.0 MB), 81 from Postfix; attempts: 8 sent, 5 deferred, 3 bounced, 1 expired, 1 undeliverable; 2 queue ID(s) still open" <<<"$out"
  # 8 sent, less the bounce notice (from=<>) delivered to bounces@: no send of ours
  check "$L run 1: sends stored" grep -q "accepted deliveries stored (to tie later NDRs to their send): 7" <<<"$out"
  check "$L state file $ST" [ -s "$ST" ]
  check "$L state: the log" grep -q "^file	.*	12116	.*	logs/mail.log$" "$ST"
  check "$L state: the open queue IDs" [ "$(grep -c '^open	' "$ST")" = 2 ]
  check "$L 550 5.1.10 -> bounced" [ "$(state_of "$A" peter.dufaux@contoso.com)" = bounced ]
  check "$L 554 5.7.1 spam -> blocked" [ "$(state_of "$A" frank@yahoo.com)" = blocked ]
  check "$L no such domain -> bounced" [ "$(state_of "$A" grace@no-such-domain.example)" = bounced ]
  check "$L sent -> active" [ "$(state_of "$A" alice@example.com)" = active ]
  check "$L deferred, still queued -> active" [ "$(state_of "$A" ivy@gmail.com)" = active ]
  check "$L deferred then delivered -> active" [ "$(state_of "$A" hal@example.net)" = active ]
  check "$L expired -> counted once" grep -q "^soft_count: *1 " <(show "$A" henry@example.net)
  check "$L deferral recorded, never counted" grep -q "^soft_count: *0 " <(show "$A" ivy@gmail.com)
  check "$L provider_source relay" grep -q "^provider_source: *relay" <(show "$A" peter.dufaux@contoso.com)
  check "$L provider business_microsoft" grep -q "^provider: *business_microsoft" <(show "$A" peter.dufaux@contoso.com)
  check "$L provider yahoo" grep -q "^provider: *yahoo" <(show "$A" frank@yahoo.com)
  check "$L status code kept" grep -q "^status_code: *550 5.1.10" <(show "$A" peter.dufaux@contoso.com)

  # -- run 2: nothing new, nothing changes
  export_of "$A" > before.csv; cp "$ST" state.before
  out=$("$R" maillog --commit --db "$A" --now $NOW --format jsonl --output r2.jsonl logs/mail.log* 2>err); rc=$?
  check "$L run 2 exit 0" [ $rc = 0 ]
  check "$L run 2 reads 0 new lines" grep -q "1 file(s), 0 new line(s)" <<<"$out"
  check "$L run 2: no records" [ "$(nrec r2.jsonl)" = 0 ]
  check "$L run 2 changes nothing" cmp -s before.csv <(export_of "$A")
  check "$L run 2 keeps the open queue IDs" [ "$(grep -c '^open	' "$ST")" = 2 ]

  # -- --check: the store and the state stay as they are
  printf '%s\n' "$(unknown 05:00:00 C0000000001 carl@example.com)" >> logs/mail.log; stamp logs/*
  out=$("$R" maillog --check --db "$A" --now $NOW logs/mail.log* 2>err); rc=$?
  check "$L --check exit 0" [ $rc = 0 ]
  check "$L --check sees the new bounce" grep -q "contacts would be disabled: 1" <<<"$out"
  check "$L --check writes no contact" [ "$(state_of "$A" carl@example.com)" = active ]
  check "$L --check writes no state" cmp -s state.before "$ST"
  check "$L --check: the store unchanged" cmp -s before.csv <(export_of "$A")

  # -- run 3: appended lines only, and a queue ID that spans two runs
  cat >> logs/mail.log <<'EOF'
Nov 24 07:00:00 mx1 postfix/smtp[12406]: F5A6B7C8D94: to=<ivy@gmail.com>, relay=gmail-smtp-in.l.google.com[142.250.102.27]:25, delay=88740, delays=88739/0.01/0.5/0.49, dsn=5.2.2, status=bounced (host gmail-smtp-in.l.google.com[142.250.102.27] said: 552-5.2.2 The recipient's inbox is out of storage space and inactive. Please direct the recipient to 552 5.2.2  https://support.google.com/mail/?p=OverQuotaPerm 5b1f17b1804b1-43ce3b25c6dsi1234567f9.12 - gsmtp (in reply to RCPT TO command))
Nov 24 07:00:00 mx1 postfix/qmgr[1100]: F5A6B7C8D94: removed
EOF
  unknown 07:01:00 C0000000002 alice@example.com >> logs/mail.log
  stamp logs/*
  cat "$S/mail.log" > all.log; unknown 05:00:00 C0000000001 carl@example.com >> all.log
  tail -n 6 logs/mail.log >> all.log
  out=$("$R" maillog --commit --db "$A" --now $NOW --format jsonl --output r3.jsonl logs/mail.log* 2>err); rc=$?
  check "$L run 3 exit 0" [ $rc = 0 ]
  check "$L run 3 reads only the 10 new lines" grep -q "1 file(s), 10 new line(s)" <<<"$out"
  check "$L run 3: 3 records" [ "$(nrec r3.jsonl)" = 3 ]
  check "$L run 3: Message-ID from run 1" [ "$(field_of r3.jsonl ivy@gmail.com bounced original_message_id)" = news-2026-11-23.F5A6B7C8D94@lists.example.org ]
  check "$L run 3: sender from run 1" [ "$(field_of r3.jsonl ivy@gmail.com bounced addresser)" = bounces+ivy=gmail.com@lists.example.org ]
  check "$L run 3: ivy bounced" [ "$(state_of "$A" ivy@gmail.com)" = bounced ]
  check "$L run 3: alice bounced" [ "$(state_of "$A" alice@example.com)" = bounced ]
  check "$L run 3: carl bounced" [ "$(state_of "$A" carl@example.com)" = bounced ]
  check "$L run 3: one queue ID left open" [ "$(grep -c '^open	' "$ST")" = 1 ]

  # -- rotation 1: mail.log -> mail.log.1 (Postfix writes one more message
  #    to it before it reopens its log), a new mail.log
  mv logs/mail.log logs/mail.log.1
  sent 08:00:00 D0000000001 u1@example.org | tee -a all.log >> logs/mail.log.1
  { sent 08:00:10 D0000000002 u2@example.org; unknown 08:00:20 D0000000003 dora@example.com; } | tee -a all.log > logs/mail.log
  stamp logs/*
  out=$("$R" maillog --commit --db "$A" --now $NOW --format jsonl --output r4.jsonl logs/mail.log* 2>err); rc=$?
  check "$L rotation 1 exit 0" [ $rc = 0 ]
  check "$L rotation 1: 2 files, 12 new lines" grep -q "2 file(s), 12 new line(s)" <<<"$out"
  check "$L rotation 1: 3 records" [ "$(nrec r4.jsonl)" = 3 ]
  check "$L rotation 1: dora bounced" [ "$(state_of "$A" dora@example.com)" = bounced ]
  check "$L rotation 1: no note" [ ! -s err ]

  # -- rotation 2: mail.log.1 -> mail.log.2.gz, mail.log -> mail.log.1, new mail.log
  gzip -c logs/mail.log.1 > logs/mail.log.2.gz; touch -r logs/mail.log.1 logs/mail.log.2.gz; rm logs/mail.log.1
  mv logs/mail.log logs/mail.log.1
  sent 09:00:00 E0000000001 u3@example.org | tee -a all.log >> logs/mail.log.1
  { sent 09:00:10 E0000000002 u4@example.org; sent 09:00:20 E0000000003 u5@example.org; } | tee -a all.log > logs/mail.log
  stamp logs/*
  out=$("$R" maillog --commit --db "$A" --now $NOW --format jsonl --output r5.jsonl logs/mail.log* 2>err); rc=$?
  check "$L rotation 2 exit 0" [ $rc = 0 ]
  check "$L rotation 2: 3 files, 12 new lines" grep -q "3 file(s), 12 new line(s)" <<<"$out"
  check "$L rotation 2: 3 records" [ "$(nrec r5.jsonl)" = 3 ]
  check "$L rotation 2: 3 files in the state" [ "$(grep -c '^file	' "$ST")" = 3 ]

  # -- a line cut in half at the end of mail.log: read when it is complete
  local cutq=F0000000003 full half
  { sent 10:00:00 F0000000001 u6@example.org; sent 10:00:10 F0000000002 u7@example.org; } | tee -a all.log >> logs/mail.log
  unknown 10:00:20 $cutq u8@example.org > cut.txt; cat cut.txt >> all.log
  full=$(sed -n 3p cut.txt); half=${full:0:90}
  { sed -n 1,2p cut.txt; printf '%s' "$half"; } >> logs/mail.log; stamp logs/*
  out=$("$R" maillog --commit --db "$A" --now $NOW --format jsonl --output r6.jsonl logs/mail.log* 2>err); rc=$?
  check "$L cut line: exit 0" [ $rc = 0 ]
  check "$L cut line: not read yet (8 + 2 lines)" grep -q "3 file(s), 10 new line(s)" <<<"$out"
  check "$L cut line: 2 records" [ "$(nrec r6.jsonl)" = 2 ]
  check "$L cut line: nothing for u8" [ -z "$(field_of r6.jsonl u8@example.org bounced queue_id)" ]
  { printf '%s\n' "${full:90}"; sed -n 4p cut.txt; } >> logs/mail.log; stamp logs/*
  out=$("$R" maillog --commit --db "$A" --now $NOW --format jsonl --output r7.jsonl logs/mail.log* 2>err); rc=$?
  check "$L cut line completed: 2 new lines" grep -q "3 file(s), 2 new line(s)" <<<"$out"
  check "$L cut line completed: 1 record" [ "$(nrec r7.jsonl)" = 1 ]
  check "$L cut line completed: the whole line" [ "$(field_of r7.jsonl u8@example.org bounced queue_id)" = $cutq ]
  check "$L cut line: its Message-ID" [ "$(field_of r7.jsonl u8@example.org bounced original_message_id)" = "n-$cutq@lists.example.org" ]

  # -- copytruncate: mail.log copied to mail.log.1 and emptied, new lines
  sent 11:00:00 G0000000001 u9@example.org | tee -a all.log >> logs/mail.log
  mv logs/mail.log.2.gz logs/mail.log.3.gz
  gzip -c logs/mail.log.1 > logs/mail.log.2.gz; rm logs/mail.log.1
  cp logs/mail.log logs/mail.log.1; : > logs/mail.log
  sent 11:00:30 G0000000002 u10@example.org | tee -a all.log >> logs/mail.log
  stamp logs/*
  out=$("$R" maillog --commit --db "$A" --now $NOW --format jsonl --output r8.jsonl logs/mail.log* 2>err); rc=$?
  check "$L copytruncate: exit 0" [ $rc = 0 ]
  check "$L copytruncate: 8 new lines" grep -q "4 file(s), 8 new line(s)" <<<"$out"
  check "$L copytruncate: 2 records" [ "$(nrec r8.jsonl)" = 2 ]
  check "$L copytruncate: the new lines" [ "$(field_of r8.jsonl u10@example.org sent queue_id)" = G0000000002 ]

  # -- each line once: the runs together == one pass over every line
  "$R" maillog --no-state -q all.log > full.jsonl 2>/dev/null
  check "$L all runs == one pass ($(nrec full.jsonl) records)" cmp -s <(keys r[1-8].jsonl) <(keys full.jsonl)
  check "$L one pass has them all" [ "$(nrec full.jsonl)" = 32 ]
  check "$L the runs have 32 attempts" [ "$(keys r[1-8].jsonl | wc -l)" = 32 ]

  # -- a file edited shorter, same first line: read again, with a message
  head -n 3 logs/mail.log.1 > t && cat t > logs/mail.log.1 && stamp logs/*
  out=$("$R" maillog --commit --db "$A" --now $NOW logs/mail.log* 2>err); rc=$?
  check "$L shorter file: exit 0" [ $rc = 0 ]
  check "$L shorter file: said" grep -q "logs/mail.log.1: shorter than when last read" err

  # -- the store took each attempt once: maillog --commit == apply --commit of its JSONL
  "$R" contacts import --create --db "$B" "$work/contacts.csv" >/dev/null 2>&1
  "$R" contacts import --create --db "$C" "$work/contacts.csv" >/dev/null 2>&1
  "$R" maillog --commit --no-state -q --db "$B" --now $NOW all.log >/dev/null 2>&1
  "$R" maillog --no-state -q all.log > all.jsonl 2>/dev/null
  out=$("$R" apply --commit --db "$C" --now $NOW all.jsonl 2>err); rc=$?
  check "$L apply takes maillog JSONL: exit 0" [ $rc = 0 ]
  check "$L apply: no rejected row" grep -q "rejected rows: 0" <<<"$out"
  check "$L apply == maillog --commit" cmp -s <(export_of "$B") <(export_of "$C")
  check "$L apply: the relay as provider source" grep -q "^provider_source: *relay" <(show "$C" peter.dufaux@contoso.com)
  check "$L apply: the same states" [ "$(state_of "$C" ivy@gmail.com)/$(state_of "$C" frank@yahoo.com)" = bounced/blocked ]

  # -- one address mailed twice: a send row each (one per queue ID and
  #    recipient), and the log read again adds none (long queue IDs: the
  #    keys that were once hashed without them)
  { sent 13:00:00 4Xk3Fz1QbNz9sA1 carl@example.com; sent 14:00:00 4Xk3Fz1QbNz9sA2 carl@example.com; } > twice.log
  stamp twice.log
  out=$("$R" maillog --commit --no-state --db "$A" --now $NOW twice.log 2>err); rc=$?
  check "$L mailed twice: exit 0" [ $rc = 0 ]
  check "$L mailed twice: 2 sends stored" grep -q "accepted deliveries stored (to tie later NDRs to their send): 2$" <<<"$out"
  check "$L mailed twice: 2 rows" [ "$(show "$A" carl@example.com | grep -c ' 4Xk3Fz1QbNz9sA[12] ')" = 2 ]
  out=$("$R" maillog --commit --no-state --db "$A" --now $NOW twice.log 2>err); rc=$?
  check "$L mailed twice, read again: exit 0" [ $rc = 0 ]
  check "$L mailed twice, read again: none stored" [ "$(grep -c "accepted deliveries stored" <<<"$out")" = 0 ]
  check "$L mailed twice, read again: still 2 rows" [ "$(show "$A" carl@example.com | grep -c ' 4Xk3Fz1QbNz9sA[12] ')" = 2 ]
  cd "$work"
}

run_backend sqlite "$work/sqlite/a.db" "$work/sqlite/b.db" "$work/sqlite/c.db" "$work/sqlite/a.db.maillog-state"

if [ -n "${REBOUND_TEST_PG:-}" ]; then
  base=${REBOUND_TEST_PG%%\?*}; query=${REBOUND_TEST_PG#*\?}
  [ "$query" = "$REBOUND_TEST_PG" ] && query=
  for db in rebound_ml_a rebound_ml_b rebound_ml_c; do
    psql -q "$REBOUND_TEST_PG" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1 ||
      bad "cannot create PostgreSQL database $db"
  done
  mk() { echo "${base%/*}/$1${query:+?$query}"; }
  # a PostgreSQL store has no file to put the state next to: the working directory
  run_backend postgresql "$(mk rebound_ml_a)" "$(mk rebound_ml_b)" "$(mk rebound_ml_c)" \
    "$work/postgresql/rebound-maillog.state"
else
  echo "SKIP-PART: PostgreSQL part skipped: REBOUND_TEST_PG is not set"
fi

# ---- no store ------------------------------------------------------------------------------
echo "== without a store"
cd "$work"
stamp_copy() { cp "$1" "$2"; stamp "$2"; }
stamp_copy "$S/mail.log" mail.log
stamp_copy "$S/journal.log" journal.log
stamp_copy "$S/mail-rfc3339.log" rfc3339.log

# formats
"$R" maillog --format csv mail.log > out.csv 2>/dev/null
check "csv header: the extra columns" grep -q "^source,recipient,.*,dsn_action,original_recipient,evidence,rule,provider_source,alert,account,queue_id,delivery_status,relay,delay,delays,to,instance,agent"$'\r'"$" <(head -1 out.csv)
check "csv: a row per attempt" [ "$(python3 -c 'import csv,sys; print(sum(1 for _ in csv.reader(open(sys.argv[1])))-1)' out.csv)" = 18 ]
"$R" maillog --format table mail.log > out.txt 2>/dev/null
check "table header" grep -q "^DATE .*QUEUE_ID .*STATUS .*RECIPIENT" out.txt
check "table rows" [ "$(wc -l < out.txt)" = 19 ]
"$R" maillog -q journal.log rfc3339.log > iso.jsonl 2>err; rc=$?
check "journal + rfc3339: exit 0" [ $rc = 0 ]
check "journal + rfc3339: 4 records" [ "$(nrec iso.jsonl)" = 4 ]
check "journalctl time +0100" [ "$(field_of iso.jsonl lea@example.de bounced date)" = 2026-11-23T06:00:01Z ]
check "journalctl long queue ID" [ "$(field_of iso.jsonl lea@example.de bounced queue_id)" = 4Xk3Fz1QbNz9sT2 ]
check "multi-instance name" [ "$(field_of iso.jsonl lea@example.de bounced instance)" = postfix-out ]
check "rfc3339 time +01:00" [ "$(field_of iso.jsonl olga@outlook.com bounced date)" = 2026-11-23T07:00:01Z ]
check "consumer Microsoft" [ "$(field_of iso.jsonl olga@outlook.com bounced provider)" = consumer_microsoft ]
check "submission instance correlated" [ "$(field_of iso.jsonl nora@gmail.com bounced original_message_id)" = a1b2c3@laptop.example.org ]
check "quiet: no summary" [ ! -s err ]
"$R" maillog --since 2026-11-23T06:55:00Z mail.log > since.jsonl 2>/dev/null
check "--since" [ "$(nrec since.jsonl)" = 4 ]
"$R" maillog - < mail.log > stdin.jsonl 2>/dev/null
check "standard input" [ "$(nrec stdin.jsonl)" = 18 ]

# --state without a store: written; read again: nothing new
"$R" maillog --state st mail.log > s1.jsonl 2>/dev/null
"$R" maillog --state st mail.log > s2.jsonl 2>/dev/null
check "--state: first run reads" [ "$(nrec s1.jsonl)" = 18 ]
check "--state: second run reads nothing" [ "$(nrec s2.jsonl)" = 0 ]
"$R" maillog mail.log >/dev/null 2>&1
check "no --state, no store: no state file" [ ! -e rebound.db.maillog-state ]

# logrotate caught compressing: mail.log.1 and its mail.log.1.gz, half
# written, both there (same first line); then the compression ends
mkdir -p lr && cp mail.log lr/mail.log && stamp lr/mail.log
"$R" maillog --state lr.state -q lr/mail.log* > lr1.jsonl 2>/dev/null
{ sent 12:00:00 A1000000001 v1@example.org; sent 12:00:01 A1000000002 v2@example.org; } >> lr/mail.log
mv lr/mail.log lr/mail.log.1
gzip -c lr/mail.log.1 > full.gz; head -c $(( $(stat -c %s full.gz) / 2 )) full.gz > lr/mail.log.1.gz
sent 12:01:00 A1000000003 v3@example.org > lr/mail.log; stamp lr/*
"$R" maillog --state lr.state -q lr/mail.log* > lr2.jsonl 2>/dev/null
mv full.gz lr/mail.log.1.gz; rm lr/mail.log.1; stamp lr/*
"$R" maillog --state lr.state -q lr/mail.log* > lr3.jsonl 2>/dev/null
check "logrotate compressing: first run 18 records" [ "$(nrec lr1.jsonl)" = 18 ]
check "logrotate compressing: the 3 new attempts, once (got $(nrec lr2.jsonl))" [ "$(nrec lr2.jsonl)" = 3 ]
check "logrotate compressing: nothing read again once compressed (got $(nrec lr3.jsonl))" [ "$(nrec lr3.jsonl)" = 0 ]

# a queue ID across a rotation, one pass over the set (shell glob order):
# read oldest first, the delivery gets the Message-ID of the older file;
# logrotate's names and those of "postfix logrotate" (maillog_file)
for names in "mail.log.1 mail.log" "mail.log-20261124 mail.log" "postfix.log.20261124-000001.gz postfix.log"; do
  set -- $names
  rm -rf rs && mkdir rs
  { echo "Nov 24 23:59:59 mx1 postfix/cleanup[501]: B2000000001: message-id=<span@lists.example.org>"
    echo "Nov 24 23:59:59 mx1 postfix/qmgr[502]: B2000000001: from=<bounces+w=example.org@lists.example.org>, size=1, nrcpt=1 (queue active)"
  } > rs/old
  case $1 in *.gz) gzip -c rs/old > "rs/$1"; rm rs/old ;; *) mv rs/old "rs/$1" ;; esac
  echo "Nov 25 00:00:01 mx1 postfix/smtp[503]: B2000000001: to=<w@example.org>, relay=none, delay=2, delays=0/0/2/0, dsn=5.4.4, status=bounced (Host or domain name not found. Name service error for name=example.org type=A: Host not found)" > "rs/$2"
  touch -d '2026-11-25 00:01:00 UTC' rs/*
  "$R" maillog --no-state -q rs/${2}* > rs.jsonl 2>/dev/null
  check "rotated set $1 + $2: read oldest first" [ "$(field_of rs.jsonl w@example.org bounced original_message_id)" = span@lists.example.org ]
done

# junk and a 1 MB line: said, skipped, the rest read
python3 - <<'EOF'
import random
random.seed(4)
lines = open("mail.log", "rb").read().split(b"\n")
with open("junk.log", "wb") as f:
    for i, l in enumerate(lines[:-1]):
        f.write(l + b"\n")
        if i == 10:
            f.write(b"Nov 23 06:25:30 mx1 postfix/smtp[1]: 4F1A22C0AAA: to=<x@example.com>, status=bounced (" + b"A" * (1 << 20) + b")\n")
        if i % 7 == 3:
            f.write(bytes(random.randrange(256) for _ in range(300)).replace(b"\n", b"") + b"\n")
            f.write(b"Nov 23 06:25:31 mx1 postfix/smtp[1]: 4F1A22C0BBB: to=<j\xff\xfe\x00nk@example.com>, relay=m\xc3\x28x, dsn=5.1.1, status=bounced (550 5.1.1 \x1b[31m\xed\xa0\x80 unknown)\n")
EOF
stamp junk.log
"$R" maillog junk.log > junk.jsonl 2>err; rc=$?
check "junk + 1 MB line: exit 0" [ $rc = 0 ]
check "junk + 1 MB line: said" grep -q "1 line(s) longer than 65536 bytes skipped" err
check "junk: the real attempts still read" [ "$(field_of junk.jsonl peter.dufaux@contoso.com bounced reason)" = userunknown ]
check "junk: JSONL parses, valid UTF-8" python3 -c '
import json, sys
n = 0
for line in open("junk.jsonl", "rb"):
    json.loads(line.decode("utf-8")); n += 1
sys.exit(0 if n >= 18 else 1)'

# exit codes
out=$("$R" maillog --no-state /nonexistent/mail.log mail.log 2>err > ok.jsonl); rc=$?
check "unreadable LOG: 66" [ $rc = 66 ]
check "unreadable LOG: named" grep -q "/nonexistent/mail.log" err
check "unreadable LOG: the others still read" [ "$(nrec ok.jsonl)" = 18 ]
"$R" maillog --state x --no-state mail.log >/dev/null 2>&1; check "--state + --no-state: 64" [ $? = 64 ]
"$R" maillog --check --commit mail.log >/dev/null 2>&1; check "--check + --commit: 64" [ $? = 64 ]
"$R" maillog >/dev/null 2>&1; check "no LOG: 64" [ $? = 64 ]
"$R" maillog --format xml mail.log >/dev/null 2>&1; check "bad --format: 64" [ $? = 64 ]
"$R" maillog --since yesterday-ish mail.log >/dev/null 2>&1; check "bad --since: 64" [ $? = 64 ]
"$R" maillog "$work" >/dev/null 2>&1; check "a directory: 66" [ $? = 66 ]
printf 'garbage\n' > badstate
"$R" maillog --state badstate mail.log >/dev/null 2>err; rc=$?
check "damaged state file: 78" [ $rc = 78 ]
check "damaged state file: named" grep -q "badstate:1" err
"$R" maillog --commit --db /nonexistent-dir/x.db mail.log >/dev/null 2>&1; check "missing store: 66" [ $? = 66 ]
"$R" maillog --help | grep -q "^usage: rebound maillog"; check "--help" [ $? = 0 ]

# the seed's Microsoft case: accepted with "250 2.6.0 Queued mail for delivery" in
# the log, an Office 365 NDR an hour later: the send is kept and shown with it
src=${REBOUND_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
if [ -f "$src/examples/mail.log" ] && [ -d "$src/samples" ]; then
  db="$work/ms.db"
  "$R" contacts import --create --db "$db" "$src/examples/contacts.csv" >/dev/null 2>&1
  "$R" maillog -q --commit --db "$db" "$src/examples/mail.log" >/dev/null 2>&1
  "$R" analyze --write-csv "$work/ms.csv" "$src/samples/office365-recipient-not-found.eml" >/dev/null 2>&1
  "$R" apply -q --commit --db "$db" "$work/ms.csv" >/dev/null 2>&1
  "$R" contacts show --db "$db" jan.peeters@contoso-mail.example > show.txt 2>&1
  check "accepted send kept (queue ID, relay, 250 2.6.0)" grep -q "3F1A2B4C5D .*mail.protection.outl.*250 2.6.0" show.txt
  check "and tied to the NDR that came later" grep -q "bounced later: 550 5.1.10 userunknown" show.txt
  check "the contact is disabled" grep -q "^for_mailing: *no" show.txt
fi

# backscatter in the log (seed 002): spam with a contact's address forged as its
# sender, to a user we do not have; our server's bounce notice (from=<>) to that
# address bounces in turn.  Mail we never sent: alert backscatter, recorded only,
# the contact stays mailed, and the notice is no send of ours.
cat > bs.log <<'EOF'
Nov 24 15:00:00 mx1 postfix/smtpd[601]: 5A1B2C3D4E5: client=dsl-7.botnet.example[203.0.113.9]
Nov 24 15:00:00 mx1 postfix/cleanup[501]: 5A1B2C3D4E5: message-id=<spam-77@botnet.example>
Nov 24 15:00:00 mx1 postfix/qmgr[502]: 5A1B2C3D4E5: from=<dora@example.net>, size=2100, nrcpt=1 (queue active)
Nov 24 15:00:00 mx1 postfix/local[504]: 5A1B2C3D4E5: to=<nobody@lists.example.org>, relay=local, delay=0.1, delays=0.05/0/0/0.05, dsn=5.1.1, status=bounced (unknown user: "nobody")
Nov 24 15:00:00 mx1 postfix/cleanup[501]: 6B2C3D4E5F6: message-id=<20261124150000.6B2C3D4E5F6@mx1.example.org>
Nov 24 15:00:00 mx1 postfix/bounce[505]: 5A1B2C3D4E5: sender non-delivery notification: 6B2C3D4E5F6
Nov 24 15:00:00 mx1 postfix/qmgr[502]: 5A1B2C3D4E5: removed
Nov 24 15:00:00 mx1 postfix/qmgr[502]: 6B2C3D4E5F6: from=<>, size=4000, nrcpt=1 (queue active)
Nov 24 15:00:01 mx1 postfix/smtp[503]: 6B2C3D4E5F6: to=<dora@example.net>, relay=mx.example.net[192.0.2.20]:25, delay=1, delays=0.1/0/0.4/0.5, dsn=5.1.1, status=bounced (host mx.example.net[192.0.2.20] said: 550 5.1.1 <dora@example.net>: Recipient address rejected: User unknown (in reply to RCPT TO command))
Nov 24 15:00:01 mx1 postfix/qmgr[502]: 6B2C3D4E5F6: removed
Nov 24 15:05:00 mx1 postfix/cleanup[501]: 7C3D4E5F6A7: message-id=<20261124150500.7C3D4E5F6A7@mx1.example.org>
Nov 24 15:05:00 mx1 postfix/qmgr[502]: 7C3D4E5F6A7: from=<>, size=4000, nrcpt=1 (queue active)
Nov 24 15:05:01 mx1 postfix/smtp[503]: 7C3D4E5F6A7: to=<eve@example.net>, relay=mx.example.net[192.0.2.20]:25, delay=1, delays=0.1/0/0.4/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 99AA)
Nov 24 15:05:01 mx1 postfix/qmgr[502]: 7C3D4E5F6A7: removed
EOF
unknown 15:10:00 8D4E5F6A7B8 fay@example.net >> bs.log
stamp bs.log
printf 'email,source\ndora@example.net,Website\neve@example.net,Website\nfay@example.net,Website\n' > bs.csv
"$R" contacts import --create --db "$work/bs.db" bs.csv >/dev/null 2>&1
"$R" maillog --no-state --now $NOW --format jsonl bs.log > bs.jsonl 2>/dev/null
check "backscatter: the notice's bounce has the alert" [ "$(field_of bs.jsonl dora@example.net bounced alert)" = backscatter ]
check "backscatter: recorded, not disabling" [ "$(field_of bs.jsonl dora@example.net bounced action)" = record ]
check "backscatter: the notice delivered has it too" [ "$(field_of bs.jsonl eve@example.net sent alert)" = backscatter ]
check "backscatter: our own send's bounce has none" [ "$(field_of bs.jsonl fay@example.net bounced alert)" = "" ]
check "backscatter: and disables" [ "$(field_of bs.jsonl fay@example.net bounced action)" = disable ]
out=$("$R" maillog --commit --no-state --db "$work/bs.db" --now $NOW bs.log 2>&1)
check "backscatter --commit: the contact stays mailed" [ "$(state_of "$work/bs.db" dora@example.net)" = active ]
check "backscatter --commit: an event recorded" grep -q ' recorded ' <(show "$work/bs.db" dora@example.net)
check "backscatter --commit: a delivered notice is no send" [ "$(show "$work/bs.db" eve@example.net | grep -c 99AA)" = 0 ]
check "backscatter --commit: our own send's bounce disables" [ "$(state_of "$work/bs.db" fay@example.net)" = bounced ]

# compromised accounts in the log: the password of anna@example.org (an account
# of ours: --our-domains example.org) is stolen and spam is submitted with it
# (smtpd's sasl_username=); our mailings go out as bounces+*@news.example.org.
#   ca_msg TIME QID SMTPD SASL FROM RCPT STATUS DSN TEXT   (SASL "": no smtpd line)
ca_msg() {
  local t=$1 q=$2 d=$3 u=$4 f=$5 r=$6 st=$7 dsn=$8 text=$9
  [ -n "$u" ] && echo "Nov 24 $t mx1 postfix/$d[701]: $q: client=unknown[203.0.113.9], sasl_method=LOGIN, sasl_username=$u"
  echo "Nov 24 $t mx1 postfix/cleanup[501]: $q: message-id=<m-$q@example.org>"
  echo "Nov 24 $t mx1 postfix/qmgr[502]: $q: from=<$f>, size=2100, nrcpt=1 (queue active)"
  echo "Nov 24 $t mx1 postfix/smtp[503]: $q: to=<$r>, relay=mx.example.net[192.0.2.20]:25, delay=1, delays=0.1/0/0.4/0.5, dsn=$dsn, status=$st ($text)"
  echo "Nov 24 $t mx1 postfix/qmgr[502]: $q: removed"
}
nouser() { echo "host mx.example.net[192.0.2.20] said: 550 5.1.1 <$1>: Recipient address rejected: User unknown (in reply to RCPT TO command)"; }
{
  # spam as anna herself, bounced; as someone else's address, deferred; one delivered
  ca_msg 16:00:00 1A1B2C3D4E5 submission/smtpd anna@example.org anna@example.org gus@example.net bounced 5.1.1 "$(nouser gus@example.net)"
  ca_msg 16:00:01 2A1B2C3D4E5 smtps/smtpd anna@example.org ceo@bank.example ida@example.net deferred 4.7.1 "host mx.example.net[192.0.2.20] said: 450 4.7.1 Try again later (in reply to RCPT TO command)"
  ca_msg 16:00:02 3A1B2C3D4E5 smtpd anna@example.org anna@example.org jon@example.net sent 2.0.0 "250 2.0.0 Ok: queued as 77BB"
  # our mailing, authenticated by its own login: an ordinary bounce
  ca_msg 16:01:00 4A1B2C3D4E5 submission/smtpd news@example.org bounces+kay=example.net@news.example.org kay@example.net bounced 5.1.1 "$(nouser kay@example.net)"
  # a login that is not ours (a relay customer): no alert
  ca_msg 16:02:00 5A1B2C3D4E5 submission/smtpd leo@partner.example leo@partner.example lou@example.net bounced 5.1.1 "$(nouser lou@example.net)"
} > ca.log
stamp ca.log
printf 'email,source\n%s,Website\n' gus@example.net ida@example.net jon@example.net kay@example.net lou@example.net > ca.csv
CA=(--our-domains example.org --mailing-sender 'bounces+*@news.example.org')
"$R" maillog --no-state --now $NOW --format jsonl "${CA[@]}" ca.log > ca.jsonl 2>ca.err
# (1) a hacked account's spam bouncing
check "compromised: the spam's bounce has the alert" [ "$(field_of ca.jsonl gus@example.net bounced alert)" = compromised_account ]
check "compromised: and names the account" [ "$(field_of ca.jsonl gus@example.net bounced account)" = anna@example.org ]
check "compromised: recorded, not disabling" [ "$(field_of ca.jsonl gus@example.net bounced action)" = record ]
check "compromised: a sender not ours, deferred (postfix/smtps/smtpd)" [ "$(field_of ca.jsonl ida@example.net deferred alert)" = compromised_account ]
check "compromised: the spam delivered has it too" [ "$(field_of ca.jsonl jon@example.net sent alert)" = compromised_account ]
check "compromised: a login not ours, no alert" [ "$(field_of ca.jsonl lou@example.net bounced alert)" = "" ]
check "compromised: the summary names the account" grep -q "compromised account? 3 record(s) .* 1 account(s) .*: anna@example.org (3)$" ca.err
# (2) the mailing's own sender, authenticated: no alert, applies
check "mailing sender by SASL: no alert" [ "$(field_of ca.jsonl kay@example.net bounced alert)" = "" ]
check "mailing sender by SASL: account empty" [ "$(field_of ca.jsonl kay@example.net bounced account)" = "" ]
check "mailing sender by SASL: disables" [ "$(field_of ca.jsonl kay@example.net bounced action)" = disable ]
"$R" contacts import --create --db "$work/ca.db" ca.csv >/dev/null 2>&1
out=$("$R" maillog --commit --no-state --db "$work/ca.db" --now $NOW "${CA[@]}" ca.log 2>&1)
check "compromised --commit: the contact stays mailed" [ "$(state_of "$work/ca.db" gus@example.net)" = active ]
check "compromised --commit: the deferred one too" [ "$(state_of "$work/ca.db" ida@example.net)" = active ]
check "compromised --commit: the event has the alert" [ "$(sqlite3 "$work/ca.db" "SELECT e.alert || ' ' || e.decision FROM events e JOIN contacts c ON c.id = e.contact_id WHERE c.email_norm = 'gus@example.net'")" = "compromised_account recorded" ]
check "compromised --commit: the event names the account" [ "$(sqlite3 "$work/ca.db" "SELECT e.account FROM events e JOIN contacts c ON c.id = e.contact_id WHERE c.email_norm = 'gus@example.net'")" = "anna@example.org" ]
check "compromised --commit: the delivered spam is no send" [ "$(sqlite3 "$work/ca.db" "SELECT COUNT(*) FROM sends WHERE recipient_norm = 'jon@example.net'")" = 0 ]
check "compromised --commit: the summary names the account" grep -q "anna@example.org (3)" <<<"$out"
check "mailing sender by SASL --commit: applied" [ "$(state_of "$work/ca.db" kay@example.net)" = bounced ]
check "mailing sender by SASL --commit: no alert stored" [ "$(sqlite3 "$work/ca.db" "SELECT COUNT(*) FROM events WHERE alert <> ''")" = 2 ]
# (3) no --mailing-sender: our own accounts' submissions as our domain are taken
# as legitimate; a login of ours sending as a foreign domain still is not
"$R" maillog --no-state --now $NOW --format jsonl --our-domains example.org ca.log > ca3.jsonl 2>ca3.err
check "no --mailing-sender: no alert on anna's own sender" [ "$(field_of ca3.jsonl gus@example.net bounced alert)" = "" ]
check "no --mailing-sender: the bounce applies" [ "$(field_of ca3.jsonl gus@example.net bounced action)" = disable ]
check "no --mailing-sender: a foreign sender still flagged" [ "$(field_of ca3.jsonl ida@example.net deferred alert)" = compromised_account ]
"$R" maillog --no-state --now $NOW --format jsonl ca.log > ca0.jsonl 2>/dev/null
check "no --our-domains: no alert at all" [ "$(grep -c compromised_account ca0.jsonl)" = 0 ]
# the same from the configuration file ([mail] our-domains, mailing-sender)
printf '[mail]\nour-domains = example.org\nmailing-sender = @lists.example.org, bounces+*@news.example.org\n' > ca.conf
"$R" maillog --config ca.conf --no-state --now $NOW --format jsonl ca.log > cacf.jsonl 2>/dev/null
check "configuration file: the alert" [ "$(field_of cacf.jsonl gus@example.net bounced alert)" = compromised_account ]
check "configuration file: the mailing sender" [ "$(field_of cacf.jsonl kay@example.net bounced alert)" = "" ]
"$R" maillog --no-state --our-domains example.org --mailing-sender news ca.log >/dev/null 2>&1
check "--mailing-sender without @ or *: 64" [ $? = 64 ]
# (4) across a run boundary: the smtpd line in run 1, the bounce in run 2
head -n 3 <(ca_msg 17:00:00 6A1B2C3D4E5 submission/smtpd anna@example.org anna@example.org gus@example.net bounced 5.1.1 "$(nouser gus@example.net)") > ca2.log
stamp ca2.log
"$R" maillog --state ca2.state --now $NOW --format jsonl "${CA[@]}" ca2.log > ca2a.jsonl 2>/dev/null
check "across runs: run 1 reports nothing" [ "$(nrec ca2a.jsonl)" = 0 ]
check "across runs: the login in the state" grep -q "^open	postfix/6A1B2C3D4E5	[0-9]*	m-6A1B2C3D4E5@example.org	anna@example.org	anna@example.org$" ca2.state
ca_msg 17:00:00 6A1B2C3D4E5 submission/smtpd anna@example.org anna@example.org gus@example.net bounced 5.1.1 "$(nouser gus@example.net)" | tail -n 2 >> ca2.log
stamp ca2.log
"$R" maillog --state ca2.state --now $NOW --format jsonl "${CA[@]}" ca2.log > ca2b.jsonl 2>/dev/null
check "across runs: run 2 reports the bounce" [ "$(nrec ca2b.jsonl)" = 1 ]
check "across runs: with the alert" [ "$(field_of ca2b.jsonl gus@example.net bounced alert)" = compromised_account ]
check "across runs: and the account" [ "$(field_of ca2b.jsonl gus@example.net bounced account)" = anna@example.org ]
# a state file of before the login was kept (five fields) still reads
printf '# rebound maillog state v1: file FINGERPRINT OFFSET INODE PATH; open queue IDs\nopen\tpostfix/7A1B2C3D4E5\t1795000000\tm-7@example.org\tanna@example.org\n' > old.state
"$R" maillog --state old.state --now $NOW "${CA[@]}" ca2.log >/dev/null 2>&1
check "a v1 state file still reads" [ $? = 0 ]

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
