#!/usr/bin/env bash
# rebound maillog against a REAL Postfix: a throwaway instance (postfix-lab.sh)
# relays to a scripted SMTP sink (smtp-sink.py) that accepts, rejects (550
# 5.1.1, 554 5.7.1 blocklist) and defers (452 4.2.2); rebound maillog reads
# the log postlogd wrote and applies it to the store (SQLite, and PostgreSQL
# when REBOUND_TEST_PG names a server).  Then: a rerun with the same state
# reads nothing new; a grown log is read from where the last run stopped; an
# expiry (maximal_queue_lifetime cut to 1 s + flush) is reported per
# recipient; a rotation (mv + reload, then `postfix logrotate` to a .gz)
# loses and duplicates nothing.  Needs root and the postfix package.
set -uo pipefail
R=${REBOUND_BIN:?set REBOUND_BIN to the rebound binary}
here=$(cd "$(dirname "$0")" && pwd)
LAB="bash $here/postfix-lab.sh"
SENDMAIL=/usr/sbin/sendmail
PY=/usr/bin/python3   # starts fast; a version manager's shim may take a second
[ -x "$PY" ] || PY=python3
pass=0 fail=0
ok()  { pass=$((pass+1)); }
bad() { fail=$((fail+1)); echo "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then ok; else bad "$what"; fi; }
finish() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit $?; }

if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root (runs a Postfix instance)"; exit 77; fi
if [ ! -x /usr/lib/postfix/sbin/master ] || [ ! -x "$SENDMAIL" ]; then
    echo "SKIP: Postfix is not installed (scripts/install-deps.sh installs it)"; exit 77
fi

work=$(mktemp -d /tmp/rebound-pfmaillog.XXXXXX)
chmod 755 "$work"   # the postfix user reaches the lab inside it
lab=$work/lab
cleanup() { LAB_KEEP=${KEEP_WORK:-0} $LAB stop "$lab" >/dev/null 2>&1; [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 143' TERM INT   # a timeout still stops the lab
cd "$work"

# Retries only when the test asks (postqueue -f): a deferred message is then
# tried exactly once per phase and the log does not grow between two runs.
export LAB_MAIN_EXTRA='minimal_backoff_time = 1h
maximal_backoff_time = 1h'
env_out=$($LAB start "$lab") || { rc=$?; echo "the Postfix lab did not start"; [ $rc = 77 ] && exit 77; exit 1; }
eval "$env_out"
wait_log() { $LAB wait "$lab" "$@"; }

# ---- the contacts ------------------------------------------------------------------
D=$LAB_RCPT_DOMAIN
printf 'email,source\n' > contacts.csv
for u in ok unknown full block ms; do echo "$u@$D,Website" >> contacts.csv; done
DB=$work/store.db
"$R" contacts import --create --db "$DB" contacts.csv > /dev/null
check "contacts imported" [ $? = 0 ]

# ---- mail through the lab --------------------------------------------------------------
# (both run in $(...): $BASHPID makes each Message-ID unique)
send() {  # $1 envelope sender, $2 recipient; prints the Message-ID used
    local mid="m.$BASHPID.$RANDOM@sender.test"
    printf 'From: News <news@sender.test>\nTo: <%s>\nSubject: newsletter\nMessage-ID: <%s>\nDate: %s\n\nHello.\n' \
        "$2" "$mid" "$(date -R)" | "$SENDMAIL" -C "$LAB_ETC" -f "$1" "$2" || echo "FAIL: sendmail to $2" >&2
    echo "$mid"
}
send_smtp() {  # the same through the lab's smtpd port (smtpd lines in the log)
    local mid="s.$BASHPID.$RANDOM@sender.test"
    "$PY" - "$LAB_PORT" "$1" "$2" "$mid" <<'EOF' || echo "FAIL: SMTP submission to $2" >&2
import smtplib, sys, email.utils
port, sender, rcpt, mid = sys.argv[1:]
msg = ("From: News <news@sender.test>\r\nTo: <%s>\r\nSubject: newsletter via SMTP\r\nMessage-ID: <%s>\r\n"
       "Date: %s\r\n\r\nHello.\r\n" % (rcpt, mid, email.utils.formatdate()))
with smtplib.SMTP("127.0.0.1", int(port), timeout=30) as s:
    s.sendmail(sender, [rcpt], msg)
EOF
    echo "$mid"
}
# the queue ID Postfix gave a message (cleanup logs its Message-ID)
qid_of() { sed -n "s/.* postfix\/cleanup\[[0-9]*\]: \([0-9A-Za-z]*\): message-id=<$1>\$/\1/p" "$LAB_LOG" | tail -1; }
verp() { echo "bounce+${1%@*}=${1#*@}@$LAB_SENDER_DOMAIN"; }

declare -A MID QID
MID[ok]=$(send "$(verp ok@$D)" "ok@$D")
MID[unknown]=$(send "$(verp unknown@$D)" "unknown@$D")
MID[full]=$(send "news@$LAB_SENDER_DOMAIN" "full@$D")
MID[block]=$(send "$(verp block@$D)" "block@$D")
MID[ms]=$(send_smtp "$(verp ms@$D)" "ms@$D")

# the final (or, for full@, first) answer of each, and the two bounce notices delivered
wait_log "to=<ok@$D>,.* status=sent " 1 60 || bad "ok@ not sent"
wait_log "to=<ms@$D>,.* status=sent " 1 60 || bad "ms@ not sent"
wait_log "to=<unknown@$D>,.* status=bounced " 1 60 || bad "unknown@ not bounced"
wait_log "to=<block@$D>,.* status=bounced " 1 60 || bad "block@ not bounced"
wait_log "to=<full@$D>,.* status=deferred " 1 60 || bad "full@ not deferred"
wait_log "to=<bounce\+(unknown|block)=$D@$LAB_SENDER_DOMAIN>,.* status=sent " 2 60 || bad "bounce notices not delivered"
for u in ok unknown full block ms; do
    QID[$u]=$(qid_of "${MID[$u]}")
    check "queue ID of $u@ found in the log" [ -n "${QID[$u]}" ]
done
# wait for the bounced messages to leave the queue (the log is then quiet)
wait_log "${QID[block]}: removed" 1 30 || bad "block@ message not removed"
wait_log "${QID[unknown]}: removed" 1 30 || bad "unknown@ message not removed"
grep -q "smtp-sink\|SINK" "$SINK_LOG" && ok || bad "the sink logged nothing"

# ---- JSONL: one record per attempt, right fields ---------------------------------------------
# fields of the records for one recipient, tab-separated: delivery_status status reply_code
# relay queue_id reason bounce_type
fields() {  # $1 jsonl file, $2 recipient
    "$PY" - "$1" "$2" <<'EOF'
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.strip()
    if not line.startswith("{"):
        continue
    r = json.loads(line)
    if r.get("recipient", "").lower() == sys.argv[2].lower():
        print("\t".join(str(r.get(k, "")) for k in
              ("delivery_status", "status", "reply_code", "relay", "queue_id", "reason", "bounce_type")))
EOF
}
nrec() { grep -c '^{' "$1"; }

"$R" maillog --format jsonl --no-state "$LAB_LOG" > all1.jsonl 2> all1.err
check "maillog (no state) exit 0" [ $? = 0 ]
relay="127.0.0.1[127.0.0.1]:$SINK_PORT"
expect() {  # $1 user, $2 expected "delivery_status status reply_code", $3 reason, $4 bounce_type
    local got; got=$(fields all1.jsonl "$1@$D" | head -1)
    local ds st rc rl qi re bt
    IFS=$'\t' read -r ds st rc rl qi re bt <<<"$got"
    check "$1@: delivery_status/dsn/reply ($got)" [ "$ds $st $rc" = "$2" ]
    check "$1@: relay ($rl)" [ "$rl" = "$relay" ]
    check "$1@: queue_id ($qi vs ${QID[$1]})" [ "$qi" = "${QID[$1]}" ]
    [ -z "${3:-}" ] || check "$1@: reason ($re)" [ "$re" = "$3" ]
    [ -z "${4:-}" ] || check "$1@: bounce_type ($bt)" [ "$bt" = "$4" ]
}
expect ok      "sent 2.0.0 250"
expect ms      "sent 2.6.0 250"
expect unknown "bounced 5.1.1 550" userunknown hard
expect block   "bounced 5.7.1 554" "" blocked
expect full    "deferred 4.2.2 452" mailboxfull
check "one record per delivery line" [ "$(nrec all1.jsonl)" = "$(grep -cE ' status=(sent|deferred|bounced|undeliverable) ' "$LAB_LOG")" ]
check "the bounce notice to the VERP sender is a record" [ -n "$(fields all1.jsonl "$(verp unknown@$D)")" ]

# ---- --commit with a state file: the contact store ------------------------------------------
show() { "$R" contacts show --db "$1" "$2@$D"; }
state_of() {  # $1 db, $2 user -> "status for_mailing reason"
    show "$1" "$2" | awk -F': *' '/^status:/{s=$2} /^for_mailing:/{f=$2} /^reason:/{r=$2} END{print s, f, r}'
}
commit_and_check() {  # $1 label, $2 db, $3 state file
    local L=$1 db=$2 st=$3
    "$R" maillog --db "$db" --state "$st" --commit --format jsonl "$LAB_LOG" > "$L.run1.out" 2> "$L.run1.err"
    check "$L: first commit exit 0" [ $? = 0 ]
    check "$L: first commit printed the records" [ "$(nrec "$L.run1.out")" = "$(nrec all1.jsonl)" ]
    check "$L: unknown@ bounced ($(state_of "$db" unknown))" [ "$(state_of "$db" unknown)" = "bounced no userunknown" ]
    check "$L: full@ still mailed, reason recorded ($(state_of "$db" full))" [ "$(state_of "$db" full)" = "active yes mailboxfull" ]
    local b; b=$(state_of "$db" block)
    check "$L: block@ blocked and still mailed ($b)" [ "${b% *}" = "blocked yes" ]
    check "$L: ok@ active ($(state_of "$db" ok))" [ "$(state_of "$db" ok | cut -d' ' -f1-2)" = "active yes" ]
    check "$L: ms@ active ($(state_of "$db" ms))" [ "$(state_of "$db" ms | cut -d' ' -f1-2)" = "active yes" ]
    check "$L: unknown@ status code kept" grep -q "^status_code: *550 5.1.1" <(show "$db" unknown)
    "$R" contacts export --db "$db" --output "$L.export1.csv" 2>/dev/null
    check "$L: state file written" [ -s "$st" ]

    # the same state again: nothing new read, nothing changed
    "$R" maillog --db "$db" --state "$st" --commit --format jsonl "$LAB_LOG" > "$L.run2.out" 2> "$L.run2.err"
    check "$L: second commit exit 0" [ $? = 0 ]
    check "$L: second commit reads no record" [ "$(nrec "$L.run2.out")" = 0 ]
    check "$L: second commit: no attempt" grep -q "attempts: 0 sent, 0 deferred, 0 bounced, 0 expired" "$L.run2.out"
    "$R" contacts export --db "$db" --output "$L.export2.csv" 2>/dev/null
    check "$L: second commit changed nothing" cmp -s "$L.export1.csv" "$L.export2.csv"
}
commit_and_check sqlite "$DB" "$work/sqlite.state"
if [ -n "${REBOUND_TEST_PG:-}" ]; then
    # a database of our own in the test server
    base=${REBOUND_TEST_PG%%\?*}; query=${REBOUND_TEST_PG#*\?}
    [ "$query" = "$REBOUND_TEST_PG" ] && query=
    psql -q "$REBOUND_TEST_PG" -c "DROP DATABASE IF EXISTS rebound_pf_maillog" \
        -c "CREATE DATABASE rebound_pf_maillog" >/dev/null 2>&1 || bad "cannot create PostgreSQL database"
    PGDB="${base%/*}/rebound_pf_maillog${query:+?$query}"
    "$R" contacts import --create --db "$PGDB" contacts.csv > /dev/null
    check "pg: contacts imported" [ $? = 0 ]
    commit_and_check pg "$PGDB" "$work/pg.state"
else
    echo "SKIP-PART: PostgreSQL part skipped: REBOUND_TEST_PG is not set"
fi

# ---- the log grows: the third run reads only the new lines ------------------------------------
MID[ok2]=$(send "$(verp ok@$D)" "ok@$D")
MID[unknown2]=$(send "$(verp unknown2@$D)" "unknown2@$D")
wait_log "to=<ok@$D>,.* status=sent " 2 60 || bad "second ok@ not sent"
wait_log "to=<unknown2@$D>,.* status=bounced " 1 60 || bad "unknown2@ not bounced"
QID[ok2]=$(qid_of "${MID[ok2]}"); QID[unknown2]=$(qid_of "${MID[unknown2]}")
wait_log "${QID[unknown2]}: removed" 1 30 || bad "unknown2@ message not removed"
wait_log "to=<$(verp unknown2@$D | sed 's/+/\\+/')>,.* status=sent " 1 30 || bad "unknown2@ notice not delivered"
"$R" maillog --db "$DB" --state "$work/sqlite.state" --commit --format jsonl "$LAB_LOG" > run3.out 2> run3.err
check "third run exit 0" [ $? = 0 ]
check "third run: 3 new records (ok@, unknown2@, its bounce notice): $(nrec run3.out)" [ "$(nrec run3.out)" = 3 ]
check "third run: the new ok@ attempt" [ "$(fields run3.out "ok@$D" | cut -f1,5)" = "sent	${QID[ok2]}" ]
check "third run: unknown2@" [ "$(fields run3.out "unknown2@$D" | cut -f1,5)" = "bounced	${QID[unknown2]}" ]
check "third run: no old queue ID again" bash -c "! grep -qE '${QID[ok]}|${QID[unknown]}|${QID[full]}|${QID[block]}|${QID[ms]}' run3.out"
check "ok@ still active after a delivery" [ "$(state_of "$DB" ok | cut -d' ' -f1-2)" = "active yes" ]

# ---- an address verification probe (sendmail -bv): deliverable / undeliverable ---------------
"$SENDMAIL" -C "$LAB_ETC" -bv "unknown9@$D" "ok9@$D" > /dev/null
wait_log "to=<unknown9@$D>,.* status=undeliverable " 1 60 || bad "no undeliverable line for the probe"
wait_log "to=<ok9@$D>,.* status=deliverable " 1 60 || bad "no deliverable line for the probe"
wait_log "discard\[[0-9]+\]: [0-9A-Za-z]+: to=<root@$LAB_HOST>, .*status=sent " 1 60 || bad "probe report not delivered"
"$R" maillog --db "$DB" --state "$work/sqlite.state" --commit --format jsonl "$LAB_LOG" > probe.out 2> probe.err
check "probe run exit 0" [ $? = 0 ]
check "probe: undeliverable record, 5.1.1 ($(fields probe.out "unknown9@$D"))" \
    [ "$(fields probe.out "unknown9@$D" | cut -f1-3)" = "undeliverable	5.1.1	550" ]
check "probe: a deliverable answer is no record" [ -z "$(fields probe.out "ok9@$D")" ]
check "probe: the report to root is the only other record ($(nrec probe.out))" [ "$(nrec probe.out)" = 2 ]

# ---- expiry: full@'s message times out; the expiry names it -------------------------------------
postconf -c "$LAB_ETC" -e maximal_queue_lifetime=1s bounce_queue_lifetime=1s
postfix -c "$LAB_ETC" reload >/dev/null 2>&1
postqueue -c "$LAB_ETC" -f
wait_log "${QID[full]}: from=<.*>, status=expired, returned to sender" 1 60 || bad "no expiry for full@"
wait_log "${QID[full]}: removed" 1 30 || bad "full@'s message not removed"
wait_log "to=<news@$LAB_SENDER_DOMAIN>,.* status=sent " 1 30 || bad "expiry notice not delivered"
"$R" maillog --db "$DB" --state "$work/sqlite.state" --commit --format jsonl "$LAB_LOG" > run4.out 2> run4.err
check "expiry run exit 0" [ $? = 0 ]
exp=$(fields run4.out "full@$D" | awk -F'\t' '$1 == "expired"')
check "expired record for full@ ($exp)" [ -n "$exp" ]
check "expired record has full@'s queue ID" [ "$(cut -f5 <<<"$exp" | head -1)" = "${QID[full]}" ]
check "expiry: one expired record" [ "$(grep -c '"delivery_status": *"expired"' run4.out)" = 1 ]
check "expired record: reason expired ($exp)" [ "$(cut -f6 <<<"$exp" | head -1)" = expired ]
# an expiry is a soft bounce: counted, the contact still mailed
check "full@ after the expiry: still mailed ($(state_of "$DB" full))" [ "$(state_of "$DB" full)" = "active yes expired" ]
check "full@ after the expiry: one soft bounce counted" grep -q "^soft_count: *1 " <(show "$DB" full)
postconf -c "$LAB_ETC" -e maximal_queue_lifetime=1d bounce_queue_lifetime=1d
postfix -c "$LAB_ETC" reload >/dev/null 2>&1

# ---- rotation: mv + reload (postlogd writes on into the moved file until the reload) -----------
# postlogd opens the file when it starts, and after a reload it starts on the first
# record: log one (a line of no Postfix program, which maillog must pass over) and
# wait for it, so that postlogd holds the file open while it moves
postlog -c "$LAB_ETC" -t rebound-test "before the rotation"
wait_log "rebound-test\[[0-9]+\]: before the rotation" 1 30 || bad "postlog line not logged"
mv "$LAB_LOG" "$LAB_LOG.1"
MID[r1]=$(send "$(verp ok@$D)" "ok@$D")
wait_log_file() {  # $1 file, $2 ERE, $3 seconds
    local end=$((SECONDS + $3))
    until grep -qE -- "$2" "$1" 2>/dev/null; do [ $SECONDS -ge $end ] && return 1; sleep 0.2; done
}
wait_log_file "$LAB_LOG.1" "message-id=<${MID[r1]}>" 30 || bad "r1 not logged"
QID[r1]=$(sed -n "s/.*: \([0-9A-Za-z]*\): message-id=<${MID[r1]}>\$/\1/p" "$LAB_LOG.1")
wait_log_file "$LAB_LOG.1" "${QID[r1]}: removed" 30 || bad "r1 not delivered into the moved file"
postfix -c "$LAB_ETC" reload >/dev/null 2>&1
MID[r2]=$(send "$(verp ms@$D)" "ms@$D")
wait_log_file "$LAB_LOG" "to=<ms@$D>,.* status=sent " 30 || bad "r2 not logged in the new file"
QID[r2]=$(qid_of "${MID[r2]}")
"$R" maillog --db "$DB" --state "$work/sqlite.state" --commit --format jsonl "$LAB_LOG.1" "$LAB_LOG" > run5.out 2> run5.err
check "rotation run exit 0" [ $? = 0 ]
check "rotation: exactly the two new attempts ($(nrec run5.out))" [ "$(nrec run5.out)" = 2 ]
check "rotation: r1 from the moved file" [ "$(fields run5.out "ok@$D" | cut -f1,5)" = "sent	${QID[r1]}" ]
check "rotation: r2 from the new file" [ "$(fields run5.out "ms@$D" | cut -f1,5)" = "sent	${QID[r2]}" ]

# postfix logrotate: maillog -> maillog.YYYYMMDD-HHMMSS.gz
postfix -c "$LAB_ETC" logrotate >/dev/null 2>&1
check "postfix logrotate made a .gz" compgen -G "$LAB_LOG.*.gz" >/dev/null
MID[r3]=$(send "$(verp ok@$D)" "ok@$D")
wait_log_file "$LAB_LOG" "message-id=<${MID[r3]}>" 30 || bad "r3 not logged"
QID[r3]=$(qid_of "${MID[r3]}")
wait_log_file "$LAB_LOG" "${QID[r3]}: removed" 30 || bad "r3 not delivered"
"$R" maillog --db "$DB" --state "$work/sqlite.state" --commit --format jsonl "$LAB_LOG".* "$LAB_LOG" > run6.out 2> run6.err
check "logrotate run exit 0" [ $? = 0 ]
check "logrotate: exactly the one new attempt ($(nrec run6.out))" [ "$(nrec run6.out)" = 1 ]
check "logrotate: r3" [ "$(fields run6.out "ok@$D" | cut -f1,5)" = "sent	${QID[r3]}" ]
# a fresh reader of the whole rotated set sees every attempt once
"$R" maillog --no-state --format jsonl "$LAB_LOG".* "$LAB_LOG" > whole.out 2>/dev/null
ndel=$(cat "$LAB_LOG".1 "$LAB_LOG" <(zcat "$LAB_LOG".*.gz) | grep -cE ' status=(sent|deferred|bounced|undeliverable) ')
check "the whole set: one record per delivery line, plus the expiry ($(nrec whole.out) vs $ndel+1)" [ "$(nrec whole.out)" = $((ndel + 1)) ]

if [ "$fail" -ne 0 ]; then
    echo "--- lab maillog (last 60 lines)"; tail -n 60 "$LAB_LOG" 2>/dev/null
    for f in *.err; do [ -s "$f" ] && { echo "--- $f"; head -20 "$f"; }; done
fi
finish
