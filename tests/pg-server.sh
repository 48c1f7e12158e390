#!/bin/sh
# pg-server.sh -- a throwaway PostgreSQL server for the store tests.
#
#   pg-server.sh start DIR   initdb in DIR/data, start the server listening
#                            only on a unix socket in DIR, create the database
#                            rebound_test and print its libpq URL (one line);
#   pg-server.sh stop DIR    stop the server and remove DIR;
#   pg-server.sh save DIR DEST   stop the server, copy its data folder to DEST
#                            (a new path) and start it again (bench/apply.sh
#                            keeps a large imported store that way).
# With PG_DATA_FROM=PATH (a folder `save` wrote), start copies PATH as the
# data folder instead of running initdb; the database is then already there.
#
# DIR should be a fresh directory (mktemp -d); it is created if missing.
# PostgreSQL refuses to run as root: when run as root, initdb/pg_ctl/psql run
# as the `postgres` system user, DIR is handed to that user and made
# traversable.  The port only names the socket file (.s.PGSQL.PORT), so a
# fixed number cannot clash with a server listening on TCP; PGPORT overrides
# it.  Everything is fast and unsafe on purpose (fsync off): tests only.
set -eu

PORT=${PGPORT:-5544}
DB=rebound_test

die() {
    echo "pg-server.sh: $*" >&2
    if [ -n "${SHOWLOG:-}" ] && [ -f "$LOG" ]; then
        echo "pg-server.sh: last lines of $LOG:" >&2
        tail -n 20 "$LOG" >&2
    fi
    exit 1
}

usage() {
    echo "usage: pg-server.sh start|stop DIR | save DIR DEST" >&2
    exit 2
}

# The highest installed server version (Debian: /usr/lib/postgresql/N/bin).
find_bindir() {
    best=
    bestv=0
    for d in /usr/lib/postgresql/*/bin; do
        if [ ! -x "$d/pg_ctl" ] || [ ! -x "$d/initdb" ]; then continue; fi
        v=$(basename "$(dirname "$d")")
        v=${v%%.*}
        case $v in *[!0-9]* | '') continue ;; esac
        if [ "$v" -gt "$bestv" ]; then
            bestv=$v
            best=$d
        fi
    done
    if [ -z "$best" ] && command -v pg_ctl >/dev/null 2>&1; then
        best=$(dirname "$(command -v pg_ctl)")
    fi
    [ -n "$best" ] || die "no PostgreSQL server found (looked in /usr/lib/postgresql/*/bin and PATH)"
    echo "$best"
}

# Run a command as the server's owner: ourselves, or `postgres` when root.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        if command -v runuser >/dev/null 2>&1; then
            runuser -u postgres -- "$@"
        else
            su postgres -s /bin/sh -c 'exec "$@"' sh "$@"
        fi
    else
        "$@"
    fi
}

start_server() {
    as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
        -o "-c listen_addresses='' -c unix_socket_directories='$DIR' -p $PORT -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >/dev/null 2>&1 ||
        die "the server did not start"
}

[ $# -eq 2 ] || { [ $# -eq 3 ] && [ "$1" = save ]; } || usage
CMD=$1
DIR=$2
case $DIR in
    /*) ;;
    *) DIR=$(pwd)/$DIR ;;
esac
DATA=$DIR/data
LOG=$DIR/server.log

case $CMD in
start)
    BIN=$(find_bindir)
    mkdir -p "$DIR" || die "cannot create $DIR"
    [ ! -e "$DATA" ] || die "$DATA already exists (stop the old server first)"
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || die "running as root but there is no postgres system user"
        chown postgres "$DIR" || die "cannot chown $DIR to postgres"
        chmod 755 "$DIR"
        # the socket lives in DIR: every parent must be traversable
        p=$(dirname "$DIR")
        while [ "$p" != / ]; do
            as_owner test -x "$p" || die "$p is not traversable by postgres; use a directory under /tmp (mktemp -d)"
            p=$(dirname "$p")
        done
    fi
    : >"$LOG" || die "cannot write $LOG"
    [ "$(id -u)" -ne 0 ] || chown postgres "$LOG"
    SHOWLOG=1

    if [ -n "${PG_DATA_FROM:-}" ]; then
        [ -f "$PG_DATA_FROM/PG_VERSION" ] || die "PG_DATA_FROM=$PG_DATA_FROM is not a PostgreSQL data folder"
        cp -a --reflink=auto "$PG_DATA_FROM" "$DATA" || die "cannot copy $PG_DATA_FROM"
        [ "$(id -u)" -ne 0 ] || chown -R postgres "$DATA"
        rm -f "$DATA/postmaster.pid"
    else
        as_owner "$BIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
            >>"$LOG" 2>&1 ||
            as_owner "$BIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C \
                >>"$LOG" 2>&1 ||
            die "initdb failed"
    fi
    start_server
    if [ -z "${PG_DATA_FROM:-}" ]; then
        as_owner "$BIN/psql" -X -q -h "$DIR" -p "$PORT" -U postgres -d postgres \
            -c "CREATE DATABASE $DB" >>"$LOG" 2>&1 ||
            die "CREATE DATABASE $DB failed"
    fi
    echo "postgresql:///$DB?host=$DIR&port=$PORT&user=postgres"
    ;;
save)
    SHOWLOG=1
    DEST=$3
    [ ! -e "$DEST" ] || die "$DEST already exists"
    [ -d "$DATA" ] || die "no server data in $DATA"
    BIN=$(find_bindir)
    as_owner "$BIN/pg_ctl" -D "$DATA" -w -t 120 -m fast stop >/dev/null 2>&1 || die "pg_ctl stop failed"
    cp -a --reflink=auto "$DATA" "$DEST" || { rm -rf "$DEST"; die "cannot copy $DATA to $DEST"; }
    rm -f "$DEST/postmaster.pid"
    start_server
    ;;
stop)
    SHOWLOG=1
    if [ -d "$DATA" ]; then
        BIN=$(find_bindir)
        if ! as_owner "$BIN/pg_ctl" -D "$DATA" -w -t 60 -m fast stop >/dev/null 2>&1; then
            # not running (crashed, never started) is fine; anything else is not
            st=0
            as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1 || st=$?
            [ "$st" -eq 3 ] || die "pg_ctl stop failed"
        fi
    fi
    rm -rf "$DIR"
    ;;
*)
    usage
    ;;
esac
