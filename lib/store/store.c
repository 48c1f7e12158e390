/* store.c -- the contact store front: backend choice, versioned migrations,
 * and the operations written once in SQL both backends accept.
 *
 * Schema (version 1):
 *   contacts  one row per address (email_norm unique): mailing flag, status,
 *             the last bounce, the soft-bounce window and the quarantine;
 *   events    every bounce record ever applied, unique by a stable key, so
 *             applying the same input twice adds nothing;
 *   queue     the mailing cycle: contact ids in mailing order;
 *   schema_version  one row per migration applied.
 * Version 2 adds sends, api_keys and outbox; version 3 adds the evidence and
 * the rule of each event's reason; version 4 its alert; version 5 the MX
 * cache (see the migrations below).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rb_internal.h"
#include "store_impl.h"

/* ---- migrations ----------------------------------------------------------
 * Append only: a released version is never edited.  Each step is run in the
 * transaction that records it, so a failed step leaves the older schema. */
typedef struct {
    int version;
    const char *sqlite;
    const char *pg;
    /* after the statements, in the same transaction (NULL: none) */
    rb_status (*fill)(rb_store *st, rb_error *err);
} migration;

#define CONTACTS_BODY(ID) \
    "CREATE TABLE contacts (" \
    " id " ID "," \
    " email TEXT NOT NULL," \
    " email_norm TEXT NOT NULL UNIQUE," \
    " source TEXT NOT NULL DEFAULT ''," \
    " for_mailing INTEGER NOT NULL DEFAULT 1," \
    " status TEXT NOT NULL DEFAULT 'active'," \
    " bounce_type TEXT NOT NULL DEFAULT ''," \
    " reason TEXT NOT NULL DEFAULT ''," \
    " status_code TEXT NOT NULL DEFAULT ''," \
    " status_message TEXT NOT NULL DEFAULT ''," \
    " provider TEXT NOT NULL DEFAULT ''," \
    " provider_source TEXT NOT NULL DEFAULT ''," \
    " soft_count INTEGER NOT NULL DEFAULT 0," \
    " soft_since BIGINT NOT NULL DEFAULT 0," \
    " quarantine_until BIGINT NOT NULL DEFAULT 0," \
    " last_bounce_at BIGINT NOT NULL DEFAULT 0," \
    " last_delivered_at BIGINT NOT NULL DEFAULT 0," \
    " created_at BIGINT NOT NULL," \
    " updated_at BIGINT NOT NULL);" \
    "CREATE INDEX contacts_source ON contacts(source);"

#define EVENTS_BODY(ID) \
    "CREATE TABLE events (" \
    " id " ID "," \
    " key TEXT NOT NULL UNIQUE," \
    " contact_id BIGINT NOT NULL REFERENCES contacts(id)," \
    " event_time BIGINT NOT NULL," \
    " applied_at BIGINT NOT NULL," \
    " bounce_type TEXT NOT NULL DEFAULT ''," \
    " reason TEXT NOT NULL DEFAULT ''," \
    " status TEXT NOT NULL DEFAULT ''," \
    " reply_code TEXT NOT NULL DEFAULT ''," \
    " decision TEXT NOT NULL DEFAULT ''," \
    " diagnostic TEXT NOT NULL DEFAULT ''," \
    " remote_mta TEXT NOT NULL DEFAULT ''," \
    " provider TEXT NOT NULL DEFAULT ''," \
    " source TEXT NOT NULL DEFAULT '');" \
    "CREATE INDEX events_contact ON events(contact_id, event_time);"

#define QUEUE_BODY \
    "CREATE TABLE queue (" \
    " position BIGINT PRIMARY KEY," \
    " contact_id BIGINT NOT NULL REFERENCES contacts(id)," \
    " added_at BIGINT NOT NULL);"

/* Version 2: what crosses servers and logs.
 *   sends        one row per accepted delivery seen in a Postfix log (maillog):
 *                a later NDR for the same Message-ID or recipient is linked to
 *                it, and a bounce for a Message-ID we never sent is backscatter.
 *   api_keys     status API keys, one per provider, stored as SHA-256 hashes.
 *   outbox       notify's queue of contact changes to push to a status API:
 *                one row per change and target, delivered exactly once. */
#define V2_BODY(ID) \
    "CREATE TABLE sends (" \
    " id " ID "," \
    " key TEXT NOT NULL UNIQUE," \
    " queue_id TEXT NOT NULL DEFAULT ''," \
    " message_id TEXT NOT NULL DEFAULT ''," \
    " recipient_norm TEXT NOT NULL," \
    " sent_at BIGINT NOT NULL," \
    " relay TEXT NOT NULL DEFAULT ''," \
    " provider TEXT NOT NULL DEFAULT ''," \
    " reply TEXT NOT NULL DEFAULT ''," \
    " source TEXT NOT NULL DEFAULT '');" \
    "CREATE INDEX sends_message_id ON sends(message_id);" \
    "CREATE INDEX sends_recipient ON sends(recipient_norm, sent_at);" \
    "CREATE TABLE api_keys (" \
    " id " ID "," \
    " name TEXT NOT NULL UNIQUE," \
    " hash TEXT NOT NULL," \
    " created_at BIGINT NOT NULL," \
    " revoked_at BIGINT NOT NULL DEFAULT 0," \
    " last_used_at BIGINT NOT NULL DEFAULT 0);" \
    "CREATE TABLE outbox (" \
    " id " ID "," \
    " change_key TEXT NOT NULL UNIQUE," \
    " target TEXT NOT NULL DEFAULT ''," \
    " contact_id BIGINT NOT NULL REFERENCES contacts(id)," \
    " email TEXT NOT NULL," \
    " status TEXT NOT NULL DEFAULT ''," \
    " bounce_type TEXT NOT NULL DEFAULT ''," \
    " status_code TEXT NOT NULL DEFAULT ''," \
    " status_message TEXT NOT NULL DEFAULT ''," \
    " provider TEXT NOT NULL DEFAULT ''," \
    " provider_source TEXT NOT NULL DEFAULT ''," \
    " state TEXT NOT NULL DEFAULT 'pending'," \
    " attempts INTEGER NOT NULL DEFAULT 0," \
    " next_attempt_at BIGINT NOT NULL DEFAULT 0," \
    " last_error TEXT NOT NULL DEFAULT ''," \
    " created_at BIGINT NOT NULL," \
    " sent_at BIGINT NOT NULL DEFAULT 0);" \
    "CREATE INDEX outbox_state ON outbox(state, next_attempt_at);"

/* Version 3: why a contact was disabled, months later.  Each event keeps
 * what its reason rests on (evidence: vendor phrase status reply class none)
 * and the rule that gave it ("rules.d/20-mta.conf:41", "module:NAME").
 * Events stored before have '' in both.  Both dialects take the same
 * statements (PostgreSQL 11+ adds a column with a constant default without
 * rewriting the table). */
#define V3_BODY \
    "ALTER TABLE events ADD COLUMN evidence TEXT NOT NULL DEFAULT '';" \
    "ALTER TABLE events ADD COLUMN rule TEXT NOT NULL DEFAULT '';"

/* Version 4: the alert an event was recorded under (backscatter: a bounce
 * of mail we never sent; compromised_account: of mail sent through a
 * hacked account of ours), so the report can show them; such an event
 * never changed its contact.  '' for events stored before. */
#define V4_BODY "ALTER TABLE events ADD COLUMN alert TEXT NOT NULL DEFAULT '';"

/* Version 5: what a custom domain's MX hosts say of its provider
 * (--resolve-mx, mx.c), a week per answer; '' when they name none. */
#define V5_BODY \
    "CREATE TABLE mx_cache (" \
    " domain TEXT PRIMARY KEY," \
    " provider TEXT NOT NULL DEFAULT ''," \
    " mx TEXT NOT NULL DEFAULT ''," \
    " checked_at BIGINT NOT NULL);"

/* Version 6: the report's rollups (store_rollup.c), kept by the writers in
 * the same transaction as the rows they count, so `rebound report` reads
 * thousands of rows instead of every event and send of the period:
 *   report_events  events per day x provider x import source x bounce type x
 *                  reason x decision x alert x account (the account of ours a
 *                  compromised_account alert names, kept on the event too);
 *   report_texts   the masked diagnostics of the bounces and of the
 *                  unclassified (onhold, undefined) per day x provider x source;
 *   report_sends   sends per day x provider x source x bucket of the delay
 *                  from the 250 to the NDR (-1: no NDR).
 * A send keeps the time of its NDR (ndr_at, 0: none) and its contact's
 * import source when it was logged (contact_source); its provider is the
 * relay's, else its contact's then.  A bounce is counted under the provider
 * and source its contact had when it was recorded.  The indexes serve the
 * report's questions about contacts (dead addresses still queued, the
 * quarantine).  The rollups of the rows stored before are filled by the
 * migration (rb_store_rollup_fill). */
#define V6_BODY(BUCKET) \
    "ALTER TABLE sends ADD COLUMN ndr_at BIGINT NOT NULL DEFAULT 0;" \
    "ALTER TABLE sends ADD COLUMN contact_source TEXT NOT NULL DEFAULT '';" \
    "ALTER TABLE events ADD COLUMN account TEXT NOT NULL DEFAULT '';" \
    "CREATE TABLE report_events (" \
    " day BIGINT NOT NULL, provider TEXT NOT NULL, source TEXT NOT NULL, bounce_type TEXT NOT NULL," \
    " reason TEXT NOT NULL, decision TEXT NOT NULL, alert TEXT NOT NULL, account TEXT NOT NULL, n BIGINT NOT NULL," \
    " PRIMARY KEY (day, provider, source, bounce_type, reason, decision, alert, account));" \
    "CREATE TABLE report_texts (" \
    " day BIGINT NOT NULL, provider TEXT NOT NULL, source TEXT NOT NULL, bounce_type TEXT NOT NULL," \
    " reason TEXT NOT NULL, text TEXT NOT NULL, n BIGINT NOT NULL," \
    " PRIMARY KEY (day, provider, source, bounce_type, reason, text));" \
    "CREATE TABLE report_sends (" \
    " day BIGINT NOT NULL, provider TEXT NOT NULL, source TEXT NOT NULL, bucket " BUCKET " NOT NULL," \
    " n BIGINT NOT NULL, PRIMARY KEY (day, provider, source, bucket));" \
    "CREATE INDEX contacts_status ON contacts(status, source, provider);" \
    "CREATE INDEX contacts_soft_since ON contacts(soft_since);" \
    "CREATE INDEX queue_contact ON queue(contact_id);"

static const migration migrations[] = {
    {1,
     CONTACTS_BODY("INTEGER PRIMARY KEY") EVENTS_BODY("INTEGER PRIMARY KEY") QUEUE_BODY,
     CONTACTS_BODY("BIGSERIAL PRIMARY KEY") EVENTS_BODY("BIGSERIAL PRIMARY KEY") QUEUE_BODY, NULL},
    {2, V2_BODY("INTEGER PRIMARY KEY"), V2_BODY("BIGSERIAL PRIMARY KEY"), NULL},
    {3, V3_BODY, V3_BODY, NULL},
    {4, V4_BODY, V4_BODY, NULL},
    {5, V5_BODY, V5_BODY, NULL},
    {6, V6_BODY("INTEGER"), V6_BODY("INTEGER"), rb_store_rollup_fill},
};
#define NMIGRATIONS (sizeof migrations / sizeof migrations[0])

int rb_store_latest_schema_version(void)
{
    return migrations[NMIGRATIONS - 1].version;
}

static int version_row(void *arg, int ncols, const char *const *vals)
{
    if (ncols > 0 && vals[0]) *(int *)arg = atoi(vals[0]);
    return 0;
}

/* Migrate up to version target (the latest but in tests). */
static rb_status migrate(rb_store *st, int target, int create, rb_error *err)
{
    int is_pg = st->ops == &rb_store_pg_ops;
    /* Up to date already (the usual case): no DDL, no lock, so a role
     * without CREATE on the schema can use a store someone else migrated. */
    int have = -1;
    rb_error e0;
    if (st->ops->query(st, "SELECT COALESCE(MAX(version), 0) FROM schema_version", 0, NULL, version_row, &have,
                       &e0) == RB_OK &&
        have == target) {
        st->schema_version = have;
        return RB_OK;
    }
    if (!create && have <= 0) {
        /* SQLite: an empty file; PostgreSQL: a database without our schema */
        rb_seterr(err, "%s: no rebound store there (no schema)", st->url);
        return RB_ERR_NOSTORE;
    }
    rb_status s;
    for (;;) {
        /* Re-read the version inside the transaction: another process
         * (a second sending server on the same PostgreSQL) may have just
         * migrated.  PostgreSQL: a transaction-scoped advisory lock makes
         * concurrent openers migrate one at a time. */
        if ((s = st->ops->exec(st, is_pg ? "BEGIN" : "BEGIN IMMEDIATE", err)) != RB_OK) return s;
        if (is_pg && (s = st->ops->exec(st, "SELECT pg_advisory_xact_lock(7349001)", err)) != RB_OK)
            goto fail;
        if ((s = st->ops->exec(st, "CREATE TABLE IF NOT EXISTS schema_version ("
                                   " version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)", err)) != RB_OK)
            goto fail;
        int cur = 0;
        if ((s = st->ops->query(st, "SELECT COALESCE(MAX(version), 0) FROM schema_version", 0, NULL,
                                version_row, &cur, err)) != RB_OK)
            goto fail;
        const migration *next = NULL;
        for (size_t i = 0; i < NMIGRATIONS; i++)
            if (migrations[i].version > cur && migrations[i].version <= target) { next = &migrations[i]; break; }
        if (cur > rb_store_latest_schema_version()) {
            st->ops->exec(st, "ROLLBACK", err);
            rb_seterr(err, "%s: schema version %d is newer than this rebound knows (%d); upgrade rebound",
                      st->url, cur, rb_store_latest_schema_version());
            return RB_ERR_DB;
        }
        if (!next) {
            st->schema_version = cur;
            return st->ops->exec(st, "COMMIT", err);
        }
        if ((s = st->ops->exec(st, is_pg ? next->pg : next->sqlite, err)) != RB_OK) goto fail;
        if (next->fill && (s = next->fill(st, err)) != RB_OK) goto fail;
        char v[32], t[32];
        snprintf(v, sizeof v, "%d", next->version);
        snprintf(t, sizeof t, "%lld", (long long)time(NULL));
        const char *params[] = {v, t};
        if ((s = st->ops->query(st, "INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)", 2,
                                params, NULL, NULL, err)) != RB_OK)
            goto fail;
        if ((s = st->ops->exec(st, "COMMIT", err)) != RB_OK) return s;
        continue;
    fail:;
        rb_error e2;
        st->ops->exec(st, "ROLLBACK", &e2);
        char m[sizeof err->msg];
        rb_strlcpy(m, err->msg, sizeof m);
        rb_seterr(err, "%s: migration failed: %s", st->url, m);
        return s;
    }
}

/* ---- open / close ------------------------------------------------------------ */
static int is_pg_url(const char *url)
{
    return !strncmp(url, "postgresql://", 13) || !strncmp(url, "postgres://", 11) ||
           !strncmp(url, "postgresql:", 11);
}

/* "mysql:x.db", "http://...": a scheme we do not know.  A Windows-style
 * "C:\\x" cannot occur here; a path with a ':' after a '/' is a path. */
static int unknown_scheme(const char *url)
{
    const char *colon = strchr(url, ':');
    if (!colon || colon == url) return 0;
    for (const char *p = url; p < colon; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '+' ||
              *p == '-' || *p == '.'))
            return 0;
    return 1;
}

static rb_status open_store(const char *url, int target, const rb_store_opts *opts, rb_store **out, rb_error *err)
{
    static const rb_store_opts defaults;
    if (!opts) opts = &defaults;
    *out = NULL;
    if (!url || !*url) url = "rebound.db";
    rb_store *st = calloc(1, sizeof *st);
    if (!st) { rb_seterr(err, "out of memory"); return RB_ERR_NOMEM; }
    rb_mask_url(url, st->url, sizeof st->url);
    if (is_pg_url(url)) {
        st->ops = &rb_store_pg_ops;
    } else if (!strncmp(url, "sqlite:", 7) || !unknown_scheme(url)) {
        st->ops = &rb_store_sqlite_ops;
        if (!strncmp(url, "sqlite:", 7)) url += 7;
        if (!strncmp(url, "//", 2)) url += 2;     /* sqlite:///path */
    } else {
        rb_seterr(err, "%s: unknown kind of store (a SQLite path, sqlite:PATH, or postgresql://...)", st->url);
        free(st);
        return RB_ERR_CONFIG;
    }
    rb_status s = st->ops->open(st, url, opts, err);
    if (s == RB_OK) s = migrate(st, target, opts->create, err);
    if (s != RB_OK) {
        if (st->h) st->ops->close(st);
        free(st);
        return s;
    }
    *out = st;
    return RB_OK;
}

rb_status rb_store_open_opts(const char *url, const rb_store_opts *opts, rb_store **out, rb_error *err)
{
    return open_store(url, rb_store_latest_schema_version(), opts, out, err);
}

rb_status rb_store_open(const char *url, rb_store **out, rb_error *err)
{
    return open_store(url, rb_store_latest_schema_version(), NULL, out, err);
}

rb_status rb_store_open_upto(const char *url, int version, rb_store **out, rb_error *err)
{
    static const rb_store_opts create = {1, 0};
    return open_store(url, version, &create, out, err);
}

void rb_store_close(rb_store *st)
{
    if (!st) return;
    if (st->in_tx) {
        rb_error e;
        st->ops->exec(st, "ROLLBACK", &e);
    }
    rb_store_rollup_discard(st);
    if (st->h) st->ops->close(st);
    free(st);
}

const char *rb_store_backend(const rb_store *st) { return st->ops->name; }
int rb_store_schema_version(const rb_store *st) { return st->schema_version; }

rb_status rb_store_begin(rb_store *st, rb_error *err)
{
    rb_status s = st->ops->exec(st, st->ops == &rb_store_pg_ops ? "BEGIN" : "BEGIN IMMEDIATE", err);
    if (s == RB_OK) st->in_tx = 1;
    return s;
}

rb_status rb_store_commit(rb_store *st, rb_error *err)
{
    /* the report rollups' deltas of the transaction, then the commit; a
     * failed write leaves the transaction open for the caller's rollback */
    rb_status s = rb_store_rollup_flush(st, err);
    if (s != RB_OK) return s;
    s = st->ops->exec(st, "COMMIT", err);
    st->in_tx = 0;
    return s;
}

rb_status rb_store_rollback(rb_store *st, rb_error *err)
{
    rb_store_rollup_discard(st);
    rb_status s = st->ops->exec(st, "ROLLBACK", err);
    st->in_tx = 0;
    return s;
}

/* ---- batch operations: the backend's own ----------------------------------------- */
rb_status rb_store_contacts_load(rb_store *st, const char *const *emails, size_t n, int for_update,
                                 rb_contact *out, int *found, rb_error *err)
{
    if (n == 0) return RB_OK;
    return st->ops->contacts_load(st, emails, n, for_update, out, found, err);
}

rb_status rb_store_contacts_insert(rb_store *st, rb_contact *cs, size_t n, int *inserted, rb_error *err)
{
    if (n == 0) return RB_OK;
    return st->ops->contacts_insert(st, cs, n, inserted, err);
}

rb_status rb_store_contacts_save(rb_store *st, const rb_contact *cs, size_t n, rb_error *err)
{
    if (n == 0) return RB_OK;
    return st->ops->contacts_save(st, cs, n, err);
}

rb_status rb_store_events_known(rb_store *st, const char *const *keys, size_t n, int *known, rb_error *err)
{
    if (n == 0) return RB_OK;
    return st->ops->events_known(st, keys, n, known, err);
}

rb_status rb_store_events_insert(rb_store *st, const rb_event *ev, size_t n, rb_error *err)
{
    if (n == 0) return RB_OK;
    rb_status s = st->ops->events_insert(st, ev, n, err);
    return s == RB_OK ? rb_store_rollup_events(st, ev, n, err) : s;
}

rb_status rb_store_soft_events(rb_store *st, const int64_t *ids, size_t n, int64_t min_time, rb_soft_cb cb,
                               void *arg, rb_error *err)
{
    if (n == 0) return RB_OK;
    return st->ops->soft_events(st, ids, n, min_time, cb, arg, err);
}

/* ---- rows ------------------------------------------------------------------------- */
static int64_t i64(const char *s) { return s ? strtoll(s, NULL, 10) : 0; }
static void txt(char *dst, size_t size, const char *s) { rb_strlcpy(dst, s ? s : "", size); }

void rb_contact_from_row(rb_contact *c, const char *const *v)
{
    memset(c, 0, sizeof *c);
    c->id = i64(v[0]);
    txt(c->email, sizeof c->email, v[1]);
    txt(c->email_norm, sizeof c->email_norm, v[2]);
    txt(c->source, sizeof c->source, v[3]);
    c->for_mailing = (int)i64(v[4]) != 0;
    int st = rb_contact_status_parse(v[5] ? v[5] : "");
    c->status = st < 0 ? RB_CS_ACTIVE : st;
    txt(c->bounce_type, sizeof c->bounce_type, v[6]);
    txt(c->reason, sizeof c->reason, v[7]);
    txt(c->status_code, sizeof c->status_code, v[8]);
    txt(c->status_message, sizeof c->status_message, v[9]);
    txt(c->provider, sizeof c->provider, v[10]);
    txt(c->provider_source, sizeof c->provider_source, v[11]);
    c->soft_count = (int)i64(v[12]);
    c->soft_since = i64(v[13]);
    c->quarantine_until = i64(v[14]);
    c->last_bounce_at = i64(v[15]);
    c->last_delivered_at = i64(v[16]);
    c->created_at = i64(v[17]);
    c->updated_at = i64(v[18]);
}

void rb_event_from_row(rb_event *e, const char *const *v)
{
    memset(e, 0, sizeof *e);
    txt(e->key, sizeof e->key, v[0]);
    e->contact_id = i64(v[1]);
    e->event_time = i64(v[2]);
    e->applied_at = i64(v[3]);
    txt(e->bounce_type, sizeof e->bounce_type, v[4]);
    txt(e->reason, sizeof e->reason, v[5]);
    txt(e->status, sizeof e->status, v[6]);
    txt(e->reply_code, sizeof e->reply_code, v[7]);
    txt(e->decision, sizeof e->decision, v[8]);
    txt(e->diagnostic, sizeof e->diagnostic, v[9]);
    txt(e->remote_mta, sizeof e->remote_mta, v[10]);
    txt(e->provider, sizeof e->provider, v[11]);
    txt(e->source, sizeof e->source, v[12]);
    txt(e->evidence, sizeof e->evidence, v[13]);
    txt(e->rule, sizeof e->rule, v[14]);
    txt(e->alert, sizeof e->alert, v[15]);
    txt(e->account, sizeof e->account, v[16]);
}

/* ---- iteration -------------------------------------------------------------------- */
typedef struct {
    rb_contact_cb cb;
    void *arg;
    rb_contact c;
} contact_iter;

static int contact_row(void *arg, int ncols, const char *const *vals)
{
    contact_iter *it = arg;
    if (ncols < RB_CONTACT_NCOLS) return 1;
    rb_contact_from_row(&it->c, vals);
    return it->cb(it->arg, &it->c);
}

static rb_status each_contact(rb_store *st, const char *sql, rb_contact_cb cb, void *arg, rb_error *err)
{
    contact_iter *it = malloc(sizeof *it);
    if (!it) { rb_seterr(err, "out of memory"); return RB_ERR_NOMEM; }
    it->cb = cb;
    it->arg = arg;
    rb_status s = st->ops->query(st, sql, 0, NULL, contact_row, it, err);
    free(it);
    return s;
}

rb_status rb_store_contacts_each(rb_store *st, rb_contact_cb cb, void *arg, rb_error *err)
{
    return each_contact(st, "SELECT " RB_CONTACT_COLS " FROM contacts ORDER BY id", cb, arg, err);
}

rb_status rb_store_queue_each(rb_store *st, rb_contact_cb cb, void *arg, rb_error *err)
{
    return each_contact(st,
                        "SELECT c.id, c.email, c.email_norm, c.source, c.for_mailing, c.status,"
                        " c.bounce_type, c.reason, c.status_code, c.status_message, c.provider,"
                        " c.provider_source, c.soft_count, c.soft_since, c.quarantine_until,"
                        " c.last_bounce_at, c.last_delivered_at, c.created_at, c.updated_at"
                        " FROM queue q JOIN contacts c ON c.id = q.contact_id ORDER BY q.position",
                        cb, arg, err);
}

typedef struct {
    rb_event_cb cb;
    void *arg;
    rb_event e;
} event_iter;

static int event_row(void *arg, int ncols, const char *const *vals)
{
    event_iter *it = arg;
    if (ncols < RB_EVENT_NCOLS) return 1;
    rb_event_from_row(&it->e, vals);
    return it->cb(it->arg, &it->e);
}

rb_status rb_store_events_of(rb_store *st, int64_t contact_id, rb_event_cb cb, void *arg, rb_error *err)
{
    event_iter *it = malloc(sizeof *it);
    if (!it) { rb_seterr(err, "out of memory"); return RB_ERR_NOMEM; }
    it->cb = cb;
    it->arg = arg;
    char id[32];
    snprintf(id, sizeof id, "%lld", (long long)contact_id);
    const char *p[] = {id};
    rb_status s = st->ops->query(st, "SELECT " RB_EVENT_COLS " FROM events WHERE contact_id = $1"
                                     " ORDER BY event_time, id", 1, p, event_row, it, err);
    free(it);
    return s;
}

static int i64_row(void *arg, int ncols, const char *const *vals)
{
    if (ncols > 0 && vals[0]) *(int64_t *)arg = strtoll(vals[0], NULL, 10);
    return 0;
}

int64_t rb_store_count_contacts(rb_store *st, rb_error *err)
{
    int64_t n = -1;
    if (st->ops->query(st, "SELECT COUNT(*) FROM contacts", 0, NULL, i64_row, &n, err) != RB_OK) return -1;
    return n;
}

int64_t rb_store_count_events(rb_store *st, rb_error *err)
{
    int64_t n = -1;
    if (st->ops->query(st, "SELECT COUNT(*) FROM events", 0, NULL, i64_row, &n, err) != RB_OK) return -1;
    return n;
}

/* ---- the queue ---------------------------------------------------------------------- */
/* The excluded source names go into a temporary table, so one SQL text serves
 * any list in both dialects. */
static rb_status set_excluded(rb_store *st, const char *const *ex, size_t nex, rb_error *err)
{
    rb_status s = st->ops->exec(st, "CREATE TEMPORARY TABLE IF NOT EXISTS rb_excluded (name TEXT PRIMARY KEY)",
                                err);
    if (s == RB_OK) s = st->ops->exec(st, "DELETE FROM rb_excluded", err);
    for (size_t i = 0; s == RB_OK && i < nex; i++) {
        const char *p[] = {ex[i]};
        s = st->ops->query(st, "INSERT INTO rb_excluded (name) VALUES ($1) ON CONFLICT DO NOTHING", 1, p, NULL,
                           NULL, err);
    }
    return s;
}

/* rows: status, for_mailing, quarantined-now, excluded, queued, count */
static int stats_row(void *arg, int ncols, const char *const *v)
{
    rb_queue_stats *qs = arg;
    if (ncols < 6) return 1;
    int status = rb_contact_status_parse(v[0] ? v[0] : "");
    int64_t n = i64(v[5]);
    qs->contacts += n;
    if (status >= 0) qs->by_status[status] += n;
    if (!i64(v[1])) qs->not_for_mailing += n;
    if (i64(v[2])) qs->quarantined += n;
    else if (i64(v[1]) && i64(v[3])) qs->excluded_source += n;
    if (i64(v[4])) qs->queued += n;
    return 0;
}

static rb_status collect_stats(rb_store *st, int64_t now, rb_queue_stats *qs, rb_error *err)
{
    char t[32];
    snprintf(t, sizeof t, "%lld", (long long)now);
    const char *p[] = {t};
    int64_t released = qs->released;
    memset(qs, 0, sizeof *qs);
    qs->released = released;
    return st->ops->query(
        st,
        "SELECT c.status, c.for_mailing,"
        " CASE WHEN c.status = 'quarantined' AND c.quarantine_until > $1 THEN 1 ELSE 0 END,"
        " CASE WHEN c.source IN (SELECT name FROM rb_excluded) THEN 1 ELSE 0 END,"
        " CASE WHEN q.contact_id IS NULL THEN 0 ELSE 1 END, COUNT(*)"
        " FROM contacts c LEFT JOIN queue q ON q.contact_id = c.id"
        " GROUP BY 1, 2, 3, 4, 5",
        1, p, stats_row, qs, err);
}

/* Quarantines that ended by `now` return the contact to the mailing: status
 * active again, soft count restarted from the end of the quarantine. */
#define RELEASE_SQL \
    "UPDATE contacts SET status = 'active', for_mailing = 1, soft_count = 0," \
    " soft_since = quarantine_until, quarantine_until = 0, updated_at = $1" \
    " WHERE status = 'quarantined' AND quarantine_until <= $1"

static rb_status count_releasable(rb_store *st, int64_t now, int64_t *n, rb_error *err)
{
    char t[32];
    snprintf(t, sizeof t, "%lld", (long long)now);
    const char *p[] = {t};
    *n = 0;
    return st->ops->query(st, "SELECT COUNT(*) FROM contacts WHERE status = 'quarantined' AND quarantine_until <= $1",
                          1, p, i64_row, n, err);
}

rb_status rb_store_queue_rebuild(rb_store *st, const char *const *ex, size_t nex, int64_t now,
                                 rb_queue_stats *qs, rb_error *err)
{
    char t[32];
    snprintf(t, sizeof t, "%lld", (long long)now);
    const char *p[] = {t};
    rb_status s = rb_store_begin(st, err);
    if (s != RB_OK) return s;
    memset(qs, 0, sizeof *qs);
    if ((s = set_excluded(st, ex, nex, err)) != RB_OK) goto fail;
    if ((s = count_releasable(st, now, &qs->released, err)) != RB_OK) goto fail;
    if ((s = st->ops->query(st, RELEASE_SQL, 1, p, NULL, NULL, err)) != RB_OK) goto fail;
    if ((s = st->ops->exec(st, "DELETE FROM queue", err)) != RB_OK) goto fail;
    /* the position is the contact id: stable, oldest contacts first, and no
     * sort of all contacts in memory */
    if ((s = st->ops->query(st,
                            "INSERT INTO queue (position, contact_id, added_at)"
                            " SELECT id, id, $1 FROM contacts"
                            " WHERE for_mailing = 1 AND status <> 'quarantined'"
                            " AND source NOT IN (SELECT name FROM rb_excluded)",
                            1, p, NULL, NULL, err)) != RB_OK)
        goto fail;
    if ((s = collect_stats(st, now, qs, err)) != RB_OK) goto fail;
    return rb_store_commit(st, err);
fail:;
    rb_error e2;
    rb_store_rollback(st, &e2);
    return s;
}

rb_status rb_store_queue_stats(rb_store *st, const char *const *ex, size_t nex, int64_t now,
                               rb_queue_stats *qs, rb_error *err)
{
    memset(qs, 0, sizeof *qs);
    rb_status s = set_excluded(st, ex, nex, err);
    if (s == RB_OK) s = count_releasable(st, now, &qs->released, err);
    if (s == RB_OK) s = collect_stats(st, now, qs, err);
    return s;
}

typedef struct {
    rb_source_cb cb;
    void *arg;
} source_iter;

static int source_row(void *arg, int ncols, const char *const *v)
{
    source_iter *it = arg;
    if (ncols < 3) return 1;
    return it->cb(it->arg, v[0] ? v[0] : "", i64(v[1]), i64(v[2]));
}

rb_status rb_store_queue_by_source(rb_store *st, rb_source_cb cb, void *arg, rb_error *err)
{
    source_iter it = {cb, arg};
    return st->ops->query(st,
                          "SELECT c.source, COUNT(*), COUNT(q.contact_id) FROM contacts c"
                          " LEFT JOIN queue q ON q.contact_id = c.id GROUP BY c.source ORDER BY c.source",
                          0, NULL, source_row, &it, err);
}

/* ---- contact status names -------------------------------------------------------------- */
static const char *const status_names[RB_CS_N] = {
    "active", "bounced", "blocked", "quarantined", "unsubscribed", "complaint",
};

const char *rb_contact_status_name(int s)
{
    return s >= 0 && s < RB_CS_N ? status_names[s] : "active";
}

int rb_contact_status_parse(const char *name)
{
    for (int i = 0; i < RB_CS_N; i++)
        if (!strcmp(name, status_names[i])) return i;
    return -1;
}

rb_status rb_store_tune(rb_store *st, int use, rb_error *err)
{
    return st->ops->tune ? st->ops->tune(st, use, err) : RB_OK;
}

rb_status rb_store_checkpoint(rb_store *st, long *wal_frames, long *done, rb_error *err)
{
    if (st->ops->checkpoint) return st->ops->checkpoint(st, wal_frames, done, err);
    if (wal_frames) *wal_frames = 0;
    if (done) *done = 0;
    return RB_OK;
}
