/* cli.c -- helpers shared by the subcommands: progress, formats, context. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void progress_init(progress *p, unsigned long every, const char *what)
{
    memset(p, 0, sizeof *p);
    p->every = every;
    p->tty = every > 0 && isatty(2);
    p->start = p->last_draw = now_seconds();
    p->what = what;
}

void progress_update(progress *p, unsigned long n, uint64_t done, uint64_t total)
{
    if (!p->every) return;
    double t = now_seconds();
    double el = t - p->start;
    double rate = el > 0 ? (double)n / el : 0;
    if (p->tty) {
        if (t - p->last_draw < 0.2) return;
        p->last_draw = t;
        char bar[31];
        double frac = total ? (double)done / (double)total : 0;
        if (frac > 1) frac = 1;
        int fill = (int)(frac * 30);
        for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '-';
        bar[30] = '\0';
        if (total && frac > 0.001) {
            double eta = el / frac - el;
            fprintf(stderr, "\r[%s] %5.1f%% %lu %s %.0f/s ETA %02d:%02d ", bar, frac * 100, n, p->what, rate,
                    (int)(eta / 60), (int)eta % 60);
        } else {
            fprintf(stderr, "\r%lu %s %.0f/s ", n, p->what, rate);
        }
        return;
    }
    if (n / p->every > p->last_line / p->every) {
        p->last_line = n;
        fprintf(stderr, "progress: %lu %s, %.1f s, %.0f %s/s\n", n, p->what, el, rate, p->what);
    }
}

void progress_finish(progress *p, unsigned long n)
{
    if (!p->every) return;
    double el = now_seconds() - p->start;
    if (p->tty) fputc('\n', stderr);
    fprintf(stderr, "done: %lu %s in %.2f s (%.0f %s/s)\n", n, p->what, el, el > 0 ? (double)n / el : 0.0, p->what);
}

int parse_format(const char *s)
{
    if (!strcmp(s, "jsonl") || !strcmp(s, "json")) return RB_FMT_JSONL;
    if (!strcmp(s, "csv")) return RB_FMT_CSV;
    if (!strcmp(s, "table")) return RB_FMT_TABLE;
    return -1;
}

/* The data directory: --datadir, $REBOUND_DATADIR or [data] dir (resolved
 * by shared_finish), else the one compiled in -- or, run from a build tree
 * (build/src/rebound) before `meson install`, the source tree's data/ two
 * levels up. */
const char *data_dir(void)
{
    static char tree[2048];
    if (opt_shared.datadir && *opt_shared.datadir) return opt_shared.datadir;
    const char *e = getenv("REBOUND_DATADIR");   /* commands that do not call shared_finish */
    if (e && *e) return e;
    if (tree[0]) return tree;
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/rules.conf", rb_default_datadir());
    if (access(probe, R_OK) == 0) return rb_default_datadir();
    char exe[1900];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        static const char *const ups[] = {"/../../data", "/../data"};
        for (size_t i = 0; slash && i < 2; i++) {
            snprintf(tree, sizeof tree, "%s%s", exe, ups[i]);
            snprintf(probe, sizeof probe, "%s/rules.conf", tree);
            if (access(probe, R_OK) == 0) return tree;
        }
        tree[0] = '\0';
    }
    return rb_default_datadir();
}

rb_ctx *load_ctx(const char *rules, const char *policy, const char *providers)
{
    char rp[2200], pp[2200], vp[2200];
    const char *dd = data_dir();
    if (!rules) rules = opt_shared.rules;
    if (!policy) policy = opt_shared.policy;
    if (!providers) providers = opt_shared.providers;
    snprintf(rp, sizeof rp, "%s/rules.conf", dd);
    snprintf(pp, sizeof pp, "%s/policy.conf", dd);
    snprintf(vp, sizeof vp, "%s/providers.conf", dd);
    rb_ctx_opts o = {rules ? rules : rp, policy ? policy : pp, providers ? providers : vp, dd};
    rb_ctx *ctx = NULL;
    rb_error err = {{0}};
    if (rb_ctx_new(&o, &ctx, &err) != RB_OK) {
        fprintf(stderr, "rebound: %s\n", err.msg);
        if (!rules && !policy)
            fprintf(stderr, "rebound: (data directory %s; use --datadir, REBOUND_DATADIR, [data] dir in the "
                            "configuration file, or --rules/--policy)\n", dd);
        return NULL;
    }
    return ctx;
}

static int last_store_exit = EX_TEMPFAIL_;

int store_exit(void)
{
    return last_store_exit;
}

/* The store URL: --db, else $REBOUND_DB (also for commands that have not
 * run shared_finish), else [store] url, else rebound.db. */
static const char *store_url(const char *url)
{
    if (url && *url) return url;
    if (opt_shared.db && *opt_shared.db) return opt_shared.db;
    const char *e = getenv("REBOUND_DB");
    return e && *e ? e : "rebound.db";
}

/* $REBOUND_LOCK_TIMEOUT (seconds), or 0 for the store's default. */
double lock_timeout_env(void)
{
    const char *lt = getenv("REBOUND_LOCK_TIMEOUT");
    if (!lt || !*lt) return 0;
    char *end;
    double v = strtod(lt, &end);
    return *end == '\0' && v > 0 && v <= 3600 ? v : 0;
}

rb_store *open_store_opts(const char *cmd, const char *url, int create, double lock_timeout)
{
    rb_store *st = NULL;
    rb_error err = {{0}};
    url = store_url(url);
    rb_store_opts o = {create, lock_timeout > 0 ? lock_timeout : lock_timeout_env()};
    rb_status s = rb_store_open_opts(url, &o, &st, &err);
    if (s == RB_OK) return st;
    fprintf(stderr, "rebound %s: %s\n", cmd, err.msg);
    if (s == RB_ERR_NOSTORE) {
        fprintf(stderr, "rebound %s: create the store with `rebound init --db %s` (or give the right --db, "
                        "$REBOUND_DB or [store] url)\n", cmd, url);
        last_store_exit = EX_NOINPUT_;
    } else if (s == RB_ERR_CONFIG) {
        last_store_exit = EX_CONFIG_;
    } else {
        last_store_exit = EX_TEMPFAIL_;
    }
    return NULL;
}

rb_store *open_store(const char *cmd, const char *url)
{
    return open_store_opts(cmd, url, 0, 0);
}

rb_mx *open_mx(const char *cmd, int *rc)
{
    *rc = 0;
    if (!opt_shared.resolve_mx) {
        if (opt_shared.dns_server)
            fprintf(stderr, "rebound %s: note: --dns-server is used only with --resolve-mx\n", cmd);
        return NULL;
    }
    rb_mx *mx = NULL;
    rb_error err = {{0}};
    rb_status s = rb_mx_new(opt_shared.dns_server, &mx, &err);
    if (s != RB_OK) {
        fprintf(stderr, "rebound %s: %s\n", cmd, err.msg);
        *rc = s == RB_ERR_ARG ? EX_USAGE_ : EX_CONFIG_;
        return NULL;
    }
    return mx;
}

void mx_summary(const char *cmd, const rb_mx *mx)
{
    if (!mx || opt_shared.quiet) return;
    const rb_mx_stats *s = rb_mx_get_stats(mx);
    fprintf(stderr, "rebound %s: MX look-ups: %lu asked, %lu from the cache, %lu named a provider, "
                    "%lu failed for now (asked again next run)\n", cmd, s->queried, s->cached, s->found, s->failed);
}

const char *fmt_time(int64_t t, char *buf, size_t len)
{
    if (!t) { if (len) buf[0] = '\0'; return buf; }
    rb_time_format_iso(t, buf, len);
    return buf;
}

size_t split_list(char *s, const char **items, size_t max)
{
    size_t n = 0;
    for (char *tok = strtok(s, ","); tok && n < max; tok = strtok(NULL, ",")) {
        while (*tok == ' ') tok++;
        char *e = tok + strlen(tok);
        while (e > tok && e[-1] == ' ') *--e = '\0';
        if (*tok) items[n++] = tok;
    }
    return n;
}

void csv_field(FILE *f, const char *s)
{
    rb_buf b;
    rb_buf_init(&b);
    if (rb_csv_field(&b, s) == 0 && b.len) fwrite(b.buf, 1, b.len, f);
    rb_buf_free(&b);
}

/* The decision table of apply (and maillog --check/--commit). */
void print_apply_summary(const rb_apply_summary *s, int commit, unsigned long bad_rows, const rb_store *st)
{
    static const int cols[] = {RB_DEC_DISABLED, RB_DEC_QUARANTINED, RB_DEC_COUNTED, RB_DEC_RECORDED,
                               RB_DEC_RESET,    RB_DEC_UNCHANGED,   RB_DEC_IGNORED, RB_DEC_DUPLICATE,
                               RB_DEC_UNKNOWN,  RB_DEC_INVALID};
    const size_t nc = sizeof cols / sizeof cols[0];
    printf("%-10s %-16s %8s", "TYPE", "REASON", "RECORDS");
    for (size_t j = 0; j < nc; j++) printf(" %11s", rb_decision_name(cols[j]));
    printf("\n");
    for (size_t i = 0; i < s->nrows; i++) {
        const rb_apply_row *r = &s->rows[i];
        uint64_t tot = 0;
        for (int d = 0; d < RB_DEC_N; d++) tot += r->n[d];
        printf("%-10s %-16s %8llu", r->bounce_type, r->reason, (unsigned long long)tot);
        for (size_t j = 0; j < nc; j++) printf(" %11llu", (unsigned long long)r->n[cols[j]]);
        printf("\n");
    }
    printf("%-10s %-16s %8llu", "total", "", (unsigned long long)s->records);
    for (size_t j = 0; j < nc; j++) printf(" %11llu", (unsigned long long)s->n[cols[j]]);
    printf("\n\n");
    const char *w = commit ? "" : "would be ";
    printf("contacts %sdisabled: %llu; %squarantined: %llu; soft bounces %scounted: %llu;\n", w,
           (unsigned long long)s->n[RB_DEC_DISABLED], w, (unsigned long long)s->n[RB_DEC_QUARANTINED], w,
           (unsigned long long)s->n[RB_DEC_COUNTED]);
    printf("blocks/other %srecorded (contact stays mailed): %llu; soft counts %sreset by deliveries: %llu;\n", w,
           (unsigned long long)s->n[RB_DEC_RECORDED], w, (unsigned long long)s->n[RB_DEC_RESET]);
    printf("untouched: %llu already disabled or unsubscribed, %llu not failures, %llu applied before;\n",
           (unsigned long long)s->n[RB_DEC_UNCHANGED], (unsigned long long)s->n[RB_DEC_IGNORED],
           (unsigned long long)s->n[RB_DEC_DUPLICATE]);
    printf("unknown (not in the store): %llu; rejected rows: %llu\n", (unsigned long long)s->n[RB_DEC_UNKNOWN],
           (unsigned long long)(s->n[RB_DEC_INVALID] + bad_rows));
    if (s->sends)
        printf("accepted deliveries %sstored (to tie later NDRs to their send): %llu\n", w,
               (unsigned long long)s->sends);
    if (commit)
        printf("Committed to %s store in %llu transaction(s).\n", rb_store_backend(st),
               (unsigned long long)s->batches_committed);
    else
        printf("Report only: nothing was written.  Run with --commit to apply.\n");
}
