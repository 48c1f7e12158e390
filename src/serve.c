/* serve.c -- `rebound serve`: the contact server's status API over HTTP
 * (libmicrohttpd).
 *
 *   POST /contact/api/email-status/   a provider's update (seed 000's curl call)
 *   GET  /contact/api/email-status/?email=ADDR   the contact and its recent events
 *   GET  /healthz
 *
 * Threads: libmicrohttpd's pool (--threads, one poll() loop each) reads
 * requests, checks keys, parses and classifies bodies, and answers GETs from
 * a read connection of its own (SQLite WAL lets readers run beside the
 * writer).  POSTs are handed to one writer thread with the connection
 * suspended; the writer takes every update queued meanwhile and decides them
 * in one transaction (group commit), then resumes each connection, which
 * answers only once its update is committed.  With SQLite a checkpointer
 * thread copies the WAL into the database from its own connection, so
 * commits do not wait for checkpoints (except, once the WAL is large, for
 * a short one that lets it start again: checkpointer_main); a logger thread writes the request log in
 * batches.  One rb_store is never shared between threads.
 *
 * SIGTERM / SIGINT: stop accepting, let the requests in flight finish (their
 * answers carry "Connection: close"), then exit.  SIGHUP re-reads the keys
 * (they are re-read every second anyway).
 *
 * Keys come from the store's api_keys table, or with --keys FILE from a file
 * that `rebound keys export` wrote (for a server that cannot read the table):
 * checked every second, re-read when its inode, size or mtime changed; a bad
 * file is reported and the keys read before are kept.
 */
#include <errno.h>
#include <malloc.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <sqlite3.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "cli.h"
#include "rebound_api.h"

#define EX_UNAVAILABLE_ 69
#define API_PATH "/contact/api/email-status/"
#define KEY_HEADER "X-Contact-Provider-Key"
#define JSON_TYPE "application/json; charset=utf-8"
#define MAX_GROUP 512               /* updates per group commit */
#define KEY_REFRESH_MS 1000         /* keys are re-read this often */
#define TOUCH_EVERY 60              /* seconds between writes of api_keys.last_used_at */
#define EVENTS_DEFAULT 20
#define EVENTS_MAX 1000
/* WAL checkpoints: a page changed by several commits in between is copied
 * once, so rarer is cheaper; but each one ends in an fsync that stalls the
 * writer's WAL appends for a while, and the longer the wait the longer the
 * stall.  Measured: 100 ms costs 19 us of CPU per update, 500 ms 12 us with
 * three times the slow (> 40 ms) requests. */
#define CHECKPOINT_MS 250
/* Once the WAL holds CHECKPOINT_RESTART_FRAMES frames (64 MiB of 4 KiB
 * pages, SQLite's wal_autocheckpoint for the other commands), passes, at
 * most CHECKPOINT_PASSES, until the frames appended during the last are
 * fewer than CHECKPOINT_HELD_FRAMES, then one with the writer held, so that
 * the WAL starts again from its beginning (below: checkpointer_main).  The
 * hold stalls the POSTs in flight for its copy (10-100 ms measured on the
 * loaded 2-core machine), so it is rare: about once per 4,000 updates. */
#define CHECKPOINT_RESTART_FRAMES 16384
#define CHECKPOINT_PASSES 3
#define CHECKPOINT_HELD_FRAMES 1024

enum { R_NONE, R_API, R_HEALTH, R_METRICS, R_NROUTES };

/* GET /metrics: the Prometheus text exposition format */
#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_CACHE_MS 5000       /* the store's aggregates are read at most this often, */
#define METRICS_DUTY 10             /* ... and at most 1/10 of the time (a slow query is cached longer) */
#define METRICS_CACHE_MAX_MS 300000
#define M_METHODS 4                 /* GET HEAD POST other */
#define M_CODES 600
/* the group-commit write time, seconds: the upper bounds of the histogram's buckets */
static const double write_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define W_NB (sizeof write_buckets / sizeof write_buckets[0])

typedef struct server server;

/* One open connection, for the head deadline: a client that does not
 * finish a request's line and headers within --head-timeout of connecting
 * (or of its previous answer) is cut off, so slow clients cannot hold the
 * descriptors while they trickle a header line now and then. */
typedef struct conn_track {
    int fd;
    _Atomic int64_t waiting_ms;     /* waiting for a request head since (ms); 0 while one is handled */
    _Atomic int64_t body_ms;        /* reading a request body since (ms); 0 when not */
    int cut;                        /* shut down by the reaper */
    struct conn_track *prev, *next;
} conn_track;

/* One request, from its headers to its log line. */
typedef struct req {
    server *srv;
    struct MHD_Connection *conn;
    double t0;
    int route, is_post, code;
    char key[RB_API_NAME_MAX];      /* the key's name, once authenticated */
    char client[64], method[12], path[128];
    char *body;
    size_t blen, bcap, discarded;
    int too_big, queued;
    atomic_int done;                /* the writer has decided it */
    rb_api_update *u;
    rb_api_result res;
    rb_status st;
    char errmsg[200];
    struct req *next;
} req;

typedef struct {
    char name[RB_API_NAME_MAX];
    char hash[RB_API_HASH_LEN + 1];
    _Atomic int64_t used;           /* last request with it (s) */
    int64_t flushed;                /* last_used_at as stored */
} key_ent;

struct server {
    const char *db;
    rb_ctx *ctx;
    size_t max_body;
    double shutdown_timeout;
    struct MHD_Daemon *d;
    /* the writer and its queue */
    pthread_t writer;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_cond_t ckpt_cv;
    pthread_cond_t idle_cv;         /* the writer finished a group (for a held checkpoint) */
    pthread_t checkpointer;
    int has_checkpointer;
    int ckpt_hold;                  /* the checkpointer asks the writer not to start a group */
    int writing;                    /* the writer is deciding a group */
    req *head, *tail;
    size_t qlen;
    int stop;
    rb_store *wst;
    /* what each pool thread keeps: its read connection and GET buffers (freed at exit) */
    pthread_mutex_t rmu;
    struct worker **workers;
    size_t nworkers, capworkers;
    /* keys */
    pthread_rwlock_t klock;
    key_ent *keys;
    size_t nkeys;
    _Atomic int64_t keys_loaded_ms;
    atomic_int keys_refreshing;
    const char *keys_file;          /* --keys: the keys from there, not from api_keys */
    atomic_int keys_force;          /* SIGHUP: re-read the file even if it looks the same */
    struct stat keys_st;            /* the file as last read (or tried), only under keys_refreshing */
    int keys_st_ok;
    /* request log: lines gathered per pool thread, written by the logger thread */
    pthread_mutex_t lmu;
    pthread_cond_t lcv;
    pthread_t logger;
    int has_logger, log_stop;
    /* connections: the head deadline (reaper_main) */
    pthread_mutex_t cmu;            /* the list; held while a descriptor is shut down, so that
                                     * MHD's close (after the CLOSED notice) cannot race it */
    conn_track *conns;
    pthread_t reaper;
    int has_reaper, reaper_stop;
    pthread_cond_t rcv;
    int64_t head_timeout_ms, body_timeout_ms;
    atomic_ullong head_cut;         /* connections cut at the head deadline */
    atomic_long nconns;
    /* state */
    atomic_int active;              /* requests between their first call and their completion */
    atomic_int draining;
    atomic_ullong served;
    atomic_ullong groups, grouped;  /* group commits, updates in them */
    /* metrics */
    int metrics_loopback;           /* --metrics-loopback-only */
    double start_time;              /* CLOCK_REALTIME at start */
    atomic_ullong http[R_NROUTES][M_METHODS][M_CODES];  /* answered requests */
    atomic_ullong wbucket[W_NB + 1];                    /* group commits per bucket (last: +Inf) */
    atomic_ullong wsum_ns;
    pthread_mutex_t mmu;            /* the store's part, cached: one aggregate query per METRICS_CACHE_MS */
    rb_buf mcache;
    int64_t mcache_ms;
    int mcache_valid, mstore_up;
    double mquery_s;
    pthread_t mthread;              /* reads them: metrics_main */
    int has_mthread, mwant, mrefreshing, mstop;
    pthread_cond_t mcv, mdone;
    /* the writer's group */
    req *batch[MAX_GROUP];
    rb_api_update *ups[MAX_GROUP];
    rb_api_result res[MAX_GROUP];
};

typedef struct worker {
    rb_store *st;                   /* read connection; NULL after a failure (reopened) */
    rb_contact c;
    rb_event *ev;
    size_t nev;
    pthread_mutex_t lmu;            /* its log lines, until the logger takes them */
    char *lbuf;
    size_t llen, lcap;
    unsigned long ldropped;
} worker;

static __thread worker *tl_w;           /* this pool thread's */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void help(FILE *f)
{
    fprintf(f,
            "usage: rebound serve [--db URL] [--listen ADDR:PORT] [--keys FILE] [--threads N]\n"
            "                     [--max-body BYTES] [--max-connections N] [--per-ip-limit N]\n"
            "                     [--head-timeout S] [--body-timeout S] [--idle-timeout S]\n"
            "                     [--metrics-loopback-only]\n"
            "                     [--policy FILE] [--rules FILE]\n\n"
            "The status API: providers report what became of an address, and it goes\n"
            "through the same policy as `rebound apply`.\n\n"
            "  POST /contact/api/email-status/   form-encoded or JSON fields email, status\n"
            "        (bounced blocked deferred complaint unsubscribed active), bounce_type,\n"
            "        status_code, status_message, provider, provider_source [, date];\n"
            "        the key in the X-Contact-Provider-Key header\n"
            "  GET  /contact/api/email-status/?email=ADDR[&events=N]   the contact and its\n"
            "        last N events (20)\n"
            "  GET  /healthz\n"
            "  GET  /metrics   counters and gauges in the Prometheus text format; the key as\n"
            "        above (or Authorization: Bearer KEY)\n\n"
            "  --db URL             store: a SQLite file or postgresql://... (default $REBOUND_DB,\n"
            "                       else rebound.db)\n"
            "  --listen ADDR:PORT   where to listen (default 127.0.0.1:8025; [::1]:8025 for IPv6;\n"
            "                       port 0 picks a free one, printed at start)\n"
            "  --keys FILE          the keys from FILE (lines NAME SHA256HEX, as `rebound keys\n"
            "                       export` writes) rather than the store's api_keys table;\n"
            "                       re-read when it changes; last use is not recorded\n"
            "  --threads N          HTTP threads (default: the number of CPUs)\n"
            "  --max-body BYTES     larger request bodies are refused with 413 (default 65536)\n"
            "  --shutdown-timeout S how long SIGTERM waits for requests in flight (default 30)\n"
            "  --event-loop poll|epoll   how each HTTP thread waits (default poll; epoll for\n"
            "                       thousands of connections)\n"
            "  --metrics-loopback-only   /metrics without a key, for clients on 127.0.0.1 and\n"
            "                       ::1 only; any other client is refused (403), key or not\n"
            "  --max-connections N  open connections at most (default: what the descriptor limit,\n"
            "                       raised to its hard limit, leaves after 32 + 5 per thread for\n"
            "                       the server itself; at most 10000)\n"
            "  --per-ip-limit N     open connections per client address (default 64; 0: no limit;\n"
            "                       behind a proxy all clients share its address: raise it)\n"
            "  --head-timeout S     a request's line and headers must arrive within S seconds of\n"
            "                       the connection opening or of the previous answer (default 10)\n"
            "  --body-timeout S     a request's body must arrive within S seconds of its head\n"
            "                       (default 30)\n"
            "  --idle-timeout S     a connection silent for S seconds is closed (default 30)\n"
            "  --policy FILE, --rules FILE, --datadir DIR   as for rebound apply\n"
            "  --config FILE        the configuration file (see rebound(1))\n\n"
            "Keys: `rebound keys add NAME` (one per provider); a missing, wrong or revoked key is\n"
            "401.  One log line per request on standard error.  SIGTERM/SIGINT: stop accepting,\n"
            "finish the requests in flight, exit 0.  SIGHUP: re-read the keys.\n\n"
            "Exit status: 0 stopped by a signal; 64 usage; 66 the keys file cannot be read;\n"
            "69 cannot listen; 75 the store cannot be opened; 78 bad policy/rules or a bad\n"
            "line in the keys file.  See rebound-serve(1).\n");
}

/* ---- stores -------------------------------------------------------------------------- */
static worker *this_worker(server *s)
{
    if (tl_w) return tl_w;
    worker *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    pthread_mutex_init(&w->lmu, NULL);
    pthread_mutex_lock(&s->rmu);
    if (s->nworkers == s->capworkers) {
        size_t nc = s->capworkers ? s->capworkers * 2 : 8;
        worker **nv = realloc(s->workers, nc * sizeof *nv);
        if (!nv) {
            pthread_mutex_unlock(&s->rmu);
            free(w);
            return NULL;
        }
        s->workers = nv;
        s->capworkers = nc;
    }
    s->workers[s->nworkers++] = w;
    pthread_mutex_unlock(&s->rmu);
    return tl_w = w;
}

static rb_store *reader(server *s, rb_error *err)
{
    worker *w = this_worker(s);
    if (!w) {
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return NULL;
    }
    if (w->st) return w->st;
    if (rb_store_open(s->db, &w->st, err) != RB_OK) {
        w->st = NULL;
        return NULL;
    }
    if (rb_store_tune(w->st, RB_TUNE_READER, err) != RB_OK) {
        rb_store_close(w->st);
        w->st = NULL;
    }
    return w->st;
}

/* A read failed: drop the connection, the next request opens a new one
 * (a PostgreSQL server that restarted, ...). */
static void reader_failed(server *s)
{
    (void)s;
    if (!tl_w || !tl_w->st) return;
    rb_store_close(tl_w->st);
    tl_w->st = NULL;
}

/* ---- keys -------------------------------------------------------------------------------- */
typedef struct {
    key_ent *v;
    size_t n, cap;
    int oom;
} key_list;

static int key_collect(void *arg, const rb_api_key *k)
{
    key_list *l = arg;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        key_ent *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv) { l->oom = 1; return 1; }
        l->v = nv;
        l->cap = nc;
    }
    key_ent *e = &l->v[l->n++];
    memset(e, 0, sizeof *e);
    rb_strlcpy(e->name, k->name, sizeof e->name);
    rb_strlcpy(e->hash, k->hash, sizeof e->hash);
    atomic_store(&e->used, k->last_used_at);
    e->flushed = k->last_used_at;
    return 0;
}

/* Read the active keys from st (or the keys file) and swap them in. */
static rb_status load_keys(server *s, rb_store *st, rb_error *err)
{
    key_list l = {0};
    rb_status rc = s->keys_file ? rb_api_keys_file_read(s->keys_file, key_collect, &l, err)
                                : rb_store_api_keys_each(st, 1, key_collect, &l, err);
    if (rc == RB_OK && l.oom) { snprintf(err->msg, sizeof err->msg, "out of memory"); rc = RB_ERR_NOMEM; }
    if (rc != RB_OK) { free(l.v); return rc; }
    pthread_rwlock_wrlock(&s->klock);
    for (size_t i = 0; i < l.n; i++)      /* keep what requests noted since the last read */
        for (size_t j = 0; j < s->nkeys; j++)
            if (!strcmp(l.v[i].name, s->keys[j].name) && !strcmp(l.v[i].hash, s->keys[j].hash)) {
                int64_t u = atomic_load(&s->keys[j].used);
                if (u > atomic_load(&l.v[i].used)) atomic_store(&l.v[i].used, u);
                if (s->keys[j].flushed > l.v[i].flushed) l.v[i].flushed = s->keys[j].flushed;
            }
    key_ent *old = s->keys;
    s->keys = l.v;
    s->nkeys = l.n;
    pthread_rwlock_unlock(&s->klock);
    free(old);
    atomic_store(&s->keys_loaded_ms, now_ms());
    return RB_OK;
}

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* --keys: re-read the file when it changed (or on SIGHUP).  A file that
 * cannot be read or is wrong is reported once per change; the keys stay. */
static void refresh_keys_file(server *s)
{
    struct stat sb;
    int force = atomic_exchange(&s->keys_force, 0);
    rb_error err = {{0}};
    if (stat(s->keys_file, &sb) != 0) {
        if (s->keys_st_ok || force)
            fprintf(stderr, "rebound serve: cannot re-read the keys: %s: %s; keeping the %zu keys read before\n",
                    s->keys_file, strerror(errno), s->nkeys);
        s->keys_st_ok = 0;
    } else if (force || !s->keys_st_ok || !same_file(&sb, &s->keys_st)) {
        /* stat() before the read: a change while reading shows as another change next time */
        s->keys_st = sb;
        s->keys_st_ok = 1;
        if (load_keys(s, NULL, &err) != RB_OK)
            fprintf(stderr, "rebound serve: cannot re-read the keys: %s; keeping the %zu keys read before\n",
                    err.msg, s->nkeys);
        else
            fprintf(stderr, "rebound serve: keys re-read from %s: %zu keys\n", s->keys_file, s->nkeys);
    }
    atomic_store(&s->keys_loaded_ms, now_ms());
}

static void maybe_refresh_keys(server *s)
{
    if (now_ms() - atomic_load(&s->keys_loaded_ms) < KEY_REFRESH_MS) return;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&s->keys_refreshing, &expected, 1)) return;
    if (s->keys_file) {
        refresh_keys_file(s);
        atomic_store(&s->keys_refreshing, 0);
        return;
    }
    rb_error err = {{0}};
    rb_store *st = reader(s, &err);
    if (!st || load_keys(s, st, &err) != RB_OK) {
        /* keep the keys we have; try again in a second */
        fprintf(stderr, "rebound serve: cannot re-read the keys: %s\n", err.msg);
        if (st) reader_failed(s);
        atomic_store(&s->keys_loaded_ms, now_ms());
    }
    atomic_store(&s->keys_refreshing, 0);
}

/* 1 and the key's name in name when key is an active key.  Every stored
 * hash is compared, in constant time, whatever matched. */
static int authenticate(server *s, const char *key, char *name)
{
    if (!key) return 0;
    size_t n = strlen(key);
    if (!n || n > 256) return 0;
    char hex[RB_API_HASH_LEN + 1];
    rb_api_key_hash(key, n, hex);
    maybe_refresh_keys(s);
    pthread_rwlock_rdlock(&s->klock);
    size_t found = SIZE_MAX;
    for (size_t i = 0; i < s->nkeys; i++) {
        size_t eq = (size_t)rb_api_ct_equal(hex, s->keys[i].hash, RB_API_HASH_LEN);
        found = (found & (eq - 1)) | (i & (0 - eq));
    }
    if (found != SIZE_MAX) {
        rb_strlcpy(name, s->keys[found].name, RB_API_NAME_MAX);
        atomic_store(&s->keys[found].used, (int64_t)time(NULL));
    }
    pthread_rwlock_unlock(&s->klock);
    return found != SIZE_MAX;
}

/* The writer, now and then: api_keys.last_used_at of the keys in use. */
static void touch_keys(server *s)
{
    typedef struct { char name[RB_API_NAME_MAX]; int64_t t; } touch;
    touch *t = NULL;
    size_t n = 0;
    if (s->keys_file) return;       /* keys from a file have no api_keys row to note it in */
    pthread_rwlock_rdlock(&s->klock);
    if (s->nkeys) t = malloc(s->nkeys * sizeof *t);
    for (size_t i = 0; t && i < s->nkeys; i++) {
        int64_t u = atomic_load(&s->keys[i].used);
        if (u > s->keys[i].flushed) {
            rb_strlcpy(t[n].name, s->keys[i].name, sizeof t[n].name);
            t[n++].t = u;
            s->keys[i].flushed = u;     /* only the writer writes it */
        }
    }
    pthread_rwlock_unlock(&s->klock);
    for (size_t i = 0; i < n && s->wst; i++) {
        rb_error err;
        if (rb_store_api_key_touch(s->wst, t[i].name, t[i].t, &err) != RB_OK) break;   /* not worth a complaint */
    }
    free(t);
}

/* ---- the writer: group commit ---------------------------------------------------------- */
static rb_status open_writer(server *s, rb_error *err)
{
    rb_status rc = rb_store_open(s->db, &s->wst, err);
    if (rc == RB_OK && (rc = rb_store_tune(s->wst, RB_TUNE_WRITER, err)) != RB_OK) {
        rb_store_close(s->wst);
    }
    if (rc != RB_OK) s->wst = NULL;
    return rc;
}

/* SQLite: the writer never checkpoints (a commit would wait for it), this
 * thread does, from a connection of its own, every CHECKPOINT_MS.
 *
 * A PASSIVE checkpoint copies the frames committed when it started; a
 * writer that commits all the time appends more meanwhile, so the WAL is
 * never wholly copied, never restarted from its beginning, and grows
 * without end (measured: 460 MB in 6 s under bench/serve.sh; every append
 * then extends the file, in new pages the kernel zeroes).  So once the WAL
 * is large, passes follow each other until little was appended during the
 * last, then one runs with the writer held between two groups: it copies
 * the rest, the WAL is then all in the database, and the writer's next
 * transaction starts the WAL from its beginning again (SQLite restarts it
 * when no reader needs its frames), rewriting pages the kernel has. */
static void ckpt_pass(server *s, rb_store **st, long *log, long *done)
{
    rb_error err = {{0}};
    *log = *done = 0;
    if (!*st) rb_store_open(s->db, st, &err);          /* NULL on failure: tried again next time */
    if (*st && rb_store_checkpoint(*st, log, done, &err) != RB_OK) {
        rb_store_close(*st);
        *st = NULL;
    }
}

static void *checkpointer_main(void *arg)
{
    server *s = arg;
    rb_store *st = NULL;
    long held_log = -1;
    pthread_setname_np(pthread_self(), "rb-checkpoint");
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += CHECKPOINT_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
        pthread_cond_timedwait(&s->ckpt_cv, &s->mu, &ts);
        if (s->stop) break;
        pthread_mutex_unlock(&s->mu);
        long log, done, prev;
        ckpt_pass(s, &st, &log, &done);
        /* log counts the frames since the WAL's start as the pass began: 0,
         * or what the last held pass saw, when nothing was written since */
        int passes = 1;
        while (st && log >= CHECKPOINT_RESTART_FRAMES && log != held_log && passes < CHECKPOINT_PASSES) {
            prev = log;
            ckpt_pass(s, &st, &log, &done);
            passes++;
            if (log - prev < CHECKPOINT_HELD_FRAMES) break;   /* little was appended during the last pass */
        }
        pthread_mutex_lock(&s->mu);
        if (!st || log < CHECKPOINT_RESTART_FRAMES || log == held_log || s->stop) continue;
        s->ckpt_hold = 1;               /* the writer finishes its group, then waits */
        while (s->writing && !s->stop) pthread_cond_wait(&s->idle_cv, &s->mu);
        pthread_mutex_unlock(&s->mu);
        ckpt_pass(s, &st, &log, &done);
        held_log = log;
        pthread_mutex_lock(&s->mu);
        s->ckpt_hold = 0;
        pthread_cond_signal(&s->cv);
    }
    s->ckpt_hold = 0;
    pthread_mutex_unlock(&s->mu);
    if (st) {
        rb_error err;
        rb_store_checkpoint(st, NULL, NULL, &err);
        rb_store_close(st);
    }
    return NULL;
}

/* The histogram of the group-commit write time (GET /metrics). */
static void note_write(server *s, uint64_t ns)
{
    double sec = (double)ns / 1e9;
    size_t b = 0;
    while (b < W_NB && sec > write_buckets[b]) b++;
    atomic_fetch_add_explicit(&s->wbucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->wsum_ns, ns, memory_order_relaxed);
}

static void *writer_main(void *arg)
{
    server *s = arg;
    pthread_setname_np(pthread_self(), "rb-writer");
    req **batch = s->batch;
    rb_api_update **ups = s->ups;
    rb_api_result *res = s->res;
    time_t last_touch = time(NULL);
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while ((!s->head || s->ckpt_hold) && !s->stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&s->cv, &s->mu, &ts);
            if (!s->head && time(NULL) - last_touch >= TOUCH_EVERY) {
                pthread_mutex_unlock(&s->mu);
                touch_keys(s);
                last_touch = time(NULL);
                pthread_mutex_lock(&s->mu);
            }
        }
        if (!s->head) {                 /* stopping, nothing left */
            pthread_mutex_unlock(&s->mu);
            break;
        }
        size_t n = 0;
        while (s->head && n < MAX_GROUP) {
            req *r = s->head;
            s->head = r->next;
            if (!s->head) s->tail = NULL;
            s->qlen--;
            batch[n++] = r;
        }
        s->writing = 1;
        pthread_mutex_unlock(&s->mu);

        rb_error err = {{0}};
        rb_status st = RB_OK;
        int applied = 0;
        if (!s->wst && open_writer(s, &err) != RB_OK) {
            st = RB_ERR_DB;
        } else {
            for (size_t i = 0; i < n; i++) ups[i] = batch[i]->u;
            struct timespec w0, w1;
            clock_gettime(CLOCK_MONOTONIC, &w0);
            st = rb_api_apply(s->wst, s->ctx, ups, n, (int64_t)time(NULL), res, &err);
            clock_gettime(CLOCK_MONOTONIC, &w1);
            note_write(s, (uint64_t)((w1.tv_sec - w0.tv_sec) * 1000000000LL + (w1.tv_nsec - w0.tv_nsec)));
            applied = 1;
            atomic_fetch_add(&s->groups, 1);
            atomic_fetch_add(&s->grouped, n);
        }
        if (st == RB_ERR_DB && s->wst) {
            /* reconnect for the next group (a restarted PostgreSQL, ...) */
            rb_store_close(s->wst);
            s->wst = NULL;
        }
        for (size_t i = 0; i < n; i++) {
            req *r = batch[i];
            /* the group is one transaction: all of it was stored, or none */
            int ok = applied && res[i].ok;
            if (applied) r->res = res[i];
            r->st = ok ? RB_OK : st != RB_OK ? st : RB_ERR_DB;
            if (!ok) rb_strlcpy(r->errmsg, err.msg[0] ? err.msg : "store error", sizeof r->errmsg);
            atomic_store(&r->done, 1);
            MHD_resume_connection(r->conn);     /* r belongs to its connection again */
        }
        pthread_mutex_lock(&s->mu);
        s->writing = 0;
        if (s->ckpt_hold) pthread_cond_signal(&s->idle_cv);
        pthread_mutex_unlock(&s->mu);
        if (time(NULL) - last_touch >= TOUCH_EVERY) {
            touch_keys(s);
            last_touch = time(NULL);
        }
    }
    return NULL;
}

/* ---- the request log --------------------------------------------------------------------------
 * One line per request, written to stderr in batches every 50 ms by a
 * thread of its own: a write(2) per request would cost as much as the rest
 * of a GET.  Each pool thread gathers its lines in a buffer of its own (no
 * lock shared between them); lines are whole; at exit everything is
 * written. */
#define LOG_FLUSH_MS 50
#define LOG_MAX (8 * 1024 * 1024)

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        p += w;
        n -= (size_t)w;
    }
}

static void log_line(server *s, const char *line, size_t n)
{
    worker *w = s->has_logger ? this_worker(s) : NULL;
    if (!w) {
        write_all(2, line, n);
        return;
    }
    pthread_mutex_lock(&w->lmu);
    if (w->llen + n > w->lcap && w->lcap < LOG_MAX) {
        size_t nc = w->lcap ? w->lcap * 2 : 64 * 1024;
        while (nc < w->llen + n) nc *= 2;
        char *nb = realloc(w->lbuf, nc);
        if (nb) {
            w->lbuf = nb;
            w->lcap = nc;
        }
    }
    if (w->llen + n <= w->lcap) {
        memcpy(w->lbuf + w->llen, line, n);
        w->llen += n;
    } else
        w->ldropped++;      /* stderr blocked for long: better a lost line than a stalled server */
    pthread_mutex_unlock(&w->lmu);
}

/* Take every pool thread's lines and write them. */
static void log_flush(server *s, rb_buf *out)
{
    unsigned long dropped = 0;
    out->len = 0;
    pthread_mutex_lock(&s->rmu);
    for (size_t i = 0; i < s->nworkers; i++) {
        worker *w = s->workers[i];
        pthread_mutex_lock(&w->lmu);
        if (w->llen && rb_buf_append(out, w->lbuf, w->llen) == 0) w->llen = 0;
        dropped += w->ldropped;
        w->ldropped = 0;
        pthread_mutex_unlock(&w->lmu);
    }
    pthread_mutex_unlock(&s->rmu);
    if (out->len) write_all(2, out->buf, out->len);
    if (dropped) fprintf(stderr, "rebound serve: %lu log line(s) dropped (standard error too slow)\n", dropped);
}

static void *logger_main(void *arg)
{
    server *s = arg;
    pthread_setname_np(pthread_self(), "rb-log");
    rb_buf out;
    rb_buf_init(&out);
    pthread_mutex_lock(&s->lmu);
    while (!s->log_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += LOG_FLUSH_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
        pthread_cond_timedwait(&s->lcv, &s->lmu, &ts);
        pthread_mutex_unlock(&s->lmu);
        log_flush(s, &out);
        pthread_mutex_lock(&s->lmu);
    }
    pthread_mutex_unlock(&s->lmu);
    log_flush(s, &out);
    rb_buf_free(&out);
    return NULL;
}

/* ---- answers -------------------------------------------------------------------------------- */
static enum MHD_Result reply_typed(req *r, int code, rb_buf *b, const char *ctype, const char *hname,
                                   const char *hval)
{
    if (!b->buf && rb_buf_puts(b, "{}\n")) return MHD_NO;
    struct MHD_Response *resp = MHD_create_response_from_buffer(b->len, b->buf, MHD_RESPMEM_MUST_FREE);
    if (!resp) { rb_buf_free(b); return MHD_NO; }
    b->buf = NULL;      /* the response frees it */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (hname) MHD_add_response_header(resp, hname, hval);
    if (atomic_load(&r->srv->draining)) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    r->code = code;
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)code, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result reply(req *r, int code, rb_buf *b, const char *hname, const char *hval)
{
    return reply_typed(r, code, b, JSON_TYPE, hname, hval);
}

static enum MHD_Result reply_error(req *r, int code, const char *field, const char *msg, const char *hname,
                                   const char *hval)
{
    rb_buf b;
    rb_buf_init(&b);
    if (rb_api_error_json(&b, field, msg)) { rb_buf_free(&b); return MHD_NO; }
    return reply(r, code, &b, hname, hval);
}

/* The number of keys and of updates waiting for the writer, each under its lock. */
static void key_and_queue_counts(server *s, size_t *nkeys, size_t *queued)
{
    pthread_rwlock_rdlock(&s->klock);
    *nkeys = s->nkeys;
    pthread_rwlock_unlock(&s->klock);
    pthread_mutex_lock(&s->mu);
    *queued = s->qlen;
    pthread_mutex_unlock(&s->mu);
}

static enum MHD_Result reply_health(req *r)
{
    server *s = r->srv;
    int draining = atomic_load(&s->draining);
    size_t nkeys, q;
    key_and_queue_counts(s, &nkeys, &q);
    char buf[256];
    snprintf(buf, sizeof buf,
             "{\"status\":\"%s\",\"keys\":%zu,\"queued\":%zu,\"served\":%llu,\"group_commits\":%llu,"
             "\"grouped_updates\":%llu}\n",
             draining ? "draining" : "ok", nkeys, q, (unsigned long long)atomic_load(&s->served),
             (unsigned long long)atomic_load(&s->groups), (unsigned long long)atomic_load(&s->grouped));
    rb_buf b;
    rb_buf_init(&b);
    if (rb_buf_puts(&b, buf)) return MHD_NO;
    return reply(r, draining ? 503 : 200, &b, NULL, NULL);
}

/* ---- GET /metrics: the Prometheus text exposition format 0.0.4 --------------------------------- */
static const char *const route_paths[R_NROUTES] = {"other", API_PATH, "/healthz", "/metrics"};
static const char *const method_names[M_METHODS] = {"GET", "HEAD", "POST", "other"};

static int method_index(const char *m)
{
    for (int i = 0; i < M_METHODS - 1; i++)
        if (!strcmp(m, method_names[i])) return i;
    return M_METHODS - 1;
}

static int bprintf(rb_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bprintf(rb_buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) return -1;
    return rb_buf_append(b, tmp, (size_t)n);
}

/* The store's counts are read by a thread of its own (metrics_main), from a
 * connection of its own, when a scrape finds them older than
 * METRICS_CACHE_MS -- or than METRICS_DUTY times the last read's duration
 * when that is longer: on a store of millions of events the statement takes
 * seconds, and scrapes never keep the store busy more than a tenth of the
 * time.  A scrape serves the numbers read last; it waits for a read it
 * started (up to METRICS_WAIT_MS) only when there are none yet or the last
 * read was quick, so a pool thread never waits long, whatever the store. */
#define METRICS_WAIT_MS 1000

static void *metrics_main(void *arg)
{
    server *s = arg;
    rb_store *st = NULL;
    pthread_setname_np(pthread_self(), "rb-metrics");
    pthread_mutex_lock(&s->mmu);
    for (;;) {
        while (!s->mwant && !s->mstop) pthread_cond_wait(&s->mcv, &s->mmu);
        if (s->mstop) break;
        s->mwant = 0;
        pthread_mutex_unlock(&s->mmu);
        rb_buf nb;
        rb_buf_init(&nb);
        rb_error err = {{0}};
        double t0 = now_seconds();
        rb_status qs = RB_ERR_DB;
        if (!st && rb_store_open(s->db, &st, &err) != RB_OK) st = NULL;
        else if (st && rb_store_tune(st, RB_TUNE_READER, &err) != RB_OK) { rb_store_close(st); st = NULL; }
        if (st) qs = rb_api_metrics_store(st, &nb, &err);
        if (st && qs != RB_OK) { rb_store_close(st); st = NULL; }   /* opened again next time */
        pthread_mutex_lock(&s->mmu);
        s->mquery_s = now_seconds() - t0;
        rb_buf_free(&s->mcache);        /* never stale numbers: after a failure, none */
        if (qs == RB_OK) s->mcache = nb;
        else {
            rb_buf_free(&nb);
            rb_buf_init(&s->mcache);
            if (s->mstore_up || !s->mcache_valid)
                fprintf(stderr, "rebound serve: /metrics: cannot read the store: %s\n", err.msg);
        }
        s->mstore_up = qs == RB_OK;
        s->mcache_valid = 1;
        s->mcache_ms = now_ms();        /* from the end of the read: the store rests at least the ttl */
        s->mrefreshing = 0;
        pthread_cond_broadcast(&s->mdone);
    }
    pthread_mutex_unlock(&s->mmu);
    if (st) rb_store_close(st);
    return NULL;
}

static int metrics_store_part(server *s, rb_buf *b)
{
    int rc = 0;
    pthread_mutex_lock(&s->mmu);
    int64_t ttl = (int64_t)(s->mquery_s * 1000.0 * METRICS_DUTY);
    if (ttl < METRICS_CACHE_MS) ttl = METRICS_CACHE_MS;
    if (ttl > METRICS_CACHE_MAX_MS) ttl = METRICS_CACHE_MAX_MS;
    if (s->has_mthread && !s->mrefreshing && (!s->mcache_valid || now_ms() - s->mcache_ms >= ttl)) {
        s->mrefreshing = 1;
        s->mwant = 1;
        pthread_cond_signal(&s->mcv);
    }
    if (s->mrefreshing && (!s->mcache_valid || s->mquery_s < 0.5)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (METRICS_WAIT_MS % 1000) * 1000000L;
        ts.tv_sec += METRICS_WAIT_MS / 1000 + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        while (s->mrefreshing)
            if (pthread_cond_timedwait(&s->mdone, &s->mmu, &ts) == ETIMEDOUT) break;
    }
    if (s->mcache.len) rc |= rb_buf_append(b, s->mcache.buf, s->mcache.len);
    rc |= bprintf(b,
                  "# HELP rebound_store_up Whether the last read of the store's counts succeeded.\n"
                  "# TYPE rebound_store_up gauge\nrebound_store_up %d\n"
                  "# HELP rebound_store_query_seconds How long the last read of the store's counts took "
                  "(read again after %d s, or 10 times this if longer).\n"
                  "# TYPE rebound_store_query_seconds gauge\nrebound_store_query_seconds %.6f\n"
                  "# HELP rebound_store_query_age_seconds How old the store's counts shown are.\n"
                  "# TYPE rebound_store_query_age_seconds gauge\nrebound_store_query_age_seconds %.3f\n",
                  s->mcache_valid && s->mstore_up, METRICS_CACHE_MS / 1000, s->mquery_s,
                  s->mcache_valid ? (double)(now_ms() - s->mcache_ms) / 1000.0 : 0.0);
    pthread_mutex_unlock(&s->mmu);
    return rc;
}

static enum MHD_Result reply_metrics(req *r)
{
    server *s = r->srv;
    rb_buf b;
    rb_buf_init(&b);
    int rc = metrics_store_part(s, &b);

    rc |= rb_buf_puts(&b, "# HELP rebound_http_requests_total HTTP requests answered, by method, path and status "
                          "code.\n# TYPE rebound_http_requests_total counter\n");
    for (int p = 0; p < R_NROUTES; p++)
        for (int m = 0; m < M_METHODS; m++)
            for (int c = 100; c < M_CODES; c++) {
                unsigned long long v = atomic_load_explicit(&s->http[p][m][c], memory_order_relaxed);
                if (v)
                    rc |= bprintf(&b, "rebound_http_requests_total{method=\"%s\",path=\"%s\",code=\"%d\"} %llu\n",
                                  method_names[m], route_paths[p], c, v);
            }

    /* a bucket is cumulative: every group commit at most that long */
    rc |= rb_buf_puts(&b, "# HELP rebound_write_group_seconds Time to decide and commit one group of updates "
                          "(group commit).\n# TYPE rebound_write_group_seconds histogram\n");
    unsigned long long cum = 0;
    for (size_t i = 0; i <= W_NB; i++) {
        cum += atomic_load_explicit(&s->wbucket[i], memory_order_relaxed);
        if (i < W_NB) rc |= bprintf(&b, "rebound_write_group_seconds_bucket{le=\"%g\"} %llu\n", write_buckets[i], cum);
        else rc |= bprintf(&b, "rebound_write_group_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
    }
    rc |= bprintf(&b, "rebound_write_group_seconds_sum %.9f\nrebound_write_group_seconds_count %llu\n",
                  (double)atomic_load(&s->wsum_ns) / 1e9, cum);

    size_t nkeys, q;
    key_and_queue_counts(s, &nkeys, &q);
    rc |= bprintf(&b,
                  "# HELP rebound_write_updates_total Updates decided in group commits.\n"
                  "# TYPE rebound_write_updates_total counter\nrebound_write_updates_total %llu\n"
                  "# HELP rebound_write_queue Updates waiting for the writer.\n"
                  "# TYPE rebound_write_queue gauge\nrebound_write_queue %zu\n",
                  (unsigned long long)atomic_load(&s->grouped), q);
    rc |= bprintf(&b,
                  "# HELP rebound_api_keys Active API keys.\n"
                  "# TYPE rebound_api_keys gauge\nrebound_api_keys %zu\n"
                  "# HELP process_start_time_seconds Start time of the process since the Unix epoch in seconds.\n"
                  "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %.3f\n",
                  nkeys, s->start_time);
    rc |= bprintf(&b,
                  "# HELP rebound_http_connections Open HTTP connections.\n"
                  "# TYPE rebound_http_connections gauge\nrebound_http_connections %ld\n"
                  "# HELP rebound_http_head_timeouts_total Connections cut because a request's line and headers "
                  "(--head-timeout) or its body (--body-timeout) did not arrive in time.\n"
                  "# TYPE rebound_http_head_timeouts_total counter\nrebound_http_head_timeouts_total %llu\n",
                  atomic_load(&s->nconns), (unsigned long long)atomic_load(&s->head_cut));
    if (rc) {
        rb_buf_free(&b);
        return reply_error(r, 503, "", "out of memory", MHD_HTTP_HEADER_RETRY_AFTER, "1");
    }
    return reply_typed(r, 200, &b, METRICS_TYPE, NULL, NULL);
}

/* --metrics-loopback-only: the client is this host itself, 127.0.0.1 or ::1. */
static int client_is_loopback(const req *r)
{
    return !strcmp(r->client, "127.0.0.1") || !strcmp(r->client, "::1") || !strcmp(r->client, "::ffff:127.0.0.1");
}

/* /metrics takes the key in X-Contact-Provider-Key or as "Authorization: Bearer KEY" (Prometheus's
 * `authorization` setting). */
static const char *metrics_key(req *r)
{
    const char *key = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, KEY_HEADER);
    if (key) return key;
    const char *a = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (a && !strncasecmp(a, "Bearer ", 7)) {
        a += 7;
        while (*a == ' ') a++;
        return a;
    }
    return NULL;
}

/* ---- GET: the contact and its recent events --------------------------------------------------- */
static enum MHD_Result handle_get(req *r)
{
    server *s = r->srv;
    const char *email = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "email");
    if (!email || !*email) return reply_error(r, 400, "email", "missing (?email=ADDRESS)", NULL, NULL);
    char norm[RB_ADDR_MAX];
    if (strlen(email) >= RB_ADDR_MAX) return reply_error(r, 400, "email", "too long", NULL, NULL);
    if (!rb_email_normalize(email, norm, sizeof norm)) {
        char msg[RB_ADDR_MAX + 32];
        snprintf(msg, sizeof msg, "not a valid address: %s", norm);
        return reply_error(r, 400, "email", msg, NULL, NULL);
    }
    size_t want = EVENTS_DEFAULT;
    const char *ev = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "events");
    if (ev) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(ev, &end, 10);
        if (!*ev || *end || errno || v > EVENTS_MAX || *ev == '-')
            return reply_error(r, 400, "events", "a number from 0 to 1000", NULL, NULL);
        want = v;
    }
    worker *w = this_worker(s);
    if (w && want > w->nev) {
        rb_event *nv = realloc(w->ev, want * sizeof *nv);
        if (nv) {
            w->ev = nv;
            w->nev = want;
        }
    }
    if (!w || want > w->nev) return reply_error(r, 503, "", "out of memory", MHD_HTTP_HEADER_RETRY_AFTER, "1");
    rb_error err = {{0}};
    rb_store *st = reader(s, &err);
    if (!st) return reply_error(r, 503, "", err.msg, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    int found = 0;
    size_t n = 0;
    if (rb_api_contact_view(st, norm, want, &w->c, &found, w->ev, &n, &err) != RB_OK) {
        reader_failed(s);
        return reply_error(r, 503, "", err.msg, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    }
    if (!found) return reply_error(r, 404, "email", "no contact with this address", NULL, NULL);
    rb_buf b;
    rb_buf_init(&b);
    if (rb_api_contact_json(&b, &w->c, w->ev, n)) {
        rb_buf_free(&b);
        return reply_error(r, 503, "", "out of memory", MHD_HTTP_HEADER_RETRY_AFTER, "1");
    }
    return reply(r, 200, &b, NULL, NULL);
}

/* ---- POST ------------------------------------------------------------------------------------------- */
static enum MHD_Result post_complete(req *r)
{
    server *s = r->srv;
    if (r->too_big) {
        char msg[96];
        snprintf(msg, sizeof msg, "the body is larger than %zu bytes", s->max_body);
        return reply_error(r, 413, "", msg, NULL, NULL);
    }
    r->u = malloc(sizeof *r->u);
    if (!r->u) return reply_error(r, 503, "", "out of memory", MHD_HTTP_HEADER_RETRY_AFTER, "1");
    const char *ctype = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    rb_api_error e;
    int64_t now = (int64_t)time(NULL);
    int code = rb_api_parse_update(ctype, r->body, r->blen, now, r->u, &e);
    if (code) return reply_error(r, code, e.field, e.msg, NULL, NULL);
    char src[RB_API_NAME_MAX + 8];
    snprintf(src, sizeof src, "api:%s", r->key);
    rb_api_prepare(s->ctx, r->u, src, r->key, now);
    /* suspended before it is queued: the writer may resume it at once */
    MHD_suspend_connection(r->conn);
    r->queued = 1;
    pthread_mutex_lock(&s->mu);
    r->next = NULL;
    if (s->tail) s->tail->next = r;
    else s->head = r;
    s->tail = r;
    s->qlen++;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return MHD_YES;
}

static enum MHD_Result post_decided(req *r)
{
    if (r->st != RB_OK) {
        char msg[260];
        snprintf(msg, sizeof msg, "the store failed, nothing was written: %s", r->errmsg);
        return reply_error(r, 503, "", msg, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    }
    rb_buf b;
    rb_buf_init(&b);
    if (rb_api_result_json(&b, r->u, &r->res)) {
        rb_buf_free(&b);
        return MHD_NO;
    }
    return reply(r, 200, &b, NULL, NULL);
}

/* ---- the request handler ------------------------------------------------------------------------- */
static void clean_copy(char *dst, size_t len, const char *src)
{
    size_t o = 0;
    for (; src && *src && o + 1 < len; src++) {
        unsigned char c = (unsigned char)*src;
        dst[o++] = c > 0x20 && c < 0x7F ? (char)c : '?';    /* no log injection */
    }
    dst[o] = '\0';
}

/* The first call, headers read: only a POST to the API is refused here
 * (401, 413), before a byte of its body is read; libmicrohttpd then closes
 * the connection.  Everything else is answered once the request is
 * complete, which keeps the connection alive. */
static enum MHD_Result first_call(req *r, const char *url, const char *method)
{
    server *s = r->srv;
    if (!strcmp(url, API_PATH) || !strcmp(url, "/contact/api/email-status")) r->route = R_API;
    else if (!strcmp(url, "/healthz")) r->route = R_HEALTH;
    else if (!strcmp(url, "/metrics")) r->route = R_METRICS;
    r->is_post = r->route == R_API && !strcmp(method, MHD_HTTP_METHOD_POST);
    if (!r->is_post) return MHD_YES;
    const char *key = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, KEY_HEADER);
    if (!authenticate(s, key, r->key))
        return reply_error(r, 401, KEY_HEADER, key ? "wrong or revoked key" : "missing key", NULL, NULL);
    const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(cl, &end, 10);
        if (errno || *end || v > s->max_body) {
            r->too_big = 1;
            return post_complete(r);
        }
    }
    return MHD_YES;
}

/* Anything but a POST to the API, once complete. */
static enum MHD_Result answer_other(req *r, const char *method)
{
    int get = !strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD);
    if (r->route == R_NONE) return reply_error(r, 404, "", "no such resource", NULL, NULL);
    if (r->route == R_HEALTH) {
        if (!get) return reply_error(r, 405, "", "use GET", MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        return reply_health(r);
    }
    if (r->route == R_METRICS) {
        if (!get) return reply_error(r, 405, "", "use GET", MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        if (r->srv->metrics_loopback) {
            if (!client_is_loopback(r))
                return reply_error(r, 403, "", "/metrics answers 127.0.0.1 and ::1 only (--metrics-loopback-only)",
                                   NULL, NULL);
        } else {
            const char *key = metrics_key(r);
            if (!authenticate(r->srv, key, r->key))
                return reply_error(r, 401, KEY_HEADER, key ? "wrong or revoked key" : "missing key", NULL, NULL);
        }
        return reply_metrics(r);
    }
    if (!get) return reply_error(r, 405, "", "use GET or POST", MHD_HTTP_HEADER_ALLOW, "GET, HEAD, POST");
    const char *key = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, KEY_HEADER);
    if (!authenticate(r->srv, key, r->key))
        return reply_error(r, 401, KEY_HEADER, key ? "wrong or revoked key" : "missing key", NULL, NULL);
    return handle_get(r);
}

/* ---- connections and the head deadline ------------------------------------------------ */
static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Where a connection is: waiting for a request's head (after connecting or
 * after its previous answer), reading its body, or being answered. */
enum { C_HEAD, C_BODY, C_ANSWER };
static void conn_state(struct MHD_Connection *conn, int state)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    conn_track *ct = ci ? ci->socket_context : NULL;
    if (!ct) return;
    int64_t now = mono_ms();
    atomic_store(&ct->waiting_ms, state == C_HEAD ? now : 0);
    atomic_store(&ct->body_ms, state == C_BODY ? now : 0);
}

static void conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                        enum MHD_ConnectionNotificationCode code)
{
    server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        conn_track *ct = calloc(1, sizeof *ct);
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ct || !ci) { free(ct); *socket_context = NULL; return; }
        ct->fd = ci->connect_fd;
        atomic_store(&ct->waiting_ms, mono_ms());
        pthread_mutex_lock(&s->cmu);
        ct->next = s->conns;
        if (s->conns) s->conns->prev = ct;
        s->conns = ct;
        pthread_mutex_unlock(&s->cmu);
        atomic_fetch_add(&s->nconns, 1);
        *socket_context = ct;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        conn_track *ct = *socket_context;
        if (!ct) return;
        pthread_mutex_lock(&s->cmu);
        if (ct->prev) ct->prev->next = ct->next;
        else s->conns = ct->next;
        if (ct->next) ct->next->prev = ct->prev;
        pthread_mutex_unlock(&s->cmu);
        atomic_fetch_sub(&s->nconns, 1);
        free(ct);
        *socket_context = NULL;
    }
}

/* Twice a second: shut down the connections whose request head is overdue.
 * shutdown() rather than close(): the descriptor stays MHD's, which sees
 * the end of the stream and cleans up in its own thread. */
static void *reaper_main(void *arg)
{
    server *s = arg;
    pthread_mutex_lock(&s->cmu);
    while (!s->reaper_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 500000000L;
        if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
        pthread_cond_timedwait(&s->rcv, &s->cmu, &ts);
        int64_t now = mono_ms();
        for (conn_track *ct = s->conns; ct; ct = ct->next) {
            int64_t w = atomic_load(&ct->waiting_ms), b = atomic_load(&ct->body_ms);
            if (!ct->cut && ((w && now - w > s->head_timeout_ms) || (b && now - b > s->body_timeout_ms))) {
                shutdown(ct->fd, SHUT_RDWR);
                ct->cut = 1;
                atomic_fetch_add(&s->head_cut, 1);
            }
        }
    }
    pthread_mutex_unlock(&s->cmu);
    return NULL;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                               const char *version, const char *upload_data, size_t *upload_data_size,
                               void **con_cls)
{
    (void)version;
    server *s = cls;
    req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        r->srv = s;
        r->conn = conn;
        r->t0 = now_seconds();
        conn_state(conn, C_BODY);
        clean_copy(r->method, sizeof r->method, method);
        clean_copy(r->path, sizeof r->path, url);
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (ci && ci->client_addr) {
            const struct sockaddr *sa = ci->client_addr;
            if (sa->sa_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, r->client, sizeof r->client);
            else if (sa->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, r->client, sizeof r->client);
        }
        if (!r->client[0]) strcpy(r->client, "-");
        *con_cls = r;
        atomic_fetch_add(&s->active, 1);
        return first_call(r, url, method);
    }
    if (r->queued) {
        if (!atomic_load(&r->done)) return MHD_YES;
        return post_decided(r);
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (!r->is_post) r->too_big = 1;         /* a body nobody asked for */
        if (r->too_big) {
            /* no answer can be queued mid-body: read and drop the rest, up to a
             * bound past which the connection is simply closed */
            r->discarded += n;
            return r->discarded > 16 * s->max_body + (1 << 20) ? MHD_NO : MHD_YES;
        }
        if (r->blen + n > s->max_body) {
            r->too_big = 1;
            r->discarded = r->blen + n;
            free(r->body);
            r->body = NULL;
            r->blen = r->bcap = 0;
            return MHD_YES;
        }
        if (r->blen + n + 1 > r->bcap) {
            size_t nc = r->bcap ? r->bcap : 1024;
            while (nc < r->blen + n + 1) nc *= 2;
            char *nb = realloc(r->body, nc);
            if (!nb) return MHD_NO;
            r->body = nb;
            r->bcap = nc;
        }
        memcpy(r->body + r->blen, upload_data, n);
        r->blen += n;
        r->body[r->blen] = '\0';
        return MHD_YES;
    }
    conn_state(conn, C_ANSWER);     /* the body is in (or there is none) */
    return r->is_post ? post_complete(r) : answer_other(r, method);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    server *s = cls;
    req *r = *con_cls;
    conn_state(conn, C_HEAD);   /* the next request's head is due from now */
    if (!r) return;
    double ms = (now_seconds() - r->t0) * 1000.0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char t[40], code[24];
    strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%S", &tm);
    if (r->code && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK) snprintf(code, sizeof code, "%d", r->code);
    else snprintf(code, sizeof code, "%d-aborted", r->code);
    char line[512];
    int n = snprintf(line, sizeof line, "%s.%03ldZ %s %s %s %s %.2fms key=%s\n", t, ts.tv_nsec / 1000000, r->client,
                     r->method, r->path, code, ms, r->key[0] ? r->key : "-");
    if (n > 0) log_line(s, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    atomic_fetch_add(&s->served, 1);
    if (r->code >= 100 && r->code < M_CODES && r->route >= 0 && r->route < R_NROUTES)
        atomic_fetch_add_explicit(&s->http[r->route][method_index(r->method)][r->code], 1, memory_order_relaxed);
    free(r->body);
    free(r->u);
    free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&s->active, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && buf[n - 1] == '\n') buf[--n] = '\0';
    fprintf(stderr, "rebound serve: libmicrohttpd: %s\n", buf);
}

/* ---- setup ----------------------------------------------------------------------------------------- */
/* "127.0.0.1:8025", "[::1]:8025", ":8025" (all IPv4 addresses), "localhost:8025". */
static int parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *sl, int *v6)
{
    char host[256], port[16];
    const char *colon;
    if (spec[0] == '[') {
        const char *rb = strchr(spec, ']');
        if (!rb || rb[1] != ':' || (size_t)(rb - spec - 1) >= sizeof host) return -1;
        memcpy(host, spec + 1, (size_t)(rb - spec - 1));
        host[rb - spec - 1] = '\0';
        colon = rb + 1;
    } else {
        colon = strrchr(spec, ':');
        if (!colon || (size_t)(colon - spec) >= sizeof host) return -1;
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = '\0';
    }
    if (!colon[1] || strlen(colon + 1) >= sizeof port || strspn(colon + 1, "0123456789") != strlen(colon + 1))
        return -1;
    strcpy(port, colon + 1);
    if (atoi(port) > 65535) return -1;
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    if (getaddrinfo(host[0] ? host : "0.0.0.0", port, &hints, &ai) != 0 || !ai) return -1;
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *sl = ai->ai_addrlen;
    *v6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    return 0;
}

int cmd_serve(int argc, char **argv)
{
    const char *listen_spec = "127.0.0.1:8025", *keys_file = NULL;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned long threads = ncpu > 0 ? (unsigned long)ncpu : 1, max_body = 65536;
    unsigned long max_conns = 0, per_ip = 64;
    double shutdown_timeout = 30, head_timeout = 10, body_timeout = 30, idle_timeout = 30;
    int use_epoll = 0, metrics_loopback = 0, conns_given = 0;
    static const opt_keyword loops[] = {{"poll", 0}, {"epoll", 1}, {0}};
    const opt_desc opts[] = {
        {OPT_STRING, "listen", 0, &listen_spec},
        {OPT_STRING, "keys", 0, &keys_file},
        {OPT_ULONG, "threads", 0, &threads, .min = 1, .max = 256},
        {OPT_ULONG, "max-body", 0, &max_body, .min = 64, .max = 1L << 30},
        {OPT_DOUBLE, "shutdown-timeout", 0, &shutdown_timeout},
        {OPT_KEYWORD, "event-loop", 0, &use_epoll, loops},
        {OPT_FLAG, "metrics-loopback-only", 0, &metrics_loopback},
        {OPT_ULONG, "max-connections", 0, &max_conns, .min = 16, .max = 1000000, .given = &conns_given},
        {OPT_ULONG, "per-ip-limit", 0, &per_ip, .min = 0, .max = 1000000},
        {OPT_DOUBLE, "head-timeout", 0, &head_timeout},
        {OPT_DOUBLE, "body-timeout", 0, &body_timeout},
        {OPT_DOUBLE, "idle-timeout", 0, &idle_timeout},
        {OPT_INHERIT, .inherit = shared_store_options},
        {OPT_STRING, "datadir", 0, &opt_shared.datadir},
        {OPT_STRING, "rules", 0, &opt_shared.rules},
        {OPT_STRING, "policy", 0, &opt_shared.policy},
        {0},
    };
    char **pos;
    int npos = opt_parse("serve", opts, argc, argv, &pos);
    if (npos == OPT_HELP) { help(stdout); return 0; }
    if (npos < 0) return EX_USAGE_;
    if (npos > 0) {
        fprintf(stderr, "rebound serve: unexpected argument '%s' (see `rebound serve --help`)\n", pos[0]);
        return EX_USAGE_;
    }
    if (shutdown_timeout > 3600 || head_timeout < 0.5 || head_timeout > 3600 || body_timeout < 0.5 ||
        body_timeout > 3600 || idle_timeout < 1 || idle_timeout > 86400) {
        fprintf(stderr, "rebound serve: --shutdown-timeout 0 to 3600 s, --head-timeout and --body-timeout 0.5 to "
                        "3600 s, --idle-timeout 1 to 86400 s (see `rebound serve --help`)\n");
        return EX_USAGE_;
    }
    int rcf = shared_finish("serve");
    if (rcf) return rcf;
    const char *db = opt_shared.db;
    /* Each connection is a descriptor: the total is what the descriptor limit
     * leaves once the server's own are counted (the listening socket, two per
     * HTTP thread for MHD's wake-up pipe, the store's file, WAL and
     * shared-memory index for the writer and for each thread's read
     * connection, the keys file, logs): 32 + 5 per thread.  The soft limit is
     * raised to the hard one first (1024 is the usual soft default, the one
     * a slow-client flood used to exhaust). */
    unsigned long headroom = 32 + 5 * threads, fdmax = 1024;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 1048576 ? 1048576 : rl.rlim_max;
        if (rl.rlim_cur < want) {
            rl.rlim_cur = want;
            setrlimit(RLIMIT_NOFILE, &rl);
            getrlimit(RLIMIT_NOFILE, &rl);
        }
        fdmax = rl.rlim_cur == RLIM_INFINITY ? 1048576 : (unsigned long)rl.rlim_cur;
    }
    unsigned long room = fdmax > headroom + 16 ? fdmax - headroom : 16;
    if (!conns_given) max_conns = room < 10000 ? room : 10000;
    else if (max_conns > room) {
        fprintf(stderr, "rebound serve: --max-connections %lu is more than the descriptor limit (%lu) leaves "
                        "after %lu for the server itself: %lu used\n", max_conns, fdmax, headroom, room);
        max_conns = room;
    }
    if (threads < 1) threads = 1;
    if (threads > 256) threads = 256;     /* a very large machine: the --threads bound */
    struct sockaddr_storage ss;
    socklen_t sl;
    int v6 = 0;
    if (parse_listen(listen_spec, &ss, &sl, &v6) < 0) {
        fprintf(stderr, "rebound serve: --listen '%s': expected ADDRESS:PORT (127.0.0.1:8025, [::1]:8025)\n",
                listen_spec);
        return EX_USAGE_;
    }

    /* a group's buffers are large: reuse them rather than mmap and fault them in each time */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
    /* SQLite's memory statistics take one process-wide mutex per allocation:
     * the pool threads' read connections would queue on it */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    server *s = calloc(1, sizeof *s);
    if (!s) return EX_SOFTWARE_;
    s->db = db;
    s->keys_file = keys_file;
    s->max_body = (size_t)max_body;
    s->shutdown_timeout = shutdown_timeout;
    s->metrics_loopback = metrics_loopback;
    {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        s->start_time = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    }
    pthread_mutex_init(&s->mmu, NULL);
    pthread_cond_init(&s->mcv, NULL);
    pthread_cond_init(&s->mdone, NULL);
    rb_buf_init(&s->mcache);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_cond_init(&s->ckpt_cv, NULL);
    pthread_cond_init(&s->idle_cv, NULL);
    pthread_mutex_init(&s->lmu, NULL);
    pthread_cond_init(&s->lcv, NULL);
    pthread_mutex_init(&s->rmu, NULL);
    pthread_mutex_init(&s->cmu, NULL);
    pthread_cond_init(&s->rcv, NULL);
    s->head_timeout_ms = (int64_t)(head_timeout * 1000);
    s->body_timeout_ms = (int64_t)(body_timeout * 1000);
    pthread_rwlock_init(&s->klock, NULL);
    int rc = 0;
    rb_error err = {{0}};
    if (!(s->ctx = load_ctx(NULL, NULL, NULL))) { rc = EX_CONFIG_; goto out; }
    if (rb_api_check_policy(s->ctx, &err) != RB_OK) {
        fprintf(stderr, "rebound serve: %s\n", err.msg);
        rc = EX_CONFIG_;
        goto out;
    }
    if (!(s->wst = open_store("serve", db))) { rc = store_exit(); goto out; }
    if (rb_store_tune(s->wst, RB_TUNE_WRITER, &err) != RB_OK) {
        fprintf(stderr, "rebound serve: %s\n", err.msg);
        rc = EX_TEMPFAIL_;
        goto out;
    }
    if (keys_file && stat(keys_file, &s->keys_st) == 0) s->keys_st_ok = 1;    /* before the read: see refresh */
    rb_status ks = load_keys(s, s->wst, &err);
    if (ks != RB_OK) {
        fprintf(stderr, "rebound serve: cannot read the keys: %s\n", err.msg);
        rc = !keys_file ? EX_TEMPFAIL_ : ks == RB_ERR_IO ? EX_NOINPUT_ : EX_CONFIG_;
        goto out;
    }
    if (!s->nkeys)
        fprintf(stderr, "rebound serve: warning: no active keys, every API request will be refused (401); %s\n",
                keys_file ? "the keys file has none" : "add one with `rebound keys add NAME`");

    /* signals are taken by sigwait() below: block them before any thread starts */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (pthread_create(&s->writer, NULL, writer_main, s) != 0) {
        fprintf(stderr, "rebound serve: cannot start the writer thread\n");
        rc = EX_SOFTWARE_;
        goto out;
    }
    s->has_logger = pthread_create(&s->logger, NULL, logger_main, s) == 0;
    s->has_reaper = pthread_create(&s->reaper, NULL, reaper_main, s) == 0;
    s->has_mthread = pthread_create(&s->mthread, NULL, metrics_main, s) == 0;
    if (!strcmp(rb_store_backend(s->wst), "sqlite"))
        s->has_checkpointer = pthread_create(&s->checkpointer, NULL, checkpointer_main, s) == 0;
    /* poll() by default: suspending and resuming a connection (every POST)
     * costs two epoll_ctl() under epoll, and its edge-triggered reads one more
     * recv(); poll() rebuilds its set per wake-up instead, cheap for the tens or
     * hundreds of connections a status API has.  Thousands: --event-loop epoll. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | (use_epoll ? MHD_USE_EPOLL : MHD_USE_POLL) |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (v6) flags |= MHD_USE_IPv6;
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, handler, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
                            (unsigned)threads, MHD_OPTION_NOTIFY_COMPLETED, completed, s,
                            MHD_OPTION_NOTIFY_CONNECTION, conn_notify, s,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(idle_timeout + 0.5),
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)max_conns,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)per_ip,
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024, MHD_OPTION_END);
    if (!s->d) {
        fprintf(stderr, "rebound serve: cannot listen on %s (in use, or not an address of this host?)\n",
                listen_spec);
        rc = EX_UNAVAILABLE_;
    } else {
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
        char host[INET6_ADDRSTRLEN] = "?";
        if (ss.ss_family == AF_INET) inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
        else inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
        char perip[48] = "no per-address limit";
        if (per_ip) snprintf(perip, sizeof perip, "%lu per address", per_ip);
        fprintf(stderr, "rebound serve: listening on http://%s%s%s:%u/ (%lu threads, %s, %s store, %zu keys%s%s; "
                        "%lu connections, %s, request head within %g s, body within %g s)\n",
                v6 ? "[" : "", host, v6 ? "]" : "", di ? (unsigned)di->port : 0, threads,
                use_epoll ? "epoll" : "poll", rb_store_backend(s->wst), s->nkeys, keys_file ? " from " : "",
                keys_file ? keys_file : "", max_conns, perip, head_timeout, body_timeout);
        for (;;) {
            int sig = 0;
            if (sigwait(&sigs, &sig) != 0) continue;
            if (sig == SIGHUP) {
                atomic_store(&s->keys_force, 1);
                atomic_store(&s->keys_loaded_ms, 0);    /* the next request re-reads them */
                fprintf(stderr, "rebound serve: SIGHUP: keys will be re-read\n");
                continue;
            }
            fprintf(stderr, "rebound serve: %s: stopping; %d request(s) in flight\n",
                    sig == SIGTERM ? "SIGTERM" : "SIGINT", atomic_load(&s->active));
            break;
        }
        /* no new connections; the requests in flight finish, answered with Connection: close */
        atomic_store(&s->draining, 1);
        MHD_socket lfd = MHD_quiesce_daemon(s->d);
        if (lfd != MHD_INVALID_SOCKET) close(lfd);
        double t0 = now_seconds();
        while (atomic_load(&s->active) > 0 && now_seconds() - t0 < s->shutdown_timeout) usleep(10000);
        if (atomic_load(&s->active) > 0)
            fprintf(stderr, "rebound serve: %d request(s) still unfinished after %.0f s: closing them\n",
                    atomic_load(&s->active), s->shutdown_timeout);
        /* what is queued is decided before the connections go */
        for (int i = 0; i < 1000; i++) {
            pthread_mutex_lock(&s->mu);
            size_t q = s->qlen;
            pthread_mutex_unlock(&s->mu);
            if (!q) break;
            usleep(10000);
        }
        MHD_stop_daemon(s->d);
        s->d = NULL;
    }
    if (s->has_reaper) {
        pthread_mutex_lock(&s->cmu);
        s->reaper_stop = 1;
        pthread_cond_signal(&s->rcv);
        pthread_mutex_unlock(&s->cmu);
        pthread_join(s->reaper, NULL);
        s->has_reaper = 0;
    }
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_signal(&s->cv);
    pthread_cond_signal(&s->ckpt_cv);
    pthread_cond_signal(&s->idle_cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->writer, NULL);
    if (s->has_checkpointer) pthread_join(s->checkpointer, NULL);
    if (s->has_mthread) {       /* waits for a read of the store's counts in progress */
        pthread_mutex_lock(&s->mmu);
        s->mstop = 1;
        pthread_cond_signal(&s->mcv);
        pthread_mutex_unlock(&s->mmu);
        pthread_join(s->mthread, NULL);
        s->has_mthread = 0;
    }
    if (s->has_logger) {
        pthread_mutex_lock(&s->lmu);
        s->log_stop = 1;
        pthread_cond_signal(&s->lcv);
        pthread_mutex_unlock(&s->lmu);
        pthread_join(s->logger, NULL);
        s->has_logger = 0;
    }
    if (!rc)
        fprintf(stderr, "rebound serve: stopped: %llu requests, %llu updates in %llu group commits\n",
                (unsigned long long)atomic_load(&s->served), (unsigned long long)atomic_load(&s->grouped),
                (unsigned long long)atomic_load(&s->groups));
out:
    touch_keys(s);
    for (size_t i = 0; i < s->nworkers; i++) {
        if (s->workers[i]->st) rb_store_close(s->workers[i]->st);
        free(s->workers[i]->ev);
        free(s->workers[i]->lbuf);
        pthread_mutex_destroy(&s->workers[i]->lmu);
        free(s->workers[i]);
    }
    free(s->workers);
    if (s->wst) rb_store_close(s->wst);
    rb_ctx_free(s->ctx);
    free(s->keys);
    pthread_rwlock_destroy(&s->klock);
    pthread_mutex_destroy(&s->rmu);
    pthread_mutex_destroy(&s->cmu);
    pthread_cond_destroy(&s->rcv);
    pthread_cond_destroy(&s->cv);
    pthread_cond_destroy(&s->ckpt_cv);
    pthread_cond_destroy(&s->idle_cv);
    pthread_cond_destroy(&s->lcv);
    pthread_mutex_destroy(&s->lmu);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->mmu);
    pthread_cond_destroy(&s->mcv);
    pthread_cond_destroy(&s->mdone);
    rb_buf_free(&s->mcache);
    free(s);
    return rc;
}
