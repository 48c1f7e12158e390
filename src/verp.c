/* verp.c -- `rebound verp`: encode and decode VERP return paths. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: rebound verp encode [--prefix LOCAL] --domain DOMAIN RECIPIENT\n"
            "       rebound verp decode ADDRESS...\n\n"
            "VERP folds the recipient into the return path so that a bounce names it even\n"
            "when the bounce itself does not:\n"
            "  encode: list+user=example.com@bounces.example.org   (prefix 'list' by default 'bounce')\n"
            "  decode: list+user=example.com@bounces.example.org -> user@example.com\n\n"
            "Postfix: set recipient_delimiter = + on the bounce domain.\n"
            "Exit status: 0 ok; 1 an address is not a VERP address; 64 usage.\n");
}

int cmd_verp(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        help(argc < 2 ? stderr : stdout);
        return argc < 2 ? EX_USAGE_ : 0;
    }
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
    help(stderr);
    return EX_USAGE_;
}
