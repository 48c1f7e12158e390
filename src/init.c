/* init.c -- `rebound init`: create the store, the one explicit step that
 * makes one (besides `contacts import --create`).  Every other command
 * refuses a store that is not there, so a mistyped --db or a cron job in
 * the wrong directory fails loudly instead of starting an empty list. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: rebound init [--db URL] [--config FILE]\n\n"
            "Create the store at URL (a SQLite path, sqlite:PATH, or postgresql://...;\n"
            "default: $REBOUND_DB, [store] url of the configuration file, rebound.db)\n"
            "and bring its schema to this version.  On a store that is there already it\n"
            "only migrates it (if this rebound is newer) and says so.\n\n"
            "Exit status: 0 ok; 64 usage; 75 the store cannot be created or reached;\n"
            "78 an unknown kind of URL.\n");
}

int cmd_init(int argc, char **argv)
{
    const opt_desc opts[] = {
        {OPT_INHERIT, .inherit = shared_store_options},
        {0},
    };
    char **pos;
    int npos = opt_parse("init", opts, argc, argv, &pos);
    if (npos == OPT_HELP) { help(stdout); return 0; }
    if (npos < 0) return EX_USAGE_;
    if (npos > 0) {
        fprintf(stderr, "rebound init: unexpected argument '%s' (see `rebound init --help`)\n", pos[0]);
        return EX_USAGE_;
    }
    int rc = shared_finish("init");
    if (rc) return rc;
    /* there already?  (then only a migration can happen) */
    rb_store *st = NULL;
    rb_error err = {{0}};
    rb_status s = rb_store_open_opts(opt_shared.db ? opt_shared.db : "rebound.db", NULL, &st, &err);
    int existed = s == RB_OK;
    if (s == RB_ERR_CONFIG) {
        fprintf(stderr, "rebound init: %s\n", err.msg);
        return EX_CONFIG_;
    }
    if (!st && !(st = open_store_opts("init", opt_shared.db, 1, 0))) return store_exit();
    printf("%s: %s store (%s), schema version %d\n", opt_shared.db ? opt_shared.db : "rebound.db",
           existed ? "already there:" : "created", rb_store_backend(st), rb_store_schema_version(st));
    rb_store_close(st);
    return 0;
}
