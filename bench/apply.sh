#!/usr/bin/env bash
# bench/apply.sh -- time and peak memory of the store side of rebound:
# `contacts import`, `apply --check`, `apply --commit` (twice: the second run
# must find everything applied before), `queue rebuild`, on SQLite and on
# PostgreSQL, with N contacts and M bounce records (default 1,000,000 each).
#
# Each step runs under /usr/bin/time -f '%e %M' (wall seconds, peak RSS KiB of
# the rebound process; for PostgreSQL the server's memory is not in it).  A
# memory-flatness check commits M/10 records into a fresh copy of the
# imported store and compares its peak RSS with the M-record commit's.
# The generated input and the imported stores are cached (--store-cache, by
# size, seed and schema version): a later run copies them instead of
# importing again, so only the apply steps are timed.
# See bench/README.md.
#
# Exit status: 0 when every step ran and the second commit changed nothing
# (whether or not the 60 s target was met); 1 when a step failed or the
# idempotence check failed; 2 on a usage error or a missing tool.

set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")

REBOUND=${REBOUND:-$REPO/build/src/rebound}
CONTACTS=${CONTACTS:-1000000}
RECORDS=${RECORDS:-1000000}
BACKENDS=${BENCH_BACKENDS:-sqlite postgresql}
SEED=${BENCH_SEED:-1}
BATCH=${BENCH_BATCH:-}
TIMEOUT=${BENCH_TIMEOUT:-1800}
TARGET=${BENCH_TARGET:-60}
WORKDIR=${BENCH_WORKDIR:-}
CACHE=${BENCH_STORE_CACHE-/tmp/rebound-bench-cache}
QUICK=0
FLAT=1
KEEP=0
END_DATE=2026-11-23T00:00:00Z           # the records' last date; also --now of apply and queue rebuild
EXCLUDE=FacebookAdsJsonCSV,UnsubscribeTakeOutSpamBlocked,Test,MailTester

usage() {
    cat <<EOF
usage: bench/apply.sh [options]

  --rebound PATH      rebound binary (env REBOUND; default build/src/rebound)
  --contacts N        contacts imported (env CONTACTS; default 1000000)
  --records M         bounce records applied (env RECORDS; default 1000000)
  --backends "B ..."  sqlite and/or postgresql (env BENCH_BACKENDS; default both;
                      postgresql is skipped, with a message, when no server is installed)
  --seed S            seed of the generated input (env BENCH_SEED; default 1)
  --batch N           pass --batch N to apply (env BENCH_BATCH; default: rebound's own)
  --no-flatness       skip the M/10 commit (no memory-flatness ratio)
  --quick             only the two commits (no --check, no queue rebuild)
  --store-cache DIR   keep the generated input and each backend's imported store in DIR
                      and reuse them (keyed by sizes, seed, generator and schema version):
                      a cached store is copied, not imported, and its import is not timed
                      (env BENCH_STORE_CACHE; default /tmp/rebound-bench-cache; "" or
                      --no-store-cache: always generate and import)
  --workdir DIR       where the inputs and the SQLite stores go (env BENCH_WORKDIR;
                      default a fresh temporary folder, removed at the end)
  --keep              keep the temporary folder (inputs, stores, each step's output)
  --timeout SECONDS   limit for one step (env BENCH_TIMEOUT; default 1800)
  --target SECONDS    the SQLite commit target (env BENCH_TARGET; default 60)
  -h, --help          this text
EOF
}

die() { echo "apply.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
    case $1 in
        --rebound) REBOUND=${2:?}; shift 2 ;;
        --contacts) CONTACTS=${2:?}; shift 2 ;;
        --records) RECORDS=${2:?}; shift 2 ;;
        --backends) BACKENDS=${2:?}; shift 2 ;;
        --seed) SEED=${2:?}; shift 2 ;;
        --batch) BATCH=${2:?}; shift 2 ;;
        --no-flatness) FLAT=0; shift ;;
        --quick) QUICK=1; shift ;;
        --store-cache) CACHE=${2:?}; shift 2 ;;
        --no-store-cache) CACHE=; shift ;;
        --workdir) WORKDIR=${2:?}; shift 2 ;;
        --keep) KEEP=1; shift ;;
        --timeout) TIMEOUT=${2:?}; shift 2 ;;
        --target) TARGET=${2:?}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

# ---- checks ------------------------------------------------------------------
isint() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }
isint "$CONTACTS" || die "bad --contacts / CONTACTS: $CONTACTS"
isint "$RECORDS" || die "bad --records / RECORDS: $RECORDS"
[[ $SEED =~ ^[0-9]+$ ]] || die "bad --seed: $SEED"
[ -z "$BATCH" ] || isint "$BATCH" || die "bad --batch: $BATCH"
isint "$TIMEOUT" || die "bad --timeout: $TIMEOUT"
[[ $TARGET =~ ^[0-9]+([.][0-9]+)?$ ]] || die "bad --target: $TARGET"
BACKENDS=$(tr ',' ' ' <<<"$BACKENDS" | xargs)
for b in $BACKENDS; do
    case $b in sqlite|postgresql) ;; *) die "unknown backend: $b (sqlite, postgresql)" ;; esac
done
[ -n "$BACKENDS" ] || die "--backends is empty"
SMALL=$((RECORDS / 10))
if [ "$FLAT" = 1 ] && [ "$SMALL" -lt 1 ]; then
    echo "apply.sh: --records $RECORDS is too small for the M/10 run: no flatness check" >&2
    FLAT=0
fi

[ -x /usr/bin/time ] && /usr/bin/time -f '%e %M' true 2>/dev/null \
    || die "GNU time is needed as /usr/bin/time (Debian: apt-get install time)"
command -v python3 >/dev/null || die "python3 is needed (Debian: apt-get install python3)"
command -v timeout >/dev/null || die "timeout (coreutils) is needed"
case $REBOUND in */*) ;; *) REBOUND=$(command -v "$REBOUND" || echo "$REBOUND") ;; esac
[ -f "$REBOUND" ] && [ -x "$REBOUND" ] \
    || die "no rebound binary at $REBOUND (build it: meson setup build && ninja -C build; or pass --rebound PATH / REBOUND=PATH)"

# PostgreSQL: the server tools pg-server.sh uses (the highest version in
# /usr/lib/postgresql/*/bin, else PATH); psql copies the imported database
# for the flatness run.
PG_BIN=
find_pg() {
    local d best='' bestv=0 v
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ] || continue
        v=$(basename "$(dirname "$d")"); v=${v%%.*}
        [[ $v =~ ^[0-9]+$ ]] || continue
        if [ "$v" -gt "$bestv" ]; then bestv=$v; best=$d; fi
    done
    if [ -z "$best" ] && command -v pg_ctl >/dev/null && command -v initdb >/dev/null; then
        best=$(dirname "$(command -v pg_ctl)")
    fi
    PG_BIN=$best
    [ -n "$best" ]
}

if [ -n "$WORKDIR" ]; then
    mkdir -p "$WORKDIR" || die "cannot create $WORKDIR"
    KEEP=1
else
    WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/rebound-bench-apply.XXXXXX") || die "mktemp failed"
fi
PGDIR=
cleanup() {
    if [ -n "$PGDIR" ]; then
        "$REPO/tests/pg-server.sh" stop "$PGDIR" >/dev/null 2>&1 || echo "apply.sh: could not stop the PostgreSQL server in $PGDIR" >&2
        PGDIR=
    fi
    [ "$KEEP" = 1 ] || rm -rf -- "$WORKDIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- helpers -----------------------------------------------------------------
FAILED=0
calc() { awk "BEGIN { printf \"%s\", ($1) }" </dev/null; }
label() {       # 1000000 -> 1M, 100000 -> 100k
    awk -v n="$1" 'BEGIN { if (n >= 1000000 && n % 1000000 == 0) printf "%dM", n / 1000000;
                           else if (n >= 1000 && n % 1000 == 0) printf "%dk", n / 1000; else printf "%d", n }'
}

# timed NAME BACKEND ITEMS -- CMD...: runs CMD (stdout to $LOG.out, stderr to
# $LOG.err) under /usr/bin/time; records seconds and peak RSS for the table.
# Returns CMD's exit status (124: timed out).
declare -a T_STEP T_BACKEND T_ITEMS T_SECS T_RSS T_CPU
declare -A SECS RSS
LOG=
timed() {
    local name=$1 backend=$2 items=$3; shift 4
    LOG=$WORKDIR/log/$backend-$(tr -cs 'A-Za-z0-9\n' '-' <<<"$name")
    local rc
    timeout "$TIMEOUT" /usr/bin/time -f '%e %M %U %S' -o "$LOG.time" "$@" >"$LOG.out" 2>"$LOG.err"
    rc=$?
    local secs rss usr sys
    read -r secs rss usr sys < <(tail -n 1 "$LOG.time" 2>/dev/null)
    if [ $rc -ne 0 ]; then
        echo "apply.sh: $backend: $name failed (exit $rc): $*" >&2
        [ $rc -eq 124 ] && echo "  timed out after ${TIMEOUT}s (--timeout)" >&2
        [ $rc -gt 128 ] && echo "  killed by signal $((rc - 128)) (from outside the benchmark)" >&2
        tail -n 5 "$LOG.err" | sed 's/^/  stderr: /' >&2
        FAILED=1
        return $rc
    fi
    T_STEP+=("$name") T_BACKEND+=("$backend") T_ITEMS+=("$items") T_SECS+=("$secs") T_RSS+=("$rss")
    T_CPU+=("$(calc "$usr + $sys")")
    SECS[$backend/$name]=$secs RSS[$backend/$name]=$rss
    printf '  %-22s %8.2f s %8.2f cpu s %10s /s  %8.1f MiB\n' "$name" "$secs" "$(calc "$usr + $sys")" "$(calc "$items / ($secs > 0 ? $secs : 0.01)" | awk '{ printf "%.0f", $1 }')" \
        "$(calc "$rss / 1024")"
    return 0
}

# totals FILE: the summary's totals row of an apply output, as
# "records disabled quarantined counted recorded reset unchanged ignored duplicate unknown invalid"
totals() { awk '$1 == "total" { $1 = ""; print; exit }' "$1" | xargs; }

# ---- header ------------------------------------------------------------------
REBOUND_SUM=$(cksum <"$REBOUND")
echo "== rebound apply / store benchmark =="
echo "rebound:   $REBOUND"
v=$("$REBOUND" --version 2>/dev/null | head -n 1) && [ -n "$v" ] && echo "           $v"
echo "machine:   $(nproc) CPU(s), $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/MemTotal/ { printf "%.0f GiB", $2/1048576 }' /proc/meminfo)"
echo "sizes:     $CONTACTS contacts, $RECORDS records (M/10 = $SMALL for the flatness run)$([ -n "$BATCH" ] && echo ", --batch $BATCH")"
echo "backends:  $BACKENDS"
read -r LOAD1 _ </proc/loadavg
echo "load:      $LOAD1 (1-minute load average at start)"
if awk -v l="$LOAD1" 'BEGIN { exit !(l >= 0.5) }'; then
    echo "           warning: the machine is busy; figures will be noisy (run again when idle)"
fi
echo "workdir:   $WORKDIR$([ "$KEEP" = 1 ] && echo ' (kept)')"
echo

mkdir -p "$WORKDIR/log" || die "cannot create $WORKDIR/log"
# The cache keys: the generator's checksum (the same script, sizes and seed
# give the same bytes) and the schema version of this rebound's stores.
GENSUM=$(cksum <"$HERE/make-apply-input.py" | cut -d' ' -f1)
SCHEMA=x
if [ -n "$CACHE" ]; then
    mkdir -p "$CACHE" || die "cannot create the store cache $CACHE"
    "$REBOUND" init --db "$WORKDIR/schema.db" >/dev/null 2>&1 \
        && SCHEMA=$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT MAX(version) FROM schema_version").fetchone()[0])' "$WORKDIR/schema.db") \
        || die "cannot read the schema version of a new store"
    rm -f "$WORKDIR"/schema.db*
    INPUT=$CACHE/input-c$CONTACTS-r$RECORDS-s$SEED-g$GENSUM
    STORE_KEY=c$CONTACTS-s$SEED-g$GENSUM-v$SCHEMA
    echo "cache:     $CACHE (input and imported stores; schema version $SCHEMA)"
else
    INPUT=$WORKDIR
fi
CSV=$INPUT/contacts.csv
REC=$INPUT/records.jsonl
REC_SMALL=$WORKDIR/records-small.jsonl
if [ -s "$CSV" ] && [ -s "$REC" ] && [ -e "$INPUT/done" ]; then
    echo "input: from the cache, $INPUT"
else
    echo "generating input (bench/make-apply-input.py, seed $SEED) ..."
    mkdir -p "$INPUT" || die "cannot create $INPUT"
    python3 "$HERE/make-apply-input.py" --contacts "$CONTACTS" --records "$RECORDS" --seed "$SEED" \
        --end "$END_DATE" --contacts-out "$CSV" --records-out "$REC" 2>"$WORKDIR/log/generate.err" \
        || { cat "$WORKDIR/log/generate.err" >&2; echo "apply.sh: could not generate the input" >&2; exit 1; }
    sed 's/^make-apply-input: /  /' "$WORKDIR/log/generate.err"
    [ "$INPUT" = "$WORKDIR" ] || : >"$INPUT/done"
fi
head -n "$SMALL" "$REC" >"$REC_SMALL"
echo "  $(du -m "$CSV" | cut -f1) MiB contacts, $(du -m "$REC" | cut -f1) MiB records; the M/10 run takes the first $SMALL records"
cat "$CSV" "$REC" >/dev/null          # warm page cache
echo

APPLY_OPTS=(--now "$END_DATE")
[ -n "$BATCH" ] && APPLY_OPTS+=(--batch "$BATCH")

declare -A CHECK_TOT COMMIT_TOT AGAIN_TOT
IDEM_MSGS=()

# run_backend BACKEND URL SMALL_URL: every step on one store; SMALL_URL is a
# second store that gets the same import (by copy) for the M/10 commit.
# import_or_copy BACKEND URL: the N contacts into the store at URL: imported
# (timed) and then saved in the cache, or copied from the cache (not timed).
import_or_copy() {
    local b=$1 url=$2 t0
    if [ "$b" = sqlite ] && [ -n "$CACHE" ] && [ -s "$CACHE/sqlite-$STORE_KEY.db" ]; then
        t0=$EPOCHREALTIME
        cp --reflink=auto -- "$CACHE/sqlite-$STORE_KEY.db" "$url" || { echo "apply.sh: cannot copy the cached store" >&2; FAILED=1; return 1; }
        echo "  contacts import: skipped, store copied from the cache ($CACHE/sqlite-$STORE_KEY.db, $(calc "$EPOCHREALTIME - $t0" | awk '{ printf "%.1f", $1 }') s)"
        return 0
    fi
    if [ "$b" = postgresql ] && [ "$PG_CACHED" = 1 ]; then
        echo "  contacts import: skipped, the server started on a copy of the cached cluster ($PG_CACHE)"
        return 0
    fi
    timed "contacts import" "$b" "$CONTACTS" -- "$REBOUND" contacts import --create --db "$url" "$CSV" || return 1
    grep -q " $CONTACTS new contacts" "$LOG.out" || {
        echo "apply.sh: $b: the import did not add $CONTACTS contacts: $(head -n 1 "$LOG.out")" >&2; FAILED=1; return 1; }
    [ -n "$CACHE" ] || return 0
    if [ "$b" = sqlite ]; then
        # one file: fold the WAL in first
        python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("PRAGMA wal_checkpoint(TRUNCATE)"); c.close()' "$url" \
            && cp -- "$url" "$CACHE/sqlite-$STORE_KEY.db.tmp" && mv -- "$CACHE/sqlite-$STORE_KEY.db.tmp" "$CACHE/sqlite-$STORE_KEY.db" \
            && echo "  (imported store saved in the cache: $CACHE/sqlite-$STORE_KEY.db)" \
            || echo "apply.sh: could not save the store in the cache (going on)" >&2
    else
        "$REPO/tests/pg-server.sh" save "$PGDIR" "$PG_CACHE.tmp" 2>"$WORKDIR/log/pg-save.err" \
            && mv -- "$PG_CACHE.tmp" "$PG_CACHE" \
            && echo "  (imported cluster saved in the cache: $PG_CACHE)" \
            || { cat "$WORKDIR/log/pg-save.err" >&2; echo "apply.sh: could not save the cluster in the cache" >&2; FAILED=1; return 1; }
    fi
    return 0
}

run_backend() {
    local b=$1 url=$2 small_url=$3
    echo "-- $b --"
    import_or_copy "$b" "$url" || return 1

    # a copy of the freshly imported store for the M/10 commit
    if [ "$FLAT" = 1 ]; then
        if [ "$b" = sqlite ]; then
            cp -- "$url" "$small_url" && { [ ! -e "$url-wal" ] || cp -- "$url-wal" "$small_url-wal"; } \
                || { echo "apply.sh: cannot copy the SQLite store" >&2; FAILED=1; return 1; }
        else
            "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "${url/\/rebound_test\?//postgres?}" \
                -c "CREATE DATABASE rebound_small TEMPLATE rebound_test" >"$WORKDIR/log/pg-copy.err" 2>&1 \
                || { cat "$WORKDIR/log/pg-copy.err" >&2; echo "apply.sh: cannot copy the PostgreSQL database" >&2; FAILED=1; return 1; }
        fi
    fi

    if [ "$QUICK" = 0 ]; then
        timed "apply --check" "$b" "$RECORDS" -- "$REBOUND" apply --check --db "$url" "${APPLY_OPTS[@]}" "$REC" || return 1
        CHECK_TOT[$b]=$(totals "$LOG.out")
    fi
    timed "apply --commit" "$b" "$RECORDS" -- "$REBOUND" apply --commit --db "$url" "${APPLY_OPTS[@]}" "$REC" || return 1
    COMMIT_TOT[$b]=$(totals "$LOG.out")
    timed "apply --commit again" "$b" "$RECORDS" -- "$REBOUND" apply --commit --db "$url" "${APPLY_OPTS[@]}" "$REC" || return 1
    AGAIN_TOT[$b]=$(totals "$LOG.out")
    [ "$QUICK" = 1 ] || { timed "queue rebuild" "$b" "$CONTACTS" -- "$REBOUND" queue rebuild --db "$url" --exclude-source-names "$EXCLUDE" \
        --now "$END_DATE" || return 1; } 
    [ "$QUICK" = 1 ] || echo "  queue: $(awk '/^queue rebuilt:/ { print $3; exit }' "$LOG.out") contacts queued; $(awk '/^  quarantined/ { print $2; exit }' "$LOG.out") in quarantine; $(awk '/^quarantines released:/ { print $3; exit }' "$LOG.out") quarantines released"
    if [ "$FLAT" = 1 ]; then
        timed "commit M/10 (fresh)" "$b" "$SMALL" -- "$REBOUND" apply --commit --db "$small_url" "${APPLY_OPTS[@]}" "$REC_SMALL" || return 1
    fi

    # idempotence: the second commit must find every record it can place applied before
    local c=(${COMMIT_TOT[$b]}) a=(${AGAIN_TOT[$b]}) k=(${CHECK_TOT[$b]:-})
    # fields: 0 records 1 disabled 2 quarantined 3 counted 4 recorded 5 reset 6 unchanged 7 ignored 8 duplicate 9 unknown 10 invalid
    local placeable=$((a[0] - a[9] - a[10])) changed=$((a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7]))
    if [ "${#a[@]}" -ne 11 ] || [ "${a[0]}" -ne "$RECORDS" ]; then
        IDEM_MSGS+=("$b: FAILED: no summary (or not $RECORDS records) from the second commit: '${AGAIN_TOT[$b]}'")
    elif [ "$changed" -ne 0 ] || [ "${a[8]}" -ne "$placeable" ] || [ "${a[8]}" -ne $((c[0] - c[9] - c[10])) ]; then
        IDEM_MSGS+=("$b: FAILED: the second commit decided $changed record(s) again (disabled ${a[1]}, quarantined ${a[2]}, counted ${a[3]}, recorded ${a[4]}, reset ${a[5]}, unchanged ${a[6]}, ignored ${a[7]}); applied before ${a[8]} of $placeable")
    else
        IDEM_MSGS+=("$b: OK: the second commit found all ${a[8]} records applied before (${a[9]} unknown addresses, ${a[10]} invalid), and changed nothing")
    fi
    if [ "${c[8]:-x}" != 0 ]; then
        IDEM_MSGS+=("$b: note: the first commit already found ${c[8]:-?} record(s) applied before (a fresh store should have none)")
    fi
    if [ "$QUICK" = 1 ]; then
        IDEM_MSGS+=("$b: the first --commit decided $((c[1])) disabled, ${c[2]} quarantined, ${c[3]} counted, ${c[4]} recorded, ${c[6]} unchanged, ${c[9]} unknown (--quick: no --check to compare)")
    elif [ "${k[*]:1}" != "${c[*]:1}" ]; then
        IDEM_MSGS+=("$b: note: --check and --commit decided differently: check '${CHECK_TOT[$b]}', commit '${COMMIT_TOT[$b]}'")
    else
        IDEM_MSGS+=("$b: --check and the first --commit decided the same ($((c[1])) disabled, ${c[2]} quarantined, ${c[3]} counted, ${c[4]} recorded, ${c[6]} unchanged, ${c[9]} unknown)")
    fi
    return 0
}

for b in $BACKENDS; do
    case $b in
    sqlite)
        mkdir -p "$WORKDIR/sqlite" || die "cannot create $WORKDIR/sqlite"
        run_backend sqlite "$WORKDIR/sqlite/rebound.db" "$WORKDIR/sqlite/small.db"
        # the stores are large: keep them only with --keep
        [ "$KEEP" = 1 ] || rm -rf -- "$WORKDIR/sqlite"
        ;;
    postgresql)
        if ! find_pg; then
            echo "-- postgresql: skipped: no PostgreSQL server installed (pg_ctl/initdb in /usr/lib/postgresql/*/bin or PATH) --"
            continue
        fi
        [ -x "$PG_BIN/psql" ] || PG_BIN=$(dirname "$(command -v psql 2>/dev/null || echo /nonexistent/psql)")
        if [ "$FLAT" = 1 ] && [ ! -x "$PG_BIN/psql" ]; then
            echo "apply.sh: no psql: no flatness run on postgresql" >&2
        fi
        # the server runs as `postgres` when we are root: its folder must not be
        # inside WORKDIR (mode 700), so it gets its own
        PGDIR=$(mktemp -d "${TMPDIR:-/tmp}/rebound-bench-pg.XXXXXX") || die "mktemp failed"
        PG_CACHE= PG_CACHED=0
        if [ -n "$CACHE" ]; then
            PG_CACHE=$CACHE/pg-$STORE_KEY-pg$(basename "$(dirname "$PG_BIN")")
            [ -f "$PG_CACHE/PG_VERSION" ] && PG_CACHED=1
        fi
        if ! URL=$( [ "$PG_CACHED" = 1 ] && export PG_DATA_FROM=$PG_CACHE; "$REPO/tests/pg-server.sh" start "$PGDIR" 2>"$WORKDIR/log/pg-server.err"); then
            cat "$WORKDIR/log/pg-server.err" >&2
            echo "apply.sh: postgresql: the server did not start" >&2
            FAILED=1
            continue
        fi
        echo "  server: $("$PG_BIN/postgres" --version 2>/dev/null || echo PostgreSQL) (tests/pg-server.sh: fsync off, unix socket)"
        SAVE_FLAT=$FLAT
        [ -x "$PG_BIN/psql" ] || FLAT=0
        run_backend postgresql "$URL" "${URL/\/rebound_test\?//rebound_small?}"
        FLAT=$SAVE_FLAT
        "$REPO/tests/pg-server.sh" stop "$PGDIR" >/dev/null 2>&1 || echo "apply.sh: could not stop the PostgreSQL server in $PGDIR" >&2
        PGDIR=
        ;;
    esac
    echo
done

# ---- summary -----------------------------------------------------------------
echo "== summary =="
printf '%-22s %-11s %9s %9s %9s %10s %13s\n' step backend items seconds 'cpu s' records/s 'peak RSS MiB'
for i in "${!T_STEP[@]}"; do
    printf '%-22s %-11s %9d %9.2f %9.2f %10.0f %13.1f\n' "${T_STEP[$i]}" "${T_BACKEND[$i]}" "${T_ITEMS[$i]}" "${T_SECS[$i]}" "${T_CPU[$i]}" \
        "$(calc "${T_ITEMS[$i]} / (${T_SECS[$i]} > 0 ? ${T_SECS[$i]} : 0.01)")" "$(calc "${T_RSS[$i]} / 1024")"
done
echo "(seconds: wall clock of the rebound process (GNU time %e); cpu s: its user + system time; records/s: items / seconds, items being"
echo " contacts for import and queue rebuild, records for apply; peak RSS: GNU time %M of the rebound"
echo " process -- for postgresql the server's own memory is not included)"
echo

ML=$(label "$RECORDS") SL=$(label "$SMALL")
if [ -n "${SECS[sqlite/apply --commit]:-}" ]; then
    s=${SECS[sqlite/apply --commit]}
    if awk -v s="$s" -v t="$TARGET" 'BEGIN { exit !(s < t) }'; then verdict=MET; else verdict="NOT MET"; fi
    echo "sqlite commit $ML: $s s (target < $TARGET s): $verdict"
fi
if [ -n "${SECS[postgresql/apply --commit]:-}" ]; then
    echo "postgresql commit $ML: ${SECS[postgresql/apply --commit]} s"
fi
for b in $BACKENDS; do
    if [ -n "${RSS[$b/apply --commit]:-}" ] && [ -n "${RSS[$b/commit M/10 (fresh)]:-}" ]; then
        echo "RSS for $ML / RSS for $SL: $(calc "${RSS[$b/apply --commit]} / ${RSS[$b/commit M/10 (fresh)]}" | awk '{ printf "%.2f", $1 }')" \
            "($b commit: $(calc "${RSS[$b/apply --commit]} / 1024" | awk '{ printf "%.1f", $1 }') MiB vs $(calc "${RSS[$b/commit M/10 (fresh)]} / 1024" | awk '{ printf "%.1f", $1 }') MiB; ~1.0: memory does not grow with the input)"
    fi
done
for b in $BACKENDS; do
    if [ -n "${RSS[$b/apply --check]:-}" ] && [ -n "${RSS[$b/apply --commit]:-}" ]; then
        echo "$b --check peak RSS: $(calc "${RSS[$b/apply --check]} / 1024" | awk '{ printf "%.1f", $1 }') MiB (check keeps every decided contact in memory, by design)"
    fi
done
echo
IDEM_FAIL=0
for m in "${IDEM_MSGS[@]}"; do
    echo "idempotence: $m"
    case $m in *": FAILED:"*) IDEM_FAIL=1 ;; esac
done
if [ "$IDEM_FAIL" = 1 ]; then
    echo >&2
    echo "apply.sh: IDEMPOTENCE CHECK FAILED: a second --commit of the same input changed the store (see above)" >&2
    FAILED=1
fi
if [ "$(cksum <"$REBOUND" 2>/dev/null)" != "$REBOUND_SUM" ]; then
    echo "warning: $REBOUND changed during the run (rebuilt?): the figures may mix two builds; run again"
fi
[ "$FAILED" = 0 ] || { echo "apply.sh: some steps failed (see above)" >&2; exit 1; }
exit 0
