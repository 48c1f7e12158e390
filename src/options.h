/* options.h -- declarative command-line options: one table per command.
 *
 * Each command describes its options as a table of opt_desc rows ending in
 * {0}; opt_parse() reads argv against it, stores each value where its row
 * points, and hands back the positional arguments.  The options every
 * command shares (--db, --config, --rules, --policy, --providers, -q,
 * --progress-every) sit in one table that a command pulls in with an
 * OPT_INHERIT row, so they are spelled, checked and documented once.
 *
 * Errors are one line on stderr naming the option, then
 * "see `rebound CMD --help`"; the caller returns 64 (EX_USAGE).
 *
 *     static const char *db;   static int all;
 *     const opt_desc opts[] = {
 *         {OPT_STRING, "output", 'o', &out},
 *         {OPT_FLAG, "all", 0, &all},
 *         {OPT_INHERIT, .inherit = shared_store_options},
 *         {0},
 *     };
 *     char **pos; int n = opt_parse("queue stats", opts, argc, argv, &pos);
 *     if (n == OPT_HELP) { help(stdout); return 0; }
 *     if (n < 0) return EX_USAGE_;
 */
#ifndef REBOUND_OPTIONS_H
#define REBOUND_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    OPT_END = 0,
    OPT_FLAG,      /* int *: set to 1 (or to .min when .min != 0) */
    OPT_STRING,    /* const char **: the last one given wins */
    OPT_LIST,      /* opt_list *: every one given, in order */
    OPT_ULONG,     /* unsigned long *: within [min, max] when max > 0 */
    OPT_LONG,      /* long *: within [min, max] when max > min */
    OPT_DOUBLE,    /* double *: >= 0 */
    OPT_TIME,      /* int64_t *: ISO 8601 time, date, or Unix seconds (rb_time_parse) */
    OPT_KEYWORD,   /* int *: one of .keywords */
    OPT_INHERIT,   /* the rows of .inherit, as if written here */
} opt_kind;

typedef struct {
    const char *name;
    int value;
} opt_keyword;

/* A repeatable option's values; v has room for max entries (argc is always
 * enough: each value takes one argv slot at least). */
typedef struct {
    const char **v;
    size_t n, max;
} opt_list;

typedef struct opt_desc {
    opt_kind kind;
    const char *name;               /* long name, without "--" */
    char letter;                    /* short form (-q), or 0 */
    void *out;
    const opt_keyword *keywords;    /* OPT_KEYWORD: {name, value} ..., {0} */
    long min, max;                  /* OPT_LONG / OPT_ULONG range; OPT_FLAG value */
    const struct opt_desc *inherit; /* OPT_INHERIT */
    int *given;                     /* set to 1 when the option was given */
} opt_desc;

/* Tables list the leading fields by position and leave the rest zero: that
 * is the point of a table, so the warning about it is off where tables are. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define OPT_HELP (-2)
#define OPT_ERROR (-1)

/* Parse argv[1..argc) against opts.  Options and positional arguments may
 * mix; "--" ends the options; "-" alone is positional (standard input).
 * Long options take their value as "--name=V" or "--name V"; a unique
 * prefix of a long name is accepted.  Returns the number of positional
 * arguments, stored in order at *pos (argv's own slots, reordered), or
 * OPT_HELP for -h/--help, or OPT_ERROR after printing one line. */
int opt_parse(const char *cmd, const opt_desc *opts, int argc, char **argv, char ***pos);

/* ---- the options all commands share ---------------------------------------
 * Filled by opt_parse through shared_options, then completed from the
 * environment and the configuration file by shared_finish(): the command
 * line wins over the environment, which wins over the file. */
typedef struct {
    const char *db;             /* --db, $REBOUND_DB, [store] url */
    const char *config;         /* --config, $REBOUND_CONFIG, /etc/rebound/rebound.conf */
    const char *datadir;        /* --datadir, $REBOUND_DATADIR, [data] dir */
    const char *rules, *policy, *providers;   /* --rules ..., [data] rules ... */
    int quiet;                  /* -q, --quiet */
    unsigned long progress_every;   /* --progress-every N */
    int resolve_mx;                 /* --resolve-mx */
    const char *dns_server;         /* --dns-server ADDR[:PORT] */
} shared_opts;

extern shared_opts opt_shared;

/* --db --config --datadir --rules --policy --providers -q --progress-every */
extern const opt_desc shared_options[];
/* --db --config: commands that only use the store */
extern const opt_desc shared_store_options[];
/* -q --progress-every: long-running commands */
extern const opt_desc shared_progress_options[];
/* --resolve-mx --dns-server: commands that set contacts' providers */
extern const opt_desc shared_mx_options[];

/* Read the configuration file (if any) and the environment into
 * opt_shared.  Returns 0, or 78 (EX_CONFIG) after printing the error. */
int shared_finish(const char *cmd);

/* A value of the configuration file ("notify", "url"), or NULL; valid
 * until exit.  shared_finish() must have run. */
const char *config_get(const char *group, const char *key);

#endif
