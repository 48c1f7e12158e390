#!/usr/bin/env bash
# The store commands end to end: rebound contacts / apply / queue, against
# SQLite and (when REBOUND_TEST_PG names a server) PostgreSQL, including a
# kill -9 in the middle of a large --commit.
set -uo pipefail
R=${REBOUND_BIN:?}
pass=0 fail=0
ok()  { pass=$((pass+1)); }
bad() { fail=$((fail+1)); echo "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then ok; else bad "$what"; fi; }

work=$(mktemp -d /tmp/rebound-apply-cli.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"

# ---- inputs, written here ----------------------------------------------------------
cat > contacts.csv <<'EOF'
email,source,first_name
peter.dufaux@domain.be,Website,Peter
soft@example.com,Website,Soft
blocked@example.com,Website,Block
tester@example.com,Test,Tess
"Quoted, Name"@example.com,Website,bad
complainer@example.com,Website,Carl
unsub@example.com,Website,Una
EOF
printf 'email,source,status\nunsub@example.com,Website,unsubscribed\nx@example.com,,active\n' > status.csv

cat > bounces.jsonl <<'EOF'
{"source":"takeout.mbox#1","recipient":"peter.dufaux@domain.be","reason":"userunknown","status":"5.1.10","reply_code":"550","diagnostic":"RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup","provider":"business_microsoft","date":"2026-10-30T09:00:00Z"}
{"recipient":"soft@example.com","reason":"networkerror","status":"4.4.1","date":"2026-10-01T00:00:00Z"}
{"recipient":"soft@example.com","reason":"expired","status":"4.4.7","date":"2026-10-15T00:00:00Z"}
{"recipient":"soft@example.com","reason":"networkerror","status":"4.4.1","date":"2026-10-30T00:00:00Z"}
{"recipient":"blocked@example.com","reason":"spamdetected","status":"5.7.1","reply_code":"550","date":"2026-10-30T00:00:00Z"}
{"recipient":"complainer@example.com","reason":"feedback","feedback_type":"abuse","date":"2026-10-30T00:00:00Z"}
{"recipient":"unsub@example.com","reason":"userunknown","status":"5.1.1","date":"2026-10-30T00:00:00Z"}
{"recipient":"stranger@example.com","reason":"userunknown","status":"5.1.1","date":"2026-10-30T00:00:00Z"}
this line is not JSON
{"recipient":"soft@example.com","reason":"made-up-reason","date":"2026-10-30T00:00:00Z"}
EOF

# A forwarded address: the subscribed address (Original-Recipient) forwards to
# another mailbox (Final-Recipient), which bounces.  Made from the Postfix
# sample, analysed for real, so evidence and rule are what the rules say.
sed -e 's/^Final-Recipient: rfc822; oud-adres@mailhost.example.be/Final-Recipient: rfc822; oud.adres.fwd@forward.example.net/' \
    -e 's/<oud-adres@mailhost.example.be>/<oud.adres.fwd@forward.example.net>/g' \
    "${REBOUND_SRCDIR:?}/samples/postfix-user-unknown.eml" > fwd.eml
"$R" analyze -q --format jsonl fwd.eml > fwd.jsonl 2>/dev/null
# the same bounce as another export that did not carry the original recipient
python3 - <<'EOF'
import json
r = json.loads(open("fwd.jsonl").read().splitlines()[0])
open("fwd-fields", "w").write("%s\n%s\n%s\n" % (r["original_recipient"], r["evidence"], r["rule"]))
del r["original_recipient"]
open("fwd-bare.jsonl", "w").write(json.dumps(r) + "\n")
EOF
{ read -r FWD_ORIG; read -r FWD_EVIDENCE; read -r FWD_RULE; } < fwd-fields
# an original recipient that names no contact: the final recipient's
cat > fallback.jsonl <<'EOF'
{"recipient":"final@example.org","original_recipient":"gone@nowhere.example","reason":"userunknown","status":"5.1.1","evidence":"status","rule":"rules.d/50-status.conf:7","date":"2026-10-30T00:00:00Z"}
EOF
printf 'email,source\noud-adres@mailhost.example.be,Website\noud.adres.fwd@forward.example.net,Website\nfinal@example.org,Website\n' > fwd-contacts.csv

run_backend() {   # $1 label, $2 url A, $3 and $4 two more empty stores (the crash test)
  local L=$1 A=$2 B=$3 C=$4 out rc
  echo "== $L"
  # -- contacts import: rejected rows with line numbers, the rest stored
  "$R" contacts import --create --db "$A" status.csv >out 2>err; rc=$?
  check "$L import: a row without source is rejected" grep -q 'status.csv:3: rejected.*no source' err
  check "$L import: the status column" grep -q "1 new contacts" out
  out=$("$R" contacts import --create --db "$A" contacts.csv 2>err); rc=$?
  check "$L import exit 1 with a rejected row" [ $rc = 1 ]
  check "$L import counts" grep -q "7 rows: 5 new contacts, 1 already in the store (kept as they are), 1 rejected" <<<"$out"
  check "$L import names the line" grep -q 'contacts.csv:6: ' err

  # -- apply --check: a report, nothing written
  out=$("$R" apply --db "$A" --now 2026-11-01 --write-csv plan.csv bounces.jsonl 2>err); rc=$?
  check "$L check exit 1 (two rejected rows)" [ $rc = 1 ]
  check "$L check: bad JSON line named" grep -q 'bounces.jsonl:9: ' err
  check "$L check: unknown reason named" grep -q "bounces.jsonl:10: unknown reason 'made-up-reason'" err
  check "$L check: would disable 2 (hard + complaint)" grep -q "contacts would be disabled: 2; would be quarantined: 1; soft bounces would be counted: 2" <<<"$out"
  check "$L check: unknown counted" grep -q "unknown (not in the store): 1; rejected rows: 2" <<<"$out"
  check "$L check: report only" grep -q "Report only: nothing was written" <<<"$out"
  check "$L check: plan row for the quarantine" grep -q '^bounces.jsonl,4,soft@example.com,soft@example.com,networkerror,soft,quarantined,active,quarantined,3,' plan.csv
  "$R" contacts show --db "$A" peter.dufaux@domain.be > show.txt
  check "$L check wrote nothing" grep -q "no bounces applied" show.txt
  check "$L check left status" grep -q "^status: *active" show.txt

  # -- apply --commit: the same plan, applied; again: nothing new
  out=$("$R" apply --commit --db "$A" --now 2026-11-01 --write-csv plan2.csv bounces.jsonl 2>/dev/null)
  check "$L commit plan == check plan" cmp -s <(cut -d, -f1-12 plan.csv) <(cut -d, -f1-12 plan2.csv)
  check "$L invalid rows have no event time" grep -q "^bounces.jsonl,10,.*,invalid,,,0,,," plan.csv
  check "$L commit summary" grep -q "contacts disabled: 2; quarantined: 1; soft bounces counted: 2" <<<"$out"
  "$R" contacts show --db "$A" Peter.Dufaux@DOMAIN.be > show.txt
  check "$L hard -> bounced" grep -q "^status: *bounced" show.txt
  check "$L hard -> not for mailing" grep -q "^for_mailing: *no" show.txt
  check "$L status code kept" grep -q "^status_code: *550 5.1.10" show.txt
  check "$L provider kept" grep -q "^provider: *business_microsoft" show.txt
  check "$L event history" grep -q "userunknown.*disabled" show.txt
  "$R" contacts show --db "$A" blocked@example.com > show.txt
  check "$L blocked stays mailed" grep -q "^for_mailing: *yes" show.txt
  "$R" contacts show --db "$A" unsub@example.com > show.txt
  check "$L unsubscribed stays unsubscribed" grep -q "^status: *unsubscribed" show.txt
  "$R" contacts show --db "$A" complainer@example.com > show.txt
  check "$L complaint" grep -q "^status: *complaint" show.txt
  out=$("$R" apply --commit --db "$A" --now 2026-11-01 bounces.jsonl 2>/dev/null)
  check "$L second commit changes nothing" grep -q "contacts disabled: 0; quarantined: 0; soft bounces counted: 0" <<<"$out"
  check "$L second commit: all applied before" grep -q "applied before" <<<"$out"
  "$R" contacts show --db "$A" nobody@example.com >/dev/null 2>&1
  check "$L show unknown contact exits 1" [ $? = 1 ]

  # -- the queue
  out=$("$R" queue rebuild --db "$A" --now 2026-11-02 --exclude-source-names 'FacebookAdsJsonCSV,UnsubscribeTakeOutSpamBlocked,Test,MailTester')
  check "$L queue rebuilt with 1 contact (blocked)" grep -q "queue rebuilt: 1 contacts" <<<"$out"
  check "$L queue: excluded source counted" grep -q "excluded source: *1" <<<"$out"
  "$R" queue export --db "$A" --format plain > q.txt
  check "$L queue export" [ "$(cat q.txt)" = "blocked@example.com" ]
  out=$("$R" queue rebuild --db "$A" --now 2026-11-14 --exclude-source-names 'Test')
  check "$L quarantine over -> back in the queue" grep -q "queue rebuilt: 2 contacts" <<<"$out"
  check "$L quarantine released" grep -q "quarantines released: *1" <<<"$out"
  "$R" contacts export --db "$A" > export.csv
  check "$L contacts export" [ "$(wc -l < export.csv)" = 7 ]

  # -- the original recipient (the subscribed address) first, then the final one
  check "$L analyze reports the original recipient" [ "$FWD_ORIG" = oud-adres@mailhost.example.be ]
  check "$L analyze reports evidence and rule ($FWD_EVIDENCE, $FWD_RULE)" [ -n "$FWD_EVIDENCE" -a -n "$FWD_RULE" ]
  "$R" contacts import --create --db "$A" fwd-contacts.csv >/dev/null 2>&1
  "$R" apply --db "$A" --write-csv fwd-plan.csv fwd.jsonl fallback.jsonl >/dev/null 2>&1
  check "$L plan header names the matched address" grep -q ',note,original_recipient,matched_by$' fwd-plan.csv
  check "$L plan: forwarded bounce matched by the original recipient" \
    grep -q '^fwd.jsonl,1,oud.adres.fwd@forward.example.net,oud-adres@mailhost.example.be,userunknown,hard,disabled,active,bounced,.*,oud-adres@mailhost.example.be,original_recipient$' fwd-plan.csv
  check "$L plan: an unknown original recipient falls back to the recipient" \
    grep -q '^fallback.jsonl,1,final@example.org,final@example.org,userunknown,hard,disabled,active,bounced,.*,gone@nowhere.example,recipient$' fwd-plan.csv
  out=$("$R" apply --commit --db "$A" fwd.jsonl fallback.jsonl 2>/dev/null)
  check "$L forwarded + fallback: 2 disabled" grep -q "contacts disabled: 2;" <<<"$out"
  "$R" contacts show --db "$A" oud-adres@mailhost.example.be > show.txt
  check "$L the subscribed address is disabled" grep -q "^status: *bounced" show.txt
  check "$L ... and not mailed" grep -q "^for_mailing: *no" show.txt
  check "$L show: evidence and rule of the event" \
    grep -qF "reason userunknown (evidence $FWD_EVIDENCE, rule $FWD_RULE)" show.txt
  "$R" contacts show --db "$A" oud.adres.fwd@forward.example.net > show.txt
  check "$L the forward target (a contact too) is left alone" grep -q "^status: *active" show.txt
  check "$L ... with no event" grep -q "no bounces applied" show.txt
  "$R" contacts show --db "$A" final@example.org > show.txt
  check "$L fallback: the final recipient is disabled" grep -q "^status: *bounced" show.txt
  check "$L fallback: evidence and rule shown" \
    grep -qF "reason userunknown (evidence status, rule rules.d/50-status.conf:7)" show.txt
  "$R" contacts show --db "$A" peter.dufaux@domain.be > show.txt
  check "$L an event without evidence or rule says so" grep -q "reason userunknown (evidence and rule not recorded)" show.txt
  out=$("$R" apply --commit --db "$A" fwd.jsonl fallback.jsonl 2>/dev/null)
  check "$L forwarded again: nothing disabled" grep -q "contacts disabled: 0;" <<<"$out"
  check "$L forwarded again: 2 applied before" grep -q " 2 applied before" <<<"$out"
  # the same bounce from an export without the original recipient: one bounce, counted once
  out=$("$R" apply --commit --db "$A" fwd-bare.jsonl 2>/dev/null)
  check "$L same bounce without ORCPT: applied before" grep -q " 1 applied before" <<<"$out"
  check "$L ... the forward target stays active" grep -q "^status: *active" <("$R" contacts show --db "$A" oud.adres.fwd@forward.example.net)

  # -- a kill -9 in the middle of a large commit, then a rerun == a clean run
  python3 - <<'EOF'
import random
random.seed(7)
with open("big-contacts.csv", "w") as f:
    f.write("email,source\n")
    for i in range(20000):
        f.write(f"user{i}@example{i % 50}.com,{'Test' if i % 10 == 0 else 'Website'}\n")
reasons = ["userunknown"] * 4 + ["networkerror"] * 4 + ["expired", "blocked", "spamdetected", "feedback", "delivered"]
with open("big.jsonl", "w") as f:
    for n in range(120000):
        i = random.randrange(22000)
        r = random.choice(reasons)
        day = random.randrange(60)
        f.write('{"recipient":"user%d@example%d.com","reason":"%s","status":"%s","date":"2026-09-%02dT%02d:00:00Z","diagnostic":"n%d"}\n'
                % (i, i % 50, r, "5.1.1" if r == "userunknown" else "4.4.1", 1 + day % 30, day % 24, n % 9000))
EOF
  "$R" contacts import --create --db "$B" big-contacts.csv >/dev/null 2>&1
  "$R" contacts import --create --db "$C" big-contacts.csv >/dev/null 2>&1
  "$R" apply --commit -q --db "$B" --now 2026-11-01 --batch 500 big.jsonl 2>/dev/null
  "$R" apply --commit -q --db "$C" --now 2026-11-01 --batch 500 --progress-every 2000 big.jsonl 2>progress.txt &
  local pid=$! waited=0
  while ! grep -q "progress: [0-9]*[02468]0000 records" progress.txt 2>/dev/null && [ $waited -lt 600 ]; do sleep 0.02; waited=$((waited+1)); done
  if kill -0 $pid 2>/dev/null; then
    kill -9 $pid; wait $pid 2>/dev/null
    ok
    out=$("$R" apply --commit --db "$C" --now 2026-11-01 --batch 500 big.jsonl 2>/dev/null)
    dup=$(grep -oE '[0-9]+ applied before' <<<"$out" | grep -oE '^[0-9]+')
    check "$L the killed run had committed part of the work (dups=$dup)" [ "${dup:-0}" -gt 0 ]
    "$R" contacts export --db "$B" | cut -d, -f1-16 > clean.csv
    "$R" contacts export --db "$C" | cut -d, -f1-16 > crashed.csv
    check "$L kill -9 + rerun == clean run" cmp -s clean.csv crashed.csv
    check "$L crash test touched contacts" [ "$(grep -c ',bounced,' clean.csv)" -gt 1000 ]
  else
    bad "$L the commit finished before it could be killed (make the input bigger)"
  fi

  # -- a store that is not there: exit 66, a clear message, and no file made
  "$R" apply --commit --db /nonexistent-dir/rebound.db bounces.jsonl >/dev/null 2>err; rc=$?
  check "$L missing store exits 66" [ $rc = 66 ]
  check "$L missing store named" grep -q '/nonexistent-dir/rebound.db' err
  check "$L missing store: says how to create one" grep -q 'rebound init --db' err
}

run_backend sqlite "$work/a.db" "$work/b.db" "$work/c.db"

if [ -n "${REBOUND_TEST_PG:-}" ]; then
  base=${REBOUND_TEST_PG%%\?*}; query=${REBOUND_TEST_PG#*\?}
  [ "$query" = "$REBOUND_TEST_PG" ] && query=
  for db in rebound_cli_a rebound_cli_b rebound_cli_c; do
    psql -q "$REBOUND_TEST_PG" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1 ||
      bad "cannot create PostgreSQL database $db"
  done
  mk() { echo "${base%/*}/$1${query:+?$query}"; }
  run_backend postgresql "$(mk rebound_cli_a)" "$(mk rebound_cli_b)" "$(mk rebound_cli_c)"
else
  echo "SKIP-PART: PostgreSQL part skipped: REBOUND_TEST_PG is not set"
fi

# ---- input without bounce evidence --------------------------------------------------------
# a contact list given to apply: refused whole (65), nothing stored; a row
# without evidence among bounces: rejected with its line number
"$R" init --db "$work/ev.db" >/dev/null
"$R" contacts import --db "$work/ev.db" "$REBOUND_SRCDIR/examples/contacts.csv" >/dev/null 2>&1
"$R" apply --commit --db "$work/ev.db" "$REBOUND_SRCDIR/examples/contacts.csv" >"$work/out" 2>"$work/err"; rc=$?
check "apply of a contact list: 65 ($rc)" [ $rc = 65 ]
check "apply of a contact list: says so" grep -q "contacts.csv: this looks like a contact list.*rebound contacts import" "$work/err"
check "apply of a contact list: one line" [ "$(wc -l < "$work/err")" = 1 ]
"$R" contacts export --db "$work/ev.db" > "$work/ev.csv"
check "apply of a contact list: no contact touched" bash -c "! grep -q ',soft,\|,bounced,' '$work/ev.csv'"
check "apply of a contact list: no event stored" [ "$(sqlite3 "$work/ev.db" 'SELECT COUNT(*) FROM events')" = 0 ]
printf 'email,reason,status\njan.peeters@contoso-mail.example,,\noud-adres@mailhost.example.be,userunknown,5.1.1\nx@y.be,,active\n' > "$work/mix.csv"
"$R" apply --commit -q --db "$work/ev.db" "$work/mix.csv" >/dev/null 2>"$work/err"; rc=$?
check "apply: rows without evidence: exit 1 ($rc)" [ $rc = 1 ]
check "apply: row without evidence named (line 2)" grep -q "mix.csv:2: no reason, status, reply code or diagnostic: rejected" "$work/err"
check "apply: row without evidence named (line 4)" grep -q "mix.csv:4: no reason" "$work/err"
check "apply: the bounce among them applied" [ "$(sqlite3 "$work/ev.db" 'SELECT COUNT(*) FROM events')" = 1 ]

# ---- Excel's CSV: ';', a BOM, Windows-1252; UTF-16 "Unicode text" ----------------------
# written here: the source names carry the accents (they are stored, so show tells)
printf '\xef\xbb\xbfnaam;e-mailadres;bron\r\nRen\xe9 Dupr\xe9;rene.dupre@example.be;Beurs Li\xe8ge\r\n"Jansen; J.";j.jansen@example.nl;Kassa \x80 5\r\n' > "$work/semi.csv"
"$R" contacts import --create --db "$work/xl.db" "$work/semi.csv" >"$work/out" 2>"$work/err"; rc=$?
check "semicolon import: exit 0 ($rc)" [ $rc = 0 ]
check "semicolon import: both rows" grep -q "2 rows: 2 new contacts" "$work/out"
check "semicolon import: says Windows-1252 once" [ "$(grep -c 'semi.csv: not UTF-8: read as Windows-1252' "$work/err")" = 1 ]
check "semicolon import: the source decoded (è)" grep -q "^source: *Beurs Li$(printf '\xc3\xa8')ge\$" <("$R" contacts show --db "$work/xl.db" rene.dupre@example.be)
check "semicolon import: the euro sign decoded" grep -q "^source: *Kassa $(printf '\xe2\x82\xac') 5\$" <("$R" contacts show --db "$work/xl.db" j.jansen@example.nl)
printf 'naam;e-mailadres;reden;status\r\n"Dupr\xe9; R.";rene.dupre@example.be;userunknown;5.1.1\r\n' > "$work/semi-bounces.csv"
"$R" apply --check --db "$work/xl.db" --now 2026-11-01 "$work/semi-bounces.csv" >"$work/out" 2>"$work/err"; rc=$?
check "semicolon apply --check: exit 0 ($rc)" [ $rc = 0 ]
check "semicolon apply --check: the bounce read" grep -q "contacts would be disabled: 1;" "$work/out"
check "semicolon apply --check: says Windows-1252" grep -q "semi-bounces.csv: not UTF-8: read as Windows-1252" "$work/err"
# errors name the delimiter and the columns read; exit 65
printf 'naam;adres;plaats\nJan;Dorpstraat 1;Gent\n' > "$work/noemail.csv"
"$R" contacts import --db "$work/xl.db" "$work/noemail.csv" >/dev/null 2>"$work/err"; rc=$?
check "no email column: exit 65 ($rc)" [ $rc = 65 ]
check "no email column: names the delimiter and columns" \
  grep -q "noemail.csv:1: the header names no email column .*(read with delimiter ';'; columns: naam, adres, plaats)" "$work/err"
"$R" apply --check --db "$work/xl.db" "$work/noemail.csv" >"$work/out" 2>"$work/err"; rc=$?
check "apply, no recipient column: exit 65 ($rc)" [ $rc = 65 ]
check "apply, no recipient column: names the delimiter" grep -q "noemail.csv:1: .*no recipient column.*read with delimiter ';'" "$work/err"
check "apply, no recipient column: no summary" [ ! -s "$work/out" ]
# the delimiter given: ',' reads the ';' file as one column, and says so
"$R" contacts import --delimiter , --db "$work/xl.db" "$work/semi.csv" >/dev/null 2>"$work/err"; rc=$?
check "--delimiter ,: exit 65 ($rc)" [ $rc = 65 ]
check "--delimiter ,: named in the error" grep -q "read with delimiter ','; column: naam;e-mailadres;bron" "$work/err"
"$R" apply --delimiter pipe --db "$work/xl.db" "$work/semi.csv" >/dev/null 2>"$work/err"; rc=$?
check "--delimiter pipe: 64 ($rc)" [ $rc = 64 ]
# UTF-16LE with a BOM, TAB-delimited (Excel's "Unicode text"), and --delimiter tab
python3 -c "import sys; sys.stdout.buffer.write('\ufeffE-Mail-Adresse\tQuelle\r\nm\u00fcller@example.de\tMesse M\u00fcnchen\r\n'.encode('utf-16-le'))" > "$work/u16.txt"
"$R" contacts import --db "$work/xl.db" --delimiter tab "$work/u16.txt" >"$work/out" 2>"$work/err"; rc=$?
check "UTF-16 import: exit 0 ($rc)" [ $rc = 0 ]
check "UTF-16 import: one new contact" grep -q "1 rows: 1 new contacts" "$work/out"
check "UTF-16 import: the source decoded" grep -q "^source: *Messe M$(printf '\xc3\xbc')nchen\$" <("$R" contacts show --db "$work/xl.db" "m$(printf '\xc3\xbc')ller@example.de")
# a UTF-8 file is not touched: its é stays é (and nothing is said)
printf 'email;source\nutf8@example.be;Caf\xc3\xa9\n' > "$work/u8.csv"
"$R" contacts import --db "$work/xl.db" "$work/u8.csv" >/dev/null 2>"$work/err"
check "UTF-8 import: nothing said" [ ! -s "$work/err" ]
check "UTF-8 import: é kept" grep -q "^source: *Caf$(printf '\xc3\xa9')\$" <("$R" contacts show --db "$work/xl.db" utf8@example.be)

# ---- usage errors ------------------------------------------------------------------------
"$R" apply >/dev/null 2>&1; check "apply without input: 64" [ $? = 64 ]
"$R" apply --check --commit x >/dev/null 2>&1; check "apply --check --commit: 64" [ $? = 64 ]
"$R" apply --db "$work/u.db" /nonexistent.csv >/dev/null 2>&1; check "apply missing input: 66" [ $? = 66 ]
"$R" init --db "$work/m.db" >/dev/null
out=$("$R" apply --db "$work/m.db" /nonexistent.csv "$work/bounces.jsonl" 2>"$work/err"); rc=$?
check "apply: an unreadable input among others: 66" [ $rc = 66 ]
check "apply: the unreadable input is named" grep -q "/nonexistent.csv" "$work/err"
check "apply: the other input is still applied" grep -q "unknown (not in the store): 8; rejected rows: 2" <<<"$out"
"$R" queue frob >/dev/null 2>&1; check "queue unknown subcommand: 64" [ $? = 64 ]
for c in apply contacts queue; do "$R" $c --help | grep -q usage; check "$c --help" [ $? = 0 ]; done

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
