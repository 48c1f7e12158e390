/* store_rollup.c -- the report's rollups (schema version 6).
 *
 * `rebound report` used to read every event and send of its period: 3 M
 * events took ~40 s.  The writers now keep counts per day as they write:
 *
 *   report_events  day, provider, import source, bounce type, reason,
 *                  decision, alert, account (of a compromised_account) -> n
 *   report_texts   day, provider, source, bounce type, reason, masked
 *                  diagnostic -> n (bounces and unclassified only)
 *   report_sends   day of the send, provider, source, delay bucket -> n
 *                  (bucket -1: no NDR followed the send)
 *
 * A bounce is counted under the provider it names, else its contact's, and
 * its contact's import source, as they are when it is recorded; a send
 * under the relay's provider, else its contact's, and its contact's source
 * when it is logged (both kept on the send: provider, contact_source).
 *
 * A send's NDR: the first hard, soft or blocked bounce (not an alert) of
 * its recipient at or after it, unless another send to the recipient comes
 * before that bounce (a send and a bounce of the same second: the send
 * first; two sends of the same second: in the order they were stored).  The
 * send keeps its time (ndr_at); a bounce or send stored later, in any
 * order, moves it and its bucket.
 *
 * The deltas of a transaction are summed in memory (a GHashTable per
 * table) and written when it commits, in key order: the rollup rows are
 * locked for the commit only, always in the same order, so two writers on
 * PostgreSQL wait for each other instead of deadlocking.  Outside a
 * transaction they are written at the end of each call. */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_internal.h"
#include "store_impl.h"

/* ---- the delay buckets: exact below 64 s, then 32 per doubling (within
 * 1/32 = 3 %) up to a year and over ---------------------------------------- */
#define SUB 32
int rb_delay_bucket(int64_t d)
{
    if (d < 0) d = 0;
    if (d < 2 * SUB) return (int)d;
    int e = 63 - __builtin_clzll((unsigned long long)d);   /* 2^e <= d < 2^(e+1), e >= 6 */
    int b = 2 * SUB + (e - 6) * SUB + (int)((d >> (e - 5)) - SUB);
    return b < RB_DELAY_BUCKETS ? b : RB_DELAY_BUCKETS - 1;
}

int64_t rb_delay_bucket_value(int b)
{
    if (b < 2 * SUB) return b;
    int e = (b - 2 * SUB) / SUB + 6, m = (b - 2 * SUB) % SUB + SUB;
    int64_t lo = (int64_t)m << (e - 5), w = (int64_t)1 << (e - 5);
    return lo + w / 2;               /* the middle of the bucket */
}

/* ---- the deltas of a transaction -------------------------------------------- */
enum { T_EVENTS, T_TEXTS, T_SENDS, T_N };
static const char *const upsert_sql[T_N] = {
    "INSERT INTO report_events (day, provider, source, bounce_type, reason, decision, alert, account, n)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    " ON CONFLICT (day, provider, source, bounce_type, reason, decision, alert, account)"
    " DO UPDATE SET n = report_events.n + excluded.n",
    "INSERT INTO report_texts (day, provider, source, bounce_type, reason, text, n)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (day, provider, source, bounce_type, reason, text)"
    " DO UPDATE SET n = report_texts.n + excluded.n",
    "INSERT INTO report_sends (day, provider, source, bucket, n)"
    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (day, provider, source, bucket)"
    " DO UPDATE SET n = report_sends.n + excluded.n",
};
static const int nkeys[T_N] = {8, 6, 4};

struct rb_rollup {
    GHashTable *h[T_N];     /* key: the fields joined by \x1f -> int64_t delta */
};

static void rollup_free(rb_rollup *r)
{
    if (!r) return;
    for (int t = 0; t < T_N; t++)
        if (r->h[t]) g_hash_table_unref(r->h[t]);
    free(r);
}

void rb_store_rollup_discard(rb_store *st)
{
    rollup_free(st->rollup);
    st->rollup = NULL;
}

/* add n to the row of table t whose key fields are f[0..nkeys-1] */
static int add(rb_store *st, int t, const char *const *f, int64_t n)
{
    rb_rollup *r = st->rollup;
    if (!r) {
        if (!(r = calloc(1, sizeof *r))) return -1;
        st->rollup = r;
    }
    if (!r->h[t]) r->h[t] = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    GString *k = g_string_sized_new(128);
    for (int i = 0; i < nkeys[t]; i++) {
        if (i) g_string_append_c(k, '\x1f');
        g_string_append(k, f[i] ? f[i] : "");
    }
    int64_t *v = g_hash_table_lookup(r->h[t], k->str);
    if (v) {
        *v += n;
        g_string_free(k, TRUE);
        return 0;
    }
    v = g_new(int64_t, 1);
    *v = n;
    g_hash_table_insert(r->h[t], g_string_free(k, FALSE), v);
    return 0;
}

static int key_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Write the deltas (each table's keys in order) and forget them. */
rb_status rb_store_rollup_flush(rb_store *st, rb_error *err)
{
    rb_rollup *r = st->rollup;
    rb_status s = RB_OK;
    if (!r) return RB_OK;
    st->rollup = NULL;
    for (int t = 0; t < T_N && s == RB_OK; t++) {
        if (!r->h[t]) continue;
        guint n = 0;
        char **keys = (char **)g_hash_table_get_keys_as_array(r->h[t], &n);
        qsort(keys, n, sizeof *keys, key_cmp);
        for (guint i = 0; i < n && s == RB_OK; i++) {
            int64_t d = *(int64_t *)g_hash_table_lookup(r->h[t], keys[i]);
            if (!d) continue;
            char buf[4 * RB_TEXT_MAX], num[32];
            rb_strlcpy(buf, keys[i], sizeof buf);
            const char *p[9];
            int np = 0;
            for (char *f = buf, *e;; f = e + 1) {
                p[np++] = f;
                if (!(e = strchr(f, '\x1f')) || np == nkeys[t]) break;
                *e = '\0';
            }
            if (np != nkeys[t]) continue;   /* cannot happen: the fields hold no \x1f (see add) */
            snprintf(num, sizeof num, "%lld", (long long)d);
            p[np++] = num;
            s = st->ops->query(st, upsert_sql[t], np, p, NULL, NULL, err);
        }
        g_free(keys);
    }
    rollup_free(r);
    return s;
}

/* In a transaction the deltas wait for its commit; else they go now. */
static rb_status settle(rb_store *st, rb_error *err)
{
    return st->in_tx ? RB_OK : rb_store_rollup_flush(st, err);
}

/* a field as a key part: \x1f (the separator) would split it */
static void field(char *dst, size_t size, const char *s)
{
    rb_strlcpy(dst, s ? s : "", size);
    for (char *p = dst; *p; p++)
        if (*p == '\x1f') *p = ' ';
}

static int is_ndr(const char *bt) { return !strcmp(bt, "hard") || !strcmp(bt, "soft") || !strcmp(bt, "blocked"); }
static int is_bounce(const char *bt) { return is_ndr(bt) || !strcmp(bt, "complaint"); }
static int is_unclassified(const char *reason) { return !strcmp(reason, "onhold") || !strcmp(reason, "undefined"); }

/* one event into the deltas: prov and src as counted (see the top) */
static int add_event(rb_store *st, int64_t day, const char *prov, const char *src, const char *bt,
                     const char *reason, const char *decision, const char *alert, const char *account, const char *diag,
                     int64_t n)
{
    char d[32], fp[RB_SHORT_MAX], fs[RB_SOURCE_NAME_MAX], fb[RB_SHORT_MAX], fr[RB_SHORT_MAX], fd[RB_SHORT_MAX],
        fa[RB_SHORT_MAX], fc[RB_ADDR_MAX];
    snprintf(d, sizeof d, "%lld", (long long)day);
    field(fp, sizeof fp, prov);
    field(fs, sizeof fs, src);
    field(fb, sizeof fb, bt);
    field(fr, sizeof fr, reason);
    field(fd, sizeof fd, decision);
    field(fa, sizeof fa, alert);
    field(fc, sizeof fc, fa[0] ? account : "");
    const char *ke[] = {d, fp, fs, fb, fr, fd, fa, fc};
    if (add(st, T_EVENTS, ke, n) < 0) return -1;
    if (fa[0] || !(is_bounce(fb) || is_unclassified(fr))) return 0;
    char m[RB_TEXT_MAX];
    rb_mask_addresses(diag, m, sizeof m);
    field(m, sizeof m, m[0] ? m : "(no diagnostic text)");
    const char *kt[] = {d, fp, fs, fb, fr, m};
    return add(st, T_TEXTS, kt, n);
}

static int add_send(rb_store *st, int64_t sent_at, const char *prov, const char *src, int64_t ndr_at, int64_t n)
{
    char d[32], b[16], fp[RB_SHORT_MAX], fs[RB_SOURCE_NAME_MAX];
    snprintf(d, sizeof d, "%lld", (long long)(sent_at / 86400));
    snprintf(b, sizeof b, "%d", ndr_at > 0 ? rb_delay_bucket(ndr_at - sent_at) : -1);
    field(fp, sizeof fp, prov);
    field(fs, sizeof fs, src);
    const char *k[] = {d, fp, fs, b};
    return add(st, T_SENDS, k, n);
}

static int64_t i64(const char *s) { return s ? strtoll(s, NULL, 10) : 0; }

/* ---- a send's NDR ------------------------------------------------------------ */
typedef struct {
    int found;
    int64_t id, sent_at, ndr_at;
    char provider[RB_SHORT_MAX], source[RB_SOURCE_NAME_MAX];
} send_row;

static int send_cb(void *arg, int n, const char *const *v)
{
    send_row *r = arg;
    if (n < 5) return 1;
    r->found = 1;
    r->id = i64(v[0]);
    r->sent_at = i64(v[1]);
    r->ndr_at = i64(v[2]);
    rb_strlcpy(r->provider, v[3] ? v[3] : "", sizeof r->provider);
    rb_strlcpy(r->source, v[4] ? v[4] : "", sizeof r->source);
    return 1;
}

static rb_status set_ndr(rb_store *st, send_row *s, int64_t ndr_at, rb_error *err)
{
    char id[32], t[32];
    snprintf(id, sizeof id, "%lld", (long long)s->id);
    snprintf(t, sizeof t, "%lld", (long long)ndr_at);
    const char *p[] = {t, id};
    rb_status rc = st->ops->query(st, "UPDATE sends SET ndr_at = $1 WHERE id = $2", 2, p, NULL, NULL, err);
    if (rc != RB_OK) return rc;
    if (add_send(st, s->sent_at, s->provider, s->source, s->ndr_at, -1) < 0 ||
        add_send(st, s->sent_at, s->provider, s->source, ndr_at, 1) < 0) {
        rb_seterr(err, "out of memory");
        return RB_ERR_NOMEM;
    }
    s->ndr_at = ndr_at;
    return RB_OK;
}

#define LATEST_SEND \
    "SELECT id, sent_at, ndr_at, provider, contact_source FROM sends WHERE recipient_norm = $1 AND sent_at <= $2"

/* A bounce (hard, soft, blocked; no alert) of rcpt at t: it is the NDR of
 * the latest send at or before it, unless that send has an earlier one. */
static rb_status link_bounce(rb_store *st, const char *rcpt, int64_t t, rb_error *err)
{
    char ts[32];
    snprintf(ts, sizeof ts, "%lld", (long long)t);
    const char *p[] = {rcpt, ts};
    send_row s = {0};
    rb_status rc = st->ops->query(st, LATEST_SEND " ORDER BY sent_at DESC, id DESC LIMIT 1", 2, p, send_cb, &s, err);
    if (rc != RB_OK || !s.found) return rc;
    if (s.ndr_at > 0 && s.ndr_at <= t) return RB_OK;
    return set_ndr(st, &s, t, err);
}

static int i64_cb(void *arg, int n, const char *const *v)
{
    if (n > 0 && v[0]) *(int64_t *)arg = i64(v[0]);
    return 1;
}

/* A send just stored (id, rcpt, t, counted under prov/src): the send before
 * it loses an NDR that came after t to it; else its NDR is the recipient's
 * first bounce from t on, if before the next send. */
static rb_status link_send(rb_store *st, int64_t id, const char *rcpt, int64_t t, const char *prov, const char *src,
                           rb_error *err)
{
    char ts[32], ids[32];
    snprintf(ts, sizeof ts, "%lld", (long long)t);
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    send_row me = {.found = 1, .id = id, .sent_at = t};
    rb_strlcpy(me.provider, prov, sizeof me.provider);
    rb_strlcpy(me.source, src, sizeof me.source);
    if (add_send(st, t, prov, src, 0, 1) < 0) { rb_seterr(err, "out of memory"); return RB_ERR_NOMEM; }

    const char *p3[] = {rcpt, ts, ids};
    send_row prev = {0};
    rb_status rc = st->ops->query(st, LATEST_SEND " AND id <> $3 AND (sent_at < $2 OR id < $3)"
                                  " ORDER BY sent_at DESC, id DESC LIMIT 1", 3, p3, send_cb, &prev, err);
    if (rc != RB_OK) return rc;
    int64_t ndr = 0;
    if (prev.found && prev.ndr_at >= t) {
        /* the send before had its NDR after this one: it is this one's now */
        ndr = prev.ndr_at;
        if ((rc = set_ndr(st, &prev, 0, err)) != RB_OK) return rc;
    } else if (prev.found && prev.ndr_at == 0) {
        return RB_OK;   /* no bounce between the send before and the next: none after this one either */
    } else {
        /* no send before, or one whose NDR came before this send: the first
         * bounce from now on, unless the next send comes first */
        const char *p2[] = {rcpt, ts};
        rc = st->ops->query(st,
                            "SELECT MIN(e.event_time) FROM events e JOIN contacts c ON c.id = e.contact_id"
                            " WHERE c.email_norm = $1 AND e.event_time >= $2"
                            " AND e.bounce_type IN ('hard', 'soft', 'blocked') AND e.alert = ''",
                            2, p2, i64_cb, &ndr, err);
        if (rc != RB_OK || ndr <= 0) return rc;
        int64_t next = 0;
        rc = st->ops->query(st, "SELECT MIN(sent_at) FROM sends WHERE recipient_norm = $1 AND sent_at > $2", 2, p2,
                            i64_cb, &next, err);
        if (rc != RB_OK) return rc;
        if (next > 0 && next <= ndr) return RB_OK;          /* the next send's */
    }
    return set_ndr(st, &me, ndr, err);
}

/* ---- the writers' hooks --------------------------------------------------------- */
typedef struct {
    int found;
    char provider[RB_SHORT_MAX], source[RB_SOURCE_NAME_MAX], email_norm[RB_ADDR_MAX];
} contact_row;

static int contact_cb(void *arg, int n, const char *const *v)
{
    contact_row *c = arg;
    if (n < 3) return 1;
    c->found = 1;
    rb_strlcpy(c->provider, v[0] ? v[0] : "", sizeof c->provider);
    rb_strlcpy(c->source, v[1] ? v[1] : "", sizeof c->source);
    rb_strlcpy(c->email_norm, v[2] ? v[2] : "", sizeof c->email_norm);
    return 1;
}

rb_status rb_store_rollup_events(rb_store *st, const rb_event *ev, size_t n, rb_error *err)
{
    for (size_t i = 0; i < n; i++) {
        const rb_event *e = &ev[i];
        contact_row c = {0};
        if (e->contact) {
            c.found = 1;
            rb_strlcpy(c.provider, e->contact->provider, sizeof c.provider);
            rb_strlcpy(c.source, e->contact->source, sizeof c.source);
            rb_strlcpy(c.email_norm, e->contact->email_norm, sizeof c.email_norm);
        } else {
            char id[32];
            snprintf(id, sizeof id, "%lld", (long long)e->contact_id);
            const char *p[] = {id};
            rb_status rc = st->ops->query(st, "SELECT provider, source, email_norm FROM contacts WHERE id = $1", 1, p,
                                          contact_cb, &c, err);
            if (rc != RB_OK) return rc;
        }
        if (add_event(st, e->event_time / 86400, e->provider[0] ? e->provider : c.provider, c.source, e->bounce_type,
                      e->reason, e->decision, e->alert, e->account, e->diagnostic, 1) < 0) {
            rb_seterr(err, "out of memory");
            return RB_ERR_NOMEM;
        }
        if (c.email_norm[0] && !e->alert[0] && is_ndr(e->bounce_type)) {
            rb_status rc = link_bounce(st, c.email_norm, e->event_time, err);
            if (rc != RB_OK) return rc;
        }
    }
    return settle(st, err);
}

typedef struct {
    int added;
    int64_t id;
    char provider[RB_SHORT_MAX], source[RB_SOURCE_NAME_MAX];
} added_row;

static int added_cb(void *arg, int n, const char *const *v)
{
    added_row *a = arg;
    if (n < 3) return 1;
    a->added = 1;
    a->id = i64(v[0]);
    rb_strlcpy(a->provider, v[1] ? v[1] : "", sizeof a->provider);
    rb_strlcpy(a->source, v[2] ? v[2] : "", sizeof a->source);
    return 1;
}

/* Insert sends (rows whose key is stored already are skipped), each with its
 * provider and source as counted, its NDR linked and its rollup kept. */
rb_status rb_store_sends_insert_n(rb_store *st, const rb_send *s, size_t n, size_t *stored, rb_error *err)
{
    static const char *sql =
        "INSERT INTO sends (key, queue_id, message_id, recipient_norm, sent_at, relay, provider, reply, source,"
        " contact_source) SELECT $1, $2, $3, $4, CAST($5 AS BIGINT), $6,"
        " COALESCE(NULLIF($7, ''), (SELECT c.provider FROM contacts c WHERE c.email_norm = $4), ''), $8, $9,"
        " COALESCE((SELECT c.source FROM contacts c WHERE c.email_norm = $4), '') WHERE 1 = 1"
        " ON CONFLICT (key) DO NOTHING RETURNING id, provider, contact_source";
    size_t added = 0;
    for (size_t i = 0; i < n; i++) {
        char t[32];
        snprintf(t, sizeof t, "%lld", (long long)s[i].sent_at);
        const char *p[] = {s[i].key, s[i].queue_id, s[i].message_id, s[i].recipient_norm, t,
                           s[i].relay, s[i].provider, s[i].reply, s[i].source};
        added_row a = {0};
        rb_status rc = st->ops->query(st, sql, 9, p, added_cb, &a, err);
        if (rc != RB_OK) return rc;
        if (!a.added) continue;
        added++;
        if ((rc = link_send(st, a.id, s[i].recipient_norm, s[i].sent_at, a.provider, a.source, err)) != RB_OK)
            return rc;
    }
    if (stored) *stored = added;
    return settle(st, err);
}

/* ---- filling them from the rows: the migration, `rebound report --rebuild` ---- */
typedef struct {
    rb_store *st;
    int oom;
} fill_ctx;

static int fill_event(void *arg, int n, const char *const *v)
{
    fill_ctx *f = arg;
    if (n < 9) return 1;
    if (add_event(f->st, i64(v[0]) / 86400, v[1], v[2], v[3] ? v[3] : "", v[4] ? v[4] : "", v[5], v[6] ? v[6] : "",
                  v[7], v[8], 1) < 0) {
        f->oom = 1;
        return 1;
    }
    return 0;
}

static int fill_send(void *arg, int n, const char *const *v)
{
    fill_ctx *f = arg;
    if (n < 4) return 1;
    if (add_send(f->st, i64(v[0]), v[1], v[2], i64(v[3]), 1) < 0) {
        f->oom = 1;
        return 1;
    }
    return 0;
}

/* Every rollup computed again from the events, the sends and the contacts
 * as they are now (a send's provider and source too), in the caller's
 * transaction.  Memory: the rollups' rows, not the events. */
rb_status rb_store_rollup_fill(rb_store *st, rb_error *err)
{
    rb_status s;
    fill_ctx f = {st, 0};
    rb_store_rollup_discard(st);
    static const char *const reset[] = {
        "DELETE FROM report_events",
        "DELETE FROM report_texts",
        "DELETE FROM report_sends",
        /* each send's NDR: the sends and the bounces merged per recipient in
         * time order (a send before a bounce of the same second, sends by
         * id); a send's NDR is the row right after it when that is a bounce */
        "CREATE TEMPORARY TABLE rb_ndr (id BIGINT PRIMARY KEY, ndr BIGINT NOT NULL)",
        "INSERT INTO rb_ndr (id, ndr) SELECT id, ndr FROM (SELECT id, k,"
        " CASE WHEN LEAD(k) OVER w = 1 THEN LEAD(t) OVER w END AS ndr FROM ("
        "  SELECT s.id AS id, s.recipient_norm AS r, s.sent_at AS t, 0 AS k FROM sends s"
        "  UNION ALL SELECT 0, c.email_norm, e.event_time, 1 FROM events e JOIN contacts c ON c.id = e.contact_id"
        "  WHERE e.bounce_type IN ('hard', 'soft', 'blocked') AND e.alert = '') x"
        " WINDOW w AS (PARTITION BY r ORDER BY t, k, id)) y WHERE k = 0 AND ndr IS NOT NULL",
        /* one pass over the sends, joined (not a look-up per send): the NDR,
         * the contact's source, the provider if the relay named none */
        "UPDATE sends SET ndr_at = x.ndr, contact_source = x.src, provider = x.prov FROM ("
        " SELECT s.id AS id, COALESCE(n.ndr, 0) AS ndr, COALESCE(c.source, '') AS src,"
        "  COALESCE(NULLIF(s.provider, ''), c.provider, '') AS prov"
        " FROM sends s LEFT JOIN contacts c ON c.email_norm = s.recipient_norm LEFT JOIN rb_ndr n ON n.id = s.id) x"
        " WHERE sends.id = x.id",
        "DROP TABLE rb_ndr",
    };
    for (size_t i = 0; i < sizeof reset / sizeof *reset; i++)
        if ((s = st->ops->query(st, reset[i], 0, NULL, NULL, NULL, err)) != RB_OK) return s;
    s = st->ops->query(st,
                       "SELECT e.event_time, COALESCE(NULLIF(e.provider, ''), c.provider), c.source, e.bounce_type,"
                       " e.reason, e.decision, e.alert, e.account, e.diagnostic FROM events e JOIN contacts c ON c.id = e.contact_id",
                       0, NULL, fill_event, &f, err);
    if (s == RB_OK && !f.oom)
        s = st->ops->query(st, "SELECT sent_at, provider, contact_source, ndr_at FROM sends", 0, NULL, fill_send, &f,
                           err);
    if (s == RB_OK && f.oom) { rb_seterr(err, "out of memory"); s = RB_ERR_NOMEM; }
    if (s != RB_OK) { rb_store_rollup_discard(st); return s; }
    return rb_store_rollup_flush(st, err);
}

rb_status rb_store_rollup_rebuild(rb_store *st, rb_error *err)
{
    rb_status s;
    /* the merge of every send and bounce sorts millions of rows: on disk */
    if ((s = rb_store_tune(st, RB_TUNE_REPORT, err)) != RB_OK) return s;
    if ((s = rb_store_begin(st, err)) != RB_OK) return s;
    if ((s = rb_store_rollup_fill(st, err)) != RB_OK) {
        rb_error e2;
        rb_store_rollback(st, &e2);
        return s;
    }
    return rb_store_commit(st, err);
}
