/* lhost_mta.c -- format modules for the classic MTAs: Postfix, Sendmail
 * (V8 and V5), Exim, qmail, Courier, OpenSMTPD and the DragonFly Mail
 * Agent.  See rb_internal.h for the module contract.
 *
 * Each module first looks at cheap evidence (Subject, From, a fixed
 * sentence of the MTA's template) and says "not mine" early.  It then
 * takes the machine-readable RFC 3464 part when there is one and enriches
 * the records from the human-readable text, which often says more: the
 * SMTP command that was refused, the complete remote reply, the host.
 * Formats without a delivery-status part are read from the text alone.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "rb_internal.h"

/* ---- shared helpers ------------------------------------------------------ */

#define LINE_MAX_ 2048

/* Copy one body line into a bounded buffer, without a trailing CR. */
static void line_copy(char *dst, size_t size, const char *line, size_t len)
{
    if (len && line[len - 1] == '\r') len--;
    rb_strlcpyn(dst, line, len, size);
}

/* Append text to a bounded field, separated by one space. */
static void append(char *dst, size_t size, const char *text)
{
    size_t n = strlen(dst);
    while (*text == ' ' || *text == '\t') text++;
    if (!*text || n + 2 >= size) return;
    if (n) dst[n++] = ' ';
    rb_strlcpy(dst + n, text, size - n);
}

/* Offset of the first line of the body that starts with one of marks
 * (leading blanks ignored), or body_len. */
static size_t find_line(const rb_msg *m, size_t from, const char *const *marks, size_t nmarks)
{
    size_t pos = from;
    const char *line;
    size_t ll;
    while (1) {
        size_t at = pos;
        if (!rb_next_line(m->body, m->body_len, &pos, &line, &ll)) break;
        while (ll && (*line == ' ' || *line == '\t')) { line++; ll--; }
        if (!ll) {
            for (size_t i = 0; i < nmarks; i++) if (!marks[i][0]) return at;
            continue;
        }
        unsigned char c0 = (unsigned char)((unsigned)(*line - 'A') < 26u ? *line | 0x20 : *line);
        for (size_t i = 0; i < nmarks; i++) {
            unsigned char m0 = (unsigned char)marks[i][0];
            if (!m0) return at;   /* an empty mark: any line */
            if ((unsigned char)((unsigned)(m0 - 'A') < 26u ? m0 | 0x20 : m0) != c0) continue;
            size_t ml = strlen(marks[i]);
            if (ll >= ml && strncasecmp(line, marks[i], ml) == 0) return at;
        }
    }
    return m->body_len;
}

/* The record of addr among res->recs[first..], created when asked. */
static rb_record *rec_for(rb_result *res, size_t first, const char *addr, int create)
{
    for (size_t i = first; i < res->n; i++)
        if (strcasecmp(res->recs[i].recipient, addr) == 0) return &res->recs[i];
    if (!create) return NULL;
    rb_record *r = rb_result_add(res);
    if (r) rb_strlcpy(r->recipient, addr, sizeof r->recipient);
    return r;
}

static int all_digits(const char *s)
{
    while (*s == ' ') s++;
    if (!*s) return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s) && *s != ' ') return 0;
    return 1;
}

/* Take a diagnostic read from the text when it says more than the one
 * the delivery-status part gave: none, a bare number (a local exit
 * code), or a shorter form of the same text. */
static void take_text_diag(rb_record *r, const char *text)
{
    char t[RB_TEXT_MAX];
    rb_strlcpy(t, text, sizeof t);
    rb_squeeze(t);
    if (!t[0]) return;
    if (!r->diagnostic[0] || all_digits(r->diagnostic) ||
        (strlen(t) > strlen(r->diagnostic) && rb_strcasestr(t, r->diagnostic))) {
        rb_strlcpy(r->diagnostic, t, sizeof r->diagnostic);
        return;
    }
    /* a precise status in the text beats a generic X.0.0 in the report */
    char st[RB_SHORT_MAX];
    if ((!r->status[0] || strcmp(r->status + 1, ".0.0") == 0) && rb_find_status(t, st, sizeof st) &&
        strcmp(st + 1, ".0.0") != 0)
        rb_strlcpy(r->diagnostic, t, sizeof r->diagnostic);
}

/* A status for a record read from text: from the text, else the class of
 * the reply code, else the class of the notice (5 failed, 4 delayed). */
static void text_status(rb_record *r, char cls)
{
    char st[RB_SHORT_MAX], rc[8];
    if (r->status[0] && strcmp(r->status + 1, ".0.0") != 0) return;
    if (rb_find_status(r->diagnostic, st, sizeof st)) {
        rb_strlcpy(r->status, st, sizeof r->status);
        return;
    }
    if (r->status[0]) return;
    if (rb_find_reply(r->diagnostic, rc, sizeof rc)) cls = rc[0] == '2' ? cls : rc[0];
    r->status[0] = cls;
    rb_strlcpy(r->status + 1, ".0.0", sizeof r->status - 1);
}

/* The returned message is inline in the text: point orig at it. */
static void orig_at(rb_msg *m, size_t off)
{
    if (m->orig || off >= m->body_len) return;
    /* skip the marker line itself */
    const char *nl = memchr(m->body + off, '\n', m->body_len - off);
    if (!nl) return;
    size_t start = (size_t)(nl + 1 - m->body);
    rb_msg_set_orig(m, m->body + start, m->body_len - start);
}

/* Remove a trailing "(in reply to ... command)" comment. */
static void cut_in_reply(char *s)
{
    char *p = (char *)rb_strcasestr(s, "(in reply to ");
    if (p) {
        *p = '\0';
        rb_trim(s);
    }
}

/* ---- Postfix ---------------------------------------------------------------
 * "Undelivered Mail Returned to Sender" from MAILER-DAEMON (Mail Delivery
 * System).  The text names each recipient in a paragraph:
 *
 *   <user@example.org>: host mx.example.org[192.0.2.1] said: 550 5.1.1
 *       <user@example.org>: User unknown (in reply to RCPT TO command)
 *
 * ("<a> (expanded from <b>): ..." for aliases), usually followed by a
 * message/delivery-status part.  "--- Delivery report unavailable ---"
 * leaves only the original To: to go by. */
static int postfix_command(const char *text, char *out, size_t outlen)
{
    const char *p = rb_strcasestr(text, "(in reply to ");
    if (p) {
        p += 13;
        if (rb_strcaseprefix(p, "end of ")) p += 7;
        static const char *const cmds[] = {"RCPT", "MAIL", "DATA", "EHLO", "HELO", "STARTTLS", "AUTH"};
        for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
            if (rb_strcaseprefix(p, cmds[i])) { rb_strlcpy(out, cmds[i], outlen); return 1; }
        if (rb_strcaseprefix(p, "initial greeting")) { rb_strlcpy(out, "CONN", outlen); return 1; }
    }
    if (rb_strcasestr(text, "refused to talk to me")) { rb_strlcpy(out, "HELO", outlen); return 1; }
    if (rb_strcasestr(text, "connect to ") && (rb_strcasestr(text, "connection refused") ||
                                               rb_strcasestr(text, "connection timed out")))
        { rb_strlcpy(out, "CONN", outlen); return 1; }
    return 0;
}

/* Providers that send Postfix-style notices but have modules of their own. */
static int postfix_foreign(rb_msg *m)
{
    const char *rp = rb_msg_header(m, "Return-Path");
    return rb_msg_header(m, "X-AOL-IP") || rb_msg_header(m, "X-Yandex-Uniq") ||
           (rp && rb_strcasestr(rp, "@sendgrid.net"));
}

static int postfix_is(rb_msg *m)
{
    const char *s = m->subject;
    if (postfix_foreign(m)) return 0;
    if (!strcasecmp(s, "Undelivered Mail Returned to Sender") || !strcasecmp(s, "Delayed Mail (still being retried)") ||
        !strcasecmp(s, "Successful Mail Delivery Report") || rb_strcaseprefix(s, "Postfix SMTP server: errors from"))
        return 1;
    if (!rb_strcaseprefix(m->from_addr, "mailer-daemon@")) return 0;
    return m->body && (rb_strcasestrn(m->body, m->body_len, "This is the mail system at host") ||
                       rb_strcasestrn(m->body, m->body_len, "The Postfix program"));
}

/* "Postfix SMTP server: errors from host": a transcript of a session our
 * own server refused; the recipient is the RCPT TO of the transcript. */
static int postfix_smtpd_errors(rb_msg *m, rb_result *res)
{
    size_t pos = 0, first = res->n;
    const char *line;
    size_t ll;
    char buf[LINE_MAX_], cmd[16] = "", last_in[LINE_MAX_] = "";
    rb_record *r = NULL;
    while (rb_next_line(m->body, m->body_len, &pos, &line, &ll)) {
        line_copy(buf, sizeof buf, line, ll);
        rb_trim(buf);
        if (rb_strcaseprefix(buf, "In:")) {
            rb_strlcpy(last_in, buf + 3, sizeof last_in);
            rb_trim(last_in);
            char addr[RB_ADDR_MAX];
            if (rb_strcaseprefix(last_in, "RCPT TO:") && rb_find_address(last_in, addr, sizeof addr) &&
                rb_clean_address(addr) && !r)
                r = rec_for(res, first, addr, 1);
            size_t k = 0;
            while (k < sizeof cmd - 1 && isalpha((unsigned char)last_in[k])) { cmd[k] = (char)toupper((unsigned char)last_in[k]); k++; }
            cmd[k] = '\0';
            if (!strcmp(cmd, "QUIT")) cmd[0] = '\0';
        } else if (rb_strcaseprefix(buf, "Out:") && r) {
            char *t = buf + 4;
            while (*t == ' ') t++;
            if ((t[0] == '4' || t[0] == '5') && !r->diagnostic[0]) {
                rb_strlcpy(r->diagnostic, t, sizeof r->diagnostic);
                if (!strcmp(cmd, "DATA") || cmd[0] == '\0' || !strcmp(cmd, "RCPT") || !strcmp(cmd, "MAIL"))
                    rb_strlcpy(r->smtp_command, cmd[0] ? cmd : "DATA", sizeof r->smtp_command);
            }
        }
    }
    if (r && !r->diagnostic[0]) res->n = first;
    for (size_t i = first; i < res->n; i++) text_status(&res->recs[i], '5');
    return (int)(res->n - first);
}

/* "<user@example.org>: text" or "<a> (expanded from <b>): text" */
static int postfix_par_start(const char *s)
{
    if (s[0] != '<') return 0;
    const char *gt = strchr(s, '>');
    if (!gt || !memchr(s, '@', (size_t)(gt - s))) return 0;
    gt++;
    if (rb_strcaseprefix(gt, " (expanded from ")) {
        gt = strchr(gt, ')');
        if (!gt) return 0;
        gt++;
    }
    return *gt == ':';
}

static int parse_postfix(rb_msg *m, rb_result *res)
{
    if (!m->body || !postfix_is(m)) return 0;
    if (rb_strcaseprefix(m->subject, "Postfix SMTP server: errors from")) return postfix_smtpd_errors(m, res);
    size_t first = res->n;
    int from_ds = rb_parse_rfc3464(m, res) > 0;

    /* the text paragraphs */
    size_t pos = 0;
    const char *line;
    size_t ll;
    char buf[LINE_MAX_];
    char addr[RB_ADDR_MAX] = "", alias[RB_ADDR_MAX] = "";
    char text[RB_TEXT_MAX] = "";
    int unavailable = 0, in_par = 0;
    while (1) {
        int more = rb_next_line(m->body, m->body_len, &pos, &line, &ll);
        if (more) line_copy(buf, sizeof buf, line, ll);
        int starts = more && postfix_par_start(buf);
        if (more && rb_strcasestr(buf, "--- Delivery report unavailable ---")) unavailable = 1;
        if (!more || starts || rb_is_blank(buf, strlen(buf))) {
            if (in_par && addr[0]) {
                rb_record *r = rec_for(res, first, addr, !from_ds);
                if (!r && alias[0]) r = rec_for(res, first, alias, 0);
                if (r) {
                    char cmd[16];
                    if (!r->smtp_command[0] && postfix_command(text, cmd, sizeof cmd))
                        rb_strlcpy(r->smtp_command, cmd, sizeof r->smtp_command);
                    const char *h = rb_strcasestr(text, "host ");
                    if (!r->remote_mta[0] && h && (h == text) && strchr(h, '[')) {
                        rb_strlcpyn(r->remote_mta, h + 5, strcspn(h + 5, "[ "), sizeof r->remote_mta);
                    }
                    cut_in_reply(text);
                    take_text_diag(r, text);
                }
            }
            in_par = 0;
            addr[0] = alias[0] = text[0] = '\0';
            if (!more) break;
            if (!starts) continue;
        }
        if (starts) {
            const char *gt = strchr(buf, '>');
            rb_strlcpyn(addr, buf + 1, (size_t)(gt - buf - 1), sizeof addr);
            if (!rb_clean_address(addr)) { addr[0] = '\0'; continue; }
            const char *rest = gt + 1;
            if (rb_strcaseprefix(rest, " (expanded from ")) {
                const char *a = strchr(rest, '<'), *b = a ? strchr(a, '>') : NULL;
                if (a && b) rb_strlcpyn(alias, a + 1, (size_t)(b - a - 1), sizeof alias);
                const char *c = strchr(rest, ')');
                rest = c ? c + 1 : rest;
            }
            if (*rest != ':') { addr[0] = '\0'; continue; }
            rb_strlcpy(text, rest + 1, sizeof text);
            in_par = 1;
            continue;
        }
        if (in_par) append(text, sizeof text, buf);
    }
    if (res->n == first && unavailable) {
        /* no report: the original message's To: is all there is */
        const char *to = rb_msg_orig_header(m, "To");
        char a[RB_ADDR_MAX];
        if (to && rb_find_address(to, a, sizeof a) && rb_clean_address(a)) rec_for(res, first, a, 1);
    }
    for (size_t i = first; i < res->n; i++) {
        rb_record *r = &res->recs[i];
        char cmd[16];
        if (!r->smtp_command[0] && postfix_command(r->diagnostic, cmd, sizeof cmd))
            rb_strlcpy(r->smtp_command, cmd, sizeof r->smtp_command);
        if (!from_ds) text_status(r, strcmp(m->subject, "Delayed Mail (still being retried)") ? '5' : '4');
        if (!r->dsn_action[0] && !from_ds)
            rb_strlcpy(r->dsn_action, strcasestr(m->subject, "Delayed") ? "delayed" : "failed", sizeof r->dsn_action);
    }
    return (int)(res->n - first);
}

/* ---- Sendmail transcripts (V8 and V5) --------------------------------------
 * The text lists the recipients and then the SMTP session:
 *
 *      ----- Transcript of session follows -----
 *   ... while talking to mx.example.org.:
 *   >>> RCPT To:<user@example.org>
 *   <<< 550 5.1.1 <user@example.org>... User unknown
 *   550 5.1.1 <user@example.org>... User unknown
 *
 * ">>>" lines are our commands, "<<<" lines the remote replies, and
 * "NNN <addr>... text" lines sendmail's verdict for one recipient. */
typedef struct {
    char cmd[16];                /* last >>> command */
    char replies[RB_TEXT_MAX];   /* <<< lines since the last verdict */
    char host[RB_HOST_MAX];
} sm_session;

static void sm_command(const char *s, char *out, size_t outlen)
{
    char w[16];
    size_t k = 0;
    while (k < sizeof w - 1 && isalpha((unsigned char)s[k])) { w[k] = (char)toupper((unsigned char)s[k]); k++; }
    w[k] = '\0';
    static const char *const ok[] = {"RCPT", "MAIL", "DATA", "EHLO", "HELO", "STARTTLS", "AUTH"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (!strcmp(w, ok[i])) { rb_strlcpy(out, w, outlen); return; }
    if (!strcmp(w, "QUIT") || !strcmp(w, "RSET")) return;
}

/* "552-5.7.0 text" continuation of a multi-line reply: drop the code. */
static const char *reply_text(const char *s, int first)
{
    if (first) return s;
    if (isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) && isdigit((unsigned char)s[2]) &&
        (s[3] == '-' || s[3] == ' ')) {
        const char *p = s + 4;
        char st[RB_SHORT_MAX];
        if (rb_find_status(p, st, sizeof st) && strncmp(p, st, strlen(st)) == 0) p += strlen(st);
        while (*p == ' ') p++;
        return p;
    }
    return s;
}

/* Read the transcript and apply what it says to the records from
 * first on.  create: add recipients named in verdict lines. */
static void sm_transcript(rb_msg *m, rb_result *res, size_t first, size_t from, size_t end, int create)
{
    size_t pos = from;
    const char *line;
    size_t ll;
    char buf[LINE_MAX_];
    sm_session s;
    memset(&s, 0, sizeof s);
    char all_replies[RB_TEXT_MAX] = "", all_cmd[16] = "", other[RB_TEXT_MAX] = "";
    char other_status[RB_SHORT_MAX] = "";
    unsigned char named[256];   /* records a verdict line named (first 256) */
    memset(named, 0, sizeof named);
    while (pos < end && rb_next_line(m->body, end, &pos, &line, &ll)) {
        line_copy(buf, sizeof buf, line, ll);
        if (rb_is_blank(buf, strlen(buf))) continue;
        const char *t = buf;
        while (*t == ' ' || *t == '\t') t++;
        if (rb_strcaseprefix(t, "... while talking to ") || rb_strcaseprefix(t, "while talking to ")) {
            /* the prefix matched without regard to case: find the host the same way */
            const char *h = rb_strcasestr(t, "talking to ") + 11;
            rb_strlcpyn(s.host, h, strcspn(h, ": "), sizeof s.host);
            size_t hl = strlen(s.host);
            if (hl && s.host[hl - 1] == '.') s.host[hl - 1] = '\0';
            s.replies[0] = '\0';
            continue;
        }
        if (!strncmp(t, ">>> ", 4)) {
            sm_command(t + 4, s.cmd, sizeof s.cmd);
            continue;
        }
        if (!strncmp(t, "<<< ", 4)) {
            append(s.replies, sizeof s.replies, reply_text(t + 4, s.replies[0] == '\0'));
            if (!all_replies[0] || !strstr(all_replies, t + 4))
                append(all_replies, sizeof all_replies, reply_text(t + 4, all_replies[0] == '\0'));
            if (s.cmd[0]) rb_strlcpy(all_cmd, s.cmd, sizeof all_cmd);
            continue;
        }
        /* "550 5.1.1 <addr>... text" or "<addr>... Deferred: text" */
        const char *lt = strchr(t, '<');
        const char *dots = lt ? strstr(lt, ">...") : NULL;
        char addr[RB_ADDR_MAX] = "";
        if (lt && dots && (lt == t || isdigit((unsigned char)t[0]))) {
            rb_strlcpyn(addr, lt + 1, (size_t)(dots - lt - 1), sizeof addr);
            if (!rb_clean_address(addr)) addr[0] = '\0';
        }
        if (addr[0]) {
            rb_record *r = rec_for(res, first, addr, create);
            if (r) {
                size_t idx = (size_t)(r - res->recs) - first;
                if (idx < sizeof named) named[idx] = 1;
                char d[RB_TEXT_MAX] = "";
                if (s.replies[0]) append(d, sizeof d, s.replies);
                append(d, sizeof d, t);
                take_text_diag(r, d);
                if (s.replies[0] && strlen(s.replies) > strlen(r->diagnostic))
                    rb_strlcpy(r->diagnostic, d, sizeof r->diagnostic);
                if (!r->smtp_command[0] && s.cmd[0]) rb_strlcpy(r->smtp_command, s.cmd, sizeof r->smtp_command);
                if (!r->remote_mta[0] && s.host[0]) rb_strlcpy(r->remote_mta, s.host, sizeof r->remote_mta);
            }
            s.replies[0] = '\0';
            s.cmd[0] = '\0';
            continue;
        }
        /* "554 5.3.0 unknown mailer error 255", "451 4.0.0 Operating system error" */
        if (isdigit((unsigned char)t[0]) && isdigit((unsigned char)t[1]) && isdigit((unsigned char)t[2]) && t[3] == ' ') {
            char st[RB_SHORT_MAX];
            if (rb_find_status(t + 4, st, sizeof st) && !strncmp(t + 4, st, strlen(st))) {
                if (!other_status[0]) rb_strlcpy(other_status, st, sizeof other_status);
                append(other, sizeof other, t);
            }
        }
    }
    rb_squeeze(all_replies);
    /* what the session said applies to the records it did not name */
    for (size_t i = first; i < res->n; i++) {
        rb_record *r = &res->recs[i];
        if (i - first < sizeof named && named[i - first]) continue;
        if (all_replies[0]) {
            if (!r->diagnostic[0] || all_digits(r->diagnostic) ||
                (strlen(all_replies) > strlen(r->diagnostic) && rb_strcasestr(all_replies, r->diagnostic)))
                rb_strlcpy(r->diagnostic, all_replies, sizeof r->diagnostic);
            if (!r->smtp_command[0] && all_cmd[0]) rb_strlcpy(r->smtp_command, all_cmd, sizeof r->smtp_command);
        } else if (other[0]) {
            if (!r->diagnostic[0] || all_digits(r->diagnostic)) rb_strlcpy(r->diagnostic, other, sizeof r->diagnostic);
            if ((!r->status[0] || strcmp(r->status + 1, ".0.0") == 0) && other_status[0])
                rb_strlcpy(r->status, other_status, sizeof r->status);
        }
        /* the remote server's own status is more precise than sendmail's */
        char st[RB_SHORT_MAX];
        if (all_replies[0] && rb_strcasestr(r->diagnostic, all_replies) && rb_find_status(all_replies, st, sizeof st))
            rb_strlcpy(r->status, st, sizeof r->status);
    }
}

static const char *const sm_transcript_mark[] = {"----- Transcript of session follows -----"};
static const char *const sm_end_marks[] = {
    "----- Original message follows -----", "----- Message header follows -----",
    "----- Unsent message follows -----", "----- Returned message follows -----",
    "----- Message body suppressed -----",
};

/* "   ----- The following addresses had permanent fatal errors -----":
 * "<addr>" lines, each maybe followed by "(reason: ...)" and
 * "(expanded from: <alias>)". */
static void sm_fatal_list(rb_msg *m, rb_result *res, size_t first, int create)
{
    static const char *const marks[] = {"----- The following addresses had permanent fatal errors -----",
                                        "----- The following addresses had transient non-fatal errors -----"};
    size_t at = find_line(m, 0, marks, 2);
    if (at >= m->body_len) return;
    size_t pos = at;
    const char *line;
    size_t ll;
    char buf[LINE_MAX_];
    rb_next_line(m->body, m->body_len, &pos, &line, &ll);
    rb_record *cur = NULL;
    while (rb_next_line(m->body, m->body_len, &pos, &line, &ll)) {
        line_copy(buf, sizeof buf, line, ll);
        char *t = rb_trim(buf);
        if (!*t) { if (cur) break; continue; }
        if (rb_strcaseprefix(t, "-----")) break;
        if (rb_strcaseprefix(t, "(reason:") && cur) {
            char d[RB_TEXT_MAX];
            rb_strlcpy(d, t + 8, sizeof d);
            size_t n = strlen(d);
            if (n && d[n - 1] == ')') d[n - 1] = '\0';
            take_text_diag(cur, d);
            continue;
        }
        if (rb_strcaseprefix(t, "(expanded from:")) {
            char a[RB_ADDR_MAX];
            if (!cur && rb_find_address(t, a, sizeof a) && rb_clean_address(a)) cur = rec_for(res, first, a, create);
            continue;
        }
        char a[RB_ADDR_MAX];
        cur = NULL;
        if (t[0] == '<' && rb_find_address(t, a, sizeof a) && rb_clean_address(a)) cur = rec_for(res, first, a, create);
    }
}

static int parse_sendmail(rb_msg *m, rb_result *res)
{
    if (!m->body) return 0;
    const char *s = m->subject;
    if (!rb_strcasestr(s, "see transcript for details") && !rb_strcaseprefix(s, "Warning: could not send message") &&
        !rb_strcaseprefix(s, "Returned mail:") && !rb_strcaseprefix(s, "Warning: "))
        return 0;
    if (rb_msg_header(m, "X-AOL-IP") || rb_strcasestr(m->from_addr, "@bigfoot.com")) return 0;
    size_t tr = find_line(m, 0, sm_transcript_mark, 1);
    int fatal = rb_strcasestrn(m->body, m->body_len, "----- The following addresses had ") != NULL;
    /* V8 sends a delivery-status part; without one it is V5 (below) */
    if (!m->nds && !fatal) return 0;
    if (tr >= m->body_len && !fatal) return 0;
    size_t first = res->n;
    int from_ds = rb_parse_rfc3464(m, res) > 0;
    sm_fatal_list(m, res, first, !from_ds);
    if (tr < m->body_len) {
        size_t end = find_line(m, tr + 1, sm_end_marks, sizeof sm_end_marks / sizeof sm_end_marks[0]);
        size_t pos = tr;
        const char *line;
        size_t ll;
        rb_next_line(m->body, m->body_len, &pos, &line, &ll);
        sm_transcript(m, res, first, pos, end, !from_ds);
    }
    for (size_t i = first; i < res->n; i++)
        if (!from_ds) text_status(&res->recs[i], rb_strcaseprefix(s, "Warning:") ? '4' : '5');
    return (int)(res->n - first);
}

/* ---- V5 sendmail ------------------------------------------------------------
 * Plain text, no delivery-status part: "Returned mail: ..." with a
 * "----- Transcript of session follows -----" whose verdict lines
 * ("554 <addr>... text") name the recipients, and the returned message
 * after "----- Unsent message follows -----". */
static int parse_v5sendmail(rb_msg *m, rb_result *res)
{
    if (!m->body || m->nds) return 0;
    if (!rb_strcaseprefix(m->subject, "Returned mail:")) return 0;
    size_t tr = find_line(m, 0, sm_transcript_mark, 1);
    if (tr >= m->body_len) return 0;
    size_t end = find_line(m, tr + 1, sm_end_marks, sizeof sm_end_marks / sizeof sm_end_marks[0]);
    if (end >= m->body_len) return 0;
    size_t first = res->n;
    size_t pos = tr;
    const char *line;
    size_t ll;
    rb_next_line(m->body, m->body_len, &pos, &line, &ll);
    sm_transcript(m, res, first, pos, end, 1);
    orig_at(m, end);
    if (res->n == first) {
        /* no verdict names an address: the returned message's To: does */
        const char *to = rb_msg_orig_header(m, "To");
        char a[RB_ADDR_MAX];
        rb_record *r = NULL;
        if (to && rb_find_address(to, a, sizeof a) && rb_clean_address(a)) r = rec_for(res, first, a, 1);
        if (r) {
            /* the transcript's last verdict line is the error */
            size_t p2 = pos;
            const char *ln;
            size_t l2;
            char buf[LINE_MAX_];
            while (rb_next_line(m->body, end, &p2, &ln, &l2)) {
                line_copy(buf, sizeof buf, ln, l2);
                char *t = rb_trim(buf);
                if (isdigit((unsigned char)t[0]) && strstr(t, "... ")) rb_strlcpy(r->diagnostic, t, sizeof r->diagnostic);
            }
        }
    }
    for (size_t i = first; i < res->n; i++) {
        text_status(&res->recs[i], '5');
        rb_strlcpy(res->recs[i].dsn_action, "failed", sizeof res->recs[i].dsn_action);
    }
    return (int)(res->n - first);
}

/* ---- Exim ------------------------------------------------------------------
 * "Mail delivery failed: returning message to sender" from Mail Delivery
 * System, X-Failed-Recipients.  After "This message was created
 * automatically by mail delivery software." each failed address is on a
 * line indented by two spaces, its error on the lines indented further:
 *
 *     user@example.org
 *       SMTP error from remote mail server after RCPT TO:<user@example.org>:
 *       host mx.example.org [192.0.2.1]: 550 5.1.1 User unknown
 *
 * A pipe or file delivery names "pipe to |cmd" / "save to file" and the
 * address on a "generated by" line.  "Warning: message ... delayed" has
 * the same layout for messages still in the queue. */
static const char *const exim_marks[] = {
    "This message was created automatically by mail delivery software.",
    "A message that you sent could not be delivered to all of its recipients",
    "A message that you sent contained one or more recipient addresses ",
    "A message that you sent was rejected by the local scanning code",
};
static const char *const exim_end[] = {
    "------ This is a copy of the message", "------ The body of the message is",
    "No action is required on your part.", "Content-Type: message/",
};

static int exim_command(const char *text, char *out, size_t outlen)
{
    const char *p = rb_strcasestr(text, "error from remote mail server after ");
    size_t skip = 36;
    if (!p) { p = rb_strcasestr(text, "error from remote mailer after "); skip = 31; }
    if (!p) { p = rb_strcasestr(text, "LMTP error after "); skip = 17; }
    if (!p) return 0;
    p += skip;
    if (rb_strcaseprefix(p, "pipelined ")) p += 10;
    static const struct { const char *w; const char *cmd; } tab[] = {
        {"RCPT", "RCPT"}, {"MAIL", "MAIL"}, {"end of data", "DATA"}, {"DATA", "DATA"},
        {"initial connection", "CONN"}, {"EHLO", "EHLO"}, {"HELO", "HELO"}, {"STARTTLS", "STARTTLS"},
        {"AUTH", "AUTH"}, {"LHLO", "EHLO"},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (rb_strcaseprefix(p, tab[i].w)) { rb_strlcpy(out, tab[i].cmd, outlen); return 1; }
    return 0;
}

static int exim_is(rb_msg *m)
{
    if (!m->body) return 0;
    if (rb_strcasestr(m->from_addr, ".mail.ru") || rb_strcasestr(m->from_addr, "@mail.ru")) return 0;
    int score = 0;
    if (rb_strcaseprefix(m->from, "Mail Delivery System") || rb_strcasestr(m->from, "(Mail Delivery System)")) score++;
    if (rb_msg_header(m, "X-Failed-Recipients")) score++;
    const char *id = m->message_id;
    if (id && *id == '<') id++;
    if (id && strlen(id) > 17 && id[7] == '-' && id[14] == '-' && id[17] == '@') score++;
    const char *s = m->subject;
    if (rb_strcaseprefix(s, "Mail delivery failed") || (rb_strcaseprefix(s, "Warning: message ") && rb_strcasestr(s, " delayed")) ||
        rb_strcaseprefix(s, "Mail failure") || rb_strcaseprefix(s, "Message frozen") ||
        rb_strcasestr(s, "error(s) in forwarding or filtering"))
        score++;
    if (score < 2) return 0;
    return find_line(m, 0, exim_marks, sizeof exim_marks / sizeof exim_marks[0]) < m->body_len;
}

typedef struct {
    char addr[RB_ADDR_MAX];      /* the address as listed (may be "pipe to ...") */
    char alias[RB_ADDR_MAX];     /* "generated by" / "(generated from ...)" */
    char text[RB_TEXT_MAX];
    int used;
} exim_block;

static void exim_flush(rb_msg *m, rb_result *res, size_t first, int from_ds, exim_block *b,
                       const char *xfailed, size_t *xi)
{
    if (!b->used) return;
    b->used = 0;
    char a[RB_ADDR_MAX] = "";
    char tmp[RB_ADDR_MAX];
    rb_strlcpy(tmp, b->addr, sizeof tmp);
    if (rb_clean_address(tmp)) rb_strlcpy(a, tmp, sizeof a);
    else if (b->alias[0] && (rb_strlcpy(tmp, b->alias, sizeof tmp), rb_clean_address(tmp)))
        rb_strlcpy(a, tmp, sizeof a);
    else if (xfailed) {
        /* the n-th address of X-Failed-Recipients */
        const char *p = xfailed;
        for (size_t k = 0; p && k <= *xi; k++) p = rb_find_address(p, tmp, sizeof tmp);
        if (p && rb_clean_address(tmp)) rb_strlcpy(a, tmp, sizeof a);
    }
    (*xi)++;
    if (!a[0]) return;
    rb_record *r = rec_for(res, first, a, !from_ds);
    if (!r && b->alias[0] && (rb_strlcpy(tmp, b->alias, sizeof tmp), rb_clean_address(tmp)))
        r = rec_for(res, first, tmp, 0);
    if (!r) return;
    char cmd[16];
    if (!r->smtp_command[0] && exim_command(b->text, cmd, sizeof cmd))
        rb_strlcpy(r->smtp_command, cmd, sizeof r->smtp_command);
    const char *h = rb_strcasestr(b->text, "host ");
    if (!r->remote_mta[0] && h && strchr(h, '['))
        rb_strlcpyn(r->remote_mta, h + 5, strcspn(h + 5, " ["), sizeof r->remote_mta);
    /* a pipe/file delivery: the listed target is part of the error */
    char d[RB_TEXT_MAX] = "";
    size_t wl = strcspn(b->addr, " \t");
    if (wl && !memchr(b->addr, '@', wl)) append(d, sizeof d, b->addr);
    append(d, sizeof d, b->text);
    take_text_diag(r, d);
    (void)m;
}

static int parse_exim(rb_msg *m, rb_result *res)
{
    if (!exim_is(m)) return 0;
    size_t first = res->n;
    int from_ds = rb_parse_rfc3464(m, res) > 0;
    const char *xfailed = rb_msg_header(m, "X-Failed-Recipients");
    int delayed = rb_strcaseprefix(m->subject, "Warning:") ||
                  rb_strcasestrn(m->body, m->body_len, "has not yet been delivered") != NULL;
    size_t start = find_line(m, 0, exim_marks, sizeof exim_marks / sizeof exim_marks[0]);
    size_t end = find_line(m, start, exim_end, sizeof exim_end / sizeof exim_end[0]);
    size_t pos = start, xi = 0;
    const char *line;
    size_t ll;
    char buf[LINE_MAX_];
    exim_block b;
    memset(&b, 0, sizeof b);
    while (pos < end && rb_next_line(m->body, end, &pos, &line, &ll)) {
        line_copy(buf, sizeof buf, line, ll);
        size_t ind = strspn(buf, " \t");
        if (rb_is_blank(buf, strlen(buf)) || ind == 0) {
            /* a blank line or unindented prose ends an address block */
            exim_flush(m, res, first, from_ds, &b, xfailed, &xi);
            continue;
        }
        char *t = buf + ind;
        if (ind == 2 && strncmp(t, "<", 1) != 0) {
            exim_flush(m, res, first, from_ds, &b, xfailed, &xi);
            memset(&b, 0, sizeof b);
            b.used = 1;
            /* "user@example.org", "user@example.org: text", "x <user@example.org>: text" */
            const char *lt = strchr(t, '<'), *gt = lt ? strchr(lt, '>') : NULL;
            size_t wl = strcspn(t, " \t");
            char word[RB_ADDR_MAX];
            rb_strlcpyn(word, t, wl, sizeof word);
            size_t n = strlen(word);
            if (n && word[n - 1] == ':') word[--n] = '\0';
            if (strchr(word, '@') && lt && gt && gt[1] == ':') {
                rb_strlcpyn(b.addr, lt + 1, (size_t)(gt - lt - 1), sizeof b.addr);
                rb_strlcpy(b.text, t, sizeof b.text);
            } else if (strchr(word, '@')) {
                rb_strlcpy(b.addr, word, sizeof b.addr);
                const char *colon = t + wl;
                if (wl && t[wl - 1] == ':') colon = t + wl;
                else if (*colon == ':') colon++;
                else colon = NULL;
                if (colon) rb_strlcpy(b.text, colon, sizeof b.text);
                const char *g = rb_strcasestr(t, "generated from ");
                if (g) rb_strlcpyn(b.alias, g + 15, strcspn(g + 15, ") \t"), sizeof b.alias);
            } else {
                rb_strlcpy(b.addr, t, sizeof b.addr);   /* pipe to |..., save to ..., an undisclosed address */
            }
            continue;
        }
        if (!b.used) continue;
        const char *g = NULL;
        if ((g = rb_strcasestr(t, "generated by ")) == t) {
            rb_strlcpyn(b.alias, g + 13, strcspn(g + 13, " \t"), sizeof b.alias);
            continue;
        }
        if (t[0] == '(' && (g = rb_strcasestr(t, "generated from "))) {
            if (!b.alias[0]) rb_strlcpyn(b.alias, g + 15, strcspn(g + 15, ") \t"), sizeof b.alias);
            continue;
        }
        append(b.text, sizeof b.text, t);
    }
    exim_flush(m, res, first, from_ds, &b, xfailed, &xi);
    if (res->n == first && xfailed && !from_ds) {
        const char *p = xfailed;
        char a[RB_ADDR_MAX];
        while ((p = rb_find_address(p, a, sizeof a)))
            if (rb_clean_address(a)) rec_for(res, first, a, 1);
    }
    size_t cp = find_line(m, start, exim_end, 2);
    if (cp < m->body_len) orig_at(m, cp);
    for (size_t i = first; i < res->n; i++) {
        rb_record *r = &res->recs[i];
        if (!from_ds) text_status(r, delayed ? '4' : '5');
        if (!r->dsn_action[0]) rb_strlcpy(r->dsn_action, delayed ? "delayed" : "failed", sizeof r->dsn_action);
    }
    return (int)(res->n - first);
}

/* ---- qmail -----------------------------------------------------------------
 * "failure notice" from MAILER-DAEMON, plain text by qmail-send:
 *
 *   Hi. This is the qmail-send program at mx.example.net.
 *   I'm afraid I wasn't able to deliver your message to the following addresses.
 *   This is a permanent error; I've given up. Sorry it didn't work out.
 *
 *   <user@example.org>:
 *   192.0.2.1 does not like recipient.
 *   Remote host said: 550 5.1.1 User unknown
 *   Giving up on 192.0.2.1.
 *
 *   --- Below this line is a copy of the message.
 *
 * The sentence before "Remote host said" tells the SMTP stage. */
static const char *const qmail_marks[] = {
    "Hi. This is the qmail", "He/Her is not ", "This is the machine generated message from mail service",
    "I'm afraid I wasn't able to deliver your message to the following addresses.",
    "Unfortunately, your mail was not delivered to the following address:",
};
static const char *const qmail_end[] = {
    "--- Below this line is a copy of the message.", "--- Enclosed is a copy of the message.",
    "--- Original message follows.", "--- Below the next line is a copy of the message.",
    "Content-Type: message/rfc822",
};

static const char *qmail_command(const char *text)
{
    static const struct { const char *phrase; const char *cmd; } tab[] = {
        {"does not like recipient", "RCPT"}, {"failed after I sent the message", "DATA"},
        {"but sender was rejected", "MAIL"}, {"but my name was rejected", "HELO"},
        {"wasn't able to establish an SMTP connection", "CONN"}, {"Sorry, I couldn't find any host", NULL},
        {"didn't like recipient", "RCPT"}, {"does not like sender", "MAIL"},
        {"STARTTLS proto", "STARTTLS"}, {"TLS connect failed", "STARTTLS"},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (rb_strcasestr(text, tab[i].phrase)) return tab[i].cmd;
    return NULL;
}

static int parse_qmail(rb_msg *m, rb_result *res)
{
    if (!m->body) return 0;
    size_t start = find_line(m, 0, qmail_marks, sizeof qmail_marks / sizeof qmail_marks[0]);
    if (start >= m->body_len) return 0;
    if (!rb_strcasestrn(m->body, start + 400 < m->body_len ? start + 400 : m->body_len, "qmail") &&
        !rb_strcasestr(m->subject, "failure notice"))
        return 0;
    size_t end = find_line(m, start, qmail_end, sizeof qmail_end / sizeof qmail_end[0]);
    size_t first = res->n;
    int from_ds = m->nds && rb_parse_rfc3464(m, res) > 0;
    size_t pos = start;
    const char *line;
    size_t ll;
    char buf[LINE_MAX_], text[RB_TEXT_MAX] = "", said[RB_TEXT_MAX] = "";
    rb_record *cur = NULL;
    while (1) {
        int more = pos < end && rb_next_line(m->body, end, &pos, &line, &ll);
        if (more) line_copy(buf, sizeof buf, line, ll);
        char *t = more ? rb_trim(buf) : buf;
        size_t tl = more ? strlen(t) : 0;
        int starts = more && t[0] == '<' && tl > 2 && t[tl - 1] == ':' && t[tl - 2] == '>';
        if (!more || starts || !tl) {
            if (cur) {
                const char *c = qmail_command(text);
                if (c && !cur->smtp_command[0]) rb_strlcpy(cur->smtp_command, c, sizeof cur->smtp_command);
                const char *d = said[0] ? said : text;
                take_text_diag(cur, d);
                if (said[0]) append(cur->diagnostic, sizeof cur->diagnostic, "");
            }
            cur = NULL;
            text[0] = said[0] = '\0';
            if (!more) break;
            if (!starts) continue;
        }
        if (starts) {
            char a[RB_ADDR_MAX];
            rb_strlcpyn(a, t + 1, tl - 3, sizeof a);
            if (rb_clean_address(a)) cur = rec_for(res, first, a, !from_ds);
            continue;
        }
        if (!cur) continue;
        append(text, sizeof text, t);
        if (rb_strcaseprefix(t, "Remote host said:")) rb_strlcpy(said, t + 17, sizeof said);
        else if (said[0] && !rb_strcaseprefix(t, "Giving up on ") && !rb_strcaseprefix(t, "I'm not going to try again"))
            append(said, sizeof said, t);
    }
    orig_at(m, end);
    for (size_t i = first; i < res->n; i++) {
        rb_record *r = &res->recs[i];
        if (!from_ds) text_status(r, '5');
        if (!r->dsn_action[0]) rb_strlcpy(r->dsn_action, "failed", sizeof r->dsn_action);
    }
    return (int)(res->n - first);
}

/* ---- Courier ---------------------------------------------------------------
 * "NOTICE: mail delivery status." from a server "running the Courier mail
 * server"; each recipient is a block with the SMTP dialogue:
 *
 *   <user@example.org>:
 *       mx.example.org [192.0.2.1]:
 *   >>> RCPT TO:<user@example.org>
 *   <<< 550 5.1.1 User unknown
 *
 * plus a delivery-status part. */
static int parse_courier(rb_msg *m, rb_result *res)
{
    if (!m->body) return 0;
    if (!rb_strcasestrn(m->body, m->body_len, "running the Courier mail server") &&
        !(rb_strcaseprefix(m->subject, "NOTICE: mail delivery status.") &&
          rb_strcasestr(m->message_id, "courier")))
        return 0;
    size_t first = res->n;
    int from_ds = rb_parse_rfc3464(m, res) > 0;
    size_t pos = 0;
    const char *line;
    size_t ll;
    char buf[LINE_MAX_], replies[RB_TEXT_MAX] = "", cmd[16] = "", host[RB_HOST_MAX] = "";
    rb_record *cur = NULL;
    while (1) {
        int more = rb_next_line(m->body, m->body_len, &pos, &line, &ll);
        if (more) line_copy(buf, sizeof buf, line, ll);
        char *t = more ? rb_trim(buf) : buf;
        size_t tl = more ? strlen(t) : 0;
        int starts = more && t[0] == '<' && tl > 2 && t[tl - 1] == ':' && t[tl - 2] == '>';
        if (!more || starts || rb_strcaseprefix(t, "-----")) {
            if (cur) {
                if (!cur->smtp_command[0] && cmd[0]) rb_strlcpy(cur->smtp_command, cmd, sizeof cur->smtp_command);
                if (!cur->remote_mta[0] && host[0]) rb_strlcpy(cur->remote_mta, host, sizeof cur->remote_mta);
                take_text_diag(cur, replies);
            }
            cur = NULL;
            replies[0] = cmd[0] = host[0] = '\0';
            if (!more) break;
            if (!starts) continue;
        }
        if (starts) {
            char a[RB_ADDR_MAX];
            rb_strlcpyn(a, t + 1, tl - 3, sizeof a);
            if (rb_clean_address(a)) cur = rec_for(res, first, a, !from_ds);
            continue;
        }
        if (!cur) continue;
        if (!strncmp(t, ">>> ", 4)) sm_command(t + 4, cmd, sizeof cmd);
        else if (!strncmp(t, "<<< ", 4)) append(replies, sizeof replies, reply_text(t + 4, replies[0] == '\0'));
        else if (!host[0] && tl && t[tl - 1] == ':' && strchr(t, '['))
            rb_strlcpyn(host, t, strcspn(t, " ["), sizeof host);
        else if (tl && !replies[0]) append(replies, sizeof replies, t);
    }
    for (size_t i = first; i < res->n; i++)
        if (!from_ds) text_status(&res->recs[i], '5');
    return (int)(res->n - first);
}

/* ---- OpenSMTPD ---------------------------------------------------------------
 * "Delivery status notification: error|failed|delayed" from Mailer Daemon:
 *
 *       This is the MAILER-DAEMON, please DO NOT REPLY to this e-mail.
 *       An error has occurred while attempting to deliver a message for
 *       the following list of recipients:
 *
 *   user@example.org: 550 5.1.1 User unknown
 *
 *       Below is a copy of the original message:
 *
 * Newer versions add a delivery-status part whose Status is only 5.0.0. */
static int parse_opensmtpd(rb_msg *m, rb_result *res)
{
    if (!m->body || !rb_strcaseprefix(m->subject, "Delivery status notification")) return 0;
    static const char *const marks[] = {"This is the MAILER-DAEMON, please DO NOT REPLY to this"};
    size_t start = find_line(m, 0, marks, 1);
    if (start >= m->body_len) return 0;
    static const char *const ends[] = {"Below is a copy of the original message:"};
    size_t end = find_line(m, start, ends, 1);
    int delayed = rb_strcasestrn(m->body, end, "A message is delayed") != NULL ||
                  rb_strcasestr(m->subject, "delayed");
    size_t first = res->n;
    int from_ds = rb_parse_rfc3464(m, res) > 0;
    size_t pos = start;
    const char *line;
    size_t ll;
    char buf[LINE_MAX_];
    while (pos < end && rb_next_line(m->body, end, &pos, &line, &ll)) {
        line_copy(buf, sizeof buf, line, ll);
        if (buf[0] == ' ' || buf[0] == '\t' || !buf[0]) continue;
        /* "user@example.org: text" */
        char *colon = strstr(buf, ": ");
        if (!colon) continue;
        char a[RB_ADDR_MAX];
        rb_strlcpyn(a, buf, (size_t)(colon - buf), sizeof a);
        if (!strchr(a, '@') || !rb_clean_address(a)) continue;
        rb_record *r = rec_for(res, first, a, !from_ds);
        if (r) take_text_diag(r, colon + 2);
    }
    if (end < m->body_len) orig_at(m, end);
    for (size_t i = first; i < res->n; i++) {
        rb_record *r = &res->recs[i];
        text_status(r, delayed ? '4' : '5');
        if (!r->dsn_action[0]) rb_strlcpy(r->dsn_action, delayed ? "delayed" : "failed", sizeof r->dsn_action);
    }
    return (int)(res->n - first);
}

/* ---- DragonFly Mail Agent ------------------------------------------------
 * "Mail delivery failed" from MAILER-DAEMON, plain text:
 *
 *   This is the DragonFly Mail Agent v0.13 at mx.example.net.
 *
 *   There was an error delivering your mail to <user@example.org>.
 *
 *   mx.example.org [192.0.2.1] did not like our RCPT TO:
 *   550 5.1.1 User unknown
 *
 *   Message headers follow.
 */
static int parse_dragonfly(rb_msg *m, rb_result *res)
{
    if (!m->body) return 0;
    static const char *const marks[] = {"This is the DragonFly Mail Agent"};
    size_t start = find_line(m, 0, marks, 1);
    if (start >= m->body_len) return 0;
    static const char *const ends[] = {"Message headers follow.", "Original message follows."};
    size_t end = find_line(m, start, ends, 2);
    size_t first = res->n;
    size_t pos = start;
    const char *line;
    size_t ll;
    char buf[LINE_MAX_], text[RB_TEXT_MAX] = "";
    rb_record *cur = NULL;
    while (pos < end && rb_next_line(m->body, end, &pos, &line, &ll)) {
        line_copy(buf, sizeof buf, line, ll);
        char *t = rb_trim(buf);
        const char *p = rb_strcasestr(t, "error delivering your mail to <");
        if (p) {
            if (cur) { take_text_diag(cur, text); text[0] = '\0'; }
            char a[RB_ADDR_MAX];
            if (rb_find_address(p, a, sizeof a) && rb_clean_address(a)) cur = rec_for(res, first, a, 1);
            continue;
        }
        if (cur && *t) append(text, sizeof text, t);
    }
    if (cur) take_text_diag(cur, text);
    if (end < m->body_len) orig_at(m, end);
    for (size_t i = first; i < res->n; i++) {
        rb_record *r = &res->recs[i];
        const char *d = rb_strcasestr(r->diagnostic, "did not like our ");
        if (d) {
            d += 17;
            if (rb_strcaseprefix(d, "final ")) d += 6;
            char cmd[16] = "";
            sm_command(d, cmd, sizeof cmd);
            if (!cmd[0] && rb_strcaseprefix(d, "greeting")) rb_strlcpy(cmd, "CONN", sizeof cmd);
            if (cmd[0]) rb_strlcpy(r->smtp_command, cmd, sizeof r->smtp_command);
            const char *sp = strchr(r->diagnostic, ' ');
            if (!r->remote_mta[0] && sp && sp[1] == '[') rb_strlcpyn(r->remote_mta, r->diagnostic, (size_t)(sp - r->diagnostic), sizeof r->remote_mta);
        }
        text_status(r, '5');
        rb_strlcpy(r->dsn_action, "failed", sizeof r->dsn_action);
    }
    return (int)(res->n - first);
}

const rb_lhost rb_lhost_mta[] = {
    {"postfix", parse_postfix},
    {"sendmail", parse_sendmail},
    {"v5sendmail", parse_v5sendmail},
    {"exim", parse_exim},
    {"qmail", parse_qmail},
    {"courier", parse_courier},
    {"opensmtpd", parse_opensmtpd},
    {"dragonfly", parse_dragonfly},
    {NULL, NULL},
};
