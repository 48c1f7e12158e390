/* api_status.c -- what a reported status means for the contact (the table
 * in rebound_api.h), and deciding a group of updates in one
 * transaction through the same rb_apply as `rebound apply`.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "rb_internal.h"
#include "rebound_api.h"
#include "store_impl.h"

/* ---- what a status means ------------------------------------------------------------------- */
enum { C_NONE, C_BLOCKED, C_SOFT, C_HARD, C_COMPLAINT };

static int class_of(const rb_ctx *ctx, const char *reason)
{
    rb_policy_entry pe;
    rb_policy_lookup(ctx, reason, &pe);
    if (!strcmp(pe.bounce_type, "hard")) return C_HARD;
    if (!strcmp(pe.bounce_type, "soft")) return C_SOFT;
    if (!strcmp(pe.bounce_type, "blocked")) return C_BLOCKED;
    if (!strcmp(pe.bounce_type, "complaint")) return C_COMPLAINT;
    return C_NONE;
}

/* The rules found nothing specific: the caller's word decides. */
static int no_evidence(const char *reason)
{
    return !reason[0] || !strcmp(reason, "undefined") || !strcmp(reason, "onhold");
}

void rb_api_prepare(const rb_ctx *ctx, rb_api_update *u, const char *source, const char *default_source,
                    int64_t now)
{
    rb_record *r = &u->rec;
    memset(r, 0, sizeof *r);
    if (!u->provider_source[0] && default_source)
        rb_strlcpy(u->provider_source, default_source, sizeof u->provider_source);
    rb_strlcpy(r->source, source ? source : "api", sizeof r->source);
    rb_strlcpy(r->recipient, u->email, sizeof r->recipient);
    rb_strlcpy(r->status, u->dsn_status, sizeof r->status);
    rb_strlcpy(r->reply_code, u->reply_code, sizeof r->reply_code);
    rb_strlcpy(r->diagnostic, u->status_message, sizeof r->diagnostic);
    rb_strlcpy(r->provider, u->provider, sizeof r->provider);
    if (u->provider[0]) rb_strlcpy(r->provider_source, "api", sizeof r->provider_source);
    rb_strlcpy(r->decoded_by, "api", sizeof r->decoded_by);
    if (u->date[0]) rb_strlcpy(r->date, u->date, sizeof r->date);
    else {
        /* undated: the day it arrives, so a repeat that day is the same event */
        rb_time_format_iso(now - (now % 86400 + 86400) % 86400, r->date, sizeof r->date);
    }

    const char *reason;
    int st = u->status;
    const char *bt = u->bounce_type;
    if (st == RB_API_BOUNCED && !strcmp(bt, "blocked")) st = RB_API_BLOCKED;
    if (st == RB_API_BOUNCED && !strcmp(bt, "complaint")) st = RB_API_COMPLAINT;
    switch (st) {
    case RB_API_COMPLAINT:
        reason = "feedback";
        rb_strlcpy(r->feedback_type, "abuse", sizeof r->feedback_type);
        break;
    case RB_API_ACTIVE:
        reason = "delivered";
        rb_strlcpy(r->dsn_action, "delivered", sizeof r->dsn_action);
        break;
    case RB_API_UNSUBSCRIBED:
        reason = "unsubscribed";
        break;
    default: {
        rb_strlcpy(r->dsn_action, st == RB_API_DEFERRED ? "delayed" : "failed", sizeof r->dsn_action);
        /* what the rules find in the code and text (reason empty: classified) */
        char found[RB_SHORT_MAX];
        rb_classify(ctx, r);
        rb_strlcpy(found, r->reason, sizeof found);
        int c = class_of(ctx, found);
        int evidence = !no_evidence(found);
        if (st == RB_API_BLOCKED) reason = c == C_BLOCKED ? found : "blocked";
        else if (st == RB_API_BOUNCED && !strcmp(bt, "hard"))
            reason = evidence && (c == C_HARD || c == C_SOFT || c == C_BLOCKED) ? found : "suppressed";
        else if (st == RB_API_DEFERRED)
            /* the reason is kept; the policy records a delay, never counts or disables it */
            reason = evidence && (c == C_HARD || c == C_SOFT || c == C_BLOCKED) ? found : "undefined";
        else    /* bounced soft / without a bounce type: never more than soft */
            reason = evidence && (c == C_SOFT || c == C_BLOCKED) ? found : "undefined";
        rb_strlcpy(r->reason, reason, sizeof r->reason);
        reason = r->reason;
        /* the reason stands on the provider's own word ("bounced", "hard",
         * "blocked") where the code and text say less */
        if (strcmp(r->reason, found) != 0 || rb_evidence_parse(r->evidence) < RB_EV_STATUS) {
            if (st == RB_API_BOUNCED && !strcmp(bt, "hard")) {
                rb_strlcpy(r->evidence, "vendor", sizeof r->evidence);
                rb_strlcpy(r->rule, "api:bounced/hard", sizeof r->rule);
            } else if (strcmp(r->reason, found) != 0) {
                rb_strlcpy(r->evidence, "vendor", sizeof r->evidence);
                snprintf(r->rule, sizeof r->rule, "api:%s", st == RB_API_BLOCKED ? "blocked" : "status");
            }
        }
        break;
    }
    }
    if (reason != r->reason) rb_strlcpy(r->reason, reason, sizeof r->reason);
    if (st != RB_API_UNSUBSCRIBED) {
        rb_policy_entry pe;
        rb_policy_for_record(ctx, r, &pe);
        rb_strlcpy(r->bounce_type, pe.bounce_type, sizeof r->bounce_type);
        rb_strlcpy(r->action, pe.action, sizeof r->action);
    } else {
        rb_strlcpy(r->bounce_type, "none", sizeof r->bounce_type);
    }
}

rb_status rb_api_check_policy(const rb_ctx *ctx, rb_error *err)
{
    static const char *const need[] = {"suppressed", "undefined", "blocked", "feedback", "delivered"};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        rb_policy_entry pe;
        if (!rb_policy_lookup(ctx, need[i], &pe)) {
            rb_seterr(err, "the policy names no reason '%s', which the status API uses", need[i]);
            return RB_ERR_CONFIG;
        }
    }
    return RB_OK;
}

/* ---- applying a group ---------------------------------------------------------------------- */
typedef struct {
    rb_api_update *const *u;
    rb_api_result *res;
    const size_t *idx;          /* partition position -> update index */
} plan_arg;

static void on_plan(void *arg, const rb_plan_row *row)
{
    plan_arg *pa = arg;
    size_t i = pa->idx[row->line - 1];
    rb_api_result *r = &pa->res[i];
    r->decision = rb_decision_name(row->decision);
    r->old_status = row->old_status;
    r->new_status = row->new_status;
    r->changed = row->old_status >= 0 && row->old_status != row->new_status;
    r->soft_count = row->soft_count;
    r->quarantine_until = row->quarantine_until;
    rb_strlcpy(r->reason, row->rec->reason, sizeof r->reason);
    rb_strlcpy(r->bounce_type, row->rec->bounce_type, sizeof r->bounce_type);
    rb_strlcpy(r->note, row->note ? row->note : "", sizeof r->note);
    if (row->key && row->key[0]) rb_strlcpy(r->event, row->key, sizeof r->event);    /* as stored */
    else if (row->email_norm && row->email_norm[0]) rb_event_key(row->rec, row->email_norm, r->event, sizeof r->event);
}

/* One rb_apply over the updates idx[0..m), in the caller's transaction. */
static rb_status apply_part(rb_store *st, const rb_ctx *ctx, rb_api_update *const *u, const size_t *idx, size_t m,
                            const char *psrc, int64_t now, rb_api_result *res, rb_error *err)
{
    plan_arg pa = {u, res, idx};
    rb_apply_opts o = {0};
    o.commit = 1;
    o.caller_tx = 1;
    o.batch = m;
    o.now = now;
    o.provider_source = psrc;
    o.plan_cb = on_plan;
    o.plan_arg = &pa;
    rb_apply *a = NULL;
    rb_status s = rb_apply_new(st, ctx, &o, &a, err);
    for (size_t k = 0; s == RB_OK && k < m; k++) s = rb_apply_add(a, &u[idx[k]]->rec, k + 1, err);
    if (s == RB_OK) s = rb_apply_finish(a, err);
    rb_apply_free(a);
    return s;
}

static int64_t event_time_of(const rb_api_update *u, int64_t now)
{
    int64_t t;
    if (u->event_time) return u->event_time;
    return rb_time_parse(u->rec.date, &t) ? t : now;
}

/* The unsubscribes idx[0..m), in the caller's transaction. */
static rb_status unsubscribe_part(rb_store *st, rb_api_update *const *u, const size_t *idx, size_t m, int64_t now,
                                  rb_api_result *res, rb_error *err)
{
    const char **emails = malloc(m * sizeof *emails);
    const char **keys = malloc(m * sizeof *keys);
    char (*keybuf)[40] = malloc(m * sizeof *keybuf);
    rb_contact *cs = malloc(m * sizeof *cs);
    int *found = calloc(m, sizeof *found);
    int *known = calloc(m, sizeof *known);
    int *dirty = calloc(m, sizeof *dirty);
    size_t *cof = malloc(m * sizeof *cof);       /* update -> its contact's slot */
    rb_event *ev = malloc(m * sizeof *ev);
    rb_contact *save = malloc(m * sizeof *save);
    rb_status s = RB_OK;
    if (!emails || !keys || !keybuf || !cs || !found || !known || !dirty || !cof || !ev || !save) {
        rb_seterr(err, "out of memory");
        s = RB_ERR_NOMEM;
        goto out;
    }
    size_t ne = 0;
    for (size_t k = 0; k < m; k++) {
        const rb_api_update *x = u[idx[k]];
        size_t j = 0;
        while (j < ne && strcmp(emails[j], x->email_norm) != 0) j++;
        if (j == ne) emails[ne++] = x->email_norm;
        cof[k] = j;
        rb_event_key(&x->rec, x->email_norm, keybuf[k], sizeof keybuf[k]);
        keys[k] = keybuf[k];
    }
    if ((s = rb_store_contacts_load(st, emails, ne, 1, cs, found, err)) != RB_OK) goto out;
    if ((s = rb_store_events_known(st, keys, m, known, err)) != RB_OK) goto out;
    size_t nev = 0;
    for (size_t k = 0; k < m; k++) {
        rb_api_update *x = u[idx[k]];
        rb_api_result *r = &res[idx[k]];
        rb_strlcpy(r->event, keys[k], sizeof r->event);
        rb_strlcpy(r->reason, "unsubscribed", sizeof r->reason);
        rb_strlcpy(r->bounce_type, "none", sizeof r->bounce_type);
        r->old_status = r->new_status = -1;
        r->changed = 0;
        r->note[0] = '\0';
        size_t j = cof[k];
        if (!found[j]) {
            r->decision = rb_decision_name(RB_DEC_UNKNOWN);
            rb_strlcpy(r->note, "not in the store", sizeof r->note);
            continue;
        }
        rb_contact *c = &cs[j];
        r->old_status = c->status;
        int dup = known[k];
        for (size_t q = 0; q < k && !dup; q++) dup = !strcmp(keys[q], keys[k]) && cof[q] == j;
        if (dup) {
            r->decision = rb_decision_name(RB_DEC_DUPLICATE);
            rb_strlcpy(r->note, "applied before", sizeof r->note);
        } else if (c->status == RB_CS_UNSUBSCRIBED) {
            r->decision = rb_decision_name(RB_DEC_UNCHANGED);
            rb_strlcpy(r->note, "unsubscribed already", sizeof r->note);
        } else {
            r->decision = "unsubscribed";
            c->status = RB_CS_UNSUBSCRIBED;
            c->for_mailing = 0;
            c->quarantine_until = 0;
            if (x->provider[0]) {   /* the provider's own word: the strongest source */
                rb_strlcpy(c->provider, x->provider, sizeof c->provider);
                rb_strlcpy(c->provider_source, x->provider_source, sizeof c->provider_source);
            }
            c->updated_at = now;
            dirty[j] = 1;
            r->changed = 1;
        }
        r->new_status = c->status;
        r->soft_count = c->soft_count;
        r->quarantine_until = c->quarantine_until;
        if (dup) continue;
        rb_event *e = &ev[nev++];
        memset(e, 0, sizeof *e);
        rb_strlcpy(e->key, keys[k], sizeof e->key);
        e->contact_id = c->id;
        e->event_time = event_time_of(x, now);
        e->applied_at = now;
        rb_strlcpy(e->bounce_type, "none", sizeof e->bounce_type);
        rb_strlcpy(e->reason, "unsubscribed", sizeof e->reason);
        rb_strlcpy(e->status, x->dsn_status, sizeof e->status);
        rb_strlcpy(e->reply_code, x->reply_code, sizeof e->reply_code);
        rb_strlcpy(e->decision, r->decision, sizeof e->decision);
        rb_strlcpy(e->diagnostic, x->status_message, sizeof e->diagnostic);
        rb_strlcpy(e->provider, x->provider, sizeof e->provider);
        rb_strlcpy(e->source, x->rec.source, sizeof e->source);
        rb_strlcpy(e->evidence, x->rec.evidence, sizeof e->evidence);
        rb_strlcpy(e->rule, x->rec.rule, sizeof e->rule);
        e->contact = c;
    }
    size_t nd = 0;
    for (size_t j = 0; j < ne; j++)
        if (dirty[j]) save[nd++] = cs[j];
    if ((s = rb_store_events_insert(st, ev, nev, err)) != RB_OK) goto out;
    s = rb_store_contacts_save(st, save, nd, err);
out:
    free(emails);
    free(keys);
    free(keybuf);
    free(cs);
    free(found);
    free(known);
    free(dirty);
    free(cof);
    free(ev);
    free(save);
    return s;
}

/* The whole group in one transaction: apply's updates (one rb_apply per
 * provider_source, which rb_apply stores with the contact), then the
 * unsubscribes; one commit, so one set of WAL frames for the pages the
 * parts share.  A store error anywhere rolls back the whole group: none of
 * its updates is answered as stored. */
rb_status rb_api_apply(rb_store *st, const rb_ctx *ctx, rb_api_update *const *u, size_t n, int64_t now,
                       rb_api_result *res, rb_error *err)
{
    err->msg[0] = '\0';
    if (!n) return RB_OK;
    size_t *idx = malloc(n * sizeof *idx);
    char *done = calloc(n, 1);
    if (!idx || !done) {
        free(idx);
        free(done);
        rb_seterr(err, "out of memory");
        for (size_t i = 0; i < n; i++) res[i].ok = 0;
        return RB_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        memset(&res[i], 0, sizeof res[i]);
        res[i].decision = "";
        res[i].old_status = res[i].new_status = -1;
    }
    rb_status s = rb_store_begin(st, err);
    int in_tx = s == RB_OK;
    for (size_t i = 0; s == RB_OK && i < n; i++) {
        if (done[i] || u[i]->status == RB_API_UNSUBSCRIBED) continue;
        size_t m = 0;
        for (size_t j = i; j < n; j++)
            if (!done[j] && u[j]->status != RB_API_UNSUBSCRIBED &&
                !strcmp(u[j]->provider_source, u[i]->provider_source)) {
                idx[m++] = j;
                done[j] = 1;
            }
        s = apply_part(st, ctx, u, idx, m, u[i]->provider_source, now, res, err);
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (u[i]->status == RB_API_UNSUBSCRIBED) idx[m++] = i;
    if (s == RB_OK && m) s = unsubscribe_part(st, u, idx, m, now, res, err);
    if (s == RB_OK) {
        s = rb_store_commit(st, err);
        in_tx = s != RB_OK;     /* a failed commit leaves the transaction to roll back */
    }
    if (in_tx) {
        rb_error e2;
        rb_store_rollback(st, &e2);
    }
    for (size_t i = 0; i < n; i++) res[i].ok = s == RB_OK;
    free(idx);
    free(done);
    return s;
}
