/* record.c -- rb_record fields, result lists, and their JSONL / CSV rows
 * (the strings themselves are written by text.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_internal.h"

#define RECORD_FIELDS                                                                                       \
    X(source) X(recipient) X(reason) X(status) X(reply_code) X(bounce_type) X(action) X(diagnostic)           \
    X(remote_mta) X(reporting_mta) X(provider) X(feedback_type) X(addresser) X(original_message_id)         \
    X(original_subject) X(date) X(decoded_by) X(smtp_command) X(dsn_action) X(original_recipient)           \
    X(evidence) X(rule) X(provider_source) X(alert) X(account)

#define X(f) #f,
const char *const rb_record_fields[] = {RECORD_FIELDS};
#undef X
/* their lengths, for the JSONL writer */
#define X(f) sizeof #f - 1,
static const unsigned char record_klen[] = {RECORD_FIELDS};
#undef X
/* ',"key":' of each, in rows of 32 bytes (one fixed-size copy each) */
#define X(f) ",\"" #f "\":",
static const char record_pre[][32] = {RECORD_FIELDS};
#undef X
/* and where they are */
#define X(f) offsetof(rb_record, f),
static const unsigned short record_off[] = {RECORD_FIELDS};
#undef X

size_t rb_record_nfields(void)
{
    return sizeof rb_record_fields / sizeof rb_record_fields[0];
}

const char *rb_record_get(const rb_record *r, size_t i)
{
    switch (i) {
    case 0: return r->source;
    case 1: return r->recipient;
    case 2: return r->reason;
    case 3: return r->status;
    case 4: return r->reply_code;
    case 5: return r->bounce_type;
    case 6: return r->action;
    case 7: return r->diagnostic;
    case 8: return r->remote_mta;
    case 9: return r->reporting_mta;
    case 10: return r->provider;
    case 11: return r->feedback_type;
    case 12: return r->addresser;
    case 13: return r->original_message_id;
    case 14: return r->original_subject;
    case 15: return r->date;
    case 16: return r->decoded_by;
    case 17: return r->smtp_command;
    case 18: return r->dsn_action;
    case 19: return r->original_recipient;
    case 20: return r->evidence;
    case 21: return r->rule;
    case 22: return r->provider_source;
    case 23: return r->alert;
    case 24: return r->account;
    default: return "";
    }
}

/* ---- rb_result ------------------------------------------------------------- */
void rb_result_init(rb_result *res)
{
    memset(res, 0, sizeof *res);
}

void rb_result_clear(rb_result *res)
{
    res->n = 0;
    res->is_bounce = 0;
    res->filtered = 0;
    res->note[0] = '\0';
    res->subject[0] = '\0';
    res->dropped = 0;
    res->warning[0] = '\0';
}

void rb_result_free(rb_result *res)
{
    free(res->recs);
    memset(res, 0, sizeof *res);
}

void rb_result_warn(rb_result *res, const char *fmt, ...)
{
    res->dropped++;
    if (res->dropped > 1) {   /* keep the first warning, count the others */
        char *more = strstr(res->warning, " (and ");
        if (more) *more = '\0';
        size_t l = strlen(res->warning);
        snprintf(res->warning + l, sizeof res->warning - l, " (and %zu more left out)", res->dropped - 1);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->warning, sizeof res->warning, fmt, ap);
    va_end(ap);
}

rb_record *rb_result_add(rb_result *res)
{
    if (res->n == res->cap) {
        if (res->n >= RB_RESULT_CAP) return NULL;   /* a report with more recipients is hostile */
        size_t nc = res->cap ? res->cap * 2 : 4;
        if (nc > RB_RESULT_CAP) nc = RB_RESULT_CAP;
        rb_record *nv = realloc(res->recs, nc * sizeof *nv);
        if (!nv) return NULL;
        res->recs = nv;
        res->cap = nc;
    }
    rb_record *r = &res->recs[res->n++];
    memset(r, 0, sizeof *r);
    return r;
}

/* ---- JSONL ------------------------------------------------------------------------ */
/* Every field of a record is a NUL-terminated string inside it, so the
 * record's size bounds the room its escaped values take (6 bytes a byte):
 * one reservation, then the keys and values go straight in. */
int rb_record_to_jsonl_ext(const rb_record *r, const char *const *xnames, const char *const *xvals,
                           const size_t *xlens, size_t nx, rb_buf *out)
{
    enum { NF = sizeof record_off / sizeof record_off[0] };
    size_t xkl[64], xvl[64];
    size_t need = sizeof *r * 6 + NF * (32 + 6) + 3;
    if (nx > 64) return -1;
    for (size_t i = 0; i < nx; i++) {
        xkl[i] = strlen(xnames[i]);
        xvl[i] = xlens ? xlens[i] : strlen(xvals[i]);
        need += xkl[i] + 4 + xvl[i] * 6 + 2;
    }
    if (rb_buf_reserve(out, need)) return -1;
    char *o = out->buf + out->len;
    for (size_t i = 0; i < NF; i++) {
        const char *v = (const char *)r + record_off[i];
        memcpy(o, record_pre[i], 32);             /* the room: NF * 38 above */
        if (!i) *o = '{';                          /* the first: no comma */
        o += record_klen[i] + 4;
        if (!*v) {                                 /* many are empty */
            o[0] = '"';
            o[1] = '"';
            o += 2;
        } else {
            o = rb_json_put_str(o, v, strlen(v));
        }
    }
    for (size_t i = 0; i < nx; i++) {
        *o++ = ',';
        o = rb_json_put_member(o, xnames[i], xkl[i], xvals[i], xvl[i]);
    }
    *o++ = '}';
    *o++ = '\n';
    *o = '\0';
    out->len = (size_t)(o - out->buf);
    return 0;
}

int rb_record_to_jsonl(const rb_record *r, rb_buf *out)
{
    return rb_record_to_jsonl_ext(r, NULL, NULL, NULL, 0, out);
}

/* ---- CSV (RFC 4180) --------------------------------------------------------------- */
int rb_csv_header_ext(const char *const *xnames, size_t nx, rb_buf *out)
{
    size_t nf = rb_record_nfields();
    for (size_t i = 0; i < nf + nx; i++) {
        if (i && rb_buf_append(out, ",", 1)) return -1;
        if (rb_buf_puts(out, i < nf ? rb_record_fields[i] : xnames[i - nf])) return -1;
    }
    return rb_buf_append(out, "\r\n", 2);
}

int rb_csv_header(rb_buf *out)
{
    return rb_csv_header_ext(NULL, 0, out);
}

int rb_record_to_csv_ext(const rb_record *r, const char *const *xvals, size_t nx, rb_buf *out)
{
    size_t nf = rb_record_nfields();
    const char *v[64];
    if (nf + nx > 64) return -1;
    for (size_t i = 0; i < nf; i++) v[i] = rb_record_get(r, i);
    for (size_t i = 0; i < nx; i++) v[nf + i] = xvals[i];
    return rb_csv_row(out, v, nf + nx);
}

int rb_record_to_csv(const rb_record *r, rb_buf *out)
{
    return rb_record_to_csv_ext(r, NULL, 0, out);
}
