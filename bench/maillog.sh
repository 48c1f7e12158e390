#!/usr/bin/env bash
# bench/maillog.sh -- throughput and memory of `rebound maillog` on a large
# Postfix log, against pflogsumm and `wc -l` on the same file in the same run.
#
# Generates a synthetic, realistic mail.log of SIZE MiB (bench/make-maillog.py;
# cached in the work folder by size, seed and generator checksum), warms the
# page cache, and times, best of RUNS each: `wc -l LOG`, `pflogsumm LOG` (on a
# leading slice when the whole log would take it too long), and
# `rebound maillog --no-state --format F LOG > /dev/null` for each format.
# Prints seconds, MB/s, lines/s and peak RSS per tool, the ratios
# rebound/pflogsumm (speed-up) and wc -l/rebound (slow-down) against the
# targets, rebound's peak RSS on a quarter-size log against the full one, and
# rebound's record counts against what the generator wrote.  See
# bench/README.md, section "maillog".
#
# Exit status: 0 when everything was measured (whether or not the targets
# were met); 1 when a run failed; 2 on a usage error or a missing tool.

set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")

BUILD_DIR=
REBOUND=${REBOUND:-}
SIZE=${BENCH_SIZE:-1024}
SEED=${BENCH_SEED:-1}
RUNS=${BENCH_RUNS:-3}
PFL_RUNS=${BENCH_PFLOGSUMM_RUNS:-3}
PFL_MAX=${BENCH_PFLOGSUMM_MAX:-300}
PFL_SLICE=${BENCH_PFLOGSUMM_SLICE:-200}
FORMATS=${BENCH_FORMATS:-jsonl csv}
WORKDIR=${BENCH_WORKDIR:-}
TIMEOUT=${BENCH_TIMEOUT:-900}
TARGET_PFL=${BENCH_TARGET_PFLOGSUMM:-50}
TARGET_WC=${BENCH_TARGET_WC:-4}
KEEP=0
PFLOGSUMM=1
MEMCHECK=1
COUNTS=1
GZ=0

usage() {
    cat <<EOF
usage: bench/maillog.sh [options] [BUILD_DIR]

  BUILD_DIR             a meson build folder; rebound is BUILD_DIR/src/rebound
                        (default: build/ of this repository)
  --rebound PATH        the rebound binary itself (env REBOUND; overrides BUILD_DIR)
  --size MB             size of the generated log in MiB (env BENCH_SIZE; default 1024)
  --seed S              generator seed (env BENCH_SEED; default 1)
  --runs N              runs of wc -l and of each rebound format, best kept (env BENCH_RUNS; default 3)
  --formats "F ..."     rebound output formats timed (env BENCH_FORMATS; default "jsonl csv";
                        the first is the one judged against the targets)
  --pflogsumm-runs N    pflogsumm runs, best kept (env BENCH_PFLOGSUMM_RUNS; default 3)
  --pflogsumm-max S     if one pflogsumm run on the whole log is estimated to take more than
                        S seconds, it runs on a leading slice instead (env BENCH_PFLOGSUMM_MAX; default 300)
  --pflogsumm-slice MB  size of that slice (env BENCH_PFLOGSUMM_SLICE; default 200)
  --no-pflogsumm        no pflogsumm (no speed-up ratio)
  --no-memcheck         no quarter-size run (no memory-growth figure)
  --no-counts           no untimed counting run (no record-count check)
  --gz                  also time rebound (first format) on the log compressed with gzip -1
  --workdir DIR         where the logs are generated and cached (env BENCH_WORKDIR; default
                        \${TMPDIR:-/tmp}/rebound-bench-maillog); the logs are removed at the end
                        unless --keep is given (then the next run reuses them)
  --keep                keep the generated logs for the next run
  --timeout SECONDS     limit for one run (env BENCH_TIMEOUT; default 900)
  --target-pflogsumm X  speed-up target, rebound MB/s >= X * pflogsumm's (default 50)
  --target-wc X         slow-down target, rebound MB/s >= wc -l's / X (default 4)
  -h, --help            this text
EOF
}

die() { echo "maillog.sh: $*" >&2; exit 2; }
fail() { echo "maillog.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case $1 in
        --rebound) REBOUND=${2:?}; shift 2 ;;
        --size) SIZE=${2:?}; shift 2 ;;
        --seed) SEED=${2:?}; shift 2 ;;
        --runs) RUNS=${2:?}; shift 2 ;;
        --formats) FORMATS=${2:?}; shift 2 ;;
        --pflogsumm-runs) PFL_RUNS=${2:?}; shift 2 ;;
        --pflogsumm-max) PFL_MAX=${2:?}; shift 2 ;;
        --pflogsumm-slice) PFL_SLICE=${2:?}; shift 2 ;;
        --no-pflogsumm) PFLOGSUMM=0; shift ;;
        --no-memcheck) MEMCHECK=0; shift ;;
        --no-counts) COUNTS=0; shift ;;
        --gz) GZ=1; shift ;;
        --workdir) WORKDIR=${2:?}; shift 2 ;;
        --keep) KEEP=1; shift ;;
        --timeout) TIMEOUT=${2:?}; shift 2 ;;
        --target-pflogsumm) TARGET_PFL=${2:?}; shift 2 ;;
        --target-wc) TARGET_WC=${2:?}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        -*) usage >&2; die "unknown option: $1" ;;
        *) [ -z "$BUILD_DIR" ] || die "one BUILD_DIR only (got $BUILD_DIR and $1)"; BUILD_DIR=$1; shift ;;
    esac
done

# ---- checks ------------------------------------------------------------------
isint() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }
isnum() { [[ $1 =~ ^[0-9]+([.][0-9]+)?$ ]]; }
isint "$SIZE" || die "bad --size (MiB, a whole number): $SIZE"
[[ $SEED =~ ^[0-9]+$ ]] || die "bad --seed: $SEED"
isint "$RUNS" || die "bad --runs: $RUNS"
isint "$PFL_RUNS" || die "bad --pflogsumm-runs: $PFL_RUNS"
isint "$PFL_MAX" || die "bad --pflogsumm-max: $PFL_MAX"
isint "$PFL_SLICE" || die "bad --pflogsumm-slice: $PFL_SLICE"
isint "$TIMEOUT" || die "bad --timeout: $TIMEOUT"
isnum "$TARGET_PFL" || die "bad --target-pflogsumm: $TARGET_PFL"
isnum "$TARGET_WC" || die "bad --target-wc: $TARGET_WC"
FORMATS=$(tr ',' ' ' <<<"$FORMATS" | xargs)
[ -n "$FORMATS" ] || die "--formats is empty"
for f in $FORMATS; do case $f in jsonl|csv|table) ;; *) die "unknown format: $f (jsonl, csv, table)" ;; esac; done
FMT1=${FORMATS%% *}
QSIZE=$((SIZE / 4))
if [ "$MEMCHECK" = 1 ] && [ "$QSIZE" -lt 1 ]; then
    echo "maillog.sh: --size $SIZE is too small for a quarter-size log: no memory check" >&2
    MEMCHECK=0
fi

if [ -z "$REBOUND" ]; then
    [ -n "$BUILD_DIR" ] || BUILD_DIR=$REPO/build
    [ -d "$BUILD_DIR" ] || die "no build folder $BUILD_DIR (meson setup $BUILD_DIR && ninja -C $BUILD_DIR)"
    REBOUND=$BUILD_DIR/src/rebound
fi
case $REBOUND in */*) ;; *) REBOUND=$(command -v "$REBOUND" || echo "$REBOUND") ;; esac
[ -f "$REBOUND" ] && [ -x "$REBOUND" ] \
    || die "no rebound binary at $REBOUND (build it: meson setup build && ninja -C build; or pass BUILD_DIR, --rebound PATH or REBOUND=PATH)"
# a build folder outside the source tree does not find data/ by itself
if [ -z "${REBOUND_DATADIR:-}" ] && [ -r "$REPO/data/rules.conf" ]; then export REBOUND_DATADIR=$REPO/data; fi
"$REBOUND" maillog --help >/dev/null 2>&1 \
    || die "$REBOUND has no working 'maillog' subcommand ('rebound maillog --help' failed)"
[ -z "$BUILD_DIR" ] && BUILD_DIR=$(cd "$(dirname "$REBOUND")/.." 2>/dev/null && pwd)

[ -x /usr/bin/time ] && /usr/bin/time -v true 2>/dev/null \
    || die "GNU time is needed as /usr/bin/time (Debian: apt-get install time)"
command -v python3 >/dev/null || die "python3 is needed (Debian: apt-get install python3)"
command -v timeout >/dev/null || die "timeout (coreutils) is needed"
if [ "$PFLOGSUMM" = 1 ]; then
    command -v pflogsumm >/dev/null \
        || die "pflogsumm is needed (Debian: apt-get install pflogsumm), or pass --no-pflogsumm"
fi
if [ "$GZ" = 1 ]; then command -v gzip >/dev/null || die "gzip is needed for --gz"; fi

[ -n "$WORKDIR" ] || WORKDIR=${TMPDIR:-/tmp}/rebound-bench-maillog
mkdir -p "$WORKDIR/run" || die "cannot create $WORKDIR"
CREATED=()             # logs this run generated: removed at the end without --keep
cleanup() {
    rm -rf -- "$WORKDIR/run"
    if [ "$KEEP" = 0 ]; then
        local f
        for f in "${CREATED[@]}"; do rm -f -- "$f" "$f.stats" "$f.gen" "$f.gz"; done
        rmdir -- "$WORKDIR" 2>/dev/null
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- helpers -----------------------------------------------------------------
calc() { awk "BEGIN { printf \"%s\", ($1) }" </dev/null; }
cpu_of() { awk -F': ' '/User time \(seconds\)|System time \(seconds\)/ { t += $2 } END { printf "%.2f", t }' "$1"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }' </dev/null; }
stat_of() { awk -F= -v k="$2" '$1 == k { print $2; exit }' "$1.stats"; }
faster() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

GEN_SUM=$(cksum <"$HERE/make-maillog.py" | cut -d' ' -f1)

# log_for MB VAR: generate (or reuse) the MB-MiB log of this seed; its path goes to VAR
log_for() {
    local mb=$1 f
    f=$WORKDIR/maillog-${mb}M-s$SEED.log
    printf -v "$2" '%s' "$f"
    if [ -s "$f" ] && [ -s "$f.stats" ] && [ "$(cat "$f.gen" 2>/dev/null)" = "$GEN_SUM" ]; then
        echo "  reusing $f" >&2
    else
        echo "  generating $f (bench/make-maillog.py --size $mb --seed $SEED) ..." >&2
        rm -f -- "$f" "$f.stats" "$f.gen" "$f.gz"
        python3 "$HERE/make-maillog.py" --size "$mb" --seed "$SEED" --out "$f" --stats "$f.stats" \
            2>"$WORKDIR/run/generate.err" \
            || { cat "$WORKDIR/run/generate.err" >&2; rm -f -- "$f" "$f.stats"; fail "could not generate the log"; }
        echo "$GEN_SUM" >"$f.gen"
        CREATED+=("$f")
        echo "  generated in $(stat_of "$f" generator_seconds) s" >&2
    fi
}

# timed PREFIX NAME -- CMD...: runs CMD under /usr/bin/time -v, stdout to
# /dev/null; sets ${PREFIX}_SECS (wall, bash's microsecond clock), _RSS (KiB), _CPU.
timed() {
    local p=$1 name=$2; shift 3
    local log=$WORKDIR/run/$name t0 t1 rc
    t0=$EPOCHREALTIME
    timeout "$TIMEOUT" /usr/bin/time -v -o "$log.time" "$@" >/dev/null 2>"$log.err"
    rc=$?
    t1=$EPOCHREALTIME
    if [ $rc -ne 0 ]; then
        echo "maillog.sh: run failed (exit $rc): $*" >&2
        [ $rc -eq 124 ] && echo "  timed out after ${TIMEOUT}s (--timeout)" >&2
        grep -E 'Command (exited|terminated)' "$log.time" 2>/dev/null | sed 's/^/  /' >&2
        tail -n 5 "$log.err" | sed 's/^/  stderr: /' >&2
        return 1
    fi
    printf -v "${p}_SECS" '%s' "$(calc "$t1 - $t0" | awk '{ printf "%.3f", $1 }')"
    printf -v "${p}_RSS" '%s' "$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$log.time")"
    printf -v "${p}_CPU" '%s' "$(cpu_of "$log.time")"
}

# bench TOOL FILE RUNS BYTES -- CMD...: best of RUNS; records a row of the table.
# BYTES: the bytes the tool reads (empty: FILE's size; for a .gz, the uncompressed size)
declare -a T_TOOL T_SECS T_CPU T_BYTES T_LINES T_RSS T_NOTE
declare -A SECS_OF BYTES_OF RSS_OF CPU_OF
bench() {
    local tool=$1 file=$2 runs=$3 bytes=$4; shift 5
    local best='' bestcpu='' rss=0 all='' i
    cat -- "$file" >/dev/null           # warm page cache, the same for every tool
    for ((i = 1; i <= runs; i++)); do
        timed RUN "$(tr -c 'A-Za-z0-9\n' '-' <<<"$tool")-$i" -- "$@" || return 1
        all+="${all:+ }$RUN_SECS"
        if [ -z "$best" ] || faster "$RUN_SECS" "$best"; then best=$RUN_SECS bestcpu=$RUN_CPU; fi
        [ "${RUN_RSS:-0}" -gt "$rss" ] && rss=$RUN_RSS
    done
    local lines note
    [ -n "$bytes" ] || bytes=$(stat -c %s -- "$file")
    lines=${LINES_OF[$file]}
    if [ "$runs" = 1 ]; then note="1 run"; else note="best of $runs"; fi
    T_TOOL+=("$tool") T_SECS+=("$best") T_CPU+=("$bestcpu") T_BYTES+=("$bytes") T_LINES+=("$lines") T_RSS+=("$rss")
    T_NOTE+=("$note")
    SECS_OF[$tool]=$best BYTES_OF[$tool]=$bytes RSS_OF[$tool]=$rss CPU_OF[$tool]=$bestcpu
    printf '  %-24s runs %s s; best %s s; %s MB/s; peak RSS %s\n' "$tool" "$all" "$best" \
        "$(calc "$bytes / 1000000 / ($best > 0 ? $best : 0.000001)" | awk '{ printf "%.1f", $1 }')" "$(mib "$rss")"
}
declare -A LINES_OF

mbps() { calc "${BYTES_OF[$1]} / 1000000 / (${SECS_OF[$1]} > 0 ? ${SECS_OF[$1]} : 0.000001)"; }
# MB per CPU second: what the tool costs, whatever else runs on the machine
mbpc() { calc "${BYTES_OF[$1]} / 1000000 / (${CPU_OF[$1]} > 0 ? ${CPU_OF[$1]} : 0.005)"; }

# ---- header ------------------------------------------------------------------
REBOUND_SUM=$(cksum <"$REBOUND")
echo "== rebound maillog benchmark =="
echo "rebound:   $REBOUND"
v=$("$REBOUND" --version 2>/dev/null | head -n 1) && [ -n "$v" ] && echo "           $v"
BT=$(python3 - "$BUILD_DIR" 2>/dev/null <<'EOF'
import json, sys
try:
    d = {o["name"]: o["value"] for o in json.load(open(sys.argv[1] + "/meson-info/intro-buildoptions.json"))}
    print("%s (-O%s%s)" % (d["buildtype"], d["optimization"], ", LTO" if d.get("b_lto") else ""))
except Exception:
    pass
EOF
)
[ -n "$BT" ] && echo "build:     $BT"
[ -n "${REBOUND_DATADIR:-}" ] && echo "data:      REBOUND_DATADIR=$REBOUND_DATADIR"
case $BT in debug*" (-O0"*|plain*) echo "           warning: not an optimised build; the figures say little (meson setup --buildtype=release)";; esac
if [ "$PFLOGSUMM" = 1 ]; then
    echo "pflogsumm: $(dpkg-query -W -f='${Package} ${Version}' pflogsumm 2>/dev/null || pflogsumm --version 2>&1 | head -n 1) (perl $(perl -e 'printf "%vd", $^V'))"
fi
echo "wc:        $(wc --version | head -n 1)"
echo "machine:   $(nproc) CPU(s), $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/MemTotal/ { printf "%.0f GiB", $2/1048576 }' /proc/meminfo)"
read -r LOAD1 _ </proc/loadavg
echo "load:      $LOAD1 (1-minute load average at start)"
if awk -v l="$LOAD1" 'BEGIN { exit !(l >= 0.5) }'; then
    echo "           warning: the machine is busy; figures will be noisy (run again when idle)"
fi
echo "workdir:   $WORKDIR$([ "$KEEP" = 1 ] && echo ' (logs kept for the next run)')"
echo

echo "logs ..."
log_for "$SIZE" LOG
LINES_OF[$LOG]=$(stat_of "$LOG" lines)
echo "  $LOG: $(stat -c %s -- "$LOG") bytes, ${LINES_OF[$LOG]} lines, $(stat_of "$LOG" first_day) .. $(stat_of "$LOG" last_stamp)," \
     "$(stat_of "$LOG" messages) messages, up to $(stat_of "$LOG" max_open_qids) open queue IDs"
if [ "$MEMCHECK" = 1 ]; then
    log_for "$QSIZE" QLOG
    LINES_OF[$QLOG]=$(stat_of "$QLOG" lines)
    echo "  $QLOG: quarter size, ${LINES_OF[$QLOG]} lines, up to $(stat_of "$QLOG" max_open_qids) open queue IDs"
fi
if [ "$GZ" = 1 ]; then
    if [ ! -s "$LOG.gz" ] || [ "$LOG.gz" -ot "$LOG" ]; then
        echo "  compressing (gzip -1) ..."
        gzip -1 -c -- "$LOG" >"$LOG.gz" || fail "gzip failed"
    fi
    LINES_OF[$LOG.gz]=${LINES_OF[$LOG]}
    echo "  $LOG.gz: $(stat -c %s -- "$LOG.gz") bytes (MB/s below counts the uncompressed bytes)"
fi

# pflogsumm: the whole log, unless a quick probe says a run would take longer than PFL_MAX s
PFL_LOG=$LOG
PFL_NOTE="the whole log"
if [ "$PFLOGSUMM" = 1 ]; then
    probe_mb=16
    if [ "$SIZE" -gt $((probe_mb * 4)) ]; then
        head -c $((probe_mb << 20)) -- "$LOG" | sed '$d' >"$WORKDIR/run/probe.log"
        t0=$EPOCHREALTIME
        timeout "$TIMEOUT" pflogsumm "$WORKDIR/run/probe.log" >/dev/null 2>&1 || fail "pflogsumm failed on a 16 MiB probe"
        t1=$EPOCHREALTIME
        est=$(calc "($t1 - $t0) * $SIZE / $probe_mb" | awk '{ printf "%.0f", $1 }')
        echo "  pflogsumm: $(calc "$t1 - $t0" | awk '{ printf "%.2f", $1 }') s on $probe_mb MiB: about $est s for the whole log"
        if [ "$est" -gt "$PFL_MAX" ] && [ "$PFL_SLICE" -lt "$SIZE" ]; then
            PFL_LOG=$WORKDIR/maillog-${SIZE}M-s$SEED.first-${PFL_SLICE}M.log
            head -c $((PFL_SLICE << 20)) -- "$LOG" | sed '$d' >"$PFL_LOG" || fail "cannot write $PFL_LOG"
            CREATED+=("$PFL_LOG")
            LINES_OF[$PFL_LOG]=$(wc -l <"$PFL_LOG")
            PFL_NOTE="the first $PFL_SLICE MiB of the log (${LINES_OF[$PFL_LOG]} lines; over --pflogsumm-max $PFL_MAX s)"
        fi
        rm -f -- "$WORKDIR/run/probe.log"
    fi
    echo "  pflogsumm runs on $PFL_NOTE"
fi
echo

# ---- the runs ----------------------------------------------------------------
echo "runs ..."
bench "wc -l" "$LOG" "$RUNS" "" -- wc -l "$LOG" || fail "wc -l failed"
for f in $FORMATS; do
    bench "rebound --format $f" "$LOG" "$RUNS" "" -- "$REBOUND" maillog --no-state --format "$f" "$LOG" \
        || fail "rebound maillog --format $f failed"
done
if [ "$GZ" = 1 ]; then
    bench "rebound --format $FMT1 .gz" "$LOG.gz" "$RUNS" "$(stat -c %s -- "$LOG")" -- \
        "$REBOUND" maillog --no-state --format "$FMT1" "$LOG.gz" || fail "rebound maillog on the .gz failed"
fi
if [ "$MEMCHECK" = 1 ]; then
    bench "rebound $FMT1 (1/4 log)" "$QLOG" "$RUNS" "" -- "$REBOUND" maillog --no-state --format "$FMT1" "$QLOG" \
        || fail "rebound maillog on the quarter-size log failed"
fi
if [ "$PFLOGSUMM" = 1 ]; then
    bench "pflogsumm" "$PFL_LOG" "$PFL_RUNS" "" -- pflogsumm "$PFL_LOG" || fail "pflogsumm failed"
fi

# record counts: one more, untimed run of the first format, counted by status
COUNT_MSG=()
if [ "$COUNTS" = 1 ] && [ "$FMT1" = jsonl ]; then
    timeout "$TIMEOUT" "$REBOUND" maillog --no-state --format jsonl "$LOG" 2>"$WORKDIR/run/count.err" \
        | grep -o '"delivery_status": *"[a-z_]*"' | sed 's/.*"\([a-z_]*\)"$/\1/' | sort | uniq -c >"$WORKDIR/run/count.out" \
        || { tail -n 5 "$WORKDIR/run/count.err" >&2; fail "rebound maillog failed (counting run)"; }
    got() { awk -v s="$1" '$2 == s { print $1; f = 1 } END { if (!f) print 0 }' "$WORKDIR/run/count.out"; }
    exp_sent=$(($(stat_of "$LOG" rcpt_sent) + $(stat_of "$LOG" lmtp_sent)))
    for s in sent deferred bounced expired deliverable undeliverable; do
        case $s in
            sent) e=$exp_sent ;;
            *) e=$(stat_of "$LOG" "rcpt_$s") ;;
        esac
        g=$(got "$s")
        if [ "$g" = "$e" ]; then v=ok
        elif [ "$s" = deliverable ] && [ "$g" = 0 ]; then v="(address-verification probes that succeeded: not delivery attempts, not reported)"
        else v=DIFFERS; fi
        COUNT_MSG+=("$(printf '%-14s %9s %9s  %s' "$s" "$g" "$e" "$v")")
    done
    other=$(awk '$2 !~ /^(sent|deferred|bounced|expired|deliverable|undeliverable)$/ { printf "%s%s=%s", sep, $2, $1; sep = " " }' "$WORKDIR/run/count.out")
    [ -n "$other" ] && COUNT_MSG+=("other statuses: $other")
fi
echo

# ---- summary -----------------------------------------------------------------
echo "== summary =="
printf '%-26s %8s %9s %8s %9s %11s %10s %11s  %s\n' tool MB seconds 'cpu s' MB/s lines/s 'MB/cpu-s' 'peak RSS' measured
for i in "${!T_TOOL[@]}"; do
    printf '%-26s %8.1f %9.3f %8.2f %9.1f %11.0f %10.1f %11s  %s\n' "${T_TOOL[$i]}" "$(calc "${T_BYTES[$i]} / 1000000")" \
        "${T_SECS[$i]}" "${T_CPU[$i]}" "$(calc "${T_BYTES[$i]} / 1000000 / (${T_SECS[$i]} > 0 ? ${T_SECS[$i]} : 0.000001)")" \
        "$(calc "${T_LINES[$i]} / (${T_SECS[$i]} > 0 ? ${T_SECS[$i]} : 0.000001)")" \
        "$(calc "${T_BYTES[$i]} / 1000000 / (${T_CPU[$i]} > 0 ? ${T_CPU[$i]} : 0.005)")" "$(mib "${T_RSS[$i]}")" "${T_NOTE[$i]}"
done
echo "(MB = 10^6 bytes read (uncompressed); seconds: wall clock around the whole process, best run;"
echo " cpu s: user + system of that run; lines/s: lines of the file read / seconds; MB/cpu-s: MB / cpu s"
echo " (the same figure on a busy machine, where the wall clock also counts waiting for a CPU); peak RSS:"
echo " /usr/bin/time -v, largest over the runs; rebound writes to /dev/null, --no-state)"
[ "$PFLOGSUMM" = 1 ] && [ "$PFL_LOG" != "$LOG" ] && echo "pflogsumm ran on $PFL_NOTE: its MB/s is per MB of that slice"
echo

verdicts=()
R1="rebound --format $FMT1"
for f in $FORMATS; do
    r="rebound --format $f"
    if [ "$PFLOGSUMM" = 1 ]; then
        up=$(calc "$(mbps "$r") / $(mbps pflogsumm)" | awk '{ printf "%.1f", $1 }')
        if awk -v r="$up" -v t="$TARGET_PFL" 'BEGIN { exit !(r >= t) }'; then v=PASS; else v=MISS; fi
        upc=$(calc "$(mbpc "$r") / $(mbpc pflogsumm)" | awk '{ printf "%.1f", $1 }')
        printf 'speed-up  rebound %-5s / pflogsumm: %7sx  (target >= %sx): %s   [by cpu time: %sx]\n' "$f" "$up" "$TARGET_PFL" "$v" "$upc"
        [ "$r" = "$R1" ] && verdicts+=("pflogsumm $v")
    fi
    down=$(calc "$(mbps "wc -l") / $(mbps "$r")" | awk '{ printf "%.2f", $1 }')
    if awk -v r="$down" -v t="$TARGET_WC" 'BEGIN { exit !(r <= t) }'; then v=PASS; else v=MISS; fi
    downc=$(calc "$(mbpc "wc -l") / $(mbpc "$r")" | awk '{ printf "%.1f", $1 }')
    printf 'slow-down wc -l / rebound %-5s:     %7sx  (target <= %sx): %s   [by cpu time: %sx]\n' "$f" "$down" "$TARGET_WC" "$v" "$downc"
    [ "$r" = "$R1" ] && verdicts+=("wc -l $v")
done
if [ "$GZ" = 1 ]; then
    echo "rebound on the .gz: $(mbps "$R1 .gz" | awk '{ printf "%.1f", $1 }') MB/s (uncompressed) vs $(mbps "$R1" | awk '{ printf "%.1f", $1 }') MB/s plain"
fi
if [ "$MEMCHECK" = 1 ]; then
    q="rebound $FMT1 (1/4 log)"
    ratio=$(calc "${RSS_OF[$R1]} / ${RSS_OF[$q]}" | awk '{ printf "%.2f", $1 }')
    if awk -v r="$ratio" 'BEGIN { exit !(r <= 1.25) }'; then v=PASS; else v=MISS; fi
    echo "memory    rebound peak RSS: $(mib "${RSS_OF[$q]}") on the $QSIZE MiB log (up to $(stat_of "$QLOG" max_open_qids) open queue IDs)," \
         "$(mib "${RSS_OF[$R1]}") on the $SIZE MiB log (up to $(stat_of "$LOG" max_open_qids)); full/quarter = $ratio" \
         "(target ~1.0, <= 1.25: bounded by open queue IDs, not log size): $v"
    verdicts+=("memory $v")
fi
if [ "$PFLOGSUMM" = 1 ]; then
    echo "          pflogsumm peak RSS: $(mib "${RSS_OF[pflogsumm]}") (it keeps every queue ID's size: grows with the log)"
fi
echo "verdict:  ${verdicts[*]} (on wall-clock MB/s, best runs)"
if awk -v l="$LOAD1" 'BEGIN { exit !(l >= 0.5) }'; then
    echo "          the machine was busy (load $LOAD1 at start): the [by cpu time] ratios are the steadier figures"
fi
if [ "${#COUNT_MSG[@]}" -gt 0 ]; then
    echo
    echo "records of 'rebound maillog --format jsonl' by delivery_status, against what the generator wrote:"
    printf '%-14s %9s %9s\n' status rebound generated
    printf '%s\n' "${COUNT_MSG[@]}"
    echo "(generated 'sent' = smtp sent $(stat_of "$LOG" rcpt_sent) (incl. $(stat_of "$LOG" ndr_sent) bounce notices from=<>) + lmtp sent $(stat_of "$LOG" lmtp_sent) (inbound mail to the bounce mailbox);"
    echo " 'deferred' counts every deferred attempt; an expired recipient also has a deferred line for its last attempt;"
    echo " at the end of the log $(stat_of "$LOG" open_qids_at_end) queue IDs are still open (cut by the log's end, as rotation does))"
fi
if [ "$(cksum <"$REBOUND" 2>/dev/null)" != "$REBOUND_SUM" ]; then
    echo "warning: $REBOUND changed during the run (rebuilt?): the figures may mix two builds; run again"
fi
exit 0
