/* verp.c -- `rebound verp`: encode and decode VERP return paths; sign and
 * verify the signed form (rebound_guard.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "rebound_guard.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: rebound verp encode [--prefix LOCAL] --domain DOMAIN RECIPIENT\n"
            "       rebound verp decode ADDRESS...\n"
            "       rebound verp sign --secret-file FILE --domain DOMAIN [--prefix LOCAL] [--now TIME] RECIPIENT...\n"
            "       rebound verp verify --secret-file FILE [--max-age-days N] [--now TIME] ADDRESS...\n\n"
            "VERP folds the recipient into the return path so that a bounce names it even\n"
            "when the bounce itself does not:\n"
            "  encode: list+user=example.com@bounces.example.org   (prefix 'list'; default 'bounce')\n"
            "  decode: list+user=example.com@bounces.example.org -> user@example.com\n"
            "Signed return paths also prove that a bounce answers mail we really sent:\n"
            "  sign:   bounce-user=example.com-TAG@bounces.example.org, TAG = 2 characters of the\n"
            "          day and 10 of HMAC-SHA256 with the secret (the file's bytes, at least 16;\n"
            "          make one with: head -c 32 /dev/urandom | base64 > FILE)\n"
            "  verify: prints the recipient when the tag is right (and not older than\n"
            "          --max-age-days, default 60; 0 = never expires), else an error\n"
            "  decode names the recipient of a signed path too, without checking it.\n\n"
            "Postfix: `rebound postfix-config` prints the catch-all set-up.\n"
            "Exit status: 0 ok; 1 an address is not a VERP address, or does not verify;\n"
            "64 usage; 66 the secret file cannot be read.\n");
}

/* Shared options of sign and verify. */
typedef struct {
    const char *secret, *domain, *prefix;
    int64_t now;
    int max_age;
    int first;       /* first positional argument */
} opts;

static int parse(int argc, char **argv, opts *o, int sign)
{
    memset(o, 0, sizeof *o);
    o->max_age = 60;
    o->prefix = "bounce";
    int i = 2;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) { i++; break; }
        if (a[0] != '-') break;
        if (i + 1 >= argc) { fprintf(stderr, "rebound verp: %s needs a value\n", a); return -1; }
        const char *v = argv[++i];
        if (!strcmp(a, "--secret-file")) o->secret = v;
        else if (sign && !strcmp(a, "--domain")) o->domain = v;
        else if (sign && !strcmp(a, "--prefix")) o->prefix = v;
        else if (!strcmp(a, "--now")) {
            if (!rb_time_parse(v, &o->now)) {
                fprintf(stderr, "rebound verp: --now: cannot read '%s' as a time\n", v);
                return -1;
            }
        } else if (!sign && !strcmp(a, "--max-age-days")) {
            char *end;
            long n = strtol(v, &end, 10);
            if (*end || n < 0 || n > 1000) {
                fprintf(stderr, "rebound verp: --max-age-days takes 0..1000\n");
                return -1;
            }
            o->max_age = (int)n;
        } else {
            fprintf(stderr, "rebound verp: unknown option %s\n", a);
            return -1;
        }
    }
    o->first = i;
    if (!o->secret) { fprintf(stderr, "rebound verp: --secret-file FILE is required\n"); return -1; }
    if (sign && !o->domain) { fprintf(stderr, "rebound verp: --domain DOMAIN is required\n"); return -1; }
    if (i >= argc) { fprintf(stderr, "rebound verp: no %s given\n", sign ? "RECIPIENT" : "ADDRESS"); return -1; }
    return 0;
}

static int sign_or_verify(int argc, char **argv, int sign)
{
    opts o;
    if (parse(argc, argv, &o, sign) < 0) { help(stderr); return EX_USAGE_; }
    rb_verp_key key;
    rb_error err = {{0}};
    if (rb_verp_key_load(o.secret, &key, &err) != RB_OK) {
        fprintf(stderr, "rebound verp: %s\n", err.msg);
        return EX_NOINPUT_;
    }
    int rc = 0;
    for (int i = o.first; i < argc; i++) {
        char out[RB_ADDR_MAX * 2];
        if (sign) {
            if (rb_verp_sign(&key, o.prefix, o.domain, argv[i], o.now, out, sizeof out, &err) != RB_OK) {
                fprintf(stderr, "rebound verp: %s\n", err.msg);
                rc = 1;
                continue;
            }
            const char *at = strrchr(out, '@');
            if (at - out > 64)
                fprintf(stderr, "rebound verp: note: %s has a local part of %d characters; RFC 5321 "
                                "promises 64 (most MTAs take longer ones)\n", out, (int)(at - out));
            printf("%s\n", out);
        } else {
            int c = rb_verp_verify(&key, argv[i], o.now, o.max_age, out, sizeof out);
            if (c == RB_VERP_VALID) {
                printf("%s\n", out);
            } else {
                rc = 1;
                if (c == RB_VERP_NOT_SIGNED)
                    fprintf(stderr, "rebound verp: %s: not a signed return path (PREFIX-user=domain-TAG@host)\n",
                            argv[i]);
                else if (c == RB_VERP_EXPIRED)
                    fprintf(stderr, "rebound verp: %s: signature expired (older than %d days)\n", argv[i], o.max_age);
                else
                    fprintf(stderr, "rebound verp: %s: forged: the signature does not verify\n", argv[i]);
            }
        }
    }
    memset(&key, 0, sizeof key);
    return rc;
}

int cmd_verp(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        help(argc < 2 ? stderr : stdout);
        return argc < 2 ? EX_USAGE_ : 0;
    }
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { help(stdout); return 0; }
    if (!strcmp(argv[1], "decode")) {
        if (argc < 3) { help(stderr); return EX_USAGE_; }
        int rc = 0;
        for (int i = 2; i < argc; i++) {
            char out[RB_ADDR_MAX];
            if (rb_verp_decode(argv[i], out, sizeof out)) printf("%s\n", out);
            else { fprintf(stderr, "rebound verp: %s: not a VERP address (PREFIX+user=domain@host)\n", argv[i]); rc = 1; }
        }
        return rc;
    }
    if (!strcmp(argv[1], "encode")) {
        const char *prefix = "bounce", *domain = NULL, *rcpt = NULL;
        for (int i = 2; i < argc; i++) {
            if (!strcmp(argv[i], "--prefix") && i + 1 < argc) prefix = argv[++i];
            else if (!strcmp(argv[i], "--domain") && i + 1 < argc) domain = argv[++i];
            else if (argv[i][0] != '-' && !rcpt) rcpt = argv[i];
            else { help(stderr); return EX_USAGE_; }
        }
        if (!domain || !rcpt) { help(stderr); return EX_USAGE_; }
        char out[RB_ADDR_MAX];
        if (!rb_verp_encode(prefix, domain, rcpt, out, sizeof out)) {
            fprintf(stderr, "rebound verp: %s: not an e-mail address\n", rcpt);
            return 1;
        }
        printf("%s\n", out);
        return 0;
    }
    if (!strcmp(argv[1], "sign")) return sign_or_verify(argc, argv, 1);
    if (!strcmp(argv[1], "verify")) return sign_or_verify(argc, argv, 0);
    fprintf(stderr, "rebound verp: unknown subcommand '%s'\n", argv[1]);
    help(stderr);
    return EX_USAGE_;
}
