/* text.c -- the growable buffer and the writers of JSON strings and CSV
 * fields: every JSON or CSV text rebound writes goes through here.
 *
 * rb_buf is a byte string that grows by doubling and is always
 * NUL-terminated (buf may be NULL while nothing was appended).  Every
 * function that can allocate returns 0, or -1 when memory ran out (the
 * buffer then holds what it held before the call, or a prefix of the
 * appended text: callers give up on it).
 *
 * Reading JSON is jansson's job; writing a JSON string is done here, by
 * hand, because it runs for every field of every record written (analyze,
 * maillog) and for every API answer. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "rb_internal.h"

/* ---- rb_buf -------------------------------------------------------------- */
void rb_buf_init(rb_buf *b)
{
    memset(b, 0, sizeof *b);
}

void rb_buf_free(rb_buf *b)
{
    free(b->buf);
    memset(b, 0, sizeof *b);
}

/* Make room for n more bytes and the NUL: after it, b->buf + b->len has
 * n + 1 writable bytes.  Callers that write in place set b->len and the
 * NUL themselves. */
int rb_buf_reserve(rb_buf *b, size_t n)
{
    if (b->len + n + 1 <= b->cap) return 0;
    size_t nc = b->cap ? b->cap : 256;
    while (nc < b->len + n + 1) nc *= 2;
    char *nb = realloc(b->buf, nc);
    if (!nb) return -1;
    b->buf = nb;
    b->cap = nc;
    return 0;
}

int rb_buf_append(rb_buf *b, const char *s, size_t n)
{
    if (rb_buf_reserve(b, n)) return -1;
    if (n) memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
    return 0;
}

int rb_buf_puts(rb_buf *b, const char *s)
{
    return rb_buf_append(b, s, strlen(s));
}

/* ---- JSON ---------------------------------------------------------------- */
/* Bytes a JSON string writer has to look at: control characters, DEL, '"',
 * '\\' and every byte >= 0x80 (UTF-8 to check). */
static const unsigned char json_special[256] = {
    [0x00 ... 0x1F] = 1, ['"'] = 1, ['\\'] = 1, [0x7F ... 0xFF] = 1,
};

/* Write [p, p+n) as a JSON string at o, which has room for n * 6 + 2
 * bytes; returns the end.  Bytes go straight to o, 16 at a time while none
 * needs a second look. */
static char *json_put(char *o, const unsigned char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *end = p + n;
    *o++ = '"';
    while (p < end) {
#ifdef __SSE2__
        /* a signed compare below 0x20 catches control bytes and every
         * byte >= 0x80 at once */
        while (end - p >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)p);
            __m128i bad = _mm_or_si128(
                _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)), _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7F))),
                _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
            int mask = _mm_movemask_epi8(bad);
            if (mask) {
                int k = __builtin_ctz((unsigned)mask);
                memcpy(o, p, (size_t)k);
                o += k;
                p += k;
                break;
            }
            _mm_storeu_si128((__m128i *)o, v);
            o += 16;
            p += 16;
        }
        if (end - p >= 8) {   /* then 8 */
            __m128i v = _mm_loadl_epi64((const __m128i *)p);
            __m128i bad = _mm_or_si128(
                _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)), _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7F))),
                _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
            int mask = _mm_movemask_epi8(bad) & 0xff;
            int k = mask ? __builtin_ctz((unsigned)mask) : 8;
            _mm_storel_epi64((__m128i *)o, v);   /* room: n * 6 + 2 */
            o += k;
            p += k;
        }
#endif
        while (p < end && !json_special[*p]) *o++ = (char)*p++;
        if (p >= end) break;
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
            p++;
        } else if (c < 0x20 || c == 0x7F) {
            memcpy(o, "\\u00", 4);
            o[4] = hex[c >> 4];
            o[5] = hex[c & 15];
            o += 6;
            p++;
        } else {
            size_t k = rb_utf8_seq((const char *)p, (size_t)(end - p));
            if (!k) {
                memcpy(o, "\xEF\xBF\xBD", 3);
                o += 3;
                p++;
            } else {
                memcpy(o, p, k);
                o += k;
                p += k;
            }
        }
    }
    *o++ = '"';
    return o;
}

/* Append s as a JSON string: quoted; " and \ escaped; control characters
 * and DEL as \u00XX; invalid UTF-8 bytes as U+FFFD, so that every line
 * written parses.  Room for the worst case (6 bytes per input byte) is made
 * once. */
int rb_json_strn(rb_buf *b, const char *s, size_t n)
{
    if (rb_buf_reserve(b, n * 6 + 2)) return -1;
    char *o = json_put(b->buf + b->len, (const unsigned char *)s, n);
    *o = '\0';
    b->len = (size_t)(o - b->buf);
    return 0;
}

int rb_json_str(rb_buf *b, const char *s)
{
    return rb_json_strn(b, s, strlen(s));
}

/* Copy n <= 32 bytes without a call: two overlapping moves. */
static inline char *copy_small(char *o, const char *s, size_t n)
{
    if (n >= 16) {
        __builtin_memcpy(o, s, 16);
        __builtin_memcpy(o + n - 16, s + n - 16, 16);
    } else if (n >= 8) {
        __builtin_memcpy(o, s, 8);
        __builtin_memcpy(o + n - 8, s + n - 8, 8);
    } else if (n >= 4) {
        __builtin_memcpy(o, s, 4);
        __builtin_memcpy(o + n - 4, s + n - 4, 4);
    } else {
        for (size_t i = 0; i < n; i++) o[i] = s[i];
    }
    return o + n;
}

/* "value" at o, which has room for vlen * 6 + 2 bytes; returns the end. */
char *rb_json_put_str(char *o, const char *val, size_t vlen)
{
    return json_put(o, (const unsigned char *)val, vlen);
}

/* "key":"value" at o, which has room for klen + 4 + vlen * 6 + 2 bytes
 * (the key: plain ASCII of our own); returns the end. */
char *rb_json_put_member(char *o, const char *key, size_t klen, const char *val, size_t vlen)
{
    *o++ = '"';
    if (klen <= 32) o = copy_small(o, key, klen);
    else { memcpy(o, key, klen); o += klen; }
    *o++ = '"';
    *o++ = ':';
    return json_put(o, (const unsigned char *)val, vlen);
}

/* ---- CSV (RFC 4180) -------------------------------------------------------- */
static const unsigned char csv_special[256] = {[0] = 1, [','] = 1, ['"'] = 1, ['\r'] = 1, ['\n'] = 1};

/* The n bytes at s as one CSV field at o, which has room for n * 2 + 2
 * bytes: as they are, or, when they hold a comma, a quote, CR or LF, in
 * double quotes with each quote doubled.  Returns the end. */
static char *csv_put(char *o, const char *s, size_t n)
{
    size_t k = 0;
    while (k < n && !csv_special[(unsigned char)s[k]]) k++;
    if (k == n) {
        memcpy(o, s, n);
        return o + n;
    }
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"') *o++ = '"';
        *o++ = s[i];
    }
    *o++ = '"';
    return o;
}

/* Append the fields as one CSV row and CRLF (each as rb_csv_field does),
 * with one reservation for the row: room for the worst case (every byte
 * a quote, doubled, and each field quoted) of the fields' lengths. */
int rb_csv_row(rb_buf *b, const char *const *vals, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += strlen(vals[i]);
    if (rb_buf_reserve(b, total * 2 + n * 3 + 2)) return -1;
    char *o = b->buf + b->len;
    for (size_t i = 0; i < n; i++) {
        if (i) *o++ = ',';
        o = csv_put(o, vals[i], strlen(vals[i]));
    }
    *o++ = '\r';
    *o++ = '\n';
    *o = '\0';
    b->len = (size_t)(o - b->buf);
    return 0;
}

/* Append s as one CSV field: as it is, or, when it holds a comma, a quote,
 * CR or LF, in double quotes with each quote doubled. */
int rb_csv_field(rb_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (rb_buf_reserve(b, n * 2 + 2)) return -1;
    char *o = csv_put(b->buf + b->len, s, n);
    *o = '\0';
    b->len = (size_t)(o - b->buf);
    return 0;
}

/* Mask the addresses in a diagnostic text (each local@domain becomes
 * "<address>") and collapse white space, into out: the report groups
 * diagnostics by this text, and the store's rollups keep it. */
void rb_mask_addresses(const char *in, char *out, size_t outlen)
{
    size_t o = 0;
    if (!outlen) return;
    const char *p = in ? in : "";
    int space = 0;
    while (*p && o + 1 < outlen) {
        /* an address: a run of address characters around an '@' */
        if (*p == '@') {
            /* walk back over the local part already written */
            size_t back = o;
            while (back > 0 && (isalnum((unsigned char)out[back - 1]) || strchr("._%+-=!#$&'*/?^`{|}~", out[back - 1])))
                back--;
            const char *q = p + 1;
            while (*q && (isalnum((unsigned char)*q) || *q == '.' || *q == '-')) q++;
            if (back < o && q > p + 1 && memchr(p + 1, '.', (size_t)(q - p - 1))) {
                int bracketed = back > 0 && out[back - 1] == '<' && *q == '>';
                o = back;
                const char *m = bracketed ? "address" : "<address>";
                for (; *m && o + 1 < outlen; m++) out[o++] = *m;
                p = q;
                space = 0;
                continue;
            }
        }
        if (isspace((unsigned char)*p)) {
            if (!space && o > 0) out[o++] = ' ';
            space = 1;
            p++;
            continue;
        }
        space = 0;
        out[o++] = *p++;
    }
    while (o > 0 && out[o - 1] == ' ') o--;
    out[o] = '\0';
}
