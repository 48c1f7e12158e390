/* test_util.c -- string helpers, address and code scanners, VERP, output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>
#include <gmime/gmime.h>

#include "rb_internal.h"

static void test_find_address(void **state)
{
    (void)state;
    char out[RB_ADDR_MAX];
    assert_non_null(rb_find_address("  <kijitora@example.jp>: 550 no", out, sizeof out));
    assert_string_equal(out, "kijitora@example.jp");
    assert_non_null(rb_find_address("mailto:neko@example.co.jp.", out, sizeof out));
    assert_string_equal(out, "neko@example.co.jp");
    assert_null(rb_find_address("no address here", out, sizeof out));
}

static void test_clean_address(void **state)
{
    (void)state;
    char a[RB_ADDR_MAX];
    strcpy(a, "rfc822; <Kijitora@Example.JP>");
    assert_true(rb_clean_address(a));
    assert_string_equal(a, "Kijitora@Example.JP");
    strcpy(a, "rfc822;mailto:x@y.example.");
    assert_true(rb_clean_address(a));
    assert_string_equal(a, "x@y.example");
    strcpy(a, "rfc822; \"plain.name\"@example.org");
    assert_true(rb_clean_address(a));
    assert_string_equal(a, "plain.name@example.org");              /* quotes guard nothing */
    strcpy(a, "\"neko....nyaan\"@example.org");
    assert_true(rb_clean_address(a));
    assert_string_equal(a, "\"neko....nyaan\"@example.org");       /* consecutive dots need them */
    strcpy(a, "nobody");
    assert_false(rb_clean_address(a));
}

/* rb_strcaseprefix answers as strncasecmp(s, p, strlen(p)) == 0 does (C locale) */
static void test_strcaseprefix(void **state)
{
    (void)state;
    static const char *const s[] = {"", "R", "rfc822;", "RFC822; a@b", "rfc82", "Rfc822 ;", "@x", "`x", "[a", "{a",
                                    "\xc3\xa9t\xc3\xa9", "\xc3\x89T\xc3\x89", "x-Failed-Recipients: a"};
    static const char *const p[] = {"", "r", "rfc822;", "RFC822 ;", "@", "`", "[", "{", "\xc3\xa9", "X-FAILED-", "rfc822;x"};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        for (size_t k = 0; k < sizeof p / sizeof p[0]; k++)
            if (rb_strcaseprefix(s[i], p[k]) != (strncasecmp(s[i], p[k], strlen(p[k])) == 0))
                fail_msg("rb_strcaseprefix(\"%s\", \"%s\") differs from strncasecmp", s[i], p[k]);
}

static void test_find_status(void **state)
{
    (void)state;
    char s[16];
    assert_true(rb_find_status("550 5.1.10 RESOLVER.ADR.RecipientNotFound", s, sizeof s));
    assert_string_equal(s, "5.1.10");
    assert_true(rb_find_status("(#5.5.0)", s, sizeof s));
    assert_string_equal(s, "5.5.0");
    /* IP addresses and versions are not status codes */
    assert_false(rb_find_status("host 192.0.2.1 said hello, Exim 4.72.1", s, sizeof s));
}

static void test_find_reply(void **state)
{
    (void)state;
    char c[8];
    assert_true(rb_find_reply("host mx said: 550 5.1.1 no such user", c, sizeof c));
    assert_string_equal(c, "550");
    assert_true(rb_find_reply("452-4.2.2 The email account", c, sizeof c));
    assert_string_equal(c, "452");
    assert_false(rb_find_reply("port 25000 and id 123456", c, sizeof c));
}

static void test_squeeze(void **state)
{
    (void)state;
    char s[64];
    strcpy(s, "  a\n\tb   c \r\n");
    rb_squeeze(s);
    assert_string_equal(s, "a b c");
}

static void test_verp(void **state)
{
    (void)state;
    char out[RB_ADDR_MAX];
    assert_true(rb_verp_decode("list+user=example.com@bounces.example.org", out, sizeof out));
    assert_string_equal(out, "user@example.com");
    assert_true(rb_verp_decode("<news+j.doe=sub.example.co.uk@example.net>", out, sizeof out));
    assert_string_equal(out, "j.doe@sub.example.co.uk");
    assert_false(rb_verp_decode("bounce-123456789@example.com", out, sizeof out));
    assert_false(rb_verp_decode("plain@example.com", out, sizeof out));
    assert_true(rb_verp_encode("list", "bounces.example.org", "user@example.com", out, sizeof out));
    assert_string_equal(out, "list+user=example.com@bounces.example.org");
    char back[RB_ADDR_MAX];
    assert_true(rb_verp_decode(out, back, sizeof back));
    assert_string_equal(back, "user@example.com");
}

static void test_jsonl_escaping(void **state)
{
    (void)state;
    rb_record r;
    memset(&r, 0, sizeof r);
    strcpy(r.recipient, "a\"b@example.com");
    strcpy(r.diagnostic, "line\tone \\ \xff bad");
    rb_buf b;
    rb_buf_init(&b);
    assert_int_equal(rb_record_to_jsonl(&r, &b), 0);
    assert_non_null(strstr(b.buf, "\"recipient\":\"a\\\"b@example.com\""));
    assert_non_null(strstr(b.buf, "line\\u0009one \\\\ \xEF\xBF\xBD bad"));
    assert_int_equal(b.buf[b.len - 1], '\n');
    rb_buf_free(&b);
}

static void test_csv_quoting(void **state)
{
    (void)state;
    rb_record r;
    memset(&r, 0, sizeof r);
    strcpy(r.source, "x.eml");
    strcpy(r.diagnostic, "550 \"no\", really");
    rb_buf b;
    rb_buf_init(&b);
    rb_record_to_csv(&r, &b);
    assert_non_null(strstr(b.buf, ",\"550 \"\"no\"\", really\","));
    rb_buf_free(&b);
}

static void test_field_groups(void **state)
{
    (void)state;
    const char *t = "Reporting-MTA: dns; mx.example.jp\n\nFinal-Recipient: rfc822; a@example.jp\n"
                    "Status: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 <a@example.jp>:\n  user unknown\n\n"
                    "Final-Recipient: rfc822; b@example.jp\nStatus: 4.2.2\n";
    rb_fields *g = NULL;
    size_t n = rb_parse_field_groups(t, strlen(t), &g);
    assert_int_equal(n, 3);
    assert_string_equal(rb_fields_get(&g[0], "reporting-mta"), "dns; mx.example.jp");
    assert_string_equal(rb_fields_get(&g[1], "Diagnostic-Code"), "smtp; 550 5.1.1 <a@example.jp>: user unknown");
    rb_record r;
    memset(&r, 0, sizeof r);
    assert_true(rb_record_from_dsfields(&g[1], &g[0], &r));
    assert_string_equal(r.recipient, "a@example.jp");
    assert_string_equal(r.status, "5.1.1");
    assert_string_equal(r.diagnostic, "550 5.1.1 <a@example.jp>: user unknown");
    assert_string_equal(r.reporting_mta, "mx.example.jp");
    for (size_t i = 0; i < n; i++) rb_fields_free(&g[i]);
    free(g);
}

static void test_strcasestrn(void **state)
{
    (void)state;
    const char *h = "Delivery has FAILED to these recipients";
    assert_ptr_equal(rb_strcasestrn(h, strlen(h), "failed to"), h + 13);
    assert_ptr_equal(rb_strcasestrn(h, strlen(h), "DELIVERY"), h);
    assert_ptr_equal(rb_strcasestrn(h, strlen(h), "recipients"), h + strlen(h) - 10);
    assert_null(rb_strcasestrn(h, strlen(h), "recipientsx"));
    assert_null(rb_strcasestrn(h, 5, "failed"));               /* bounded by len, not by NUL */
    assert_string_equal(rb_strcasestrn("x1-2", 4, "1-2"), "1-2");
    assert_null(rb_strcasestrn(NULL, 0, "a"));
    assert_ptr_equal(rb_strcasestr("abcABC", "Cab"), rb_strcasestr("abcABC", "cAB"));

    /* the leftmost match at every haystack length (the vector loops, the
     * last window, the byte loop), against a plain search */
    static const char alphabet[] = "abAB-x";
    static const char *const needles[] = {"ab", "aBa", "xab", "bab-", "a-b-a", "abababab", "xxxxxxxxxxxxxxxxb"};
    unsigned seed = 7;
    char hay[130];
    for (int t = 0; t < 3000; t++) {
        size_t len = (size_t)t % sizeof hay;
        for (size_t k = 0; k < len; k++) {
            seed = seed * 1103515245u + 12345u;
            hay[k] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
        }
        const char *nd = needles[(size_t)t % (sizeof needles / sizeof needles[0])];
        size_t nl = strlen(nd);
        const char *want = NULL;
        for (size_t i = 0; !want && i + nl <= len; i++)
            if (strncasecmp(hay + i, nd, nl) == 0) want = hay + i;
        if (rb_strcasestrn(hay, len, nd) != want)
            fail_msg("rb_strcasestrn(\"%.*s\", \"%s\") is not the leftmost match", (int)len, hay, nd);
    }
}

/* time.c: formatting agrees with gmtime()/strftime() over a wide range, and
 * parsing what it writes gives the same second back. */
static void test_time(void **state)
{
    (void)state;
    for (int64_t t = -86400LL * 366 * 3; t < 86400LL * 366 * 200; t += 86400LL * 17 + 3611) {
        char a[32], b[32], d[16];
        time_t tt = (time_t)t;
        struct tm tm;
        gmtime_r(&tt, &tm);
        strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
        assert_int_equal(rb_time_format_iso(t, a, sizeof a), 1);
        assert_string_equal(a, b);
        assert_int_equal(rb_time_format_date(t, d, sizeof d), 1);
        assert_memory_equal(d, b, 10);
        assert_int_equal(strlen(d), 10);
        int64_t back = 0;
        if (t >= 0) {
            assert_int_equal(rb_time_parse(a, &back), 1);
            assert_int_equal(back, t);
        }
    }
    char small[20];
    assert_int_equal(rb_time_format_iso(0, small, sizeof small), 0);
    assert_string_equal(small, "");
    int64_t t;
    assert_int_equal(rb_time_parse("2026-11-23", &t), 1);
    assert_int_equal(t, rb_days_from_civil(2026, 11, 23) * 86400);
    assert_int_equal(rb_time_parse("2026-11-23 07:25+01:00", &t), 1);
    assert_int_equal(t, rb_days_from_civil(2026, 11, 23) * 86400 + 6 * 3600 + 25 * 60);
    assert_int_equal(rb_time_parse("Mon, 23 Nov 2026 07:25:01 +0100", &t), 1);
    assert_int_equal(t, rb_days_from_civil(2026, 11, 23) * 86400 + 6 * 3600 + 25 * 60 + 1);
    assert_int_equal(rb_time_parse("2026-13-01", &t), 0);
    assert_int_equal(rb_time_parse("yesterday", &t), 0);
    char iso[32];
    assert_int_equal(rb_time_rfc5322_to_iso("Tue, 1 Dec 2026 00:30:00 +0200", iso, sizeof iso), 1);
    assert_string_equal(iso, "2026-11-30T22:30:00Z");
    assert_int_equal(rb_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(rb_days_from_civil(2000, 3, 1), 11017);
    /* the common form is read without GMime: the same answers as GMime's */
    static const char *const dates[] = {
        "Tue, 1 Dec 2026 00:30:00 +0200", "Mon, 05 Jan 2026 23:59:59 -1400", "29 Feb 2024 12:00:00 +0000",
        "Sat, 31 Dec 2016 23:30:00 -0130", "Fri, 1 Jan 1971 00:00:00 +1400", "29 Feb 2023 12:00:00 +0000",
        "Thu, 31 Apr 2025 10:00:00 +0100", "Sun, 01 Mar 2100 00:00:00 +0001", "Wed, 15 Jul 2026 08:09:10 +0545",
        "Mon, 23 Nov 2026 07:25:01 +0100 (CET)", "Tue, 1 Dec 26 00:30:00 +0200", "1 Dec 2026 00:30 +0200",
    };
    for (size_t i = 0; i < sizeof dates / sizeof dates[0]; i++) {
        char want[64] = "", got[64] = "";
        int wok = 0;
        GDateTime *dt = g_mime_utils_header_decode_date(dates[i]);
        if (dt) {
            GDateTime *u = g_date_time_to_utc(dt);
            char *f = g_date_time_format(u, "%Y-%m-%dT%H:%M:%SZ");
            wok = f != NULL;
            if (f) snprintf(want, sizeof want, "%s", f);
            g_free(f);
            g_date_time_unref(u);
            g_date_time_unref(dt);
        }
        assert_int_equal(rb_time_rfc5322_to_iso(dates[i], got, sizeof got), wok);
        assert_string_equal(got, want);
    }
}

static void test_utf8(void **state)
{
    (void)state;
    assert_int_equal(rb_utf8_seq("a", 1), 1);
    assert_int_equal(rb_utf8_seq("\xC3\xA9", 2), 2);
    assert_int_equal(rb_utf8_seq("\xC3\xA9", 1), 0);            /* cut short */
    assert_int_equal(rb_utf8_seq("\xE2\x82\xAC", 3), 3);
    assert_int_equal(rb_utf8_seq("\xF0\x9F\x98\x80", 4), 4);
    assert_int_equal(rb_utf8_seq("\xC0\xAF", 2), 0);            /* overlong */
    assert_int_equal(rb_utf8_seq("\xE0\x80\xAF", 3), 0);        /* overlong */
    assert_int_equal(rb_utf8_seq("\xED\xA0\x80", 3), 0);        /* surrogate */
    assert_int_equal(rb_utf8_seq("\xF4\x90\x80\x80", 4), 0);    /* past U+10FFFF */
    assert_int_equal(rb_utf8_seq("\x80", 1), 0);
    assert_int_equal(rb_utf8_invalid_at("abc", 3), -1);
    assert_int_equal(rb_utf8_invalid_at("a\0b\xC3\xA9", 5), -1);  /* a NUL is valid here */
    assert_int_equal(rb_utf8_invalid_at("ab\xC3(", 4), 2);
    assert_int_equal(rb_utf8_invalid_at("a\0\xFF", 3), 2);
    assert_int_equal(rb_utf8_invalid_at("\xC3\xA9\xE2\x82", 4), 2);
}

/* text.c's writers, on the short path and the 16-byte one alike */
static void test_text_writers(void **state)
{
    (void)state;
    rb_buf b;
    rb_buf_init(&b);
    assert_int_equal(rb_json_str(&b, "del\x7F \xC3\xA9 0123456789abcdef\x7F\x01 \xED\xA0\x80 \"q\""), 0);
    assert_string_equal(b.buf, "\"del\\u007f \xC3\xA9 0123456789abcdef\\u007f\\u0001 "
                               "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD \\\"q\\\"\"");
    b.len = 0;
    assert_int_equal(rb_csv_field(&b, "plain"), 0);
    assert_int_equal(rb_buf_append(&b, ",", 1), 0);
    assert_int_equal(rb_csv_field(&b, "say \"hi\", then\r\nbye\""), 0);
    assert_int_equal(rb_buf_append(&b, ",", 1), 0);
    assert_int_equal(rb_csv_field(&b, ""), 0);
    assert_string_equal(b.buf, "plain,\"say \"\"hi\"\", then\r\nbye\"\"\",");
    rb_buf_free(&b);
}

static void test_comments(void **state)
{
    (void)state;
    assert_int_equal(rb_comment_at("yahoo host *.yahoo.com # Yahoo's MTAs", 37), 23);
    assert_int_equal(rb_comment_at("# whole line", 12), 0);
    assert_int_equal(rb_comment_at("blocked ~ \\bAUP#RBL", 19), 19);
    assert_int_equal(rb_comment_at("x\t#tab", 6), 2);
    assert_int_equal(rb_comment_at("ab #c", 2), 2);
    assert_int_equal(rb_comment_at("ab #c", 5), 3);
}

/* rb_conf: one reader for the data files, the comment rule applied */
static void test_conf_reader(void **state)
{
    (void)state;
    char path[] = "/tmp/rebound-test-conf-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("# a comment\r\n  yahoo host *.yahoo.com  # their MTAs\n"
          "userunknown status=5.1.1 # why ~ not a pattern\n"
          "blocked ~ \\bAUP#RBL # all of it pattern\n"
          "  ~ #5\\.1\\.0 rejected\n", f);
    fclose(f);
    rb_conf c;
    rb_error err = {{0}};
    assert_int_equal(rb_conf_open(&c, path, "rules", 1, &err), RB_OK);
    static const char *const want[] = {"", "yahoo host *.yahoo.com", "userunknown status=5.1.1",
                                       "blocked ~ \\bAUP#RBL # all of it pattern", "~ #5\\.1\\.0 rejected"};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(rb_conf_next(&c), 1);
        assert_int_equal(c.lineno, i + 1);
        assert_string_equal(c.line, want[i]);
    }
    assert_int_equal(rb_conf_next(&c), 0);
    rb_conf_close(&c);
    /* without patterns, '#' after a blank starts a comment everywhere */
    assert_int_equal(rb_conf_open(&c, path, "policy", 0, &err), RB_OK);
    for (int i = 0; i < 4; i++) assert_int_equal(rb_conf_next(&c), 1);
    assert_string_equal(c.line, "blocked ~ \\bAUP#RBL");
    rb_conf_close(&c);
    unlink(path);
    assert_int_equal(rb_conf_open(&c, path, "policy", 0, &err), RB_ERR_IO);
    assert_non_null(strstr(err.msg, "cannot open policy file"));
}

static void test_mask_url(void **state)
{
    (void)state;
    char o[128];
    rb_mask_url("postgresql://user:secret@host/db", o, sizeof o);
    assert_string_equal(o, "postgresql://user:***@host/db");
    rb_mask_url("host=h password=secret dbname=d", o, sizeof o);
    assert_string_equal(o, "host=h password=*** dbname=d");
    rb_mask_url("https://u:p@q@api.example/x?a=@b", o, sizeof o);
    assert_string_equal(o, "https://u:***@api.example/x?a=@b");
    rb_mask_url("https://api.example/x?u=a:b@c", o, sizeof o);
    assert_string_equal(o, "https://api.example/x?u=a:b@c");
    rb_mask_url("https://user@api.example/", o, sizeof o);
    assert_string_equal(o, "https://user@api.example/");
    rb_mask_url("postgresql://user:secretsecret@host/db", o, 22);
    assert_string_equal(o, "postgresql://user:***");
}

static void test_text_contains(void **state)
{
    (void)state;
    const char *t = "kijitora wasn\xE2\x80\x99t found at example.com";
    assert_true(rb_text_contains(t, strlen(t), "WASN'T FOUND AT"));
    assert_false(rb_text_contains(t, strlen(t), "was not found"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find_address), cmocka_unit_test(test_clean_address),
        cmocka_unit_test(test_find_status),  cmocka_unit_test(test_strcaseprefix),  cmocka_unit_test(test_find_reply),
        cmocka_unit_test(test_squeeze),      cmocka_unit_test(test_verp),
        cmocka_unit_test(test_jsonl_escaping), cmocka_unit_test(test_csv_quoting),
        cmocka_unit_test(test_field_groups), cmocka_unit_test(test_text_contains),
        cmocka_unit_test(test_strcasestrn),  cmocka_unit_test(test_time), cmocka_unit_test(test_mask_url), cmocka_unit_test(test_utf8), cmocka_unit_test(test_comments), cmocka_unit_test(test_conf_reader), cmocka_unit_test(test_text_writers),
    };
    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
