/* maillog.c -- rebound maillog: read Postfix logs, one record per delivery
 * attempt; with --check / --commit, apply them to the contacts as apply
 * does.  Incremental: a state file remembers how far each log was read. */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "rebound_guard.h"
#include "rebound_maillog.h"
#include "rebound_store.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: rebound maillog [OPTIONS] LOG...\n\n"
            "Read Postfix logs (plain or .gz; - for standard input) and report every\n"
            "delivery attempt: status sent, deferred, bounced, expired or undeliverable,\n"
            "with the recipient, Message-ID, sender, relay, delay, DSN code\n"
            "and the remote's text, classified by the same rules and policy as analyze.\n"
            "Lines of one queue ID are tied together across the files and across runs.\n\n"
            "  --format F          jsonl (default), csv or table\n"
            "  --output FILE       write records there instead of standard output\n"
            "  --check             apply to the store, report only (as rebound apply --check)\n"
            "  --commit            apply to the store and remember what was read\n"
            "  --db URL            the store (path, sqlite:PATH, postgresql://...); default\n"
            "                      $REBOUND_DB, else rebound.db\n"
            "  --state FILE        where to remember each log's position and the open queue\n"
            "                      IDs; default with --check/--commit: STORE.maillog-state\n"
            "                      (rebound-maillog.state for a PostgreSQL store)\n"
            "  --no-state          read every line of every LOG, remember nothing\n"
            "  --since TIME        report attempts at or after TIME only (ISO 8601 or a date)\n"
            "  --our-domains LIST  our sending domains (comma-separated; default [mail]\n"
            "                      our-domains): mail submitted with a SASL login of ours\n"
            "                      whose sender is not in them gets alert compromised_account\n"
            "  --mailing-sender SPEC  a sender our mailings use (repeatable; default [mail]\n"
            "                      mailing-sender, comma-separated): addr@domain, @domain or\n"
            "                      a pattern with one * (bounces+*@news.example).  Turns on\n"
            "                      the check of our own senders too: mail submitted with a SASL\n"
            "                      login of ours from any other sender is compromised_account\n"
            "  --rules F --policy F --providers F   other tables than the installed ones\n"
            "  --provider-source S stored with the contacts when a record has none\n"
            "                      (default: relay, as rebound apply of its records)\n"
            "  --resolve-mx        a record with no provider: its domain's MX hosts name it\n"
            "  --dns-server A[:P]  the DNS server for --resolve-mx (IPv4)\n"
            "  --batch N           records per store transaction (default 50000)\n"
            "  --now TIME          the time of this run (for quarantine arithmetic)\n"
            "  --progress-every N  a progress line on stderr every N lines (a bar on a terminal)\n"
            "  -q, --quiet         no summary, no progress\n\n"
            "Give the whole rotated set (/var/log/mail.log*): it is read oldest first, and\n"
            "each file is known by its first line, so mail.log -> mail.log.1 -> .2.gz\n"
            "rotations never make a line read twice or skipped.  The live file's last\n"
            "line, if cut in half, is read on the next run.  Without --commit the state\n"
            "is only written when --state is given.\n\n"
            "A deferral is recorded, never counted: Postfix still retries, and the final\n"
            "bounce or expiry is what counts.  Sends (status=sent) are kept with --commit\n"
            "so that a later NDR can be tied to them.\n\n"
            "A compromised_account record (mail sent through a hijacked account of ours,\n"
            "known by the smtpd line's sasl_username=) is recorded only: it changes no\n"
            "contact and is no send of ours; the summary names the accounts.\n\n"
            "Exit status: 0 done; 1 some lines were unreadable (reported with file:line);\n"
            "64 usage; 66 a LOG cannot be read (the others still are); 75 the store or the\n"
            "state file could not be written (run again: nothing is read twice); 78 bad\n"
            "policy/rules.\n");
}

/* Formatting on a second thread: the correlator fills the records of a
 * ring in turn (rb_maillog_set_rec) and the writer formats and writes them,
 * in order.  Published in batches, so the lock is taken once per BATCH
 * records; the ring bounds the memory (RING records of ~7 KB). */
#define RING 512
#define BATCH 64
typedef struct {
    rb_logrec *slot[RING];
    GMutex mu;
    GCond cv;
    uint64_t head;           /* records published (under mu) */
    uint64_t tail;           /* records written (under mu) */
    uint64_t prod;           /* records filled (the correlator's own) */
    uint64_t tail_seen;      /* tail as last read by the correlator */
    int done;
    int w_waits, p_waits;    /* the writer / the correlator waits on cv (under mu) */
    int fmt;
    FILE *out;
    rb_buf buf;
    int write_err;
    rb_maillog *finish;      /* finish each record here (no store: rb_maillog_set_defer_finish) */
    GThread *th;
} writer;

typedef struct {
    int fmt;                 /* rb_format; -1 when not printing */
    FILE *out;
    rb_buf buf;
    rb_apply *ap;
    rb_error *err;
    int dbfail;
    int64_t since;
    int write_err;
    GHashTable *accounts;    /* compromised_account alerts: account -> records */
    uint64_t n_compromised;
    writer *w;               /* the formatting thread, when there is one */
    rb_maillog *ml;
} run_ctx;

static gpointer writer_main(gpointer arg)
{
    writer *w = arg;
    for (;;) {
        g_mutex_lock(&w->mu);
        while (w->head == w->tail && !w->done) {
            w->w_waits = 1;
            g_cond_wait(&w->cv, &w->mu);
            w->w_waits = 0;
        }
        uint64_t from = w->tail, to = w->head;
        g_mutex_unlock(&w->mu);
        if (from == to) break;     /* done and nothing left */
        for (uint64_t i = from; i < to; i++) {
            rb_logrec *r = w->slot[i % RING];
            if (w->finish) rb_maillog_finish_lazy(w->finish, r);
            if (w->fmt == RB_FMT_JSONL) rb_logrec_to_jsonl(r, &w->buf);
            else rb_logrec_to_csv(r, &w->buf);
            if (w->buf.len > (1u << 18)) {
                if (fwrite(w->buf.buf, 1, w->buf.len, w->out) != w->buf.len) w->write_err = 1;
                w->buf.len = 0;
            }
        }
        g_mutex_lock(&w->mu);
        w->tail = to;
        if (w->p_waits) g_cond_broadcast(&w->cv);
        g_mutex_unlock(&w->mu);
    }
    if (w->buf.len && fwrite(w->buf.buf, 1, w->buf.len, w->out) != w->buf.len) w->write_err = 1;
    w->buf.len = 0;
    return NULL;
}

/* The records filled so far go to the writer. */
static void writer_publish(writer *w)
{
    g_mutex_lock(&w->mu);
    w->head = w->prod;
    w->tail_seen = w->tail;
    /* a writer that ran dry is woken for half a ring, not for every batch
     * (a wake-up costs more than formatting a batch) */
    if (w->w_waits && w->head - w->tail >= RING / 2) g_cond_broadcast(&w->cv);
    g_mutex_unlock(&w->mu);
}

/* A record was filled: hand it on, and give the correlator the next free
 * slot (waiting for the writer when the ring is full). */
static void writer_next(writer *w, rb_maillog *ml)
{
    w->prod++;
    if (w->prod - w->head >= BATCH) writer_publish(w);
    if (w->prod - w->tail_seen >= RING) {
        g_mutex_lock(&w->mu);
        w->head = w->prod;
        if (w->w_waits) g_cond_broadcast(&w->cv);
        while (w->prod - w->tail >= RING) {
            w->p_waits = 1;
            g_cond_wait(&w->cv, &w->mu);
            w->p_waits = 0;
        }
        w->tail_seen = w->tail;
        g_mutex_unlock(&w->mu);
    }
    rb_maillog_set_rec(ml, w->slot[w->prod % RING]);
}

static writer *writer_start(int fmt, FILE *out, rb_maillog *ml, int finish)
{
    writer *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    for (size_t i = 0; i < RING; i++)
        if (!(w->slot[i] = calloc(1, sizeof *w->slot[i]))) goto fail;
    g_mutex_init(&w->mu);
    g_cond_init(&w->cv);
    w->fmt = fmt;
    w->out = out;
    w->finish = finish ? ml : NULL;
    rb_buf_init(&w->buf);
    if (!(w->th = g_thread_try_new("maillog-writer", writer_main, w, NULL))) {
        rb_buf_free(&w->buf);
        g_mutex_clear(&w->mu);
        g_cond_clear(&w->cv);
        goto fail;
    }
    rb_maillog_set_rec(ml, w->slot[0]);
    if (finish) rb_maillog_set_defer_finish(ml, 1);
    return w;
fail:
    for (size_t i = 0; i < RING; i++) free(w->slot[i]);
    free(w);
    return NULL;
}

/* Write what is left, stop the thread; returns non-zero if a write failed. */
static int writer_stop(writer *w, rb_maillog *ml)
{
    g_mutex_lock(&w->mu);
    w->head = w->prod;
    w->done = 1;
    g_cond_broadcast(&w->cv);
    g_mutex_unlock(&w->mu);
    g_thread_join(w->th);
    rb_maillog_set_rec(ml, NULL);
    rb_maillog_set_defer_finish(ml, 0);
    int bad = w->write_err;
    rb_buf_free(&w->buf);
    g_mutex_clear(&w->mu);
    g_cond_clear(&w->cv);
    for (size_t i = 0; i < RING; i++) free(w->slot[i]);
    free(w);
    return bad;
}

static void table_row(run_ctx *rc, const rb_logrec *r)
{
    fprintf(rc->out, "%-20s %-14s %-13s %-32s %-8s %-16s %-10s %s\n", r->rec.date, r->queue_id, r->delivery_status,
            r->rec.recipient, r->rec.status, r->rec.reason, r->rec.bounce_type, r->rec.remote_mta);
}

static void flush_out(run_ctx *rc)
{
    if (rc->buf.len && fwrite(rc->buf.buf, 1, rc->buf.len, rc->out) != rc->buf.len) rc->write_err = 1;
    rc->buf.len = 0;
}

static int on_rec_body(run_ctx *rc, const rb_logrec *r);

static int on_rec(void *arg, const rb_logrec *r)
{
    run_ctx *rc = arg;
    int rv = on_rec_body(rc, r);
    if (rc->w) writer_next(rc->w, rc->ml);   /* r goes to the writer; the next one is filled elsewhere */
    return rv;
}

static int on_rec_body(run_ctx *rc, const rb_logrec *r)
{
    if (rc->w) ;     /* formatted by the writer (handed on at the end) */
    else if (rc->fmt == RB_FMT_JSONL) rb_logrec_to_jsonl(r, &rc->buf);
    else if (rc->fmt == RB_FMT_CSV) rb_logrec_to_csv(r, &rc->buf);
    else if (rc->fmt == RB_FMT_TABLE) table_row(rc, r);
    if (rc->buf.len > (1u << 18)) flush_out(rc);
    if (r->rec.account[0] && !strcmp(r->rec.alert, "compromised_account")) {
        rc->n_compromised++;
        gpointer old = g_hash_table_lookup(rc->accounts, r->rec.account);
        if (old) g_hash_table_insert(rc->accounts, g_strdup(r->rec.account), GSIZE_TO_POINTER(GPOINTER_TO_SIZE(old) + 1));
        else if (g_hash_table_size(rc->accounts) < 100000)   /* bounded: names beyond are only counted */
            g_hash_table_insert(rc->accounts, g_strdup(r->rec.account), GSIZE_TO_POINTER(1));
    }
    if (rc->ap) {
        /* a bounce notice (alert backscatter: from=<>) is no send of ours */
        if (!strcmp(r->delivery_status, "sent") && !r->rec.alert[0]) {
            rb_send s;
            memset(&s, 0, sizeof s);
            if (!rb_email_normalize(r->rec.recipient, s.recipient_norm, sizeof s.recipient_norm)) goto rec;
            rb_strlcpy(s.queue_id, r->queue_id, sizeof s.queue_id);
            rb_strlcpy(s.message_id, r->rec.original_message_id, sizeof s.message_id);
            s.sent_at = r->t;
            rb_strlcpy(s.relay, r->relay, sizeof s.relay);
            rb_strlcpy(s.provider, r->rec.provider, sizeof s.provider);
            rb_strlcpy(s.reply, r->rec.diagnostic, sizeof s.reply);
            rb_strlcpy(s.source, r->rec.source, sizeof s.source);
            /* one row per (instance + queue ID, recipient): a log read
             * again is the same key, a recipient mailed twice two keys */
            rb_send_key(r->instance, r->queue_id, s.recipient_norm, s.key, sizeof s.key);
            if (rb_apply_add_send(rc->ap, &s, rc->err) != RB_OK) { rc->dbfail = 1; return 1; }
        }
    rec:
        if (rb_apply_add(rc->ap, &r->rec, 0, rc->err) != RB_OK) { rc->dbfail = 1; return 1; }
    }
    return 0;
}

static gint by_count(gconstpointer a, gconstpointer b, gpointer h)
{
    size_t x = GPOINTER_TO_SIZE(g_hash_table_lookup(h, *(const char *const *)a));
    size_t y = GPOINTER_TO_SIZE(g_hash_table_lookup(h, *(const char *const *)b));
    return x != y ? (x < y ? 1 : -1) : strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The compromised-account alerts, the accounts with the most records first
 * (ten at most named). */
static void compromised_summary(FILE *f, run_ctx *rc)
{
    if (!rc->n_compromised) return;
    guint n = 0;
    gpointer *keys = g_hash_table_get_keys_as_array(rc->accounts, &n);
    g_qsort_with_data(keys, (gint)n, sizeof *keys, by_count, rc->accounts);
    fprintf(f, "compromised account? %llu record(s) of mail sent through %u account(s) of ours by someone else "
               "(recorded only; look at these accounts):",
            (unsigned long long)rc->n_compromised, n);
    for (guint i = 0; i < n && i < 10; i++)
        fprintf(f, "%s %s (%zu)", i ? "," : "", (const char *)keys[i],
                GPOINTER_TO_SIZE(g_hash_table_lookup(rc->accounts, keys[i])));
    if (n > 10) fprintf(f, ", and %u more", n - 10);
    fprintf(f, "\n");
    g_free(keys);
}

/* Default state file: next to an SQLite store; in the working directory
 * for PostgreSQL. */
static void default_state(const char *db, char *out, size_t len)
{
    if (!db || !*db) db = getenv("REBOUND_DB");
    if (!db || !*db) db = "rebound.db";
    if (!strncmp(db, "postgres", 8)) { snprintf(out, len, "rebound-maillog.state"); return; }
    if (!strncmp(db, "sqlite:", 7)) db += 7;
    snprintf(out, len, "%s.maillog-state", db);
}

int cmd_maillog(int argc, char **argv)
{
    int fmt = -2, check = 0, commit = 0, nostate = 0;
    const char *out_path = NULL, *state_opt = NULL;
    const char *psrc = NULL;    /* the records' own (relay, domain); relay when none */
    const char *domains_opt = NULL;
    const char *ms_v[argc + 1];     /* each value takes one argv slot at least */
    opt_list msl = {ms_v, 0, (size_t)argc};
    int64_t since = 0, now = 0;
    unsigned long batch = 0;
    static const opt_keyword formats[] = {{"jsonl", RB_FMT_JSONL}, {"json", RB_FMT_JSONL}, {"csv", RB_FMT_CSV},
                                          {"table", RB_FMT_TABLE}, {0}};
    const opt_desc opts[] = {
        {OPT_KEYWORD, "format", 0, &fmt, formats},
        {OPT_STRING, "output", 'o', &out_path},
        {OPT_FLAG, "check", 0, &check},
        {OPT_FLAG, "commit", 0, &commit},
        {OPT_STRING, "state", 0, &state_opt},
        {OPT_FLAG, "no-state", 0, &nostate},
        {OPT_TIME, "since", 0, &since},
        {OPT_TIME, "now", 0, &now},
        {OPT_STRING, "provider-source", 0, &psrc},
        {OPT_STRING, "our-domains", 0, &domains_opt},
        {OPT_LIST, "mailing-sender", 0, &msl},
        {OPT_INHERIT, .inherit = shared_mx_options},
        {OPT_ULONG, "batch", 0, &batch, .min = 1, .max = 10000000},
        {OPT_INHERIT, .inherit = shared_options},
        {0},
    };
    char **pos;
    int npos = opt_parse("maillog", opts, argc, argv, &pos);
    if (npos == OPT_HELP) { help(stdout); return 0; }
    if (npos < 0) return EX_USAGE_;
    const char *bad = check && commit ? "give --check or --commit, not both"
                      : nostate && state_opt ? "--state and --no-state contradict"
                      : npos == 0 ? "no LOG given (e.g. /var/log/mail.log*; - for standard input)" : NULL;
    if (bad) {
        fprintf(stderr, "rebound maillog: %s (see `rebound maillog --help`)\n", bad);
        return EX_USAGE_;
    }
    int rcf = shared_finish("maillog");
    if (rcf) return rcf;
    /* the compromised-account check: our domains and mailing senders, from
     * the command line, else the configuration file */
    if (!domains_opt) domains_opt = config_get("mail", "our-domains");
    const char *domains[64], *senders_cf[256];
    size_t ndomains = 0, nsenders = msl.n;
    const char *const *senders = ms_v;
    char *dl = domains_opt ? strdup(domains_opt) : NULL;
    if (dl) ndomains = split_list(dl, domains, 64);
    const char *cf = nsenders ? NULL : config_get("mail", "mailing-sender");
    char *sl = cf ? strdup(cf) : NULL;
    if (sl) {
        nsenders = split_list(sl, senders_cf, 256);
        senders = senders_cf;
    }
    for (size_t i = 0; i < nsenders; i++)
        if (!rb_maillog_sender_spec_ok(senders[i])) {
            fprintf(stderr, "rebound maillog: --mailing-sender '%s': give addr@domain, @domain or a pattern with one * "
                            "(bounces+*@news.example) (see `rebound maillog --help`)\n", senders[i]);
            free(dl);
            free(sl);
            return EX_USAGE_;
        }
    if (nsenders && !ndomains)
        fprintf(stderr, "rebound maillog: note: --mailing-sender does nothing without --our-domains ([mail] "
                        "our-domains): the accounts of ours are known by their domain\n");
    const char *db = opt_shared.db;
    int quiet = opt_shared.quiet;
    int applying = check || commit;
    /* records go to the output unless we apply and no format was asked for */
    if (fmt == -2) fmt = applying ? -1 : RB_FMT_JSONL;

    rb_ctx *ctx = load_ctx(NULL, NULL, NULL);
    if (!ctx) { free(dl); free(sl); return EX_CONFIG_; }
    int rc = EX_OK_;
    rb_error err = {{0}};
    rb_store *st = NULL;
    rb_apply *ap = NULL;
    rb_mx *mx = NULL;
    rb_maillog *ml = NULL;
    rb_logstate *state = NULL;
    run_ctx r = {fmt, stdout, {0}, NULL, &err, 0, since, 0, NULL, 0, NULL, NULL};
    rb_buf_init(&r.buf);
    r.accounts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

    char state_path[4096] = "";
    int write_state = 0;
    if (!nostate) {
        if (state_opt) {
            rb_strlcpy(state_path, state_opt, sizeof state_path);
            write_state = !check;
        } else if (applying) {
            default_state(db, state_path, sizeof state_path);
            write_state = commit;
        }
    }
    rb_maillog_opts mo = {since, domains, ndomains, senders, nsenders};
    if (rb_maillog_new(ctx, &mo, &ml, &err) != RB_OK) {
        fprintf(stderr, "rebound maillog: %s\n", err.msg);
        rb_ctx_free(ctx);
        g_hash_table_destroy(r.accounts);
        free(dl);
        free(sl);
        return EX_SOFTWARE_;
    }
    if (rb_logstate_load(state_path[0] ? state_path : NULL, ml, &state, &err) != RB_OK) {
        fprintf(stderr, "rebound maillog: %s (remove it to read every log from the start)\n", err.msg);
        rc = state_path[0] ? EX_CONFIG_ : EX_SOFTWARE_;
        goto out;
    }
    if (out_path && !(r.out = fopen(out_path, "w"))) {
        fprintf(stderr, "rebound maillog: %s: %m\n", out_path);
        r.out = stdout;
        rc = EX_NOINPUT_;
        goto out;
    }
    if (applying) {
        if (!(st = open_store("maillog", db))) { rc = store_exit(); goto out; }
        int mxrc;
        if (!(mx = open_mx("maillog", &mxrc)) && mxrc) { rc = mxrc; goto out; }
        rb_apply_opts ao = {commit, batch, now, psrc, NULL, NULL, mx, 0, 0};
        if (rb_apply_new(st, ctx, &ao, &ap, &err) != RB_OK) {
            fprintf(stderr, "rebound maillog: %s\n", err.msg);
            rc = EX_SOFTWARE_;
            goto out;
        }
        r.ap = ap;
    }
    if (fmt == RB_FMT_CSV) rb_logrec_csv_header(&r.buf);
    if (fmt == RB_FMT_TABLE)
        fprintf(r.out, "%-20s %-14s %-13s %-32s %-8s %-16s %-10s %s\n", "DATE", "QUEUE_ID", "STATUS", "RECIPIENT",
                "DSN", "REASON", "TYPE", "RELAY");

    /* oldest first */
    size_t nlogs = (size_t)npos;
    const char **logs = malloc(nlogs * sizeof *logs);
    if (!logs) { fprintf(stderr, "rebound maillog: out of memory\n"); rc = EX_SOFTWARE_; goto out; }
    for (size_t i = 0; i < nlogs; i++) logs[i] = pos[i];
    rb_logfiles_sort(logs, nlogs);

    /* JSONL and CSV are formatted and written on a second thread; what the
     * buffer holds (the CSV header) goes first */
    if (fmt == RB_FMT_JSONL || fmt == RB_FMT_CSV) {
        flush_out(&r);
        r.ml = ml;
        /* with no store, nothing on this thread needs a record's
         * classification: the writer works it out (the threads balance) */
        r.w = writer_start(fmt, r.out, ml, !r.ap);    /* NULL: formatted here, as before */
    }
    int unreadable = 0;
    uint64_t long_lines = 0, files_read = 0, bytes_new = 0, lines_read = 0;
    /* progress: lines read, looked at every 4096 lines (no clock per line) */
    progress prog;
    progress_init(&prog, quiet ? 0 : opt_shared.progress_every, "lines");
    for (size_t i = 0; i < nlogs && !r.dbfail; i++) {
        rb_logfile *lf = NULL;
        if (rb_logfile_open(logs[i], &lf, &err) != RB_OK) {
            fprintf(stderr, "rebound maillog: %s\n", err.msg);
            unreadable++;
            continue;
        }
        const char *fp = rb_logfile_fp(lf);
        const rb_logpos *now_pos = rb_logstate_find_now(state, fp);
        const rb_logpos *pos = now_pos ? now_pos : rb_logstate_find(state, fp);
        uint64_t start = 0;
        if (now_pos) {
            /* a second copy of a log read in this run (logrotate caught
             * compressing mail.log.1 into mail.log.1.gz): only what goes
             * beyond the first copy is new; a shorter copy is skipped */
            rb_error e2;
            if (rb_logfile_skip(lf, now_pos->offset, &e2) != RB_OK) {
                rb_logfile_close(lf);
                continue;
            }
            start = now_pos->offset;
        } else if (pos && pos->offset) {
            rb_error e2;
            if (rb_logfile_skip(lf, pos->offset, &e2) == RB_OK) start = pos->offset;
            else {
                /* truncated in place: what it holds now is new */
                fprintf(stderr, "rebound maillog: %s: shorter than when last read; reading it from the start\n",
                        logs[i]);
                rb_logfile_close(lf);
                if (rb_logfile_open(logs[i], &lf, &err) != RB_OK) {
                    fprintf(stderr, "rebound maillog: %s\n", err.msg);
                    unreadable++;
                    continue;
                }
                fp = rb_logfile_fp(lf);     /* the old one went with the closed file */
            }
        }
        struct stat sb;
        int64_t ref = strcmp(logs[i], "-") && stat(logs[i], &sb) == 0 ? (int64_t)sb.st_mtime : (int64_t)time(NULL);
        rb_logclock clock;
        rb_logclock_init(&clock, ref);
        const char *line;
        size_t len;
        uint64_t lineno;
        int k;
        while ((k = rb_logfile_next(lf, &line, &len, &lineno, &long_lines, &err)) == 1) {
            if (rb_maillog_feed(ml, &clock, line, len, logs[i], lineno, on_rec, &r)) break;
            if (!(++lines_read & 4095) && prog.every) progress_update(&prog, (unsigned long)lines_read, 0, 0);
        }
        if (k < 0) {
            fprintf(stderr, "rebound maillog: %s\n", err.msg);
            unreadable++;
        }
        files_read++;
        bytes_new += rb_logfile_offset(lf) - start;
        if (!r.dbfail && fp[0]) {
            rb_logpos np = {{0}, rb_logfile_offset(lf), rb_logfile_inode(lf), {0}};
            rb_strlcpy(np.fp, fp, sizeof np.fp);
            rb_strlcpy(np.path, logs[i], sizeof np.path);
            if (rb_logstate_set(state, &np, &err) != RB_OK) r.dbfail = 1;
        }
        rb_logfile_close(lf);
    }
    free(logs);
    if (r.w && writer_stop(r.w, ml)) r.write_err = 1;
    r.w = NULL;
    flush_out(&r);
    if (!r.dbfail && ap && rb_apply_finish(ap, &err) != RB_OK) r.dbfail = 1;
    if (r.dbfail) {
        fprintf(stderr, "rebound maillog: %s\n", err.msg);
        fprintf(stderr, "rebound maillog: stopped; %s; the state was not saved: run again\n",
                commit ? "transactions committed before the failure stay applied" : "nothing was written");
        rc = EX_TEMPFAIL_;
        goto out;
    }
    /* a log whose lines we had not finished and that is gone from the set */
    const rb_logpos *gone[16];
    size_t ngone = rb_logstate_unseen(state, gone, 16);
    for (size_t i = 0; i < ngone; i++)
        /* only for a live log read before: logrotate deleting the oldest
         * rotated file (read to its end long ago) is no news */
        if (rb_logfile_name_is_live(gone[i]->path))
            fprintf(stderr, "rebound maillog: note: %s (read before) is not among the logs given; if it was "
                        "rotated, give the rotated files too (mail.log*) so its last lines are read\n",
                gone[i]->path);
    if (write_state && rb_logstate_save(state, state_path, ml, now ? now : (int64_t)time(NULL), &err) != RB_OK) {
        fprintf(stderr, "rebound maillog: %s\n", err.msg);
        rc = EX_TEMPFAIL_;
        goto out;
    }
    progress_finish(&prog, (unsigned long)lines_read);
    const rb_maillog_stats *ms = rb_maillog_get_stats(ml);
    long_lines += ms->skipped_long;
    if (long_lines)
        fprintf(stderr, "rebound maillog: %llu line(s) longer than %d bytes skipped\n", (unsigned long long)long_lines,
                RB_LOGLINE_MAX);
    if (!quiet) {
        FILE *sf = applying ? stdout : stderr;
        fprintf(sf,
                "%llu file(s), %llu new line(s) (%.1f MB), %llu from Postfix; attempts: %llu sent, %llu deferred, "
                "%llu bounced, %llu expired, %llu undeliverable; %zu queue ID(s) still open\n",
                (unsigned long long)files_read, (unsigned long long)ms->lines, (double)bytes_new / 1e6,
                (unsigned long long)ms->postfix_lines, (unsigned long long)ms->by_status[0],
                (unsigned long long)ms->by_status[1], (unsigned long long)ms->by_status[2],
                (unsigned long long)ms->by_status[3], (unsigned long long)ms->by_status[4],
                rb_maillog_open_count(ml));
        if (ap) print_apply_summary(rb_apply_get_summary(ap), commit, 0, st);
    }
    /* a warning more than a summary: said with -q too (on stderr) */
    compromised_summary(quiet ? stderr : applying ? stdout : stderr, &r);
    if (r.write_err) {
        fprintf(stderr, "rebound maillog: writing the records failed\n");
        rc = EX_FAIL;
    } else if (unreadable) {
        rc = EX_NOINPUT_;
    }
out:
    flush_out(&r);
    if (r.out && r.out != stdout && fclose(r.out) != 0 && rc == EX_OK_) rc = EX_FAIL;
    rb_buf_free(&r.buf);
    rb_apply_free(ap);
    mx_summary("maillog", mx);
    rb_mx_free(mx);
    rb_store_close(st);
    rb_logstate_free(state);
    rb_maillog_free(ml);
    rb_ctx_free(ctx);
    g_hash_table_destroy(r.accounts);
    free(dl);
    free(sl);
    return rc;
}
