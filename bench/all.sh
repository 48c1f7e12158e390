#!/usr/bin/env bash
# bench/all.sh -- every benchmark of bench/ in one run, at one size, and one
# table: what rebound did, against its peer measured in the same run (or
# against its target), the ratio, rebound's peak RSS, and the verdict.
#
# usage: bench/all.sh [--scale F] [--only "analyze maillog serve apply report"]
#                     [--rebound PATH] [--out DIR]
#
#   --scale F   the size, as a fraction of the targets' own sizes (default 1):
#                 analyze  50,000 messages x F (Sisimai on a fifth of that)
#                 maillog  1 GiB log x F (pflogsumm on a slice when slow)
#                 serve    10 s per run x F (at least 3 s), 16 connections, SQLite
#                 apply    1 M records into 10 M contacts x F, SQLite and PostgreSQL
#                 report   1 M contacts, 3 M events, 3 M sends x F, SQLite and PostgreSQL
#               0.1 gives a table in ~10 minutes on the project's 2-core machine;
#               1 takes about an hour, most of it building the 10 M-contact store.
#   --only L    run only these benchmarks
#   --out DIR   keep each benchmark's whole output there (default a temporary folder,
#               named at the end)
#
# The machine (CPU model, cores, memory) and the load average before and after
# each benchmark are printed with the table: on a shared machine compare the
# ratios of one run, not the seconds of two.  Exit status: 0 when every
# benchmark ran (targets met or not), 1 when one failed, 2 on a usage error.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
SCALE=1 ONLY="analyze maillog serve apply report" OUT= REBOUND=${REBOUND:-$REPO/build/src/rebound}
while [ $# -gt 0 ]; do
  case $1 in
    --scale) SCALE=${2:?}; shift 2 ;;
    --only) ONLY=${2:?}; shift 2 ;;
    --rebound) REBOUND=${2:?}; shift 2 ;;
    --out) OUT=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "all.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ $SCALE =~ ^[0-9]*\.?[0-9]+$ ]] || { echo "all.sh: bad --scale: $SCALE" >&2; exit 2; }
[ -x "$REBOUND" ] || { echo "all.sh: no rebound at $REBOUND (build it, or --rebound PATH)" >&2; exit 2; }
export REBOUND
[ -n "$OUT" ] || OUT=$(mktemp -d /tmp/rebound-bench-all.XXXXXX)
mkdir -p "$OUT"
sz() { python3 -c 'import sys; print(max(int(float(sys.argv[1]) * float(sys.argv[2])), int(sys.argv[3])))' "$1" "$SCALE" "$2"; }
load() { cut -d' ' -f1 /proc/loadavg; }

ROWS=()      # benchmark | measure | rebound | peer or target | ratio | peak RSS | verdict
row() { ROWS+=("$1|$2|$3|$4|$5|$6|$7"); }
LOADS=()
rc=0

run() {   # name, command...: the output to $OUT/name.txt; the load before and after
  local name=$1; shift
  local l0 t0; l0=$(load); t0=$(date +%s)
  echo "== $name: $*" >&2
  "$@" > "$OUT/$name.txt" 2>&1 || { echo "all.sh: $name failed (see $OUT/$name.txt)" >&2; rc=1; }
  LOADS+=("$name: load $l0 -> $(load), $(( $(date +%s) - t0 )) s")
}
pick() { grep -E "$2" "$OUT/$1.txt" | tail -1; }   # the last line of a benchmark's output matching
num() { grep -oE "$1" | head -1 | grep -oE '[0-9]+(\.[0-9]+)?' | head -1; }

for b in $ONLY; do
  case $b in
  analyze)
    n=$(sz 50000 2000); s=$(sz 10000 1000)
    run analyze bash "$REPO/bench/analyze.sh" --sizes "$n" --sisimai-size "$s" --runs 3
    l=$(pick analyze '^speed rebound/Sisimai:'); x=$(num '[0-9.]+x' <<<"$l")
    t=$(grep -E "^rebound +$n +[0-9.]+ " "$OUT/analyze.txt" | tail -1)      # the table's row
    rss=$(grep -oE '[0-9.]+ MiB' <<<"$t" | head -1); rebound_ms=$(awk '{print $5}' <<<"$t")
    sis_ms=$(grep -E "^sisimai +[0-9]+ +[0-9.]+ " "$OUT/analyze.txt" | tail -1 | awk '{print $5}')
    v=$(awk -v x="${x:-0}" 'BEGIN{print (x >= 50) ? "MET" : "MISSED"}')
    row analyze "msgs/s, $n msgs" "${rebound_ms:-?}" "Sisimai ${sis_ms:-?}" "${x:-?}x (>= 50x)" "${rss:-?}" "$v" ;;
  maillog)
    m=$(sz 1024 16)
    run maillog bash "$REPO/bench/maillog.sh" --size "$m" --runs 3 --formats jsonl --no-counts
    up=$(pick maillog 'speed-up +rebound jsonl / pflogsumm') ; dn=$(pick maillog 'slow-down wc -l / rebound jsonl')
    x1=$(num '[0-9.]+x' <<<"$up"); x2=$(num '[0-9.]+x' <<<"$dn")
    r=$(grep -E '^rebound --format jsonl +[0-9.]+ +[0-9.]+ ' "$OUT/maillog.txt" | tail -1)      # the table's row
    mbs=$(awk '{print $7}' <<<"$r"); rss=$(grep -oE '[0-9.]+ MiB' <<<"$r" | head -1)
    p=$(grep -E '^pflogsumm +[0-9.]+ +[0-9.]+ ' "$OUT/maillog.txt" | tail -1 | awk '{print $5}')
    w=$(grep -E '^wc -l +[0-9.]+ +[0-9.]+ ' "$OUT/maillog.txt" | tail -1 | awk '{print $6}')
    v=$(awk -v x="${x1:-0}" 'BEGIN{print (x >= 50) ? "MET" : "MISSED"}')
    row maillog "MB/s, $m MiB log" "${mbs:-?}" "pflogsumm ${p:-?}" "${x1:-?}x (>= 50x)" "${rss:-?}" "$v"
    v=$(awk -v x="${x2:-99}" 'BEGIN{print (x <= 4) ? "MET" : "MISSED"}')
    row maillog "MB/s vs wc -l" "${mbs:-?}" "wc -l ${w:-?}" "${x2:-?}x slower (<= 4x)" "" "$v" ;;
  serve)
    d=$(sz 10 3)
    run serve bash "$REPO/bench/serve.sh" --duration "$d" --connections 16
    for k in POST GET; do
      l=$(grep -E "^ *$k +16 " "$OUT/serve.txt" | tail -1)
      rq=$(awk '{print $3}' <<<"$l"); p99=$(awk '{print $5}' <<<"$l")
      v=$(awk -v r="${rq:-0}" -v p="${p99:-99}" 'BEGIN{print (r >= 20000 && p < 5) ? "MET" : "MISSED"}')
      row serve "$k req/s, 16 conns" "${rq:-?} (p99 ${p99:-?} ms)" "target 20000, p99 < 5 ms" \
        "$(awk -v r="${rq:-0}" 'BEGIN{printf "%.2f", r / 20000}')" "" "$v"
    done ;;
  apply)
    c=$(sz 10000000 100000); n=$(sz 1000000 10000)
    run apply bash "$REPO/bench/apply.sh" --contacts "$c" --records "$n" --no-flatness
    for be in sqlite postgresql; do
      t=$(grep -E "^ *apply --commit +$be " "$OUT/apply.txt" | head -1); t2=$(grep -E "^ *apply --commit again +$be " "$OUT/apply.txt" | head -1)
      [ -n "$t" ] || continue
      s1=$(awk '{print $5}' <<<"$t"); s2=$(awk '{print $6}' <<<"$t2"); rss=$(awk '{print $NF}' <<<"$t")
      lim=60; [ $be = postgresql ] && lim=90
      v=$(awk -v a="$s1" -v b="${s2:-999}" -v l=$lim 'BEGIN{print (a < l && b < 20) ? "MET" : "MISSED"}')
      row apply "$be commit $n into $c (again)" "$s1 s ($s2 s)" "target < $lim s (< 20 s)" \
        "$(awk -v a="$s1" -v l=$lim 'BEGIN{printf "%.2f", a / l}')" "$rss MiB" "$v"
    done ;;
  report)
    c=$(sz 1000000 10000); e=$(sz 3000000 30000)
    run report bash "$REPO/bench/report.sh" --contacts "$c" --events "$e" --sends "$e"
    cur=
    while IFS= read -r l; do
      case $l in
        sqlite:*|postgresql:*) cur=${l%%:*}; ev=$(grep -oE '[0-9]+ events' <<<"$l" | num '[0-9]+') ;;
        *"report --format json"*)
          [ "$ev" = "$e" ] || continue
          s1=$(awk '{print $4}' <<<"$l"); rss=$(grep -oE '[0-9.]+ MiB' <<<"$l")
          v=$(awk -v a="$s1" 'BEGIN{print (a < 5) ? "MET" : "MISSED"}')
          row report "$cur json, $c contacts, $e events" "$s1 s" "target < 5 s" \
            "$(awk -v a="$s1" 'BEGIN{printf "%.2f", a / 5}')" "$rss" "$v" ;;
      esac
    done < "$OUT/report.txt" ;;
  *) echo "all.sh: unknown benchmark: $b" >&2; exit 2 ;;
  esac
done

echo
echo "rebound $(git -C "$REPO" describe --always --dirty 2>/dev/null), $(date -u +%Y-%m-%dT%H:%MZ), scale $SCALE"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores," \
     "$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
for l in "${LOADS[@]}"; do echo "  $l"; done
echo
{
  echo "BENCHMARK|MEASURE|REBOUND|PEER / TARGET|RATIO|PEAK RSS|TARGET"
  for r in "${ROWS[@]}"; do echo "$r"; done
} | column -t -s'|'
[ "$SCALE" = 1 ] || echo "(scale $SCALE: the TARGET column compares this size with the full-size targets; only --scale 1 decides them)"
echo
echo "each benchmark's whole output: $OUT"
exit $rc
