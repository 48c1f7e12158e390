/* test_message.c -- the MIME walk (lib/ingest/message.c): header blocks, encodings,
 * charsets, multipart structure, the parts bounce analysis reads. */
#include "testlib.h"

#include "message.h"

#include <gmime/gmime.h>
#include <stdlib.h>

typedef struct {
    rb_msg m;
} opened;

static rb_msg *open_msg(opened *o, const char *text)
{
    rb_error err = {{0}};
    rb_status st = rb_msg_open(&o->m, test_ctx(), text, strlen(text), &err);
    if (st != RB_OK) fail_msg("rb_msg_open: %s", err.msg);
    return &o->m;
}

static void test_headers_folding_and_rfc2047(void **state)
{
    (void)state;
    opened o;
    rb_msg *m = open_msg(&o, "From: =?UTF-8?B?TWFpbCBEZWxpdmVyeQ==?= <MAILER-DAEMON@mx.example.org>\r\n"
                             "Subject: =?ISO-8859-1?Q?Non_remis_:_caf=E9?=\r\n"
                             "X-Long: first part\r\n"
                             "\tsecond part\r\n"
                             "Received: from a.example by mx.outbound.protection.outlook.com\r\n"
                             "Received: from b.example by c.example\r\n"
                             "\r\n"
                             "body\r\n");
    assert_string_equal(m->from_addr, "MAILER-DAEMON@mx.example.org");
    assert_string_equal(m->subject, "Non remis : caf\xc3\xa9");
    assert_string_equal(rb_msg_header(m, "x-long"), "first part\tsecond part");
    assert_true(rb_msg_header_contains(m, "Received", ".protection.outlook.com"));
    assert_false(rb_msg_header_contains(m, "Received", "nowhere.example"));
    assert_null(rb_msg_header(m, "X-Absent"));
    assert_string_equal(m->body, "body\n");   /* CRLF became LF */
    rb_msg_close(m);
}

static void test_transfer_encodings_and_charsets(void **state)
{
    (void)state;
    opened o;
    /* base64 UTF-8, quoted-printable Windows-1252 with a NUL, ISO-2022-JP */
    rb_msg *m = open_msg(&o, "From: postmaster@example.org\n"
                             "Content-Type: multipart/mixed; boundary=\"b1\"\n\n"
                             "preamble text\n"
                             "--b1\n"
                             "Content-Type: text/plain; charset=utf-8\n"
                             "Content-Transfer-Encoding: base64\n\n"
                             "w6l0w6kgLSBzdW1tZXI=\n"
                             "--b1\n"
                             "Content-Type: text/plain; charset=\"Windows-1252\"\n"
                             "Content-Transfer-Encoding: quoted-printable\n\n"
                             "wasn=92t found =00here=\n"
                             " soft break\n"
                             "--b1\n"
                             "Content-Type: text/plain; charset=iso-2022-jp\n\n"
                             "\x1b$B%a!<%k\x1b(B ok\n"
                             "--b1--\n"
                             "epilogue\n");
    assert_non_null(strstr(m->body, "\xc3\xa9t\xc3\xa9 - summer"));
    assert_non_null(strstr(m->body, "wasn\xe2\x80\x99t found  here soft break"));
    assert_non_null(strstr(m->body, "\xe3\x83\xa1\xe3\x83\xbc\xe3\x83\xab ok"));   /* メール */
    assert_null(strstr(m->body, "preamble"));
    assert_null(strstr(m->body, "epilogue"));
    assert_string_equal(m->prologue, "preamble text");
    assert_string_equal(m->content_type, "multipart/mixed");
    rb_msg_close(m);
}

static void test_report_parts(void **state)
{
    (void)state;
    opened o;
    rb_msg *m = open_msg(&o, "From: MAILER-DAEMON@example.org\n"
                             "Content-Type: multipart/report; report-type=Delivery-Status;\n"
                             " boundary=\"=_outer\"\n\n"
                             "--=_outer\n"
                             "Content-Type: multipart/alternative; boundary=inner\n\n"
                             "--inner\n"
                             "Content-Type: text/html\n\n"
                             "<p>html version</p>\n"
                             "--inner\n"
                             "Content-Type: text/plain\n\n"
                             "plain version\n"
                             "--inner--\n"
                             "--=_outer\n"
                             "Content-Type: message/delivery-status\n\n"
                             "Reporting-MTA: dns; mx.example.org\n\n"
                             "Final-Recipient: rfc822; a@example.net\n"
                             "Status: 5.1.1\n"
                             "--=_outer\n"
                             "Content-Type: message/rfc822\n\n"
                             "From: sender@example.org\n"
                             "Subject: the original\n"
                             "Message-ID: <orig-1@example.org>\n"
                             "Content-Type: multipart/mixed; boundary=never-parsed\n\n"
                             "--never-parsed\n"
                             "Content-Type: text/plain\n\n"
                             "original body, not bounce text\n"
                             "--=_outer--\n");
    assert_string_equal(m->report_type, "delivery-status");
    assert_string_equal(m->body, "plain version\n");           /* alternative: the plain part */
    assert_int_equal(m->nds, 2);
    assert_string_equal(rb_fields_get(&m->ds[1], "Final-Recipient"), "rfc822; a@example.net");
    assert_string_equal(rb_msg_orig_header(m, "Subject"), "the original");
    assert_string_equal(rb_msg_orig_header(m, "Message-ID"), "<orig-1@example.org>");
    assert_non_null(m->attached);
    assert_null(strstr(m->body, "original body"));
    rb_msg_close(m);
}

static void test_broken_structures(void **state)
{
    (void)state;
    opened o;
    /* a boundary that never occurs: the whole text is the preamble, and is read */
    rb_msg *m = open_msg(&o, "From: MAILER-DAEMON@example.org\n"
                             "Content-Type: multipart/report; boundary=\"missing\"\n\n"
                             "<u@example.net>: 550 5.1.1 unknown\n");
    assert_non_null(strstr(m->body, "550 5.1.1 unknown"));
    rb_msg_close(m);

    /* truncated MIME: the last part has no closing delimiter */
    m = open_msg(&o, "From: MAILER-DAEMON@example.org\n"
                     "Content-Type: multipart/mixed; boundary=b\n\n"
                     "--b\nContent-Type: text/plain\n\nfirst\n--b\nContent-Type: text/plain\n\nsecond, cut of");
    assert_non_null(strstr(m->body, "first"));
    assert_non_null(strstr(m->body, "second, cut of"));
    rb_msg_close(m);

    /* HTML only: turned into text */
    m = open_msg(&o, "From: MAILER-DAEMON@example.org\nContent-Type: text/html\n\n"
                     "<div>Delivery failed&nbsp;to</div><p>a@example.net</p>");
    assert_non_null(strstr(m->body, "Delivery failed to"));
    assert_non_null(strstr(m->body, "a@example.net"));
    rb_msg_close(m);

    /* an unindented base64 continuation inside a header block is not the body */
    m = open_msg(&o, "From: MAILER-DAEMON@example.org\nX-Blob:\nQUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\n"
                     "Subject: still a header\n\nthe body\n");
    assert_string_equal(m->subject, "still a header");
    assert_string_equal(m->body, "the body\n");
    rb_msg_close(m);

    /* nesting deeper than the bound: no crash, nothing from beyond it */
    GString *deep = g_string_new("From: x@example.org\n");
    for (int i = 0; i < 40; i++) g_string_append_printf(deep, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i);
    g_string_append(deep, "Content-Type: text/plain\n\ndeepest\n");
    m = open_msg(&o, deep->str);
    assert_null(strstr(m->body ? m->body : "", "deepest"));
    rb_msg_close(m);
    g_string_free(deep, TRUE);
}

/* A bounce that names nobody, sent to a VERP return path: the path says who. */
static void test_verp_names_the_recipient(void **state)
{
    (void)state;
    rb_result *r = test_analyze("From: MAILER-DAEMON@mx.example.net\n"
                                "To: news+jan.peeters=example.be@bounces.example.org\n"
                                "Subject: Undeliverable mail\n\n"
                                "Your message could not be delivered.\n"
                                "550 5.1.1 mailbox unavailable\n");
    assert_records(r, 1);
    assert_rec(r, 0, "jan.peeters@example.be", NULL, "5.1.1");
    assert_by(r, 0, "verp");
    /* the same text from a person is no bounce, VERP or not */
    r = test_analyze("From: jan@example.net\nTo: news+a=example.be@bounces.example.org\nSubject: hello\n\n550 5.1.1 ha\n");
    assert_records(r, 0);
}

static void test_no_header_is_an_error(void **state)
{
    (void)state;
    rb_msg m;
    rb_error err = {{0}};
    assert_int_equal(rb_msg_open(&m, test_ctx(), "just some text\n", 15, &err), RB_ERR_PARSE);
    rb_msg_close(&m);
}

/* Our quoted-printable decoder against GMime's, on odd inputs and on
 * random strings of the bytes that matter. */
static void qp_same_as_gmime(const char *in, size_t n)
{
    unsigned char *a = malloc(n + 4), *b = malloc(n + 4);
    int state = 0;
    guint32 save = 0;
    size_t na = g_mime_encoding_quoted_decode_step((const unsigned char *)in, n, a, &state, &save);
    size_t nb = rb_qp_decode(in, n, (char *)b);
    if (na != nb || memcmp(a, b, na) != 0)
        fail_msg("quoted-printable \"%.*s\": GMime gives %zu bytes \"%.*s\", rb_qp_decode %zu \"%.*s\"", (int)n, in,
                 na, (int)na, (const char *)a, nb, (int)nb, (const char *)b);
    free(a);
    free(b);
}

static void test_quoted_printable_as_gmime(void **state)
{
    (void)state;
    static const char *const odd[] = {
        "", "=", "==", "===", "=4", "=41", "=4g", "=g4", "=\n", "=\r", "=\r\n", "=\r\nx", "=\nx", "a=\n=\nb",
        "soft=\r\nbreak", "trailing spaces   \r\nnext  =\r\n", "=3D=3d=3Dx", "=e9t=C3=A9", "bad =zz escape",
        "= 41", "=\r=41", "==41", "=\n\n", "line=\r\r\n", "x=", "x=4", "=\x80\x81", "=\xe9\xe9", "=A", "=aF=Fa",
        "caf=\n\xc3\xa9 =\r\n", "a\0b=00c",
    };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) qp_same_as_gmime(odd[i], strlen(odd[i]));
    qp_same_as_gmime("a\0b=00c", 8);   /* NUL bytes pass through */
    static const char alphabet[] = "==\r\n aF09g\x80\xff.";
    unsigned seed = 13;
    char buf[48];
    for (int t = 0; t < 20000; t++) {
        seed = seed * 1103515245u + 12345u;
        size_t n = (seed >> 16) % sizeof buf;
        for (size_t k = 0; k < n; k++) {
            seed = seed * 1103515245u + 12345u;
            buf[k] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
        }
        qp_same_as_gmime(buf, n);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_headers_folding_and_rfc2047),
        cmocka_unit_test(test_transfer_encodings_and_charsets),
        cmocka_unit_test(test_report_parts),
        cmocka_unit_test(test_broken_structures),
        cmocka_unit_test(test_verp_names_the_recipient),
        cmocka_unit_test(test_no_header_is_an_error),
        cmocka_unit_test(test_quoted_printable_as_gmime),
    };
    return cmocka_run_group_tests_name("message", tests, NULL, NULL);
}
