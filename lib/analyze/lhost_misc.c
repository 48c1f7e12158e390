/* lhost_misc.c -- format modules (misc group); see rb_internal.h for the contract.
 *
 * Most of these bounces are the same thing written thirty ways: a heading,
 * then for every failed recipient an "address line" and some lines of error
 * text, then the returned message.  One table-driven scanner (scan_text)
 * reads them all; each module only says how to recognise its messages
 * (From, Subject, a header of its own) and fills a scan_spec: where the
 * list starts, where it stops, how an address line looks.  Modules whose
 * bounces carry RFC 3464 fields use the generic parser and add what only
 * the text says (the SMTP command, a vendor phrase).
 */
#include <ctype.h>
#include <string.h>

#include "rb_internal.h"

/* ---- the scanner ------------------------------------------------------------ */

/* How a recipient shows in the text. */
#define F_ADDR_FIRST 0x01u /* a line starting with an address (<a>, "a", a:, a [text]) */
#define F_ADDR_ANY 0x02u   /* any line holding an address; the whole line is its text */
#define F_BLANKS 0x04u     /* blank lines do not end a recipient's text */
#define F_BEFORE 0x08u     /* text between the start and an address line belongs to it */
#define F_FATAL 0x10u      /* the format reports permanent failures (class 5 unless told) */

typedef struct {
    const char *const *start;  /* the list begins after a line containing one; NULL: at once */
    const char *const *stop;   /* the list ends at a line starting with one (after spaces) */
    const char *const *prefix; /* "<prefix> address" on a line names a recipient */
    unsigned flags;
} scan_spec;

/* Where the returned message begins in every format here. */
static const char *const common_stops[] = {
    "--- Original message follows", "Original message follows", "------ This is a copy of the message",
    "--- Below this line is a copy", "--- The header of the original message", "Included is a copy of the message header",
    "Original mail as follows", "------- Returned Message", "Original Message:", "The attachment contains the original",
    "-------original message", "Content-Type: message/rfc822", "------ Original message", "----- Original message",
    NULL,
};

static int starts_any(const char *t, const char *const *list)
{
    for (; list && *list; list++)
        if (rb_strcaseprefix(t, *list)) return 1;
    return 0;
}

static int contains_any(const char *t, const char *const *list)
{
    for (; list && *list; list++)
        if (rb_strcasestr(t, *list)) return 1;
    return 0;
}

/* "-----", "=====", "*****" and headings between such runs. */
static int is_separator(const char *t)
{
    return (t[0] == '-' || t[0] == '=' || t[0] == '*') && t[1] == t[0] && t[2] == t[0];
}

static void text_append(char *dst, size_t size, const char *s)
{
    size_t dl = strlen(dst);
    if (!*s || dl + 2 >= size) return;
    if (dl) dst[dl++] = ' ';
    rb_strlcpy(dst + dl, s, size - dl);
}

/* A line that begins with an address: "<a@b>:", "\"a@b\":", "a@b [text]",
 * "a@b: text".  Copies the address and points rest at what follows. */
static int addr_first(const char *t, char *addr, size_t alen, const char **rest)
{
    const char *p = t;
    if (*p == '<' || *p == '"') p++;
    const char *q = p;
    int at = 0;
    while (*q && !isspace((unsigned char)*q) && !strchr("<>\"[](),;", *q)) {
        if (*q == '@') at = 1;
        q++;
    }
    if (!at || q == p) return 0;
    /* a trailing ':' belongs to the line, not the address */
    const char *e = q;
    while (e > p && (e[-1] == ':' || e[-1] == '.')) e--;
    rb_strlcpyn(addr, p, (size_t)(e - p), alen);
    if (!rb_clean_address(addr)) return 0;
    while (*q && (*q == '>' || *q == '"' || *q == ':' || isspace((unsigned char)*q))) q++;
    *rest = q;
    return 1;
}

/* Is this line an address line of the format?  Fills addr and rest (the
 * error text the line itself carries). */
static int address_line(const scan_spec *sp, rb_msg *m, const char *t, char *addr, size_t alen, const char **rest)
{
    for (const char *const *pf = sp->prefix; pf && *pf; pf++) {
        const char *h = rb_strcasestr(t, *pf);
        if (!h) continue;
        const char *p = h + strlen(*pf);
        while (*p == ' ' || *p == '\t') p++;
        if (addr_first(p, addr, alen, rest)) return 1;
    }
    if ((sp->flags & F_ADDR_FIRST) && addr_first(t, addr, alen, rest)) return 1;
    if (sp->flags & F_ADDR_ANY) {
        if (rb_find_address(t, addr, alen) && rb_clean_address(addr) &&
            strcasecmp(addr, m->from_addr ? m->from_addr : "") != 0) {
            *rest = t;
            return 1;
        }
    }
    return 0;
}

/* The SMTP command an error text says it answered. */
static void find_command(const char *d, char *out, size_t outlen)
{
    static const struct { const char *pat; const char *cmd; } tab[] = {
        {"after RCPT", "RCPT"},   {"RCPT TO", "RCPT"},      {"RCPT command", "RCPT"}, {"(RCPT)", "RCPT"},
        {"SMTP:RCPT", "RCPT"},    {"after MAIL", "MAIL"},   {"MAIL FROM", "MAIL"},    {"MAIL command", "MAIL"},
        {"(MAIL)", "MAIL"},       {"after end of data", "DATA"}, {"after DATA", "DATA"}, {"DATA command", "DATA"},
        {"(DATA)", "DATA"},       {"SMTP:DATA", "DATA"},    {"greeting failed", "CONN"}, {"SMTP connection failed", "CONN"},
        {"after EHLO", "EHLO"},   {"after HELO", "HELO"},   {"EHLO/HELO", "EHLO"},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (strstr(d, tab[i].pat)) { rb_strlcpy(out, tab[i].cmd, outlen); return; }
    rb_find_command(d, out, outlen);
}

/* "host mx.example.org [192.0.2.1]", "host: mx.example.org", "mx.example.org[192.0.2.1] responded" */
static void find_remote(const char *d, char *out, size_t outlen)
{
    const char *h = rb_strcasestr(d, "host ");
    if (!h) h = rb_strcasestr(d, "host: ");
    if (!h) return;
    h = strchr(h, ' ');
    while (*h == ' ') h++;
    size_t n = 0;
    while (h[n] && (isalnum((unsigned char)h[n]) || h[n] == '.' || h[n] == '-')) n++;
    if (n > 3 && memchr(h, '.', n) && !isdigit((unsigned char)h[n ? n - 1 : 0])) rb_strlcpyn(out, h, n, outlen);
}

/* Fill what the text of a record says: command, status, reply, host. */
static void finish_record(rb_record *r, unsigned flags)
{
    rb_squeeze(r->diagnostic);
    if (!r->smtp_command[0]) find_command(r->diagnostic, r->smtp_command, sizeof r->smtp_command);
    if (!r->status[0]) rb_find_status(r->diagnostic, r->status, sizeof r->status);
    if (!r->reply_code[0]) rb_find_reply(r->diagnostic, r->reply_code, sizeof r->reply_code);
    if (!r->remote_mta[0]) find_remote(r->diagnostic, r->remote_mta, sizeof r->remote_mta);
    if (!r->status[0] && (flags & F_FATAL) && strcmp(r->dsn_action, "delayed") != 0) {
        char cls = r->reply_code[0] == '4' ? '4' : '5';
        r->status[0] = cls;
        rb_strlcpy(r->status + 1, ".0.0", sizeof r->status - 1);
    }
}

/* The text of the bounce: the decoded body, or the top-level multipart's
 * preamble. */
static const char *bounce_text(rb_msg *m, size_t *len)
{
    if (m->body && m->body_len) { *len = m->body_len; return m->body; }
    if (m->prologue && m->prologue_len) { *len = m->prologue_len; return m->prologue; }
    *len = 0;
    return NULL;
}

static int scan_text(rb_msg *m, rb_result *res, const scan_spec *sp)
{
    size_t len;
    const char *text = bounce_text(m, &len);
    if (!text) return 0;
    size_t pos = 0, first = res->n;
    const char *line;
    size_t ll;
    int started = sp->start == NULL, n = 0;
    long cur = -1;                  /* index of the record being read (res->recs moves) */
    char pend[RB_TEXT_MAX] = "";    /* F_BEFORE text */
    char last[RB_TEXT_MAX] = "";    /* the F_BEFORE text given to the last address */
    while (rb_next_line(text, len, &pos, &line, &ll)) {
        char buf[2048];
        rb_strlcpyn(buf, line, ll, sizeof buf);
        rb_trim(buf);
        if (!started) {
            if (contains_any(buf, sp->start)) started = 1;
            continue;
        }
        if (starts_any(buf, sp->stop) || starts_any(buf, common_stops)) break;
        if (!buf[0]) {
            if (!(sp->flags & F_BLANKS)) { cur = -1; pend[0] = last[0] = '\0'; }
            continue;
        }
        if (is_separator(buf)) continue;
        char addr[RB_ADDR_MAX];
        const char *rest = NULL;
        if (address_line(sp, m, buf, addr, sizeof addr, &rest)) {
            cur = -1;
            for (size_t k = first; k < res->n; k++)
                if (strcasecmp(res->recs[k].recipient, addr) == 0) cur = (long)k;
            if (cur < 0) {
                rb_record *r = rb_result_add(res);
                if (!r) break;
                rb_strlcpy(r->recipient, addr, sizeof r->recipient);
                cur = (long)(res->n - 1);
                n++;
            }
            rb_record *r = &res->recs[cur];
            if (sp->flags & F_BEFORE) {
                /* text before a list of addresses concerns them all */
                if (pend[0]) rb_strlcpy(last, pend, sizeof last);
                text_append(r->diagnostic, sizeof r->diagnostic, last);
            }
            pend[0] = '\0';
            /* "[User unknown]" */
            char tmp[2048];
            rb_strlcpy(tmp, rest, sizeof tmp);
            size_t tl = strlen(tmp);
            if (tl >= 2 && tmp[0] == '[' && tmp[tl - 1] == ']') { tmp[tl - 1] = '\0'; memmove(tmp, tmp + 1, tl - 1); }
            text_append(r->diagnostic, sizeof r->diagnostic, tmp);
            continue;
        }
        if (cur >= 0) text_append(res->recs[cur].diagnostic, sizeof res->recs[cur].diagnostic, buf);
        else if (sp->flags & F_BEFORE) text_append(pend, sizeof pend, buf);
    }
    for (size_t k = first; k < res->n; k++) finish_record(&res->recs[k], sp->flags);
    return n;
}

/* ---- RFC 3464 based ----------------------------------------------------------- */

/* The text lines about one recipient: from the line naming it to the next
 * blank line. */
static void text_about(rb_msg *m, const char *addr, char *out, size_t outlen)
{
    size_t len;
    const char *text = bounce_text(m, &len);
    out[0] = '\0';
    if (!text) return;
    const char *h = rb_strcasestrn(text, len, addr);
    if (!h) return;
    while (h > text && h[-1] != '\n') h--;
    const char *e = strstr(h, "\n\n");
    size_t n = e ? (size_t)(e - h) : len - (size_t)(h - text);
    rb_strlcpyn(out, h, n, outlen);
    rb_squeeze(out);
}

/* The RFC 3464 fields, completed from the text.  Returns records added. */
static int dsn_with_text(rb_msg *m, rb_result *res, unsigned flags)
{
    size_t first = res->n;
    int n = rb_parse_rfc3464(m, res);
    if (n <= 0) return 0;
    for (size_t k = first; k < res->n; k++) {
        rb_record *r = &res->recs[k];
        char about[RB_TEXT_MAX];
        text_about(m, r->recipient, about, sizeof about);
        if (!r->diagnostic[0]) rb_strlcpy(r->diagnostic, about, sizeof r->diagnostic);
        if (!r->smtp_command[0]) {
            find_command(r->diagnostic, r->smtp_command, sizeof r->smtp_command);
            if (!r->smtp_command[0]) find_command(about, r->smtp_command, sizeof r->smtp_command);
        }
        finish_record(r, flags);
    }
    return n;
}

/* ---- recognising messages ------------------------------------------------------ */
static int subject_starts(rb_msg *m, const char *s) { return rb_strcaseprefix(m->subject, s); }
static int subject_has(rb_msg *m, const char *s) { return rb_strcasestr(m->subject, s) != NULL; }
static int from_has(rb_msg *m, const char *s) { return rb_strcasestr(m->from, s) != NULL; }
static int body_has(rb_msg *m, const char *s)
{
    size_t len;
    const char *t = bounce_text(m, &len);
    return t && rb_strcasestrn(t, len, s) != NULL;
}
static int header_has(rb_msg *m, const char *name, const char *s)
{
    const char *v = rb_msg_header(m, name);
    return v && (!s || rb_strcasestr(v, s));
}
/* Any Received: header of the bounce containing s. */
static int received_has(rb_msg *m, const char *s)
{
    return rb_msg_header_contains(m, "Received", s);
}
static int mailer_daemon(rb_msg *m)
{
    return rb_strcaseprefix(m->from_addr, "mailer-daemon") || rb_strcaseprefix(m->from_addr, "postmaster") ||
           from_has(m, "mailer-daemon");
}

#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ---- unnamed MTAs ----------------------------------------------------------------- */

/* X1: "Mail Deliver System"; after "---The following addresses had delivery
 * errors---" lines "user@example.org [User unknown]". */
static int p_x1(rb_msg *m, rb_result *res)
{
    if (!from_has(m, "Mail Deliver") || !body_has(m, "The following addresses had delivery errors")) return 0;
    const scan_spec sp = {LIST("The following addresses had delivery errors"), NULL, NULL, F_ADDR_FIRST | F_FATAL};
    return scan_text(m, res, &sp);
}

/* X2: "Unable to deliver message to the following address(es)." then
 * "<user@example.org>:" and the error lines, up to "--- Original message
 * follows."; a newer form says "Delivery failed: user@example.org". */
static int p_x2(rb_msg *m, rb_result *res)
{
    if (!mailer_daemon(m)) return 0;
    if (!subject_starts(m, "Delivery failure") && !subject_starts(m, "failure delivery") &&
        !subject_starts(m, "failed delivery") && !subject_starts(m, "Permanent Delivery Failure"))
        return 0;
    const scan_spec sp = {LIST("Unable to deliver message to the following address",
                                      "Your delivery to the following address has been failed"),
                                 LIST("STEP:"), LIST("Delivery failed:"), F_ADDR_FIRST | F_FATAL};
    if (!body_has(m, "Unable to deliver message to the following address") &&
        !body_has(m, "Your delivery to the following address has been failed"))
        return 0;
    return scan_text(m, res, &sp);
}

/* X3: "This is an automatically generated Delivery Status Notification.",
 * recipients as "   * user@example.org", then "Technical details:" with
 * "SMTP:RCPT host ...: 553 ..." or "Routing: ...". */
static int p_x3(rb_msg *m, rb_result *res)
{
    if (!from_has(m, "Mail Delivery System") || !subject_starts(m, "Delivery status notification")) return 0;
    if (!body_has(m, "automatically generated Delivery Status Notification")) return 0;
    const scan_spec sp = {LIST("automatically generated Delivery Status Notification"), NULL, LIST("* "),
                                 F_BLANKS | F_FATAL};
    size_t first = res->n;
    int n = scan_text(m, res, &sp);
    if (n <= 0) return 0;
    /* The technical details are per message; with several recipients they
     * stay with the first.  A delivery-status part, when there is one,
     * says the rest; its Diagnostic-Code beats its Status. */
    for (size_t k = first; k < res->n; k++) {
        rb_record *r = &res->recs[k];
        for (size_t g = 0; g < m->nds; g++) {
            const char *fr = rb_fields_get(&m->ds[g], "Final-Recipient");
            if (!fr || !rb_strcasestr(fr, r->recipient)) continue;
            const char *dc = rb_fields_get(&m->ds[g], "Diagnostic-Code");
            if (dc && !strstr(r->diagnostic, dc)) {
                text_append(r->diagnostic, sizeof r->diagnostic, dc);
                r->status[0] = r->reply_code[0] = '\0';
                finish_record(r, F_FATAL);
            }
        }
    }
    return n;
}

/* X4: qmail-like "failure notice": "<user@example.org>:" and the error text,
 * up to "--- Below this line is a copy of the message." */
static int p_x4(rb_msg *m, rb_result *res)
{
    if (!mailer_daemon(m)) return 0;
    if (!subject_starts(m, "failure notice") && !subject_starts(m, "Permanent Delivery Failure")) return 0;
    const scan_spec sp = {LIST("Your mail message to the following address", "Your message to the following addresses",
                               "Unable to deliver message to the following address",
                               "Unfortunately, your mail was not delivered to the following address",
                               "This is the machine generated message from mail service"),
                          NULL, NULL, F_ADDR_FIRST | F_BLANKS | F_FATAL};
    return scan_text(m, res, &sp);
}

/* X5: a notice addressed to "NotificationRecipients" whose real bounce, a
 * multipart/report, is attached as message/rfc822. */
static int p_x5(rb_msg *m, rb_result *res)
{
    if (!rb_strcasestr(m->to, "NotificationRecipients") || !from_has(m, "Mail Delivery Subsystem")) return 0;
    if (!m->attached || !m->attached_len) return 0;
    int n = 0;
    {
        char *t = g_strndup(m->attached, m->attached_len);
        char *w = t;                /* CRLF -> LF */
        for (const char *c = t; *c; c++) if (*c != '\r') *w++ = *c;
        *w = '\0';
        const char *ds = rb_strcasestr(t, "Content-Type: message/delivery-status");
        const char *b = ds ? strstr(ds, "\n\n") : NULL;
        if (b) {
            const char *e = strstr(b, "\n--");
            size_t len = e ? (size_t)(e - b) : strlen(b);
            rb_fields *g = NULL;
            size_t ng = rb_parse_field_groups(b, len, &g);
            const rb_fields *msgf = NULL;
            for (size_t k = 0; k < ng; k++) {
                rb_record tmp;
                memset(&tmp, 0, sizeof tmp);
                if (!rb_record_from_dsfields(&g[k], msgf, &tmp)) { if (!msgf) msgf = &g[k]; continue; }
                rb_record *r = rb_result_add(res);
                if (!r) break;
                *r = tmp;
                finish_record(r, F_FATAL);
                n++;
            }
            for (size_t k = 0; k < ng; k++) rb_fields_free(&g[k]);
            free(g);
        }
        g_free(t);
    }
    return n;
}

/* X6: "There was an error sending your mail"; after "N error(s):" one line
 * per recipient: "... rejected recipient <user@example.org> (Error following
 * RCPT command). It responded as follows: [550 5.1.1 ...]". */
static int p_x6(rb_msg *m, rb_result *res)
{
    if (!subject_starts(m, "There was an error sending your mail")) return 0;
    const scan_spec sp = {LIST("error(s):"), NULL, NULL, F_ADDR_ANY | F_FATAL};
    return scan_text(m, res, &sp);
}

/* ---- list servers and content filters ---------------------------------------------- */

/* fml: the mailing-list manager's notices (X-MLServer, Message-ID
 * "<...FML...@...>"); the first "<list@example.org>" in the text is the
 * address concerned, the text is the reason ("not a member", "Duplicated
 * Message-ID"). */
static int p_fml(rb_msg *m, rb_result *res)
{
    if (!header_has(m, "X-MLServer", NULL) || !rb_strcasestr(m->message_id, "FML")) return 0;
    if (!rb_strcasestr(m->from_addr, "-admin@")) return 0;
    const scan_spec sp = {NULL, NULL, NULL, F_ADDR_ANY | F_BLANKS | F_FATAL};
    size_t first = res->n;
    int n = scan_text(m, res, &sp);
    /* one notice, one address: the list's */
    if (n > 1) res->n = first + 1;
    if (n > 0) {
        rb_record *r = &res->recs[first];
        text_append(r->diagnostic, sizeof r->diagnostic, m->subject);
    }
    return n > 0 ? 1 : 0;
}

/* amavis: "Content-filter at ..." with an RFC 3464 part; its text names
 * what was wrong with the header ("Duplicate header field: ..."). */
static int p_amavis(rb_msg *m, rb_result *res)
{
    if (!rb_strcaseprefix(m->from, "\"Content-filter at ") && !rb_strcaseprefix(m->from, "Content-filter at "))
        return 0;
    size_t first = res->n;
    int n = dsn_with_text(m, res, F_FATAL);
    if (n <= 0) return 0;
    static const char *const badhdr[] = {
        "Duplicate header field", "Missing required header field", "Improper use of control character",
        "Non-encoded 8-bit data", "Header line longer than", "Header field syntax error", NULL,
    };
    size_t len;
    const char *text = bounce_text(m, &len);
    size_t pos = 0;
    const char *line;
    size_t ll;
    while (text && rb_next_line(text, len, &pos, &line, &ll)) {
        char buf[512];
        rb_strlcpyn(buf, line, ll, sizeof buf);
        rb_trim(buf);
        if (!starts_any(buf, badhdr)) continue;
        for (size_t k = first; k < res->n; k++)
            text_append(res->recs[k].diagnostic, sizeof res->recs[k].diagnostic, buf);
        break;
    }
    return n;
}

/* Apache James: "Error message below:" and the reply, then "Message
 * details:" with "  RCPT TO: user@example.org". */
static int p_apachejames(rb_msg *m, rb_result *res)
{
    if (strcmp(m->subject, "[BOUNCE]") != 0 && !rb_strcasestr(m->message_id, ".JavaMail.") &&
        !received_has(m, "JAMES SMTP Server"))
        return 0;
    if (!body_has(m, "Message details:")) return 0;
    const scan_spec sp = {LIST("Error message below:"), LIST("Sent date:", "Subject:", "MAIL FROM:", "From:", "CC:", "Size (in bytes)"), LIST("RCPT TO:"),
                                 F_BLANKS | F_BEFORE | F_FATAL};
    return scan_text(m, res, &sp);
}

/* Activehunter (X-AHMailid): sendmail-like list, "----- The following
 * addresses had permanent fatal errors -----" and ">>> ... <addr>". */
static int p_activehunter(rb_msg *m, rb_result *res)
{
    if (!header_has(m, "X-AHMailid", NULL)) return 0;
    int n = dsn_with_text(m, res, F_FATAL);
    if (n) return n;
    const scan_spec sp = {LIST("The following addresses had permanent fatal errors"), NULL, LIST(">>>"),
                                 F_BLANKS | F_FATAL};
    return scan_text(m, res, &sp);
}

/* IMail Server (X-Mailer "<SMTP32 v...>", "Undeliverable Mail"): one line
 * per recipient, "Unknown user: user@example.org", "User mailbox exceeds
 * allowed size: ...", "Delivery failed 20 attempts: ...", followed by the
 * remote reply, up to "Original message follows." */
static int p_imailserver(rb_msg *m, rb_result *res)
{
    /* exactly "Undeliverable Mail" (MailMarshal adds ': "subject"') */
    size_t sl = strlen(m->subject);
    while (sl && m->subject[sl - 1] == ' ') sl--;
    if (!(sl == 18 && strncmp(m->subject, "Undeliverable Mail", 18) == 0) && !header_has(m, "X-Mailer", "<SMTP32 v"))
        return 0;
    size_t len;
    const char *text = bounce_text(m, &len);
    if (!text) return 0;
    size_t pos = 0, first = res->n;
    const char *line;
    size_t ll;
    int n = 0;
    long cur = -1;
    while (rb_next_line(text, len, &pos, &line, &ll)) {
        char buf[2048];
        rb_strlcpyn(buf, line, ll, sizeof buf);
        rb_trim(buf);
        if (starts_any(buf, common_stops) || rb_looks_like_header_line(buf, strlen(buf)) ||
            rb_strcaseprefix(buf, "From "))
            break;
        if (!buf[0]) continue;
        /* "<what happened>: <address>" or "undeliverable to <address>" */
        const char *colon = strrchr(buf, ':');
        const char *ap = colon ? colon + 1 : NULL;
        if (!ap && rb_strcaseprefix(buf, "undeliverable to ")) ap = buf + 17;
        char addr[RB_ADDR_MAX], *rest;
        const char *after;
        while (ap && *ap == ' ') ap++;
        if (ap && addr_first(ap, addr, sizeof addr, &after) && !*after) {
            rb_record *r = rb_result_add(res);
            if (!r) break;
            rb_strlcpy(r->recipient, addr, sizeof r->recipient);
            if (colon) rb_strlcpyn(r->diagnostic, buf, (size_t)(colon - buf), sizeof r->diagnostic);
            else rb_strlcpy(r->diagnostic, buf, sizeof r->diagnostic);
            cur = (long)(res->n - 1);
            n++;
            continue;
        }
        (void)rest;
        if (cur >= 0) text_append(res->recs[cur].diagnostic, sizeof res->recs[cur].diagnostic, buf);
    }
    for (size_t k = first; k < res->n; k++) finish_record(&res->recs[k], F_FATAL);
    return n;
}

/* MailMarshal SMTP: Subject 'Undeliverable Mail: "..."'; recipients
 * indented by four spaces after "could not be delivered to the following
 * recipients were affected:", after the reply ("Could not be delivered
 * because of" ...); "Additional Information" ends the list. */
static int p_mailmarshal(rb_msg *m, rb_result *res)
{
    if (!rb_strcaseprefix(m->subject, "Undeliverable Mail: \"")) return 0;
    const scan_spec sp = {LIST("Could not be delivered because of"), LIST("Additional Information", "Original Sender:"), NULL,
                                 F_ADDR_FIRST | F_BEFORE | F_BLANKS | F_FATAL};
    return scan_text(m, res, &sp);
}

/* MailFoundry: "Message delivery has failed"; "Unable to deliver message
 * to: <user@example.org>", "Delivery failed for the following reason:" and
 * the remote reply. */
static int p_mailfoundry(rb_msg *m, rb_result *res)
{
    if (strcmp(m->subject, "Message delivery has failed") != 0 || !received_has(m, "(MAILFOUNDRY) id")) return 0;
    const scan_spec sp = {NULL, LIST("This has been a permanent failure"), LIST("Unable to deliver message to:"),
                                 F_BLANKS | F_FATAL};
    return scan_text(m, res, &sp);
}

/* PowerMTA: "Delivery report" with an RFC 3464 part; X-PowerMTA-
 * BounceCategory names the reason class. */
static int p_powermta(rb_msg *m, rb_result *res)
{
    if (!subject_has(m, "Delivery report") || !m->nds) return 0;
    return dsn_with_text(m, res, F_FATAL);
}

/* Oracle (Sun) Messaging Server / PMDF: "This report relates to a message
 * you sent with the following header fields:", then per recipient
 * "Recipient address:", "Original address:", "Reason:", "Diagnostic code:
 * smtp;...", "Remote system: dns;...". */
static int p_messagingserver(rb_msg *m, rb_result *res)
{
    if (!rb_strcasestr(rb_msg_header(m, "Content-Type") ? rb_msg_header(m, "Content-Type") : "", "Boundary_(ID_") &&
        !subject_starts(m, "Delivery Notification: "))
        return 0;
    size_t len;
    const char *text = bounce_text(m, &len);
    if (!text) return 0;
    size_t pos = 0, first = res->n;
    const char *line;
    size_t ll;
    long cur = -1;
    int n = 0, started = 0;
    while (rb_next_line(text, len, &pos, &line, &ll)) {
        char buf[2048];
        rb_strlcpyn(buf, line, ll, sizeof buf);
        rb_trim(buf);
        if (!started) { started = rb_strcaseprefix(buf, "This report relates to a message"); continue; }
        if (rb_strcaseprefix(buf, "Original-envelope-id:") || rb_strcaseprefix(buf, "Reporting-MTA:") ||
            rb_strcaseprefix(buf, "Return-path:"))
            break;
        char addr[RB_ADDR_MAX];
        const char *rest;
        if (rb_strcaseprefix(buf, "Recipient address:")) {
            rb_record *r = rb_result_add(res);
            if (!r) break;
            cur = (long)(res->n - 1);
            n++;
            if (addr_first(rb_trim(buf + 18), addr, sizeof addr, &rest))
                rb_strlcpy(r->recipient, addr, sizeof r->recipient);
            continue;
        }
        if (cur < 0) continue;
        rb_record *r = &res->recs[cur];
        if (rb_strcaseprefix(buf, "Original address:")) {
            /* "@relay:user@host" source routes are no address to report */
            if (addr_first(rb_trim(buf + 17), addr, sizeof addr, &rest) &&
                (!r->recipient[0] || strchr(r->recipient, ':') || !strchr(strchr(r->recipient, '@'), '.')))
                rb_strlcpy(r->recipient, addr, sizeof r->recipient);
        } else if (rb_strcaseprefix(buf, "Reason:")) {
            text_append(r->diagnostic, sizeof r->diagnostic, rb_trim(buf + 7));
        } else if (rb_strcaseprefix(buf, "Diagnostic code:")) {
            const char *d = strchr(buf, ';');
            d = d ? d + 1 : buf + 16;
            /* the remote reply says more than the reason line */
            char tmp[RB_TEXT_MAX];
            rb_strlcpy(tmp, d, sizeof tmp);
            rb_trim(tmp);
            text_append(tmp, sizeof tmp, r->diagnostic);
            rb_strlcpy(r->diagnostic, tmp, sizeof r->diagnostic);
        } else if (rb_strcaseprefix(buf, "Remote system:")) {
            const char *d = strchr(buf, ';');
            d = d ? d + 1 : buf + 14;
            while (*d == ' ') d++;
            size_t k = strcspn(d, " (");
            rb_strlcpyn(r->remote_mta, d, k, sizeof r->remote_mta);
        }
    }
    /* a record the text names badly is worth nothing: use the DSN fields then */
    for (size_t k = first; k < res->n; k++) {
        rb_record *r = &res->recs[k];
        for (size_t g = 0; g < m->nds; g++) {
            const char *fr = rb_fields_get(&m->ds[g], "Final-Recipient");
            const char *st = rb_fields_get(&m->ds[g], "Status");
            const char *ac = rb_fields_get(&m->ds[g], "Action");
            if (!fr || !rb_strcasestr(fr, r->recipient)) continue;
            if (st) rb_find_status(st, r->status, sizeof r->status);
            if (ac) { rb_strlcpy(r->dsn_action, ac, sizeof r->dsn_action); rb_lower(r->dsn_action); }
        }
        finish_record(r, F_FATAL);
    }
    if (n > 0) return n;
    return dsn_with_text(m, res, F_FATAL);
}

/* Lotus Domino: "DELIVERY FAILURE: ..."; "Your message ... was not
 * delivered to:" the address, "because:" the reason (blank lines between). */
static int p_domino(rb_msg *m, rb_result *res)
{
    if (!subject_starts(m, "DELIVERY FAILURE:") && !subject_starts(m, "DELIVERY_FAILURE:")) return 0;
    const scan_spec sp = {LIST("was not delivered to:"), NULL, NULL, F_ADDR_FIRST | F_BLANKS | F_FATAL};
    size_t first = res->n;
    int n = scan_text(m, res, &sp);
    if (n <= 0) return dsn_with_text(m, res, F_FATAL);
    /* the delivery-status part, for one recipient, says the status */
    if (n == 1 && m->nds) {
        for (size_t g = 0; g < m->nds; g++) {
            const char *st = rb_fields_get(&m->ds[g], "Status");
            char s[RB_SHORT_MAX];
            if (st && rb_fields_get(&m->ds[g], "Final-Recipient") && rb_find_status(st, s, sizeof s) &&
                strcmp(res->recs[first].status, "5.0.0") == 0)
                rb_strlcpy(res->recs[first].status, s, sizeof res->recs[first].status);
        }
    }
    return n;
}

/* Lotus Notes: "Undeliverable message"; "------- Failure Reasons --------",
 * the reason line(s), then the address; "------- Returned Message --------". */
static int p_notes(rb_msg *m, rb_result *res)
{
    if (!subject_starts(m, "Undeliverable message") || !body_has(m, "------- Failure Reasons")) return 0;
    const scan_spec sp = {LIST("------- Failure Reasons"), NULL, NULL, F_ADDR_FIRST | F_BEFORE | F_BLANKS | F_FATAL};
    return scan_text(m, res, &sp);
}

/* m-FILTER (X-Mailer: m-FILTER, or its "-------" sections): the addresses, then "-------server
 * message" with the reply and "-------SMTP command" with the command. */
static int p_mfilter(rb_msg *m, rb_result *res)
{
    if (!header_has(m, "X-Mailer", "m-FILTER") &&
        !(body_has(m, "\n-------server message\n") && body_has(m, "\n-------SMTP command\n")))
        return 0;
    const scan_spec sp = {NULL, LIST("-------original"), NULL, F_ADDR_FIRST | F_BLANKS | F_FATAL};
    size_t first = res->n;
    int n = scan_text(m, res, &sp);
    if (n <= 0) return 0;
    size_t len;
    const char *text = bounce_text(m, &len);
    const char *c = rb_strcasestrn(text, len, "-------SMTP command\n");
    if (c) {
        char cmd[16];
        c += 20;
        size_t k = 0;
        while (k < sizeof cmd - 1 && isalpha((unsigned char)c[k])) { cmd[k] = (char)toupper((unsigned char)c[k]); k++; }
        cmd[k] = '\0';
        static const char *const cmds[] = {"HELO", "EHLO", "MAIL", "RCPT", "DATA", "CONN", NULL};
        for (size_t i = 0; cmds[i]; i++)
            if (strcmp(cmd, cmds[i]) == 0)
                for (size_t j = first; j < res->n; j++) rb_strlcpy(res->recs[j].smtp_command, cmd, sizeof res->recs[j].smtp_command);
    }
    return n;
}

/* Exim-style bounces ("The following address(es) failed:", the address,
 * then the remote reply) written by mailbox providers and gateways. */
static const char *const exim_start[] = {"failed:", NULL};
/* No F_FATAL: Exim says "permanent error" even where it gave up retrying. */
static const scan_spec exim_like = {exim_start, NULL, NULL, F_ADDR_FIRST};

/* MX Logic (McAfee SaaS): Exim-style, "Included is a copy of the message header". */
static int p_mxlogic(rb_msg *m, rb_result *res)
{
    if (!from_has(m, "mxlogic") && !rb_strcasestr(m->message_id, "mxlogic") && !header_has(m, "X-MXL-Hash", NULL) &&
        !header_has(m, "X-MX-Bounce", NULL))
        return 0;
    return scan_text(m, res, &exim_like);
}

/* McAfee Email Gateway: "Delivery Status Notification"-like text with
 * "--- The following addresses had delivery problems ---" and the reply. */
static int p_mcafee(rb_msg *m, rb_result *res)
{
    if (!header_has(m, "X-NAI-Header", NULL) && !received_has(m, "McAfee")) return 0;
    int n = dsn_with_text(m, res, F_FATAL);
    if (n) return n;
    const scan_spec sp = {LIST("The following addresses had delivery problems"), NULL, NULL,
                                 F_ADDR_FIRST | F_BLANKS | F_FATAL};
    return scan_text(m, res, &sp);
}

/* SurfControl: X-SEF-Processed; "Your message could not be sent." with
 * "To: user@example.org" lines and the reply. */
static int p_surfcontrol(rb_msg *m, rb_result *res)
{
    if (!header_has(m, "X-SEF-Processed", NULL) && !header_has(m, "X-Mailer", "SurfControl")) return 0;
    int n = dsn_with_text(m, res, F_FATAL);
    if (n) return n;
    const scan_spec sp = {LIST("could not be sent"), NULL, LIST("Failed to send to identified host,"),
                                 F_ADDR_ANY | F_BLANKS | F_FATAL};
    return scan_text(m, res, &sp);
}

/* Trend Micro InterScan MSS: "Unable to deliver message to <user@...>
 * (and other recipients in the same domain)." between rows of '*'. */
static int p_trendmicro(rb_msg *m, rb_result *res)
{
    if (!from_has(m, "InterScan") && !body_has(m, "Message from InterScan Messaging Security Suite")) return 0;
    if (!subject_starts(m, "Mail could not be delivered")) return 0;
    const scan_spec sp = {LIST("InterScan Messaging Security Suite"), LIST("*"), NULL, F_ADDR_ANY | F_FATAL};
    return scan_text(m, res, &sp);
}

/* Barracuda: "**Message you sent blocked by our bulk email filter**", RFC 3464
 * with the text naming the filter verdict. */
static int p_barracuda(rb_msg *m, rb_result *res)
{
    if (!received_has(m, "barracuda") && !header_has(m, "X-Barracuda-Envelope-From", NULL) &&
        !header_has(m, "X-Barracuda-Connect", NULL) && !subject_has(m, "Message you sent blocked by our bulk email filter"))
        return 0;
    return dsn_with_text(m, res, F_FATAL);
}

/* Mimecast: X-MC-Unique with an RFC 3464 part. */
static int p_mimecast(rb_msg *m, rb_result *res)
{
    if (!header_has(m, "X-MC-Unique", NULL) && !header_has(m, "X-Mimecast-Spam-Score", NULL)) return 0;
    return dsn_with_text(m, res, F_FATAL);
}

/* SendGrid: "This is an automatically generated message from SendGrid." with
 * an RFC 3464 part ("Action: expired" and no status for timeouts). */
static int p_sendgrid(rb_msg *m, rb_result *res)
{
    if (!body_has(m, "message from SendGrid") && !header_has(m, "Return-Path", "apps@sendgrid.net")) return 0;
    return dsn_with_text(m, res, F_FATAL);
}

/* ---- mailbox providers ------------------------------------------------------------- */

/* KDDI (au): "Could not be delivered to: <user@...dion.ne.jp>" and the reason. */
static int p_kddi(rb_msg *m, rb_result *res)
{
    if (!rb_strcasestr(m->from_addr, ".dion.ne.jp") && !rb_strcasestr(m->from_addr, "auone-net.jp") &&
        !received_has(m, "kddi.com"))
        return 0;
    const scan_spec sp = {NULL, NULL, LIST("Could not be delivered to:"), F_FATAL};
    return scan_text(m, res, &sp);
}

/* EZweb (au): "Mail System Error - Returned Mail"; an explanation and
 * "<user@ezweb.ne.jp>" lines (either order), or "Recipient: <...>" followed
 * by the SMTP dialogue. */
static int p_ezweb(rb_msg *m, rb_result *res)
{
    if (!rb_strcasestr(m->from, "ezweb.ne.jp") && !subject_starts(m, "Mail System Error - Returned Mail")) return 0;
    if (!subject_starts(m, "Mail System Error - Returned Mail") && !received_has(m, "ezweb.ne.jp")) return 0;
    const scan_spec sp = {NULL, LIST("From:", "To:", "Subject:"), LIST("Recipient:"),
                                 F_ADDR_FIRST | F_BEFORE | F_BLANKS | F_FATAL};
    size_t first = res->n;
    int n = scan_text(m, res, &sp);
    if (n <= 0) return dsn_with_text(m, res, F_FATAL);
    /* the delivery-status part, when there is one, keeps its status */
    for (size_t k = first; k < res->n; k++)
        for (size_t g = 0; g < m->nds; g++) {
            const char *fr = rb_fields_get(&m->ds[g], "Final-Recipient");
            const char *st = rb_fields_get(&m->ds[g], "Status");
            char s[RB_SHORT_MAX];
            if (fr && st && rb_strcasestr(fr, res->recs[k].recipient) && rb_find_status(st, s, sizeof s) &&
                strstr(res->recs[k].status, ".0.0"))
                rb_strlcpy(res->recs[k].status, s, sizeof res->recs[k].status);
        }
    return n;
}

/* BIGLOBE: "----- The following addresses had delivery problems -----", the
 * address, "----- Non-delivered information -----" and the reason. */
static int p_biglobe(rb_msg *m, rb_result *res)
{
    if (!rb_strcasestr(m->from_addr, "biglobe.ne.jp")) return 0;
    const scan_spec sp = {LIST("The following addresses had delivery problems"), NULL, NULL,
                                 F_ADDR_FIRST | F_BLANKS | F_FATAL};
    return scan_text(m, res, &sp);
}

/* Bigfoot: RFC 3464 with a sendmail-like text. */
static int p_bigfoot(rb_msg *m, rb_result *res)
{
    if (!rb_strcasestr(m->from_addr, "bigfoot.com") && !received_has(m, "bigfoot.com")) return 0;
    return dsn_with_text(m, res, F_FATAL);
}

/* Verizon Wireless MMS: "Message could not be delivered to mobile.",
 * "Error: ...", then "Original Message:" with "To: number@vzwpix.com". */
static int p_verizon(rb_msg *m, rb_result *res)
{
    if (!rb_strcasestr(m->from_addr, "vzwpix.com") && !rb_strcasestr(m->from_addr, "vtext.com")) return 0;
    size_t len;
    const char *text = bounce_text(m, &len);
    const char *om = text ? rb_strcasestrn(text, len, "Original Message:") : NULL;
    if (!om) return 0;
    const char *to = strstr(om, "\nTo:");
    char addr[RB_ADDR_MAX];
    if (!to || !rb_find_address(to + 4, addr, sizeof addr) || !rb_clean_address(addr)) return 0;
    rb_record *r = rb_result_add(res);
    if (!r) return 0;
    rb_strlcpy(r->recipient, addr, sizeof r->recipient);
    rb_strlcpyn(r->diagnostic, text, (size_t)(om - text), sizeof r->diagnostic);
    finish_record(r, F_FATAL);
    return 1;
}

/* 1&1 (kundenserver): Exim-like, "The following address(es) failed:", the
 * address, "For the following reason:" and the text. */
static int p_einsundeins(rb_msg *m, rb_result *res)
{
    if (!rb_strcasestr(m->from_addr, "kundenserver") && !rb_strcasestr(m->from_addr, "1and1") &&
        !body_has(m, "postmaster.1and1.com"))
        return 0;
    if (!subject_starts(m, "Mail delivery failed")) return 0;
    const scan_spec sp = {LIST("failed:"), NULL, NULL, F_ADDR_FIRST | F_BLANKS | F_FATAL};
    return scan_text(m, res, &sp);
}

/* GMX / mail.com: Exim-like; "\"user@example.org\":" then "SMTP error from
 * remote server after RCPT command:", "host: ..." and the reply. */
static int p_gmx(rb_msg *m, rb_result *res)
{
    if (!rb_strcasestr(m->from_addr, "@mail.gmx.") && !rb_strcasestr(m->from_addr, "@gmx.") &&
        !header_has(m, "Envelope-To", NULL))
        return 0;
    if (!rb_strcasestr(m->from_addr, "gmx")) return 0;
    const scan_spec sp = {LIST("failed:"), NULL, NULL, F_ADDR_FIRST | F_BLANKS | F_FATAL};
    return scan_text(m, res, &sp);
}

/* Mail.Ru: Exim; a Russian part, then the English one from "The following
 * address(es) failed:" with indented addresses and replies. */
static int p_mailru(rb_msg *m, rb_result *res)
{
    if (!rb_strcasestr(m->from_addr, "mail.ru") && !rb_strcasestr(m->message_id, "mail.ru")) return 0;
    if (!mailer_daemon(m)) return 0;
    return scan_text(m, res, &exim_like);
}

/* Yandex: Postfix-like text and an RFC 3464 part. */
static int p_yandex(rb_msg *m, rb_result *res)
{
    if (!header_has(m, "X-Yandex-Uniq", NULL) && !header_has(m, "X-Yandex-Front", NULL) &&
        !header_has(m, "X-Yandex-Forward", NULL) && !rb_strcasestr(m->from_addr, "yandex"))
        return 0;
    if (!mailer_daemon(m)) return 0;
    return dsn_with_text(m, res, F_FATAL);
}

const rb_lhost rb_lhost_misc[] = {
    {"x1", p_x1},
    {"x2", p_x2},
    {"x3", p_x3},
    {"x5", p_x5},
    {"x6", p_x6},
    {"fml", p_fml},
    {"amavis", p_amavis},
    {"apachejames", p_apachejames},
    {"activehunter", p_activehunter},
    {"imailserver", p_imailserver},
    {"mailmarshal", p_mailmarshal},
    {"mailfoundry", p_mailfoundry},
    {"powermta", p_powermta},
    {"messagingserver", p_messagingserver},
    {"domino", p_domino},
    {"notes", p_notes},
    {"mfilter", p_mfilter},
    {"mxlogic", p_mxlogic},
    {"mcafee", p_mcafee},
    {"surfcontrol", p_surfcontrol},
    {"trendmicro", p_trendmicro},
    {"barracuda", p_barracuda},
    {"mimecast", p_mimecast},
    {"sendgrid", p_sendgrid},
    {"kddi", p_kddi},
    {"ezweb", p_ezweb},
    {"biglobe", p_biglobe},
    {"bigfoot", p_bigfoot},
    {"verizon", p_verizon},
    {"einsundeins", p_einsundeins},
    {"gmx", p_gmx},
    {"mailru", p_mailru},
    {"yandex", p_yandex},
    {"x4", p_x4},
    {NULL, NULL},
};
