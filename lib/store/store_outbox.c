/* store_outbox.c -- notify's outbox (table outbox): the contact changes to
 * push to a status API, one row per change and target, each delivered once.
 *
 * A change is a contact's state: status, bounce type and the time of its last
 * bounce.  Its key is written by the SQL below (target hash, contact id and
 * those three fields), so enqueuing every matching contact is one INSERT ...
 * SELECT that skips the states already queued for that target, on both
 * backends.  Delivery claims due rows in small groups with a lease (a later
 * next_attempt_at), so two notify runs sharing a store do not post the same
 * row at once, and a run that dies leaves its claimed rows to be retried when
 * the lease ends.  Every outcome is its own autocommitted UPDATE: a crash
 * loses at most the request in flight.  Plain parameterised statements
 * through the backend's query(); no SQL holds user data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_internal.h"
#include "store_impl.h"

/* At most this many values in a filter list (the SQL has one placeholder
 * per value; the text only depends on the counts). */
#define FILTER_MAX 16

/* The change key of contact c for the target whose hash is $1. */
#define KEY_EXPR \
    "CAST($1 AS TEXT) || ':' || CAST(c.id AS TEXT) || ':' || c.status || ':' || c.bounce_type || ':'" \
    " || CAST(c.last_bounce_at AS TEXT)"

#define ITEM_COLS \
    "id, change_key, contact_id, email, status, bounce_type, status_code, status_message, provider," \
    " provider_source, state, attempts, next_attempt_at, last_error, created_at, sent_at"
#define ITEM_NCOLS 16

/* First 16 hex digits of the SHA-256 of the target URL: the key names the
 * target without carrying a long URL in every key. */
static void target_hash(const char *target, char out[17])
{
    GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
    g_checksum_update(ck, (const guchar *)target, (gssize)strlen(target));
    rb_strlcpy(out, g_checksum_get_string(ck), 17);
    g_checksum_free(ck);
}

static int64_t i64(const char *s) { return s ? strtoll(s, NULL, 10) : 0; }
static void txt(char *dst, size_t size, const char *s) { rb_strlcpy(dst, s ? s : "", size); }

static void item_from_row(rb_outbox_item *it, const char *const *v)
{
    memset(it, 0, sizeof *it);
    it->id = i64(v[0]);
    txt(it->change_key, sizeof it->change_key, v[1]);
    it->contact_id = i64(v[2]);
    txt(it->email, sizeof it->email, v[3]);
    txt(it->status, sizeof it->status, v[4]);
    txt(it->bounce_type, sizeof it->bounce_type, v[5]);
    txt(it->status_code, sizeof it->status_code, v[6]);
    txt(it->status_message, sizeof it->status_message, v[7]);
    txt(it->provider, sizeof it->provider, v[8]);
    txt(it->provider_source, sizeof it->provider_source, v[9]);
    txt(it->state, sizeof it->state, v[10]);
    it->attempts = (int)i64(v[11]);
    it->next_attempt_at = i64(v[12]);
    txt(it->last_error, sizeof it->last_error, v[13]);
    it->created_at = i64(v[14]);
    it->sent_at = i64(v[15]);
}

static int i64_row(void *arg, int ncols, const char *const *vals)
{
    if (ncols > 0 && vals[0]) *(int64_t *)arg = strtoll(vals[0], NULL, 10);
    return 0;
}

static int count_row(void *arg, int ncols, const char *const *vals)
{
    (*(int64_t *)arg)++;
    return 0;
}

/* ---- enqueue ------------------------------------------------------------------------ */
/* " AND c.col IN ($k, $k+1, ...)" for n values starting at parameter k. */
static void in_clause(char *buf, size_t len, const char *col, int k, size_t n)
{
    size_t o = strlen(buf);
    o += (size_t)snprintf(buf + o, len - o, " AND c.%s IN (", col);
    for (size_t i = 0; i < n && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s$%d", i ? ", " : "", k + (int)i);
    if (o < len) snprintf(buf + o, len - o, ")");
}

rb_status rb_outbox_enqueue(rb_store *st, const rb_outbox_filter *f, int64_t now, int64_t *enqueued,
                            int64_t *superseded, rb_error *err)
{
    if (enqueued) *enqueued = 0;
    if (superseded) *superseded = 0;
    if (!f->target || !*f->target) {
        rb_seterr(err, "outbox: no target URL");
        return RB_ERR_ARG;
    }
    if (f->nstatuses > FILTER_MAX || f->nbounce_types > FILTER_MAX) {
        rb_seterr(err, "outbox: at most %d statuses and %d bounce types in a filter", FILTER_MAX, FILTER_MAX);
        return RB_ERR_ARG;
    }
    char hash[17], t[32];
    target_hash(f->target, hash);
    snprintf(t, sizeof t, "%lld", (long long)now);

    const char *params[3 + 2 * FILTER_MAX];
    int np = 0;
    params[np++] = hash;
    params[np++] = f->target;
    params[np++] = t;
    char where[1024] = "";
    if (f->nstatuses) in_clause(where, sizeof where, "status", np + 1, f->nstatuses);
    for (size_t i = 0; i < f->nstatuses; i++) params[np++] = f->statuses[i];
    if (f->nbounce_types) in_clause(where, sizeof where, "bounce_type", np + 1, f->nbounce_types);
    for (size_t i = 0; i < f->nbounce_types; i++) params[np++] = f->bounce_types[i];

    /* The quarantined status is not in the status API's vocabulary: a
     * quarantine is a run of soft bounces, which the API calls deferred. */
    char sql[3072];
    snprintf(sql, sizeof sql,
             "INSERT INTO outbox (change_key, target, contact_id, email, status, bounce_type, status_code,"
             " status_message, provider, provider_source, state, attempts, next_attempt_at, last_error,"
             " created_at, sent_at)"
             " SELECT " KEY_EXPR ", $2, c.id, c.email_norm,"
             " CASE WHEN c.status = 'quarantined' THEN 'deferred' ELSE c.status END,"
             " c.bounce_type, c.status_code, c.status_message, c.provider, c.provider_source,"
             " 'pending', 0, CAST($3 AS BIGINT), '', CAST($3 AS BIGINT), 0"
             " FROM contacts c WHERE 1 = 1%s ORDER BY c.id"
             " ON CONFLICT (change_key) DO NOTHING",
             where);

    int own_tx = !st->in_tx;
    rb_status s;
    if (own_tx && (s = rb_store_begin(st, err)) != RB_OK) return s;
    int64_t before = 0, n_new = 0, n_sup = 0;
    if ((s = st->ops->query(st, "SELECT COALESCE(MAX(id), 0) FROM outbox", 0, NULL, i64_row, &before, err)) !=
        RB_OK)
        goto fail;
    if ((s = st->ops->query(st, sql, np, params, NULL, NULL, err)) != RB_OK) goto fail;
    char b[32];
    snprintf(b, sizeof b, "%lld", (long long)before);
    const char *pb[] = {b};
    if ((s = st->ops->query(st, "SELECT COUNT(*) FROM outbox WHERE id > CAST($1 AS BIGINT)", 1, pb, i64_row,
                            &n_new, err)) != RB_OK)
        goto fail;
    /* A row not sent yet whose contact is in another state by now (bounced
     * again, blocked then bounced, a quarantine over) would tell the server
     * something no longer true, possibly after the newer state: it is
     * superseded.  The contact's current state decides, whatever this run's
     * filter. */
    const char *ps[] = {hash, f->target};
    if ((s = st->ops->query(st,
                            "UPDATE outbox SET state = 'superseded'"
                            " WHERE state IN ('pending', 'failed') AND target = $2"
                            " AND change_key <> COALESCE((SELECT " KEY_EXPR " FROM contacts c"
                            " WHERE c.id = outbox.contact_id), '') RETURNING id",
                            2, ps, count_row, &n_sup, err)) != RB_OK)
        goto fail;
    if (own_tx && (s = rb_store_commit(st, err)) != RB_OK) return s;
    if (enqueued) *enqueued = n_new;
    if (superseded) *superseded = n_sup;
    return RB_OK;
fail:
    if (own_tx) {
        rb_error e2;
        rb_store_rollback(st, &e2);
    }
    return s;
}

/* ---- reading and claiming rows ------------------------------------------------------------ */
typedef struct {
    rb_outbox_item *out;
    size_t n, max;
} item_list;

static int list_row(void *arg, int ncols, const char *const *v)
{
    item_list *l = arg;
    if (ncols < ITEM_NCOLS || l->n >= l->max) return 0;
    item_from_row(&l->out[l->n++], v);
    return 0;
}

/* Within a claimed group: queue order (RETURNING has no order). */
static int by_id(const void *a, const void *b)
{
    const rb_outbox_item *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

typedef struct {
    rb_outbox_cb cb;
    void *arg;
    rb_outbox_item it;
} each_ctx;

static int each_row(void *arg, int ncols, const char *const *v)
{
    each_ctx *x = arg;
    if (ncols < ITEM_NCOLS) return 1;
    item_from_row(&x->it, v);
    return x->cb(x->arg, &x->it);
}

rb_status rb_outbox_due(rb_store *st, const char *target, int64_t now, size_t max, rb_outbox_cb cb, void *arg,
                        rb_error *err)
{
    if (!max) return RB_OK;
    each_ctx *x = malloc(sizeof *x);
    if (!x) {
        rb_seterr(err, "out of memory");
        return RB_ERR_NOMEM;
    }
    x->cb = cb;
    x->arg = arg;
    char t[32], m[32];
    snprintf(t, sizeof t, "%lld", (long long)now);
    snprintf(m, sizeof m, "%zu", max);
    const char *p[] = {target, t, m};
    rb_status s = st->ops->query(st,
                                 "SELECT " ITEM_COLS " FROM outbox WHERE state = 'pending' AND target = $1"
                                 " AND next_attempt_at <= CAST($2 AS BIGINT) ORDER BY next_attempt_at, id"
                                 " LIMIT CAST($3 AS BIGINT)",
                                 3, p, each_row, x, err);
    free(x);
    return s;
}

typedef struct {
    int64_t *ids, *dues;
    size_t n, max;
} id_list;

static int id_row(void *arg, int ncols, const char *const *v)
{
    id_list *l = arg;
    if (ncols < 2 || l->n >= l->max) return 0;
    l->ids[l->n] = i64(v[0]);
    l->dues[l->n++] = i64(v[1]);
    return 0;
}

rb_status rb_outbox_due_ids(rb_store *st, const char *target, int64_t now, int64_t after_due, int64_t after_id,
                            size_t max, int64_t *ids, int64_t *dues, size_t *n, rb_error *err)
{
    *n = 0;
    if (!max) return RB_OK;
    char t[32], ad[32], ai[32], m[32];
    snprintf(t, sizeof t, "%lld", (long long)now);
    snprintf(ad, sizeof ad, "%lld", (long long)after_due);
    snprintf(ai, sizeof ai, "%lld", (long long)after_id);
    snprintf(m, sizeof m, "%zu", max);
    const char *p[] = {target, t, ad, ai, m};
    id_list l = {ids, dues, 0, max};
    /* The index's order (state, next_attempt_at, then id): no sort of every
     * due row, and the page starts where the last one ended, so rows of
     * other targets due earlier are walked past once per run, not once per
     * page.  next_attempt_at >= $3 is the index range; the OR only trims
     * its first value. */
    rb_status s = st->ops->query(st,
                                 "SELECT id, next_attempt_at FROM outbox WHERE state = 'pending'"
                                 " AND next_attempt_at <= CAST($2 AS BIGINT) AND next_attempt_at >= CAST($3 AS BIGINT)"
                                 " AND (next_attempt_at > CAST($3 AS BIGINT) OR id > CAST($4 AS BIGINT))"
                                 " AND target = $1 ORDER BY next_attempt_at, id LIMIT CAST($5 AS BIGINT)",
                                 5, p, id_row, &l, err);
    *n = l.n;
    return s;
}

rb_status rb_outbox_claim(rb_store *st, const int64_t *ids, size_t nids, int64_t now, int64_t lease_until,
                          rb_outbox_item *out, size_t *n, rb_error *err)
{
    *n = 0;
    if (!nids) return RB_OK;
    if (nids > RB_OUTBOX_CLAIM_MAX) {
        rb_seterr(err, "outbox: at most %d rows claimed at once", RB_OUTBOX_CLAIM_MAX);
        return RB_ERR_ARG;
    }
    /* always RB_OUTBOX_CLAIM_MAX ids (0, never an id, pads them): one
     * statement text, prepared once */
    char t[32], lu[32], idv[RB_OUTBOX_CLAIM_MAX][32];
    const char *p[2 + RB_OUTBOX_CLAIM_MAX];
    snprintf(t, sizeof t, "%lld", (long long)now);
    snprintf(lu, sizeof lu, "%lld", (long long)lease_until);
    p[0] = t;
    p[1] = lu;
    for (size_t i = 0; i < RB_OUTBOX_CLAIM_MAX; i++) {
        snprintf(idv[i], sizeof idv[i], "%lld", (long long)(i < nids ? ids[i] : 0));
        p[2 + i] = idv[i];
    }
    item_list l = {out, 0, nids};
    /* Still pending and due: a concurrent run that claimed a row first has
     * moved its next_attempt_at (on PostgreSQL the second UPDATE waits for
     * the first and checks the row again), and the row is skipped.  Written
     * so that no index serves those two (|| '', + 0): SQLite would walk the
     * due rows of outbox_state instead of looking the ids up. */
    rb_status s = st->ops->query(st,
                                 "UPDATE outbox SET next_attempt_at = CAST($2 AS BIGINT)"
                                 " WHERE id IN (CAST($3 AS BIGINT), CAST($4 AS BIGINT), CAST($5 AS BIGINT),"
                                 " CAST($6 AS BIGINT), CAST($7 AS BIGINT), CAST($8 AS BIGINT), CAST($9 AS BIGINT),"
                                 " CAST($10 AS BIGINT), CAST($11 AS BIGINT), CAST($12 AS BIGINT),"
                                 " CAST($13 AS BIGINT), CAST($14 AS BIGINT), CAST($15 AS BIGINT),"
                                 " CAST($16 AS BIGINT), CAST($17 AS BIGINT), CAST($18 AS BIGINT))"
                                 " AND state || '' = 'pending' AND next_attempt_at + 0 <= CAST($1 AS BIGINT)"
                                 " RETURNING " ITEM_COLS,
                                 2 + RB_OUTBOX_CLAIM_MAX, p, list_row, &l, err);
    if (s != RB_OK) return s;
    qsort(out, l.n, sizeof *out, by_id);
    *n = l.n;
    return RB_OK;
}

rb_status rb_outbox_save(rb_store *st, const rb_outbox_item *it, rb_error *err)
{
    char id[32], at[32], next[32], sent[32];
    snprintf(id, sizeof id, "%lld", (long long)it->id);
    snprintf(at, sizeof at, "%d", it->attempts);
    snprintf(next, sizeof next, "%lld", (long long)it->next_attempt_at);
    snprintf(sent, sizeof sent, "%lld", (long long)it->sent_at);
    const char *p[] = {id, it->state, at, next, it->last_error, sent};
    /* only a row still pending: one superseded meanwhile stays so */
    return st->ops->query(st,
                          "UPDATE outbox SET state = $2, attempts = CAST($3 AS INTEGER),"
                          " next_attempt_at = CAST($4 AS BIGINT), last_error = $5, sent_at = CAST($6 AS BIGINT)"
                          " WHERE id = CAST($1 AS BIGINT) AND state = 'pending'",
                          6, p, NULL, NULL, err);
}

rb_status rb_outbox_retry_failed(rb_store *st, const char *target, int64_t now, int64_t *n, rb_error *err)
{
    char t[32];
    snprintf(t, sizeof t, "%lld", (long long)now);
    const char *p[] = {target, t};
    *n = 0;
    return st->ops->query(st,
                          "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = CAST($2 AS BIGINT)"
                          " WHERE state = 'failed' AND target = $1 RETURNING id",
                          2, p, count_row, n, err);
}

/* rows: state, due (0/1), count */
static int stats_row(void *arg, int ncols, const char *const *v)
{
    rb_outbox_stats *s = arg;
    if (ncols < 3 || !v[0]) return 0;
    int64_t n = i64(v[2]);
    if (!strcmp(v[0], "pending")) {
        if (i64(v[1])) s->pending_due += n;
        else s->pending_later += n;
    } else if (!strcmp(v[0], "sent")) {
        s->sent += n;
    } else if (!strcmp(v[0], "failed")) {
        s->failed += n;
    } else if (!strcmp(v[0], "superseded")) {
        s->superseded += n;
    }
    return 0;
}

rb_status rb_outbox_get_stats(rb_store *st, const char *target, int64_t now, rb_outbox_stats *s, rb_error *err)
{
    memset(s, 0, sizeof *s);
    char t[32];
    snprintf(t, sizeof t, "%lld", (long long)now);
    const char *p[] = {target, t};
    return st->ops->query(st,
                          "SELECT state, CASE WHEN next_attempt_at <= CAST($2 AS BIGINT) THEN 1 ELSE 0 END,"
                          " COUNT(*) FROM outbox WHERE target = $1 GROUP BY 1, 2",
                          2, p, stats_row, s, err);
}

rb_status rb_outbox_each(rb_store *st, const char *target, const char *state, rb_outbox_cb cb, void *arg,
                         rb_error *err)
{
    each_ctx *x = malloc(sizeof *x);
    if (!x) {
        rb_seterr(err, "out of memory");
        return RB_ERR_NOMEM;
    }
    x->cb = cb;
    x->arg = arg;
    const char *p[] = {target, state};
    rb_status s = st->ops->query(st, "SELECT " ITEM_COLS " FROM outbox WHERE target = $1 AND state = $2 ORDER BY id",
                                 2, p, each_row, x, err);
    free(x);
    return s;
}
