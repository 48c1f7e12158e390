#!/usr/bin/env bash
# bench/analyze.sh -- throughput and memory of `rebound analyze` against Sisimai.
#
# Builds mboxes of SIZES messages from the bounce corpus (bench/make-mbox.py),
# times `rebound analyze --format jsonl MBOX > /dev/null` on each (RUNS runs,
# best wall time kept), times Sisimai->make on one of them (one run), and
# prints messages, seconds, messages/s, peak RSS and result counts, the speed
# ratio rebound/Sisimai against the target, and rebound's peak RSS at the
# small and large size.  See bench/README.md.
#
# Exit status: 0 when every measurement ran (whether or not the target was
# met), 2 on a usage error or missing tool, 1 when a run failed.

set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")

REBOUND=${REBOUND:-$REPO/build/src/rebound}
SIZES=${BENCH_SIZES:-10000 50000}
SISIMAI_SIZE=${BENCH_SISIMAI_SIZE:-}
RUNS=${BENCH_RUNS:-3}
SISIMAI_RUNS=${BENCH_SISIMAI_RUNS:-1}
CORPUS=${BENCH_CORPUS:-}
WORKDIR=${BENCH_WORKDIR:-}
TIMEOUT=${BENCH_TIMEOUT:-300}
TARGET=${BENCH_TARGET:-50}
KEEP=0
SISIMAI=1

usage() {
    cat <<EOF
usage: bench/analyze.sh [options]

  --rebound PATH        rebound binary (env REBOUND; default build/src/rebound)
  --sizes "N M ..."     mbox sizes in messages (env BENCH_SIZES; default "10000 50000")
  --sisimai-size N      size Sisimai is measured on (env BENCH_SISIMAI_SIZE;
                        default: the smallest of --sizes)
  --no-sisimai          measure rebound only (no ratio, no target line)
  --runs N              rebound runs per size, best wall time kept (env BENCH_RUNS; default 3)
  --sisimai-runs N      Sisimai runs, best kept (env BENCH_SISIMAI_RUNS; default 1)
  --corpus DIR          folder of *.eml samples (env BENCH_CORPUS; default
                        ../shared/corpus/maildir/bsd, else samples/)
  --workdir DIR         where the mboxes and logs go (env BENCH_WORKDIR;
                        default a fresh temporary folder, removed at the end)
  --keep                keep the temporary folder
  --timeout SECONDS     limit for one run (env BENCH_TIMEOUT; default 300)
  --target X            speed target, rebound msgs/s >= X * Sisimai's (default 50)
  -h, --help            this text
EOF
}

die() { echo "analyze.sh: $*" >&2; exit 2; }
fail() { echo "analyze.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case $1 in
        --rebound) REBOUND=${2:?}; shift 2 ;;
        --sizes) SIZES=${2:?}; shift 2 ;;
        --sisimai-size) SISIMAI_SIZE=${2:?}; shift 2 ;;
        --no-sisimai) SISIMAI=0; shift ;;
        --runs) RUNS=${2:?}; shift 2 ;;
        --sisimai-runs) SISIMAI_RUNS=${2:?}; shift 2 ;;
        --corpus) CORPUS=${2:?}; shift 2 ;;
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
SIZES=$(tr ',' ' ' <<<"$SIZES" | tr -s ' ' '\n' | grep -v '^$' | sort -n -u | tr '\n' ' ')
SIZES=${SIZES% }
[ -n "$SIZES" ] || die "--sizes is empty"
for n in $SIZES; do isint "$n" || die "bad size: $n"; done
isint "$RUNS" || die "bad --runs: $RUNS"
isint "$SISIMAI_RUNS" || die "bad --sisimai-runs: $SISIMAI_RUNS"
if [ "$SISIMAI_RUNS" = 1 ]; then SISIMAI_MEASURED="1 run"; else SISIMAI_MEASURED="best of $SISIMAI_RUNS"; fi
isint "$TIMEOUT" || die "bad --timeout: $TIMEOUT"
[[ $TARGET =~ ^[0-9]+([.][0-9]+)?$ ]] || die "bad --target: $TARGET"
SMALL=${SIZES%% *}
LARGE=${SIZES##* }
[ -n "$SISIMAI_SIZE" ] || SISIMAI_SIZE=$SMALL
isint "$SISIMAI_SIZE" || die "bad --sisimai-size: $SISIMAI_SIZE"

[ -x /usr/bin/time ] && /usr/bin/time -v true 2>/dev/null \
    || die "GNU time is needed as /usr/bin/time (Debian: apt-get install time)"
command -v python3 >/dev/null || die "python3 is needed (Debian: apt-get install python3)"
command -v timeout >/dev/null || die "timeout (coreutils) is needed"
if [ "$SISIMAI" = 1 ]; then
    command -v perl >/dev/null && perl -MSisimai -e1 2>/dev/null \
        || die "Sisimai is needed (Debian: apt-get install libsisimai-perl), or pass --no-sisimai"
fi
case $REBOUND in */*) ;; *) REBOUND=$(command -v "$REBOUND" || echo "$REBOUND") ;; esac
[ -f "$REBOUND" ] && [ -x "$REBOUND" ] \
    || die "no rebound binary at $REBOUND (build it: meson setup build && ninja -C build; or pass --rebound PATH / REBOUND=PATH)"

if [ -n "$WORKDIR" ]; then
    mkdir -p "$WORKDIR" || die "cannot create $WORKDIR"
    KEEP=1
else
    WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/rebound-bench.XXXXXX") || die "mktemp failed"
fi
cleanup() { [ "$KEEP" = 1 ] || rm -rf -- "$WORKDIR"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- helpers -----------------------------------------------------------------
# calc EXPR: floating point arithmetic through awk
calc() { awk "BEGIN { printf \"%s\", ($1) }" </dev/null; }
# cpu_of TIMEFILE: user + system CPU seconds from a /usr/bin/time -v report
cpu_of() { awk -F': ' '/User time \(seconds\)|System time \(seconds\)/ { t += $2 } END { printf "%.2f", t }' "$1"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }' </dev/null; }

# timed OUTVAR_PREFIX LOG -- CMD...: runs CMD under /usr/bin/time -v with stdout
# to /dev/null, stderr to LOG.err; sets ${P}_SECS (wall, from bash's
# microsecond clock), ${P}_RSS (kbytes), ${P}_TIME_WALL (time -v's figure),
# ${P}_CPU (user + system seconds).
timed() {
    local p=$1 log=$2; shift 3
    local t0 t1 rc
    t0=$EPOCHREALTIME
    timeout "$TIMEOUT" /usr/bin/time -v -o "$log.time" "$@" >/dev/null 2>"$log.err"
    rc=$?
    t1=$EPOCHREALTIME
    if [ $rc -ne 0 ]; then
        echo "analyze.sh: run failed (exit $rc): $*" >&2
        [ $rc -eq 124 ] && echo "  timed out after ${TIMEOUT}s: raise --timeout or use smaller --sizes" >&2
        grep -E 'Command (exited|terminated)' "$log.time" 2>/dev/null | sed 's/^/  /' >&2
        tail -n 5 "$log.err" | sed 's/^/  stderr: /' >&2
        return 1
    fi
    printf -v "${p}_SECS" '%s' "$(calc "$t1 - $t0" | awk '{ printf "%.3f", $1 }')"
    printf -v "${p}_RSS" '%s' "$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$log.time")"
    printf -v "${p}_TIME_WALL" '%s' "$(awk -F'): ' '/Elapsed \(wall clock\)/ { print $2 }' "$log.time")"
    printf -v "${p}_CPU" '%s' "$(cpu_of "$log.time")"
}

mbox_of() { echo "$WORKDIR/bench-$1.mbox"; }

make_mbox() {
    local n=$1 out
    out=$(mbox_of "$n")
    [ -s "$out" ] && return 0
    local args=(-n "$n")
    [ -n "$CORPUS" ] && args+=(--corpus "$CORPUS")
    python3 "$HERE/make-mbox.py" "${args[@]}" "$out" 2>"$WORKDIR/make-$n.log" || {
        cat "$WORKDIR/make-$n.log" >&2; fail "could not build the $n-message mbox"; }
    sed 's/^make-mbox: /  /' "$WORKDIR/make-$n.log"
}

# ---- header ------------------------------------------------------------------
REBOUND_SUM=$(cksum <"$REBOUND")
echo "== rebound analyze benchmark =="
echo "rebound:   $REBOUND"
v=$("$REBOUND" --version 2>/dev/null | head -n 1) && [ -n "$v" ] && echo "           $v"
if [ "$SISIMAI" = 1 ]; then
    echo "sisimai:   Sisimai $(perl -MSisimai -e 'print $Sisimai::VERSION') (perl $(perl -e 'printf "%vd", $^V'))"
fi
echo "machine:   $(nproc) CPU(s), $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/MemTotal/ { printf "%.0f GiB", $2/1048576 }' /proc/meminfo)"
echo "sizes:     rebound on $SIZES messages, $RUNS runs each (best wall time kept)"
[ "$SISIMAI" = 1 ] && echo "           Sisimai on $SISIMAI_SIZE messages, $SISIMAI_MEASURED"
read -r LOAD1 _ </proc/loadavg
echo "load:      $LOAD1 (1-minute load average at start)"
if awk -v l="$LOAD1" 'BEGIN { exit !(l >= 0.5) }'; then
    echo "           warning: the machine is busy; figures will be noisy (run again when idle)"
fi
echo "workdir:   $WORKDIR$([ "$KEEP" = 1 ] && echo ' (kept)')"
echo

echo "building mboxes ..."
ALL_SIZES=$SIZES
[ "$SISIMAI" = 1 ] && ALL_SIZES=$(printf '%s\n' $SIZES "$SISIMAI_SIZE" | sort -n -u | tr '\n' ' ')
for n in $ALL_SIZES; do make_mbox "$n"; done
echo

# ---- rebound -----------------------------------------------------------------
declare -A R_SECS R_RSS R_RESULTS R_CPU
for n in $SIZES; do
    mbox=$(mbox_of "$n")
    cat -- "$mbox" >/dev/null          # same warm page cache for every run
    best='' bestcpu='' rss=0 all=''
    for ((i = 1; i <= RUNS; i++)); do
        timed RUN "$WORKDIR/rebound-$n-$i" -- "$REBOUND" analyze --format jsonl "$mbox" \
            || fail "rebound failed on the $n-message mbox"
        all+="${all:+ }$RUN_SECS"
        if [ -z "$best" ] || awk -v a="$RUN_SECS" -v b="$best" 'BEGIN { exit !(a < b) }'; then
            best=$RUN_SECS bestcpu=$RUN_CPU
        fi
        [ "${RUN_RSS:-0}" -gt "$rss" ] && rss=$RUN_RSS
    done
    # results: one more, untimed run, its output counted
    cnt=$(timeout "$TIMEOUT" "$REBOUND" analyze --format jsonl "$mbox" 2>"$WORKDIR/rebound-$n-count.err" | wc -l) \
        || { tail -n 5 "$WORKDIR/rebound-$n-count.err" >&2; fail "rebound failed on the $n-message mbox (counting run)"; }
    R_SECS[$n]=$best R_RSS[$n]=$rss R_RESULTS[$n]=$cnt R_CPU[$n]=$bestcpu
    echo "rebound  $n msgs: runs $all s; best $best s; peak RSS $(mib "$rss"); $cnt results"
done

# ---- sisimai -----------------------------------------------------------------
if [ "$SISIMAI" = 1 ]; then
    n=$SISIMAI_SIZE
    mbox=$(mbox_of "$n")
    cat -- "$mbox" >/dev/null
    S_SECS='' S_CPU='' S_RSS=0 all=''
    for ((i = 1; i <= SISIMAI_RUNS; i++)); do
        log=$WORKDIR/sisimai-$n-$i
        t0=$EPOCHREALTIME
        timeout "$TIMEOUT" /usr/bin/time -v -o "$log.time" perl "$HERE/sisimai-count.pl" "$mbox" >"$log.out" 2>"$log.err"
        rc=$?
        t1=$EPOCHREALTIME
        if [ $rc -ne 0 ]; then
            [ $rc -eq 124 ] && echo "analyze.sh: Sisimai timed out after ${TIMEOUT}s (use a smaller --sisimai-size)" >&2
            tail -n 5 "$log.err" | sed 's/^/  stderr: /' >&2
            fail "Sisimai failed on the $n-message mbox (exit $rc)"
        fi
        secs=$(calc "$t1 - $t0" | awk '{ printf "%.3f", $1 }')
        all+="${all:+ }$secs"
        if [ -z "$S_SECS" ] || awk -v a="$secs" -v b="$S_SECS" 'BEGIN { exit !(a < b) }'; then
            S_SECS=$secs S_CPU=$(cpu_of "$log.time")
        fi
        rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$log.time")
        [ "${rss:-0}" -gt "$S_RSS" ] && S_RSS=$rss
    done
    S_RESULTS=$(tail -n 1 "$log.out")
    S_N=$n
    echo "sisimai  $n msgs: runs $all s; best $S_SECS s; peak RSS $(mib "$S_RSS"); $S_RESULTS results"
fi
echo

# ---- summary -----------------------------------------------------------------
rate() { awk -v n="$1" -v s="$2" 'BEGIN { if (s <= 0) s = 0.000001; printf "%.0f", n / s }'; }

echo "== summary =="
printf '%-8s %9s %9s %8s %11s %12s %9s %8s  %s\n' tool messages seconds 'cpu s' msgs/s 'peak RSS' results res/msg 'measured'
for n in $SIZES; do
    printf '%-8s %9d %9.3f %8.2f %11d %12s %9d %8.3f  %s\n' rebound "$n" "${R_SECS[$n]}" "${R_CPU[$n]}" \
        "$(rate "$n" "${R_SECS[$n]}")" "$(mib "${R_RSS[$n]}")" "${R_RESULTS[$n]}" \
        "$(calc "${R_RESULTS[$n]} / $n")" "best of $RUNS"
done
if [ "$SISIMAI" = 1 ]; then
    printf '%-8s %9d %9.3f %8.2f %11d %12s %9d %8.3f  %s\n' sisimai "$S_N" "$S_SECS" "$S_CPU" \
        "$(rate "$S_N" "$S_SECS")" "$(mib "$S_RSS")" "$S_RESULTS" \
        "$(calc "$S_RESULTS / $S_N")" "$SISIMAI_MEASURED"
fi
echo "(seconds: wall clock around the whole process, startup included; cpu s: user + system CPU"
echo " of that run, above seconds when threads ran in parallel; msgs/s: messages / wall seconds;"
echo " peak RSS: /usr/bin/time -v, largest over the runs; results: output lines of an extra"
echo " untimed run / Sisimai's count)"
echo

if [ "$SMALL" != "$LARGE" ]; then
    echo "rebound peak RSS: $(mib "${R_RSS[$SMALL]}") at $SMALL msgs, $(mib "${R_RSS[$LARGE]}") at $LARGE msgs;" \
        "large/small = $(calc "${R_RSS[$LARGE]} / ${R_RSS[$SMALL]}" | awk '{ printf "%.2f", $1 }')" \
        "(mbox $(calc "$LARGE / $SMALL" | awk '{ printf "%.1f", $1 }')x larger; ~1.0 means memory does not grow with mbox size)"
else
    echo "rebound peak RSS: $(mib "${R_RSS[$SMALL]}") at $SMALL msgs (one size only: no growth figure)"
fi
if [ "$SMALL" != "$LARGE" ] && [ "${R_RESULTS[$SMALL]}" -gt 0 ] \
    && ! awk -v a="${R_RESULTS[$SMALL]}" -v na="$SMALL" -v b="${R_RESULTS[$LARGE]}" -v nb="$LARGE" \
        'BEGIN { r = (b / nb) / (a / na); exit !(r > 0.99 && r < 1.01) }'; then
    echo "note: rebound's results per message differ by more than 1% between $SMALL and $LARGE messages"
fi

if [ "$SISIMAI" = 1 ]; then
    S_RATE=$(calc "$S_N / $S_SECS")
    HEAD=$(calc "($LARGE / ${R_SECS[$LARGE]}) / $S_RATE" | awk '{ printf "%.1f", $1 }')
    echo "speed rebound/Sisimai: ${HEAD}x (rebound on $LARGE msgs, best of $RUNS; Sisimai on $S_N msgs, $SISIMAI_MEASURED)"
    LIKE=
    if [ -n "${R_SECS[$S_N]:-}" ] && [ "$S_N" != "$LARGE" ]; then
        LIKE=$(calc "${R_SECS[$S_N]:-1} > 0 ? ($S_N / ${R_SECS[$S_N]}) / $S_RATE : 0" | awk '{ printf "%.1f", $1 }')
        echo "                       ${LIKE}x on the same $S_N-message mbox (rebound's startup weighs more there)"
    fi
    if awk -v r="$HEAD" -v t="$TARGET" 'BEGIN { exit !(r >= t) }'; then verdict=MET; else verdict="NOT MET"; fi
    echo "target: rebound msgs/s >= ${TARGET}x Sisimai's: $verdict (${HEAD}x)"
    if [ -n "$LIKE" ] && ! awk -v r="$LIKE" -v t="$TARGET" 'BEGIN { exit !(r >= t) }' && [ "$verdict" = MET ]; then
        echo "        (not met on the same $S_N-message mbox: ${LIKE}x)"
    fi
    if [ "${R_RESULTS[$S_N]:-}" != "" ] && [ "${R_RESULTS[$S_N]}" != "$S_RESULTS" ]; then
        echo "note: result counts differ on the $S_N-message mbox: rebound ${R_RESULTS[$S_N]}, Sisimai $S_RESULTS"
    fi
fi
if [ "$(cksum <"$REBOUND" 2>/dev/null)" != "$REBOUND_SUM" ]; then
    echo "warning: $REBOUND changed during the run (rebuilt?): the figures may mix two builds; run again"
fi
exit 0
