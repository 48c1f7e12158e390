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

/* The options of sign and verify (one table: --domain and --prefix are
 * sign's, --max-age-days verify's). */
typedef struct {
    const char *secret, *domain, *prefix;
    int64_t now;
    long max_age;
    char **args;     /* the positional arguments */
    int nargs;
} opts;

static int parse(int argc, char **argv, opts *o, int sign)
{
    memset(o, 0, sizeof *o);
    o->max_age = 60;
    o->prefix = "bounce";
    const opt_desc sign_opts[] = {
        {OPT_STRING, "secret-file", 0, &o->secret},
        {OPT_STRING, "domain", 0, &o->domain},
        {OPT_STRING, "prefix", 0, &o->prefix},
        {OPT_TIME, "now", 0, &o->now},
        {0},
    };
    const opt_desc verify_opts[] = {
        {OPT_STRING, "secret-file", 0, &o->secret},
        {OPT_TIME, "now", 0, &o->now},
        {OPT_LONG, "max-age-days", 0, &o->max_age, .min = 0, .max = 1000},
        {0},
    };
    o->nargs = opt_parse(sign ? "verp sign" : "verp verify", sign ? sign_opts : verify_opts, argc - 1, argv + 1,
                         &o->args);
    if (o->nargs < 0) return -1;
    const char *miss = !o->secret ? "--secret-file FILE is required"
                       : sign && !o->domain ? "--domain DOMAIN is required"
                       : o->nargs == 0 ? (sign ? "no RECIPIENT given" : "no ADDRESS given") : NULL;
    if (miss) {
        fprintf(stderr, "rebound verp %s: %s (see `rebound verp --help`)\n", sign ? "sign" : "verify", miss);
        return -1;
    }
    return 0;
}

static int sign_or_verify(int argc, char **argv, int sign)
{
    opts o;
    if (parse(argc, argv, &o, sign) < 0) return EX_USAGE_;
    rb_verp_key key;
    rb_error err = {{0}};
    if (rb_verp_key_load(o.secret, &key, &err) != RB_OK) {
        fprintf(stderr, "rebound verp: %s\n", err.msg);
        return EX_NOINPUT_;
    }
    int rc = 0;
    for (int j = 0; j < o.nargs; j++) {
        const char *arg = o.args[j];
        char out[RB_ADDR_MAX * 2];
        if (sign) {
            if (rb_verp_sign(&key, o.prefix, o.domain, arg, o.now, out, sizeof out, &err) != RB_OK) {
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
            int c = rb_verp_verify(&key, arg, o.now, (int)o.max_age, out, sizeof out);
            if (c == RB_VERP_VALID) {
                printf("%s\n", out);
            } else {
                rc = 1;
                if (c == RB_VERP_NOT_SIGNED)
                    fprintf(stderr, "rebound verp: %s: not a signed return path (PREFIX-user=domain-TAG@host)\n",
                            arg);
                else if (c == RB_VERP_EXPIRED)
                    fprintf(stderr, "rebound verp: %s: signature expired (older than %ld days)\n", arg, o.max_age);
                else
                    fprintf(stderr, "rebound verp: %s: forged: the signature does not verify\n", arg);
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
        const opt_desc dopts[] = {{0}};
        char **pos;
        int npos = opt_parse("verp decode", dopts, argc - 1, argv + 1, &pos);
        if (npos < 0) return EX_USAGE_;
        if (npos == 0) {
            fprintf(stderr, "rebound verp decode: no ADDRESS given (see `rebound verp --help`)\n");
            return EX_USAGE_;
        }
        int rc = 0;
        for (int i = 0; i < npos; i++) {
            char out[RB_ADDR_MAX];
            if (rb_verp_decode(pos[i], out, sizeof out)) printf("%s\n", out);
            else { fprintf(stderr, "rebound verp: %s: not a VERP address (PREFIX+user=domain@host)\n", pos[i]); rc = 1; }
        }
        return rc;
    }
    if (!strcmp(argv[1], "encode")) {
        const char *prefix = "bounce", *domain = NULL;
        const opt_desc eopts[] = {
            {OPT_STRING, "prefix", 0, &prefix},
            {OPT_STRING, "domain", 0, &domain},
            {0},
        };
        char **pos;
        int npos = opt_parse("verp encode", eopts, argc - 1, argv + 1, &pos);
        if (npos < 0) return EX_USAGE_;
        if (!domain || npos != 1) {
            fprintf(stderr, "rebound verp encode: %s (see `rebound verp --help`)\n",
                    !domain ? "--domain DOMAIN is required" : "expected one RECIPIENT");
            return EX_USAGE_;
        }
        const char *rcpt = pos[0];
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
    fprintf(stderr, "rebound verp: unknown subcommand '%s' (decode, encode, sign, verify; see `rebound verp --help`)\n",
            argv[1]);
    return EX_USAGE_;
}
