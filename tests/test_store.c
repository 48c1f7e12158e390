/* test_store.c -- the contact store and the decision step, against a real
 * backend.  The same tests run twice (tests/meson.build):
 *   REBOUND_TEST_BACKEND=sqlite  a fresh SQLite file per test;
 *   REBOUND_TEST_BACKEND=pg      the PostgreSQL server named by
 *                                REBOUND_TEST_PG (tests/pg-server.sh starts
 *                                one; run-all.sh does so in CI), emptied
 *                                before each test; skipped (77) if unset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <glib.h>

#include "rebound_store.h"
#include "store_impl.h"
#include "testlib.h"

#define DAY 86400
/* 2026-10-01T00:00:00Z */
#define T0 1790812800LL

static char db_url[1024];
static char tmpdir[256];
static int test_no;

/* ---- fixtures ----------------------------------------------------------------- */
/* An empty store migrated up to schema version `version` (0: the latest). */
static rb_store *fresh_store_at(int version)
{
    rb_error err = {{0}};
    rb_store *st = NULL;
    const char *pg = getenv("REBOUND_TEST_PG");
    if (pg && *pg) {
        snprintf(db_url, sizeof db_url, "%s", pg);
        if (rb_store_open_opts(db_url, &(rb_store_opts){.create = 1}, &st, &err) != RB_OK) fail_msg("open %s: %s", db_url, err.msg);
        /* empty it: drop everything, reopen, so the migrations run again */
        if (st->ops->exec(st, "DROP TABLE IF EXISTS report_events, report_texts, report_sends, mx_cache, outbox, api_keys, sends, queue, events, contacts, schema_version CASCADE", &err) != RB_OK)
            fail_msg("drop: %s", err.msg);
        rb_store_close(st);
    } else {
        snprintf(db_url, sizeof db_url, "%s/t%d.db", tmpdir, ++test_no);
    }
    rb_status s = version ? rb_store_open_upto(db_url, version, &st, &err) : rb_store_open_opts(db_url, &(rb_store_opts){.create = 1}, &st, &err);
    if (s != RB_OK) fail_msg("open %s: %s", db_url, err.msg);
    return st;
}

static rb_store *fresh_store(void) { return fresh_store_at(0); }

static void add_contact(rb_store *st, const char *email, const char *source, int status)
{
    rb_contact c;
    memset(&c, 0, sizeof c);
    rb_strlcpy(c.email, email, sizeof c.email);
    assert_true(rb_email_normalize(email, c.email_norm, sizeof c.email_norm));
    rb_strlcpy(c.source, source, sizeof c.source);
    c.status = status;
    c.for_mailing = status == RB_CS_ACTIVE;
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
    if (!found) fail_msg("%s not stored", email);
    return c;
}

static rb_record rec(const char *rcpt, const char *reason, int64_t t)
{
    rb_record r;
    memset(&r, 0, sizeof r);
    rb_strlcpy(r.recipient, rcpt, sizeof r.recipient);
    rb_strlcpy(r.reason, reason, sizeof r.reason);
    rb_strlcpy(r.status, !strcmp(reason, "userunknown") ? "5.1.1" : "4.4.1", sizeof r.status);
    snprintf(r.diagnostic, sizeof r.diagnostic, "%s at %lld", reason, (long long)t);
    if (t) {
        time_t tt = (time_t)t;
        struct tm tm;
        gmtime_r(&tt, &tm);
        strftime(r.date, sizeof r.date, "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    return r;
}

typedef struct {
    int decisions[256];
    char notes[256][64];
    char email_norm[256][64];
    char matched_by[256][24];
    size_t n;
} plan;

static void on_row(void *arg, const rb_plan_row *row)
{
    plan *p = arg;
    if (p->n < 256) {
        rb_strlcpy(p->notes[p->n], row->note ? row->note : "", sizeof p->notes[0]);
        rb_strlcpy(p->email_norm[p->n], row->email_norm ? row->email_norm : "", sizeof p->email_norm[0]);
        rb_strlcpy(p->matched_by[p->n], row->matched_by ? row->matched_by : "(null)", sizeof p->matched_by[0]);
        p->decisions[p->n++] = row->decision;
    }
}

/* The events of a contact, oldest first. */
typedef struct {
    rb_event ev[16];
    size_t n;
} events;

static int collect_event(void *arg, const rb_event *e)
{
    events *g = arg;
    if (g->n < 16) g->ev[g->n++] = *e;
    return 0;
}

static const events *events_of(rb_store *st, const char *email)
{
    static events g;
    memset(&g, 0, sizeof g);
    rb_error err = {{0}};
    rb_contact c = get(st, email);
    assert_int_equal(rb_store_events_of(st, c.id, collect_event, &g, &err), RB_OK);
    return &g;
}

/* Apply records; returns the summary's decision counts in *sum (optional). */
static void apply(rb_store *st, const rb_record *rs, size_t n, int commit, size_t batch, plan *p,
                  rb_apply_summary *sum)
{
    rb_apply_opts o = {commit, batch, T0 + 200 * DAY, NULL, p ? on_row : NULL, p, NULL, 0, p != NULL};
    rb_apply *a = NULL;
    rb_error err = {{0}};
    assert_int_equal(rb_apply_new(st, test_ctx(), &o, &a, &err), RB_OK);
    for (size_t i = 0; i < n; i++)
        if (rb_apply_add(a, &rs[i], i + 1, &err) != RB_OK) fail_msg("apply: %s", err.msg);
    if (rb_apply_finish(a, &err) != RB_OK) fail_msg("apply: %s", err.msg);
    if (sum) {
        *sum = *rb_apply_get_summary(a);
        sum->rows = NULL;
    }
    rb_apply_free(a);
}

static int sum_row(void *arg, int n, const char *const *v)
{
    if (n > 0 && v[0]) *(int64_t *)arg = strtoll(v[0], NULL, 10);
    return 0;
}

static int64_t nevents(rb_store *st)
{
    rb_error err = {{0}};
    int64_t n = rb_store_count_events(st, &err);
    assert_true(n >= 0);
    return n;
}

/* ---- tests ----------------------------------------------------------------------- */
static void test_open_migrate(void **state)
{
    (void)state;
    rb_store *st = fresh_store();
    assert_int_equal(rb_store_schema_version(st), rb_store_latest_schema_version());
    add_contact(st, "a@example.com", "Web", RB_CS_ACTIVE);
    rb_store_close(st);
    rb_error err = {{0}};
    assert_int_equal(rb_store_open(db_url, &st, &err), RB_OK);     /* reopen: no migration, data kept */
    assert_int_equal(rb_store_count_contacts(st, &err), 1);
    rb_store_close(st);
}

static void test_open_errors(void **state)
{
    (void)state;
    rb_store *st = NULL;
    rb_error err = {{0}};
    /* a store is created only when asked: a missing one is an error and
     * no file appears; an unknown scheme is a configuration error */
    char missing[300];
    snprintf(missing, sizeof missing, "%s/not-there.db", tmpdir[0] ? tmpdir : "/tmp");
    unlink(missing);
    assert_int_equal(rb_store_open(missing, &st, &err), RB_ERR_NOSTORE);
    assert_int_equal(access(missing, F_OK), -1);
    assert_int_equal(rb_store_open("mysql:foo.db", &st, &err), RB_ERR_CONFIG);
    assert_int_equal(access("mysql:foo.db", F_OK), -1);
    assert_int_equal(rb_store_open_opts(missing, &(rb_store_opts){.create = 1}, &st, &err), RB_OK);   /* asked: created */
    rb_store_close(st);
    assert_int_equal(rb_store_open(missing, &st, &err), RB_OK);
    rb_store_close(st);
    const char *pg = getenv("REBOUND_TEST_PG");
    if (pg && *pg) {
        /* PostgreSQL: the database is there but holds no rebound schema */
        assert_int_equal(rb_store_open_opts(pg, &(rb_store_opts){.create = 1}, &st, &err), RB_OK);
        assert_int_equal(st->ops->exec(st, "DROP TABLE IF EXISTS report_events, report_texts, report_sends, mx_cache, outbox, api_keys, sends, queue, events, contacts, "
                                           "schema_version CASCADE", &err), RB_OK);
        rb_store_close(st);
        assert_int_equal(rb_store_open(pg, &st, &err), RB_ERR_NOSTORE);
    }
    assert_int_equal(rb_store_open_opts("/nonexistent-dir/x/rebound.db", &(rb_store_opts){.create = 1}, &st, &err), RB_ERR_DB);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x/rebound.db"));
    assert_int_equal(rb_store_open("postgresql://user:s3cret@127.0.0.1:1/none?connect_timeout=2", &st, &err),
                     RB_ERR_DB);
    assert_null(strstr(err.msg, "s3cret"));                          /* the password is masked */
    assert_non_null(strstr(err.msg, "user:***@127.0.0.1"));
}

static void test_import_keeps_existing(void **state)
{
    (void)state;
    rb_store *st = fresh_store();
    add_contact(st, "Gone@Example.com", "Web", RB_CS_ACTIVE);
    rb_record r = rec("gone@example.com", "userunknown", T0);
    apply(st, &r, 1, 1, 0, NULL, NULL);
    assert_int_equal(get(st, "gone@example.com").status, RB_CS_BOUNCED);
    /* importing the list again does not revive the address */
    rb_contact cs[2];
    memset(cs, 0, sizeof cs);
    strcpy(cs[0].email, "gone@example.com");
    strcpy(cs[0].email_norm, "gone@example.com");
    strcpy(cs[1].email, "new@example.com");
    strcpy(cs[1].email_norm, "new@example.com");
    cs[0].for_mailing = cs[1].for_mailing = 1;
    int ins[2];
    rb_error err = {{0}};
    assert_int_equal(rb_store_begin(st, &err), RB_OK);
    assert_int_equal(rb_store_contacts_insert(st, cs, 2, ins, &err), RB_OK);
    assert_int_equal(rb_store_commit(st, &err), RB_OK);
    assert_int_equal(ins[0], 0);
    assert_int_equal(ins[1], 1);
    assert_true(cs[0].id > 0 && cs[1].id > 0 && cs[0].id != cs[1].id);
    rb_contact c = get(st, "gone@example.com");
    assert_int_equal(c.status, RB_CS_BOUNCED);
    assert_int_equal(c.for_mailing, 0);
    assert_string_equal(c.email, "Gone@Example.com");
    rb_store_close(st);
}

static void test_hard_disables(void **state)
{
    (void)state;
    rb_store *st = fresh_store();
    add_contact(st, "peter.dufaux@domain.be", "Web", RB_CS_ACTIVE);
    rb_record r = rec("<Peter.Dufaux@domain.be>", "userunknown", T0);
    strcpy(r.reply_code, "550");
    strcpy(r.status, "5.1.10");
    strcpy(r.diagnostic, "RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup");
    strcpy(r.provider, "business_microsoft");
    plan p = {0};
    apply(st, &r, 1, 1, 0, &p, NULL);
    assert_int_equal(p.decisions[0], RB_DEC_DISABLED);
    rb_contact c = get(st, "peter.dufaux@domain.be");
    assert_int_equal(c.status, RB_CS_BOUNCED);
    assert_int_equal(c.for_mailing, 0);
    assert_string_equal(c.bounce_type, "hard");
    assert_string_equal(c.reason, "userunknown");
    assert_string_equal(c.status_code, "550 5.1.10");
    assert_string_equal(c.provider, "business_microsoft");
    assert_string_equal(c.provider_source, "ndr");
    assert_int_equal(c.last_bounce_at, T0);
    assert_int_equal(nevents(st), 1);
    rb_store_close(st);
}

/* three soft bounces: the third on day 29 quarantines, on day 31 it does not */
static void soft_three(int day3, int want_decision, int want_status, int want_count)
{
    rb_store *st = fresh_store();
    add_contact(st, "s@example.com", "Web", RB_CS_ACTIVE);
    rb_record rs[3] = {rec("s@example.com", "networkerror", T0), rec("s@example.com", "expired", T0 + 2 * DAY),
                       rec("s@example.com", "networkerror", T0 + day3 * DAY)};
    plan p = {0};
    apply(st, rs, 3, 1, 0, &p, NULL);
    assert_int_equal(p.decisions[0], RB_DEC_COUNTED);
    assert_int_equal(p.decisions[2], want_decision);
    rb_contact c = get(st, "s@example.com");
    assert_int_equal(c.status, want_status);
    assert_int_equal(c.soft_count, want_count);
    if (want_status == RB_CS_QUARANTINED) {
        assert_int_equal(c.for_mailing, 0);
        assert_int_equal(c.quarantine_until, T0 + (day3 + 14) * DAY);
    } else {
        assert_int_equal(c.for_mailing, 1);
    }
    rb_store_close(st);
}

static void test_soft_day29(void **state) { (void)state; soft_three(29, RB_DEC_QUARANTINED, RB_CS_QUARANTINED, 3); }
static void test_soft_day30(void **state) { (void)state; soft_three(30, RB_DEC_QUARANTINED, RB_CS_QUARANTINED, 3); }
static void test_soft_day31(void **state) { (void)state; soft_three(31, RB_DEC_COUNTED, RB_CS_ACTIVE, 2); }

/* the window is judged on the bounces' dates: out of order, in separate runs */
static void test_soft_out_of_order(void **state)
{
    (void)state;
    rb_store *st = fresh_store();
    add_contact(st, "s@example.com", "Web", RB_CS_ACTIVE);
    rb_record a = rec("s@example.com", "networkerror", T0 + 20 * DAY);
    rb_record b = rec("s@example.com", "networkerror", T0);
    rb_record c = rec("s@example.com", "networkerror", T0 + 10 * DAY);
    apply(st, &a, 1, 1, 0, NULL, NULL);
    apply(st, &b, 1, 1, 0, NULL, NULL);
    assert_int_equal(get(st, "s@example.com").status, RB_CS_ACTIVE);
    plan p = {0};
    apply(st, &c, 1, 1, 0, &p, NULL);
    assert_int_equal(p.decisions[0], RB_DEC_QUARANTINED);
    assert_int_equal(get(st, "s@example.com").status, RB_CS_QUARANTINED);
    rb_store_close(st);
}

static void test_quarantine_expiry(void **state)
{
    (void)state;
    rb_store *st = fresh_store();
    add_contact(st, "q@example.com", "Web", RB_CS_ACTIVE);
    add_contact(st, "again@example.com", "Web", RB_CS_ACTIVE);
    rb_record rs[7] = {
        rec("q@example.com", "networkerror", T0), rec("q@example.com", "networkerror", T0 + DAY),
        rec("q@example.com", "networkerror", T0 + 2 * DAY),
        rec("again@example.com", "networkerror", T0), rec("again@example.com", "networkerror", T0 + DAY),
        rec("again@example.com", "networkerror", T0 + 2 * DAY),
        /* a further soft bounce during the quarantine: does not come back */
        rec("again@example.com", "systemerror", T0 + 5 * DAY),
    };
    plan p = {0};
    apply(st, rs, 7, 1, 0, &p, NULL);
    assert_int_equal(p.decisions[6], RB_DEC_DISABLED);
    assert_int_equal(get(st, "again@example.com").status, RB_CS_BOUNCED);
    int64_t until = T0 + 16 * DAY;
    assert_int_equal(get(st, "q@example.com").quarantine_until, until);

    rb_queue_stats qs;
    rb_error err = {{0}};
    assert_int_equal(rb_store_queue_rebuild(st, NULL, 0, until - 1, &qs, &err), RB_OK);
    assert_int_equal(qs.queued, 0);
    assert_int_equal(qs.quarantined, 1);
    assert_int_equal(qs.released, 0);
    assert_int_equal(rb_store_queue_rebuild(st, NULL, 0, until, &qs, &err), RB_OK);
    assert_int_equal(qs.released, 1);
    assert_int_equal(qs.queued, 1);
    rb_contact c = get(st, "q@example.com");
    assert_int_equal(c.status, RB_CS_ACTIVE);
    assert_int_equal(c.for_mailing, 1);
    assert_int_equal(c.soft_count, 0);
    assert_int_equal(c.soft_since, until);
    /* the old soft bounces no longer count: one new one is just counted */
    rb_record r = rec("q@example.com", "networkerror", until + DAY);
    memset(&p, 0, sizeof p);
    apply(st, &r, 1, 1, 0, &p, NULL);
    assert_int_equal(p.decisions[0], RB_DEC_COUNTED);
    assert_int_equal(get(st, "q@example.com").soft_count, 1);
    rb_store_close(st);
}

static void test_blocked_never_disables(void **state)
{
    (void)state;
    rb_store *st = fresh_store();
    add_contact(st, "b@example.com", "Web", RB_CS_ACTIVE);
    rb_record rs[10];
    const char *reasons[] = {"blocked", "spamdetected", "policyviolation", "badreputation", "blocked"};
    for (int i = 0; i < 10; i++) rs[i] = rec("b@example.com", reasons[i % 5], T0 + i * DAY);
    plan p = {0};
    apply(st, rs, 10, 1, 0, &p, NULL);
    for (int i = 0; i < 10; i++) assert_int_equal(p.decisions[i], RB_DEC_RECORDED);
    rb_contact c = get(st, "b@example.com");
    assert_int_equal(c.status, RB_CS_BLOCKED);
    assert_int_equal(c.for_mailing, 1);
    assert_string_equal(c.bounce_type, "blocked");
    rb_queue_stats qs;
    rb_error err = {{0}};
    assert_int_equal(rb_store_queue_rebuild(st, NULL, 0, T0 + 100 * DAY, &qs, &err), RB_OK);
    assert_int_equal(qs.queued, 1);
    rb_store_close(st);
}

static void test_hard_after_soft(void **state)
{
    (void)state;
    rb_store *st = fresh_store();
    add_contact(st, "h@example.com", "Web", RB_CS_ACTIVE);
    rb_record rs[3] = {rec("h@example.com", "networkerror", T0), rec("h@example.com", "userunknown", T0 + DAY),
                       rec("h@example.com", "networkerror", T0 + 2 * DAY)};
    plan p = {0};
    apply(st, rs, 3, 1, 0, &p, NULL);
    assert_int_equal(p.decisions[0], RB_DEC_COUNTED);
    assert_int_equal(p.decisions[1], RB_DEC_DISABLED);
    assert_int_equal(p.decisions[2], RB_DEC_UNCHANGED);
    rb_contact c = get(st, "h@example.com");
    assert_int_equal(c.status, RB_CS_BOUNCED);
    assert_string_equal(c.reason, "userunknown");       /* the disabling bounce explains it */
    rb_store_close(st);
}

static void test_complaint_and_unsubscribed(void **state)
{
    (void)state;
    rb_store *st = fresh_store();
    add_contact(st, "c@example.com", "Web", RB_CS_ACTIVE);
    add_contact(st, "u@example.com", "Web", RB_CS_UNSUBSCRIBED);
    rb_record rs[2] = {rec("c@example.com", "feedback", T0), rec("u@example.com", "userunknown", T0)};
    strcpy(rs[0].feedback_type, "abuse");
    plan p = {0};
    apply(st, rs, 2, 1, 0, &p, NULL);
    assert_int_equal(p.decisions[0], RB_DEC_DISABLED);
    assert_int_equal(get(st, "c@example.com").status, RB_CS_COMPLAINT);
    assert_int_equal(get(st, "c@example.com").for_mailing, 0);
    assert_int_equal(p.decisions[1], RB_DEC_UNCHANGED);
    assert_int_equal(get(st, "u@example.com").status, RB_CS_UNSUBSCRIBED);
    rb_store_close(st);
}

static void test_never_unsubscribes(void **state)
{
    (void)state;
    rb_store *st = fresh_store();
    const char *reasons[] = {"userunknown", "hostunknown", "mailboxfull", "blocked", "spamdetected", "feedback",
                             "networkerror", "expired", "vacation", "delivered", "undefined", "suppressed"};
    rb_record rs[36];
    size_t n = 0;
    for (size_t i = 0; i < 12; i++) {
        char a[64];
        snprintf(a, sizeof a, "x%zu@example.com", i);
        add_contact(st, a, "Web", RB_CS_ACTIVE);
        for (int k = 0; k < 3; k++) rs[n++] = rec(a, reasons[i], T0 + k * DAY);
    }
    rb_apply_summary sum;
    apply(st, rs, n, 1, 0, NULL, &sum);
    assert_int_equal(sum.records, 36);
    for (size_t i = 0; i < 12; i++) {
        char a[64];
        snprintf(a, sizeof a, "x%zu@example.com", i);
        assert_int_not_equal(get(st, a).status, RB_CS_UNSUBSCRIBED);
    }
    rb_store_close(st);
}

static void test_delivery_resets(void **state)
{
    (void)state;
    rb_store *st = fresh_store();
    add_contact(st, "d@example.com", "Web", RB_CS_ACTIVE);
    rb_record rs[4] = {rec("d@example.com", "networkerror", T0), rec("d@example.com", "networkerror", T0 + DAY),
                       rec("d@example.com", "delivered", T0 + 2 * DAY),
                       rec("d@example.com", "networkerror", T0 + 3 * DAY)};
    strcpy(rs[2].status, "2.0.0");
    plan p = {0};
    apply(st, rs, 4, 1, 0, &p, NULL);
    assert_int_equal(p.decisions[2], RB_DEC_RESET);
    assert_int_equal(p.decisions[3], RB_DEC_COUNTED);
    rb_contact c = get(st, "d@example.com");
    assert_int_equal(c.status, RB_CS_ACTIVE);
    assert_int_equal(c.soft_count, 1);
    assert_int_equal(c.last_delivered_at, T0 + 2 * DAY);
    rb_store_close(st);
}

static void test_duplicates(void **state)
{
    (void)state;
    rb_store *st = fresh_store();
    add_contact(st, "s@example.com", "Web", RB_CS_ACTIVE);
    rb_record rs[3] = {rec("s@example.com", "networkerror", T0), rec("s@example.com", "networkerror", T0),
                       rec("s@example.com", "networkerror", T0 + DAY)};
    strcpy(rs[1].source, "other-export.mbox#7");   /* same bounce, another file */
    plan p = {0};
    apply(st, rs, 3, 1, 0, &p, NULL);
    assert_int_equal(p.decisions[1], RB_DEC_DUPLICATE);
    assert_int_equal(nevents(st), 2);
    assert_int_equal(get(st, "s@example.com").soft_count, 2);
    /* the same input again: nothing new */
    rb_apply_summary sum;
    apply(st, rs, 3, 1, 0, NULL, &sum);
    assert_int_equal(sum.n[RB_DEC_DUPLICATE], 3);
    assert_int_equal(nevents(st), 2);
    assert_int_equal(get(st, "s@example.com").soft_count, 2);
    assert_int_equal(get(st, "s@example.com").status, RB_CS_ACTIVE);
    rb_store_close(st);
}

static void test_unknown_and_invalid(void **state)
{
    (void)state;
    rb_store *st = fresh_store();
    add_contact(st, "k@example.com", "Web", RB_CS_ACTIVE);
    rb_record rs[4] = {rec("nobody@example.com", "userunknown", T0), rec("not an address", "userunknown", T0),
                       rec("k@example.com", "frobnicated", T0), rec("k@example.com", "userunknown", T0)};
    plan p = {0};
    rb_apply_summary sum;
    apply(st, rs, 4, 1, 0, &p, &sum);
    assert_int_equal(p.decisions[0], RB_DEC_UNKNOWN);
    assert_int_equal(p.decisions[1], RB_DEC_INVALID);
    assert_non_null(strstr(p.notes[1], "invalid address"));
    assert_int_equal(p.decisions[2], RB_DEC_INVALID);
    assert_non_null(strstr(p.notes[2], "unknown reason"));
    assert_int_equal(p.decisions[3], RB_DEC_DISABLED);                 /* the rest is applied */
    assert_int_equal(sum.n[RB_DEC_INVALID], 2);
    assert_int_equal(nevents(st), 1);                                  /* nothing stored for the unknown */
    rb_store_close(st);
}

/* A bigger, mixed input: check mode's plan equals what commit does, whatever
 * the batch size, and a second commit changes nothing. */
static size_t mixed_input(rb_record *rs, size_t max)
{
    const char *reasons[] = {"networkerror", "userunknown", "blocked", "expired", "systemerror", "feedback",
                             "delivered", "mailboxfull", "spamdetected", "networkerror"};
    size_t n = 0;
    for (int i = 0; i < 40 && n < max; i++)
        for (int k = 0; k < 6 && n < max; k++) {
            char a[64];
            snprintf(a, sizeof a, "m%d@example.com", (i * 7 + k) % 45);   /* some not stored */
            rs[n++] = rec(a, reasons[(i + k * 3) % 10], T0 + ((i * 13 + k * 5) % 60) * DAY);
        }
    return n;
}

static void seed_mixed(rb_store *st)
{
    for (int i = 0; i < 40; i++) {
        char a[64];
        snprintf(a, sizeof a, "m%d@example.com", i);
        add_contact(st, a, i % 5 ? "Web" : "Test", RB_CS_ACTIVE);
    }
}

static void test_check_equals_commit(void **state)
{
    (void)state;
    static rb_record rs[240];
    size_t n = mixed_input(rs, 240);
    static plan check1, check1000, commit1, commit1000;
    rb_store *st = fresh_store();
    seed_mixed(st);
    memset(&check1, 0, sizeof check1);
    apply(st, rs, n, 0, 1, &check1, NULL);                 /* check, one record per batch */
    apply(st, rs, n, 0, 1000, &check1000, NULL);
    assert_int_equal(nevents(st), 0);                      /* check wrote nothing */
    apply(st, rs, n, 1, 1, &commit1, NULL);
    assert_int_equal(check1.n, 240 < n ? 240 : n);
    for (size_t i = 0; i < check1.n; i++) {
        assert_int_equal(check1.decisions[i], check1000.decisions[i]);
        assert_int_equal(check1.decisions[i], commit1.decisions[i]);
    }
    rb_store_close(st);
    st = fresh_store();
    seed_mixed(st);
    apply(st, rs, n, 1, 1000, &commit1000, NULL);
    for (size_t i = 0; i < check1.n; i++) assert_int_equal(check1.decisions[i], commit1000.decisions[i]);
    int64_t ev = nevents(st);
    rb_apply_summary sum;
    apply(st, rs, n, 1, 7, NULL, &sum);                    /* again: all duplicates or unknown */
    assert_int_equal(nevents(st), ev);
    /* a delivery that changed nothing leaves no event: read again, it is
     * decided again, and changes nothing again */
    size_t idle_deliveries = 0;
    for (size_t i = 0; i < check1.n; i++)
        if (commit1000.decisions[i] == RB_DEC_IGNORED && !strcmp(rs[i].reason, "delivered")) idle_deliveries++;
    assert_true(idle_deliveries > 0);
    assert_int_equal(sum.n[RB_DEC_DUPLICATE] + sum.n[RB_DEC_UNKNOWN] + sum.n[RB_DEC_IGNORED], n);
    assert_true(sum.n[RB_DEC_IGNORED] >= idle_deliveries);
    rb_store_close(st);
}

typedef struct {
    char v[4][64];
    int n;
} queued;

static int collect(void *arg, const rb_contact *c)
{
    queued *g = arg;
    if (g->n < 4) rb_strlcpy(g->v[g->n++], c->email_norm, 64);
    return 0;
}

static void test_queue_rebuild(void **state)
{
    (void)state;
    rb_store *st = fresh_store();
    add_contact(st, "a@example.com", "Web", RB_CS_ACTIVE);
    add_contact(st, "b@example.com", "FacebookAdsJsonCSV", RB_CS_ACTIVE);
    add_contact(st, "c@example.com", "Test", RB_CS_ACTIVE);
    add_contact(st, "d@example.com", "Web", RB_CS_UNSUBSCRIBED);
    add_contact(st, "e@example.com", "Web", RB_CS_ACTIVE);
    add_contact(st, "f@example.com", "Web", RB_CS_ACTIVE);
    rb_record r = rec("e@example.com", "userunknown", T0);
    apply(st, &r, 1, 1, 0, NULL, NULL);
    const char *ex[] = {"FacebookAdsJsonCSV", "UnsubscribeTakeOutSpamBlocked", "Test", "MailTester"};
    rb_queue_stats qs;
    rb_error err = {{0}};
    assert_int_equal(rb_store_queue_rebuild(st, ex, 4, T0, &qs, &err), RB_OK);
    assert_int_equal(qs.contacts, 6);
    assert_int_equal(qs.queued, 2);
    assert_int_equal(qs.excluded_source, 2);
    assert_int_equal(qs.not_for_mailing, 2);
    assert_int_equal(qs.by_status[RB_CS_BOUNCED], 1);
    assert_int_equal(qs.by_status[RB_CS_UNSUBSCRIBED], 1);
    /* queue order: oldest contact first */
    queued got = {{{0}}, 0};
    assert_int_equal(rb_store_queue_each(st, collect, &got, &err), RB_OK);
    assert_int_equal(got.n, 2);
    assert_string_equal(got.v[0], "a@example.com");
    assert_string_equal(got.v[1], "f@example.com");
    /* rebuilding again gives the same queue; stats agree without rebuilding */
    rb_queue_stats qs2;
    assert_int_equal(rb_store_queue_rebuild(st, ex, 4, T0, &qs2, &err), RB_OK);
    assert_int_equal(qs2.queued, 2);
    assert_int_equal(rb_store_queue_stats(st, ex, 4, T0, &qs2, &err), RB_OK);
    assert_int_equal(qs2.queued, 2);
    assert_int_equal(qs2.excluded_source, 2);
    /* without exclusions, the next rebuild takes the excluded ones too */
    assert_int_equal(rb_store_queue_rebuild(st, NULL, 0, T0, &qs2, &err), RB_OK);
    assert_int_equal(qs2.queued, 4);
    rb_store_close(st);
}

static void test_field_roundtrip(void **state)
{
    (void)state;
    rb_store *st = fresh_store();
    add_contact(st, "w@example.com", "Web, \"quoted\" {brace} \\back", RB_CS_ACTIVE);
    rb_record r = rec("w@example.com", "userunknown", T0);
    strcpy(r.diagnostic, "550 \"no\", {x} \\ y; ünïcode \xff broken");
    strcpy(r.remote_mta, "mx.example.com");
    apply(st, &r, 1, 1, 0, NULL, NULL);
    rb_contact c = get(st, "w@example.com");
    assert_string_equal(c.source, "Web, \"quoted\" {brace} \\back");
    assert_non_null(strstr(c.status_message, "550 \"no\", {x} \\ y; ünïcode"));
    rb_store_close(st);
}

/* ---- evidence and rule, original recipients --------------------------------------- */
/* Each event keeps what its reason rests on and the rule that gave it. */
static void test_event_evidence_rule(void **state)
{
    (void)state;
    rb_store *st = fresh_store();
    add_contact(st, "why@example.com", "Web", RB_CS_ACTIVE);
    rb_record rs[2] = {rec("why@example.com", "networkerror", T0), rec("why@example.com", "userunknown", T0 + DAY)};
    strcpy(rs[0].evidence, "status");
    strcpy(rs[0].rule, "rules.d/50-status.conf:12");
    strcpy(rs[1].evidence, "phrase");
    strcpy(rs[1].rule, "rules.d/20-mta.conf:41");
    plan p = {0};
    apply(st, rs, 2, 1, 0, &p, NULL);
    assert_int_equal(p.decisions[1], RB_DEC_DISABLED);
    const events *g = events_of(st, "why@example.com");
    assert_int_equal(g->n, 2);
    assert_string_equal(g->ev[0].reason, "networkerror");
    assert_string_equal(g->ev[0].evidence, "status");
    assert_string_equal(g->ev[0].rule, "rules.d/50-status.conf:12");
    assert_string_equal(g->ev[1].reason, "userunknown");
    assert_string_equal(g->ev[1].decision, "disabled");
    assert_string_equal(g->ev[1].evidence, "phrase");
    assert_string_equal(g->ev[1].rule, "rules.d/20-mta.conf:41");

    /* straight through the batch insert: text PostgreSQL's array syntax
     * must escape, and bytes that are not UTF-8 */
    rb_contact c = get(st, "why@example.com");
    rb_event e;
    memset(&e, 0, sizeof e);
    strcpy(e.key, "0123456789abcdef0123456789abcdef");
    e.contact_id = c.id;
    e.event_time = e.applied_at = T0 + 2 * DAY;
    strcpy(e.reason, "blocked");
    strcpy(e.evidence, "vendor");
    strcpy(e.rule, "module:{Odd} \"quoted\", back\\slash");
    rb_error err = {{0}};
    assert_int_equal(rb_store_begin(st, &err), RB_OK);
    assert_int_equal(rb_store_events_insert(st, &e, 1, &err), RB_OK);
    assert_int_equal(rb_store_commit(st, &err), RB_OK);
    g = events_of(st, "why@example.com");
    assert_int_equal(g->n, 3);
    assert_string_equal(g->ev[2].key, e.key);
    assert_string_equal(g->ev[2].evidence, "vendor");
    assert_string_equal(g->ev[2].rule, "module:{Odd} \"quoted\", back\\slash");

    /* a record without them (another tool's CSV) is classified by the rules,
     * which say what they went by; an event never invents a rule */
    add_contact(st, "plain@example.com", "Web", RB_CS_ACTIVE);
    rb_record r = rec("plain@example.com", "", T0);
    strcpy(r.status, "5.1.1");
    strcpy(r.reply_code, "550");
    strcpy(r.diagnostic, "5.1.1 <plain@example.com>: Recipient address rejected: User unknown in virtual mailbox table");
    apply(st, &r, 1, 1, 0, NULL, NULL);
    g = events_of(st, "plain@example.com");
    assert_int_equal(g->n, 1);
    assert_true(g->ev[0].reason[0]);
    assert_true(rb_evidence_parse(g->ev[0].evidence) >= 0);    /* a known evidence name */
    assert_true(g->ev[0].rule[0]);
    rb_store_close(st);
}

/* A store of schema version 2 (made by the migrations that made it) is
 * migrated in place: the events it holds keep their keys and get empty
 * evidence and rule; new events keep theirs. */
static void test_migrate_v2_events(void **state)
{
    (void)state;
    assert_int_equal(rb_store_latest_schema_version(), 6);
    rb_store *st = fresh_store_at(2);
    assert_int_equal(rb_store_schema_version(st), 2);
    rb_error err = {{0}};
    assert_int_equal(st->ops->query(st, "SELECT evidence FROM events", 0, NULL, NULL, NULL, &err), RB_ERR_DB);
    add_contact(st, "old@example.com", "Web", RB_CS_ACTIVE);
    rb_contact c = get(st, "old@example.com");
    /* an event as version 2 stored it, for a bounce we read again below */
    rb_record old = rec("old@example.com", "networkerror", T0);
    char key[40], id[32], t[32];
    rb_event_key(&old, "old@example.com", key, sizeof key);
    snprintf(id, sizeof id, "%lld", (long long)c.id);
    snprintf(t, sizeof t, "%lld", (long long)T0);
    const char *params[] = {key, id, t};
    assert_int_equal(st->ops->query(st,
                                    "INSERT INTO events (key, contact_id, event_time, applied_at, bounce_type,"
                                    " reason, status, reply_code, decision, diagnostic, remote_mta, provider, source)"
                                    " VALUES ($1, $2, $3, $3, 'soft', 'networkerror', '4.4.1', '', 'counted',"
                                    " 'old diagnostic', '', '', 'old.mbox#1')",
                                    3, params, NULL, NULL, &err),
                     RB_OK);
    rb_store_close(st);

    assert_int_equal(rb_store_open(db_url, &st, &err), RB_OK);          /* migrates to 6 */
    assert_int_equal(rb_store_schema_version(st), 6);
    /* version 6 counted the old bounce into the report's rollups */
    int64_t rolled = 0;
    assert_int_equal(st->ops->query(st, "SELECT SUM(n) FROM report_events WHERE bounce_type = 'soft'"
                                        " AND reason = 'networkerror' AND source = 'Web'",
                                    0, NULL, sum_row, &rolled, &err), RB_OK);
    assert_int_equal(rolled, 1);
    const events *g = events_of(st, "old@example.com");
    assert_int_equal(g->n, 1);
    assert_string_equal(g->ev[0].key, key);
    assert_string_equal(g->ev[0].reason, "networkerror");
    assert_string_equal(g->ev[0].diagnostic, "old diagnostic");
    assert_string_equal(g->ev[0].evidence, "");
    assert_string_equal(g->ev[0].rule, "");
    assert_string_equal(g->ev[0].alert, "");

    /* the old bounce again (now with evidence, rule and its ORCPT): applied before */
    strcpy(old.evidence, "status");
    strcpy(old.rule, "rules.d/50-status.conf:3");
    strcpy(old.original_recipient, "old@example.com");
    rb_record next = rec("old@example.com", "userunknown", T0 + DAY);
    strcpy(next.evidence, "phrase");
    strcpy(next.rule, "rules.d/20-mta.conf:41");
    rb_record both[2] = {old, next};
    plan p = {0};
    apply(st, both, 2, 1, 0, &p, NULL);
    assert_int_equal(p.decisions[0], RB_DEC_DUPLICATE);
    assert_int_equal(p.decisions[1], RB_DEC_DISABLED);
    g = events_of(st, "old@example.com");
    assert_int_equal(g->n, 2);
    assert_string_equal(g->ev[0].evidence, "");
    assert_string_equal(g->ev[1].evidence, "phrase");
    assert_string_equal(g->ev[1].rule, "rules.d/20-mta.conf:41");
    rb_store_close(st);

    /* opening again: nothing to migrate, the data is kept */
    assert_int_equal(rb_store_open(db_url, &st, &err), RB_OK);
    assert_int_equal(rb_store_schema_version(st), 6);
    assert_int_equal(nevents(st), 2);

    /* a bounce under an alert (version 4): recorded with it, the contact unchanged */
    add_contact(st, "hacked@example.com", "Web", RB_CS_ACTIVE);
    rb_record bs = rec("hacked@example.com", "userunknown", T0 + 2 * DAY);
    strcpy(bs.alert, "compromised_account");
    plan p2 = {0};
    apply(st, &bs, 1, 1, 0, &p2, NULL);
    assert_int_equal(p2.decisions[0], RB_DEC_RECORDED);
    g = events_of(st, "hacked@example.com");
    assert_int_equal(g->n, 1);
    assert_string_equal(g->ev[0].alert, "compromised_account");
    assert_int_equal(get(st, "hacked@example.com").status, RB_CS_ACTIVE);
    rb_store_close(st);
}

static rb_record orcpt(const char *rcpt, const char *orig, const char *reason, int64_t t)
{
    rb_record r = rec(rcpt, reason, t);
    rb_strlcpy(r.original_recipient, orig, sizeof r.original_recipient);
    return r;
}

/* A record names its contact by the original recipient (the address
 * subscribed) first, then by the final recipient. */
static void test_original_recipient_match(void **state)
{
    (void)state;
    rb_store *st = fresh_store();
    add_contact(st, "subscribed@example.org", "Web", RB_CS_ACTIVE);
    add_contact(st, "final@example.org", "Web", RB_CS_ACTIVE);
    add_contact(st, "alias@example.org", "Web", RB_CS_ACTIVE);
    add_contact(st, "target@example.org", "Web", RB_CS_ACTIVE);
    add_contact(st, "x400@example.org", "Web", RB_CS_ACTIVE);
    rb_record rs[6] = {
        /* forwarded to an address that is no contact: the subscribed one is disabled */
        orcpt("forward@gmail.example", "<Subscribed@Example.ORG>", "userunknown", T0),
        /* an original recipient that names no contact: the final recipient's */
        orcpt("final@example.org", "gone@example.org", "userunknown", T0),
        /* both are contacts: the original recipient wins, the final one is left alone */
        orcpt("target@example.org", "alias@example.org", "userunknown", T0),
        /* an original recipient that is no address: the final recipient's */
        orcpt("target@example.org", "not an address", "networkerror", T0),
        /* a final recipient that is no address (X.400): the original recipient's */
        orcpt("x400:c=us;a= ;p=corp;o=mail;s=smith", "x400@example.org", "userunknown", T0),
        /* neither names a contact: unknown, nothing stored */
        orcpt("nobody@example.org", "nobody-either@example.org", "userunknown", T0),
    };
    /* check first: the same decisions as commit, nothing written */
    plan chk = {0}, p = {0};
    apply(st, rs, 6, 0, 0, &chk, NULL);
    assert_int_equal(nevents(st), 0);
    apply(st, rs, 6, 1, 0, &p, NULL);
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(chk.decisions[i], p.decisions[i]);
        assert_string_equal(chk.email_norm[i], p.email_norm[i]);
        assert_string_equal(chk.matched_by[i], p.matched_by[i]);
    }
    assert_int_equal(p.decisions[0], RB_DEC_DISABLED);
    assert_string_equal(p.email_norm[0], "subscribed@example.org");
    assert_string_equal(p.matched_by[0], "original_recipient");
    assert_int_equal(get(st, "subscribed@example.org").status, RB_CS_BOUNCED);
    assert_int_equal(get(st, "subscribed@example.org").for_mailing, 0);

    assert_int_equal(p.decisions[1], RB_DEC_DISABLED);
    assert_string_equal(p.email_norm[1], "final@example.org");
    assert_string_equal(p.matched_by[1], "recipient");
    assert_int_equal(get(st, "final@example.org").status, RB_CS_BOUNCED);

    assert_int_equal(p.decisions[2], RB_DEC_DISABLED);
    assert_string_equal(p.email_norm[2], "alias@example.org");
    assert_string_equal(p.matched_by[2], "original_recipient");
    assert_int_equal(get(st, "alias@example.org").status, RB_CS_BOUNCED);

    assert_int_equal(p.decisions[3], RB_DEC_COUNTED);
    assert_string_equal(p.matched_by[3], "recipient");
    rb_contact target = get(st, "target@example.org");
    assert_int_equal(target.status, RB_CS_ACTIVE);                    /* only the soft bounce counted */
    assert_int_equal(target.soft_count, 1);
    assert_int_equal(events_of(st, "target@example.org")->n, 1);

    assert_int_equal(p.decisions[4], RB_DEC_DISABLED);
    assert_string_equal(p.matched_by[4], "original_recipient");
    assert_int_equal(get(st, "x400@example.org").status, RB_CS_BOUNCED);

    assert_int_equal(p.decisions[5], RB_DEC_UNKNOWN);
    assert_string_equal(p.email_norm[5], "nobody@example.org");
    assert_string_equal(p.matched_by[5], "");
    assert_int_equal(nevents(st), 5);

    /* one bounce counts once: the same input again, and the same bounces
     * from an export that did not carry the original recipient */
    rb_apply_summary sum;
    apply(st, rs, 6, 1, 0, NULL, &sum);
    assert_int_equal(sum.n[RB_DEC_DUPLICATE], 5);
    assert_int_equal(sum.n[RB_DEC_UNKNOWN], 1);
    rb_record bare[2] = {rs[2], rs[3]};
    bare[0].original_recipient[0] = bare[1].original_recipient[0] = '\0';
    memset(&p, 0, sizeof p);
    apply(st, bare, 2, 1, 0, &p, NULL);
    assert_int_equal(p.decisions[0], RB_DEC_DUPLICATE);               /* alias's bounce: not target's too */
    assert_int_equal(p.decisions[1], RB_DEC_DUPLICATE);
    target = get(st, "target@example.org");
    assert_int_equal(target.status, RB_CS_ACTIVE);
    assert_int_equal(target.soft_count, 1);
    assert_int_equal(nevents(st), 5);

    /* a bounce applied before whose addresses name no contact now: the
     * forwarded bounce of rs[0] from an export without its ORCPT names only
     * forward@gmail.example.  Its key (on the final recipient) was applied:
     * without a plan the keys are looked up first, so it is a duplicate, not
     * unknown, in check and in commit mode, and nothing changes */
    rb_record fwd = rs[0];
    fwd.original_recipient[0] = '\0';
    rb_contact before = get(st, "subscribed@example.org");
    for (int commit = 0; commit <= 1; commit++) {
        memset(&sum, 0, sizeof sum);
        apply(st, &fwd, 1, commit, 0, NULL, &sum);
        assert_int_equal(sum.records, 1);
        assert_int_equal(sum.n[RB_DEC_DUPLICATE], 1);
        assert_int_equal(sum.n[RB_DEC_UNKNOWN], 0);
        assert_int_equal(nevents(st), 5);
        assert_int_equal(events_of(st, "subscribed@example.org")->n, 1);
        rb_contact after = get(st, "subscribed@example.org");
        assert_int_equal(after.status, before.status);
        assert_int_equal(after.for_mailing, before.for_mailing);
        assert_int_equal(after.updated_at, before.updated_at);
        assert_int_equal(after.last_bounce_at, before.last_bounce_at);
        assert_string_equal(after.status_message, before.status_message);
    }
    /* the same with a plan callback that needs no contact states (the CLI's
     * without --plan: it reports only the invalid rows): keys first too;
     * with plan_states (--plan) the contacts come first, and an address
     * that names no contact is unknown there */
    for (int states = 0; states <= 1; states++) {
        memset(&p, 0, sizeof p);
        rb_apply_opts o = {1, 0, T0 + 200 * DAY, NULL, on_row, &p, NULL, 0, states};
        rb_apply *a = NULL;
        rb_error err = {{0}};
        assert_int_equal(rb_apply_new(st, test_ctx(), &o, &a, &err), RB_OK);
        assert_int_equal(rb_apply_add(a, &fwd, 1, &err), RB_OK);
        assert_int_equal(rb_apply_finish(a, &err), RB_OK);
        rb_apply_free(a);
        assert_int_equal(p.n, 1);
        assert_int_equal(p.decisions[0], states ? RB_DEC_UNKNOWN : RB_DEC_DUPLICATE);
        assert_int_equal(nevents(st), 5);
    }
    rb_store_close(st);
}

/* ---- sends: one row per (instance + queue ID, recipient) -------------------------- */
static int count_send(void *arg, const rb_send *s)
{
    (void)s;
    (*(int *)arg)++;
    return 0;
}

static rb_send mksend(const char *instance, const char *qid, const char *mid, const char *rcpt, int64_t t)
{
    rb_send s;
    memset(&s, 0, sizeof s);
    rb_strlcpy(s.queue_id, qid, sizeof s.queue_id);
    rb_strlcpy(s.message_id, mid, sizeof s.message_id);
    assert_true(rb_email_normalize(rcpt, s.recipient_norm, sizeof s.recipient_norm));
    s.sent_at = t;
    rb_strlcpy(s.relay, "mx.example.com[192.0.2.10]:25", sizeof s.relay);
    rb_send_key(instance, qid, s.recipient_norm, s.key, sizeof s.key);
    return s;
}

static void test_sends_twice(void **state)
{
    (void)state;
    rb_store *st = fresh_store();
    rb_error err = {{0}};
    /* one address mailed twice (two queue IDs), and a queue ID (short
     * Postfix IDs repeat) seen on another instance: four rows */
    rb_send s[4] = {mksend("postfix", "4F1A22C0A01", "m1@lists.example.org", "Twice@Example.org", T0),
                    mksend("postfix", "4F1A22C0A02", "m2@lists.example.org", "twice@example.org", T0 + DAY),
                    mksend("postfix-out", "4F1A22C0A01", "m3@lists.example.org", "twice@example.org", T0 + 2 * DAY),
                    mksend("postfix", "4F1A22C0A01", "m1@lists.example.org", "other@example.org", T0)};
    assert_string_not_equal(s[0].key, s[1].key);
    assert_string_not_equal(s[0].key, s[2].key);
    assert_string_not_equal(s[0].key, s[3].key);
    assert_int_equal(strlen(s[0].key), 32);
    /* the same attempt read again, whatever its time stamp: the same key */
    rb_send again = mksend("postfix", "4F1A22C0A01", "m1@lists.example.org", "twice@example.org", T0 + 3600);
    assert_string_equal(again.key, s[0].key);
    size_t stored = 99;
    assert_int_equal(rb_store_begin(st, &err), RB_OK);
    assert_int_equal(rb_store_sends_insert_n(st, s, 4, &stored, &err), RB_OK);
    assert_int_equal(rb_store_commit(st, &err), RB_OK);
    assert_int_equal(stored, 4);
    assert_int_equal(rb_store_sends_insert_n(st, s, 4, &stored, &err), RB_OK);
    assert_int_equal(stored, 0);
    assert_int_equal(rb_store_sends_insert_n(st, &again, 1, &stored, &err), RB_OK);
    assert_int_equal(stored, 0);
    int n = 0;
    assert_int_equal(rb_store_sends_of(st, "twice@example.org", 0, count_send, &n, &err), RB_OK);
    assert_int_equal(n, 3);
    /* the second mail is known: its NDR is no backscatter */
    int found = 0;
    assert_int_equal(rb_store_send_known(st, "<m2@lists.example.org>", "twice@example.org", &found, &err), RB_OK);
    assert_int_equal(found, 1);
    assert_int_equal(rb_store_send_known(st, "m2@lists.example.org", "other@example.org", &found, &err), RB_OK);
    assert_int_equal(found, 0);
    rb_store_close(st);
}

/* ---- the report's rollups ---------------------------------------------------------- */
static int dump_row(void *arg, int n, const char *const *v)
{
    GString *g = arg;
    for (int i = 0; i < n; i++) g_string_append_printf(g, "%s%s", i ? "|" : "", v[i] ? v[i] : "NULL");
    g_string_append_c(g, '\n');
    return 0;
}

static char *dump(rb_store *st)
{
    static const char *const q[] = {
        "SELECT recipient_norm, sent_at, key, ndr_at FROM sends ORDER BY recipient_norm, sent_at, key",
        "SELECT day, provider, source, bucket, n FROM report_sends WHERE n <> 0 ORDER BY 1, 2, 3, 4",
        "SELECT day, provider, source, bounce_type, reason, decision, alert, n FROM report_events WHERE n <> 0"
        " ORDER BY 1, 2, 3, 4, 5, 6, 7",
        "SELECT day, provider, source, bounce_type, reason, text, n FROM report_texts WHERE n <> 0"
        " ORDER BY 1, 2, 3, 4, 5, 6",
    };
    GString *g = g_string_new("");
    rb_error err = {{0}};
    for (size_t i = 0; i < sizeof q / sizeof *q; i++) {
        g_string_append_printf(g, "-- %zu\n", i);
        if (st->ops->query(st, q[i], 0, NULL, dump_row, g, &err) != RB_OK) fail_msg("dump: %s", err.msg);
    }
    return g_string_free(g, FALSE);
}

/* Sends and bounces of three recipients stored in a random order, in
 * random transactions, at times drawn from a few (so that sends and
 * bounces share seconds): the rollups and each send's NDR kept while
 * writing equal those computed again from the rows. */
static void test_rollups_kept_equal_rebuilt(void **state)
{
    (void)state;
    static const char *const who[] = {"r1@example.com", "r2@example.com", "r3@example.com"};
    static const char *const why[] = {"userunknown", "mailboxfull", "blocked", "spamdetected", "onhold"};
    for (unsigned seed = 1; seed <= 40; seed++) {
        srand(seed);
        rb_store *st = fresh_store();
        rb_error err = {{0}};
        for (int i = 0; i < 3; i++) add_contact(st, who[i], i == 2 ? "Fair" : "Web", RB_CS_ACTIVE);
        int nsend = 0;
        for (int step = 0; step < 40; step++) {
            int64_t t = T0 + (rand() % 12) * 3600 + (rand() % 2) * 60;
            const char *r = who[rand() % 3];
            if (rand() % 2) {
                char q[32];
                snprintf(q, sizeof q, "Q%dS%u", nsend++, seed);
                rb_send snd = mksend("postfix", q, "m@lists.example.org", r, t);
                int tx = rand() % 2;
                if (tx) assert_int_equal(rb_store_begin(st, &err), RB_OK);
                assert_int_equal(rb_store_sends_insert_n(st, &snd, 1, NULL, &err), RB_OK);
                if (tx) assert_int_equal(rb_store_commit(st, &err), RB_OK);
            } else {
                rb_record b[2] = {rec(r, why[rand() % 5], t), rec(r, why[rand() % 5], t + 60 * (rand() % 3))};
                if (rand() % 4 == 0) strcpy(b[1].alert, "backscatter");
                int nb = 1 + rand() % 2;
                apply(st, b, nb, 1, 1 + rand() % 2, NULL, NULL);
            }
        }
        char *kept = dump(st);
        assert_int_equal(rb_store_rollup_rebuild(st, &err), RB_OK);
        char *rebuilt = dump(st);
        assert_string_equal(kept, rebuilt);
        assert_true(strlen(strstr(kept, "-- 1\n")) > 20);           /* some sends were counted */
        g_free(kept);
        g_free(rebuilt);
        rb_store_close(st);
    }
}

static void test_delay_buckets(void **state)
{
    (void)state;
    int last = -1;
    for (int64_t d = 0; d < 40000000; d += d < 5000 ? 1 : 997) {
        int b = rb_delay_bucket(d);
        assert_true(b >= last && b < RB_DELAY_BUCKETS);   /* in order */
        last = b;
        int64_t v = rb_delay_bucket_value(b);
        if (d < 64) assert_int_equal(v, d);               /* exact below 64 s */
        else if (d < (1 << 25)) assert_true(llabs(v - d) * 32 <= d);   /* within 1/32 up to a year */
    }
    assert_int_equal(rb_delay_bucket(-5), 0);
}

int main(void)
{
    const char *backend = getenv("REBOUND_TEST_BACKEND");
    if (backend && !strcmp(backend, "pg")) {
        const char *pg = getenv("REBOUND_TEST_PG");
        if (!pg || !*pg) {
            fprintf(stderr, "SKIP: REBOUND_TEST_PG is not set: no PostgreSQL server to test against "
                            "(tests/pg-server.sh start DIR prints one; tests/run-all.sh starts it)\n");
            return 77;
        }
    } else {
        unsetenv("REBOUND_TEST_PG");
        snprintf(tmpdir, sizeof tmpdir, "/tmp/rebound-test-store-XXXXXX");
        if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_migrate),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_import_keeps_existing),
        cmocka_unit_test(test_hard_disables),
        cmocka_unit_test(test_soft_day29),
        cmocka_unit_test(test_soft_day30),
        cmocka_unit_test(test_soft_day31),
        cmocka_unit_test(test_soft_out_of_order),
        cmocka_unit_test(test_quarantine_expiry),
        cmocka_unit_test(test_blocked_never_disables),
        cmocka_unit_test(test_hard_after_soft),
        cmocka_unit_test(test_complaint_and_unsubscribed),
        cmocka_unit_test(test_never_unsubscribes),
        cmocka_unit_test(test_delivery_resets),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_unknown_and_invalid),
        cmocka_unit_test(test_check_equals_commit),
        cmocka_unit_test(test_queue_rebuild),
        cmocka_unit_test(test_field_roundtrip),
        cmocka_unit_test(test_event_evidence_rule),
        cmocka_unit_test(test_migrate_v2_events),
        cmocka_unit_test(test_original_recipient_match),
        cmocka_unit_test(test_sends_twice),
        cmocka_unit_test(test_rollups_kept_equal_rebuilt),
        cmocka_unit_test(test_delay_buckets),
    };
    int rc = cmocka_run_group_tests_name(backend && !strcmp(backend, "pg") ? "store-postgresql" : "store-sqlite",
                                         tests, NULL, NULL);
    if (tmpdir[0]) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    }
    return rc;
}
