#!/usr/bin/env bash
# postfix-lab.sh -- a throwaway Postfix instance for the end-to-end tests.
#
#   postfix-lab.sh start DIR     configure and start a Postfix instance and the
#                                scripted SMTP sink (tests/smtp-sink.py) entirely
#                                under DIR; print shell assignments (eval them)
#                                naming what a test needs:
#       LAB_ETC    the config_directory (postfix -c, sendmail -C, postqueue -c)
#       LAB_LOG    the maillog_file postlogd writes (no syslog needed)
#       LAB_QUEUE  the queue_directory
#       LAB_PORT   the instance's smtpd port on 127.0.0.1
#       SINK_PORT  the sink's port; SINK_LOG its log
#       LAB_RCPT_DOMAIN  recipients here (example.test) go to the sink
#       LAB_SENDER_DOMAIN sender.test: also the sink (so bounces to VERP senders
#                  are delivered and logged, as on a real sending server)
#       LAB_HOST   myhostname (lab.rebound.test); mydestination holds it and
#                  lab.test, whose mail is discarded
#   postfix-lab.sh stop DIR      stop both (robustly: postfix stop, then abort,
#                                then kill -9 of the master by pid), remove DIR
#                                (kept when LAB_KEEP=1)
#   postfix-lab.sh wait DIR ERE [COUNT] [SECONDS]
#                                wait until COUNT (1) lines of the maillog match
#                                ERE; exit 1 after SECONDS (60) with the log tail
#
# Extra configuration for a test, applied before the start:
#   LAB_MAIN_EXTRA       main.cf settings, one "name = value" a line (postconf -e)
#   LAB_MASTER_EXTRA     lines appended to master.cf (e.g. a pipe(8) transport)
#   LAB_TRANSPORT_EXTRA  lines appended to the transport table (texthash)
#
# Nothing of a system Postfix is used or touched: own config_directory, queue,
# data directory and log; loopback only, ports chosen free at start; no DNS
# (smtp_dns_support_level = disabled, nexthops are IP literals).  Runs as root
# only (Postfix's set-gid tools accept a non-default -c directory from root;
# the master needs root); exits 77 otherwise, or when Postfix is missing.
# Queue timers are seconds so retries, deferrals and expiry happen in a test.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
HOSTNAME_=lab.rebound.test
# the system python starts in milliseconds; a version manager's shim may take a second
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

die() { echo "postfix-lab.sh: $*" >&2; exit 1; }
skip() { echo "postfix-lab.sh: SKIP: $*" >&2; exit 77; }
usage() { echo "usage: postfix-lab.sh start|stop DIR | wait DIR ERE [COUNT] [SECONDS]" >&2; exit 2; }

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

lab_processes() {  # pids of processes started by this lab's Postfix (MAIL_CONFIG names DIR/etc)
    grep -lzx "MAIL_CONFIG=$DIR/etc" /proc/[0-9]*/environ 2>/dev/null | sed 's|^/proc/\([0-9]*\)/environ$|\1|'
    return 0
}

master_pid() {  # the lab master's pid, if it is running
    local f=$DIR/queue/pid/master.pid p
    [ -r "$f" ] || return 1
    p=$(tr -dc 0-9 <"$f")
    [ -n "$p" ] && kill -0 "$p" 2>/dev/null || return 1
    # the pid file may be stale and the number reused: it must be a Postfix master
    [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = /usr/lib/postfix/sbin/master ] || return 1
    echo "$p"
}

[ $# -ge 2 ] || usage
CMD=$1
DIR=$2
case $DIR in /*) ;; *) DIR=$PWD/$DIR ;; esac

case $CMD in
start)
    [ "$(id -u)" -eq 0 ] || skip "needs root (a Postfix master runs as root; CI runs as root)"
    command -v postfix >/dev/null 2>&1 && [ -x /usr/lib/postfix/sbin/master ] ||
        skip "Postfix is not installed (Debian package postfix; scripts/install-deps.sh)"
    command -v "$PY" >/dev/null 2>&1 || skip "python3 is missing (the SMTP sink)"
    id postfix >/dev/null 2>&1 || die "no postfix system user"
    mkdir -p "$DIR"
    [ ! -e "$DIR/etc" ] || die "$DIR/etc exists: stop the old lab first"
    # the postfix user must reach the queue and the data directory
    chmod 755 "$DIR"
    p=$DIR
    while [ "$p" != / ]; do
        runuser -u postfix -- test -x "$p" || die "$p is not traversable by the postfix user"
        p=$(dirname "$p")
    done
    mkdir -p "$DIR/etc" "$DIR/queue" "$DIR/data"
    chmod 755 "$DIR/etc" "$DIR/queue"
    chown postfix "$DIR/data"

    # the sink first: its port goes into the transport table
    sink_log=$DIR/sink.log
    : >"$sink_log"
    setsid "$PY" "$here/smtp-sink.py" 0 --log "$sink_log" --port-file "$DIR/sink.port" \
        --max-seconds "${LAB_SINK_SECONDS:-1800}" </dev/null >>"$sink_log" 2>&1 &
    echo $! >"$DIR/sink.pid"
    for _ in $(seq 100); do [ -s "$DIR/sink.port" ] && break; sleep 0.1; done
    [ -s "$DIR/sink.port" ] || die "the SMTP sink did not start: $(tail -5 "$sink_log")"
    sink_port=$(cat "$DIR/sink.port")
    lab_port=$(free_port)

    cat >"$DIR/etc/main.cf" <<EOF
# postfix-lab.sh: a throwaway test instance; everything lives under $DIR
compatibility_level = 3.6
queue_directory = $DIR/queue
data_directory = $DIR/data
mail_owner = postfix
setgid_group = postdrop
myhostname = $HOSTNAME_
mydomain = rebound.test
myorigin = \$myhostname
mydestination = \$myhostname, lab.test, localhost
# the local domain's mail is thrown away (no mailbox on this machine is used)
local_transport = discard:lab local domain
alias_maps =
alias_database =
local_recipient_maps =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_banner = \$myhostname ESMTP lab
biff = no
recipient_delimiter = +
# logging through postlogd to a file of our own: no syslog needed
maillog_file = $DIR/maillog
maillog_file_prefixes = $DIR
# no DNS anywhere: nexthops are IP literals
smtp_dns_support_level = disabled
smtp_host_lookup = native
disable_dns_lookups = yes
smtp_tls_security_level = none
smtpd_tls_security_level = none
transport_maps = texthash:$DIR/etc/transport
# queue timers in seconds, so that a retry and an expiry fit in a test
queue_run_delay = 2s
minimal_backoff_time = 2s
maximal_backoff_time = 4s
maximal_queue_lifetime = 1d
bounce_queue_lifetime = 1d
delay_warning_time = 0h
smtp_connect_timeout = 5s
# keep the process count small on a shared 2-core machine
default_process_limit = 10
# a mail loop test would hang: fail fast instead
smtp_helo_timeout = 20s
EOF
    # a test's settings replace the defaults above in place (postconf -e), so that
    # no daemon warns about a parameter set twice
    if [ -n "${LAB_MAIN_EXTRA:-}" ]; then
        while IFS= read -r line; do
            case $line in '' | '#'*) continue ;; esac
            postconf -c "$DIR/etc" -e "$line" || die "bad LAB_MAIN_EXTRA line: $line"
        done <<<"$LAB_MAIN_EXTRA"
    fi

    cat >"$DIR/etc/transport" <<EOF
example.test    smtp:[127.0.0.1]:$sink_port
sender.test     smtp:[127.0.0.1]:$sink_port
EOF
    [ -z "${LAB_TRANSPORT_EXTRA:-}" ] || printf '%s\n' "$LAB_TRANSPORT_EXTRA" >>"$DIR/etc/transport"

    # no chroot anywhere (the jail would need copies of the system files)
    cat >"$DIR/etc/master.cf" <<EOF
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:$lab_port inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
        -o syslog_name=postfix/\$service_name
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
    [ -z "${LAB_MASTER_EXTRA:-}" ] || printf '%s\n' "$LAB_MASTER_EXTRA" >>"$DIR/etc/master.cf"

    postfix -c "$DIR/etc" check >"$DIR/check.log" 2>&1 || die "postfix check failed: $(cat "$DIR/check.log")"
    if [ -s "$DIR/check.log" ]; then
        echo "postfix-lab.sh: postfix check warnings:" >&2
        cat "$DIR/check.log" >&2
    fi
    postfix -c "$DIR/etc" start >"$DIR/start.log" 2>&1 || die "postfix start failed: $(cat "$DIR/start.log")"
    # the master binds the smtpd listener before it logs this
    for _ in $(seq 100); do grep -q 'daemon started' "$DIR/maillog" 2>/dev/null && break; sleep 0.1; done
    grep -q 'daemon started' "$DIR/maillog" 2>/dev/null || die "no 'daemon started' in $DIR/maillog"

    cat >"$DIR/lab.env" <<EOF
LAB_DIR=$DIR
LAB_ETC=$DIR/etc
LAB_LOG=$DIR/maillog
LAB_QUEUE=$DIR/queue
LAB_PORT=$lab_port
SINK_PORT=$sink_port
SINK_LOG=$sink_log
LAB_HOST=$HOSTNAME_
LAB_RCPT_DOMAIN=example.test
LAB_SENDER_DOMAIN=sender.test
EOF
    cat "$DIR/lab.env"
    ;;

stop)
    [ -d "$DIR" ] || exit 0
    if [ -d "$DIR/etc" ] && master_pid >/dev/null; then
        postfix -c "$DIR/etc" stop >/dev/null 2>&1 || true
        for _ in $(seq 50); do master_pid >/dev/null || break; sleep 0.1; done
        if master_pid >/dev/null; then
            postfix -c "$DIR/etc" abort >/dev/null 2>&1 || true
            for _ in $(seq 30); do master_pid >/dev/null || break; sleep 0.1; done
        fi
        if p=$(master_pid); then kill -9 "$p" 2>/dev/null || true; fi
    fi
    if [ -s "$DIR/sink.pid" ]; then
        p=$(tr -dc 0-9 <"$DIR/sink.pid")
        # only our sink: the pid's command line must name smtp-sink.py
        if [ -n "$p" ] && tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q 'smtp-sink\.py'; then
            kill "$p" 2>/dev/null || true
            for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$p" 2>/dev/null || true
        fi
    fi
    # daemons exit when their master is gone; any left (they carry MAIL_CONFIG=DIR/etc
    # in their environment, so they are this lab's) are killed before the queue goes
    for i in $(seq 30); do
        left=$(lab_processes)
        [ -n "$left" ] || break
        if [ "$i" = 30 ]; then kill -9 $left 2>/dev/null || true; else sleep 0.1; fi
    done
    if [ "${LAB_KEEP:-0}" != 1 ]; then rm -rf "$DIR"; fi
    ;;

wait)
    ere=${3:?usage: postfix-lab.sh wait DIR ERE [COUNT] [SECONDS]}
    count=${4:-1}
    secs=${5:-60}
    end=$((SECONDS + secs))
    while :; do
        n=$(grep -cE -- "$ere" "$DIR/maillog" 2>/dev/null || true)
        [ "${n:-0}" -ge "$count" ] && exit 0
        if [ $SECONDS -ge $end ]; then
            echo "postfix-lab.sh: timed out after ${secs}s waiting for $count line(s) matching: $ere (found ${n:-0})" >&2
            tail -n 30 "$DIR/maillog" >&2 2>/dev/null || true
            exit 1
        fi
        sleep 0.2
    done
    ;;
*)
    usage
    ;;
esac
