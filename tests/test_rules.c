/* test_rules.c -- the rules engine, the policy table, the provider table
 * and the message reader, on small files written by the tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "rb_internal.h"

static char *write_tmp(const char *content)
{
    char *path = strdup("/tmp/rebound-test-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t n = strlen(content);
    assert_int_equal(write(fd, content, n), (ssize_t)n);
    close(fd);
    return path;
}

static rb_rules *load_rules(const char *text, rb_error *err, rb_status *st)
{
    char *p = write_tmp(text);
    rb_rules *r = NULL;
    *st = rb_rules_load(p, &r, err);
    unlink(p);
    free(p);
    return r;
}

/* The reason of the winning rule, or NULL. */
static const char *match(const rb_rules *rs, const rb_record *r, const char *subject)
{
    static rb_rule_hit h;
    return rb_rules_match(rs, r, subject, &h) ? h.reason : NULL;
}

static rb_record rec(const char *status, const char *reply, const char *cmd, const char *vendor, const char *diag)
{
    rb_record r;
    memset(&r, 0, sizeof r);
    rb_strlcpy(r.status, status, sizeof r.status);
    rb_strlcpy(r.reply_code, reply, sizeof r.reply_code);
    rb_strlcpy(r.smtp_command, cmd, sizeof r.smtp_command);
    rb_strlcpy(r.decoded_by, vendor, sizeof r.decoded_by);
    rb_strlcpy(r.diagnostic, diag, sizeof r.diagnostic);
    return r;
}

static void test_first_match_wins_and_conditions(void **state)
{
    (void)state;
    rb_error err = {{0}};
    rb_status st;
    rb_rules *rs = load_rules("# comment\n"
                              "blocked vendor=office365 status=5.7.6*\n"
                              "mailboxfull ~ mailbox (?:is )?full|over quota\n"
                              "mailboxfull ~ quota exceeded\n"
                              "filtered command=DATA ~ user unknown\n"
                              "userunknown command=RCPT,- ~ user unknown\n"
                              "userunknown status=5.1.1\n"
                              "spamdetected in=subject ~ spam\n"
                              "onhold status=5.*\n",
                              &err, &st);
    assert_int_equal(st, RB_OK);
    rb_record r = rec("5.7.606", "550", "", "office365", "Access denied, banned sending IP");
    assert_string_equal(match(rs, &r, NULL), "blocked");
    r = rec("5.7.606", "550", "", "postfix", "Access denied");
    assert_string_equal(match(rs, &r, NULL), "onhold");
    /* merged alternation: both phrases of the two mailboxfull lines match */
    r = rec("", "", "", "", "552 Quota Exceeded for this user");
    assert_string_equal(match(rs, &r, NULL), "mailboxfull");
    r = rec("", "", "", "", "Mailbox is FULL");
    assert_string_equal(match(rs, &r, NULL), "mailboxfull");
    /* command conditions, '-' = no command known */
    r = rec("5.0.0", "550", "DATA", "", "User unknown");
    assert_string_equal(match(rs, &r, NULL), "filtered");
    r = rec("5.0.0", "550", "RCPT", "", "User unknown");
    assert_string_equal(match(rs, &r, NULL), "userunknown");
    r = rec("5.0.0", "550", "", "", "User unknown");
    assert_string_equal(match(rs, &r, NULL), "userunknown");
    r = rec("5.1.1", "", "", "", "");
    assert_string_equal(match(rs, &r, NULL), "userunknown");
    /* in=subject */
    r = rec("4.0.0", "", "", "", "");
    assert_string_equal(match(rs, &r, "Message rejected as spam"), "spamdetected");
    assert_null(match(rs, &r, "hello"));
    rb_rules_free(rs);
}

static void test_non_ascii_text_matches(void **state)
{
    (void)state;
    rb_error err = {{0}};
    rb_status st;
    rb_rules *rs = load_rules("userunknown ~ utilisateur\\s\\S+ inconnu\n", &err, &st);
    assert_int_equal(st, RB_OK);
    rb_record r = rec("", "", "", "", "utilisateur \xc3\xa9tudiant inconnu");
    assert_string_equal(match(rs, &r, NULL), "userunknown");
    /* invalid UTF-8 in the text is repaired, not a crash or a miss of the rest */
    r = rec("", "", "", "", "\xff utilisateur x inconnu");
    assert_string_equal(match(rs, &r, NULL), "userunknown");
    rb_rules_free(rs);
}

/* The literal prefilter must never hide a match the regex would find. */
static void test_prefilter_is_sound(void **state)
{
    (void)state;
    rb_error err = {{0}};
    rb_status st;
    rb_rules *rs = load_rules("userunknown ~ (?:no such|unknown) user\n"   /* group start: no literal */
                              "userunknown ~ \\b553 \\S+ does not exist\n" /* merged; \b skipped */
                              "mailboxfull ~ over ?quota|mailbox full\n"   /* optional char ends the literal */
                              "blocked ~ ^blocked by policy\n"
                              "authfailure ~ (?:does not|doesn't|fails? to) pass spf\n"   /* group of alternatives */
                              "systemfull ~ (?<!message )disk full|(?:very )?low disk\n"   /* lookbehind; optional group */
                              "rejected ~ (?:(?:sender|from) address|mail from) rejected\n", /* nested group */
                              &err, &st);
    assert_int_equal(st, RB_OK);
    rb_record r = rec("", "", "", "", "550 UNKNOWN USER here");
    assert_string_equal(match(rs, &r, NULL), "userunknown");
    r = rec("", "", "", "", "553 host.example does not exist");
    assert_string_equal(match(rs, &r, NULL), "userunknown");
    r = rec("", "", "", "", "user is overquota");
    assert_string_equal(match(rs, &r, NULL), "mailboxfull");
    r = rec("", "", "", "", "OVER QUOTA");
    assert_string_equal(match(rs, &r, NULL), "mailboxfull");
    r = rec("", "", "", "", "Blocked by policy");
    assert_string_equal(match(rs, &r, NULL), "blocked");
    r = rec("", "", "", "", "we blocked by policy");
    assert_null(match(rs, &r, NULL));
    r = rec("", "", "", "", "Message FAILS TO PASS SPF check");
    assert_string_equal(match(rs, &r, NULL), "authfailure");
    r = rec("", "", "", "", "it doesn't pass spf");
    assert_string_equal(match(rs, &r, NULL), "authfailure");
    r = rec("", "", "", "", "Disk full on server");
    assert_string_equal(match(rs, &r, NULL), "systemfull");
    r = rec("", "", "", "", "message disk full");   /* the lookbehind says no */
    assert_null(match(rs, &r, NULL));
    r = rec("", "", "", "", "LOW DISK space");        /* the optional group is absent */
    assert_string_equal(match(rs, &r, NULL), "systemfull");
    r = rec("", "", "", "", "550 From address rejected");
    assert_string_equal(match(rs, &r, NULL), "rejected");
    rb_rules_free(rs);
}

static void test_rule_errors_name_the_line(void **state)
{
    (void)state;
    rb_error err = {{0}};
    rb_status st;
    assert_null(load_rules("userunknown status=5.1.1\nnotareason ~ x\n", &err, &st));
    assert_int_equal(st, RB_ERR_CONFIG);
    assert_non_null(strstr(err.msg, ":2: unknown reason 'notareason'"));
    assert_null(load_rules("\n\nblocked ~ (unclosed\n", &err, &st));
    assert_non_null(strstr(err.msg, ":3: bad pattern"));
    assert_null(load_rules("blocked colour=red\n", &err, &st));
    assert_non_null(strstr(err.msg, ":1: unknown condition 'colour'"));
    /* in a merged rule, the line that is wrong (not the rule's first) */
    assert_null(load_rules("blocked ~ fine\nblocked ~ (unclosed\nblocked ~ also fine\n", &err, &st));
    assert_non_null(strstr(err.msg, ":2: bad pattern at offset"));
    assert_null(load_rules("blocked ~ a(b)c\nblocked ~ x[y\n", &err, &st));
    assert_non_null(strstr(err.msg, ":2: bad pattern"));
    /* capture groups of every kind keep the line attribution right */
    rb_rules *rs = load_rules("blocked ~ (a)(?<n>b)(?:c)[(]d\nblocked ~ \\(x\\)(y)\nblocked ~ zz(?P<m>w)\n", &err, &st);
    assert_int_equal(st, RB_OK);
    rb_rule_hit h;
    rb_record r = rec("", "", "", "", "(x)y");
    assert_true(rb_rules_match(rs, &r, NULL, &h));
    assert_int_equal(h.line, 2);
    r = rec("", "", "", "", "zzw");
    assert_true(rb_rules_match(rs, &r, NULL, &h));
    assert_int_equal(h.line, 3);
    rb_rules_free(rs);
}

static void test_shipped_rules_load(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/rules.conf", getenv("REBOUND_DATADIR"));
    rb_rules *rs = NULL;
    rb_error err = {{0}};
    assert_int_equal(rb_rules_load(path, &rs, &err), RB_OK);
    /* the user's own documentation (seed 002), phrase by phrase */
    static const struct { const char *text, *cmd, *reason; } cases[] = {
        {"550 Sorry, no mailbox here by that name. (#5.1.1)", "RCPT", "userunknown"},
        {"550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", "RCPT", "userunknown"},
        {"552 Message size exceeds fixed limit", "DATA", "mesgtoobig"},
        {"Host or domain name not found. Name service error for name=example.invalid type=MX: Host not found", "", "hostunknown"},
        {"552 5.2.2 Quota exceeded (mailbox for user is full)", "RCPT", "mailboxfull"},
        {"554 Message blocked due to virus content of the message", "DATA", "virusdetected"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rb_record r = rec("", "", cases[i].cmd, "", cases[i].text);
        rb_find_status(cases[i].text, r.status, sizeof r.status);
        rb_find_reply(cases[i].text, r.reply_code, sizeof r.reply_code);
        const char *got = match(rs, &r, NULL);
        if (!got || strcmp(got, cases[i].reason)) fail_msg("'%s' -> %s, want %s", cases[i].text, got ? got : "(none)", cases[i].reason);
    }
    rb_rules_free(rs);
}

static void test_policy(void **state)
{
    (void)state;
    char *p = write_tmp("set soft_threshold 5\nset mailboxfull soft\nuserunknown hard disable\nblocked blocked record\n* soft count\n");
    rb_policy *pol = NULL;
    rb_error err = {{0}};
    assert_int_equal(rb_policy_load(p, &pol, &err), RB_OK);
    const char *action;
    assert_string_equal(rb_policy_lookup_raw(pol, "userunknown", &action), "hard");
    assert_string_equal(action, "disable");
    assert_string_equal(rb_policy_lookup_raw(pol, "mailboxfull", &action), "soft");   /* the switch */
    assert_string_equal(action, "count");
    assert_string_equal(rb_policy_lookup_raw(pol, "networkerror", &action), "soft");  /* default */
    assert_int_equal(rb_policy_settings_of(pol)->soft_threshold, 5);
    assert_int_equal(rb_policy_settings_of(pol)->soft_window_days, 30);
    rb_policy_free(pol);
    unlink(p);
    free(p);
    p = write_tmp("userunknown broken disable\n");
    assert_int_equal(rb_policy_load(p, &pol, &err), RB_ERR_CONFIG);
    assert_non_null(strstr(err.msg, ":1: unknown bounce type 'broken'"));
    unlink(p);
    free(p);
}

static void test_shipped_policy_is_the_seed_table(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/policy.conf", getenv("REBOUND_DATADIR"));
    rb_policy *pol = NULL;
    rb_error err = {{0}};
    assert_int_equal(rb_policy_load(path, &pol, &err), RB_OK);
    static const struct { const char *reason, *type, *action; } t[] = {
        {"userunknown", "hard", "disable"}, {"hostunknown", "hard", "disable"}, {"mailboxfull", "hard", "disable"},
        {"blocked", "blocked", "record"}, {"spamdetected", "blocked", "record"}, {"policyviolation", "blocked", "record"},
        {"badreputation", "blocked", "record"}, {"networkerror", "soft", "count"}, {"expired", "soft", "count"},
        {"feedback", "complaint", "disable"}, {"vacation", "none", "ignore"}, {"delivered", "none", "ignore"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        const char *action;
        assert_string_equal(rb_policy_lookup_raw(pol, t[i].reason, &action), t[i].type);
        assert_string_equal(action, t[i].action);
    }
    rb_policy_free(pol);
}

static void test_providers(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/providers.conf", getenv("REBOUND_DATADIR"));
    rb_providers *pv = NULL;
    rb_error err = {{0}};
    assert_int_equal(rb_providers_load(path, &pv, &err), RB_OK);
    char out[64];
    rb_providers_guess(pv, "contoso-be.mail.protection.outlook.com [192.0.2.1]", "jan@contoso.example", out, sizeof out);
    assert_string_equal(out, "business_microsoft");
    rb_providers_guess(pv, "hotmail-com.olc.protection.outlook.com", "jan@hotmail.com", out, sizeof out);
    assert_string_equal(out, "consumer_microsoft");
    rb_providers_guess(pv, "", "jan@outlook.com", out, sizeof out);
    assert_string_equal(out, "consumer_microsoft");
    rb_providers_guess(pv, "", "someone@GMAIL.com", out, sizeof out);
    assert_string_equal(out, "google");
    rb_providers_guess(pv, "mta7.am0.yahoodns.net", "x@example.org", out, sizeof out);
    assert_string_equal(out, "yahoo");
    rb_providers_guess(pv, "mx.example.org", "x@example.org", out, sizeof out);
    assert_string_equal(out, "");
    rb_providers_free(pv);
}

/* ---- the reader ---- */
static void test_reader_mbox_split_and_gzip(void **state)
{
    (void)state;
    const char *mbox = "From a@example.org Mon Nov 23 10:00:00 2026\nSubject: one\n\nbody\nFrom the start of a line\n\n"
                       "From b@example.org Mon Nov 23 10:00:01 2026\nSubject: two\n\n>From escaped\n\n"
                       "From c@example.org Mon Nov 23 10:00:02 2026\nSubject: three\n\nlast";
    char *p = write_tmp(mbox);
    const char *paths[1] = {p};
    rb_reader *rd;
    rb_error err = {{0}};
    assert_int_equal(rb_reader_open(paths, 1, &rd, &err), RB_OK);
    rb_rawmsg m;
    const char *subjects[] = {"Subject: one", "Subject: two", "Subject: three"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rb_reader_next(rd, &m, &err), 1);
        assert_true(m.len >= strlen(subjects[i]));
        assert_memory_equal(m.data, subjects[i], strlen(subjects[i]));
        char want[64];
        snprintf(want, sizeof want, "#%d", i + 1);
        assert_non_null(strstr(m.source, want));
    }
    /* "From the start of a line" without a blank line before it did not split message 1 */
    assert_int_equal(rb_reader_next(rd, &m, &err), 0);
    rb_reader_free(rd);

    char cmd[512];
    snprintf(cmd, sizeof cmd, "gzip -c %s > %s.gz", p, p);
    assert_int_equal(system(cmd), 0);
    char gz[300];
    snprintf(gz, sizeof gz, "%s.gz", p);
    paths[0] = gz;
    assert_int_equal(rb_reader_open(paths, 1, &rd, &err), RB_OK);
    int n = 0;
    while (rb_reader_next(rd, &m, &err) == 1) n++;
    assert_int_equal(n, 3);
    rb_reader_free(rd);
    unlink(gz);
    unlink(p);
    free(p);
}

static void test_reader_errors(void **state)
{
    (void)state;
    char *p = write_tmp("");
    const char *paths[2] = {p, "/nonexistent/rebound"};
    rb_reader *rd;
    rb_error err = {{0}};
    assert_int_equal(rb_reader_open(paths, 2, &rd, &err), RB_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/rebound"));
    assert_int_equal(rb_reader_open(paths, 1, &rd, &err), RB_OK);
    rb_rawmsg m;
    assert_int_equal(rb_reader_next(rd, &m, &err), -1);
    assert_non_null(strstr(err.msg, "empty file"));
    assert_non_null(strstr(err.msg, p));
    assert_int_equal(rb_reader_next(rd, &m, &err), 0);
    rb_reader_free(rd);
    unlink(p);
    free(p);
}


/* Evidence decides before reading order; the record names the line. */
static void test_evidence_precedence(void **state)
{
    (void)state;
    rb_error err = {{0}};
    rb_status st;
    rb_rules *rs = load_rules("onhold ~ .\n"                                  /* phrase (inferred) */
                              "securityerror status=5.7.*\n"                  /* class */
                              "blocked command=CONN\n"                         /* reply */
                              "policyviolation status=5.7.1\n"                 /* status */
                              "userunknown ~ no mailbox found\n"               /* phrase, later line */
                              "userunknown ~ mailbox not found\n"              /* merged with the line above */
                              "blocked evidence=vendor ~ \\bS3150\\b\n"        /* a vendor code */
                              "spamdetected evidence=none ~ spam\n",
                              &err, &st);
    assert_int_equal(st, RB_OK);
    rb_rule_hit h;
    /* the phrase naming the cause beats the 5.7.x class and the 5.7.1 detail */
    rb_record r = rec("5.7.1", "550", "CONN", "", "550 5.7.1 No mailbox found");
    assert_true(rb_rules_match(rs, &r, NULL, &h));
    assert_string_equal(h.reason, "onhold");   /* the first phrase line ("." matches anything) */
    rb_rules_free(rs);
    rs = load_rules("securityerror status=5.7.*\n"
                    "blocked command=CONN\n"
                    "policyviolation status=5.7.1\n"
                    "userunknown ~ no mailbox found\n"
                    "userunknown ~ mailbox not found\n"
                    "blocked evidence=vendor ~ \\bS3150\\b\n",
                    &err, &st);
    assert_int_equal(st, RB_OK);
    assert_true(rb_rules_match(rs, &r, NULL, &h));
    assert_string_equal(h.reason, "userunknown");
    assert_int_equal(h.evidence, RB_EV_PHRASE);
    assert_int_equal(h.line, 4);
    assert_string_equal(h.matched, "No mailbox found");
    /* the second line of a merged rule is named as itself */
    r = rec("5.7.1", "550", "CONN", "", "Mailbox not found");
    assert_true(rb_rules_match(rs, &r, NULL, &h));
    assert_int_equal(h.line, 5);
    /* without words: the detail code, then the reply/command, then the class */
    r = rec("5.7.1", "550", "CONN", "", "");
    assert_true(rb_rules_match(rs, &r, NULL, &h));
    assert_string_equal(h.reason, "policyviolation");
    assert_int_equal(h.evidence, RB_EV_STATUS);
    r = rec("5.7.2", "550", "CONN", "", "");
    assert_true(rb_rules_match(rs, &r, NULL, &h));
    assert_string_equal(h.reason, "blocked");
    assert_int_equal(h.evidence, RB_EV_REPLY);
    r = rec("5.7.2", "550", "RCPT", "", "");
    assert_true(rb_rules_match(rs, &r, NULL, &h));
    assert_string_equal(h.reason, "securityerror");
    assert_int_equal(h.evidence, RB_EV_CLASS);
    /* a vendor code beats every phrase */
    r = rec("5.7.1", "550", "RCPT", "", "550 5.7.1 Unfortunately, no mailbox found. [S3150]");
    assert_true(rb_rules_match(rs, &r, NULL, &h));
    assert_string_equal(h.reason, "blocked");
    assert_int_equal(h.evidence, RB_EV_VENDOR);
    /* explain lists every hit, strongest first */
    rb_rule_hit hits[8];
    size_t n = rb_rules_explain(rs, &r, NULL, hits, 8);
    assert_int_equal(n, 4);
    assert_int_equal(hits[0].evidence, RB_EV_VENDOR);
    assert_int_equal(hits[1].evidence, RB_EV_PHRASE);
    assert_int_equal(hits[2].evidence, RB_EV_STATUS);
    assert_int_equal(hits[3].evidence, RB_EV_CLASS);
    rb_rules_free(rs);
    /* a bad evidence name is an error naming the line */
    rs = load_rules("# c\nuserunknown evidence=strong ~ x\n", &err, &st);
    assert_int_equal(st, RB_ERR_CONFIG);
    assert_non_null(strstr(err.msg, ":2: evidence="));
}

/* The prefilter's literals found past the start of a branch. */
static void test_prefilter_inner_literals(void **state)
{
    (void)state;
    rb_error err = {{0}};
    rb_status st;
    rb_rules *rs = load_rules("userunknown ~ \\b[45]\\d\\d <[^>\\s]+@[^>\\s]+>: user unknown\n"
                              "filtered ~ (?:\\b[45]\\d\\d:?|->) +: *user unknown\n"
                              "userunknown ~ ^(?:[45]\\d\\d[ -])?(?:[45]\\.\\d\\.\\d+ )?recipient (?:address )?rejected\\.?$\n"
                              "mailboxfull ~ [a-z]+ quo+ta exceeded{1,2}\n"
                              "systemerror ~ \\d+ errors? x?y?z?abc\n",
                              &err, &st);
    assert_int_equal(st, RB_OK);
    char list[512];
    assert_int_equal(rb__rules_unfiltered(rs, list, sizeof list), 0);
    static const char *const texts[] = {
        "550 <a@b.example>: User Unknown", "550 : user unknown", "-> : User unknown", "550 5.1.1 Recipient rejected",
        "RECIPIENT ADDRESS REJECTED", "mail quoooota exceededd", "x quota exceed", "12 error abc", "3 errors zabc",
        "nothing", "", "quota", "user unknown",
    };
    char why[512];
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if (!rb__rules_prefilter_sound(rs, texts[i], why, sizeof why)) fail_msg("%s", why);
    rb_record r = rec("", "", "", "", "550 <a@b.example>: User Unknown");
    assert_string_equal(match(rs, &r, NULL), "userunknown");
    r = rec("", "", "", "", "mail quoooota exceededd");
    assert_string_equal(match(rs, &r, NULL), "mailboxfull");
    rb_rules_free(rs);
}

/* Every pattern of the shipped table has a prefilter (but the catch-alls),
 * and the prefilter never hides a match on any text of the lexicon tables,
 * alone or behind codes. */
static void test_shipped_table_prefilter(void **state)
{
    (void)state;
    const char *dd = getenv("REBOUND_DATADIR"), *src = getenv("REBOUND_SRCDIR");
    if (!dd || !*dd) dd = rb_default_datadir();
    char path[1024];
    snprintf(path, sizeof path, "%s/rules.conf", dd);
    rb_rules *rs = NULL;
    rb_error err = {{0}};
    assert_int_equal(rb_rules_load(path, &rs, &err), RB_OK);
    char list[2048];
    size_t nu = rb__rules_unfiltered(rs, list, sizeof list);
    if (nu > 8) fail_msg("%zu pattern rules without a literal prefilter (at most 8: the catch-alls): %s", nu, list);
    static const char *const tables[] = {"seeds", "mta", "providers", "intl", "status"};
    size_t ntexts = 0;
    char why[512];
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
        snprintf(path, sizeof path, "%s/tests/lexicon/%s.tsv", src ? src : ".", tables[t]);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        char line[4096];
        while (fgets(line, sizeof line, f)) {
            if (line[0] == '#') continue;
            line[strcspn(line, "\r\n")] = '\0';
            char *c = line;
            for (int k = 0; k < 5 && c; k++) { c = strchr(c, '\t'); if (c) c++; }
            if (!c) continue;
            char *e = strchr(c, '\t');
            if (e) *e = '\0';
            char coded[4200];
            snprintf(coded, sizeof coded, "550 5.1.1 <user@example.net>: %s", c);
            if (!rb__rules_prefilter_sound(rs, c, why, sizeof why) || !rb__rules_prefilter_sound(rs, coded, why, sizeof why))
                fail_msg("%s", why);
            ntexts++;
        }
        fclose(f);
    }
    assert_true(ntexts > 300);
    rb_rules_free(rs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_match_wins_and_conditions),
        cmocka_unit_test(test_non_ascii_text_matches),
        cmocka_unit_test(test_prefilter_is_sound),
        cmocka_unit_test(test_evidence_precedence),
        cmocka_unit_test(test_prefilter_inner_literals),
        cmocka_unit_test(test_shipped_table_prefilter),
        cmocka_unit_test(test_rule_errors_name_the_line),
        cmocka_unit_test(test_shipped_rules_load),
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_shipped_policy_is_the_seed_table),
        cmocka_unit_test(test_providers),
        cmocka_unit_test(test_reader_mbox_split_and_gzip),
        cmocka_unit_test(test_reader_errors),
    };
    return cmocka_run_group_tests_name("rules", tests, NULL, NULL);
}
