/* api_request.c -- the status API's requests (rebound serve): a provider's
 * update, form-encoded or JSON, parsed and validated field by field into an
 * rb_api_update, or an error naming the field.
 *
 * Parsing is pure: a body in, validated fields or an error out, so it can be
 * fuzzed and unit-tested without a server or a store.
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

/* the reported statuses by number (rebound_api.h), for parsing and answers */
const char *rb__api_status_name(int s)
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

