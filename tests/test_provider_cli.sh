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
}

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
