/* store_pg.c -- the PostgreSQL backend of the contact store (libpq).
 *
 * Design:
 *   - One connection per rb_store (st->h is a pg_handle).  No global state;
 *     libpq's notice processor is replaced by a silent one, so nothing is
 *     ever printed; the client encoding is UTF8 whatever the database's.
 *   - Every statement sends text parameters ($1..$n) and reads text results.
 *     PostgreSQL rejects text that is not valid UTF-8, while bounce data is
 *     often broken: every value sent goes through utf8_put(), which turns
 *     each invalid byte into '?'.  Keys (email_norm, event keys) are
 *     compared after that same cleaning, so rows map back to their inputs.
 *   - Rows are STREAMED: PQsendQueryParams + PQsetSingleRowMode, one
 *     PGresult per row, so iterating a million contacts holds one row at a
 *     time.  When the row callback asks to stop, the remaining results are
 *     still read (PQgetResult until NULL): the connection stays usable and an
 *     open transaction is not aborted, as cancelling the query would do.
 *     While rows stream the connection is busy: a row callback must not call
 *     back into the same store (that is reported as an error, not a hang).
 *   - The hot batch operations of `apply` and `contacts import` cost ONE
 *     round trip per batch, whatever n: each column travels as one array
 *     parameter in text form ({"a","b"}, ints as {1,2}) and the statement
 *     works on unnest() / = ANY() of it.  Results are mapped back to the
 *     input positions through a sorted index of the keys, so duplicates in
 *     the input are all served.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>

#include "rb_internal.h"
#include "store_impl.h"

typedef struct {
    PGconn *conn;
    int busy;                 /* a result is being streamed */
} pg_handle;

static PGconn *conn_of(rb_store *st) { return ((pg_handle *)st->h)->conn; }

/* ---- error messages ---------------------------------------------------------- */
/* libpq's messages span lines ("ERROR:  x\nDETAIL: y\n", "...failed: z\n\tIs
 * the server running...?"): make them one trimmed line. */
static void one_line(char *out, size_t outlen, const char *in)
{
    rb_strlcpy(out, in ? in : "", outlen);
    rb_squeeze(out);
    if (!*out) rb_strlcpy(out, "unknown error", outlen);
}

/* The server's primary message (and detail) of a failed result, else the
 * connection's last error. */
static void pq_message(PGconn *conn, const PGresult *res, char *out, size_t outlen)
{
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (primary) {
        const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
        char tmp[sizeof ((rb_error *)0)->msg];
        if (detail) snprintf(tmp, sizeof tmp, "%s (%s)", primary, detail);
        else rb_strlcpy(tmp, primary, sizeof tmp);
        one_line(out, outlen, tmp);
        return;
    }
    const char *m = res ? PQresultErrorMessage(res) : "";
    one_line(out, outlen, m && *m ? m : PQerrorMessage(conn));
}

/* "URL: what: message" (what may be NULL). */
static rb_status db_error(rb_store *st, rb_error *err, const char *what, const PGresult *res)
{
    char m[sizeof err->msg];
    pq_message(conn_of(st), res, m, sizeof m);
    if (what) rb_seterr(err, "%s: %s: %s", st->url, what, m);
    else rb_seterr(err, "%s: %s", st->url, m);
    return RB_ERR_DB;
}

static rb_status nomem(rb_error *err)
{
    rb_seterr(err, "out of memory");
    return RB_ERR_NOMEM;
}

static rb_status busy_error(rb_store *st, rb_error *err)
{
    rb_seterr(err, "%s: the connection is busy streaming rows (a row callback called back into the store)",
              st->url);
    return RB_ERR_DB;
}

/* ---- UTF-8 cleaning ------------------------------------------------------------ */
/* Append s to b, invalid bytes as '?'; with quote, also escape " and \ for
 * an array element.  Returns -1 on OOM. */
static int utf8_put(rb_buf *b, const char *s, int quote)
{
    const unsigned char *p = (const unsigned char *)s, *span = p;
    while (*p) {
        size_t n = *p < 0x80 ? 1 : rb_utf8_seq((const char *)p, strnlen((const char *)p, 4));
        if (n && !(quote && (*p == '"' || *p == '\\'))) {
            p += n;
            continue;
        }
        if (rb_buf_append(b, (const char *)span, (size_t)(p - span))) return -1;
        if (n) {                                   /* " or \ */
            char esc[2] = {'\\', (char)*p};
            if (rb_buf_append(b, esc, 2)) return -1;
        } else if (rb_buf_append(b, "?", 1)) {
            return -1;
        }
        span = ++p;
    }
    return rb_buf_append(b, (const char *)span, (size_t)(p - span));
}

/* A cleaned copy of s (malloc), or NULL on OOM. */
static char *utf8_clean_dup(const char *s)
{
    rb_buf b;
    rb_buf_init(&b);
    if (utf8_put(&b, s, 0) || (!b.buf && rb_buf_append(&b, "", 0))) {
        rb_buf_free(&b);
        return NULL;
    }
    return b.buf;
}

/* ---- keys: input strings, cleaned, sorted for mapping rows back --------------- */
typedef struct {
    const char *key;          /* cleaned form */
    size_t idx;               /* input position */
} keyref;

typedef struct {
    keyref *refs;             /* sorted by key, then input position */
    char **own;               /* cleaned copies of keys that needed it */
    size_t n, nown;
} keyset;

static int keyref_cmp(const void *a, const void *b)
{
    const keyref *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c) return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static void keyset_free(keyset *ks)
{
    for (size_t i = 0; i < ks->nown; i++) free(ks->own[i]);
    free(ks->own);
    free(ks->refs);
    memset(ks, 0, sizeof *ks);
}

/* The keys are key(base, i) for i < n: one function serves arrays of
 * strings and fields of structs.  -1 on OOM. */
static int keyset_build(keyset *ks, const char *(*key)(const void *base, size_t i), const void *base,
                        size_t n)
{
    memset(ks, 0, sizeof *ks);
    ks->refs = malloc(n * sizeof *ks->refs);
    ks->own = malloc(n * sizeof *ks->own);
    if (!ks->refs || !ks->own) goto oom;
    for (size_t i = 0; i < n; i++) {
        const char *k = key(base, i);
        if (!k) k = "";
        if (!g_utf8_validate(k, -1, NULL)) {
            char *c = utf8_clean_dup(k);
            if (!c) goto oom;
            ks->own[ks->nown++] = c;
            k = c;
        }
        ks->refs[i].key = k;
        ks->refs[i].idx = i;
    }
    ks->n = n;
    qsort(ks->refs, n, sizeof *ks->refs, keyref_cmp);
    return 0;
oom:
    keyset_free(ks);
    return -1;
}

/* The first ref with this key, or NULL; the following refs with the same
 * key are the other input positions of it. */
static const keyref *keyset_find(const keyset *ks, const char *k)
{
    size_t lo = 0, hi = ks->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(ks->refs[mid].key, k) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo < ks->n && !strcmp(ks->refs[lo].key, k) ? &ks->refs[lo] : NULL;
}

/* 1 if ref r is the first input position of its key. */
static int keyset_is_first(const keyset *ks, const keyref *r)
{
    return r == ks->refs || strcmp(r[-1].key, r->key) != 0;
}

static const char *key_of_strv(const void *base, size_t i) { return ((const char *const *)base)[i]; }
static const char *key_of_contact(const void *base, size_t i) { return ((const rb_contact *)base)[i].email_norm; }

/* ---- array parameters ------------------------------------------------------------ */
/* Up to MAXCOLS arrays built side by side, one per column; failures are
 * remembered and checked once. */
#define MAXCOLS 20

typedef struct {
    rb_buf col[MAXCOLS];
    const char *param[MAXCOLS];
    int ncols;
    int oom;
} arrays;

static void arrays_init(arrays *a, int ncols)
{
    memset(a, 0, sizeof *a);
    a->ncols = ncols;
    for (int i = 0; i < ncols; i++)
        if (rb_buf_append(&a->col[i], "{", 1)) a->oom = 1;
}

static void arrays_free(arrays *a)
{
    for (int i = 0; i < a->ncols; i++) rb_buf_free(&a->col[i]);
}

static void sep(arrays *a, int c)
{
    if (a->col[c].len > 1 && rb_buf_append(&a->col[c], ",", 1)) a->oom = 1;
}

static void arr_text(arrays *a, int c, const char *s)
{
    sep(a, c);
    if (rb_buf_append(&a->col[c], "\"", 1) || utf8_put(&a->col[c], s ? s : "", 1) ||
        rb_buf_append(&a->col[c], "\"", 1))
        a->oom = 1;
}

static void arr_i64(arrays *a, int c, int64_t v)
{
    char num[32];
    int len = snprintf(num, sizeof num, "%lld", (long long)v);
    sep(a, c);
    if (rb_buf_append(&a->col[c], num, (size_t)len)) a->oom = 1;
}

/* Close the arrays and point param[] at them; -1 on OOM. */
static int arrays_finish(arrays *a)
{
    for (int i = 0; i < a->ncols; i++) {
        if (rb_buf_append(&a->col[i], "}", 1)) a->oom = 1;
        a->param[i] = a->col[i].buf;
    }
    return a->oom ? -1 : 0;
}

/* ---- running a statement, rows streamed ----------------------------------------- */
/* Throw away what a COPY started by a stray statement would leave pending. */
static void end_copy(PGconn *conn, ExecStatusType t)
{
    if (t == PGRES_COPY_IN) {
        PQputCopyEnd(conn, "COPY is not supported here");
    } else if (t == PGRES_COPY_OUT) {
        char *buf;
        while (PQgetCopyData(conn, &buf, 0) > 0) PQfreemem(buf);
    }
}

static int deliver_rows(const PGresult *res, rb_row_cb cb, void *arg)
{
    int nrows = PQntuples(res), ncols = PQnfields(res);
    const char *small[32];
    const char **vals = ncols <= 32 ? small : malloc((size_t)ncols * sizeof *vals);
    if (!vals) return -1;
    int stop = 0;
    for (int r = 0; r < nrows && !stop; r++) {
        for (int c = 0; c < ncols; c++)
            vals[c] = PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
        stop = cb(arg, ncols, vals) != 0;
    }
    if (vals != small) free(vals);
    return stop;
}

/* Run one statement with text parameters (already clean), rows to cb (may
 * be NULL).  `what` names the operation in messages (may be NULL). */
static rb_status run(rb_store *st, const char *what, const char *sql, int nparams,
                     const char *const *params, rb_row_cb cb, void *arg, rb_error *err)
{
    pg_handle *h = st->h;
    if (h->busy) return busy_error(st, err);
    if (!PQsendQueryParams(h->conn, sql, nparams, NULL, params, NULL, NULL, 0))
        return db_error(st, err, what, NULL);
    h->busy = 1;
    PQsetSingleRowMode(h->conn);         /* if refused, rows come in one result: still served */
    rb_status s = RB_OK;
    int stop = 0;
    PGresult *res;
    while ((res = PQgetResult(h->conn))) {
        ExecStatusType t = PQresultStatus(res);
        if (t == PGRES_SINGLE_TUPLE || t == PGRES_TUPLES_OK) {
            if (cb && !stop && s == RB_OK) {
                int r = deliver_rows(res, cb, arg);
                if (r < 0) s = nomem(err);
                else stop = r;
            }
        } else if (t != PGRES_COMMAND_OK && t != PGRES_EMPTY_QUERY) {
            end_copy(h->conn, t);
            if (s == RB_OK) s = db_error(st, err, what, res);
        }
        PQclear(res);
    }
    h->busy = 0;
    if (s == RB_OK && PQstatus(h->conn) == CONNECTION_BAD) s = db_error(st, err, what, NULL);
    return s;
}

/* ---- open / close / exec / query --------------------------------------------------- */
static void quiet_notices(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static rb_status pg_open(rb_store *st, const char *url, const rb_store_opts *o, rb_error *err)
{
    pg_handle *h = calloc(1, sizeof *h);
    if (!h) return nomem(err);
    h->conn = PQconnectdb(url);
    if (!h->conn) {
        free(h);
        return nomem(err);
    }
    st->h = h;
    PQsetNoticeProcessor(h->conn, quiet_notices, NULL);
    rb_status s = RB_OK;
    if (PQstatus(h->conn) != CONNECTION_OK) {
        s = db_error(st, err, "cannot connect", NULL);
    } else if (PQsetClientEncoding(h->conn, "UTF8") != 0) {
        s = db_error(st, err, "cannot set the client encoding to UTF8", NULL);
    } else {
        /* the caller's lock wait (the pipe transport gives up sooner and
         * lets Postfix retry); the server's default otherwise */
        char sql[128] = "SET client_min_messages = warning";
        if (o->lock_timeout > 0 && o->lock_timeout <= 3600)
            snprintf(sql, sizeof sql, "SET client_min_messages = warning; SET lock_timeout = %d",
                     (int)(o->lock_timeout * 1000));
        PGresult *res = PQexec(h->conn, sql);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) s = db_error(st, err, "cannot set up the session", res);
        PQclear(res);
    }
    if (s != RB_OK) {
        PQfinish(h->conn);
        free(h);
        st->h = NULL;
    }
    return s;
}

static void pg_close(rb_store *st)
{
    pg_handle *h = st->h;
    if (!h) return;
    PQfinish(h->conn);
    free(h);
    st->h = NULL;
}

/* Is sql this one keyword (any case, surrounding blanks and ';' allowed)? */
static int is_keyword(const char *sql, const char *kw)
{
    size_t n = strlen(kw);
    while (*sql == ' ' || *sql == '\t' || *sql == '\n') sql++;
    if (strncasecmp(sql, kw, n)) return 0;
    for (sql += n; *sql; sql++)
        if (*sql != ' ' && *sql != '\t' && *sql != '\n' && *sql != ';') return 0;
    return 1;
}

static rb_status pg_exec(rb_store *st, const char *sql, rb_error *err)
{
    pg_handle *h = st->h;
    if (h->busy) return busy_error(st, err);
    PGresult *res = PQexec(h->conn, sql);
    ExecStatusType t = PQresultStatus(res);
    rb_status s = RB_OK;
    if (t != PGRES_COMMAND_OK && t != PGRES_TUPLES_OK && t != PGRES_EMPTY_QUERY) {
        end_copy(h->conn, t);
        s = db_error(st, err, NULL, res);
    } else if ((is_keyword(sql, "COMMIT") || is_keyword(sql, "END")) &&
               !strcmp(PQcmdStatus(res), "ROLLBACK")) {
        /* COMMIT of a transaction an earlier error aborted: PostgreSQL
         * rolls back and says so only in the command tag */
        rb_seterr(err, "%s: COMMIT failed: the transaction was aborted by an earlier error and rolled back",
                  st->url);
        s = RB_ERR_DB;
    }
    PQclear(res);
    return s;
}

static rb_status pg_query(rb_store *st, const char *sql, int nparams, const char *const *params, rb_row_cb cb,
                          void *arg, rb_error *err)
{
    if (nparams < 0 || (nparams > 0 && !params)) {
        rb_seterr(err, "%s: bad query parameters", st->url);
        return RB_ERR_ARG;
    }
    /* clean copies only of the parameters that need it */
    const char **p = NULL;
    char **own = NULL;
    int nown = 0;
    rb_status s = RB_OK;
    for (int i = 0; i < nparams; i++) {
        if (!params[i] || g_utf8_validate(params[i], -1, NULL)) continue;
        if (!p) {
            p = malloc((size_t)nparams * sizeof *p);
            own = malloc((size_t)nparams * sizeof *own);
            if (!p || !own) { s = nomem(err); goto out; }
            memcpy(p, params, (size_t)nparams * sizeof *p);
        }
        if (!(own[nown] = utf8_clean_dup(params[i]))) { s = nomem(err); goto out; }
        p[i] = own[nown++];
    }
    s = run(st, NULL, sql, nparams, p ? (const char *const *)p : params, cb, arg, err);
out:
    for (int i = 0; i < nown; i++) free(own[i]);
    free(own);
    free(p);
    return s;
}

/* ---- contacts_load --------------------------------------------------------------------- */
typedef struct {
    const keyset *ks;
    rb_contact *out;
    int *found;
    rb_contact c;
} load_ctx;

static int load_row(void *arg, int ncols, const char *const *v)
{
    load_ctx *x = arg;
    if (ncols < RB_CONTACT_NCOLS || !v[2]) return 0;
    const keyref *r = keyset_find(x->ks, v[2]);
    if (!r) return 0;
    rb_contact_from_row(&x->c, v);
    for (const keyref *end = x->ks->refs + x->ks->n; r < end && !strcmp(r->key, v[2]); r++) {
        x->out[r->idx] = x->c;
        x->found[r->idx] = 1;
    }
    return 0;
}

static rb_status pg_contacts_load(rb_store *st, const char *const *emails, size_t n, int for_update,
                                  rb_contact *out, int *found, rb_error *err)
{
    if (n == 0) return RB_OK;
    memset(found, 0, n * sizeof *found);
    keyset ks;
    if (keyset_build(&ks, key_of_strv, emails, n)) return nomem(err);
    load_ctx *x = malloc(sizeof *x);
    arrays a;
    arrays_init(&a, 1);
    rb_status s;
    for (size_t i = 0; i < n; i++)
        if (keyset_is_first(&ks, &ks.refs[i])) arr_text(&a, 0, ks.refs[i].key);
    if (!x || arrays_finish(&a)) {
        s = nomem(err);
    } else {
        x->ks = &ks;
        x->out = out;
        x->found = found;
        s = run(st, "loading contacts",
                for_update ? "SELECT " RB_CONTACT_COLS " FROM contacts WHERE email_norm = ANY($1::text[])"
                             " ORDER BY id FOR NO KEY UPDATE"
                           : "SELECT " RB_CONTACT_COLS " FROM contacts WHERE email_norm = ANY($1::text[])"
                             " ORDER BY id",
                1, a.param, load_row, x, err);
    }
    free(x);
    arrays_free(&a);
    keyset_free(&ks);
    return s;
}

/* ---- contacts_insert ------------------------------------------------------------------- */
/* One statement: look each address up, insert the new ones in input order
 * (ids follow it) and return their ids with the ids of the ones already
 * stored.  The lookup is a correlated subquery on purpose: it is always one
 * probe of the email_norm index per address, while a join (NOT EXISTS,
 * = ANY) lets the planner pick a hash join over a whole-table scan for a
 * table of a few hundred thousand rows, which makes an import into a
 * growing store quadratic.  Stored addresses are left out of the INSERT:
 * ON CONFLICT alone would draw (and waste) a sequence value for each, so
 * re-importing a list would leave ever larger gaps in the ids.  ON CONFLICT
 * still covers an address another session inserts meanwhile. */
#define CONTACT_DATA_COLS \
    "email, email_norm, source, for_mailing, status, bounce_type, reason, status_code," \
    " status_message, provider, provider_source, soft_count, soft_since, quarantine_until," \
    " last_bounce_at, last_delivered_at, created_at, updated_at"

#define INSERT_CONTACTS_SQL \
    "WITH u AS (SELECT u.*, (SELECT c.id FROM contacts c WHERE c.email_norm = u.email_norm) AS old_id" \
    " FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[]," \
    " $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::int[]," \
    " $13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[], $17::bigint[], $18::bigint[])" \
    " WITH ORDINALITY AS u(" CONTACT_DATA_COLS ", ord))," \
    " ins AS (INSERT INTO contacts (" CONTACT_DATA_COLS ") SELECT " CONTACT_DATA_COLS \
    " FROM u WHERE old_id IS NULL ORDER BY ord ON CONFLICT (email_norm) DO NOTHING RETURNING id, email_norm)" \
    " SELECT 1, id, email_norm FROM ins" \
    " UNION ALL SELECT 0, old_id, email_norm FROM u WHERE old_id IS NOT NULL"

#define CONTACT_IDS_SQL "SELECT 0, id, email_norm FROM contacts WHERE email_norm = ANY($1::text[])"

typedef struct {
    const keyset *ks;
    rb_contact *cs;
    int *inserted;
} insert_ctx;

/* rows: new (1/0), id, email_norm */
static int insert_row(void *arg, int ncols, const char *const *v)
{
    insert_ctx *x = arg;
    if (ncols < 3 || !v[1] || !v[2]) return 0;
    const keyref *r = keyset_find(x->ks, v[2]);
    if (!r) return 0;
    int is_new = v[0] && !strcmp(v[0], "1");
    int64_t id = strtoll(v[1], NULL, 10);
    for (const keyref *first = r, *end = x->ks->refs + x->ks->n; r < end && !strcmp(r->key, v[2]); r++) {
        x->cs[r->idx].id = id;
        x->inserted[r->idx] = is_new && r == first;
    }
    return 0;
}

static void contact_columns(arrays *a, const rb_contact *c, const char *email_norm)
{
    arr_text(a, 0, c->email);
    arr_text(a, 1, email_norm);
    arr_text(a, 2, c->source);
    arr_i64(a, 3, c->for_mailing != 0);
    arr_text(a, 4, rb_contact_status_name(c->status));
    arr_text(a, 5, c->bounce_type);
    arr_text(a, 6, c->reason);
    arr_text(a, 7, c->status_code);
    arr_text(a, 8, c->status_message);
    arr_text(a, 9, c->provider);
    arr_text(a, 10, c->provider_source);
    arr_i64(a, 11, c->soft_count);
    arr_i64(a, 12, c->soft_since);
    arr_i64(a, 13, c->quarantine_until);
    arr_i64(a, 14, c->last_bounce_at);
    arr_i64(a, 15, c->last_delivered_at);
    arr_i64(a, 16, c->created_at);
    arr_i64(a, 17, c->updated_at);
}

/* A concurrent session may commit one of our addresses after the insert's
 * snapshot was taken: ON CONFLICT skips it and the snapshot hides it.  A
 * second statement (a new snapshot) finds those; it runs only then. */
static rb_status insert_fill_missing(rb_store *st, const keyset *ks, insert_ctx *x, rb_error *err)
{
    arrays a;
    arrays_init(&a, 1);
    size_t missing = 0;
    for (size_t i = 0; i < ks->n; i++)
        if (keyset_is_first(ks, &ks->refs[i]) && x->cs[ks->refs[i].idx].id == 0) {
            arr_text(&a, 0, ks->refs[i].key);
            missing++;
        }
    rb_status s = RB_OK;
    if (missing == 0) goto out;
    if (arrays_finish(&a)) { s = nomem(err); goto out; }
    if ((s = run(st, "inserting contacts", CONTACT_IDS_SQL, 1, a.param, insert_row, x, err)) != RB_OK) goto out;
    for (size_t i = 0; i < ks->n; i++)
        if (x->cs[ks->refs[i].idx].id == 0) {
            rb_seterr(err, "%s: inserting contacts: %s was neither inserted nor found", st->url,
                      ks->refs[i].key);
            s = RB_ERR_DB;
            break;
        }
out:
    arrays_free(&a);
    return s;
}

static rb_status pg_contacts_insert(rb_store *st, rb_contact *cs, size_t n, int *inserted, rb_error *err)
{
    if (n == 0) return RB_OK;
    keyset ks;
    if (keyset_build(&ks, key_of_contact, cs, n)) return nomem(err);
    /* the first position of each address, so each is sent once, in input order */
    const char **first = calloc(n, sizeof *first);
    arrays a;
    arrays_init(&a, 18);
    insert_ctx x = {&ks, cs, inserted};
    rb_status s;
    if (!first) { s = nomem(err); goto out; }
    for (size_t i = 0; i < n; i++)
        if (keyset_is_first(&ks, &ks.refs[i])) first[ks.refs[i].idx] = ks.refs[i].key;
    for (size_t i = 0; i < n; i++) {
        cs[i].id = 0;
        inserted[i] = 0;
        if (first[i]) contact_columns(&a, &cs[i], first[i]);
    }
    if (arrays_finish(&a)) { s = nomem(err); goto out; }
    s = run(st, "inserting contacts", INSERT_CONTACTS_SQL, 18, a.param, insert_row, &x, err);
    if (s == RB_OK) s = insert_fill_missing(st, &ks, &x, err);
out:
    free(first);
    arrays_free(&a);
    keyset_free(&ks);
    return s;
}

/* ---- contacts_save ----------------------------------------------------------------------- */
#define SAVE_CONTACTS_SQL \
    "UPDATE contacts c SET email = u.email, source = u.source, for_mailing = u.for_mailing," \
    " status = u.status, bounce_type = u.bounce_type, reason = u.reason, status_code = u.status_code," \
    " status_message = u.status_message, provider = u.provider, provider_source = u.provider_source," \
    " soft_count = u.soft_count, soft_since = u.soft_since, quarantine_until = u.quarantine_until," \
    " last_bounce_at = u.last_bounce_at, last_delivered_at = u.last_delivered_at, updated_at = u.updated_at" \
    " FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[], $7::text[]," \
    " $8::text[], $9::text[], $10::text[], $11::text[], $12::int[], $13::bigint[], $14::bigint[]," \
    " $15::bigint[], $16::bigint[], $17::bigint[])" \
    " AS u(id, email, source, for_mailing, status, bounce_type, reason, status_code, status_message," \
    " provider, provider_source, soft_count, soft_since, quarantine_until, last_bounce_at," \
    " last_delivered_at, updated_at)" \
    " WHERE c.id = u.id"

typedef struct {
    int64_t id;
    size_t idx;
} idref;

static int idref_cmp(const void *a, const void *b)
{
    const idref *x = a, *y = b;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static rb_status pg_contacts_save(rb_store *st, const rb_contact *cs, size_t n, rb_error *err)
{
    if (n == 0) return RB_OK;
    /* An UPDATE ... FROM applies one arbitrary source row per target row:
     * when an id comes more than once, send only its last version, as
     * saving them one after the other would leave. */
    idref *ids = malloc(n * sizeof *ids);
    arrays a;
    arrays_init(&a, 17);
    rb_status s = RB_OK;
    if (!ids) { s = nomem(err); goto out; }
    for (size_t i = 0; i < n; i++) ids[i] = (idref){cs[i].id, i};
    qsort(ids, n, sizeof *ids, idref_cmp);
    size_t sent = 0;
    for (size_t k = 0; k < n; k++) {
        if (k + 1 < n && ids[k + 1].id == ids[k].id) continue;
        const rb_contact *c = &cs[ids[k].idx];
        if (c->id <= 0) continue;                 /* not stored: nothing to update */
        arr_i64(&a, 0, c->id);
        arr_text(&a, 1, c->email);
        arr_text(&a, 2, c->source);
        arr_i64(&a, 3, c->for_mailing != 0);
        arr_text(&a, 4, rb_contact_status_name(c->status));
        arr_text(&a, 5, c->bounce_type);
        arr_text(&a, 6, c->reason);
        arr_text(&a, 7, c->status_code);
        arr_text(&a, 8, c->status_message);
        arr_text(&a, 9, c->provider);
        arr_text(&a, 10, c->provider_source);
        arr_i64(&a, 11, c->soft_count);
        arr_i64(&a, 12, c->soft_since);
        arr_i64(&a, 13, c->quarantine_until);
        arr_i64(&a, 14, c->last_bounce_at);
        arr_i64(&a, 15, c->last_delivered_at);
        arr_i64(&a, 16, c->updated_at);
        sent++;
    }
    if (sent == 0) goto out;
    if (arrays_finish(&a)) { s = nomem(err); goto out; }
    s = run(st, "saving contacts", SAVE_CONTACTS_SQL, 17, a.param, NULL, NULL, err);
out:
    free(ids);
    arrays_free(&a);
    return s;
}

/* ---- events ------------------------------------------------------------------------------ */
typedef struct {
    const keyset *ks;
    int *known;
} known_ctx;

static int known_row(void *arg, int ncols, const char *const *v)
{
    known_ctx *x = arg;
    if (ncols < 1 || !v[0]) return 0;
    const keyref *r = keyset_find(x->ks, v[0]);
    for (const keyref *end = x->ks->refs + x->ks->n; r && r < end && !strcmp(r->key, v[0]); r++)
        x->known[r->idx] = 1;
    return 0;
}

static rb_status pg_events_known(rb_store *st, const char *const *keys, size_t n, int *known, rb_error *err)
{
    if (n == 0) return RB_OK;
    memset(known, 0, n * sizeof *known);
    keyset ks;
    if (keyset_build(&ks, key_of_strv, keys, n)) return nomem(err);
    arrays a;
    arrays_init(&a, 1);
    for (size_t i = 0; i < n; i++)
        if (keyset_is_first(&ks, &ks.refs[i])) arr_text(&a, 0, ks.refs[i].key);
    rb_status s;
    if (arrays_finish(&a)) {
        s = nomem(err);
    } else {
        known_ctx x = {&ks, known};
        s = run(st, "looking up events", "SELECT key FROM events WHERE key = ANY($1::text[])", 1, a.param,
                known_row, &x, err);
    }
    arrays_free(&a);
    keyset_free(&ks);
    return s;
}

#define EVENT_DATA_COLS \
    "key, contact_id, event_time, applied_at, bounce_type, reason, status, reply_code, decision," \
    " diagnostic, remote_mta, provider, source, evidence, rule, alert, account"

#define INSERT_EVENTS_SQL \
    "INSERT INTO events (" EVENT_DATA_COLS ") SELECT " EVENT_DATA_COLS \
    " FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::text[]," \
    " $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[]," \
    " $14::text[], $15::text[], $16::text[], $17::text[])" \
    " WITH ORDINALITY AS u(" EVENT_DATA_COLS ", ord)" \
    " ORDER BY ord ON CONFLICT (key) DO NOTHING"

static rb_status pg_events_insert(rb_store *st, const rb_event *ev, size_t n, rb_error *err)
{
    if (n == 0) return RB_OK;
    arrays a;
    arrays_init(&a, 17);
    for (size_t i = 0; i < n; i++) {
        const rb_event *e = &ev[i];
        arr_text(&a, 0, e->key);
        arr_i64(&a, 1, e->contact_id);
        arr_i64(&a, 2, e->event_time);
        arr_i64(&a, 3, e->applied_at);
        arr_text(&a, 4, e->bounce_type);
        arr_text(&a, 5, e->reason);
        arr_text(&a, 6, e->status);
        arr_text(&a, 7, e->reply_code);
        arr_text(&a, 8, e->decision);
        arr_text(&a, 9, e->diagnostic);
        arr_text(&a, 10, e->remote_mta);
        arr_text(&a, 11, e->provider);
        arr_text(&a, 12, e->source);
        arr_text(&a, 13, e->evidence);
        arr_text(&a, 14, e->rule);
        arr_text(&a, 15, e->alert);
        arr_text(&a, 16, e->account);
    }
    rb_status s;
    if (arrays_finish(&a)) s = nomem(err);
    else s = run(st, "inserting events", INSERT_EVENTS_SQL, 17, a.param, NULL, NULL, err);
    arrays_free(&a);
    return s;
}

typedef struct {
    rb_soft_cb cb;
    void *arg;
} soft_ctx;

static int soft_row(void *arg, int ncols, const char *const *v)
{
    soft_ctx *x = arg;
    if (ncols < 2 || !v[0] || !v[1]) return 0;
    x->cb(x->arg, strtoll(v[0], NULL, 10), strtoll(v[1], NULL, 10));
    return 0;
}

static rb_status pg_soft_events(rb_store *st, const int64_t *ids, size_t n, int64_t min_time, rb_soft_cb cb,
                                void *arg, rb_error *err)
{
    if (n == 0) return RB_OK;
    arrays a;
    arrays_init(&a, 1);
    for (size_t i = 0; i < n; i++) arr_i64(&a, 0, ids[i]);
    char t[32];
    snprintf(t, sizeof t, "%lld", (long long)min_time);
    rb_status s;
    if (arrays_finish(&a)) {
        s = nomem(err);
    } else {
        const char *p[] = {a.param[0], t};
        soft_ctx x = {cb, arg};
        s = run(st, "reading soft bounces",
                "SELECT contact_id, event_time FROM events WHERE contact_id = ANY($1::bigint[])"
                " AND bounce_type = 'soft' AND decision IN ('counted', 'quarantined') AND event_time >= $2::bigint",
                2, p, cb ? soft_row : NULL, &x, err);
    }
    arrays_free(&a);
    return s;
}

/* The report's statements run once each and read little (the rollups and
 * indexes); PostgreSQL's cost estimate for them is high enough to JIT-
 * compile them, which took longer (2.3 s measured at 1 M contacts) than
 * running them.  A server too old to know jit keeps its default. */
static rb_status pg_tune(rb_store *st, int use, rb_error *err)
{
    (void)err;
    if (use == RB_TUNE_REPORT) {
        rb_error ignored;
        pg_exec(st, "SET jit = off", &ignored);
    }
    return RB_OK;
}

const rb_store_ops rb_store_pg_ops = {
    .name = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .exec = pg_exec,
    .query = pg_query,
    .contacts_load = pg_contacts_load,
    .contacts_insert = pg_contacts_insert,
    .contacts_save = pg_contacts_save,
    .events_known = pg_events_known,
    .events_insert = pg_events_insert,
    .soft_events = pg_soft_events,
    .tune = pg_tune,
};
