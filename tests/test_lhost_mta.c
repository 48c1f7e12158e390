/* test_lhost_mta.c -- unit tests for lib/lhost_mta.c, on samples written for the tests. */
#include "testlib.h"

/* A message that is no bounce at all gives no record. */
static void test_plain_mail_is_not_a_bounce(void **state)
{
    (void)state;
    rb_result *r = test_analyze("From: alice@example.org\nTo: bob@example.net\nSubject: lunch\n\nSee you at noon.\n");
    assert_records(r, 0);
    assert_false(r->is_bounce);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_mail_is_not_a_bounce),
    };
    return cmocka_run_group_tests_name("lhost_mta", tests, NULL, NULL);
}
