#!/usr/bin/env bash
# The provider of every record and contact, end to end: the quick start's
# contact gets business_microsoft from its send's relay (maillog); a report's
# own MTA gives "ndr", a consumer domain "domain"; the contact keeps the
# strongest source (relay / ndr / api over domain); `contacts show` prints
# "provider: X (source)"; `notify --dry-run` has both fields, as the seed's
# curl posts them.  Against SQLite and, when REBOUND_TEST_PG names a server,
# PostgreSQL.
set -uo pipefail
R=${REBOUND_BIN:?}
SRC=${REBOUND_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
export TZ=UTC
pass=0 fail=0
ok()  { pass=$((pass+1)); }
bad() { fail=$((fail+1)); echo "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then ok; else bad "$what"; fi; }

work=$(mktemp -d /tmp/rebound-provider-cli.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"

prov() { "$R" contacts show --db "$1" "$2" 2>/dev/null | sed -n 's/^provider: *//p'; }

# a DSN for $1 written by $2 (Reporting-MTA), Remote-MTA $3 (may be empty),
# status $4 (5.1.1), text $5, date $6
dsn() {
  cat <<EOF
From: postmaster@sender.example
To: bounces@sender.example
Subject: Undeliverable: news
Date: ${6:-Tue, 17 Nov 2026 10:00:03 +0000}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

Delivery has failed.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; $2

Final-Recipient: rfc822; $1
Action: failed
Status: ${4:-5.1.1}
${3:+Remote-MTA: dns; $3
}Diagnostic-Code: smtp; 550 ${4:-5.1.1} ${5:-User unknown}

--B--
EOF
}

printf 'email,source\njan.peeters@contoso-mail.example,Website\nkim@hotmail.com,Website\nbob@fabrikam.example,Website\nann@gmail.com,Website\n' > contacts.csv
mkdir -p ndr
dsn kim@hotmail.com mx.sender.example "" > ndr/1-kim-domain.eml
dsn bob@fabrikam.example DB9PR01MB1234.eurprd01.prod.outlook.com "" > ndr/2-bob-ndr.eml
dsn jan.peeters@contoso-mail.example mx.sender.example "" > ndr/3-jan.eml
dsn ann@gmail.com mx.sender.example "" 5.7.1 "Message rejected as spam" > ndr/4-ann-domain.eml

# analyze: the record fields
"$R" analyze --format jsonl ndr > a.jsonl 2>/dev/null
field() { python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["recipient"] == sys.argv[2]: print(r["provider"] + "/" + r["provider_source"])' "$@"; }
check "analyze: prod.outlook.com is business_microsoft (ndr)" [ "$(field a.jsonl bob@fabrikam.example)" = business_microsoft/ndr ]
check "analyze: hotmail.com by its domain" [ "$(field a.jsonl kim@hotmail.com)" = consumer_microsoft/domain ]
check "analyze: no provider known" [ "$(field a.jsonl jan.peeters@contoso-mail.example)" = / ]

run_backend() {   # $1 label, $2 store
  local L=$1 DB=$2 out
  echo "== $L"
  "$R" contacts import --create --db "$DB" contacts.csv >/dev/null 2>&1 || bad "$L import"
  # the quick start: the send's relay (maillog), then the NDR that names no provider
  cp "$SRC/examples/mail.log" mail.log; touch -d '2026-11-25 00:00:00 UTC' mail.log
  "$R" maillog --commit --no-state -q --db "$DB" --now 2026-11-25T00:00:00Z mail.log >/dev/null 2>&1 || bad "$L maillog"
  check "$L maillog: the relay" [ "$(prov "$DB" jan.peeters@contoso-mail.example)" = "business_microsoft (relay)" ]
  "$R" analyze --write-csv b.csv ndr >/dev/null 2>&1
  "$R" apply --commit -q --db "$DB" --now 2026-11-25T00:00:00Z b.csv >/dev/null 2>&1 || bad "$L apply"
  check "$L the relay kept after a bounce that names none" [ "$(prov "$DB" jan.peeters@contoso-mail.example)" = "business_microsoft (relay)" ]
  check "$L ndr" [ "$(prov "$DB" bob@fabrikam.example)" = "business_microsoft (ndr)" ]
  check "$L domain" [ "$(prov "$DB" kim@hotmail.com)" = "consumer_microsoft (domain)" ]
  # a stronger source replaces a guess from the domain; a guess never replaces it
  # (blocks: recorded, the contact stays mailed and takes each one)
  check "$L blocked, by the domain" [ "$(prov "$DB" ann@gmail.com)" = "google (domain)" ]
  dsn ann@gmail.com mx.sender.example mx.fabrikam.mail.protection.outlook.com 5.7.1 "Spam" "Wed, 18 Nov 2026 10:00:03 +0000" > ann2.eml
  "$R" analyze --write-csv b2.csv ann2.eml >/dev/null 2>&1
  "$R" apply --commit -q --db "$DB" --now 2026-11-25T00:00:00Z b2.csv >/dev/null 2>&1
  check "$L ndr over domain" [ "$(prov "$DB" ann@gmail.com)" = "business_microsoft (ndr)" ]
  dsn ann@gmail.com mx.sender.example "" 5.7.1 "Blocked" "Thu, 19 Nov 2026 10:00:03 +0000" > ann3.eml
  "$R" analyze --write-csv b3.csv ann3.eml >/dev/null 2>&1
  "$R" apply --commit -q --db "$DB" --now 2026-11-25T00:00:00Z b3.csv >/dev/null 2>&1
  check "$L domain never over ndr" [ "$(prov "$DB" ann@gmail.com)" = "business_microsoft (ndr)" ]
  # the export has the source column
  check "$L export: provider, provider_source" grep -q '^jan.peeters@contoso-mail.example,.*,business_microsoft,relay,' <("$R" contacts export --db "$DB" 2>/dev/null)
  # notify posts both, as the seed's curl does (-d provider=... -d provider_source=...)
  out=$("$R" notify --url http://127.0.0.1:9/status --db "$DB" --dry-run --now 2026-11-25T00:00:00Z 2>/dev/null)
  check "$L notify --dry-run: jan with provider and source" grep -q '^[0-9]*,jan.peeters@contoso-mail.example,bounced,hard,.*,business_microsoft,relay,' <<<"$out"
  check "$L notify --dry-run: bob" grep -q '^[0-9]*,bob@fabrikam.example,bounced,hard,.*,business_microsoft,ndr,' <<<"$out"
  [ -n "$DNSPORT" ] && mx_checks "$L" "$DB"
}

# --resolve-mx against a dnsmasq on loopback that knows three custom domains:
# acme-corp.example (Exchange Online), shop.example (Google Workspace, two MX),
# nomx.example (no such domain); gone.example it refuses (no upstream): a
# temporary failure, not cached
DNSPORT= DNSPID=
start_dns() {
  command -v dnsmasq >/dev/null || [ -x /usr/sbin/dnsmasq ] || return 1
  local dm i; dm=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
  for i in 1 2 3 4 5; do
    DNSPORT=$((20000 + RANDOM % 30000))
    "$dm" --keep-in-foreground --no-resolv --no-hosts --no-poll --pid-file= --conf-file=/dev/null \
      --user="$(id -un)" --listen-address=127.0.0.1 --bind-interfaces --port=$DNSPORT \
      --mx-host=acme-corp.example,acme-corp-example.mail.protection.outlook.com,10 \
      --mx-host=shop.example,alt1.aspmx.l.google.com,10 --mx-host=shop.example,aspmx.l.google.com,5 \
      --mx-host=pipe-corp.example,pipe-corp-example.mail.protection.outlook.com,10 \
      --local=/nomx.example/ --log-queries --log-facility="$work/dns.log" 2>"$work/dns.err" &
    DNSPID=$!
    sleep 0.3
    kill -0 $DNSPID 2>/dev/null && return 0
  done
  DNSPORT=
  return 1
}
mx_checks() {   # $1 label, $2 store
  local L=$1 DB=$2
  printf 'email,source\na@acme-corp.example,Web\nb@shop.example,Web\nc@nomx.example,Web\nd@gone.example,Web\ne@acme-corp.example,Web\nf@acme-corp.example,Web\ng@pipe-corp.example,Web\n' > mx-c.csv
  "$R" contacts import --db "$DB" mx-c.csv >/dev/null 2>&1
  printf 'recipient,reason,status,date\n' > mx-b.csv
  for a in a@acme-corp.example b@shop.example c@nomx.example d@gone.example; do
    printf '%s,userunknown,5.1.1,2026-11-10T10:00:00Z\n' $a >> mx-b.csv
  done
  # without --resolve-mx: no look-up
  "$R" apply --check --db "$DB" --now 2026-11-25T00:00:00Z mx-b.csv >/dev/null 2>mx.err
  check "$L no --resolve-mx: no DNS" bash -c "! grep -q 'MX look-ups' mx.err"
  : > "$work/dns.log"
  "$R" apply --commit --db "$DB" --now 2026-11-25T00:00:00Z --resolve-mx --dns-server 127.0.0.1:$DNSPORT mx-b.csv >/dev/null 2>mx.err
  check "$L --resolve-mx: exit 0" [ $? = 0 ]
  check "$L mx: Exchange Online tenant" [ "$(prov "$DB" a@acme-corp.example)" = "business_microsoft (mx)" ]
  check "$L mx: Google Workspace (best MX first)" [ "$(prov "$DB" b@shop.example)" = "google (mx)" ]
  check "$L mx: no such domain: none" bash -c "[ -z \"\$(\"$R\" contacts show --db '$DB' c@nomx.example 2>/dev/null | sed -n 's/^provider: *//p' | cut -d' ' -f1)\" ]"
  check "$L mx: the figures ($(cat mx.err))" grep -q 'MX look-ups: 4 asked, 0 from the cache, 2 named a provider, 1 failed' mx.err
  # the second run asks DNS only for what failed; a new contact of a known domain comes from the cache
  printf 'recipient,reason,status,date\ne@acme-corp.example,mailboxfull,4.2.2,2026-11-11T10:00:00Z\nd@gone.example,mailboxfull,4.2.2,2026-11-11T10:00:00Z\n' > mx-b2.csv
  : > "$work/dns.log"
  "$R" apply --commit --db "$DB" --now 2026-11-25T00:00:00Z --resolve-mx --dns-server 127.0.0.1:$DNSPORT mx-b2.csv >/dev/null 2>mx.err
  check "$L mx cache: a known domain from the store ($(cat mx.err))" grep -q '1 asked, 1 from the cache, 1 named' mx.err
  check "$L mx cache: e from the cache" [ "$(prov "$DB" e@acme-corp.example)" = "business_microsoft (mx)" ]
  check "$L mx cache: DNS not asked for acme-corp.example" bash -c "! grep -q 'query\[MX\] acme-corp.example' '$work/dns.log'"
  # a check run reads the cache, writes nothing to it
  printf 'recipient,reason,status,date\nf@acme-corp.example,userunknown,5.1.1,2026-11-12T10:00:00Z\n' > mx-b3.csv
  "$R" apply --check --db "$DB" --now 2026-11-25T00:00:00Z --resolve-mx --dns-server 127.0.0.1:$DNSPORT mx-b3.csv >/dev/null 2>mx.err
  check "$L mx --check: from the cache" grep -q '0 asked, 1 from the cache' mx.err
  # the pipe transport too: a bounce from a relay that names no provider
  dsn g@pipe-corp.example mx.sender.example "" | "$R" pipe --db "$DB" --resolve-mx --dns-server 127.0.0.1:$DNSPORT 2>mx.err
  check "$L mx: pipe exit 0 ($(cat mx.err))" [ $? = 0 ]
  check "$L mx: pipe sets the provider" [ "$(prov "$DB" g@pipe-corp.example)" = "business_microsoft (mx)" ]
  # a bad --dns-server is a usage error
  "$R" apply --check --db "$DB" --resolve-mx --dns-server nonsense mx-b3.csv >/dev/null 2>mx.err
  check "$L mx: bad --dns-server: 64" [ $? = 64 ]
  check "$L mx: ... named" grep -q "DNS server 'nonsense'" mx.err
}
if ! start_dns; then
  echo "SKIP-PART: --resolve-mx part skipped: dnsmasq (Debian dnsmasq-base) is not installed or did not start: $(cat "$work/dns.err" 2>/dev/null)"
fi
trap '[ -n "$DNSPID" ] && kill $DNSPID 2>/dev/null; rm -rf "$work"' EXIT

run_backend sqlite "$work/a.db"
if [ -n "${REBOUND_TEST_PG:-}" ]; then
  base=${REBOUND_TEST_PG%%\?*}; query=${REBOUND_TEST_PG#*\?}
  [ "$query" = "$REBOUND_TEST_PG" ] && query=
  psql -q "$REBOUND_TEST_PG" -c "DROP DATABASE IF EXISTS rebound_provider_cli" -c "CREATE DATABASE rebound_provider_cli" >/dev/null 2>&1 ||
    bad "cannot create PostgreSQL database rebound_provider_cli"
  run_backend postgresql "${base%/*}/rebound_provider_cli${query:+?$query}"
else
  echo "SKIP-PART: PostgreSQL part skipped: REBOUND_TEST_PG is not set"
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
