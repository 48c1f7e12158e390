/* fuzz_api.c -- libFuzzer target for the status API's request bodies
 * (lib/share/api_*.c): form-encoded and JSON parsing and validation, what a status
 * becomes (rules and policy), and the JSON answers.
 *
 * The first input byte chooses the Content-Type (form, JSON, none: sniffed,
 * or something else: refused); the rest is the body.  Besides memory errors
 * the target checks the parser's promises and aborts when one is broken: an
 * accepted update has an address that normalises to its email_norm, a status
 * in range, fields that are valid UTF-8 without control characters, and
 * every answer built from it is JSON that jansson reads back; a refusal
 * names a code of 400 or 415 and a message. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rebound.h"
#include "rebound_api.h"
#include "rebound_store.h"

static rb_ctx *ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    rb_error err;
    rb_ctx_opts o = {.datadir = getenv("REBOUND_DATADIR")};
    if (rb_ctx_new(&o, &ctx, &err) != RB_OK) abort();   /* REBOUND_DATADIR must point at data/ */
    return 0;
}

static void must_parse_json(const rb_buf *b)
{
    json_error_t je;
    json_t *j = json_loadb(b->buf, b->len, JSON_DECODE_ANY, &je);
    if (!j) {
        fprintf(stderr, "answer is not JSON (%s): %.*s\n", je.text, (int)b->len, b->buf);
        abort();
    }
    json_decref(j);
}

static void clean_text(const char *s, const char *what)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7F) {
            fprintf(stderr, "%s holds a control character\n", what);
            abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static const char *const types[] = {"application/x-www-form-urlencoded", "application/json; charset=utf-8", NULL,
                                        "text/plain"};
    const char *ctype = types[data[0] & 3];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    static rb_api_update u;
    rb_api_error e;
    const int64_t now = 1790812800;
    int rc = rb_api_parse_update(ctype, body, len, now, &u, &e);
    rb_buf b;
    rb_buf_init(&b);
    if (rc) {
        if ((rc != 400 && rc != 415) || !e.msg[0]) abort();
        if (rb_api_error_json(&b, e.field, e.msg)) abort();
        must_parse_json(&b);
        rb_buf_free(&b);
        return 0;
    }
    char norm[RB_ADDR_MAX];
    if (!rb_email_normalize(u.email, norm, sizeof norm) || strcmp(norm, u.email_norm) != 0) abort();
    if (u.status < 0 || u.status >= RB_API_NSTATUS) abort();
    clean_text(u.status_message, "status_message");
    clean_text(u.provider, "provider");
    clean_text(u.provider_source, "provider_source");
    clean_text(u.status_code, "status_code");
    rb_api_prepare(ctx, &u, "api:fuzz", "fuzz", now);
    if (!u.rec.reason[0] || strcmp(u.rec.recipient, u.email) != 0) abort();
    rb_api_result r;
    memset(&r, 0, sizeof r);
    r.ok = 1;
    r.decision = "disabled";
    r.old_status = RB_CS_ACTIVE;
    r.new_status = RB_CS_BOUNCED;
    rb_strlcpy(r.reason, u.rec.reason, sizeof r.reason);
    rb_strlcpy(r.bounce_type, u.rec.bounce_type, sizeof r.bounce_type);
    rb_strlcpy(r.note, u.status_message, sizeof r.note);
    if (rb_api_result_json(&b, &u, &r)) abort();
    must_parse_json(&b);
    /* the raw body as one JSON string, whatever its bytes */
    b.len = 0;
    char *raw = malloc(len + 1);
    if (!raw) return 0;
    memcpy(raw, body, len);
    raw[len] = '\0';
    if (rb_json_str(&b, raw)) abort();
    must_parse_json(&b);
    free(raw);
    rb_buf_free(&b);
    return 0;
}
