/* fuzz_reader.c -- libFuzzer target for the mbox splitter and message
 * reader: the input is written to a file and read back as an mbox or a
 * single message, then each message is analysed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "rebound.h"

static rb_ctx *ctx;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    rb_error err;
    rb_ctx_opts o = {.datadir = getenv("REBOUND_DATADIR")};
    if (rb_ctx_new(&o, &ctx, &err) != RB_OK) abort();
    snprintf(path, sizeof path, "/tmp/rebound-fuzz-reader.%d", (int)getpid());
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    const char *paths[1] = {path};
    rb_reader *rd;
    rb_error err;
    if (rb_reader_open(paths, 1, &rd, &err) != RB_OK) return 0;
    rb_result res;
    rb_result_init(&res);
    rb_rawmsg m;
    int r, guard = 0;
    while ((r = rb_reader_next(rd, &m, &err)) != 0 && guard++ < 10000)
        if (r > 0) rb_analyze_message(ctx, m.data, m.len, m.source, NULL, &res, &err);
    rb_result_free(&res);
    rb_reader_free(rd);
    return 0;
}
