/* fuzz_maillog.c -- libFuzzer target for the Postfix log reader.
 *
 * The first input byte picks the reference time of the clock (so that the
 * year inference runs on both sides of New Year) and whether a --since
 * applies; the rest is split into lines.  Each line, copied into a buffer
 * of exactly its size (a read past it is an ASan report, not a read into
 * the next line), goes through rb_logline_parse and rb_maillog_feed with
 * a real rb_ctx, and through rb_maillog_load_open as if it were a state
 * line.  Besides memory errors the target aborts when a promise breaks:
 * the parts of a parsed line lie inside it; every record's strings are
 * valid UTF-8 and its JSONL line is a JSON object jansson reads; the open
 * queue IDs saved and loaded again save the same lines. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <jansson.h>

#include "rebound.h"
#include "rebound_maillog.h"

static rb_ctx *ctx;
static rb_buf out;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    rb_error err;
    rb_ctx_opts o = {.datadir = getenv("REBOUND_DATADIR")};
    if (rb_ctx_new(&o, &ctx, &err) != RB_OK) {
        fprintf(stderr, "fuzz_maillog: %s (set REBOUND_DATADIR)\n", err.msg);
        abort();
    }
    rb_buf_init(&out);
    return 0;
}

static int on_rec(void *arg, const rb_logrec *r)
{
    (void)arg;
    for (size_t i = 0; i < rb_record_nfields(); i++)
        if (!g_utf8_validate(rb_record_get(&r->rec, i), -1, NULL)) abort();
    for (size_t i = 0; i < rb_logrec_nfields(); i++)
        if (!g_utf8_validate(rb_logrec_get(r, i), -1, NULL)) abort();
    out.len = 0;
    if (rb_logrec_to_jsonl(r, &out) != 0) abort();
    json_error_t je;
    json_t *j = json_loadb(out.buf, out.len, 0, &je);
    if (!j || !json_is_object(j)) abort();
    json_decref(j);
    out.len = 0;
    if (rb_logrec_to_csv(r, &out) != 0) abort();
    return 0;
}

static void check_line(const char *b, size_t len, const rb_logline *ll)
{
    const char *end = b + len;
    if (ll->host < b || ll->host + ll->hostlen > end) abort();
    if (ll->prog < b || ll->prog + ll->proglen > end) abort();
    if (ll->agent < ll->prog || ll->agent + ll->agentlen > ll->prog + ll->proglen) abort();
    if (ll->msg < b || ll->msg + ll->msglen > end) abort();
    if (ll->qid && (ll->qid < b || ll->qid + ll->qidlen > end || ll->qidlen >= RB_QID_MAX)) abort();
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The saved lines, sorted, as one string (hash order may differ). */
static char *saved_sorted(const rb_maillog *m)
{
    rb_buf b;
    rb_buf_init(&b);
    rb_error err;
    if (rb_maillog_save_open(m, &b, 0, 0, &err) != RB_OK) abort();
    if (rb_buf_append(&b, "", 1)) abort();
    size_t n = 0;
    for (char *p = b.buf; *p; p++) n += *p == '\n';
    char **v = malloc((n + 1) * sizeof *v);
    size_t k = 0;
    for (char *p = b.buf; *p && k < n;) {
        char *nl = strchr(p, '\n');
        if (!nl) abort();        /* every saved entry is a whole line */
        *nl = '\0';
        v[k++] = p;
        p = nl + 1;
    }
    qsort(v, k, sizeof *v, cmp_str);
    rb_buf s;
    rb_buf_init(&s);
    for (size_t i = 0; i < k; i++) {
        rb_buf_puts(&s, v[i]);
        rb_buf_puts(&s, "\n");
    }
    rb_buf_append(&s, "", 1);
    free(v);
    rb_buf_free(&b);
    return s.buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    static const int64_t refs[] = {1795478400,   /* 2026-11-24 */
                                   1798761600,   /* 2027-01-01 */
                                   1798848000,   /* 2027-01-02 */
                                   0};
    int64_t ref = refs[data[0] & 3];
    rb_maillog_opts o = {(data[0] & 4) ? 1795392000 : 0};   /* since 2026-11-23 */
    static const char *const ours[] = {"example.org"}, *const senders[] = {"bounces+*@lists.example.org", "@news.example.org"};
    if (data[0] & 8) {         /* the compromised-account check */
        o.our_domains = ours;
        o.n_our_domains = 1;
        o.mailing_senders = senders;
        o.n_mailing_senders = (data[0] & 16) ? 2 : 0;
    }
    data++;
    size--;

    rb_maillog *m;
    rb_error err;
    if (rb_maillog_new(ctx, &o, &m, &err) != RB_OK) abort();
    rb_logclock c;
    rb_logclock_init(&c, ref);
    uint64_t lineno = 0;
    size_t b = 0;
    while (b < size) {
        const uint8_t *nl = memchr(data + b, '\n', size - b);
        size_t e = nl ? (size_t)(nl - data) : size;
        size_t len = e - b;
        char *line = malloc(len ? len : 1);
        if (!line) abort();
        memcpy(line, data + b, len);
        rb_logline ll;
        if (rb_logline_parse(&c, line, len, &ll) == 1) check_line(line, len, &ll);
        rb_maillog_feed(m, &c, line, len, "fuzz.log", ++lineno, on_rec, NULL);
        free(line);
        b = e + 1;
    }
    const rb_maillog_stats *s = rb_maillog_get_stats(m);
    if (s->lines != lineno || s->postfix_lines > s->lines || s->attempts < s->by_status[0]) abort();

    /* what is saved loads back and saves the same */
    rb_maillog *m2;
    if (rb_maillog_new(ctx, NULL, &m2, &err) != RB_OK) abort();
    char *a = saved_sorted(m);
    rb_buf tmp;
    rb_buf_init(&tmp);
    if (rb_maillog_save_open(m, &tmp, 0, 0, &err) != RB_OK) abort();
    if (rb_buf_append(&tmp, "", 1)) abort();
    for (char *p = tmp.buf; *p;) {
        char *nl = strchr(p, '\n');
        *nl = '\0';
        if (rb_maillog_load_open(m2, p, &err) != RB_OK) abort();
        p = nl + 1;
    }
    rb_buf_free(&tmp);
    char *a2 = saved_sorted(m2);
    if (strcmp(a, a2) != 0) abort();
    if (rb_maillog_open_count(m2) != rb_maillog_open_count(m)) abort();
    free(a);
    free(a2);

    /* every line read as a state line: no crash, and it saves */
    for (b = 0; b < size;) {
        const uint8_t *nl = memchr(data + b, '\n', size - b);
        size_t e = nl ? (size_t)(nl - data) : size;
        char *line = malloc(e - b + 1);
        if (!line) abort();
        memcpy(line, data + b, e - b);
        line[e - b] = '\0';
        rb_maillog_load_open(m2, line, &err);
        free(line);
        b = e + 1;
    }
    free(saved_sorted(m2));
    rb_maillog_free(m2);
    rb_maillog_free(m);
    return 0;
}
