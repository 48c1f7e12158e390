/* classify.c -- the context (rules, policy, providers, loaded once) and
 * what it decides about a record: its reason by the rules, then its bounce
 * type and action by the policy.
 *
 * Everything that turns a record into a decision comes through here: the
 * message pipeline (analyze.c), imported records (apply.c), log lines
 * (maillog.c) and API updates (api.c).  None of it reads a message, so
 * none of those depends on the MIME module. */
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_internal.h"

#ifndef REBOUND_DATADIR
#define REBOUND_DATADIR "/usr/local/share/rebound"
#endif

const char *rb_default_datadir(void)
{
    return REBOUND_DATADIR;
}

static gpointer gmime_init_once(gpointer unused)
{
    (void)unused;
    g_mime_init();
    return NULL;
}

rb_status rb_ctx_new(const rb_ctx_opts *opts, rb_ctx **out, rb_error *err)
{
    static GOnce once = G_ONCE_INIT;
    g_once(&once, gmime_init_once, NULL);

    rb_ctx *c = calloc(1, sizeof *c);
    if (!c) return RB_ERR_NOMEM;
    char path[1024];
    const char *dd = opts && opts->datadir && *opts->datadir ? opts->datadir : rb_default_datadir();
    rb_status st;

    const char *p = opts && opts->rules_path ? opts->rules_path : (snprintf(path, sizeof path, "%s/rules.conf", dd), path);
    if ((st = rb_rules_load(p, &c->rules, err)) != RB_OK) goto fail;
    p = opts && opts->policy_path ? opts->policy_path : (snprintf(path, sizeof path, "%s/policy.conf", dd), path);
    if ((st = rb_policy_load(p, &c->policy, err)) != RB_OK) goto fail;
    p = opts && opts->providers_path ? opts->providers_path : (snprintf(path, sizeof path, "%s/providers.conf", dd), path);
    if ((st = rb_providers_load(p, &c->providers, err)) != RB_OK) goto fail;
    static const char *const charsets[] = {
        "ISO-8859-1", "ISO-8859-15", "WINDOWS-1252", "ISO-2022-JP", "SHIFT_JIS", "EUC-JP", "EUC-KR",
        "ISO-2022-KR", "GB2312", "GB18030", "BIG5", "KOI8-R", "WINDOWS-1251", "ISO-8859-2", "WINDOWS-1250",
        "UTF-16", "UTF-7",
    };
    for (size_t i = 0; i < sizeof charsets / sizeof charsets[0] && c->niconv_keep < 24; i++) {
        iconv_t cd = iconv_open("UTF-8", charsets[i]);
        if (cd != (iconv_t)-1) c->iconv_keep[c->niconv_keep++] = cd;
    }
    *out = c;
    return RB_OK;
fail:
    rb_ctx_free(c);
    return st;
}

void rb_ctx_free(rb_ctx *c)
{
    if (!c) return;
    rb_rules_free(c->rules);
    rb_policy_free(c->policy);
    rb_providers_free(c->providers);
    for (size_t i = 0; i < c->niconv_keep; i++) iconv_close((iconv_t)c->iconv_keep[i]);
    free(c);
}

int rb_policy_lookup(const rb_ctx *ctx, const char *reason, rb_policy_entry *out)
{
    const char *action = "";
    int named = 0;
    const char *type = rb_policy_lookup_known(ctx->policy, reason, &action, &named);
    rb_strlcpy(out->bounce_type, type, sizeof out->bounce_type);
    rb_strlcpy(out->action, action, sizeof out->action);
    return named;
}

/* Free-text bounces: no report, no vendor format; the words are all there is. */
static int plaintext_route(const char *decoded_by)
{
    return strcmp(decoded_by, "fallback") == 0 || strcmp(decoded_by, "verp") == 0;
}

/* At most soft, and counted rather than disabling. */
static void soften(rb_policy_entry *out)
{
    if (strcmp(out->bounce_type, "hard") == 0) rb_strlcpy(out->bounce_type, "soft", sizeof out->bounce_type);
    if (strcmp(out->action, "disable") == 0) rb_strlcpy(out->action, "count", sizeof out->action);
}

int rb_policy_for_record(const rb_ctx *ctx, const rb_record *r, rb_policy_entry *out)
{
    int named = rb_policy_lookup(ctx, r->reason, out);
    const rb_policy_settings *pst = rb_policy_settings_of(ctx->policy);
    int ev = rb_evidence_parse(r->evidence);   /* -1: not known (another tool's record) */
    /* a temporary failure (4.x.x, or a 4xx reply without a status) that
     * only the code speaks for is the remote server saying "try again": never
     * hard (4.2.2 mailbox full, 4.3.1 system full, 4.4.7 expired are soft).
     * Words that name a lasting cause in a final report ("Domain not found" after the queue
     * gave up) keep their type -- policy.conf temporary_is_soft */
    int temporary = r->status[0] == '4' || (!r->status[0] && r->reply_code[0] == '4');
    if (pst->temporary_is_soft && temporary && ev < RB_EV_PHRASE && strcmp(out->bounce_type, "hard") == 0) soften(out);
    /* weak evidence never disables: counted as a soft bounce instead
     * (policy.conf disable_min_evidence, and _plaintext for a free-text
     * bounce that names no code: no reply code, no status or only X.0.0) */
    if (strcmp(out->action, "disable") == 0 && ev >= 0 && strcmp(r->reason, "feedback") != 0) {
        int no_code = !r->reply_code[0] && (!r->status[0] || strcmp(r->status + 1, ".0.0") == 0);
        int min = plaintext_route(r->decoded_by) && no_code ? pst->disable_min_evidence_plaintext
                                                            : pst->disable_min_evidence;
        if (ev < min) soften(out);
    }
    if (strcmp(r->dsn_action, "delayed") == 0) {
        if (strcmp(out->bounce_type, "hard") == 0) rb_strlcpy(out->bounce_type, "soft", sizeof out->bounce_type);
        if (strcmp(out->action, "disable") == 0 || strcmp(out->action, "count") == 0)
            rb_strlcpy(out->action, "record", sizeof out->action);
    }
    /* a bounce of mail we never sent (backscatter) or sent through a hacked
     * account of ours (rebound_guard.h) says nothing about the recipient:
     * recorded only, never disabling, never counted */
    if (r->alert[0] && (strcmp(out->action, "disable") == 0 || strcmp(out->action, "count") == 0))
        rb_strlcpy(out->action, "record", sizeof out->action);
    return named;
}

const rb_policy_settings *rb_policy_get_settings(const rb_ctx *ctx)
{
    return rb_policy_settings_of(ctx->policy);
}

/* ---- classification -------------------------------------------------------- */
void rb_classify_reason(const rb_ctx *ctx, rb_record *r, const char *subject)
{
    rb_rule_hit h;
    if (rb_rules_match(ctx->rules, r, subject, &h)) {
        rb_strlcpy(r->reason, h.reason, sizeof r->reason);
        rb_strlcpy(r->evidence, rb_evidence_name(h.evidence), sizeof r->evidence);
        rb_rule_hit_where(&h, r->rule, sizeof r->rule);
    } else {
        rb_strlcpy(r->reason, "undefined", sizeof r->reason);
        rb_strlcpy(r->evidence, "none", sizeof r->evidence);
        r->rule[0] = '\0';
    }
}

size_t rb_explain(const rb_ctx *ctx, const rb_record *r, const char *subject, rb_rule_hit *hits, size_t max)
{
    return rb_rules_explain(ctx->rules, r, subject, hits, max);
}

void rb_classify_subject(const rb_ctx *ctx, rb_record *r, const char *subject)
{
    if (!r->reason[0]) rb_classify_reason(ctx, r, subject);
    rb_policy_entry pe;
    rb_policy_for_record(ctx, r, &pe);
    rb_strlcpy(r->bounce_type, pe.bounce_type, sizeof r->bounce_type);
    rb_strlcpy(r->action, pe.action, sizeof r->action);
}

void rb_classify(const rb_ctx *ctx, rb_record *r)
{
    rb_classify_subject(ctx, r, NULL);
}

