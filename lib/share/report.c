/* report.c -- `rebound report`: the provider view, computed through the
 * store's generic query op with SQL both SQLite and PostgreSQL accept.
 *
 * Every query streams its rows (the events and sends one row each, counted
 * here; the contact side grouped in SQL); in memory are only
 * the days of the period, the providers, the import sources and the masked
 * diagnostic texts (at most TEXT_CAP of them, the rest counted as "other").
 * See rebound-report(1) for what each number means. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rb_internal.h"
#include "rebound_report.h"
#include "store_impl.h"

#define DAY 86400
#define MAX_DAYS 3700
#define TEXT_CAP 65536

static int64_t i64v(const char *s) { return s ? strtoll(s, NULL, 10) : 0; }

/* ---- providers / sources -------------------------------------------------------- */
enum { BT_HARD, BT_SOFT, BT_BLOCKED, BT_COMPLAINT, BT_N };
static const char *const bt_names[BT_N] = {"hard", "soft", "blocked", "complaint"};
static int bt_index(const char *s)
{
    for (int i = 0; i < BT_N; i++)
        if (s && !strcmp(s, bt_names[i])) return i;
    return -1;
}

typedef struct {
    char name[RB_SOURCE_NAME_MAX];
    int64_t sent, ndr, events, bt[BT_N], dead, dead_at_since;
    int64_t *hist, med_lo, med_hi;          /* delays from the 250 to the NDR, in buckets (NB) */
    int has_lo, has_hi;
    int64_t contacts, st_bounced, st_complaint, st_blocked, st_quarantined, st_active; /* sources */
} group;

typedef struct {
    group *g;
    size_t n, cap;
} groups;

static group *grp(groups *gs, const char *name)
{
    if (!name) name = "";
    for (size_t i = 0; i < gs->n; i++)
        if (!strcmp(gs->g[i].name, name)) return &gs->g[i];
    if (gs->n == gs->cap) {
        size_t nc = gs->cap ? gs->cap * 2 : 16;
        group *ng = realloc(gs->g, nc * sizeof *ng);
        if (!ng) return NULL;
        gs->g = ng;
        gs->cap = nc;
    }
    group *g = &gs->g[gs->n++];
    memset(g, 0, sizeof *g);
    rb_strlcpy(g->name, name, sizeof g->name);
    return g;
}

/* ---- masked texts: counted in a GHashTable ---------------------------------------- */
typedef struct {
    char *text;
    char reason[RB_SHORT_MAX];
    int64_t n;
} text_row;

typedef struct {
    GHashTable *h;          /* text_row -> itself, by (reason, text) */
    size_t n;
    int64_t other;          /* rows once TEXT_CAP distinct texts are held */
} text_tab;

static guint row_hash(gconstpointer p)
{
    const text_row *r = p;
    return g_str_hash(r->reason) * 31u ^ g_str_hash(r->text);
}

static gboolean row_equal(gconstpointer a, gconstpointer b)
{
    const text_row *x = a, *y = b;
    return !strcmp(x->text, y->text) && !strcmp(x->reason, y->reason);
}

static void row_free(gpointer p)
{
    text_row *r = p;
    free(r->text);
    free(r);
}

static int text_add(text_tab *tt, const char *reason, const char *text, int64_t n)
{
    if (tt->n >= TEXT_CAP) {
        tt->other += n;
        return 0;
    }
    if (!tt->h) tt->h = g_hash_table_new_full(row_hash, row_equal, NULL, row_free);
    text_row k = {.text = (char *)text};
    rb_strlcpy(k.reason, reason, sizeof k.reason);
    text_row *r = g_hash_table_lookup(tt->h, &k);
    if (r) {
        r->n += n;
        return 0;
    }
    if (!(r = malloc(sizeof *r))) return -1;
    *r = k;
    if (!(r->text = strdup(text))) { free(r); return -1; }
    r->n = n;
    g_hash_table_add(tt->h, r);
    tt->n++;
    return 0;
}

static void text_free(text_tab *tt)
{
    if (tt->h) g_hash_table_unref(tt->h);
    tt->h = NULL;
}

/* The rows (tt->n of them, shallow copies) sorted by cmp; malloc'd, NULL
 * when there are none or memory ran out. */
static text_row *text_sorted(const text_tab *tt, int (*cmp)(const void *, const void *))
{
    if (!tt->n) return NULL;
    text_row *v = malloc(tt->n * sizeof *v);
    if (!v) return NULL;
    size_t i = 0;
    GHashTableIter it;
    gpointer k;
    g_hash_table_iter_init(&it, tt->h);
    while (g_hash_table_iter_next(&it, &k, NULL)) v[i++] = *(const text_row *)k;
    qsort(v, tt->n, sizeof *v, cmp);
    return v;
}

static int text_cmp(const void *a, const void *b)
{
    const text_row *x = a, *y = b;
    if (!x->text || !y->text) return x->text ? -1 : y->text ? 1 : 0;
    if (x->n != y->n) return x->n > y->n ? -1 : 1;
    int c = strcmp(x->text, y->text);
    return c ? c : strcmp(x->reason, y->reason);
}

/* (provider, reason) rows: by provider, then the most frequent first */
static int reason_cmp(const void *a, const void *b)
{
    const text_row *x = a, *y = b;
    if (!x->text || !y->text) return x->text ? -1 : y->text ? 1 : 0;
    int c = strcmp(x->reason, y->reason);
    if (c) return c;
    if (x->n != y->n) return x->n > y->n ? -1 : 1;
    return strcmp(x->text, y->text);
}

/* ---- the run ------------------------------------------------------------------------ */
typedef struct {
    rb_store *st;
    int64_t since, until, day0;
    int ndays;
    int64_t (*daily)[BT_N + 1];     /* per day: hard soft blocked complaint, sends */
    int64_t *dead_daily;            /* per day: queued dead contacts dead by the end of it */
    int64_t dead_before;            /* queued dead contacts dead before since */
    groups prov, src;
    text_tab diag, uncl, rsn;       /* rsn: (provider, reason) */
    text_tab alp;                   /* alerts: (alert, provider) */
    text_tab alacc;                 /* compromised_account alerts: ("compromised_account", account) */
    int64_t (*al_daily)[2];         /* per day: backscatter, compromised_account */
    int64_t al[2];
    int64_t soft[4];                /* counted quarantined disabled other */
    int oom;
} run;

static const char *pname(const char *p) { return p && p[0] ? p : "(unknown)"; }

/* The events and sends are read from the store's rollups (store_rollup.c),
 * per day: $1 the first day, $2 the day after the last, $3 provider, $4
 * source ('' for any).  A bounce counts under the provider and import source
 * its contact had when it was recorded; a send likewise when it was logged. */
#define RF " WHERE day >= $1 AND day < $2 AND ($3 = '' OR provider = $3) AND ($4 = '' OR source = $4) AND n <> 0"
/* queued contacts disabled by a bounce or complaint, with when they died ($1 provider, $2 source) */
#define DEAD_D \
    "(SELECT c.provider AS p, c.source AS src, COALESCE((SELECT MIN(e.event_time) FROM events e WHERE e.contact_id = c.id" \
    "  AND e.decision = 'disabled'), c.last_bounce_at) AS died" \
    " FROM contacts c JOIN queue q ON q.contact_id = c.id" \
    " WHERE c.status IN ('bounced', 'complaint') AND ($1 = '' OR c.provider = $1) AND ($2 = '' OR c.source = $2)) d"

static int day_index(run *r, int64_t day)
{
    int64_t i = day - r->day0;
    return (i >= 0 && i < r->ndays) ? (int)i : -1;
}

/* events of the period by day, provider, source, bounce type, reason,
 * decision and alert, with their count */
static int row_event(void *arg, int n, const char *const *v)
{
    run *r = arg;
    if (n < 9) return 1;
    int b = bt_index(v[3]);
    const char *reason = v[4] ? v[4] : "", *alert = v[6] ? v[6] : "";
    int64_t cnt = i64v(v[8]);
    int d = day_index(r, i64v(v[0]));
    if (alert[0]) {
        /* bounces under an alert say nothing about their recipients: counted apart */
        int k = !strcmp(alert, "compromised_account") ? 1 : 0;
        if (d >= 0) r->al_daily[d][k] += cnt;
        r->al[k] += cnt;
        if (text_add(&r->alp, k ? "compromised_account" : "backscatter", pname(v[1]), cnt) < 0) { r->oom = 1; return 1; }
        if (k && text_add(&r->alacc, "compromised_account", v[7] && v[7][0] ? v[7] : "(not named)", cnt) < 0) {
            r->oom = 1;
            return 1;
        }
        return 0;
    }
    if (b < 0) return 0;
    if (d >= 0) r->daily[d][b] += cnt;
    group *g = grp(&r->prov, pname(v[1]));
    group *sg = grp(&r->src, v[2] && v[2][0] ? v[2] : "(none)");
    if (!g || !sg) { r->oom = 1; return 1; }
    g->bt[b] += cnt;
    g->events += cnt;
    sg->bt[b] += cnt;
    sg->events += cnt;
    if (b == BT_SOFT) {
        const char *dc = v[5] ? v[5] : "";
        r->soft[!strcmp(dc, "counted") ? 0 : !strcmp(dc, "quarantined") ? 1 : !strcmp(dc, "disabled") ? 2 : 3] += cnt;
    }
    if (text_add(&r->rsn, pname(v[1]), reason[0] ? reason : "(none)", cnt) < 0) { r->oom = 1; return 1; }
    return 0;
}

/* masked diagnostics of the period: bounce type, reason, text, count */
static int row_text(void *arg, int n, const char *const *v)
{
    run *r = arg;
    if (n < 4) return 1;
    const char *reason = v[1] ? v[1] : "", *text = v[2] ? v[2] : "";
    int64_t cnt = i64v(v[3]);
    if (bt_index(v[0]) >= 0 && text_add(&r->diag, "", text, cnt) < 0) { r->oom = 1; return 1; }
    if ((!strcmp(reason, "onhold") || !strcmp(reason, "undefined")) && text_add(&r->uncl, reason, text, cnt) < 0) {
        r->oom = 1;
        return 1;
    }
    return 0;
}

/* sends of the period: day, provider, bucket of the delay to the NDR (-1:
 * none), count */
static int row_send(void *arg, int n, const char *const *v)
{
    run *r = arg;
    if (n < 4) return 1;
    group *g = grp(&r->prov, pname(v[1]));
    if (!g) { r->oom = 1; return 1; }
    int64_t cnt = i64v(v[3]);
    int bk = (int)i64v(v[2]);
    int d = day_index(r, i64v(v[0]));
    if (d >= 0) r->daily[d][BT_N] += cnt;
    g->sent += cnt;
    if (bk >= 0 && bk < RB_DELAY_BUCKETS) {
        if (!g->hist && !(g->hist = calloc(RB_DELAY_BUCKETS, sizeof *g->hist))) { r->oom = 1; return 1; }
        g->hist[bk] += cnt;
        g->ndr += cnt;
    }
    return 0;
}

static void median(group *g)
{
    if (!g->hist || g->ndr <= 0) return;
    int64_t lo = (g->ndr - 1) / 2, hi = g->ndr / 2, seen = 0;
    for (int b = 0; b < RB_DELAY_BUCKETS; b++) {
        if (!g->hist[b]) continue;
        if (!g->has_lo && lo < seen + g->hist[b]) { g->med_lo = rb_delay_bucket_value(b); g->has_lo = 1; }
        if (!g->has_hi && hi < seen + g->hist[b]) { g->med_hi = rb_delay_bucket_value(b); g->has_hi = 1; break; }
        seen += g->hist[b];
    }
}

static int row_dead(void *arg, int n, const char *const *v)
{
    run *r = arg;
    if (n < 4) return 1;
    group *g = grp(&r->prov, pname(v[0]));
    group *sg = grp(&r->src, v[1] && v[1][0] ? v[1] : "(none)");
    if (!g || !sg) { r->oom = 1; return 1; }
    int64_t day = i64v(v[2]), cnt = i64v(v[3]);
    g->dead += cnt;
    sg->dead += cnt;
    if (day < r->day0) { g->dead_at_since += cnt; r->dead_before += cnt; }
    else {
        int d = day_index(r, day);
        if (d >= 0) r->dead_daily[d] += cnt;
    }
    return 0;
}

static int row_i64(void *arg, int n, const char *const *v)
{
    if (n > 0) *(int64_t *)arg = i64v(v[0]);
    return 0;
}

static int row_src(void *arg, int n, const char *const *v)
{
    run *r = arg;
    if (n < 3) return 1;
    group *g = grp(&r->src, v[0] && v[0][0] ? v[0] : "(none)");
    if (!g) { r->oom = 1; return 1; }
    const char *st = v[1] ? v[1] : "";
    int64_t cnt = i64v(v[2]);
    g->contacts += cnt;
    if (!strcmp(st, "active")) g->st_active += cnt;
    else if (!strcmp(st, "bounced")) g->st_bounced += cnt;
    else if (!strcmp(st, "complaint")) g->st_complaint += cnt;
    else if (!strcmp(st, "blocked")) g->st_blocked += cnt;
    else if (!strcmp(st, "quarantined")) g->st_quarantined += cnt;
    return 0;
}

/* What a bounce rate is measured against: the sends the mail log recorded
 * (accepted by the next hop), plus the bounces that follow no recorded
 * send -- refused during the SMTP dialogue, or sent while the log was not
 * read.  Every hard, soft or blocked bounce is then one of the attempts,
 * so a rate never passes 100 %, also when only the bounce mailbox is read
 * (no sends at all: the rate is over the bounces themselves). */
static int64_t attempts(int64_t sent, const int64_t *bt, int64_t ndr)
{
    int64_t unmatched = bt[BT_HARD] + bt[BT_SOFT] + bt[BT_BLOCKED] - ndr;
    return sent + (unmatched > 0 ? unmatched : 0);
}

static json_t *rate(int64_t num, int64_t den)
{
    return den > 0 ? json_real((double)num / (double)den) : json_null();
}

static int prov_cmp(const void *a, const void *b)
{
    const group *x = a, *y = b;
    int64_t vx = x->sent + x->events + x->dead, vy = y->sent + y->events + y->dead;
    if (vx != vy) return vx > vy ? -1 : 1;
    return strcmp(x->name, y->name);
}

static json_t *texts_json(text_tab *tt, int top, int with_reason, int64_t *total)
{
    json_t *a = json_array();
    if (!a) return NULL;
    *total = tt->other;
    text_row *v = text_sorted(tt, text_cmp);
    for (size_t i = 0; v && i < tt->n; i++) {
        *total += v[i].n;
        if ((int)i >= top) continue;
        json_t *o = json_object();
        if (with_reason) json_object_set_new(o, "reason", json_string(v[i].reason));
        json_object_set_new(o, "text", json_string(v[i].text));
        json_object_set_new(o, "count", json_integer(v[i].n));
        json_array_append_new(a, o);
    }
    free(v);
    return a;
}

/* texts_json names a row's pair "reason" and "text": rename them k1, k2 */
static json_t *pairs_named(json_t *rows, const char *k1, const char *k2)
{
    for (size_t i = 0; i < json_array_size(rows); i++) {
        json_t *x = json_array_get(rows, i);
        json_object_set(x, k1, json_object_get(x, "reason"));
        json_object_set(x, k2, json_object_get(x, "text"));
        json_object_del(x, "reason");
        json_object_del(x, "text");
    }
    return rows;
}

#define Q(sql, np, p, cb) \
    do { if ((s = st->ops->query(st, sql, np, p, cb, &r, err)) != RB_OK) goto done; \
         if (r.oom) { s = RB_ERR_NOMEM; rb_seterr(err, "out of memory"); goto done; } } while (0)

rb_status rb_report_build(rb_store *st, const rb_report_opts *o, json_t **out, rb_error *err)
{
    run r;
    memset(&r, 0, sizeof r);
    rb_status s = RB_OK;
    json_t *j = NULL;
    *out = NULL;
    if (o->until <= o->since) { rb_seterr(err, "report: the period is empty (until is not after since)"); return RB_ERR_ARG; }
    r.st = st;
    if ((s = rb_store_tune(st, RB_TUNE_REPORT, err)) != RB_OK) return s;
    /* whole UTC days: the first day's start to the end of the last day the
     * period touches (the rollups count per day) */
    r.day0 = o->since / DAY;
    int64_t nd = (o->until - 1) / DAY - r.day0 + 1;
    r.since = r.day0 * DAY;
    r.until = (r.day0 + nd) * DAY;
    if (nd > MAX_DAYS) { rb_seterr(err, "report: the period is longer than %d days", MAX_DAYS); return RB_ERR_ARG; }
    r.ndays = (int)nd;
    int top = o->top > 0 ? o->top : 20;
    r.daily = calloc((size_t)r.ndays, sizeof *r.daily);
    r.dead_daily = calloc((size_t)r.ndays, sizeof *r.dead_daily);
    r.al_daily = calloc((size_t)r.ndays, sizeof *r.al_daily);
    if (!r.daily || !r.dead_daily || !r.al_daily) { s = RB_ERR_NOMEM; rb_seterr(err, "out of memory"); goto done; }

    char a1[32], a2[32];
    snprintf(a1, sizeof a1, "%lld", (long long)r.since);
    snprintf(a2, sizeof a2, "%lld", (long long)r.until);
    const char *prov = o->provider ? o->provider : "", *src = o->source ? o->source : "";
    const char *p4[] = {a1, a2, prov, src};
    const char *p2[] = {prov, src};
    char d1[32], d2[32];
    snprintf(d1, sizeof d1, "%lld", (long long)r.day0);
    snprintf(d2, sizeof d2, "%lld", (long long)(r.day0 + r.ndays));
    const char *pd[] = {d1, d2, prov, src};

    Q("SELECT day, provider, source, bounce_type, reason, decision, alert, account, n FROM report_events" RF, 4, pd, row_event);
    Q("SELECT bounce_type, reason, text, n FROM report_texts" RF, 4, pd, row_text);
    Q("SELECT day, provider, bucket, n FROM report_sends" RF, 4, pd, row_send);
    for (size_t i = 0; i < r.prov.n; i++) median(&r.prov.g[i]);
    Q("SELECT p, src, died / 86400, COUNT(*) FROM " DEAD_D " GROUP BY 1, 2, 3", 2, p2, row_dead);
    int64_t released = 0, in_quarantine = 0;
    if ((s = st->ops->query(st,
                            "SELECT COUNT(*) FROM contacts c WHERE c.soft_since >= $1 AND c.soft_since < $2"
                            " AND ($3 = '' OR c.provider = $3) AND ($4 = '' OR c.source = $4)"
                            " AND EXISTS (SELECT 1 FROM events e WHERE e.contact_id = c.id"
                            " AND e.decision = 'quarantined' AND e.event_time <= c.soft_since)",
                            4, p4, row_i64, &released, err)) != RB_OK)
        goto done;
    /* the contacts now by source and status: read from the index
     * contacts_status (status, source, provider) alone; the dead queued
     * ones per source came with DEAD_D */
    Q("SELECT c.source, c.status, COUNT(*) FROM contacts c"
      " WHERE ($1 = '' OR c.provider = $1) AND ($2 = '' OR c.source = $2) GROUP BY 1, 2", 2, p2, row_src);
    for (size_t i = 0; i < r.src.n; i++) in_quarantine += r.src.g[i].st_quarantined;
    /* ---- the document ---- */
    j = json_object();
    char b1[40], b2[40];
    json_t *period = json_object();
    rb_time_format_iso(r.since, b1, sizeof b1);
    rb_time_format_iso(r.until, b2, sizeof b2);
    json_object_set_new(period, "since", json_string(b1));
    json_object_set_new(period, "until", json_string(b2));
    json_object_set_new(period, "days", json_integer(r.ndays));
    json_object_set_new(j, "period", period);
    rb_time_format_iso(o->now ? o->now : (int64_t)time(NULL), b1, sizeof b1);
    json_object_set_new(j, "generated", json_string(b1));
    json_object_set_new(j, "store", json_string(rb_store_backend(st)));
    json_t *filters = json_object();
    json_object_set_new(filters, "provider", json_string(prov));
    json_object_set_new(filters, "source", json_string(src));
    json_object_set_new(j, "filters", filters);

    int64_t tot[BT_N + 1] = {0};
    json_t *daily = json_array();
    for (int d = 0; d < r.ndays; d++) {
        json_t *x = json_object();
        rb_time_format_date((r.day0 + d) * DAY, b1, sizeof b1);
        json_object_set_new(x, "day", json_string(b1));
        json_object_set_new(x, "sends", json_integer(r.daily[d][BT_N]));
        for (int b = 0; b < BT_N; b++) json_object_set_new(x, bt_names[b], json_integer(r.daily[d][b]));
        for (int b = 0; b <= BT_N; b++) tot[b] += r.daily[d][b];
        json_array_append_new(daily, x);
    }

    if (r.prov.n) qsort(r.prov.g, r.prov.n, sizeof *r.prov.g, prov_cmp);
    int64_t t_ndr = 0, t_att = 0, t_dead = 0, t_dead_since = 0;
    json_t *provs = json_array();
    for (size_t i = 0; i < r.prov.n; i++) {
        group *g = &r.prov.g[i];
        json_t *x = json_object();
        json_object_set_new(x, "provider", json_string(g->name));
        json_object_set_new(x, "sent", json_integer(g->sent));
        json_object_set_new(x, "accepted_then_ndr", json_integer(g->ndr));
        json_object_set_new(x, "accepted_then_ndr_share", rate(g->ndr, g->sent));
        json_object_set_new(x, "median_queued_to_ndr_seconds",
                            g->ndr > 0 && g->has_hi ? json_integer((g->med_lo + g->med_hi) / 2) : json_null());
        json_object_set_new(x, "bounces", json_integer(g->events));
        for (int b = 0; b < BT_N; b++) json_object_set_new(x, bt_names[b], json_integer(g->bt[b]));
        int64_t att = attempts(g->sent, g->bt, g->ndr);
        json_object_set_new(x, "attempts", json_integer(att));
        json_object_set_new(x, "hard_rate", rate(g->bt[BT_HARD], att));
        json_object_set_new(x, "block_rate", rate(g->bt[BT_BLOCKED], att));
        json_object_set_new(x, "dead_in_queue", json_integer(g->dead));
        json_object_set_new(x, "dead_in_queue_at_since", json_integer(g->dead_at_since));
        json_array_append_new(provs, x);
        t_ndr += g->ndr;
        t_att += att;
        t_dead += g->dead;
        t_dead_since += g->dead_at_since;
    }

    json_t *dead = json_array();
    int64_t run_dead = r.dead_before;
    for (int d = 0; d < r.ndays; d++) {
        run_dead += r.dead_daily[d];
        json_t *x = json_object();
        rb_time_format_date((r.day0 + d) * DAY, b1, sizeof b1);
        json_object_set_new(x, "day", json_string(b1));
        json_object_set_new(x, "dead_in_queue", json_integer(run_dead));
        json_array_append_new(dead, x);
    }

    json_t *totals = json_object();
    json_object_set_new(totals, "sends", json_integer(tot[BT_N]));
    int64_t allb = 0;
    for (int b = 0; b < BT_N; b++) { json_object_set_new(totals, bt_names[b], json_integer(tot[b])); allb += tot[b]; }
    json_object_set_new(totals, "bounces", json_integer(allb));
    json_object_set_new(totals, "accepted_then_ndr", json_integer(t_ndr));
    json_object_set_new(totals, "accepted_then_ndr_share", rate(t_ndr, tot[BT_N]));
    json_object_set_new(totals, "attempts", json_integer(t_att));
    json_object_set_new(totals, "hard_rate", rate(tot[BT_HARD], t_att));
    json_object_set_new(totals, "block_rate", rate(tot[BT_BLOCKED], t_att));
    json_object_set_new(totals, "dead_in_queue", json_integer(t_dead));
    json_object_set_new(totals, "dead_in_queue_at_since", json_integer(t_dead_since));
    json_object_set_new(j, "totals", totals);
    json_object_set_new(j, "daily", daily);
    json_object_set_new(j, "providers", provs);
    json_object_set_new(j, "dead_in_queue_daily", dead);
    json_t *reasons = json_array();
    text_row *rv = text_sorted(&r.rsn, reason_cmp);
    for (size_t k = 0; rv && k < r.rsn.n; k++) {
        json_t *x = json_object();
        json_object_set_new(x, "provider", json_string(rv[k].reason));
        json_object_set_new(x, "reason", json_string(rv[k].text));
        json_object_set_new(x, "count", json_integer(rv[k].n));
        json_array_append_new(reasons, x);
    }
    free(rv);
    json_object_set_new(j, "reasons", reasons);

    int64_t dt = 0, ut = 0;
    json_t *diag = texts_json(&r.diag, top, 0, &dt);
    json_t *dobj = json_object();
    json_object_set_new(dobj, "total", json_integer(dt));
    json_object_set_new(dobj, "distinct", json_integer((json_int_t)r.diag.n));
    json_object_set_new(dobj, "top", diag);
    json_object_set_new(j, "diagnostics", dobj);

    if (r.src.n) qsort(r.src.g, r.src.n, sizeof *r.src.g, prov_cmp);
    json_t *srcs = json_array();
    for (size_t i = 0; i < r.src.n; i++) {
        group *g = &r.src.g[i];
        json_t *x = json_object();
        json_object_set_new(x, "source", json_string(g->name));
        json_object_set_new(x, "contacts", json_integer(g->contacts));
        json_object_set_new(x, "active", json_integer(g->st_active));
        json_object_set_new(x, "bounced", json_integer(g->st_bounced));
        json_object_set_new(x, "complaint", json_integer(g->st_complaint));
        json_object_set_new(x, "blocked", json_integer(g->st_blocked));
        json_object_set_new(x, "quarantined", json_integer(g->st_quarantined));
        json_object_set_new(x, "disabled_share", rate(g->st_bounced + g->st_complaint, g->contacts));
        json_object_set_new(x, "bounces", json_integer(g->events));
        for (int b = 0; b < BT_N; b++) {
            char k[32];
            snprintf(k, sizeof k, "%s_bounces", bt_names[b]);
            json_object_set_new(x, k, json_integer(g->bt[b]));
        }
        json_object_set_new(x, "dead_in_queue", json_integer(g->dead));
        json_array_append_new(srcs, x);
    }
    json_object_set_new(j, "sources", srcs);

    json_t *soft = json_object();
    json_object_set_new(soft, "soft_bounces", json_integer(r.soft[0] + r.soft[1] + r.soft[2] + r.soft[3]));
    json_object_set_new(soft, "counted", json_integer(r.soft[0]));
    json_object_set_new(soft, "quarantined", json_integer(r.soft[1]));
    json_object_set_new(soft, "disabled", json_integer(r.soft[2]));
    json_object_set_new(soft, "other", json_integer(r.soft[3]));
    json_object_set_new(soft, "released", json_integer(released));
    json_object_set_new(soft, "in_quarantine_now", json_integer(in_quarantine));
    json_object_set_new(j, "soft_pipeline", soft);

    json_t *al = json_object(), *ald = json_array();
    int64_t at = 0;
    json_object_set_new(al, "backscatter", json_integer(r.al[0]));
    json_object_set_new(al, "compromised_account", json_integer(r.al[1]));
    for (int d = 0; d < r.ndays; d++) {
        json_t *x = json_object();
        rb_time_format_date((r.day0 + d) * DAY, b1, sizeof b1);
        json_object_set_new(x, "day", json_string(b1));
        json_object_set_new(x, "backscatter", json_integer(r.al_daily[d][0]));
        json_object_set_new(x, "compromised_account", json_integer(r.al_daily[d][1]));
        json_array_append_new(ald, x);
    }
    json_object_set_new(al, "daily", ald);
    int64_t act = 0;
    json_object_set_new(al, "by_provider", pairs_named(texts_json(&r.alp, top, 1, &at), "alert", "provider"));
    json_object_set_new(al, "by_account", pairs_named(texts_json(&r.alacc, top, 1, &act), "alert", "account"));
    json_object_set_new(j, "alerts", al);

    json_t *uncl = texts_json(&r.uncl, top, 1, &ut);
    json_t *uobj = json_object();
    json_object_set_new(uobj, "total", json_integer(ut));
    json_object_set_new(uobj, "distinct", json_integer((json_int_t)r.uncl.n));
    json_object_set_new(uobj, "top", uncl);
    json_object_set_new(j, "unclassified", uobj);
    *out = j;
    j = NULL;
done:
    json_decref(j);
    for (size_t i = 0; i < r.prov.n; i++) free(r.prov.g[i].hist);
    free(r.daily);
    free(r.dead_daily);
    free(r.al_daily);
    free(r.prov.g);
    free(r.src.g);
    text_free(&r.diag);
    text_free(&r.uncl);
    text_free(&r.rsn);
    text_free(&r.alp);
    text_free(&r.alacc);
    return s;
}
