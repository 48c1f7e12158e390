/* test_lhost_misc.c -- unit tests for lib/analyze/lhost_misc.c, on samples written for the tests. */
#include "testlib.h"



/* Scanner, "address [text]" lines (X1); two recipients, the returned
 * message's addresses are not recipients. */
static void test_x1_address_bracket_lines(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: \"Mail Deliver System\" <MAILER-DAEMON@mx.example.jp>\n"
        "To: sender@example.net\n"
        "Subject: Returned Mail: User unknown\n"
        "Date: Mon, 3 Mar 2025 10:00:00 +0900\n\n"
        "The original message was received at Mon, 3 Mar 2025 10:00:00 +0900\n"
        "from sender@example.net\n\n"
        "---The following addresses had delivery errors---\n\n"
        "alpha@example.org [User unknown]\n"
        "beta@example.org [Mailbox full]\n\n"
        "--- Original message follows.\n"
        "From: sender@example.net\nTo: alpha@example.org\nSubject: hi\n\nhello\n");
    assert_records(r, 2);
    /* a bare "User unknown" from this module's unnamed MTA, with no detail
     * code, is its filter speaking (10-core.conf, "Content-filtering
     * gateways ... and the unnamed MTAs of the x1/x2 modules"); the same
     * words in any other layout name a dead mailbox (seed 002) */
    assert_rec(r, 0, "alpha@example.org", "filtered", "5.0.0");
    assert_rec(r, 1, "beta@example.org", "mailboxfull", "5.0.0");
    assert_by(r, 0, "x1");
}

/* Scanner, "<address>:" then several lines of text (X2); the text says
 * the message expired in the queue. */
static void test_x2_queue_too_long(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: MAILER-DAEMON@example.com\n"
        "To: sender@example.net\n"
        "Subject: failed delivery\n\n"
        "Message from example.com.\n"
        "Unable to deliver message to the following address(es).\n\n"
        "<gamma@example.org>:\n"
        "unable to connect to remote server [192.0.2.9:25]: Operation timed\n"
        "out\n"
        "I'm not going to try again; this message has been in the queue too long.\n\n"
        "--- Original message follows.\n\n"
        "From: sender@example.net\nTo: gamma@example.org\nSubject: x\n\nbody\n");
    assert_records(r, 1);
    assert_rec(r, 0, "gamma@example.org", "expired", "5.0.0");
    assert_by(r, 0, "x2");
}

/* Scanner, reason before the address (Lotus Notes). */
static void test_notes_reason_before_address(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: postmaster@notes.example.co.jp\n"
        "To: sender@example.net\n"
        "Subject: Undeliverable message\n\n"
        "------- Failure Reasons  --------\n\n"
        "User not listed in public Name & Address Book\n"
        "delta@example.co.jp\n\n"
        "------- Returned Message --------\n"
        "From: sender@example.net\nTo: delta@example.co.jp\nSubject: x\n\nbody\n");
    assert_records(r, 1);
    assert_rec(r, 0, "delta@example.co.jp", "userunknown", "5.0.0");
    assert_by(r, 0, "notes");
}

/* Scanner, blank lines between the parts (Domino). */
static void test_domino_blank_lines(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: Postmaster@example.jp\n"
        "To: sender@example.net\n"
        "Subject: DELIVERY FAILURE: Error transferring to relay.example.org\n\n"
        "Your message\n\n  Subject: hello\n\nwas not delivered to:\n\n"
        "  epsilon@example.jp\n\nbecause:\n\n"
        "  Error transferring to relay.example.org; Maximum hop count exceeded.\n\n");
    assert_records(r, 1);
    assert_rec(r, 0, "epsilon@example.jp", "networkerror", "5.0.0");
    assert_by(r, 0, "domino");
}

/* "what happened: address" lines (IMail); the vendor rule makes a bare
 * "Unknown user" a missing mailbox. */
static void test_imailserver(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: \"Postmaster\" <postmaster@example.org>\n"
        "To: sender@example.net\n"
        "Subject: Undeliverable Mail\n"
        "X-Mailer: <SMTP32 v8.22>\n\n"
        "Unknown user: zeta@example.com\n\n"
        "Original message follows.\n\n"
        "From: sender@example.net\nTo: zeta@example.com\nSubject: x\n\nbody\n");
    assert_records(r, 1);
    assert_rec(r, 0, "zeta@example.com", "userunknown", "5.0.0");
    assert_by(r, 0, "imailserver");
}

/* Prefix style ("Could not be delivered to: <address>", KDDI). */
static void test_kddi_prefix(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: no-reply@host1.dion.ne.jp\n"
        "To: sender@example.net\n"
        "Subject: Mail\n\n"
        "Your mail sent on: Mon, 3 Mar 2025 10:00:00 +0900\n"
        "     Could not be delivered to: <eta@host1.dion.ne.jp>\n"
        "     As their mailbox is full.\n");
    assert_records(r, 1);
    assert_rec(r, 0, "eta@host1.dion.ne.jp", "mailboxfull", "5.0.0");
    assert_by(r, 0, "kddi");
}

/* Exim-style (Mail.Ru): the command named in the text decides between a
 * missing mailbox (RCPT) and a filter. */
static void test_mailru_rcpt(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: mailer-daemon@corp.mail.ru\n"
        "To: sender@mail.example.ru\n"
        "Subject: Mail failure.\n\n"
        "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n\n"
        "  theta@example.jp\n"
        "    SMTP error from remote mail server after RCPT TO:<theta@example.jp>:\n"
        "    host mx.example.jp [192.0.2.12]: 550 5.2.1 <theta@example.jp>... User Unknown\n\n"
        "------ This is a copy of the message, including all the headers. ------\n\n"
        "From: sender@mail.example.ru\nTo: theta@example.jp\nSubject: x\n\nbody\n");
    assert_records(r, 1);
    assert_rec(r, 0, "theta@example.jp", "userunknown", "5.2.1");
    assert_by(r, 0, "mailru");
    assert_string_equal(r->recs[0].smtp_command, "RCPT");
    assert_string_equal(r->recs[0].remote_mta, "mx.example.jp");
}

/* One line per recipient with the reply in brackets (X6). */
static void test_x6(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: mailer-daemon\n"
        "To: sender@example.net\n"
        "Subject: There was an error sending your mail\n\n"
        "We had trouble delivering your message. Full details follow:\n\n"
        "1 error(s):\n\n"
        "SMTP Server <mx.example.org> rejected recipient <iota@example.org> (Error following RCPT command). "
        "It responded as follows: [550 5.1.1 User unknown]\n\n"
        "The attachment contains the original mail headers.\n");
    assert_records(r, 1);
    assert_rec(r, 0, "iota@example.org", "userunknown", "5.1.1");
    assert_by(r, 0, "x6");
    assert_string_equal(r->recs[0].smtp_command, "RCPT");
}

/* Oracle Messaging Server text with two recipients and no MIME parts. */
static void test_messagingserver_text(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: postmaster@example.net\n"
        "To: sender@example.com\n"
        "Subject: Delivery Notification: Delivery has failed\n\n"
        "This report relates to a message you sent with the following header fields:\n\n"
        "  Subject: hello\n\n"
        "Your message cannot be delivered to the following recipients:\n\n"
        "  Recipient address: kappa@example.net\n"
        "  Reason: Remote SMTP server has rejected address\n"
        "  Diagnostic code: smtp;550 5.1.1 <kappa@example.net>: Recipient address rejected\n"
        "  Remote system: dns;mx.example.net (TCP|192.0.2.1|25)\n\n"
        "  Recipient address: lambda@example.net\n"
        "  Reason: Remote SMTP server has rejected address\n"
        "  Diagnostic code: smtp;552 5.2.2 Mailbox full\n"
        "  Remote system: dns;mx.example.net (TCP|192.0.2.1|25)\n");
    assert_records(r, 2);
    assert_rec(r, 0, "kappa@example.net", "userunknown", "5.1.1");
    assert_rec(r, 1, "lambda@example.net", "mailboxfull", "5.2.2");
    assert_by(r, 1, "messagingserver");
    assert_string_equal(r->recs[0].remote_mta, "mx.example.net");
}

/* A format's recognition is strict: an X2-like text from a sender that is
 * no MAILER-DAEMON is left to others. */
static void test_foreign_message_rejected(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: alice@example.org\n"
        "To: bob@example.net\n"
        "Subject: Delivery failure report draft\n\n"
        "Unable to deliver message to the following address(es).\n\n"
        "<carol@example.org>:\nThis is only a quote in a normal mail.\n");
    for (size_t i = 0; i < r->n; i++) assert_string_not_equal(r->recs[i].decoded_by, "x2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_x1_address_bracket_lines),
        cmocka_unit_test(test_x2_queue_too_long),
        cmocka_unit_test(test_notes_reason_before_address),
        cmocka_unit_test(test_domino_blank_lines),
        cmocka_unit_test(test_imailserver),
        cmocka_unit_test(test_kddi_prefix),
        cmocka_unit_test(test_mailru_rcpt),
        cmocka_unit_test(test_x6),
        cmocka_unit_test(test_messagingserver_text),
        cmocka_unit_test(test_foreign_message_rejected),
    };
    return cmocka_run_group_tests_name("lhost_misc", tests, NULL, NULL);
}
