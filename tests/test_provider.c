/* test_provider.c -- provider and provider_source on analysed records: from
 * the report's Remote-MTA / Reporting-MTA, its own Received chain, else the
 * recipient's domain (data/providers.conf), and the host table itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "rb_internal.h"
#include "testlib.h"

/* A DSN: recipient, Reporting-MTA, Remote-MTA ("" leaves the field out),
 * and Received fields on top (written top to bottom, "" for none). */
static const rb_record *dsn(const char *rcpt, const char *reporting, const char *remote, const char *received)
{
    static char msg[8192];
    char rem[512] = "";
    if (remote[0]) snprintf(rem, sizeof rem, "Remote-MTA: dns; %s\n", remote);
    snprintf(msg, sizeof msg,
             "%s"
             "From: postmaster@%s\n"
             "To: bounces@lists.example.org\n"
             "Subject: Undeliverable: news\n"
             "Date: Mon, 16 Nov 2026 08:00:03 +0000\n"
             "MIME-Version: 1.0\n"
             "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n"
             "\n"
             "--B\n"
             "Content-Type: text/plain\n"
             "\n"
             "Delivery has failed to these recipients.\n"
             "\n"
             "--B\n"
             "Content-Type: message/delivery-status\n"
             "\n"
             "Reporting-MTA: dns; %s\n"
             "\n"
             "Final-Recipient: rfc822; %s\n"
             "Action: failed\n"
             "Status: 5.1.10\n"
             "%s"
             "Diagnostic-Code: smtp; 550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup\n"
             "\n"
             "--B--\n",
             received, reporting, reporting, rcpt, rem);
    rb_result *res = test_analyze(msg);
    assert_records(res, 1);
    return &res->recs[0];
}

static void assert_provider(const rb_record *r, const char *provider, const char *source)
{
    assert_string_equal(r->provider, provider);
    assert_string_equal(r->provider_source, source);
}

/* Exchange Online writes its NDRs on *.prod.outlook.com, with no Remote-MTA */
static void test_reporting_mta_business(void **state)
{
    (void)state;
    assert_provider(dsn("jan@contoso.example", "DB9PR01MB1234.eurprd01.prod.outlook.com", "", ""),
                    "business_microsoft", "ndr");
    assert_provider(dsn("jan@contoso.example", "mx.sender.example", "contoso-example.mail.protection.outlook.com", ""),
                    "business_microsoft", "ndr");
    assert_provider(dsn("jan@contoso.example", "mx.sender.example", "", ""), "", "");
}

/* Outlook.com: its MX is *.olc.protection.outlook.com; a consumer domain
 * with no host known is the domain's provider */
static void test_consumer_microsoft(void **state)
{
    (void)state;
    assert_provider(dsn("kim@hotmail.com", "mx.sender.example", "eur.olc.protection.outlook.com", ""),
                    "consumer_microsoft", "ndr");
    assert_provider(dsn("kim@hotmail.com", "mx.sender.example", "", ""), "consumer_microsoft", "domain");
    assert_provider(dsn("kim@outlook.be", "mx.sender.example", "", ""), "consumer_microsoft", "domain");
    /* the report's host wins over the domain: a hosted domain */
    assert_provider(dsn("kim@gmail.com", "mx.sender.example", "mx.contoso.mail.protection.outlook.com", ""),
                    "business_microsoft", "ndr");
}

/* The report's own Received chain: the bottom field's "by", then the
 * first real "from" host; never the hops further up (our own servers). */
static void test_received_chain(void **state)
{
    (void)state;
    const char *gmail = "Received: from mx.ours.example (mx.ours.example [198.51.100.1])\n"
                        "\tby AM0PR01MB9999.eurprd01.prod.outlook.com with ESMTPS id 1;\n"
                        "\tMon, 16 Nov 2026 08:00:05 +0000\n"
                        "Received: from mail-sor-f69.google.com (mail-sor-f69.google.com. [209.85.220.69])\n"
                        "\tby mx.ours.example (Postfix) with ESMTPS id 4C2A1E0123;\n"
                        "\tMon, 16 Nov 2026 08:00:04 +0000\n"
                        "Received: by 2002:a05:6a10:1234:0:0:0:0 with SMTP id x1csp1;\n"
                        "\tMon, 16 Nov 2026 08:00:03 -0800 (PST)\n";
    assert_provider(dsn("piet@example.nl", "mx.sender.example", "", gmail), "google", "ndr");
    const char *yahoo = "Received: from sonic301-2.consmr.mail.ir2.yahoo.com (sonic301-2.consmr.mail.ir2.yahoo.com [77.238.176.99])\n"
                        "\tby mx.ours.example (Postfix) id 1; Mon, 16 Nov 2026 08:00:04 +0000\n";
    assert_provider(dsn("a@example.nl", "mx.sender.example", "", yahoo), "yahoo", "ndr");
    /* a small ISP's report, delivered to us through Microsoft: not Microsoft */
    const char *isp = "Received: from mail.smallisp.example (mail.smallisp.example [192.0.2.5])\n"
                      "\tby AM0PR01MB9999.eurprd01.prod.outlook.com with ESMTPS id 1;\n"
                      "\tMon, 16 Nov 2026 08:00:05 +0000\n"
                      "Received: from localhost (localhost [127.0.0.1])\n"
                      "\tby mail.smallisp.example (Postfix) id 2; Mon, 16 Nov 2026 08:00:04 +0000\n";
    assert_provider(dsn("b@smallisp.example", "mx.sender.example", "", isp), "", "");
    /* Remote-MTA before the chain */
    assert_provider(dsn("piet@example.nl", "mx.sender.example", "mx00.gmx.net", gmail), "gmx", "ndr");
}

static void test_host_table(void **state)
{
    (void)state;
    const rb_ctx *ctx = test_ctx();
    static const struct {
        const char *host, *provider;
    } t[] = {
        {"AM0PR01MB1234.eurprd01.prod.outlook.com", "business_microsoft"},
        {"dns; VI1EUR04FT012.eop-eur04.prod.protection.outlook.com", "business_microsoft"},
        {"contoso-com.mail.protection.outlook.com.", "business_microsoft"},
        {"outlook-com.olc.protection.outlook.com", "consumer_microsoft"},
        {"mx1.hotmail.com [1.2.3.4]", "consumer_microsoft"},
        {"gmail-smtp-in.l.google.com", "google"},
        {"mail-sor-f69.google.com", "google"},
        {"mta7.am0.yahoodns.net", "yahoo"},
        {"mx-aol.mail.gm0.yahoodns.net", "yahoo"},
        {"mx01.mail.icloud.com", "apple"},
        {"mx00.gmx.net", "gmx"},
        {"mx-ha03.web.de", "gmx"},
        {"mx00.kundenserver.de", "gmx"},
        {"smtp-in.orange.fr", "orange"},
        {"mx.example.com", ""},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char out[RB_SHORT_MAX];
        int hit = rb_providers_host(ctx->providers, t[i].host, out, sizeof out);
        if (strcmp(out, t[i].provider)) fail_msg("%s: got '%s', want '%s'", t[i].host, out, t[i].provider);
        assert_int_equal(hit, t[i].provider[0] != '\0');
    }
    char out[RB_SHORT_MAX];
    assert_int_equal(rb_providers_guess(ctx->providers, "mx.example.com", "a@web.de", out, sizeof out), RB_PSRC_DOMAIN);
    assert_string_equal(out, "gmx");
    assert_int_equal(rb_providers_guess(ctx->providers, "mx00.gmx.net", "a@example.de", out, sizeof out), RB_PSRC_HOST);
    assert_int_equal(rb_providers_guess(ctx->providers, "mx.example.com", "a@example.de", out, sizeof out), RB_PSRC_NONE);
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reporting_mta_business),
        cmocka_unit_test(test_consumer_microsoft),
        cmocka_unit_test(test_received_chain),
        cmocka_unit_test(test_host_table),
    };
    return cmocka_run_group_tests_name("provider", tests, NULL, NULL);
}
