#!/usr/bin/env bash
# rebound pipe without a real Postfix (tests/test_postfix_pipe.sh has one):
# messages written here go in on standard input, exactly as pipe(8) hands
# them over.  Checks the exit codes Postfix acts on (0 accepted, 75 keep and
# retry -- a SQLite store locked by a python3 sqlite3 process holding BEGIN
# EXCLUSIVE with REBOUND_LOCK_TIMEOUT=1, a store that cannot be opened, a
# bad command line), that a non-bounce is accepted and changes nothing, a
# legitimate bounce is applied once, backscatter (no valid signature, a
# Message-ID we never sent) never changes a contact, the compromised-account
# warning, the size limit; `rebound verp sign|verify` and `rebound
# postfix-config` (its tables checked with postmap when Postfix is there).
# Against SQLite and, when REBOUND_TEST_PG names a server, PostgreSQL.
set -uo pipefail
R=${REBOUND_BIN:?set REBOUND_BIN to the rebound binary}
pass=0 fail=0
ok()  { pass=$((pass+1)); }
bad() { fail=$((fail+1)); echo "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then ok; else bad "$what"; fi; }
command -v python3 >/dev/null || { echo "SKIP: python3 is needed (the lock holder)"; exit 77; }

work=$(mktemp -d /tmp/rebound-pipe-cli.XXXXXX)
locker=
cleanup() { [ -n "$locker" ] && kill "$locker" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"

head -c 32 /dev/urandom | base64 > verp.key
printf 'email,source\nvictim@example.be,Website\njan@example.be,Website\nkim@example.be,Website\nverp@example.be,Website\nfwd@example.be,Website\ntwice@example.be,Website\n' > contacts.csv

# A Postfix-style DSN: final recipient $1, original Message-ID $2, envelope To $3,
# optionally "(Authenticated sender: $4)" in the returned message's Received: header.
dsn() {
    cat <<EOF
From: MAILER-DAEMON@mx.remote.example (Mail Delivery System)
To: ${3:-newsletter@example.org}
Date: Tue, 17 Nov 2026 10:00:03 +0100
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="BND"

--BND
Content-Type: text/plain

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

--BND
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.remote.example

Final-Recipient: rfc822; $1
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.example.be
Diagnostic-Code: smtp; 550 5.1.1 <$1>: Recipient address rejected: User unknown

--BND
Content-Type: text/rfc822-headers

Received: from [198.51.100.7] by mail.example.org (Postfix) with ESMTPSA id 4C2A1E0123${4:+
	(Authenticated sender: $4)}
From: newsletter@example.org
To: $1
Subject: Weekly update
Message-ID: <$2>

--BND--
EOF
}

cat > notbounce.eml <<'EOF'
From: jan@example.be
To: bounce-jan=example.be-aaaaaaaaaaaa@bounce.example.org
Subject: question about the newsletter

Hello, why did I get this?  550 5.1.1 is what my friend said.
EOF

# a bounce that names nobody: only the return path says who
cat > anonymous.eml <<'EOF'
From: MAILER-DAEMON@mx.remote.example
To: newsletter@example.org
Subject: Undeliverable mail
Date: Tue, 17 Nov 2026 10:00:03 +0100

Your message could not be delivered.
550 5.1.1 mailbox unavailable
EOF

status_of() { "$R" contacts show --db "$1" "$2" 2>/dev/null | awk '/^status:/{print $2}'; }
nevents() { "$R" contacts show --db "$1" "$2" 2>/dev/null | grep -cE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T.* userunknown '; }

run_backend() {   # $1 label, $2 store URL, $3 the command that adds a row to sends (mid rcpt)
    local L=$1 DB=$2 addsend=$3 out rc a t
    echo "== $L"
    "$R" contacts import --create --db "$DB" contacts.csv >/dev/null 2>&1 || bad "$L import"

    # -- not a bounce: accepted (0), logged, nothing changed
    "$R" pipe --db "$DB" --sender jan@example.be --recipient bounces@bounce.example.org < notbounce.eml >out 2>err; rc=$?
    check "$L non-bounce: exit 0" [ $rc = 0 ]
    check "$L non-bounce: logged" grep -q '^rebound: accepted, nothing applied: not a bounce' err
    check "$L non-bounce: nothing on stdout" [ ! -s out ]
    check "$L non-bounce: contact untouched" [ "$(status_of "$DB" jan@example.be)" = active ]

    # -- lenient (no secret): a plain bounce is applied, once
    dsn kim@example.be nl-1@example.org > kim.eml
    "$R" pipe --db "$DB" --sender MAILER-DAEMON --recipient bounces@bounce.example.org < kim.eml 2>err; rc=$?
    check "$L lenient: exit 0" [ $rc = 0 ]
    check "$L lenient: applied" [ "$(status_of "$DB" kim@example.be)" = bounced ]
    check "$L lenient: logged as unverified" grep -q '^rebound: unverified: kim@example.be userunknown/hard -> disabled; lenient: no VERP secret' err
    "$R" pipe --db "$DB" --sender MAILER-DAEMON --recipient bounces@bounce.example.org < kim.eml 2>err; rc=$?
    check "$L redelivery (Postfix retry): exit 0, duplicate" grep -q 'kim@example.be userunknown/hard -> duplicate' err
    check "$L redelivery: one event" [ "$(nevents "$DB" kim@example.be)" = 1 ]

    # -- the defence on (a secret): a forged DSN for a contact changes nothing
    dsn victim@example.be forged-1@attacker.example bounces@bounce.example.org > forged.eml
    "$R" pipe --db "$DB" --verp-secret-file verp.key --sender MAILER-DAEMON --recipient bounces@bounce.example.org \
        < forged.eml 2>err; rc=$?
    check "$L forged: exit 0 (accepted)" [ $rc = 0 ]
    check "$L forged: reported as backscatter" grep -q '^rebound: backscatter: victim@example.be userunknown/hard -> not applied; no signed return path; Message-ID <forged-1@attacker.example> was never sent (0 legitimate, 0 unverified, 1 backscatter)' err
    check "$L forged: contact unchanged" [ "$(status_of "$DB" victim@example.be)" = active ]
    check "$L forged: no event stored" [ "$(nevents "$DB" victim@example.be)" = 0 ]
    # a forged signature
    a=$("$R" verp sign --secret-file verp.key --domain bounce.example.org victim@example.be)
    t=$(sed -E 's/-([a-z2-7]{2})[a-z2-7]{10}@/-\1aaaaaaaaaa@/' <<<"$a")
    [ "$t" != "$a" ] || t=$(sed -E 's/-([a-z2-7]{2})[a-z2-7]{10}@/-\1bbbbbbbbbb@/' <<<"$a")
    "$R" pipe --db "$DB" --verp-secret-file verp.key --sender MAILER-DAEMON --recipient "$t" < forged.eml 2>err; rc=$?
    check "$L forged signature: exit 0" [ $rc = 0 ]
    check "$L forged signature: named" grep -q '^rebound: backscatter: .*; a forged signed return path' err
    check "$L forged signature: contact unchanged" [ "$(status_of "$DB" victim@example.be)" = active ]
    # --require-known-send without a secret: strict too
    "$R" pipe --db "$DB" --require-known-send --recipient bounces@bounce.example.org < forged.eml 2>err; rc=$?
    check "$L require-known-send: not applied" grep -q '^rebound: backscatter: .*; --require-known-send' err
    check "$L require-known-send: contact unchanged" [ "$(status_of "$DB" victim@example.be)" = active ]

    # -- a legitimate bounce: our signed return path
    "$R" pipe --db "$DB" --verp-secret-file verp.key --sender MAILER-DAEMON --recipient "$a" < forged.eml 2>err; rc=$?
    check "$L signed: exit 0" [ $rc = 0 ]
    check "$L signed: legitimate" grep -q '^rebound: legitimate: victim@example.be userunknown/hard -> disabled; signed return path for victim@example.be' err
    check "$L signed: applied" [ "$(status_of "$DB" victim@example.be)" = bounced ]
    # Postfix logs about the first 100 characters of a delivery's output: what happened comes first
    check "$L signed: verdict and record in the first 100 characters" grep -q 'rebound: legitimate: victim@example.be userunknown/hard -> disabled' <(head -c 100 err)

    # -- a legitimate bounce: no signature, but a Message-ID we sent to that recipient
    dsn jan@example.be nl-7@example.org > jan.eml
    "$R" pipe --db "$DB" --verp-secret-file verp.key --recipient bounces@bounce.example.org < jan.eml 2>err
    check "$L unknown send: not applied" [ "$(status_of "$DB" jan@example.be)" = active ]
    $addsend nl-7@example.org jan@example.be || bad "$L cannot add a send"
    "$R" pipe --db "$DB" --verp-secret-file verp.key --recipient bounces@bounce.example.org < jan.eml 2>err; rc=$?
    check "$L known send: exit 0" [ $rc = 0 ]
    check "$L known send: legitimate" grep -q '^rebound: legitimate: .*; Message-ID <nl-7@example.org> was sent to jan@example.be' err
    check "$L known send: applied" [ "$(status_of "$DB" jan@example.be)" = bounced ]

    # -- one address mailed twice, both sends stored by rebound maillog: a
    #    genuine NDR for the second mail is no backscatter
    for m in 1 2; do
        echo "Nov 16 1$m:00:00 mx1 postfix/cleanup[501]: 4Xk3Fz1QbNz9sT$m: message-id=<nl-twice-$m@example.org>"
        echo "Nov 16 1$m:00:00 mx1 postfix/qmgr[502]: 4Xk3Fz1QbNz9sT$m: from=<newsletter@example.org>, size=4321, nrcpt=1 (queue active)"
        echo "Nov 16 1$m:00:01 mx1 postfix/smtp[503]: 4Xk3Fz1QbNz9sT$m: to=<twice@example.be>, relay=mx.example.be[192.0.2.20]:25, delay=1, delays=0.1/0/0.4/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 9A$m)"
        echo "Nov 16 1$m:00:01 mx1 postfix/qmgr[502]: 4Xk3Fz1QbNz9sT$m: removed"
    done > twice.log
    touch -d '2026-11-17 00:00:00 UTC' twice.log
    out=$("$R" maillog --commit --no-state --db "$DB" --now 2026-11-17T00:00:00Z twice.log 2>&1)
    check "$L mailed twice: both sends stored" grep -q 'accepted deliveries stored (to tie later NDRs to their send): 2$' <<<"$out"
    dsn twice@example.be nl-twice-2@example.org > twice.eml
    "$R" pipe --db "$DB" --require-known-send --recipient bounces@bounce.example.org < twice.eml 2>err; rc=$?
    check "$L mailed twice, NDR for the second: exit 0" [ $rc = 0 ]
    check "$L mailed twice, NDR for the second: legitimate" grep -q '^rebound: legitimate: twice@example.be userunknown/hard -> disabled; .*Message-ID <nl-twice-2@example.org> was sent to twice@example.be' err
    check "$L mailed twice, NDR for the second: applied" [ "$(status_of "$DB" twice@example.be)" = bounced ]

    # -- a bounce that names nobody: the VERP recipient (plain and signed) says who
    "$R" pipe --db "$DB" --recipient 'news+verp=example.be@bounce.example.org' < anonymous.eml 2>err; rc=$?
    check "$L plain VERP: exit 0" [ $rc = 0 ]
    check "$L plain VERP: the recipient it names" grep -q '^rebound: unverified: verp@example.be userunknown/hard -> disabled; .*; verp, 1 record;' err
    check "$L plain VERP: applied" [ "$(status_of "$DB" verp@example.be)" = bounced ]
    a=$("$R" verp sign --secret-file verp.key --domain bounce.example.org fwd@example.be)
    dsn forwarded-to@elsewhere.example nl-9@example.org "$a" > fwd.eml
    "$R" pipe --db "$DB" --verp-secret-file verp.key --recipient "$a" < fwd.eml 2>err; rc=$?
    check "$L signed, forwarded: the return path's recipient" grep -q '^rebound: legitimate: fwd@example.be userunknown/hard -> disabled;' err
    check "$L signed, forwarded: applied" [ "$(status_of "$DB" fwd@example.be)" = bounced ]

    # -- "Authenticated sender: one of ours": a warning, still exit 0
    dsn stranger@far.example spam-1@example.org bounces@bounce.example.org sales@example.org > auth.eml
    "$R" pipe --db "$DB" --verp-secret-file verp.key --recipient bounces@bounce.example.org --our-domains example.org \
        < auth.eml 2>err; rc=$?
    check "$L compromised: exit 0" [ $rc = 0 ]
    check "$L compromised: warning" grep -q 'WARNING compromised account? .*Authenticated sender: sales@example.org' err
    dsn stranger@far.example spam-2@example.org bounces@bounce.example.org joe@isp.example > auth2.eml
    "$R" pipe --db "$DB" --recipient bounces@bounce.example.org --our-domains example.org < auth2.eml 2>err
    check "$L someone else's account: no warning" bash -c "! grep -q WARNING err"
    # lenient: the hacked account's bounce for a contact of ours is recorded
    # with alert compromised_account, and never disables it
    "$R" contacts import --create --db "$DB" <(printf 'email,source\nvictim2@example.be,Website\n') >/dev/null 2>&1
    dsn victim2@example.be spam-3@example.org bounces@bounce.example.org sales@example.org > auth3.eml
    "$R" pipe --db "$DB" --recipient bounces@bounce.example.org --our-domains example.org < auth3.eml 2>err; rc=$?
    check "$L hacked, lenient: exit 0" [ $rc = 0 ]
    check "$L hacked, lenient: warning" grep -q 'WARNING compromised account? .*Authenticated sender: sales@example.org' err
    check "$L hacked, lenient: recorded with the alert" grep -q 'victim2@example.be userunknown/hard -> recorded (alert compromised_account)' err
    check "$L hacked, lenient: contact unchanged" [ "$(status_of "$DB" victim2@example.be)" = active ]
    # never sent (--require-known-send), from our domain, submitted with
    # authentication to our own server (no account in the header): an account
    dsn victim2@example.be spam-4@example.org bounces@bounce.example.org > sub.eml
    "$R" pipe --db "$DB" --require-known-send --recipient bounces@bounce.example.org --our-domains example.org \
        < sub.eml 2>err; rc=$?
    check "$L submitted to our server: exit 0" [ $rc = 0 ]
    check "$L submitted to our server: warning naming the sender" grep -q 'WARNING compromised account? newsletter@example.org sent mail we never sent through our own server' err
    check "$L submitted to our server: not applied" grep -q '^rebound: backscatter: victim2@example.be userunknown/hard -> not applied' err
    check "$L submitted to our server: contact unchanged" [ "$(status_of "$DB" victim2@example.be)" = active ]

    # -- --check writes nothing
    dsn kim2@example.be nl-2@example.org > k2.eml
    "$R" contacts import --create --db "$DB" <(printf 'email,source\nkim2@example.be,Website\n') >/dev/null 2>&1
    "$R" pipe --check --db "$DB" --recipient bounces@bounce.example.org < k2.eml 2>err; rc=$?
    check "$L --check: exit 0, says so" grep -q '^rebound: unverified (--check: nothing written): kim2@example.be userunknown/hard -> disabled' err
    check "$L --check: nothing written" [ "$(status_of "$DB" kim2@example.be)" = active ]

    # -- the store cannot be written: 75, and the same message applies on retry
    case $DB in
    postgres*)
        "$R" pipe --db 'postgresql://nobody@127.0.0.1:1/none?connect_timeout=2' --recipient b@bounce.example.org \
            < k2.eml 2>err; rc=$?
        check "$L unreachable server: exit 75" [ $rc = 75 ]
        check "$L unreachable server: says the message is kept" grep -q '^rebound: try again later (exit 75, message kept): the store cannot be opened' err
        # a row lock held by another transaction: lock_timeout (from REBOUND_LOCK_TIMEOUT), 75, then the retry
        # (psql reads a FIFO: the transaction ends when the test says ROLLBACK, not when a
        # killed client is noticed)
        rm -f pglock.ready pglock.fifo; mkfifo pglock.fifo
        psql -q "$DB" < pglock.fifo >/dev/null 2>&1 &
        locker=$!
        exec 7>pglock.fifo
        echo "BEGIN; SELECT 1 FROM contacts WHERE email_norm = 'kim2@example.be' FOR UPDATE;" >&7
        echo "\\! touch pglock.ready" >&7
        for _ in $(seq 100); do [ -e pglock.ready ] && break; sleep 0.1; done
        local t0=$SECONDS
        /usr/bin/env REBOUND_LOCK_TIMEOUT=1 "$R" pipe --db "$DB" --sender "" --recipient b@bounce.example.org < k2.eml 2>err; rc=$?
        check "$L locked row: exit 75" [ $rc = 75 ]
        check "$L locked row: gave up within a few seconds" [ $((SECONDS - t0)) -le 5 ]
        check "$L locked row: says so" grep -q '^rebound: try again later (exit 75, message kept): .*lock' err
        echo "ROLLBACK;" >&7; exec 7>&-; wait "$locker" 2>/dev/null; locker=
        check "$L locked row: nothing applied" [ "$(status_of "$DB" kim2@example.be)" = active ]
        /usr/bin/env REBOUND_LOCK_TIMEOUT=1 "$R" pipe --db "$DB" --sender "" --recipient b@bounce.example.org < k2.eml 2>err; rc=$?
        check "$L retry after the row lock: exit 0" [ $rc = 0 ]
        check "$L retry after the row lock: applied" [ "$(status_of "$DB" kim2@example.be)" = bounced ]
        ;;
    *)
        rm -f lock.ready
        python3 - "$DB" <<'EOF' &
import sqlite3, sys, time, os
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN EXCLUSIVE")
open("lock.ready", "w").close()
time.sleep(30)
EOF
        locker=$!
        for _ in $(seq 100); do [ -e lock.ready ] && break; sleep 0.1; done
        local t0=$SECONDS
        REBOUND_LOCK_TIMEOUT=1 "$R" pipe --db "$DB" --recipient bounces@bounce.example.org < k2.eml 2>err; rc=$?
        check "$L locked store: exit 75" [ $rc = 75 ]
        check "$L locked store: gave up within a few seconds" [ $((SECONDS - t0)) -le 5 ]
        check "$L locked store: says the message is kept" grep -q '^rebound: try again later (exit 75, message kept): .*locked' err
        check "$L locked store: output does not start with a status code" bash -c "! grep -qE '^[45]\.[0-9]' err"
        # the other helper's (real Postfix) command line: env + --sender with an empty value
        /usr/bin/env REBOUND_LOCK_TIMEOUT=1 "$R" pipe --db "$DB" --sender "" --recipient bounces@bounce.example.org \
            < k2.eml 2>err; rc=$?
        check "$L locked store, master.cf form: exit 75" [ $rc = 75 ]
        kill "$locker" 2>/dev/null; wait "$locker" 2>/dev/null; locker=
        check "$L locked store: nothing applied" [ "$(status_of "$DB" kim2@example.be)" = active ]
        /usr/bin/env REBOUND_LOCK_TIMEOUT=1 "$R" pipe --db "$DB" --sender "" --recipient bounces@bounce.example.org \
            < k2.eml 2>err; rc=$?
        check "$L retry after the lock: exit 0" [ $rc = 0 ]
        check "$L retry after the lock: applied" [ "$(status_of "$DB" kim2@example.be)" = bounced ]
        "$R" pipe --db /nonexistent-dir/x/rebound.db --recipient b@bounce.example.org < k2.eml 2>err; rc=$?
        check "$L store cannot be opened: exit 75" [ $rc = 75 ]
        check "$L store cannot be opened: named" grep -q '/nonexistent-dir/x/rebound.db' err
        ;;
    esac
}

sqlite_send() {
    python3 - "$work/a.db" "$1" "$2" <<'EOF'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("INSERT INTO sends (key, queue_id, message_id, recipient_norm, sent_at) VALUES (?, 'Q1', ?, ?, 1800000000)",
          ("test-" + sys.argv[2] + sys.argv[3], sys.argv[2], sys.argv[3]))
c.commit()
EOF
}
run_backend sqlite "$work/a.db" sqlite_send

if [ -n "${REBOUND_TEST_PG:-}" ]; then
    base=${REBOUND_TEST_PG%%\?*}; query=${REBOUND_TEST_PG#*\?}
    [ "$query" = "$REBOUND_TEST_PG" ] && query=
    psql -q "$REBOUND_TEST_PG" -c "DROP DATABASE IF EXISTS rebound_pipe_cli" -c "CREATE DATABASE rebound_pipe_cli" \
        >/dev/null 2>&1 || bad "cannot create PostgreSQL database rebound_pipe_cli"
    PGURL="${base%/*}/rebound_pipe_cli${query:+?$query}"
    pg_send() {
        psql -q "$PGURL" -v mid="$1" -v rcpt="$2" >/dev/null <<'EOF'
INSERT INTO sends (key, queue_id, message_id, recipient_norm, sent_at)
VALUES ('test-' || :'mid' || :'rcpt', 'Q1', :'mid', :'rcpt', 1800000000);
EOF
    }
    run_backend postgresql "$PGURL" pg_send
else
    echo "SKIP-PART: PostgreSQL part skipped: REBOUND_TEST_PG is not set"
fi

# ---- what never needs a store ------------------------------------------------------------
echo "== input limits and the command line"
DB=$work/a.db
"$R" pipe --help >out 2>&1; check "pipe --help: 0" [ $? = 0 ]
check "pipe --help: usage" grep -q 'usage: rebound pipe' out
{ dsn kim@example.be nl-1@example.org; head -c 3000 /dev/zero | tr '\0' 'x'; echo; } > big.eml
"$R" pipe --db "$DB" --max-size 2K --recipient b@bounce.example.org < big.eml 2>err; rc=$?
check "too big: exit 0 (accepted)" [ $rc = 0 ]
check "too big: logged with its size" grep -qE '^rebound: accepted, not analysed: message of [0-9]+ bytes is over --max-size 2048' err
"$R" pipe --db "$DB" < /dev/null 2>err; rc=$?
check "empty input: exit 0" [ $rc = 0 ]
check "empty input: logged" grep -q 'empty message' err
head -c 20000 /dev/urandom > junk.bin
"$R" pipe --db "$DB" --recipient b@bounce.example.org < junk.bin 2>err; rc=$?
check "binary junk: exit 0 (accepted)" [ $rc = 0 ]
check "binary junk: logged" grep -q 'accepted, nothing applied' err
"$R" pipe --db "$DB" --bogus < kim.eml 2>err; rc=$?
check "bad option: 75 (a master.cf typo must not bounce bounces)" [ $rc = 75 ]
check "bad option: named" grep -q 'unknown option --bogus' err
"$R" pipe --db "$DB" --verp-secret-file /nonexistent/key < kim.eml 2>err; rc=$?
check "missing secret file: 75" [ $rc = 75 ]
check "missing secret file: named" grep -q '/nonexistent/key' err
"$R" pipe --db "$DB" --recipient < kim.eml 2>err; rc=$?
check "a value missing at the end is empty, not an error" [ $rc = 0 ]
"$R" pipe --db="$DB" --sender= --recipient=b@bounce.example.org --queue-id=4C2A1 < notbounce.eml 2>err; rc=$?
check "--opt=value form and the queue ID in the log" grep -q 'queue_id=4C2A1 from=<> to=<b@bounce.example.org>' err

# ---- rebound verp sign / verify -----------------------------------------------------------
echo "== verp"
a=$("$R" verp sign --secret-file verp.key --domain bounce.example.org Jan@Example.BE); rc=$?
check "sign: exit 0" [ $rc = 0 ]
check "sign: the form" grep -qE '^bounce-jan=example\.be-[a-z2-7]{12}@bounce\.example\.org$' <<<"$a"
check "verify: the recipient" [ "$("$R" verp verify --secret-file verp.key "$a")" = jan@example.be ]
check "decode: the recipient, unchecked" [ "$("$R" verp decode "$a")" = jan@example.be ]
t=$(sed 's/^bounce-jan=/bounce-jon=/' <<<"$a")
"$R" verp verify --secret-file verp.key "$t" >out 2>err; rc=$?
check "verify a tampered address: exit 1" [ $rc = 1 ]
check "verify a tampered address: forged" grep -q 'forged' err
check "verify a tampered address: nothing on stdout" [ ! -s out ]
head -c 32 /dev/urandom | base64 > other.key
"$R" verp verify --secret-file other.key "$a" >/dev/null 2>&1; check "verify with another secret: exit 1" [ $? = 1 ]
"$R" verp verify --secret-file verp.key --now 2001-01-01 "$a" >/dev/null 2>err; check "verify long after: exit 1" [ $? = 1 ]
check "verify long after: expired" grep -q expired err
"$R" verp verify --secret-file verp.key --max-age-days 0 --now "$(date -u -d '+400 days' +%F)" "$a" >/dev/null 2>&1
check "max-age-days 0: never expires" [ $? = 0 ]
"$R" verp verify --secret-file verp.key bounce-123456789@example.com >/dev/null 2>&1; check "verify unsigned: 1" [ $? = 1 ]
echo short > short.key
"$R" verp sign --secret-file short.key --domain b.example.org a@example.org >/dev/null 2>err; check "short secret: 66" [ $? = 66 ]
check "short secret: says how to make one" grep -q 'head -c 32 /dev/urandom' err
"$R" verp sign --domain b.example.org a@example.org >/dev/null 2>&1; check "sign without a secret: 64" [ $? = 64 ]
"$R" verp sign --secret-file verp.key --prefix my-list --domain b.example.org a@example.org >/dev/null 2>&1
check "sign with a '-' in the prefix: 1" [ $? = 1 ]
check "plain VERP still decodes" [ "$("$R" verp decode news+a=example.com@b.example.org)" = a@example.com ]

# ---- rebound postfix-config ---------------------------------------------------------------
echo "== postfix-config"
"$R" postfix-config --domain bounce.example.org --user rebound --db /var/lib/rebound/rebound.db >cfg.txt 2>err; rc=$?
check "postfix-config: exit 0" [ $rc = 0 ]
realbin=$(readlink -f "$R")
check "postfix-config: master.cf with this binary" grep -qF "user=rebound argv=" cfg.txt
check "postfix-config: the binary's real path" grep -qF "$realbin pipe --db /var/lib/rebound/rebound.db --verp-secret-file /etc/rebound/verp.key" cfg.txt
check "postfix-config: the pipe macros" grep -qF -- '--queue-id ${queue_id} --sender ${sender} --recipient ${recipient}' cfg.txt
check "postfix-config: recipient limit" grep -q '^rebound_destination_recipient_limit = 1$' cfg.txt
check "postfix-config: escaped domain" grep -qF '/^bounce[-+][^@]+@bounce\.example\.org$/    OK' cfg.txt
"$R" postfix-config --domain 'bad domain' >/dev/null 2>&1; check "postfix-config bad domain: 64" [ $? = 64 ]
"$R" postfix-config --user root >/dev/null 2>&1; check "postfix-config user root: 64" [ $? = 64 ]
mkdir pf
"$R" postfix-config --domain bounce.example.org --write-dir pf >/dev/null 2>&1; rc=$?
check "postfix-config --write-dir: exit 0" [ $rc = 0 ]
for f in main.cf master.cf rebound_transport rebound_recipients setup.sh; do check "wrote $f" [ -s pf/$f ]; done
check "setup.sh is valid sh" sh -n pf/setup.sh
"$R" postfix-config --domain example.com --shared-domain >shared.txt 2>&1
check "shared domain: only return paths go to the pipe" grep -qF '/^bounce[-+][^@]*@example\.com$/    rebound:' shared.txt
check "shared domain: local recipients" grep -q '^local_recipient_maps = .*regexp:/etc/postfix/rebound_recipients' shared.txt
if command -v postmap >/dev/null && command -v postconf >/dev/null; then
    # a scratch configuration directory: the system's main.cf/master.cf (or empty
    # ones) with the snippets appended
    mkdir pfc
    cp /etc/postfix/main.cf pfc/ 2>/dev/null || : > pfc/main.cf
    cp /etc/postfix/master.cf pfc/ 2>/dev/null || : > pfc/master.cf
    cat pf/main.cf >> pfc/main.cf
    cat pf/master.cf >> pfc/master.cf
    q() { postmap -c "$work/pfc" -q "$1" "regexp:$work/pf/$2"; }
    check "postmap: a signed return path is a valid recipient" [ "$(q "$a" rebound_recipients)" = OK ]
    check "postmap: another prefix is not (--prefix sets it)" [ -z "$(q news+x=example.com@bounce.example.org rebound_recipients)" ]
    check "postmap: bounce+VERP accepted" [ "$(q bounce+x=example.com@bounce.example.org rebound_recipients)" = OK ]
    check "postmap: anything else is not" [ -z "$(q postmaster@bounce.example.org rebound_recipients)" ]
    check "postmap: the transport" [ "$(q any@bounce.example.org rebound_transport)" = rebound: ]
    check "postmap: other domains keep their transport" [ -z "$(q any@example.org rebound_transport)" ]
    check "postconf reads the main.cf lines" [ "$(postconf -c pfc -h rebound_destination_recipient_limit 2>/dev/null)" = 1 ]
    check "postconf reads the master.cf service" bash -c "postconf -c pfc -M rebound/unix 2>/dev/null | grep -qF 'user=rebound argv=' && postconf -c pfc -M rebound/unix | grep -qF '$realbin pipe'"
else
    echo "SKIP-PART: postmap/postconf not installed: the Postfix table checks skipped"
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
