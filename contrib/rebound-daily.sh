#!/usr/bin/env bash
# rebound-daily.sh -- the daily bounce workflow of the Impex bounce note, with
# rebound, as one job (run by contrib/systemd/rebound-daily.timer):
#
#   1. rebound maillog --commit   the sending server's Postfix logs (incremental:
#                                 the state file makes every line read once)
#   2. rebound analyze            the bounce mailbox -> a CSV of bounces
#   3. rebound apply --commit     that CSV onto the contacts (a bounce applied
#                                 before counts once: safe to analyse the same
#                                 mailbox again every day)
#   4. rebound notify             push the changed contacts to the contact
#                                 server's status API (when NOTIFY_URL is set)
#   5. rebound queue rebuild      the next mailing cycle (and queue export)
#   6. rebound report --html      the provider view, one HTML file
#
# Configuration: environment variables, from the service's EnvironmentFile
# (/etc/rebound/daily.env; contrib/systemd/rebound-daily.env lists them with
# their defaults) or from --config FILE (read as shell assignments, for a run
# by hand).  A variable left empty skips its step.
#
# Exit status: 0 every step ran and succeeded; 1 a step reported partial
# trouble (unreadable input skipped, rejected rows, notify rows to retry, the
# report could not be written) and the run went on; otherwise the status of
# the step that stopped the run (64 usage, 66 input missing, 75 the store is
# unavailable: run again, nothing is lost, 78 bad configuration), with the
# steps after it not run -- the queue is never rebuilt on a failed apply.
set -uo pipefail

usage() {
  cat <<'EOF'
usage: rebound-daily.sh [--config FILE] [--dry-run]
  the daily workflow: maillog --commit, analyze + apply --commit, notify,
  queue rebuild, report --html; configured by environment variables (see
  contrib/systemd/rebound-daily.env).  --dry-run prints the commands only.
EOF
}

CONFIG='' DRY=''
while [ $# -gt 0 ]; do
  case $1 in
    --config) [ $# -ge 2 ] || { usage >&2; exit 64; }; CONFIG=$2; shift 2 ;;
    --config=*) CONFIG=${1#--config=}; shift ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "rebound-daily: unknown argument '$1'" >&2; usage >&2; exit 64 ;;
  esac
done
if [ -n "$CONFIG" ]; then
  [ -r "$CONFIG" ] || { echo "rebound-daily: cannot read the configuration $CONFIG" >&2; exit 66; }
  set -a
  # shellcheck disable=SC1090
  . "$CONFIG" || { echo "rebound-daily: $CONFIG: not valid shell assignments" >&2; exit 78; }
  set +a
fi

# ---- settings and their defaults (keep in step with rebound-daily.env)
REBOUND=${REBOUND:-rebound}
export REBOUND_DB=${REBOUND_DB:-/var/lib/rebound/rebound.db}
WORK_DIR=${WORK_DIR:-/var/lib/rebound/daily}
KEEP_DAYS=${KEEP_DAYS:-30}
MAILLOG_FILES=${MAILLOG_FILES-/var/log/mail.log*}
MAILLOG_ARGS=${MAILLOG_ARGS:-}
BOUNCE_MAILBOX=${BOUNCE_MAILBOX:-}
ANALYZE_ARGS=${ANALYZE_ARGS:-}
APPLY_ARGS=${APPLY_ARGS:-}
NOTIFY_URL=${NOTIFY_URL:-}
NOTIFY_KEY_FILE=${NOTIFY_KEY_FILE:-/etc/rebound/contact-provider.key}
NOTIFY_ARGS=${NOTIFY_ARGS---status bounced --bounce-type hard --limit 1000}
EXCLUDE_SOURCES=${EXCLUDE_SOURCES-FacebookAdsJsonCSV,UnsubscribeTakeOutSpamBlocked,Test,MailTester}
QUEUE_EXPORT=${QUEUE_EXPORT:-}
REPORT_HTML=${REPORT_HTML-/var/lib/rebound/report.html}
REPORT_ARGS=${REPORT_ARGS:-}

status=0
say() { echo "rebound-daily: $*" >&2; }
# run STEP CMD...: runs it (or prints it with --dry-run); returns its status
run() {
  local step=$1; shift
  if [ -n "$DRY" ]; then printf 'rebound-daily: [%s] would run:' "$step" >&2; printf ' %q' "$@" >&2; echo >&2; return 0; fi
  local t0=$SECONDS rc
  say "[$step] $*"
  "$@"; rc=$?
  say "[$step] exit $rc, $((SECONDS - t0)) s"
  return $rc
}
# partial STEP RC: a step that went through with some trouble; the run goes on
partial() { say "[$1] finished with trouble (exit $2, see above); going on"; [ "$status" = 0 ] && status=1; }
# stop STEP RC: a step that failed; the steps after it are not run
stop() { say "[$1] failed (exit $2): stopping, the later steps are not run"; exit "$2"; }

command -v "$REBOUND" >/dev/null 2>&1 || { say "cannot find the rebound binary '$REBOUND' (set REBOUND=/path/to/rebound)"; exit 66; }
if [ -z "$DRY" ]; then
  mkdir -p "$WORK_DIR" || { say "cannot create WORK_DIR $WORK_DIR"; exit 73; }
  # one run at a time (a run by hand while the timer's runs)
  if command -v flock >/dev/null; then
    exec 9>"$WORK_DIR/.lock" || { say "cannot open the lock $WORK_DIR/.lock"; exit 73; }
    flock -n 9 || { say "another run holds $WORK_DIR/.lock: not starting a second one"; exit 75; }
  fi
fi
day=$(date -u +%Y%m%d)
say "start: store $REBOUND_DB, work files in $WORK_DIR"

# ---- 0. the store must be there (rebound init makes it; no step creates
# one, so a wrong REBOUND_DB stops here instead of filling an empty store)
run store "$REBOUND" queue stats > /dev/null
rc=$?
[ $rc = 0 ] || stop store $rc

# ---- 1. the Postfix logs
if [ -n "$MAILLOG_FILES" ]; then
  # shellcheck disable=SC2206
  logs=($MAILLOG_FILES)      # a glob (mail.log*): maillog reads them oldest first
  existing=()
  for f in "${logs[@]}"; do [ -e "$f" ] && existing+=("$f"); done
  [ ${#existing[@]} -gt 0 ] || { say "[maillog] no log matches MAILLOG_FILES='$MAILLOG_FILES'"; exit 66; }
  # shellcheck disable=SC2086
  run maillog "$REBOUND" maillog --commit $MAILLOG_ARGS "${existing[@]}" >&2
  rc=$?
  case $rc in 0) ;; 1|66) partial maillog $rc ;; *) stop maillog $rc ;; esac
else
  say "[maillog] skipped: MAILLOG_FILES is empty"
fi

# ---- 2 and 3. the bounce mailbox
if [ -n "$BOUNCE_MAILBOX" ]; then
  csv=$WORK_DIR/bounces-$day.csv
  # shellcheck disable=SC2086
  run analyze "$REBOUND" analyze --write-csv "$csv.tmp" $ANALYZE_ARGS $BOUNCE_MAILBOX > /dev/null
  rc=$?
  case $rc in 0) ;; 1) partial analyze $rc ;; *) rm -f "$csv.tmp"; stop analyze $rc ;; esac
  [ -n "$DRY" ] || mv -f "$csv.tmp" "$csv"
  # shellcheck disable=SC2086
  run apply "$REBOUND" apply --commit --write-csv "$WORK_DIR/plan-$day.csv" $APPLY_ARGS "$csv" >&2
  rc=$?
  case $rc in 0) ;; 1) partial apply $rc ;; *) stop apply $rc ;; esac
else
  say "[analyze] [apply] skipped: BOUNCE_MAILBOX is empty"
fi

# ---- 4. the contact server
if [ -n "$NOTIFY_URL" ]; then
  # shellcheck disable=SC2086
  run notify "$REBOUND" notify --url "$NOTIFY_URL" --key-file "$NOTIFY_KEY_FILE" $NOTIFY_ARGS >&2
  rc=$?
  # the outbox keeps what was not delivered for the next run: never a reason
  # to keep the queue from being rebuilt
  [ $rc = 0 ] || partial notify $rc
else
  say "[notify] skipped: NOTIFY_URL is empty"
fi

# ---- 5. the mailing queue
run queue "$REBOUND" queue rebuild ${EXCLUDE_SOURCES:+--exclude-source-names "$EXCLUDE_SOURCES"} >&2
rc=$?
[ $rc = 0 ] || stop queue $rc
if [ -n "$QUEUE_EXPORT" ]; then
  run queue-export "$REBOUND" queue export --output "$QUEUE_EXPORT" >&2
  rc=$?
  [ $rc = 0 ] || stop queue-export $rc
fi

# ---- 6. the report
if [ -n "$REPORT_HTML" ]; then
  if ! "$REBOUND" report --help >/dev/null 2>&1; then
    say "[report] skipped: this rebound has no 'report' command (rebound report --help fails); $REPORT_HTML not written"
    [ "$status" = 0 ] && status=1
  else
    # written beside and renamed: a reader never sees half a page
    tmp="$REPORT_HTML.tmp.$$"
    # shellcheck disable=SC2086
    run report "$REBOUND" report --html "$tmp" $REPORT_ARGS >&2
    rc=$?
    if [ $rc = 0 ] && { [ -n "$DRY" ] || mv -f "$tmp" "$REPORT_HTML"; }; then
      [ -n "$DRY" ] || say "[report] written: $REPORT_HTML"
    else
      rm -f "$tmp"
      partial report $rc
    fi
  fi
else
  say "[report] skipped: REPORT_HTML is empty"
fi

# ---- old work files
if [ -z "$DRY" ] && [ "$KEEP_DAYS" -gt 0 ] 2>/dev/null; then
  find "$WORK_DIR" -maxdepth 1 -type f \( -name 'bounces-*.csv' -o -name 'plan-*.csv' \) -mtime +"$KEEP_DAYS" -delete
fi
say "done: exit $status"
exit $status
