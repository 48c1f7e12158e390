/* analyze.c -- `rebound analyze`: bounce mail in, one record per failed
 * recipient out.
 *
 * Messages are read in batches by the main thread and analysed by a pool of
 * workers (all cores by default); each message's output is formatted by the
 * worker and written by the main thread in input order, so the output does
 * not depend on the number of threads.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define BATCH_MSGS 512
#define BATCH_BYTES (16u << 20)

static void help(FILE *f)
{
    fprintf(f,
            "usage: rebound analyze [OPTIONS] PATH...\n\n"
            "Read bounce mail and print one record per failed recipient: who bounced,\n"
            "why (reason), how hard (bounce type) and what the policy says to do.\n\n"
            "PATH is an mbox, a Maildir or any folder of message files (recursively), a\n"
            "single message file, or - for standard input.  .gz files are read\n"
            "transparently; LF, CRLF and CR-only line endings all work.\n\n"
            "Options:\n"
            "  --format jsonl|csv|table   output format (default: table on a terminal, else jsonl)\n"
            "  --write-csv FILE           also write the records as CSV to FILE\n"
            "  --subject-contains TEXT    only messages whose Subject contains TEXT\n"
            "                             (case-insensitive; repeatable: any of them)\n"
            "  --body-contains TEXT       only messages whose decoded text contains TEXT\n"
            "                             (case-insensitive; repeatable: any of them)\n"
            "  --progress-every N         a progress line on stderr every N messages; on a\n"
            "                             terminal a live bar with messages/s and ETA\n"
            "  --rules FILE               classification rules (default: %s/rules.conf)\n"
            "  --policy FILE              bounce-type policy (default: %s/policy.conf)\n"
            "  --providers FILE           provider table (default: %s/providers.conf)\n"
            "  --all                      also print a record for messages that are not bounces\n"
            "  --jobs N                   worker threads (default: number of CPUs)\n"
            "  -q, --quiet                no summary line on stderr\n"
            "  -h, --help                 this help\n\n"
            "Records (JSONL keys / CSV columns, in order): source recipient reason status\n"
            "reply_code bounce_type action diagnostic remote_mta reporting_mta provider\n"
            "feedback_type addresser original_message_id original_subject date decoded_by\n"
            "smtp_command dsn_action.  For an mbox, source is PATH#N (N counts from 1).\n\n"
            "Exit status: 0 all input read; 1 some input could not be read (named on\n"
            "stderr, the rest was analysed); 64 usage; 78 bad rules/policy file.\n",
            rb_default_datadir(), rb_default_datadir(), rb_default_datadir());
}

typedef struct {
    char *data;
    size_t len;
    char source[RB_SOURCE_MAX];
    rb_buf out, csv;
    char errmsg[sizeof(rb_error)];
    int failed, bounce, filtered;
    size_t nrec;
} item;

typedef struct {
    const rb_ctx *ctx;
    const rb_analyze_opts *aopts;
    int format, want_csv, all;
    item *items;
    size_t n;
    atomic_size_t next;
} batch;

static void trunc_copy(char *dst, size_t w, const char *s)
{
    size_t n = strlen(s);
    if (n <= w) { memcpy(dst, s, n + 1); return; }
    memcpy(dst, s, w - 1);
    memcpy(dst + w - 1, "~", 2);
}

static void table_row(const rb_record *r, rb_buf *b)
{
    char src[33], rcpt[41], diag[61];
    const char *s = strrchr(r->source, '/');
    trunc_copy(src, 32, s ? s + 1 : r->source);
    trunc_copy(rcpt, 40, r->recipient);
    trunc_copy(diag, 60, r->diagnostic);
    char line[512];
    snprintf(line, sizeof line, "%-32s %-40s %-15s %-9s %-8s %-4s %-12s %s\n", src, rcpt, r->reason,
             r->bounce_type, r->status, r->reply_code, r->provider, diag);
    rb_buf_puts(b, line);
}

static void format_records(batch *bt, item *it, const rb_result *res)
{
    for (size_t k = 0; k < res->n; k++) {
        const rb_record *r = &res->recs[k];
        if (bt->format == RB_FMT_JSONL) rb_record_to_jsonl(r, &it->out);
        else if (bt->format == RB_FMT_CSV) rb_record_to_csv(r, &it->out);
        else table_row(r, &it->out);
        if (bt->want_csv) rb_record_to_csv(r, &it->csv);
    }
}

static void *worker(void *arg)
{
    batch *bt = arg;
    rb_result res;
    rb_result_init(&res);
    size_t i;
    while ((i = atomic_fetch_add(&bt->next, 1)) < bt->n) {
        item *it = &bt->items[i];
        rb_error err = {{0}};
        rb_status st = rb_analyze_message(bt->ctx, it->data, it->len, it->source, bt->aopts, &res, &err);
        if (st != RB_OK) {
            it->failed = 1;
            memcpy(it->errmsg, err.msg, sizeof it->errmsg);
            continue;
        }
        it->filtered = res.filtered;
        it->bounce = res.is_bounce;
        it->nrec = res.n;
        if (!res.is_bounce && !res.filtered && bt->all) {
            /* --all: one record that says what the message was */
            rb_result one;
            rb_result_init(&one);
            rb_record *r = rb_result_add(&one);
            if (r) {
                rb_strlcpy(r->source, it->source, sizeof r->source);
                rb_strlcpy(r->reason, "", sizeof r->reason);
                rb_strlcpy(r->bounce_type, "none", sizeof r->bounce_type);
                rb_strlcpy(r->action, "ignore", sizeof r->action);
                rb_strlcpy(r->diagnostic, res.note, sizeof r->diagnostic);
                format_records(bt, it, &one);
            }
            rb_result_free(&one);
        } else {
            format_records(bt, it, &res);
        }
    }
    rb_result_free(&res);
    return NULL;
}

static void run_batch(batch *bt, int jobs)
{
    atomic_store(&bt->next, 0);
    int nt = jobs - 1;
    if ((size_t)nt > bt->n) nt = (int)bt->n;
    pthread_t th[64];
    int started = 0;
    for (int t = 0; t < nt && t < 64; t++)
        if (pthread_create(&th[t], NULL, worker, bt) == 0) started++;
    worker(bt);
    for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
}

int cmd_analyze(int argc, char **argv)
{
    enum { O_FORMAT = 256, O_CSV, O_SUBJ, O_BODY, O_PROG, O_RULES, O_POLICY, O_PROV, O_ALL, O_JOBS };
    static const struct option lo[] = {
        {"format", required_argument, 0, O_FORMAT}, {"write-csv", required_argument, 0, O_CSV},
        {"subject-contains", required_argument, 0, O_SUBJ}, {"body-contains", required_argument, 0, O_BODY},
        {"progress-every", required_argument, 0, O_PROG}, {"rules", required_argument, 0, O_RULES},
        {"policy", required_argument, 0, O_POLICY}, {"providers", required_argument, 0, O_PROV},
        {"all", no_argument, 0, O_ALL}, {"jobs", required_argument, 0, O_JOBS},
        {"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    int format = isatty(1) ? RB_FMT_TABLE : RB_FMT_JSONL;
    const char *csv_path = NULL, *rules = NULL, *policy = NULL, *providers = NULL;
    const char *subj[argc + 1], *body[argc + 1];   /* each option takes one argv slot at most */
    size_t nsubj = 0, nbody = 0;
    unsigned long every = 0;
    int all = 0, quiet = 0;
    long jobs = sysconf(_SC_NPROCESSORS_ONLN);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", lo, NULL)) != -1) {
        char *end;
        switch (c) {
        case O_FORMAT:
            if ((format = parse_format(optarg)) < 0) {
                fprintf(stderr, "rebound analyze: unknown format '%s' (jsonl, csv, table)\n", optarg);
                return EX_USAGE_;
            }
            break;
        case O_CSV: csv_path = optarg; break;
        case O_SUBJ: subj[nsubj++] = optarg; break;
        case O_BODY: body[nbody++] = optarg; break;
        case O_PROG:
            every = strtoul(optarg, &end, 10);
            if (*end || !every) { fprintf(stderr, "rebound analyze: --progress-every needs a positive number\n"); return EX_USAGE_; }
            break;
        case O_RULES: rules = optarg; break;
        case O_POLICY: policy = optarg; break;
        case O_PROV: providers = optarg; break;
        case O_ALL: all = 1; break;
        case O_JOBS:
            jobs = strtol(optarg, &end, 10);
            if (*end || jobs < 1 || jobs > 64) { fprintf(stderr, "rebound analyze: --jobs takes 1..64\n"); return EX_USAGE_; }
            break;
        case 'q': quiet = 1; break;
        case 'h': help(stdout); return 0;
        default: help(stderr); return EX_USAGE_;
        }
    }
    if (jobs < 1) jobs = 1;
    if (jobs > 64) jobs = 64;
    if (optind >= argc) {
        fprintf(stderr, "rebound analyze: no PATH given (use - for standard input)\n\n");
        help(stderr);
        return EX_USAGE_;
    }
    rb_ctx *ctx = load_ctx(rules, policy, providers);
    if (!ctx) return EX_CONFIG_;

    FILE *csv = NULL;
    if (csv_path && !(csv = fopen(csv_path, "w"))) {
        fprintf(stderr, "rebound analyze: %s: %m\n", csv_path);
        rb_ctx_free(ctx);
        return EX_NOINPUT_;
    }
    rb_reader *rd = NULL;
    rb_error err = {{0}};
    if (rb_reader_open((const char *const *)argv + optind, (size_t)(argc - optind), &rd, &err) != RB_OK) {
        fprintf(stderr, "rebound analyze: %s\n", err.msg);
        if (csv) fclose(csv);
        rb_ctx_free(ctx);
        return EX_NOINPUT_;
    }

    rb_buf hdr;
    rb_buf_init(&hdr);
    if (format == RB_FMT_CSV) { rb_csv_header(&hdr); fwrite(hdr.buf, 1, hdr.len, stdout); }
    if (format == RB_FMT_TABLE)
        printf("%-32s %-40s %-15s %-9s %-8s %-4s %-12s %s\n", "SOURCE", "RECIPIENT", "REASON", "TYPE", "STATUS",
               "CODE", "PROVIDER", "DIAGNOSTIC");
    if (csv) { hdr.len = 0; rb_csv_header(&hdr); fwrite(hdr.buf, 1, hdr.len, csv); }
    rb_buf_free(&hdr);

    rb_analyze_opts aopts = {subj, nsubj, body, nbody};
    batch bt;
    memset(&bt, 0, sizeof bt);
    bt.ctx = ctx;
    bt.aopts = &aopts;
    bt.format = format;
    bt.want_csv = csv != NULL;
    bt.all = all;
    bt.items = calloc(BATCH_MSGS, sizeof *bt.items);

    unsigned long nmsg = 0, nbounce = 0, nrec = 0, nerr = 0, nfiltered = 0, nread_err = 0;
    progress pg;
    progress_init(&pg, every, "messages");
    int eof = 0;
    while (!eof) {
        size_t bytes = 0;
        bt.n = 0;
        while (bt.n < BATCH_MSGS && bytes < BATCH_BYTES) {
            rb_rawmsg raw;
            int r = rb_reader_next(rd, &raw, &err);
            if (r == 0) { eof = 1; break; }
            if (r < 0) {
                fprintf(stderr, "rebound analyze: %s\n", err.msg);
                nread_err++;
                continue;
            }
            item *it = &bt.items[bt.n++];
            it->data = realloc(it->data, raw.len + 1);
            memcpy(it->data, raw.data, raw.len);
            it->data[raw.len] = '\0';
            it->len = raw.len;
            rb_strlcpy(it->source, raw.source, sizeof it->source);
            it->out.len = it->csv.len = 0;
            it->failed = it->bounce = it->filtered = 0;
            it->nrec = 0;
            bytes += raw.len;
        }
        if (!bt.n) continue;
        run_batch(&bt, (int)jobs);
        for (size_t i = 0; i < bt.n; i++) {
            item *it = &bt.items[i];
            nmsg++;
            if (it->failed) {
                fprintf(stderr, "rebound analyze: %s\n", it->errmsg);
                nerr++;
                continue;
            }
            if (it->filtered) nfiltered++;
            if (it->bounce) nbounce++;
            nrec += it->nrec;
            if (it->out.len) fwrite(it->out.buf, 1, it->out.len, stdout);
            if (csv && it->csv.len) fwrite(it->csv.buf, 1, it->csv.len, csv);
        }
        uint64_t done, total;
        rb_reader_progress(rd, &done, &total);
        progress_update(&pg, nmsg, done, total);
    }
    progress_finish(&pg, nmsg);
    fflush(stdout);
    int rc = 0;
    if (csv && fclose(csv) != 0) { fprintf(stderr, "rebound analyze: %s: write failed: %m\n", csv_path); rc = EX_FAIL; }
    if (ferror(stdout)) { fprintf(stderr, "rebound analyze: write error on standard output\n"); rc = EX_FAIL; }
    if (!quiet && (every || isatty(2)))
        fprintf(stderr, "%lu messages: %lu bounces, %lu records, %lu not bounces, %lu filtered out, %lu unreadable\n",
                nmsg, nbounce, nrec, nmsg - nbounce - nerr - nfiltered, nfiltered, nerr + nread_err);
    if (nerr || nread_err) rc = EX_FAIL;

    for (size_t i = 0; i < BATCH_MSGS; i++) {
        free(bt.items[i].data);
        rb_buf_free(&bt.items[i].out);
        rb_buf_free(&bt.items[i].csv);
    }
    free(bt.items);
    rb_reader_free(rd);
    rb_ctx_free(ctx);
    return rc;
}
