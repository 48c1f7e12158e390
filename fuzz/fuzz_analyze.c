/* fuzz_analyze.c -- libFuzzer target over the whole message analyser:
 * GMime walk, every format module, rules and policy. */
#include <stdint.h>
#include <stdlib.h>

#include "rebound.h"

static rb_ctx *ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    rb_error err;
    rb_ctx_opts o = {.datadir = getenv("REBOUND_DATADIR")};
    if (rb_ctx_new(&o, &ctx, &err) != RB_OK) abort();   /* REBOUND_DATADIR must point at data/ */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rb_result res;
    rb_result_init(&res);
    rb_error err;
    rb_analyze_message(ctx, (const char *)data, size, "fuzz", NULL, &res, &err);
    rb_buf b;
    rb_buf_init(&b);
    for (size_t i = 0; i < res.n; i++) rb_record_to_jsonl(&res.recs[i], &b);
    rb_buf_free(&b);
    rb_result_free(&res);
    return 0;
}
