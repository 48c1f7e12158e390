# serve-lib.sh -- sourced by the serve tests (test_serve.sh, test_serve_kill.sh).
#
# start_server DB [ARGS...]: starts `$R serve --db DB ARGS` on a free loopback
# port and waits for its "listening on" line (START_TRIES x 50 ms, default
# 100); sets SP (its pid), PORT, U (http://127.0.0.1:PORT) and LOG (its
# stderr, a file under $work).  Fails when no port was printed.
start_server() {
  local db=$1; shift
  LOG=$work/serve.$RANDOM.log
  "$R" serve --db "$db" --listen 127.0.0.1:0 "$@" 2>"$LOG" &
  SP=$!
  local i
  for i in $(seq "${START_TRIES:-100}"); do
    grep -q 'listening on' "$LOG" 2>/dev/null && break
    kill -0 $SP 2>/dev/null || break
    sleep 0.05
  done
  PORT=$(grep -oE 'http://127\.0\.0\.1:[0-9]+/' "$LOG" | grep -oE '[0-9]+/$' | tr -d /)
  U=http://127.0.0.1:$PORT
  [ -n "$PORT" ]
}
