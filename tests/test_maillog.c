/* test_maillog.c -- the Postfix log reader: line parsing (timestamps and
 * their year, program names, queue IDs), queue-ID correlation and the
 * attempt records (every agent and status, classification, providers),
 * the open queue IDs kept across runs, and the log files themselves
 * (partial last lines, rotation names, gzip, fingerprints, over-long
 * lines, junk, the state file and the order of a rotated set).
 *
 * Runs with TZ=UTC (set in main) so that syslog times are UTC; one test
 * switches to a European zone on purpose. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <glib.h>
#include <jansson.h>
#include <cmocka.h>

#include "rb_internal.h"
#include "rebound_maillog.h"

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/rebound-test-maillog.XXXXXX", t && *t ? t : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- helpers ------------------------------------------------------------------------- */
static rb_ctx *ctx(void)
{
    static rb_ctx *c;
    if (!c) {
        rb_error err = {{0}};
        rb_ctx_opts o = {.datadir = getenv("REBOUND_DATADIR")};
        if (rb_ctx_new(&o, &c, &err) != RB_OK) fail_msg("cannot load data files: %s", err.msg);
    }
    return c;
}

static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return (int64_t)timegm(&tm);
}

static char *path_of(const char *name)
{
    static char paths[8][512];
    static int slot;
    char *p = paths[slot++ % 8];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

static const char *write_file(const char *name, const void *data, size_t n, const char *mode)
{
    const char *p = path_of(name);
    FILE *f = fopen(p, mode);
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    return p;
}

static const char *write_gz(const char *name, const void *data, size_t n)
{
    const char *p = path_of(name);
    gzFile g = gzopen(p, "wb6");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, data, (unsigned)n), (int)n);
    assert_int_equal(gzclose(g), Z_OK);
    return p;
}

/* Records collected from the callback (copies). */
typedef struct {
    rb_logrec *v;
    size_t n, cap;
} recs;

static int collect(void *arg, const rb_logrec *r)
{
    recs *rs = arg;
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 16;
        rs->v = realloc(rs->v, rs->cap * sizeof *rs->v);
        assert_non_null(rs->v);
    }
    rs->v[rs->n++] = *r;
    return 0;
}

static void recs_free(recs *rs)
{
    free(rs->v);
    memset(rs, 0, sizeof *rs);
}

static rb_maillog *new_ml(int64_t since)
{
    rb_maillog *m = NULL;
    rb_error err = {{0}};
    rb_maillog_opts o = {.since = since};
    assert_int_equal(rb_maillog_new(ctx(), &o, &m, &err), RB_OK);
    return m;
}

/* Feed a multi-line text, line numbers from 1. */
static void feed_text(rb_maillog *m, rb_logclock *c, const char *text, const char *src, recs *out)
{
    uint64_t ln = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        assert_int_equal(rb_maillog_feed(m, c, p, len, src, ++ln, collect, out), 0);
        p += len + (nl ? 1 : 0);
    }
}

/* Read a whole sample from tests/maillog/. */
static char *read_sample(const char *name, size_t *len)
{
    const char *src = getenv("REBOUND_SRCDIR");
    char p[1024];
    snprintf(p, sizeof p, "%s/tests/maillog/%s", src ? src : "..", name);
    FILE *f = fopen(p, "rb");
    if (!f) fail_msg("cannot open %s (set REBOUND_SRCDIR)", p);
    char *buf = NULL;
    size_t cap = 0, n = 0, k;
    do {
        if (n + 4096 >= cap) { cap = cap ? cap * 2 : 65536; buf = realloc(buf, cap); assert_non_null(buf); }
        k = fread(buf + n, 1, cap - n - 1, f);
        n += k;
    } while (k);
    fclose(f);
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

static const rb_logrec *find_rec(const recs *rs, const char *dstatus, const char *rcpt)
{
    for (size_t i = 0; i < rs->n; i++)
        if ((!dstatus || !strcmp(rs->v[i].delivery_status, dstatus)) && !strcmp(rs->v[i].rec.recipient, rcpt))
            return &rs->v[i];
    return NULL;
}

static size_t count_rec(const recs *rs, const char *dstatus, const char *rcpt)
{
    size_t n = 0;
    for (size_t i = 0; i < rs->n; i++)
        if ((!dstatus || !strcmp(rs->v[i].delivery_status, dstatus)) && (!rcpt || !strcmp(rs->v[i].rec.recipient, rcpt)))
            n++;
    return n;
}

/* Every string of a record is valid UTF-8 and its JSONL line parses. */
static void assert_rec_clean(const rb_logrec *r)
{
    for (size_t i = 0; i < rb_record_nfields(); i++) {
        const char *v = rb_record_get(&r->rec, i);
        if (!g_utf8_validate(v, -1, NULL)) fail_msg("record field %s is not valid UTF-8", rb_record_fields[i]);
    }
    for (size_t i = 0; i < rb_logrec_nfields(); i++) {
        const char *v = rb_logrec_get(r, i);
        if (!g_utf8_validate(v, -1, NULL)) fail_msg("record field %s is not valid UTF-8", rb_logrec_fields[i]);
    }
    rb_buf b;
    rb_buf_init(&b);
    assert_int_equal(rb_logrec_to_jsonl(r, &b), 0);
    json_error_t je;
    json_t *j = json_loadb(b.buf, b.len, 0, &je);
    if (!j) fail_msg("JSONL line does not parse: %s: %.200s", je.text, b.buf);
    assert_true(json_is_object(j));
    assert_string_equal(json_string_value(json_object_get(j, "queue_id")), r->queue_id);
    json_decref(j);
    rb_buf_free(&b);
}

static rb_logline parse_ok(rb_logclock *c, const char *line)
{
    rb_logline ll;
    if (rb_logline_parse(c, line, strlen(line), &ll) != 1) fail_msg("not parsed as Postfix: %s", line);
    return ll;
}

#define assert_span(ptr, len, lit)                                                                               \
    do {                                                                                                         \
        assert_int_equal((len), strlen(lit));                                                                    \
        assert_memory_equal((ptr), (lit), strlen(lit));                                                          \
    } while (0)

/* ---- rb_logline_parse -------------------------------------------------------------- */
static void test_parse_syslog(void **state)
{
    (void)state;
    rb_logclock c;
    rb_logclock_init(&c, utc(2026, 11, 24, 0, 0, 0));
    rb_logline ll = parse_ok(&c, "Nov 23 06:25:01 mx1 postfix/smtp[12400]: 4F1A22C0123: to=<alice@example.com>, "
                                 "relay=mx.example.com[192.0.2.10]:25, dsn=2.0.0, status=sent (250 ok)");
    assert_int_equal(ll.t, utc(2026, 11, 23, 6, 25, 1));
    assert_span(ll.host, ll.hostlen, "mx1");
    assert_span(ll.prog, ll.proglen, "postfix/smtp");
    assert_span(ll.agent, ll.agentlen, "smtp");
    assert_span(ll.qid, ll.qidlen, "4F1A22C0123");
    assert_true(ll.msglen > 4 && !memcmp(ll.msg, "to=<alice@example.com>", 22));
    assert_int_equal(ll.msg + ll.msglen - ll.msg, strlen(ll.msg));

    /* space-padded day; no pid */
    ll = parse_ok(&c, "Nov  3 07:08:09 mx1 postfix/qmgr: 9A0B1C2D3E4: removed");
    assert_int_equal(ll.t, utc(2026, 11, 3, 7, 8, 9));
    assert_span(ll.agent, ll.agentlen, "qmgr");
    assert_span(ll.msg, ll.msglen, "removed");
    /* fractional seconds some syslogs add */
    ll = parse_ok(&c, "Nov 23 06:25:01.512 mx1 postfix/qmgr[1]: 9A0B1C2D3E4: removed");
    assert_int_equal(ll.t, utc(2026, 11, 23, 6, 25, 1));
    /* same hour, cached: still right */
    ll = parse_ok(&c, "Nov 23 06:59:59 mx1 postfix/qmgr[1]: 9A0B1C2D3E4: removed");
    assert_int_equal(ll.t, utc(2026, 11, 23, 6, 59, 59));
    ll = parse_ok(&c, "Nov 23 07:00:00 mx1 postfix/qmgr[1]: 9A0B1C2D3E4: removed");
    assert_int_equal(ll.t, utc(2026, 11, 23, 7, 0, 0));

    /* not a timestamp */
    rb_logline x;
    const char *bad[] = {
        "Foo 23 06:25:01 mx1 postfix/qmgr[1]: 9A0B1C2D3E4: removed",
        "Nov 32 06:25:01 mx1 postfix/qmgr[1]: 9A0B1C2D3E4: removed",
        "Nov 23 24:25:01 mx1 postfix/qmgr[1]: 9A0B1C2D3E4: removed",
        "Nov 23 06:61:01 mx1 postfix/qmgr[1]: 9A0B1C2D3E4: removed",
        "Nov 23 06:25:0x mx1 postfix/qmgr[1]: 9A0B1C2D3E4: removed",
        "Nov 23 06:25:01mx1 postfix/qmgr[1]: 9A0B1C2D3E4: removed",
        "2026-13-23T06:25:01Z mx1 postfix/qmgr[1]: 9A0B1C2D3E4: removed",
        "2026-11-23T06:25:01+0x:00 mx1 postfix/qmgr[1]: 9A0B1C2D3E4: removed",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (rb_logline_parse(&c, bad[i], strlen(bad[i]), &x) != 0) fail_msg("parsed: %s", bad[i]);
}

static void test_parse_year_inference(void **state)
{
    (void)state;
    rb_logclock c;
    /* December lines read in January are last year's */
    rb_logclock_init(&c, utc(2027, 1, 2, 8, 0, 0));
    rb_logline ll = parse_ok(&c, "Dec 31 23:59:58 mx1 postfix/qmgr[1]: 9A0B1C2D3E4: removed");
    assert_int_equal(ll.t, utc(2026, 12, 31, 23, 59, 58));
    ll = parse_ok(&c, "Jan  1 00:00:01 mx1 postfix/qmgr[1]: 9A0B1C2D3E4: removed");
    assert_int_equal(ll.t, utc(2027, 1, 1, 0, 0, 1));
    ll = parse_ok(&c, "Jan  2 07:59:00 mx1 postfix/qmgr[1]: 9A0B1C2D3E4: removed");
    assert_int_equal(ll.t, utc(2027, 1, 2, 7, 59, 0));

    /* a file spanning Dec 31 -> Jan 1, read on Jan 1 just after midnight:
     * every line at or before the reference time, in order */
    rb_logclock_init(&c, utc(2027, 1, 1, 0, 10, 0));
    const char *lines[] = {
        "Dec 30 12:00:00 mx1 postfix/qmgr[1]: 9A0B1C2D3E4: removed",
        "Dec 31 23:00:00 mx1 postfix/qmgr[1]: 9A0B1C2D3E4: removed",
        "Dec 31 23:59:59 mx1 postfix/qmgr[1]: 9A0B1C2D3E4: removed",
        "Jan  1 00:00:00 mx1 postfix/qmgr[1]: 9A0B1C2D3E4: removed",
        "Jan  1 00:09:59 mx1 postfix/qmgr[1]: 9A0B1C2D3E4: removed",
    };
    int64_t want[] = {utc(2026, 12, 30, 12, 0, 0), utc(2026, 12, 31, 23, 0, 0), utc(2026, 12, 31, 23, 59, 59),
                      utc(2027, 1, 1, 0, 0, 0), utc(2027, 1, 1, 0, 9, 59)};
    for (size_t i = 0; i < 5; i++) {
        ll = parse_ok(&c, lines[i]);
        if (ll.t != want[i]) fail_msg("%s: got %lld, want %lld", lines[i], (long long)ll.t, (long long)want[i]);
    }
    /* a line in the reference year but after it (beyond a day's slack) is last year's */
    rb_logclock_init(&c, utc(2026, 11, 24, 0, 0, 0));
    ll = parse_ok(&c, "Nov 24 22:00:00 mx1 postfix/qmgr[1]: 9A0B1C2D3E4: removed");
    assert_int_equal(ll.t, utc(2026, 11, 24, 22, 0, 0));    /* within the slack */
    ll = parse_ok(&c, "Dec  5 10:00:00 mx1 postfix/qmgr[1]: 9A0B1C2D3E4: removed");
    assert_int_equal(ll.t, utc(2025, 12, 5, 10, 0, 0));
    /* Feb 29 in a leap year */
    rb_logclock_init(&c, utc(2028, 3, 1, 0, 0, 0));
    ll = parse_ok(&c, "Feb 29 12:00:00 mx1 postfix/qmgr[1]: 9A0B1C2D3E4: removed");
    assert_int_equal(ll.t, utc(2028, 2, 29, 12, 0, 0));
}

static void test_parse_local_zone(void **state)
{
    (void)state;
    /* syslog times are local: Central European time, no tzdata needed */
    setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
    tzset();
    rb_logclock c;
    rb_logclock_init(&c, utc(2026, 11, 24, 0, 0, 0));
    rb_logline ll = parse_ok(&c, "Nov 23 06:25:01 mx1 postfix/qmgr[1]: 9A0B1C2D3E4: removed");
    int64_t winter = ll.t;
    ll = parse_ok(&c, "Jul 23 06:25:01 mx1 postfix/qmgr[1]: 9A0B1C2D3E4: removed");
    int64_t summer = ll.t;
    /* ISO times with no zone are local too */
    ll = parse_ok(&c, "2026-11-23T06:25:01 mx1 postfix/qmgr[1]: 9A0B1C2D3E4: removed");
    int64_t iso_local = ll.t;
    setenv("TZ", "UTC", 1);
    tzset();
    assert_int_equal(winter, utc(2026, 11, 23, 5, 25, 1));
    assert_int_equal(summer, utc(2026, 7, 23, 4, 25, 1));
    assert_int_equal(iso_local, utc(2026, 11, 23, 5, 25, 1));
}

static void test_parse_iso(void **state)
{
    (void)state;
    rb_logclock c;
    rb_logclock_init(&c, utc(2026, 11, 24, 0, 0, 0));
    /* RFC 3339, high precision rsyslog */
    rb_logline ll = parse_ok(&c, "2026-11-23T06:25:01.123456+01:00 mx1 postfix/smtp[12400]: 4F1A22C0123: to=<a@b.c>");
    assert_int_equal(ll.t, utc(2026, 11, 23, 5, 25, 1));
    assert_span(ll.host, ll.hostlen, "mx1");
    assert_span(ll.qid, ll.qidlen, "4F1A22C0123");
    ll = parse_ok(&c, "2026-11-23T06:25:01Z mx1 postfix/smtp[12400]: 4F1A22C0123: to=<a@b.c>");
    assert_int_equal(ll.t, utc(2026, 11, 23, 6, 25, 1));
    ll = parse_ok(&c, "2026-11-23T06:25:01.5-05:00 mx1 postfix/smtp[12400]: 4F1A22C0123: to=<a@b.c>");
    assert_int_equal(ll.t, utc(2026, 11, 23, 11, 25, 1));
    /* journalctl -o short-iso, -o short-iso-precise */
    ll = parse_ok(&c, "2026-11-23T06:25:01+0100 mx1 postfix/smtp[12400]: 4F1A22C0123: to=<a@b.c>");
    assert_int_equal(ll.t, utc(2026, 11, 23, 5, 25, 1));
    ll = parse_ok(&c, "2026-11-23T06:25:01.987654+0100 mx1 postfix/smtp[12400]: 4F1A22C0123: to=<a@b.c>");
    assert_int_equal(ll.t, utc(2026, 11, 23, 5, 25, 1));
    /* the year of an ISO time is never inferred */
    ll = parse_ok(&c, "2019-02-28T23:59:59+00:00 mx1 postfix/qmgr[1]: 4F1A22C0123: removed");
    assert_int_equal(ll.t, utc(2019, 2, 28, 23, 59, 59));
    /* journalctl's "-- Boot ..." markers and its no-entries line */
    rb_logline x;
    const char *j1 = "-- Boot 3d1f2a7c9e8b4a0f8c2d1e3f4a5b6c7d --";
    const char *j2 = "-- No entries --";
    assert_int_equal(rb_logline_parse(&c, j1, strlen(j1), &x), 0);
    assert_int_equal(rb_logline_parse(&c, j2, strlen(j2), &x), 0);
}

static void test_parse_programs(void **state)
{
    (void)state;
    rb_logclock c;
    rb_logclock_init(&c, utc(2026, 11, 24, 0, 0, 0));
    /* multi-instance and per-service syslog names */
    rb_logline ll = parse_ok(&c, "Nov 23 06:25:01 out1 postfix-out/smtp[777]: 4F1A22C0123: to=<a@b.c>, status=sent");
    assert_span(ll.prog, ll.proglen, "postfix-out/smtp");
    assert_span(ll.agent, ll.agentlen, "smtp");
    ll = parse_ok(&c, "Nov 23 06:25:01 mx1 postfix/submission/smtpd[778]: 4F1A22C0123: client=laptop[192.0.2.77], "
                      "sasl_method=PLAIN, sasl_username=alice");
    assert_span(ll.prog, ll.proglen, "postfix/submission/smtpd");
    assert_span(ll.agent, ll.agentlen, "smtpd");
    assert_span(ll.qid, ll.qidlen, "4F1A22C0123");
    assert_int_equal(ll.instlen, strlen("postfix"));
    /* names of every length around the parser's 16- and 32-byte blocks, a
     * long pid, no pid */
    for (size_t n = 1; n <= 70; n++) {
        char inst[80], line[256];
        memset(inst, 'x', n);
        inst[n] = '\0';
        for (int form = 0; form < 3; form++) {
            snprintf(line, sizeof line, "Nov 23 06:25:01 mx1 %s/sub/qmgr%s 4F1A22C0123: removed", inst,
                     form == 0 ? "[1]:" : form == 1 ? "[123456789012345678901234]:" : ":");
            ll = parse_ok(&c, line);
            assert_int_equal(ll.proglen, n + 9);
            assert_int_equal(ll.instlen, n);
            assert_span(ll.agent, ll.agentlen, "qmgr");
            assert_span(ll.qid, ll.qidlen, "4F1A22C0123");
        }
    }

    /* every agent of the issue */
    const char *agents[] = {"smtp", "lmtp", "local", "virtual", "pipe", "error", "retry", "bounce", "qmgr",
                            "cleanup", "pickup", "smtpd", "postscreen", "discard", "defer", "trace", "nqmgr",
                            "oqmgr", "dnsblog", "tlsproxy", "anvil", "scache", "verify", "master", "postdrop",
                            "sendmail", "postsuper", "postqueue", "showq", "flush", "tlsmgr", "proxymap",
                            "proxywrite", "spawn", "postlogd", "postmap", "postfix-script", "postfix", "submission",
                            "smtps", "relay"};
    for (size_t i = 0; i < sizeof agents / sizeof agents[0]; i++) {
        char line[256];
        snprintf(line, sizeof line, "Nov 23 06:25:01 mx1 postfix/%s[4242]: 4F1A22C0123: something", agents[i]);
        ll = parse_ok(&c, line);
        assert_span(ll.agent, ll.agentlen, agents[i]);
        assert_span(ll.qid, ll.qidlen, "4F1A22C0123");
        snprintf(line, sizeof line, "Nov 23 06:25:01 mx1 postfix-out/%s[4242]: 4F1A22C0123: something", agents[i]);
        ll = parse_ok(&c, line);
        assert_span(ll.agent, ll.agentlen, agents[i]);
    }
    /* not Postfix: other daemons, unknown agents, no slash */
    const char *other[] = {
        "Nov 23 06:26:00 mx1 dovecot: imap-login: Login: user=<bob>, method=PLAIN, rip=192.0.2.50, lip=192.0.2.1",
        "Nov 23 06:26:00 mx1 dovecot[901]: lmtp(bob)<4444><Kx2bIqD0>: msgid=<a@b>: saved mail to INBOX",
        "Nov 23 06:26:01 mx1 CRON[5555]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)",
        "Nov 23 06:26:01 mx1 opendkim[700]: 4F1A22C0123: DKIM-Signature field added (s=mail, d=example.org)",
        "Nov 23 06:26:01 mx1 postfix/frobnicate[1]: 4F1A22C0123: to=<a@b.c>, status=sent",
        "Nov 23 06:26:01 mx1 postfix/smt[1]: 4F1A22C0123: to=<a@b.c>, status=sent",
        "Nov 23 06:26:01 mx1 postfix/smtpx[1]: 4F1A22C0123: to=<a@b.c>, status=sent",
        "Nov 23 06:26:01 mx1 postfix/[1]: 4F1A22C0123: to=<a@b.c>, status=sent",
        "Nov 23 06:26:01 mx1 postfix/smtp[12a]: 4F1A22C0123: to=<a@b.c>, status=sent",
        "Nov 23 06:26:01 mx1 postfix/smtp[1234567890123456789]x 4F1A22C0123: to=<a@b.c>, status=sent",
        "Nov 23 06:26:01 mx1 amavis[3131]: (03131-01) Passed CLEAN {RelayedInbound}, <a@b> -> <c@d>",
        "Nov 23 06:26:01 mx1 kernel: [12345.678] eth0: link up",
    };
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        rb_logline x;
        if (rb_logline_parse(&c, other[i], strlen(other[i]), &x) != 0) fail_msg("parsed as Postfix: %s", other[i]);
    }
}

static void test_parse_queue_ids(void **state)
{
    (void)state;
    rb_logclock c;
    rb_logclock_init(&c, utc(2026, 11, 24, 0, 0, 0));
    /* long queue IDs (enable_long_queue_ids = yes) */
    rb_logline ll = parse_ok(&c, "Nov 23 06:25:01 mx1 postfix/cleanup[1]: 4Xk3Fz1QbNz9sT2: message-id=<x@y>");
    assert_span(ll.qid, ll.qidlen, "4Xk3Fz1QbNz9sT2");
    assert_span(ll.msg, ll.msglen, "message-id=<x@y>");
    ll = parse_ok(&c, "Nov 23 06:25:01 mx1 postfix/qmgr[1]: 3zWbqt1Lc0z1xnj: removed");
    assert_span(ll.qid, ll.qidlen, "3zWbqt1Lc0z1xnj");
    /* short hex */
    ll = parse_ok(&c, "Nov 23 06:25:01 mx1 postfix/qmgr[1]: 7B3C12C0456: removed");
    assert_span(ll.qid, ll.qidlen, "7B3C12C0456");
    /* NOQUEUE, warnings, statistics: no queue ID, still Postfix lines */
    const char *noq[] = {
        "Nov 23 06:25:12 mx1 postfix/smtpd[2002]: NOQUEUE: reject: RCPT from unknown[198.51.100.7]: 554 5.7.1 "
        "<spam@example.org>: Relay access denied; from=<x@spammer.example> to=<spam@example.org> proto=ESMTP "
        "helo=<spammer.example>",
        "Nov 23 06:25:12 mx1 postfix/smtpd[2002]: warning: hostname 7.100.51.198.in-addr.example does not resolve to "
        "address 198.51.100.7: Name or service not known",
        "Nov 23 06:25:12 mx1 postfix/postscreen[1990]: PASS OLD [209.85.208.41]:45678",
        "Nov 23 06:25:12 mx1 postfix/postscreen[1990]: CONNECT from [209.85.208.41]:45678 to [192.0.2.1]:25",
        "Nov 23 06:25:12 mx1 postfix/smtpd[2001]: connect from mail-ed1-f41.google.com[209.85.208.41]",
        "Nov 23 06:25:12 mx1 postfix/smtp[2001]: warning: TLS library problem: error:0A000126:SSL routines::"
        "unexpected eof while reading:../ssl/record/rec_layer_s3.c:308:",
        "Nov 23 06:25:12 mx1 postfix/anvil[1]: statistics: max connection rate 1/60s for (smtp:192.0.2.9) at Nov 23 "
        "06:20:00",
        "Nov 23 06:25:12 mx1 postfix/smtpd[2001]: SSL_accept error from unknown[198.51.100.7]: lost connection",
    };
    for (size_t i = 0; i < sizeof noq / sizeof noq[0]; i++) {
        ll = parse_ok(&c, noq[i]);
        if (ll.qid || ll.qidlen) fail_msg("a queue ID in: %s", noq[i]);
    }
    ll = parse_ok(&c, noq[1]);
    assert_true(ll.msglen > 8 && !memcmp(ll.msg, "warning:", 8));
}

/* Every prefix of real lines, each in a buffer of exactly its size (ASan
 * catches a read past it): no crash, and what is returned lies inside. */
static void check_prefixes(rb_maillog *m, const char *line)
{
    size_t full = strlen(line);
    recs rs = {0};
    for (size_t len = 0; len <= full; len++) {
        char *b = malloc(len ? len : 1);
        assert_non_null(b);
        memcpy(b, line, len);
        rb_logclock c;
        rb_logclock_init(&c, utc(2026, 11, 24, 0, 0, 0));
        rb_logline ll;
        if (rb_logline_parse(&c, b, len, &ll)) {
            const char *end = b + len;
            assert_true(ll.host >= b && ll.host + ll.hostlen <= end);
            assert_true(ll.prog >= b && ll.prog + ll.proglen <= end);
            assert_true(ll.agent >= b && ll.agent + ll.agentlen <= end);
            assert_true(ll.msg >= b && ll.msg + ll.msglen <= end);
            if (ll.qid) assert_true(ll.qid >= b && ll.qid + ll.qidlen <= end);
        }
        rb_maillog_feed(m, &c, b, len, "prefix", len, collect, &rs);
        free(b);
    }
    for (size_t i = 0; i < rs.n; i++) assert_rec_clean(&rs.v[i]);
    recs_free(&rs);
}

static void test_parse_truncated(void **state)
{
    (void)state;
    rb_maillog *m = new_ml(0);
    const char *lines[] = {
        "Nov 23 06:27:31 mx1 postfix/smtp[12401]: 9A0B1C2D3E4: to=<peter.dufaux@contoso.com>, "
        "orig_to=<peter@contoso.com>, relay=contoso-com.mail.protection.outlook.com[52.101.68.1]:25, delay=1.4, "
        "delays=0.1/0/0.6/0.7, dsn=5.1.10, status=bounced (host contoso-com.mail.protection.outlook.com[52.101.68.1] "
        "said: 550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup (in reply to "
        "RCPT TO command))",
        "2026-11-23T06:25:01.123456+01:00 mx1 postfix-out/qmgr[1100]: 1A2B3C4D5E6: from=<bounces+henry=example.net@"
        "lists.example.org>, status=expired, returned to sender",
        "2026-11-23T06:25:01+0100 mx1 postfix/cleanup[12346]: 4Xk3Fz1QbNz9sT2: message-id=<news-1@lists.example.org>",
        "Nov  3 06:25:01 mx1 postfix/qmgr[1100]: 4F1A22C0123: from=<\"odd>local\"@example.org>, size=2345, nrcpt=1",
        "Nov 23 06:25:12 mx1 postfix/smtpd[2002]: NOQUEUE: reject: RCPT from unknown[198.51.100.7]: 554 5.7.1",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) check_prefixes(m, lines[i]);
    rb_maillog_free(m);
}

/* ---- rb_maillog_feed: correlation and records ----------------------------------------- */
static void test_feed_sample(void **state)
{
    (void)state;
    size_t len;
    char *text = read_sample("mail.log", &len);
    rb_maillog *m = new_ml(0);
    rb_logclock c;
    rb_logclock_init(&c, utc(2026, 11, 24, 0, 0, 0));
    recs rs = {0};
    feed_text(m, &c, text, "mail.log", &rs);
    const rb_maillog_stats *st = rb_maillog_get_stats(m);
    /* 83 lines, two not from Postfix (dovecot, CRON) */
    assert_int_equal(st->lines, 83);
    assert_int_equal(st->postfix_lines, 81);
    assert_int_equal(st->by_status[0], 8);
    assert_int_equal(st->by_status[1], 5);
    assert_int_equal(st->by_status[2], 3);
    assert_int_equal(st->by_status[3], 1);
    assert_int_equal(st->by_status[4], 1);
    assert_int_equal(st->attempts, 18);
    assert_int_equal(rs.n, 18);
    /* the deferred gmail message and the bounce notification of the
     * expired one are still in the queue */
    assert_int_equal(rb_maillog_open_count(m), 2);

    /* a send: Message-ID (cleanup), sender (qmgr), relay, reply */
    const rb_logrec *r = find_rec(&rs, "sent", "alice@example.com");
    assert_non_null(r);
    assert_string_equal(r->queue_id, "4F1A22C0123");
    assert_string_equal(r->rec.original_message_id, "20261123062501.4F1A22C0123@mx1.example.org");
    assert_string_equal(r->rec.addresser, "bounces+alice=example.com@lists.example.org");
    assert_string_equal(r->relay, "mx.example.com[192.0.2.10]:25");
    assert_string_equal(r->rec.remote_mta, "mx.example.com");
    assert_string_equal(r->rec.reporting_mta, "mx1");
    assert_string_equal(r->delay, "1.2");
    assert_string_equal(r->delays, "0.05/0.01/0.6/0.54");
    assert_string_equal(r->rec.status, "2.0.0");
    assert_string_equal(r->rec.reply_code, "250");
    assert_string_equal(r->rec.diagnostic, "250 2.0.0 Ok: queued as 8C2D41A0044");
    assert_string_equal(r->rec.reason, "delivered");
    assert_string_equal(r->rec.dsn_action, "delivered");
    assert_string_equal(r->rec.action, "ignore");
    assert_string_equal(r->rec.source, "mail.log:5");
    assert_string_equal(r->rec.date, "2026-11-23T06:25:02Z");
    assert_string_equal(r->rec.decoded_by, "maillog");
    assert_string_equal(r->instance, "postfix");
    assert_string_equal(r->agent, "smtp");
    assert_int_equal(r->t, utc(2026, 11, 23, 6, 25, 2));

    /* local: the record's recipient is orig_to, `to` keeps to= */
    r = find_rec(&rs, "sent", "postmaster@example.org");
    assert_non_null(r);
    assert_string_equal(r->to, "root@mx1.example.org");
    assert_string_equal(r->agent, "local");
    assert_string_equal(r->relay, "local");
    assert_string_equal(r->rec.addresser, "someone@gmail.com");
    assert_string_equal(r->rec.original_message_id, "CAF=x9Z+abc123@mail.gmail.com");
    /* virtual, lmtp, pipe */
    r = find_rec(&rs, "sent", "bounces@lists.example.org");
    assert_non_null(r);
    assert_string_equal(r->agent, "virtual");
    assert_string_equal(r->rec.addresser, "");
    r = find_rec(&rs, "sent", "carol@example.org");
    assert_non_null(r);
    assert_string_equal(r->agent, "lmtp");
    assert_string_equal(r->relay, "mail.example.org[private/dovecot-lmtp]");
    assert_string_equal(r->rec.remote_mta, "mail.example.org");
    r = find_rec(&rs, "sent", "archive@lists.example.org");
    assert_non_null(r);
    assert_string_equal(r->agent, "pipe");
    assert_string_equal(r->rec.remote_mta, "mlmmj");
    assert_string_equal(r->rec.diagnostic, "delivered via mlmmj service");

    /* Microsoft: accepted with 250 2.6.0 "Queued mail for delivery" */
    r = find_rec(&rs, "sent", "jack@contoso.com");
    assert_non_null(r);
    assert_string_equal(r->rec.provider, "business_microsoft");
    assert_string_equal(r->rec.status, "2.6.0");
    assert_non_null(strstr(r->rec.diagnostic, "Queued mail for delivery"));
    assert_string_equal(r->rec.original_message_id, "news-2026-11-23.B1C2D3E4F50@lists.example.org");
    r = find_rec(&rs, "sent", "kim@hotmail.com");
    assert_non_null(r);
    assert_string_equal(r->rec.provider, "consumer_microsoft");

    /* bounced: unknown user at Microsoft, RCPT */
    r = find_rec(&rs, "bounced", "peter.dufaux@contoso.com");
    assert_non_null(r);
    assert_string_equal(r->rec.reason, "userunknown");
    assert_string_equal(r->rec.bounce_type, "hard");
    assert_string_equal(r->rec.action, "disable");
    assert_string_equal(r->rec.status, "5.1.10");
    assert_string_equal(r->rec.reply_code, "550");
    assert_string_equal(r->rec.smtp_command, "RCPT");
    assert_string_equal(r->rec.dsn_action, "failed");
    assert_string_equal(r->rec.provider, "business_microsoft");
    assert_string_equal(r->rec.original_message_id, "news-2026-11-23.9A0B1C2D3E4@lists.example.org");
    assert_string_equal(r->rec.addresser, "bounces+peter.dufaux=contoso.com@lists.example.org");
    /* bounced: spam at Yahoo, after DATA */
    r = find_rec(&rs, "bounced", "frank@yahoo.com");
    assert_non_null(r);
    assert_string_equal(r->rec.bounce_type, "blocked");
    assert_string_equal(r->rec.reply_code, "554");
    assert_string_equal(r->rec.smtp_command, "DATA");
    assert_string_equal(r->rec.provider, "yahoo");
    assert_string_not_equal(r->rec.action, "disable");
    /* bounced: no such domain, relay=none */
    r = find_rec(&rs, "bounced", "grace@no-such-domain.example");
    assert_non_null(r);
    assert_string_equal(r->rec.reason, "hostunknown");
    assert_string_equal(r->rec.bounce_type, "hard");
    assert_string_equal(r->relay, "none");
    assert_string_equal(r->rec.remote_mta, "");
    assert_string_equal(r->rec.status, "5.4.4");
    /* deferred: mailbox full at Google, never counted */
    r = find_rec(&rs, "deferred", "ivy@gmail.com");
    assert_non_null(r);
    assert_string_equal(r->rec.provider, "google");
    assert_string_equal(r->rec.dsn_action, "delayed");
    assert_string_equal(r->rec.reply_code, "452");
    assert_string_equal(r->rec.smtp_command, "RCPT");
    /* deferred by smtp, error and retry: henry twice then expired, hal delivered */
    assert_int_equal(count_rec(&rs, "deferred", "henry@example.net"), 2);
    assert_int_equal(count_rec(&rs, "deferred", "hal@example.net"), 2);
    assert_int_equal(count_rec(&rs, "expired", "henry@example.net"), 1);
    assert_int_equal(count_rec(&rs, "expired", "hal@example.net"), 0);
    assert_int_equal(count_rec(&rs, "sent", "hal@example.net"), 1);
    int error_seen = 0, retry_seen = 0;
    for (size_t i = 0; i < rs.n; i++) {
        error_seen |= !strcmp(rs.v[i].agent, "error");
        retry_seen |= !strcmp(rs.v[i].agent, "retry");
    }
    assert_true(error_seen && retry_seen);
    r = find_rec(&rs, "expired", "henry@example.net");
    assert_string_equal(r->rec.reason, "expired");
    assert_string_equal(r->rec.dsn_action, "failed");
    assert_string_equal(r->rec.source, "mail.log:65");
    assert_string_equal(r->queue_id, "1A2B3C4D5E6");
    assert_string_equal(r->rec.status, "4.4.1");
    assert_non_null(strstr(r->rec.diagnostic, "Connection timed out"));
    assert_string_equal(r->rec.original_message_id, "news-2026-11-23.1A2B3C4D5E6@lists.example.org");
    /* undeliverable: an address verification probe */
    r = find_rec(&rs, "undeliverable", "nobody@example.net");
    assert_non_null(r);
    assert_string_equal(r->rec.reason, "userunknown");
    assert_string_equal(r->rec.dsn_action, "failed");
    assert_string_equal(r->rec.addresser, "double-bounce@mx1.example.org");
    /* status=deliverable (a probe's success) is no attempt */
    assert_null(find_rec(&rs, NULL, "somebody@example.net"));

    for (size_t i = 0; i < rs.n; i++) assert_rec_clean(&rs.v[i]);
    recs_free(&rs);
    rb_maillog_free(m);
    free(text);
}

/* A deferral is recorded, never counted: whatever the remote said. */
static void test_feed_deferred_never_counted(void **state)
{
    (void)state;
    const char *texts[] = {
        "dsn=4.4.1, status=deferred (connect to mx.example.net[198.51.100.20]:25: Connection timed out)",
        "dsn=4.4.1, status=deferred (connect to mx.example.net[198.51.100.20]:25: Connection refused)",
        "dsn=4.1.1, status=deferred (host mx.example.net[198.51.100.20] said: 550 5.1.1 <x@example.net>: "
        "Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command))",
        "dsn=4.7.1, status=deferred (host mx.example.net[198.51.100.20] said: 554 5.7.1 Service unavailable; "
        "Client host [192.0.2.1] blocked using zen.spamhaus.org (in reply to RCPT TO command))",
        "dsn=4.2.2, status=deferred (host mx.example.net[198.51.100.20] said: 452 4.2.2 Mailbox full "
        "(in reply to RCPT TO command))",
        "dsn=4.7.0, status=deferred (host mx.example.net[198.51.100.20] said: 421 4.7.0 [TSS04] Messages from "
        "192.0.2.1 temporarily deferred due to unexpected volume or user complaints (in reply to MAIL FROM command))",
        "dsn=4.4.3, status=deferred (Host or domain name not found. Name service error for name=example.net "
        "type=MX: Host not found, try again)",
        "dsn=4.3.0, status=deferred (mail transport unavailable)",
        "dsn=4.0.0, status=deferred (delivery temporarily suspended: lost connection with "
        "mx.example.net[198.51.100.20] while receiving the initial server greeting)",
    };
    rb_maillog *m = new_ml(0);
    rb_logclock c;
    rb_logclock_init(&c, utc(2026, 11, 24, 0, 0, 0));
    recs rs = {0};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char line[1024];
        snprintf(line, sizeof line, "Nov 23 06:32:30 mx1 postfix/smtp[12407]: 1A2B3C4D5E%zu: to=<x@example.net>, "
                 "relay=mx.example.net[198.51.100.20]:25, delay=30, delays=0.1/0/30/0, %s", i, texts[i]);
        size_t before = rs.n;
        assert_int_equal(rb_maillog_feed(m, &c, line, strlen(line), "t", i + 1, collect, &rs), 0);
        assert_int_equal(rs.n, before + 1);
        const rb_logrec *r = &rs.v[rs.n - 1];
        assert_string_equal(r->delivery_status, "deferred");
        assert_string_equal(r->rec.dsn_action, "delayed");
        if (!strcmp(r->rec.bounce_type, "hard") || !strcmp(r->rec.action, "disable") ||
            !strcmp(r->rec.action, "count"))
            fail_msg("deferral %zu: reason %s, type %s, action %s", i, r->rec.reason, r->rec.bounce_type,
                     r->rec.action);
        assert_rec_clean(r);
    }
    recs_free(&rs);
    rb_maillog_free(m);
}

static void test_feed_status_classes(void **state)
{
    (void)state;
    /* bounced -> userunknown / blocked / hostunknown; expired on the
     * recipient line itself */
    const char *text =
        "Nov 23 08:00:00 mx1 postfix/smtp[1]: 5B6C7D8E9F0: to=<ghost@example.net>, relay=mx.example.net[198.51.100.20]"
        ":25, delay=0.4, delays=0.1/0/0.2/0.1, dsn=5.1.1, status=bounced (host mx.example.net[198.51.100.20] said: "
        "550 5.1.1 <ghost@example.net>: Recipient address rejected: User unknown in local recipient table (in reply "
        "to RCPT TO command))\n"
        "Nov 23 08:00:01 mx1 postfix/smtp[1]: 5B6C7D8E9F1: to=<ann@example.org>, relay=mx.example.org[198.51.100.30]"
        ":25, delay=0.9, delays=0.1/0/0.3/0.5, dsn=5.7.1, status=bounced (host mx.example.org[198.51.100.30] said: "
        "554 5.7.1 Message rejected as spam by Content Filtering (in reply to end of DATA command))\n"
        "Nov 23 08:00:02 mx1 postfix/smtp[1]: 5B6C7D8E9F2: to=<zed@nowhere.invalid>, relay=none, delay=0.01, "
        "delays=0/0/0.01/0, dsn=5.4.4, status=bounced (Host or domain name not found. Name service error for "
        "name=nowhere.invalid type=A: Host not found)\n"
        "Nov 23 08:00:03 mx1 postfix/error[2]: 5B6C7D8E9F3: to=<old@example.com>, relay=none, delay=432001, "
        "delays=432000/1/0/0, dsn=4.4.7, status=expired, returned to sender (connect to "
        "mx.example.com[192.0.2.10]:25: Connection timed out)\n"
        "Nov 23 08:00:04 mx1 postfix/smtp[1]: 5B6C7D8E9F4: to=<a.b@example.com>, relay=mx.example.com[192.0.2.10]:25, "
        "conn_use=3, delay=0.2, delays=0/0/0/0.2, dsn=5.2.2, status=bounced (host mx.example.com[192.0.2.10] said: "
        "552 5.2.2 Mailbox full (in reply to RCPT TO command))\n";
    rb_maillog *m = new_ml(0);
    rb_logclock c;
    rb_logclock_init(&c, utc(2026, 11, 24, 0, 0, 0));
    recs rs = {0};
    feed_text(m, &c, text, "t.log", &rs);
    assert_int_equal(rs.n, 5);
    const rb_logrec *r = find_rec(&rs, "bounced", "ghost@example.net");
    assert_non_null(r);
    assert_string_equal(r->rec.reason, "userunknown");
    assert_string_equal(r->rec.bounce_type, "hard");
    assert_string_equal(r->rec.action, "disable");
    assert_string_equal(r->rec.smtp_command, "RCPT");
    r = find_rec(&rs, "bounced", "ann@example.org");
    assert_non_null(r);
    assert_string_equal(r->rec.bounce_type, "blocked");
    assert_string_equal(r->rec.smtp_command, "DATA");
    r = find_rec(&rs, "bounced", "zed@nowhere.invalid");
    assert_non_null(r);
    assert_string_equal(r->rec.reason, "hostunknown");
    assert_string_equal(r->rec.action, "disable");
    r = find_rec(&rs, "expired", "old@example.com");
    assert_non_null(r);
    assert_string_equal(r->rec.reason, "expired");
    assert_string_equal(r->rec.status, "4.4.7");
    assert_string_equal(r->rec.dsn_action, "failed");
    assert_string_equal(r->rec.diagnostic, "connect to mx.example.com[192.0.2.10]:25: Connection timed out");
    r = find_rec(&rs, "bounced", "a.b@example.com");
    assert_non_null(r);
    assert_string_equal(r->delay, "0.2");
    assert_string_equal(r->rec.reason, "mailboxfull");
    assert_string_equal(r->rec.reply_code, "552");
    recs_free(&rs);
    rb_maillog_free(m);
}

static void test_feed_expiry(void **state)
{
    (void)state;
    /* three recipients deferred; one delivered later, one bounced later:
     * only the one still deferred is reported by the qmgr expiry, once */
    const char *text =
        "Nov 20 10:00:00 mx1 postfix/cleanup[1]: 6A7B8C9D0E1: message-id=<m1@lists.example.org>\n"
        "Nov 20 10:00:00 mx1 postfix/qmgr[2]: 6A7B8C9D0E1: from=<bounces+u1=example.net@lists.example.org>, size=100, "
        "nrcpt=3 (queue active)\n"
        "Nov 20 10:00:30 mx1 postfix/smtp[3]: 6A7B8C9D0E1: to=<u1@example.net>, relay=none, delay=30, "
        "delays=0/0/30/0, dsn=4.4.1, status=deferred (connect to mx.example.net[198.51.100.20]:25: Connection "
        "timed out)\n"
        "Nov 20 10:00:30 mx1 postfix/smtp[3]: 6A7B8C9D0E1: to=<u2@example.net>, relay=none, delay=30, "
        "delays=0/0/30/0, dsn=4.4.1, status=deferred (connect to mx.example.net[198.51.100.20]:25: Connection "
        "timed out)\n"
        "Nov 20 10:00:30 mx1 postfix/smtp[3]: 6A7B8C9D0E1: to=<u3@example.net>, relay=none, delay=30, "
        "delays=0/0/30/0, dsn=4.4.1, status=deferred (connect to mx.example.net[198.51.100.20]:25: Connection "
        "timed out)\n"
        "Nov 21 10:00:00 mx1 postfix/smtp[3]: 6A7B8C9D0E1: to=<u2@example.net>, relay=mx.example.net"
        "[198.51.100.20]:25, delay=86400, delays=86399/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok)\n"
        "Nov 21 10:00:00 mx1 postfix/smtp[3]: 6A7B8C9D0E1: to=<u3@example.net>, relay=mx.example.net"
        "[198.51.100.20]:25, delay=86400, delays=86399/0/0.5/0.5, dsn=5.1.1, status=bounced (host mx.example.net"
        "[198.51.100.20] said: 550 5.1.1 User unknown (in reply to RCPT TO command))\n"
        "Nov 21 11:00:00 mx1 postfix/smtp[3]: 6A7B8C9D0E1: to=<u1@example.net>, relay=mx.example.net"
        "[198.51.100.20]:25, delay=90000, delays=89999/0/0.5/0.5, dsn=4.2.1, status=deferred (host mx.example.net"
        "[198.51.100.20] said: 450 4.2.1 Mailbox busy (in reply to RCPT TO command))\n"
        "Nov 25 10:00:00 mx1 postfix/qmgr[2]: 6A7B8C9D0E1: from=<bounces+u1=example.net@lists.example.org>, "
        "status=expired, returned to sender\n"
        "Nov 25 10:00:00 mx1 postfix/bounce[4]: 6A7B8C9D0E1: sender non-delivery notification: 7B8C9D0E1F2\n"
        "Nov 25 10:00:00 mx1 postfix/qmgr[2]: 6A7B8C9D0E1: removed\n";
    rb_maillog *m = new_ml(0);
    rb_logclock c;
    rb_logclock_init(&c, utc(2026, 11, 26, 0, 0, 0));
    recs rs = {0};
    feed_text(m, &c, text, "t.log", &rs);
    assert_int_equal(count_rec(&rs, "expired", NULL), 1);
    const rb_logrec *r = find_rec(&rs, "expired", "u1@example.net");
    assert_non_null(r);
    /* the last attempt's details */
    assert_string_equal(r->rec.status, "4.2.1");
    assert_non_null(strstr(r->rec.diagnostic, "Mailbox busy"));
    assert_string_equal(r->rec.remote_mta, "mx.example.net");
    assert_string_equal(r->rec.original_message_id, "m1@lists.example.org");
    assert_string_equal(r->rec.addresser, "bounces+u1=example.net@lists.example.org");
    assert_string_equal(r->rec.source, "t.log:9");
    assert_string_equal(r->rec.date, "2026-11-25T10:00:00Z");
    assert_string_equal(r->rec.reason, "expired");
    assert_string_equal(r->rec.dsn_action, "failed");
    assert_string_equal(r->queue_id, "6A7B8C9D0E1");
    assert_string_equal(r->instance, "postfix");
    assert_int_equal(rb_maillog_open_count(m), 0);    /* "removed" freed it */
    /* a second expiry line (a log given twice in one run) reports nothing new */
    const char *again = "Nov 25 10:00:00 mx1 postfix/qmgr[2]: 6A7B8C9D0E1: from=<bounces+u1=example.net@"
                        "lists.example.org>, status=expired, returned to sender";
    size_t before = rs.n;
    rb_maillog_feed(m, &c, again, strlen(again), "t.log", 12, collect, &rs);
    assert_int_equal(rs.n, before);
    recs_free(&rs);
    rb_maillog_free(m);
}

static void test_feed_verp_and_orig_to(void **state)
{
    (void)state;
    const char *text =
        "Nov 23 09:00:00 mx1 postfix/qmgr[2]: 8C9D0E1F2A3: from=<bounces+jo=example.com@lists.example.org>, "
        "size=100, nrcpt=1 (queue active)\n"
        /* to= differs from the VERP recipient (an alias on the way): to= wins */
        "Nov 23 09:00:01 mx1 postfix/smtp[3]: 8C9D0E1F2A3: to=<jo.smith@example.com>, relay=mx.example.com"
        "[192.0.2.10]:25, delay=1, delays=0/0/0.5/0.5, dsn=5.1.1, status=bounced (host mx.example.com[192.0.2.10] "
        "said: 550 5.1.1 No such user (in reply to RCPT TO command))\n"
        /* orig_to given: it is the recipient, to= is kept apart */
        "Nov 23 09:00:02 mx1 postfix/smtp[3]: 8C9D0E1F2A3: to=<jo@mail.example.com>, orig_to=<jo@example.com>, "
        "relay=mx.example.com[192.0.2.10]:25, delay=1, delays=0/0/0.5/0.5, dsn=5.1.1, status=bounced (host "
        "mx.example.com[192.0.2.10] said: 550 5.1.1 No such user (in reply to RCPT TO command))\n"
        /* an empty to=<>: the recipient comes from the VERP sender */
        "Nov 23 09:00:03 mx1 postfix/smtp[3]: 8C9D0E1F2A3: to=<>, relay=mx.example.com[192.0.2.10]:25, delay=1, "
        "delays=0/0/0.5/0.5, dsn=5.1.1, status=bounced (host mx.example.com[192.0.2.10] said: 550 5.1.1 No such "
        "user (in reply to RCPT TO command))\n";
    rb_maillog *m = new_ml(0);
    rb_logclock c;
    rb_logclock_init(&c, utc(2026, 11, 24, 0, 0, 0));
    recs rs = {0};
    feed_text(m, &c, text, "t.log", &rs);
    assert_int_equal(rs.n, 3);
    assert_string_equal(rs.v[0].rec.recipient, "jo.smith@example.com");
    assert_string_equal(rs.v[0].to, "jo.smith@example.com");
    assert_string_equal(rs.v[0].rec.addresser, "bounces+jo=example.com@lists.example.org");
    assert_string_equal(rs.v[1].rec.recipient, "jo@example.com");
    assert_string_equal(rs.v[1].to, "jo@mail.example.com");
    assert_string_equal(rs.v[2].rec.recipient, "jo@example.com");
    assert_string_equal(rs.v[2].to, "");
    recs_free(&rs);
    rb_maillog_free(m);
}

static void test_feed_instances_apart(void **state)
{
    (void)state;
    /* the same queue ID in two instances is two messages */
    const char *text =
        "Nov 23 09:00:00 mx1 postfix/cleanup[1]: 4Xk3Fz1QbNz9sT2: message-id=<in@example.org>\n"
        "Nov 23 09:00:00 mx1 postfix-out/cleanup[1]: 4Xk3Fz1QbNz9sT2: message-id=<out@example.org>\n"
        "Nov 23 09:00:00 mx1 postfix-out/qmgr[1]: 4Xk3Fz1QbNz9sT2: from=<news@example.org>, size=1, nrcpt=1\n"
        "Nov 23 09:00:01 mx1 postfix-out/smtp[3]: 4Xk3Fz1QbNz9sT2: to=<r@example.com>, relay=mx.example.com"
        "[192.0.2.10]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok)\n"
        "Nov 23 09:00:01 mx1 postfix/submission/smtpd[9]: 4Xk3Fz1QbNz9sT2: client=laptop[192.0.2.77]\n"
        "Nov 23 09:00:01 mx1 postfix/smtp[3]: 4Xk3Fz1QbNz9sT2: to=<s@example.com>, relay=mx.example.com"
        "[192.0.2.10]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok)\n";
    rb_maillog *m = new_ml(0);
    rb_logclock c;
    rb_logclock_init(&c, utc(2026, 11, 24, 0, 0, 0));
    recs rs = {0};
    feed_text(m, &c, text, "t.log", &rs);
    assert_int_equal(rs.n, 2);
    assert_string_equal(rs.v[0].instance, "postfix-out");
    assert_string_equal(rs.v[0].queue_id, "4Xk3Fz1QbNz9sT2");
    assert_string_equal(rs.v[0].rec.original_message_id, "out@example.org");
    assert_string_equal(rs.v[0].rec.addresser, "news@example.org");
    assert_string_equal(rs.v[1].instance, "postfix");
    assert_string_equal(rs.v[1].rec.original_message_id, "in@example.org");
    assert_string_equal(rs.v[1].rec.addresser, "");
    recs_free(&rs);
    rb_maillog_free(m);
}

static void test_feed_providers(void **state)
{
    (void)state;
    struct { const char *relay, *rcpt, *want; } cases[] = {
        {"contoso-com.mail.protection.outlook.com[52.101.68.1]:25", "a@contoso.com", "business_microsoft"},
        {"hotmail-com.olc.protection.outlook.com[52.101.40.1]:25", "b@hotmail.com", "consumer_microsoft"},
        {"outlook-com.olc.protection.outlook.com[52.101.40.2]:25", "b@outlook.com", "consumer_microsoft"},
        {"gmail-smtp-in.l.google.com[142.250.102.27]:25", "c@gmail.com", "google"},
        {"alt1.gmail-smtp-in.l.google.com[142.250.153.26]:25", "c@example-gsuite.com", "google"},
        {"mta7.am0.yahoodns.net[67.195.204.72]:25", "d@yahoo.com", "yahoo"},
        {"mx01.mail.icloud.com[17.57.154.33]:25", "e@icloud.com", "apple"},
        {"mx.example.com[192.0.2.10]:25", "f@example.com", ""},
    };
    rb_maillog *m = new_ml(0);
    rb_logclock c;
    rb_logclock_init(&c, utc(2026, 11, 24, 0, 0, 0));
    recs rs = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char line[1024];
        snprintf(line, sizeof line, "Nov 23 09:00:01 mx1 postfix/smtp[3]: 8C9D0E1F2B%zu: to=<%s>, relay=%s, "
                 "delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 OK)", i, cases[i].rcpt,
                 cases[i].relay);
        rb_maillog_feed(m, &c, line, strlen(line), "t", i + 1, collect, &rs);
        assert_int_equal(rs.n, i + 1);
        if (strcmp(rs.v[i].rec.provider, cases[i].want))
            fail_msg("%s: provider '%s', want '%s'", cases[i].relay, rs.v[i].rec.provider, cases[i].want);
    }
    recs_free(&rs);
    rb_maillog_free(m);
}

static void test_feed_since(void **state)
{
    (void)state;
    const char *text =
        "Nov 22 23:59:59 mx1 postfix/smtp[1]: 1B2C3D4E5F6: to=<early@example.com>, relay=none, delay=0, "
        "delays=0/0/0/0, dsn=5.4.4, status=bounced (Host or domain name not found. Name service error for "
        "name=example.com type=A: Host not found)\n"
        "Nov 23 00:00:00 mx1 postfix/smtp[1]: 1B2C3D4E5F7: to=<ontime@example.com>, relay=none, delay=0, "
        "delays=0/0/0/0, dsn=5.4.4, status=bounced (Host or domain name not found. Name service error for "
        "name=example.com type=A: Host not found)\n";
    rb_maillog *m = new_ml(utc(2026, 11, 23, 0, 0, 0));
    rb_logclock c;
    rb_logclock_init(&c, utc(2026, 11, 24, 0, 0, 0));
    recs rs = {0};
    feed_text(m, &c, text, "t.log", &rs);
    assert_int_equal(rs.n, 1);
    assert_string_equal(rs.v[0].rec.recipient, "ontime@example.com");
    /* still counted in the statistics */
    assert_int_equal(rb_maillog_get_stats(m)->by_status[2], 2);
    recs_free(&rs);
    rb_maillog_free(m);
}

static int stop_cb(void *arg, const rb_logrec *r)
{
    (void)r;
    (*(int *)arg)++;
    return 7;
}

static void test_feed_callback_stops(void **state)
{
    (void)state;
    const char *line = "Nov 23 00:00:00 mx1 postfix/smtp[1]: 1B2C3D4E5F7: to=<x@example.com>, relay=none, delay=0, "
                       "delays=0/0/0/0, dsn=2.0.0, status=sent (250 ok)";
    rb_maillog *m = new_ml(0);
    rb_logclock c;
    rb_logclock_init(&c, utc(2026, 11, 24, 0, 0, 0));
    int calls = 0;
    assert_int_equal(rb_maillog_feed(m, &c, line, strlen(line), "t", 1, stop_cb, &calls), 7);
    assert_int_equal(calls, 1);
    /* no callback: counted only */
    assert_int_equal(rb_maillog_feed(m, &c, line, strlen(line), "t", 2, NULL, NULL), 0);
    assert_int_equal(rb_maillog_get_stats(m)->attempts, 2);
    rb_maillog_free(m);
}

static void test_feed_memory_bounded(void **state)
{
    (void)state;
    rb_maillog *m = new_ml(0);
    rb_logclock c;
    rb_logclock_init(&c, utc(2026, 11, 24, 0, 0, 0));
    char line[512];
    uint64_t ln = 0;
    for (unsigned i = 0; i < 200000; i++) {
        int n = snprintf(line, sizeof line, "Nov 23 06:%02u:%02u mx1 postfix/cleanup[1]: %08X%03X: "
                         "message-id=<%u@lists.example.org>", (i / 60) % 60, i % 60, i, i & 0xfff, i);
        rb_maillog_feed(m, &c, line, (size_t)n, "big", ++ln, NULL, NULL);
        n = snprintf(line, sizeof line, "Nov 23 06:%02u:%02u mx1 postfix/qmgr[2]: %08X%03X: from=<bounces+u%u="
                     "example.com@lists.example.org>, size=100, nrcpt=1 (queue active)", (i / 60) % 60, i % 60, i,
                     i & 0xfff, i);
        rb_maillog_feed(m, &c, line, (size_t)n, "big", ++ln, NULL, NULL);
        n = snprintf(line, sizeof line, "Nov 23 06:%02u:%02u mx1 postfix/smtp[3]: %08X%03X: to=<u%u@example.com>, "
                     "relay=none, delay=30, delays=0/0/30/0, dsn=4.4.1, status=deferred (connect to "
                     "mx.example.com[192.0.2.10]:25: Connection timed out)", (i / 60) % 60, i % 60, i, i & 0xfff, i);
        rb_maillog_feed(m, &c, line, (size_t)n, "big", ++ln, NULL, NULL);
        /* a few at a time in the queue */
        if (i >= 10) {
            unsigned k = i - 10;
            n = snprintf(line, sizeof line, "Nov 23 06:%02u:%02u mx1 postfix/qmgr[2]: %08X%03X: removed",
                         (k / 60) % 60, k % 60, k, k & 0xfff);
            rb_maillog_feed(m, &c, line, (size_t)n, "big", ++ln, NULL, NULL);
        }
    }
    assert_true(rb_maillog_open_count(m) == 10);
    for (unsigned k = 200000 - 10; k < 200000; k++) {
        int n = snprintf(line, sizeof line, "Nov 23 06:%02u:%02u mx1 postfix/qmgr[2]: %08X%03X: removed",
                         (k / 60) % 60, k % 60, k, k & 0xfff);
        rb_maillog_feed(m, &c, line, (size_t)n, "big", ++ln, NULL, NULL);
    }
    assert_int_equal(rb_maillog_open_count(m), 0);
    const rb_maillog_stats *st = rb_maillog_get_stats(m);
    assert_true(st->open_max >= 10 && st->open_max <= 12);
    assert_int_equal(st->by_status[1], 200000);
    rb_buf b;
    rb_buf_init(&b);
    rb_error err;
    assert_int_equal(rb_maillog_save_open(m, &b, utc(2026, 11, 24, 0, 0, 0), 0, &err), RB_OK);
    assert_int_equal(b.len, 0);
    rb_buf_free(&b);
    rb_maillog_free(m);
}

static void test_feed_long_and_junk(void **state)
{
    (void)state;
    rb_maillog *m = new_ml(0);
    rb_logclock c;
    rb_logclock_init(&c, utc(2026, 11, 24, 0, 0, 0));
    recs rs = {0};
    /* a 1 MB line: skipped and counted */
    size_t big = 1 << 20;
    char *b = malloc(big);
    assert_non_null(b);
    const char *head = "Nov 23 06:25:01 mx1 postfix/smtp[1]: 4F1A22C0123: to=<a@example.com>, relay=none, "
                       "dsn=5.0.0, status=bounced (";
    memset(b, 'x', big);
    memcpy(b, head, strlen(head));
    assert_int_equal(rb_maillog_feed(m, &c, b, big, "t", 1, collect, &rs), 0);
    assert_int_equal(rs.n, 0);
    assert_int_equal(rb_maillog_get_stats(m)->skipped_long, 1);
    /* just at the limit: read */
    memcpy(b + RB_LOGLINE_MAX - 1, ")", 1);
    assert_int_equal(rb_maillog_feed(m, &c, b, RB_LOGLINE_MAX, "t", 2, collect, &rs), 0);
    assert_int_equal(rs.n, 1);
    assert_int_equal(rb_maillog_get_stats(m)->skipped_long, 1);
    assert_rec_clean(&rs.v[0]);
    assert_true(strlen(rs.v[0].rec.diagnostic) < RB_TEXT_MAX);
    free(b);

    /* junk inside real lines: NULs, invalid UTF-8, control characters,
     * in every field we copy (addresses, message-id, sender, relay, text) */
    static const char junk[] = "\xff\xfe\xc3\x28\xe2\x82\x01\x7f\x1b[31m\t\r\xf0\x9f\x92\xa9\xed\xa0\x80\x00";
    const size_t jl = sizeof junk - 1;
    const char *tmpl[] = {
        "Nov 23 06:25:01 mx1 postfix/cleanup[1]: 9D8E7F6A5B4: message-id=<J@lists.example.org>",
        "Nov 23 06:25:01 mx1 postfix/qmgr[1]: 9D8E7F6A5B4: from=<bounces+J=example.com@lists.example.org>, size=1",
        "Nov 23 06:25:02 mx1 postfix/smtp[1]: 9D8E7F6A5B4: to=<uJ@example.com>, orig_to=<oJ@example.com>, "
        "relay=mxJ.example.com[192.0.2.10]:25, delay=J, delays=J/0/0/0, dsn=5.1.1, status=bounced (host "
        "mx.example.com said: 550 5.1.1 userJ unknown (in reply to RCPT TO command))",
        "Nov 23 06:25:03 mx1 postfix/smtp[1]: 9D8E7F6A5B4: to=<dJ@example.com>, relay=mxJ.example.com[192.0.2.10]"
        ":25, delay=J, delays=J, dsn=4.4.1, status=deferred (J connect to mx: Connection timed out J)",
        "Nov 23 06:25:04 mJx1 postfix/qmgr[1]: 9D8E7F6A5B4: from=<bounces+J=example.com@lists.example.org>, "
        "status=expired, returned to sender",
    };
    for (size_t i = 0; i < sizeof tmpl / sizeof tmpl[0]; i++) {
        char line[2048];
        size_t o = 0;
        for (const char *p = tmpl[i]; *p; p++) {
            if (*p == 'J') { memcpy(line + o, junk, jl); o += jl; }
            else line[o++] = *p;
        }
        rb_maillog_feed(m, &c, line, o, "junk", 10 + i, collect, &rs);
    }
    /* pure binary */
    unsigned char noise[4096];
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < sizeof noise; i++) { x ^= x << 13; x ^= x >> 17; x ^= x << 5; noise[i] = (unsigned char)x; }
    for (size_t off = 0; off + 300 < sizeof noise; off += 97)
        rb_maillog_feed(m, &c, (const char *)noise + off, 300, "junk", 100 + off, collect, &rs);
    assert_true(rs.n >= 3);
    assert_int_equal(count_rec(&rs, "expired", NULL), 1);
    for (size_t i = 0; i < rs.n; i++) assert_rec_clean(&rs.v[i]);
    recs_free(&rs);
    rb_maillog_free(m);
}

/* ---- open queue IDs across runs --------------------------------------------------------- */
static void reload(rb_maillog *from, rb_maillog *to, int64_t now, int64_t max_age, size_t *nlines)
{
    rb_buf b;
    rb_buf_init(&b);
    rb_error err = {{0}};
    assert_int_equal(rb_maillog_save_open(from, &b, now, max_age, &err), RB_OK);
    assert_int_equal(rb_buf_append(&b, "", 1), 0);
    size_t n = 0;
    for (char *p = b.buf; *p;) {
        char *nl = strchr(p, '\n');
        assert_non_null(nl);
        *nl = '\0';
        if (rb_maillog_load_open(to, p, &err) != RB_OK) fail_msg("load_open: %s: %s", p, err.msg);
        n++;
        p = nl + 1;
    }
    if (nlines) *nlines = n;
    rb_buf_free(&b);
}

/* A bounce notice (the null sender): not mail we sent, whatever becomes of
 * it -- alert backscatter, recorded only; also when its queue ID is carried
 * over a run in the state file.  Our own send's bounce has no alert. */
static void test_null_sender_backscatter(void **state)
{
    (void)state;
    const char *run1 =
        "Nov 24 15:00:00 mx1 postfix/cleanup[1]: 6B2C3D4E5F6: message-id=<20261124150000.6B2C3D4E5F6@mx1.example."
        "org>\n"
        "Nov 24 15:00:00 mx1 postfix/qmgr[2]: 6B2C3D4E5F6: from=<>, size=4000, nrcpt=1 (queue active)\n"
        "Nov 24 15:00:01 mx1 postfix/smtp[3]: 6B2C3D4E5F6: to=<dora@example.net>, relay=mx.example.net[192.0.2.20]:25, "
        "delay=1, delays=0.1/0/0.4/0.5, dsn=4.4.1, status=deferred (connect to mx.example.net[192.0.2.20]:25: "
        "Connection timed out)\n"
        "Nov 24 15:00:02 mx1 postfix/cleanup[1]: 7C3D4E5F6A7: message-id=<n-1@lists.example.org>\n"
        "Nov 24 15:00:02 mx1 postfix/qmgr[2]: 7C3D4E5F6A7: from=<bounces@lists.example.org>, size=4000, nrcpt=1 "
        "(queue active)\n"
        "Nov 24 15:00:03 mx1 postfix/smtp[3]: 7C3D4E5F6A7: to=<fay@example.net>, relay=mx.example.net[192.0.2.20]:25, "
        "delay=1, delays=0.1/0/0.4/0.5, dsn=5.1.1, status=bounced (host mx.example.net[192.0.2.20] said: 550 5.1.1 "
        "<fay@example.net>: Recipient address rejected: User unknown (in reply to RCPT TO command))\n"
        "Nov 24 15:00:03 mx1 postfix/qmgr[2]: 7C3D4E5F6A7: removed\n";
    const char *run2 =
        "Nov 24 16:00:01 mx1 postfix/smtp[3]: 6B2C3D4E5F6: to=<dora@example.net>, relay=mx.example.net[192.0.2.20]:25, "
        "delay=3601, delays=3600/0/0.4/0.5, dsn=5.1.1, status=bounced (host mx.example.net[192.0.2.20] said: 550 5.1.1 "
        "<dora@example.net>: Recipient address rejected: User unknown (in reply to RCPT TO command))\n"
        "Nov 24 16:00:01 mx1 postfix/qmgr[2]: 6B2C3D4E5F6: removed\n";
    rb_maillog *m1 = new_ml(0);
    rb_logclock c;
    rb_logclock_init(&c, utc(2026, 11, 25, 0, 0, 0));
    recs rs = {0};
    feed_text(m1, &c, run1, "mail.log.1", &rs);
    assert_int_equal(rs.n, 2);
    assert_string_equal(rs.v[0].rec.recipient, "dora@example.net");
    assert_string_equal(rs.v[0].rec.alert, "backscatter");
    assert_string_equal(rs.v[1].rec.recipient, "fay@example.net");
    assert_string_equal(rs.v[1].rec.alert, "");
    assert_string_equal(rs.v[1].rec.action, "disable");
    rb_maillog *m2 = new_ml(0);
    reload(m1, m2, utc(2026, 11, 24, 15, 30, 0), 30 * 86400, NULL);
    recs rs2 = {0};
    feed_text(m2, &c, run2, "mail.log", &rs2);
    assert_int_equal(rs2.n, 1);
    assert_string_equal(rs2.v[0].rec.reason, "userunknown");
    assert_string_equal(rs2.v[0].rec.alert, "backscatter");
    assert_string_equal(rs2.v[0].rec.action, "record");
    recs_free(&rs);
    recs_free(&rs2);
    rb_maillog_free(m1);
    rb_maillog_free(m2);
}

static void test_open_roundtrip(void **state)
{
    (void)state;
    const char *run1 =
        "Nov 23 06:27:30 mx1 postfix/pickup[1]: 9A0B1C2D3E4: uid=1001 from=<bounces+peter=contoso.com@lists.example."
        "org>\n"
        "Nov 23 06:27:30 mx1 postfix/cleanup[2]: 9A0B1C2D3E4: message-id=<news-1@lists.example.org>\n"
        "Nov 23 06:27:30 mx1 postfix/qmgr[3]: 9A0B1C2D3E4: from=<bounces+peter=contoso.com@lists.example.org>, "
        "size=18311, nrcpt=2 (queue active)\n"
        "Nov 23 06:27:31 mx1 postfix/smtp[4]: 9A0B1C2D3E4: to=<paul@contoso.com>, relay=contoso-com.mail.protection."
        "outlook.com[52.101.68.1]:25, delay=1, delays=0/0/0.5/0.5, dsn=4.7.500, status=deferred (host contoso-com."
        "mail.protection.outlook.com[52.101.68.1] said: 451 4.7.500 Server busy. Please try again later "
        "(in reply to RCPT TO command))\n";
    const char *run2 =
        "Nov 23 07:27:31 mx1 postfix/smtp[5]: 9A0B1C2D3E4: to=<peter@contoso.com>, relay=contoso-com.mail."
        "protection.outlook.com[52.101.68.1]:25, delay=3601, delays=3600/0/0.5/0.5, dsn=5.1.10, status=bounced (host "
        "contoso-com.mail.protection.outlook.com[52.101.68.1] said: 550 5.1.10 RESOLVER.ADR.RecipientNotFound; "
        "Recipient not found by SMTP address lookup (in reply to RCPT TO command))\n"
        "Nov 28 06:27:31 mx1 postfix/qmgr[3]: 9A0B1C2D3E4: from=<bounces+peter=contoso.com@lists.example.org>, "
        "status=expired, returned to sender\n"
        "Nov 28 06:27:31 mx1 postfix/qmgr[3]: 9A0B1C2D3E4: removed\n";
    rb_maillog *m1 = new_ml(0);
    rb_logclock c;
    rb_logclock_init(&c, utc(2026, 11, 29, 0, 0, 0));
    recs rs = {0};
    feed_text(m1, &c, run1, "mail.log.1", &rs);
    assert_int_equal(rb_maillog_open_count(m1), 1);
    rb_maillog *m2 = new_ml(0);
    size_t nl = 0;
    reload(m1, m2, utc(2026, 11, 23, 8, 0, 0), 30 * 86400, &nl);
    assert_int_equal(nl, 2);          /* the queue ID and its deferred recipient */
    assert_int_equal(rb_maillog_open_count(m2), 1);
    rb_maillog_free(m1);
    recs_free(&rs);

    feed_text(m2, &c, run2, "mail.log", &rs);
    assert_int_equal(rs.n, 2);
    const rb_logrec *r = find_rec(&rs, "bounced", "peter@contoso.com");
    assert_non_null(r);
    assert_string_equal(r->rec.original_message_id, "news-1@lists.example.org");
    assert_string_equal(r->rec.addresser, "bounces+peter=contoso.com@lists.example.org");
    assert_string_equal(r->rec.reason, "userunknown");
    /* the deferral of run 1 expires in run 2, with run 1's details */
    r = find_rec(&rs, "expired", "paul@contoso.com");
    assert_non_null(r);
    assert_string_equal(r->rec.status, "4.7.500");
    assert_non_null(strstr(r->rec.diagnostic, "Server busy"));
    assert_string_equal(r->relay, "contoso-com.mail.protection.outlook.com[52.101.68.1]:25");
    assert_string_equal(r->rec.remote_mta, "contoso-com.mail.protection.outlook.com");
    assert_string_equal(r->rec.provider, "business_microsoft");
    assert_string_equal(r->rec.original_message_id, "news-1@lists.example.org");
    assert_string_equal(r->rec.source, "mail.log:2");
    assert_int_equal(rb_maillog_open_count(m2), 0);
    recs_free(&rs);
    rb_maillog_free(m2);
}

static void test_sender_specs(void **state)
{
    (void)state;
    assert_true(rb_maillog_sender_spec_ok("news@example.org"));
    assert_true(rb_maillog_sender_spec_ok("@example.org"));
    assert_true(rb_maillog_sender_spec_ok("bounces+*@news.example.org"));
    assert_true(rb_maillog_sender_spec_ok("bounce-*"));
    assert_false(rb_maillog_sender_spec_ok("news"));
    assert_false(rb_maillog_sender_spec_ok("a*b*@example.org"));
    assert_false(rb_maillog_sender_spec_ok("@"));
    assert_false(rb_maillog_sender_spec_ok(""));
    assert_true(rb_maillog_sender_match("news@example.org", "News@Example.ORG"));
    assert_false(rb_maillog_sender_match("news@example.org", "anna@example.org"));
    assert_true(rb_maillog_sender_match("@lists.example.org", "x@lists.example.org"));
    assert_false(rb_maillog_sender_match("@lists.example.org", "x@example.org"));
    assert_false(rb_maillog_sender_match("@example.org", "@example.org"));
    assert_true(rb_maillog_sender_match("bounces+*@news.example.org", "bounces+kay=example.net@news.example.org"));
    assert_false(rb_maillog_sender_match("bounces+*@news.example.org", "bounces+kay=example.net@example.org"));
    assert_false(rb_maillog_sender_match("bounces+*@news.example.org", "anna@news.example.org"));
    assert_true(rb_maillog_sender_match("bounce-*", "bounce-x@anything.example"));
    assert_false(rb_maillog_sender_match("bounce-*", ""));
}

/* smtpd's sasl_username= tied to the queue ID; kept in the state (a sixth
 * field); a login of ours sending as another sender is compromised_account */
static void test_sasl_compromised(void **state)
{
    (void)state;
    const char *run1 =
        "Nov 24 15:00:00 mx1 postfix/submission/smtpd[9]: 1A2B3C4D5E6: client=unknown[203.0.113.9], "
        "sasl_method=LOGIN, sasl_username=anna@example.org, sasl_sender=x\n"
        "Nov 24 15:00:00 mx1 postfix/cleanup[1]: 1A2B3C4D5E6: message-id=<s-1@example.org>\n"
        "Nov 24 15:00:00 mx1 postfix/qmgr[2]: 1A2B3C4D5E6: from=<anna@example.org>, size=4000, nrcpt=1 (queue active)\n"
        "Nov 24 15:00:01 mx1 postfix/smtpd[9]: 2A2B3C4D5E6: client=mail.example.net[192.0.2.7]\n";
    const char *run2 =
        "Nov 24 16:00:01 mx1 postfix/smtp[3]: 1A2B3C4D5E6: to=<gus@example.net>, relay=mx.example.net[192.0.2.20]:25, "
        "delay=1, delays=0.1/0/0.4/0.5, dsn=5.1.1, status=bounced (host mx.example.net[192.0.2.20] said: 550 5.1.1 "
        "<gus@example.net>: Recipient address rejected: User unknown (in reply to RCPT TO command))\n"
        "Nov 24 16:00:01 mx1 postfix/qmgr[2]: 1A2B3C4D5E6: removed\n";
    static const char *const ours[] = {"example.org"}, *const senders[] = {"bounces+*@news.example.org"};
    rb_maillog_opts o = {0, ours, 1, senders, 1};
    rb_error err = {{0}};
    rb_maillog *m1 = NULL, *m2 = NULL, *m3 = NULL;
    assert_int_equal(rb_maillog_new(ctx(), &o, &m1, &err), RB_OK);
    assert_int_equal(rb_maillog_new(ctx(), &o, &m2, &err), RB_OK);
    rb_logclock c;
    rb_logclock_init(&c, utc(2026, 11, 25, 0, 0, 0));
    recs rs = {0};
    feed_text(m1, &c, run1, "mail.log.1", &rs);
    assert_int_equal(rs.n, 0);
    assert_int_equal(rb_maillog_open_count(m1), 1);    /* no entry for the unauthenticated client */
    rb_buf b;
    rb_buf_init(&b);
    assert_int_equal(rb_maillog_save_open(m1, &b, utc(2026, 11, 24, 15, 30, 0), 0, &err), RB_OK);
    assert_int_equal(rb_buf_append(&b, "", 1), 0);
    assert_non_null(strstr(b.buf, "\tanna@example.org\tanna@example.org\n"));
    reload(m1, m2, utc(2026, 11, 24, 15, 30, 0), 30 * 86400, NULL);
    recs rs2 = {0};
    feed_text(m2, &c, run2, "mail.log", &rs2);
    assert_int_equal(rs2.n, 1);
    assert_string_equal(rs2.v[0].rec.alert, "compromised_account");
    assert_string_equal(rs2.v[0].rec.account, "anna@example.org");
    assert_string_equal(rs2.v[0].rec.action, "record");
    /* a mailing sender outside our domains (an ESP's bounce domain) is no alert */
    static const char *const esp[] = {"@esp.example"};
    rb_maillog_opts o4 = {0, ours, 1, esp, 1};
    rb_maillog *m4 = NULL;
    assert_int_equal(rb_maillog_new(ctx(), &o4, &m4, &err), RB_OK);
    char *run1_esp = g_strdup(run1), *fp = strstr(run1_esp, "from=<anna@example.org>");
    assert_non_null(fp);
    memcpy(fp, "from=<ann@esp.example> ", 23);   /* as long as what it replaces */
    recs rs4 = {0};
    feed_text(m4, &c, run1_esp, "mail.log.1", &rs4);
    feed_text(m4, &c, run2, "mail.log", &rs4);
    assert_int_equal(rs4.n, 1);
    assert_string_equal(rs4.v[0].rec.alert, "");
    g_free(run1_esp);
    recs_free(&rs4);
    rb_maillog_free(m4);
    /* without our domains, no check */
    rb_maillog_opts o3 = {0};
    assert_int_equal(rb_maillog_new(ctx(), &o3, &m3, &err), RB_OK);
    recs rs3 = {0};
    feed_text(m3, &c, run1, "mail.log.1", &rs3);
    feed_text(m3, &c, run2, "mail.log", &rs3);
    assert_int_equal(rs3.n, 1);
    assert_string_equal(rs3.v[0].rec.alert, "");
    assert_string_equal(rs3.v[0].rec.account, "");
    rb_buf_free(&b);
    recs_free(&rs);
    recs_free(&rs2);
    recs_free(&rs3);
    rb_maillog_free(m1);
    rb_maillog_free(m2);
    rb_maillog_free(m3);
}

/* rb_maillog_set_defer_finish: the callback gets records whose finish
 * (classification, policy, provider) is pending and whose alert is already
 * set; rb_maillog_finish on them, later, gives the same records as the
 * correlator finishing them itself (what a formatting thread relies on). */
static void test_feed_deferred_finish(void **state)
{
    (void)state;
    const char *text =
        "Nov 24 15:00:00 mx1 postfix/submission/smtpd[9]: 1A2B3C4D5E6: client=unknown[203.0.113.9], "
        "sasl_method=LOGIN, sasl_username=anna@example.org, sasl_sender=x\n"
        "Nov 24 15:00:00 mx1 postfix/cleanup[1]: 1A2B3C4D5E6: message-id=<s-1@example.org>\n"
        "Nov 24 15:00:00 mx1 postfix/qmgr[2]: 1A2B3C4D5E6: from=<anna@example.org>, size=4000, nrcpt=1 (queue active)\n"
        "Nov 24 15:00:00 mx1 postfix/cleanup[1]: 6B2C3D4E5F6: message-id=<n-2@mx1.example.org>\n"
        "Nov 24 15:00:00 mx1 postfix/qmgr[2]: 6B2C3D4E5F6: from=<>, size=4000, nrcpt=1 (queue active)\n"
        "Nov 24 15:00:02 mx1 postfix/cleanup[1]: 7C3D4E5F6A7: message-id=<n-1@lists.example.org>\n"
        "Nov 24 15:00:02 mx1 postfix/qmgr[2]: 7C3D4E5F6A7: from=<bounces@lists.example.org>, size=4000, nrcpt=2 "
        "(queue active)\n"
        "Nov 24 15:00:03 mx1 postfix/smtp[3]: 7C3D4E5F6A7: to=<fay@example.net>, relay=mx.example.net[192.0.2.20]:25, "
        "delay=1, delays=0.1/0/0.4/0.5, dsn=5.1.1, status=bounced (host mx.example.net[192.0.2.20] said: 550 5.1.1 "
        "<fay@example.net>: Recipient address rejected: User unknown (in reply to RCPT TO command))\n"
        "Nov 24 15:00:03 mx1 postfix/smtp[3]: 7C3D4E5F6A7: to=<gil@gmail.com>, relay=gmail-smtp-in.l.google.com"
        "[192.0.2.30]:25, delay=1, delays=0.1/0/0.4/0.5, dsn=2.0.0, status=sent (250 2.0.0 OK 1 x - gsmtp)\n"
        "Nov 24 15:00:04 mx1 postfix/smtp[3]: 6B2C3D4E5F6: to=<dora@example.net>, relay=mx.example.net[192.0.2.20]:25, "
        "delay=1, delays=0.1/0/0.4/0.5, dsn=5.1.1, status=bounced (host mx.example.net[192.0.2.20] said: 550 5.1.1 "
        "<dora@example.net>: Recipient address rejected: User unknown (in reply to RCPT TO command))\n"
        "Nov 24 15:00:05 mx1 postfix/smtp[3]: 1A2B3C4D5E6: to=<gus@example.net>, relay=mx.example.net[192.0.2.20]:25, "
        "delay=1, delays=0.1/0/0.4/0.5, dsn=4.2.2, status=deferred (host mx.example.net[192.0.2.20] said: 452 4.2.2 "
        "Mailbox full (in reply to RCPT TO command))\n"
        /* an expiry: reported from the deferred recipient kept, not from this line */
        "Nov 25 15:00:06 mx1 postfix/qmgr[2]: 1A2B3C4D5E6: from=<anna@example.org>, status=expired, returned to "
        "sender\n";
    static const char *const ours[] = {"example.org"}, *const senders[] = {"bounces@lists.example.org"};
    rb_maillog_opts o = {0, ours, 1, senders, 1};
    rb_error err = {{0}};
    rb_maillog *m1 = NULL, *m2 = NULL;
    assert_int_equal(rb_maillog_new(ctx(), &o, &m1, &err), RB_OK);
    assert_int_equal(rb_maillog_new(ctx(), &o, &m2, &err), RB_OK);
    rb_maillog_set_defer_finish(m2, 1);
    rb_logclock c;
    rb_logclock_init(&c, utc(2026, 11, 25, 0, 0, 0));
    recs now = {0}, later = {0};
    feed_text(m1, &c, text, "mail.log", &now);
    feed_text(m2, &c, text, "mail.log", &later);
    assert_int_equal(now.n, 5);
    assert_int_equal(later.n, 5);
    int alerts = 0;
    for (size_t i = 0; i < later.n; i++) {
        assert_string_equal(later.v[i].rec.reason, "");       /* not worked out yet */
        assert_string_equal(later.v[i].rec.alert, now.v[i].rec.alert);
        alerts += later.v[i].rec.alert[0] != '\0';
        rb_maillog_finish(m2, &later.v[i]);
        rb_maillog_finish(m2, &later.v[i]);                   /* a second time: nothing to do */
        rb_buf a, b;
        rb_buf_init(&a);
        rb_buf_init(&b);
        rb_logrec_to_jsonl(&now.v[i], &a);
        rb_logrec_to_jsonl(&later.v[i], &b);
        assert_string_equal(b.buf, a.buf);
        rb_buf_free(&a);
        rb_buf_free(&b);
    }
    assert_int_equal(alerts, 3);    /* backscatter and compromised_account (twice: the expiry) */
    assert_string_equal(find_rec(&later, "bounced", "dora@example.net")->rec.action, "record");
    assert_string_equal(find_rec(&later, "bounced", "fay@example.net")->rec.action, "disable");
    recs_free(&now);
    recs_free(&later);
    rb_maillog_free(m1);
    rb_maillog_free(m2);
}

/* rb_maillog_finish_lazy leaves the fields only written out as spans of
 * the line's copy; rb_logrec_to_jsonl / rb_logrec_to_csv clean them as
 * they write: the same bytes as after rb_maillog_finish, for plain lines
 * and for lines with control bytes, invalid and valid UTF-8, quotes,
 * backslashes and values longer than their fields. */
static void test_feed_lazy_finish(void **state)
{
    (void)state;
    char longv[400];
    memset(longv, 'r', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    char text[8192];
    snprintf(text, sizeof text,
             "Nov 24 15:00:02 mx1 postfix/qmgr[2]: 7C3D4E5F6A7: from=<bounces@lists.example.org>, size=4000, nrcpt=4 "
             "(queue active)\n"
             "Nov 24 15:00:03 mx1 postfix/smtp[3]: 7C3D4E5F6A7: to=<fay@example.net>, relay=mx.example.net[192.0.2.20]:25, "
             "delay=1, delays=0.1/0/0.4/0.5, dsn=5.1.1, status=bounced (host mx.example.net[192.0.2.20] said: 550 5.1.1 "
             "<fay@example.net>: User unknown (in reply to RCPT TO command))\n"
             "Nov 24 15:00:03 mx1 postfix-out/smtp[3]: 7C3D4E5F6A7: to=<\"g\tu s\\q\"@exa\xffmple.net>, "
             "relay=mx.ex\x01\"ample\\.net[192.0.2.20]:25, delay=1\x7f\xc3\xa9, delays=0.1/0/\xe2\x82\xac/0.5, dsn=5.1.1, "
             "status=bounced (host said: 550 5.1.1 \xff\xfe bad\ttext \"x\" (in reply to RCPT TO command))\n"
             "Nov 24 15:00:04 mx1 postfix/smtp[3]: 7C3D4E5F6A7: to=<h%s@example.net>, relay=%s[192.0.2.20]:25, "
             "delay=%.60s, delays=%.100s, dsn=2.0.0, status=sent (250 2.0.0 OK)\n"
             "Nov 24 15:00:04 mx1 postfix/smtp[3]: 7C3D4E5F6A7: to=<h\xc3\xa9%.250s@example.net>, relay=%.250s\xc3\xa9[192.0.2.20]:25, "
             "delay=1234567890123456789012\xc3\xa9, delays=%.62s\xc3\xa9, dsn=2.0.0, status=sent (250 2.0.0 OK)\n",
             longv, longv, longv, longv, longv, longv, longv);
    rb_maillog *m1 = new_ml(0), *m2 = new_ml(0);
    rb_maillog_set_defer_finish(m1, 1);
    rb_maillog_set_defer_finish(m2, 1);
    rb_logclock c;
    rb_logclock_init(&c, utc(2026, 11, 25, 0, 0, 0));
    recs full = {0}, lazy = {0};
    feed_text(m1, &c, text, "mail.log", &full);
    feed_text(m2, &c, text, "mail.log", &lazy);
    assert_int_equal(full.n, 4);
    assert_int_equal(lazy.n, 4);
    int plain = 0, cleaned = 0;
    for (size_t i = 0; i < lazy.n; i++) {
        rb_maillog_finish(m1, &full.v[i]);
        rb_maillog_finish_lazy(m2, &lazy.v[i]);
        plain += lazy.v[i].lazy == 2;
        cleaned += lazy.v[i].lazy == 1;
        rb_buf a, b;
        rb_buf_init(&a);
        rb_buf_init(&b);
        assert_int_equal(rb_logrec_to_jsonl(&full.v[i], &a), 0);
        assert_int_equal(rb_logrec_to_jsonl(&lazy.v[i], &b), 0);
        assert_string_equal(b.buf, a.buf);
        a.len = b.len = 0;
        assert_int_equal(rb_logrec_to_csv(&full.v[i], &a), 0);
        assert_int_equal(rb_logrec_to_csv(&lazy.v[i], &b), 0);
        assert_string_equal(b.buf, a.buf);
        rb_buf_free(&a);
        rb_buf_free(&b);
    }
    assert_int_equal(plain, 2);      /* printable ASCII lines: the spans as they are */
    assert_int_equal(cleaned, 2);    /* the others: cleaned as they are written */
    recs_free(&full);
    recs_free(&lazy);
    rb_maillog_free(m1);
    rb_maillog_free(m2);
}

static void test_open_escaping_and_age(void **state)
{
    (void)state;
    rb_maillog *m1 = new_ml(0);
    rb_logclock c;
    rb_logclock_init(&c, utc(2026, 11, 24, 0, 0, 0));
    /* a tab, a backslash and a CR in a Message-ID and a quoted sender */
    const char l1[] = "Nov 23 06:00:00 mx1 postfix/cleanup[2]: 2C3D4E5F6A7: message-id=<a\tb\\c\rd@x.example>";
    const char l2[] = "Nov 23 06:00:00 mx1 postfix/qmgr[3]: 2C3D4E5F6A7: from=<\"we\\\\ird\ttab\"@x.example>, size=1";
    const char l3[] = "Nov 23 06:00:00 mx1 postfix/smtp[4]: 2C3D4E5F6A7: to=<t\\u@y.example>, relay=none, delay=1, "
                      "delays=1, dsn=4.4.1, status=deferred (a\\b\tc (nested) d)";
    rb_maillog_feed(m1, &c, l1, sizeof l1 - 1, "t", 1, NULL, NULL);
    rb_maillog_feed(m1, &c, l2, sizeof l2 - 1, "t", 2, NULL, NULL);
    rb_maillog_feed(m1, &c, l3, sizeof l3 - 1, "t", 3, NULL, NULL);
    /* an old one, never removed */
    const char l4[] = "Oct  1 06:00:00 mx1 postfix/cleanup[2]: 3D4E5F6A7B8: message-id=<old@x.example>";
    rb_maillog_feed(m1, &c, l4, sizeof l4 - 1, "t", 4, NULL, NULL);
    assert_int_equal(rb_maillog_open_count(m1), 2);

    rb_buf b;
    rb_buf_init(&b);
    rb_error err;
    assert_int_equal(rb_maillog_save_open(m1, &b, utc(2026, 11, 24, 0, 0, 0), 30 * 86400, &err), RB_OK);
    /* one record per line: no raw tab inside a field, no raw CR */
    assert_int_equal(rb_buf_append(&b, "", 1), 0);
    if (strstr(b.buf, "old@x.example"))     /* older than max_age: dropped */
        fail_msg("a queue ID first seen 54 days ago (cleanup line) was kept with max_age 30 days:\n%s", b.buf);
    assert_null(strchr(b.buf, '\r'));
    size_t lines = 0;
    for (char *p = b.buf; (p = strchr(p, '\n')); p++) lines++;
    assert_int_equal(lines, 2);
    rb_buf_free(&b);

    rb_maillog *m2 = new_ml(0);
    reload(m1, m2, utc(2026, 11, 24, 0, 0, 0), 30 * 86400, NULL);
    assert_int_equal(rb_maillog_open_count(m2), 1);
    recs rs = {0};
    const char l5[] = "Nov 28 06:00:00 mx1 postfix/qmgr[3]: 2C3D4E5F6A7: from=<\"we\\\\ird\ttab\"@x.example>, "
                      "status=expired, returned to sender";
    rb_maillog_feed(m2, &c, l5, sizeof l5 - 1, "t2", 1, collect, &rs);
    assert_int_equal(rs.n, 1);
    /* what was saved comes back; record fields hold no control characters */
    assert_string_equal(rs.v[0].rec.recipient, "t\\u@y.example");
    assert_string_equal(rs.v[0].rec.diagnostic, "a\\b c (nested) d");
    assert_non_null(strstr(rs.v[0].rec.original_message_id, "b\\c"));
    assert_non_null(strstr(rs.v[0].rec.addresser, "we\\\\ird"));
    assert_rec_clean(&rs.v[0]);
    for (const char *p = rs.v[0].rec.original_message_id; *p; p++)
        if ((unsigned char)*p < 0x20) fail_msg("a control character in original_message_id");
    for (const char *p = rs.v[0].rec.addresser; *p; p++)
        if ((unsigned char)*p < 0x20) fail_msg("a control character in addresser");
    recs_free(&rs);

    /* not a state line */
    assert_int_equal(rb_maillog_load_open(m2, "garbage", &err), RB_ERR_PARSE);
    assert_int_equal(rb_maillog_load_open(m2, "open\tonly-two", &err), RB_ERR_PARSE);
    assert_int_equal(rb_maillog_load_open(m2, "dfr\tpostfix/X\t1\ta\tb", &err), RB_ERR_PARSE);
    assert_int_equal(rb_maillog_load_open(m2, "", &err), RB_ERR_PARSE);
    rb_maillog_free(m1);
    rb_maillog_free(m2);
}

static void test_records_csv(void **state)
{
    (void)state;
    rb_buf b;
    rb_buf_init(&b);
    assert_int_equal(rb_logrec_csv_header(&b), 0);
    assert_int_equal(rb_buf_append(&b, "", 1), 0);
    assert_non_null(strstr(b.buf, ",alert,account,queue_id,delivery_status,relay,delay,delays,to,instance,agent\r\n"));
    assert_true(!strncmp(b.buf, "source,recipient,", 17));
    rb_buf_free(&b);
    assert_int_equal(rb_logrec_nfields(), 8);
    rb_logrec r;
    memset(&r, 0, sizeof r);
    rb_strlcpy(r.relay, "a,b", sizeof r.relay);
    rb_strlcpy(r.queue_id, "QID", sizeof r.queue_id);
    assert_string_equal(rb_logrec_get(&r, 0), "QID");
    assert_string_equal(rb_logrec_get(&r, 99), "");
    rb_buf_init(&b);
    assert_int_equal(rb_logrec_to_csv(&r, &b), 0);
    assert_int_equal(rb_buf_append(&b, "", 1), 0);
    assert_non_null(strstr(b.buf, ",QID,,\"a,b\","));
    rb_buf_free(&b);
}

/* ---- log files --------------------------------------------------------------------------------- */
typedef struct {
    char **v;
    size_t n;
    uint64_t skipped;
    int last;
} lines_t;

static lines_t read_all(rb_logfile *f)
{
    lines_t L = {0};
    const char *line;
    size_t len;
    uint64_t ln;
    rb_error err;
    while ((L.last = rb_logfile_next(f, &line, &len, &ln, &L.skipped, &err)) == 1) {
        L.v = realloc(L.v, (L.n + 1) * sizeof *L.v);
        L.v[L.n] = malloc(len + 1);
        memcpy(L.v[L.n], line, len);
        L.v[L.n][len] = '\0';
        L.n++;
    }
    return L;
}

static void lines_free(lines_t *L)
{
    for (size_t i = 0; i < L->n; i++) free(L->v[i]);
    free(L->v);
    memset(L, 0, sizeof *L);
}

static rb_logfile *open_ok(const char *p)
{
    rb_logfile *f = NULL;
    rb_error err = {{0}};
    if (rb_logfile_open(p, &f, &err) != RB_OK) fail_msg("open %s: %s", p, err.msg);
    return f;
}

static void test_logfile_partial_line(void **state)
{
    (void)state;
    const char *p = write_file("mail.log", "line one\nline two\nline thr", 26, "wb");
    rb_logfile *f = open_ok(p);
    assert_true(rb_logfile_is_live(f));
    assert_string_not_equal(rb_logfile_fp(f), "");
    lines_t L = read_all(f);
    assert_int_equal(L.last, 0);
    assert_int_equal(L.n, 2);
    assert_string_equal(L.v[1], "line two");
    assert_int_equal(rb_logfile_offset(f), 18);
    char fp[24];
    rb_strlcpy(fp, rb_logfile_fp(f), sizeof fp);
    rb_logfile_close(f);
    lines_free(&L);

    /* the rest arrives; the next run resumes from the offset */
    write_file("mail.log", "ee\nline four\n", 13, "ab");
    f = open_ok(p);
    assert_string_equal(rb_logfile_fp(f), fp);
    rb_error err;
    assert_int_equal(rb_logfile_skip(f, 18, &err), RB_OK);
    const char *line;
    size_t len;
    uint64_t ln, sk = 0;
    assert_int_equal(rb_logfile_next(f, &line, &len, &ln, &sk, &err), 1);
    assert_int_equal(len, 10);
    assert_memory_equal(line, "line three", 10);
    assert_int_equal(ln, 3);
    assert_int_equal(rb_logfile_next(f, &line, &len, &ln, &sk, &err), 1);
    assert_memory_equal(line, "line four", 9);
    assert_int_equal(ln, 4);
    assert_int_equal(rb_logfile_next(f, &line, &len, &ln, &sk, &err), 0);
    assert_int_equal(rb_logfile_offset(f), 39);
    rb_logfile_close(f);

    /* a first line not complete yet: no fingerprint */
    p = write_file("new.log", "Nov 23 06:25:01 mx1 postfix", 27, "wb");
    f = open_ok(p);
    assert_string_equal(rb_logfile_fp(f), "");
    L = read_all(f);
    assert_int_equal(L.n, 0);
    assert_int_equal(rb_logfile_offset(f), 0);
    lines_free(&L);
    rb_logfile_close(f);
    /* CRLF line ends: the CR is not part of the line */
    p = write_file("crlf.log", "a\r\nb\r\n", 6, "wb");
    f = open_ok(p);
    L = read_all(f);
    assert_int_equal(L.n, 2);
    assert_string_equal(L.v[0], "a");
    lines_free(&L);
    rb_logfile_close(f);
}

static void test_logfile_rotated_names(void **state)
{
    (void)state;
    const char *names[] = {"mail.log.1", "mail.log-20261122", "maillog.3"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *p = write_file(names[i], "one\ntwo\ncut li", 14, "wb");
        rb_logfile *f = open_ok(p);
        assert_false(rb_logfile_is_live(f));
        lines_t L = read_all(f);
        assert_int_equal(L.n, 3);
        assert_string_equal(L.v[2], "cut li");
        assert_int_equal(rb_logfile_offset(f), 14);
        lines_free(&L);
        rb_logfile_close(f);
    }
    /* gzip, by name and by content */
    const char *p = write_gz("mail.log.2.gz", "one\ntwo\ncut li", 14);
    rb_logfile *f = open_ok(p);
    assert_false(rb_logfile_is_live(f));
    lines_t L = read_all(f);
    assert_int_equal(L.n, 3);
    assert_string_equal(L.v[2], "cut li");
    lines_free(&L);
    rb_logfile_close(f);
    p = write_gz("mail.log", "one\ntwo\ncut li", 14);
    f = open_ok(p);
    assert_false(rb_logfile_is_live(f));
    rb_logfile_close(f);
    /* live names */
    const char *live[] = {"mail.log", "maillog", "mail.err", "postfix-out.log"};
    for (size_t i = 0; i < sizeof live / sizeof live[0]; i++) {
        p = write_file(live[i], "x\n", 2, "wb");
        f = open_ok(p);
        if (!rb_logfile_is_live(f)) fail_msg("%s is not live", live[i]);
        rb_logfile_close(f);
    }
}

static void test_logfile_gzip(void **state)
{
    (void)state;
    size_t len;
    char *text = read_sample("mail.log", &len);
    const char *pp = write_file("mail.log", text, len, "wb");
    const char *pg = write_gz("mail.log.2.gz", text, len);
    rb_logfile *fp = open_ok(pp), *fg = open_ok(pg);
    assert_string_not_equal(rb_logfile_fp(fp), "");
    assert_string_equal(rb_logfile_fp(fp), rb_logfile_fp(fg));
    lines_t A = read_all(fp), B = read_all(fg);
    assert_int_equal(A.last, 0);
    assert_int_equal(B.last, 0);
    assert_int_equal(A.n, 83);
    assert_int_equal(A.n, B.n);
    for (size_t i = 0; i < A.n; i++) assert_string_equal(A.v[i], B.v[i]);
    assert_int_equal(rb_logfile_offset(fp), len);
    assert_int_equal(rb_logfile_offset(fg), len);
    assert_true(rb_logfile_size(fg) < len);
    assert_true(rb_logfile_read_bytes(fg) > 0 && rb_logfile_read_bytes(fg) <= rb_logfile_size(fg));
    lines_free(&A);
    lines_free(&B);
    rb_logfile_close(fp);
    rb_logfile_close(fg);

    /* skip in a gzip file: the same offsets as the plain file */
    fg = open_ok(pg);
    rb_error err;
    const char *nl = strchr(text, '\n');
    uint64_t off1 = (uint64_t)(nl - text) + 1;
    assert_int_equal(rb_logfile_skip(fg, off1, &err), RB_OK);
    B = read_all(fg);
    assert_int_equal(B.n, 82);
    lines_free(&B);
    rb_logfile_close(fg);

    /* a truncated gzip: the lines before the damage, then an error naming the file */
    FILE *g = fopen(pg, "rb");
    char gzbuf[8192];
    size_t gn = fread(gzbuf, 1, sizeof gzbuf, g);
    fclose(g);
    assert_true(gn > 200 && gn < sizeof gzbuf);
    const char *pt = write_file("cut.log.3.gz", gzbuf, gn / 2, "wb");
    rb_logfile *ft = open_ok(pt);
    const char *line;
    size_t l;
    uint64_t ln, sk = 0;
    int k, n = 0;
    while ((k = rb_logfile_next(ft, &line, &l, &ln, &sk, &err)) == 1) n++;
    if (k != -1) fail_msg("a truncated gzip file read as complete (%d lines, then %d)", n, k);
    assert_non_null(strstr(err.msg, "cut.log.3.gz"));
    assert_true(n < 83);
    rb_logfile_close(ft);
    free(text);
}

static void test_logfile_skip_and_truncation(void **state)
{
    (void)state;
    const char *txt = "first line\nsecond line\nthird line\n";
    const char *p = write_file("skip.log", txt, strlen(txt), "wb");
    rb_logfile *f = open_ok(p);
    rb_error err;
    assert_int_equal(rb_logfile_skip(f, 11, &err), RB_OK);
    assert_int_equal(rb_logfile_offset(f), 11);
    const char *line;
    size_t len;
    uint64_t ln, sk = 0;
    assert_int_equal(rb_logfile_next(f, &line, &len, &ln, &sk, &err), 1);
    assert_memory_equal(line, "second line", 11);
    assert_int_equal(ln, 2);
    rb_logfile_close(f);
    /* to the end: nothing left */
    f = open_ok(p);
    assert_int_equal(rb_logfile_skip(f, 34, &err), RB_OK);
    assert_int_equal(rb_logfile_next(f, &line, &len, &ln, &sk, &err), 0);
    assert_int_equal(rb_logfile_offset(f), 34);
    rb_logfile_close(f);
    /* a file now shorter than what was read: skip fails */
    f = open_ok(p);
    assert_int_not_equal(rb_logfile_skip(f, 35, &err), RB_OK);
    assert_non_null(strstr(err.msg, "skip.log"));
    rb_logfile_close(f);
    /* across the 1 MiB read buffer */
    size_t n = 3u << 20;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++) big[i] = (i % 100 == 99) ? '\n' : 'a' + (char)(i % 26);
    p = write_file("big.log", big, n, "wb");
    f = open_ok(p);
    assert_int_equal(rb_logfile_skip(f, 2000000, &err), RB_OK);
    assert_int_equal(rb_logfile_next(f, &line, &len, &ln, &sk, &err), 1);
    assert_int_equal(ln, 20001);
    assert_int_equal(len, 99);
    assert_memory_equal(line, big + 2000000, 99);
    lines_t L = read_all(f);
    assert_int_equal(L.n, n / 100 - 20001);
    lines_free(&L);
    rb_logfile_close(f);
    free(big);
    /* errors name the file */
    rb_logfile *x = NULL;
    assert_int_equal(rb_logfile_open(path_of("no-such.log"), &x, &err), RB_ERR_IO);
    assert_non_null(strstr(err.msg, "no-such.log"));
    assert_int_equal(rb_logfile_open(tmpdir, &x, &err), RB_ERR_IO);
}

static void test_logfile_long_line(void **state)
{
    (void)state;
    /* a 1 MB line between two normal lines */
    size_t big = 1u << 20;
    size_t n = 7 + big + 7;
    char *b = malloc(n);
    memcpy(b, "before\n", 7);
    memset(b + 7, 'L', big);
    memcpy(b + 7 + big, "\nafter\n", 7);
    const char *p = write_file("long.log", b, n, "wb");
    rb_logfile *f = open_ok(p);
    lines_t L = read_all(f);
    assert_int_equal(L.n, 2);
    assert_string_equal(L.v[0], "before");
    assert_string_equal(L.v[1], "after");
    assert_int_equal(L.skipped, 1);
    assert_int_equal(rb_logfile_offset(f), n);
    lines_free(&L);
    rb_logfile_close(f);
    /* line numbers count the skipped line */
    f = open_ok(p);
    const char *line;
    size_t len;
    uint64_t ln, sk = 0;
    rb_error err;
    assert_int_equal(rb_logfile_next(f, &line, &len, &ln, &sk, &err), 1);
    assert_int_equal(ln, 1);
    assert_int_equal(rb_logfile_next(f, &line, &len, &ln, &sk, &err), 1);
    assert_int_equal(ln, 3);
    rb_logfile_close(f);
    /* the same, gzip-compressed */
    p = write_gz("long.log.1.gz", b, n);
    f = open_ok(p);
    L = read_all(f);
    assert_int_equal(L.n, 2);
    assert_string_equal(L.v[1], "after");
    assert_int_equal(L.skipped, 1);
    lines_free(&L);
    rb_logfile_close(f);
    /* a huge first line: still a fingerprint (its first 4 KiB) */
    p = write_file("longfirst.log", b + 7, big + 7, "wb");
    f = open_ok(p);
    assert_string_not_equal(rb_logfile_fp(f), "");
    L = read_all(f);
    assert_int_equal(L.n, 1);
    assert_string_equal(L.v[0], "after");
    lines_free(&L);
    rb_logfile_close(f);
    free(b);
}

static void test_logfile_junk(void **state)
{
    (void)state;
    /* binary junk between Postfix lines: every record clean */
    size_t len;
    char *text = read_sample("mail.log", &len);
    size_t cap = len + 70000;
    char *buf = malloc(cap);
    size_t o = 0;
    uint32_t x = 88172645u;
    const char *p = text;
    int k = 0;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t l = (size_t)(nl - p) + 1;
        memcpy(buf + o, p, l);
        o += l;
        p += l;
        if (++k % 5 == 0) {
            for (int i = 0; i < 600; i++) {
                x ^= x << 13; x ^= x >> 17; x ^= x << 5;
                buf[o++] = (char)(x & 0xff);
            }
            buf[o++] = '\n';
        }
    }
    const char *path = write_file("junk.log", buf, o, "wb");
    rb_logfile *f = open_ok(path);
    rb_maillog *m = new_ml(0);
    rb_logclock c;
    rb_logclock_init(&c, utc(2026, 11, 24, 0, 0, 0));
    recs rs = {0};
    const char *line;
    size_t l;
    uint64_t ln, sk = 0;
    rb_error err;
    int r;
    while ((r = rb_logfile_next(f, &line, &l, &ln, &sk, &err)) == 1)
        rb_maillog_feed(m, &c, line, l, "junk.log", ln, collect, &rs);
    assert_int_equal(r, 0);
    /* the junk never hides a real attempt (it may add lines, never take) */
    assert_true(rs.n >= 18);
    assert_non_null(find_rec(&rs, "bounced", "peter.dufaux@contoso.com"));
    assert_non_null(find_rec(&rs, "expired", "henry@example.net"));
    for (size_t i = 0; i < rs.n; i++) assert_rec_clean(&rs.v[i]);
    recs_free(&rs);
    rb_maillog_free(m);
    rb_logfile_close(f);
    free(buf);
    free(text);
}

static void test_logfiles_sort(void **state)
{
    (void)state;
    const char *v[] = {"/var/log/mail.log.2.gz", "/var/log/mail.log", "/var/log/mail.log.10.gz",
                       "/var/log/mail.log.1"};
    rb_logfiles_sort(v, 4);
    assert_string_equal(v[0], "/var/log/mail.log.10.gz");
    assert_string_equal(v[1], "/var/log/mail.log.2.gz");
    assert_string_equal(v[2], "/var/log/mail.log.1");
    assert_string_equal(v[3], "/var/log/mail.log");
    /* the same, as a shell glob gives it */
    const char *g[] = {"mail.log", "mail.log.1", "mail.log.10.gz", "mail.log.2.gz", "mail.log.3.gz"};
    rb_logfiles_sort(g, 5);
    const char *want[] = {"mail.log.10.gz", "mail.log.3.gz", "mail.log.2.gz", "mail.log.1", "mail.log"};
    for (size_t i = 0; i < 5; i++) assert_string_equal(g[i], want[i]);
    /* dated suffixes ascending, the live file last */
    const char *d[] = {"maillog", "maillog-20261122.gz", "maillog-20261108", "maillog-20261115.gz"};
    rb_logfiles_sort(d, 4);
    assert_string_equal(d[0], "maillog-20261108");
    assert_string_equal(d[1], "maillog-20261115.gz");
    assert_string_equal(d[2], "maillog-20261122.gz");
    assert_string_equal(d[3], "maillog");
    /* other names keep their order; two sets are each sorted */
    const char *o[] = {"b.txt", "mail.log", "a.txt", "other.log.1", "mail.log.1", "other.log", "other.log.2.gz"};
    rb_logfiles_sort(o, 7);
    const char *wo[] = {"b.txt", "mail.log.1", "mail.log", "a.txt", "other.log.2.gz", "other.log.1", "other.log"};
    for (size_t i = 0; i < 7; i++)
        if (strcmp(o[i], wo[i])) fail_msg("position %zu: %s, want %s", i, o[i], wo[i]);
    const char *one[] = {"x"};
    rb_logfiles_sort(one, 1);
    rb_logfiles_sort(one, 0);
    assert_string_equal(one[0], "x");
}

/* Postfix's own log file (maillog_file, Postfix >= 3.4), rotated by
 * "postfix logrotate": maillog_file_rotate_suffix, default %Y%m%d-%H%M%S,
 * then maillog_file_compressor (gzip). */
static void test_logfiles_postfix_logrotate(void **state)
{
    (void)state;
    const char *g[] = {"/var/log/postfix.log", "/var/log/postfix.log.20261121-000001.gz",
                       "/var/log/postfix.log.20261122-000002.gz", "/var/log/postfix.log.20261123-000001"};
    rb_logfiles_sort(g, 4);
    const char *want[] = {"/var/log/postfix.log.20261121-000001.gz", "/var/log/postfix.log.20261122-000002.gz",
                          "/var/log/postfix.log.20261123-000001", "/var/log/postfix.log"};
    for (size_t i = 0; i < 4; i++)
        if (strcmp(g[i], want[i])) fail_msg("position %zu: %s, want %s (oldest first, the live file last)", i, g[i],
                                            want[i]);
    /* the renamed file is not live: its last line, cut, is read */
    const char *p = write_file("postfix.log.20261123-000001", "one\ncut li", 10, "wb");
    rb_logfile *f = open_ok(p);
    int live = rb_logfile_is_live(f);
    lines_t L = read_all(f);
    rb_logfile_close(f);
    size_t n = L.n;
    lines_free(&L);
    if (live || n != 2) fail_msg("postfix.log.20261123-000001 read as a live file (%zu lines)", n);
}

static void test_logstate(void **state)
{
    (void)state;
    const char *sp = path_of("state");
    rb_logstate *s = NULL;
    rb_error err = {{0}};
    /* missing: empty */
    assert_int_equal(rb_logstate_load(sp, NULL, &s, &err), RB_OK);
    assert_null(rb_logstate_find(s, "0123456789abcdef0000"));
    rb_logpos a = {"0123456789abcdef0001", 1234, 42, "/var/log/mail.log"};
    rb_logpos b = {"0123456789abcdef0002", 99, 43, "/var/log/odd\tname\\with\nstuff"};
    assert_int_equal(rb_logstate_set(s, &a, &err), RB_OK);
    assert_int_equal(rb_logstate_set(s, &b, &err), RB_OK);
    a.offset = 2000;
    assert_int_equal(rb_logstate_set(s, &a, &err), RB_OK);    /* same fingerprint: replaced */
    /* the open queue IDs go with it */
    rb_maillog *m = new_ml(0);
    rb_logclock c;
    rb_logclock_init(&c, utc(2026, 11, 24, 0, 0, 0));
    const char l1[] = "Nov 23 06:00:00 mx1 postfix/cleanup[2]: 2C3D4E5F6A7: message-id=<kept@x.example>";
    rb_maillog_feed(m, &c, l1, sizeof l1 - 1, "t", 1, NULL, NULL);
    assert_int_equal(rb_logstate_save(s, sp, m, utc(2026, 11, 24, 0, 0, 0), &err), RB_OK);
    rb_logstate_free(s);
    rb_maillog_free(m);
    /* no temporary file left behind */
    char cmd[700];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -q tmp", tmpdir);
    assert_int_not_equal(system(cmd), 0);

    m = new_ml(0);
    if (rb_logstate_load(sp, m, &s, &err) != RB_OK) fail_msg("loading the state just saved: %s", err.msg);
    assert_int_equal(rb_maillog_open_count(m), 1);
    const rb_logpos *pa = rb_logstate_find(s, a.fp);
    assert_non_null(pa);
    assert_int_equal(pa->offset, 2000);
    assert_int_equal(pa->inode, 42);
    assert_string_equal(pa->path, "/var/log/mail.log");
    /* unseen: b was not looked up this run */
    const rb_logpos *un[4];
    assert_int_equal(rb_logstate_unseen(s, un, 4), 1);
    assert_string_equal(un[0]->fp, b.fp);
    assert_string_equal(un[0]->path, "/var/log/odd\tname\\with\nstuff");
    assert_int_equal(un[0]->offset, 99);
    /* a position set this run is not unseen either */
    assert_int_equal(rb_logstate_set(s, &b, &err), RB_OK);
    assert_int_equal(rb_logstate_unseen(s, un, 4), 0);
    assert_null(rb_logstate_find(s, ""));
    assert_null(rb_logstate_find(s, NULL));
    rb_logstate_free(s);
    rb_maillog_free(m);

    /* a damaged state file is an error naming its line */
    const char *bad = write_file("bad-state", "# comment\nfile\tonly\n", 20, "wb");
    assert_int_not_equal(rb_logstate_load(bad, NULL, &s, &err), RB_OK);
    assert_non_null(strstr(err.msg, "bad-state:2"));
    rb_logstate_free(s);
    bad = write_file("bad-state2", "hello world\n", 12, "wb");
    assert_int_not_equal(rb_logstate_load(bad, NULL, &s, &err), RB_OK);
    rb_logstate_free(s);
    /* a state file that cannot be written */
    assert_int_equal(rb_logstate_load(path_of("no-state-yet"), NULL, &s, &err), RB_OK);
    assert_int_equal(rb_logstate_save(s, "/nonexistent-dir/state", NULL, 0, &err), RB_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/state"));
    rb_logstate_free(s);
}

/* Loading a state without a correlator (positions only): the queue-ID
 * lines the library itself wrote are not an error. */
static void test_logstate_positions_only(void **state)
{
    (void)state;
    const char *sp = path_of("state-po");
    rb_logstate *s = NULL;
    rb_error err = {{0}};
    assert_int_equal(rb_logstate_load(sp, NULL, &s, &err), RB_OK);
    rb_logpos a = {"0123456789abcdef0001", 1234, 42, "/var/log/mail.log"};
    assert_int_equal(rb_logstate_set(s, &a, &err), RB_OK);
    rb_maillog *m = new_ml(0);
    rb_logclock c;
    rb_logclock_init(&c, utc(2026, 11, 24, 0, 0, 0));
    const char l1[] = "Nov 23 06:00:00 mx1 postfix/qmgr[2]: 2C3D4E5F6A7: from=<kept@x.example>, size=1, nrcpt=1";
    rb_maillog_feed(m, &c, l1, sizeof l1 - 1, "t", 1, NULL, NULL);
    assert_int_equal(rb_logstate_save(s, sp, m, utc(2026, 11, 24, 0, 0, 0), &err), RB_OK);
    rb_logstate_free(s);
    rb_maillog_free(m);
    if (rb_logstate_load(sp, NULL, &s, &err) != RB_OK)
        fail_msg("a state file with open queue IDs, loaded without a correlator: %s", err.msg);
    const rb_logpos *pa = rb_logstate_find(s, a.fp);
    assert_non_null(pa);
    assert_int_equal(pa->offset, 1234);
    rb_logstate_free(s);
}

/* The whole rotation story through the library: a line is read once. */
static void test_logfile_rotation_fingerprints(void **state)
{
    (void)state;
    const char *l1 = "Nov 23 06:00:00 mx1 postfix/qmgr[1]: AAAAAAAAAA1: removed\n"
                     "Nov 23 06:00:01 mx1 postfix/qmgr[1]: AAAAAAAAAA2: removed\n";
    const char *p = write_file("rot.log", l1, strlen(l1), "wb");
    rb_logfile *f = open_ok(p);
    char fp1[24];
    rb_strlcpy(fp1, rb_logfile_fp(f), sizeof fp1);
    uint64_t ino = rb_logfile_inode(f);
    lines_t L = read_all(f);
    assert_int_equal(L.n, 2);
    uint64_t off = rb_logfile_offset(f);
    lines_free(&L);
    rb_logfile_close(f);
    /* rename (logrotate): same inode, same fingerprint */
    char rot1[600];
    snprintf(rot1, sizeof rot1, "%s.1", p);
    assert_int_equal(rename(p, rot1), 0);
    const char *l3 = "Nov 23 06:00:02 mx1 postfix/qmgr[1]: AAAAAAAAAA3: removed\n";
    write_file("rot.log.1", l3, strlen(l3), "ab");
    f = open_ok(rot1);
    assert_string_equal(rb_logfile_fp(f), fp1);
    assert_int_equal(rb_logfile_inode(f), ino);
    rb_error err;
    assert_int_equal(rb_logfile_skip(f, off, &err), RB_OK);
    L = read_all(f);
    assert_int_equal(L.n, 1);
    assert_true(strstr(L.v[0], "AAAAAAAAAA3") != NULL);
    lines_free(&L);
    rb_logfile_close(f);
    /* a new live file with a different first line: a different fingerprint */
    p = write_file("rot.log", "Nov 24 06:00:00 mx1 postfix/qmgr[1]: BBBBBBBBBB1: removed\n", 58, "wb");
    f = open_ok(p);
    assert_string_not_equal(rb_logfile_fp(f), fp1);
    rb_logfile_close(f);
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    tzset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_syslog),
        cmocka_unit_test(test_parse_year_inference),
        cmocka_unit_test(test_parse_local_zone),
        cmocka_unit_test(test_parse_iso),
        cmocka_unit_test(test_parse_programs),
        cmocka_unit_test(test_parse_queue_ids),
        cmocka_unit_test(test_parse_truncated),
        cmocka_unit_test(test_feed_sample),
        cmocka_unit_test(test_feed_deferred_never_counted),
        cmocka_unit_test(test_feed_status_classes),
        cmocka_unit_test(test_feed_expiry),
        cmocka_unit_test(test_feed_verp_and_orig_to),
        cmocka_unit_test(test_feed_instances_apart),
        cmocka_unit_test(test_feed_providers),
        cmocka_unit_test(test_feed_since),
        cmocka_unit_test(test_feed_callback_stops),
        cmocka_unit_test(test_feed_memory_bounded),
        cmocka_unit_test(test_feed_long_and_junk),
        cmocka_unit_test(test_open_roundtrip),
        cmocka_unit_test(test_null_sender_backscatter),
        cmocka_unit_test(test_sender_specs),
        cmocka_unit_test(test_sasl_compromised),
        cmocka_unit_test(test_feed_deferred_finish),
        cmocka_unit_test(test_feed_lazy_finish),
        cmocka_unit_test(test_open_escaping_and_age),
        cmocka_unit_test(test_records_csv),
        cmocka_unit_test(test_logfile_partial_line),
        cmocka_unit_test(test_logfile_rotated_names),
        cmocka_unit_test(test_logfile_gzip),
        cmocka_unit_test(test_logfile_skip_and_truncation),
        cmocka_unit_test(test_logfile_long_line),
        cmocka_unit_test(test_logfile_junk),
        cmocka_unit_test(test_logfiles_sort),
        cmocka_unit_test(test_logfiles_postfix_logrotate),
        cmocka_unit_test(test_logstate),
        cmocka_unit_test(test_logstate_positions_only),
        cmocka_unit_test(test_logfile_rotation_fingerprints),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
