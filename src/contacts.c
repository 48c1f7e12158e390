/* contacts.c -- `rebound contacts import|show|export`: the contact list. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli.h"
#include "rebound_input.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: rebound contacts import [--db URL] [--create] [--source NAME] [--batch N]\n"
            "                              [--delimiter D] [--progress-every N] [-q] FILE.csv\n"
            "       rebound contacts show [--db URL] EMAIL\n"
            "       rebound contacts export [--db URL] [--status STATUS] [--output FILE]\n\n"
            "import  reads a CSV with a header row: email (or e-mail, email_address, address,\n"
            "        e-mailadres, courriel, E-Mail-Adresse...) and source (or source_name,\n"
            "        bron, quelle, origine) are required -- --source gives a default for\n"
            "        rows without one; optional: status (active, unsubscribed, bounced,\n"
            "        blocked, quarantined, complaint), for_mailing (1/0, true/false,\n"
            "        yes/no), provider.  Other columns are ignored.  Streams, in batched\n"
            "        transactions.  A contact already in the store is left exactly as it\n"
            "        is: importing a list again never revives a bounced address.  Rejected\n"
            "        rows are reported with their line numbers.  The delimiter (, ; or TAB)\n"
            "        is guessed from the header row; a file that is not UTF-8 is read as\n"
            "        Windows-1252 (Excel's CSV), one with a UTF-16 byte order mark as UTF-16.\n"
            "show    the contact and the history of bounces applied to it: for each, what\n"
            "        its reason rests on (evidence) and the rule that gave it\n"
            "export  every contact as CSV (to standard output or --output)\n\n"
            "  --create    import: create the store if it is not there (as rebound init)\n"
            "  --batch N   import: rows per transaction (default 50000)\n"
            "  --delimiter D  import: , ; tab, or auto (the default: guessed)\n"
            "  --progress-every N, -q   import: a progress line every N rows; no summary\n\n"
            "Exit status: 0 ok; 1 rows rejected / contact not found; 64 usage; 65 bad input:\n"
            "the CSV header has no email or source column (nothing is imported); 66 no\n"
            "input, or no store (rebound init);\n"
            "75 store failure.\n");
}

/* ---- import --------------------------------------------------------------------- */
enum { C_EMAIL, C_SOURCE, C_STATUS, C_FORMAIL, C_PROVIDER, C_N };

static int column_of(const char *name)
{
    static const struct { const char *name; int col; } names[] = {
        {"email", C_EMAIL},       {"email_address", C_EMAIL}, {"address", C_EMAIL}, {"e-mail", C_EMAIL},
        {"recipient", C_EMAIL},   {"source", C_SOURCE},       {"source_name", C_SOURCE},
        {"bron", C_SOURCE},       {"quelle", C_SOURCE},       {"origine", C_SOURCE},
        {"status", C_STATUS},     {"for_mailing", C_FORMAIL}, {"provider", C_PROVIDER},
    };
    char n[64];
    while (*name == ' ') name++;
    rb_strlcpy(n, name, sizeof n);
    for (size_t k = strlen(n); k > 0 && n[k - 1] == ' '; k--) n[k - 1] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcasecmp(n, names[i].name)) return names[i].col;
    if (rb_csv_name_is_email(n)) return C_EMAIL;     /* e-mailadres, courriel, E-Mail-Adresse... */
    return -1;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"1", "true", "yes", "y", "t"}, *const no[] = {"0", "false", "no", "n", "f"};
    for (size_t i = 0; i < 5; i++) {
        if (!strcasecmp(s, yes[i])) { *out = 1; return 1; }
        if (!strcasecmp(s, no[i])) { *out = 0; return 1; }
    }
    return 0;
}

typedef struct {
    rb_store *st;
    rb_contact *cs;
    unsigned long *lines;
    int *inserted;
    size_t n, cap;          /* rows held; at most cap (2000) */
    size_t txn;             /* rows per transaction (--batch) */
    size_t since_commit;
    int in_tx;
    unsigned long added, present;              /* committed */
    unsigned long pend_added, pend_present;    /* in the open transaction */
} importer;

/* Insert the rows held (at most 2000) in the open transaction; commit when it
 * holds --batch rows or at the end: a SQLite commit writes every page it
 * changed, so fewer, larger transactions are much cheaper. */
static rb_status import_flush(importer *im, int last, rb_error *err)
{
    rb_status s = RB_OK;
    if (im->n && !im->in_tx) {
        if ((s = rb_store_begin(im->st, err)) != RB_OK) return s;
        im->in_tx = 1;
        im->since_commit = 0;
    }
    if (im->n) s = rb_store_contacts_insert(im->st, im->cs, im->n, im->inserted, err);
    if (s == RB_OK) {
        im->since_commit += im->n;
        for (size_t i = 0; i < im->n; i++) {
            if (im->inserted[i]) im->pend_added++;
            else im->pend_present++;
        }
        im->n = 0;
        if (im->in_tx && (last || im->since_commit >= im->txn)) {
            im->in_tx = 0;
            s = rb_store_commit(im->st, err);
            if (s == RB_OK) {
                im->added += im->pend_added;
                im->present += im->pend_present;
                im->pend_added = im->pend_present = 0;
            }
        }
    }
    if (s != RB_OK && im->in_tx) {
        rb_error e2;
        rb_store_rollback(im->st, &e2);
        im->in_tx = 0;
    }
    return s;
}

/* Say once that the input is not UTF-8 (what it was read as). */
static void note_encoding(const rb_csv *csv, const char *path, int *told)
{
    rb_csv_info ci;
    rb_csv_get_info(csv, &ci);
    if (*told || ci.encoding != RB_ENC_CP1252) return;
    *told = 1;
    fprintf(stderr, "rebound contacts import: %s: not UTF-8: read as Windows-1252 (give a UTF-8 file if that is "
                    "wrong)\n", path);
}

static int contacts_import(rb_store *st, const char *path, const char *dflt_source, size_t batch, char delim)
{
    rb_csv *csv = NULL;
    rb_error err = {{0}};
    rb_csv_opts copts = {delim};
    int told = 0;
    if (rb_csv_open_opts(path, &copts, &csv, &err) != RB_OK) {
        fprintf(stderr, "rebound contacts import: %s\n", err.msg);
        return EX_NOINPUT_;
    }
    size_t chunk = batch < 2000 ? batch : 2000;
    importer im = {st, calloc(chunk, sizeof(rb_contact)), NULL, calloc(chunk, sizeof(int)), 0, chunk, batch, 0, 0, 0, 0, 0, 0};
    int map[256];
    int have[C_N] = {0};
    size_t ncols = 0;
    unsigned long rejected = 0, rows = 0, line;
    const char *const *f;
    size_t nf;
    int r, rc = EX_OK_, header = 0;
    int64_t now = (int64_t)time(NULL);
    progress prog;
    progress_init(&prog, opt_shared.quiet ? 0 : opt_shared.progress_every, "rows");
    if (!im.cs || !im.inserted) { fprintf(stderr, "rebound contacts import: out of memory\n"); rc = EX_SOFTWARE_; goto out; }
    while ((r = rb_csv_next(csv, &f, &nf, &line, &err)) != 0) {
        if (r == -1) {
            fprintf(stderr, "rebound contacts import: %s\n", err.msg);
            rejected++;
            rows += header;
            continue;
        }
        if (r < -1) { fprintf(stderr, "rebound contacts import: %s\n", err.msg); rc = EX_NOINPUT_; break; }
        note_encoding(csv, path, &told);
        if (!header) {
            header = 1;
            rb_csv_info ci;
            rb_csv_get_info(csv, &ci);
            char note[300];
            rb_csv_header_note(ci.delimiter, f, nf, note, sizeof note);
            ncols = nf;
            for (size_t i = 0; i < nf && i < 256; i++) {
                map[i] = column_of(f[i]);
                if (map[i] >= 0) have[map[i]] = 1;
            }
            if (!have[C_EMAIL]) {
                fprintf(stderr, "rebound contacts import: %s:%lu: the header names no email column"
                                " (email, e-mail, email_address, address...) (%s)\n", path, line, note);
                rc = EX_DATAERR_;
                break;
            }
            if (!have[C_SOURCE] && !dflt_source) {
                fprintf(stderr, "rebound contacts import: %s:%lu: the header names no source column"
                                " (%s); give --source NAME\n", path, line, note);
                rc = EX_DATAERR_;
                break;
            }
            continue;
        }
        rows++;
        progress_update(&prog, rows, 0, 0);
        if (nf != ncols) {
            fprintf(stderr, "rebound contacts import: %s:%lu: %zu fields, the header has %zu\n", path, line, nf, ncols);
            rejected++;
            continue;
        }
        rb_contact *c = &im.cs[im.n];
        memset(c, 0, sizeof *c);
        c->for_mailing = 1;
        c->status = RB_CS_ACTIVE;
        c->created_at = c->updated_at = now;
        const char *why = NULL;
        int formail = -1;
        for (size_t i = 0; i < nf && i < 256 && !why; i++) {
            const char *v = f[i];
            switch (map[i]) {
            case C_EMAIL:
                rb_strlcpy(c->email, v, sizeof c->email);
                if (!rb_email_normalize(v, c->email_norm, sizeof c->email_norm)) why = c->email_norm;
                break;
            case C_SOURCE: rb_strlcpy(c->source, v, sizeof c->source); break;
            case C_PROVIDER: rb_strlcpy(c->provider, v, sizeof c->provider); break;
            case C_STATUS:
                if (*v && (c->status = rb_contact_status_parse(v)) < 0) why = "unknown status";
                if (c->status < 0) c->status = RB_CS_ACTIVE;
                break;
            case C_FORMAIL:
                if (*v && !parse_bool(v, &formail)) why = "for_mailing is not 1/0, true/false or yes/no";
                break;
            default: break;
            }
        }
        if (!why && !c->source[0]) {
            if (dflt_source) rb_strlcpy(c->source, dflt_source, sizeof c->source);
            else why = "no source";
        }
        if (why) {
            char shown[120];
            rb_strlcpy(shown, c->email, sizeof shown);
            fprintf(stderr, "rebound contacts import: %s:%lu: rejected '%s': %s\n", path, line, shown, why);
            rejected++;
            continue;
        }
        int mailable = c->status == RB_CS_ACTIVE || c->status == RB_CS_BLOCKED;
        if (c->status == RB_CS_QUARANTINED) why = "status quarantined cannot be imported (a quarantine needs an end)";
        else if (formail == 1 && !mailable) why = "for_mailing 1 contradicts the status";
        if (why) {
            fprintf(stderr, "rebound contacts import: %s:%lu: rejected '%.100s': %s\n", path, line, c->email, why);
            rejected++;
            continue;
        }
        c->for_mailing = formail >= 0 ? formail : mailable;
        if (++im.n == im.cap && import_flush(&im, 0, &err) != RB_OK) {
            fprintf(stderr, "rebound contacts import: %s\n", err.msg);
            rc = EX_TEMPFAIL_;
            break;
        }
    }
    if (rc == EX_OK_ && import_flush(&im, 1, &err) != RB_OK) {
        fprintf(stderr, "rebound contacts import: %s\n", err.msg);
        rc = EX_TEMPFAIL_;
    }
    progress_finish(&prog, rows);
    rb_csv_info ci;
    rb_csv_get_info(csv, &ci);
    if (ci.recoded)
        fprintf(stderr, "rebound contacts import: %s: %llu byte%s that %s not UTF-8 read as Windows-1252\n", path,
                (unsigned long long)ci.recoded, ci.recoded == 1 ? "" : "s", ci.recoded == 1 ? "was" : "were");
    if (!opt_shared.quiet)
        printf("%s: %lu rows: %lu new contacts, %lu already in the store (kept as they are), %lu rejected\n", path,
               rows, im.added, im.present, rejected);
    if (rc == EX_OK_ && rejected) rc = EX_FAIL;
out:
    free(im.cs);
    free(im.inserted);
    rb_csv_free(csv);
    return rc;
}

/* ---- show ------------------------------------------------------------------------ */
static int print_event(void *arg, const rb_event *e)
{
    char t[32];
    unsigned *n = arg;
    if (!(*n)++) printf("\n%-20s %-9s %-16s %-8s %-4s %-11s %s\n", "DATE", "TYPE", "REASON", "STATUS", "CODE",
                        "DECISION", "DIAGNOSTIC / SOURCE");
    printf("%-20s %-9s %-16s %-8s %-4s %-11s %.100s\n", fmt_time(e->event_time, t, sizeof t), e->bounce_type,
           e->reason, e->status, e->reply_code, e->decision, e->diagnostic);
    /* why: what the reason rests on and the rule that gave it (events
     * stored before schema version 3 have neither) */
    printf("%21sreason %s", "", e->reason[0] ? e->reason : "-");
    if (e->evidence[0] || e->rule[0])
        printf(" (evidence %s, rule %s)\n", e->evidence[0] ? e->evidence : "-", e->rule[0] ? e->rule : "-");
    else
        printf(" (evidence and rule not recorded)\n");
    if (e->source[0]) printf("%74s%s\n", "", e->source);
    return 0;
}

typedef struct {
    const rb_contact *c;
    unsigned n;
} sends_ctx;

static int print_send(void *arg, const rb_send *s)
{
    sends_ctx *sc = arg;
    char t[32];
    if (!sc->n++) printf("\n%-20s %-12s %-40s %s\n", "ACCEPTED (maillog)", "QUEUE_ID", "RELAY", "REPLY / LATER");
    printf("%-20s %-12s %-40.40s %.100s\n", fmt_time(s->sent_at, t, sizeof t), s->queue_id, s->relay, s->reply);
    if (sc->n == 1 && sc->c->last_bounce_at > s->sent_at && sc->c->bounce_type[0])
        printf("%-20s %-12s %-40s bounced later: %s %s (%s)\n", "", "", "", sc->c->status_code, sc->c->reason,
               fmt_time(sc->c->last_bounce_at, t, sizeof t));
    return 0;
}

static int contacts_show(rb_store *st, const char *email)
{
    char norm[RB_ADDR_MAX];
    if (!rb_email_normalize(email, norm, sizeof norm)) {
        fprintf(stderr, "rebound contacts show: '%s' is not an address: %s\n", email, norm);
        return EX_USAGE_;
    }
    rb_contact c;
    int found = 0;
    rb_error err = {{0}};
    const char *k[] = {norm};
    if (rb_store_contacts_load(st, k, 1, 0, &c, &found, &err) != RB_OK) {
        fprintf(stderr, "rebound contacts show: %s\n", err.msg);
        return EX_TEMPFAIL_;
    }
    if (!found) {
        fprintf(stderr, "rebound contacts show: %s: no such contact\n", norm);
        return EX_FAIL;
    }
    char t1[32], t2[32], t3[32], t4[32], t5[32], t6[32];
    printf("email:            %s\n", c.email);
    printf("source:           %s\n", c.source);
    printf("status:           %s\n", rb_contact_status_name(c.status));
    printf("for_mailing:      %s\n", c.for_mailing ? "yes" : "no");
    printf("bounce_type:      %s\n", c.bounce_type);
    printf("reason:           %s\n", c.reason);
    printf("status_code:      %s\n", c.status_code);
    printf("status_message:   %s\n", c.status_message);
    if (c.provider[0] && c.provider_source[0]) printf("provider:         %s (%s)\n", c.provider, c.provider_source);
    else printf("provider:         %s\n", c.provider);
    printf("provider_source:  %s\n", c.provider_source);
    printf("soft_count:       %d (since %s)\n", c.soft_count, c.soft_since ? fmt_time(c.soft_since, t1, sizeof t1) : "the start");
    printf("quarantine_until: %s\n", fmt_time(c.quarantine_until, t2, sizeof t2));
    printf("last_bounce:      %s\n", fmt_time(c.last_bounce_at, t3, sizeof t3));
    printf("last_delivered:   %s\n", fmt_time(c.last_delivered_at, t4, sizeof t4));
    printf("created / updated: %s / %s\n", fmt_time(c.created_at, t5, sizeof t5), fmt_time(c.updated_at, t6, sizeof t6));
    unsigned n = 0;
    if (rb_store_events_of(st, c.id, print_event, &n, &err) != RB_OK) {
        fprintf(stderr, "rebound contacts show: %s\n", err.msg);
        return EX_TEMPFAIL_;
    }
    if (!n) printf("\nno bounces applied\n");
    /* what the Postfix log says was accepted: an NDR after a 250 is the
     * "accepted, bounced later" case (Microsoft's Queued mail for delivery) */
    sends_ctx sc = {&c, 0};
    if (rb_store_sends_of(st, norm, 10, print_send, &sc, &err) != RB_OK) {
        fprintf(stderr, "rebound contacts show: %s\n", err.msg);
        return EX_TEMPFAIL_;
    }
    return EX_OK_;
}

/* ---- export ---------------------------------------------------------------------- */
typedef struct {
    FILE *f;
    int status;     /* -1: all */
    unsigned long n;
} export_ctx;

static int export_row(void *arg, const rb_contact *c)
{
    export_ctx *x = arg;
    if (x->status >= 0 && c->status != x->status) return 0;
    char t[6][32];
    FILE *f = x->f;
    csv_field(f, c->email);
    fputc(',', f);
    csv_field(f, c->email_norm);
    fputc(',', f);
    csv_field(f, c->source);
    fprintf(f, ",%d,%s,%s,%s,", c->for_mailing, rb_contact_status_name(c->status), c->bounce_type, c->reason);
    csv_field(f, c->status_code);
    fputc(',', f);
    csv_field(f, c->status_message);
    fputc(',', f);
    csv_field(f, c->provider);
    fputc(',', f);
    csv_field(f, c->provider_source);
    fprintf(f, ",%d,%s,%s,%s,%s,%s,%s\n", c->soft_count, fmt_time(c->soft_since, t[0], 32),
            fmt_time(c->quarantine_until, t[1], 32), fmt_time(c->last_bounce_at, t[2], 32),
            fmt_time(c->last_delivered_at, t[3], 32), fmt_time(c->created_at, t[4], 32),
            fmt_time(c->updated_at, t[5], 32));
    x->n++;
    return ferror(f) ? 1 : 0;
}

static int contacts_export(rb_store *st, const char *out, const char *status)
{
    export_ctx x = {stdout, -1, 0};
    if (status && (x.status = rb_contact_status_parse(status)) < 0) {
        fprintf(stderr, "rebound contacts export: unknown status '%s'\n", status);
        return EX_USAGE_;
    }
    if (out && !(x.f = fopen(out, "w"))) {
        fprintf(stderr, "rebound contacts export: %s: %m\n", out);
        return EX_NOINPUT_;
    }
    fputs("email,email_norm,source,for_mailing,status,bounce_type,reason,status_code,status_message,provider,"
          "provider_source,soft_count,soft_since,quarantine_until,last_bounce_at,last_delivered_at,created_at,"
          "updated_at\n",
          x.f);
    rb_error err = {{0}};
    int rc = EX_OK_;
    if (rb_store_contacts_each(st, export_row, &x, &err) != RB_OK) {
        fprintf(stderr, "rebound contacts export: %s\n", err.msg);
        rc = EX_TEMPFAIL_;
    }
    if ((x.f != stdout ? fclose(x.f) : fflush(x.f)) != 0) {
        fprintf(stderr, "rebound contacts export: %s: write error: %m\n", out ? out : "standard output");
        rc = EX_FAIL;
    }
    if (out) fprintf(stderr, "%s: %lu contacts\n", out, x.n);
    return rc;
}

int cmd_contacts(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        help(argc < 2 ? stderr : stdout);
        return argc < 2 ? EX_USAGE_ : 0;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "import") && strcmp(sub, "show") && strcmp(sub, "export")) {
        fprintf(stderr, "rebound contacts: unknown subcommand '%s' (import, show, export; see `rebound contacts --help`)\n", sub);
        return EX_USAGE_;
    }
    const char *source = NULL, *status = NULL, *out = NULL;
    unsigned long batch = 50000;
    int create = 0, delim = 0;
    static const opt_keyword delims[] = {
        {"auto", 0}, {"tab", '\t'}, {"comma", ','}, {"semicolon", ';'}, {",", ','}, {";", ';'}, {0},
    };
    const opt_desc opts[] = {
        {OPT_FLAG, "create", 0, &create},
        {OPT_KEYWORD, "delimiter", 0, &delim, .keywords = delims},
        {OPT_STRING, "source", 0, &source},
        {OPT_STRING, "status", 0, &status},
        {OPT_STRING, "output", 'o', &out},
        {OPT_ULONG, "batch", 0, &batch, .min = 1, .max = 10000000},
        {OPT_INHERIT, .inherit = shared_store_options},
        {OPT_INHERIT, .inherit = shared_progress_options},
        {0},
    };
    char cmdname[32];
    snprintf(cmdname, sizeof cmdname, "contacts %s", sub);
    char **args;
    int nargs = opt_parse(cmdname, opts, argc - 1, argv + 1, &args);
    if (nargs == OPT_HELP) { help(stdout); return 0; }
    if (nargs < 0) return EX_USAGE_;
    if ((!strcmp(sub, "export") && nargs != 0) || (strcmp(sub, "export") && nargs != 1)) {
        fprintf(stderr, "rebound contacts %s: %s (see `rebound contacts --help`)\n", sub,
                !strcmp(sub, "export") ? "takes no arguments" : nargs ? "expected one argument" : "no FILE given");
        return EX_USAGE_;
    }
    int rcf = shared_finish(cmdname);
    if (rcf) return rcf;
    const char *db = opt_shared.db;
    if (create && strcmp(sub, "import")) {
        fprintf(stderr, "rebound contacts %s: --create is for import (see `rebound contacts --help`)\n", sub);
        return EX_USAGE_;
    }
    rb_store *st = open_store_opts(cmdname, db, create, 0);
    if (!st) return store_exit();
    int rc;
    if (!strcmp(sub, "import")) rc = contacts_import(st, args[0], source, batch, (char)delim);
    else if (!strcmp(sub, "show")) rc = contacts_show(st, args[0]);
    else rc = contacts_export(st, out, status);
    rb_store_close(st);
    return rc;
}
