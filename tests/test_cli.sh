#!/usr/bin/env bash
# test_cli.sh -- the rebound command end to end: help, formats, filters,
# exit codes, hostile input.  Uses the project's own samples/.
set -u
BIN=${REBOUND_BIN:?}
SRC=${REBOUND_SRCDIR:?}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { if "$@"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: ${FUNCNAME[1]:-main}: $*"; fi; }
has() { grep -q -- "$2" "$1"; }

# --help / --version on every command
"$BIN" --help > "$T/h" 2>&1; ok test $? -eq 0; ok has "$T/h" "analyze"
"$BIN" --version > "$T/v"; ok has "$T/v" "rebound "
for c in analyze verp; do "$BIN" $c --help > "$T/h" 2>&1; ok test $? -eq 0; ok has "$T/h" "usage: rebound $c"; done
"$BIN" nosuchcommand >/dev/null 2>&1; ok test $? -eq 64

# analyze the samples: one record per bounce, the right reasons
"$BIN" analyze --format jsonl "$SRC/samples" > "$T/out.jsonl" 2> "$T/err"; ok test $? -eq 0
ok test "$(wc -l < "$T/out.jsonl")" -eq 6
ok has "$T/out.jsonl" '"recipient":"jan.peeters@contoso-mail.example","reason":"userunknown","status":"5.1.10","reply_code":"550","bounce_type":"hard","action":"disable"'
ok has "$T/out.jsonl" '"recipient":"piet@gmail.com","reason":"spamdetected".*"bounce_type":"blocked","action":"record"'
ok has "$T/out.jsonl" '"recipient":"marie@vol.example.nl","reason":"mailboxfull"'
# a "delivery delayed" warning: the sender still retries, so it is recorded, not counted
ok has "$T/out.jsonl" '"recipient":"info@traag.example.org","reason":"expired".*"bounce_type":"soft","action":"record".*"dsn_action":"delayed"'
ok has "$T/out.jsonl" '"original_message_id":"nl-2026-11-000123@sender.example"'
ok has "$T/out.jsonl" '"provider":"google"'
# every line is valid JSON with all keys
ok python3 -c "
import json,sys
keys=None
for l in open('$T/out.jsonl'):
    r=json.loads(l); k=list(r)
    assert keys in (None,k); keys=k
assert keys[:3]==['source','recipient','reason'], keys
"

# progress lines on stderr (not a terminal here), and the table format
"$BIN" analyze --progress-every 1 --jobs 1 --format table "$SRC/samples" > "$T/table.txt" 2> "$T/prog"; ok test $? -eq 0
ok has "$T/prog" "^progress: 7 messages"
ok has "$T/prog" "^done: 7 messages"
ok has "$T/prog" "^7 messages: 6 bounces, 6 records, 1 not bounces"
ok has "$T/table.txt" "^SOURCE .*RECIPIENT .*REASON"
ok has "$T/table.txt" "jan.peeters@contoso-mail.example .*userunknown .*hard"
"$BIN" analyze --progress-every 0 "$SRC/samples" > /dev/null 2>&1; ok test $? -eq 64
"$BIN" analyze --format xml "$SRC/samples" > /dev/null 2>&1; ok test $? -eq 64

# --all also reports the non-bounce
"$BIN" analyze --all --format jsonl "$SRC/samples" > "$T/all.jsonl"; ok test "$(wc -l < "$T/all.jsonl")" -eq 7
ok has "$T/all.jsonl" 'not-a-bounce.eml.*not a bounce'

# filters: the seed's Office 365 investigation
"$BIN" analyze --format jsonl --subject-contains 'Undeliverable:' --body-contains "wasn't found at" \
    --write-csv "$T/o.csv" "$SRC/samples" > "$T/f.jsonl"; ok test $? -eq 0
ok test "$(wc -l < "$T/f.jsonl")" -eq 1
ok has "$T/f.jsonl" 'jan.peeters@contoso-mail.example'
ok test "$(head -1 "$T/o.csv" | tr -d '\r')" = "source,recipient,reason,status,reply_code,bounce_type,action,diagnostic,remote_mta,reporting_mta,provider,feedback_type,addresser,original_message_id,original_subject,date,decoded_by,smtp_command,dsn_action,original_recipient,evidence,rule,provider_source,alert,account"
ok test "$(wc -l < "$T/o.csv")" -eq 2

# CSV output has the same records as JSONL
"$BIN" analyze --format csv "$SRC/samples" > "$T/out.csv"; ok test "$(wc -l < "$T/out.csv")" -eq 7

# an mbox, gzip-compressed, from stdin; sources are PATH#N
for f in "$SRC"/samples/*.eml; do echo "From MAILER-DAEMON Mon Nov 23 10:00:00 2026"; sed 's/^From />From /' "$f"; echo; done > "$T/box.mbox"
"$BIN" analyze --format jsonl "$T/box.mbox" > "$T/mbox.jsonl"; ok test "$(wc -l < "$T/mbox.jsonl")" -eq 6
ok has "$T/mbox.jsonl" "box.mbox#2"
gzip -c "$T/box.mbox" > "$T/box.mbox.gz"
"$BIN" analyze --format jsonl "$T/box.mbox.gz" > "$T/gz.jsonl"; ok test "$(wc -l < "$T/gz.jsonl")" -eq 6
"$BIN" analyze --format jsonl - < "$T/box.mbox" > "$T/stdin.jsonl"; ok test "$(wc -l < "$T/stdin.jsonl")" -eq 6
# the same records whatever the number of threads
"$BIN" analyze --jobs 1 --format jsonl "$T/box.mbox" > "$T/j1.jsonl"; ok cmp -s "$T/j1.jsonl" "$T/mbox.jsonl"

# a Maildir
mkdir -p "$T/Maildir/cur" "$T/Maildir/new" "$T/Maildir/tmp"
cp "$SRC/samples/postfix-user-unknown.eml" "$T/Maildir/cur/1.host:2,S"
cp "$SRC/samples/qmail-no-mailbox.eml" "$T/Maildir/new/2.host"
cp "$SRC/samples/exim-mailbox-full.eml" "$T/Maildir/tmp/3.host"   # tmp/ is not delivered yet
"$BIN" analyze --format jsonl "$T/Maildir" > "$T/md.jsonl"; ok test "$(wc -l < "$T/md.jsonl")" -eq 2

# hostile input: clear messages naming the file, exit 1, never a crash
: > "$T/empty.eml"
"$BIN" analyze --format jsonl "$T/empty.eml" > /dev/null 2> "$T/e"; ok test $? -eq 1; ok has "$T/e" "empty.eml"
head -c 65536 /dev/urandom > "$T/junk.bin"
"$BIN" analyze --format jsonl "$T/junk.bin" > /dev/null 2> "$T/e"; rc=$?; ok test $rc -eq 0 -o $rc -eq 1
python3 -c "print('X-Long: ' + 'a'*(1<<20)); print('From: MAILER-DAEMON@x.example'); print('Subject: failure notice'); print(); print('<u@example.org>:'); print('550 5.1.1 no such user')" > "$T/long.eml"
"$BIN" analyze --format jsonl "$T/long.eml" > "$T/long.jsonl" 2> "$T/e"; ok test $? -eq 0
ok has "$T/long.jsonl" '"recipient":"u@example.org"'
head -c 1500 "$SRC/samples/postfix-user-unknown.eml" > "$T/trunc.eml"   # MIME cut in the middle
"$BIN" analyze --format jsonl "$T/trunc.eml" > /dev/null 2>&1; rc=$?; ok test $rc -eq 0 -o $rc -eq 1
printf 'Subject: \xff\xfe broken \xc3\x28 utf8\nFrom: MAILER-DAEMON@x.example\n\n<v@example.org>: 550 5.1.1 unknown \xe9t\xe9\n' > "$T/utf.eml"
"$BIN" analyze --format jsonl "$T/utf.eml" > "$T/utf.jsonl" 2>/dev/null; ok python3 -c "import json; [json.loads(l) for l in open('$T/utf.jsonl')]"
"$BIN" analyze --format jsonl "$T/nonexistent" > /dev/null 2> "$T/e"; ok test $? -eq 66; ok has "$T/e" "nonexistent"

# a broken rules file is named with its line
printf 'userunknown ~ (unclosed\n' > "$T/bad.rules"
"$BIN" analyze --rules "$T/bad.rules" "$SRC/samples" > /dev/null 2> "$T/e"; ok test $? -eq 78; ok has "$T/e" "bad.rules:1"
printf 'nosuchreason status=5.1.1\n' > "$T/bad2.rules"
"$BIN" analyze --rules "$T/bad2.rules" "$SRC/samples" > /dev/null 2> "$T/e"; ok test $? -eq 78; ok has "$T/e" "unknown reason"

# policy is data: mailbox full becomes soft with one switch
sed 's/^set mailboxfull hard/set mailboxfull soft/' "$SRC/data/policy.conf" > "$T/soft.policy"
"$BIN" analyze --policy "$T/soft.policy" --format jsonl "$SRC/samples/exim-mailbox-full.eml" > "$T/p.jsonl"
ok has "$T/p.jsonl" '"reason":"mailboxfull".*"bounce_type":"soft","action":"count"'

# verp
ok test "$("$BIN" verp decode 'list+user=example.com@bounces.example.org')" = "user@example.com"
ok test "$("$BIN" verp encode --prefix list --domain bounces.example.org user@example.com)" = "list+user=example.com@bounces.example.org"
"$BIN" verp decode bounce-12345@example.com > /dev/null 2>&1; ok test $? -eq 1


# evidence and precedence: a phrase that names the cause beats a weak fallback,
# and the record says which rule decided
printf 'From: MAILER-DAEMON@mx.example.net\nTo: n@impex.example\nSubject: Undelivered Mail Returned to Sender\n\n  x@example.net\n    550 <x@example.net>: User unknown\n' > "$T/uu.eml"
"$BIN" analyze --format jsonl -q "$T/uu.eml" > "$T/uu.jsonl"
ok has "$T/uu.jsonl" '"recipient":"x@example.net","reason":"userunknown".*"bounce_type":"hard","action":"disable"'
ok has "$T/uu.jsonl" '"evidence":"phrase","rule":"rules.d/[0-9a-z-]*.conf:[0-9]*"'
# explain names the text, every rule that matched (the winner first) and the policy step
"$BIN" explain "$T/uu.eml" > "$T/ex.txt"; ok test $? -eq 0
ok has "$T/ex.txt" 'diagnostic "550 <x@example.net>: User unknown"'
ok has "$T/ex.txt" '=> userunknown *phrase *rules.d/'
ok has "$T/ex.txt" 'policy *userunknown -> hard, disable'
"$BIN" analyze --explain -q "$T/uu.eml" | cmp -s - "$T/ex.txt"; ok test $? -eq 0
# ...and says what became of a message that is no bounce
printf 'From: a@b.example\nTo: c@d.example\nSubject: hello\n\nhi\n' | "$BIN" explain - > "$T/nb.txt"
ok has "$T/nb.txt" 'not a bounce'

# weak evidence never disables: a rules table that knows only the reply code
printf 'userunknown reply=550 command=-\n' > "$T/weak.rules"
"$BIN" analyze --rules "$T/weak.rules" --format jsonl -q "$T/uu.eml" > "$T/w.jsonl"
ok has "$T/w.jsonl" '"reason":"userunknown".*"bounce_type":"soft","action":"count".*"evidence":"reply"'
"$BIN" explain --rules "$T/weak.rules" "$T/uu.eml" > "$T/wx.txt"
ok has "$T/wx.txt" 'evidence reply is too weak to disable'
# ...and policy.conf can lower the bar
sed 's/^set disable_min_evidence status/set disable_min_evidence reply/' "$SRC/data/policy.conf" > "$T/reply.policy"
"$BIN" analyze --rules "$T/weak.rules" --policy "$T/reply.policy" --format jsonl -q "$T/uu.eml" > "$T/w2.jsonl"
ok has "$T/w2.jsonl" '"bounce_type":"hard","action":"disable"'
# include: a missing file is an error naming the line; a glob may match nothing
printf 'include nothere.conf\n' > "$T/inc.rules"
"$BIN" analyze --rules "$T/inc.rules" "$T/uu.eml" > /dev/null 2> "$T/e"; ok test $? -eq 78; ok has "$T/e" 'inc.rules:1: include'
printf 'include none.d/*.conf\nuserunknown ~ user unknown\n' > "$T/inc2.rules"
"$BIN" analyze --rules "$T/inc2.rules" --format jsonl -q "$T/uu.eml" > "$T/i2.jsonl"; ok has "$T/i2.jsonl" '"rule":"inc2.rules:2"'
# one unusable address in a DSN loses that recipient only, with a warning
cat > "$T/dsn2.eml" <<'EOM'
From: MAILER-DAEMON@mx.example.org
To: newsletter@impex.example
Subject: Delivery Status Notification (Failure)
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

Delivery failed.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org

Final-Recipient: rfc822; not an address at all
Action: failed
Status: 5.1.1

Final-Recipient: rfc822; fwd@example.net
Original-Recipient: rfc822; subscriber@example.com
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 No such user here

--B--
EOM
"$BIN" analyze --format jsonl "$T/dsn2.eml" > "$T/d2.jsonl" 2> "$T/e"; ok test $? -eq 0
ok has "$T/d2.jsonl" '"recipient":"fwd@example.net".*"original_recipient":"subscriber@example.com"'
ok has "$T/e" 'warning: .*dsn2.eml: Final-Recipient "rfc822; not an address at all" is not a usable address'

# -- backscatter and hacked accounts (seed 002): the guard in the mailbox route.
# A Postfix DSN: envelope To/X-Original-To $1, final recipient $2, the returned
# message's Received: lines $3, its From $4 and Message-ID $5.
returned() {
cat <<EOM
From: MAILER-DAEMON@mx.far.example (Mail Delivery System)
To: $1
X-Original-To: $1
Date: Tue, 17 Nov 2026 10:00:03 +0100
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="BND"

--BND
Content-Type: text/plain

Your message could not be delivered.

--BND
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.far.example

Final-Recipient: rfc822; $2
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <$2>: Recipient address rejected: User unknown

--BND
Content-Type: text/rfc822-headers

$3
From: $4
To: $2
Subject: Cheap pills
Message-ID: <$5>

--BND--
EOM
}
mkdir -p "$T/guard"
returned info@example.org victim@example.be 'Received: from dsl-7.botnet.example ([203.0.113.9]) by mx.far.example with SMTP id q1' \
    info@example.org 20261117.abc@botnet.example > "$T/guard/1-backscatter.eml"
returned sales@example.org stranger@far.example 'Received: from [198.51.100.7] by mail.example.org (Postfix) with ESMTPSA id 4C2A1E0123
	(Authenticated sender: sales@example.org)' sales@example.org 20261117.def@mail.example.org > "$T/guard/2-hacked.eml"
returned newsletter@example.org jan@example.be 'Received: by mail.example.org (Postfix, from userid 1000) id 7F3A2' \
    newsletter@example.org nl-1@example.org > "$T/guard/3-genuine.eml"
printf 'email,source\nvictim@example.be,Website\njan@example.be,Website\nstranger@far.example,Website\n' > "$T/guard.csv"
GDB="$T/guard.db"
"$BIN" contacts import --create --db "$GDB" "$T/guard.csv" >/dev/null 2>&1; ok test $? -eq 0
# no sends yet: said, and nothing is taken for backscatter by its Message-ID
"$BIN" analyze --db "$GDB" --our-domains example.org --format jsonl "$T/guard" > "$T/g0.jsonl" 2> "$T/g0.err"; ok test $? -eq 0
ok has "$T/g0.err" 'note: the store holds no sends yet'
ok has "$T/g0.jsonl" '"recipient":"victim@example.be",.*"action":"disable",.*"alert":""'
python3 - "$GDB" <<'EOP'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("INSERT INTO sends (key, queue_id, message_id, recipient_norm, sent_at) VALUES ('t1', 'Q1', 'nl-1@example.org', 'jan@example.be', 1800000000)")
c.commit()
EOP
for j in 1 2; do
    "$BIN" analyze --db "$GDB" --our-domains example.org --jobs $j --format jsonl "$T/guard" > "$T/g.jsonl" 2> "$T/g.err"; ok test $? -eq 0
    ok test "$(wc -l < "$T/g.jsonl")" -eq 3
    ok has "$T/g.jsonl" '"recipient":"victim@example.be","reason":"userunknown",.*"bounce_type":"hard","action":"record",.*"alert":"backscatter"'
    ok has "$T/g.jsonl" '"recipient":"stranger@far.example",.*"action":"record",.*"alert":"compromised_account"'
    ok has "$T/g.jsonl" '"recipient":"jan@example.be",.*"action":"disable",.*"alert":""'
    ok has "$T/g.err" 'warning: .*2-hacked.eml: compromised account sales@example.org? .*Authenticated sender'
    ok test "$(grep -c 'compromised account' "$T/g.err")" -eq 1
done
# the hacked account without a store or options: its own envelope domain is ours
"$BIN" analyze --format jsonl "$T/guard/2-hacked.eml" > "$T/g1.jsonl" 2> "$T/g1.err"; ok test $? -eq 0
ok has "$T/g1.jsonl" '"alert":"compromised_account"'
ok has "$T/g1.err" 'compromised account sales@example.org'
# without --db: the spam run's bounce cannot be told from ours (no evidence): no alert
"$BIN" analyze --our-domains example.org --format jsonl "$T/guard/1-backscatter.eml" > "$T/g2.jsonl" 2>/dev/null
ok has "$T/g2.jsonl" '"alert":""'
# --explain says it
"$BIN" analyze --db "$GDB" --explain "$T/guard/1-backscatter.eml" > "$T/g.txt" 2>/dev/null
ok has "$T/g.txt" 'alert         backscatter: a bounce of mail never sent from here; recorded only'
# apply: the alerts are recorded, never disable; our own send's bounce does
"$BIN" apply --db "$GDB" --commit "$T/g.jsonl" > "$T/ga.out" 2>&1; ok test $? -eq 0
for a in victim@example.be stranger@far.example; do
    ok test "$("$BIN" contacts show --db "$GDB" $a | awk '/^status:/{print $2}')" = active
    ok test "$("$BIN" contacts show --db "$GDB" $a | grep -c ' recorded ')" -eq 1
done
ok test "$("$BIN" contacts show --db "$GDB" jan@example.be | awk '/^status:/{print $2}')" = bounced
# a signed-VERP secret: a bounce to an address it does not vouch for is backscatter
head -c 32 /dev/urandom | base64 > "$T/verp.key"
"$BIN" analyze --verp-secret-file "$T/verp.key" --format jsonl "$T/guard/3-genuine.eml" > "$T/g3.jsonl" 2>/dev/null
ok has "$T/g3.jsonl" '"action":"record",.*"alert":"backscatter"'
a=$("$BIN" verp sign --secret-file "$T/verp.key" --domain bounce.example.org jan@example.be)
sed "s/^X-Original-To: .*/X-Original-To: $a/" "$T/guard/3-genuine.eml" > "$T/signed.eml"
"$BIN" analyze --verp-secret-file "$T/verp.key" --format jsonl "$T/signed.eml" > "$T/g4.jsonl" 2>/dev/null
ok has "$T/g4.jsonl" '"action":"disable",.*"alert":""'
"$BIN" analyze --require-known-send "$T/guard" >/dev/null 2>"$T/g5.err"; ok test $? -eq 64
ok has "$T/g5.err" 'needs --db'
"$BIN" analyze --verp-secret-file "$T/nonexistent.key" "$T/guard" >/dev/null 2>"$T/g6.err"; ok test $? -eq 78
ok has "$T/g6.err" 'nonexistent.key'

# ---- a store is made only by `rebound init` (or contacts import --create)
cd "$T"
for cmd in "queue stats" "contacts export" "keys list" "report" "apply --check $SRC/samples/../examples/contacts.csv"; do
  # shellcheck disable=SC2086
  "$BIN" $cmd --db "$T/typo.db" > /dev/null 2> "$T/st.err"; rc=$?
  ok test "$rc" -eq 66
  ok has "$T/st.err" "rebound init --db $T/typo.db"
  ok test ! -e "$T/typo.db"
done
env -u REBOUND_DB "$BIN" queue stats > /dev/null 2>&1; ok test $? -eq 66
ok test ! -e "$T/rebound.db"                       # no store made in the working directory
"$BIN" queue stats --db mysql:foo.db > /dev/null 2> "$T/st.err"; ok test $? -eq 78
ok has "$T/st.err" "unknown kind of store"
ok test ! -e "$T/mysql:foo.db"
"$BIN" init --db "$T/made.db" > "$T/init.out"; ok test $? -eq 0
ok has "$T/init.out" "created store (sqlite), schema version"
"$BIN" init --db "$T/made.db" > "$T/init.out"; ok test $? -eq 0
ok has "$T/init.out" "already there"
"$BIN" queue stats --db "$T/made.db" > /dev/null; ok test $? -eq 0
printf 'email,source\na@example.be,Web\n' > "$T/one.csv"
"$BIN" contacts import --db "$T/new.db" "$T/one.csv" > /dev/null 2>&1; ok test $? -eq 66
"$BIN" contacts import --create --db "$T/new.db" "$T/one.csv" > /dev/null 2>&1; ok test $? -eq 0
"$BIN" contacts show --create --db "$T/new.db" a@example.be > /dev/null 2>&1; ok test $? -eq 64
cd - > /dev/null

# ---- options: one table per command; an unknown option is one line and 64
for c in init analyze apply contacts queue report maillog serve keys notify verp postfix-config; do
  case $c in contacts|queue) sub=$([ $c = contacts ] && echo show || echo stats) ;; verp) sub=decode ;; *) sub= ;; esac
  # shellcheck disable=SC2086
  "$BIN" $c $sub --no-such-option x > /dev/null 2> "$T/opt.err"; rc=$?
  ok test "$rc" -eq 64
  ok test "$(wc -l < "$T/opt.err")" -eq 1
  ok has "$T/opt.err" "no-such-option"
  ok has "$T/opt.err" "see \`rebound $c --help\`"
done
"$BIN" queue stats --db "$T/made.db" --now > /dev/null 2> "$T/opt.err"; ok test $? -eq 64
ok has "$T/opt.err" "needs a value"
"$BIN" contacts import --batch 0 --db "$T/made.db" "$T/one.csv" > /dev/null 2> "$T/opt.err"; ok test $? -eq 64
ok has "$T/opt.err" "batch"

# ---- the configuration file: the command line wins over the environment,
# which wins over the file; an unknown setting is refused
printf '[store]\nurl = %s\n' "$T/made.db" > "$T/rebound.conf"
"$BIN" contacts import --create --db "$T/other.db" "$T/one.csv" > /dev/null 2>&1
env -u REBOUND_DB REBOUND_CONFIG="$T/rebound.conf" "$BIN" queue stats > "$T/cf.out"; ok test $? -eq 0
ok has "$T/cf.out" "contacts:            0"          # made.db: empty
env -u REBOUND_DB "$BIN" queue stats --config "$T/rebound.conf" > "$T/cf.out"; ok test $? -eq 0
ok has "$T/cf.out" "contacts:            0"
REBOUND_DB="$T/other.db" "$BIN" queue stats --config "$T/rebound.conf" > "$T/cf.out"; ok test $? -eq 0
ok has "$T/cf.out" "contacts:            1"          # the environment beats the file
REBOUND_DB="$T/made.db" "$BIN" queue stats --db "$T/other.db" --config "$T/rebound.conf" > "$T/cf.out"
ok has "$T/cf.out" "contacts:            1"          # the command line beats both
printf '[store]\nurl = %s\n[mail]\nour-domain = example.org\n' "$T/made.db" > "$T/bad.conf"
"$BIN" queue stats --config "$T/bad.conf" > /dev/null 2> "$T/cf.err"; ok test $? -eq 78
ok has "$T/cf.err" "unknown setting 'our-domain' in \[mail\]"
"$BIN" queue stats --config "$T/none.conf" > /dev/null 2> "$T/cf.err"; ok test $? -eq 78
ok has "$T/cf.err" "none.conf"
# postfix-config --write-dir makes the directory
"$BIN" postfix-config --write-dir "$T/pf/a/b" > /dev/null; ok test $? -eq 0
ok test -s "$T/pf/a/b/master.cf"

echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
