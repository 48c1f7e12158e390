/* analyze.c -- `rebound analyze`: bounce mail in, one record per failed
 * recipient out.
 *
 * Messages are read in batches by the parent and analysed by a pool of
 * worker processes (one per core by default); each message's output is
 * formatted by the worker and written by the parent in input order, so the
 * output does not depend on the number of workers.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

#define BATCH_MSGS 512
#define BATCH_BYTES (4u << 20)   /* a batch's messages live in one arena of about this size */

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
    char *data;          /* points into the batch arena */
    size_t off, len;
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
    char *arena;         /* the batch's messages, NUL-separated */
    size_t alen, acap;
} batch;

/* Append n bytes (and a NUL) to the arena; returns the offset or -1. */
static long arena_add(batch *bt, const char *p, size_t n)
{
    if (bt->alen + n + 1 > bt->acap) {
        size_t nc = bt->acap ? bt->acap : BATCH_BYTES;
        while (nc < bt->alen + n + 1) nc *= 2;
        char *na = realloc(bt->arena, nc);
        if (!na) return -1;
        bt->arena = na;
        bt->acap = nc;
    }
    long off = (long)bt->alen;
    if (p) memcpy(bt->arena + bt->alen, p, n);
    bt->arena[bt->alen + n] = '\0';
    bt->alen += n + 1;
    return off;
}

/* After a batch: point items into the arena (it may have moved), and give
 * back what one huge message made it grow to. */
static void arena_fix(batch *bt)
{
    for (size_t i = 0; i < bt->n; i++) bt->items[i].data = bt->arena + bt->items[i].off;
}

static void arena_reset(batch *bt)
{
    bt->alen = 0;
    if (bt->acap > 4 * (size_t)BATCH_BYTES) {
        free(bt->arena);
        bt->arena = NULL;
        bt->acap = 0;
    }
}

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

static void analyse_items(batch *bt)
{
    rb_result res;
    rb_result_init(&res);
    for (size_t i = 0; i < bt->n; i++) {
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
}

/* ---- worker processes ------------------------------------------------------
 * GMime and GObject take process-wide locks on every object they create, so
 * threads do not scale; processes do.  The parent reads batches and hands
 * them round-robin to forked workers over pipes; it collects the results in
 * the same round-robin order, so the output keeps the input order.  A worker
 * reads a whole batch before it writes anything, so the pipes cannot
 * deadlock. */
typedef struct {
    pid_t pid;
    int to, from;
    int busy;
} wproc;

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, void *p, size_t n)
{
    char *c = p;
    while (n) {
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

static int put_blob(int fd, const void *p, size_t n)
{
    uint32_t l = (uint32_t)n;
    return write_all(fd, &l, sizeof l) || (n && write_all(fd, p, n)) ? -1 : 0;
}

/* read a length-prefixed blob into a growable buffer (NUL-terminated) */
static int get_blob(int fd, char **buf, size_t *cap, size_t *len)
{
    uint32_t l;
    if (read_all(fd, &l, sizeof l)) return -1;
    if ((size_t)l + 1 > *cap) {
        char *nb = realloc(*buf, (size_t)l + 1);
        if (!nb) return -1;
        *buf = nb;
        *cap = (size_t)l + 1;
    }
    if (l && read_all(fd, *buf, l)) return -1;
    (*buf)[l] = '\0';
    *len = l;
    return 0;
}

static int send_batch(int fd, const batch *bt)
{
    uint32_t n = (uint32_t)bt->n;
    if (write_all(fd, &n, sizeof n)) return -1;
    for (size_t i = 0; i < bt->n; i++)
        if (put_blob(fd, bt->items[i].source, strlen(bt->items[i].source)) ||
            put_blob(fd, bt->items[i].data, bt->items[i].len))
            return -1;
    return 0;
}

static void worker_main(batch *bt, int in, int out)
{
    for (;;) {
        uint32_t n;
        if (read_all(in, &n, sizeof n) || n == 0 || n > BATCH_MSGS) break;
        bt->n = n;
        arena_reset(bt);
        for (size_t i = 0; i < n; i++) {
            item *it = &bt->items[i];
            size_t cap = 0, l;
            char *src = NULL;
            if (get_blob(in, &src, &cap, &l)) _exit(EX_SOFTWARE_);
            rb_strlcpy(it->source, src, sizeof it->source);
            free(src);
            uint32_t dl;
            long off;
            if (read_all(in, &dl, sizeof dl) || (off = arena_add(bt, NULL, dl)) < 0 ||
                (dl && read_all(in, bt->arena + off, dl)))
                _exit(EX_SOFTWARE_);
            it->off = (size_t)off;
            it->len = dl;
            it->out.len = it->csv.len = 0;
            it->failed = it->bounce = it->filtered = 0;
            it->nrec = 0;
        }
        arena_fix(bt);
        analyse_items(bt);
        for (size_t i = 0; i < n; i++) {
            item *it = &bt->items[i];
            uint32_t hdr[4] = {(uint32_t)it->failed, (uint32_t)it->bounce, (uint32_t)it->filtered, (uint32_t)it->nrec};
            if (write_all(out, hdr, sizeof hdr) || put_blob(out, it->errmsg, it->failed ? strlen(it->errmsg) : 0) ||
                put_blob(out, it->out.buf, it->out.len) || put_blob(out, it->csv.buf, it->csv.len))
                _exit(EX_SOFTWARE_);
        }
    }
    _exit(0);
}

static int start_workers(batch *bt, wproc *w, int n)
{
    fflush(NULL);
    for (int i = 0; i < n; i++) {
        int a[2], b[2];
        if (pipe(a) || pipe(b)) return i;
        pid_t pid = fork();
        if (pid < 0) { close(a[0]); close(a[1]); close(b[0]); close(b[1]); return i; }
        if (pid == 0) {
            close(a[1]);
            close(b[0]);
            for (int k = 0; k < i; k++) { close(w[k].to); close(w[k].from); }
            worker_main(bt, a[0], b[1]);
        }
        close(a[0]);
        close(b[1]);
        w[i].pid = pid;
        w[i].to = a[1];
        w[i].from = b[0];
        w[i].busy = 0;
    }
    return n;
}

static void stop_workers(wproc *w, int n)
{
    for (int i = 0; i < n; i++) {
        uint32_t zero = 0;
        (void)!write(w[i].to, &zero, sizeof zero);
        close(w[i].to);
        close(w[i].from);
    }
    for (int i = 0; i < n; i++) waitpid(w[i].pid, NULL, 0);
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

    wproc procs[64];
    int nproc = jobs > 1 ? start_workers(&bt, procs, (int)jobs) : 0;
    if (jobs > 1 && nproc < 1) fprintf(stderr, "rebound analyze: cannot start workers (%m); going on in one process\n");
    int next = 0, oldest = 0, inflight = 0, broken = 0;
    /* results of one message: from a worker's pipe, or straight from bt */
    char *rbuf[3] = {NULL, NULL, NULL};
    size_t rcap[3] = {0, 0, 0};

#define TAKE(failed_, bounce_, filtered_, nrec_, err_, out_, outlen_, csv_, csvlen_)   \
    do {                                                                        \
        nmsg++;                                                                 \
        if (failed_) { fprintf(stderr, "rebound analyze: %s\n", err_); nerr++; break; } \
        if (filtered_) nfiltered++;                                             \
        if (bounce_) nbounce++;                                                 \
        nrec += (nrec_);                                                        \
        if (outlen_) fwrite(out_, 1, outlen_, stdout);                          \
        if (csv && (csvlen_)) fwrite(csv_, 1, csvlen_, csv);                    \
    } while (0)

    /* collect the results of the oldest batch in flight */
    size_t batch_sizes[64];
    int eof = 0;
    while (!eof || inflight) {
        bt.n = 0;
        arena_reset(&bt);
        size_t bytes = 0;
        while (!eof && !broken && bt.n < BATCH_MSGS && bytes < BATCH_BYTES) {
            rb_rawmsg raw;
            int r = rb_reader_next(rd, &raw, &err);
            if (r == 0) { eof = 1; break; }
            if (r < 0) {
                fprintf(stderr, "rebound analyze: %s\n", err.msg);
                nread_err++;
                continue;
            }
            long off = arena_add(&bt, raw.data, raw.len);
            if (off < 0) {
                fprintf(stderr, "rebound analyze: %s: out of memory\n", raw.source);
                nread_err++;
                continue;
            }
            item *it = &bt.items[bt.n++];
            it->off = (size_t)off;
            it->len = raw.len;
            rb_strlcpy(it->source, raw.source, sizeof it->source);
            it->out.len = it->csv.len = 0;
            it->failed = it->bounce = it->filtered = 0;
            it->nrec = 0;
            bytes += raw.len;
        }
        arena_fix(&bt);
        if (!nproc) {
            if (!bt.n) break;
            analyse_items(&bt);
            for (size_t i = 0; i < bt.n; i++) {
                item *it = &bt.items[i];
                TAKE(it->failed, it->bounce, it->filtered, it->nrec, it->errmsg, it->out.buf, it->out.len, it->csv.buf,
                     it->csv.len);
            }
        } else {
            /* the worker to use next must first hand back its last batch */
            int must_collect = (bt.n && procs[next].busy) || (!bt.n && inflight);
            if (must_collect && !broken) {
                wproc *w = &procs[oldest];
                for (size_t i = 0; i < batch_sizes[oldest]; i++) {
                    uint32_t h[4];
                    size_t l[3];
                    if (read_all(w->from, h, sizeof h) || get_blob(w->from, &rbuf[0], &rcap[0], &l[0]) ||
                        get_blob(w->from, &rbuf[1], &rcap[1], &l[1]) || get_blob(w->from, &rbuf[2], &rcap[2], &l[2])) {
                        fprintf(stderr, "rebound analyze: worker %d died; results after message %lu are lost\n",
                                (int)w->pid, nmsg);
                        broken = 1;
                        break;
                    }
                    TAKE(h[0], h[1], h[2], h[3], rbuf[0], rbuf[1], l[1], rbuf[2], l[2]);
                }
                w->busy = 0;
                inflight--;
                oldest = (oldest + 1) % nproc;
            }
            if (broken) break;
            if (bt.n) {
                if (send_batch(procs[next].to, &bt)) {
                    fprintf(stderr, "rebound analyze: cannot reach worker %d\n", (int)procs[next].pid);
                    broken = 1;
                    break;
                }
                batch_sizes[next] = bt.n;
                procs[next].busy = 1;
                inflight++;
                next = (next + 1) % nproc;
            }
        }
        uint64_t done, total;
        rb_reader_progress(rd, &done, &total);
        progress_update(&pg, nmsg, done, total);
    }
#undef TAKE
    if (nproc) stop_workers(procs, nproc);
    for (int i = 0; i < 3; i++) free(rbuf[i]);
    if (broken) nerr++;
    progress_finish(&pg, nmsg);
    fflush(stdout);
    int rc = 0;
    if (csv && fclose(csv) != 0) { fprintf(stderr, "rebound analyze: %s: write failed: %m\n", csv_path); rc = EX_FAIL; }
    if (ferror(stdout)) { fprintf(stderr, "rebound analyze: write error on standard output\n"); rc = EX_FAIL; }
    if (!quiet && (every || isatty(2)))
        fprintf(stderr, "%lu messages: %lu bounces, %lu records, %lu not bounces, %lu filtered out, %lu unreadable\n",
                nmsg, nbounce, nrec, nmsg - nbounce - nerr - nfiltered, nfiltered, nerr + nread_err);
    if (nerr || nread_err) rc = EX_FAIL;

    free(bt.arena);
    for (size_t i = 0; i < BATCH_MSGS; i++) {
        rb_buf_free(&bt.items[i].out);
        rb_buf_free(&bt.items[i].csv);
    }
    free(bt.items);
    rb_reader_free(rd);
    rb_ctx_free(ctx);
    return rc;
}
