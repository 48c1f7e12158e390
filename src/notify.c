/* notify.c -- `rebound notify`: push the contacts whose state changed to a
 * status API (one form-encoded POST per contact: email, status, bounce type,
 * code, message, provider), through
 * the store's outbox, so that every change arrives exactly once in effect.
 *
 * A run: queue the current state of every contact matching the filter
 * (lib/store/store_outbox.c), then post the due rows, longest due first, with one
 * libcurl handle (keep-alive), writing each outcome to the store as soon as
 * the response is in.  A kill loses at most the request in flight, which is sent
 * again later: at-least-once on the wire, exactly once in effect because the
 * status API treats a repeat of the same event as a no-op. */
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli.h"

#define PAGE 1024               /* due ids read at once (claimed RB_OUTBOX_CLAIM_MAX at a time) */
#define STREAK_STOP 3           /* transient failures in a row that stop the run */
#define BODY_KEEP 2048          /* response bytes kept for messages */
#define KEY_MAX 4096

static void help(FILE *f)
{
    fprintf(f,
            "usage: rebound notify --url URL [--key KEY | --key-file FILE] [OPTIONS]\n\n"
            "Send each contact whose state changed to a status API: POST URL, form-encoded\n"
            "email, status, bounce_type, status_code, status_message, provider and\n"
            "provider_source, with the header X-Contact-Provider-Key.  Changes go through\n"
            "the store's outbox: each is delivered once, retried with back-off while the\n"
            "server fails, kept and reported when refused.\n\n"
            "  --url URL            the status API (http:// or https://)\n"
            "  --key KEY            the provider key; better --key-file or $REBOUND_NOTIFY_KEY,\n"
            "                       which other users cannot see in the process list\n"
            "  --key-file FILE      read the key from the first line of FILE\n"
            "  --status LIST        contact statuses to send, comma-separated (default bounced;\n"
            "                       active bounced blocked quarantined unsubscribed complaint,\n"
            "                       or any); quarantined is sent as deferred\n"
            "  --bounce-type LIST   bounce types to send (default hard; soft blocked complaint,\n"
            "                       or any)\n"
            "  --limit N            post at most N rows this run (default 1000)\n"
            "  --db URL             store: a SQLite file or postgresql://... (default $REBOUND_DB,\n"
            "                       else rebound.db)\n"
            "  --dry-run            queue nothing, send nothing: print the rows a run would send\n"
            "  --timeout SECONDS    per request (default 30; connecting: at most 10)\n"
            "  --max-attempts N     failed tries before a row is given up (default 10)\n"
            "  --retry-failed       put the rows given up on back in the queue first\n"
            "  --show-failed        list the rows given up on (CSV) and exit\n"
            "  --now TIME           the time to use for 'now' (ISO 8601), for tests\n"
            "  -v, --verbose        a line per row sent\n"
            "  --progress-every N   a progress line on stderr every N rows\n"
            "  -q, --quiet          no summary, no progress\n\n"
            "A failed request is retried after 1 min, then 2, 4, ... (at most 6 h; a\n"
            "Retry-After header is honoured); 4xx answers other than 408/429 are refusals\n"
            "and not retried.  The run stops early when the server cannot be reached or\n"
            "fails %d times in a row.\n\n"
            "Exit status: 0 every row tried was sent; 1 some were refused or are to be\n"
            "retried; 64 usage; 66 key file unreadable; 75 store or server unavailable (run\n"
            "again later; nothing is lost); 78 the server refused the key or redirects\n"
            "(--url or --key is wrong).\n",
            STREAK_STOP);
}

/* ---- options ---------------------------------------------------------------------------- */
static int valid_token(const char *s)
{
    if (!*s || strlen(s) >= RB_SHORT_MAX) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-')) return 0;
    return 1;
}

/* Split a comma list into items; "any" (alone) means no filter (n = 0).
 * Returns -1 with a message on a bad item. */
static int parse_list(char *s, const char **items, size_t max, int statuses, size_t *n)
{
    *n = split_list(s, items, max + 1);
    if (*n > max) {
        fprintf(stderr, "rebound notify: at most %zu values in --%s\n", max, statuses ? "status" : "bounce-type");
        return -1;
    }
    if (*n == 1 && !strcmp(items[0], "any")) { *n = 0; return 0; }
    if (*n == 0) {
        fprintf(stderr, "rebound notify: --%s is empty (use 'any' for no filter)\n",
                statuses ? "status" : "bounce-type");
        return -1;
    }
    for (size_t i = 0; i < *n; i++) {
        if (statuses) {
            if (!strcmp(items[i], "deferred")) items[i] = "quarantined";     /* the API's word for it */
            if (rb_contact_status_parse(items[i]) < 0) {
                fprintf(stderr, "rebound notify: --status: unknown status '%s' (active bounced blocked "
                                "quarantined unsubscribed complaint, or any)\n", items[i]);
                return -1;
            }
        } else if (!valid_token(items[i])) {
            fprintf(stderr, "rebound notify: --bounce-type: '%s' is not a bounce type (hard soft blocked "
                            "complaint, or any)\n", items[i]);
            return -1;
        }
    }
    return 0;
}

/* A key goes into a header: printable ASCII without spaces at the ends. */
static int clean_key(char *k)
{
    size_t l = strlen(k);
    while (l && (k[l - 1] == '\n' || k[l - 1] == '\r' || k[l - 1] == ' ' || k[l - 1] == '\t')) k[--l] = '\0';
    size_t skip = strspn(k, " \t");
    memmove(k, k + skip, l - skip + 1);
    if (!k[0] || strlen(k) >= KEY_MAX) return 0;
    for (const unsigned char *p = (const unsigned char *)k; *p; p++)
        if (*p < 0x20 || *p > 0x7e) return 0;
    return 1;
}

static int read_key_file(const char *path, char *key, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "rebound notify: --key-file %s: %s\n", path, strerror(errno));
        return EX_NOINPUT_;
    }
    int ok = fgets(key, (int)len, f) != NULL;
    fclose(f);
    if (!ok || !clean_key(key)) {
        fprintf(stderr, "rebound notify: --key-file %s: the first line holds no usable key (printable ASCII, "
                        "under %d characters)\n", path, KEY_MAX);
        return EX_USAGE_;
    }
    return 0;
}

static int loopback_host(const char *url)
{
    CURLU *u = curl_url();
    char *host = NULL;
    int lo = 0;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
        lo = !strcasecmp(host, "localhost") || !strncmp(host, "127.", 4) || !strcmp(host, "[::1]");
    curl_free(host);
    curl_url_cleanup(u);
    return lo;
}

static int valid_url(const char *url)
{
    if (strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8)) return 0;
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f) return 0;
    CURLU *u = curl_url();
    int ok = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK;
    curl_url_cleanup(u);
    return ok;
}

/* ---- HTTP ---------------------------------------------------------------------------------- */
typedef struct {
    CURL *h;
    struct curl_slist *headers;
    char errbuf[CURL_ERROR_SIZE];
    char body[BODY_KEEP + 1];
    size_t body_len;
    int64_t retry_after;
    char location[512];
    const char *key;        /* scrubbed from anything printed */
} http;

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    http *c = arg;
    size_t len = size * n, room = BODY_KEEP - c->body_len;
    if (room) {
        size_t k = len < room ? len : room;
        memcpy(c->body + c->body_len, p, k);
        c->body_len += k;
        c->body[c->body_len] = '\0';
    }
    return len;
}

/* "Name: value" header line -> value (trimmed) into out, or 0 */
static int header_value(const char *p, size_t len, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    if (len <= nl || strncasecmp(p, name, nl) || p[nl] != ':') return 0;
    p += nl + 1;
    len -= nl + 1;
    while (len && (*p == ' ' || *p == '\t')) { p++; len--; }
    while (len && (p[len - 1] == '\r' || p[len - 1] == '\n' || p[len - 1] == ' ')) len--;
    if (len >= outlen) len = outlen - 1;
    memcpy(out, p, len);
    out[len] = '\0';
    return 1;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    http *c = arg;
    size_t len = size * n;
    char v[256];
    if (len >= 5 && !strncmp(p, "HTTP/", 5)) {     /* a new response (after a 100 Continue, say) */
        c->retry_after = 0;
        c->location[0] = '\0';
    } else if (header_value(p, len, "Retry-After", v, sizeof v)) {
        char *end;
        long long s = strtoll(v, &end, 10);
        if (end != v && !*end && s > 0) {
            c->retry_after = s;
        } else {
            time_t t = curl_getdate(v, NULL);         /* the HTTP-date form */
            if (t > 0 && t > time(NULL)) c->retry_after = (int64_t)(t - time(NULL));
        }
    } else {
        header_value(p, len, "Location", c->location, sizeof c->location);
    }
    return len;
}

static int http_init(http *c, const char *url, const char *key, double timeout)
{
    memset(c, 0, sizeof *c);
    c->key = key;
    if (!(c->h = curl_easy_init())) return -1;
    char *kh = malloc(strlen(key) + 32);
    if (!kh) return -1;
    sprintf(kh, "X-Contact-Provider-Key: %s", key);
    struct curl_slist *l = curl_slist_append(NULL, kh);
    memset(kh, 0, strlen(kh));
    free(kh);
    if (l) l = curl_slist_append(l, "Content-Type: application/x-www-form-urlencoded");
    if (l) l = curl_slist_append(l, "Accept: application/json");
    if (l) l = curl_slist_append(l, "Expect:");          /* no 100-continue round trip */
    if (!l) return -1;
    c->headers = l;
    long ms = (long)(timeout * 1000), cms = ms < 10000 ? ms : 10000;
    CURL *h = c->h;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, l);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "rebound/" REBOUND_VERSION);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, cms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);    /* a POST is not replayed elsewhere unasked */
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    return 0;
}

static void http_free(http *c)
{
    if (c->h) curl_easy_cleanup(c->h);
    curl_slist_free_all(c->headers);
}

/* Replace every occurrence of the key in s by *** (a server may echo
 * headers back in an error page). */
static void scrub(char *s, const char *key)
{
    size_t kl = strlen(key);
    if (kl < 4) return;
    for (char *p = strstr(s, key); p; p = strstr(p + 3, key)) {
        memcpy(p, "***", 3);
        memmove(p + 3, p + kl, strlen(p + kl) + 1);
    }
}

static void post(http *c, const char *body, rb_notify_result *r, char *detail, size_t dlen)
{
    c->body_len = 0;
    c->body[0] = '\0';
    c->errbuf[0] = '\0';
    c->retry_after = 0;
    c->location[0] = '\0';
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    CURLcode rc = curl_easy_perform(c->h);
    memset(r, 0, sizeof *r);
    r->detail = detail;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &r->http_code);
        r->transport = RB_NT_OK;
        r->retry_after = c->retry_after;
        if (r->http_code >= 300 && r->http_code < 400 && c->location[0])
            snprintf(detail, dlen, "redirects to %s; give that URL", c->location);
        else {
            size_t l = strnlen(c->body, dlen - 1);      /* the start of a long answer is enough */
            memcpy(detail, c->body, l);
            detail[l] = '\0';
        }
    } else {
        long sent = 0;
        curl_easy_getinfo(c->h, CURLINFO_REQUEST_SIZE, &sent);
        switch (rc) {
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_COULDNT_CONNECT:
            r->transport = RB_NT_DOWN;
            break;
        case CURLE_OPERATION_TIMEDOUT:
            /* nothing sent: the connection was never made */
            r->transport = sent > 0 ? RB_NT_TIMEOUT : RB_NT_DOWN;
            break;
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_ENGINE_NOTFOUND:
        case CURLE_SSL_ENGINE_SETFAILED:
        case CURLE_USE_SSL_FAILED:
            r->transport = RB_NT_TLS;
            break;
        default:
            r->transport = RB_NT_BROKEN;
            break;
        }
        snprintf(detail, dlen, "%s", c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
    }
    scrub(detail, c->key);
}

/* ---- the run -------------------------------------------------------------------------------- */
static volatile sig_atomic_t stop_signal;
static void on_signal(int sig) { stop_signal = sig; }


static int print_failed(void *arg, const rb_outbox_item *it)
{
    char t[32];
    FILE *f = arg;
    fprintf(f, "%lld,", (long long)it->id);
    csv_field(f, it->email);
    fprintf(f, ",%s,%s,%d,%s,", it->status, it->bounce_type, it->attempts, fmt_time(it->created_at, t, sizeof t));
    csv_field(f, it->last_error);
    fputc('\n', f);
    return 0;
}

static int print_row(void *arg, const rb_outbox_item *it)
{
    char t[32];
    size_t *n = arg;
    if (!(*n)++)
        printf("id,email,status,bounce_type,status_code,status_message,provider,provider_source,attempts,queued_at\n");
    printf("%lld,", (long long)it->id);
    csv_field(stdout, it->email);
    printf(",%s,%s,", it->status, it->bounce_type);
    csv_field(stdout, it->status_code);
    putchar(',');
    csv_field(stdout, it->status_message);
    putchar(',');
    csv_field(stdout, it->provider);
    putchar(',');
    csv_field(stdout, it->provider_source);
    printf(",%d,%s\n", it->attempts, fmt_time(it->created_at, t, sizeof t));
    return 0;
}

static int dry_run(rb_store *st, const rb_outbox_filter *flt, int64_t now, size_t limit, int quiet)
{
    rb_error err = {{0}};
    int64_t enq = 0, sup = 0;
    size_t n = 0;
    /* the real thing, rolled back: the rows shown are exactly those a run
     * would send */
    rb_status s = rb_store_begin(st, &err);
    if (s == RB_OK) {
        s = rb_outbox_enqueue(st, flt, now, &enq, &sup, &err);
        if (s == RB_OK) s = rb_outbox_due(st, flt->target, now, limit, print_row, &n, &err);
        rb_error e2;
        rb_store_rollback(st, &e2);
    }
    if (s != RB_OK) {
        fprintf(stderr, "rebound notify: %s\n", err.msg);
        return EX_TEMPFAIL_;
    }
    if (!n)
        printf("id,email,status,bounce_type,status_code,status_message,provider,provider_source,attempts,queued_at\n");
    if (!quiet)
        fprintf(stderr,
                "dry run: %lld new change(s) would be queued (%lld superseded); %zu row(s) would be sent now "
                "(--limit %zu); nothing was written or sent\n",
                (long long)enq, (long long)sup, n, limit);
    return EX_OK_;
}

/* Put claimed rows not tried back, due now. */
static rb_status release(rb_store *st, rb_outbox_item *items, size_t from, size_t n, int64_t now, rb_error *err)
{
    for (size_t i = from; i < n; i++) {
        items[i].next_attempt_at = now;
        rb_status s = rb_outbox_save(st, &items[i], err);
        if (s != RB_OK) return s;
    }
    return RB_OK;
}

/* One delivery run over the due rows. */
typedef struct {
    rb_store *st;
    http *h;
    const char *url;
    int64_t now, lease_until;
    int max_attempts, verbose;
    char *detail;                    /* RB_TEXT_MAX */
    /* outcome */
    int64_t enqueued, superseded, sent, retried, failed, tried;
    int streak;                      /* transient failures in a row */
    int stop;                        /* stop the run: why says why */
    int rc;                          /* an exit status decided on the way (78, 70), else 0 */
    int store_failed;
    char why[RB_TEXT_MAX];
    rb_error err;
} run;

static void transient(run *r)
{
    if (++r->streak >= STREAK_STOP) {
        r->stop = 1;
        snprintf(r->why, sizeof r->why, "the server failed %d times in a row", r->streak);
    }
}

/* Post the claimed rows in order, each outcome saved as soon as it is known;
 * the rows not tried (a stop) are given back. */
static void deliver(run *r, rb_outbox_item *items, size_t got)
{
    size_t i;
    for (i = 0; i < got && !r->stop && !stop_signal; i++) {
        rb_outbox_item *it = &items[i];
        char *body = rb_notify_form_body(it);
        if (!body) {
            snprintf(r->why, sizeof r->why, "out of memory");
            r->stop = 1;
            r->rc = EX_SOFTWARE_;
            break;
        }
        rb_notify_result res;
        post(r->h, body, &res, r->detail, RB_TEXT_MAX);
        free(body);
        r->tried++;
        char t[32];
        switch (rb_notify_decide(it, &res, r->now, r->max_attempts)) {
        case RB_NO_SENT:
            r->sent++;
            r->streak = 0;
            if (r->verbose) printf("sent %s %s %s (HTTP %ld)\n", it->email, it->status, it->bounce_type, res.http_code);
            break;
        case RB_NO_RETRY:
            r->retried++;
            fprintf(stderr, "rebound notify: %s: %s; retry at %s (attempt %d of %d)\n", it->email, it->last_error,
                    fmt_time(it->next_attempt_at, t, sizeof t), it->attempts, r->max_attempts);
            transient(r);
            break;
        case RB_NO_FAILED:
            r->failed++;
            fprintf(stderr, "rebound notify: %s: not sent, given up: %s\n", it->email, it->last_error);
            if (res.transport != RB_NT_OK || res.http_code >= 500 || res.http_code == 408 || res.http_code == 429)
                transient(r);      /* attempts used up */
            else
                r->streak = 0;     /* a refusal is an answer: the server works */
            break;
        default:                   /* RB_NO_STOP: not the row's try */
            r->tried--;
            r->stop = 1;
            snprintf(r->why, sizeof r->why, "%s", it->last_error);
            if (res.transport == RB_NT_OK) r->rc = EX_CONFIG_;    /* redirect, key refused */
            break;
        }
        if (rb_outbox_save(r->st, it, &r->err) != RB_OK) {
            r->store_failed = 1;
            return;
        }
    }
    if (release(r->st, items, i, got, r->now, &r->err) != RB_OK) r->store_failed = 1;
}

int cmd_notify(int argc, char **argv)
{
    const char *url = NULL, *key_file = NULL, *key_arg = NULL;
    char *status_arg = NULL, *btype_arg = NULL;
    static char key[KEY_MAX + 2];
    int have_key = 0, dry = 0, retry_failed = 0, show_failed = 0, verbose = 0;
    unsigned long limit = 1000;
    long max_attempts = 10;
    double timeout = 30;
    int64_t now = 0;
    const opt_desc opts[] = {
        {OPT_STRING, "url", 0, &url},
        {OPT_STRING, "key", 0, &key_arg},
        {OPT_STRING, "key-file", 0, &key_file},
        {OPT_STRING, "status", 0, &status_arg},
        {OPT_STRING, "bounce-type", 0, &btype_arg},
        {OPT_ULONG, "limit", 0, &limit, .min = 1, .max = 10000000},
        {OPT_FLAG, "dry-run", 0, &dry},
        {OPT_DOUBLE, "timeout", 0, &timeout},
        {OPT_LONG, "max-attempts", 0, &max_attempts, .min = 1, .max = 1000},
        {OPT_TIME, "now", 0, &now},
        {OPT_FLAG, "retry-failed", 0, &retry_failed},
        {OPT_FLAG, "show-failed", 0, &show_failed},
        {OPT_FLAG, "verbose", 'v', &verbose},
        {OPT_INHERIT, .inherit = shared_store_options},
        {OPT_INHERIT, .inherit = shared_progress_options},
        {0},
    };
    char **pos;
    int npos = opt_parse("notify", opts, argc, argv, &pos);
    if (npos == OPT_HELP) { help(stdout); return 0; }
    if (npos < 0) return EX_USAGE_;
    if (npos > 0) {
        fprintf(stderr, "rebound notify: unexpected argument '%s' (see `rebound notify --help`)\n", pos[0]);
        return EX_USAGE_;
    }
    if (key_arg) {
        snprintf(key, sizeof key, "%s", key_arg);
        memset((char *)key_arg, 'x', strlen(key_arg));    /* out of the process list (ps shows argv) */
        have_key = 1;
    }
    if (!(timeout >= 0.1 && timeout <= 3600)) {
        fprintf(stderr, "rebound notify: --timeout takes 0.1 to 3600 seconds (see `rebound notify --help`)\n");
        return EX_USAGE_;
    }
    int rcf = shared_finish("notify");
    if (rcf) return rcf;
    const char *db = opt_shared.db;
    int quiet = opt_shared.quiet;
    if (!url) url = config_get("notify", "url");
    const char *env_key = getenv("REBOUND_NOTIFY_KEY");
    if (!key_file && !have_key && !(env_key && *env_key)) key_file = config_get("notify", "key-file");
    if (!url) {
        fprintf(stderr, "rebound notify: --url is required (the status API, e.g. "
                        "https://contacts.example.org/contact/api/email-status/)\n");
        return EX_USAGE_;
    }
    if (!valid_url(url)) {
        fprintf(stderr, "rebound notify: --url: not an http:// or https:// URL\n");
        return EX_USAGE_;
    }
    char shown[1200];
    rb_mask_url(url, shown, sizeof shown);

    const char *statuses[17], *btypes[17];
    size_t nst = 0, nbt = 0;
    char sdef[] = "bounced", bdef[] = "hard";
    if (parse_list(status_arg ? status_arg : sdef, statuses, 16, 1, &nst) < 0) return EX_USAGE_;
    if (parse_list(btype_arg ? btype_arg : bdef, btypes, 16, 0, &nbt) < 0) return EX_USAGE_;

    /* the key: --key, else --key-file, else $REBOUND_NOTIFY_KEY (not needed
     * for a dry run or --show-failed) */
    if (have_key && key_file) {
        fprintf(stderr, "rebound notify: give --key or --key-file, not both\n");
        return EX_USAGE_;
    }
    if (have_key && !clean_key(key)) {
        fprintf(stderr, "rebound notify: --key: not a usable key (printable ASCII, under %d characters)\n", KEY_MAX);
        return EX_USAGE_;
    }
    if (!have_key && key_file) {
        int r = read_key_file(key_file, key, sizeof key);
        if (r) return r;
        have_key = 1;
    }
    if (!have_key && getenv("REBOUND_NOTIFY_KEY") && *getenv("REBOUND_NOTIFY_KEY")) {
        snprintf(key, sizeof key, "%s", getenv("REBOUND_NOTIFY_KEY"));
        if (!clean_key(key)) {
            fprintf(stderr, "rebound notify: $REBOUND_NOTIFY_KEY is not a usable key\n");
            return EX_USAGE_;
        }
        have_key = 1;
    }
    if (!have_key && !dry && !show_failed) {
        fprintf(stderr, "rebound notify: no key: give --key-file FILE, $REBOUND_NOTIFY_KEY or --key\n");
        return EX_USAGE_;
    }
    if (!now) now = (int64_t)time(NULL);

    rb_store *st = open_store("notify", db);
    if (!st) return store_exit();
    rb_error err = {{0}};
    int rc = EX_OK_;

    if (show_failed) {
        printf("id,email,status,bounce_type,attempts,queued_at,last_error\n");
        if (rb_outbox_each(st, url, "failed", print_failed, stdout, &err) != RB_OK) {
            fprintf(stderr, "rebound notify: %s\n", err.msg);
            rc = EX_TEMPFAIL_;
        }
        rb_store_close(st);
        return rc;
    }
    rb_outbox_filter flt = {url, statuses, nst, btypes, nbt};
    if (dry) {
        rc = dry_run(st, &flt, now, limit, quiet);
        rb_store_close(st);
        return rc;
    }
    if (strncasecmp(url, "https://", 8) && !loopback_host(url))
        fprintf(stderr, "rebound notify: warning: %s is plain HTTP: the key crosses the network unencrypted\n",
                shown);

    run r;
    memset(&r, 0, sizeof r);
    r.st = st;
    r.url = url;
    r.now = now;
    r.max_attempts = max_attempts;
    r.verbose = verbose;
    int64_t retried_back = 0;
    if (retry_failed && rb_outbox_retry_failed(st, url, now, &retried_back, &err) != RB_OK) goto store_fail;
    if (rb_outbox_enqueue(st, &flt, now, &r.enqueued, &r.superseded, &err) != RB_OK) goto store_fail;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "rebound notify: libcurl cannot start\n");
        rb_store_close(st);
        return EX_SOFTWARE_;
    }
    http h;
    memset(&h, 0, sizeof h);
    r.h = &h;
    rb_outbox_item *items = malloc(RB_OUTBOX_CLAIM_MAX * sizeof *items);
    int64_t *ids = malloc(PAGE * sizeof *ids), *dues = malloc(PAGE * sizeof *dues);
    r.detail = malloc(RB_TEXT_MAX);
    if (!items || !ids || !dues || !r.detail || http_init(&h, url, key, timeout) < 0) {
        fprintf(stderr, "rebound notify: out of memory\n");
        free(items);
        free(ids);
        free(dues);
        free(r.detail);
        http_free(&h);
        curl_global_cleanup();
        rb_store_close(st);
        return EX_SOFTWARE_;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;          /* a server that hangs up is an error to report, not a death */
    sigaction(SIGPIPE, &sa, NULL);

    /* A claim outlives the slowest run through its rows; a run that dies
     * leaves them to the next run after that. */
    double per = timeout + (timeout < 10 ? timeout : 10);
    r.lease_until = now + (int64_t)(RB_OUTBOX_CLAIM_MAX * per) + 60;
    double t0 = now_seconds();
    int64_t after_due = 0, after_id = 0;
    progress prog;
    progress_init(&prog, quiet ? 0 : opt_shared.progress_every, "rows");
    while (!r.stop && !r.store_failed && !stop_signal && (size_t)r.tried < limit) {
        /* a page of due ids, then claim and post them a group at a time */
        size_t want = limit - (size_t)r.tried, np = 0;
        if (want > PAGE) want = PAGE;
        if (rb_outbox_due_ids(st, url, now, after_due, after_id, want, ids, dues, &np, &r.err) != RB_OK) {
            r.store_failed = 1;
            break;
        }
        if (!np) break;
        after_due = dues[np - 1];
        after_id = ids[np - 1];
        for (size_t k = 0; k < np && !r.stop && !r.store_failed && !stop_signal; k += RB_OUTBOX_CLAIM_MAX) {
            size_t nk = np - k < RB_OUTBOX_CLAIM_MAX ? np - k : RB_OUTBOX_CLAIM_MAX, got = 0;
            if (rb_outbox_claim(st, ids + k, nk, now, r.lease_until, items, &got, &r.err) != RB_OK) {
                r.store_failed = 1;
                break;
            }
            deliver(&r, items, got);
            progress_update(&prog, (unsigned long)r.tried, 0, 0);
        }
    }
    double el = now_seconds() - t0;
    progress_finish(&prog, (unsigned long)r.tried);
    http_free(&h);
    memset(key, 0, sizeof key);
    curl_global_cleanup();
    free(items);
    free(ids);
    free(dues);
    free(r.detail);
    if (r.store_failed) {
        err = r.err;
        goto store_fail;
    }

    rb_outbox_stats os;
    if (rb_outbox_get_stats(st, url, now, &os, &err) != RB_OK) goto store_fail;
    if (!quiet) {
        printf("target:        %s\n", shown);
        if (retry_failed) printf("failed rows put back: %lld\n", (long long)retried_back);
        printf("enqueued:      %lld\n", (long long)r.enqueued);
        printf("superseded:    %lld\n", (long long)r.superseded);
        printf("sent:          %lld", (long long)r.sent);
        if (r.sent && el > 0) printf(" (%.2f s, %.0f/s)", el, (double)r.sent / el);
        printf("\nretried later: %lld\n", (long long)r.retried);
        printf("failed:        %lld\n", (long long)r.failed);
        printf("left:          %lld (%lld due now, %lld due later)\n", (long long)(os.pending_due + os.pending_later),
               (long long)os.pending_due, (long long)os.pending_later);
        printf("failed total:  %lld%s\n", (long long)os.failed,
               os.failed ? " (--show-failed lists them, --retry-failed sends them again)" : "");
    }
    if (stop_signal) {
        fprintf(stderr, "rebound notify: interrupted; what was sent is recorded, the rest is left for the next run\n");
        rc = EX_TEMPFAIL_;
    } else if (r.rc == EX_CONFIG_) {
        fprintf(stderr, "rebound notify: stopped: %s from %s (check --url and the key); nothing was lost, the rows stay pending\n", r.why, shown);
        rc = EX_CONFIG_;
    } else if (r.rc) {
        fprintf(stderr, "rebound notify: stopped: %s\n", r.why);
        rc = r.rc;
    } else if (r.stop) {
        fprintf(stderr, "rebound notify: stopped early: %s; the rest is left for the next run\n", r.why);
        rc = EX_TEMPFAIL_;
    } else if (r.failed || r.retried) {
        rc = EX_FAIL;
    }
    rb_store_close(st);
    return rc;

store_fail:
    fprintf(stderr, "rebound notify: %s\n", err.msg);
    fprintf(stderr, "rebound notify: stopped: the store failed; what was recorded as sent stays so, the rest "
                    "is sent by the next run\n");
    rb_store_close(st);
    return EX_TEMPFAIL_;
}
