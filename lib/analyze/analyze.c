/* analyze.c -- from one raw message to classified records.
 *
 *   1. message.c reads the message into an rb_msg view;
 *   2. the format modules are tried in order (ARF, then the vendor tables,
 *      then RFC 3464, RFC 3834 and the free-text fallback); the first that
 *      finds recipients wins and names itself in decoded_by;
 *   3. every record is completed from the message (status from the text
 *      when the report has none, dates, original message, VERP, provider)
 *      and classified with the rules and the policy (classify.c).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"
#include "rb_internal.h"

/* ---- completing records ------------------------------------------------------ */
static void strip_angle(char *s)
{
    rb_trim(s);
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
        memmove(s, s + 1, n - 2);
        s[n - 2] = '\0';
    }
}

/* A status like 5.0.0 says less than a 5.1.1 in the diagnostic text. */
static void refine_status(rb_record *r)
{
    char st[RB_SHORT_MAX];
    int found = rb_find_status(r->diagnostic, st, sizeof st);
    if (!r->status[0]) {
        if (found) rb_strlcpy(r->status, st, sizeof r->status);
        return;
    }
    if (found && st[0] == r->status[0] && strncmp(r->status + 1, ".0.0", 4) == 0 && r->status[5] == '\0' &&
        strcmp(st + 1, ".0.0") != 0)
        rb_strlcpy(r->status, st, sizeof r->status);
}

/* The provider from the Received chain of the report itself, read from the
 * bottom (where it was written) up: the bottom field's "by" host, then the
 * "from" host of the first field that names a real host -- the provider's
 * outbound server that handed the report on.  Hosts further up are the
 * hops to us (our own mail host may well be at a big provider), never
 * looked at. */
static int received_provider(rb_msg *m, char *out, size_t outlen)
{
    int bottom = 1;
    for (size_t i = m->nhdrs; i-- > 0;) {
        const rb_hdr *h = &m->hdrs[i];
        if (h->nlen != 8 || strncasecmp(h->name, "Received", 8)) continue;
        char v[1024];
        rb_strlcpyn(v, h->val, h->vlen, sizeof v);
        for (char *c = v; *c; c++)
            if (*c == '\r' || *c == '\n' || *c == '\t') *c = ' ';
        const char *kw[2] = {"by ", "from "};
        for (int k = bottom ? 0 : 1; k < 2; k++) {
            const char *at = NULL;
            for (const char *q = v; (q = rb_strcasestrn(q, strlen(q), kw[k])); q++)
                if (q == v || q[-1] == ' ' || q[-1] == ';') { at = q; break; }
            if (!at) continue;
            at += strlen(kw[k]);
            while (*at == ' ') at++;
            char host[RB_HOST_MAX];
            size_t n = strcspn(at, " ;()[]");
            rb_strlcpyn(host, at, n, sizeof host);
            if (rb_providers_host(m->ctx->providers, host, out, outlen)) return 1;
            /* a real host name that is no provider's: the report came from
             * elsewhere; stop before the hops to us */
            if (k == 1 && strchr(host, '.') && strcasecmp(host, "localhost") && !isdigit((unsigned char)host[0]))
                return 0;
        }
        bottom = 0;
    }
    return 0;
}

/* provider and provider_source: the hosts of the report (Remote-MTA,
 * Reporting-MTA, its Received chain), else the recipient's domain. */
static void set_provider(rb_msg *m, rb_record *r)
{
    const rb_providers *pv = m->ctx->providers;
    r->provider_source[0] = '\0';
    if (rb_providers_host(pv, r->remote_mta, r->provider, sizeof r->provider) ||
        rb_providers_host(pv, r->reporting_mta, r->provider, sizeof r->provider) ||
        received_provider(m, r->provider, sizeof r->provider)) {
        rb_strlcpy(r->provider_source, "ndr", sizeof r->provider_source);
        return;
    }
    if (rb_providers_guess(pv, NULL, r->recipient, r->provider, sizeof r->provider) == RB_PSRC_DOMAIN)
        rb_strlcpy(r->provider_source, "domain", sizeof r->provider_source);
}

static void complete(rb_msg *m, rb_record *r, const char *source, const char *by)
{
    rb_strlcpy(r->source, source, sizeof r->source);
    if (!r->decoded_by[0]) rb_strlcpy(r->decoded_by, by, sizeof r->decoded_by);
    rb_squeeze(r->diagnostic);
    rb_squeeze(r->remote_mta);
    rb_squeeze(r->reporting_mta);
    refine_status(r);
    if (!r->reply_code[0]) rb_find_reply(r->diagnostic, r->reply_code, sizeof r->reply_code);
    if (!r->smtp_command[0]) rb_find_command(r->diagnostic, r->smtp_command, sizeof r->smtp_command);

    /* the date of the event: the report's own date, or the bounce's Date: */
    if (!r->date[0]) rb_time_rfc5322_to_iso(m->date, r->date, sizeof r->date);

    /* the original message */
    const char *v;
    if (!r->addresser[0]) {
        char a[RB_ADDR_MAX] = "";
        if (((v = rb_msg_orig_header(m, "Return-Path")) && rb_find_address(v, a, sizeof a)) ||
            ((v = rb_msg_orig_header(m, "From")) && rb_find_address(v, a, sizeof a)) ||
            (m->to && rb_find_address(m->to, a, sizeof a)))
            if (rb_clean_address(a)) rb_strlcpy(r->addresser, a, sizeof r->addresser);
    }
    if (!r->original_message_id[0] && (v = rb_msg_orig_header(m, "Message-ID"))) {
        rb_strlcpy(r->original_message_id, v, sizeof r->original_message_id);
        strip_angle(r->original_message_id);
    }
    if (!r->original_subject[0] && (v = rb_msg_orig_header(m, "Subject")))
        rb_strlcpy(r->original_subject, v, sizeof r->original_subject);

    /* a 2.x.x status or a delivered action is a success report */
    if (!r->reason[0] && (r->status[0] == '2' || strcmp(r->dsn_action, "delivered") == 0 ||
                          strcmp(r->dsn_action, "relayed") == 0 || strcmp(r->dsn_action, "expanded") == 0)) {
        rb_strlcpy(r->reason, "delivered", sizeof r->reason);
        rb_strlcpy(r->evidence, "status", sizeof r->evidence);
        rb_strlcpy(r->rule, r->status[0] == '2' ? "status:2.x.x" : "dsn:action", sizeof r->rule);
    }
    /* a reason the format module read from a structured field (an ARF
     * Feedback-Type, an auto-reply, a vendor's own code) */
    if (r->reason[0] && !r->evidence[0]) {
        rb_strlcpy(r->evidence, "vendor", sizeof r->evidence);
        snprintf(r->rule, sizeof r->rule, "module:%s", r->decoded_by);
    }

    rb_classify_subject(m->ctx, r, m->subject);
    /* A report that is still retrying says nothing more precise: the
     * message is delayed, and will expire. */
    if (strcmp(r->dsn_action, "delayed") == 0 && (!strcmp(r->reason, "onhold") || !strcmp(r->reason, "undefined"))) {
        rb_strlcpy(r->reason, "expired", sizeof r->reason);
        rb_strlcpy(r->evidence, "class", sizeof r->evidence);
        rb_strlcpy(r->rule, "dsn:delayed", sizeof r->rule);
        rb_classify_subject(m->ctx, r, m->subject);
    }

    /* No status in the report nor the text: say at least the class (RFC
     * 3463 X.0.0, "other or undefined"), from the reply code or the action. */
    if (!r->status[0]) {
        char cls = 0;
        if (r->reply_code[0] == '5' || r->reply_code[0] == '4' || r->reply_code[0] == '2') cls = r->reply_code[0];
        else if (strcmp(r->dsn_action, "delayed") == 0) cls = '4';
        else if (strcmp(r->dsn_action, "failed") == 0 &&
                 (strcmp(r->reason, "onhold") == 0 || strcmp(r->reason, "undefined") == 0))
            cls = '5';   /* no reason known: "failed" (no more attempts) is all there is */
        else if (strcmp(r->reason, "delivered") == 0) cls = '2';
        else if (strcmp(r->reason, "feedback") && strcmp(r->reason, "vacation")) {
            const char *t = r->bounce_type;
            cls = strcmp(t, "soft") == 0 ? '4' : '5';
        }
        if (cls) { r->status[0] = cls; rb_strlcpy(r->status + 1, ".0.0", sizeof r->status - 1); }
    }
    set_provider(m, r);
}

/* The recipient a VERP return path names, from the bounce's envelope. */
static int verp_recipient(rb_msg *m, char *out, size_t outlen)
{
    static const char *const hdrs[] = {"X-Original-To", "Delivered-To", "To", "Envelope-To"};
    for (size_t i = 0; i < sizeof hdrs / sizeof hdrs[0]; i++) {
        const char *v = rb_msg_header(m, hdrs[i]);
        if (v && rb_verp_decode(v, out, outlen)) return 1;
    }
    return 0;
}

/* A bounce that names no recipient at all ("your message could not be
 * delivered"), sent to a VERP return path: the path names the recipient. */
static int verp_only(rb_msg *m, rb_result *res)
{
    char addr[RB_ADDR_MAX];
    if (!rb_msg_looks_like_bounce(m) || !verp_recipient(m, addr, sizeof addr)) return 0;
    rb_record *r = rb_result_add(res);
    if (!r) return 0;
    rb_strlcpy(r->recipient, addr, sizeof r->recipient);
    /* the diagnostic: the first line that carries an SMTP or DSN code, else
     * the first "reason: ..." / "error: ..." line */
    size_t pos = 0;
    const char *line;
    size_t ll;
    char labelled[RB_TEXT_MAX] = "";
    while (m->body && rb_next_line(m->body, m->body_len, &pos, &line, &ll)) {
        char buf[RB_TEXT_MAX], code[16];
        rb_strlcpyn(buf, line, ll, sizeof buf);
        if (rb_find_reply(buf, code, sizeof code) || rb_find_status(buf, code, sizeof code)) {
            rb_strlcpy(r->diagnostic, buf, sizeof r->diagnostic);
            break;
        }
        const char *colon = strchr(buf, ':');
        if (!labelled[0] && colon && colon - buf < 40 && colon[1] &&
            (rb_strcasestrn(buf, (size_t)(colon - buf), "reason") || rb_strcasestrn(buf, (size_t)(colon - buf), "error")))
            rb_strlcpy(labelled, colon + 1, sizeof labelled);
    }
    if (!r->diagnostic[0]) rb_strlcpy(r->diagnostic, labelled, sizeof r->diagnostic);
    return 1;
}

static int run_module(rb_msg *m, rb_result *res, rb_lhost_fn fn)
{
    size_t before = res->n;
    int n = fn(m, res);
    if (n <= 0) {
        res->n = before;   /* a module that says no leaves nothing behind */
        return 0;
    }
    return n;
}

/* Fold U+2018 / U+2019 (as UTF-8 E2 80 98/99) to an ASCII apostrophe while
 * comparing, case-insensitively for ASCII. */
static size_t fold_at(const char *s, size_t len, size_t i, char *c)
{
    if (i + 2 < len && (unsigned char)s[i] == 0xE2 && (unsigned char)s[i + 1] == 0x80 &&
        ((unsigned char)s[i + 2] == 0x98 || (unsigned char)s[i + 2] == 0x99)) {
        *c = '\'';
        return 3;
    }
    *c = (char)tolower((unsigned char)s[i]);
    return 1;
}

int rb_text_contains(const char *hay, size_t len, const char *needle)
{
    size_t nl = strlen(needle);
    if (!nl) return 1;
    if (!hay) return 0;
    for (size_t i = 0; i < len; i++) {
        size_t h = i, n = 0;
        while (n < nl && h < len) {
            char a, b;
            size_t ha = fold_at(hay, len, h, &a);
            size_t nb = fold_at(needle, nl, n, &b);
            if (a != b) break;
            h += ha;
            n += nb;
        }
        if (n >= nl) return 1;
    }
    return 0;
}

static int passes_filters(rb_msg *m, const rb_analyze_opts *o)
{
    if (!o) return 1;
    if (o->nsubject) {
        int ok = 0;
        for (size_t i = 0; i < o->nsubject && !ok; i++)
            ok = rb_text_contains(m->subject, strlen(m->subject), o->subject_contains[i]);
        if (!ok) return 0;
    }
    if (o->nbody) {
        int ok = 0;
        size_t hl;
        const char *html = rb_msg_html(m, &hl);
        for (size_t i = 0; i < o->nbody && !ok; i++)
            ok = rb_text_contains(m->body, m->body_len, o->body_contains[i]) ||
                 rb_text_contains(html, hl, o->body_contains[i]);
        if (!ok) return 0;
    }
    return 1;
}

rb_status rb_analyze_message(const rb_ctx *ctx, const char *data, size_t len, const char *source,
                             const rb_analyze_opts *opts, rb_result *res, rb_error *err)
{
    rb_result_clear(res);
    /* An mbox postmark ("From sender date") before the headers is not a
     * header: saved .eml files and nested mboxes carry one; skip them. */
    while (len >= 5 && memcmp(data, "From ", 5) == 0) {
        const char *nl = memchr(data, '\n', len);
        if (!nl) break;
        len -= (size_t)(nl + 1 - data);
        data = nl + 1;
    }
    /* A message needs at least one header line. */
    size_t i = 0;
    while (i < len && (data[i] == '\n' || data[i] == '\r' || data[i] == ' ' || data[i] == '\t')) i++;
    size_t j = i;
    while (j < len && j - i < 1000 && data[j] != ':' && data[j] != '\n' && data[j] != '\r' &&
           (unsigned char)data[j] > 32 && (unsigned char)data[j] < 127)
        j++;
    if (len == 0) {
        rb_seterr(err, "%s: empty input (0 bytes), no message", source);
        return RB_ERR_EMPTY;
    }
    if (j >= len || data[j] != ':' || j == i) {
        rb_seterr(err, "%s: not a mail message (%zu bytes; no header field at byte %zu)", source, len, j < len ? j : len);
        return RB_ERR_PARSE;
    }

    rb_msg m;
    rb_status st = rb_msg_open(&m, ctx, data, len, err);
    if (st != RB_OK) {
        char tmp[sizeof err->msg];
        rb_strlcpy(tmp, err->msg, sizeof tmp);
        rb_seterr(err, "%s: %s", source, tmp);
        rb_msg_close(&m);
        return st;
    }

    rb_strlcpy(res->subject, m.subject ? m.subject : "", sizeof res->subject);
    if (!passes_filters(&m, opts)) {
        res->filtered = 1;
        rb_strlcpy(res->note, "left out by --subject-contains / --body-contains", sizeof res->note);
        rb_msg_close(&m);
        return RB_OK;
    }

    const char *by = NULL;
    int n = 0;
    if ((n = run_module(&m, res, rb_parse_arf))) by = "arf";
    const rb_lhost *tables[] = {rb_lhost_mta, rb_lhost_cloud, rb_lhost_misc};
    for (size_t t = 0; !n && t < sizeof tables / sizeof tables[0]; t++)
        for (const rb_lhost *l = tables[t]; !n && l->name; l++)
            if ((n = run_module(&m, res, l->parse))) by = l->name;
    if (!n && (n = run_module(&m, res, rb_parse_rfc3464))) by = "rfc3464";
    if (!n && (n = run_module(&m, res, rb_parse_rfc3834))) by = "rfc3834";
    if (!n && (n = run_module(&m, res, rb_parse_fallback))) by = "fallback";
    if (!n && (n = run_module(&m, res, verp_only))) by = "verp";

    if (n) {
        /* one record per recipient: drop records without an address, and
         * repeats (keep the first, which is in report order) */
        size_t w = 0;
        char verp[RB_ADDR_MAX];
        int have_verp = -1;
        for (size_t k = 0; k < res->n; k++) {
            rb_record *r = &res->recs[k];
            if (!rb_clean_address(r->recipient)) {
                if (have_verp < 0) have_verp = verp_recipient(&m, verp, sizeof verp);
                if (!have_verp) {
                    if (r->recipient[0])
                        rb_result_warn(res, "recipient \"%.120s\" is not a usable address: left out", r->recipient);
                    continue;
                }
                rb_strlcpy(r->recipient, verp, sizeof r->recipient);
            }
            int dup = 0;
            for (size_t q = 0; q < w; q++)
                if (strcasecmp(res->recs[q].recipient, r->recipient) == 0) { dup = 1; break; }
            if (dup) continue;
            if (w != k) res->recs[w] = *r;
            w++;
        }
        res->n = w;
        for (size_t k = 0; k < res->n; k++) complete(&m, &res->recs[k], source, by);
        res->is_bounce = res->n > 0;
    }
    if (!res->is_bounce) {
        res->n = 0;
        rb_strlcpy(res->note, "not a bounce: no format module recognised it", sizeof res->note);
    }
    rb_msg_close(&m);
    return RB_OK;
}
