/* pipe.c -- `rebound pipe`: a Postfix pipe(8) transport for the bounce
 * catch-all.  Reads one message on standard input, analyses it, lets the
 * backscatter guard decide which of its records may change contacts, and
 * applies those to the store.
 *
 * The exit status tells Postfix what to do with the message (sysexits):
 *   0   done -- also for a message that is no bounce, is too big, cannot be
 *       read as a message, or is backscatter: accepted and logged (Postfix
 *       logs the command output of a delivery), because bouncing a bounce
 *       helps nobody (its sender is <>: the bounce of it is a double bounce);
 *   75  EX_TEMPFAIL for everything that may heal: the store cannot be
 *       opened or written (locked past REBOUND_LOCK_TIMEOUT, disk full,
 *       PostgreSQL down), the rules or the secret cannot be read, even a bad
 *       command line (a master.cf typo must not bounce all bounces): Postfix
 *       keeps the message and retries.  Nothing is ever lost.
 * The output is one line (two with a warning), short enough for Postfix's
 * log; it never starts with a status code, which Postfix would take over. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "rebound_guard.h"

#define MAX_SIZE_DEFAULT (50UL * 1024 * 1024)
#define MAX_DOMAINS 64

static void help(FILE *f)
{
    fprintf(f,
            "usage: rebound pipe [--db URL] [--sender ADDR] [--recipient ADDR] [--queue-id ID]\n"
            "                    [--verp-secret-file FILE] [--require-known-send] [--our-domains LIST]\n"
            "                    [--max-age-days N] [--max-size BYTES] [--lock-timeout SECONDS]\n"
            "                    [--check] [--resolve-mx [--dns-server ADDR]] [--rules FILE] [--policy FILE]\n"
            "                    [--providers FILE]\n\n"
            "Postfix pipe(8) transport for the bounce catch-all: reads one message on standard\n"
            "input, analyses it and applies its bounce records to the store (as `rebound apply\n"
            "--commit` would).  `rebound postfix-config` prints the master.cf / main.cf lines.\n\n"
            "  --db URL               the store (default $REBOUND_DB, else rebound.db)\n"
            "  --sender ADDR          the envelope sender (${sender}), for the log\n"
            "  --recipient ADDR       the envelope recipient (${recipient}): a VERP return path\n"
            "                         names the bounced recipient when the bounce does not\n"
            "  --queue-id ID          Postfix's queue ID (${queue_id}), for the log and the events\n"
            "  --verp-secret-file F   the secret of the signed return paths (rebound verp sign);\n"
            "                         with it the backscatter guard is strict: only bounces to a\n"
            "                         valid signed return path, or for a Message-ID we sent to\n"
            "                         that recipient (rebound maillog), change contacts\n"
            "  --require-known-send   strict without a secret: only known sends count\n"
            "  --our-domains LIST     our sending domains (comma-separated), for the\n"
            "                         compromised-account warning (\"Authenticated sender\",\n"
            "                         or our sender submitted to our own server) and alert\n"
            "  --max-age-days N       signed return paths older than N days are refused (60;\n"
            "                         0 = never)\n"
            "  --max-size BYTES       bigger messages are accepted and logged, not analysed\n"
            "                         (50M; K, M, G suffixes)\n"
            "  --lock-timeout S       wait at most S seconds for a locked store (SQLite's busy wait,\n"
            "                         PostgreSQL's lock_timeout), then exit 75\n"
            "                         (default $REBOUND_LOCK_TIMEOUT, else 10)\n"
            "  --check                decide and log, write nothing\n"
            "  --resolve-mx           a bounce with no provider: its domain's MX hosts name it\n"
            "                         (cached in the store; --dns-server ADDR[:PORT] to ask\n"
            "                         another resolver, as for rebound apply)\n"
            "  --rules/--policy/--providers FILE   as for rebound analyze\n\n"
            "Without a secret and without --require-known-send the guard is lenient: a bounce\n"
            "with no evidence either way is applied (a fresh install keeps working) and\n"
            "logged as unverified; evidence that we sent it is logged as legitimate.\n\n"
            "Exit status: 0 done (also: not a bounce, too big, backscatter -- accepted and\n"
            "logged); 75 try again later (store locked or failing, unreadable configuration,\n"
            "bad command line): Postfix keeps the message.\n");
}

typedef struct {
    const char *db, *sender, *recipient, *queue_id, *secret, *domains, *rules, *policy, *providers, *lock, *dns;
    int require_known, check, max_age, resolve_mx;
    size_t max_size;
} pipe_opts;

static int parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s) return 0;
    unsigned long long mul = 1;
    if (*end == 'k' || *end == 'K') mul = 1024, end++;
    else if (*end == 'm' || *end == 'M') mul = 1024 * 1024, end++;
    else if (*end == 'g' || *end == 'G') mul = 1024ULL * 1024 * 1024, end++;
    if (*end || v == 0 || v > (1ULL << 40) / mul) return 0;
    *out = (size_t)(v * mul);
    return 1;
}

/* A bad command line: said, and (the caller) exit 75 -- a master.cf typo
 * must defer the bounces until it is fixed, not bounce them. */
static int bad_arg(const char *fmt, const char *arg)
{
    fprintf(stderr, "rebound: try again later (exit 75, message kept): ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see rebound pipe --help)\n");
    return -1;
}

/* The options, by hand rather than getopt: Postfix may hand over an empty
 * ${sender} (null_sender=), and a value that is missing at the very end
 * is taken as empty instead of failing every delivery. */
static int parse_args(int argc, char **argv, pipe_opts *o)
{
    static const char *const valued[] = {"--db", "--sender", "--recipient", "--queue-id", "--verp-secret-file",
                                         "--our-domains", "--max-age-days", "--max-size", "--lock-timeout",
                                         "--rules", "--policy", "--providers", "--dns-server", NULL};
    memset(o, 0, sizeof *o);
    o->max_age = 60;
    o->max_size = MAX_SIZE_DEFAULT;
    for (int i = 1; i < argc; i++) {
        char name[64];
        const char *a = argv[i], *val = NULL;
        const char *eq = strchr(a, '=');
        if (strncmp(a, "--", 2) != 0) return bad_arg("unexpected argument '%s'", a);
        if (eq) {
            snprintf(name, sizeof name, "%.*s", (int)(eq - a), a);
            val = eq + 1;
        } else {
            rb_strlcpy(name, a, sizeof name);
        }
        int takes = 0;
        for (int k = 0; valued[k]; k++)
            if (!strcmp(name, valued[k])) takes = 1;
        if (takes && !val) {
            /* "--sender --recipient x": an empty sender, not the next option */
            int next_is_opt = 0;
            if (i + 1 < argc)
                for (int k = 0; valued[k]; k++)
                    if (!strncmp(argv[i + 1], valued[k], strlen(valued[k])) &&
                        (argv[i + 1][strlen(valued[k])] == '\0' || argv[i + 1][strlen(valued[k])] == '='))
                        next_is_opt = 1;
            val = i + 1 < argc && !next_is_opt ? argv[++i] : "";
        }
        if (!takes && val) return bad_arg("%s takes no value", name);
        if (!strcmp(name, "--db")) o->db = val;
        else if (!strcmp(name, "--sender")) o->sender = val;
        else if (!strcmp(name, "--recipient")) o->recipient = val;
        else if (!strcmp(name, "--queue-id")) o->queue_id = val;
        else if (!strcmp(name, "--verp-secret-file")) o->secret = val;
        else if (!strcmp(name, "--our-domains")) o->domains = val;
        else if (!strcmp(name, "--rules")) o->rules = val;
        else if (!strcmp(name, "--policy")) o->policy = val;
        else if (!strcmp(name, "--providers")) o->providers = val;
        else if (!strcmp(name, "--dns-server")) o->dns = val;
        else if (!strcmp(name, "--resolve-mx")) o->resolve_mx = 1;
        else if (!strcmp(name, "--lock-timeout")) {
            char *end;
            double v = strtod(val, &end);
            if (!*val || *end || v < 0 || v > 3600)
                return bad_arg("--lock-timeout takes 0..3600 seconds, not '%s'", val);
            o->lock = val;
        } else if (!strcmp(name, "--max-age-days")) {
            char *end;
            long v = strtol(val, &end, 10);
            if (!*val || *end || v < 0 || v > 1000) return bad_arg("--max-age-days takes 0..1000, not '%s'", val);
            o->max_age = (int)v;
        } else if (!strcmp(name, "--max-size")) {
            if (!parse_size(val, &o->max_size)) return bad_arg("--max-size: cannot read '%s' as a size", val);
        } else if (!strcmp(name, "--require-known-send")) o->require_known = 1;
        else if (!strcmp(name, "--check")) o->check = 1;
        else if (!strcmp(name, "--help")) return 1;
        else return bad_arg("unknown option %s", name);
    }
    return 0;
}

/* Read all of stdin, keeping at most max bytes; *total counts everything.
 * Returns 0, or -1 on a read error (errno set). */
static int read_stdin(size_t max, char **data, size_t *len, unsigned long long *total)
{
    rb_buf b;
    rb_buf_init(&b);
    *total = 0;
    char chunk[65536];
    for (;;) {
        ssize_t r = read(0, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { rb_buf_free(&b); return -1; }
        if (r == 0) break;
        *total += (unsigned long long)r;
        if (*total > max) continue;         /* too big: drained, not kept */
        if (rb_buf_append(&b, chunk, (size_t)r)) { rb_buf_free(&b); errno = ENOMEM; return -1; }
    }
    if (!b.buf && rb_buf_append(&b, "", 0)) { errno = ENOMEM; return -1; }
    *data = b.buf;
    *len = b.len;
    return 0;
}

/* The message with "X-Original-To: RECIPIENT" in front (after an mbox
 * postmark), so that the analyser's VERP logic sees the envelope
 * recipient: the first X-Original-To is the one it reads.  NULL when the
 * recipient is not a safe one-line address (then the message is used as
 * it is). */
static char *with_envelope(const char *data, size_t len, const char *rcpt, size_t *outlen)
{
    size_t rl = strlen(rcpt);
    if (!rl || rl >= RB_ADDR_MAX) return NULL;
    for (size_t i = 0; i < rl; i++)
        if ((unsigned char)rcpt[i] < ' ' || rcpt[i] == 0x7f) return NULL;
    size_t skip = 0;
    if (len >= 5 && memcmp(data, "From ", 5) == 0) {
        const char *nl = memchr(data, '\n', len);
        skip = nl ? (size_t)(nl - data) + 1 : len;
    }
    /* the line ending the message uses */
    const char *nl = memchr(data + skip, '\n', len - skip);
    const char *eol = nl && nl > data + skip && nl[-1] == '\r' ? "\r\n" : "\n";
    size_t hl = strlen("X-Original-To: ") + rl + strlen(eol);
    char *out = malloc(len + hl + 1);
    if (!out) return NULL;
    memcpy(out, data, skip);
    int w = sprintf(out + skip, "X-Original-To: %s%s", rcpt, eol);
    memcpy(out + skip + (size_t)w, data + skip, len - skip);
    *outlen = len + (size_t)w;
    out[*outlen] = '\0';
    return out;
}

typedef struct {
    char text[900];        /* "addr reason/type -> decision, ..." */
    size_t shown, more;
    unsigned long applied; /* records that changed something */
} rec_log;

static void log_record(rec_log *l, const rb_record *r, const char *what)
{
    if (l->shown >= 4) { l->more++; return; }
    size_t n = strlen(l->text);
    snprintf(l->text + n, sizeof l->text - n, "%s%s %s/%s -> %s", l->shown ? ", " : "", r->recipient,
             r->reason[0] ? r->reason : "-", r->bounce_type[0] ? r->bounce_type : "-", what);
    l->shown++;
}

static void on_plan(void *arg, const rb_plan_row *row)
{
    rec_log *l = arg;
    int d = row->decision;
    if (d == RB_DEC_DISABLED || d == RB_DEC_QUARANTINED || d == RB_DEC_COUNTED || d == RB_DEC_RECORDED ||
        d == RB_DEC_RESET)
        l->applied++;
    char what[96];
    snprintf(what, sizeof what, "%s%s%s%s", rb_decision_name(d), row->rec->alert[0] ? " (alert " : "",
             row->rec->alert, row->rec->alert[0] ? ")" : "");
    log_record(l, row->rec, what);
}

/* The envelope, at the end of every log line: Postfix keeps only the first
 * hundred or so characters of a successful delivery's output, so what
 * happened comes first. */
static void log_envelope(const pipe_opts *o)
{
    if (o->queue_id && *o->queue_id) fprintf(stderr, " queue_id=%s", o->queue_id);
    fprintf(stderr, " from=<%s> to=<%s>\n", o->sender ? o->sender : "", o->recipient ? o->recipient : "");
}

/* Something that may heal: Postfix keeps the message and retries. */
static int tempfail(const pipe_opts *o, const char *what)
{
    fprintf(stderr, "rebound: try again later (exit 75, message kept): %s;", what);
    log_envelope(o);
    return EX_TEMPFAIL_;
}

int cmd_pipe(int argc, char **argv)
{
    pipe_opts o;
    int pr = parse_args(argc, argv, &o);
    if (pr == 1) { help(stdout); return 0; }
    if (pr < 0) return EX_TEMPFAIL_;
    /* a locked store: give up soon and let Postfix retry, rather than sit
     * in the transport for the library's default 30 s; the same bound for
     * SQLite's busy wait and PostgreSQL's lock_timeout */
    double lock = o.lock ? strtod(o.lock, NULL) : lock_timeout_env();
    if (!(lock > 0)) lock = 10;

    rb_verp_key key;
    rb_error err = {{0}};
    memset(&key, 0, sizeof key);
    if (o.secret && rb_verp_key_load(o.secret, &key, &err) != RB_OK) return tempfail(&o, err.msg);

    char *data = NULL;
    size_t len = 0;
    unsigned long long total = 0;
    if (read_stdin(o.max_size, &data, &len, &total) < 0) {
        char m[300];
        snprintf(m, sizeof m, "standard input: %s", strerror(errno));
        return tempfail(&o, m);
    }
    if (total > o.max_size) {
        fprintf(stderr, "rebound: accepted, not analysed: message of %llu bytes is over --max-size %zu;", total,
                o.max_size);
        log_envelope(&o);
        free(data);
        return 0;
    }
    if (len == 0) {
        fprintf(stderr, "rebound: accepted: empty message;");
        log_envelope(&o);
        free(data);
        return 0;
    }

    rb_ctx *ctx = load_ctx(o.rules, o.policy, o.providers);
    if (!ctx) {
        free(data);
        return tempfail(&o, "cannot load the rules/policy (see the line above)");
    }
    int rc = 0;
    rb_store *st = NULL;
    rb_apply *ap = NULL;
    rb_mx *mx = NULL;
    int *verdicts = NULL;
    size_t alen = 0;
    char *adata = o.recipient && *o.recipient ? with_envelope(data, len, o.recipient, &alen) : NULL;
    char source[128];
    snprintf(source, sizeof source, "pipe%s%s", o.queue_id && *o.queue_id ? ":" : "", o.queue_id ? o.queue_id : "");
    rb_result res;
    rb_result_init(&res);
    if (rb_analyze_message(ctx, adata ? adata : data, adata ? alen : len, source, NULL, &res, &err) != RB_OK) {
        fprintf(stderr, "rebound: accepted, nothing applied: unreadable as a message (%s);", err.msg);
        log_envelope(&o);
        goto out;
    }
    if (!res.is_bounce || !res.n) {
        fprintf(stderr, "rebound: accepted, nothing applied: %s;", res.note[0] ? res.note : "not a bounce");
        log_envelope(&o);
        goto out;
    }

    /* a bounce: the store decides from here on, and a store failure is 75 */
    if (!(st = open_store_opts("pipe", o.db, 0, lock))) {
        rc = tempfail(&o, "the store cannot be opened (see the line above)");
        goto out;
    }
    const char *domains[MAX_DOMAINS];
    size_t ndomains = 0;
    char *dl = o.domains ? strdup(o.domains) : NULL;
    if (dl) ndomains = split_list(dl, domains, MAX_DOMAINS);
    rb_guard_opts go = {o.secret ? &key : NULL, o.require_known, o.max_age, domains, ndomains, 0, 0};
    rb_guard_report rep;
    verdicts = calloc(res.n, sizeof *verdicts);
    rb_status gs = verdicts ? rb_guard_check(st, &go, o.recipient, data, len, &res, verdicts, &rep, &err)
                            : RB_ERR_NOMEM;
    free(dl);
    if (gs != RB_OK) {
        rc = tempfail(&o, gs == RB_ERR_NOMEM ? "out of memory" : err.msg);
        goto out;
    }
    if (rep.compromised) {
        fprintf(stderr, "rebound: WARNING compromised account? The bounced message shows \"Authenticated sender: "
                        "%s\", one of our addresses: someone sends mail with its password;", rep.auth_sender);
        log_envelope(&o);
    } else if (rep.n_alert_compromised) {
        fprintf(stderr, "rebound: WARNING compromised account? %s sent mail we never sent through our own "
                        "server (authenticated submission): someone sends mail with its password;", rep.account);
        log_envelope(&o);
    }

    rec_log lg = {"", 0, 0, 0};
    if (o.resolve_mx && rb_mx_new(o.dns, &mx, &err) != RB_OK) {
        rc = tempfail(&o, err.msg);
        goto out;
    }
    rb_apply_opts ao = {!o.check, 0, 0, "pipe", on_plan, &lg, mx, 0, 0};
    if (rb_apply_new(st, ctx, &ao, &ap, &err) != RB_OK) {
        rc = tempfail(&o, err.msg);
        goto out;
    }
    for (size_t i = 0; i < res.n; i++) {
        if (verdicts[i] == RB_GUARD_BACKSCATTER) {
            log_record(&lg, &res.recs[i], "not applied");
            continue;
        }
        if (rb_apply_add(ap, &res.recs[i], 0, &err) != RB_OK) { gs = RB_ERR_DB; break; }
    }
    if (gs == RB_OK && rb_apply_finish(ap, &err) != RB_OK) gs = RB_ERR_DB;
    if (gs != RB_OK) {
        char m[sizeof err.msg + 40];
        snprintf(m, sizeof m, "%s (nothing written)", err.msg);
        rc = tempfail(&o, m);
        goto out;
    }
    const char *verdict = rep.verdict == RB_GUARD_UNKNOWN ? "unverified" : rb_guard_verdict_name(rep.verdict);
    fprintf(stderr, "rebound: %s%s: %s", verdict, o.check ? " (--check: nothing written)" : "", lg.text);
    if (lg.more) fprintf(stderr, " and %zu more", lg.more);
    fprintf(stderr, "; %s (%zu legitimate, %zu unverified, %zu backscatter); %s, %zu record%s;", rep.reason,
            rep.n_legitimate, rep.n_unknown, rep.n_backscatter, res.recs[0].decoded_by, res.n, res.n == 1 ? "" : "s");
    log_envelope(&o);

out:
    rb_apply_free(ap);
    rb_mx_free(mx);
    free(verdicts);
    rb_result_free(&res);
    if (st) rb_store_close(st);
    rb_ctx_free(ctx);
    free(adata);
    free(data);
    memset(&key, 0, sizeof key);
    return rc;
}
