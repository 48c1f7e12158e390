/* backscatter.c -- the backscatter guard: may a bounce that arrived at the
 * catch-all change our contacts?  (rebound_guard.h describes the rule.)
 *
 * Evidence that a bounce is about mail we really sent: a signed return path
 * that verifies (only we hold the secret), or the original Message-ID in the
 * sends table together with the recipient (rebound maillog fills it from the
 * Postfix log).  A Message-ID alone is not enough: anyone on the list gets
 * one of ours in every newsletter and could name someone else's address in
 * a forged DSN; the pair (Message-ID, recipient) they cannot know.
 *
 * Without a secret and without --require-known-send the guard is lenient:
 * records without evidence are "unknown" and applied as before, because a
 * fresh install (no maillog run yet, no signed VERP) must keep working.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "rb_internal.h"
#include "rebound_guard.h"
#include "rebound_store.h"

const char *rb_guard_verdict_name(int v)
{
    switch (v) {
    case RB_GUARD_LEGITIMATE: return "legitimate";
    case RB_GUARD_BACKSCATTER: return "backscatter";
    default: return "unknown";
    }
}

int rb_guard_auth_sender(const char *msg, size_t len, char *out, size_t outlen)
{
    static const char phrase[] = "authenticated sender:";
    if (!msg || !outlen) return 0;
    const char *p = rb_strcasestrn(msg, len, phrase);
    if (!p) return 0;
    p += sizeof phrase - 1;
    const char *end = msg + len;
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    const char *b = p;
    while (p < end && (unsigned char)*p > ' ' && *p != ')' && *p != ';' && *p != ',') p++;
    if (p == b) return 0;
    size_t n = (size_t)(p - b);
    if (n >= outlen) n = outlen - 1;
    memcpy(out, b, n);
    out[n] = '\0';
    /* <x@y> as some servers write it */
    if (out[0] == '<') memmove(out, out + 1, strlen(out));
    size_t l = strlen(out);
    if (l && out[l - 1] == '>') out[l - 1] = '\0';
    return out[0] != '\0';
}

/* d is x or a subdomain of x (both lower case) */
static int domain_within(const char *d, const char *x)
{
    size_t dl = strlen(d), xl = strlen(x);
    if (!xl || dl < xl) return 0;
    if (dl == xl) return strcmp(d, x) == 0;
    return d[dl - xl - 1] == '.' && strcmp(d + dl - xl, x) == 0;
}

int rb_guard_domain_is_ours(const char *addr, const char *const *domains, size_t n)
{
    const char *at = addr ? strrchr(addr, '@') : NULL;
    if (!at || !strchr(at + 1, '.')) return 0;       /* no bare TLD */
    char d[RB_HOST_MAX];
    rb_strlcpy(d, at + 1, sizeof d);
    rb_lower(d);
    for (size_t i = 0; i < n; i++) {
        char x[RB_HOST_MAX];
        rb_strlcpy(x, domains[i] ? domains[i] : "", sizeof x);
        rb_lower(rb_trim(x));
        if (x[0] == '@') memmove(x, x + 1, strlen(x));
        if (!x[0]) continue;
        if (domain_within(d, x)) return 1;
        /* the parent, one label up: bounce.example.org -> example.org (not
         * further: bounce.example.co.uk must not make co.uk ours) */
        const char *dot = strchr(x, '.');
        if (dot && strchr(dot + 1, '.') && strcmp(dot + 1, d) == 0) return 1;
    }
    return 0;
}

static void set_reason(rb_guard_report *rep, int verdict, const char *why)
{
    /* the report keeps the first backscatter reason, else the first reason */
    if (!rep->reason[0] || (verdict == RB_GUARD_BACKSCATTER && !rep->n_backscatter))
        rb_strlcpy(rep->reason, why, sizeof rep->reason);
}

rb_status rb_guard_check(rb_store *st, const rb_guard_opts *o, const char *envelope_rcpt, const char *msg,
                         size_t len, rb_result *res, int *verdicts, rb_guard_report *rep, rb_error *err)
{
    static const rb_guard_opts defaults = {0};
    if (!o) o = &defaults;
    memset(rep, 0, sizeof *rep);
    int64_t now = o->now > 0 ? o->now : (int64_t)time(NULL);
    rep->strict = o->key != NULL || o->require_known_send;

    /* the envelope: a signed return path names one recipient */
    if (envelope_rcpt && *envelope_rcpt)
        rep->verp = rb_verp_verify(o->key, envelope_rcpt, now, o->max_age_days, rep->verp_recipient,
                                   sizeof rep->verp_recipient);
    int token_ok = rep->verp == RB_VERP_VALID;
    if (!o->key && rep->verp != RB_VERP_NOT_SIGNED) rep->verp = RB_VERP_NOT_SIGNED;  /* cannot tell */

    /* Authenticated sender: a spammer used one of our accounts */
    if (msg && rb_guard_auth_sender(msg, len, rep->auth_sender, sizeof rep->auth_sender)) {
        char envdom[RB_HOST_MAX] = "";
        const char *at = envelope_rcpt ? strrchr(envelope_rcpt, '@') : NULL;
        if (at) {
            rb_strlcpy(envdom, at + 1, sizeof envdom);
            size_t l = strlen(envdom);
            if (l && envdom[l - 1] == '>') envdom[l - 1] = '\0';
        }
        const char *envd[] = {envdom};
        rep->compromised = rb_guard_domain_is_ours(rep->auth_sender, o->our_domains, o->n_our_domains) ||
                           (envdom[0] && rb_guard_domain_is_ours(rep->auth_sender, envd, 1));
    }

    /* With a valid token: which record is about its recipient? */
    long about = -1;
    if (token_ok && res->n) {
        for (size_t i = 0; i < res->n && about < 0; i++) {
            char norm[RB_ADDR_MAX];
            if (rb_email_normalize(res->recs[i].recipient, norm, sizeof norm) &&
                strcmp(norm, rep->verp_recipient) == 0)
                about = (long)i;
        }
        if (about < 0) {
            /* a forwarding host names the address it forwarded to */
            about = 0;
            rb_strlcpy(res->recs[0].recipient, rep->verp_recipient, sizeof res->recs[0].recipient);
        }
    }

    for (size_t i = 0; i < res->n; i++) {
        rb_record *r = &res->recs[i];
        char norm[RB_ADDR_MAX], why[1200];   /* room for two addresses and a Message-ID */
        int v;
        int have_norm = rb_email_normalize(r->recipient, norm, sizeof norm);
        if (token_ok && (long)i == about) {
            v = RB_GUARD_LEGITIMATE;
            snprintf(why, sizeof why, "signed return path for %s", rep->verp_recipient);
        } else if (token_ok) {
            v = RB_GUARD_BACKSCATTER;
            snprintf(why, sizeof why, "names %s, but the signed return path was for %s", r->recipient,
                     rep->verp_recipient);
        } else {
            int known = 0, known_any = 0;
            if (st && r->original_message_id[0] && have_norm) {
                rb_status s = rb_store_send_known(st, r->original_message_id, norm, &known, err);
                if (s == RB_OK && !known && rep->strict)
                    s = rb_store_send_known(st, r->original_message_id, NULL, &known_any, err);
                if (s != RB_OK) return s;
            }
            if (known) {
                v = RB_GUARD_LEGITIMATE;
                snprintf(why, sizeof why, "Message-ID <%s> was sent to %s", r->original_message_id, norm);
            } else if (rep->strict) {
                v = RB_GUARD_BACKSCATTER;
                const char *tok = rep->verp == RB_VERP_FORGED    ? "a forged signed return path"
                                  : rep->verp == RB_VERP_EXPIRED ? "an expired signed return path"
                                  : o->key                      ? "no signed return path"
                                                                : "--require-known-send";
                if (!r->original_message_id[0])
                    snprintf(why, sizeof why, "%s and no original Message-ID", tok);
                else if (known_any)
                    snprintf(why, sizeof why, "%s; Message-ID <%s> is ours but was not sent to %s", tok,
                             r->original_message_id, have_norm ? norm : r->recipient);
                else
                    snprintf(why, sizeof why, "%s; Message-ID <%s> was never sent", tok, r->original_message_id);
            } else {
                v = RB_GUARD_UNKNOWN;
                snprintf(why, sizeof why, "lenient: no VERP secret configured and no known send");
            }
        }
        if (verdicts) verdicts[i] = v;
        set_reason(rep, v, why);
        if (v == RB_GUARD_LEGITIMATE) rep->n_legitimate++;
        else if (v == RB_GUARD_BACKSCATTER) rep->n_backscatter++;
        else rep->n_unknown++;
    }
    rep->verdict = rep->n_legitimate     ? RB_GUARD_LEGITIMATE
                   : rep->n_backscatter ? RB_GUARD_BACKSCATTER
                                        : RB_GUARD_UNKNOWN;
    return RB_OK;
}
