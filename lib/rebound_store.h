/* rebound_store.h -- the contact store, the decision step (apply) and the
 * mailing queue; public part of librebound.
 *
 * One interface, two backends chosen by the URL given to rb_store_open():
 *   - a path (or sqlite:PATH): SQLite, one file, WAL, created on first use;
 *   - postgresql://... or postgres://...: PostgreSQL through libpq, for
 *     several sending servers sharing one store.
 * Both hold the same schema, applied by versioned migrations on open, and
 * behave the same; the same test suite runs against both.
 *
 * Times are seconds since the epoch (UTC).  Addresses are looked up by their
 * normalised form (rb_email_normalize).  As everywhere in librebound, nothing
 * prints and nothing exits: functions return an rb_status and fill rb_error.
 */
#ifndef REBOUND_STORE_H
#define REBOUND_STORE_H

#include <stdint.h>
#include "rebound.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- addresses ------------------------------------------------------------ */
/* Normalise an address for lookup: trim, strip <> and mailto:, lower-case.
 * Returns 1 and fills out when the result is a plausible address
 * (local@domain, no spaces or control characters, domain with a dot or an
 * address literal, at most 254 characters), 0 otherwise (out then holds a
 * short reason). */
int rb_email_normalize(const char *in, char *out, size_t outlen);

/* ---- contacts ------------------------------------------------------------- */
typedef enum {
    RB_CS_ACTIVE = 0,       /* mailed */
    RB_CS_BOUNCED,          /* hard bounce (or soft bounces past the quarantine): not mailed */
    RB_CS_BLOCKED,          /* our mail was refused by policy/spam filters: still mailed */
    RB_CS_QUARANTINED,      /* soft-bounce threshold reached: not mailed until quarantine_until */
    RB_CS_UNSUBSCRIBED,     /* a human unsubscribe; never set by a bounce */
    RB_CS_COMPLAINT,        /* an ARF complaint: not mailed */
    RB_CS_N
} rb_contact_status;
const char *rb_contact_status_name(int status);
int rb_contact_status_parse(const char *name);   /* -1 if unknown */

#define RB_SOURCE_NAME_MAX 128

typedef struct {
    int64_t id;                               /* 0: not stored */
    char email[RB_ADDR_MAX];                  /* as imported */
    char email_norm[RB_ADDR_MAX];             /* lookup key, unique */
    char source[RB_SOURCE_NAME_MAX];          /* where the contact came from (list, import) */
    int for_mailing;                          /* 1: may be mailed */
    int status;                               /* rb_contact_status */
    char bounce_type[RB_SHORT_MAX];           /* of the last bounce */
    char reason[RB_SHORT_MAX];
    char status_code[RB_SHORT_MAX];           /* "550 5.1.10" */
    char status_message[RB_TEXT_MAX];
    char provider[RB_SHORT_MAX];
    char provider_source[RB_SHORT_MAX];       /* how we learnt it: ndr, maillog, api, ... */
    int soft_count;                           /* soft bounces counted since soft_since */
    int64_t soft_since;                       /* soft bounces dated before this do not count */
    int64_t quarantine_until;                 /* 0: not quarantined */
    int64_t last_bounce_at;
    int64_t last_delivered_at;
    int64_t created_at, updated_at;
} rb_contact;

/* ---- bounce events: every record ever applied ------------------------------ */
typedef struct {
    char key[40];                             /* stable dedup key (32 hex digits) */
    int64_t contact_id;
    int64_t event_time;                       /* when the bounce happened (record date) */
    int64_t applied_at;                       /* when it was applied */
    char bounce_type[RB_SHORT_MAX];
    char reason[RB_SHORT_MAX];
    char status[RB_SHORT_MAX];
    char reply_code[8];
    char decision[RB_SHORT_MAX];              /* what it did: disabled counted quarantined ... */
    char diagnostic[RB_TEXT_MAX];
    char remote_mta[RB_HOST_MAX];
    char provider[RB_SHORT_MAX];
    char source[RB_SOURCE_MAX];               /* file#N it was read from */
    char evidence[16];                        /* what the reason rests on: vendor phrase status reply class none
                                               * ("" for events stored before schema version 3) */
    char rule[RB_HOST_MAX];                   /* the rule that gave the reason: rules.d/20-mta.conf:41, module:NAME */
    char alert[RB_SHORT_MAX];                 /* "", backscatter, compromised_account (schema version 4) */
    char account[RB_ADDR_MAX];                /* compromised_account: our account it was sent through (version 6) */
    /* Not stored: the contact as it is saved with the event, whose provider
     * and import source the report counts it under (NULL: read from the
     * store by contact_id). */
    const rb_contact *contact;
} rb_event;

/* ---- the store ---------------------------------------------------------------- */
typedef struct rb_store rb_store;

/* A connection tuned for its use.  For a
 * long-running server (rebound serve) SQLite reads the file through mmap on
 * every connection (RB_TUNE_READER), and the writer's (RB_TUNE_WRITER)
 * never checkpoints, so a commit never waits for one: rb_store_checkpoint()
 * does it from another connection.  RB_TUNE_REPORT: large sorts go to
 * temporary files, so memory does not grow with the events (PostgreSQL:
 * no JIT compilation of its statements, which costs more than they do).  *wal_frames
 * and *done (may be NULL): the WAL's size in pages and how many of them are
 * in the database file now (0 on PostgreSQL). */
enum { RB_TUNE_READER = 0, RB_TUNE_WRITER = 1, RB_TUNE_REPORT = 2 };
rb_status rb_store_tune(rb_store *st, int use, rb_error *err);
rb_status rb_store_checkpoint(rb_store *st, long *wal_frames, long *done, rb_error *err);

/* 1 if name is a valid key / provider name: 1..63 of [A-Za-z0-9._:+-]
 * (store_keys.c; the status API's key names and provider names). */
int rb_store_key_name_valid(const char *name);

/* ---- MX look-up: the provider of a custom domain, cached in the store (mx.c) ----
 * server: "ADDR[:PORT]" (IPv4) to ask instead of /etc/resolv.conf's, or NULL. */
typedef struct rb_mx rb_mx;
typedef struct {
    unsigned long queried;          /* DNS questions asked */
    unsigned long cached;           /* answers taken from the store's mx_cache */
    unsigned long found;            /* domains whose MX named a provider */
    unsigned long failed;           /* temporary DNS failures (not cached) */
} rb_mx_stats;
rb_status rb_mx_new(const char *server, rb_mx **out, rb_error *err);
void rb_mx_free(rb_mx *mx);
const rb_mx_stats *rb_mx_get_stats(const rb_mx *mx);

/* How a store is opened.  A store is created only when asked (`rebound
 * init`, `contacts import --create`): a mistyped URL or a cron job in the
 * wrong directory must not quietly start an empty list. */
typedef struct {
    int create;            /* create a store that is not there */
    double lock_timeout;   /* seconds to wait for another writer (SQLite busy
                            * timeout, PostgreSQL lock_timeout); 0: 30 s */
} rb_store_opts;

/* Open and migrate the store named by url: a SQLite path ("file.db",
 * "sqlite:file.db", "sqlite:///abs/file.db") or a PostgreSQL URL
 * ("postgresql://...", "postgres://...").  Any other "scheme:" is
 * RB_ERR_CONFIG.  A store that does not exist (SQLite: no such file;
 * PostgreSQL: no schema_version table) is RB_ERR_NOSTORE unless
 * opts->create.  opts may be NULL (no create, default timeout). */
rb_status rb_store_open_opts(const char *url, const rb_store_opts *opts, rb_store **out, rb_error *err);
/* rb_store_open_opts(url, NULL, ...): an existing store only. */
rb_status rb_store_open(const char *url, rb_store **out, rb_error *err);
void rb_store_close(rb_store *st);
const char *rb_store_backend(const rb_store *st);     /* "sqlite" / "postgresql" */
int rb_store_schema_version(const rb_store *st);
int rb_store_latest_schema_version(void);

rb_status rb_store_begin(rb_store *st, rb_error *err);
rb_status rb_store_commit(rb_store *st, rb_error *err);
rb_status rb_store_rollback(rb_store *st, rb_error *err);

/* Batch operations (inside a transaction).  Arrays are of length n. */
/* found[i] = 1 and out[i] filled when emails_norm[i] is stored.  With
 * for_update the rows are locked until the end of the transaction
 * (PostgreSQL; SQLite's write transaction locks the file anyway). */
rb_status rb_store_contacts_load(rb_store *st, const char *const *emails_norm, size_t n,
                                 int for_update, rb_contact *out, int *found, rb_error *err);
/* Insert contacts that are not stored yet; existing ones are left exactly as
 * they are (an import never revives a bounced contact).  inserted[i] says
 * which were new; cs[i].id is set for every row. */
rb_status rb_store_contacts_insert(rb_store *st, rb_contact *cs, size_t n, int *inserted,
                                   rb_error *err);
/* Write back the fields apply changes (all but email, email_norm, source and
 * created_at) of stored contacts, by id. */
rb_status rb_store_contacts_save(rb_store *st, const rb_contact *cs, size_t n, rb_error *err);
/* known[i] = 1 when an event with keys[i] is stored. */
rb_status rb_store_events_known(rb_store *st, const char *const *keys, size_t n, int *known,
                                rb_error *err);
/* Insert events; an event whose key is already stored is skipped. */
rb_status rb_store_events_insert(rb_store *st, const rb_event *ev, size_t n, rb_error *err);
/* The times of the stored soft bounces that counted (bounce_type soft,
 * decision counted or quarantined) of the given contacts, dated at or
 * after min_time. */
typedef void (*rb_soft_cb)(void *arg, int64_t contact_id, int64_t event_time);
rb_status rb_store_soft_events(rb_store *st, const int64_t *contact_ids, size_t n,
                               int64_t min_time, rb_soft_cb cb, void *arg, rb_error *err);

/* Iteration (callbacks return non-zero to stop). */
typedef int (*rb_contact_cb)(void *arg, const rb_contact *c);
typedef int (*rb_event_cb)(void *arg, const rb_event *e);
rb_status rb_store_contacts_each(rb_store *st, rb_contact_cb cb, void *arg, rb_error *err);
rb_status rb_store_events_of(rb_store *st, int64_t contact_id, rb_event_cb cb, void *arg,
                             rb_error *err);
int64_t rb_store_count_contacts(rb_store *st, rb_error *err);   /* -1 on error */
int64_t rb_store_count_events(rb_store *st, rb_error *err);

/* ---- the mailing queue (cycle) ----------------------------------------------- */
typedef struct {
    int64_t contacts;                 /* all contacts */
    int64_t queued;                   /* in the queue */
    int64_t released;                 /* quarantines that ended (rebuild: released now) */
    int64_t quarantined;              /* quarantined, quarantine not over */
    int64_t excluded_source;          /* mailable but from an excluded source */
    int64_t by_status[RB_CS_N];       /* all contacts by status */
    int64_t not_for_mailing;          /* for_mailing off */
} rb_queue_stats;

/* Empty the queue and refill it, in one transaction, with every contact that
 * may be mailed: for_mailing, not quarantined (quarantines that ended by
 * `now` are released first), source not in excluded. */
rb_status rb_store_queue_rebuild(rb_store *st, const char *const *excluded, size_t nexcluded,
                                 int64_t now, rb_queue_stats *stats, rb_error *err);
rb_status rb_store_queue_stats(rb_store *st, const char *const *excluded, size_t nexcluded,
                               int64_t now, rb_queue_stats *stats, rb_error *err);
/* Queued contacts in queue order. */
rb_status rb_store_queue_each(rb_store *st, rb_contact_cb cb, void *arg, rb_error *err);
/* Per source: contacts, queued (for `queue stats`). */
typedef int (*rb_source_cb)(void *arg, const char *source, int64_t contacts, int64_t queued);
rb_status rb_store_queue_by_source(rb_store *st, rb_source_cb cb, void *arg, rb_error *err);


/* ---- sends: deliveries a Postfix log shows accepted (rebound maillog) ---------
 * Kept so that a later NDR for the same Message-ID or recipient can be tied
 * to the send ("accepted with 250, bounced later"), and so that a bounce for
 * a Message-ID we never sent can be told apart as backscatter. */
typedef struct {
    char key[40];                             /* dedup key (rb_send_key: instance + queue ID + recipient) */
    char queue_id[32];
    char message_id[RB_HOST_MAX];             /* without angle brackets */
    char recipient_norm[RB_ADDR_MAX];
    int64_t sent_at;
    char relay[RB_HOST_MAX];
    char provider[RB_SHORT_MAX];
    char reply[RB_TEXT_MAX];                  /* the remote's reply: "250 2.6.0 ... Queued mail for delivery" */
    char source[RB_SOURCE_MAX];               /* log:line */
} rb_send;

/* Insert sends; rows whose key is stored already are skipped.  Runs in the
 * caller's transaction if one is open. */
rb_status rb_store_sends_insert(rb_store *st, const rb_send *s, size_t n, rb_error *err);
/* The same; *stored (if not NULL) gets the number of rows actually added. */
rb_status rb_store_sends_insert_n(rb_store *st, const rb_send *s, size_t n, size_t *stored, rb_error *err);
/* The report's rollups (schema version 6) computed again from the events,
 * sends and contacts as they are now, in a transaction of its own: after
 * rows were written by hand, or to count old bounces under their contacts'
 * present provider and source (`rebound report --rebuild`). */
rb_status rb_store_rollup_rebuild(rb_store *st, rb_error *err);
/* *found = 1 if a send with this Message-ID (angle brackets optional) is
 * stored -- to this recipient, when recipient_norm is neither NULL nor "". */
rb_status rb_store_send_known(rb_store *st, const char *message_id, const char *recipient_norm, int *found,
                              rb_error *err);
/* *found = 1 if the sends table holds any send at all (rebound maillog has
 * run): only then can "never sent" be told. */
rb_status rb_store_sends_any(rb_store *st, int *found, rb_error *err);
/* The latest sends to a recipient, newest first (limit <= 0: 20). */
typedef int (*rb_send_cb)(void *arg, const rb_send *s);
rb_status rb_store_sends_of(rb_store *st, const char *recipient_norm, int limit, rb_send_cb cb, void *arg,
                            rb_error *err);

/* ---- apply: the decision step ------------------------------------------------
 * Records (from rebound analyze / maillog) go in one at a time; they are
 * decided in batches.  A record names its contact by the original recipient
 * first (original_recipient: ORCPT / Original-Recipient, the address that was
 * subscribed and mailed), then by the final recipient (recipient: where a
 * forward or alias led), both normalised as contacts are; an original
 * recipient that names no contact falls back to the final one.  The dedup key
 * is the final recipient's whichever address matched (rb_event_key).  Per
 * record:
 *   invalid     the address is not an address, or the reason is unknown
 *   unknown     no contact with that address in the store (nothing stored)
 *   duplicate   the same bounce was applied before (same stable key)
 *   disabled    hard bounce / complaint / soft bounce during quarantine:
 *               for_mailing off, status bounced or complaint
 *   quarantined the soft bounce that reached the threshold (N within D days)
 *   counted     a soft bounce below the threshold
 *   recorded    kept, changes nothing that stops mail (policy/spam blocks set
 *               status blocked and keep the contact mailed)
 *   unchanged   the contact was disabled already (or unsubscribed)
 *   reset       a successful delivery: soft count restarts, blocked -> active
 *   ignored     not a failure (vacation, ...)
 * In check mode nothing is written: the decisions chain in memory exactly
 * as commit would chain them in the store. */
typedef enum {
    RB_DEC_INVALID = 0, RB_DEC_UNKNOWN, RB_DEC_DUPLICATE, RB_DEC_DISABLED, RB_DEC_QUARANTINED,
    RB_DEC_COUNTED, RB_DEC_RECORDED, RB_DEC_UNCHANGED, RB_DEC_RESET, RB_DEC_IGNORED, RB_DEC_N
} rb_decision;
const char *rb_decision_name(int d);

/* One decided record (for the row-by-row plan). */
typedef struct {
    const rb_record *rec;           /* as read, reason/bounce type filled */
    const char *email_norm;         /* the address decided on: the contact's (the original recipient's or
                                     * the final recipient's); if none is stored, the final recipient's */
    unsigned long line;             /* input line, 0 if none */
    int decision;                   /* rb_decision */
    int old_status, new_status;     /* rb_contact_status; -1 if no contact */
    int soft_count;                 /* after the decision */
    int64_t event_time;
    int64_t quarantine_until;
    const char *note;               /* why (invalid rows: the problem) */
    const char *matched_by;         /* the address that named the contact (email_norm):
                                     * "original_recipient", "recipient"; "" if none did */
    const char *key;                /* the event's dedup key ("" for invalid rows) */
} rb_plan_row;

typedef void (*rb_plan_cb)(void *arg, const rb_plan_row *row);

typedef struct {
    int commit;                     /* 0: check (report only) */
    size_t batch;                   /* records per transaction; 0: 50000 (decided 2000 at a time) */
    int64_t now;                    /* 0: time(NULL); the default event time for undated records */
    const char *provider_source;    /* stored with the contact; NULL: "ndr" or "maillog" */
    rb_plan_cb plan_cb;
    void *plan_arg;
    struct rb_mx *mx;               /* --resolve-mx: a record without a provider gets its domain's
                                     * MX provider (rb_mx_new); NULL: off */
    int caller_tx;                  /* commit mode inside the caller's open transaction: rb_apply
                                     * writes in it but never begins, commits or rolls it back (on an
                                     * error the caller rolls back); batch is then ignored */
    int plan_states;                /* the plan needs the contact's state on duplicates too (a --plan
                                     * file): the contacts are then looked up before the event keys.
                                     * 0 (and without plan_cb): the keys first; a record applied
                                     * before is a duplicate without its contact being read (its
                                     * row's old_status/new_status -1, email_norm its address) */
} rb_apply_opts;

/* Summary: records by bounce type and reason, and by decision. */
typedef struct {
    char bounce_type[RB_SHORT_MAX];
    char reason[RB_SHORT_MAX];
    uint64_t n[RB_DEC_N];
} rb_apply_row;

typedef struct {
    uint64_t records;
    uint64_t n[RB_DEC_N];
    rb_apply_row *rows;
    size_t nrows, caprows;
    uint64_t batches_committed;
    uint64_t sends;                 /* accepted deliveries stored (would be, in check mode) */
} rb_apply_summary;

typedef struct rb_apply rb_apply;
rb_status rb_apply_new(rb_store *st, const rb_ctx *ctx, const rb_apply_opts *opts, rb_apply **out,
                       rb_error *err);
/* Queue one record (line: its input line, for messages).  Full batches are
 * decided (and in commit mode written) here; a store error is returned and
 * nothing of that batch is written. */
rb_status rb_apply_add(rb_apply *a, const rb_record *rec, unsigned long line, rb_error *err);
/* Store an accepted delivery (rebound maillog) with the next batch, in its
 * transaction (commit mode; counted only in check mode). */
rb_status rb_apply_add_send(rb_apply *a, const rb_send *s, rb_error *err);
/* Decide (and write) what is left. */
rb_status rb_apply_finish(rb_apply *a, rb_error *err);
const rb_apply_summary *rb_apply_get_summary(const rb_apply *a);
void rb_apply_free(rb_apply *a);

/* The stable dedup key of a record (32 hex digits + NUL into out[33+]);
 * email_norm: the normalised final recipient (the original recipient only
 * when the record has no usable final one), whichever address matched. */
void rb_event_key(const rb_record *r, const char *email_norm, char *out, size_t outlen);
/* The dedup key of a send (32 hex digits + NUL into out[33+]): one row per
 * (Postfix instance + queue ID, normalised recipient), whatever the time, so
 * a recipient mailed twice has two rows and a log read again adds none. */
void rb_send_key(const char *instance, const char *queue_id, const char *recipient_norm, char *out,
                 size_t outlen);

/* ---- outbox: contact changes pushed to a status API (rebound notify) ---------
 * One row per change and target: a contact's state (status, bounce type, time
 * of the last bounce) due to be posted to one status API URL.  Enqueuing the
 * same state again adds nothing; a later change of the contact is a new row,
 * and the older rows of that contact not sent yet are superseded, so only a
 * contact's current state is ever delivered.  A row goes pending -> sent, or
 * failed (refused for good, or attempts used up; rb_outbox_retry_failed puts
 * it back), or superseded. */
typedef struct {
    int64_t id;
    char change_key[192];
    int64_t contact_id;
    char email[RB_ADDR_MAX];                  /* the normalised address */
    char status[RB_SHORT_MAX];                /* as sent: the contact's; quarantined is sent as deferred */
    char bounce_type[RB_SHORT_MAX];
    char status_code[RB_SHORT_MAX];
    char status_message[RB_TEXT_MAX];
    char provider[RB_SHORT_MAX];
    char provider_source[RB_SHORT_MAX];
    char state[16];                           /* pending sent failed superseded */
    int attempts;                             /* failed tries so far */
    int64_t next_attempt_at;
    char last_error[RB_TEXT_MAX];
    int64_t created_at, sent_at;
} rb_outbox_item;

typedef struct {
    const char *target;                       /* the status API URL */
    const char *const *statuses;              /* contact statuses to send (at most 16); none: any */
    size_t nstatuses;
    const char *const *bounce_types;          /* (at most 16); none: any */
    size_t nbounce_types;
} rb_outbox_filter;

typedef struct {
    int64_t pending_due, pending_later, sent, failed, superseded;
} rb_outbox_stats;

/* Queue the current state of every contact matching the filter, unless that
 * state is queued for the target already, and supersede the target's
 * unsent rows whose contact has changed since.  In the caller's
 * transaction if one is open (a dry run rolls it back), else in its own. */
rb_status rb_outbox_enqueue(rb_store *st, const rb_outbox_filter *f, int64_t now, int64_t *enqueued,
                            int64_t *superseded, rb_error *err);
/* The iterations' callback (return non-zero to stop). */
typedef int (*rb_outbox_cb)(void *arg, const rb_outbox_item *it);
/* Up to max pending rows of the target due at now, in due order (read only:
 * what a run would send). */
rb_status rb_outbox_due(rb_store *st, const char *target, int64_t now, size_t max, rb_outbox_cb cb, void *arg,
                        rb_error *err);
/* Delivery, a page at a time: the ids (and due times) of up to max pending
 * rows of the target due at now, in due order (next_attempt_at, id),
 * starting after the row (after_due, after_id) -- (0, 0) for the first page. */
rb_status rb_outbox_due_ids(rb_store *st, const char *target, int64_t now, int64_t after_due, int64_t after_id,
                            size_t max, int64_t *ids, int64_t *dues, size_t *n, rb_error *err);
/* Claim those of ids (at most RB_OUTBOX_CLAIM_MAX) still pending and due:
 * their next_attempt_at moves to lease_until, so that no other run takes
 * them meanwhile, and a run that dies leaves them to be retried after the
 * lease.  out[] gets the claimed rows (*n), in id order. */
#define RB_OUTBOX_CLAIM_MAX 16
rb_status rb_outbox_claim(rb_store *st, const int64_t *ids, size_t nids, int64_t now, int64_t lease_until,
                          rb_outbox_item *out, size_t *n, rb_error *err);
/* Write back state, attempts, next_attempt_at, last_error and sent_at of a
 * row still pending (one superseded meanwhile is left so). */
rb_status rb_outbox_save(rb_store *st, const rb_outbox_item *it, rb_error *err);
/* Failed rows of the target back to pending, attempts 0, due at now. */
rb_status rb_outbox_retry_failed(rb_store *st, const char *target, int64_t now, int64_t *n, rb_error *err);
rb_status rb_outbox_get_stats(rb_store *st, const char *target, int64_t now, rb_outbox_stats *s, rb_error *err);
/* Rows of the target in a state, oldest first. */
rb_status rb_outbox_each(rb_store *st, const char *target, const char *state, rb_outbox_cb cb, void *arg,
                         rb_error *err);

/* ---- notify: one delivery's outcome (lib/share/notify.c; the HTTP client is the
 * command's) ------------------------------------------------------------------ */
#define RB_NOTIFY_BACKOFF_BASE 60               /* seconds after the first failure, doubling */
#define RB_NOTIFY_BACKOFF_CAP (6 * 3600)
/* The form body `rebound notify` posts to the status API (email, status,
 * bounce_type, status_code, status_message, provider, provider_source;
 * empty ones left out but email and status), x-www-form-urlencoded.
 * malloc'd; NULL: no memory. */
char *rb_notify_form_body(const rb_outbox_item *it);

typedef enum {
    RB_NT_OK = 0,       /* a response came; http_code says which */
    RB_NT_DOWN,         /* could not resolve or connect: nobody there */
    RB_NT_TIMEOUT,      /* connected, no (complete) answer in time */
    RB_NT_BROKEN,       /* the connection failed mid-request */
    RB_NT_TLS           /* the TLS handshake or certificate check failed */
} rb_notify_transport;

typedef struct {
    int transport;                            /* rb_notify_transport */
    long http_code;
    int64_t retry_after;                      /* seconds, from Retry-After; 0: none */
    const char *detail;                       /* error text or the start of the response body */
} rb_notify_result;

typedef enum {
    RB_NO_SENT,         /* 2xx: state sent */
    RB_NO_RETRY,        /* 5xx, 408, 429, time-out, broken connection: attempts + 1, due after the back-off */
    RB_NO_FAILED,       /* other 4xx, or the attempts used up: state failed */
    RB_NO_STOP          /* unreachable, TLS, redirect, 401/403: not the row's fault, nor counted; stop the run */
} rb_notify_outcome;

/* Apply the result of posting it to the row (state, attempts,
 * next_attempt_at, last_error, sent_at); returns an rb_notify_outcome.
 * The caller saves the row (rb_outbox_save). */
int rb_notify_decide(rb_outbox_item *it, const rb_notify_result *r, int64_t now, int max_attempts);

#ifdef __cplusplus
}
#endif
#endif
