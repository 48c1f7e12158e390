/* fuzz_verp.c -- libFuzzer target for VERP decoding and signed-VERP
 * verification (the part of `rebound pipe` an attacker controls: the
 * envelope recipient and the bounce text).  The input, as a string, goes
 * through rb_verp_decode, rb_verp_signed_decode and rb_verp_verify with a
 * fixed secret, and as a message through the "Authenticated sender" scan.
 * Besides memory errors the target aborts when a promise breaks:
 *   - no input verifies: a forgery the fuzzer finds without the secret
 *     means a broken comparison;
 *   - verify and signed_decode agree on the form and on the recipient;
 *   - what a signed address names signs again, and the new address
 *     verifies and decodes to the same recipient (also by rb_verp_decode,
 *     the decoder analyze uses);
 *   - a plain decode gives one '@' with a non-empty user and domain. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rebound.h"
#include "rebound_guard.h"

#define T0 1800000000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static rb_verp_key key;
    static int init;
    if (!init) {
        rb_error err;
        if (rb_verp_key_set(&key, "fuzz-secret-0123456789", 22, &err) != RB_OK) abort();
        init = 1;
    }
    char s[1200];
    size_t n = size < sizeof s - 1 ? size : sizeof s - 1;
    memcpy(s, data, n);
    s[n] = '\0';

    char r1[RB_ADDR_MAX], r2[RB_ADDR_MAX], r3[RB_ADDR_MAX];
    int c = rb_verp_verify(&key, s, T0, 60, r1, sizeof r1);
    if (c == RB_VERP_VALID || c == RB_VERP_EXPIRED) abort();
    int sd = rb_verp_signed_decode(s, r2, sizeof r2);
    if (sd != (c != RB_VERP_NOT_SIGNED)) abort();
    if (sd) {
        if (strcmp(r1, r2) != 0) abort();
        char a[RB_ADDR_MAX * 2];
        rb_error err;
        if (rb_verp_sign(&key, "bounce", "b.example.org", r2, T0, a, sizeof a, &err) != RB_OK) abort();
        if (rb_verp_verify(&key, a, T0 + 86400, 60, r3, sizeof r3) != RB_VERP_VALID || strcmp(r3, r2) != 0) abort();
        if (!rb_verp_decode(a, r3, sizeof r3) || strcmp(r3, r2) != 0) abort();
    }
    if (rb_verp_decode(s, r3, sizeof r3)) {
        const char *at = strchr(r3, '@');
        if (!at || at == r3 || !at[1] || strchr(at + 1, '@')) abort();
    }
    char out[RB_ADDR_MAX];
    if (rb_guard_auth_sender((const char *)data, size, out, sizeof out)) {
        if (!out[0] || strlen(out) >= sizeof out) abort();
        const char *d[] = {"bounce.example.org"};
        (void)rb_guard_domain_is_ours(out, d, 1);
    }
    return 0;
}
