/* test_lhost_mta.c -- unit tests for lib/analyze/lhost_mta.c, on samples written for the tests.
 * Every sample is invented (example.* domains) in the layout of one MTA. */
#include "testlib.h"



/* Postfix with a delivery-status part: the text says the refusal answered
 * RCPT TO, which makes "User unknown" with a 5.2.1 a missing mailbox. */
static const char postfix_dsn[] =
    "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\n"
    "To: sender@example.net\n"
    "Subject: Undelivered Mail Returned to Sender\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"BND\"\n"
    "\n"
    "--BND\n"
    "Content-Type: text/plain\n"
    "\n"
    "This is the mail system at host mx.example.net.\n"
    "\n"
    "                   The mail system\n"
    "\n"
    "<nobody@example.org>: host mail.example.org[192.0.2.10] said: 550 5.2.1\n"
    "    <nobody@example.org>... User Unknown (in reply to RCPT TO command)\n"
    "\n"
    "--BND\n"
    "Content-Type: message/delivery-status\n"
    "\n"
    "Reporting-MTA: dns; mx.example.net\n"
    "\n"
    "Final-Recipient: rfc822; nobody@example.org\n"
    "Action: failed\n"
    "Status: 5.2.1\n"
    "Remote-MTA: dns; mail.example.org\n"
    "Diagnostic-Code: smtp; 550 5.2.1 <nobody@example.org>... User Unknown\n"
    "\n"
    "--BND\n"
    "Content-Type: message/rfc822\n"
    "\n"
    "From: sender@example.net\nTo: nobody@example.org\nSubject: hi\n\nhello\n"
    "--BND--\n";

static void test_postfix_dsn_with_command(void **state)
{
    (void)state;
    rb_result *r = test_analyze(postfix_dsn);
    assert_records(r, 1);
    assert_rec(r, 0, "nobody@example.org", "userunknown", "5.2.1");
    assert_by(r, 0, "postfix");
    assert_string_equal(r->recs[0].smtp_command, "RCPT");
}

/* Postfix without a report: the paragraph is all there is. */
static void test_postfix_text_only(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: MAILER-DAEMON@relay.example.com (Mail Delivery System)\n"
        "To: sender@example.com\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "\n"
        "This is the Postfix program at host relay.example.com.\n"
        "\n"
        "\t\t\tThe Postfix program\n"
        "\n"
        "<someone@example.net>: Name service error for domain example.net: Host not\n"
        "    found, try again\n");
    assert_records(r, 1);
    assert_rec(r, 0, "someone@example.net", "networkerror", NULL);
    assert_by(r, 0, "postfix");
    assert_int_equal(r->recs[0].status[0], '5');
}

/* Sendmail: the transcript holds the complete multi-line reply. */
static void test_sendmail_transcript(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.jp>\n"
        "To: sender@example.jp\n"
        "Subject: Returned mail: see transcript for details\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"S1\"\n"
        "\n"
        "--S1\n"
        "Content-Type: text/plain\n"
        "\n"
        "   ----- The following addresses had permanent fatal errors -----\n"
        "<taro@example.com>\n"
        "    (reason: 552-5.7.0 This message was blocked because its content presents a potential)\n"
        "\n"
        "   ----- Transcript of session follows -----\n"
        "... while talking to mx.example.com.:\n"
        ">>> DATA\n"
        "<<< 552-5.7.0 This message was blocked because its content presents a potential\n"
        "<<< 552 5.7.0 security issue. Please read our guidelines.\n"
        "554 5.0.0 Service unavailable\n"
        "\n"
        "--S1\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        "Reporting-MTA: dns; mx.example.jp\n"
        "\n"
        "Final-Recipient: RFC822; taro@example.com\n"
        "Action: failed\n"
        "Status: 5.7.0\n"
        "Remote-MTA: DNS; mx.example.com\n"
        "Diagnostic-Code: SMTP; 552-5.7.0 This message was blocked because its content presents a potential\n"
        "\n"
        "--S1--\n");
    assert_records(r, 1);
    assert_rec(r, 0, "taro@example.com", "policyviolation", "5.7.0");
    assert_by(r, 0, "sendmail");
    assert_string_equal(r->recs[0].smtp_command, "DATA");
}

/* V5 sendmail: verdict lines name the recipients; each takes the replies
 * that came before it. */
static void test_v5sendmail(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: Mail Delivery Subsystem <MAILER-DAEMON@example.jp>\n"
        "To: sender@example.jp\n"
        "Subject: Returned mail: User unknown\n"
        "\n"
        "   ----- Transcript of session follows -----\n"
        "550 example.net (smtp)... 550 Host unknown\n"
        "554 <hanako@example.net>... 550 Host unknown (Authoritative answer from name server)\n"
        "While talking to mail.example.org:\n"
        ">>> RCPT To:<jiro@example.org>\n"
        "<<< 550 No such user here.\n"
        "550 <jiro@example.org>... User unknown\n"
        "\n"
        "   ----- Unsent message follows -----\n"
        "From: sender@example.jp\n"
        "Subject: hi\n"
        "\n"
        "hello\n");
    assert_records(r, 2);
    assert_rec(r, 0, "hanako@example.net", "hostunknown", NULL);
    assert_rec(r, 1, "jiro@example.org", "userunknown", NULL);
    assert_by(r, 0, "v5sendmail");
    assert_string_equal(r->recs[1].smtp_command, "RCPT");
}

/* Exim: the command comes from "SMTP error ... after RCPT TO". */
static void test_exim(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: Mail Delivery System <Mailer-Daemon@mx.example.com>\n"
        "To: sender@example.com\n"
        "Subject: Mail delivery failed: returning message to sender\n"
        "X-Failed-Recipients: ghost@example.org\n"
        "Message-Id: <E1abcde-fghijk-Lm@mx.example.com>\n"
        "\n"
        "This message was created automatically by mail delivery software.\n"
        "\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n"
        "\n"
        "  ghost@example.org\n"
        "    SMTP error from remote mail server after RCPT TO:<ghost@example.org>:\n"
        "    host mx.example.org [192.0.2.5]: 554 5.7.1 <ghost@example.org>:\n"
        "    Recipient address rejected: Access denied\n"
        "\n"
        "------ This is a copy of the message, including all the headers. ------\n"
        "\n"
        "From: sender@example.com\nTo: ghost@example.org\nSubject: hi\n\nhello\n");
    assert_records(r, 1);
    assert_rec(r, 0, "ghost@example.org", "userunknown", "5.7.1");
    assert_by(r, 0, "exim");
    assert_string_equal(r->recs[0].smtp_command, "RCPT");
    assert_string_equal(r->recs[0].remote_mta, "mx.example.org");
}

/* Exim, a pipe delivery: the address is on the "generated by" line. */
static void test_exim_pipe(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: Mail Delivery System <Mailer-Daemon@mx.example.com>\n"
        "To: sender@example.com\n"
        "Subject: Mail delivery failed: returning message to sender\n"
        "X-Failed-Recipients: user@example.com\n"
        "\n"
        "This message was created automatically by mail delivery software.\n"
        "\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n"
        "\n"
        "  pipe to |/usr/local/bin/filter\n"
        "    generated by user@example.com\n"
        "\n"
        "------ This is a copy of the message, including all the headers. ------\n");
    assert_records(r, 1);
    assert_rec(r, 0, "user@example.com", "mailererror", NULL);
    assert_by(r, 0, "exim");
}

/* qmail: "does not like recipient" is the RCPT stage. */
static void test_qmail(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: MAILER-DAEMON@mx.example.jp\n"
        "To: sender@example.jp\n"
        "Subject: failure notice\n"
        "\n"
        "Hi. This is the qmail-send program at mx.example.jp.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n"
        "\n"
        "<full@example.org>:\n"
        "192.0.2.7 does not like recipient.\n"
        "Remote host said: 552 5.2.2 <full@example.org>... Mailbox Full\n"
        "Giving up on 192.0.2.7.\n"
        "\n"
        "<nobody@example.org>:\n"
        "192.0.2.7 does not like recipient.\n"
        "Remote host said: 550 5.2.1 <nobody@example.org>... User Unknown\n"
        "Giving up on 192.0.2.7.\n"
        "\n"
        "--- Below this line is a copy of the message.\n"
        "\n"
        "From: sender@example.jp\nTo: full@example.org\nSubject: hi\n\nhello\n");
    assert_records(r, 2);
    assert_rec(r, 0, "full@example.org", "mailboxfull", "5.2.2");
    assert_rec(r, 1, "nobody@example.org", "userunknown", "5.2.1");
    assert_by(r, 0, "qmail");
    assert_string_equal(r->recs[1].smtp_command, "RCPT");
}

/* Courier: the block holds the SMTP dialogue. */
static void test_courier(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: postmaster@mx.example.org\n"
        "To: sender@example.org\n"
        "Subject: NOTICE: mail delivery status.\n"
        "\n"
        "This is a delivery status notification from mx.example.org,\n"
        "running the Courier mail server, version 1.0.\n"
        "\n"
        "                           UNDELIVERABLE MAIL\n"
        "\n"
        "Your message to the following recipients cannot be delivered:\n"
        "\n"
        "<absent@example.com>:\n"
        "    mail.example.com [192.0.2.9]:\n"
        ">>> RCPT TO:<absent@example.com>\n"
        "<<< 550 5.1.1 <absent@example.com>... User Unknown\n"
        "\n"
        "---------------------------------------------------------------------------\n");
    assert_records(r, 1);
    assert_rec(r, 0, "absent@example.com", "userunknown", "5.1.1");
    assert_by(r, 0, "courier");
    assert_string_equal(r->recs[0].smtp_command, "RCPT");
}

/* OpenSMTPD: "address: error" lines. */
static void test_opensmtpd(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: Mailer Daemon <MAILER-DAEMON@mx.example.net>\n"
        "To: sender@example.net\n"
        "Subject: Delivery status notification: error\n"
        "\n"
        "    Hi!\n"
        "\n"
        "    This is the MAILER-DAEMON, please DO NOT REPLY to this e-mail.\n"
        "\n"
        "    An error has occurred while attempting to deliver a message for\n"
        "    the following list of recipients:\n"
        "\n"
        "someone@nowhere.example: Domain does not exist\n"
        "\n"
        "    Below is a copy of the original message:\n"
        "\n"
        "From: sender@example.net\nSubject: hi\n\nhello\n");
    assert_records(r, 1);
    assert_rec(r, 0, "someone@nowhere.example", "hostunknown", NULL);
    assert_by(r, 0, "opensmtpd");
}

/* DragonFly Mail Agent: "did not like our final DATA" is the DATA stage. */
static void test_dragonfly(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: MAILER-DAEMON <>\n"
        "To: sender@example.com\n"
        "Subject: Mail delivery failed\n"
        "\n"
        "This is the DragonFly Mail Agent v0.13 at host.example.com.\n"
        "\n"
        "There was an error delivering your mail to <late@example.org>.\n"
        "\n"
        "Could not deliver for the last 432000 seconds. Giving up.\n"
        "\n"
        "Message headers follow.\n"
        "\n"
        "From: sender@example.com\nTo: late@example.org\nSubject: hi\n");
    assert_records(r, 1);
    assert_rec(r, 0, "late@example.org", "expired", NULL);
    assert_by(r, 0, "dragonfly");

    r = test_analyze(
        "From: MAILER-DAEMON <>\n"
        "To: sender@example.com\n"
        "Subject: Mail delivery failed\n"
        "\n"
        "This is the DragonFly Mail Agent v0.13 at host.example.com.\n"
        "\n"
        "There was an error delivering your mail to <spam@example.org>.\n"
        "\n"
        "mx.example.org [192.0.2.3] did not like our final DATA:\n"
        "554 5.7.1 Message rejected as spam\n"
        "\n"
        "Message headers follow.\n");
    assert_records(r, 1);
    assert_rec(r, 0, "spam@example.org", "spamdetected", "5.7.1");
    assert_string_equal(r->recs[0].smtp_command, "DATA");
    assert_string_equal(r->recs[0].remote_mta, "mx.example.org");
}

/* A Postfix-looking subject on a provider's notice is left to its module. */
static void test_postfix_steps_aside(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: MAILER-DAEMON@mx.example.com (Mail Delivery System)\n"
        "Return-Path: <bounces@sendgrid.net>\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "\n"
        "This is the mail system at host mx.example.com.\n"
        "\n"
        "<x@example.org>: host a.example.org[192.0.2.1] said: 550 5.1.1 unknown\n");
    for (size_t i = 0; i < r->n; i++) assert_string_not_equal(r->recs[i].decoded_by, "postfix");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_postfix_dsn_with_command),
        cmocka_unit_test(test_postfix_text_only),
        cmocka_unit_test(test_sendmail_transcript),
        cmocka_unit_test(test_v5sendmail),
        cmocka_unit_test(test_exim),
        cmocka_unit_test(test_exim_pipe),
        cmocka_unit_test(test_qmail),
        cmocka_unit_test(test_courier),
        cmocka_unit_test(test_opensmtpd),
        cmocka_unit_test(test_dragonfly),
        cmocka_unit_test(test_postfix_steps_aside),
    };
    return cmocka_run_group_tests_name("lhost_mta", tests, NULL, NULL);
}
