/* notify.c -- what `rebound notify` decides about one delivery to a status
 * API, apart from the HTTP client itself (src/notify.c, libcurl): the form
 * body it posts (one contact per request), and what a response or a
 * transport failure means for the outbox row (sent, retried after a
 * back-off, failed, or not the row's fault at all: stop the run). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_internal.h"
#include "rebound_store.h"

/* The wait after the attempts-th failure: 60 s * 2^(attempts-1), at most 6 h. */
static int64_t notify_backoff(int attempts)
{
    /* 1 min after the first failure, doubling, at most 6 h */
    int64_t d = RB_NOTIFY_BACKOFF_BASE;
    for (int i = 1; i < attempts && d < RB_NOTIFY_BACKOFF_CAP; i++) d *= 2;
    return d < RB_NOTIFY_BACKOFF_CAP ? d : RB_NOTIFY_BACKOFF_CAP;
}

/* application/x-www-form-urlencoded (the WHATWG serializer): unreserved
 * bytes as they are, space as '+', everything else %XX. */
static size_t form_escape(char *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '*' || c == '-' ||
            c == '.' || c == '_') {
            if (out) out[o] = (char)c;
            o++;
        } else if (c == ' ') {
            if (out) out[o] = '+';
            o++;
        } else {
            if (out) {
                out[o] = '%';
                out[o + 1] = hex[c >> 4];
                out[o + 2] = hex[c & 15];
            }
            o += 3;
        }
    }
    return o;
}

char *rb_notify_form_body(const rb_outbox_item *it)
{
    /* email and status always; the others only when known (an empty field
     * is noise to the server, and a strict one may refuse it) */
    const char *names[] = {"email", "status", "bounce_type", "status_code", "status_message", "provider",
                           "provider_source"};
    const char *vals[] = {it->email, it->status, it->bounce_type, it->status_code, it->status_message,
                          it->provider, it->provider_source};
    const size_t n = sizeof names / sizeof names[0];
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        if (i < 2 || vals[i][0]) len += strlen(names[i]) + 2 + form_escape(NULL, vals[i]);
    char *body = malloc(len);
    if (!body) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (i >= 2 && !vals[i][0]) continue;
        if (o) body[o++] = '&';
        size_t l = strlen(names[i]);
        memcpy(body + o, names[i], l);
        o += l;
        body[o++] = '=';
        o += form_escape(body + o, vals[i]);
    }
    body[o] = '\0';
    return body;
}

/* "what happened" for last_error: printable ASCII only, one line */
static void set_error(rb_outbox_item *it, const char *what, const char *detail)
{
    char d[RB_TEXT_MAX - 64];
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)(detail ? detail : ""); *p && o + 1 < sizeof d; p++)
        d[o++] = *p >= 0x20 && *p < 0x7f ? (char)*p : ' ';
    d[o] = '\0';
    rb_squeeze(d);
    if (d[0]) snprintf(it->last_error, sizeof it->last_error, "%s: %s", what, d);
    else rb_strlcpy(it->last_error, what, sizeof it->last_error);
}

static int retry_or_fail(rb_outbox_item *it, const rb_notify_result *r, int64_t now, int max_attempts)
{
    it->attempts++;
    if (it->attempts >= max_attempts) {
        char e[RB_TEXT_MAX + 64];
        snprintf(e, sizeof e, "gave up after %d attempts; %s", it->attempts, it->last_error);
        rb_strlcpy(it->last_error, e, sizeof it->last_error);
        rb_strlcpy(it->state, "failed", sizeof it->state);
        return RB_NO_FAILED;
    }
    int64_t d = notify_backoff(it->attempts);
    int64_t ra = r->retry_after < RB_NOTIFY_BACKOFF_CAP ? r->retry_after : RB_NOTIFY_BACKOFF_CAP;
    it->next_attempt_at = now + (ra > d ? ra : d);
    return RB_NO_RETRY;
}

int rb_notify_decide(rb_outbox_item *it, const rb_notify_result *r, int64_t now, int max_attempts)
{
    char what[32];
    switch (r->transport) {
    case RB_NT_DOWN:
    case RB_NT_TLS:
        /* nobody answered: not this row's fault, and the next ones would
         * fare the same */
        set_error(it, r->transport == RB_NT_DOWN ? "server unreachable" : "TLS failed", r->detail);
        it->next_attempt_at = now;
        return RB_NO_STOP;
    case RB_NT_TIMEOUT:
        set_error(it, "no answer in time", r->detail);
        return retry_or_fail(it, r, now, max_attempts);
    case RB_NT_BROKEN:
        set_error(it, "connection failed", r->detail);
        return retry_or_fail(it, r, now, max_attempts);
    default:
        break;
    }
    long c = r->http_code;
    snprintf(what, sizeof what, "HTTP %ld", c);
    if (c >= 200 && c < 300) {
        rb_strlcpy(it->state, "sent", sizeof it->state);
        it->sent_at = now;
        it->next_attempt_at = now;      /* not the claim's lease */
        it->last_error[0] = '\0';
        return RB_NO_SENT;
    }
    set_error(it, what, r->detail);
    if ((c >= 300 && c < 400) || c == 401 || c == 403 || c == 404 || c == 405 || c == 410 || c == 415) {
        /* a redirect, a refused key, no such path, a method or body the
         * endpoint does not take: the URL or the key is wrong, for every
         * row alike -- stop and leave the rows pending, rather than mark
         * each one failed */
        it->next_attempt_at = now;
        return RB_NO_STOP;
    }
    if (c >= 400 && c < 500 && c != 408 && c != 429) {
        /* the server refuses this row: sending it again cannot help */
        rb_strlcpy(it->state, "failed", sizeof it->state);
        return RB_NO_FAILED;
    }
    return retry_or_fail(it, r, now, max_attempts);   /* 5xx, 408, 429, anything odd */
}
