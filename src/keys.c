/* keys.c -- `rebound keys`: the status API's keys, one per provider.
 *
 *   rebound keys add NAME      a new random key, printed once (only its hash is stored)
 *   rebound keys list          names, when made, last used, revoked
 *   rebound keys revoke NAME   the key stops working (within a second for a running server)
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "rebound_api.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: rebound keys add NAME    [--db URL]\n"
            "       rebound keys list        [--db URL]\n"
            "       rebound keys revoke NAME [--db URL]\n\n"
            "Keys of the status API (rebound serve), one per provider.  NAME (1 to 63 of\n"
            "A-Z a-z 0-9 . _ - : +) is also the provider_source stored when a request gives\n"
            "none.  `add` prints the new key once on standard output; only its SHA-256 is\n"
            "stored, so it cannot be shown again: a lost key is revoked and added again.\n"
            "A running server sees new and revoked keys within a second.\n\n"
            "  --db URL   store: a SQLite file or postgresql://... (default $REBOUND_DB,\n"
            "             else rebound.db)\n\n"
            "Exit status: 0 done; 1 no such key (revoke) or the name is taken (add);\n"
            "64 usage; 75 the store failed.  See rebound-keys(1).\n");
}

typedef struct {
    size_t n;
} list_ctx;

static int print_key(void *arg, const rb_api_key *k)
{
    list_ctx *lc = arg;
    char c[32], u[32], r[32];
    if (!lc->n++) printf("%-24s %-20s %-20s %s\n", "NAME", "CREATED", "LAST USED", "REVOKED");
    printf("%-24s %-20s %-20s %s\n", k->name, fmt_time(k->created_at, c, sizeof c),
           k->last_used_at ? fmt_time(k->last_used_at, u, sizeof u) : "never",
           k->revoked_at ? fmt_time(k->revoked_at, r, sizeof r) : "-");
    return 0;
}

int cmd_keys(int argc, char **argv)
{
    enum { O_DB = 256 };
    static const struct option lo[] = {
        {"db", required_argument, 0, O_DB}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    const char *db = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case O_DB: db = optarg; break;
        case 'h': help(stdout); return 0;
        default: help(stderr); return EX_USAGE_;
        }
    }
    if (optind >= argc) { help(stderr); return EX_USAGE_; }
    const char *sub = argv[optind++];
    int want_name = !strcmp(sub, "add") || !strcmp(sub, "revoke");
    if (!want_name && strcmp(sub, "list") != 0) {
        fprintf(stderr, "rebound keys: unknown subcommand '%s' (add, list, revoke)\n", sub);
        return EX_USAGE_;
    }
    if (argc - optind != want_name) {
        fprintf(stderr, "rebound keys %s: %s\n", sub, want_name ? "expected one NAME" : "takes no arguments");
        return EX_USAGE_;
    }
    const char *name = want_name ? argv[optind] : NULL;
    if (name && !rb_api_name_valid(name)) {
        fprintf(stderr, "rebound keys: invalid name '%s': 1 to %d characters of A-Z a-z 0-9 . _ - : +\n", name,
                RB_API_NAME_MAX - 1);
        return EX_USAGE_;
    }
    rb_store *st = open_store("keys", db);
    if (!st) return EX_TEMPFAIL_;
    rb_error err = {{0}};
    int rc = 0;
    int64_t now = (int64_t)time(NULL);
    if (!strcmp(sub, "add")) {
        char key[RB_API_KEY_LEN + 1], hex[RB_API_HASH_LEN + 1];
        rb_status s = rb_api_key_new(key, sizeof key, &err);
        if (s == RB_OK) {
            rb_api_key_hash(key, strlen(key), hex);
            s = rb_store_api_key_add(st, name, hex, now, &err);
        }
        if (s == RB_OK) {
            printf("%s\n", key);
            fflush(stdout);
            fprintf(stderr, "rebound keys: key '%s' added; it is shown only now: give it to the provider "
                            "(header X-Contact-Provider-Key)\n", name);
        } else {
            fprintf(stderr, "rebound keys add: %s\n", err.msg);
            rc = s == RB_ERR_ARG ? EX_FAIL : EX_TEMPFAIL_;
        }
        memset(key, 0, sizeof key);
    } else if (!strcmp(sub, "revoke")) {
        int revoked = 0;
        if (rb_store_api_key_revoke(st, name, now, &revoked, &err) != RB_OK) {
            fprintf(stderr, "rebound keys revoke: %s\n", err.msg);
            rc = EX_TEMPFAIL_;
        } else if (!revoked) {
            fprintf(stderr, "rebound keys revoke: no active key named '%s'\n", name);
            rc = EX_FAIL;
        } else
            printf("key '%s' revoked\n", name);
    } else {
        list_ctx lc = {0};
        if (rb_store_api_keys_each(st, 0, print_key, &lc, &err) != RB_OK) {
            fprintf(stderr, "rebound keys list: %s\n", err.msg);
            rc = EX_TEMPFAIL_;
        } else if (!lc.n)
            printf("no keys; add one with: rebound keys add NAME\n");
    }
    rb_store_close(st);
    return rc;
}
