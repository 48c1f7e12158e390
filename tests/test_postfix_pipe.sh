#!/usr/bin/env bash
# rebound pipe as a REAL Postfix pipe(8) transport: a throwaway instance
# (postfix-lab.sh) delivers everything for bounce.test -- the VERP form
# bounce+user=domain@bounce.test and the plain catch-all bounces@bounce.test
# -- to `rebound pipe` running as `nobody`.  Checks: a DSN (multipart/report,
# 550 5.1.1) bounces the contact and Postfix logs status=sent; a message that
# is no bounce is accepted and changes nothing; with the SQLite store locked
# (a sqlite3 process holding BEGIN EXCLUSIVE, REBOUND_LOCK_TIMEOUT=2) the pipe
# exits 75, Postfix logs status=deferred and keeps the message; after the
# lock is gone a flush delivers it and the contact is updated once: nothing
# lost, nothing doubled.  With REBOUND_TEST_PG, the same transport into a
# PostgreSQL store.  Needs root and the postfix package.
set -uo pipefail
R=${REBOUND_BIN:?set REBOUND_BIN to the rebound binary}
here=$(cd "$(dirname "$0")" && pwd)
LAB="bash $here/postfix-lab.sh"
SENDMAIL=/usr/sbin/sendmail
PIPE_USER=nobody
pass=0 fail=0
ok()  { pass=$((pass+1)); }
bad() { fail=$((fail+1)); echo "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then ok; else bad "$what"; fi; }

if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root (runs a Postfix instance)"; exit 77; fi
if [ ! -x /usr/lib/postfix/sbin/master ] || [ ! -x "$SENDMAIL" ]; then
    echo "SKIP: Postfix is not installed (scripts/install-deps.sh installs it)"; exit 77
fi
id "$PIPE_USER" >/dev/null 2>&1 || { echo "SKIP: no user $PIPE_USER for the pipe transport"; exit 77; }
# the lock holder runs as the pipe user: a python3 it can execute, with sqlite3
PY=
for p in /usr/bin/python3 "$(command -v python3)"; do
    [ -n "$p" ] && runuser -u "$PIPE_USER" -- "$p" -c 'import sqlite3' 2>/dev/null && { PY=$p; break; }
done
[ -n "$PY" ] || { echo "SKIP: no python3 with sqlite3 that $PIPE_USER can run"; exit 77; }

work=$(mktemp -d /tmp/rebound-pfpipe.XXXXXX)
chmod 755 "$work"
lab=$work/lab
cleanup() {
    [ -n "${locker:-}" ] && kill "$locker" 2>/dev/null
    LAB_KEEP=${KEEP_WORK:-0} $LAB stop "$lab" >/dev/null 2>&1
    [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT   # a timeout still stops the lab
cd "$work"

# The pipe runs as $PIPE_USER: give it a copy of the binary and the data files in a
# directory it can reach (the build tree may sit under a directory it cannot enter),
# and a store directory of its own.
mkdir -p bin share store
cp "$R" bin/rebound
cp -r "${REBOUND_DATADIR:-$here/../data}/." share/
chmod -R a+rX bin share
chown "$PIPE_USER" store
chmod 700 store
BIN=$work/bin/rebound
DB=$work/store/rebound.db
as_pipe() { runuser -u "$PIPE_USER" -- env REBOUND_DATADIR="$work/share" "$BIN" "$@"; }

PGURL=
if [ -n "${REBOUND_TEST_PG:-}" ]; then
    base=${REBOUND_TEST_PG%%\?*}; query=${REBOUND_TEST_PG#*\?}
    [ "$query" = "$REBOUND_TEST_PG" ] && query=
    psql -q "$REBOUND_TEST_PG" -c "DROP DATABASE IF EXISTS rebound_pf_pipe" \
        -c "CREATE DATABASE rebound_pf_pipe" >/dev/null 2>&1 || bad "cannot create PostgreSQL database"
    PGURL="${base%/*}/rebound_pf_pipe${query:+?$query}"
fi

# one recipient per pipe delivery (so ${recipient} is one address); retries only on
# postqueue -f (so a deferral and its retry are where the test puts them)
export LAB_MAIN_EXTRA='rebound_destination_recipient_limit = 1
rebound-pg_destination_recipient_limit = 1
minimal_backoff_time = 1h
maximal_backoff_time = 1h'
export LAB_TRANSPORT_EXTRA="bounce.test rebound:
pgbounce.test rebound-pg:"
export LAB_MASTER_EXTRA="rebound unix - n n - - pipe
  flags=Rq user=$PIPE_USER argv=/usr/bin/env REBOUND_LOCK_TIMEOUT=2 REBOUND_DATADIR=$work/share
  $BIN pipe --db $DB --sender \${sender} --recipient \${recipient} --queue-id \${queue_id}
rebound-pg unix - n n - - pipe
  flags=Rq user=$PIPE_USER argv=/usr/bin/env REBOUND_DATADIR=$work/share
  $BIN pipe --db ${PGURL:-/nonexistent/pg-not-configured.db} --sender \${sender} --recipient \${recipient} --queue-id \${queue_id}"
env_out=$($LAB start "$lab") || { rc=$?; echo "the Postfix lab did not start"; [ $rc = 77 ] && exit 77; exit 1; }
eval "$env_out"
wait_log() { $LAB wait "$lab" "$@"; }
qid_of() { sed -n "s/.* postfix\/cleanup\[[0-9]*\]: \([0-9A-Za-z]*\): message-id=<$1>\$/\1/p" "$LAB_LOG" | tail -1; }
re() { sed 's/[.+]/\\&/g' <<<"$1"; }   # an address as an ERE

# ---- the store ---------------------------------------------------------------------------
D=example.test
printf 'email,source\npipe-a@%s,Website\npipe-b@%s,Website\npipe-c@%s,Website\nquiet@%s,Website\n' $D $D $D $D > contacts.csv
chmod 644 contacts.csv
as_pipe contacts import --create --db "$DB" contacts.csv > /dev/null
check "contacts imported (as $PIPE_USER)" [ $? = 0 ]
state_of() {  # $1 db, $2 address -> "status for_mailing reason"
    as_pipe contacts show --db "$1" "$2" | awk -F': *' '/^status:/{s=$2} /^for_mailing:/{f=$2} /^reason:/{r=$2} END{print s, f, r}'
}
events_of() { as_pipe contacts show --db "$1" "$2" | awk '/^DATE/{on=1; next} on && /^[0-9]/{n++} END{print n+0}'; }

# ---- a DSN as a remote MTA would send it -----------------------------------------------------
dsn() {  # $1 failed recipient, $2 Message-ID of the DSN, $3 To: of the DSN
    cat <<EOF
From: Mail Delivery System <MAILER-DAEMON@mx.example.test>
To: $3
Subject: Undelivered Mail Returned to Sender
Date: $(date -R)
Message-ID: <$2>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="dsn-boundary-42"

--dsn-boundary-42
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.test.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<$1>: host mx.example.test[192.0.2.25] said: 550 5.1.1 <$1>:
    Recipient address rejected: User unknown in virtual mailbox table (in
    reply to RCPT TO command)

--dsn-boundary-42
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.test
X-Postfix-Queue-ID: 4XyZ1234
Arrival-Date: $(date -R)

Final-Recipient: rfc822; $1
Original-Recipient: rfc822;$1
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.example.test
Diagnostic-Code: smtp; 550 5.1.1 <$1>: Recipient address rejected: User unknown
    in virtual mailbox table

--dsn-boundary-42
Content-Type: text/rfc822-headers

From: News <news@sender.test>
To: <$1>
Subject: newsletter
Message-ID: <orig.$2>

--dsn-boundary-42--
EOF
}
inject() {  # $1 envelope recipient, file on stdin; null sender as a bounce has
    "$SENDMAIL" -C "$LAB_ETC" -f '<>' "$1" || echo "FAIL: sendmail to $1" >&2   # a subshell: the wait that follows fails
}
verp() { echo "bounce+${1%@*}=${1#*@}@bounce.test"; }

# ---- 1. a VERP-addressed DSN: delivered via rebound, the contact bounced -----------------------
A=pipe-a@$D
dsn "$A" "dsn1.$$@mx.example.test" "$(verp $A)" | inject "$(verp $A)"
wait_log "to=<$(re "$(verp $A)")>, relay=rebound, .*status=(sent|deferred|bounced)" 1 60 || bad "no delivery line for the first DSN"
line=$(grep -E "to=<$(re "$(verp $A)")>, relay=rebound, " "$LAB_LOG" | tail -1)
check "first DSN: status=sent (delivered via rebound): $line" grep -q "dsn=2.0.0, status=sent (delivered via rebound service" <<<"$line"
check "pipe-a bounced ($(state_of "$DB" $A))" [ "$(state_of "$DB" $A)" = "bounced no userunknown" ]
check "pipe-a: one event" [ "$(events_of "$DB" $A)" = 1 ]

# ---- 2. the plain catch-all address, recipient from the DSN only --------------------------------
C=pipe-c@$D
dsn "$C" "dsn2.$$@mx.example.test" "bounces@bounce.test" | inject bounces@bounce.test
wait_log "to=<bounces@bounce\.test>, relay=rebound, .*status=" 1 60 || bad "no delivery line for the catch-all DSN"
check "catch-all DSN: status=sent" grep -qE "to=<bounces@bounce\.test>, relay=rebound, .*status=sent" "$LAB_LOG"
check "pipe-c bounced ($(state_of "$DB" $C))" [ "$(state_of "$DB" $C)" = "bounced no userunknown" ]

# ---- 3. not a bounce: accepted (exit 0), nothing changes ---------------------------------------
as_pipe contacts export --db "$DB" --output "$work/store/before.csv" 2>/dev/null
printf 'From: Someone <someone@example.test>\nTo: bounces@bounce.test\nSubject: hello there\nMessage-ID: <plain.%s@example.test>\n\nJust a note, no bounce.\n' $$ |
    "$SENDMAIL" -C "$LAB_ETC" -f someone@example.test bounces@bounce.test
wait_log "to=<bounces@bounce\.test>, relay=rebound, .*status=" 2 60 || bad "no delivery line for the plain message"
check "plain message: status=sent" [ "$(grep -cE "to=<bounces@bounce\.test>, relay=rebound, .*status=sent" "$LAB_LOG")" = 2 ]
as_pipe contacts export --db "$DB" --output "$work/store/after.csv" 2>/dev/null
check "plain message changed no contact" cmp -s "$work/store/before.csv" "$work/store/after.csv"

# ---- 4. the store locked: exit 75, deferred, kept; then flushed and applied once ------------------
mkdir -p lock && chown "$PIPE_USER" lock
runuser -u "$PIPE_USER" -- "$PY" - "$DB" "$work/lock/ready" "$work/release" <<'EOF' &
import os, sqlite3, sys, time
db, ready, release = sys.argv[1:]
c = sqlite3.connect(db, isolation_level=None, timeout=10)
c.execute("BEGIN EXCLUSIVE")
c.execute("UPDATE contacts SET source = source WHERE 0")   # hold the write lock for real
open(ready, "w").close()
end = time.time() + 120                                     # never longer than the test
while not os.path.exists(release) and time.time() < end:
    time.sleep(0.05)
c.execute("ROLLBACK")
EOF
locker=$!
for _ in $(seq 100); do [ -e lock/ready ] && break; sleep 0.1; done
check "the store is locked" [ -e lock/ready ]
B=pipe-b@$D
BMID="dsn3.$$@mx.example.test"
dsn "$B" "$BMID" "$(verp $B)" | inject "$(verp $B)"
wait_log "to=<$(re "$(verp $B)")>, relay=rebound, .*status=" 1 60 || bad "no delivery line for the DSN while locked"
line=$(grep -E "to=<$(re "$(verp $B)")>, relay=rebound, " "$LAB_LOG" | tail -1)
# EX_TEMPFAIL: Postfix maps exit 75 to 4.3.0 and keeps the message
check "locked: status=deferred: $line" grep -q "dsn=4.3.0, status=deferred (temporary failure" <<<"$line"
# the last of delays=a/b/c/d is the time the pipe command ran: the lock wait
d=$(sed -n 's|.* delays=[0-9.]*/[0-9.]*/[0-9.]*/\([0-9.]*\),.*|\1|p' <<<"$line")
check "locked: the pipe waited REBOUND_LOCK_TIMEOUT=2 s, not its default (ran ${d:-?} s)" \
    awk -v d="${d:-0}" 'BEGIN { exit !(d >= 1.5 && d < 8) }'
BQ=$(qid_of "$BMID")
check "locked: queue ID known" [ -n "$BQ" ]
postqueue -c "$LAB_ETC" -p > queue1.txt 2>&1
check "locked: the message is in the queue" grep -q "^$BQ" queue1.txt
touch release
wait "$locker"; locker=
check "pipe-b not yet changed ($(state_of "$DB" $B))" [ "$(state_of "$DB" $B)" = "active yes " ]
postqueue -c "$LAB_ETC" -f
wait_log "to=<$(re "$(verp $B)")>, relay=rebound, .*status=sent" 1 60 || bad "the deferred DSN was not delivered after the flush"
wait_log "$BQ: removed" 1 30 || bad "the deferred DSN did not leave the queue"
check "after the flush: pipe-b bounced ($(state_of "$DB" $B))" [ "$(state_of "$DB" $B)" = "bounced no userunknown" ]
check "after the flush: pipe-b has one event" [ "$(events_of "$DB" $B)" = 1 ]
check "quiet@ untouched" [ "$(state_of "$DB" quiet@$D)" = "active yes " ]
postqueue -c "$LAB_ETC" -p > queue2.txt 2>&1
check "the queue is empty at the end" grep -q "Mail queue is empty" queue2.txt
check "no message bounced by the pipe transport" bash -c "! grep -E 'relay=rebound(-pg)?, .*status=bounced' '$LAB_LOG'"

# ---- 5. PostgreSQL store through the same transport -----------------------------------------
if [ -n "$PGURL" ]; then
    as_pipe contacts import --create --db "$PGURL" contacts.csv > /dev/null
    check "pg: contacts imported" [ $? = 0 ]
    P=pipe-a@$D
    dsn "$P" "dsn4.$$@mx.example.test" "bounce+pipe-a=$D@pgbounce.test" | inject "bounce+pipe-a=$D@pgbounce.test"
    wait_log "to=<bounce\+pipe-a=$D@pgbounce\.test>, relay=rebound-pg, .*status=" 1 60 || bad "pg: no delivery line"
    check "pg: status=sent" grep -qE "to=<bounce\+pipe-a=$D@pgbounce\.test>, relay=rebound-pg, .*status=sent" "$LAB_LOG"
    check "pg: pipe-a bounced ($(state_of "$PGURL" $P))" [ "$(state_of "$PGURL" $P)" = "bounced no userunknown" ]
    check "pg: pipe-b untouched" [ "$(state_of "$PGURL" $B)" = "active yes " ]
else
    echo "SKIP-PART: PostgreSQL part skipped: REBOUND_TEST_PG is not set"
fi

if [ "$fail" -ne 0 ]; then
    echo "--- lab maillog (pipe lines and the last 30)"
    grep -E 'relay=rebound|pipe\[' "$LAB_LOG"; tail -n 30 "$LAB_LOG"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
