/* testlib.h -- helpers for the unit tests: analyse a message given as a
 * string (the project's own samples are written inline in the tests) and
 * look at the records. */
#ifndef REBOUND_TESTLIB_H
#define REBOUND_TESTLIB_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "rebound.h"

/* The shared context, loaded from $REBOUND_DATADIR (set by meson). */
static inline rb_ctx *test_ctx(void)
{
    static rb_ctx *ctx;
    if (!ctx) {
        rb_error err = {{0}};
        rb_ctx_opts o = {.datadir = getenv("REBOUND_DATADIR")};
        if (rb_ctx_new(&o, &ctx, &err) != RB_OK) fail_msg("cannot load data files: %s", err.msg);
    }
    return ctx;
}

/* Analyse a message text; LF line endings in the literal are fine. */
static inline rb_result *test_analyze(const char *msg)
{
    static rb_result res;
    static int init;
    if (!init) { rb_result_init(&res); init = 1; }
    rb_error err = {{0}};
    rb_status st = rb_analyze_message(test_ctx(), msg, strlen(msg), "test.eml", NULL, &res, &err);
    if (st != RB_OK) fail_msg("analyze failed: %s", err.msg);
    return &res;
}

/* Assert the result has exactly n records. */
#define assert_records(res, count) assert_int_equal((res)->n, (count))

/* Assert one record's recipient/reason/status (NULL = don't check). */
static inline void assert_rec(const rb_result *res, size_t i, const char *rcpt, const char *reason,
                              const char *status)
{
    assert_true(i < res->n);
    const rb_record *r = &res->recs[i];
    if (rcpt) assert_string_equal(r->recipient, rcpt);
    if (reason) assert_string_equal(r->reason, reason);
    if (status) assert_string_equal(r->status, status);
}

/* Assert which format module decoded record i. */
static inline void assert_by(const rb_result *r, size_t i, const char *by)
{
    assert_true(i < r->n);
    assert_string_equal(r->recs[i].decoded_by, by);
}

#endif
