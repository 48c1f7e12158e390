/* classify.c -- the smallest program on librebound's public API.
 *
 * Reads one bounce message from a file, analyses it and prints, for each
 * failed recipient, the recipient, the reason and the bounce type:
 *
 *     $ cc -o classify classify.c $(pkg-config --cflags --libs rebound)
 *     $ ./classify bounce.eml
 *     user@example.org	userunknown	hard	5.1.1
 *
 * Usage: classify FILE [DATADIR]
 * DATADIR holds rules.conf, policy.conf and providers.conf; without it the
 * library's default (the installed share/rebound, or $REBOUND_DATADIR) is
 * used.  Exit status: 0 a bounce, 1 not a bounce, 2 an error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rebound.h>

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *bigger = realloc(buf, cap *= 2);
            if (!bigger) free(buf);
            buf = bigger;
        }
    }
    if (buf && ferror(f)) { free(buf); buf = NULL; }
    fclose(f);
    *len = n;
    return buf;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s FILE [DATADIR]\n", argv[0]);
        return 2;
    }
    size_t len;
    char *data = slurp(argv[1], &len);
    if (!data) { perror(argv[1]); return 2; }

    /* rules, policy and provider table: compiled once, read-only after */
    char rules[4096], policy[4096], providers[4096];
    rb_ctx_opts opts = { 0 };
    if (argc == 3) {
        snprintf(rules, sizeof rules, "%s/rules.conf", argv[2]);
        snprintf(policy, sizeof policy, "%s/policy.conf", argv[2]);
        snprintf(providers, sizeof providers, "%s/providers.conf", argv[2]);
        opts.rules_path = rules;
        opts.policy_path = policy;
        opts.providers_path = providers;
    }
    rb_error err = { { 0 } };
    rb_ctx *ctx;
    if (rb_ctx_new(&opts, &ctx, &err) != RB_OK) {
        fprintf(stderr, "%s\n", err.msg);
        free(data);
        return 2;
    }

    rb_result res;
    rb_result_init(&res);
    int rc = 2;
    if (rb_analyze_message(ctx, data, len, argv[1], NULL, &res, &err) != RB_OK) {
        fprintf(stderr, "%s: %s\n", argv[1], err.msg);
    } else if (!res.is_bounce) {
        printf("not a bounce%s%s\n", res.note[0] ? ": " : "", res.note);
        rc = 1;
    } else {
        for (size_t i = 0; i < res.n; i++) {
            const rb_record *r = &res.recs[i];
            printf("%s\t%s\t%s\t%s\n", r->recipient, r->reason, r->bounce_type, r->status);
        }
        rc = 0;
    }
    rb_result_free(&res);
    rb_ctx_free(ctx);
    free(data);
    return rc;
}
