/* test_api.c -- the status API's request handling (lib/share/api_*.c): parsing and
 * validating bodies (form-encoded and JSON), what each reported status
 * becomes, the JSON answers, the keys, and a group of updates decided
 * against a real SQLite store (rb_api_apply, store_keys.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "rebound_api.h"
#include "testlib.h"

/* 2026-10-01T00:00:00Z */
#define T0 1790812800LL
#define DAY 86400

static const char *seed_form =
    "email=peter.dufaux%40monard-dhulst.be&status=bounced&bounce_type=hard&status_code=550+5.1.10"
    "&status_message=RESOLVER.ADR.RecipientNotFound%3B+Recipient+not+found+by+SMTP+address+lookup"
    "&provider=business_microsoft&provider_source=manual_ndr_test";

static int parse(const char *ctype, const char *body, rb_api_update *u, rb_api_error *e)
{
    return rb_api_parse_update(ctype, body, strlen(body), T0, u, e);
}

/* The body must be refused with code, naming field. */
static void assert_refused(const char *ctype, const char *body, int code, const char *field)
{
    static rb_api_update u;
    rb_api_error e;
    int rc = parse(ctype, body, &u, &e);
    if (rc != code) fail_msg("'%s': expected %d, got %d (%s: %s)", body, code, rc, e.field, e.msg);
    assert_string_equal(e.field, field);
    assert_true(e.msg[0] != '\0');
}

/* ---- parsing ---------------------------------------------------------------------- */
static void test_seed_form(void **state)
{
    (void)state;
    static rb_api_update u;
    rb_api_error e;
    assert_int_equal(parse("application/x-www-form-urlencoded", seed_form, &u, &e), 0);
    assert_string_equal(u.email, "peter.dufaux@monard-dhulst.be");
    assert_string_equal(u.email_norm, "peter.dufaux@monard-dhulst.be");
    assert_int_equal(u.status, RB_API_BOUNCED);
    assert_string_equal(u.bounce_type, "hard");
    assert_string_equal(u.status_code, "550 5.1.10");
    assert_string_equal(u.reply_code, "550");
    assert_string_equal(u.dsn_status, "5.1.10");
    assert_string_equal(u.status_message, "RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup");
    assert_string_equal(u.provider, "business_microsoft");
    assert_string_equal(u.provider_source, "manual_ndr_test");
    assert_string_equal(u.date, "");
    /* no Content-Type (curl -d sends one; other clients may not): sniffed */
    assert_int_equal(parse(NULL, seed_form, &u, &e), 0);
    assert_string_equal(u.dsn_status, "5.1.10");
}

static void test_seed_json(void **state)
{
    (void)state;
    static rb_api_update u;
    rb_api_error e;
    const char *j = "{\"email\":\"Peter.Dufaux@Monard-Dhulst.be\",\"status\":\"Bounced\",\"bounce_type\":\"hard\","
                    "\"status_code\":\"550 5.1.10\",\"status_message\":\"RESOLVER.ADR.RecipientNotFound\","
                    "\"provider\":\"business_microsoft\",\"provider_source\":null,\"extra\":[1,2]}";
    assert_int_equal(parse("application/json; charset=utf-8", j, &u, &e), 0);
    assert_string_equal(u.email, "Peter.Dufaux@Monard-Dhulst.be");
    assert_string_equal(u.email_norm, "peter.dufaux@monard-dhulst.be");
    assert_int_equal(u.status, RB_API_BOUNCED);
    assert_string_equal(u.provider_source, "");
    assert_int_equal(parse("", j, &u, &e), 0);               /* sniffed as JSON */
    /* an integer reply code is taken */
    const char *num = "{\"email\":\"a@b.be\",\"status\":\"deferred\",\"status_code\":451}";
    assert_int_equal(parse("application/json", num, &u, &e), 0);
    assert_string_equal(u.reply_code, "451");
    assert_int_equal(u.status, RB_API_DEFERRED);
}

static void test_form_decoding(void **state)
{
    (void)state;
    static rb_api_update u;
    rb_api_error e;
    /* + and %20 are spaces, a missing '=' is an empty value, empty pairs and unknown fields are skipped */
    assert_int_equal(parse(NULL, "&&email=a%2Bb@x.be&status=blocked&status_message=a+b%20c%0A%0Dd&&junk&x=%41", &u, &e),
                     0);
    assert_string_equal(u.email, "a+b@x.be");
    assert_int_equal(u.status, RB_API_BLOCKED);
    assert_string_equal(u.status_message, "a b c d");   /* control characters: one space */
    /* UTF-8 passes, the message is cut at a character boundary */
    char body[4000];
    int n = snprintf(body, sizeof body, "email=a@x.be&status=bounced&status_message=");
    for (int i = 0; i < 600; i++) n += snprintf(body + n, sizeof body - (size_t)n, "%%C3%%A9");   /* é */
    assert_int_equal(parse(NULL, body, &u, &e), 0);
    size_t l = strlen(u.status_message);
    assert_true(l < RB_TEXT_MAX && l >= RB_TEXT_MAX - 3);
    assert_int_equal(l % 2, 0);
    assert_int_equal((unsigned char)u.status_message[l - 2], 0xC3);
}

static void test_form_errors(void **state)
{
    (void)state;
    assert_refused(NULL, "status=bounced", 400, "email");
    assert_refused(NULL, "email=a@x.be", 400, "status");
    assert_refused(NULL, "email=&status=bounced", 400, "email");
    assert_refused(NULL, "email=not-an-address&status=bounced", 400, "email");
    assert_refused(NULL, "email=a@x.be&status=gone", 400, "status");
    assert_refused(NULL, "email=a@x.be&status=bounced&bounce_type=medium", 400, "bounce_type");
    assert_refused(NULL, "email=a@x.be&status=bounced&status_code=abc", 400, "status_code");
    assert_refused(NULL, "email=a@x.be&status=bounced&status_code=550+550", 400, "status_code");
    assert_refused(NULL, "email=a@x.be&status=bounced&status_code=6.1.1", 400, "status_code");
    assert_refused(NULL, "email=a@x.be&status=bounced&status_code=5.1.1234", 400, "status_code");
    assert_refused(NULL, "email=a@x.be&status=bounced&email=b@x.be", 400, "email");
    assert_refused(NULL, "email=a@x.be&status=bounced&status_message=%ZZ", 400, "status_message");
    assert_refused(NULL, "email=a@x.be&status=bounced&status_message=%4", 400, "status_message");
    assert_refused(NULL, "em%Gail=a@x.be&status=bounced", 400, "");
    assert_refused(NULL, "email=a@x.be&status=bounced&status_message=a%00b", 400, "status_message");
    assert_refused(NULL, "email=a@x.be&status=bounced&status_message=%FF%FE", 400, "status_message");
    assert_refused(NULL,
                   "email=a@x.be&status=bounced"
                   "&provider=0123456789012345678901234567890123456789012345678901234567890123456789",
                   400, "provider");
    assert_refused(NULL, "email=a@x.be&status=bounced&date=yesterday", 400, "date");
    assert_refused(NULL, "email=a@x.be&status=bounced&date=2031-01-01", 400, "date");
    assert_refused("multipart/form-data; boundary=x", "--x--", 415, "Content-Type");
    assert_refused("text/plain", "email=a@x.be&status=bounced", 415, "Content-Type");
    /* the position of a broken escape is in the message */
    static rb_api_update u;
    rb_api_error e;
    assert_int_equal(parse(NULL, "email=a@x.be&status=bounced&status_message=ab%", &u, &e), 400);
    assert_non_null(strstr(e.msg, "byte 46"));
}

static void test_json_errors(void **state)
{
    (void)state;
    assert_refused("application/json", "{\"email\":\"a@x.be\"", 400, "");
    assert_refused("application/json", "[1,2]", 400, "");
    assert_refused("application/json", "", 400, "");
    assert_refused("application/json", "{\"email\":\"a@x.be\",\"status\":3}", 400, "status");
    assert_refused("application/json", "{\"email\":\"a@x.be\",\"email\":\"b@x.be\",\"status\":\"bounced\"}", 400, "");
    assert_refused("application/json", "{\"email\":\"a\\u0000b@x.be\",\"status\":\"bounced\"}", 400, "");
    assert_refused("application/json", "{\"email\":\"a@x.be\",\"status\":\"bounced\",\"status_code\":5.5}", 400,
                   "status_code");
    assert_refused("application/json", "{\"status\":\"bounced\"}", 400, "email");
    static rb_api_update u;
    rb_api_error e;
    assert_int_equal(parse("application/json", "{\n\"email\": }", &u, &e), 400);
    assert_non_null(strstr(e.msg, "line 2"));
}

static void test_date(void **state)
{
    (void)state;
    static rb_api_update u;
    rb_api_error e;
    assert_int_equal(parse(NULL, "email=a@x.be&status=bounced&date=2026-09-30T12:00:00%2B02:00", &u, &e), 0);
    assert_string_equal(u.date, "2026-09-30T10:00:00Z");
    assert_int_equal(u.event_time, T0 - DAY + 10 * 3600);
    assert_int_equal(parse(NULL, "email=a@x.be&status=bounced&date=Wed,+30+Sep+2026+12:00:00+%2B0000", &u, &e), 0);
    assert_string_equal(u.date, "2026-09-30T12:00:00Z");
}

/* ---- what a status becomes -------------------------------------------------------------- */
static const rb_record *prep(const char *body)
{
    static rb_api_update u;
    rb_api_error e;
    if (parse(NULL, body, &u, &e) != 0) fail_msg("'%s': %s: %s", body, e.field, e.msg);
    rb_api_prepare(test_ctx(), &u, "api:test", "test", T0 + 3600);
    return &u.rec;
}

static void assert_maps(const char *body, const char *reason, const char *bounce_type, const char *action)
{
    const rb_record *r = prep(body);
    if (strcmp(r->reason, reason) || strcmp(r->bounce_type, bounce_type) || strcmp(r->action, action))
        fail_msg("'%s' -> %s %s %s, expected %s %s %s", body, r->reason, r->bounce_type, r->action, reason, bounce_type,
                 action);
}

static void test_mapping(void **state)
{
    (void)state;
    /* the seed's call: the text names the reason */
    assert_maps(seed_form, "userunknown", "hard", "disable");
    /* the provider says hard and the text says nothing: its word stands */
    assert_maps("email=a@x.be&status=bounced&bounce_type=hard", "suppressed", "hard", "disable");
    /* ... but a policy block reported as a hard bounce is still a block (seed: never a broken mailbox) */
    const rb_record *r = prep("email=a@x.be&status=bounced&bounce_type=hard&status_code=550+5.7.1"
                              "&status_message=Message+rejected+due+to+low+reputation+of+the+sending+IP");
    assert_string_equal(r->bounce_type, "blocked");
    assert_string_equal(r->action, "record");
    /* ... and a DNS time-out stays soft */
    r = prep("email=a@x.be&status=bounced&bounce_type=hard&status_code=4.4.1&status_message=connection+timed+out");
    if (strcmp(r->bounce_type, "soft")) fail_msg("%s %s", r->reason, r->bounce_type);
    /* bounced without "hard" never disables, whatever the text */
    assert_maps("email=a@x.be&status=bounced&status_code=550+5.1.1&status_message=user+unknown", "undefined", "soft",
                "count");
    assert_maps("email=a@x.be&status=bounced&bounce_type=soft&status_code=550+5.1.1", "undefined", "soft", "count");
    /* deferred: a delay, recorded, never counted; the reason is kept */
    r = prep("email=a@x.be&status=deferred&status_code=550+5.1.1&status_message=user+unknown");
    assert_string_equal(r->reason, "userunknown");
    assert_string_equal(r->dsn_action, "delayed");
    assert_string_equal(r->bounce_type, "soft");
    assert_string_equal(r->action, "record");
    assert_maps("email=a@x.be&status=deferred&bounce_type=hard", "undefined", "soft", "record");
    /* blocked: a block reason from the text, else "blocked" */
    assert_maps("email=a@x.be&status=blocked&status_code=550+5.1.1&status_message=user+unknown", "blocked", "blocked",
                "record");
    assert_maps("email=a@x.be&status=bounced&bounce_type=blocked", "blocked", "blocked", "record");
    assert_maps("email=a@x.be&status=complaint", "feedback", "complaint", "disable");
    assert_maps("email=a@x.be&status=active&status_code=550+5.1.1", "delivered", "none", "ignore");
    r = prep("email=a@x.be&status=unsubscribed");
    assert_string_equal(r->reason, "unsubscribed");
    /* what else goes into the record */
    r = prep(seed_form);
    assert_string_equal(r->recipient, "peter.dufaux@monard-dhulst.be");
    assert_string_equal(r->status, "5.1.10");
    assert_string_equal(r->reply_code, "550");
    assert_string_equal(r->provider, "business_microsoft");
    assert_string_equal(r->source, "api:test");
    assert_string_equal(r->date, "2026-10-01T00:00:00Z");      /* undated: the day it arrived */
    rb_error err = {{0}};
    assert_int_equal(rb_api_check_policy(test_ctx(), &err), RB_OK);
}

/* ---- JSON out ------------------------------------------------------------------------------- */
static void test_json_out(void **state)
{
    (void)state;
    rb_buf b;
    rb_buf_init(&b);
    assert_int_equal(rb_json_str(&b, "a\"b\\c\n\x01 \xC3\xA9 \xFF end"), 0);
    assert_string_equal(b.buf, "\"a\\\"b\\\\c\\u000a\\u0001 \xC3\xA9 \xEF\xBF\xBD end\"");
    rb_buf_free(&b);
    rb_buf_init(&b);
    assert_int_equal(rb_api_error_json(&b, "email", "not \"valid\""), 0);
    assert_string_equal(b.buf, "{\"error\":\"not \\\"valid\\\"\",\"field\":\"email\"}\n");
    rb_buf_free(&b);
}

/* ---- keys ------------------------------------------------------------------------------------- */
static void test_keys(void **state)
{
    (void)state;
    char k1[RB_API_KEY_LEN + 1], k2[RB_API_KEY_LEN + 1];
    rb_error err = {{0}};
    assert_int_equal(rb_api_key_new(k1, sizeof k1, &err), RB_OK);
    assert_int_equal(rb_api_key_new(k2, sizeof k2, &err), RB_OK);
    assert_int_equal(strlen(k1), RB_API_KEY_LEN);
    assert_memory_equal(k1, "rbk_", 4);
    assert_int_equal(strspn(k1 + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                     RB_API_KEY_LEN - 4);
    assert_string_not_equal(k1, k2);
    char small[10];
    assert_int_not_equal(rb_api_key_new(small, sizeof small, &err), RB_OK);
    char hex[RB_API_HASH_LEN + 1];
    rb_api_key_hash("abc", 3, hex);     /* FIPS 180-2 test vector */
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_true(rb_api_ct_equal("abcdef", "abcdef", 6));
    assert_false(rb_api_ct_equal("abcdef", "abcdeg", 6));
    assert_false(rb_api_ct_equal("xbcdef", "abcdef", 6));
    assert_true(rb_store_key_name_valid("impex"));
    assert_true(rb_store_key_name_valid("business_microsoft.v2:eu+1-a"));
    assert_false(rb_store_key_name_valid(""));
    assert_false(rb_store_key_name_valid("has space"));
    assert_false(rb_store_key_name_valid("a/b"));
    assert_false(rb_store_key_name_valid("0123456789012345678901234567890123456789012345678901234567890123"));
}

/* ---- against a store ------------------------------------------------------------------------------ */
static char dbpath[256];

static rb_store *fresh_store(void)
{
    static int n;
    snprintf(dbpath, sizeof dbpath, "/tmp/rebound-test-api.%d.%d.db", (int)getpid(), ++n);
    unlink(dbpath);
    rb_store *st = NULL;
    rb_error err = {{0}};
    if (rb_store_open_opts(dbpath, &(rb_store_opts){.create = 1}, &st, &err) != RB_OK) fail_msg("open: %s", err.msg);
    return st;
}

static void drop_store(rb_store *st)
{
    rb_store_close(st);
    char p[300];
    unlink(dbpath);
    snprintf(p, sizeof p, "%s-wal", dbpath);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", dbpath);
    unlink(p);
}

static void add_contact(rb_store *st, const char *email, int status)
{
    rb_contact c;
    memset(&c, 0, sizeof c);
    rb_strlcpy(c.email, email, sizeof c.email);
    assert_true(rb_email_normalize(email, c.email_norm, sizeof c.email_norm));
    rb_strlcpy(c.source, "Website", sizeof c.source);
    c.status = status;
    c.for_mailing = status == RB_CS_ACTIVE || status == RB_CS_BLOCKED;
    c.created_at = c.updated_at = T0 - 100 * DAY;
    int ins = 0;
    rb_error err = {{0}};
    assert_int_equal(rb_store_begin(st, &err), RB_OK);
    assert_int_equal(rb_store_contacts_insert(st, &c, 1, &ins, &err), RB_OK);
    assert_int_equal(rb_store_commit(st, &err), RB_OK);
}

static rb_contact get(rb_store *st, const char *email)
{
    rb_contact c;
    int found = 0;
    char norm[RB_ADDR_MAX];
    rb_error err = {{0}};
    assert_true(rb_email_normalize(email, norm, sizeof norm));
    const char *k[] = {norm};
    assert_int_equal(rb_store_contacts_load(st, k, 1, 0, &c, &found, &err), RB_OK);
    assert_true(found);
    return c;
}

#define MAXU 16
typedef struct {
    rb_api_update u[MAXU];
    rb_api_update *p[MAXU];
    rb_api_result res[MAXU];
    size_t n;
} group;

static void add(group *g, const char *body, const char *key, int64_t now)
{
    rb_api_error e;
    assert_true(g->n < MAXU);
    rb_api_update *u = &g->u[g->n];
    if (rb_api_parse_update(NULL, body, strlen(body), now, u, &e)) fail_msg("%s: %s: %s", body, e.field, e.msg);
    char src[80];
    snprintf(src, sizeof src, "api:%s", key);
    rb_api_prepare(test_ctx(), u, src, key, now);
    g->p[g->n] = u;
    g->n++;
}

static void run(rb_store *st, group *g, int64_t now)
{
    rb_error err = {{0}};
    if (rb_api_apply(st, test_ctx(), g->p, g->n, now, g->res, &err) != RB_OK) fail_msg("apply: %s", err.msg);
    for (size_t i = 0; i < g->n; i++) assert_true(g->res[i].ok);
}

static void test_apply_group(void **state)
{
    (void)state;
    rb_store *st = fresh_store();
    add_contact(st, "peter.dufaux@monard-dhulst.be", RB_CS_ACTIVE);
    add_contact(st, "una@example.com", RB_CS_ACTIVE);
    add_contact(st, "blocked@example.com", RB_CS_BLOCKED);
    add_contact(st, "gone@example.com", RB_CS_BOUNCED);
    int64_t now = T0 + 3600;

    static group g;
    memset(&g, 0, sizeof g);
    add(&g, seed_form, "impex", now);                                                        /* 0 */
    add(&g, seed_form, "impex", now);                                                        /* 1: a repeat */
    add(&g, "email=stranger@example.com&status=bounced&bounce_type=hard", "impex", now);      /* 2 */
    add(&g, "email=una@example.com&status=unsubscribed&provider=web", "impex", now);          /* 3 */
    add(&g, "email=una@example.com&status=unsubscribed&provider=web", "impex", now);          /* 4 */
    add(&g, "email=blocked@example.com&status=active", "other", now);                        /* 5 */
    add(&g, "email=gone@example.com&status=active", "other", now);                           /* 6 */
    run(st, &g, now);
    assert_string_equal(g.res[0].decision, "disabled");
    assert_int_equal(g.res[0].old_status, RB_CS_ACTIVE);
    assert_int_equal(g.res[0].new_status, RB_CS_BOUNCED);
    assert_true(g.res[0].changed);
    assert_string_equal(g.res[0].reason, "userunknown");
    assert_int_equal(strlen(g.res[0].event), 32);
    assert_string_equal(g.res[1].decision, "duplicate");
    assert_false(g.res[1].changed);
    assert_string_equal(g.res[2].decision, "unknown");
    assert_int_equal(g.res[2].new_status, -1);
    assert_string_equal(g.res[3].decision, "unsubscribed");
    assert_int_equal(g.res[3].new_status, RB_CS_UNSUBSCRIBED);
    assert_string_equal(g.res[4].decision, "duplicate");
    assert_string_equal(g.res[5].decision, "reset");
    assert_int_equal(g.res[5].new_status, RB_CS_ACTIVE);
    assert_string_equal(g.res[6].decision, "ignored");          /* never revived */
    assert_int_equal(g.res[6].new_status, RB_CS_BOUNCED);

    rb_contact c = get(st, "peter.dufaux@monard-dhulst.be");
    assert_int_equal(c.status, RB_CS_BOUNCED);
    assert_int_equal(c.for_mailing, 0);
    assert_string_equal(c.status_code, "550 5.1.10");
    assert_string_equal(c.provider_source, "manual_ndr_test");
    c = get(st, "una@example.com");
    assert_int_equal(c.status, RB_CS_UNSUBSCRIBED);
    assert_int_equal(c.for_mailing, 0);
    assert_string_equal(c.provider, "web");
    assert_string_equal(c.provider_source, "impex");            /* the key's name */
    assert_int_equal(get(st, "blocked@example.com").status, RB_CS_ACTIVE);
    assert_int_equal(get(st, "gone@example.com").status, RB_CS_BOUNCED);
    rb_error err = {{0}};
    int64_t nev = rb_store_count_events(st, &err);
    assert_int_equal(nev, 3);       /* the bounce, the unsubscribe, the reset */

    /* the same group again, later that day: nothing changes, nothing is added */
    static group g2;
    memset(&g2, 0, sizeof g2);
    add(&g2, seed_form, "impex", now + 3600);
    add(&g2, "email=una@example.com&status=unsubscribed&provider=web", "impex", now + 3600);
    run(st, &g2, now + 3600);
    assert_string_equal(g2.res[0].decision, "duplicate");
    assert_string_equal(g2.res[1].decision, "duplicate");
    assert_int_equal(rb_store_count_events(st, &err), 3);

    /* a hard bounce on an unsubscribed contact leaves it unsubscribed, and a
     * bounce never makes an unsubscribe */
    memset(&g2, 0, sizeof g2);
    add(&g2, "email=una@example.com&status=bounced&bounce_type=hard&status_code=550+5.1.1", "impex", now);
    add(&g2, "email=peter.dufaux@monard-dhulst.be&status=complaint", "impex", now);
    run(st, &g2, now);
    assert_string_equal(g2.res[0].decision, "unchanged");
    assert_int_equal(get(st, "una@example.com").status, RB_CS_UNSUBSCRIBED);
    assert_string_equal(g2.res[1].decision, "unchanged");      /* disabled already */
    assert_int_equal(get(st, "peter.dufaux@monard-dhulst.be").status, RB_CS_BOUNCED);
    drop_store(st);
}

static void test_soft_and_deferred(void **state)
{
    (void)state;
    rb_store *st = fresh_store();
    add_contact(st, "soft@example.com", RB_CS_ACTIVE);
    add_contact(st, "slow@example.com", RB_CS_ACTIVE);
    static group g;
    /* three soft bounces on three days quarantine; the same report twice on one day counts once */
    const char *soft =
        "email=soft@example.com&status=bounced&bounce_type=soft&status_code=4.4.7&status_message=expired";
    const char *expect[] = {"counted", "counted", "quarantined"};
    for (int d = 0; d < 3; d++) {
        memset(&g, 0, sizeof g);
        add(&g, soft, "impex", T0 + d * DAY + 60);
        add(&g, soft, "impex", T0 + d * DAY + 120);
        run(st, &g, T0 + d * DAY + 120);
        assert_string_equal(g.res[0].decision, expect[d]);
        assert_string_equal(g.res[1].decision, "duplicate");
    }
    rb_contact c = get(st, "soft@example.com");
    assert_int_equal(c.status, RB_CS_QUARANTINED);
    assert_int_equal(c.soft_count, 3);
    /* deferrals, however many, never count */
    for (int d = 0; d < 4; d++) {
        memset(&g, 0, sizeof g);
        add(&g, "email=slow@example.com&status=deferred&status_code=4.4.1", "impex", T0 + d * DAY);
        run(st, &g, T0 + d * DAY);
        assert_string_equal(g.res[0].decision, "recorded");
    }
    c = get(st, "slow@example.com");
    assert_int_equal(c.status, RB_CS_ACTIVE);
    assert_int_equal(c.soft_count, 0);
    /* provider_source differs within a group: each is stored with its contact */
    add_contact(st, "a@example.com", RB_CS_ACTIVE);
    add_contact(st, "b@example.com", RB_CS_ACTIVE);
    memset(&g, 0, sizeof g);
    add(&g, "email=a@example.com&status=bounced&bounce_type=hard&provider_source=maillog", "k1", T0);
    add(&g, "email=b@example.com&status=bounced&bounce_type=hard", "k2", T0);
    run(st, &g, T0);
    assert_string_equal(get(st, "a@example.com").provider_source, "maillog");
    assert_string_equal(get(st, "b@example.com").provider_source, "k2");
    assert_string_equal(get(st, "b@example.com").reason, "suppressed");
    drop_store(st);
}

static int count_keys(void *arg, const rb_api_key *k)
{
    (void)k;
    (*(int *)arg)++;
    return 0;
}

static int find_impex(void *arg, const rb_api_key *k)
{
    if (!strcmp(k->name, "impex")) *(rb_api_key *)arg = *k;
    return 0;
}

static void test_key_store(void **state)
{
    (void)state;
    rb_store *st = fresh_store();
    rb_error err = {{0}};
    char h1[RB_API_HASH_LEN + 1], h2[RB_API_HASH_LEN + 1];
    rb_api_key_hash("one", 3, h1);
    rb_api_key_hash("two", 3, h2);
    assert_int_equal(rb_store_api_key_add(st, "impex", h1, T0, &err), RB_OK);
    assert_int_equal(rb_store_api_key_add(st, "impex", h2, T0, &err), RB_ERR_ARG);     /* active: refused */
    assert_non_null(strstr(err.msg, "revoke it first"));
    assert_int_equal(rb_store_api_key_add(st, "bad name", h2, T0, &err), RB_ERR_ARG);
    assert_int_equal(rb_store_api_key_add(st, "other", h2, T0, &err), RB_OK);
    int n = 0;
    assert_int_equal(rb_store_api_keys_each(st, 1, count_keys, &n, &err), RB_OK);
    assert_int_equal(n, 2);
    int revoked = 0;
    assert_int_equal(rb_store_api_key_revoke(st, "impex", T0 + 1, &revoked, &err), RB_OK);
    assert_int_equal(revoked, 1);
    assert_int_equal(rb_store_api_key_revoke(st, "impex", T0 + 2, &revoked, &err), RB_OK);
    assert_int_equal(revoked, 0);
    assert_int_equal(rb_store_api_key_revoke(st, "nobody", T0 + 2, &revoked, &err), RB_OK);
    assert_int_equal(revoked, 0);
    n = 0;
    assert_int_equal(rb_store_api_keys_each(st, 1, count_keys, &n, &err), RB_OK);
    assert_int_equal(n, 1);
    n = 0;
    assert_int_equal(rb_store_api_keys_each(st, 0, count_keys, &n, &err), RB_OK);
    assert_int_equal(n, 2);
    /* a revoked name gets a new key */
    assert_int_equal(rb_store_api_key_add(st, "impex", h2, T0 + 3, &err), RB_OK);
    assert_int_equal(rb_store_api_key_touch(st, "impex", T0 + 10, &err), RB_OK);
    assert_int_equal(rb_store_api_key_touch(st, "impex", T0 + 5, &err), RB_OK);        /* never backwards */
    rb_api_key k;
    memset(&k, 0, sizeof k);
    assert_int_equal(rb_store_api_keys_each(st, 1, find_impex, &k, &err), RB_OK);
    assert_string_equal(k.hash, h2);
    assert_int_equal(k.created_at, T0 + 3);
    assert_int_equal(k.revoked_at, 0);
    assert_int_equal(k.last_used_at, T0 + 10);
    n = 0;
    assert_int_equal(rb_store_api_keys_each(st, 1, count_keys, &n, &err), RB_OK);
    assert_int_equal(n, 2);
    drop_store(st);
}

/* GET /metrics: label values escaped as the Prometheus text format wants. */
static void test_prom_label(void **state)
{
    (void)state;
    static const struct { const char *in, *out; } cases[] = {
        {"business_microsoft", "\"business_microsoft\""},
        {"", "\"\""},
        {"we\"ird\\prov", "\"we\\\"ird\\\\prov\""},
        {"two\nlines", "\"two\\nlines\""},
        {"caf\xC3\xA9", "\"caf\xC3\xA9\""},
        {"bad\xFF" "byte", "\"bad\xEF\xBF\xBD" "byte\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rb_buf b;
        rb_buf_init(&b);
        assert_int_equal(rb_api_prom_label(&b, cases[i].in), 0);
        assert_non_null(b.buf);
        assert_string_equal(b.buf, cases[i].out);
        rb_buf_free(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_form),     cmocka_unit_test(test_seed_json),   cmocka_unit_test(test_form_decoding),
        cmocka_unit_test(test_form_errors),   cmocka_unit_test(test_json_errors), cmocka_unit_test(test_date),
        cmocka_unit_test(test_mapping),       cmocka_unit_test(test_json_out),    cmocka_unit_test(test_keys),
        cmocka_unit_test(test_apply_group),   cmocka_unit_test(test_soft_and_deferred),
        cmocka_unit_test(test_key_store),     cmocka_unit_test(test_prom_label),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
