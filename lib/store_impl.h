/* store_impl.h -- what a store backend provides (store_sqlite.c, store_pg.c);
 * store.c dispatches the public rb_store_* calls to it.  Not installed.
 *
 * Two kinds of operations:
 *   - generic ones, written once in store.c as SQL both dialects accept
 *     ($1, $2 ... placeholders, text parameters, BIGINT/INTEGER columns,
 *     0/1 integers for booleans) and run through query();
 *   - the hot batch operations of `apply` and `contacts import`, which each
 *     backend implements the way it is fast (SQLite: cached prepared
 *     statements, one row at a time in process; PostgreSQL: one round trip
 *     per batch with arrays).
 */
#ifndef RB_STORE_IMPL_H
#define RB_STORE_IMPL_H

#include "rebound_store.h"

/* One result row: ncols text values (NULL for SQL NULL).  Return non-zero to
 * stop the iteration (query() then still returns RB_OK).  A callback must
 * not call back into the same store: on PostgreSQL the connection is busy
 * streaming the rows. */
typedef int (*rb_row_cb)(void *arg, int ncols, const char *const *vals);

typedef struct rb_store_ops {
    const char *name;
    rb_status (*open)(rb_store *st, const char *url, const rb_store_opts *o, rb_error *err);   /* sets st->h */
    void (*close)(rb_store *st);
    /* One or more statements without parameters (migrations, BEGIN, ...). */
    rb_status (*exec)(rb_store *st, const char *sql, rb_error *err);
    /* One statement with text parameters $1..$n; rows to cb (may be NULL).
     * Large results are streamed, not held in memory. */
    rb_status (*query)(rb_store *st, const char *sql, int nparams, const char *const *params,
                       rb_row_cb cb, void *arg, rb_error *err);

    rb_status (*contacts_load)(rb_store *st, const char *const *emails_norm, size_t n,
                               int for_update, rb_contact *out, int *found, rb_error *err);
    rb_status (*contacts_insert)(rb_store *st, rb_contact *cs, size_t n, int *inserted,
                                 rb_error *err);
    rb_status (*contacts_save)(rb_store *st, const rb_contact *cs, size_t n, rb_error *err);
    rb_status (*events_known)(rb_store *st, const char *const *keys, size_t n, int *known,
                              rb_error *err);
    rb_status (*events_insert)(rb_store *st, const rb_event *ev, size_t n, rb_error *err);
    rb_status (*soft_events)(rb_store *st, const int64_t *ids, size_t n, int64_t min_time,
                             rb_soft_cb cb, void *arg, rb_error *err);
    /* optional (NULL: nothing to do): rb_store_tune, rb_store_checkpoint */
    rb_status (*tune)(rb_store *st, int use, rb_error *err);
    rb_status (*checkpoint)(rb_store *st, long *wal_frames, long *done, rb_error *err);
} rb_store_ops;

struct rb_store {
    const rb_store_ops *ops;
    void *h;                 /* backend handle */
    int schema_version;
    int in_tx;
    struct rb_rollup *rollup;   /* the report rollups' deltas of this transaction (store_rollup.c) */
    char url[1024];          /* for messages; passwords masked */
};

/* store_rollup.c: the report's rollups, kept by the writers.  The deltas of
 * a transaction are written when it commits (rb_store_commit). */
typedef struct rb_rollup rb_rollup;
rb_status rb_store_rollup_events(rb_store *st, const rb_event *ev, size_t n, rb_error *err);
rb_status rb_store_rollup_flush(rb_store *st, rb_error *err);
void rb_store_rollup_discard(rb_store *st);
rb_status rb_store_rollup_fill(rb_store *st, rb_error *err);
/* the delay from a send's 250 to its NDR in buckets: exact below 64 s, then
 * 32 per doubling (within 3 %); the last holds a year and over */
#define RB_DELAY_BUCKETS (64 + 32 * 19)
int rb_delay_bucket(int64_t seconds);
int64_t rb_delay_bucket_value(int bucket);   /* the middle of the bucket */

extern const rb_store_ops rb_store_sqlite_ops;
extern const rb_store_ops rb_store_pg_ops;

/* The columns of a contact / event row, in the order contact_from_row()
 * and event_from_row() (store.c) read them.  Backends select these. */
#define RB_CONTACT_COLS \
    "id, email, email_norm, source, for_mailing, status, bounce_type, reason, status_code, " \
    "status_message, provider, provider_source, soft_count, soft_since, quarantine_until, " \
    "last_bounce_at, last_delivered_at, created_at, updated_at"
#define RB_CONTACT_NCOLS 19
#define RB_EVENT_COLS \
    "key, contact_id, event_time, applied_at, bounce_type, reason, status, reply_code, " \
    "decision, diagnostic, remote_mta, provider, source, evidence, rule, alert, account"
#define RB_EVENT_NCOLS 16

/* Fill a contact / event from a row of the columns above (store.c). */
void rb_contact_from_row(rb_contact *c, const char *const *vals);
void rb_event_from_row(rb_event *e, const char *const *vals);

/* Open the store migrated up to `version` only, not to the latest (tests:
 * a store of an older schema, made by the migrations that made it). */
rb_status rb_store_open_upto(const char *url, int version, rb_store **out, rb_error *err);   /* creates */

/* Mask the password of a postgresql:// URL for messages. */

#endif
