/* api.c -- the status API's request handling (rebound serve): parsing and
 * validating a provider's update (form-encoded or JSON), what its status
 * means for the contact (the table in rebound_api.h), deciding a group of
 * updates in as few transactions as possible, the JSON answers, and the
 * keys (generation, hashing, constant-time comparison).
 *
 * Parsing is pure: a body in, validated fields or an error naming the field
 * out, so it can be fuzzed and unit-tested without a server or a store.
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

static const char *const api_status_names[RB_API_NSTATUS] = {
    "bounced", "blocked", "deferred", "complaint", "unsubscribed", "active",
};

static const char *status_name(int s)
{
    return s >= 0 && s < RB_API_NSTATUS ? api_status_names[s] : "?";
}

/* ---- small helpers ------------------------------------------------------------- */
static int seterr(rb_api_error *e, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int seterr(rb_api_error *e, const char *field, const char *fmt, ...)
{
    rb_strlcpy(e->field, field, sizeof e->field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return 400;
}

/* Copy src (valid UTF-8) into dst of size dstlen, cut at a character
 * boundary; control characters become spaces and runs of white space one
 * space; trimmed. */
static void copy_line(char *dst, size_t dstlen, const char *src, size_t n)
{
    size_t o = 0;
    int space = 1;      /* drops leading white space */
    const unsigned char *p = (const unsigned char *)src;
    for (size_t i = 0; i < n;) {
        size_t l = rb_utf8_seq((const char *)p + i, n - i);
        if (!l) l = 1;
        if (p[i] < 0x20 || p[i] == 0x7F || p[i] == ' ') {
            if (!space && o + 1 < dstlen) { dst[o++] = ' '; space = 1; }
            i++;
            continue;
        }
        if (o + l >= dstlen) break;
        memcpy(dst + o, p + i, l);
        o += l;
        i += l;
        space = 0;
    }
    while (o && dst[o - 1] == ' ') o--;
    dst[o] = '\0';
}

int rb_api_name_valid(const char *name)
{
    size_t n = 0;
    for (const char *p = name; *p; p++, n++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-' || c == ':' || c == '+'))
            return 0;
    }
    return n >= 1 && n < RB_API_NAME_MAX;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* "550", "5.1.10", "550 5.1.10" (either order). */
static int parse_status_code(rb_api_update *u, const char *v, rb_api_error *e)
{
    char buf[RB_SHORT_MAX];
    copy_line(buf, sizeof buf, v, strlen(v));
    if (strlen(v) >= sizeof buf) return seterr(e, "status_code", "too long (at most %zu bytes)", sizeof buf - 1);
    rb_strlcpy(u->status_code, buf, sizeof u->status_code);
    char *save = NULL;
    for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        size_t l = strlen(t);
        if (l == 3 && t[0] >= '2' && t[0] <= '5' && is_digit(t[1]) && is_digit(t[2]) && !u->reply_code[0]) {
            rb_strlcpy(u->reply_code, t, sizeof u->reply_code);
            continue;
        }
        /* class.subject.detail: class 2, 4 or 5, then 1-3 digits twice */
        int ok = (t[0] == '2' || t[0] == '4' || t[0] == '5') && t[1] == '.' && !u->dsn_status[0];
        const char *p = t + 2;
        for (int part = 0; ok && part < 2; part++) {
            int d = 0;
            while (is_digit(*p) && d < 4) { p++; d++; }
            if (d < 1 || d > 3) ok = 0;
            else if (part == 0) { if (*p == '.') p++; else ok = 0; }
        }
        if (ok && *p) ok = 0;
        if (!ok)
            return seterr(e, "status_code",
                          "expected an SMTP reply code and/or an enhanced status code, like '550 5.1.10'");
        rb_strlcpy(u->dsn_status, t, sizeof u->dsn_status);
    }
    return 0;
}

/* ---- fields --------------------------------------------------------------------- */
enum { F_EMAIL, F_STATUS, F_BOUNCE_TYPE, F_STATUS_CODE, F_STATUS_MESSAGE, F_PROVIDER, F_PROVIDER_SOURCE, F_DATE, F_N };
static const char *const field_names[F_N] = {
    "email", "status", "bounce_type", "status_code", "status_message", "provider", "provider_source", "date",
};

static int field_of(const char *name, size_t n)
{
    for (int i = 0; i < F_N; i++)
        if (strlen(field_names[i]) == n && !memcmp(field_names[i], name, n)) return i;
    return -1;
}

/* One field's value (n bytes, may hold NULs: an error). */
static int set_field(rb_api_update *u, int f, const char *v, size_t n, int64_t now, rb_api_error *e)
{
    const char *name = field_names[f];
    if (memchr(v, '\0', n)) return seterr(e, name, "contains a NUL byte");
    long bad = rb_utf8_invalid_at(v, n);
    if (bad >= 0) return seterr(e, name, "not valid UTF-8 (byte %ld of the value)", bad + 1);
    switch (f) {
    case F_EMAIL: {
        if (n >= RB_ADDR_MAX) return seterr(e, name, "too long (at most %d bytes)", RB_ADDR_MAX - 1);
        memcpy(u->email, v, n);
        u->email[n] = '\0';
        rb_trim(u->email);
        char why[RB_ADDR_MAX];
        if (!u->email[0]) return seterr(e, name, "empty");
        if (!rb_email_normalize(u->email, u->email_norm, sizeof u->email_norm)) {
            rb_strlcpy(why, u->email_norm, sizeof why);
            u->email_norm[0] = '\0';
            return seterr(e, name, "not a valid address: %.200s", why);
        }
        return 0;
    }
    case F_STATUS:
    case F_BOUNCE_TYPE: {
        char w[32];
        if (n >= sizeof w) return seterr(e, name, "unknown value");
        memcpy(w, v, n);
        w[n] = '\0';
        rb_trim(w);
        rb_lower(w);
        if (f == F_STATUS) {
            for (int i = 0; i < RB_API_NSTATUS; i++)
                if (!strcmp(w, api_status_names[i])) { u->status = i; return 0; }
            return seterr(e, name, "must be one of bounced, blocked, deferred, complaint, unsubscribed, active");
        }
        if (!w[0] || !strcmp(w, "hard") || !strcmp(w, "soft") || !strcmp(w, "blocked") || !strcmp(w, "complaint")) {
            rb_strlcpy(u->bounce_type, w, sizeof u->bounce_type);
            return 0;
        }
        return seterr(e, name, "must be hard, soft, blocked or complaint (or empty)");
    }
    case F_STATUS_CODE: {
        char w[RB_SHORT_MAX + 1];
        if (n >= RB_SHORT_MAX) return seterr(e, name, "too long (at most %d bytes)", RB_SHORT_MAX - 1);
        memcpy(w, v, n);
        w[n] = '\0';
        return parse_status_code(u, w, e);
    }
    case F_STATUS_MESSAGE:
        /* NDR texts run long: kept to the store's bound, as apply keeps them */
        copy_line(u->status_message, sizeof u->status_message, v, n);
        return 0;
    case F_PROVIDER:
    case F_PROVIDER_SOURCE: {
        char *dst = f == F_PROVIDER ? u->provider : u->provider_source;
        if (n >= RB_API_NAME_MAX) return seterr(e, name, "too long (at most %d bytes)", RB_API_NAME_MAX - 1);
        copy_line(dst, RB_API_NAME_MAX, v, n);
        return 0;
    }
    case F_DATE: {
        char w[RB_SHORT_MAX];
        if (n >= sizeof w) return seterr(e, name, "too long");
        memcpy(w, v, n);
        w[n] = '\0';
        rb_trim(w);
        if (!w[0]) return 0;
        int64_t t;
        if (!rb_time_parse(w, &t)) return seterr(e, name, "not a date (ISO 8601 or RFC 5322)");
        if (t > now + 86400) return seterr(e, name, "in the future");
        if (t < 0 || !rb_time_format_iso(t, u->date, sizeof u->date)) return seterr(e, name, "out of range");
        u->event_time = t;
        return 0;
    }
    }
    return 0;
}

static int finish_fields(rb_api_update *u, const int *seen, rb_api_error *e)
{
    if (!seen[F_EMAIL]) return seterr(e, "email", "missing");
    if (!seen[F_STATUS]) return seterr(e, "status", "missing");
    return 0;
}

/* ---- form-encoded bodies ------------------------------------------------------------- */
static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decode s[0..n) into out (room for n bytes); returns the length, or -1 and
 * *bad = offset of a broken %-escape. */
static long form_decode(const char *s, size_t n, char *out, size_t *bad)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') out[o++] = ' ';
        else if (s[i] == '%') {
            int h = i + 2 < n ? hexval(s[i + 1]) : -1;
            int l = h >= 0 ? hexval(s[i + 2]) : -1;
            if (h < 0 || l < 0) { *bad = i; return -1; }
            out[o++] = (char)(h * 16 + l);
            i += 2;
        } else out[o++] = s[i];
    }
    return (long)o;
}

static int parse_form(const char *body, size_t len, int64_t now, rb_api_update *u, rb_api_error *e)
{
    int seen[F_N] = {0};
    char *buf = malloc(len + 1);
    if (!buf) return seterr(e, "", "out of memory");
    int rc = 0;
    size_t i = 0;
    while (i <= len && rc == 0) {
        size_t j = i;
        while (j < len && body[j] != '&') j++;
        const char *pair = body + i;
        size_t plen = j - i;
        if (plen) {
            const char *eq = memchr(pair, '=', plen);
            size_t nlen = eq ? (size_t)(eq - pair) : plen;
            size_t bad;
            long dn = form_decode(pair, nlen, buf, &bad);
            if (dn < 0) {
                rc = seterr(e, "", "bad percent-encoding at byte %zu of the body", i + bad + 1);
                break;
            }
            int f = field_of(buf, (size_t)dn);
            if (f >= 0) {
                if (seen[f]) { rc = seterr(e, field_names[f], "given twice"); break; }
                seen[f] = 1;
                const char *v = eq ? eq + 1 : pair + plen;
                size_t vlen = (size_t)(pair + plen - v);
                long vn = form_decode(v, vlen, buf, &bad);
                if (vn < 0) {
                    rc = seterr(e, field_names[f], "bad percent-encoding at byte %zu of the body",
                                (size_t)(v - body) + bad + 1);
                    break;
                }
                rc = set_field(u, f, buf, (size_t)vn, now, e);
            }
        }
        i = j + 1;
    }
    free(buf);
    return rc ? rc : finish_fields(u, seen, e);
}

/* ---- JSON bodies ------------------------------------------------------------------------ */
static int parse_json(const char *body, size_t len, int64_t now, rb_api_update *u, rb_api_error *e)
{
    json_error_t je;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return seterr(e, "", "invalid JSON at line %d, column %d: %.160s", je.line, je.column, je.text);
    int rc = 0;
    int seen[F_N] = {0};
    if (!json_is_object(root)) {
        rc = seterr(e, "", "the body must be a JSON object");
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        int f = field_of(k, strlen(k));
        if (f < 0 || json_is_null(v)) continue;
        seen[f] = 1;
        char num[32];
        const char *s;
        size_t n;
        if (json_is_string(v)) {
            s = json_string_value(v);
            n = json_string_length(v);
        } else if (f == F_STATUS_CODE && json_is_integer(v)) {
            snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
            s = num;
            n = strlen(num);
        } else {
            rc = seterr(e, field_names[f], "must be a string");
            break;
        }
        if ((rc = set_field(u, f, s, n, now, e)) != 0) break;
    }
    if (!rc) rc = finish_fields(u, seen, e);
out:
    json_decref(root);
    return rc;
}

int rb_api_parse_update(const char *content_type, const char *body, size_t len, int64_t now, rb_api_update *u,
                        rb_api_error *e)
{
    memset(u, 0, sizeof *u);
    e->field[0] = e->msg[0] = '\0';
    if (!body) body = "";
    int json = -1;
    if (content_type && *content_type) {
        const char *p = content_type;
        while (*p == ' ' || *p == '\t') p++;
        size_t n = strcspn(p, ";");
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
        if (n == 33 && !strncasecmp(p, "application/x-www-form-urlencoded", n)) json = 0;
        else if ((n == 16 && !strncasecmp(p, "application/json", n)) || (n > 5 && !strncasecmp(p + n - 5, "+json", 5)))
            json = 1;
        else {
            seterr(e, "Content-Type", "use application/x-www-form-urlencoded or application/json");
            return 415;
        }
    } else {
        size_t i = 0;
        while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n')) i++;
        json = i < len && body[i] == '{';
    }
    return json ? parse_json(body, len, now, u, e) : parse_form(body, len, now, u, e);
}

/* ---- what a status means ------------------------------------------------------------------- */
enum { C_NONE, C_BLOCKED, C_SOFT, C_HARD, C_COMPLAINT };

static int class_of(const rb_ctx *ctx, const char *reason)
{
    rb_policy_entry pe;
    rb_policy_lookup(ctx, reason, &pe);
    if (!strcmp(pe.bounce_type, "hard")) return C_HARD;
    if (!strcmp(pe.bounce_type, "soft")) return C_SOFT;
    if (!strcmp(pe.bounce_type, "blocked")) return C_BLOCKED;
    if (!strcmp(pe.bounce_type, "complaint")) return C_COMPLAINT;
    return C_NONE;
}

/* The rules found nothing specific: the caller's word decides. */
static int no_evidence(const char *reason)
{
    return !reason[0] || !strcmp(reason, "undefined") || !strcmp(reason, "onhold");
}

void rb_api_prepare(const rb_ctx *ctx, rb_api_update *u, const char *source, const char *default_source,
                    int64_t now)
{
    rb_record *r = &u->rec;
    memset(r, 0, sizeof *r);
    if (!u->provider_source[0] && default_source)
        rb_strlcpy(u->provider_source, default_source, sizeof u->provider_source);
    rb_strlcpy(r->source, source ? source : "api", sizeof r->source);
    rb_strlcpy(r->recipient, u->email, sizeof r->recipient);
    rb_strlcpy(r->status, u->dsn_status, sizeof r->status);
    rb_strlcpy(r->reply_code, u->reply_code, sizeof r->reply_code);
    rb_strlcpy(r->diagnostic, u->status_message, sizeof r->diagnostic);
    rb_strlcpy(r->provider, u->provider, sizeof r->provider);
    if (u->provider[0]) rb_strlcpy(r->provider_source, "api", sizeof r->provider_source);
    rb_strlcpy(r->decoded_by, "api", sizeof r->decoded_by);
    if (u->date[0]) rb_strlcpy(r->date, u->date, sizeof r->date);
    else {
        /* undated: the day it arrives, so a repeat that day is the same event */
        rb_time_format_iso(now - (now % 86400 + 86400) % 86400, r->date, sizeof r->date);
    }

    const char *reason;
    int st = u->status;
    const char *bt = u->bounce_type;
    if (st == RB_API_BOUNCED && !strcmp(bt, "blocked")) st = RB_API_BLOCKED;
    if (st == RB_API_BOUNCED && !strcmp(bt, "complaint")) st = RB_API_COMPLAINT;
    switch (st) {
    case RB_API_COMPLAINT:
        reason = "feedback";
        rb_strlcpy(r->feedback_type, "abuse", sizeof r->feedback_type);
        break;
    case RB_API_ACTIVE:
        reason = "delivered";
        rb_strlcpy(r->dsn_action, "delivered", sizeof r->dsn_action);
        break;
    case RB_API_UNSUBSCRIBED:
        reason = "unsubscribed";
        break;
    default: {
        rb_strlcpy(r->dsn_action, st == RB_API_DEFERRED ? "delayed" : "failed", sizeof r->dsn_action);
        /* what the rules find in the code and text (reason empty: classified) */
        char found[RB_SHORT_MAX];
        rb_classify(ctx, r);
        rb_strlcpy(found, r->reason, sizeof found);
        int c = class_of(ctx, found);
        int evidence = !no_evidence(found);
        if (st == RB_API_BLOCKED) reason = c == C_BLOCKED ? found : "blocked";
        else if (st == RB_API_BOUNCED && !strcmp(bt, "hard"))
            reason = evidence && (c == C_HARD || c == C_SOFT || c == C_BLOCKED) ? found : "suppressed";
        else if (st == RB_API_DEFERRED)
            /* the reason is kept; the policy records a delay, never counts or disables it */
            reason = evidence && (c == C_HARD || c == C_SOFT || c == C_BLOCKED) ? found : "undefined";
        else    /* bounced soft / without a bounce type: never more than soft */
            reason = evidence && (c == C_SOFT || c == C_BLOCKED) ? found : "undefined";
        rb_strlcpy(r->reason, reason, sizeof r->reason);
        reason = r->reason;
        /* the reason stands on the provider's own word ("bounced", "hard",
         * "blocked") where the code and text say less */
        if (strcmp(r->reason, found) != 0 || rb_evidence_parse(r->evidence) < RB_EV_STATUS) {
            if (st == RB_API_BOUNCED && !strcmp(bt, "hard")) {
                rb_strlcpy(r->evidence, "vendor", sizeof r->evidence);
                rb_strlcpy(r->rule, "api:bounced/hard", sizeof r->rule);
            } else if (strcmp(r->reason, found) != 0) {
                rb_strlcpy(r->evidence, "vendor", sizeof r->evidence);
                snprintf(r->rule, sizeof r->rule, "api:%s", st == RB_API_BLOCKED ? "blocked" : "status");
            }
        }
        break;
    }
    }
    if (reason != r->reason) rb_strlcpy(r->reason, reason, sizeof r->reason);
    if (st != RB_API_UNSUBSCRIBED) {
        rb_policy_entry pe;
        rb_policy_for_record(ctx, r, &pe);
        rb_strlcpy(r->bounce_type, pe.bounce_type, sizeof r->bounce_type);
        rb_strlcpy(r->action, pe.action, sizeof r->action);
    } else {
        rb_strlcpy(r->bounce_type, "none", sizeof r->bounce_type);
    }
}

rb_status rb_api_check_policy(const rb_ctx *ctx, rb_error *err)
{
    static const char *const need[] = {"suppressed", "undefined", "blocked", "feedback", "delivered"};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        rb_policy_entry pe;
        if (!rb_policy_lookup(ctx, need[i], &pe)) {
            rb_seterr(err, "the policy names no reason '%s', which the status API uses", need[i]);
            return RB_ERR_CONFIG;
        }
    }
    return RB_OK;
}

/* ---- applying a group ---------------------------------------------------------------------- */
typedef struct {
    rb_api_update *const *u;
    rb_api_result *res;
    const size_t *idx;          /* partition position -> update index */
} plan_arg;

static void on_plan(void *arg, const rb_plan_row *row)
{
    plan_arg *pa = arg;
    size_t i = pa->idx[row->line - 1];
    rb_api_result *r = &pa->res[i];
    r->decision = rb_decision_name(row->decision);
    r->old_status = row->old_status;
    r->new_status = row->new_status;
    r->changed = row->old_status >= 0 && row->old_status != row->new_status;
    r->soft_count = row->soft_count;
    r->quarantine_until = row->quarantine_until;
    rb_strlcpy(r->reason, row->rec->reason, sizeof r->reason);
    rb_strlcpy(r->bounce_type, row->rec->bounce_type, sizeof r->bounce_type);
    rb_strlcpy(r->note, row->note ? row->note : "", sizeof r->note);
    if (row->key && row->key[0]) rb_strlcpy(r->event, row->key, sizeof r->event);    /* as stored */
    else if (row->email_norm && row->email_norm[0]) rb_event_key(row->rec, row->email_norm, r->event, sizeof r->event);
}

/* One rb_apply (one transaction) over the updates idx[0..m). */
static rb_status apply_part(rb_store *st, const rb_ctx *ctx, rb_api_update *const *u, const size_t *idx, size_t m,
                            const char *psrc, int64_t now, rb_api_result *res, rb_error *err)
{
    plan_arg pa = {u, res, idx};
    rb_apply_opts o = {0};
    o.commit = 1;
    o.batch = m;
    o.now = now;
    o.provider_source = psrc;
    o.plan_cb = on_plan;
    o.plan_arg = &pa;
    rb_apply *a = NULL;
    rb_status s = rb_apply_new(st, ctx, &o, &a, err);
    for (size_t k = 0; s == RB_OK && k < m; k++) s = rb_apply_add(a, &u[idx[k]]->rec, k + 1, err);
    if (s == RB_OK) s = rb_apply_finish(a, err);
    rb_apply_free(a);
    for (size_t k = 0; k < m; k++) res[idx[k]].ok = s == RB_OK;
    return s;
}

static int64_t event_time_of(const rb_api_update *u, int64_t now)
{
    int64_t t;
    if (u->event_time) return u->event_time;
    return rb_time_parse(u->rec.date, &t) ? t : now;
}

/* The unsubscribes idx[0..m), in one transaction. */
static rb_status unsubscribe_part(rb_store *st, rb_api_update *const *u, const size_t *idx, size_t m, int64_t now,
                                  rb_api_result *res, rb_error *err)
{
    const char **emails = malloc(m * sizeof *emails);
    const char **keys = malloc(m * sizeof *keys);
    char (*keybuf)[40] = malloc(m * sizeof *keybuf);
    rb_contact *cs = malloc(m * sizeof *cs);
    int *found = calloc(m, sizeof *found);
    int *known = calloc(m, sizeof *known);
    int *dirty = calloc(m, sizeof *dirty);
    size_t *cof = malloc(m * sizeof *cof);       /* update -> its contact's slot */
    rb_event *ev = malloc(m * sizeof *ev);
    rb_contact *save = malloc(m * sizeof *save);
    rb_status s = RB_OK;
    int in_tx = 0;
    if (!emails || !keys || !keybuf || !cs || !found || !known || !dirty || !cof || !ev || !save) {
        rb_seterr(err, "out of memory");
        s = RB_ERR_NOMEM;
        goto out;
    }
    size_t ne = 0;
    for (size_t k = 0; k < m; k++) {
        const rb_api_update *x = u[idx[k]];
        size_t j = 0;
        while (j < ne && strcmp(emails[j], x->email_norm) != 0) j++;
        if (j == ne) emails[ne++] = x->email_norm;
        cof[k] = j;
        rb_event_key(&x->rec, x->email_norm, keybuf[k], sizeof keybuf[k]);
        keys[k] = keybuf[k];
    }
    if ((s = rb_store_begin(st, err)) != RB_OK) goto out;
    in_tx = 1;
    if ((s = rb_store_contacts_load(st, emails, ne, 1, cs, found, err)) != RB_OK) goto out;
    if ((s = rb_store_events_known(st, keys, m, known, err)) != RB_OK) goto out;
    size_t nev = 0;
    for (size_t k = 0; k < m; k++) {
        rb_api_update *x = u[idx[k]];
        rb_api_result *r = &res[idx[k]];
        rb_strlcpy(r->event, keys[k], sizeof r->event);
        rb_strlcpy(r->reason, "unsubscribed", sizeof r->reason);
        rb_strlcpy(r->bounce_type, "none", sizeof r->bounce_type);
        r->old_status = r->new_status = -1;
        r->changed = 0;
        r->note[0] = '\0';
        size_t j = cof[k];
        if (!found[j]) {
            r->decision = rb_decision_name(RB_DEC_UNKNOWN);
            rb_strlcpy(r->note, "not in the store", sizeof r->note);
            continue;
        }
        rb_contact *c = &cs[j];
        r->old_status = c->status;
        int dup = known[k];
        for (size_t q = 0; q < k && !dup; q++) dup = !strcmp(keys[q], keys[k]) && cof[q] == j;
        if (dup) {
            r->decision = rb_decision_name(RB_DEC_DUPLICATE);
            rb_strlcpy(r->note, "applied before", sizeof r->note);
        } else if (c->status == RB_CS_UNSUBSCRIBED) {
            r->decision = rb_decision_name(RB_DEC_UNCHANGED);
            rb_strlcpy(r->note, "unsubscribed already", sizeof r->note);
        } else {
            r->decision = "unsubscribed";
            c->status = RB_CS_UNSUBSCRIBED;
            c->for_mailing = 0;
            c->quarantine_until = 0;
            if (x->provider[0]) {   /* the provider's own word: the strongest source */
                rb_strlcpy(c->provider, x->provider, sizeof c->provider);
                rb_strlcpy(c->provider_source, x->provider_source, sizeof c->provider_source);
            }
            c->updated_at = now;
            dirty[j] = 1;
            r->changed = 1;
        }
        r->new_status = c->status;
        r->soft_count = c->soft_count;
        r->quarantine_until = c->quarantine_until;
        if (dup) continue;
        rb_event *e = &ev[nev++];
        memset(e, 0, sizeof *e);
        rb_strlcpy(e->key, keys[k], sizeof e->key);
        e->contact_id = c->id;
        e->event_time = event_time_of(x, now);
        e->applied_at = now;
        rb_strlcpy(e->bounce_type, "none", sizeof e->bounce_type);
        rb_strlcpy(e->reason, "unsubscribed", sizeof e->reason);
        rb_strlcpy(e->status, x->dsn_status, sizeof e->status);
        rb_strlcpy(e->reply_code, x->reply_code, sizeof e->reply_code);
        rb_strlcpy(e->decision, r->decision, sizeof e->decision);
        rb_strlcpy(e->diagnostic, x->status_message, sizeof e->diagnostic);
        rb_strlcpy(e->provider, x->provider, sizeof e->provider);
        rb_strlcpy(e->source, x->rec.source, sizeof e->source);
        rb_strlcpy(e->evidence, x->rec.evidence, sizeof e->evidence);
        rb_strlcpy(e->rule, x->rec.rule, sizeof e->rule);
    }
    size_t nd = 0;
    for (size_t j = 0; j < ne; j++)
        if (dirty[j]) save[nd++] = cs[j];
    if ((s = rb_store_events_insert(st, ev, nev, err)) != RB_OK) goto out;
    if ((s = rb_store_contacts_save(st, save, nd, err)) != RB_OK) goto out;
    in_tx = 0;
    s = rb_store_commit(st, err);
out:
    if (in_tx) {
        rb_error e2;
        rb_store_rollback(st, &e2);
    }
    for (size_t k = 0; k < m; k++) res[idx[k]].ok = s == RB_OK;
    free(emails);
    free(keys);
    free(keybuf);
    free(cs);
    free(found);
    free(known);
    free(dirty);
    free(cof);
    free(ev);
    free(save);
    return s;
}

rb_status rb_api_apply(rb_store *st, const rb_ctx *ctx, rb_api_update *const *u, size_t n, int64_t now,
                       rb_api_result *res, rb_error *err)
{
    rb_status first = RB_OK;
    err->msg[0] = '\0';
    if (!n) return RB_OK;
    size_t *idx = malloc(n * sizeof *idx);
    char *done = calloc(n, 1);
    if (!idx || !done) {
        free(idx);
        free(done);
        rb_seterr(err, "out of memory");
        for (size_t i = 0; i < n; i++) res[i].ok = 0;
        return RB_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        memset(&res[i], 0, sizeof res[i]);
        res[i].decision = "";
        res[i].old_status = res[i].new_status = -1;
    }
    rb_error e;
    /* apply's updates, one transaction per provider_source (rb_apply stores one) */
    for (size_t i = 0; i < n; i++) {
        if (done[i] || u[i]->status == RB_API_UNSUBSCRIBED) continue;
        size_t m = 0;
        for (size_t j = i; j < n; j++)
            if (!done[j] && u[j]->status != RB_API_UNSUBSCRIBED &&
                !strcmp(u[j]->provider_source, u[i]->provider_source)) {
                idx[m++] = j;
                done[j] = 1;
            }
        e.msg[0] = '\0';
        rb_status s = apply_part(st, ctx, u, idx, m, u[i]->provider_source, now, res, &e);
        if (s != RB_OK && first == RB_OK) { first = s; *err = e; }
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (u[i]->status == RB_API_UNSUBSCRIBED) idx[m++] = i;
    if (m) {
        e.msg[0] = '\0';
        rb_status s = unsubscribe_part(st, u, idx, m, now, res, &e);
        if (s != RB_OK && first == RB_OK) { first = s; *err = e; }
    }
    free(idx);
    free(done);
    return first;
}

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
    rc |= kv_str(b, "reported_status", status_name(u->status), 1);
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

rb_status rb_api_store_tune(rb_store *st, int writer, rb_error *err)
{
    if (st->ops != &rb_store_sqlite_ops) return RB_OK;
    /* mmap: pages of the database file are read without a system call each */
    return st->ops->exec(st, writer ? "PRAGMA mmap_size = 1073741824; PRAGMA wal_autocheckpoint = 0"
                                    : "PRAGMA mmap_size = 1073741824", err);
}

typedef struct {
    long busy, log, done;
} ckpt;

static int ckpt_row(void *arg, int ncols, const char *const *vals)
{
    ckpt *k = arg;
    if (ncols >= 3) {
        k->busy = vals[0] ? atol(vals[0]) : 0;
        k->log = vals[1] ? atol(vals[1]) : 0;
        k->done = vals[2] ? atol(vals[2]) : 0;
    }
    return 1;
}

rb_status rb_api_store_checkpoint(rb_store *st, long *wal_frames, long *done, rb_error *err)
{
    ckpt k = {0, 0, 0};
    if (st->ops == &rb_store_sqlite_ops) {
        /* PASSIVE: copies what no reader needs, never waits for (or blocks) the writer */
        rb_status s = st->ops->query(st, "PRAGMA wal_checkpoint(PASSIVE)", 0, NULL, ckpt_row, &k, err);
        if (s != RB_OK) return s;
    }
    if (wal_frames) *wal_frames = k.log;
    if (done) *done = k.done;
    return RB_OK;
}

/* ---- keys ------------------------------------------------------------------------------------------ */
rb_status rb_api_key_new(char *out, size_t outlen, rb_error *err)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char rnd[33];      /* 32 random bytes, one zero byte of padding for the last group */
    if (outlen < RB_API_KEY_LEN + 1) {
        rb_seterr(err, "key buffer too small");
        return RB_ERR_ARG;
    }
    size_t got = 0;
    while (got < 32) {
        ssize_t r = getrandom(rnd + got, 32 - got, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            rb_seterr(err, "getrandom: %s", strerror(errno));
            return RB_ERR_IO;
        }
        got += (size_t)r;
    }
    rnd[32] = 0;
    memcpy(out, "rbk_", 4);
    size_t o = 4;
    for (size_t i = 0; i < 33; i += 3) {
        unsigned v = (unsigned)rnd[i] << 16 | (unsigned)rnd[i + 1] << 8 | rnd[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = b64[v & 63];
    }
    o = RB_API_KEY_LEN;         /* 32 bytes are 43 characters: the 44th only encodes padding */
    out[o] = '\0';
    memset(rnd, 0, sizeof rnd);
    return RB_OK;
}

void rb_api_key_hash(const char *key, size_t len, char *hex)
{
    GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
    g_checksum_update(ck, (const guchar *)key, (gssize)len);
    rb_strlcpy(hex, g_checksum_get_string(ck), RB_API_HASH_LEN + 1);
    g_checksum_free(ck);
}

int rb_api_ct_equal(const void *a, const void *b, size_t n)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++) d |= x[i] ^ y[i];
    return d == 0;
}

/* ---- a keys file ------------------------------------------------------------------------------------ */
#define KEYS_LINE_MAX 1024          /* a key line is < 130 characters; a longer one is not a keys file */

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* One line (without its '\n') into k: 1 a key, 0 blank or a comment, -1 bad (why in *why). */
static int key_line(char *line, size_t n, rb_api_key *k, const char **why)
{
    size_t i = 0;
    n = rb_comment_at(line, n);
    while (i < n && is_space(line[i])) i++;
    if (i == n) return 0;
    size_t ns = i;
    while (i < n && !is_space(line[i])) i++;
    size_t nl = i - ns;
    while (i < n && is_space(line[i])) i++;
    size_t hs = i;
    while (i < n && !is_space(line[i])) i++;
    size_t hl = i - hs;
    while (i < n && is_space(line[i])) i++;
    if (!hl || i < n) {
        *why = "expected NAME and a SHA-256 in hex";
        return -1;
    }
    if (nl >= RB_API_NAME_MAX) {
        *why = "invalid key name";
        return -1;
    }
    memset(k, 0, sizeof *k);
    memcpy(k->name, line + ns, nl);
    if (!rb_api_name_valid(k->name)) {
        *why = "invalid key name";
        return -1;
    }
    if (hl != RB_API_HASH_LEN) {
        *why = "the hash is not 64 hex digits";
        return -1;
    }
    for (size_t j = 0; j < hl; j++) {
        char c = line[hs + j];
        if (c >= 'A' && c <= 'F') c = (char)(c - 'A' + 'a');     /* rb_api_key_hash() writes lower case */
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            *why = "the hash is not 64 hex digits";
            return -1;
        }
        k->hash[j] = c;
    }
    k->hash[hl] = '\0';
    return 1;
}

typedef struct {
    rb_api_key k;
    long line;
} file_key;

static int by_name_line(const void *x, const void *y)
{
    const file_key *a = x, *b = y;
    int c = strcmp(a->k.name, b->k.name);
    return c ? c : (a->line > b->line) - (a->line < b->line);
}

rb_status rb_api_keys_file_read(const char *path, rb_api_key_cb cb, void *arg, rb_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        rb_seterr(err, "%s: %s", path, strerror(errno));
        return RB_ERR_IO;
    }
    file_key *v = NULL;
    size_t nk = 0, cap = 0;
    rb_status s = RB_OK;
    char *line = NULL;
    size_t lcap = 0;
    long lineno = 0;
    ssize_t len;
    errno = 0;
    while ((len = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        size_t n = (size_t)len;
        if (n && line[n - 1] == '\n') n--;
        const char *why = NULL;
        rb_api_key k;
        int r;
        if (n > KEYS_LINE_MAX) {
            why = "line too long";
            r = -1;
        } else if (memchr(line, '\0', n)) {
            why = "a NUL byte";
            r = -1;
        } else
            r = key_line(line, n, &k, &why);
        if (r < 0) {
            rb_seterr(err, "%s:%ld: %s", path, lineno, why);
            s = RB_ERR_PARSE;
            break;
        }
        if (!r) continue;
        if (nk == cap) {
            size_t nc = cap ? cap * 2 : 16;
            file_key *nv = realloc(v, nc * sizeof *nv);
            if (!nv) {
                rb_seterr(err, "out of memory");
                s = RB_ERR_NOMEM;
                break;
            }
            v = nv;
            cap = nc;
        }
        v[nk].k = k;
        v[nk++].line = lineno;
    }
    if (s == RB_OK && ferror(f)) {
        rb_seterr(err, "%s: %s", path, strerror(errno ? errno : EIO));
        s = RB_ERR_IO;
    }
    free(line);
    fclose(f);
    if (s == RB_OK && nk > 1) {     /* a name given twice: sorted, so a file of many keys is no quadratic work */
        qsort(v, nk, sizeof *v, by_name_line);
        for (size_t j = 1; j < nk; j++)
            if (!strcmp(v[j - 1].k.name, v[j].k.name)) {
                rb_seterr(err, "%s:%ld: key name '%s' given twice (first on line %ld)", path, v[j].line, v[j].k.name,
                          v[j - 1].line);
                s = RB_ERR_PARSE;
                break;
            }
    }
    for (size_t j = 0; s == RB_OK && j < nk; j++)
        if (cb(arg, &v[j].k)) break;
    free(v);
    return s;
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
