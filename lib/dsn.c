/* dsn.c -- the standard formats: RFC 3464 delivery status notifications,
 * RFC 5965 ARF feedback reports, RFC 3834 auto-replies, and a last-resort
 * free-text scan for bounces that follow no format at all. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "rb_internal.h"

/* "rfc822; user@example.com" -> value after the type; "dns; mx.example" -> mx.example */
static const char *after_type(const char *v)
{
    const char *semi = strchr(v, ';');
    if (semi) {
        /* only if the part before ';' is a single word (the address type) */
        int word = 1;
        for (const char *p = v; p < semi; p++)
            if (isspace((unsigned char)*p) && p != v && p[1] != ';' && !isspace((unsigned char)p[1])) { word = 0; break; }
        if (word) v = semi + 1;
    }
    while (*v == ' ' || *v == '\t') v++;
    return v;
}

int rb_record_from_dsfields(const rb_fields *g, const rb_fields *msgf, rb_record *r)
{
    const char *v;
    char addr[RB_ADDR_MAX];
    int have = 0;
    static const char *const rcpt_fields[] = {"Final-Recipient", "X-Actual-Recipient", "Original-Recipient"};
    for (size_t i = 0; i < sizeof rcpt_fields / sizeof rcpt_fields[0] && !have; i++) {
        if ((v = rb_fields_get(g, rcpt_fields[i]))) {
            rb_strlcpy(addr, after_type(v), sizeof addr);
            if (rb_clean_address(addr)) {
                rb_strlcpy(r->recipient, addr, sizeof r->recipient);
                have = 1;
            }
        }
    }
    if ((v = rb_fields_get(g, "Status"))) {
        char st[RB_SHORT_MAX];
        if (rb_find_status(v, st, sizeof st)) rb_strlcpy(r->status, st, sizeof r->status);
    }
    if ((v = rb_fields_get(g, "Diagnostic-Code"))) {
        const char *d = v;
        /* "smtp; 550 5.1.1 ..." / "X-Postfix; ..." */
        const char *semi = strchr(d, ';');
        if (semi && semi - d < 16) {
            int word = 1;
            for (const char *p = d; p < semi; p++) if (isspace((unsigned char)*p)) { word = 0; break; }
            if (word) d = semi + 1;
        }
        while (*d == ' ') d++;
        rb_strlcpy(r->diagnostic, d, sizeof r->diagnostic);
    }
    if (!r->diagnostic[0] && (v = rb_fields_get(g, "Status"))) {
        /* "Status: 5.0.0 (host name lookup failure)": the comment is all the text there is */
        const char *o = strchr(v, '('), *c = o ? strrchr(o, ')') : NULL;
        if (o && c && c > o + 1) rb_strlcpyn(r->diagnostic, o + 1, (size_t)(c - o - 1), sizeof r->diagnostic);
    }
    if ((v = rb_fields_get(g, "Remote-MTA"))) rb_strlcpy(r->remote_mta, after_type(v), sizeof r->remote_mta);
    if ((v = rb_fields_get(g, "Action"))) {
        rb_strlcpy(r->dsn_action, v, sizeof r->dsn_action);
        rb_lower(r->dsn_action);
        char *sp = strpbrk(r->dsn_action, " ;(");
        if (sp) *sp = '\0';
    }
    if ((v = rb_fields_get(g, "Last-Attempt-Date")) || (v = rb_fields_get(msgf, "Arrival-Date")) ||
        (v = rb_fields_get(g, "Arrival-Date")))
        rb_date_to_iso(v, r->date, sizeof r->date);
    if ((v = rb_fields_get(msgf, "Reporting-MTA")) || (v = rb_fields_get(g, "Reporting-MTA")))
        rb_strlcpy(r->reporting_mta, after_type(v), sizeof r->reporting_mta);
    return have;
}

/* Locate RFC 3464 fields written into the text body (no delivery-status part). */
static size_t inline_groups(rb_msg *m, rb_fields **groups)
{
    const char *b = m->body;
    if (!b) return 0;
    const char *hit = NULL;
    static const char *const starts[] = {"\nReporting-MTA:", "\nFinal-Recipient:", "\nOriginal-Recipient:"};
    for (size_t i = 0; i < 3; i++) {
        const char *h = rb_strcasestrn(b, m->body_len, starts[i]);
        if (h && (!hit || h < hit)) hit = h;
    }
    if (!hit) return 0;
    hit++;
    return rb_parse_field_groups(hit, m->body_len - (size_t)(hit - b), groups);
}

static int is_per_message(const rb_fields *g)
{
    return !rb_fields_get(g, "Final-Recipient") && !rb_fields_get(g, "Original-Recipient") &&
           !rb_fields_get(g, "X-Actual-Recipient");
}

int rb_parse_rfc3464(rb_msg *m, rb_result *res)
{
    rb_fields *groups = m->ds;
    size_t ng = m->nds;
    rb_fields *own = NULL;
    if (!ng) {
        ng = inline_groups(m, &own);
        groups = own;
    }
    if (!ng) return 0;
    const rb_fields *msgf = NULL;
    for (size_t i = 0; i < ng; i++) if (is_per_message(&groups[i])) { msgf = &groups[i]; break; }
    int n = 0;
    for (size_t i = 0; i < ng; i++) {
        if (is_per_message(&groups[i])) continue;
        rb_record tmp;
        memset(&tmp, 0, sizeof tmp);
        if (!rb_record_from_dsfields(&groups[i], msgf, &tmp)) continue;
        rb_record *r = rb_result_add(res);
        if (!r) break;
        *r = tmp;
        n++;
    }
    if (own) {
        for (size_t i = 0; i < ng; i++) rb_fields_free(&own[i]);
        free(own);
    }
    return n;
}

/* ---- RFC 5965 ARF -------------------------------------------------------- */
int rb_parse_arf(rb_msg *m, rb_result *res)
{
    if (!m->nfb && strcmp(m->report_type, "feedback-report") != 0) return 0;
    const rb_fields *f = m->nfb ? &m->fb[0] : NULL;
    const char *ftype = f ? rb_fields_get(f, "Feedback-Type") : NULL;
    char type[RB_SHORT_MAX] = "abuse";
    if (ftype) { rb_strlcpy(type, ftype, sizeof type); rb_lower(type); rb_trim(type); }
    const char *agent = f ? rb_fields_get(f, "Reporting-MTA") : NULL;
    const char *date = f ? rb_fields_get(f, "Arrival-Date") : NULL;
    if (!date && f) date = rb_fields_get(f, "Received-Date");

    int n = 0;
    /* every Original-Rcpt-To / Removal-Recipient line is one recipient */
    if (f) {
        for (size_t i = 0; i < f->n; i++) {
            if (strcasecmp(f->v[i].name, "Original-Rcpt-To") && strcasecmp(f->v[i].name, "Removal-Recipient"))
                continue;
            char addr[RB_ADDR_MAX];
            rb_strlcpy(addr, f->v[i].value, sizeof addr);
            if (!rb_clean_address(addr)) continue;
            int dup = 0;
            for (size_t k = 0; k < res->n; k++) if (strcasecmp(res->recs[k].recipient, addr) == 0) dup = 1;
            if (dup) continue;
            rb_record *r = rb_result_add(res);
            if (!r) break;
            rb_strlcpy(r->recipient, addr, sizeof r->recipient);
            n++;
        }
    }
    if (!n) {
        /* the complaint is about the message sent to the original To: */
        const char *to = rb_msg_orig_header(m, "To");
        char addr[RB_ADDR_MAX];
        if (to && rb_find_address(to, addr, sizeof addr) && rb_clean_address(addr)) {
            rb_record *r = rb_result_add(res);
            if (r) { rb_strlcpy(r->recipient, addr, sizeof r->recipient); n++; }
        }
    }
    for (size_t i = res->n - (size_t)n; i < res->n; i++) {
        rb_record *r = &res->recs[i];
        rb_strlcpy(r->reason, "feedback", sizeof r->reason);
        rb_strlcpy(r->feedback_type, type, sizeof r->feedback_type);
        if (agent) rb_strlcpy(r->reporting_mta, agent, sizeof r->reporting_mta);
        if (date) rb_date_to_iso(date, r->date, sizeof r->date);
        /* The diagnostic of a complaint is the report's human-readable part. */
        if (m->body) {
            rb_strlcpyn(r->diagnostic, m->body, m->body_len, sizeof r->diagnostic);
            rb_squeeze(r->diagnostic);
        }
    }
    return n;
}

/* ---- RFC 3834 auto-replies --------------------------------------------- */
int rb_parse_rfc3834(rb_msg *m, rb_result *res)
{
    const char *as = rb_msg_header(m, "Auto-Submitted");
    int auto_reply = as && rb_strcaseprefix(as, "auto-replied");
    const char *xa = rb_msg_header(m, "X-Autoreply");
    const char *xar = rb_msg_header(m, "X-Autorespond");
    const char *prec = rb_msg_header(m, "Precedence");
    if (xa || xar || (prec && rb_strcaseprefix(prec, "auto_reply"))) auto_reply = 1;
    if (!auto_reply) {
        static const char *const subj[] = {
            "auto:", "auto response", "automatic reply", "autoreply", "auto-reply", "out of office",
            "out of the office", "vacation", "abwesenheitsnotiz", "absence", "réponse automatique",
            "automatisch antwoord", "respuesta automática", "risposta automatica",
        };
        for (size_t i = 0; i < sizeof subj / sizeof subj[0]; i++)
            if (rb_strcasestr(m->subject, subj[i])) { auto_reply = 1; break; }
    }
    if (!auto_reply) return 0;
    /* A delivery report is never a vacation message. */
    if (m->nds || rb_msg_header(m, "X-Failed-Recipients")) return 0;
    char addr[RB_ADDR_MAX];
    const char *src = m->from;
    if (!src || !rb_find_address(src, addr, sizeof addr) || !rb_clean_address(addr)) return 0;
    rb_record *r = rb_result_add(res);
    if (!r) return 0;
    rb_strlcpy(r->recipient, addr, sizeof r->recipient);
    rb_strlcpy(r->reason, "vacation", sizeof r->reason);
    rb_strlcpy(r->diagnostic, m->body ? m->body : "", sizeof r->diagnostic);
    rb_squeeze(r->diagnostic);
    return 1;
}

/* ---- free text ------------------------------------------------------------ */
/* Where the returned message starts inside a text body (or body_len). */
static size_t orig_start(const rb_msg *m)
{
    static const char *const marks[] = {
        "\n------ This is a copy of the message", "\n--- Below this line is a copy of the message",
        "\n----- Original message -----", "\n   ----- Original message -----",
        "\nOriginal message headers:", "\n------ Original message",
        "\n--- The header of the original message is following. ---",
        "\nContent-Type: message/rfc822", "\n----- Transcript of session follows -----",
    };
    size_t best = m->body_len;
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++) {
        const char *h = rb_strcasestrn(m->body, m->body_len, marks[i]);
        if (h && (size_t)(h - m->body) < best) best = (size_t)(h - m->body);
    }
    return best;
}

static int is_own_address(rb_msg *m, const char *addr)
{
    if (m->from_addr && strcasecmp(m->from_addr, addr) == 0) return 1;
    if (m->to && rb_strcasestr(m->to, addr)) return 1;
    const char *lp = addr;
    return rb_strcaseprefix(lp, "mailer-daemon@") || rb_strcaseprefix(lp, "postmaster@");
}

int rb_parse_fallback(rb_msg *m, rb_result *res)
{
    int n = 0;
    /* X-Failed-Recipients (Exim and others) names the recipients exactly. */
    const char *xf = rb_msg_header(m, "X-Failed-Recipients");
    if (xf) {
        const char *p = xf;
        char addr[RB_ADDR_MAX];
        while ((p = rb_find_address(p, addr, sizeof addr))) {
            if (!rb_clean_address(addr)) continue;
            rb_record *r = rb_result_add(res);
            if (!r) break;
            rb_strlcpy(r->recipient, addr, sizeof r->recipient);
            n++;
        }
    }
    int bounce_like = n > 0 || rb_strcaseprefix(m->from_addr, "mailer-daemon@") ||
                      rb_strcaseprefix(m->from_addr, "postmaster@") ||
                      rb_strcasestr(m->from, "mail delivery") || rb_strcasestr(m->subject, "undeliver") ||
                      rb_strcasestr(m->subject, "delivery fail") || rb_strcasestr(m->subject, "failure notice") ||
                      rb_strcasestr(m->subject, "returned mail") || rb_strcasestr(m->subject, "delivery status");
    if (!bounce_like || !m->body) return n;

    size_t end = orig_start(m);
    /* Scan the text: an address line followed by error text, or a line
     * carrying both an address and an SMTP error code. */
    size_t pos = 0;
    const char *line;
    size_t ll;
    rb_record *cur = NULL;
    while (pos < end && rb_next_line(m->body, end, &pos, &line, &ll)) {
        char buf[2048];
        rb_strlcpyn(buf, line, ll, sizeof buf);
        char addr[RB_ADDR_MAX];
        char code[8];
        int has_code = rb_find_reply(buf, code, sizeof code) || rb_find_status(buf, code, sizeof code);
        if (rb_find_address(buf, addr, sizeof addr) && rb_clean_address(addr) && !is_own_address(m, addr)) {
            rb_record *found = NULL;
            for (size_t k = 0; k < res->n; k++)
                if (strcasecmp(res->recs[k].recipient, addr) == 0) found = &res->recs[k];
            if (!found && !xf) {
                found = rb_result_add(res);
                if (!found) break;
                rb_strlcpy(found->recipient, addr, sizeof found->recipient);
                n++;
            }
            cur = found;
            if (cur && has_code && !cur->diagnostic[0]) rb_strlcpy(cur->diagnostic, buf, sizeof cur->diagnostic);
            continue;
        }
        if (cur && ll && !cur->diagnostic[0]) {
            rb_strlcpy(cur->diagnostic, buf, sizeof cur->diagnostic);
        } else if (cur && ll && has_code) {
            size_t dl = strlen(cur->diagnostic);
            if (dl + 2 < sizeof cur->diagnostic) {
                cur->diagnostic[dl] = ' ';
                rb_strlcpy(cur->diagnostic + dl + 1, buf, sizeof cur->diagnostic - dl - 1);
            }
        } else if (!ll) {
            cur = NULL;
        }
    }
    /* X-Failed-Recipients but no text matched: take the first error-looking line. */
    for (size_t k = 0; k < res->n; k++) {
        rb_record *r = &res->recs[k];
        if (r->diagnostic[0]) continue;
        pos = 0;
        while (rb_next_line(m->body, end, &pos, &line, &ll)) {
            char buf[2048], code[8];
            rb_strlcpyn(buf, line, ll, sizeof buf);
            if (rb_find_reply(buf, code, sizeof code) || rb_find_status(buf, code, sizeof code)) {
                rb_strlcpy(r->diagnostic, buf, sizeof r->diagnostic);
                break;
            }
        }
    }
    return n;
}
