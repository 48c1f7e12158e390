/* lhost_cloud.c -- format modules for mailbox providers and cloud services
 * (Microsoft, Google, Yahoo, AOL, Zoho, Amazon); see rb_internal.h for the
 * contract.
 *
 * Every module first rejects foreign messages with a cheap look at the
 * headers (From, Subject, vendor headers), then reads the vendor's text.
 * Where the bounce also carries a message/delivery-status part, its fields
 * fill what the text leaves open.  Modules only extract (recipient, status,
 * reply code, command, diagnostic, hosts); the reason comes from
 * data/rules.conf, where vendor-specific codes are keyed on decoded_by.
 */
#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "rb_internal.h"

/* ==== shared helpers ====================================================== */

/* Is there a top-level header called name (Content-* included)? */
static int has_header(rb_msg *m, const char *name)
{
    return rb_msg_header(m, name) != NULL;
}

static const char *body_has(const rb_msg *m, const char *needle)
{
    return m->body ? rb_strcasestrn(m->body, m->body_len, needle) : NULL;
}

static int line_starts(const char *line, size_t ll, const char *prefix)
{
    size_t n = strlen(prefix);
    return ll >= n && strncasecmp(line, prefix, n) == 0;
}

static int line_has(const char *line, size_t ll, const char *needle)
{
    return rb_strcasestrn(line, ll, needle) != NULL;
}

/* Copy a line into buf, trimmed. */
static char *line_copy(char *buf, size_t size, const char *line, size_t ll)
{
    rb_strlcpyn(buf, line, ll, size);
    return rb_trim(buf);
}

/* A line that holds one address and nothing else ("  user@example.com",
 * "<user@example.com>:"); the bare address goes to out. */
static int address_line(const char *line, size_t ll, char *out, size_t outlen)
{
    char buf[RB_ADDR_MAX + 8];
    if (ll >= sizeof buf) return 0;
    char *s = line_copy(buf, sizeof buf, line, ll);
    size_t n = strlen(s);
    while (n && (s[n - 1] == ':' || s[n - 1] == '>')) s[--n] = '\0';
    if (*s == '<') s++;
    if (!*s || !strchr(s, '@')) return 0;
    for (const char *p = s; *p; p++)
        if (isspace((unsigned char)*p)) return 0;
    if (!rb_clean_address(s)) return 0;
    rb_strlcpy(out, s, outlen);
    return 1;
}

/* The records this module added start at res->recs[base]. */
static rb_record *find_rcpt(rb_result *res, size_t base, const char *addr)
{
    for (size_t i = base; i < res->n; i++)
        if (strcasecmp(res->recs[i].recipient, addr) == 0) return &res->recs[i];
    return NULL;
}

static rb_record *add_rcpt(rb_result *res, size_t base, const char *addr)
{
    rb_record *r = find_rcpt(res, base, addr);
    if (r) return r;
    r = rb_result_add(res);
    if (r) rb_strlcpy(r->recipient, addr, sizeof r->recipient);
    return r;
}

/* Append n bytes of s to dst (of size bytes), space separated, truncating. */
static void text_append(char *dst, size_t size, const char *s, size_t n)
{
    size_t dl = strlen(dst);
    if (dl + 2 >= size) return;
    if (dl) dst[dl++] = ' ';
    rb_strlcpyn(dst + dl, s, n, size - dl);
}

static void diag_append(rb_record *r, const char *s, size_t n)
{
    text_append(r->diagnostic, sizeof r->diagnostic, s, n);
}

static int status_is_x00(const char *st)
{
    return st[0] && strcmp(st + 1, ".0.0") == 0;
}

/* "5.0.0" when the report says the failure is final (or "4.0.0" for a
 * delay) but gives no code: analyze.c refines it from the diagnostic. */
static void set_class(rb_record *r, char cls)
{
    if (r->status[0]) return;
    char rc[8];
    if (rb_find_reply(r->diagnostic, rc, sizeof rc) && (rc[0] == '4' || rc[0] == '5')) cls = rc[0];
    r->status[0] = cls;
    rb_strlcpy(r->status + 1, ".0.0", sizeof r->status - 1);
}

/* Fill what dst leaves open from a delivery-status record for the same
 * recipient. */
static void merge_from(rb_record *dst, const rb_record *ds)
{
    if (ds->status[0] && (!dst->status[0] || (status_is_x00(dst->status) && !status_is_x00(ds->status))))
        rb_strlcpy(dst->status, ds->status, sizeof dst->status);
    if (!dst->diagnostic[0]) rb_strlcpy(dst->diagnostic, ds->diagnostic, sizeof dst->diagnostic);
    if (!dst->remote_mta[0]) rb_strlcpy(dst->remote_mta, ds->remote_mta, sizeof dst->remote_mta);
    if (!dst->reporting_mta[0]) rb_strlcpy(dst->reporting_mta, ds->reporting_mta, sizeof dst->reporting_mta);
    if (!dst->dsn_action[0]) rb_strlcpy(dst->dsn_action, ds->dsn_action, sizeof dst->dsn_action);
    if (!dst->date[0]) rb_strlcpy(dst->date, ds->date, sizeof dst->date);
}

static int is_rcpt_field(const char *name)
{
    return strcasecmp(name, "Final-Recipient") == 0 || strcasecmp(name, "Original-Recipient") == 0;
}

static int group_has_rcpt(const rb_fields *g)
{
    for (size_t i = 0; i < g->n; i++)
        if (is_rcpt_field(g->v[i].name) || strcasecmp(g->v[i].name, "X-Actual-Recipient") == 0) return 1;
    return 0;
}

static int emit_ds(const rb_fields *cur, const rb_fields *msgf, rb_result *res)
{
    rb_record tmp;
    memset(&tmp, 0, sizeof tmp);
    if (!rb_record_from_dsfields(cur, msgf, &tmp)) return 0;
    rb_record *r = rb_result_add(res);
    if (!r) return 0;
    *r = tmp;
    return 1;
}

/* Records from the delivery-status part.  Unlike rb_parse_rfc3464() this
 * also splits a group that lists several recipients without blank lines
 * between them (AOL does), at each repeated Final-/Original-Recipient. */
static int ds_records(rb_msg *m, rb_result *res)
{
    if (!m->nds) return rb_parse_rfc3464(m, res);
    const rb_fields *msgf = NULL;
    for (size_t i = 0; i < m->nds && !msgf; i++)
        if (!group_has_rcpt(&m->ds[i])) msgf = &m->ds[i];
    int n = 0;
    for (size_t i = 0; i < m->nds; i++) {
        const rb_fields *g = &m->ds[i];
        if (!group_has_rcpt(g)) continue;
        rb_fields cur = {0};
        for (size_t k = 0; k <= g->n; k++) {
            int flush = k == g->n || (is_rcpt_field(g->v[k].name) && rb_fields_get(&cur, g->v[k].name));
            if (flush && cur.n) {
                n += emit_ds(&cur, msgf, res);
                rb_fields_free(&cur);
            }
            if (k < g->n)
                rb_fields_add(&cur, g->v[k].name, strlen(g->v[k].name), g->v[k].value, strlen(g->v[k].value));
        }
        rb_fields_free(&cur);
    }
    return n;
}

/* Enrich the records [base, res->n) from the delivery-status part. */
static void merge_ds(rb_msg *m, rb_result *res, size_t base)
{
    size_t end = res->n;
    if (end == base) return;
    int n = ds_records(m, res);
    for (size_t k = end; k < end + (size_t)n && k < res->n; k++) {
        rb_record *r = find_rcpt(res, base, res->recs[k].recipient);
        if (r && r < &res->recs[end]) merge_from(r, &res->recs[k]);
    }
    res->n = end;
}

/* "[RCPT_TO]", "[MAIL_FROM]" -> RCPT, MAIL ... */
static int command_in_brackets(const char *s, char *out, size_t outlen)
{
    static const char *const cmds[] = {"RCPT", "MAIL", "DATA", "EHLO", "HELO", "CONN", "AUTH"};
    for (const char *b = strchr(s, '['); b; b = strchr(b + 1, '[')) {
        for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
            if (strncmp(b + 1, cmds[i], 4) == 0 && (b[5] == '_' || b[5] == ']')) {
                rb_strlcpy(out, cmds[i], outlen);
                return 1;
            }
    }
    return 0;
}

/* Mark records [base, n) with a final class unless they have a status. */
static void set_class_all(rb_result *res, size_t base, char cls)
{
    for (size_t i = base; i < res->n; i++) set_class(&res->recs[i], cls);
}

/* ==== Microsoft: Exchange Online / Exchange 2007+ ============================
 *
 *   Delivery has failed to these recipients or groups:
 *
 *   user@example.com<mailto:user@example.com>
 *   The email address wasn't found at the destination domain. ...
 *
 *   Diagnostic information for administrators:
 *
 *   Generating server: XXXX.prod.outlook.com
 *   [Receiving server: mx.example.com (192.0.2.1)]
 *
 *   user@example.com
 *   [mx.example.com]
 *   Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; ...'
 *   (Exchange 2007: "#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##")
 *
 *   Original message headers:
 *
 * The upper part names the recipients (the mailto: target is the address);
 * the administrators' part gives the remote reply per recipient.  A
 * message/delivery-status part, when there is one, fills the gaps.
 */
static int ms_admin_marker(const char *line, size_t ll)
{
    return line_starts(line, ll, "Diagnostic information for administrators") ||
           line_starts(line, ll, "Informations de diagnostic pour les administrateurs") ||
           line_starts(line, ll, "Informazioni di diagnostica per gli amministratori") ||
           line_starts(line, ll, "Diagnoseinformationen f") || line_starts(line, ll, "Error Details");
}

static int ms_end_marker(const char *line, size_t ll)
{
    return line_starts(line, ll, "Original message headers") || line_starts(line, ll, "Message Hops") ||
           line_starts(line, ll, "En-t") /* En-têtes de message d'origine */ ||
           line_starts(line, ll, "Intestazioni originali del messaggio") ||
           line_starts(line, ll, "Kopfzeilen der urspr");
}

static int ms_start_marker(const char *line, size_t ll)
{
    return line_starts(line, ll, "Delivery has failed to these recipients or groups") ||
           line_starts(line, ll, "Original Message Details") ||
           line_has(line, ll, "rejected your message to the following e") ||
           (line_starts(line, ll, "Your message to ") && line_has(line, ll, "couldn't be delivered")) ||
           line_starts(line, ll, "La remise des messages aux destinataires") ||
           line_starts(line, ll, "Recapito non riuscito");
}

/* One line of the administrators' part into the current record. */
static void ms_admin_line(rb_record *r, const char *line, size_t ll)
{
    char buf[RB_TEXT_MAX];
    char *s = line_copy(buf, sizeof buf, line, ll);
    const char *q = rb_strcasestr(s, "returned '");
    if (q) {
        /* Remote Server [at host (ip)] returned '550 5.1.1 ...' */
        s = (char *)q + strlen("returned '");
        char *e = strrchr(s, '\'');
        if (e) *e = '\0';
    } else if (*s == '#') {
        /* #550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ## */
        s++;
        size_t n = strlen(s);
        while (n && (s[n - 1] == '#' || s[n - 1] == ' ')) s[--n] = '\0';
    } else if (!strchr(s, ' ') && strchr(s, '.') && !strchr(s, '@')) {
        /* a bare host name: the server that answered */
        if (!r->remote_mta[0]) rb_strlcpy(r->remote_mta, s, sizeof r->remote_mta);
        return;
    }
    diag_append(r, s, strlen(s));
}

static int ms_parse_text(const char *text, size_t tlen, rb_result *res, size_t base)
{
    size_t pos = 0, nup = 0, nadmin = 0;
    const char *line;
    size_t ll;
    int state = 0; /* 0 before, 1 recipients, 2 administrators' part */
    rb_record *cur = NULL;
    char reporting[RB_HOST_MAX] = "", receiving[RB_HOST_MAX] = "";
    while (rb_next_line(text, tlen, &pos, &line, &ll)) {
        if (ms_end_marker(line, ll)) break;
        if (ms_admin_marker(line, ll)) { state = 2; cur = NULL; continue; }
        char addr[RB_ADDR_MAX];
        if (state < 2 && ms_start_marker(line, ll)) {
            state = 1;
            if (line_starts(line, ll, "Your message to ")) {
                char buf[1024];
                line_copy(buf, sizeof buf, line, ll);
                if (rb_find_address(buf, addr, sizeof addr) && rb_clean_address(addr) && add_rcpt(res, base, addr)) nup++;
            }
            continue;
        }
        if (state == 1) {
            const char *mt = rb_strcasestrn(line, ll, "<mailto:");
            char buf[1024];
            if (mt) {
                line_copy(buf, sizeof buf, mt + 8, ll - (size_t)(mt + 8 - line));
            } else if (line_starts(line, ll, "Recipient Address:")) {
                line_copy(buf, sizeof buf, line + 18, ll - 18);
            } else {
                continue;
            }
            if (rb_find_address(buf, addr, sizeof addr) && rb_clean_address(addr) && add_rcpt(res, base, addr)) nup++;
            continue;
        }
        if (state != 2) continue;
        char buf[RB_HOST_MAX];
        if (line_starts(line, ll, "Generating server:") || line_starts(line, ll, "Serveur de g") ||
            line_starts(line, ll, "Server di generazione:")) {
            const char *c = memchr(line, ':', ll);
            if (c) line_copy(reporting, sizeof reporting, c + 1, ll - (size_t)(c + 1 - line));
            continue;
        }
        if (line_starts(line, ll, "Receiving server:")) {
            line_copy(buf, sizeof buf, line + 17, ll - 17);
            char *sp = strchr(buf, ' ');
            if (sp) *sp = '\0';
            rb_strlcpy(receiving, buf, sizeof receiving);
            continue;
        }
        if (address_line(line, ll, addr, sizeof addr)) {
            /* the recipient this block is about: by address, else by position */
            cur = find_rcpt(res, base, addr);
            /* nup counts recipient lines, repeats included: stay inside the records */
            if (!cur && nadmin < nup && base + nadmin < res->n) cur = &res->recs[base + nadmin];
            if (!cur) cur = add_rcpt(res, base, addr);
            nadmin++;
            continue;
        }
        if (rb_is_blank(line, ll)) continue;
        if (cur) ms_admin_line(cur, line, ll);
    }
    for (size_t i = base; i < res->n; i++) {
        rb_record *r = &res->recs[i];
        if (!r->reporting_mta[0]) rb_strlcpy(r->reporting_mta, reporting, sizeof r->reporting_mta);
        if (!r->remote_mta[0]) rb_strlcpy(r->remote_mta, receiving, sizeof r->remote_mta);
        if (!r->smtp_command[0] && rb_strcasestr(r->diagnostic, "unknown recipient or mailbox unavailable ->"))
            rb_strlcpy(r->smtp_command, "RCPT", sizeof r->smtp_command);
    }
    return (int)(res->n - base);
}

/* A text part whose MIME headers were broken (a folded boundary= that is
 * not indented) reaches us undecoded, "Content-Transfer-Encoding:
 * quoted-printable" and all: undo the quoted-printable then.  Returns a
 * decoded copy to free, or NULL to read the body as it is. */
static int hexval(int c)
{
    return isdigit(c) ? c - '0' : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

static char *qp_view(const rb_msg *m, size_t *len)
{
    if (!body_has(m, "\nContent-Transfer-Encoding: quoted-printable")) return NULL;
    char *out = malloc(m->body_len + 1);
    if (!out) return NULL;
    size_t w = 0;
    const char *b = m->body, *e = m->body + m->body_len;
    for (const char *p = b; p < e; p++) {
        if (*p == '=' && p + 1 < e && p[1] == '\n') { p++; continue; }
        if (*p == '=' && p + 2 < e && hexval((unsigned char)p[1]) >= 0 && hexval((unsigned char)p[2]) >= 0) {
            int c = hexval((unsigned char)p[1]) * 16 + hexval((unsigned char)p[2]);
            out[w++] = c ? (char)c : ' ';
            p += 2;
            continue;
        }
        out[w++] = *p;
    }
    out[w] = '\0';
    *len = w;
    return out;
}

/* Text first; the delivery-status part completes it, or stands alone. */
static int ms_parse(rb_msg *m, rb_result *res)
{
    size_t base = res->n, qlen = 0;
    char *qp = qp_view(m, &qlen);
    int n = qp ? ms_parse_text(qp, qlen, res, base) : ms_parse_text(m->body, m->body_len, res, base);
    free(qp);
    if (n > 0) {
        merge_ds(m, res, base);
        return (int)(res->n - base);
    }
    res->n = base;
    return ds_records(m, res);
}

/* Exchange Online: at least two Microsoft signs, one of which only the
 * cloud service leaves (tenant headers, outlook.com hosts). */
static int office365_score(rb_msg *m, int *cloud)
{
    static const char *const hdrs[] = {
        "X-Microsoft-Antispam-PRVS", "X-Exchange-Antispam-Report-Test", "X-Exchange-Antispam-Report-CFA-Test",
        "X-MS-Exchange-CrossTenant-OriginalArrivalTime", "X-MS-Exchange-CrossTenant-FromEntityHeader",
        "X-MS-Exchange-Transport-CrossTenantHeadersStamped",
    };
    int s = rb_strcasestr(m->subject, "Undeliverable:") != NULL;
    s += has_header(m, "X-MS-Exchange-Message-Is-Ndr");
    *cloud = 0;
    for (size_t i = 0; i < sizeof hdrs / sizeof hdrs[0]; i++) *cloud += has_header(m, hdrs[i]);
    if (rb_strcasestr(m->message_id, ".prod.outlook.com") || rb_strcasestr(m->message_id, ".protection.outlook.com"))
        (*cloud)++;
    if (rb_msg_header_contains(m, "Received", ".outbound.protection.outlook.com") || rb_msg_header_contains(m, "Received", ".prod.outlook.com"))
        (*cloud)++;
    return s + *cloud;
}

static int parse_office365(rb_msg *m, rb_result *res)
{
    int cloud = 0;
    if (office365_score(m, &cloud) < 2 || !cloud || !m->body) return 0;
    return ms_parse(m, res);
}

/* Exchange Server 2007 and later, on premises: the same layout as Exchange
 * Online, localised subjects, a Content-Language header, and none of the
 * cloud tenant headers. */
static int parse_exchange2007(rb_msg *m, rb_result *res)
{
    static const char *const subj[] = {
        "Undeliverable:", "Non remis", "Non_remis_", "Non recapitabile:", "Unzustellbar:", "Onbestelbaar:",
        "No se puede entregar:", "Impossible de remettre",
    };
    int ok = 0;
    for (size_t i = 0; i < sizeof subj / sizeof subj[0] && !ok; i++) ok = rb_strcaseprefix(m->subject, subj[i]);
    if (!ok || !has_header(m, "Content-Language")) return 0;
    if (has_header(m, "X-MS-Exchange-CrossTenant-OriginalArrivalTime") ||
        has_header(m, "X-MS-Exchange-CrossTenant-FromEntityHeader"))
        return 0;
    return ms_parse(m, res);
}

/* ==== Microsoft: Exchange 2000/2003 (Internet Mail Service) =================
 *
 *   Your message
 *
 *     To:      user@example.com
 *     Subject: ...
 *
 *   did not reach the following recipient(s):
 *
 *   user@example.jp on Thu, 29 Apr 2010 00:00:00 -0000
 *       The recipient name is not recognized
 *       MSEXCH:IMS:ORG:SITE:SERVER 0 (000C05A6) Unknown Recipient
 *
 * The hexadecimal code in parentheses is the IMS error (rules.conf has the
 * table under vendor=exchange2003).
 */
static int exchange2003_match(rb_msg *m)
{
    if (has_header(m, "X-MS-Embedded-Report")) return 1;
    const char *xm = rb_msg_header(m, "X-Mailer");
    if (xm && (rb_strcaseprefix(xm, "Internet Mail Service (") ||
               rb_strcaseprefix(xm, "Microsoft Exchange Server Internet Mail Connector")))
        return 1;
    const char *ole = rb_msg_header(m, "X-MimeOLE");
    if (ole && rb_strcaseprefix(ole, "Produced By Microsoft Exchange")) return 1;
    return rb_msg_header_contains(m, "Received", " with Internet Mail Service (");
}

static int parse_exchange2003(rb_msg *m, rb_result *res)
{
    if (!exchange2003_match(m) || !m->body) return 0;
    const char *start = body_has(m, "did not reach the following recipient");
    if (!start) return 0;
    size_t base = res->n;
    size_t pos = (size_t)(start - m->body);
    const char *line;
    size_t ll;
    rb_next_line(m->body, m->body_len, &pos, &line, &ll); /* the marker */
    rb_record *cur = NULL;
    while (rb_next_line(m->body, m->body_len, &pos, &line, &ll)) {
        if (rb_is_blank(line, ll)) {
            if (cur && cur->diagnostic[0]) cur = NULL;
            continue;
        }
        char buf[1024], addr[RB_ADDR_MAX];
        line_copy(buf, sizeof buf, line, ll);
        const char *on = strstr(buf, " on ");
        if (!isspace((unsigned char)line[0]) && on) {
            rb_strlcpyn(addr, buf, (size_t)(on - buf), sizeof addr);
            if (!strchr(addr, ' ') && rb_clean_address(addr)) {
                cur = add_rcpt(res, base, addr);
                continue;
            }
        }
        if (rb_looks_like_header_line(line, ll) && !cur) break;
        if (cur) diag_append(cur, buf, strlen(buf));
    }
    set_class_all(res, base, '5');
    return (int)(res->n - base);
}

/* ==== Outlook.com / Hotmail ===================================================
 * An RFC 3464 report ("This is an automatically generated Delivery Status
 * Notification"), recognised by Hotmail's headers. */
static int parse_outlook(rb_msg *m, rb_result *res)
{
    int s = rb_strcasestr(m->subject, "Delivery Status Notification") != NULL;
    s += has_header(m, "X-Message-Delivery");
    s += has_header(m, "X-Message-Info");
    s += rb_msg_header_contains(m, "Received", ".hotmail.com");
    if (s < 2) return 0;
    return ds_records(m, res);
}

/* ==== Google ================================================================ */
static int from_google_daemon(rb_msg *m)
{
    return (rb_strcasestr(m->from, "mailer-daemon@googlemail.com") || rb_strcasestr(m->from, "mailer-daemon@google.com")) &&
           rb_strcasestr(m->subject, "Delivery Status Notification");
}

/* Where the returned message starts in Google's text bodies. */
static size_t google_text_end(const rb_msg *m)
{
    const char *e = body_has(m, "----- Original message -----");
    const char *e2 = body_has(m, "----- Message header follows -----");
    if (!e || (e2 && e2 < e)) e = e2;
    return e ? (size_t)(e - m->body) : m->body_len;
}

static int x_failed_recipients(rb_msg *m, rb_result *res, size_t base)
{
    const char *xf = rb_msg_header(m, "X-Failed-Recipients");
    int n = 0;
    char addr[RB_ADDR_MAX];
    for (const char *p = xf; p && (p = rb_find_address(p, addr, sizeof addr));)
        if (rb_clean_address(addr) && add_rcpt(res, base, addr)) n++;
    return n;
}

/* Google Groups refusing a post:
 *   We're writing to let you know that the group you tried to contact
 *   (name) may not exist, or you may not have permission to post ...
 * The group is named in X-Failed-Recipients; the text is the diagnostic. */
static int parse_googlegroups(rb_msg *m, rb_result *res)
{
    if (!from_google_daemon(m) || !has_header(m, "X-Failed-Recipients") || !m->body) return 0;
    if (!body_has(m, "Google Group") && !body_has(m, "groups.google.com")) return 0;
    size_t base = res->n;
    if (!x_failed_recipients(m, res, base)) return 0;
    size_t end = google_text_end(m);
    for (size_t i = base; i < res->n; i++) {
        rb_record *r = &res->recs[i];
        rb_strlcpyn(r->diagnostic, m->body, end, sizeof r->diagnostic);
        rb_squeeze(r->diagnostic);
    }
    set_class_all(res, base, '5');
    return (int)(res->n - base);
}

/* Gmail's classic text bounce:
 *   Delivery to the following recipient failed permanently:
 *        user@example.jp
 *   Technical details of permanent failure:
 *   Google tried to deliver your message, but it was rejected by the
 *   recipient domain. ... The error that the other server returned was:
 *   550 5.1.1 ... (state 14).
 * "has been delayed" / "temporary failure" are warnings.  "(state N)" says
 * at which point of the SMTP session the remote server refused. */
static void gmail_state_command(rb_record *r)
{
    static const struct { int state; const char *cmd; } tab[] = {
        {6, "MAIL"}, {8, "AUTH"}, {9, "AUTH"}, {12, "AUTH"}, {13, "EHLO"}, {14, "RCPT"},
        {15, "DATA"}, {17, "DATA"}, {18, "DATA"},
    };
    const char *s = rb_strcasestr(r->diagnostic, "(state ");
    if (!s) return;
    int st = atoi(s + 7);
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (tab[i].state == st) rb_strlcpy(r->smtp_command, tab[i].cmd, sizeof r->smtp_command);
}

static int parse_gmail(rb_msg *m, rb_result *res)
{
    if (!from_google_daemon(m) || !m->body) return 0;
    const char *start = body_has(m, "Delivery to the following recipient");
    if (!start) return 0;
    size_t base = res->n, end = google_text_end(m);
    size_t pos = (size_t)(start - m->body);
    const char *line;
    size_t ll;
    char head[256], details[RB_TEXT_MAX] = "";
    /* the end of the text can come before the marker in broken input */
    if (pos >= end || !rb_next_line(m->body, end, &pos, &line, &ll)) return 0;
    line_copy(head, sizeof head, line, ll);
    int delayed = rb_strcasestr(head, "delayed") != NULL;
    rb_record *cur = NULL;
    while (rb_next_line(m->body, end, &pos, &line, &ll)) {
        char addr[RB_ADDR_MAX], buf[RB_TEXT_MAX];
        if (ll && isspace((unsigned char)line[0]) && address_line(line, ll, addr, sizeof addr)) {
            cur = add_rcpt(res, base, addr);
            continue;
        }
        if (rb_is_blank(line, ll)) continue;
        line_copy(buf, sizeof buf, line, ll);
        if (line_starts(buf, strlen(buf), "Technical details of temporary failure")) { delayed = 1; continue; }
        if (line_starts(buf, strlen(buf), "Technical details of permanent failure")) { delayed = 0; continue; }
        if (cur) diag_append(cur, buf, strlen(buf));
        else text_append(details, sizeof details, buf, strlen(buf));
    }
    for (size_t i = base; i < res->n; i++) {
        rb_record *r = &res->recs[i];
        if (!r->diagnostic[0]) rb_strlcpy(r->diagnostic, details, sizeof r->diagnostic);
        /* only the heading and "will be retried": say it */
        if (!r->diagnostic[0] || rb_strcaseprefix(r->diagnostic, "Message will be retried")) {
            char d[RB_TEXT_MAX];
            rb_strlcpy(d, head, sizeof d);
            text_append(d, sizeof d, r->diagnostic, strlen(r->diagnostic));
            rb_strlcpy(r->diagnostic, d, sizeof r->diagnostic);
        }
        gmail_state_command(r);
        if (delayed) rb_strlcpy(r->dsn_action, "delayed", sizeof r->dsn_action);
        set_class(r, delayed ? '4' : '5');
    }
    return (int)(res->n - base);
}

/* Google Workspace / today's Gmail:
 *   ** Address not found **
 *   Your message wasn't delivered to user@example.com because ...
 *   The response from the remote server was:
 *   550 5.1.1 The email account that you tried to reach does not exist ...
 * usually with a delivery-status part (sometimes empty) and
 * X-Failed-Recipients. */
static int google_headline(const rb_msg *m, size_t *after)
{
    size_t pos = 0;
    const char *line;
    size_t ll;
    while (rb_next_line(m->body, m->body_len, &pos, &line, &ll)) {
        char buf[256];
        if (ll >= sizeof buf) continue;
        char *s = line_copy(buf, sizeof buf, line, ll);
        size_t n = strlen(s);
        if (n > 6 && strncmp(s, "** ", 3) == 0 && strcmp(s + n - 3, " **") == 0) {
            *after = pos;
            return 1;
        }
    }
    return 0;
}

static void workspace_text(const rb_msg *m, size_t pos, char *expl, size_t elen, char *resp, size_t rlen)
{
    const char *line;
    size_t ll;
    int in_resp = 0;
    while (rb_next_line(m->body, m->body_len, &pos, &line, &ll)) {
        char buf[RB_TEXT_MAX];
        char *s = line_copy(buf, sizeof buf, line, ll);
        if (line_starts(s, strlen(s), "The response") && s[strlen(s) - 1] == ':') { in_resp = 1; continue; }
        if (in_resp) {
            if (!*s) { if (*resp) break; continue; }
            text_append(resp, rlen, s, strlen(s));
            continue;
        }
        if (!*s || line_starts(s, strlen(s), "Learn more")) continue;
        if (line_starts(s, strlen(s), "Content-Type:") || line_starts(s, strlen(s), "<")) break;
        text_append(expl, elen, s, strlen(s));
    }
}

static int parse_googleworkspace(rb_msg *m, rb_result *res)
{
    size_t after = 0;
    if (!from_google_daemon(m) || !m->body || !google_headline(m, &after)) return 0;
    size_t base = res->n;
    ds_records(m, res);
    if (res->n == base) x_failed_recipients(m, res, base);
    if (res->n == base) {
        const char *w = body_has(m, "wasn't delivered to ");
        char addr[RB_ADDR_MAX];
        if (w && rb_find_address(w, addr, sizeof addr) && rb_clean_address(addr)) add_rcpt(res, base, addr);
    }
    if (res->n == base) return 0;
    char expl[RB_TEXT_MAX] = "", resp[RB_TEXT_MAX] = "";
    workspace_text(m, after, expl, sizeof expl, resp, sizeof resp);
    for (size_t i = base; i < res->n; i++) {
        rb_record *r = &res->recs[i];
        if (r->diagnostic[0]) continue;
        rb_strlcpy(r->diagnostic, expl, sizeof r->diagnostic);
        diag_append(r, resp, strlen(resp));
    }
    return (int)(res->n - base);
}

/* ==== Yahoo! Mail ===============================================================
 *   Sorry, we were unable to deliver your message to the following address.
 *
 *   <user@example.jp>:
 *   Remote host said: 550 5.1.1 <user@example.jp>... User Unknown [RCPT_TO]
 *
 *   --- Below this line is a copy of the message.
 * The reply may be on the line after "Remote host said:"; "[RCPT_TO]" names
 * the SMTP command. */
static int parse_yahoo(rb_msg *m, rb_result *res)
{
    if (!has_header(m, "X-YMailISG") || !m->body) return 0;
    const char *start = body_has(m, "Sorry, we were unable to deliver your message");
    if (!start) return 0;
    size_t base = res->n;
    size_t pos = (size_t)(start - m->body);
    const char *line;
    size_t ll;
    rb_next_line(m->body, m->body_len, &pos, &line, &ll);
    rb_record *cur = NULL;
    while (rb_next_line(m->body, m->body_len, &pos, &line, &ll)) {
        if (line_starts(line, ll, "--- Below this line is a copy")) break;
        char addr[RB_ADDR_MAX], buf[RB_TEXT_MAX];
        if (ll && line[0] == '<' && address_line(line, ll, addr, sizeof addr)) {
            cur = add_rcpt(res, base, addr);
            continue;
        }
        if (!cur || rb_is_blank(line, ll)) continue;
        char *s = line_copy(buf, sizeof buf, line, ll);
        if (rb_strcaseprefix(s, "Remote host said:")) s = rb_trim(s + 17);
        if (command_in_brackets(s, cur->smtp_command, sizeof cur->smtp_command) && s[0] == '[') continue;
        if (*s) diag_append(cur, s, strlen(s));
    }
    for (size_t i = base; i < res->n; i++) {
        /* "550: 5.1.1 <...>... User Unknown": the reply code ends with ':' */
        rb_record *r = &res->recs[i];
        const char *d = r->diagnostic;
        if (d[0] >= '2' && d[0] <= '5' && isdigit((unsigned char)d[1]) && isdigit((unsigned char)d[2]) && d[3] == ':')
            rb_strlcpyn(r->reply_code, d, 3, sizeof r->reply_code);
    }
    set_class_all(res, base, '5');
    return (int)(res->n - base);
}

/* ==== AOL ============================================================================
 * An RFC 3464 report whose delivery-status group may list several
 * recipients without blank lines between them. */
static int parse_aol(rb_msg *m, rb_result *res)
{
    if (!has_header(m, "X-AOL-IP")) return 0;
    return ds_records(m, res);
}

/* ==== Symantec MessageLabs (Email Security.cloud) gateway ========================
 *   I was unable to deliver your message to the following addresses:
 *   user@example.org
 *   Reason: 550 user@example.org... No such user
 * with a delivery-status part holding the same reply. */
static int parse_messagelabs(rb_msg *m, rb_result *res)
{
    if (!has_header(m, "X-Msg-Ref") || !rb_strcasestr(m->from, "@messagelabs.com")) return 0;
    return ds_records(m, res);
}

/* ==== Zoho Mail =========================================================================
 *   This message was created automatically by mail delivery software.
 *   ...
 *   user@example.jp Invalid Address, ERROR_CODE :550, ERROR_CODE :5.2.1 <...>... User Unknown
 * or, for a delay:
 *   [Status: Error, Address: <user@example.jp>, ResponseCode 421, , Host not reachable.]
 */
static void zoho_reply(rb_record *r)
{
    static const char *const keys[] = {"ERROR_CODE :", "ResponseCode "};
    for (size_t i = 0; i < 2; i++) {
        const char *p = strstr(r->diagnostic, keys[i]);
        if (p) {
            p += strlen(keys[i]);
            if (p[0] >= '2' && p[0] <= '5' && isdigit((unsigned char)p[1]) && isdigit((unsigned char)p[2]) &&
                !isdigit((unsigned char)p[3])) {
                rb_strlcpyn(r->reply_code, p, 3, sizeof r->reply_code);
                return;
            }
        }
    }
}

static int parse_zoho(rb_msg *m, rb_result *res)
{
    if (!has_header(m, "X-ZohoMail") || !m->body) return 0;
    const char *start = body_has(m, "This message was created automatically by mail delivery");
    if (!start) return 0;
    int delayed = body_has(m, "THIS IS A WARNING MESSAGE ONLY") != NULL;
    size_t base = res->n;
    size_t pos = (size_t)(start - m->body);
    const char *line;
    size_t ll;
    while (rb_next_line(m->body, m->body_len, &pos, &line, &ll)) {
        if (rb_looks_like_header_line(line, ll) && res->n > base) break;
        char buf[RB_TEXT_MAX], addr[RB_ADDR_MAX];
        char *s = line_copy(buf, sizeof buf, line, ll);
        rb_record *r = NULL;
        if (rb_strcaseprefix(s, "[Status:")) {
            const char *a = strstr(s, "Address:");
            if (a && rb_find_address(a, addr, sizeof addr) && rb_clean_address(addr)) r = add_rcpt(res, base, addr);
        } else {
            char *sp = strchr(s, ' ');
            if (sp && memchr(s, '@', (size_t)(sp - s))) {
                rb_strlcpyn(addr, s, (size_t)(sp - s), sizeof addr);
                if (rb_clean_address(addr) && (r = add_rcpt(res, base, addr))) s = rb_trim(sp);
            }
        }
        if (!r) continue;
        rb_strlcpy(r->diagnostic, s, sizeof r->diagnostic);
        zoho_reply(r);
        if (delayed) rb_strlcpy(r->dsn_action, "delayed", sizeof r->dsn_action);
    }
    return (int)(res->n - base);
}

/* ==== Amazon ====================================================================== */

/* Amazon WorkMail: an RFC 3464 report after "Technical report:"; the remote
 * server's own reply is quoted in angle brackets at the end of the
 * diagnostic ("554 4.4.7 Message expired: ... <421 4.4.2 Connection timed
 * out>"), and is the more precise of the two. */
static int parse_amazonworkmail(rb_msg *m, rb_result *res)
{
    const char *xm = rb_msg_header(m, "X-Original-Mailer");
    if (!xm) xm = rb_msg_header(m, "X-Mailer");
    if (!has_header(m, "X-SES-Outgoing") || !xm || !rb_strcaseprefix(xm, "Amazon WorkMail")) return 0;
    size_t base = res->n;
    if (ds_records(m, res) <= 0) return 0;
    for (size_t i = base; i < res->n; i++) {
        rb_record *r = &res->recs[i];
        const char *lt = strrchr(r->diagnostic, '<');
        char rc[8], st[RB_SHORT_MAX];
        if (!lt || !strchr(lt, '>') || strchr(lt, '@')) continue;
        if (rb_find_reply(lt + 1, rc, sizeof rc) && strncmp(lt + 1, rc, 3) == 0) {
            rb_strlcpy(r->reply_code, rc, sizeof r->reply_code);
            if (rb_find_status(lt + 1, st, sizeof st)) rb_strlcpy(r->status, st, sizeof r->status);
        }
    }
    return (int)(res->n - base);
}

/* Amazon SES receiving (a receipt rule's "bounce" action): an RFC 3464
 * report after "This message could not be delivered." */
static int parse_receivingses(rb_msg *m, rb_result *res)
{
    if (!has_header(m, "X-SES-Outgoing") || !body_has(m, "This message could not be delivered")) return 0;
    return ds_records(m, res);
}

/* ---- SES notifications in JSON (SNS) ------------------------------------------
 * Bounce, Complaint and Delivery notifications, either the bare JSON object
 * or wrapped in an SNS envelope whose "Message" is that object as a string.
 * Long lines arrive folded as "...!\n " (sendmail's 990-character limit);
 * once they are joined, jansson reads the first JSON value of the body
 * (whatever follows it, a signature say, is left alone). */

/* The string member key of object o copied into out (cut to fit): 1, or 0
 * (out "") when there is none. */
static int js_get_str(const json_t *o, const char *key, char *out, size_t outlen)
{
    const char *v = json_string_value(json_object_get(o, key));
    out[0] = '\0';
    if (!v) return 0;
    rb_strlcpy(out, v, outlen);
    return 1;
}

static void ses_fill(rb_record *r, const json_t *obj, const char *reporting)
{
    char v[RB_TEXT_MAX];
    if (js_get_str(obj, "status", v, sizeof v)) rb_strlcpy(r->status, v, sizeof r->status);
    if (js_get_str(obj, "action", v, sizeof v)) rb_strlcpy(r->dsn_action, v, sizeof r->dsn_action);
    if (js_get_str(obj, "diagnosticCode", v, sizeof v)) {
        const char *d = v;
        const char *semi = strchr(d, ';');
        if (semi && semi - d < 8) d = semi + 1;
        rb_strlcpy(r->diagnostic, d, sizeof r->diagnostic);
        rb_trim(r->diagnostic);
    }
    const char *rep = reporting;
    const char *semi = strchr(rep, ';');
    if (semi) rep = semi + 1;
    rb_strlcpy(r->reporting_mta, rep, sizeof r->reporting_mta);
    rb_trim(r->reporting_mta);
}

static int ses_notification(const json_t *js, rb_result *res)
{
    char type[64], reporting[RB_HOST_MAX] = "";
    size_t base = res->n;
    if (!js_get_str(js, "notificationType", type, sizeof type)) return 0;
    const json_t *part, *list, *el;
    size_t i;
    if (strcmp(type, "Bounce") == 0 && json_is_object(part = json_object_get(js, "bounce"))) {
        js_get_str(part, "reportingMTA", reporting, sizeof reporting);
        if (!json_is_array(list = json_object_get(part, "bouncedRecipients"))) return 0;
        json_array_foreach(list, i, el) {
            char addr[RB_ADDR_MAX];
            if (!js_get_str(el, "emailAddress", addr, sizeof addr) || !rb_clean_address(addr)) continue;
            rb_record *r = add_rcpt(res, base, addr);
            if (r) ses_fill(r, el, reporting);
        }
    } else if (strcmp(type, "Complaint") == 0 && json_is_object(part = json_object_get(js, "complaint"))) {
        char ftype[RB_SHORT_MAX] = "";
        js_get_str(part, "complaintFeedbackType", ftype, sizeof ftype);
        if (!json_is_array(list = json_object_get(part, "complainedRecipients"))) return 0;
        json_array_foreach(list, i, el) {
            char addr[RB_ADDR_MAX];
            if (!js_get_str(el, "emailAddress", addr, sizeof addr) || !rb_clean_address(addr)) continue;
            rb_record *r = add_rcpt(res, base, addr);
            if (!r) continue;
            rb_strlcpy(r->reason, "feedback", sizeof r->reason);
            rb_strlcpy(r->feedback_type, ftype[0] ? ftype : "abuse", sizeof r->feedback_type);
        }
    } else if (strcmp(type, "Delivery") == 0 && json_is_object(part = json_object_get(js, "delivery"))) {
        char resp[RB_TEXT_MAX] = "";
        js_get_str(part, "smtpResponse", resp, sizeof resp);
        js_get_str(part, "reportingMTA", reporting, sizeof reporting);
        if (!json_is_array(list = json_object_get(part, "recipients"))) return 0;
        json_array_foreach(list, i, el) {
            char addr[RB_ADDR_MAX];
            if (!json_is_string(el)) continue;
            rb_strlcpy(addr, json_string_value(el), sizeof addr);
            if (!rb_clean_address(addr)) continue;
            rb_record *r = add_rcpt(res, base, addr);
            if (!r) continue;
            rb_strlcpy(r->diagnostic, resp, sizeof r->diagnostic);
            rb_strlcpy(r->dsn_action, "delivered", sizeof r->dsn_action);
            rb_strlcpy(r->reporting_mta, reporting, sizeof r->reporting_mta);
        }
    }
    return (int)(res->n - base);
}

/* The body with "!\n " folds joined, from its first '{'. Caller frees. */
static char *ses_unfold(const rb_msg *m, size_t *len)
{
    const char *b = m->body, *e = m->body + m->body_len;
    while (b < e && isspace((unsigned char)*b)) b++;
    if (b >= e || *b != '{') return NULL;
    char *out = malloc((size_t)(e - b) + 1);
    if (!out) return NULL;
    size_t w = 0;
    for (const char *p = b; p < e; p++) {
        if (*p == '!' && p + 2 < e && p[1] == '\n' && p[2] == ' ') { p += 2; continue; }
        out[w++] = *p;
    }
    out[w] = '\0';
    *len = w;
    return out;
}

static int ses_json(rb_msg *m, rb_result *res)
{
    size_t len = 0;
    char *buf = ses_unfold(m, &len);
    if (!buf) return 0;
    json_error_t jerr;
    json_t *top = json_loadb(buf, len, JSON_DISABLE_EOF_CHECK, &jerr);
    free(buf);
    if (!top) return 0;
    int n = 0;
    const char *msg = json_string_value(json_object_get(top, "Message"));
    if (msg) {
        /* the SNS envelope: the notification is a JSON string */
        json_t *in = json_loads(msg, JSON_DISABLE_EOF_CHECK, &jerr);
        if (in) n = ses_notification(in, res);
        json_decref(in);
    } else {
        n = ses_notification(top, res);
    }
    json_decref(top);
    return n;
}

/* Amazon SES's own text bounces:
 *   The following message to <user@example.jp> was undeliverable.
 *   The reason for the problem:
 *   5.1.0 - Unknown address error 550-'5.7.1 <...>... Access denied'
 * SES prefixes its own summary code; the remote server's reply follows in
 * quotes and its status, when it has one, is the precise one. */
static void ses_inner_status(rb_record *r)
{
    const char *q = strchr(r->diagnostic, '\'');
    char st[RB_SHORT_MAX];
    if (q && rb_find_status(q + 1, st, sizeof st)) rb_strlcpy(r->status, st, sizeof r->status);
}

static int ses_text(rb_msg *m, rb_result *res)
{
    const char *start = body_has(m, "The following message to <");
    if (!start) start = body_has(m, "An error occurred while trying to deliver the mail ");
    if (!start) return 0;
    size_t base = res->n;
    if (ds_records(m, res) <= 0) {
        res->n = base;
        char addr[RB_ADDR_MAX];
        size_t pos = (size_t)(start - m->body);
        const char *line;
        size_t ll;
        rb_next_line(m->body, m->body_len, &pos, &line, &ll);
        char buf[RB_TEXT_MAX];
        line_copy(buf, sizeof buf, line, ll);
        rb_record *r = NULL;
        if (rb_find_address(buf, addr, sizeof addr) && rb_clean_address(addr)) r = add_rcpt(res, base, addr);
        if (!r) return 0;
        while (rb_next_line(m->body, m->body_len, &pos, &line, &ll) && !rb_is_blank(line, ll)) {
            if (line_starts(line, ll, "The reason for the problem")) continue;
            line_copy(buf, sizeof buf, line, ll);
            diag_append(r, buf, strlen(buf));
        }
    }
    for (size_t i = base; i < res->n; i++) {
        ses_inner_status(&res->recs[i]);
        if (rb_strcasestr(res->recs[i].diagnostic, "Delivery expired"))
            rb_strlcpy(res->recs[i].dsn_action, "delayed", sizeof res->recs[i].dsn_action);
    }
    return (int)(res->n - base);
}

static int parse_amazonses(rb_msg *m, rb_result *res)
{
    if (!m->body) return 0;
    int json_hint = has_header(m, "x-amz-sns-message-id") || rb_strcasestr(m->from, "amazonaws.com") ||
                    body_has(m, "\"notificationType\"");
    if (json_hint) {
        int n = ses_json(m, res);
        if (n > 0) return n;
    }
    if (!rb_strcasestr(m->from, "amazonses.com") && !has_header(m, "X-AWS-Outgoing") && !has_header(m, "X-SES-Outgoing"))
        return 0;
    return ses_text(m, res);
}

/* ==== the table ==================================================================== */
const rb_lhost rb_lhost_cloud[] = {
    {"office365", parse_office365},
    {"exchange2007", parse_exchange2007},
    {"exchange2003", parse_exchange2003},
    {"outlook", parse_outlook},
    {"googlegroups", parse_googlegroups},
    {"gmail", parse_gmail},
    {"googleworkspace", parse_googleworkspace},
    {"yahoo", parse_yahoo},
    {"aol", parse_aol},
    {"zoho", parse_zoho},
    {"messagelabs", parse_messagelabs},
    {"amazonworkmail", parse_amazonworkmail},
    {"receivingses", parse_receivingses},
    {"amazonses", parse_amazonses},
    {NULL, NULL},
};
