/* api_answer.c -- what the status API answers: the JSON of a decided
 * update, of an error and of a contact with its last events (read in one
 * statement), and the store's part of GET /metrics.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "rb_internal.h"
#include "rebound_api.h"
#include "store_impl.h"


/* ---- JSON answers ------------------------------------------------------------------------------ */
static int kv_str(rb_buf *b, const char *k, const char *v, int comma)
{
    if (comma && rb_buf_append(b, ",", 1)) return -1;
    if (rb_json_str(b, k) || rb_buf_append(b, ":", 1)) return -1;
    return rb_json_str(b, v);
}

static int kv_raw(rb_buf *b, const char *k, const char *raw)
{
    if (rb_buf_append(b, ",", 1) || rb_json_str(b, k) || rb_buf_append(b, ":", 1)) return -1;
    return rb_buf_puts(b, raw);
}

static int kv_int(rb_buf *b, const char *k, long long v)
{
    char n[32];
    snprintf(n, sizeof n, "%lld", v);
    return kv_raw(b, k, n);
}

static int kv_time(rb_buf *b, const char *k, int64_t t)
{
    if (!t) return kv_raw(b, k, "null");
    char s[40];
    if (!rb_time_format_iso(t, s, sizeof s)) return kv_raw(b, k, "null");
    return kv_str(b, k, s, 1);
}

static int kv_status(rb_buf *b, const char *k, int status)
{
    return status < 0 ? kv_raw(b, k, "null") : kv_str(b, k, rb_contact_status_name(status), 1);
}

int rb_api_result_json(rb_buf *b, const rb_api_update *u, const rb_api_result *r)
{
    int rc = rb_buf_puts(b, "{");
    rc |= kv_str(b, "email", u->email, 0);
    rc |= kv_str(b, "reported_status", rb__api_status_name(u->status), 1);
    rc |= kv_str(b, "decision", r->decision, 1);
    rc |= kv_raw(b, "changed", r->changed ? "true" : "false");
    rc |= kv_status(b, "old_status", r->old_status);
    rc |= kv_status(b, "new_status", r->new_status);
    rc |= kv_str(b, "reason", r->reason, 1);
    rc |= kv_str(b, "bounce_type", r->bounce_type, 1);
    rc |= kv_int(b, "soft_count", r->soft_count);
    rc |= kv_time(b, "quarantine_until", r->quarantine_until);
    rc |= kv_str(b, "provider_source", u->provider_source, 1);
    rc |= kv_str(b, "event", r->event, 1);
    rc |= kv_str(b, "note", r->note, 1);
    rc |= rb_buf_puts(b, "}\n");
    return rc ? -1 : 0;
}

int rb_api_error_json(rb_buf *b, const char *field, const char *msg)
{
    int rc = rb_buf_puts(b, "{");
    rc |= kv_str(b, "error", msg, 0);
    if (field && *field) rc |= kv_str(b, "field", field, 1);
    rc |= rb_buf_puts(b, "}\n");
    return rc ? -1 : 0;
}

int rb_api_contact_json(rb_buf *b, const rb_contact *c, const rb_event *ev, size_t nev)
{
    int rc = rb_buf_puts(b, "{");
    rc |= kv_str(b, "email", c->email, 0);
    rc |= kv_str(b, "email_norm", c->email_norm, 1);
    rc |= kv_str(b, "status", rb_contact_status_name(c->status), 1);
    rc |= kv_raw(b, "for_mailing", c->for_mailing ? "true" : "false");
    rc |= kv_str(b, "source", c->source, 1);
    rc |= kv_str(b, "bounce_type", c->bounce_type, 1);
    rc |= kv_str(b, "reason", c->reason, 1);
    rc |= kv_str(b, "status_code", c->status_code, 1);
    rc |= kv_str(b, "status_message", c->status_message, 1);
    rc |= kv_str(b, "provider", c->provider, 1);
    rc |= kv_str(b, "provider_source", c->provider_source, 1);
    rc |= kv_int(b, "soft_count", c->soft_count);
    rc |= kv_time(b, "quarantine_until", c->quarantine_until);
    rc |= kv_time(b, "last_bounce_at", c->last_bounce_at);
    rc |= kv_time(b, "last_delivered_at", c->last_delivered_at);
    rc |= kv_time(b, "created_at", c->created_at);
    rc |= kv_time(b, "updated_at", c->updated_at);
    rc |= rb_buf_puts(b, ",\"events\":[");
    for (size_t i = 0; i < nev; i++) {
        const rb_event *e = &ev[i];
        rc |= rb_buf_puts(b, i ? ",{" : "{");
        rc |= kv_str(b, "event", e->key, 0);
        rc |= kv_time(b, "time", e->event_time);
        rc |= kv_time(b, "applied_at", e->applied_at);
        rc |= kv_str(b, "bounce_type", e->bounce_type, 1);
        rc |= kv_str(b, "reason", e->reason, 1);
        rc |= kv_str(b, "status", e->status, 1);
        rc |= kv_str(b, "reply_code", e->reply_code, 1);
        rc |= kv_str(b, "decision", e->decision, 1);
        rc |= kv_str(b, "diagnostic", e->diagnostic, 1);
        rc |= kv_str(b, "provider", e->provider, 1);
        rc |= kv_str(b, "source", e->source, 1);
        rc |= kv_str(b, "evidence", e->evidence, 1);
        rc |= kv_str(b, "rule", e->rule, 1);
        rc |= rb_buf_puts(b, "}");
    }
    rc |= rb_buf_puts(b, "]}\n");
    return rc ? -1 : 0;
}

/* ---- reading and tuning the store ------------------------------------------------------------------ */
typedef struct {
    rb_contact *c;
    int *found;
    rb_event *ev;
    size_t max, n;
} view_ctx;

static int view_row(void *arg, int ncols, const char *const *vals)
{
    view_ctx *v = arg;
    if (ncols < RB_CONTACT_NCOLS + RB_EVENT_NCOLS) return 1;
    if (!*v->found) {
        rb_contact_from_row(v->c, vals);
        *v->found = 1;
    }
    if (vals[RB_CONTACT_NCOLS] && v->n < v->max) rb_event_from_row(&v->ev[v->n++], vals + RB_CONTACT_NCOLS);
    return 0;
}

static int newest_first(const void *x, const void *y)
{
    const rb_event *a = x, *b = y;
    if (a->event_time != b->event_time) return a->event_time < b->event_time ? 1 : -1;
    if (a->applied_at != b->applied_at) return a->applied_at < b->applied_at ? 1 : -1;
    return strcmp(a->key, b->key);
}

rb_status rb_api_contact_view(rb_store *st, const char *email_norm, size_t max_events, rb_contact *c, int *found,
                              rb_event *ev, size_t *nev, rb_error *err)
{
    /* the contact joined to its last events: every row repeats the contact,
     * a contact without events comes as one row of NULL events */
    static const char *sql =
        "SELECT * FROM (SELECT " RB_CONTACT_COLS " FROM contacts WHERE email_norm = $1) c"
        " LEFT JOIN (SELECT " RB_EVENT_COLS " FROM events"
        "  WHERE contact_id = (SELECT id FROM contacts WHERE email_norm = $1)"
        "  ORDER BY event_time DESC, id DESC LIMIT $2) e ON 1 = 1";
    char lim[32];
    snprintf(lim, sizeof lim, "%zu", max_events);
    const char *p[] = {email_norm, lim};
    view_ctx v = {c, found, ev, max_events, 0};
    *found = 0;
    *nev = 0;
    rb_status s = st->ops->query(st, sql, 2, p, view_row, &v, err);
    if (s != RB_OK) return s;
    qsort(ev, v.n, sizeof *ev, newest_first);
    *nev = v.n;
    return RB_OK;
}

/* ---- metrics (GET /metrics, the Prometheus text format 0.0.4) -------------------------------------- */
int rb_api_prom_label(rb_buf *b, const char *v)
{
    /* the format's three escapes; a label value is UTF-8: an invalid byte becomes U+FFFD */
    const unsigned char *p = (const unsigned char *)(v ? v : "");
    size_t n = strlen((const char *)p);
    int rc = rb_buf_puts(b, "\"");
    for (size_t i = 0; i < n && !rc;) {
        size_t l = rb_utf8_seq((const char *)p + i, n - i);
        if (!l) { rc |= rb_buf_puts(b, "\xEF\xBF\xBD"); i++; continue; }
        if (p[i] == '\\') rc |= rb_buf_puts(b, "\\\\");
        else if (p[i] == '"') rc |= rb_buf_puts(b, "\\\"");
        else if (p[i] == '\n') rc |= rb_buf_puts(b, "\\n");
        else rc |= rb_buf_append(b, (const char *)p + i, l);
        i += l;
    }
    rc |= rb_buf_puts(b, "\"");
    return rc ? -1 : 0;
}

typedef struct {
    rb_buf *contacts, *events;
    int rc;
} metrics_ctx;

static int metrics_row(void *arg, int ncols, const char *const *vals)
{
    metrics_ctx *m = arg;
    if (ncols < 4 || !vals[0]) return 0;
    const char *count = vals[3] ? vals[3] : "0";
    if (vals[0][0] == 'c') {
        m->rc |= rb_buf_puts(m->contacts, "rebound_contacts{status=");
        m->rc |= rb_api_prom_label(m->contacts, vals[1]);
        m->rc |= rb_buf_puts(m->contacts, ",provider=");
        m->rc |= rb_api_prom_label(m->contacts, vals[2]);
        m->rc |= rb_buf_puts(m->contacts, "} ");
        m->rc |= rb_buf_puts(m->contacts, count);
        m->rc |= rb_buf_puts(m->contacts, "\n");
    } else {
        m->rc |= rb_buf_puts(m->events, "rebound_events_total{bounce_type=");
        m->rc |= rb_api_prom_label(m->events, vals[1]);
        m->rc |= rb_buf_puts(m->events, "} ");
        m->rc |= rb_buf_puts(m->events, count);
        m->rc |= rb_buf_puts(m->events, "\n");
    }
    return m->rc != 0;
}

rb_status rb_api_metrics_store(rb_store *st, rb_buf *out, rb_error *err)
{
    /* one statement, one round trip: both tables' aggregates */
    static const char *sql =
        "SELECT 'c', status, provider, COUNT(*) FROM contacts GROUP BY status, provider"
        " UNION ALL SELECT 'e', bounce_type, '', COUNT(*) FROM events GROUP BY bounce_type"
        " ORDER BY 1, 2, 3";
    rb_buf c, e;
    rb_buf_init(&c);
    rb_buf_init(&e);
    metrics_ctx m = {&c, &e, 0};
    rb_status s = st->ops->query(st, sql, 0, NULL, metrics_row, &m, err);
    if (s == RB_OK && m.rc) {
        rb_seterr(err, "out of memory");
        s = RB_ERR_NOMEM;
    }
    if (s == RB_OK) {
        int rc = rb_buf_puts(out, "# HELP rebound_contacts Contacts in the store, by status and provider.\n"
                                  "# TYPE rebound_contacts gauge\n");
        if (c.len) rc |= rb_buf_append(out, c.buf, c.len);
        rc |= rb_buf_puts(out, "# HELP rebound_events_total Bounce events stored (every event ever applied), by "
                               "bounce type.\n"
                               "# TYPE rebound_events_total counter\n");
        if (e.len) rc |= rb_buf_append(out, e.buf, e.len);
        if (rc) {
            rb_seterr(err, "out of memory");
            s = RB_ERR_NOMEM;
        }
    }
    rb_buf_free(&c);
    rb_buf_free(&e);
    return s;
}
