/* apply.c -- the decision step: bounce records -> contact changes.
 *
 * Records are queued and decided a batch at a time.  For each batch:
 *   1. the contacts it names are loaded (locked, in commit mode) into an
 *      overlay: an in-memory copy that the decisions change;
 *   2. the dedup keys it carries are looked up, so a bounce applied before
 *      (or twice in this input) is a duplicate;
 *   3. for contacts with soft bounces in the batch, the soft bounces that
 *      count (since soft_since) are loaded;
 *   4. each record is decided in input order against the overlay (so three
 *      soft bounces of one contact in one batch chain as they would across
 *      batches);
 *   5. commit mode: the new events are written; the changed contacts stay in
 *      the overlay (packed) until the transaction ends, when they are saved
 *      once, in id order, and it is committed; the overlay is then dropped,
 *      so memory is bounded by --batch, not by the input.  Check mode
 *      writes nothing and keeps the overlay, so later batches see what
 *      earlier ones would have done.
 * A kill -9 loses at most the batch in flight; a rerun finds the committed
 * batches' events as duplicates and completes the rest, ending in the state
 * a clean run reaches.
 *
 * The soft-bounce window is judged on the bounces' own dates, not on the
 * order they are applied in: a contact is quarantined when some window of
 * soft_window_days holds soft_threshold counted soft bounces, whichever
 * input (or which day) brings them.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rb_internal.h"
#include "rebound_store.h"

#define DAY 86400

static const char *const decision_names[RB_DEC_N] = {
    "invalid", "unknown", "duplicate", "disabled", "quarantined",
    "counted", "recorded", "unchanged", "reset", "ignored",
};

const char *rb_decision_name(int d)
{
    return d >= 0 && d < RB_DEC_N ? decision_names[d] : "?";
}

/* ---- string-keyed maps: GHashTable (keys copied, values owned by the caller) ---- */
typedef struct {
    GHashTable *h;          /* created on the first put */
} strmap;

static void *map_get(strmap *m, const char *key)
{
    return m->h ? g_hash_table_lookup(m->h, key) : NULL;
}

/* Insert key -> val (key copied; an old value is replaced, not freed).
 * Returns 0 (GLib aborts when memory runs out). */
static int map_put(strmap *m, const char *key, void *val)
{
    if (!m->h) m->h = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_hash_table_replace(m->h, g_strdup(key), val);
    return 0;
}

/* Empty the map, handing each value to free_val (when given). */
static void map_clear(strmap *m, void (*free_val)(void *))
{
    if (!m->h) return;
    if (free_val) {
        GHashTableIter it;
        gpointer v;
        g_hash_table_iter_init(&it, m->h);
        while (g_hash_table_iter_next(&it, NULL, &v)) free_val(v);
    }
    g_hash_table_remove_all(m->h);
}

static void map_free(strmap *m, void (*free_val)(void *))
{
    map_clear(m, free_val);
    if (m->h) g_hash_table_unref(m->h);
    m->h = NULL;
}

/* ---- the overlay: contacts as the decisions leave them ------------------------- */
/* What the decisions need of a contact; check mode keeps only this between
 * batches (a full rb_contact is ~2.5 KB; a million touched contacts must
 * not cost gigabytes). */
typedef struct {
    int64_t id, soft_since, quarantine_until, last_bounce_at, last_delivered_at;
    int status, for_mailing, soft_count;
} ov_state;

/* Commit mode, between the chunks of one transaction: a changed contact
 * waiting to be saved at commit, its strings packed (~200 bytes instead of
 * a 2.5 KB rb_contact), so a transaction's changed contacts can be kept. */
typedef struct {
    int64_t id, soft_since, quarantine_until, last_bounce_at, last_delivered_at, created_at, updated_at;
    int for_mailing, status, soft_count;
    char str[];             /* the strings of pk_fields, each NUL-terminated */
} ov_packed;

static const struct {
    size_t off, size;
} pk_fields[] = {
#define PK(f) {offsetof(rb_contact, f), sizeof(((rb_contact *)0)->f)}
    PK(email), PK(email_norm), PK(source), PK(bounce_type), PK(reason),
    PK(status_code), PK(status_message), PK(provider), PK(provider_source),
#undef PK
};
#define NPK (sizeof pk_fields / sizeof pk_fields[0])

typedef struct {
    rb_contact *cp;         /* the full contact while a batch works on it */
    ov_packed *pk;          /* commit mode, between chunks: a changed contact (cp == NULL) */
    ov_state s;             /* check mode, between batches: cp == NULL */
    int found;              /* in the store */
    int dirty;              /* changed since loaded */
    int soft_loaded;
    int64_t *soft;          /* counted soft bounce times (may include some < soft_since) */
    size_t nsoft, capsoft;
} ov_contact;

static void ov_free(void *p)
{
    ov_contact *o = p;
    if (o) {
        free(o->soft);
        free(o->cp);
        free(o->pk);
    }
    free(o);
}

/* Commit mode, after a chunk: a changed contact is kept, packed, until the
 * transaction's commit saves it.  Returns -1 when out of memory. */
static int ov_pack(ov_contact *o)
{
    if (!o->cp) return 0;
    const rb_contact *c = o->cp;
    size_t len[NPK], total = 0;
    for (size_t i = 0; i < NPK; i++) {
        len[i] = strnlen((const char *)c + pk_fields[i].off, pk_fields[i].size - 1);
        total += len[i] + 1;
    }
    ov_packed *k = malloc(sizeof *k + total);
    if (!k) return -1;
    *k = (ov_packed){c->id, c->soft_since, c->quarantine_until, c->last_bounce_at, c->last_delivered_at,
                     c->created_at, c->updated_at, c->for_mailing, c->status, c->soft_count};
    char *w = k->str;
    for (size_t i = 0; i < NPK; i++) {
        memcpy(w, (const char *)c + pk_fields[i].off, len[i]);
        w[len[i]] = '\0';
        w += len[i] + 1;
    }
    free(o->cp);
    o->cp = NULL;
    o->pk = k;
    return 0;
}

/* The contact a packed one stands for, into c (all of it). */
static void ov_unpack_into(const ov_packed *k, rb_contact *c)
{
    memset(c, 0, sizeof *c);
    const char *r = k->str;
    for (size_t i = 0; i < NPK; i++) {
        size_t n = strlen(r);
        memcpy((char *)c + pk_fields[i].off, r, n + 1);
        r += n + 1;
    }
    c->id = k->id;
    c->soft_since = k->soft_since;
    c->quarantine_until = k->quarantine_until;
    c->last_bounce_at = k->last_bounce_at;
    c->last_delivered_at = k->last_delivered_at;
    c->created_at = k->created_at;
    c->updated_at = k->updated_at;
    c->for_mailing = k->for_mailing;
    c->status = k->status;
    c->soft_count = k->soft_count;
}

/* Check mode, after a batch: keep the state, drop the rest. */
static void ov_compact(ov_contact *o)
{
    if (!o->cp) return;
    const rb_contact *c = o->cp;
    o->s = (ov_state){c->id, c->soft_since, c->quarantine_until, c->last_bounce_at, c->last_delivered_at,
                      c->status, c->for_mailing, c->soft_count};
    free(o->cp);
    o->cp = NULL;
}

/* ... and before the next batch that names it. */
static int ov_expand(ov_contact *o, const char *email_norm)
{
    if (o->cp) return 0;
    rb_contact *c = calloc(1, sizeof *c);
    if (!c) return -1;
    if (o->pk) {            /* commit mode: a changed contact of an earlier chunk */
        ov_unpack_into(o->pk, c);
        free(o->pk);
        o->pk = NULL;
        o->cp = c;
        return 0;
    }
    rb_strlcpy(c->email_norm, email_norm, sizeof c->email_norm);
    c->id = o->s.id;
    c->soft_since = o->s.soft_since;
    c->quarantine_until = o->s.quarantine_until;
    c->last_bounce_at = o->s.last_bounce_at;
    c->last_delivered_at = o->s.last_delivered_at;
    c->status = o->s.status;
    c->for_mailing = o->s.for_mailing;
    c->soft_count = o->s.soft_count;
    o->cp = c;
    return 0;
}

static int ov_add_soft(ov_contact *o, int64_t t)
{
    if (o->nsoft == o->capsoft) {
        size_t nc = o->capsoft ? o->capsoft * 2 : 8;
        int64_t *nv = realloc(o->soft, nc * sizeof *nv);
        if (!nv) return -1;
        o->soft = nv;
        o->capsoft = nc;
    }
    o->soft[o->nsoft++] = t;
    return 0;
}

/* ---- queued records --------------------------------------------------------------- */
/* Which of a record's addresses names its contact. */
enum { M_NONE = 0, M_RECIPIENT, M_ORIGINAL };

typedef struct {
    rb_record rec;
    char rcpt_norm[RB_ADDR_MAX];    /* the final recipient, normalised ("" if not an address) */
    char orig_norm[RB_ADDR_MAX];    /* the original recipient (ORCPT), normalised; "" if none, not an
                                     * address, or the same as the final recipient */
    char email_norm[RB_ADDR_MAX];   /* the address decided on: the contact's (see resolve()) */
    int matched;                    /* M_*: which address named a stored contact */
    char key[40];
    unsigned long line;
    int64_t t;
    int invalid;
    int known;                      /* its event key was applied before (load_batch(), no plan) */
    char note[160];
} pending;

struct rb_apply {
    rb_store *st;
    const rb_ctx *ctx;
    rb_apply_opts o;
    rb_policy_settings ps;
    pending *p;
    size_t np, batch;
    int in_tx;              /* commit mode: a transaction is open */
    size_t since_commit;    /* records decided in it */
    rb_event *ev;           /* new events of the batch */
    size_t nev;
    strmap contacts;        /* email_norm -> ov_contact */
    strmap keys;            /* dedup keys seen (value unused) */
    rb_send *sends;         /* accepted deliveries to store with the batch (maillog) */
    size_t nsends;
    rb_apply_summary sum;
};

rb_status rb_apply_new(rb_store *st, const rb_ctx *ctx, const rb_apply_opts *opts, rb_apply **out, rb_error *err)
{
    rb_apply *a = calloc(1, sizeof *a);
    if (!a) { rb_seterr(err, "out of memory"); return RB_ERR_NOMEM; }
    a->st = st;
    a->ctx = ctx;
    if (opts) a->o = *opts;
    /* records per transaction, and per decided chunk (what memory holds) */
    if (!a->o.batch) a->o.batch = 50000;
    a->batch = a->o.batch < 2000 ? a->o.batch : 2000;
    if (!a->o.now) a->o.now = (int64_t)time(NULL);
    a->ps = *rb_policy_get_settings(ctx);
    a->p = malloc(a->batch * sizeof *a->p);
    a->ev = malloc(a->batch * sizeof *a->ev);
    a->sends = malloc(a->batch * sizeof *a->sends);
    if (!a->p || !a->ev || !a->sends) {
        rb_apply_free(a);
        rb_seterr(err, "out of memory");
        return RB_ERR_NOMEM;
    }
    *out = a;
    return RB_OK;
}

void rb_apply_free(rb_apply *a)
{
    if (!a) return;
    if (a->in_tx && !a->o.caller_tx) {   /* not finished: what the open transaction holds is dropped */
        rb_error e;
        rb_store_rollback(a->st, &e);
    }
    map_free(&a->contacts, ov_free);
    map_free(&a->keys, NULL);
    free(a->p);
    free(a->ev);
    free(a->sends);
    free(a->sum.rows);
    free(a);
}

const rb_apply_summary *rb_apply_get_summary(const rb_apply *a)
{
    return &a->sum;
}

/* ---- keys --------------------------------------------------------------------------- */

/* The key names the bounce, not the file it came in: the same NDR in two
 * overlapping mailbox exports, or once as CSV and once as JSONL, has one
 * key.  Policy-derived fields (bounce type, action) are left out, so a
 * changed policy does not make old bounces new.
 *
 * email_norm is the normalised FINAL recipient (the record's `recipient`;
 * the original recipient only when the record has no usable final one),
 * whichever address the bounce is then matched to a contact by.  The
 * original recipient is left out on purpose: the key must not depend on the
 * store (which address names a contact today), nor on whether the export it
 * came in carried the ORCPT (another tool's CSV has no such column), and
 * events stored before original recipients were matched keep their keys, so
 * the same bounce read again counts once. */
void rb_event_key(const rb_record *r, const char *email_norm, char *out, size_t outlen)
{
    GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
    const char *parts[] = {email_norm, r->date, r->status, r->reply_code, r->reason, r->original_message_id,
                           r->diagnostic, r->remote_mta, r->dsn_action, r->feedback_type};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        g_checksum_update(ck, (const guchar *)parts[i], (gssize)strlen(parts[i]));
        g_checksum_update(ck, (const guchar *)"\x1f", 1);
    }
    const char *hex = g_checksum_get_string(ck);
    size_t n = outlen > 33 ? 33 : outlen;
    rb_strlcpy(out, hex, n);
    g_checksum_free(ck);
}

void rb_send_key(const char *instance, const char *queue_id, const char *recipient_norm, char *out,
                 size_t outlen)
{
    GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
    const char *parts[] = {"send", instance ? instance : "", queue_id ? queue_id : "",
                           recipient_norm ? recipient_norm : ""};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        g_checksum_update(ck, (const guchar *)parts[i], (gssize)strlen(parts[i]));
        g_checksum_update(ck, (const guchar *)"\x1f", 1);
    }
    rb_strlcpy(out, g_checksum_get_string(ck), outlen > 33 ? 33 : outlen);
    g_checksum_free(ck);
}

/* ---- queueing ------------------------------------------------------------------------- */
static rb_status flush(rb_apply *a, rb_error *err, int last);

rb_status rb_apply_add(rb_apply *a, const rb_record *rec, unsigned long line, rb_error *err)
{
    pending *p = &a->p[a->np++];
    p->rec = *rec;
    p->line = line;
    p->invalid = 0;
    p->known = 0;
    p->t = 0;
    p->key[0] = '\0';
    p->note[0] = '\0';
    p->email_norm[0] = p->orig_norm[0] = '\0';
    p->matched = M_NONE;
    rb_record *r = &p->rec;

    /* The contact is looked up by the original recipient first (the address
     * that was subscribed and mailed: ORCPT / Original-Recipient), then by
     * the final recipient (a forwarding target, an alias); load_batch()
     * decides which names a contact.  An original recipient that is not an
     * address is passed over; a final recipient that is not one leaves the
     * original alone (an X.400 or otherwise unusable Final-Recipient). */
    int rcpt_ok = rb_email_normalize(r->recipient, p->rcpt_norm, sizeof p->rcpt_norm);
    if (r->original_recipient[0] &&
        (!rb_email_normalize(r->original_recipient, p->orig_norm, sizeof p->orig_norm) ||
         (rcpt_ok && !strcmp(p->orig_norm, p->rcpt_norm))))
        p->orig_norm[0] = '\0';
    if (!rcpt_ok && !p->orig_norm[0]) {
        p->invalid = 1;
        snprintf(p->note, sizeof p->note, "invalid address '%.80s': %.40s", r->recipient, p->rcpt_norm);
        p->rcpt_norm[0] = '\0';
    } else {
        if (!rcpt_ok) p->rcpt_norm[0] = '\0';
        /* until resolve() knows which names a contact */
        rb_strlcpy(p->email_norm, rcpt_ok ? p->rcpt_norm : p->orig_norm, sizeof p->email_norm);
        rb_trim(r->reason);
        rb_lower(r->reason);
        if (!r->reason[0]) {
            /* not analysed by rebound (another tool's CSV): classify from
             * the status, reply code and text */
            r->bounce_type[0] = r->action[0] = '\0';
            rb_classify(a->ctx, r);
        }
        rb_policy_entry pe;
        if (!rb_policy_for_record(a->ctx, r, &pe)) {
            p->invalid = 1;
            snprintf(p->note, sizeof p->note, "unknown reason '%.60s' (not in the policy table)", r->reason);
        } else {
            /* the policy of this run decides, not the one analyze ran with */
            rb_strlcpy(r->bounce_type, pe.bounce_type, sizeof r->bounce_type);
            rb_strlcpy(r->action, pe.action, sizeof r->action);
        }
        if (!p->invalid && r->date[0] && !rb_time_parse(r->date, &p->t)) {
            p->invalid = 1;
            snprintf(p->note, sizeof p->note, "unreadable date '%.60s'", r->date);
        }
        if (!p->invalid && !r->date[0]) p->t = a->o.now;
        /* keyed on the final recipient whatever matches (see rb_event_key) */
        if (!p->invalid) rb_event_key(r, rcpt_ok ? p->rcpt_norm : p->orig_norm, p->key, sizeof p->key);
        /* --resolve-mx: a custom domain's provider from its MX hosts (after
         * the key, which it must not change) */
        const char *at = strrchr(p->email_norm, '@');
        if (!p->invalid && a->o.mx && !r->provider[0] && at) {
            char prov[RB_SHORT_MAX];
            int f = rb_mx_provider(a->o.mx, a->st, a->ctx->providers, at + 1, a->o.commit, a->o.now, prov,
                                   sizeof prov, err);
            if (f < 0) return RB_ERR_DB;
            if (f > 0) {
                rb_strlcpy(r->provider, prov, sizeof r->provider);
                rb_strlcpy(r->provider_source, "mx", sizeof r->provider_source);
            }
        }
    }
    if (a->np == a->batch) return flush(a, err, 0);
    return RB_OK;
}

rb_status rb_apply_finish(rb_apply *a, rb_error *err)
{
    return a->np || a->nsends || a->in_tx ? flush(a, err, 1) : RB_OK;
}

/* ---- summary ----------------------------------------------------------------------------- */
static void count(rb_apply *a, const pending *p, int decision)
{
    rb_apply_summary *s = &a->sum;
    s->records++;
    s->n[decision]++;
    const char *bt = p->invalid ? "invalid" : p->rec.bounce_type;
    const char *rs = p->rec.reason[0] ? p->rec.reason : "-";
    for (size_t i = 0; i < s->nrows; i++)
        if (!strcmp(s->rows[i].bounce_type, bt) && !strcmp(s->rows[i].reason, rs)) {
            s->rows[i].n[decision]++;
            return;
        }
    if (s->nrows == s->caprows) {
        size_t nc = s->caprows ? s->caprows * 2 : 32;
        if (nc > 4096) return;       /* hostile input: many made-up reasons are all invalid anyway */
        rb_apply_row *nv = realloc(s->rows, nc * sizeof *nv);
        if (!nv) return;
        s->rows = nv;
        s->caprows = nc;
    }
    rb_apply_row *row = &s->rows[s->nrows++];
    memset(row, 0, sizeof *row);
    rb_strlcpy(row->bounce_type, bt, sizeof row->bounce_type);
    rb_strlcpy(row->reason, rs, sizeof row->reason);
    row->n[decision]++;
}

/* ---- deciding ------------------------------------------------------------------------------ */
static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return a < b ? -1 : a > b;
}

/* The most soft bounces (counting t itself) that one window of `window`
 * seconds holding t contains, among those dated at or after since. */
static int soft_in_window(const ov_contact *o, int64_t t, int64_t since, int64_t window, int64_t *tmp)
{
    size_t k = 0;
    for (size_t i = 0; i < o->nsoft; i++)
        if (o->soft[i] >= since && o->soft[i] >= t - window && o->soft[i] <= t + window) tmp[k++] = o->soft[i];
    tmp[k++] = t;
    qsort(tmp, k, sizeof *tmp, cmp_i64);
    int best = 0;
    for (size_t i = 0; i < k; i++) {
        if (tmp[i] > t || tmp[i] < t - window) continue;       /* windows that start at tmp[i] and hold t */
        int c = 0;
        for (size_t j = i; j < k && tmp[j] <= tmp[i] + window; j++) c++;
        if (c > best) best = c;
    }
    return best;
}

/* What a provider_source is worth: a guess from the recipient's domain (or
 * a provider with no source: imported) least, an MX looked up more, the
 * hosts that handled the mail (the send's relay, the report's own MTAs) and
 * the provider's own word (the status API, under its key's name) most. */
static int psrc_rank(const char *provider, const char *src)
{
    if (!provider[0]) return 0;
    if (!src[0] || !strcmp(src, "domain")) return 1;
    if (!strcmp(src, "mx")) return 2;
    return 3;
}

/* The contact keeps the provider of the strongest source; of two as
 * strong, the later.  A bounce that names no provider, for a contact with
 * none, leaves the route it came by (ndr, relay, the API's
 * provider_source), as before provider sources were told apart. */
static void set_provider(rb_apply *a, rb_contact *c, const rb_record *r, int bounce)
{
    /* the record's own source (relay, ndr, domain, mx); the caller's
     * (the status API's provider_source or key name, --provider-source)
     * for an "api" record or one that has none */
    const char *ps = r->provider_source;
    if ((!ps[0] || !strcmp(ps, "api")) && a->o.provider_source && a->o.provider_source[0]) ps = a->o.provider_source;
    if (!ps[0]) ps = !strcmp(r->decoded_by, "maillog") ? "relay" : "ndr";   /* records from before provider_source */
    if (!r->provider[0]) {
        if (bounce && !c->provider[0]) rb_strlcpy(c->provider_source, ps, sizeof c->provider_source);
        return;
    }
    if (psrc_rank(r->provider, ps) < psrc_rank(c->provider, c->provider_source)) return;
    rb_strlcpy(c->provider, r->provider, sizeof c->provider);
    rb_strlcpy(c->provider_source, ps, sizeof c->provider_source);
}

static void set_last(rb_apply *a, rb_contact *c, const pending *p)
{
    const rb_record *r = &p->rec;
    rb_strlcpy(c->bounce_type, r->bounce_type, sizeof c->bounce_type);
    rb_strlcpy(c->reason, r->reason, sizeof c->reason);
    snprintf(c->status_code, sizeof c->status_code, "%.7s%s%.50s", r->reply_code, r->reply_code[0] && r->status[0] ? " " : "",
             r->status);
    rb_strlcpy(c->status_message, r->diagnostic, sizeof c->status_message);
    set_provider(a, c, r, 1);
    if (p->t > c->last_bounce_at) c->last_bounce_at = p->t;
}

static int is_disabled(const rb_contact *c)
{
    return c->status == RB_CS_BOUNCED || c->status == RB_CS_COMPLAINT || c->status == RB_CS_UNSUBSCRIBED;
}

/* Stop mailing the contact for good, on this bounce's account. */
static int disable(rb_apply *a, ov_contact *o, const pending *p, int status)
{
    rb_contact *c = o->cp;
    c->status = status;
    c->for_mailing = 0;
    c->quarantine_until = 0;
    set_last(a, c, p);
    o->dirty = 1;
    return RB_DEC_DISABLED;
}

/* Decide one record against its contact; returns the decision. */
static int decide(rb_apply *a, ov_contact *o, const pending *p, int64_t *tmp, const char **note)
{
    rb_contact *c = o->cp;
    const rb_record *r = &p->rec;
    const char *bt = r->bounce_type, *act = r->action;
    int64_t t = p->t;
    int64_t window = (int64_t)a->ps.soft_window_days * DAY;
    int64_t qdur = (int64_t)a->ps.quarantine_days * DAY;
    *note = "";

    /* A bounce of mail we never sent, or sent through a hacked account of
     * ours, says nothing about the recipient: kept as an event, the
     * contact left as it is (rb_policy_for_record made it "record"); nor
     * does the delivery of a bounce notice (maillog: from=<>). */
    if (r->alert[0]) {
        int bs = strcmp(r->alert, "compromised_account") != 0;
        if (!strcmp(act, "ignore")) {
            *note = bs ? "backscatter: not ours, ignored" : "compromised account: ignored";
            return RB_DEC_IGNORED;
        }
        *note = bs ? "backscatter: recorded only" : "compromised account: recorded only";
        return RB_DEC_RECORDED;
    }

    /* A delivery leaves no event when it changes nothing (a sending server
     * logs one per recipient per mailing), so it may be read again after
     * later bounces: what it does must not depend on that order.  It never
     * ends a quarantine (that is the next bounce's or queue rebuild's
     * business), only unblocks a contact blocked before it, and moves
     * soft_since / last_delivered_at forward only. */
    if (!strcmp(act, "ignore")) {
        if (strcmp(r->reason, "delivered") != 0) return RB_DEC_IGNORED;
        /* The same delivery again, or one older than a delivery we know:
         * nothing to do.  This is also what makes reading it again after
         * later bounces harmless. */
        if (t <= c->last_delivered_at) {
            *note = "delivered (known already)";
            return RB_DEC_IGNORED;
        }
        /* a successful delivery: the soft bounces before it no longer count */
        int changed = 0;
        c->last_delivered_at = t;
        set_provider(a, c, r, 0);          /* the relay it was delivered to */
        if (t > c->soft_since && c->status != RB_CS_QUARANTINED && !is_disabled(c)) {
            c->soft_since = t;
            if (c->soft_count) changed = 1;
            c->soft_count = 0;
        }
        if (c->status == RB_CS_BLOCKED && t > c->last_bounce_at) {
            c->status = RB_CS_ACTIVE;      /* delivered after the block */
            changed = 1;
        }
        o->dirty = 1;                      /* last_delivered_at moved forward */
        *note = changed ? "delivered: soft count reset" : "delivered";
        return changed ? RB_DEC_RESET : RB_DEC_IGNORED;
    }

    /* A quarantine that ended before this bounce happened is over. */
    if (c->status == RB_CS_QUARANTINED && c->quarantine_until && t >= c->quarantine_until) {
        c->status = RB_CS_ACTIVE;
        c->for_mailing = 1;
        c->soft_since = c->quarantine_until;
        c->soft_count = 0;
        c->quarantine_until = 0;
        o->dirty = 1;
    }

    if (c->status == RB_CS_UNSUBSCRIBED) {
        *note = "unsubscribed: kept as it is";
        return RB_DEC_UNCHANGED;
    }

    if (!strcmp(act, "disable")) {
        int target = !strcmp(bt, "complaint") ? RB_CS_COMPLAINT : RB_CS_BOUNCED;
        if (is_disabled(c)) {
            *note = "already disabled";
            return RB_DEC_UNCHANGED;
        }
        return disable(a, o, p, target);
    }

    if (!strcmp(act, "count")) {
        if (is_disabled(c)) {
            *note = "already disabled";
            return RB_DEC_UNCHANGED;
        }
        if (t < c->soft_since) {
            *note = "older than the last delivery or quarantine: not counted";
            return RB_DEC_RECORDED;
        }
        if (c->status == RB_CS_QUARANTINED && t > c->quarantine_until - qdur) {
            /* a further bounce during the quarantine: the contact does not come back */
            *note = "soft bounce during quarantine";
            return disable(a, o, p, RB_CS_BOUNCED);
        }
        int n = soft_in_window(o, t, c->soft_since, window, tmp);
        ov_add_soft(o, t);
        o->dirty = 1;
        c->soft_count = n > c->soft_count ? n : c->soft_count;
        if (c->status == RB_CS_QUARANTINED) {
            *note = "counted (quarantined already)";
            return RB_DEC_COUNTED;
        }
        if (c->status != RB_CS_BLOCKED || t >= c->last_bounce_at) set_last(a, c, p);
        if (n >= a->ps.soft_threshold) {
            c->for_mailing = 0;
            if (qdur > 0) {
                c->status = RB_CS_QUARANTINED;
                c->quarantine_until = t + qdur;
                return RB_DEC_QUARANTINED;
            }
            c->status = RB_CS_BOUNCED;          /* quarantine_days 0: disabled outright */
            *note = "soft threshold reached, no quarantine";
            return RB_DEC_DISABLED;
        }
        return RB_DEC_COUNTED;
    }

    /* record: kept, never disables.  A policy/spam block marks the contact
     * blocked (still mailed) so the operator sees it. */
    /* (a temporary block -- greylisting, a throttle -- is a delay: it does
     * not mark the contact blocked) */
    if (!strcmp(bt, "blocked") && c->status == RB_CS_ACTIVE && t >= c->last_delivered_at &&
        strcmp(r->dsn_action, "delayed") != 0)
        c->status = RB_CS_BLOCKED;          /* (a delivery after the block says it is over) */
    if (!is_disabled(c) && c->status != RB_CS_QUARANTINED && t >= c->last_bounce_at) set_last(a, c, p);
    o->dirty = 1;
    return RB_DEC_RECORDED;
}

/* ---- one batch ---------------------------------------------------------------------------------- */
static void soft_loaded(void *arg, int64_t id, int64_t t)
{
    strmap *byid = arg;
    char k[32];
    snprintf(k, sizeof k, "%lld", (long long)id);
    ov_contact *o = map_get(byid, k);
    if (o) ov_add_soft(o, t);
}

/* Which address each record is decided on: the original recipient when it
 * names a stored contact, else the final recipient (a record that names
 * no contact is unknown under its final recipient, or under its original
 * one when it has no usable final one). */
static void resolve(rb_apply *a)
{
    for (size_t i = 0; i < a->np; i++) {
        pending *p = &a->p[i];
        if (p->invalid) continue;
        ov_contact *o;
        if (p->orig_norm[0] && (o = map_get(&a->contacts, p->orig_norm)) && o->found) {
            rb_strlcpy(p->email_norm, p->orig_norm, sizeof p->email_norm);
            p->matched = M_ORIGINAL;
        } else if (p->rcpt_norm[0]) {
            rb_strlcpy(p->email_norm, p->rcpt_norm, sizeof p->email_norm);
            p->matched = (o = map_get(&a->contacts, p->rcpt_norm)) && o->found ? M_RECIPIENT : M_NONE;
        } else {
            rb_strlcpy(p->email_norm, p->orig_norm, sizeof p->email_norm);
            p->matched = M_NONE;
        }
    }
}

static const char *matched_name(int m)
{
    return m == M_ORIGINAL ? "original_recipient" : m == M_RECIPIENT ? "recipient" : "";
}

/* Look-ups and writes go in key order: one pass over each B-tree (and
 * its pages) per batch instead of a random walk.  At 10 M contacts the
 * indexes do not fit the page cache: in random order most look-ups read a
 * page another look-up of the batch read and evicted before; in key order
 * a page is read once.  (It also takes PostgreSQL's row locks in one order.) */
static int cmp_str(const void *x, const void *y) { return strcmp(*(const char *const *)x, *(const char *const *)y); }

static rb_status load_batch(rb_apply *a, rb_error *err)
{
    size_t n = a->np;
    if (!n) return RB_OK;    /* only sends to store */
    const char **emails = malloc(2 * n * sizeof *emails);     /* two addresses a record */
    const char **keys = malloc(n * sizeof *keys);
    rb_contact *cs = malloc(2 * n * sizeof *cs);
    int *found = malloc(2 * n * sizeof *found);
    int64_t *ids = malloc(n * sizeof *ids);
    strmap byid = {0};
    rb_status s = RB_OK;
    if (!emails || !keys || !cs || !found || !ids) { s = RB_ERR_NOMEM; rb_seterr(err, "out of memory"); goto out; }

    /* 0. Without a plan, the event keys first: a key applied before (an
     *    event row references a contact, and contacts are never deleted)
     *    makes the record a duplicate whatever its contact holds, so its
     *    contact is not looked up, nor its soft bounces.  A plan that shows
     *    the contact's state on duplicates too (plan_states, apply --plan):
     *    then the contacts come first. */
    strmap want = {0};
    if (!a->o.plan_cb || !a->o.plan_states) {
        size_t nk0 = 0;
        for (size_t i = 0; i < n && s == RB_OK; i++) {
            const pending *p = &a->p[i];
            if (p->invalid || map_get(&a->keys, p->key) || map_get(&want, p->key)) continue;
            if (map_put(&want, p->key, (void *)1) < 0) { s = RB_ERR_NOMEM; break; }
            keys[nk0++] = p->key;
        }
        map_free(&want, NULL);
        memset(&want, 0, sizeof want);
        if (s != RB_OK) goto out;
        qsort(keys, nk0, sizeof *keys, cmp_str);
        if ((s = rb_store_events_known(a->st, keys, nk0, found, err)) != RB_OK) goto out;
        for (size_t i = 0; i < nk0; i++)
            if (found[i] && map_put(&a->keys, keys[i], (void *)1) < 0) { s = RB_ERR_NOMEM; goto out; }
        /* known before this chunk: in the store, or decided in an earlier chunk
         * of this run (whose contact was found) */
        for (size_t i = 0; i < n; i++)
            if (!a->p[i].invalid && map_get(&a->keys, a->p[i].key)) a->p[i].known = 1;
    }

    /* 1. contacts not in the overlay yet (each once): both addresses of
     *    each record, the original recipient and the final one */
    size_t ne = 0;
    for (size_t i = 0; i < n && s == RB_OK; i++) {
        const pending *p = &a->p[i];
        if (p->invalid || p->known) continue;
        const char *cand[2] = {p->orig_norm, p->rcpt_norm};
        for (int k = 0; k < 2; k++) {
            const char *e = cand[k];
            if (!e[0]) continue;
            ov_contact *known = map_get(&a->contacts, e);
            if (known) {
                if (ov_expand(known, e) < 0) { s = RB_ERR_NOMEM; break; }
                continue;
            }
            if (map_get(&want, e)) continue;
            if (map_put(&want, e, (void *)1) < 0) { s = RB_ERR_NOMEM; break; }
            emails[ne++] = e;
        }
    }
    qsort(emails, ne, sizeof *emails, cmp_str);
    if (s == RB_OK) s = rb_store_contacts_load(a->st, emails, ne, a->o.commit, cs, found, err);
    for (size_t i = 0; s == RB_OK && i < ne; i++) {
        ov_contact *o = calloc(1, sizeof *o);
        if (o) o->cp = malloc(sizeof *o->cp);
        if (!o || !o->cp) { free(o); s = RB_ERR_NOMEM; break; }
        o->found = found[i];
        if (found[i]) *o->cp = cs[i];
        else {
            memset(o->cp, 0, sizeof *o->cp);
            rb_strlcpy(o->cp->email_norm, emails[i], sizeof o->cp->email_norm);
        }
        if (map_put(&a->contacts, emails[i], o) < 0) { ov_free(o); s = RB_ERR_NOMEM; }
    }
    map_free(&want, NULL);
    if (s != RB_OK) goto out;
    resolve(a);

    /* 2. dedup keys */
    size_t nk = 0;
    for (size_t i = 0; i < n; i++) {
        const pending *p = &a->p[i];
        if (p->invalid || p->known || map_get(&a->keys, p->key)) continue;
        ov_contact *o = map_get(&a->contacts, p->email_norm);
        if (!o || !o->found) continue;
        keys[nk++] = p->key;
    }
    qsort(keys, nk, sizeof *keys, cmp_str);
    if ((s = rb_store_events_known(a->st, keys, nk, found, err)) != RB_OK) goto out;
    for (size_t i = 0; i < nk; i++)
        if (found[i] && map_put(&a->keys, keys[i], (void *)1) < 0) { s = RB_ERR_NOMEM; goto out; }

    /* 3. the counted soft bounces of contacts with soft bounces in this batch */
    size_t ni = 0;
    int64_t min_since = INT64_MAX;
    for (size_t i = 0; i < n; i++) {
        const pending *p = &a->p[i];
        if (p->invalid || p->known || strcmp(p->rec.action, "count") != 0) continue;
        ov_contact *o = map_get(&a->contacts, p->email_norm);
        if (!o || !o->found || o->soft_loaded) continue;
        o->soft_loaded = 1;
        char k[32];
        snprintf(k, sizeof k, "%lld", (long long)o->cp->id);
        if (map_put(&byid, k, o) < 0) { s = RB_ERR_NOMEM; goto out; }
        ids[ni++] = o->cp->id;
        if (o->cp->soft_since < min_since) min_since = o->cp->soft_since;
    }
    qsort(ids, ni, sizeof *ids, cmp_i64);
    if (ni) s = rb_store_soft_events(a->st, ids, ni, min_since, soft_loaded, &byid, err);
out:
    if (s == RB_ERR_NOMEM && !err->msg[0]) rb_seterr(err, "out of memory");
    map_free(&byid, NULL);
    free(emails);
    free(keys);
    free(cs);
    free(found);
    free(ids);
    return s;
}

/* Commit mode: save the contacts changed in the open transaction, in id
 * order, a group at a time (a full rb_contact each), and mark them saved.
 * Once per transaction rather than once per chunk: a contact page is then
 * written (and split, as rows grow) once per transaction, not re-dirtied by
 * each chunk after the cache spilled it. */
static int cmp_ov_id(const void *x, const void *y)
{
    const ov_contact *a = *(ov_contact *const *)x, *b = *(ov_contact *const *)y;
    int64_t i = a->cp ? a->cp->id : a->pk->id, j = b->cp ? b->cp->id : b->pk->id;
    return i < j ? -1 : i > j;
}

#define SAVE_GROUP 1000

static rb_status save_dirty(rb_apply *a, rb_error *err)
{
    guint nc = a->contacts.h ? g_hash_table_size(a->contacts.h) : 0;
    if (!nc) return RB_OK;
    ov_contact **v = malloc(nc * sizeof *v);
    rb_contact *buf = malloc(SAVE_GROUP * sizeof *buf);
    if (!v || !buf) {
        free(v);
        free(buf);
        rb_seterr(err, "out of memory");
        return RB_ERR_NOMEM;
    }
    size_t nd = 0;
    GHashTableIter it;
    gpointer val;
    g_hash_table_iter_init(&it, a->contacts.h);
    while (g_hash_table_iter_next(&it, NULL, &val)) {
        ov_contact *o = val;
        if (o->found && o->dirty && (o->cp || o->pk)) v[nd++] = o;
    }
    qsort(v, nd, sizeof *v, cmp_ov_id);
    rb_status s = RB_OK;
    for (size_t i = 0; i < nd && s == RB_OK; i += SAVE_GROUP) {
        size_t n = nd - i < SAVE_GROUP ? nd - i : SAVE_GROUP;
        for (size_t j = 0; j < n; j++) {
            const ov_contact *o = v[i + j];
            if (o->cp) buf[j] = *o->cp;
            else ov_unpack_into(o->pk, &buf[j]);
        }
        s = rb_store_contacts_save(a->st, buf, n, err);
    }
    if (s == RB_OK)
        for (size_t i = 0; i < nd; i++) v[i]->dirty = 0;
    free(v);
    free(buf);
    return s;
}

/* Commit mode, after a chunk that did not end the transaction: keep the
 * changed contacts (packed) for the commit, drop the others (the store has
 * them as they are).  Returns -1 when out of memory. */
static gboolean drop_clean(gpointer key, gpointer val, gpointer arg)
{
    (void)key;
    ov_contact *o = val;
    if (o->found && o->dirty) {
        if (ov_pack(o) < 0) *(int *)arg = 1;
        return FALSE;
    }
    ov_free(o);
    return TRUE;
}

static int keep_dirty(rb_apply *a)
{
    int nomem = 0;
    if (a->contacts.h) g_hash_table_foreach_remove(a->contacts.h, drop_clean, &nomem);
    return nomem ? -1 : 0;
}

/* Decide the queued chunk; in commit mode write it in the open transaction,
 * and commit when the transaction holds --batch records or input ended.
 * Several chunks per transaction: each commit writes every page it dirtied
 * to the WAL, so fewer, larger transactions cost far less I/O, while memory
 * holds one chunk only. */
static rb_status flush(rb_apply *a, rb_error *err, int last)
{
    rb_status s = RB_OK;
    err->msg[0] = '\0';
    if (a->o.commit && !a->in_tx) {
        if (!a->o.caller_tx && (s = rb_store_begin(a->st, err)) != RB_OK) return s;
        a->in_tx = 1;
        a->since_commit = 0;
    }
    if ((s = load_batch(a, err)) != RB_OK) goto fail;

    int64_t *tmp = NULL;
    size_t tmpcap = 0;
    a->nev = 0;
    for (size_t i = 0; i < a->np; i++) {
        pending *p = &a->p[i];
        ov_contact *o = p->invalid ? NULL : map_get(&a->contacts, p->email_norm);
        int d;
        const char *note = p->note;
        int old = -1;
        if (p->invalid) d = RB_DEC_INVALID;
        else if (p->known) { d = RB_DEC_DUPLICATE; note = "applied before"; o = NULL; }
        else if (!o || !o->found) { d = RB_DEC_UNKNOWN; note = "not in the store"; }
        else if (map_get(&a->keys, p->key)) { d = RB_DEC_DUPLICATE; note = "applied before"; old = o->cp->status; }
        else {
            if (tmpcap < o->nsoft + 2) {
                free(tmp);
                tmpcap = o->nsoft + 64;
                tmp = malloc(tmpcap * sizeof *tmp);
                if (!tmp) { s = RB_ERR_NOMEM; rb_seterr(err, "out of memory"); goto fail; }
            }
            old = o->cp->status;
            d = decide(a, o, p, tmp, &note);
            if (o->dirty) o->cp->updated_at = a->o.now;
            if (map_put(&a->keys, p->key, (void *)1) < 0) { s = RB_ERR_NOMEM; rb_seterr(err, "out of memory"); goto fail; }
            /* A delivery that changed nothing leaves no event: a sending
             * server logs one per recipient per mailing, and rereading it
             * is harmless (it only moves last_delivered_at forward). */
            if (d == RB_DEC_IGNORED && !strcmp(p->rec.reason, "delivered")) goto counted;
            rb_event *e = &a->ev[a->nev++];
            memset(e, 0, sizeof *e);
            rb_strlcpy(e->key, p->key, sizeof e->key);
            e->contact_id = o->cp->id;
            e->event_time = p->t;
            e->applied_at = a->o.now;
            rb_strlcpy(e->bounce_type, p->rec.bounce_type, sizeof e->bounce_type);
            rb_strlcpy(e->reason, p->rec.reason, sizeof e->reason);
            rb_strlcpy(e->status, p->rec.status, sizeof e->status);
            rb_strlcpy(e->reply_code, p->rec.reply_code, sizeof e->reply_code);
            rb_strlcpy(e->decision, rb_decision_name(d), sizeof e->decision);
            rb_strlcpy(e->diagnostic, p->rec.diagnostic, sizeof e->diagnostic);
            rb_strlcpy(e->remote_mta, p->rec.remote_mta, sizeof e->remote_mta);
            rb_strlcpy(e->provider, p->rec.provider, sizeof e->provider);
            rb_strlcpy(e->source, p->rec.source, sizeof e->source);
            rb_strlcpy(e->evidence, p->rec.evidence, sizeof e->evidence);
            rb_strlcpy(e->rule, p->rec.rule, sizeof e->rule);
            rb_strlcpy(e->alert, p->rec.alert, sizeof e->alert);
            rb_strlcpy(e->account, p->rec.account, sizeof e->account);
            e->contact = o->cp;            /* alive until the batch is written */
        }
    counted:
        count(a, p, d);
        if (a->o.plan_cb) {
            rb_plan_row row = {&p->rec, p->email_norm, p->line, d, old, o && o->found ? o->cp->status : -1,
                               o ? o->cp->soft_count : 0, p->t, o ? o->cp->quarantine_until : 0, note,
                               matched_name(p->matched), p->key};
            a->o.plan_cb(a->o.plan_arg, &row);
        }
    }
    free(tmp);

    if (a->o.commit) {
        /* write: the events now; the changed contacts once per transaction,
         * at its end (or before sends, whose insert reads the contacts) */
        s = rb_store_events_insert(a->st, a->ev, a->nev, err);
        a->since_commit += a->np;
        /* a caller's transaction (serve's group) ends only with the last chunk */
        int ending = last || (a->since_commit >= a->o.batch && !a->o.caller_tx);
        if (s == RB_OK && (ending || a->nsends)) s = save_dirty(a, err);
        size_t stored = 0;
        if (s == RB_OK && a->nsends) s = rb_store_sends_insert_n(a->st, a->sends, a->nsends, &stored, err);
        if (s == RB_OK) a->sum.sends += stored;
        if (s != RB_OK) goto fail;
        if (ending) {
            a->in_tx = 0;
            if (!a->o.caller_tx && (s = rb_store_commit(a->st, err)) != RB_OK) goto fail_nocommit;
            a->sum.batches_committed++;
            map_clear(&a->contacts, ov_free);
        } else if (keep_dirty(a) < 0) {
            s = RB_ERR_NOMEM;
            rb_seterr(err, "out of memory");
            goto fail;
        }
        map_clear(&a->keys, NULL);
    } else {
        for (size_t i = 0; i < a->np; i++) {
            const pending *p = &a->p[i];
            if (p->invalid) continue;
            const char *cand[2] = {p->orig_norm, p->rcpt_norm};
            for (int k = 0; k < 2; k++) {
                ov_contact *o = cand[k][0] ? map_get(&a->contacts, cand[k]) : NULL;
                if (o) ov_compact(o);
            }
        }
        a->sum.sends += a->nsends;
    }
    a->np = 0;
    a->nsends = 0;
    return RB_OK;
fail:
    if (a->o.commit && a->in_tx) {
        rb_error e2;
        if (!a->o.caller_tx) rb_store_rollback(a->st, &e2);   /* else the caller's to roll back */
        a->in_tx = 0;
    }
fail_nocommit:
    /* nothing of this batch is kept, in the store or in memory */
    map_clear(&a->contacts, ov_free);
    map_clear(&a->keys, NULL);
    a->np = 0;
    a->nsends = 0;
    return s;
}

rb_status rb_apply_add_send(rb_apply *a, const rb_send *snd, rb_error *err)
{
    a->sends[a->nsends++] = *snd;
    if (a->nsends == a->batch) return flush(a, err, 0);
    return RB_OK;
}
