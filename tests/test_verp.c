/* test_verp.c -- signed VERP (HMAC-SHA256, sign, verify, expiry, tampering)
 * and the backscatter guard, end to end with a SQLite store: a forged DSN
 * must not change a contact, a bounce for mail we sent must. */
#include <ctype.h>
#include <fcntl.h>
#include <unistd.h>

#include "testlib.h"
#include "rebound_guard.h"
#include "rebound_store.h"

static char tmpdir[] = "/tmp/rebound-test-verp.XXXXXX";

static rb_verp_key test_key(const char *s)
{
    rb_verp_key k;
    rb_error err = {{0}};
    assert_int_equal(rb_verp_key_set(&k, s, strlen(s), &err), RB_OK);
    return k;
}

static void hex(const unsigned char *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

/* RFC 4231 test cases 1, 2, 3 and 6 (a key longer than the block). */
static void test_hmac_rfc4231(void **state)
{
    (void)state;
    unsigned char d[32], key[131];
    char h[65];
    memset(key, 0x0b, 20);
    rb_hmac_sha256(key, 20, "Hi There", 8, d);
    hex(d, 32, h);
    assert_string_equal(h, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    rb_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, d);
    hex(d, 32, h);
    assert_string_equal(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    unsigned char dd[50];
    memset(key, 0xaa, 20);
    memset(dd, 0xdd, 50);
    rb_hmac_sha256(key, 20, dd, 50, d);
    hex(d, 32, h);
    assert_string_equal(h, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
    memset(key, 0xaa, 131);
    const char *m = "Test Using Larger Than Block-Size Key - Hash Key First";
    rb_hmac_sha256(key, 131, m, strlen(m), d);
    hex(d, 32, h);
    assert_string_equal(h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

#define T0 1800000000LL    /* 2027-01-15 */
#define DAY 86400LL

static void test_sign_verify_round_trip(void **state)
{
    (void)state;
    rb_verp_key k = test_key("0123456789abcdef-secret");
    rb_error err = {{0}};
    char a[RB_ADDR_MAX * 2], r[RB_ADDR_MAX];
    assert_int_equal(rb_verp_sign(&k, NULL, "Bounce.Example.ORG", "<Jan.Peeters@Example.BE>", T0, a, sizeof a, &err),
                     RB_OK);
    /* readable: the recipient, normalised, '@' as '=' */
    assert_int_equal(strncmp(a, "bounce-jan.peeters=example.be-", 30), 0);
    assert_non_null(strstr(a, "@bounce.example.org"));
    assert_int_equal(strlen(a), strlen("bounce-jan.peeters=example.be-") + RB_VERP_TAG_LEN + strlen("@bounce.example.org"));
    assert_int_equal(rb_verp_verify(&k, a, T0, 60, r, sizeof r), RB_VERP_VALID);
    assert_string_equal(r, "jan.peeters@example.be");
    /* decodable without the key, by the VERP decoder analyze uses */
    assert_true(rb_verp_decode(a, r, sizeof r));
    assert_string_equal(r, "jan.peeters@example.be");
    assert_true(rb_verp_signed_decode(a, r, sizeof r));
    /* angle brackets and an MTA that upper-cases the address */
    char b[RB_ADDR_MAX * 2 + 2];
    snprintf(b, sizeof b, "<%s>", a);
    for (char *p = b; *p; p++) *p = (char)toupper((unsigned char)*p);
    assert_int_equal(rb_verp_verify(&k, b, T0, 60, r, sizeof r), RB_VERP_VALID);
    assert_string_equal(r, "jan.peeters@example.be");
    /* recipients with '-', '+' and '=' of their own */
    const char *odd[] = {"jean-luc+news@my-domain.example.com", "a=b@example.org", "x-@x-y.example"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(rb_verp_sign(&k, "nl.2", "b.example.org", odd[i], T0, a, sizeof a, &err), RB_OK);
        assert_int_equal(rb_verp_verify(&k, a, T0 + DAY, 60, r, sizeof r), RB_VERP_VALID);
        assert_string_equal(r, odd[i]);
    }
}

static void test_tampering_is_detected(void **state)
{
    (void)state;
    rb_verp_key k = test_key("0123456789abcdef-secret"), other = test_key("0123456789abcdef-secreT");
    rb_error err = {{0}};
    char a[RB_ADDR_MAX * 2], t[RB_ADDR_MAX * 2], r[RB_ADDR_MAX];
    assert_int_equal(rb_verp_sign(&k, "bounce", "bounce.example.org", "jan@example.be", T0, a, sizeof a, &err), RB_OK);
    assert_int_equal(rb_verp_verify(&other, a, T0, 60, r, sizeof r), RB_VERP_FORGED);
    assert_string_equal(r, "jan@example.be");        /* names it, but unproven */
    assert_int_equal(rb_verp_verify(NULL, a, T0, 60, r, sizeof r), RB_VERP_FORGED);
    /* every character of the tag matters (day and MAC) */
    char *tag = strchr(a, '@') - RB_VERP_TAG_LEN;
    for (int i = 0; i < RB_VERP_TAG_LEN; i++) {
        strcpy(t, a);
        char *c = t + (tag - a) + i;
        *c = *c == 'a' ? 'b' : 'a';
        assert_int_equal(rb_verp_verify(&k, t, T0, 0, NULL, 0), RB_VERP_FORGED);
    }
    /* another recipient under the same tag */
    strcpy(t, a);
    t[strlen("bounce-")] = 'd';    /* jan -> dan */
    assert_int_equal(rb_verp_verify(&k, t, T0, 60, r, sizeof r), RB_VERP_FORGED);
    assert_string_equal(r, "dan@example.be");
    /* the prefix and the bounce domain are not signed: they may change */
    strcpy(t, a);
    memcpy(t, "zounce", 6);
    assert_int_equal(rb_verp_verify(&k, t, T0, 60, NULL, 0), RB_VERP_VALID);
    /* not the signed form at all */
    const char *plain[] = {"bounce-123456789@example.com", "list+user=example.com@bounces.example.org",
                           "plain@example.com", "bounce-user=example.com-short@x.org", "-a=b.com-aaaaaaaaaaaa@x.org",
                           "bounce-nodomain-aaaaaaaaaaaa@x.org", "bou+nce-a=b.com-aaaaaaaaaaaa@x.org", "", "@",
                           "bounce-a=b.com-aaaaaaaaaaa1@x.org"};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        assert_int_equal(rb_verp_verify(&k, plain[i], T0, 60, r, sizeof r), RB_VERP_NOT_SIGNED);
    assert_int_equal(rb_verp_verify(&k, NULL, T0, 60, r, sizeof r), RB_VERP_NOT_SIGNED);
}

static void test_expiry(void **state)
{
    (void)state;
    rb_verp_key k = test_key("0123456789abcdef-secret");
    rb_error err = {{0}};
    char a[RB_ADDR_MAX * 2];
    assert_int_equal(rb_verp_sign(&k, NULL, "b.example.org", "jan@example.be", T0, a, sizeof a, &err), RB_OK);
    assert_int_equal(rb_verp_verify(&k, a, T0 + 59 * DAY, 60, NULL, 0), RB_VERP_VALID);
    assert_int_equal(rb_verp_verify(&k, a, T0 + 60 * DAY, 60, NULL, 0), RB_VERP_VALID);
    assert_int_equal(rb_verp_verify(&k, a, T0 + 61 * DAY, 60, NULL, 0), RB_VERP_EXPIRED);
    assert_int_equal(rb_verp_verify(&k, a, T0 + 500 * DAY, 0, NULL, 0), RB_VERP_VALID);   /* 0: never */
    /* the verifier's clock a day or two behind the signer's */
    assert_int_equal(rb_verp_verify(&k, a, T0 - DAY, 60, NULL, 0), RB_VERP_VALID);
    assert_int_equal(rb_verp_verify(&k, a, T0 - 2 * DAY, 60, NULL, 0), RB_VERP_VALID);
    assert_int_equal(rb_verp_verify(&k, a, T0 - 10 * DAY, 60, NULL, 0), RB_VERP_EXPIRED);
}

static void test_sign_rejects(void **state)
{
    (void)state;
    rb_verp_key k = test_key("0123456789abcdef-secret");
    rb_error err = {{0}};
    char a[RB_ADDR_MAX * 2];
    assert_int_equal(rb_verp_sign(&k, "my-list", "b.example.org", "jan@example.be", T0, a, sizeof a, &err), RB_ERR_ARG);
    assert_non_null(strstr(err.msg, "prefix"));
    assert_int_equal(rb_verp_sign(&k, "bounce", "b example.org", "jan@example.be", T0, a, sizeof a, &err), RB_ERR_ARG);
    assert_int_equal(rb_verp_sign(&k, "bounce", "b.example.org", "not an address", T0, a, sizeof a, &err), RB_ERR_ARG);
    assert_int_equal(rb_verp_sign(&k, "bounce", "b.example.org", "x@[192.0.2.1]", T0, a, sizeof a, &err), RB_ERR_ARG);
    assert_int_equal(rb_verp_sign(&k, "bounce", "b.example.org", "jan@example.be", T0, a, 20, &err), RB_ERR_ARG);
    rb_verp_key shortk;
    assert_int_equal(rb_verp_key_set(&shortk, "short", 5, &err), RB_ERR_ARG);
    assert_int_equal(rb_verp_sign(NULL, "bounce", "b.example.org", "jan@example.be", T0, a, sizeof a, &err), RB_ERR_ARG);
}

static void test_key_file(void **state)
{
    (void)state;
    char p[256];
    snprintf(p, sizeof p, "%s/key", tmpdir);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("0123456789abcdef-secret\n", f);
    fclose(f);
    rb_verp_key k, ref = test_key("0123456789abcdef-secret");
    rb_error err = {{0}};
    assert_int_equal(rb_verp_key_load(p, &k, &err), RB_OK);
    assert_int_equal(k.len, ref.len);     /* the newline is not part of the secret */
    assert_memory_equal(k.key, ref.key, k.len);
    f = fopen(p, "w");
    fputs("tooshort\n", f);
    fclose(f);
    assert_int_equal(rb_verp_key_load(p, &k, &err), RB_ERR_ARG);
    assert_non_null(strstr(err.msg, p));
    snprintf(p, sizeof p, "%s/missing", tmpdir);
    assert_int_equal(rb_verp_key_load(p, &k, &err), RB_ERR_IO);
    assert_non_null(strstr(err.msg, "missing"));
}

static void test_plain_verp_unchanged(void **state)
{
    (void)state;
    char out[RB_ADDR_MAX];
    assert_true(rb_verp_decode("news+jean-luc=example.com@bounces.example.org", out, sizeof out));
    assert_string_equal(out, "jean-luc@example.com");
    assert_true(rb_verp_decode("list+User=Example.com@bounces.example.org", out, sizeof out));
    assert_string_equal(out, "User@Example.com");
    assert_false(rb_verp_decode("bounce-1700000000@example.com", out, sizeof out));
}

/* ---- the guard, with a store ------------------------------------------------------ */
static const char *forged_dsn =
    "From: MAILER-DAEMON@mx.attacker.example\n"
    "To: %s\n"
    "Subject: Undelivered Mail Returned to Sender\n"
    "Date: Tue, 17 Nov 2026 10:00:03 +0100\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n"
    "--B\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n"
    "--B\nContent-Type: message/delivery-status\n\n"
    "Reporting-MTA: dns; mx.attacker.example\n\n"
    "Final-Recipient: rfc822; %s\nAction: failed\nStatus: 5.1.1\n"
    "Diagnostic-Code: smtp; 550 5.1.1 user unknown\n\n"
    "--B\nContent-Type: text/rfc822-headers\n\n"
    "Received: from [198.51.100.7] by mail.example.org (Postfix) with ESMTPSA id 4C2A1\n"
    "\t(Authenticated sender: %s) for <%s>\n"
    "From: newsletter@example.org\nTo: %s\nSubject: Weekly\nMessage-ID: <%s>\n\n--B--\n";

typedef struct {
    rb_store *st;
    char url[300];
} fixture;

static rb_store *open_fresh(const char *name, char *url, size_t len)
{
    snprintf(url, len, "%s/%s.db", tmpdir, name);
    unlink(url);
    rb_store *st = NULL;
    rb_error err = {{0}};
    if (rb_store_open_opts(url, &(rb_store_opts){.create = 1}, &st, &err) != RB_OK) fail_msg("open %s: %s", url, err.msg);
    rb_contact cs[3];
    memset(cs, 0, sizeof cs);
    const char *emails[] = {"victim@example.be", "attacker@evil.example", "jan@example.be"};
    for (int i = 0; i < 3; i++) {
        rb_strlcpy(cs[i].email, emails[i], sizeof cs[i].email);
        rb_strlcpy(cs[i].email_norm, emails[i], sizeof cs[i].email_norm);
        rb_strlcpy(cs[i].source, "Website", sizeof cs[i].source);
        cs[i].for_mailing = 1;
    }
    int ins[3];
    if (rb_store_begin(st, &err) != RB_OK || rb_store_contacts_insert(st, cs, 3, ins, &err) != RB_OK ||
        rb_store_commit(st, &err) != RB_OK)
        fail_msg("contacts: %s", err.msg);
    return st;
}

static void add_send(rb_store *st, const char *mid, const char *rcpt)
{
    rb_send s;
    memset(&s, 0, sizeof s);
    snprintf(s.key, sizeof s.key, "k-%.20s-%.10s", mid, rcpt);
    rb_strlcpy(s.queue_id, "4C2A1", sizeof s.queue_id);
    rb_strlcpy(s.message_id, mid, sizeof s.message_id);
    rb_strlcpy(s.recipient_norm, rcpt, sizeof s.recipient_norm);
    s.sent_at = T0;
    rb_error err = {{0}};
    assert_int_equal(rb_store_sends_insert(st, &s, 1, &err), RB_OK);
}

static int contact_status(rb_store *st, const char *email)
{
    const char *e[] = {email};
    rb_contact c;
    int found = 0;
    rb_error err = {{0}};
    assert_int_equal(rb_store_contacts_load(st, e, 1, 0, &c, &found, &err), RB_OK);
    assert_true(found);
    return c.status;
}

/* What `rebound pipe` does: analyse, guard, apply what the guard lets through. */
static rb_guard_report deliver(rb_store *st, const rb_guard_opts *o, const char *env_rcpt, const char *final_rcpt,
                               const char *auth, const char *mid, int *verdicts)
{
    char msg[8192];
    snprintf(msg, sizeof msg, forged_dsn, env_rcpt, final_rcpt, auth, final_rcpt, final_rcpt, mid);
    rb_result *res = test_analyze(msg);
    assert_true(res->is_bounce);
    rb_guard_report rep;
    rb_error err = {{0}};
    assert_int_equal(rb_guard_check(st, o, env_rcpt, msg, strlen(msg), res, verdicts, &rep, &err), RB_OK);
    rb_apply_opts ao = {1, 0, T0, "pipe", NULL, NULL, NULL, 0, 0};
    rb_apply *ap = NULL;
    assert_int_equal(rb_apply_new(st, test_ctx(), &ao, &ap, &err), RB_OK);
    for (size_t i = 0; i < res->n; i++)
        if (verdicts[i] != RB_GUARD_BACKSCATTER) assert_int_equal(rb_apply_add(ap, &res->recs[i], 0, &err), RB_OK);
    assert_int_equal(rb_apply_finish(ap, &err), RB_OK);
    rb_apply_free(ap);
    return rep;
}

/* The attacker can send us mail; with the defence on, a forged DSN for a
 * contact (no signature, a Message-ID we never sent) changes nothing. */
static void test_forged_dsn_does_not_disable(void **state)
{
    (void)state;
    char url[300];
    rb_store *st = open_fresh("forged", url, sizeof url);
    rb_verp_key k = test_key("0123456789abcdef-secret");
    rb_guard_opts o = {&k, 0, 60, NULL, 0, T0, 0};
    int v[4];
    rb_guard_report rep = deliver(st, &o, "bounces@bounce.example.org", "victim@example.be", "x@elsewhere.example",
                                  "made-up@attacker.example", v);
    assert_int_equal(rep.verdict, RB_GUARD_BACKSCATTER);
    assert_int_equal(v[0], RB_GUARD_BACKSCATTER);
    assert_int_equal(rep.n_backscatter, 1);
    assert_non_null(strstr(rep.reason, "never sent"));
    assert_int_equal(contact_status(st, "victim@example.be"), RB_CS_ACTIVE);
    rb_error cerr = {{0}};
    assert_int_equal(rb_store_count_events(st, &cerr), 0);

    /* a forged signature: the same */
    char a[RB_ADDR_MAX * 2], t[RB_ADDR_MAX * 2];
    rb_error err = {{0}};
    assert_int_equal(rb_verp_sign(&k, NULL, "bounce.example.org", "victim@example.be", T0, a, sizeof a, &err), RB_OK);
    strcpy(t, a);
    char *tag = strchr(t, '@') - 1;
    *tag = *tag == 'a' ? 'b' : 'a';
    rep = deliver(st, &o, t, "victim@example.be", "x@elsewhere.example", "made-up@attacker.example", v);
    assert_int_equal(rep.verdict, RB_GUARD_BACKSCATTER);
    assert_int_equal(rep.verp, RB_VERP_FORGED);
    assert_non_null(strstr(rep.reason, "forged"));
    assert_int_equal(contact_status(st, "victim@example.be"), RB_CS_ACTIVE);

    /* --require-known-send without a key: strict as well */
    rb_guard_opts o2 = {NULL, 1, 60, NULL, 0, T0, 0};
    rep = deliver(st, &o2, "bounces@bounce.example.org", "victim@example.be", "x@elsewhere.example",
                  "made-up@attacker.example", v);
    assert_int_equal(rep.verdict, RB_GUARD_BACKSCATTER);
    assert_true(rep.strict);
    assert_int_equal(contact_status(st, "victim@example.be"), RB_CS_ACTIVE);

    /* the real signed return path: applied */
    rep = deliver(st, &o, a, "victim@example.be", "x@elsewhere.example", "made-up@attacker.example", v);
    assert_int_equal(rep.verdict, RB_GUARD_LEGITIMATE);
    assert_int_equal(rep.verp, RB_VERP_VALID);
    assert_int_equal(contact_status(st, "victim@example.be"), RB_CS_BOUNCED);
    rb_store_close(st);
}

/* A subscriber holds a valid return path -- for their own address.  A DSN
 * sent to it that names someone else is about them, not the victim. */
static void test_own_token_cannot_hit_others(void **state)
{
    (void)state;
    char url[300], a[RB_ADDR_MAX * 2];
    rb_store *st = open_fresh("owntoken", url, sizeof url);
    rb_verp_key k = test_key("0123456789abcdef-secret");
    rb_error err = {{0}};
    assert_int_equal(rb_verp_sign(&k, NULL, "bounce.example.org", "attacker@evil.example", T0, a, sizeof a, &err),
                     RB_OK);
    rb_guard_opts o = {&k, 0, 60, NULL, 0, T0, 0};
    int v[4];
    rb_guard_report rep = deliver(st, &o, a, "victim@example.be", "x@elsewhere.example", "m1@example.org", v);
    assert_int_equal(rep.verdict, RB_GUARD_LEGITIMATE);
    assert_string_equal(rep.verp_recipient, "attacker@evil.example");
    assert_int_equal(contact_status(st, "victim@example.be"), RB_CS_ACTIVE);
    assert_int_equal(contact_status(st, "attacker@evil.example"), RB_CS_BOUNCED);
    rb_store_close(st);
}

/* No signature, but the original Message-ID is one we sent -- to this
 * recipient: legitimate.  The same Message-ID naming another recipient is
 * not (the attacker got our newsletter and knows its Message-ID). */
static void test_known_send(void **state)
{
    (void)state;
    char url[300];
    rb_store *st = open_fresh("known", url, sizeof url);
    add_send(st, "nl-42@example.org", "jan@example.be");
    rb_verp_key k = test_key("0123456789abcdef-secret");
    rb_guard_opts o = {&k, 0, 60, NULL, 0, T0, 0};
    int v[4];
    rb_guard_report rep = deliver(st, &o, "bounces@bounce.example.org", "victim@example.be", "x@elsewhere.example",
                                  "nl-42@example.org", v);
    assert_int_equal(rep.verdict, RB_GUARD_BACKSCATTER);
    assert_non_null(strstr(rep.reason, "is ours but was not sent to victim@example.be"));
    assert_int_equal(contact_status(st, "victim@example.be"), RB_CS_ACTIVE);
    rep = deliver(st, &o, "bounces@bounce.example.org", "jan@example.be", "x@elsewhere.example",
                  "nl-42@example.org", v);
    assert_int_equal(rep.verdict, RB_GUARD_LEGITIMATE);
    assert_non_null(strstr(rep.reason, "was sent to jan@example.be"));
    assert_int_equal(contact_status(st, "jan@example.be"), RB_CS_BOUNCED);
    rb_store_close(st);
}

/* Lenient (no secret, no --require-known-send): no evidence either way is
 * "unknown" and applied -- a fresh install keeps working. */
static void test_lenient(void **state)
{
    (void)state;
    char url[300];
    rb_store *st = open_fresh("lenient", url, sizeof url);
    rb_guard_opts o = {NULL, 0, 60, NULL, 0, T0, 0};
    int v[4];
    rb_guard_report rep = deliver(st, &o, "bounces@bounce.example.org", "jan@example.be", "x@elsewhere.example",
                                  "never@example.org", v);
    assert_int_equal(rep.verdict, RB_GUARD_UNKNOWN);
    assert_false(rep.strict);
    assert_int_equal(v[0], RB_GUARD_UNKNOWN);
    assert_int_equal(contact_status(st, "jan@example.be"), RB_CS_BOUNCED);
    /* no store at all: still decides */
    char msg[8192];
    snprintf(msg, sizeof msg, forged_dsn, "a@b.example", "jan@example.be", "x@y.example", "jan@example.be",
             "jan@example.be", "m@x.example");
    rb_result *res = test_analyze(msg);
    rb_error err = {{0}};
    assert_true(res->n >= 1);
    assert_int_equal(rb_guard_check(NULL, &o, NULL, NULL, 0, res, v, &rep, &err), RB_OK);
    assert_int_equal(rep.verdict, RB_GUARD_UNKNOWN);
    rb_verp_key k = test_key("0123456789abcdef-secret");
    rb_guard_opts os = {&k, 0, 60, NULL, 0, T0, 0};
    assert_int_equal(rb_guard_check(NULL, &os, NULL, NULL, 0, res, v, &rep, &err), RB_OK);
    assert_int_equal(rep.verdict, RB_GUARD_BACKSCATTER);
    assert_non_null(strstr(rep.reason, "no signed return path"));
    rb_store_close(st);
}

static void test_compromised_account(void **state)
{
    (void)state;
    char url[300];
    rb_store *st = open_fresh("auth", url, sizeof url);
    const char *ours[] = {"example.org"};
    rb_guard_opts o = {NULL, 0, 60, ours, 1, T0, 0};
    int v[4];
    rb_guard_report rep = deliver(st, &o, "bounces@bounce.example.net", "nobody@far.example", "sales@example.org",
                                  "spam-1@example.org", v);
    assert_true(rep.compromised);
    assert_string_equal(rep.auth_sender, "sales@example.org");
    /* someone else's account: noted, no warning */
    rep = deliver(st, &o, "bounces@bounce.example.net", "nobody@far.example", "joe@isp.example", "spam-2@x.example", v);
    assert_false(rep.compromised);
    assert_string_equal(rep.auth_sender, "joe@isp.example");
    /* without --our-domains: the bounce domain and its parent are ours */
    rb_guard_opts o2 = {NULL, 0, 60, NULL, 0, T0, 0};
    rep = deliver(st, &o2, "bounces@bounce.example.net", "nobody@far.example", "info@example.net", "spam-3@x.example",
                  v);
    assert_true(rep.compromised);
    rb_store_close(st);

    char out[RB_ADDR_MAX];
    const char *m = "Received: from x (Authenticated sender: <a@b.example>)\n";
    assert_true(rb_guard_auth_sender(m, strlen(m), out, sizeof out));
    assert_string_equal(out, "a@b.example");
    assert_false(rb_guard_auth_sender("no phrase here", 14, out, sizeof out));
    assert_false(rb_guard_auth_sender("Authenticated sender:   ", 24, out, sizeof out));
    const char *d[] = {"bounce.example.org"};
    assert_true(rb_guard_domain_is_ours("a@example.org", d, 1));
    assert_true(rb_guard_domain_is_ours("a@mx.bounce.example.org", d, 1));
    assert_false(rb_guard_domain_is_ours("a@org", d, 1));
    assert_false(rb_guard_domain_is_ours("a@other.org", d, 1));
    assert_false(rb_guard_domain_is_ours("a@notexample.org", d, 1));
    const char *uk[] = {"bounce.example.co.uk"};
    assert_true(rb_guard_domain_is_ours("a@example.co.uk", uk, 1));
    assert_false(rb_guard_domain_is_ours("a@co.uk", uk, 1));
    assert_true(rb_guard_domain_is_ours("a@Mail.Bounce.Example.co.uk", uk, 1));
}

/* With a valid signed return path, of several failed recipients only the
 * one it names counts. */
static void test_multi_record_token(void **state)
{
    (void)state;
    rb_verp_key k = test_key("0123456789abcdef-secret");
    rb_error err = {{0}};
    char a[RB_ADDR_MAX * 2];
    assert_int_equal(rb_verp_sign(&k, NULL, "bounce.example.org", "jan@example.be", T0, a, sizeof a, &err), RB_OK);
    char msg[4096];
    snprintf(msg, sizeof msg,
             "From: MAILER-DAEMON@mx.example.net\nTo: %s\nSubject: Undelivered Mail Returned to Sender\n"
             "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n"
             "--B\nContent-Type: text/plain\n\nfailed\n\n--B\nContent-Type: message/delivery-status\n\n"
             "Reporting-MTA: dns; mx.example.net\n\n"
             "Final-Recipient: rfc822; victim@example.be\nAction: failed\nStatus: 5.1.1\n\n"
             "Final-Recipient: rfc822; jan@example.be\nAction: failed\nStatus: 5.1.1\n\n--B--\n",
             a);
    rb_result *res = test_analyze(msg);
    assert_int_equal(res->n, 2);
    rb_guard_opts o = {&k, 0, 60, NULL, 0, T0, 0};
    int v[2];
    rb_guard_report rep;
    assert_int_equal(rb_guard_check(NULL, &o, a, msg, strlen(msg), res, v, &rep, &err), RB_OK);
    assert_int_equal(v[0], RB_GUARD_BACKSCATTER);
    assert_int_equal(v[1], RB_GUARD_LEGITIMATE);
    assert_string_equal(res->recs[0].recipient, "victim@example.be");   /* not rewritten */
    assert_int_equal(rep.verdict, RB_GUARD_LEGITIMATE);
    assert_non_null(strstr(rep.reason, "signed return path was for jan@example.be"));
}

/* ---- alerts: the same guard for every route (rb_guard_mark) ------------------------
 * Seed 002: a bounce of spam sent with our address as the (forged) sender
 * is backscatter; one that shows our own user as "Authenticated sender" is
 * a hacked account; a genuine bounce of our own send is neither.  None of
 * the first two ever disables. */
static const char *returned_dsn =
    "From: MAILER-DAEMON@mx.far.example (Mail Delivery System)\n"
    "To: %s\n"
    "X-Original-To: %s\n"
    "Subject: Undelivered Mail Returned to Sender\n"
    "Date: Tue, 17 Nov 2026 10:00:03 +0100\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n"
    "--B\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n"
    "--B\nContent-Type: message/delivery-status\n\n"
    "Reporting-MTA: dns; mx.far.example\n\n"
    "Final-Recipient: rfc822; %s\nAction: failed\nStatus: 5.1.1\n"
    "Diagnostic-Code: smtp; 550 5.1.1 <%s>: Recipient address rejected: User unknown\n\n"
    "--B\nContent-Type: text/rfc822-headers\n\n"
    "%s\n"
    "From: %s\nTo: %s\nSubject: Cheap pills\nMessage-ID: <%s>\n\n--B--\n";

static rb_result *returned(char *buf, size_t len, const char *env, const char *rcpt, const char *received,
                           const char *from, const char *mid)
{
    snprintf(buf, len, returned_dsn, env, env, rcpt, rcpt, received, from, rcpt, mid);
    rb_result *res = test_analyze(buf);
    assert_true(res->is_bounce);
    assert_int_equal(res->n, 1);
    return res;
}

static const char *botnet_rcv = "Received: from dsl-7.botnet.example ([203.0.113.9]) by mx.far.example with SMTP id q1";
static const char *hacked_rcv =
    "Received: from [198.51.100.7] by mail.example.org (Postfix) with ESMTPSA id 4C2A1E0123\n"
    "\t(Authenticated sender: sales@example.org)\n\tfor <qq3@far.example>";
static const char *submitted_rcv =
    "Received: from [198.51.100.7] by mail.example.org (Postfix) with ESMTPSA id 4C2A1E0124\n"
    "\tfor <qq4@far.example>";
static const char *own_rcv = "Received: by mail.example.org (Postfix, from userid 1000) id 7F3A2";

static int apply_one(rb_store *st, const rb_record *r)
{
    int d = -1;
    rb_error err = {{0}};
    rb_apply *ap = NULL;
    rb_apply_opts ao = {1, 0, T0, NULL, NULL, NULL, NULL, 0, 0};
    assert_int_equal(rb_apply_new(st, test_ctx(), &ao, &ap, &err), RB_OK);
    assert_int_equal(rb_apply_add(ap, r, 0, &err), RB_OK);
    assert_int_equal(rb_apply_finish(ap, &err), RB_OK);
    const rb_apply_summary *sum = rb_apply_get_summary(ap);
    for (int k = 0; k < RB_DEC_N; k++)
        if (sum->n[k]) d = k;
    rb_apply_free(ap);
    return d;
}

static void test_alert_backscatter_spam_run(void **state)
{
    (void)state;
    char url[300], msg[8192];
    rb_store *st = open_fresh("alert-bs", url, sizeof url);
    add_send(st, "nl-1@example.org", "jan@example.be");
    const char *ours[] = {"example.org"};
    rb_guard_opts o = {NULL, 0, 60, ours, 1, T0, 1};
    rb_guard_report rep;
    rb_error err = {{0}};
    /* spam from a botnet with info@example.org forged as its sender, to a
     * contact of ours (the worst case: a real address on our list) */
    rb_result *res = returned(msg, sizeof msg, "info@example.org", "victim@example.be", botnet_rcv,
                              "info@example.org", "20261117.abc@botnet.example");
    assert_string_equal(res->recs[0].action, "disable");          /* what analyze alone says */
    assert_int_equal(rb_guard_mark(test_ctx(), st, &o, NULL, msg, strlen(msg), res, &rep, &err), RB_OK);
    const rb_record *r = &res->recs[0];
    assert_string_equal(r->alert, "backscatter");
    assert_string_equal(r->reason, "userunknown");
    assert_string_equal(r->action, "record");
    assert_int_equal(rep.n_alert_backscatter, 1);
    assert_int_equal(rep.n_alert_compromised, 0);
    assert_non_null(strstr(rep.reason, "was never sent"));
    /* the policy step: never disables, never counts */
    rb_policy_entry pe;
    assert_true(rb_policy_for_record(test_ctx(), r, &pe));
    assert_string_equal(pe.action, "record");
    /* apply: an event, the contact as it was */
    assert_int_equal(apply_one(st, r), RB_DEC_RECORDED);
    assert_int_equal(contact_status(st, "victim@example.be"), RB_CS_ACTIVE);
    /* a record read back from JSONL/CSV keeps its alert: apply alone holds it too */
    rb_record copy = *r;
    rb_strlcpy(copy.action, "disable", sizeof copy.action);
    rb_strlcpy(copy.date, "2026-11-18T10:00:00Z", sizeof copy.date);
    assert_int_equal(apply_one(st, &copy), RB_DEC_RECORDED);
    assert_int_equal(contact_status(st, "victim@example.be"), RB_CS_ACTIVE);

    /* lenient, sends not known (a fresh install): no evidence, no alert */
    rb_guard_opts fresh = {NULL, 0, 60, ours, 1, T0, 0};
    res = returned(msg, sizeof msg, "info@example.org", "victim@example.be", botnet_rcv, "info@example.org",
                   "20261117.abc@botnet.example");
    assert_int_equal(rb_guard_mark(test_ctx(), st, &fresh, NULL, msg, strlen(msg), res, &rep, &err), RB_OK);
    assert_string_equal(res->recs[0].alert, "");
    assert_string_equal(res->recs[0].action, "disable");
    /* a Message-ID of ours, but never sent to that recipient: forged */
    res = returned(msg, sizeof msg, "info@example.org", "victim@example.be", botnet_rcv, "info@example.org",
                   "nl-1@example.org");
    assert_int_equal(rb_guard_mark(test_ctx(), st, &o, NULL, msg, strlen(msg), res, &rep, &err), RB_OK);
    assert_string_equal(res->recs[0].alert, "backscatter");
    assert_non_null(strstr(rep.reason, "is ours but was not sent to victim@example.be"));
    /* signing configured: a bounce to an unsigned address is backscatter without a store */
    rb_verp_key k = test_key("0123456789abcdef-secret");
    rb_guard_opts signd = {&k, 0, 60, ours, 1, T0, 0};
    res = returned(msg, sizeof msg, "info@example.org", "victim@example.be", botnet_rcv, "info@example.org",
                   "20261117.abc@botnet.example");
    assert_int_equal(rb_guard_mark(test_ctx(), NULL, &signd, NULL, msg, strlen(msg), res, &rep, &err), RB_OK);
    assert_string_equal(res->recs[0].alert, "backscatter");
    assert_string_equal(res->recs[0].action, "record");
    rb_store_close(st);
}

static void test_alert_hacked_account(void **state)
{
    (void)state;
    char url[300], msg[8192];
    rb_store *st = open_fresh("alert-hacked", url, sizeof url);
    add_send(st, "nl-1@example.org", "jan@example.be");
    const char *ours[] = {"example.org"};
    rb_guard_opts o = {NULL, 0, 60, ours, 1, T0, 0};
    rb_guard_report rep;
    rb_error err = {{0}};
    /* "Authenticated sender: sales@example.org": no store needed */
    rb_result *res = returned(msg, sizeof msg, "sales@example.org", "victim@example.be", hacked_rcv,
                              "sales@example.org", "20261117.def@mail.example.org");
    assert_int_equal(rb_guard_mark(test_ctx(), NULL, &o, NULL, msg, strlen(msg), res, &rep, &err), RB_OK);
    assert_string_equal(res->recs[0].alert, "compromised_account");
    assert_string_equal(res->recs[0].action, "record");
    assert_string_equal(rep.account, "sales@example.org");
    assert_true(rep.compromised);
    assert_int_equal(rep.n_alert_compromised, 1);
    assert_int_equal(apply_one(st, &res->recs[0]), RB_DEC_RECORDED);
    assert_int_equal(contact_status(st, "victim@example.be"), RB_CS_ACTIVE);

    /* X-Authenticated-Sender (Exim, cPanel) names the account just as well */
    char hdr[512];
    snprintf(hdr, sizeof hdr, "%s\nX-Authenticated-Sender: mail.example.org: <office@example.org>", botnet_rcv);
    res = returned(msg, sizeof msg, "office@example.org", "victim@example.be", hdr, "office@example.org", "x1@y.example");
    assert_int_equal(rb_guard_mark(test_ctx(), NULL, &o, NULL, msg, strlen(msg), res, &rep, &err), RB_OK);
    assert_string_equal(res->recs[0].alert, "compromised_account");
    assert_string_equal(rep.account, "office@example.org");
    snprintf(hdr, sizeof hdr, "%s\nX-Authenticated-User: office@example.org", botnet_rcv);
    char who[RB_ADDR_MAX];
    assert_true(rb_guard_auth_sender(hdr, strlen(hdr), who, sizeof who));
    assert_string_equal(who, "office@example.org");
    /* a bare user name names no account we can check */
    const char *bare = "X-Authenticated-User: office\n";
    assert_false(rb_guard_auth_sender(bare, strlen(bare), who, sizeof who));

    /* our domain as the sender of mail we never sent, submitted with
     * authentication to our own server (no account in the header) */
    rb_guard_opts known = {NULL, 0, 60, ours, 1, T0, 1};
    res = returned(msg, sizeof msg, "sales@example.org", "victim@example.be", submitted_rcv, "sales@example.org",
                   "20261117.ghi@mail.example.org");
    assert_int_equal(rb_guard_mark(test_ctx(), st, &known, NULL, msg, strlen(msg), res, &rep, &err), RB_OK);
    assert_string_equal(res->recs[0].alert, "compromised_account");
    assert_string_equal(rep.account, "sales@example.org");
    assert_false(rep.compromised);
    /* ... without the sends, "never sent" is not known: no alert */
    res = returned(msg, sizeof msg, "sales@example.org", "victim@example.be", submitted_rcv, "sales@example.org",
                   "20261117.ghi@mail.example.org");
    assert_int_equal(rb_guard_mark(test_ctx(), st, &o, NULL, msg, strlen(msg), res, &rep, &err), RB_OK);
    assert_string_equal(res->recs[0].alert, "");
    /* someone else's server: backscatter, not an account of ours */
    res = returned(msg, sizeof msg, "sales@example.org", "victim@example.be",
                   "Received: from [198.51.100.7] by smtp.isp.example with ESMTPSA id 1", "sales@example.org",
                   "20261117.jkl@isp.example");
    assert_int_equal(rb_guard_mark(test_ctx(), st, &known, NULL, msg, strlen(msg), res, &rep, &err), RB_OK);
    assert_string_equal(res->recs[0].alert, "backscatter");
    char host[RB_HOST_MAX];
    assert_true(rb_guard_auth_submission(msg, strlen(msg), host, sizeof host));
    assert_string_equal(host, "smtp.isp.example");
    rb_store_close(st);
}

static void test_alert_genuine_bounce(void **state)
{
    (void)state;
    char url[300], msg[8192];
    rb_store *st = open_fresh("alert-genuine", url, sizeof url);
    add_send(st, "nl-1@example.org", "jan@example.be");
    const char *ours[] = {"example.org"};
    rb_guard_opts o = {NULL, 0, 60, ours, 1, T0, 1};
    rb_guard_report rep;
    rb_error err = {{0}};
    /* our own send, even submitted with authentication by our own user */
    char rcv[512];
    snprintf(rcv, sizeof rcv, "%s\n%s", own_rcv, hacked_rcv);
    rb_result *res = returned(msg, sizeof msg, "newsletter@example.org", "jan@example.be", rcv,
                              "newsletter@example.org", "nl-1@example.org");
    assert_int_equal(rb_guard_mark(test_ctx(), st, &o, NULL, msg, strlen(msg), res, &rep, &err), RB_OK);
    assert_string_equal(res->recs[0].alert, "");
    assert_string_equal(res->recs[0].action, "disable");
    assert_int_equal(rep.n_alert_backscatter + rep.n_alert_compromised, 0);
    assert_int_equal(rep.verdict, RB_GUARD_LEGITIMATE);
    assert_int_equal(apply_one(st, &res->recs[0]), RB_DEC_DISABLED);
    assert_int_equal(contact_status(st, "jan@example.be"), RB_CS_BOUNCED);
    rb_store_close(st);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmac_rfc4231),
        cmocka_unit_test(test_sign_verify_round_trip),
        cmocka_unit_test(test_tampering_is_detected),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_sign_rejects),
        cmocka_unit_test(test_key_file),
        cmocka_unit_test(test_plain_verp_unchanged),
        cmocka_unit_test(test_forged_dsn_does_not_disable),
        cmocka_unit_test(test_own_token_cannot_hit_others),
        cmocka_unit_test(test_known_send),
        cmocka_unit_test(test_lenient),
        cmocka_unit_test(test_compromised_account),
        cmocka_unit_test(test_multi_record_token),
        cmocka_unit_test(test_alert_backscatter_spam_run),
        cmocka_unit_test(test_alert_hacked_account),
        cmocka_unit_test(test_alert_genuine_bounce),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return rc;
}
