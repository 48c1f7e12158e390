/* dsn.c -- the standard formats: RFC 3464 delivery status notifications,
 * RFC 5965 ARF feedback reports, RFC 3834 auto-replies, and a last-resort
 * free-text scan for bounces that follow no format at all.
 *
 * Everything here works on the rb_msg view (message.c): the decoded text
 * body, the machine-readable field groups and the returned message's
 * header block.  No function recurses on input, every copy is bounded by
 * the destination's size, and nothing is kept between calls.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rb_internal.h"

/* A complaint (ARF) that names no recipient anywhere still is a
 * complaint about us; it is reported under this placeholder, the one
 * Sisimai uses, so that results stay comparable (RFC 2606 .invalid). */
#define UNDISCLOSED_RCPT "undisclosed-recipient-in-headers@libsisimai.org.invalid"

#define MAX_DIAG_LINES 4
/* Searching the prose once per recipient is quadratic: a report with more
 * recipients than this gets the search for its first ones only. */
#define MAX_PROSE_LOOKUPS 50
/* A free-text bounce naming more recipients than this is no bounce. */
#define MAX_FALLBACK_RCPTS 200
/* The prose of a bounce is short; only its first bytes are scanned. */
#define MAX_PROSE (64u * 1024)

/* ---- small text helpers ---------------------------------------------------- */

/* Strip e-mail quoting ("> > text") from the start of a line. */
static const char *unquote(const char *line, size_t len, size_t *outlen)
{
    size_t i = 0;
    while (i < len && line[i] == '>') {
        i++;
        if (i < len && line[i] == ' ') i++;
    }
    *outlen = len - i;
    return line + i;
}

static inline unsigned char fold_ascii(unsigned char c)
{
    return (unsigned char)((unsigned)(c - 'A') < 26u ? c | 0x20 : c);
}

/* Does the line begin with one of the names, each written with its ':'? */
static int starts_with_any(const char *s, size_t n, const char *const *names, size_t nnames)
{
    if (!n) return 0;
    unsigned char c0 = fold_ascii((unsigned char)s[0]);
    for (size_t i = 0; i < nnames; i++) {
        if (fold_ascii((unsigned char)names[i][0]) != c0) continue;
        size_t l = strlen(names[i]);
        if (n >= l && strncasecmp(s, names[i], l) == 0) return 1;
    }
    return 0;
}

/* Append text to a bounded buffer, with one space between pieces. */
static void append_piece(char *dst, size_t size, const char *src, size_t n)
{
    size_t dl = strlen(dst);
    if (dl && dl + 1 < size) dst[dl++] = ' ';
    if (dl + 1 >= size) return;
    rb_strlcpyn(dst + dl, src, n, size - dl);
}

/* Lines that begin the returned message: a copy of the original follows.
 * One pass over the line: at each byte, only the phrases that begin with
 * it (folded) are compared. */
static const char *const orig_phrases[] = {
    "copy of the message",         "copy of your message",       "copy of the original message",
    "original message follows",    "original message headers",   "message headers follow",
    "message text follows",        "header of the original message", "headers of the original message",
    "unsent message below",        "your message reads (in part)", "first part of the message",
    "the original message was:",   "original message -----",     "----- original message",
    "content-type: message/rfc822", "content-type: text/rfc822-headers",
    "the non-delivered message is attached", "attachment contains the original",
};
#define N_ORIG_PHRASES (sizeof orig_phrases / sizeof orig_phrases[0])

/* by_first[c]: the phrases (bits) whose first byte folds to c */
static void orig_index(uint32_t by_first[256])
{
    memset(by_first, 0, 256 * sizeof *by_first);
    for (size_t i = 0; i < N_ORIG_PHRASES; i++)
        by_first[fold_ascii((unsigned char)orig_phrases[i][0])] |= 1u << i;
}

static int is_orig_marker(const char *s, size_t n, const uint32_t by_first[256])
{
    for (size_t i = 0; i < n; i++) {
        uint32_t m = by_first[fold_ascii((unsigned char)s[i])];
        while (m) {
            unsigned k = (unsigned)__builtin_ctz(m);
            m &= m - 1;
            const char *p = orig_phrases[k];
            size_t j = 1;
            while (p[j] && i + j < n && fold_ascii((unsigned char)s[i + j]) == (unsigned char)p[j]) j++;
            if (!p[j]) return 1;
        }
    }
    return 0;
}

/* Header fields that start the returned message or the machine-readable
 * fields when they begin a line; prose never starts with them. */
static int is_block_start(const char *s, size_t n)
{
    static const char *const names[] = {
        "Received:",  "Return-Path:", "Reporting-MTA:", "Received-From-MTA:", "Final-Recipient:",
        "Original-Recipient:", "Arrival-Date:", "DKIM-Signature:", "Message-ID:", "MIME-Version:",
        "Content-Type: message/", "Content-Type: text/rfc822",
    };
    if (starts_with_any(s, n, names, sizeof names / sizeof names[0])) return 1;
    /* an mbox postmark: "From sender@example.org  Mon Jan  1 00:00:00 2024" */
    if (n > 5 && memcmp(s, "From ", 5) == 0 && memchr(s, '@', n) && memchr(s, ':', n) &&
        !memchr(s, ',', n))
        return 1;
    return 0;
}

/* Common header fields of a message (the second of two in a row means a
 * header block is being quoted). */
static int is_common_header(const char *s, size_t n)
{
    static const char *const names[] = {
        "From:", "To:", "Cc:", "Subject:", "Date:", "Message-Id:", "Reply-To:", "Sender:",
        "MIME-Version:", "Content-Type:", "Content-Transfer-Encoding:", "X-Mailer:", "User-Agent:",
        "In-Reply-To:", "References:",
    };
    return starts_with_any(s, n, names, sizeof names / sizeof names[0]);
}

/* Where the human-readable prose of a bounce ends: the first line that
 * starts the returned message or the machine-readable part. */
/* Every orig_phrases[] entry contains one of these (ASCII case folded): a
 * line without any of them is no marker, and is not compared phrase by
 * phrase (a byte-by-byte walk that costs ~10 instructions a byte). */
static const char *const orig_anchors[] = {"message", "text/rfc822-headers", "attachment contains the original"};
#define N_ORIG_ANCHORS (sizeof orig_anchors / sizeof orig_anchors[0])

/* Offset of the first anchor at or after from in t[0..len), or len. */
static size_t next_anchor(const char *t, size_t len, size_t from)
{
    size_t best = len;
    for (size_t i = 0; i < N_ORIG_ANCHORS; i++) {
        const char *hit = rb_strcasestrn(t + from, best - from, orig_anchors[i]);
        if (hit) best = (size_t)(hit - t);
    }
    return best;
}

static size_t prose_end(const char *t, size_t len)
{
    if (len > MAX_PROSE) len = MAX_PROSE;
    size_t pos = 0, start = 0, prev_start = 0;
    int prev_hdr = 0;
    const char *line;
    size_t ll;
    uint32_t by_first[256];
    orig_index(by_first);
    size_t anchor = t ? next_anchor(t, len, 0) : len;   /* the next place a marker can be */
    while (start = pos, rb_next_line(t, len, &pos, &line, &ll)) {
        size_t ql;
        const char *q = unquote(line, ll, &ql);
        int marker = 0;
        if (anchor < start + ll) {   /* an anchor on this line: compare the phrases */
            marker = is_orig_marker(q, ql, by_first);
            if (!marker) anchor = next_anchor(t, len, pos);
        }
        /* every name both tests look for (and a postmark) holds a ':' */
        int colon = memchr(q, ':', ql) != NULL;
        if (marker || (colon && is_block_start(q, ql))) return start;
        int hdr = colon && is_common_header(q, ql);
        if (hdr && prev_hdr) return prev_start;
        prev_hdr = hdr;
        prev_start = start;
    }
    return len;
}

/* Copy of text with e-mail quoting removed from every line; caller frees. */
static char *dequote_text(const char *t, size_t len, size_t *outlen)
{
    char *o = malloc(len + 2);   /* a last line without '\n' gets one, then the NUL */
    if (!o) return NULL;
    size_t w = 0, pos = 0;
    const char *line;
    size_t ll;
    while (rb_next_line(t, len, &pos, &line, &ll)) {
        size_t ql;
        const char *q = unquote(line, ll, &ql);
        memcpy(o + w, q, ql);
        w += ql;
        o[w++] = '\n';
    }
    o[w] = '\0';
    *outlen = w;
    return o;
}

/* ---- RFC 3464 --------------------------------------------------------------- */

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
    /* the address that was mailed (RFC 3461 ORCPT), when it differs */
    if ((v = rb_fields_get(g, "Original-Recipient"))) {
        rb_strlcpy(addr, after_type(v), sizeof addr);
        if (rb_clean_address(addr)) rb_strlcpy(r->original_recipient, addr, sizeof r->original_recipient);
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
        rb_time_rfc5322_to_iso(v, r->date, sizeof r->date);
    if ((v = rb_fields_get(msgf, "Reporting-MTA")) || (v = rb_fields_get(g, "Reporting-MTA")))
        rb_strlcpy(r->reporting_mta, after_type(v), sizeof r->reporting_mta);
    return have;
}

/* Offset of the first line of text that starts with one of the DSN field
 * names, or len. */
static size_t find_dsn_start(const char *t, size_t len)
{
    static const char *const starts[] = {"Reporting-MTA:", "Final-Recipient:", "Original-Recipient:"};
    size_t pos = 0, start = 0;
    const char *line;
    size_t ll;
    while (start = pos, rb_next_line(t, len, &pos, &line, &ll))
        if (starts_with_any(line, ll, starts, sizeof starts / sizeof starts[0])) return start;
    return len;
}

/* RFC 3464 fields written into the text body (no delivery-status part);
 * also inside a forwarded, "> "-quoted bounce. */
static size_t inline_groups(rb_msg *m, rb_fields **groups)
{
    if (!m->body || !m->body_len) return 0;
    size_t at = find_dsn_start(m->body, m->body_len);
    if (at < m->body_len) return rb_parse_field_groups(m->body + at, m->body_len - at, groups);
    if (!memchr(m->body, '>', m->body_len)) return 0;
    size_t dl;
    char *dq = dequote_text(m->body, m->body_len, &dl);
    if (!dq) return 0;
    size_t ng = 0;
    at = find_dsn_start(dq, dl);
    if (at < dl) ng = rb_parse_field_groups(dq + at, dl - at, groups);
    free(dq);
    return ng;
}

static int is_per_message(const rb_fields *g)
{
    return !rb_fields_get(g, "Final-Recipient") && !rb_fields_get(g, "Original-Recipient") &&
           !rb_fields_get(g, "X-Actual-Recipient");
}

/* A line of the prose that mentions addr (and is no DSN field). */
static int find_line_with(const char *t, size_t len, const char *addr, size_t *lstart, size_t *lend)
{
    size_t pos = 0, start = 0;
    const char *line;
    size_t ll;
    while (start = pos, rb_next_line(t, len, &pos, &line, &ll)) {
        if (!rb_strcasestrn(line, ll, addr)) continue;
        *lstart = start;
        *lend = start + ll;
        return 1;
    }
    return 0;
}

/* The explanation a report's prose gives for addr: the line naming it and
 * the lines after it up to a blank line. */
static void diagnostic_from_prose(const char *t, size_t len, const char *addr, char *out, size_t outlen)
{
    size_t ls, le;
    if (!find_line_with(t, len, addr, &ls, &le)) return;
    size_t pos = ls;
    const char *line;
    size_t ll;
    for (int k = 0; k < MAX_DIAG_LINES && rb_next_line(t, len, &pos, &line, &ll); k++) {
        if (rb_is_blank(line, ll)) {
            if (k == 1 && !out[0]) continue;
            break;
        }
        append_piece(out, outlen, line, ll);
    }
    /* only the address itself: that says nothing */
    char tmp[RB_ADDR_MAX + 8];
    rb_strlcpy(tmp, out, sizeof tmp);
    if (rb_clean_address(tmp) && strcasecmp(tmp, addr) == 0 && strlen(out) <= strlen(addr) + 4) out[0] = '\0';
}

/* Does the text carry an SMTP error: a 4.x.x/5.x.x status or a 4xx/5xx reply? */
static int has_error_code(const char *text)
{
    char code[RB_SHORT_MAX];
    if (rb_find_status(text, code, sizeof code) && (code[0] == '4' || code[0] == '5')) return 1;
    return rb_find_reply(text, code, sizeof code) && (code[0] == '4' || code[0] == '5');
}

/* First line of prose that carries an SMTP error and names none of the
 * other recipients of the result (skip: records [first, n) except self). */
static void first_error_line(const char *t, size_t len, const rb_result *res, size_t first, size_t self,
                             char *out, size_t outlen)
{
    size_t pos = 0;
    const char *line;
    size_t ll;
    while (rb_next_line(t, len, &pos, &line, &ll)) {
        char buf[2048];
        size_t ql;
        const char *q = unquote(line, ll, &ql);
        rb_strlcpyn(buf, q, ql, sizeof buf);
        if (!has_error_code(buf)) continue;
        int other = 0;
        for (size_t k = first; res && k < res->n && !other; k++)
            if (k != self && rb_strcasestr(buf, res->recs[k].recipient)) other = 1;
        if (other) continue;
        rb_squeeze(buf);
        append_piece(out, outlen, buf, strlen(buf));
        return;
    }
}

/* A line of prose that labels the reason ("Reason: ...", "Grund: ...",
 * "Motivo: ..."), in the languages bounces come back in: the text after the
 * label, or the next line when the label stands alone.  Appended to out. */
static void labelled_reason_line(const char *t, size_t len, char *out, size_t outlen)
{
    static const char *const labels[] = {
        "reason", "diagnostic", "diagnostic-code", "error", "details", "error message", "remote server said",
        "grund", "fehler", "fehlermeldung", "ursache", "raison", "motif", "erreur", "cause", "reden", "oorzaak",
        "fout", "foutmelding", "motivo", "causa", "error de entrega", "errore", "erro", "razão", "powód",
        "przyczyna", "błąd", "důvod", "chyba", "orsak", "fel", "årsak", "årsag", "sebep", "hata", "причина",
        "ошибка", "原因", "理由", "エラー",
    };
    size_t pos = 0;
    const char *line;
    size_t ll;
    int take_next = 0;
    while (rb_next_line(t, len, &pos, &line, &ll)) {
        size_t ql;
        const char *q = unquote(line, ll, &ql);
        while (ql && isspace((unsigned char)*q)) { q++; ql--; }
        if (take_next) {
            if (rb_is_blank(q, ql)) continue;
            append_piece(out, outlen, q, ql);
            return;
        }
        const char *colon = memchr(q, ':', ql < 40 ? ql : 40);
        if (!colon) continue;
        size_t lab = (size_t)(colon - q);
        while (lab && q[lab - 1] == ' ') lab--;   /* French "Raison :" */
        for (size_t k = 0; k < sizeof labels / sizeof labels[0]; k++) {
            if (strlen(labels[k]) != lab || strncasecmp(q, labels[k], lab) != 0) continue;
            const char *v = colon + 1;
            size_t vl = ql - (size_t)(v - q);
            while (vl && isspace((unsigned char)*v)) { v++; vl--; }
            if (vl < 3) { take_next = 1; break; }
            append_piece(out, outlen, v, vl);
            return;
        }
    }
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
    size_t first = res->n;
    int n = 0;
    for (size_t i = 0; i < ng; i++) {
        if (is_per_message(&groups[i])) continue;
        rb_record tmp;
        memset(&tmp, 0, sizeof tmp);
        if (!rb_record_from_dsfields(&groups[i], msgf, &tmp)) {
            /* one unusable address loses that recipient only */
            const char *fr = rb_fields_get(&groups[i], "Final-Recipient");
            if (fr) rb_result_warn(res, "Final-Recipient \"%.120s\" is not a usable address: that recipient is left out", fr);
            continue;
        }
        rb_record *r = rb_result_add(res);
        if (!r) {
            rb_result_warn(res, "the report names more recipients than the cap of %d: the rest are left out",
                           RB_RESULT_CAP);
            break;
        }
        *r = tmp;
        n++;
    }
    if (own) {
        for (size_t i = 0; i < ng; i++) rb_fields_free(&own[i]);
        free(own);
    }
    /* A report without Diagnostic-Code: what its prose says about the
     * recipient, or (one recipient) the SMTP error the prose quotes. */
    if (n && m->body) {
        size_t end = prose_end(m->body, m->body_len);
        for (size_t k = first; k < res->n && k - first < MAX_PROSE_LOOKUPS; k++) {
            rb_record *r = &res->recs[k];
            if (r->diagnostic[0]) continue;
            diagnostic_from_prose(m->body, end, r->recipient, r->diagnostic, sizeof r->diagnostic);
            if (!r->diagnostic[0] && n == 1)
                first_error_line(m->body, end, res, first, k, r->diagnostic, sizeof r->diagnostic);
        }
    }
    return n;
}

/* ---- RFC 5965 ARF -------------------------------------------------------- */
static int header_is(rb_msg *m, const char *name, const char *value)
{
    const char *v = rb_msg_header(m, name);
    if (!v) return 0;
    while (isspace((unsigned char)*v)) v++;
    return rb_strcaseprefix(v, value);
}

/* Append a record for the address in value unless one is already there. */
static int add_recipient(rb_result *res, size_t first, const char *value)
{
    char addr[RB_ADDR_MAX];
    rb_strlcpy(addr, value, sizeof addr);
    if (!rb_clean_address(addr)) return 0;
    for (size_t k = first; k < res->n; k++)
        if (strcasecmp(res->recs[k].recipient, addr) == 0) return 0;
    rb_record *r = rb_result_add(res);
    if (!r) return 0;
    rb_strlcpy(r->recipient, addr, sizeof r->recipient);
    return 1;
}

int rb_parse_arf(rb_msg *m, rb_result *res)
{
    int report = m->nfb || strcmp(m->report_type, "feedback-report") == 0;
    /* Microsoft's Junk Mail Reporting Program: multipart/mixed, the
     * complained-about message attached with X-HmXmrOriginalRecipient. */
    const char *jmrp = NULL;
    if (!report && rb_strcasestr(m->subject, "complaint about message from"))
        jmrp = rb_msg_orig_header(m, "X-HmXmrOriginalRecipient");
    /* Apple Mail's one-click unsubscribe: an auto-submitted message from
     * the recipient with X-Apple-Unsubscribe: true. */
    int apple = !report && !jmrp && header_is(m, "X-Apple-Unsubscribe", "true");
    if (!report && !jmrp && !apple) return 0;

    char type[RB_SHORT_MAX] = "abuse";
    const char *agent = NULL, *date = NULL;
    size_t first = res->n;
    int n = 0;
    if (apple) rb_strlcpy(type, "opt-out", sizeof type);
    /* every Original-Rcpt-To / Removal-Recipient line is one recipient, in order */
    for (size_t g = 0; g < m->nfb; g++) {
        const rb_fields *f = &m->fb[g];
        const char *v;
        if (g == 0 || !strcmp(type, "abuse")) {
            if ((v = rb_fields_get(f, "Feedback-Type"))) {
                rb_strlcpy(type, v, sizeof type);
                rb_trim(type);
                rb_lower(type);
                char *sp = strpbrk(type, " ;");
                if (sp) *sp = '\0';
            }
        }
        if (!agent && (v = rb_fields_get(f, "Reporting-MTA"))) agent = v;
        if (!date && !(date = rb_fields_get(f, "Arrival-Date"))) date = rb_fields_get(f, "Received-Date");
        for (size_t i = 0; i < f->n; i++) {
            if (strcasecmp(f->v[i].name, "Original-Rcpt-To") && strcasecmp(f->v[i].name, "Removal-Recipient"))
                continue;
            n += add_recipient(res, first, f->v[i].value);
        }
    }
    if (!n && jmrp) n += add_recipient(res, first, jmrp);
    if (!n && apple) n += add_recipient(res, first, m->from);
    if (!n) {
        /* the complaint is about the message sent to the original To: */
        const char *to = rb_msg_orig_header(m, "To");
        char addr[RB_ADDR_MAX];
        if (to && rb_find_address(to, addr, sizeof addr)) n += add_recipient(res, first, addr);
    }
    if (!n) n += add_recipient(res, first, UNDISCLOSED_RCPT);
    if (agent) agent = after_type(agent);
    for (size_t i = first; i < res->n; i++) {
        rb_record *r = &res->recs[i];
        rb_strlcpy(r->reason, "feedback", sizeof r->reason);
        rb_strlcpy(r->feedback_type, type, sizeof r->feedback_type);
        if (agent) rb_strlcpy(r->reporting_mta, agent, sizeof r->reporting_mta);
        if (date) rb_time_rfc5322_to_iso(date, r->date, sizeof r->date);
        /* The diagnostic of a complaint is the report's human-readable part. */
        if (m->body) {
            rb_strlcpyn(r->diagnostic, m->body, m->body_len, sizeof r->diagnostic);
            rb_squeeze(r->diagnostic);
        }
    }
    return n;
}

/* ---- RFC 3834 auto-replies --------------------------------------------- */
static int is_auto_reply(rb_msg *m)
{
    const char *v;
    /* RFC 3834 section 5: "auto-replied" is the keyword of replies;
     * "auto-generated" is what bounces and other notices carry. */
    if (header_is(m, "Auto-Submitted", "auto-replied")) return 1;
    if (header_is(m, "Precedence", "auto_reply") || header_is(m, "X-Apple-Action", "vacation")) return 1;
    if (rb_msg_header(m, "X-Autoreply") || rb_msg_header(m, "X-Autorespond")) return 1;
    if ((v = rb_msg_header(m, "X-Auto-Response-Suppress")) && (rb_strcasestr(v, "oof") || rb_strcasestr(v, "autoreply")))
        return 1;
    static const char *const subj[] = {
        "auto:", "auto response", "auto reply", "auto-reply", "autoreply", "autoresponse",
        "automatic reply", "automatische antwort", "out of office", "out of the office",
        "abwesenheitsnotiz", "réponse automatique", "respuesta automática", "risposta automatica",
        "automatisch antwoord",
    };
    const char *s = m->subject;
    while (isspace((unsigned char)*s)) s++;
    for (size_t i = 0; i < sizeof subj / sizeof subj[0]; i++)
        if (rb_strcaseprefix(s, subj[i])) return 1;
    return 0;
}

int rb_parse_rfc3834(rb_msg *m, rb_result *res)
{
    if (!is_auto_reply(m)) return 0;
    /* A delivery report or a message from a system account is no vacation
     * message, whatever its headers claim. */
    if (m->nds || m->nfb || rb_msg_header(m, "X-Failed-Recipients")) return 0;
    static const char *const system_accounts[] = {"root@", "postmaster@", "mailer-daemon@"};
    for (size_t i = 0; i < sizeof system_accounts / sizeof system_accounts[0]; i++)
        if (rb_strcaseprefix(m->from_addr, system_accounts[i])) return 0;
    if (rb_strcasestr(m->from, "mailer-daemon")) return 0;
    if (rb_strcaseprefix(m->to, "root@") || rb_strcasestr(m->subject, "mail failure -") ||
        rb_strcasestr(m->subject, "security information for"))
        return 0;

    char addr[RB_ADDR_MAX] = "";
    const char *rp;
    if (!(rb_find_address(m->from, addr, sizeof addr) && rb_clean_address(addr))) {
        if (!((rp = rb_msg_header(m, "Return-Path")) && rb_find_address(rp, addr, sizeof addr) &&
              rb_clean_address(addr)))
            return 0;
    }
    rb_record *r = rb_result_add(res);
    if (!r) return 0;
    rb_strlcpy(r->recipient, addr, sizeof r->recipient);
    rb_strlcpy(r->reason, "vacation", sizeof r->reason);
    /* the first few lines of the reply say what it is about */
    size_t pos = 0;
    const char *line;
    size_t ll;
    int k = 0;
    while (k < 5 && m->body && rb_next_line(m->body, m->body_len, &pos, &line, &ll)) {
        if (rb_is_blank(line, ll)) continue;
        append_piece(r->diagnostic, sizeof r->diagnostic, line, ll);
        k++;
    }
    if (!r->diagnostic[0]) rb_strlcpy(r->diagnostic, m->subject, sizeof r->diagnostic);
    rb_squeeze(r->diagnostic);
    return 1;
}

/* ---- free text ------------------------------------------------------------ */

/* The addresses a bounce itself uses: its sender and envelope, the
 * original sender it returns to, and message identifiers. */
typedef struct {
    const char *v[16];
    size_t n;
} own_addrs;

static void collect_own(rb_msg *m, own_addrs *o)
{
    static const char *const hdrs[] = {"From", "To", "Cc", "Reply-To", "Sender", "Return-Path", "Delivered-To",
                                       "Message-ID", "In-Reply-To", "References"};
    static const char *const orig[] = {"From", "Return-Path", "Sender", "Reply-To", "Message-ID"};
    const char *v;
    o->n = 0;
    for (size_t i = 0; i < sizeof hdrs / sizeof hdrs[0] && o->n < 16; i++)
        if ((v = rb_msg_header(m, hdrs[i]))) o->v[o->n++] = v;
    for (size_t i = 0; i < sizeof orig / sizeof orig[0] && o->n < 16; i++)
        if ((v = rb_msg_orig_header(m, orig[i]))) o->v[o->n++] = v;
}

static int is_own_address(const own_addrs *o, const char *addr)
{
    if (rb_strcaseprefix(addr, "mailer-daemon@")) return 1;
    for (size_t i = 0; i < o->n; i++)
        if (rb_strcasestr(o->v[i], addr)) return 1;
    return 0;
}

/* An address the remote server's words offer for help ("please forward
 * this message to delist@...", "contact postmaster@..."): never a failed
 * recipient.  a: the address's offset in line s. */
static int is_help_address(const char *s, size_t a, const char *addr)
{
    static const char *const roles[] = {
        "delist@", "postmaster@", "abuse@", "hostmaster@", "support@", "noc@", "security@", "help@",
        "removal@", "unblock@", "sender-support@", "feedback@", "blocklist@", "spam@", "webmaster@",
    };
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (rb_strcaseprefix(addr, roles[i])) return 1;
    static const char *const cues[] = {"forward", "contact", "please", "write to", "send an email", "e-mail us",
                                       "email us", "removal", "delist", "questions"};
    size_t from = a > 80 ? a - 80 : 0;
    for (size_t i = 0; i < sizeof cues / sizeof cues[0]; i++)
        if (rb_strcasestrn(s + from, a - from, cues[i])) return 1;
    return 0;
}

/* Header-like lines that never name a failed recipient. */
static int is_non_recipient_field(const char *s, size_t n)
{
    static const char *const names[] = {
        "From:", "Sender:", "Reply-To:", "Return-Path:", "Message-ID:", "In-Reply-To:", "References:",
        "Received:", "Subject:", "Date:", "Envelope-From:", "Resent-From:", "Errors-To:",
    };
    return starts_with_any(s, n, names, sizeof names / sizeof names[0]);
}

/* Is the address at [a, a+alen) of line s presented as a recipient: at the
 * start of the line, after a phrase that introduces a recipient, or on a
 * line that also carries an SMTP error (reply code or status)? */
static int presented_as_recipient(const char *s, size_t n, size_t a)
{
    size_t i = 0;
    while (i < a && (isspace((unsigned char)s[i]) || s[i] == '<' || s[i] == '"' || s[i] == '\'' || s[i] == '*'))
        i++;
    if (i == a) return 1;

    static const char *const labels[] = {   /* only at the start of the line */
        "recipient:", "recipients:", "address:", "rcpt to:", "original-recipient:",
        "failed recipient:", "intended recipient:", "unknown user:", "error-for:", "user:",
        "mailbox:", "undeliverable address:", "invalid recipient:", "bad recipient:",
    };
    static const char *const phrases[] = {  /* anywhere before the address */
        "addressed to", "delivered to", "deliver to", "delivery to", "delivery failed:",
        "did not reach the following recipient", "failed to deliver to", "undeliverable to",
        "you sent mail to", "your message to", "the following message to", "mailbox is full:",
        "rejected recipient", "could not be delivered to", "following recipient", "following address",
        "unknown user", "no such user", "user unknown", "not delivered to", "message to",
        /* the same in the languages bounces come back in */
        "mensaje a", "mensaje para", "entregar a", "destinatario", "nachricht an", "empfänger", "zustellen an",
        "message à", "destinataire", "bericht aan", "geadresseerde", "ontvanger", "messaggio a", "destinatari",
        "mensagem para", "destinatário", "wiadomość do", "adresat", "odbiorca", "宛先",
    };
    /* a label counts at the start of the line or of a bracketed or
     * comma-separated item ("[Status: Error, Address: <...>]") */
    for (size_t j = 0; j < a; j++) {
        if (j > 0) {
            if (isalnum((unsigned char)s[j - 1])) continue;
            size_t b = j;
            while (b > 0 && s[b - 1] == ' ') b--;
            if (b > 0 && !strchr("[(,;", s[b - 1])) continue;
        } else {
            while (j < a && isspace((unsigned char)s[j])) j++;
        }
        for (size_t k = 0; k < sizeof labels / sizeof labels[0]; k++) {
            size_t l = strlen(labels[k]);
            if (a - j >= l && strncasecmp(s + j, labels[k], l) == 0) {
                size_t e = j + l;
                while (e < a && (isspace((unsigned char)s[e]) || s[e] == '<' || s[e] == '"' || s[e] == '\'')) e++;
                if (e == a) return 1;
            }
        }
    }
    for (size_t k = 0; k < sizeof phrases / sizeof phrases[0]; k++) {
        const char *h = rb_strcasestrn(s, a, phrases[k]);
        if (!h) continue;
        size_t e = (size_t)(h - s) + strlen(phrases[k]);
        while (e < a && (isspace((unsigned char)s[e]) || strchr("<\"':(", s[e]))) e++;
        if (e == a) return 1;
    }
    char buf[2048], code[RB_SHORT_MAX];
    rb_strlcpyn(buf, s, n, sizeof buf);
    if (rb_find_status(buf, code, sizeof code) && (code[0] == '4' || code[0] == '5')) return 1;
    if (rb_find_reply(buf, code, sizeof code) && (code[0] == '4' || code[0] == '5')) return 1;
    return 0;
}

/* Signs that a message is a bounce even though no module recognised it. */
int rb_msg_looks_like_bounce(rb_msg *m)
{
    if (m->nds) return 1;   /* it carries a delivery-status part */
    static const char *const senders[] = {"mailer-daemon", "postmaster@", "mail delivery", "mail administrator"};
    for (size_t i = 0; i < sizeof senders / sizeof senders[0]; i++)
        if (rb_strcasestr(m->from, senders[i])) return 1;
    const char *rp = rb_msg_header(m, "Return-Path");
    if (rp && (strstr(rp, "<>") || rb_strcasestr(rp, "mailer-daemon"))) return 1;
    static const char *const subjects[] = {
        "undeliver", "delivery fail", "delivery status", "delivery report", "failure notice",
        "returned mail", "non-delivery", "nondelivery", "mail delivery", "delivery problem",
        "not delivered", "mail failed", "mail error", "delivery notification",
        "non remis", "unzustellbar", "onbestelbaar", "no entregado",
        /* the same in the languages bounces come back in */
        "nicht zustellbar", "zustellfehler", "unzustellbare", "échec de la remise", "echec de la remise",
        "non distribué", "niet bezorgd", "onbestelbare", "no se puede entregar", "estado de entrega",
        "error de entrega", "no entregable", "non recapitabile", "recapito non riuscito", "mancato recapito",
        "não é possível entregar", "não entregue", "falha na entrega", "nao entregue", "niedostarczon",
        "nie można dostarczyć", "nedoručiteln", "olevererbar", "ikke leveret", "配信不能", "配送エラー",
        "エラーメール", "返送",
    };
    for (size_t i = 0; i < sizeof subjects / sizeof subjects[0]; i++)
        if (rb_strcasestr(m->subject, subjects[i])) return 1;
    return 0;
}

int rb_parse_fallback(rb_msg *m, rb_result *res)
{
    size_t first = res->n;
    int n = 0;
    /* X-Failed-Recipients (Exim and others) names the recipients exactly. */
    const char *xf = rb_msg_header(m, "X-Failed-Recipients");
    if (xf) {
        const char *p = xf;
        char addr[RB_ADDR_MAX];
        while ((p = rb_find_address(p, addr, sizeof addr)) && n < MAX_FALLBACK_RCPTS) {
            if (!rb_clean_address(addr)) continue;
            n += add_recipient(res, first, addr);
        }
    }
    if (!n && !rb_msg_looks_like_bounce(m)) return 0;
    if (!m->body) return n;

    /* Scan the prose: a recipient line, then its explanation up to a blank
     * line or the next recipient. */
    own_addrs own;
    collect_own(m, &own);
    size_t end = prose_end(m->body, m->body_len);
    size_t pos = 0;
    const char *line;
    size_t ll;
    size_t cur = (size_t)-1;   /* index of the record being explained */
    int lines = 0;
    while (rb_next_line(m->body, end, &pos, &line, &ll)) {
        size_t ql;
        const char *q = unquote(line, ll, &ql);
        if (rb_is_blank(q, ql)) { cur = (size_t)-1; continue; }
        char buf[2048];
        rb_strlcpyn(buf, q, ql, sizeof buf);
        size_t bl = strlen(buf);
        if (!is_non_recipient_field(buf, bl)) {
            char addr[RB_ADDR_MAX];
            const char *p = buf, *after;
            size_t found = (size_t)-1;
            while ((after = rb_find_address(p, addr, sizeof addr))) {
                const char *at = strstr(p, addr);
                size_t a = at ? (size_t)(at - buf) : 0;
                p = after;
                if (!rb_clean_address(addr) || is_own_address(&own, addr)) continue;
                if (!presented_as_recipient(buf, bl, a)) continue;
                if (is_help_address(buf, a, addr)) continue;
                for (size_t k = first; k < res->n; k++)
                    if (strcasecmp(res->recs[k].recipient, addr) == 0) found = k;
                if (found == (size_t)-1 && !xf && res->n - first >= MAX_FALLBACK_RCPTS && !res->dropped)
                    rb_result_warn(res, "the text names more than %d recipients: the rest are left out",
                                   MAX_FALLBACK_RCPTS);
                if (found == (size_t)-1 && !xf && res->n - first < MAX_FALLBACK_RCPTS) {
                    rb_record *r = rb_result_add(res);
                    if (!r) break;
                    rb_strlcpy(r->recipient, addr, sizeof r->recipient);
                    found = res->n - 1;
                    n++;
                }
                if (found != (size_t)-1) break;
            }
            if (found != (size_t)-1) {
                if (cur != found) lines = 0;
                cur = found;
                /* the rest of the line is often the reason ("... unknown host") */
                rb_record *r = &res->recs[cur];
                char rest[2048];
                rb_strlcpy(rest, buf, sizeof rest);
                size_t al = strlen(r->recipient);
                const char *hit = al ? rb_strcasestr(rest, r->recipient) : NULL;
                size_t lead = 0;
                while (rest[lead] == ' ' || rest[lead] == '\t' || rest[lead] == '<' || rest[lead] == '"') lead++;
                /* "user@example.net: unknown host": the address introduces
                 * the line and is dropped; an address inside the remote
                 * server's words ("550 <user@...>: User unknown") stays */
                if (hit && (size_t)(hit - rest) == lead) {
                    size_t h = (size_t)(hit - rest);
                    memmove(rest + h, rest + h + al, strlen(rest + h + al) + 1);
                    for (char *c = rest; *c && c < rest + h + 2; c++) if (*c == '<' || *c == '>') *c = ' ';
                }
                rb_squeeze(rest);
                if (strlen(rest) > 3 && lines < MAX_DIAG_LINES) {
                    append_piece(r->diagnostic, sizeof r->diagnostic, rest, strlen(rest));
                    lines++;
                }
                continue;
            }
        }
        if (cur != (size_t)-1 && lines < MAX_DIAG_LINES) {
            rb_record *r = &res->recs[cur];
            append_piece(r->diagnostic, sizeof r->diagnostic, q, ql);
            lines++;
        }
    }
    /* An explanation without an SMTP error: add the first error line of
     * the prose that names no other recipient. */
    for (size_t k = first; k < res->n; k++) {
        rb_record *r = &res->recs[k];
        if (k - first < MAX_PROSE_LOOKUPS && !has_error_code(r->diagnostic))
            first_error_line(m->body, end, res, first, k, r->diagnostic, sizeof r->diagnostic);
        if (k - first < MAX_PROSE_LOOKUPS && !has_error_code(r->diagnostic))
            labelled_reason_line(m->body, end, r->diagnostic, sizeof r->diagnostic);
        if (!r->dsn_action[0] && !rb_strcasestr(m->subject, "delay") && !rb_strcasestr(m->subject, "warning"))
            rb_strlcpy(r->dsn_action, "failed", sizeof r->dsn_action);
    }
    return n;
}
