/* test_lhost_cloud.c -- unit tests for lib/analyze/lhost_cloud.c, on samples written for the tests.
 *
 * Every sample below is invented (example.* domains) after the layout of the
 * provider's real bounces. */
#include "testlib.h"



/* ---- Microsoft ------------------------------------------------------------ */
static const char o365_ndr[] =
    "From: Microsoft Outlook <postmaster@example.onmicrosoft.com>\n"
    "To: <sender@example.org>\n"
    "Date: Tue, 02 Jan 2024 10:00:00 +0000\n"
    "Subject: Undeliverable: Quarterly report\n"
    "Message-ID: <1234abcd-0000-1111-2222-333344445555@AB1PR01MB0001.eurprd01.prod.outlook.com>\n"
    "X-MS-Exchange-Message-Is-Ndr:\n"
    "X-MS-Exchange-CrossTenant-OriginalArrivalTime: 02 Jan 2024 10:00:00.0000 (UTC)\n"
    "MIME-Version: 1.0\n"
    "Content-Type: text/plain; charset=\"us-ascii\"\n"
    "\n"
    "Your message to nobody@example.net couldn't be delivered.\n"
    "\n"
    "nobody wasn't found at example.net.\n"
    "\n"
    "Diagnostic information for administrators:\n"
    "\n"
    "Generating server: AB1PR01MB0001.eurprd01.prod.outlook.com\n"
    "\n"
    "nobody@example.net\n"
    "Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup'\n"
    "\n"
    "Original message headers:\n"
    "\n"
    "From: <sender@example.org>\n"
    "To: <nobody@example.net>\n"
    "Subject: Quarterly report\n"
    "Message-ID: <q4@example.org>\n";

static void test_office365_recipient_not_found(void **state)
{
    (void)state;
    rb_result *r = test_analyze(o365_ndr);
    assert_records(r, 1);
    assert_rec(r, 0, "nobody@example.net", "userunknown", "5.1.10");
    assert_by(r, 0, "office365");
    assert_string_equal(r->recs[0].reply_code, "550");
    assert_string_equal(r->recs[0].reporting_mta, "AB1PR01MB0001.eurprd01.prod.outlook.com");
}

/* The mailto: target names the recipient; the admin block matches it by
 * position when it prints another spelling, and a bare host line is the
 * remote server. */
static void test_office365_mailto_and_remote_host(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: Microsoft Outlook <postmaster@outlook.com>\n"
        "To: <sender@example.org>\n"
        "Subject: Undeliverable: hello\n"
        "X-MS-Exchange-Message-Is-Ndr:\n"
        "X-Microsoft-Antispam-PRVS: <x@AB1.prod.outlook.com>\n"
        "Content-Type: text/plain\n"
        "\n"
        "mx.example.jp rejected your message to the following email addresses:\n"
        "\n"
        "Jane Doe (jane@example.jp)<mailto:jane.doe@example.jp>\n"
        "Your message couldn't be delivered.\n"
        "\n"
        "Diagnostic information for administrators:\n"
        "\n"
        "Generating server: AB1.mail.protection.outlook.com\n"
        "\n"
        "jane@example.jp\n"
        "mx.example.jp\n"
        "Remote Server returned '550 5.2.2 <jane@example.jp>... Mailbox Full'\n"
        "\n"
        "Original message headers:\n"
        "\n"
        "Subject: hello\n");
    assert_records(r, 1);
    assert_rec(r, 0, "jane.doe@example.jp", "mailboxfull", "5.2.2");
    assert_by(r, 0, "office365");
    assert_string_equal(r->recs[0].remote_mta, "mx.example.jp");
}

/* Subject and Is-Ndr alone are what on-premises Exchange sends too: no
 * cloud sign, no office365. */
static void test_exchange2007_on_premises(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: <postmaster@example.com>\n"
        "To: <sender@example.org>\n"
        "Subject: Undeliverable: Meeting\n"
        "Content-Language: en-US\n"
        "X-MS-Exchange-Message-Is-Ndr:\n"
        "Content-Type: text/plain\n"
        "\n"
        "Delivery has failed to these recipients or groups:\n"
        "\n"
        "old.user@example.com\n"
        "The e-mail address you entered couldn't be found.\n"
        "\n"
        "Diagnostic information for administrators:\n"
        "\n"
        "Generating server: mail1.example.com\n"
        "\n"
        "old.user@example.com\n"
        "#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##\n"
        "\n"
        "Original message headers:\n"
        "\n"
        "Subject: Meeting\n");
    assert_records(r, 1);
    assert_rec(r, 0, "old.user@example.com", "userunknown", "5.1.1");
    assert_by(r, 0, "exchange2007");
    assert_string_equal(r->recs[0].reporting_mta, "mail1.example.com");
}

static void test_exchange2003_ims_code(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: System Administrator <postmaster@example.com>\n"
        "To: sender@example.org\n"
        "Subject: Undeliverable: Budget\n"
        "X-Mailer: Internet Mail Service (5.5.2653.19)\n"
        "X-MS-Embedded-Report:\n"
        "\n"
        "Your message\n"
        "\n"
        "  To:      someone@example.com\n"
        "  Subject: Budget\n"
        "  Sent:    Mon, 1 Jan 2007 10:00:00 +0100\n"
        "\n"
        "did not reach the following recipient(s):\n"
        "\n"
        "someone@example.com on Mon, 1 Jan 2007 10:00:05 +0100\n"
        "    The recipient name is not recognized\n"
        "    MSEXCH:IMS:EXAMPLE:HQ:MAIL1 0 (000C05A6) Unknown Recipient\n");
    assert_records(r, 1);
    assert_rec(r, 0, "someone@example.com", "userunknown", "5.0.0");
    assert_by(r, 0, "exchange2003");
}

static void test_outlook_dsn(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: postmaster@mail.hotmail.example.com\n"
        "To: sender@hotmail.example.com\n"
        "Subject: Delivery Status Notification (Failure)\n"
        "X-Message-Delivery: Vj0xLjE7dXM9MDtsPTA=\n"
        "X-Message-Info: AbCdEf0123456789\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\n"
        "\n"
        "--b1\n"
        "Content-Type: text/plain\n"
        "\n"
        "This is an automatically generated Delivery Status Notification.\n"
        "\n"
        "--b1\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        "Reporting-MTA: dns;mail.hotmail.example.com\n"
        "\n"
        "Final-Recipient: rfc822;full@example.jp\n"
        "Action: failed\n"
        "Status: 5.2.2\n"
        "Diagnostic-Code: smtp;550 5.2.2 <full@example.jp>... Mailbox Full\n"
        "\n"
        "--b1--\n");
    assert_records(r, 1);
    assert_rec(r, 0, "full@example.jp", "mailboxfull", "5.2.2");
    assert_by(r, 0, "outlook");
}

/* ---- Google -------------------------------------------------------------- */
static void test_gmail_permanent_state14(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\n"
        "To: sender@gmail.example.com\n"
        "Subject: Delivery Status Notification (Failure)\n"
        "\n"
        "Delivery to the following recipient failed permanently:\n"
        "\n"
        "     ghost@example.net\n"
        "\n"
        "Technical details of permanent failure:\n"
        "Google tried to deliver your message, but it was rejected by the server for the recipient domain "
        "example.net by mx.example.net. [192.0.2.1].\n"
        "\n"
        "The error that the other server returned was:\n"
        "550 5.1.1 <ghost@example.net>... User Unknown (state 14).\n"
        "\n"
        "----- Original message -----\n"
        "\n"
        "Subject: hi\n");
    assert_records(r, 1);
    assert_rec(r, 0, "ghost@example.net", "userunknown", "5.1.1");
    assert_by(r, 0, "gmail");
    assert_string_equal(r->recs[0].smtp_command, "RCPT");
}

/* "(state 18)" is a refusal of the message body: filtered. */
static void test_gmail_state18_filtered(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\n"
        "Subject: Delivery Status Notification (Failure)\n"
        "\n"
        "Delivery to the following recipient failed permanently:\n"
        "\n"
        "     box@example.net\n"
        "\n"
        "Technical details of permanent failure:\n"
        "The error that the other server returned was: 554 5.7.0 Header error (state 18).\n");
    assert_records(r, 1);
    assert_rec(r, 0, "box@example.net", "filtered", "5.7.0");
    assert_string_equal(r->recs[0].smtp_command, "DATA");
}

static void test_gmail_delay_is_expired(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\n"
        "Subject: Delivery Status Notification (Delay)\n"
        "\n"
        "THIS IS A WARNING MESSAGE ONLY.\n"
        "\n"
        "Delivery to the following recipient has been delayed:\n"
        "\n"
        "     slow@example.net\n"
        "\n"
        "Message will be retried for 2 more day(s)\n"
        "\n"
        "Technical details of temporary failure:\n"
        "The recipient server did not accept our requests to connect.\n"
        "[mx.example.net. 192.0.2.7: socket error]\n");
    assert_records(r, 1);
    assert_rec(r, 0, "slow@example.net", "expired", "4.0.0");
    assert_string_equal(r->recs[0].dsn_action, "delayed");
}

static void test_googlegroups_rejected(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\n"
        "To: poster@example.org\n"
        "Subject: Delivery Status Notification (Failure)\n"
        "X-Failed-Recipients: team-list@googlegroups.example.com\n"
        "\n"
        "Hello poster@example.org,\n"
        "\n"
        "We're writing to let you know that the group you tried to contact (team-list) may not exist, "
        "or you may not have permission to post messages to the group.\n"
        "\n"
        "If you have questions related to this or any other Google Group, visit the Help Center.\n"
        "\n"
        "----- Original message -----\n"
        "\n"
        "Subject: hi team\n");
    assert_records(r, 1);
    assert_rec(r, 0, "team-list@googlegroups.example.com", "rejected", NULL);
    assert_by(r, 0, "googlegroups");
}

static void test_googleworkspace_address_not_found(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\n"
        "To: sender@example.org\n"
        "Subject: Delivery Status Notification (Failure)\n"
        "X-Failed-Recipients: missing@example.net\n"
        "X-Gm-Message-State: AbCdEf\n"
        "\n"
        "\n"
        "** Address not found **\n"
        "\n"
        "Your message wasn't delivered to missing@example.net because the address couldn't be found, "
        "or is unable to receive mail.\n"
        "\n"
        "The response from the remote server was:\n"
        "550 5.1.1 The email account that you tried to reach does not exist.\n");
    assert_records(r, 1);
    assert_rec(r, 0, "missing@example.net", "userunknown", "5.1.1");
    assert_by(r, 0, "googleworkspace");
    assert_string_equal(r->recs[0].reply_code, "550");
}

/* ---- Yahoo, AOL, Zoho ---------------------------------------------------------- */
static void test_yahoo_remote_host_said(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: MAILER-DAEMON@yahoo.example.com\n"
        "Subject: Failure Notice\n"
        "X-YMailISG: abcdefghijklmnop\n"
        "\n"
        "Sorry, we were unable to deliver your message to the following address.\n"
        "\n"
        "<nouser@example.jp>:\n"
        "Remote host said:\n"
        "550 5.1.1 <nouser@example.jp>... User Unknown\n"
        "[RCPT_TO]\n"
        "\n"
        "--- Below this line is a copy of the message.\n"
        "\n"
        "Subject: hi\n");
    assert_records(r, 1);
    assert_rec(r, 0, "nouser@example.jp", "userunknown", "5.1.1");
    assert_by(r, 0, "yahoo");
    assert_string_equal(r->recs[0].smtp_command, "RCPT");
    assert_string_equal(r->recs[0].reply_code, "550");
}

/* AOL lists several recipients in one delivery-status group. */
static void test_aol_recipients_in_one_group(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: Postmaster <Postmaster@aol.example.com>\n"
        "Subject: Undeliverable: hi\n"
        "X-AOL-IP: 192.0.2.10\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b2\"\n"
        "\n"
        "--b2\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        "Reporting-MTA: dns; omr.aol.example.com\n"
        "Final-Recipient: rfc822; full@example.jp\n"
        "Action: failed\n"
        "Status: 5.2.2\n"
        "Diagnostic-Code: smtp; 550 5.2.2 <full@example.jp>... Mailbox Full\n"
        "Final-Recipient: rfc822; gone@example.jp\n"
        "Action: failed\n"
        "Status: 5.1.1\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <gone@example.jp>... User Unknown\n"
        "\n"
        "--b2--\n");
    assert_records(r, 2);
    assert_rec(r, 0, "full@example.jp", "mailboxfull", "5.2.2");
    assert_rec(r, 1, "gone@example.jp", "userunknown", "5.1.1");
    assert_by(r, 1, "aol");
}

static void test_zoho_error_codes(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: mailer-daemon@mail.zoho.example.com\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "X-ZohoMail: Si CHF_MF_NL SS_10\n"
        "\n"
        "This message was created automatically by mail delivery software.\n"
        "A message that you sent could not be delivered to one or more of its recipients. This is a permanent error.\n"
        "\n"
        "full@example.co.jp Invalid Address, ERROR_CODE :550, ERROR_CODE :5.2.2 <full@example.co.jp>... Mailbox Full\n"
        "\n"
        "Received:from mail.zoho.example.com by mx.zohomail.example.com\n");
    assert_records(r, 1);
    assert_rec(r, 0, "full@example.co.jp", "mailboxfull", "5.2.2");
    assert_by(r, 0, "zoho");
    assert_string_equal(r->recs[0].reply_code, "550");
}

/* ---- Amazon ------------------------------------------------------------------- */
static void test_amazonses_sns_bounce_json(void **state)
{
    (void)state;
    /* an SNS envelope, its Message folded by a 990-character line limit */
    rb_result *r = test_analyze(
        "From: SES <no-reply@sns.amazonaws.example.com>\n"
        "Subject: AWS Notification Message\n"
        "x-amz-sns-message-id: 0000-1111\n"
        "Content-Type: text/plain; charset=UTF-8\n"
        "\n"
        "{\n"
        "  \"Type\" : \"Notification\",\n"
        "  \"Message\" : \"{\\\"notificationType\\\":\\\"Bounce\\\",\\\"bounce\\\":{\\\"bounceType\\\":\\\"Permanent\\\","
        "\\\"bouncedRecipients\\\":[{\\\"emailAddress\\\":\\\"gone@exa!\n"
        " mple.net\\\",\\\"action\\\":\\\"failed\\\",\\\"status\\\":\\\"5.1.1\\\",\\\"diagnosticCode\\\":"
        "\\\"smtp; 550 5.1.1 user unknown\\\"}],\\\"reportingMTA\\\":\\\"dsn; a1.smtp-out.example.com\\\"},"
        "\\\"mail\\\":{\\\"source\\\":\\\"sender@example.org\\\"}}\",\n"
        "  \"Timestamp\" : \"2024-01-02T10:00:00.000Z\"\n"
        "}\n");
    assert_records(r, 1);
    assert_rec(r, 0, "gone@example.net", "userunknown", "5.1.1");
    assert_by(r, 0, "amazonses");
    assert_string_equal(r->recs[0].reply_code, "550");
    assert_string_equal(r->recs[0].reporting_mta, "a1.smtp-out.example.com");
}

static void test_amazonses_complaint_and_delivery(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: SES <no-reply@sns.amazonaws.example.com>\n"
        "Subject: AWS Notification Message\n"
        "\n"
        "{\"notificationType\":\"Complaint\",\"complaint\":{\"complainedRecipients\":"
        "[{\"emailAddress\":\"angry@example.net\"}],\"complaintFeedbackType\":\"abuse\"},"
        "\"mail\":{\"source\":\"sender@example.org\"}}\n"
        "\n--\nIf you wish to stop receiving notifications ...\n");
    assert_records(r, 1);
    assert_rec(r, 0, "angry@example.net", "feedback", NULL);
    assert_string_equal(r->recs[0].feedback_type, "abuse");

    r = test_analyze(
        "From: SES <no-reply@sns.amazonaws.example.com>\n"
        "Subject: AWS Notification Message\n"
        "\n"
        "{\"notificationType\":\"Delivery\",\"mail\":{\"destination\":[\"happy@example.net\"]},"
        "\"delivery\":{\"recipients\":[\"happy@example.net\"],\"smtpResponse\":\"250 2.6.0 Message received\"}}\n");
    assert_records(r, 1);
    assert_rec(r, 0, "happy@example.net", "delivered", "2.6.0");
}

/* SES's own text bounce: the remote reply in quotes is the precise status. */
static void test_amazonses_text_inner_status(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: MAILER-DAEMON@email-bounces.amazonses.example.com\n"
        "Subject: Delivery Status Notification (Failure)\n"
        "X-AWS-Outgoing: 192.0.2.2\n"
        "\n"
        "The following message to <box@example.jp> was undeliverable.\n"
        "The reason for the problem:\n"
        "5.1.0 - Unknown address error 550-'5.2.2 <box@example.jp>... Mailbox Full'\n");
    assert_records(r, 1);
    assert_rec(r, 0, "box@example.jp", "mailboxfull", "5.2.2");
    assert_by(r, 0, "amazonses");
}

static void test_amazonworkmail_inner_reply(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: MAILER-DAEMON@us-west-2.amazonses.example.com\n"
        "Subject: Delivery Status Notification (Failure)\n"
        "X-SES-Outgoing: 2024.01.02-192.0.2.3\n"
        "X-Mailer: Amazon WorkMail\n"
        "\n"
        "An error occurred while trying to deliver the mail to the following recipients:\n"
        "far@example.org\n"
        "\n"
        "Technical report:\n"
        "\n"
        "Reporting-MTA: dsn; a1.smtp-out.example.com\n"
        "\n"
        "Action: failed\n"
        "Final-Recipient: rfc822; far@example.org\n"
        "Diagnostic-Code: smtp; 554 4.4.7 Message expired: unable to deliver in 840 minutes.<421 4.4.2 Connection timed out>\n"
        "Status: 4.4.7\n");
    assert_records(r, 1);
    assert_rec(r, 0, "far@example.org", "expired", "4.4.2");
    assert_by(r, 0, "amazonworkmail");
    assert_string_equal(r->recs[0].reply_code, "421");
}

static void test_receivingses(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: postmaster@example.jp\n"
        "Subject: Delivery Status Notification (Failure)\n"
        "X-SES-Outgoing: 2024.01.02-192.0.2.4\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b3\"\n"
        "\n"
        "--b3\n"
        "Content-Type: text/plain\n"
        "\n"
        "This message could not be delivered.\n"
        "\n"
        "--b3\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        "Reporting-MTA: dns; inbound-smtp.us-west-2.amazonaws.example.com\n"
        "\n"
        "Final-Recipient: rfc822; big@example.jp\n"
        "Action: failed\n"
        "Status: 5.3.4\n"
        "Diagnostic-Code: smtp; 552 5.3.4 Message too large\n"
        "\n"
        "--b3--\n");
    assert_records(r, 1);
    assert_rec(r, 0, "big@example.jp", "mesgtoobig", "5.3.4");
    assert_by(r, 0, "receivingses");
}

static void test_messagelabs_542_rejected(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: Mail Delivery System <MAILER-DAEMON@messagelabs.com>\n"
        "Subject: Mail Delivery Failure\n"
        "X-Msg-Ref: server-1.tower-1.messagelabs.com!1!2!1\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b4\"\n"
        "\n"
        "--b4\n"
        "Content-Type: text/plain\n"
        "\n"
        "I was unable to deliver your message to the following addresses:\n"
        "\n"
        "who@example.com\n"
        "\n"
        "Reason: 542 who@example.com Rejected\n"
        "\n"
        "--b4\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        "Reporting-MTA: dns; server-1.bemta-1.messagelabs.com\n"
        "\n"
        "Action: failed\n"
        "Final-Recipient: rfc822; who@example.com\n"
        "Diagnostic-Code: smtp; 542 who@example.com Rejected\n"
        "Status: 5.0.0\n"
        "\n"
        "--b4--\n");
    assert_records(r, 1);
    assert_rec(r, 0, "who@example.com", "userunknown", "5.0.0");
    assert_by(r, 0, "messagelabs");
}

/* A Google, Yahoo or Microsoft look-alike without the format's body is
 * left to the generic parsers. */
static void test_lookalikes_are_not_claimed(void **state)
{
    (void)state;
    rb_result *r = test_analyze(
        "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\n"
        "Subject: Delivery Status Notification (Failure)\n"
        "X-YMailISG: abc\n"
        "X-ZohoMail: x\n"
        "\n"
        "Nothing to see here.\n");
    for (size_t i = 0; i < r->n; i++) {
        assert_string_not_equal(r->recs[i].decoded_by, "gmail");
        assert_string_not_equal(r->recs[i].decoded_by, "yahoo");
        assert_string_not_equal(r->recs[i].decoded_by, "zoho");
        assert_string_not_equal(r->recs[i].decoded_by, "googleworkspace");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_office365_recipient_not_found),
        cmocka_unit_test(test_office365_mailto_and_remote_host),
        cmocka_unit_test(test_exchange2007_on_premises),
        cmocka_unit_test(test_exchange2003_ims_code),
        cmocka_unit_test(test_outlook_dsn),
        cmocka_unit_test(test_gmail_permanent_state14),
        cmocka_unit_test(test_gmail_state18_filtered),
        cmocka_unit_test(test_gmail_delay_is_expired),
        cmocka_unit_test(test_googlegroups_rejected),
        cmocka_unit_test(test_googleworkspace_address_not_found),
        cmocka_unit_test(test_yahoo_remote_host_said),
        cmocka_unit_test(test_aol_recipients_in_one_group),
        cmocka_unit_test(test_zoho_error_codes),
        cmocka_unit_test(test_amazonses_sns_bounce_json),
        cmocka_unit_test(test_amazonses_complaint_and_delivery),
        cmocka_unit_test(test_amazonses_text_inner_status),
        cmocka_unit_test(test_amazonworkmail_inner_reply),
        cmocka_unit_test(test_receivingses),
        cmocka_unit_test(test_messagelabs_542_rejected),
        cmocka_unit_test(test_lookalikes_are_not_claimed),
    };
    return cmocka_run_group_tests_name("lhost_cloud", tests, NULL, NULL);
}
