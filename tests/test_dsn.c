/* test_dsn.c -- unit tests for lib/analyze/dsn.c (RFC 3464, ARF, RFC 3834 and the
 * free-text fallback), on samples written for the tests.
 *
 * Where rebound deliberately answers differently from the corpus
 * expectations (../shared/corpus/expected.tsv), the test that pins the
 * behaviour says why:
 *   - arf-12.eml: an opt-out report whose feedback part names the address
 *     to remove ("Removal-Recipient:", ARF draft opt-out reports).  The
 *     expectation uses the no-recipient placeholder; rebound reports the
 *     named address (test_arf_removal_recipient).
 *   - rfc3464-01.eml: the delivery-status part says 5.1.1 "User Unknown"
 *     while the prose says "Not enough disk space"; the expectation
 *     follows the prose (mailboxfull), rebound follows the machine-readable
 *     fields (userunknown) (test_dsn_fields_win_over_prose).
 */
#include "testlib.h"
#include "message.h"

/* Run one parser of dsn.c alone on a message (no vendor module first);
 * returns the number of records it appended to res. */
static int run_parser(rb_lhost_fn fn, const char *msg, rb_result *res)
{
    rb_msg m;
    rb_error err = {{0}};
    rb_result_clear(res);
    if (rb_msg_open(&m, test_ctx(), msg, strlen(msg), &err) != RB_OK) fail_msg("open: %s", err.msg);
    int n = fn(&m, res);
    rb_msg_close(&m);
    return n;
}

static const rb_record *rec(const rb_result *r, size_t i)
{
    assert_true(i < r->n);
    return &r->recs[i];
}

/* ---- RFC 3464 --------------------------------------------------------------- */

static const char dsn_two[] =
    "From: Delivery Reports <reports@mx.example.net>\n"
    "To: sender@example.org\n"
    "Subject: Delivery report\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B1\"\n"
    "\n"
    "--B1\n"
    "Content-Type: text/plain\n"
    "\n"
    "Two recipients could not be reached.\n"
    "\n"
    "--B1\n"
    "Content-Type: message/delivery-status\n"
    "\n"
    "Reporting-MTA: dns; mx.example.net\n"
    "Arrival-Date: Mon, 2 Jan 2023 10:00:00 +0000\n"
    "\n"
    "Final-Recipient: rfc822; alice@example.com\n"
    "Action: failed\n"
    "Status: 5.1.1\n"
    "Remote-MTA: dns; mail.example.com\n"
    "Diagnostic-Code: smtp; 550 5.1.1 <alice@example.com>: Recipient address rejected: User unknown\n"
    "\n"
    "Final-Recipient: rfc822; bob@example.com\n"
    "Action: failed\n"
    "Status: 5.2.2\n"
    "Remote-MTA: dns; mail.example.com\n"
    "Diagnostic-Code: smtp; 552 5.2.2 <bob@example.com>: Mailbox full\n"
    "\n"
    "--B1\n"
    "Content-Type: text/rfc822-headers\n"
    "\n"
    "From: sender@example.org\n"
    "To: alice@example.com, bob@example.com\n"
    "Subject: hello\n"
    "Message-ID: <m1@example.org>\n"
    "\n"
    "--B1--\n";

/* Each recipient of a multi-recipient DSN keeps its own status and text. */
static void test_dsn_two_recipients(void **state)
{
    (void)state;
    rb_result *r = test_analyze(dsn_two);
    assert_records(r, 2);
    assert_rec(r, 0, "alice@example.com", "userunknown", "5.1.1");
    assert_rec(r, 1, "bob@example.com", "mailboxfull", "5.2.2");
    assert_string_equal(rec(r, 0)->reply_code, "550");
    assert_string_equal(rec(r, 1)->reply_code, "552");
    assert_non_null(strstr(rec(r, 1)->diagnostic, "Mailbox full"));
    assert_null(strstr(rec(r, 0)->diagnostic, "Mailbox full"));
    assert_string_equal(rec(r, 0)->original_message_id, "m1@example.org");
}

/* The same DSN with CRLF line endings gives the same records. */
static void test_dsn_crlf(void **state)
{
    (void)state;
    char buf[sizeof dsn_two * 2];
    size_t w = 0;
    for (const char *p = dsn_two; *p; p++) {
        if (*p == '\n') buf[w++] = '\r';
        buf[w++] = *p;
    }
    buf[w] = '\0';
    rb_result *r = test_analyze(buf);
    assert_records(r, 2);
    assert_rec(r, 0, "alice@example.com", "userunknown", "5.1.1");
    assert_rec(r, 1, "bob@example.com", "mailboxfull", "5.2.2");
}

/* The machine-readable fields decide, even when the prose says otherwise
 * (see the header comment: corpus rfc3464-01.eml). */
static void test_dsn_fields_win_over_prose(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: Reports <reports@mx.example.net>\n"
        "To: sender@example.org\n"
        "Subject: Delivery report\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n"
        "\n"
        "--B\n"
        "Content-Type: text/plain\n"
        "\n"
        "Your message to <carol> was rejected: not enough disk space\n"
        "\n"
        "--B\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        "Reporting-MTA: dns; mx.example.net\n"
        "\n"
        "Final-Recipient: rfc822; carol@example.com\n"
        "Action: failed\n"
        "Status: 5.1.1\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <carol@example.com>... User unknown\n"
        "\n"
        "--B--\n");
    assert_records(r, 1);
    assert_rec(r, 0, "carol@example.com", "userunknown", "5.1.1");
}

/* No Diagnostic-Code: the prose sentence naming the recipient explains it. */
static void test_dsn_diagnostic_from_prose(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: Reports <reports@mx.example.net>\n"
        "To: sender@example.org\n"
        "Subject: Delivery report\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n"
        "\n"
        "--B\n"
        "Content-Type: text/plain\n"
        "\n"
        "Your message to dave@example.com could not be delivered: mailbox is full.\n"
        "\n"
        "--B\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        "Reporting-MTA: dns; mx.example.net\n"
        "\n"
        "Final-Recipient: rfc822; dave@example.com\n"
        "Action: failed\n"
        "Status: 5.0.0\n"
        "\n"
        "--B--\n");
    assert_records(r, 1);
    assert_rec(r, 0, "dave@example.com", "mailboxfull", NULL);
    assert_non_null(strstr(rec(r, 0)->diagnostic, "mailbox is full"));
}

/* A multipart/report whose boundary never occurs: the DSN fields are in
 * the prologue and still count. */
static void test_dsn_in_prologue(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: Reports <reports@mx.example.net>\n"
        "To: sender@example.org\n"
        "Subject: Returned mail\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"never-used\"\n"
        "\n"
        "The following address had a permanent error.\n"
        "554 5.3.0 erin@example.com... Service unavailable\n"
        "\n"
        "Reporting-MTA: dns; mx.example.net\n"
        "\n"
        "Final-Recipient: RFC822; erin@example.com\n"
        "Action: failed\n"
        "Status: 5.3.0\n"
        "\n");
    assert_records(r, 1);
    assert_rec(r, 0, "erin@example.com", NULL, "5.3.0");
}

/* A bounce forwarded by a person ("> "-quoted) is still read. */
static void test_dsn_forwarded_quoted(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: Sender <sender@example.org>\n"
        "To: helpdesk@example.org\n"
        "Subject: Fwd: delivery report\n"
        "Message-ID: <fwd1@example.org>\n"
        "\n"
        "What does this mean?\n"
        "\n"
        "> From: reports@mx.example.net\n"
        "> Message-Id: <20230102.abc@mx.example.net>\n"
        ">\n"
        "> Reporting-MTA: dns; mx.example.net\n"
        ">\n"
        "> Final-Recipient: rfc822; frank@example.com\n"
        "> Action: failed\n"
        "> Status: 5.1.1\n"
        "> Diagnostic-Code: smtp; 550 5.1.1 unknown user\n"
        ">\n");
    assert_records(r, 1);
    assert_rec(r, 0, "frank@example.com", "userunknown", "5.1.1");
}

/* ---- ARF ---------------------------------------------------------------------- */

static void test_arf_two_rcpt(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: fbl@isp.example.net\n"
        "To: abuse@example.org\n"
        "Subject: FW: newsletter\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=feedback-report; boundary=\"F\"\n"
        "\n"
        "--F\n"
        "Content-Type: text/plain\n"
        "\n"
        "This is an email abuse report for a message received from IP 192.0.2.1.\n"
        "\n"
        "--F\n"
        "Content-Type: message/feedback-report\n"
        "\n"
        "Feedback-Type: Abuse\n"
        "User-Agent: ExampleFBL/1.0\n"
        "Version: 1\n"
        "Original-Mail-From: <list@example.org>\n"
        "Original-Rcpt-To: <gina@example.com>\n"
        "Original-Rcpt-To: <hank@example.net>\n"
        "Arrival-Date: Tue, 3 Jan 2023 08:00:00 +0000\n"
        "Reporting-MTA: dns; fbl.isp.example.net\n"
        "Source-IP: 192.0.2.1\n"
        "\n"
        "--F\n"
        "Content-Type: text/rfc822-headers\n"
        "\n"
        "From: list@example.org\n"
        "To: undisclosed-recipients:;\n"
        "Subject: newsletter\n"
        "Message-ID: <n1@example.org>\n"
        "\n"
        "--F--\n");
    assert_records(r, 2);
    assert_rec(r, 0, "gina@example.com", "feedback", NULL);
    assert_rec(r, 1, "hank@example.net", "feedback", NULL);
    assert_string_equal(rec(r, 0)->feedback_type, "abuse");
    assert_string_equal(rec(r, 1)->feedback_type, "abuse");
    assert_string_equal(rec(r, 0)->decoded_by, "arf");
    assert_string_equal(rec(r, 0)->reporting_mta, "fbl.isp.example.net");
}

/* Opt-out report naming the address to remove (corpus arf-12.eml). */
static void test_arf_removal_recipient(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: fbl@isp.example.net\n"
        "To: abuse@example.org\n"
        "Subject: opt-out\n"
        "Content-Type: multipart/report; report-type=feedback-report; boundary=\"F\"\n"
        "\n"
        "--F\n"
        "Content-Type: message/feedback-report\n"
        "\n"
        "Feedback-Type: opt-out\n"
        "Version: 0.1\n"
        "Removal-Recipient: ivy@example.com\n"
        "\n"
        "--F--\n");
    assert_records(r, 1);
    assert_rec(r, 0, "ivy@example.com", "feedback", NULL);
    assert_string_equal(rec(r, 0)->feedback_type, "opt-out");
}

/* A complaint that names nobody still is a complaint: placeholder. */
static void test_arf_no_recipient(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: fbl@isp.example.net\n"
        "To: abuse@example.org\n"
        "Subject: report\n"
        "Content-Type: multipart/report; report-type=feedback-report; boundary=\"F\"\n"
        "\n"
        "--F\n"
        "Content-Type: message/feedback-report\n"
        "\n"
        "Feedback-Type: abuse\n"
        "\n"
        "--F\n"
        "Content-Type: message/rfc822\n"
        "\n"
        "From: list@example.org\n"
        "To: <Undisclosed Recipients>\n"
        "Subject: x\n"
        "\n"
        "body\n"
        "--F--\n");
    assert_records(r, 1);
    assert_rec(r, 0, "undisclosed-recipient-in-headers@libsisimai.org.invalid", "feedback", NULL);
}

/* Microsoft JMRP: multipart/mixed with X-HmXmrOriginalRecipient. */
static void test_arf_jmrp(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: <staff@fbl.example.com>\n"
        "To: abuse@example.org\n"
        "Subject: complaint about message from 192.0.2.7\n"
        "Content-Type: multipart/mixed; boundary=\"J\"\n"
        "\n"
        "--J\n"
        "Content-Type: message/rfc822\n"
        "\n"
        "X-HmXmrOriginalRecipient: jack@example.com\n"
        "From: list@example.org\n"
        "To: jack@example.com\n"
        "Subject: offer\n"
        "\n"
        "body\n"
        "--J--\n");
    assert_records(r, 1);
    assert_rec(r, 0, "jack@example.com", "feedback", NULL);
    assert_string_equal(rec(r, 0)->feedback_type, "abuse");
}

/* ---- RFC 3834 ------------------------------------------------------------------ */

static void test_rfc3834_vacation(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: Kim Example <kim@example.com>\n"
        "To: list@example.org\n"
        "Subject: Out of office: newsletter\n"
        "Auto-Submitted: auto-replied\n"
        "Date: Wed, 4 Jan 2023 09:00:00 +0000\n"
        "\n"
        "I am away until Monday and will read your mail then.\n");
    assert_records(r, 1);
    assert_rec(r, 0, "kim@example.com", "vacation", NULL);
    assert_string_equal(rec(r, 0)->decoded_by, "rfc3834");
    assert_non_null(strstr(rec(r, 0)->diagnostic, "away until Monday"));
}

/* Subject alone ("Auto reply:") is enough; headers of other vendors too. */
static void test_rfc3834_subject_only(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: lee@example.com\n"
        "To: list@example.org\n"
        "Subject: Auto reply: newsletter\n"
        "\n"
        "Gone fishing.\n");
    assert_records(r, 1);
    assert_rec(r, 0, "lee@example.com", "vacation", NULL);
}

/* "auto-replied" from a system account is not somebody's vacation, and a
 * subject that merely mentions a holiday is no auto-reply. */
static void test_rfc3834_not_vacation(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: root@example.net\n"
        "To: list@example.org\n"
        "Subject: Auto reply: cron\n"
        "Auto-Submitted: auto-replied\n"
        "\n"
        "cron output\n");
    assert_records(r, 0);
    r = test_analyze(
        "From: mo@example.com\n"
        "To: list@example.org\n"
        "Subject: Re: our vacation plans\n"
        "\n"
        "See you in August.\n");
    assert_records(r, 0);
}

/* ---- not bounces, broken input ------------------------------------------------ */

static void test_plain_mail_is_not_a_bounce(void **state)
{
    (void)state;
    rb_result *r = test_analyze("From: alice@example.org\nTo: bob@example.net\nSubject: lunch\n\nSee you at noon.\n");
    assert_records(r, 0);
    assert_false(r->is_bounce);
    /* a mail that carries another as an attachment is not a bounce either */
    r = test_analyze(
        "From: alice@example.org\n"
        "To: bob@example.net\n"
        "Subject: original as attachment\n"
        "Content-Type: multipart/mixed; boundary=\"A\"\n"
        "\n"
        "--A\n"
        "Content-Type: text/plain\n"
        "\n"
        "Here is the mail I received, see the headers.\n"
        "--A\n"
        "Content-Type: message/rfc822\n"
        "\n"
        "From: carl@example.com\n"
        "To: alice@example.org\n"
        "Subject: hi\n"
        "\n"
        "hello\n"
        "--A--\n");
    assert_records(r, 0);
}

static void test_truncated_mime(void **state)
{
    (void)state;
    /* the closing boundary never comes, the DSN part is cut mid-field */
    rb_result *r = test_analyze(
        "From: Reports <reports@mx.example.net>\n"
        "To: sender@example.org\n"
        "Subject: Delivery report\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"T\"\n"
        "\n"
        "--T\n"
        "Content-Type: text/plain\n"
        "\n"
        "A recipient failed.\n"
        "\n"
        "--T\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        "Reporting-MTA: dns; mx.example.net\n"
        "\n"
        "Final-Recipient: rfc822; olga@example.com\n"
        "Action: failed\n"
        "Status: 5.1.1\n"
        "Diagnostic-Code: smtp; 550 5.1.1 us");
    assert_records(r, 1);
    assert_rec(r, 0, "olga@example.com", NULL, "5.1.1");
    /* cut inside the headers of a part */
    r = test_analyze(
        "From: Reports <reports@mx.example.net>\n"
        "Subject: Delivery report\n"
        "Content-Type: multipart/report; boundary=\"T\"\n"
        "\n"
        "--T\n"
        "Content-Type: message/deliv");
    assert_true(r->n <= 1);
}

static void test_binary_junk(void **state)
{
    (void)state;
    static const unsigned char junk[] = {0x00, 0xff, 0xfe, 0x01, 0x89, 'P', 'N', 'G', 0x0d, 0x0a,
                                         0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x80, 0x81, 0x82, 0x00};
    rb_result res;
    rb_result_init(&res);
    rb_error err = {{0}};
    rb_status st = rb_analyze_message(test_ctx(), (const char *)junk, sizeof junk, "junk.bin", NULL, &res, &err);
    assert_int_not_equal(st, RB_OK);
    assert_int_equal(res.n, 0);
    assert_non_null(strstr(err.msg, "junk.bin"));
    /* empty and one-byte inputs: an error naming the source, no crash */
    st = rb_analyze_message(test_ctx(), "", 0, "empty.eml", NULL, &res, &err);
    assert_int_not_equal(st, RB_OK);
    assert_non_null(strstr(err.msg, "empty.eml"));
    st = rb_analyze_message(test_ctx(), "\n", 1, "one.eml", NULL, &res, &err);
    assert_int_not_equal(st, RB_OK);
    assert_int_equal(res.n, 0);
    rb_result_free(&res);
}

/* ---- the free-text fallback ------------------------------------------------------ */

/* A bounce in no format: the recipient comes from the prose, never from
 * the quoted original headers, the bounce's own addresses or message ids. */
static void test_fallback_sound(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: MAILER-DAEMON@mx.example.net\n"
        "To: sender@example.org\n"
        "Subject: failure notice\n"
        "Message-ID: <bounce.123@mx.example.net>\n"
        "\n"
        "Hello, this is the mail system at mx.example.net.\n"
        "Your mail could not be delivered; please contact postmaster@mx.example.net.\n"
        "\n"
        "<pam@example.com>:\n"
        "Mailbox unknown here (status 5.1.1).\n"
        "\n"
        "----- Original message follows -----\n"
        "\n"
        "Return-Path: <sender@example.org>\n"
        "Received: from client.example.org by mx.example.net\n"
        "    for <pam@example.com>; Mon, 2 Jan 2023 10:00:00 +0000\n"
        "Message-ID: <orig.456@client.example.org>\n"
        "From: sender@example.org\n"
        "To: pam@example.com, quinn@example.com\n"
        "Cc: rita@example.com\n"
        "Subject: hello\n"
        "\n"
        "hi\n");
    assert_records(r, 1);
    assert_rec(r, 0, "pam@example.com", "userunknown", "5.1.1");
}

/* A line that merely mentions an address is no recipient; nor are the
 * addresses of a copy of the original that follows an mbox postmark. */
static void test_fallback_no_invention(void **state)
{
    (void)state;
    rb_result res;
    rb_result_init(&res);
    int n = run_parser(rb_parse_fallback,
        "From: postmaster@mx.example.net\n"
        "To: sender@example.org\n"
        "Subject: Undeliverable mail\n"
        "\n"
        "Your message was rejected.\n"
        "For help write to help@example.net or see the web site.\n"
        "target mail address: sam@example.com\n"
        "\n"
        "From sender@example.org  Mon Jan  2 10:00:00 2023\n"
        "From: sender@example.org\n"
        "To: sam@example.com\n"
        "Subject: hello\n"
        "\n"
        "hi\n", &res);
    assert_int_equal(n, 0);
    /* the sample of test_fallback_sound, parsed by the fallback alone */
    n = run_parser(rb_parse_fallback,
        "From: MAILER-DAEMON@mx.example.net\n"
        "To: sender@example.org\n"
        "Subject: failure notice\n"
        "\n"
        "Your message to uma@example.com was returned.\n"
        "Message-ID: <orig.789@mx.example.net>\n"
        "\n"
        "Return-Path: <sender@example.org>\n"
        "To: uma@example.com, vic@example.com\n"
        "\n", &res);
    assert_int_equal(n, 1);
    assert_string_equal(res.recs[0].recipient, "uma@example.com");
    /* not a bounce at all: the fallback says no */
    n = run_parser(rb_parse_fallback,
        "From: walt@example.com\nTo: xena@example.org\nSubject: lunch\n\nMail yann@example.net: 550 seats.\n", &res);
    assert_int_equal(n, 0);
    rb_result_free(&res);
}

/* ARF and RFC 3834 on their own: each says no to the other's message. */
static void test_parsers_stay_in_their_lane(void **state)
{
    (void)state;
    rb_result res;
    rb_result_init(&res);
    assert_int_equal(run_parser(rb_parse_arf, dsn_two, &res), 0);
    assert_int_equal(run_parser(rb_parse_rfc3834, dsn_two, &res), 0);
    assert_int_equal(run_parser(rb_parse_rfc3464, dsn_two, &res), 2);
    assert_int_equal(run_parser(rb_parse_rfc3464,
        "From: kim@example.com\nSubject: Auto reply: x\nAuto-Submitted: auto-replied\n\naway\n", &res), 0);
    rb_result_free(&res);
}

/* X-Failed-Recipients names the recipients; the prose explains them. */
static void test_fallback_x_failed(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: Mail Delivery System <Mailer-Daemon@mx.example.net>\n"
        "To: sender@example.org\n"
        "Subject: Mail delivery failed: returning message to sender\n"
        "X-Failed-Recipients: tom@example.com\n"
        "\n"
        "This message was created automatically by mail delivery software.\n"
        "\n"
        "  tom@example.com\n"
        "    host mx.example.com [192.0.2.9]: 550 5.1.1 <tom@example.com>: User unknown\n"
        "\n");
    assert_records(r, 1);
    assert_rec(r, 0, "tom@example.com", "userunknown", "5.1.1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dsn_two_recipients),
        cmocka_unit_test(test_dsn_crlf),
        cmocka_unit_test(test_dsn_fields_win_over_prose),
        cmocka_unit_test(test_dsn_diagnostic_from_prose),
        cmocka_unit_test(test_dsn_in_prologue),
        cmocka_unit_test(test_dsn_forwarded_quoted),
        cmocka_unit_test(test_arf_two_rcpt),
        cmocka_unit_test(test_arf_removal_recipient),
        cmocka_unit_test(test_arf_no_recipient),
        cmocka_unit_test(test_arf_jmrp),
        cmocka_unit_test(test_rfc3834_vacation),
        cmocka_unit_test(test_rfc3834_subject_only),
        cmocka_unit_test(test_rfc3834_not_vacation),
        cmocka_unit_test(test_plain_mail_is_not_a_bounce),
        cmocka_unit_test(test_truncated_mime),
        cmocka_unit_test(test_binary_junk),
        cmocka_unit_test(test_fallback_sound),
        cmocka_unit_test(test_fallback_no_invention),
        cmocka_unit_test(test_fallback_x_failed),
        cmocka_unit_test(test_parsers_stay_in_their_lane),
    };
    return cmocka_run_group_tests_name("dsn", tests, NULL, NULL);
}
