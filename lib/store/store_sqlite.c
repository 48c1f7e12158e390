/* store_sqlite.c -- the embedded store: one SQLite file in WAL mode.
 *
 * SQLite runs in this process, so a statement costs microseconds and the
 * batch operations are plain loops over prepared statements.  Statements are
 * prepared once per connection and kept in a small cache keyed by their SQL
 * text.  Generic SQL from store.c uses $1, $2 ... placeholders, which SQLite
 * takes as named parameters; they are bound by name.
 *
 * Durability: WAL with synchronous=NORMAL -- a committed transaction survives
 * a crash or kill -9 of the process; after a power loss the last commits may
 * be lost but the file is never corrupt.  busy_timeout lets a second process
 * (the pipe transport, say) wait for a running `apply` instead of failing.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rb_internal.h"
#include "store_impl.h"

#define CACHE_MAX 48

typedef struct {
    sqlite3 *db;
    struct {
        char *sql;
        sqlite3_stmt *stmt;
    } cache[CACHE_MAX];
    size_t ncache;
} sq;

static rb_status dberr(rb_store *st, rb_error *err, const char *what)
{
    sq *h = st->h;
    rb_seterr(err, "%s: %s: %s", st->url, what, h && h->db ? sqlite3_errmsg(h->db) : "cannot open");
    return RB_ERR_DB;
}

/* The prepared statement for sql, reset and unbound, or NULL (err set). */
static sqlite3_stmt *prep(rb_store *st, const char *sql, rb_error *err)
{
    sq *h = st->h;
    for (size_t i = 0; i < h->ncache; i++)
        if (!strcmp(h->cache[i].sql, sql)) {
            sqlite3_stmt *s = h->cache[i].stmt;
            sqlite3_reset(s);
            sqlite3_clear_bindings(s);
            return s;
        }
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v3(h->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK) {
        dberr(st, err, "cannot prepare statement");
        return NULL;
    }
    if (h->ncache == CACHE_MAX) {      /* full: drop the oldest */
        sqlite3_finalize(h->cache[0].stmt);
        free(h->cache[0].sql);
        memmove(&h->cache[0], &h->cache[1], (CACHE_MAX - 1) * sizeof h->cache[0]);
        h->ncache--;
    }
    h->cache[h->ncache].sql = strdup(sql);
    if (!h->cache[h->ncache].sql) {
        sqlite3_finalize(s);
        rb_seterr(err, "out of memory");
        return NULL;
    }
    h->cache[h->ncache++].stmt = s;
    return s;
}

static rb_status sq_open(rb_store *st, const char *path, const rb_store_opts *o, rb_error *err)
{
    /* a store that is not there is created only when asked: sqlite3 would
     * make an empty file of any mistyped name */
    if (!o->create && access(path, F_OK) != 0) {
        rb_seterr(err, "%s: no such store", st->url);
        return RB_ERR_NOSTORE;
    }
    sq *h = calloc(1, sizeof *h);
    if (!h) { rb_seterr(err, "out of memory"); return RB_ERR_NOMEM; }
    st->h = h;
    int rc = sqlite3_open_v2(path, &h->db,
                             SQLITE_OPEN_READWRITE | (o->create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rb_seterr(err, "%s: cannot open database: %s", st->url, h->db ? sqlite3_errmsg(h->db) : "out of memory");
        return RB_ERR_DB;
    }
    /* How long to wait for another writer: 30 s, or what the caller says
     * (the pipe transport gives up sooner and lets Postfix retry later). */
    int busy_ms = o->lock_timeout > 0 && o->lock_timeout <= 3600 ? (int)(o->lock_timeout * 1000) : 30000;
    sqlite3_busy_timeout(h->db, busy_ms);
    char *msg = NULL;
    rc = sqlite3_exec(h->db,
                      "PRAGMA journal_mode = WAL;"
                      "PRAGMA synchronous = NORMAL;"
                      "PRAGMA foreign_keys = ON;"
                      "PRAGMA cache_size = -131072;"
                      "PRAGMA wal_autocheckpoint = 16384;"
                      "PRAGMA temp_store = MEMORY;",
                      NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        rb_seterr(err, "%s: not a usable SQLite database: %s", st->url, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return RB_ERR_DB;
    }
    return RB_OK;
}

static void sq_close(rb_store *st)
{
    sq *h = st->h;
    if (!h) return;
    for (size_t i = 0; i < h->ncache; i++) {
        sqlite3_finalize(h->cache[i].stmt);
        free(h->cache[i].sql);
    }
    if (h->db) sqlite3_close_v2(h->db);
    free(h);
    st->h = NULL;
}

static rb_status sq_exec(rb_store *st, const char *sql, rb_error *err)
{
    sq *h = st->h;
    char *msg = NULL;
    if (sqlite3_exec(h->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        rb_seterr(err, "%s: %s", st->url, msg ? msg : sqlite3_errmsg(h->db));
        sqlite3_free(msg);
        return RB_ERR_DB;
    }
    return RB_OK;
}

/* Step a statement to the end, handing rows to cb. */
static rb_status run(rb_store *st, sqlite3_stmt *s, rb_row_cb cb, void *arg, rb_error *err)
{
    const char *vals[64];
    for (;;) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_DONE) break;
        if (rc != SQLITE_ROW) {
            rb_status r = dberr(st, err, "statement failed");
            sqlite3_reset(s);
            return r;
        }
        if (!cb) continue;
        int nc = sqlite3_column_count(s);
        if (nc > 64) nc = 64;
        for (int i = 0; i < nc; i++) vals[i] = (const char *)sqlite3_column_text(s, i);
        if (cb(arg, nc, vals)) break;
    }
    sqlite3_reset(s);
    return RB_OK;
}

static rb_status sq_query(rb_store *st, const char *sql, int np, const char *const *params, rb_row_cb cb,
                          void *arg, rb_error *err)
{
    sqlite3_stmt *s = prep(st, sql, err);
    if (!s) return RB_ERR_DB;
    for (int i = 0; i < np; i++) {
        char name[16];
        snprintf(name, sizeof name, "$%d", i + 1);
        int idx = sqlite3_bind_parameter_index(s, name);
        if (idx > 0) sqlite3_bind_text(s, idx, params[i], -1, SQLITE_STATIC);
    }
    return run(st, s, cb, arg, err);
}

/* ---- the batch operations --------------------------------------------------- */
static void bind_t(sqlite3_stmt *s, int i, const char *v) { sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC); }
static void bind_i(sqlite3_stmt *s, int i, int64_t v) { sqlite3_bind_int64(s, i, v); }

/* Read a contact row (RB_CONTACT_COLS) straight from the statement: the
 * integer columns as integers, not through text. */
static void col_txt(sqlite3_stmt *s, int i, char *dst, size_t size)
{
    const unsigned char *v = sqlite3_column_text(s, i);
    int n = sqlite3_column_bytes(s, i);
    if (!v || n <= 0) { dst[0] = '\0'; return; }
    rb_strlcpyn(dst, (const char *)v, (size_t)n, size);
}

static void contact_from_stmt(sqlite3_stmt *s, rb_contact *c)
{
    c->id = sqlite3_column_int64(s, 0);
    col_txt(s, 1, c->email, sizeof c->email);
    col_txt(s, 2, c->email_norm, sizeof c->email_norm);
    col_txt(s, 3, c->source, sizeof c->source);
    c->for_mailing = sqlite3_column_int(s, 4) != 0;
    const char *st = (const char *)sqlite3_column_text(s, 5);
    int status = rb_contact_status_parse(st ? st : "");
    c->status = status < 0 ? RB_CS_ACTIVE : status;
    col_txt(s, 6, c->bounce_type, sizeof c->bounce_type);
    col_txt(s, 7, c->reason, sizeof c->reason);
    col_txt(s, 8, c->status_code, sizeof c->status_code);
    col_txt(s, 9, c->status_message, sizeof c->status_message);
    col_txt(s, 10, c->provider, sizeof c->provider);
    col_txt(s, 11, c->provider_source, sizeof c->provider_source);
    c->soft_count = sqlite3_column_int(s, 12);
    c->soft_since = sqlite3_column_int64(s, 13);
    c->quarantine_until = sqlite3_column_int64(s, 14);
    c->last_bounce_at = sqlite3_column_int64(s, 15);
    c->last_delivered_at = sqlite3_column_int64(s, 16);
    c->created_at = sqlite3_column_int64(s, 17);
    c->updated_at = sqlite3_column_int64(s, 18);
}

static rb_status sq_contacts_load(rb_store *st, const char *const *emails, size_t n, int for_update,
                                  rb_contact *out, int *found, rb_error *err)
{
    (void)for_update;     /* the write transaction (BEGIN IMMEDIATE) locks the file */
    sqlite3_stmt *s = prep(st, "SELECT " RB_CONTACT_COLS " FROM contacts WHERE email_norm = ?1", err);
    if (!s) return RB_ERR_DB;
    for (size_t i = 0; i < n; i++) {
        bind_t(s, 1, emails[i]);
        int rc = sqlite3_step(s);
        found[i] = rc == SQLITE_ROW;
        if (rc == SQLITE_ROW) contact_from_stmt(s, &out[i]);
        else if (rc != SQLITE_DONE) {
            rb_status r = dberr(st, err, "cannot read contacts");
            sqlite3_reset(s);
            return r;
        }
        sqlite3_reset(s);
    }
    return RB_OK;
}

static int id_row(void *arg, int ncols, const char *const *vals)
{
    if (ncols > 0 && vals[0]) *(int64_t *)arg = strtoll(vals[0], NULL, 10);
    return 1;
}

/* The fields apply changes, at ?4 .. ?16 in both INSERT and UPDATE. */
static void bind_state(sqlite3_stmt *s, const rb_contact *c)
{
    bind_i(s, 4, c->for_mailing);
    bind_t(s, 5, rb_contact_status_name(c->status));
    bind_t(s, 6, c->bounce_type);
    bind_t(s, 7, c->reason);
    bind_t(s, 8, c->status_code);
    bind_t(s, 9, c->status_message);
    bind_t(s, 10, c->provider);
    bind_t(s, 11, c->provider_source);
    bind_i(s, 12, c->soft_count);
    bind_i(s, 13, c->soft_since);
    bind_i(s, 14, c->quarantine_until);
    bind_i(s, 15, c->last_bounce_at);
    bind_i(s, 16, c->last_delivered_at);
}

static rb_status sq_contacts_insert(rb_store *st, rb_contact *cs, size_t n, int *inserted, rb_error *err)
{
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *s = prep(st,
                               "INSERT INTO contacts (email, email_norm, source, for_mailing, status, bounce_type,"
                               " reason, status_code, status_message, provider, provider_source, soft_count,"
                               " soft_since, quarantine_until, last_bounce_at, last_delivered_at, created_at,"
                               " updated_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18)"
                               " ON CONFLICT (email_norm) DO NOTHING RETURNING id",
                               err);
        if (!s) return RB_ERR_DB;
        const rb_contact *c = &cs[i];
        bind_t(s, 1, c->email);
        bind_t(s, 2, c->email_norm);
        bind_t(s, 3, c->source);
        bind_state(s, c);
        bind_i(s, 17, c->created_at);
        bind_i(s, 18, c->updated_at);
        int64_t id = 0;
        rb_status r = run(st, s, id_row, &id, err);
        if (r != RB_OK) return r;
        inserted[i] = id != 0;
        if (!id) {
            sqlite3_stmt *q = prep(st, "SELECT id FROM contacts WHERE email_norm = ?1", err);
            if (!q) return RB_ERR_DB;
            bind_t(q, 1, c->email_norm);
            if ((r = run(st, q, id_row, &id, err)) != RB_OK) return r;
        }
        cs[i].id = id;
    }
    return RB_OK;
}

/* The two indexed columns apply changes (status, soft_since) are written by
 * statements of their own that match only when the value changes: SQLite
 * rewrites an index entry whenever its column is assigned, same value or
 * not, and most saves leave both as they were (a soft bounce counted, a
 * block recorded).  At millions of contacts those rewrites were two index
 * pages dirtied per saved contact, more WAL than the row itself. */
static rb_status sq_contacts_save(rb_store *st, const rb_contact *cs, size_t n, rb_error *err)
{
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *s = prep(st,
                               "UPDATE contacts SET for_mailing = ?4,"
                               " bounce_type = ?6, reason = ?7, status_code = ?8, status_message = ?9,"
                               " provider = ?10, provider_source = ?11, soft_count = ?12,"
                               " quarantine_until = ?14, last_bounce_at = ?15, last_delivered_at = ?16,"
                               " updated_at = ?17 WHERE id = ?1",
                               err);
        if (!s) return RB_ERR_DB;
        const rb_contact *c = &cs[i];
        bind_i(s, 1, c->id);
        bind_state(s, c);
        bind_i(s, 17, c->updated_at);
        rb_status r = run(st, s, NULL, NULL, err);
        if (r != RB_OK) return r;
        if (!(s = prep(st, "UPDATE contacts SET status = ?2 WHERE id = ?1 AND status <> ?2", err))) return RB_ERR_DB;
        bind_i(s, 1, c->id);
        bind_t(s, 2, rb_contact_status_name(c->status));
        if ((r = run(st, s, NULL, NULL, err)) != RB_OK) return r;
        if (!(s = prep(st, "UPDATE contacts SET soft_since = ?2 WHERE id = ?1 AND soft_since <> ?2", err)))
            return RB_ERR_DB;
        bind_i(s, 1, c->id);
        bind_i(s, 2, c->soft_since);
        if ((r = run(st, s, NULL, NULL, err)) != RB_OK) return r;
    }
    return RB_OK;
}

static rb_status sq_events_known(rb_store *st, const char *const *keys, size_t n, int *known, rb_error *err)
{
    sqlite3_stmt *s = prep(st, "SELECT 1 FROM events WHERE key = ?1", err);
    if (!s) return RB_ERR_DB;
    for (size_t i = 0; i < n; i++) {
        int64_t one = 0;
        bind_t(s, 1, keys[i]);
        rb_status r = run(st, s, id_row, &one, err);
        if (r != RB_OK) return r;
        known[i] = one != 0;
    }
    return RB_OK;
}

static rb_status sq_events_insert(rb_store *st, const rb_event *ev, size_t n, rb_error *err)
{
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *s = prep(st,
                               "INSERT INTO events (key, contact_id, event_time, applied_at, bounce_type, reason,"
                               " status, reply_code, decision, diagnostic, remote_mta, provider, source, evidence,"
                               " rule, alert, account)"
                               " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17)"
                               " ON CONFLICT (key) DO NOTHING",
                               err);
        if (!s) return RB_ERR_DB;
        const rb_event *e = &ev[i];
        bind_t(s, 1, e->key);
        bind_i(s, 2, e->contact_id);
        bind_i(s, 3, e->event_time);
        bind_i(s, 4, e->applied_at);
        bind_t(s, 5, e->bounce_type);
        bind_t(s, 6, e->reason);
        bind_t(s, 7, e->status);
        bind_t(s, 8, e->reply_code);
        bind_t(s, 9, e->decision);
        bind_t(s, 10, e->diagnostic);
        bind_t(s, 11, e->remote_mta);
        bind_t(s, 12, e->provider);
        bind_t(s, 13, e->source);
        bind_t(s, 14, e->evidence);
        bind_t(s, 15, e->rule);
        bind_t(s, 16, e->alert);
        bind_t(s, 17, e->account);
        rb_status r = run(st, s, NULL, NULL, err);
        if (r != RB_OK) return r;
    }
    return RB_OK;
}

typedef struct {
    rb_soft_cb cb;
    void *arg;
    int64_t id;
} soft_iter;

static int soft_row(void *arg, int ncols, const char *const *vals)
{
    soft_iter *it = arg;
    if (ncols > 0 && vals[0]) it->cb(it->arg, it->id, strtoll(vals[0], NULL, 10));
    return 0;
}

static rb_status sq_soft_events(rb_store *st, const int64_t *ids, size_t n, int64_t min_time, rb_soft_cb cb,
                                void *arg, rb_error *err)
{
    sqlite3_stmt *s = prep(st,
                           "SELECT event_time FROM events WHERE contact_id = ?1 AND bounce_type = 'soft'"
                           " AND decision IN ('counted', 'quarantined') AND event_time >= ?2",
                           err);
    if (!s) return RB_ERR_DB;
    for (size_t i = 0; i < n; i++) {
        soft_iter it = {cb, arg, ids[i]};
        bind_i(s, 1, ids[i]);
        bind_i(s, 2, min_time);
        rb_status r = run(st, s, soft_row, &it, err);
        if (r != RB_OK) return r;
    }
    return RB_OK;
}

/* ---- a long-running server (rebound serve) ---- */
static rb_status sq_tune(rb_store *st, int use, rb_error *err)
{
    /* a report's sorts (millions of rows) go to temporary files, not to
     * memory: the memory stays the page cache's, whatever the events */
    if (use == RB_TUNE_REPORT) return sq_exec(st, "PRAGMA temp_store = FILE", err);
    /* mmap: pages of the database file are read without a system call each.
     * The writer's page cache is small (8 MiB, 2,048 pages): every commit
     * that split a B-tree page ends in a scan of the whole cache (the split
     * moves a page through the lock-byte page's number, 262,145 with 4 KiB
     * pages, beyond the end of the file, and SQLite's commit then drops the
     * pages past the end by walking every cached page: pcache1Truncate);
     * with 128 MiB that walk was 7 % of the server's CPU under bench/serve.sh,
     * and the pages the writer reads again are the WAL's and the B-trees'
     * upper levels, which 2,048 pages hold (measured: 4,096 no better, 1,024
     * worse). */
    return sq_exec(st, use == RB_TUNE_WRITER ? "PRAGMA mmap_size = 1073741824; PRAGMA wal_autocheckpoint = 0;"
                                               "PRAGMA cache_size = -8192"
                                             : "PRAGMA mmap_size = 1073741824", err);
}

typedef struct {
    long busy, log, done;
} ckpt;

static int ckpt_row(void *arg, int ncols, const char *const *vals)
{
    ckpt *k = arg;
    if (ncols >= 3) {
        k->busy = vals[0] ? atol(vals[0]) : 0;
        k->log = vals[1] ? atol(vals[1]) : 0;
        k->done = vals[2] ? atol(vals[2]) : 0;
    }
    return 1;
}

static rb_status sq_checkpoint(rb_store *st, long *wal_frames, long *done, rb_error *err)
{
    ckpt k = {0, 0, 0};
    /* PASSIVE: copies what no reader needs, never waits for (or blocks) the writer */
    rb_status s = sq_query(st, "PRAGMA wal_checkpoint(PASSIVE)", 0, NULL, ckpt_row, &k, err);
    if (s != RB_OK) return s;
    if (wal_frames) *wal_frames = k.log;
    if (done) *done = k.done;
    return RB_OK;
}

const rb_store_ops rb_store_sqlite_ops = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .exec = sq_exec,
    .query = sq_query,
    .contacts_load = sq_contacts_load,
    .contacts_insert = sq_contacts_insert,
    .contacts_save = sq_contacts_save,
    .events_known = sq_events_known,
    .events_insert = sq_events_insert,
    .soft_events = sq_soft_events,
    .tune = sq_tune,
    .checkpoint = sq_checkpoint,
};
