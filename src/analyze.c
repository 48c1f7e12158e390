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
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "rebound_guard.h"

#define BATCH_MSGS 512
#define FMT_EXPLAIN 100           /* --explain: text for people, not records */
#define BATCH_BYTES (4u << 20)   /* a batch ends after about this many bytes of messages */

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
            "  --explain                  instead of records, tell per recipient the text\n"
            "                             looked at, every rule that matched, which won and\n"
            "                             why, and the policy step (also: rebound explain)\n"
            "  --all                      also print a record for messages that are not bounces\n"
            "  --jobs N                   worker processes (default: number of CPUs; 1 for stdin)\n"
            "  --our-domains LIST         our sending domains (comma-separated): a bounce whose\n"
            "                             returned message shows one of our addresses as\n"
            "                             \"Authenticated sender\" gets alert compromised_account\n"
            "                             and a warning on stderr\n"
            "  --db URL                   the store: a bounce whose original Message-ID was never\n"
            "                             sent to its recipient (the sends `rebound maillog` keeps)\n"
            "                             gets alert backscatter\n"
            "  --verp-secret-file FILE    signed return paths (rebound verp sign): a bounce to an\n"
            "                             address that does not verify is backscatter\n"
            "  --require-known-send       with --db: a bounce that is not a known send is backscatter\n"
            "                             (also without an original Message-ID)\n"
            "  --datadir DIR              the data files' directory (--config FILE: see rebound(1))\n"
            "  -q, --quiet                no summary line on stderr\n"
            "  -h, --help                 this help\n\n"
            "Records (JSONL keys / CSV columns, in order): source recipient reason status\n"
            "reply_code bounce_type action diagnostic remote_mta reporting_mta provider\n"
            "feedback_type addresser original_message_id original_subject date decoded_by\n"
            "smtp_command dsn_action original_recipient evidence rule provider_source alert account.\n"
            "A record with an alert is never disabling: its action is record.\nFor an mbox, source is PATH#N (N counts from 1).\n\n"
            "Exit status: 0 all input read; 1 some input could not be read (named on\n"
            "stderr, the rest was analysed); 64 usage; 66 the --db store cannot be read;\n"
            "78 bad rules/policy file or VERP secret.\n",
            data_dir(), data_dir(), data_dir());
}

typedef struct {
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
    const rb_guard_opts *guard;   /* NULL: no backscatter / compromised-account check */
    const char *db;               /* the store for the sends (opened per process) */
    rb_store *st;
    item *items;
    size_t n;
    rb_result res;       /* one message's records, reused */
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

/* --explain: per recipient, the text looked at, every rule that matched
 * (strongest evidence first: the first wins), and the policy step. */
static void explain_records(batch *bt, item *it, const rb_result *res)
{
    rb_buf *b = &it->out;
    char line[2048];
    for (size_t k = 0; k < res->n; k++) {
        const rb_record *r = &res->recs[k];
        snprintf(line, sizeof line, "== %s\n   recipient     %s\n", r->source, r->recipient);
        rb_buf_puts(b, line);
        if (r->original_recipient[0] && strcasecmp(r->original_recipient, r->recipient)) {
            snprintf(line, sizeof line, "   original      %s (the address that was mailed; apply matches it first)\n",
                     r->original_recipient);
            rb_buf_puts(b, line);
        }
        snprintf(line, sizeof line, "   read as       %s report; subject \"%.200s\"\n", r->decoded_by, res->subject);
        rb_buf_puts(b, line);
        snprintf(line, sizeof line, "   looked at     status %s, reply %s, command %s, action %s\n",
                 r->status[0] ? r->status : "-", r->reply_code[0] ? r->reply_code : "-",
                 r->smtp_command[0] ? r->smtp_command : "-", r->dsn_action[0] ? r->dsn_action : "-");
        rb_buf_puts(b, line);
        snprintf(line, sizeof line, "                 diagnostic \"%.1500s\"\n", r->diagnostic);
        rb_buf_puts(b, line);
        if (strncmp(r->rule, "module:", 7) == 0 || strncmp(r->rule, "status:", 7) == 0 ||
            strncmp(r->rule, "dsn:", 4) == 0) {
            snprintf(line, sizeof line, "   reason        %s, set by the %s before the rules (%s)\n", r->reason,
                     strncmp(r->rule, "module:", 7) == 0 ? "format module" : "report's own fields", r->rule);
            rb_buf_puts(b, line);
        }
        rb_rule_hit hits[16];
        size_t n = rb_explain(bt->ctx, r, res->subject, hits, 16);
        rb_buf_puts(b, n ? "   rules         matched, strongest evidence first (the first wins):\n"
                         : "   rules         none matched: reason undefined\n");
        for (size_t i = 0; i < n; i++) {
            char where[600];
            rb_rule_hit_where(&hits[i], where, sizeof where);
            snprintf(line, sizeof line, "     %s %-15s %-7s %-28s %s%.120s%s\n", i ? "  " : "=>", hits[i].reason,
                     rb_evidence_name(hits[i].evidence), where, hits[i].matched[0] ? "\"" : "",
                     hits[i].matched, hits[i].matched[0] ? (hits[i].in_subject ? "\" (subject)" : "\"") : "");
            rb_buf_puts(b, line);
        }
        snprintf(line, sizeof line, "   reason        %s (evidence %s%s%s)\n", r->reason, r->evidence[0] ? r->evidence : "-",
                 r->rule[0] ? ", rule " : "", r->rule);
        rb_buf_puts(b, line);
        if (r->alert[0]) {
            snprintf(line, sizeof line, "   alert         %s: %s; recorded only, never disabling\n", r->alert,
                     !strcmp(r->alert, "backscatter") ? "a bounce of mail never sent from here"
                                                      : "mail sent through one of our accounts by someone else");
            rb_buf_puts(b, line);
        }
        rb_policy_entry raw;
        rb_policy_lookup(bt->ctx, r->reason, &raw);
        snprintf(line, sizeof line, "   policy        %s -> %s, %s", r->reason, raw.bounce_type, raw.action);
        rb_buf_puts(b, line);
        if (strcmp(raw.action, r->action) || strcmp(raw.bounce_type, r->bounce_type)) {
            if (r->alert[0] && !strcmp(r->action, "record") && !strcmp(raw.bounce_type, r->bounce_type))
                snprintf(line, sizeof line, "; alert %s: %s, %s\n", r->alert, r->bounce_type, r->action);
            else if (!strcmp(r->dsn_action, "delayed"))
                snprintf(line, sizeof line, "; a delay (still retrying): %s, %s\n", r->bounce_type, r->action);
            else
                snprintf(line, sizeof line, "; evidence %s is too weak to disable (policy.conf "
                         "disable_min_evidence%s): %s, %s\n", r->evidence,
                         !strcmp(r->decoded_by, "fallback") || !strcmp(r->decoded_by, "verp") ? "_plaintext" : "",
                         r->bounce_type, r->action);
        } else {
            snprintf(line, sizeof line, "\n");
        }
        rb_buf_puts(b, line);
        rb_buf_puts(b, "\n");
    }
}

static void format_records(batch *bt, item *it, const rb_result *res)
{
    if (bt->format == FMT_EXPLAIN) {
        explain_records(bt, it, res);
        return;
    }
    for (size_t k = 0; k < res->n; k++) {
        const rb_record *r = &res->recs[k];
        if (bt->format == RB_FMT_JSONL) rb_record_to_jsonl(r, &it->out);
        else if (bt->format == RB_FMT_CSV) rb_record_to_csv(r, &it->out);
        else table_row(r, &it->out);
        if (bt->want_csv) rb_record_to_csv(r, &it->csv);
    }
}

/* Analyse one message (data[0..len), valid until the reader's next
 * message) into its item. */
static void analyse_item(batch *bt, item *it, const char *data, size_t len)
{
    rb_result *res = &bt->res;
    rb_error err = {{0}};
    rb_status st = rb_analyze_message(bt->ctx, data, len, it->source, bt->aopts, res, &err);
    if (st != RB_OK) {
        it->failed = 1;
        memcpy(it->errmsg, err.msg, sizeof it->errmsg);
        return;
    }
    it->filtered = res->filtered;
    it->bounce = res->is_bounce;
    if (res->warning[0]) snprintf(it->errmsg, sizeof it->errmsg, "%.200s: %.300s", it->source, res->warning);
    if (bt->guard && res->is_bounce && res->n) {
        /* the store is opened by the process that uses it (a worker
         * must not share its parent's connection) */
        rb_guard_report rep;
        if ((bt->db && !bt->st && rb_store_open(bt->db, &bt->st, &err) != RB_OK) ||
            rb_guard_mark(bt->ctx, bt->st, bt->guard, NULL, data, len, res, &rep, &err) != RB_OK) {
            it->failed = 1;
            snprintf(it->errmsg, sizeof it->errmsg, "%.200s: %.300s", it->source, err.msg);
            return;
        }
        if (rep.n_alert_compromised) {
            size_t l = strlen(it->errmsg);
            snprintf(it->errmsg + l, sizeof it->errmsg - l,
                     "%s%.150s: compromised account %.120s? The bounced message %s, and it is not a send "
                     "of ours: someone sends mail with its password",
                     l ? "; " : "", it->source, rep.account,
                     rep.compromised ? "shows it as \"Authenticated sender\""
                                     : "was submitted with its address to our own server");
        }
    }
    it->nrec = res->n;
    if (bt->format == FMT_EXPLAIN && !res->is_bounce) {
        /* --explain: say what became of a message that gave no record */
        char line[800];
        snprintf(line, sizeof line, "== %.500s\n   %.250s\n\n", it->source,
                 res->filtered ? "left out by --subject-contains / --body-contains" : res->note);
        rb_buf_puts(&it->out, line);
    } else if (!res->is_bounce && !res->filtered && bt->all) {
        /* --all: one record that says what the message was */
        rb_result one;
        rb_result_init(&one);
        rb_record *r = rb_result_add(&one);
        if (r) {
            rb_strlcpy(r->source, it->source, sizeof r->source);
            rb_strlcpy(r->reason, "", sizeof r->reason);
            rb_strlcpy(r->bounce_type, "none", sizeof r->bounce_type);
            rb_strlcpy(r->action, "ignore", sizeof r->action);
            rb_strlcpy(r->diagnostic, res->note, sizeof r->diagnostic);
            format_records(bt, it, &one);
        }
        rb_result_free(&one);
    } else {
        format_records(bt, it, res);
    }
}

/* ---- batches ------------------------------------------------------------------
 * Messages are taken in batches of BATCH_MSGS messages or BATCH_BYTES bytes,
 * whichever comes first; an input error counts as one item (it is reported
 * in its place in the output order).  The boundaries depend only on the
 * input, so every worker process that reads the same input cuts the same
 * batches. */
static void item_reset(item *it)
{
    it->out.len = it->csv.len = 0;
    it->failed = it->bounce = it->filtered = 0;
    it->nrec = 0;
    it->errmsg[0] = '\0';
}

/* Read and analyse the next batch: each message is analysed where the
 * reader holds it, before the next is read.  keep=0: only find its end (a
 * batch another worker analyses).  Returns the number of items, 0 at the end. */
static size_t next_batch(rb_reader *rd, batch *bt, int keep)
{
    bt->n = 0;
    size_t bytes = 0;
    while (bt->n < BATCH_MSGS && bytes < BATCH_BYTES) {
        rb_rawmsg raw;
        rb_error err = {{0}};
        if (!keep) {   /* another worker's: only its length counts */
            size_t len;
            int r = rb_reader_skip(rd, &len, &err);
            if (r == 0) break;
            bt->n++;
            bytes += len;
            continue;
        }
        int r = rb_reader_next(rd, &raw, &err);
        if (r == 0) break;
        item *it = &bt->items[bt->n++];
        item_reset(it);
        if (r < 0) {
            it->failed = 2;   /* input error: no message */
            rb_strlcpy(it->errmsg, err.msg, sizeof it->errmsg);
            rb_strlcpy(it->source, "", sizeof it->source);
            continue;
        }
        rb_strlcpy(it->source, raw.source, sizeof it->source);
        bytes += raw.len;
        analyse_item(bt, it, raw.data, raw.len);
    }
    return bt->n;
}

/* ---- worker processes ------------------------------------------------------------
 * GMime and GObject take process-wide locks, so threads do not scale;
 * processes do.  Each of N workers reads the input itself (splitting an
 * mbox is cheap next to analysing it) and analyses batches k, k+N, k+2N...;
 * the parent only collects the results in batch order, so the output keeps
 * the input order whatever N is. */
typedef struct {
    pid_t pid;
    int from;
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

/* Batch results on the pipe, one write per batch: a length, then n (0 = no
 * more batches), reader progress, and per item its flags, error text,
 * output and CSV (each length-prefixed). */
static void blob_to(rb_buf *b, const void *p, size_t n)
{
    uint32_t l = (uint32_t)n;
    rb_buf_append(b, (const char *)&l, sizeof l);
    if (n) rb_buf_append(b, p, n);
}

/* rd is the parent's reader, inherited by fork() before it read anything:
 * every worker walks the same list of files, expanded once. */
static void worker_main(batch *bt, rb_reader *rd, int k, int nworkers, int out)
{
    rb_buf msg;
    rb_buf_init(&msg);
    for (unsigned long b = 0;; b++) {
        int mine = (int)(b % (unsigned long)nworkers) == k;
        size_t n = next_batch(rd, bt, mine);
        if (!n) break;
        if (!mine) continue;
        uint64_t prog[2];
        rb_reader_progress(rd, &prog[0], &prog[1]);
        msg.len = 0;
        uint32_t zero = 0, n32 = (uint32_t)n;
        rb_buf_append(&msg, (const char *)&zero, sizeof zero);   /* length, filled in below */
        rb_buf_append(&msg, (const char *)&n32, sizeof n32);
        rb_buf_append(&msg, (const char *)prog, sizeof prog);
        for (size_t i = 0; i < n; i++) {
            item *it = &bt->items[i];
            uint32_t hdr[4] = {(uint32_t)it->failed, (uint32_t)it->bounce, (uint32_t)it->filtered, (uint32_t)it->nrec};
            rb_buf_append(&msg, (const char *)hdr, sizeof hdr);
            blob_to(&msg, it->errmsg, strlen(it->errmsg));   /* an error, or a warning */
            blob_to(&msg, it->out.buf, it->out.len);
            blob_to(&msg, it->csv.buf, it->csv.len);
        }
        uint32_t total = (uint32_t)(msg.len - sizeof total);
        memcpy(msg.buf, &total, sizeof total);
        if (write_all(out, msg.buf, msg.len)) _exit(EX_SOFTWARE_);
    }
    uint32_t end[2] = {sizeof(uint32_t), 0};
    (void)!write_all(out, end, sizeof end);
    rb_buf_free(&msg);
    rb_reader_free(rd);
    _exit(0);
}

/* Take the next piece of a batch message: n bytes at *p, or NULL. */
static const char *take(const char **p, const char *end, size_t n)
{
    if ((size_t)(end - *p) < n) return NULL;
    const char *r = *p;
    *p += n;
    return r;
}

static const char *take_blob(const char **p, const char *end, size_t *len)
{
    const char *l = take(p, end, sizeof(uint32_t));
    if (!l) return NULL;
    uint32_t n;
    memcpy(&n, l, sizeof n);
    *len = n;
    return take(p, end, n);
}

static int start_workers(batch *bt, rb_reader *rd, wproc *w, int n)
{
    fflush(NULL);
    for (int i = 0; i < n; i++) {
        int p[2];
        if (pipe(p)) return i;
        pid_t pid = fork();
        if (pid < 0) { close(p[0]); close(p[1]); return i; }
        if (pid == 0) {
            close(p[0]);
            for (int k = 0; k < i; k++) close(w[k].from);
            worker_main(bt, rd, i, n, p[1]);
        }
        close(p[1]);
        w[i].pid = pid;
        w[i].from = p[0];
    }
    return n;
}

static void stop_workers(wproc *w, int n)
{
    for (int i = 0; i < n; i++) close(w[i].from);
    for (int i = 0; i < n; i++) waitpid(w[i].pid, NULL, 0);
}

int cmd_analyze(int argc, char **argv)
{
    int format = isatty(1) ? RB_FMT_TABLE : RB_FMT_JSONL;
    const char *csv_path = NULL;
    const char *subj_v[argc + 1], *body_v[argc + 1];   /* each value takes one argv slot at least */
    opt_list subjl = {subj_v, 0, (size_t)argc}, bodyl = {body_v, 0, (size_t)argc};
    int all = 0, require_known = 0, explain = 0;
    const char *domains_opt = NULL, *secret = NULL;
    long jobs = sysconf(_SC_NPROCESSORS_ONLN);
    /* --db here only for the backscatter guard: its own row, so neither
     * $REBOUND_DB nor the configuration file turns the guard on unasked */
    const char *db = NULL;
    static const opt_keyword formats[] = {{"jsonl", RB_FMT_JSONL}, {"json", RB_FMT_JSONL}, {"csv", RB_FMT_CSV},
                                          {"table", RB_FMT_TABLE}, {0}};
    const opt_desc opts[] = {
        {OPT_KEYWORD, "format", 0, &format, formats},
        {OPT_STRING, "write-csv", 0, &csv_path},
        {OPT_LIST, "subject-contains", 0, &subjl},
        {OPT_LIST, "body-contains", 0, &bodyl},
        {OPT_FLAG, "all", 0, &all},
        {OPT_LONG, "jobs", 'j', &jobs, .min = 1, .max = 64},
        {OPT_FLAG, "explain", 0, &explain},
        {OPT_STRING, "our-domains", 0, &domains_opt},
        {OPT_STRING, "verp-secret-file", 0, &secret},
        {OPT_FLAG, "require-known-send", 0, &require_known},
        {OPT_STRING, "db", 0, &db},
        {OPT_INHERIT, .inherit = shared_options},
        {0},
    };
    char **pos;
    int npos = opt_parse("analyze", opts, argc, argv, &pos);
    if (npos == OPT_HELP) {
        shared_finish("analyze");        /* the data directory it will really use */
        help(stdout);
        return 0;
    }
    if (npos < 0) return EX_USAGE_;
    int rcf = shared_finish("analyze");
    if (rcf) return rcf;
    if (explain) format = FMT_EXPLAIN;
    if (!domains_opt) domains_opt = config_get("mail", "our-domains");
    if (!secret) secret = config_get("mail", "verp-secret-file");
    const char *const *subj = subj_v, *const *body = body_v;
    size_t nsubj = subjl.n, nbody = bodyl.n;
    unsigned long every = opt_shared.progress_every;
    int quiet = opt_shared.quiet;
    const char *rules = NULL, *policy = NULL, *providers = NULL;
    if (jobs < 1) jobs = 1;
    if (jobs > 64) jobs = 64;
    if (npos == 0) {
        fprintf(stderr, "rebound analyze: no PATH given (use - for standard input; see `rebound analyze --help`)\n");
        return EX_USAGE_;
    }
    if (require_known && !db) {
        fprintf(stderr, "rebound analyze: --require-known-send needs --db (the store whose sends are known)\n");
        return EX_USAGE_;
    }
    /* the backscatter / compromised-account guard: configured here, never
     * read from the environment by the library */
    static rb_verp_key key;
    const char *domains[64];
    size_t ndomains = 0;
    char *dl = domains_opt ? strdup(domains_opt) : NULL;
    if (dl) ndomains = split_list(dl, domains, 64);
    rb_error kerr = {{0}};
    if (secret && rb_verp_key_load(secret, &key, &kerr) != RB_OK) {
        fprintf(stderr, "rebound analyze: %s\n", kerr.msg);
        free(dl);
        return EX_CONFIG_;
    }
    rb_guard_opts gopts = {secret ? &key : NULL, require_known, 60, domains, ndomains, 0, db != NULL};
    if (db) {
        /* the store is checked here; every process opens its own */
        rb_store *st = open_store("analyze", db);
        int any = 0;
        if (!st || rb_store_sends_any(st, &any, &kerr) != RB_OK) {
            if (st) fprintf(stderr, "rebound analyze: %s\n", kerr.msg);
            if (st) rb_store_close(st);
            free(dl);
            return st ? EX_NOINPUT_ : store_exit();
        }
        rb_store_close(st);
        if (!any && !require_known) {
            gopts.sends_known = 0;
            fprintf(stderr, "rebound analyze: note: the store holds no sends yet (rebound maillog --commit keeps "
                            "them): backscatter cannot be told by Message-ID\n");
        }
    }
    rb_ctx *ctx = load_ctx(rules, policy, providers);
    if (!ctx) { free(dl); return EX_CONFIG_; }

    FILE *csv = NULL;
    if (csv_path && !(csv = fopen(csv_path, "w"))) {
        fprintf(stderr, "rebound analyze: %s: %m\n", csv_path);
        rb_ctx_free(ctx);
        return EX_NOINPUT_;
    }
    rb_reader *rd = NULL;
    rb_error err = {{0}};
    if (rb_reader_open((const char *const *)pos, (size_t)npos, &rd, &err) != RB_OK) {
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
    bt.guard = &gopts;
    bt.db = db;
    bt.items = calloc(BATCH_MSGS, sizeof *bt.items);
    rb_result_init(&bt.res);

    unsigned long nmsg = 0, nbounce = 0, nrec = 0, nerr = 0, nfiltered = 0, nread_err = 0;
    progress pg;
    progress_init(&pg, every, "messages");

    /* standard input can be read only once: it is analysed in this process */
    for (int i = 0; i < npos; i++)
        if (!strcmp(pos[i], "-")) jobs = 1;
    wproc procs[64];
    int nproc = 0;
    if (jobs > 1) {
        nproc = start_workers(&bt, rd, procs, (int)jobs);
        if (nproc < jobs) {
            fprintf(stderr, "rebound analyze: cannot start %ld workers (%m)\n", jobs);
            for (int i = 0; i < nproc; i++) kill(procs[i].pid, SIGTERM);
            stop_workers(procs, nproc);
            nproc = 0;
        }
    }
    int broken = 0;
    char *rbuf = NULL;   /* one batch's results from a worker */
    size_t rcap = 0;

#define TAKE(failed_, bounce_, filtered_, nrec_, err_, out_, outlen_, csv_, csvlen_)   \
    do {                                                                        \
        if (!(failed_) && (err_)[0]) fprintf(stderr, "rebound analyze: warning: %s\n", err_); \
        if (failed_) {                                                          \
            fprintf(stderr, "rebound analyze: %s\n", err_);                     \
            if ((failed_) == 2) nread_err++; else { nmsg++; nerr++; }           \
            break;                                                              \
        }                                                                       \
        nmsg++;                                                                 \
        if (filtered_) nfiltered++;                                             \
        if (bounce_) nbounce++;                                                 \
        nrec += (nrec_);                                                        \
        if (outlen_) fwrite(out_, 1, outlen_, stdout);                          \
        if (csv && (csvlen_)) fwrite(csv_, 1, csvlen_, csv);                    \
    } while (0)

    for (unsigned long b = 0;; b++) {
        uint64_t done = 0, total = 0;
        if (!nproc) {
            if (!next_batch(rd, &bt, 1)) break;
            for (size_t i = 0; i < bt.n; i++) {
                item *it = &bt.items[i];
                TAKE(it->failed, it->bounce, it->filtered, it->nrec, it->errmsg, it->out.buf, it->out.len, it->csv.buf,
                     it->csv.len);
            }
            rb_reader_progress(rd, &done, &total);
        } else {
            wproc *w = &procs[b % (unsigned long)nproc];
            uint32_t blen;
            if (read_all(w->from, &blen, sizeof blen) || blen < sizeof(uint32_t)) { broken = 1; break; }
            if (blen > rcap) {
                char *nb = realloc(rbuf, blen);
                if (!nb) { broken = 1; break; }
                rbuf = nb;
                rcap = blen;
            }
            if (read_all(w->from, rbuf, blen)) { broken = 1; break; }
            const char *p = rbuf, *end = rbuf + blen, *f;
            uint32_t n;
            memcpy(&n, take(&p, end, sizeof n), sizeof n);
            if (n == 0) break;   /* the worker due has no batch: the input is done */
            uint64_t prog[2];
            if (!(f = take(&p, end, sizeof prog))) { broken = 1; break; }
            memcpy(prog, f, sizeof prog);
            done = prog[0];
            total = prog[1];
            for (uint32_t i = 0; i < n; i++) {
                uint32_t h[4];
                size_t el, ol, cl;
                const char *e, *o, *c;
                if (!(f = take(&p, end, sizeof h)) || !(e = take_blob(&p, end, &el)) || !(o = take_blob(&p, end, &ol)) ||
                    !(c = take_blob(&p, end, &cl))) {
                    broken = 1;
                    break;
                }
                memcpy(h, f, sizeof h);
                char emsg[sizeof(rb_error)];
                snprintf(emsg, sizeof emsg, "%.*s", (int)el, e);
                TAKE(h[0], h[1], h[2], h[3], emsg, o, ol, c, cl);
            }
            if (broken) break;
        }
        progress_update(&pg, nmsg, done, total);
    }
#undef TAKE
    if (broken) {
        fprintf(stderr, "rebound analyze: a worker process died; output stops after message %lu\n", nmsg);
        nerr++;
        for (int i = 0; i < nproc; i++) kill(procs[i].pid, SIGTERM);
    }
    if (nproc) stop_workers(procs, nproc);
    free(rbuf);
    progress_finish(&pg, nmsg);
    fflush(stdout);
    int rc = 0;
    if (csv && fclose(csv) != 0) { fprintf(stderr, "rebound analyze: %s: write failed: %m\n", csv_path); rc = EX_FAIL; }
    if (ferror(stdout)) { fprintf(stderr, "rebound analyze: write error on standard output\n"); rc = EX_FAIL; }
    if (!quiet && (every || isatty(2)))
        fprintf(stderr, "%lu messages: %lu bounces, %lu records, %lu not bounces, %lu filtered out, %lu unreadable\n",
                nmsg, nbounce, nrec, nmsg - nbounce - nerr - nfiltered, nfiltered, nerr + nread_err);
    if (nerr || nread_err) rc = EX_FAIL;

    rb_result_free(&bt.res);
    for (size_t i = 0; i < BATCH_MSGS; i++) {
        rb_buf_free(&bt.items[i].out);
        rb_buf_free(&bt.items[i].csv);
    }
    free(bt.items);
    if (bt.st) rb_store_close(bt.st);
    free(dl);
    memset(&key, 0, sizeof key);
    rb_reader_free(rd);
    rb_ctx_free(ctx);
    return rc;
}
