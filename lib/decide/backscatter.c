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

/* The value after `phrase` (which ends in ':') at p, into out. */
static int auth_value(const char *msg, size_t len, const char *p, char *out, size_t outlen)
{
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

int rb_guard_auth_sender(const char *msg, size_t len, char *out, size_t outlen)
{
    static const char phrase[] = "authenticated sender:";
    if (!msg || !outlen) return 0;
    /* every form below contains "authenticated": one scan rules out most mail */
    if (!rb_strcasestrn(msg, len, "authenticated")) { out[0] = '\0'; return 0; }
    const char *p = rb_strcasestrn(msg, len, phrase);
    if (p && auth_value(msg, len, p + sizeof phrase - 1, out, outlen)) return 1;
    /* the headers other servers add (Exim, Plesk, cPanel, ...): only an
     * address will do (a bare user name names no account we can check) */
    static const char *const hdrs[] = {"x-authenticated-sender:", "x-authenticated-user:"};
    for (size_t h = 0; h < sizeof hdrs / sizeof hdrs[0]; h++) {
        const char *q = msg, *end = msg + len;
        while ((p = rb_strcasestrn(q, (size_t)(end - q), hdrs[h]))) {
            q = p + strlen(hdrs[h]);
            if (p != msg && p[-1] != '\n') continue;                /* a header starts a line */
            /* the first word with an '@' ("host.example: user@example.org" as cPanel writes it) */
            const char *eol = memchr(q, '\n', (size_t)(end - q));
            if (!eol) eol = end;
            for (const char *w = q; w < eol;) {
                while (w < eol && (*w == ' ' || *w == '\t')) w++;
                if (w >= eol) break;
                if (auth_value(msg, (size_t)(eol - msg), w, out, outlen) && strchr(out, '@')) return 1;
                while (w < eol && *w != ' ' && *w != '\t') w++;
            }
        }
    }
    out[0] = '\0';
    return 0;
}

/* A Received: header of the returned message (below the bounce's own
 * header: the bounce's own Received: lines are our MX taking it in) that
 * says it was submitted with authentication: "by HOST ... with ESMTPA" or
 * ESMTPSA, LMTPA, ... (RFC 3848: the A).  HOST into out. */
int rb_guard_auth_submission(const char *msg, size_t len, char *out, size_t outlen)
{
    size_t i = 0;
    /* past the bounce's own header */
    for (;;) {
        const char *eol = memchr(msg + i, '\n', len - i);
        if (!eol) return 0;
        size_t ll = (size_t)(eol - (msg + i));
        i += ll + 1;
        if (ll == 0 || (ll == 1 && msg[i - 2] == '\r')) break;
    }
    while (i < len) {
        /* the next line that starts with "received:" (every line from i on
         * starts after a '\n'): found by one search, not line by line */
        const char *line = rb_strcasestrn(msg + i, len - i, "received:");
        if (!line) break;
        if (line[-1] != '\n') {   /* inside a line (i >= 1: past the header): go on after it */
            i = (size_t)(line - msg) + 9;
            continue;
        }
        i = (size_t)(line - msg);
        const char *eol = memchr(line, '\n', len - i);
        size_t ll = eol ? (size_t)(eol - line) : len - i;
        i += ll + 1;
        /* the whole field: continuation lines start with white space */
        char f[2048];
        size_t fl = 0;
        rb_strlcpyn(f, line + 9, ll - 9, sizeof f);
        fl = strlen(f);
        while (i < len && (msg[i] == ' ' || msg[i] == '\t') && fl < sizeof f - 2) {
            const char *c = msg + i;
            const char *ce = memchr(c, '\n', len - i);
            size_t cl = ce ? (size_t)(ce - c) : len - i;
            i += cl + 1;
            f[fl++] = ' ';
            rb_strlcpyn(f + fl, c, cl, sizeof f - fl);
            fl = strlen(f);
        }
        for (char *q = f; *q; q++)
            if (*q == '\t' || *q == '\r') *q = ' ';
        const char *by = rb_strcasestrn(f, fl, " by ");
        const char *with = by ? rb_strcasestrn(by, fl - (size_t)(by - f), " with ") : NULL;
        if (!by || !with) continue;
        const char *h = by + 4, *p = with + 6;
        while (*h == ' ') h++;
        while (*p == ' ') p++;
        size_t hl = strcspn(h, " ;()"), pl = strcspn(p, " ;()");
        if (!hl || pl < 5 || (p[pl - 1] != 'A' && p[pl - 1] != 'a')) continue;
        if (strncasecmp(p, "ESMTP", 5) && strncasecmp(p, "LMTP", 4) && strncasecmp(p, "UTF8SMTP", 8) &&
            strncasecmp(p, "UTF8LMTP", 8))
            continue;
        rb_strlcpyn(out, h, hl, outlen);
        return 1;
    }
    return 0;
}

/* The first X-Original-To: / Delivered-To: of the message's own header
 * (the envelope recipient a local delivery records). */
static int envelope_from_header(const char *msg, size_t len, char *out, size_t outlen)
{
    /* one walk of the header: the first usable X-Original-To: wins, else
     * the first usable Delivered-To: (remembered until the end) */
    static const char xot[] = "x-original-to:", dlt[] = "delivered-to:";
    const char *dt = NULL;
    size_t dtl = 0;
    for (size_t i = 0; i < len;) {
        const char *line = msg + i;
        const char *eol = memchr(line, '\n', len - i);
        size_t ll = eol ? (size_t)(eol - line) : len - i;
        if (ll == 0 || (ll == 1 && line[0] == '\r')) break;     /* the end of the header */
        unsigned char c0 = (unsigned char)(line[0] | 0x20);
        size_t nl = 0;
        int k = -1;
        if (c0 == 'x' && ll > sizeof xot - 1 && strncasecmp(line, xot, sizeof xot - 1) == 0) k = 0, nl = sizeof xot - 1;
        else if (c0 == 'd' && !dt && ll > sizeof dlt - 1 && strncasecmp(line, dlt, sizeof dlt - 1) == 0)
            k = 1, nl = sizeof dlt - 1;
        if (k >= 0) {
            size_t b = nl;
            while (b < ll && (line[b] == ' ' || line[b] == '\t')) b++;
            size_t e = ll;
            while (e > b && (line[e - 1] == '\r' || line[e - 1] == ' ')) e--;
            if (e > b && e - b < outlen) {
                if (k == 0) {
                    memcpy(out, line + b, e - b);
                    out[e - b] = '\0';
                    return 1;
                }
                dt = line + b;
                dtl = e - b;
            }
        }
        i += ll + 1;
    }
    if (!dt) return 0;
    memcpy(out, dt, dtl);
    out[dtl] = '\0';
    return 1;
}

/* rb_guard_domain_is_ours: in lib/base/email.c (rebound maillog uses it too,
 * and analyse may not call up into decide). */

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

    /* the envelope: a signed return path names one recipient (no envelope
     * given: the one the delivery wrote into the header) */
    char env_hdr[RB_ADDR_MAX];
    if ((!envelope_rcpt || !*envelope_rcpt) && msg &&
        envelope_from_header(msg, len, env_hdr, sizeof env_hdr))
        envelope_rcpt = env_hdr;
    if (envelope_rcpt && *envelope_rcpt)
        rep->verp = rb_verp_verify(o->key, envelope_rcpt, now, o->max_age_days, rep->verp_recipient,
                                   sizeof rep->verp_recipient);
    int token_ok = rep->verp == RB_VERP_VALID;
    if (!o->key && rep->verp != RB_VERP_NOT_SIGNED) rep->verp = RB_VERP_NOT_SIGNED;  /* cannot tell */

    /* our domains: those given, and the envelope recipient's (and its parent) */
    char envdom[RB_HOST_MAX] = "";
    const char *at = envelope_rcpt ? strrchr(envelope_rcpt, '@') : NULL;
    if (at) {
        rb_strlcpy(envdom, at + 1, sizeof envdom);
        size_t l = strlen(envdom);
        if (l && envdom[l - 1] == '>') envdom[l - 1] = '\0';
    }
    const char *envd[] = {envdom};
#define OURS(addr) (rb_guard_domain_is_ours((addr), o->our_domains, o->n_our_domains) || \
                    (envdom[0] && rb_guard_domain_is_ours((addr), envd, 1)))

    /* Authenticated sender: a spammer used one of our accounts */
    if (msg && rb_guard_auth_sender(msg, len, rep->auth_sender, sizeof rep->auth_sender)) {
        rep->compromised = OURS(rep->auth_sender);
        if (rep->compromised) rb_strlcpy(rep->account, rep->auth_sender, sizeof rep->account);
    }
    /* ... or submitted, authenticated, to one of our own servers (Postfix
     * writes the account only with smtpd_sasl_authenticated_header=yes) */
    char sub_host[RB_HOST_MAX] = "";
    int via_ours = 0;
    if (msg && !rep->compromised && (o->n_our_domains || envdom[0]) &&
        rb_guard_auth_submission(msg, len, sub_host, sizeof sub_host)) {
        char probe[RB_HOST_MAX + 2];
        snprintf(probe, sizeof probe, "x@%s", sub_host);
        via_ours = OURS(probe);
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
                if (s == RB_OK && !known && (rep->strict || o->sends_known))
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
            } else if (o->sends_known && st && r->original_message_id[0] && have_norm) {
                /* lenient, but the sends table holds what we send: a
                 * Message-ID not sent to this recipient is evidence */
                v = RB_GUARD_BACKSCATTER;
                if (known_any)
                    snprintf(why, sizeof why, "Message-ID <%s> is ours but was not sent to %s", r->original_message_id,
                             norm);
                else
                    snprintf(why, sizeof why, "Message-ID <%s> was never sent", r->original_message_id);
            } else {
                v = RB_GUARD_UNKNOWN;
                snprintf(why, sizeof why, "lenient: no VERP secret configured and no known send");
            }
        }
        if (verdicts) verdicts[i] = v;
        /* the alert: a hacked account of ours, else mail we never sent */
        if (rep->compromised && v != RB_GUARD_LEGITIMATE) {
            rb_strlcpy(r->alert, "compromised_account", sizeof r->alert);
            rb_strlcpy(r->account, rep->account, sizeof r->account);
            rep->n_alert_compromised++;
        } else if (via_ours && v == RB_GUARD_BACKSCATTER && r->addresser[0] && OURS(r->addresser)) {
            /* our domain as the sender of mail we never sent, and it went
             * out through our own authenticated submission: an account */
            rb_strlcpy(r->alert, "compromised_account", sizeof r->alert);
            if (!rep->account[0]) rb_strlcpy(rep->account, r->addresser, sizeof rep->account);
            rb_strlcpy(r->account, r->addresser, sizeof r->account);
            rep->n_alert_compromised++;
        } else if (v == RB_GUARD_BACKSCATTER) {
            rb_strlcpy(r->alert, "backscatter", sizeof r->alert);
            rep->n_alert_backscatter++;
        }   /* else: an alert the record has already (read back from JSONL) stays */
        set_reason(rep, v, why);
        if (v == RB_GUARD_LEGITIMATE) rep->n_legitimate++;
        else if (v == RB_GUARD_BACKSCATTER) rep->n_backscatter++;
        else rep->n_unknown++;
    }
#undef OURS
    rep->verdict = rep->n_legitimate     ? RB_GUARD_LEGITIMATE
                   : rep->n_backscatter ? RB_GUARD_BACKSCATTER
                                        : RB_GUARD_UNKNOWN;
    return RB_OK;
}

rb_status rb_guard_mark(const rb_ctx *ctx, rb_store *st, const rb_guard_opts *o, const char *envelope_rcpt,
                        const char *msg, size_t len, rb_result *res, rb_guard_report *rep, rb_error *err)
{
    rb_status s = rb_guard_check(st, o, envelope_rcpt, msg, len, res, NULL, rep, err);
    if (s != RB_OK) return s;
    for (size_t i = 0; i < res->n; i++)
        if (res->recs[i].alert[0]) rb_classify(ctx, &res->recs[i]);
    return RB_OK;
}
