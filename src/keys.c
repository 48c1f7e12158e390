/* keys.c -- `rebound keys`: the status API's keys, one per provider.
 *
 *   rebound keys add NAME      a new random key, printed once (only its hash is stored)
 *   rebound keys list          names, when made, last used, revoked
 *   rebound keys revoke NAME   the key stops working (within a second for a running server)
 *   rebound keys export        the active keys' names and hashes, for `rebound serve --keys FILE`
 *                              on a server that cannot read the store's api_keys table
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "cli.h"
#include "rebound_api.h"

#define EX_CANTCREAT_ 73

static void help(FILE *f)
{
    fprintf(f,
            "usage: rebound keys add NAME    [--db URL]\n"
            "       rebound keys list        [--db URL]\n"
            "       rebound keys revoke NAME [--db URL]\n"
            "       rebound keys export      [--db URL] [--output FILE]\n\n"
            "Keys of the status API (rebound serve), one per provider.  NAME (1 to 63 of\n"
            "A-Z a-z 0-9 . _ - : +) is also the provider_source stored when a request gives\n"
            "none.  `add` prints the new key once on standard output; only its SHA-256 is\n"
            "stored, so it cannot be shown again: a lost key is revoked and added again.\n"
            "A running server sees new and revoked keys within a second.\n"
            "`export` writes the active keys as lines NAME SHA256HEX (hashes only, no key)\n"
            "for `rebound serve --keys FILE` on a server without access to the store's keys.\n\n"
            "  --db URL       store: a SQLite file or postgresql://... (default $REBOUND_DB,\n"
            "                else rebound.db)\n"
            "  --output FILE  export: write FILE (mode 0600, replaced atomically) rather than\n"
            "                standard output\n\n"
            "Exit status: 0 done; 1 no such key (revoke) or the name is taken (add);\n"
            "64 usage; 73 the output file cannot be written; 75 the store failed.\n"
            "See rebound-keys(1).\n");
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

typedef struct {
    FILE *f;
    size_t n;
} export_ctx;

static int export_key(void *arg, const rb_api_key *k)
{
    export_ctx *ec = arg;
    fprintf(ec->f, "%s %s\n", k->name, k->hash);
    ec->n++;
    return 0;
}

/* Write the keys to output ("-" or NULL: standard output): a temporary file
 * of mode 0600 beside it, renamed over it, so a server re-reading it never
 * sees half a file.  Returns the exit status. */
static int export_keys(rb_store *st, const char *output)
{
    int to_stdout = !output || !strcmp(output, "-");
    char *tmp = NULL;
    FILE *f = stdout;
    if (!to_stdout) {
        size_t n = strlen(output) + 16;
        if (!(tmp = malloc(n))) return EX_SOFTWARE_;
        snprintf(tmp, n, "%s.tmpXXXXXX", output);
        int fd = mkstemp(tmp);      /* mode 0600 */
        if (fd < 0 || !(f = fdopen(fd, "w"))) {
            fprintf(stderr, "rebound keys export: cannot create %s: %s\n", tmp, strerror(errno));
            if (fd >= 0) { close(fd); unlink(tmp); }
            free(tmp);
            return EX_CANTCREAT_;
        }
    }
    time_t now = time(NULL);
    char t[32];
    fprintf(f, "# rebound keys export, %s: NAME SHA256HEX (hashes of the keys, not the keys); "
               "for rebound serve --keys FILE\n", fmt_time((int64_t)now, t, sizeof t));
    rb_error err = {{0}};
    export_ctx ec = {f, 0};
    rb_status s = rb_store_api_keys_each(st, 1, export_key, &ec, &err);
    int rc = 0;
    if (s != RB_OK) {
        fprintf(stderr, "rebound keys export: %s\n", err.msg);
        rc = EX_TEMPFAIL_;
    }
    if (!to_stdout) {
        int bad = ferror(f) | fflush(f) | fsync(fileno(f));
        bad |= fclose(f);
        if (!rc && bad) {
            fprintf(stderr, "rebound keys export: cannot write %s: %s\n", tmp, strerror(errno));
            rc = EX_CANTCREAT_;
        }
        if (!rc && rename(tmp, output) != 0) {
            fprintf(stderr, "rebound keys export: cannot rename %s to %s: %s\n", tmp, output, strerror(errno));
            rc = EX_CANTCREAT_;
        }
        if (rc) unlink(tmp);
        free(tmp);
    } else if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "rebound keys export: cannot write to standard output\n");
        rc = rc ? rc : EX_CANTCREAT_;
    }
    if (!rc)
        fprintf(stderr, "rebound keys export: %zu active key%s%s%s\n", ec.n, ec.n == 1 ? "" : "s",
                to_stdout ? "" : " written to ", to_stdout ? "" : output);
    return rc;
}

int cmd_keys(int argc, char **argv)
{
    const char *output = NULL;
    const opt_desc opts[] = {
        {OPT_STRING, "output", 'o', &output},
        {OPT_INHERIT, .inherit = shared_store_options},
        {0},
    };
    char **pos;
    int npos = opt_parse("keys", opts, argc, argv, &pos);
    if (npos == OPT_HELP) { help(stdout); return 0; }
    if (npos < 0) return EX_USAGE_;
    if (npos == 0) {
        fprintf(stderr, "rebound keys: no subcommand (add, list, revoke, export; see `rebound keys --help`)\n");
        return EX_USAGE_;
    }
    int rcf = shared_finish("keys");
    if (rcf) return rcf;
    const char *db = opt_shared.db;
    int next = 0;
    argc = npos;
    argv = pos;
    const char *sub = argv[next++];
    int want_name = !strcmp(sub, "add") || !strcmp(sub, "revoke");
    if (!want_name && strcmp(sub, "list") != 0 && strcmp(sub, "export") != 0) {
        fprintf(stderr, "rebound keys: unknown subcommand '%s' (add, list, revoke, export)\n", sub);
        return EX_USAGE_;
    }
    if (output && strcmp(sub, "export") != 0) {
        fprintf(stderr, "rebound keys %s: --output is for export\n", sub);
        return EX_USAGE_;
    }
    if (argc - next != want_name) {
        fprintf(stderr, "rebound keys %s: %s\n", sub, want_name ? "expected one NAME" : "takes no arguments");
        return EX_USAGE_;
    }
    const char *name = want_name ? argv[next] : NULL;
    if (name && !rb_store_key_name_valid(name)) {
        fprintf(stderr, "rebound keys: invalid name '%s': 1 to %d characters of A-Z a-z 0-9 . _ - : +\n", name,
                RB_API_NAME_MAX - 1);
        return EX_USAGE_;
    }
    rb_store *st = open_store("keys", db);
    if (!st) return store_exit();
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
    } else if (!strcmp(sub, "export")) {
        rc = export_keys(st, output);
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
