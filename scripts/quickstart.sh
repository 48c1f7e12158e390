#!/usr/bin/env bash
# README quick start, first command: install what is needed, build, and run
# the main job on the shipped samples with the embedded SQLite store -- the
# daily workflow of the Impex bounce note:
#   import the contacts -> the Postfix log -> analyse the bounce mail -> check ->
#   commit -> rebuild the queue -> the report (build/report.html)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
[ -d build ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null
R=build/src/rebound
export REBOUND_DB=build/quickstart.db
rm -f "$REBOUND_DB" "$REBOUND_DB-wal" "$REBOUND_DB-shm" "$REBOUND_DB.maillog-state"

echo "== 1. rebound init, then contacts import examples/contacts.csv   (store: $REBOUND_DB, SQLite; built at $R)"
$R init
$R contacts import examples/contacts.csv

echo; echo "== 2. rebound maillog --commit examples/mail.log   (the sending server's Postfix log)"
$R maillog --format table --commit examples/mail.log

echo; echo "== 3. rebound analyze samples/   (the bounce mailbox: NDRs that came after '250 Queued')"
$R analyze --format table samples/
$R analyze --write-csv build/quickstart-bounces.csv samples/ >/dev/null

echo; echo "== 4. rebound apply --check: what would change (nothing is written)"
$R apply --check build/quickstart-bounces.csv

echo; echo "== 5. rebound apply --commit"
$R apply --commit build/quickstart-bounces.csv

echo; echo "== 6. rebound queue rebuild without the excluded sources"
$R queue rebuild --exclude-source-names 'FacebookAdsJsonCSV,UnsubscribeTakeOutSpamBlocked,Test,MailTester'

echo; echo "== 7. one contact and its history"
$R contacts show jan.peeters@contoso-mail.example

echo; echo "== 8. rebound report: the provider view (the example data is of November 2026; default: the last 30 days)"
$R report --since 2026-11-01 --until 2026-12-01 --html build/report.html
