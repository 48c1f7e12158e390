#!/usr/bin/env bash
# bench/serve.sh -- throughput and latency of the status API (rebound serve)
# on loopback with the SQLite store, measured with wrk (Debian package wrk):
# POSTs of the seed's form (every one a new event: a disable, a soft bounce, a
# deferral, a block, a complaint, a reactivation or an unsubscribe of a random
# contact) and GETs of random contacts.  Reports requests/s and the 50th/99th
# percentile latency of each against the target (>= 20,000 req/s and p99 <
# 5 ms), the server's CPU time per request (user + system, all its threads),
# and how the writer grouped the POSTs into transactions.  See
# bench/README.md, section "serve".
#
# Exit status: 0 when both runs completed without errors (whether or not the
# targets were met); 1 when a run failed or answered anything but 200; 2 on a
# usage error or a missing tool.

set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")

REBOUND=${REBOUND:-$REPO/build/src/rebound}
CONTACTS=${CONTACTS:-100000}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-3}
CONNS=${BENCH_CONNECTIONS:-32}
WRK_THREADS=${BENCH_WRK_THREADS:-2}
SERVE_THREADS=${BENCH_SERVE_THREADS:-}
WORKDIR=${BENCH_WORKDIR:-}
KEEP=0
TARGET_RPS=20000
TARGET_P99_MS=5

usage() {
    cat <<EOF
usage: bench/serve.sh [options]

  --rebound PATH      rebound binary (env REBOUND; default build/src/rebound)
  --contacts N        contacts in the store (env CONTACTS; default 100000)
  --duration S        seconds per measured run (env BENCH_DURATION; default 10)
  --warmup S          seconds of POSTs before the runs, not counted (env BENCH_WARMUP; default 3)
  --connections "C.." wrk connections; several values run each (env BENCH_CONNECTIONS; default 32)
  --wrk-threads N     wrk threads (env BENCH_WRK_THREADS; default 2)
  --serve-threads N   rebound serve --threads (env BENCH_SERVE_THREADS; default: its own)
  --workdir DIR       where the store goes (env BENCH_WORKDIR; default a temporary folder)
  --keep              keep the folder (store, server log, wrk output)
  -h, --help          this text
EOF
}

die() { echo "serve.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
    case $1 in
        --rebound) REBOUND=$2; shift 2 ;;
        --contacts) CONTACTS=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --warmup) WARMUP=$2; shift 2 ;;
        --connections) CONNS=$2; shift 2 ;;
        --wrk-threads) WRK_THREADS=$2; shift 2 ;;
        --serve-threads) SERVE_THREADS=$2; shift 2 ;;
        --workdir) WORKDIR=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done

command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
command -v curl >/dev/null || die "curl is not installed"
[ -x "$REBOUND" ] || die "no rebound binary at $REBOUND (build it, or --rebound PATH)"
case $CONTACTS in ''|*[!0-9]*) die "--contacts: a number" ;; esac
export REBOUND_DATADIR=${REBOUND_DATADIR:-$REPO/data}

if [ -z "$WORKDIR" ]; then
    WORKDIR=$(mktemp -d /tmp/rebound-bench-serve.XXXXXX)
    [ $KEEP = 1 ] || trap 'rm -rf "$WORKDIR"' EXIT
fi
mkdir -p "$WORKDIR"
cd "$WORKDIR" || exit 2
SP=
trap '[ -n "$SP" ] && kill $SP 2>/dev/null; [ $KEEP = 1 ] || rm -rf "$WORKDIR"' EXIT

echo "rebound serve benchmark: $CONTACTS contacts, SQLite store in $WORKDIR"
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at start; wrk $WRK_THREADS threads"

# ---- the store: contacts and a key ------------------------------------------------------------
rm -f bench.db bench.db-wal bench.db-shm
awk -v n="$CONTACTS" 'BEGIN { print "email,source"; for (i = 0; i < n; i++) printf "user%d@example%d.com,Newsletter\n", i, i % 500 }' > contacts.csv
"$REBOUND" contacts import --create --db bench.db contacts.csv > /dev/null || die "contacts import failed"
KEY=$("$REBOUND" keys add --db bench.db bench 2>/dev/null) || die "keys add failed"

# ---- wrk scripts --------------------------------------------------------------------------------
# POST: a random contact, a status from a mix like a day's reports, a counter
# in the text so that every request is a new event (nothing is a duplicate).
cat > post.lua <<EOF
local key = "$KEY"
local ncontacts = $CONTACTS
local kinds = {
  "status=bounced&bounce_type=hard&status_code=550+5.1.10&status_message=RESOLVER.ADR.RecipientNotFound%3B+Recipient+not+found+",
  "status=bounced&bounce_type=hard&status_code=550+5.1.1&status_message=user+unknown+",
  "status=bounced&bounce_type=hard&status_code=550+5.1.1&status_message=mailbox+unavailable+",
  "status=bounced&bounce_type=soft&status_code=452+4.2.2&status_message=mailbox+full+",
  "status=bounced&bounce_type=soft&status_code=421+4.4.1&status_message=connection+timed+out+",
  "status=deferred&status_code=451+4.4.1&status_message=connection+timed+out+",
  "status=deferred&status_code=450+4.2.0&status_message=greylisted+",
  "status=blocked&status_code=550+5.7.1&status_message=rejected+due+to+low+reputation+",
  "status=blocked&status_code=554+5.7.1&status_message=spam+detected+",
  "status=complaint&status_message=abuse+report+",
  "status=active&status_message=delivered+",
  "status=unsubscribed&status_message=list-unsubscribe+",
}
local n = 0
local nthreads = 0
-- each thread's own id (a global set from the main state), so that no two
-- threads send the same sequence
function setup(thread) nthreads = nthreads + 1; thread:set("tid", nthreads) end
function init(args) math.randomseed(os.time() * 1000 + tid * 7919); n = 0 end
request = function()
  n = n + 1
  local i = math.random(0, ncontacts - 1)
  local body = "email=user" .. i .. "%40example" .. (i % 500) .. ".com&provider=bench&" ..
               kinds[(n % #kinds) + 1] .. tid .. "-" .. n
  return wrk.format("POST", "/contact/api/email-status/",
                    {["X-Contact-Provider-Key"] = key, ["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
EOF
cat > get.lua <<EOF
local key = "$KEY"
local ncontacts = $CONTACTS
local nthreads = 0
function setup(thread) nthreads = nthreads + 1; thread:set("tid", nthreads) end
function init(args) math.randomseed(os.time() * 1000 + tid * 7919) end
request = function()
  local i = math.random(0, ncontacts - 1)
  return wrk.format("GET", "/contact/api/email-status/?email=user" .. i .. "%40example" .. (i % 500) .. ".com",
                    {["X-Contact-Provider-Key"] = key})
end
EOF

# ---- the server --------------------------------------------------------------------------------------
"$REBOUND" serve --db bench.db --listen 127.0.0.1:0 ${SERVE_THREADS:+--threads $SERVE_THREADS} 2> serve.log &
SP=$!
for _ in $(seq 100); do grep -q 'listening on' serve.log 2>/dev/null && break; sleep 0.05; done
PORT=$(grep -oE 'http://127\.0\.0\.1:[0-9]+/' serve.log | grep -oE '[0-9]+/$' | tr -d /)
[ -n "$PORT" ] || { cat serve.log; die "rebound serve did not start"; }
URL=http://127.0.0.1:$PORT/
grep 'listening on' serve.log

cpu_ticks() { local t s=0; for t in /proc/$SP/task/*/stat; do s=$((s + $(awk '{print $14 + $15}' "$t" 2>/dev/null || echo 0))); done; echo $s; }
to_ms() {   # wrk latency "812.00us" / "4.53ms" / "1.02s" -> milliseconds
    awk -v v="$1" 'BEGIN { u = v; sub(/[0-9.]+/, "", u); x = v + 0;
        if (u == "us") x /= 1000; else if (u == "s") x *= 1000; else if (u == "m") x *= 60000; printf "%.2f", x }'
}
health() { curl -s "$URL"healthz | grep -oE "\"$1\":[0-9]+" | cut -d: -f2; }
# what a system call costs on this machine (virtual machines differ ten-fold): 200,000 getppid()
syscall_cost() {
    command -v perl >/dev/null || { echo '?'; return; }
    perl -MTime::HiRes=time -e '$t = time; for (1 .. 200000) { syscall(110) } printf "%.2f", (time - $t) / 200000 * 1e6'
}

status=0
results=()
run() {   # run NAME LUA CONNECTIONS
    local name=$1 lua=$2 c=$3 out c0 c1 n rps p50 p99 non2xx errs cpu wcpu verdict
    c0=$(cpu_ticks)
    if [ -x /usr/bin/time ]; then
        out=$(/usr/bin/time -f 'WRKCPU %U %S' wrk -t"$WRK_THREADS" -c"$c" -d"${DURATION}s" --latency -s "$lua" "$URL" 2>&1)
    else
        out=$(wrk -t"$WRK_THREADS" -c"$c" -d"${DURATION}s" --latency -s "$lua" "$URL" 2>&1)
    fi
    c1=$(cpu_ticks)
    echo "$out" > "wrk-$name-c$c.txt"
    n=$(grep -oE '^ +[0-9]+ requests in' <<<"$out" | grep -oE '[0-9]+' | head -1)
    rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
    p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
    p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
    non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
    errs=$(grep -E 'Socket errors' <<<"$out")
    if [ -z "$n" ] || [ -z "$rps" ]; then echo "$out"; echo "serve.sh: wrk run $name failed" >&2; status=1; return; fi
    if [ -n "$non2xx" ] || [ -n "$errs" ]; then
        echo "serve.sh: $name: ${non2xx:-0} answers other than 2xx; $errs" >&2; status=1
    fi
    cpu=$(awk -v t=$((c1 - c0)) -v n="$n" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f", t / hz * 1e6 / n }')
    wcpu=$(awk -v n="$n" '$1 == "WRKCPU" { printf "%.0f", ($2 + $3) * 1e6 / n }' <<<"$out")
    verdict=$(awk -v r="$rps" -v p="$p99" -v tr=$TARGET_RPS -v tp=$TARGET_P99_MS \
        'BEGIN { print (r >= tr ? "met" : "NOT met") " / " (p < tp ? "met" : "NOT met") }')
    results+=("$(printf '%-5s %5s %10s %9s %9s %10s %8s   %s' "$name" "$c" "$rps" "$p50" "$p99" "$cpu" "${wcpu:-?}" "$verdict")")
}

# warm-up: caches, the WAL, the writer's statements
wrk -t"$WRK_THREADS" -c"${CONNS%% *}" -d"${WARMUP}s" -s post.lua "$URL" > /dev/null 2>&1
g0=$(health group_commits); u0=$(health grouped_updates)
for c in $CONNS; do run POST post.lua "$c"; done
g1=$(health group_commits); u1=$(health grouped_updates)
for c in $CONNS; do run GET get.lua "$c"; done

kill -TERM $SP; wait $SP; rc=$?; SP=
[ $rc = 0 ] || { echo "serve.sh: rebound serve exited $rc" >&2; status=1; }
events=$(sqlite3 bench.db 'SELECT COUNT(*) FROM events' 2>/dev/null || echo '?')

echo
printf '%-5s %5s %10s %9s %9s %10s %8s   %s\n' RUN CONNS "REQ/S" "P50 MS" "P99 MS" "SERVER US" "WRK US" "TARGET >=${TARGET_RPS}/s / p99<${TARGET_P99_MS}ms"
for r in "${results[@]}"; do echo "$r"; done
echo
if [ -n "$g1" ] && [ -n "$g0" ] && [ $((g1 - g0)) -gt 0 ]; then
    echo "POSTs: $((u1 - u0)) updates in $((g1 - g0)) transactions (group commit: $(( (u1 - u0) / (g1 - g0) )) per transaction on average)"
fi
echo "events stored: $events; request log lines: $(grep -c ' /contact/api/email-status/ ' serve.log)"
echo "SERVER US / WRK US: CPU time (user + system) per request of the server (all its threads) and of"
echo "wrk; on a shared machine they show the cost of a request better than req/s, which depends on"
echo "what else runs.  A null system call costs $(syscall_cost) us here."
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $status
