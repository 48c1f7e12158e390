/* test_lexicon.c -- the classification lexicon, row by row, in real layouts.
 *
 * Every row of the tables in tests/lexicon/ is a text a real MTA or provider sends
 * (see the `# source:` comment above each group), with the reply code,
 * enhanced status and SMTP command it comes with, and the reason and bounce
 * type an operator needs.  Each row is written into the bounce layouts it
 * names -- an RFC 3464 report, Postfix's "Undelivered Mail Returned to
 * Sender", qmail's "failure notice", Exim's "Mail delivery failed", a
 * Microsoft 365 NDR (English, German, French, Dutch), a plain-text
 * notice (English, Spanish) -- and analysed by the library like any bounce:
 * the recipient, the reason and the bounce type must come out.
 *
 *   test_lexicon [--rules FILE] [--policy FILE] [--layout NAME] [-v] [TSV...]
 *
 * Without TSV arguments it reads every .tsv in $REBOUND_SRCDIR/tests/lexicon.
 * Prints each failure (with the rules that matched) and a closing line
 * "lexicon: N rows, N checks, N passed, N failed"; exits 1 on any failure.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>

#include "rebound.h"

/* The failed recipient: user@example.net, or the user@... address a row's
 * text names (a provider's reply quotes the recipient at that provider). */
static char RCPT[320] = "user@example.net";

static void pick_recipient(const char *text)
{
    snprintf(RCPT, sizeof RCPT, "user@example.net");
    for (const char *p = text; (p = strstr(p, "user@")); p++) {
        if (p > text && (g_ascii_isalnum(p[-1]) || p[-1] == '.' || p[-1] == '-')) continue;
        size_t n = 5;
        while (p[n] && (g_ascii_isalnum(p[n]) || p[n] == '.' || p[n] == '-')) n++;
        while (n > 5 && p[n - 1] == '.') n--;
        if (n > 5 && memchr(p + 5, '.', n - 5)) { snprintf(RCPT, sizeof RCPT, "%.*s", (int)n, p); return; }
    }
}

typedef struct {
    char reason[64], type[32], status[32], reply[16], command[16];
    char text[2048], layouts[256];
    char where[600];   /* file:line */
} row;

static const char *const all_layouts[] = {
    "dsn", "postfix", "qmail", "exim", "exchange", "plain", "exchange-de", "exchange-fr", "exchange-nl", "plain-es",
};
#define NLAYOUTS (sizeof all_layouts / sizeof all_layouts[0])

/* "550 5.1.1 text", or the parts that exist */
static void coded_text(const row *r, GString *o)
{
    if (r->reply[0]) g_string_append_printf(o, "%s ", r->reply);
    if (r->status[0]) g_string_append_printf(o, "%s ", r->status);
    g_string_append(o, r->text);
    while (o->len && o->str[o->len - 1] == ' ') g_string_truncate(o, o->len - 1);
}

static void headers(GString *m, const char *from, const char *subject, const char *ctype)
{
    g_string_append_printf(m,
                           "Return-Path: <>\nFrom: %s\nTo: newsletter@impex.example\nSubject: %s\n"
                           "Date: Thu, 03 Dec 2026 10:00:00 +0000\nMessage-ID: <bounce.1@mx.example.org>\n"
                           "MIME-Version: 1.0\nContent-Type: %s\n",
                           from, subject, ctype);
}

static char original[1024];

static void make_original(void)
{
    snprintf(original, sizeof original,
             "From: Impex <newsletter@impex.example>\nTo: %s\nSubject: Newsletter december\n"
             "Message-ID: <nl.42@impex.example>\nDate: Thu, 03 Dec 2026 09:00:00 +0000\n\nHello!\n", RCPT);
}

static const char *exim_after(const char *cmd)
{
    static char rcpt_to[400];
    snprintf(rcpt_to, sizeof rcpt_to, "after RCPT TO:<%s>", RCPT);
    if (!strcmp(cmd, "RCPT")) return rcpt_to;
    if (!strcmp(cmd, "DATA")) return "after end of data";
    if (!strcmp(cmd, "MAIL")) return "after MAIL FROM:<newsletter@impex.example> SIZE=2048";
    if (!strcmp(cmd, "CONN")) return "after initial connection";
    if (!strcmp(cmd, "HELO") || !strcmp(cmd, "EHLO")) return "after EHLO mx.impex.example";
    return rcpt_to;
}

static const char *postfix_in_reply(const char *cmd)
{
    if (!strcmp(cmd, "RCPT")) return " (in reply to RCPT TO command)";
    if (!strcmp(cmd, "DATA")) return " (in reply to end of DATA command)";
    if (!strcmp(cmd, "MAIL")) return " (in reply to MAIL FROM command)";
    if (!strcmp(cmd, "HELO") || !strcmp(cmd, "EHLO")) return " (in reply to EHLO command)";
    return "";
}

static const struct {
    const char *name, *subject, *intro, *admin, *server;
} exchanges[] = {
    {"exchange", "Undeliverable: Newsletter december", "Delivery has failed to these recipients or groups:",
     "Diagnostic information for administrators:", "Generating server:"},
    {"exchange-de", "Unzustellbar: Newsletter december",
     "Die Übermittlung an folgende Empfänger oder Gruppen ist fehlgeschlagen:",
     "Diagnoseinformationen für Administratoren:", "Generierender Server:"},
    {"exchange-fr", "Non remis : Newsletter december", "La remise aux destinataires ou groupes suivants a échoué :",
     "Informations de diagnostic pour les administrateurs :", "Serveur de génération :"},
    {"exchange-nl", "Onbestelbaar: Newsletter december",
     "De bezorging aan de volgende geadresseerden of groepen is mislukt:",
     "Diagnostische gegevens voor beheerders:", "Genererende server:"},
};

/* The whole bounce for one row in one layout. */
static GString *build(const row *r, const char *layout)
{
    GString *m = g_string_new(NULL), *ct = g_string_new(NULL);
    coded_text(r, ct);
    const char *diag = ct->str;
    int temp = r->status[0] == '4' || (!r->status[0] && r->reply[0] == '4');
    if (!strcmp(layout, "dsn")) {
        char st[32];
        if (r->status[0]) snprintf(st, sizeof st, "%s", r->status);
        else snprintf(st, sizeof st, "%c.0.0", temp ? '4' : '5');
        headers(m, "MAILER-DAEMON@mx.example.org (Mail Delivery System)", "Delivery Status Notification (Failure)",
                "multipart/report; report-type=delivery-status; boundary=\"B1\"");
        g_string_append_printf(m,
                               "\n--B1\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
                               "This is the mail system at host mx.example.org.\n\n"
                               "Your message could not be delivered to one or more recipients.\n\n"
                               "<%s>: %s\n\n"
                               "--B1\nContent-Type: message/delivery-status\n\n"
                               "Reporting-MTA: dns; mx.example.org\n\n"
                               "Final-Recipient: rfc822; %s\nAction: %s\nStatus: %s\n"
                               "Remote-MTA: dns; mx.example.net\nDiagnostic-Code: smtp; %s\n\n"
                               "--B1\nContent-Type: message/rfc822\n\n%s\n--B1--\n",
                               RCPT, diag, RCPT, "failed", st, diag, original);
    } else if (!strcmp(layout, "postfix")) {
        headers(m, "MAILER-DAEMON@mx.example.org (Mail Delivery System)", "Undelivered Mail Returned to Sender",
                "text/plain; charset=utf-8");
        g_string_append(m, "Content-Transfer-Encoding: 8bit\n\n"
                           "This is the mail system at host mx.example.org.\n\n"
                           "I'm sorry to have to inform you that your message could not\n"
                           "be delivered to one or more recipients. It's attached below.\n\n"
                           "For further assistance, please send mail to postmaster.\n\n"
                           "If you do so, please include this problem report. You can\n"
                           "delete your own text from the attached returned message.\n\n"
                           "                   The mail system\n\n");
        if (r->reply[0])
            g_string_append_printf(m, "<%s>: host mx.example.net[192.0.2.25] said: %s%s\n\n", RCPT, diag,
                                   postfix_in_reply(r->command));
        else
            g_string_append_printf(m, "<%s>: %s\n\n", RCPT, diag);
        g_string_append_printf(m, "------ Original message headers ------\n\n%s", original);
    } else if (!strcmp(layout, "qmail")) {
        headers(m, "MAILER-DAEMON@mx.example.org", "failure notice", "text/plain; charset=utf-8");
        g_string_append(m, "Content-Transfer-Encoding: 8bit\n\n"
                           "Hi. This is the qmail-send program at mx.example.org.\n"
                           "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
                           "This is a permanent error; I've given up. Sorry it didn't work out.\n\n");
        if (r->reply[0])
            g_string_append_printf(m, "<%s>:\n192.0.2.25 does not like recipient.\nRemote host said: %s\n"
                                      "Giving up on 192.0.2.25.\n\n", RCPT, diag);
        else
            g_string_append_printf(m, "<%s>:\n%s\n\n", RCPT, diag);
        g_string_append_printf(m, "--- Below this line is a copy of the message.\n\n%s", original);
    } else if (!strcmp(layout, "exim")) {
        headers(m, "Mail Delivery System <Mailer-Daemon@mx.example.org>",
                "Mail delivery failed: returning message to sender", "text/plain; charset=utf-8");
        g_string_append_printf(m, "X-Failed-Recipients: %s\nContent-Transfer-Encoding: 8bit\n\n"
                                  "This message was created automatically by mail delivery software.\n\n"
                                  "A message that you sent could not be delivered to one or more of its\n"
                                  "recipients. This is a permanent error. The following address(es) failed:\n\n"
                                  "  %s\n", RCPT, RCPT);
        if (r->reply[0])
            g_string_append_printf(m, "    host mx.example.net [192.0.2.25]\n"
                                      "    SMTP error from remote mail server %s:\n    %s\n\n",
                                   exim_after(r->command), diag);
        else
            g_string_append_printf(m, "    %s\n\n", diag);
        g_string_append_printf(m, "------ This is a copy of the message, including all the headers. ------\n\n%s",
                               original);
    } else if (!strncmp(layout, "exchange", 8)) {
        size_t k = 0;
        while (k + 1 < sizeof exchanges / sizeof exchanges[0] && strcmp(exchanges[k].name, layout)) k++;
        headers(m, "Microsoft Outlook <MAILER-DAEMON@mx.example.org>", exchanges[k].subject,
                "multipart/mixed; boundary=\"B2\"");
        g_string_append_printf(m,
                               "\n--B2\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
                               "%s\n\n%s\n%s\n\n%s\n\n%s mx.example.org\n\n%s\nRemote Server returned '%s'\n\n"
                               "--B2\nContent-Type: message/rfc822\n\n%s\n--B2--\n",
                               exchanges[k].intro, RCPT, r->text, exchanges[k].admin, exchanges[k].server, RCPT,
                               diag, original);
    } else if (!strncmp(layout, "plain", 5)) {
        /* a plain-text notice: English, or Spanish ("plain-es") */
        int es = !strcmp(layout, "plain-es");
        headers(m, es ? "MAILER-DAEMON@mx.example.org" : "Mail Delivery Subsystem <MAILER-DAEMON@mx.example.org>",
                es ? "Notificación de estado de entrega (error)" : "Delivery Status Notification (Failure)",
                "text/plain; charset=utf-8");
        g_string_append_printf(m, es ? "Content-Transfer-Encoding: 8bit\n\n"
                                       "No se ha podido entregar su mensaje a %s.\n\nMotivo: %s\n\n"
                                       "----- Mensaje original -----\n\n%s"
                                     : "Content-Transfer-Encoding: 8bit\n\n"
                                       "Your message to %s could not be delivered.\n\nReason: %s\n\n"
                                       "----- Original message -----\n\n%s",
                               RCPT, diag, original);
    }
    g_string_free(ct, TRUE);
    return m;
}

static int wants(const row *r, const char *layout)
{
    if (!strcmp(r->layouts, "*") || !r->layouts[0]) return 1;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", r->layouts);
    for (char *s = NULL, *t = strtok_r(buf, ", ", &s); t; t = strtok_r(NULL, ", ", &s))
        if (!strcmp(t, layout)) return 1;
    return 0;
}

static int nrows, nchecks, npass, nfail, verbose;
static const char *only_layout;

static void explain(const rb_ctx *ctx, const rb_record *rec, const char *subject)
{
    rb_rule_hit hits[8];
    size_t n = rb_explain(ctx, rec, subject, hits, 8);
    for (size_t i = 0; i < n; i++) {
        char w[600];
        rb_rule_hit_where(&hits[i], w, sizeof w);
        fprintf(stderr, "      %s %-15s %-7s matched \"%s\"\n", i ? "  " : "=>", hits[i].reason,
                rb_evidence_name(hits[i].evidence), hits[i].matched);
        fprintf(stderr, "         at %s\n", w);
    }
}

static void check_row(const rb_ctx *ctx, const row *r)
{
    nrows++;
    pick_recipient(r->text);
    make_original();
    rb_result res;
    rb_result_init(&res);
    for (size_t l = 0; l < NLAYOUTS; l++) {
        const char *layout = all_layouts[l];
        if (!wants(r, layout) || (only_layout && strcmp(only_layout, layout))) continue;
        nchecks++;
        GString *m = build(r, layout);
        rb_error err = {{0}};
        rb_status st = rb_analyze_message(ctx, m->str, m->len, layout, NULL, &res, &err);
        const rb_record *rec = NULL;
        for (size_t i = 0; st == RB_OK && i < res.n; i++)
            if (!g_ascii_strcasecmp(res.recs[i].recipient, RCPT)) rec = &res.recs[i];
        int ok = rec && !strcmp(rec->reason, r->reason) && (!r->type[0] || !strcmp(rec->bounce_type, r->type));
        if (ok) npass++;
        else {
            nfail++;
            fprintf(stderr, "FAIL %s [%s] want %s/%s: \"%s\"\n", r->where, layout, r->reason, r->type, r->text);
            if (!rec)
                fprintf(stderr, "     no record for %s (%s; %zu records%s%s)\n", RCPT, st == RB_OK ? "parsed" : err.msg,
                        res.n, res.note[0] ? "; " : "", res.note);
            else {
                fprintf(stderr, "     got %s/%s evidence %s rule %s via %s, diagnostic \"%s\"\n", rec->reason,
                        rec->bounce_type, rec->evidence, rec->rule, rec->decoded_by, rec->diagnostic);
                explain(ctx, rec, res.subject);
            }
            if (verbose) fprintf(stderr, "----\n%s----\n", m->str);
        }
        g_string_free(m, TRUE);
    }
    rb_result_free(&res);
}

static int read_table(const rb_ctx *ctx, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) { fprintf(stderr, "%s: cannot open\n", path); return -1; }
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, bad = 0;
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0] || line[0] == '#') continue;
        char *col[7] = {0};
        int n = 0;
        for (char *p = line; n < 7;) {
            col[n++] = p;
            char *tab = strchr(p, '\t');
            if (!tab) break;
            *tab = '\0';
            p = tab + 1;
        }
        if (n < 6 || !col[0][0] || (!col[5][0] && !col[2][0] && !col[3][0])) {
            fprintf(stderr, "%s:%d: expected reason, type, status, reply, command, text[, layouts]\n", path, lineno);
            bad++;
            continue;
        }
        row r;
        memset(&r, 0, sizeof r);
        snprintf(r.reason, sizeof r.reason, "%s", col[0]);
        snprintf(r.type, sizeof r.type, "%s", col[1]);
        snprintf(r.status, sizeof r.status, "%s", col[2]);
        snprintf(r.reply, sizeof r.reply, "%s", col[3]);
        snprintf(r.command, sizeof r.command, "%s", col[4]);
        snprintf(r.text, sizeof r.text, "%s", col[5]);
        snprintf(r.layouts, sizeof r.layouts, "%s", n > 6 ? col[6] : "*");
        snprintf(r.where, sizeof r.where, "%s:%d", base, lineno);
        check_row(ctx, &r);
    }
    free(line);
    fclose(f);
    nfail += bad;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    rb_ctx_opts o = {.datadir = getenv("REBOUND_DATADIR")};
    int first = 1;
    for (; first < argc && argv[first][0] == '-' && argv[first][1]; first++) {
        if (!strcmp(argv[first], "--rules") && first + 1 < argc) o.rules_path = argv[++first];
        else if (!strcmp(argv[first], "--policy") && first + 1 < argc) o.policy_path = argv[++first];
        else if (!strcmp(argv[first], "--layout") && first + 1 < argc) only_layout = argv[++first];
        else if (!strcmp(argv[first], "-v")) verbose = 1;
        else { fprintf(stderr, "usage: test_lexicon [--rules FILE] [--policy FILE] [--layout NAME] [-v] [TSV...]\n"); return 64; }
    }
    rb_ctx *ctx = NULL;
    rb_error err = {{0}};
    if (rb_ctx_new(&o, &ctx, &err) != RB_OK) { fprintf(stderr, "%s\n", err.msg); return 78; }
    if (first < argc) {
        for (int i = first; i < argc; i++) read_table(ctx, argv[i]);
    } else {
        const char *src = getenv("REBOUND_SRCDIR");
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/tests/lexicon", src ? src : ".");
        DIR *d = opendir(dir);
        if (!d) { fprintf(stderr, "%s: cannot open\n", dir); return 1; }
        char *names[256];
        size_t nn = 0;
        struct dirent *e;
        while ((e = readdir(d)) && nn < 256) {
            size_t l = strlen(e->d_name);
            if (l > 4 && !strcmp(e->d_name + l - 4, ".tsv")) names[nn++] = g_strdup_printf("%s/%s", dir, e->d_name);
        }
        closedir(d);
        qsort(names, nn, sizeof names[0], by_name);
        for (size_t i = 0; i < nn; i++) { read_table(ctx, names[i]); g_free(names[i]); }
    }
    rb_ctx_free(ctx);
    printf("lexicon: %d rows, %d checks, %d passed, %d failed\n", nrows, nchecks, npass, nfail);
    return nfail || !nchecks ? 1 : 0;
}
