/* recin.c -- read records back: the JSONL or CSV that `rebound analyze`
 * writes (record.c), and the CSV exports of other tools (aliases).
 *
 * Both formats go through one rb_csv (csv.c): its buffer, gzip and stdin
 * handling; JSONL through the line interface csv.c keeps for this file.
 * JSONL lines are parsed with jansson, except those shaped exactly like
 * analyze's output, which a fast path decodes (see jsonl_fast()).
 */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "rb_internal.h"
#include "rebound_input.h"

/* ---- the record's fields by name ------------------------------------------------ */
#define F(name) { #name, offsetof(rb_record, name), sizeof(((rb_record *)0)->name) }
static const struct {
    const char *name;
    size_t off, size;
} fields[] = {
    F(source), F(recipient), F(reason), F(status), F(reply_code), F(bounce_type), F(action),
    F(diagnostic), F(remote_mta), F(reporting_mta), F(provider), F(feedback_type), F(addresser),
    F(original_message_id), F(original_subject), F(date), F(decoded_by), F(smtp_command),
    F(dsn_action), F(original_recipient), F(evidence), F(rule), F(provider_source), F(alert),
    F(account),
};
#undef F
#define NFIELDS (sizeof fields / sizeof fields[0])
/* indexes into fields[] */
enum { F_RECIPIENT = 1, F_REASON = 2, F_STATUS = 3, F_REPLY = 4, F_DIAGNOSTIC = 7, F_DATE = 15, F_ORIG = 19 };
#define F_STATUS_CODE 100     /* not a field: split into reply_code and status */

static const struct {
    const char *name;
    int field;
} aliases[] = {
    {"email", F_RECIPIENT}, {"email_address", F_RECIPIENT}, {"address", F_RECIPIENT},
    {"recipient_email", F_RECIPIENT}, {"orcpt", F_ORIG}, {"original_rcpt", F_ORIG},
    {"status_message", F_DIAGNOSTIC}, {"message", F_DIAGNOSTIC}, {"diagnostic_code", F_DIAGNOSTIC},
    {"bounce_category", F_REASON},
    {"timestamp", F_DATE}, {"bounced_at", F_DATE}, {"date_time", F_DATE},
    {"dsn", F_STATUS}, {"dsn_status", F_STATUS}, {"enhanced_status", F_STATUS},
    {"reply", F_REPLY}, {"smtp_code", F_REPLY},
    {"status_code", F_STATUS_CODE},
};

/* Field of a canonical name (any case), or -1. */
static int canonical_field(const char *name)
{
    for (size_t i = 0; i < NFIELDS; i++)
        if (strcasecmp(name, fields[i].name) == 0) return (int)i;
    return -1;
}

/* Field (or F_STATUS_CODE) of an alias (any case), or -1. */
static int alias_field(const char *name)
{
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcasecmp(name, aliases[i].name) == 0) return aliases[i].field;
    if (rb_csv_name_is_email(name)) return F_RECIPIENT;     /* e-mail, e-mailadres, courriel... */
    return -1;
}

/* Copy a value into field f, truncated to the field at a UTF-8 character
 * boundary. */
static void set_field(rb_record *r, int f, const char *v, size_t n)
{
    char *dst = (char *)r + fields[f].off;
    size_t size = fields[f].size;
    if (n >= size) {
        n = size - 1;
        /* when the first byte left out continues a character, leave that
         * character out whole */
        while (n > 0 && ((unsigned char)v[n] & 0xC0) == 0x80) n--;
    }
    memcpy(dst, v, n);
    dst[n] = '\0';
}

/* "550 5.1.10", "550-5.1.1", "5.7.1", "421": fill reply_code and status
 * where they are empty. */
static void split_status_code(rb_record *r, const char *v)
{
    char reply[4] = "", status[RB_SHORT_MAX] = "";
    const char *p = v;
    while (*p) {
        while (*p && strchr(" \t,;-#()[]", *p)) p++;
        const char *t = p;
        while (*p && !strchr(" \t,;-#()[]", *p)) p++;
        size_t n = (size_t)(p - t);
        if (n == 3 && !*reply && t[0] >= '2' && t[0] <= '5' && isdigit((unsigned char)t[1]) &&
            isdigit((unsigned char)t[2])) {
            memcpy(reply, t, 3);
            reply[3] = '\0';
        } else if (n >= 5 && n < sizeof status && !*status && (t[0] == '2' || t[0] == '4' || t[0] == '5') &&
                   t[1] == '.') {
            /* x.y.z: 1-3 digits each */
            size_t i = 2, d = 0, dots = 1;
            int ok = 1;
            for (; i < n; i++) {
                if (isdigit((unsigned char)t[i])) { if (++d > 3) ok = 0; }
                else if (t[i] == '.' && d > 0 && dots < 2) { dots++; d = 0; }
                else ok = 0;
            }
            if (ok && dots == 2 && d > 0) {
                memcpy(status, t, n);
                status[n] = '\0';
            }
        }
    }
    if (*reply && !*r->reply_code) set_field(r, F_REPLY, reply, strlen(reply));
    if (*status && !*r->status) set_field(r, F_STATUS, status, strlen(status));
}

/* ---- the reader ----------------------------------------------------------------- */
struct rb_recin {
    rb_csv *csv;
    int jsonl;
    const char *name;            /* for messages */
    size_t ncols;
    int col[256];                /* CSV: field of each column, F_STATUS_CODE, or -1 */
    int status_code_col;         /* -1: none */
    char *scratch;               /* JSONL fast path: decoded strings */
    size_t scratch_cap;
};

int rb__csv_decode(rb_csv *c, int on, rb_error *err);

rb_status rb_recin_open(const char *path, rb_recin **out, rb_error *err)
{
    return rb_recin_open_opts(path, NULL, out, err);
}

rb_status rb_recin_open_opts(const char *path, const rb_csv_opts *opts, rb_recin **out, rb_error *err)
{
    *out = NULL;
    rb_recin *in = calloc(1, sizeof *in);
    if (!in) { rb_seterr(err, "%s: out of memory", path ? path : "?"); return RB_ERR_NOMEM; }
    in->status_code_col = -1;
    rb_status st = rb_csv_open_opts(path, opts, &in->csv, err);
    if (st != RB_OK) { free(in); return st; }
    in->name = strcmp(path, "-") == 0 ? "stdin" : rb_csv_path(in->csv);

    rb__csv_decode(in->csv, 0, err);   /* JSONL: bytes as they are, jansson judges them */
    int b = rb__csv_peek(in->csv, err);
    if (b == -2) { rb_recin_free(in); return RB_ERR_IO; }
    if (b == -1 || b == '{') {         /* empty input reads as (empty) JSONL */
        in->jsonl = 1;
        *out = in;
        return RB_OK;
    }
    if (rb__csv_decode(in->csv, 1, err) < 0) { rb_recin_free(in); return RB_ERR_IO; }

    const char *const *hdr;
    size_t n;
    unsigned long line = 0;
    int r = rb_csv_next(in->csv, &hdr, &n, &line, err);
    if (r == 0) {                      /* cannot happen after peek saw text; read as empty */
        in->jsonl = 1;
        *out = in;
        return RB_OK;
    }
    if (r < 0) {
        if (r == -1) {
            rb_error e2 = *err;
            rb_seterr(err, "%.480s (the CSV header row)", e2.msg);
        }
        rb_recin_free(in);
        return r == -1 ? RB_ERR_PARSE : RB_ERR_IO;
    }
    in->ncols = n;
    int taken[NFIELDS] = {0};
    for (size_t i = 0; i < n; i++) in->col[i] = -1;
    /* canonical names first: they win over aliases wherever they stand */
    for (size_t i = 0; i < n; i++) {
        char name[64];
        rb_strlcpy(name, hdr[i], sizeof name);
        rb_trim(name);
        int f = canonical_field(name);
        if (f >= 0 && !taken[f]) { in->col[i] = f; taken[f] = 1; }
    }
    for (size_t i = 0; i < n; i++) {
        if (in->col[i] >= 0) continue;
        char name[64];
        rb_strlcpy(name, hdr[i], sizeof name);
        rb_trim(name);
        int f = alias_field(name);
        if (f == F_STATUS_CODE) {
            if (in->status_code_col < 0) in->status_code_col = (int)i;
        } else if (f >= 0 && !taken[f]) {
            in->col[i] = f;
            taken[f] = 1;
        }
    }
    if (!taken[F_RECIPIENT]) {
        rb_csv_info ci;
        rb_csv_get_info(in->csv, &ci);
        char note[300];
        rb_csv_header_note(ci.delimiter, hdr, n, note, sizeof note);
        rb_seterr(err, "%s:%lu: the CSV header has no recipient column "
                  "(recipient, email, email_address, address or recipient_email) (%s)", in->name, line, note);
        rb_recin_free(in);
        return RB_ERR_PARSE;
    }
    *out = in;
    return RB_OK;
}

void rb_recin_progress(const rb_recin *in, uint64_t *done, uint64_t *total)
{
    rb_csv_progress(in->csv, done, total);
}

void rb_recin_get_info(const rb_recin *in, rb_csv_info *info)
{
    rb_csv_get_info(in->csv, info);
    if (in->jsonl) info->delimiter = 0, info->sniffed = 0;
}

const char *rb_recin_format(const rb_recin *in)
{
    return in->jsonl ? "jsonl" : "csv";
}

void rb_recin_free(rb_recin *in)
{
    if (!in) return;
    rb_csv_free(in->csv);
    free(in->scratch);
    free(in);
}

static int next_csv(rb_recin *in, rb_record *rec, unsigned long *line, rb_error *err)
{
    const char *const *v;
    size_t n;
    unsigned long at = 0;
    int r = rb_csv_next(in->csv, &v, &n, &at, err);
    if (line) *line = at;
    if (r != 1) return r;
    if (n != in->ncols) {
        rb_seterr(err, "%s:%lu: %zu field%s, the header has %zu", in->name, at, n, n == 1 ? "" : "s",
                  in->ncols);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (in->col[i] >= 0) set_field(rec, in->col[i], v[i], strlen(v[i]));
    if (in->status_code_col >= 0) split_status_code(rec, v[in->status_code_col]);
    return 1;
}

/* A JSON value as text: strings as they are, numbers and booleans as
 * text; NULL (the field stays empty) for null, arrays and objects.  num is
 * scratch space for the number's text. */
static const char *json_text(json_t *v, char num[64], size_t *len)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        *len = json_string_length(v);
        return json_string_value(v);
    case JSON_INTEGER:
        snprintf(num, 64, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL: {
        double d = json_real_value(v);
        snprintf(num, 64, "%.17g", d);
        for (int prec = 1; prec < 17; prec++) {      /* the shortest text that reads back the same */
            char t[64];
            snprintf(t, sizeof t, "%.*g", prec, d);
            if (strtod(t, NULL) == d) { memcpy(num, t, sizeof t); break; }
        }
        break;
    }
    case JSON_TRUE: memcpy(num, "true", 5); break;
    case JSON_FALSE: memcpy(num, "false", 6); break;
    default: return NULL;
    }
    *len = strlen(num);
    return num;
}

static void set_json(rb_record *r, int f, json_t *v)
{
    char num[64];
    size_t len;
    const char *t = json_text(v, num, &len);
    if (t) set_field(r, f, t, len);
}

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: case JSON_REAL: return "a number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    default: return "not an object";
    }
}

/* ---- JSONL fast path ------------------------------------------------------------
 * Lines as record.c writes them -- one flat object whose keys are all exact
 * field names and whose values are strings or null -- are decoded here,
 * about ten times faster than through jansson.  Anything else (numbers,
 * nested values, other keys, escapes in keys, any syntax or encoding
 * error) makes jsonl_fast() return 0 and the line goes to jansson, which
 * stays the judge of what is valid and words the error messages.  The fast
 * path accepts only what jansson accepts and decodes it the same way;
 * fuzz_input.c checks that against jansson. */

static int hex4(const unsigned char *s, unsigned *v)
{
    unsigned x = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = s[i];
        if (c >= '0' && c <= '9') c -= '0';
        else if (c >= 'a' && c <= 'f') c -= 'a' - 10;
        else if (c >= 'A' && c <= 'F') c -= 'A' - 10;
        else return 0;
        x = x << 4 | c;
    }
    *v = x;
    return 1;
}

/* one code point as UTF-8 into o (room for 4): GLib's encoder */
static size_t put_utf8(char *o, unsigned cp) { return (size_t)g_unichar_to_utf8((gunichar)cp, o); }

#define NOT_FAST ((size_t)-1)

/* Decode the JSON string whose text starts at s[*pi] (just past its opening
 * quote) into o, which has room for as many bytes as the text; *pi moves
 * past the closing quote.  Returns the decoded length, or NOT_FAST. */
static size_t fast_string(const unsigned char *s, size_t len, size_t *pi, char *o)
{
    size_t i = *pi, n = 0;
    for (;;) {
        size_t j = i;
        while (j < len && s[j] >= 0x20 && s[j] < 0x80 && s[j] != '"' && s[j] != '\\') j++;
        memcpy(o + n, s + i, j - i);
        n += j - i;
        i = j;
        if (i >= len) return NOT_FAST;
        unsigned c = s[i];
        if (c == '"') { *pi = i + 1; return n; }
        if (c < 0x20) return NOT_FAST;                 /* jansson: control character */
        if (c >= 0x80) {
            /* GLib validates as jansson does: no overlongs, surrogates or values past U+10FFFF */
            size_t k = rb_utf8_seq((const char *)s + i, len - i);
            if (!k) return NOT_FAST;
            memcpy(o + n, s + i, k);
            n += k;
            i += k;
            continue;
        }
        if (i + 1 >= len) return NOT_FAST;             /* a backslash */
        c = s[i + 1];
        i += 2;
        switch (c) {
        case '"': case '\\': case '/': o[n++] = (char)c; break;
        case 'b': o[n++] = '\b'; break;
        case 'f': o[n++] = '\f'; break;
        case 'n': o[n++] = '\n'; break;
        case 'r': o[n++] = '\r'; break;
        case 't': o[n++] = '\t'; break;
        case 'u': {
            unsigned u, u2;
            if (len - i < 4 || !hex4(s + i, &u)) return NOT_FAST;
            i += 4;
            if (u == 0 || (u >= 0xDC00 && u <= 0xDFFF)) return NOT_FAST;
            if (u >= 0xD800 && u <= 0xDBFF) {
                if (len - i < 6 || s[i] != '\\' || s[i + 1] != 'u' || !hex4(s + i + 2, &u2) ||
                    u2 < 0xDC00 || u2 > 0xDFFF)
                    return NOT_FAST;
                i += 6;
                u = 0x10000 + ((u - 0xD800) << 10) + (u2 - 0xDC00);
            }
            n += put_utf8(o + n, u);
            break;
        }
        default: return NOT_FAST;
        }
    }
}

/* 1: the line was decoded into rec; 0: it is jansson's. */
static int jsonl_fast(rb_recin *in, const char *text, size_t len, rb_record *rec)
{
    const unsigned char *s = (const unsigned char *)text;
    if (in->scratch_cap < len + 1) {
        char *ns = realloc(in->scratch, len + 1);
        if (!ns) return 0;
        in->scratch = ns;
        in->scratch_cap = len + 1;
    }
    size_t off[NFIELDS], n[NFIELDS];
    unsigned set = 0;
    size_t i = 0, used = 0, hint = 0;
#define WS() while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++
    WS();
    if (i >= len || s[i] != '{') return 0;
    i++;
    WS();
    if (i < len && s[i] == '}') {
        i++;
    } else {
        for (;;) {
            if (i >= len || s[i] != '"') return 0;
            size_t k0 = ++i;
            while (i < len && s[i] != '"' && s[i] != '\\' && s[i] >= 0x20 && s[i] < 0x80) i++;
            if (i >= len || s[i] != '"') return 0;
            size_t kl = i - k0;
            i++;
            size_t f = hint;       /* analyze writes the fields in order */
            if (f >= NFIELDS || strncmp(fields[f].name, text + k0, kl) != 0 || fields[f].name[kl]) {
                for (f = 0; f < NFIELDS; f++)
                    if (strncmp(fields[f].name, text + k0, kl) == 0 && !fields[f].name[kl]) break;
                if (f == NFIELDS) return 0;
            }
            hint = f + 1;
            WS();
            if (i >= len || s[i] != ':') return 0;
            i++;
            WS();
            if (i < len && s[i] == '"') {
                i++;
                size_t dl = fast_string(s, len, &i, in->scratch + used);
                if (dl == NOT_FAST) return 0;
                off[f] = used;
                n[f] = dl;
                used += dl;
            } else if (len - i >= 4 && memcmp(s + i, "null", 4) == 0) {
                i += 4;
                off[f] = 0;
                n[f] = 0;
            } else {
                return 0;
            }
            set |= 1u << f;
            WS();
            if (i < len && s[i] == ',') { i++; WS(); continue; }
            if (i < len && s[i] == '}') { i++; break; }
            return 0;
        }
    }
    WS();
#undef WS
    if (i != len) return 0;
    for (size_t f = 0; f < NFIELDS; f++)
        if (set & (1u << f)) set_field(rec, (int)f, in->scratch + off[f], n[f]);
    return 1;
}

static int next_jsonl(rb_recin *in, rb_record *rec, unsigned long *line, rb_error *err)
{
    for (;;) {
        char *text;
        size_t len;
        unsigned long at = 0;
        int r = rb__csv_line(in->csv, &text, &len, &at, err);
        if (line) *line = at;
        if (r != 1) return r;
        size_t i = 0;
        while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r')) i++;
        if (i == len) continue;                      /* blank line */
        if (jsonl_fast(in, text, len, rec)) return 1;
        json_error_t je;
        json_t *obj = json_loadb(text, len, 0, &je);
        if (!obj) {
            rb_seterr(err, "%s:%lu: not a JSON object: %s", in->name, at, je.text);
            return -1;
        }
        if (!json_is_object(obj)) {
            rb_seterr(err, "%s:%lu: not a JSON object: %s", in->name, at, json_type_name(obj));
            json_decref(obj);
            return -1;
        }
        /* the field names, by exact name first (a hash lookup each) */
        unsigned set = 0;
        size_t matched = 0;
        for (size_t f = 0; f < NFIELDS; f++) {
            json_t *v = json_object_get(obj, fields[f].name);
            if (!v) continue;
            matched++;
            set |= 1u << f;
            set_json(rec, (int)f, v);
        }
        if (json_object_size(obj) > matched) {
            /* other keys: canonical names in another case, then aliases */
            const char *key;
            json_t *v;
            json_object_foreach(obj, key, v) {
                int f = canonical_field(key);
                if (f >= 0 && !(set & (1u << f))) { set |= 1u << f; set_json(rec, f, v); }
            }
            json_t *status_code = NULL;
            json_object_foreach(obj, key, v) {
                if (canonical_field(key) >= 0) continue;
                int f = alias_field(key);
                if (f == F_STATUS_CODE) {
                    if (!status_code) status_code = v;
                } else if (f >= 0 && !(set & (1u << f))) {
                    set |= 1u << f;
                    set_json(rec, f, v);
                }
            }
            char num[64];
            size_t tl;
            const char *t = status_code ? json_text(status_code, num, &tl) : NULL;
            if (t) split_status_code(rec, t);
        }
        json_decref(obj);
        return 1;
    }
}

int rb_recin_next(rb_recin *in, rb_record *rec, unsigned long *line, rb_error *err)
{
    memset(rec, 0, sizeof *rec);
    return in->jsonl ? next_jsonl(in, rec, line, err) : next_csv(in, rec, line, err);
}
