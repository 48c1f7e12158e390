/* cli.h -- what the subcommands of the rebound command share. */
#ifndef REBOUND_CLI_H
#define REBOUND_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "options.h"
#include "rebound.h"

/* sysexits(3) codes the commands use */
#define EX_OK_ 0
#define EX_FAIL 1          /* some input could not be processed */
#define EX_USAGE_ 64
#define EX_DATAERR_ 65
#define EX_NOINPUT_ 66
#define EX_SOFTWARE_ 70
#define EX_TEMPFAIL_ 75
#define EX_CONFIG_ 78

typedef int (*cmd_fn)(int argc, char **argv);

int cmd_analyze(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_verp(int argc, char **argv);
int cmd_apply(int argc, char **argv);
int cmd_contacts(int argc, char **argv);
int cmd_queue(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_maillog(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_keys(int argc, char **argv);
int cmd_notify(int argc, char **argv);
int cmd_pipe(int argc, char **argv);
int cmd_postfix_config(int argc, char **argv);

/* Progress reporting on stderr: a line every `every` items, or a live bar
 * with rate and ETA when stderr is a terminal. */
typedef struct {
    unsigned long every;
    int tty;
    double start, last_draw;
    unsigned long last_line;
    const char *what;   /* "messages" */
} progress;

double now_seconds(void);
void progress_init(progress *p, unsigned long every, const char *what);
void progress_update(progress *p, unsigned long n, uint64_t done_bytes, uint64_t total_bytes);
void progress_finish(progress *p, unsigned long n);

/* Parse "jsonl" / "csv" / "table"; returns -1 if unknown. */
int parse_format(const char *s);

/* The data directory in use (see cli.c). */
const char *data_dir(void);

/* Load rules/policy/providers, printing the error. Returns NULL on failure. */
rb_ctx *load_ctx(const char *rules, const char *policy, const char *providers);

/* Open an existing store (--db URL, else $REBOUND_DB, else [store] url,
 * else rebound.db), printing the error with the command's name and how to
 * create a missing one.  NULL on failure; store_exit() says the status. */
#include "rebound_store.h"
rb_store *open_store(const char *cmd, const char *url);

/* --resolve-mx: the MX resolver (NULL when not asked for, or on an error:
 * then *rc is 64 for a bad --dns-server); mx_summary() prints its figures
 * on standard error. */
rb_mx *open_mx(const char *cmd, int *rc);
void mx_summary(const char *cmd, const rb_mx *mx);
/* The same, creating the store when create is set; lock_timeout seconds
 * (0: $REBOUND_LOCK_TIMEOUT, else the store's default). */
rb_store *open_store_opts(const char *cmd, const char *url, int create, double lock_timeout);
/* The exit status for the last open_store failure: 66 no store, 78 a bad
 * URL, 75 anything else (locked, down: try again). */
int store_exit(void);
double lock_timeout_env(void);

/* "2026-06-23T10:00:00Z" (UTC) into buf; "" for 0. */
const char *fmt_time(int64_t t, char *buf, size_t len);

/* Split a comma-separated list in place into at most max items (empty
 * items dropped); returns the count. */
size_t split_list(char *s, const char **items, size_t max);

/* Print apply's summary: records by type x reason x decision, then totals. */
void print_apply_summary(const rb_apply_summary *s, int commit, unsigned long bad_rows, const rb_store *st);

/* Write s as one CSV field (quoted when needed). */
void csv_field(FILE *f, const char *s);

#endif
