/* rebound_api.h -- the status API (rebound serve): request bodies, what a
 * provider's status means for a contact, the keys; public part of librebound.
 *
 * A provider reports one address at a time, as `rebound notify` posts it:
 *   email, status, bounce_type, status_code, status_message, provider,
 *   provider_source (and an optional date), form-encoded or as JSON.
 * rb_api_parse_update() turns a body into validated fields (a pure function:
 * no store, no I/O), rb_api_prepare() into the rb_record that `rebound apply`
 * would decide, and rb_api_apply() decides a group of them in one
 * transaction (the server's group commit).
 *
 * What each status does (the caller says what the provider concluded; the
 * status code and text are the evidence; the policy decides, as in apply):
 *   bounced + hard   the reason the rules find in the code and text, when
 *                    they find one: a policy block stays a block (recorded),
 *                    a time-out stays soft (counted); with no evidence either
 *                    way the provider's word stands: reason `suppressed`
 *                    (hard, disables)
 *   bounced (+ soft, or no bounce type)
 *                    at most a soft bounce: counted (3 within 30 days
 *                    quarantine); a hard reason in the text does not
 *                    disable without the provider's "hard" (reason
 *                    `undefined`)
 *   deferred         a delay, as apply treats one (rb_policy_for_record): the
 *                    provider is still retrying, so it is recorded as soft,
 *                    never counted, never disabling; the reason from the
 *                    text is kept
 *   blocked          recorded, status blocked, still mailed: a block is not a
 *                    broken mailbox (reason from the text if it is a block
 *                    reason, else `blocked`)
 *   complaint        reason `feedback`: complaint, not mailed
 *   unsubscribed     a human unsubscribe: status unsubscribed, not mailed.
 *                    The only way the API sets it; a bounce never does.
 *   active           taken as a delivery (reason `delivered`): the soft count
 *                    starts again and a block is cleared; a bounced,
 *                    complained, unsubscribed or quarantined contact is never
 *                    revived by it.
 * An update without a date is dated on the day it arrives (UTC), so the same
 * report repeated that day is one event (decision "duplicate").
 *
 * Keys: one per provider, "rbk_" + 43 base64url characters (32 random bytes),
 * stored as the hex SHA-256 of the whole key in table api_keys.
 */
#ifndef REBOUND_API_H
#define REBOUND_API_H

#include <stdint.h>
#include "rebound.h"
#include "rebound_store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- one status update -------------------------------------------------------- */
typedef enum {
    RB_API_BOUNCED = 0, RB_API_BLOCKED, RB_API_DEFERRED, RB_API_COMPLAINT, RB_API_UNSUBSCRIBED, RB_API_ACTIVE,
    RB_API_NSTATUS
} rb_api_status;

#define RB_API_NAME_MAX 64      /* provider, provider_source, key names: [A-Za-z0-9._:+-], 1..63 */

typedef struct {
    char email[RB_ADDR_MAX];              /* as given, trimmed */
    char email_norm[RB_ADDR_MAX];
    int status;                           /* rb_api_status */
    char bounce_type[RB_SHORT_MAX];       /* hard soft blocked complaint, or "" */
    char status_code[RB_SHORT_MAX];       /* as given, spaces squeezed: "550 5.1.10" */
    char reply_code[8];                   /* "550" */
    char dsn_status[RB_SHORT_MAX];        /* "5.1.10" */
    char status_message[RB_TEXT_MAX];     /* one line, truncated at a UTF-8 boundary */
    char provider[RB_API_NAME_MAX];
    char provider_source[RB_API_NAME_MAX];
    char date[RB_SHORT_MAX];              /* ISO 8601 UTC, "" when not given */
    int64_t event_time;                   /* the date's time, 0 when not given */
    rb_record rec;                        /* rb_api_prepare() */
} rb_api_update;

/* What was wrong with a request: the field at fault ("" for the body as a
 * whole) and a message. */
typedef struct {
    char field[32];
    char msg[256];
} rb_api_error;

/* Parse and validate a request body.  content_type is the Content-Type
 * header (NULL or "": JSON if the body starts with '{', else form-encoded).
 * now bounds the date (at most a day ahead).  Returns 0 and fills u, or the
 * HTTP status to answer (400, 415) with e filled.  Unknown fields are
 * ignored; a known field given twice is an error. */
int rb_api_parse_update(const char *content_type, const char *body, size_t len, int64_t now, rb_api_update *u,
                        rb_api_error *e);

/* Fill u->rec: the record apply decides (see the table above).  source is
 * stored with the event ("api:KEYNAME"); provider_source, when u has none,
 * is set to default_source (the key's name). */
void rb_api_prepare(const rb_ctx *ctx, rb_api_update *u, const char *source, const char *default_source,
                    int64_t now);

/* The reasons rb_api_prepare() may choose must be in the policy table:
 * RB_ERR_CONFIG naming the missing one otherwise. */
rb_status rb_api_check_policy(const rb_ctx *ctx, rb_error *err);

/* ---- applying a group of updates ---------------------------------------------- */
typedef struct {
    int ok;                               /* 0: the transaction it was in failed */
    const char *decision;                 /* rb_decision_name(), or "unsubscribed" */
    int changed;                          /* the contact was changed */
    int old_status, new_status;           /* rb_contact_status, -1: no such contact */
    int soft_count;
    int64_t quarantine_until;
    char reason[RB_SHORT_MAX];            /* as decided */
    char bounce_type[RB_SHORT_MAX];       /* the policy's for that reason */
    char event[40];                       /* the event's dedup key */
    char note[160];
} rb_api_result;

/* Decide and commit n prepared updates: the ones apply decides go through
 * rb_apply (commit mode), one transaction per provider_source among them
 * (usually one); unsubscribes in one more.  res[i] is filled for each;
 * returns the first store error (then the updates of the failed
 * transaction have ok = 0 and nothing of them was written). */
rb_status rb_api_apply(rb_store *st, const rb_ctx *ctx, rb_api_update *const *u, size_t n, int64_t now,
                       rb_api_result *res, rb_error *err);

/* ---- JSON answers ----------------------------------------------------------------- */
/* {"email":...,"decision":...,...} for a POST. */
int rb_api_result_json(rb_buf *b, const rb_api_update *u, const rb_api_result *r);
/* {"error":...,"field":...} */
int rb_api_error_json(rb_buf *b, const char *field, const char *msg);
/* The contact and its events (newest first) for a GET. */
int rb_api_contact_json(rb_buf *b, const rb_contact *c, const rb_event *ev, size_t nev);

/* ---- reading and tuning the store for a server ------------------------------------- */
/* The contact stored under email_norm and its last max_events events
 * (newest first) into ev[], in one statement: one read transaction, one
 * round trip.  *found = 0 when there is no such contact. */
rb_status rb_api_contact_view(rb_store *st, const char *email_norm, size_t max_events, rb_contact *c, int *found,
                              rb_event *ev, size_t *nev, rb_error *err);

/* ---- metrics (GET /metrics: the Prometheus text exposition format 0.0.4) ------------- */
/* Append v as a quoted label value: \ " and newline escaped, an invalid
 * UTF-8 byte as U+FFFD. */
int rb_api_prom_label(rb_buf *b, const char *v);
/* Append the store's families, from one aggregate statement (one round
 * trip): rebound_contacts{status,provider} (gauge) and
 * rebound_events_total{bounce_type} (counter: events are never deleted),
 * each with its # HELP and # TYPE lines.  Nothing is appended on error. */
rb_status rb_api_metrics_store(rb_store *st, rb_buf *out, rb_error *err);

/* ---- keys ----------------------------------------------------------------------------- */
#define RB_API_KEY_LEN 47                 /* "rbk_" + 43 */
#define RB_API_HASH_LEN 64                /* hex SHA-256 */

/* A new random key (getrandom) into out (at least RB_API_KEY_LEN + 1). */
rb_status rb_api_key_new(char *out, size_t outlen, rb_error *err);
/* Hex SHA-256 of a presented key into hex[RB_API_HASH_LEN + 1]. */
void rb_api_key_hash(const char *key, size_t len, char *hex);
/* 1 if the two n-byte strings are equal; time independent of where they differ. */
int rb_api_ct_equal(const void *a, const void *b, size_t n);

/* Table api_keys (store_keys.c). */
typedef struct {
    char name[RB_API_NAME_MAX];
    char hash[RB_API_HASH_LEN + 1];
    int64_t created_at, revoked_at, last_used_at;
} rb_api_key;

/* Store a key's hash under name.  A name whose key is active is refused
 * (RB_ERR_ARG: revoke it first); a revoked one is replaced. */
rb_status rb_store_api_key_add(rb_store *st, const char *name, const char *hash_hex, int64_t now, rb_error *err);
/* *revoked = 1 when an active key of that name was revoked (0: none). */
rb_status rb_store_api_key_revoke(rb_store *st, const char *name, int64_t now, int *revoked, rb_error *err);
typedef int (*rb_api_key_cb)(void *arg, const rb_api_key *k);
/* All keys by name; with active_only, those not revoked. */
rb_status rb_store_api_keys_each(rb_store *st, int active_only, rb_api_key_cb cb, void *arg, rb_error *err);
rb_status rb_store_api_key_touch(rb_store *st, const char *name, int64_t t, rb_error *err);

/* A keys file (`rebound keys export`, `rebound serve --keys FILE`): lines
 * "NAME SHA256HEX", blank lines and '#' comments allowed.  cb is called for
 * each key (created_at etc. 0) once the whole file is valid, so a bad file
 * yields no keys at all; RB_ERR_PARSE naming PATH:LINE for a line that is
 * not a valid name and 64 hex digits, or a name given twice; RB_ERR_IO when
 * it cannot be read. */
rb_status rb_api_keys_file_read(const char *path, rb_api_key_cb cb, void *arg, rb_error *err);

#ifdef __cplusplus
}
#endif
#endif
