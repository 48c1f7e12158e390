/* queue.c -- `rebound queue rebuild|stats|export`: the mailing cycle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: rebound queue rebuild [--db URL] [--exclude-source-names LIST]\n"
            "       rebound queue stats   [--db URL] [--exclude-source-names LIST]\n"
            "       rebound queue export  [--db URL] [--format csv|plain] [--output FILE]\n\n"
            "rebuild  empties the mailing queue and refills it, in one transaction, with\n"
            "         every contact that may be mailed: for_mailing on, not in quarantine\n"
            "         (quarantines that are over are released first), and not from one of\n"
            "         the excluded sources (comma-separated names, e.g.\n"
            "         'FacebookAdsJsonCSV,UnsubscribeTakeOutSpamBlocked,Test,MailTester')\n"
            "stats    what is in the queue, and why the other contacts are not\n"
            "export   the queue in mailing order, for the mailer (CSV email,source or one\n"
            "         address a line)\n\n"
            "  --now TIME   the time quarantines are judged against (default: now)\n\n"
            "Exit status: 0 ok; 64 usage; 75 store failure (the queue is left as it was).\n");
}

static void print_stats(const rb_queue_stats *q, int rebuilt, size_t nex)
{
    printf("contacts:            %lld\n", (long long)q->contacts);
    for (int s = 0; s < RB_CS_N; s++)
        if (q->by_status[s]) printf("  %-18s %lld\n", rb_contact_status_name(s), (long long)q->by_status[s]);
    printf("in the queue:        %lld\n", (long long)q->queued);
    printf("not in the queue:    %lld\n", (long long)(q->contacts - q->queued));
    printf("  not for mailing (bounced, complaint, unsubscribed, quarantined): %lld\n", (long long)q->not_for_mailing);
    printf("  in quarantine:     %lld\n", (long long)q->quarantined);
    if (nex || q->excluded_source)
        printf("  excluded source:   %lld\n", (long long)q->excluded_source);
    printf("quarantines %s:  %lld\n", rebuilt ? "released" : "ended (released at the next rebuild)",
           (long long)q->released);
}

static int by_source(void *arg, const char *source, int64_t contacts, int64_t queued)
{
    (void)arg;
    printf("  %-30s %10lld %10lld\n", source[0] ? source : "(none)", (long long)contacts, (long long)queued);
    return 0;
}

typedef struct {
    FILE *f;
    int plain;
    unsigned long n;
} export_ctx;

static int export_row(void *arg, const rb_contact *c)
{
    export_ctx *x = arg;
    if (x->plain) fprintf(x->f, "%s\n", c->email);
    else {
        csv_field(x->f, c->email);
        fputc(',', x->f);
        csv_field(x->f, c->source);
        fputc('\n', x->f);
    }
    x->n++;
    return ferror(x->f) ? 1 : 0;
}

int cmd_queue(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        help(argc < 2 ? stderr : stdout);
        return argc < 2 ? EX_USAGE_ : 0;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "rebuild") && strcmp(sub, "stats") && strcmp(sub, "export")) {
        fprintf(stderr, "rebound queue: unknown subcommand '%s' (rebuild, stats, export; see `rebound queue --help`)\n", sub);
        return EX_USAGE_;
    }
    const char *out = NULL;
    char *excl = NULL;
    int plain = 0;
    int64_t now = (int64_t)time(NULL);
    static const opt_keyword formats[] = {{"csv", 0}, {"plain", 1}, {0}};
    const opt_desc opts[] = {
        {OPT_STRING, "exclude-source-names", 0, &excl},
        {OPT_KEYWORD, "format", 0, &plain, formats},
        {OPT_STRING, "output", 'o', &out},
        {OPT_TIME, "now", 0, &now},
        {OPT_INHERIT, .inherit = shared_store_options},
        {0},
    };
    char cmdname[32];
    snprintf(cmdname, sizeof cmdname, "queue %s", sub);
    char **pos;
    int npos = opt_parse(cmdname, opts, argc - 1, argv + 1, &pos);
    if (npos == OPT_HELP) { help(stdout); return 0; }
    if (npos < 0) return EX_USAGE_;
    if (npos > 0) {
        fprintf(stderr, "rebound queue %s: unexpected argument '%s' (see `rebound queue --help`)\n", sub, pos[0]);
        return EX_USAGE_;
    }
    int rcf = shared_finish(cmdname);
    if (rcf) return rcf;
    const char *db = opt_shared.db;
    const char *ex[256];
    size_t nex = excl ? split_list(excl, ex, 256) : 0;

    rb_store *st = open_store("queue", db);
    if (!st) return store_exit();
    rb_error err = {{0}};
    rb_queue_stats q;
    int rc = EX_OK_;
    if (!strcmp(sub, "rebuild") || !strcmp(sub, "stats")) {
        int rebuild = !strcmp(sub, "rebuild");
        rb_status s = rebuild ? rb_store_queue_rebuild(st, ex, nex, now, &q, &err)
                              : rb_store_queue_stats(st, ex, nex, now, &q, &err);
        if (s != RB_OK) {
            fprintf(stderr, "rebound queue %s: %s%s\n", sub, err.msg, rebuild ? " (the queue is left as it was)" : "");
            rc = EX_TEMPFAIL_;
        } else {
            if (rebuild) printf("queue rebuilt: %lld contacts\n", (long long)q.queued);
            print_stats(&q, rebuild, nex);
            printf("\n  %-30s %10s %10s\n", "SOURCE", "CONTACTS", "QUEUED");
            if (rb_store_queue_by_source(st, by_source, NULL, &err) != RB_OK) {
                fprintf(stderr, "rebound queue %s: %s\n", sub, err.msg);
                rc = EX_TEMPFAIL_;
            }
        }
    } else {
        export_ctx x = {stdout, plain, 0};
        if (out && !(x.f = fopen(out, "w"))) {
            fprintf(stderr, "rebound queue export: %s: %m\n", out);
            rb_store_close(st);
            return EX_NOINPUT_;
        }
        if (!plain) fputs("email,source\n", x.f);
        if (rb_store_queue_each(st, export_row, &x, &err) != RB_OK) {
            fprintf(stderr, "rebound queue export: %s\n", err.msg);
            rc = EX_TEMPFAIL_;
        }
        if ((x.f != stdout ? fclose(x.f) : fflush(x.f)) != 0) {
            fprintf(stderr, "rebound queue export: write error: %m\n");
            rc = EX_FAIL;
        }
        if (out) fprintf(stderr, "%s: %lu contacts\n", out, x.n);
    }
    rb_store_close(st);
    return rc;
}
