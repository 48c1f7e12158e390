/* message.c -- read one raw message into an rb_msg view.
 *
 * Bounce analysis needs little of a message: its top-level headers, the
 * decoded human-readable text, the delivery-status and feedback-report
 * parts, and the header block of the returned original.  Building GMime's
 * full object tree for that costs more than all the analysis together (a
 * GObject per header, part, stream and content type, each freed again), so
 * the MIME *structure* is walked here, in place, over one private copy of
 * the bytes: header blocks, Content-Type parameters, multipart boundaries.
 * GMime does what it is best at: RFC 2047 header decoding, base64 and
 * quoted-printable decoding, charset conversion, dates.
 *
 * Everything is bounded: nesting depth, parts per multipart, header fields
 * kept, decoded text per message.  The returned original message is never
 * parsed beyond its header block.
 */
#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "message.h"

#define MAX_DEPTH 24
#define MAX_TEXT (4u << 20)    /* decoded text kept per message */
#define MAX_PARTS 1000         /* parts per multipart */
#define MAX_TOP_HEADERS 1024   /* top-level header fields kept */
#define MAX_PART_HEADERS 64    /* header fields looked at in a part */

/* s copied into the message's pool (lives as long as the rb_msg). */
static const char *msg_strdup(rb_msg *m, const char *s)
{
    return g_string_chunk_insert(m->pool, s ? s : "");
}

/* ---- header blocks ----------------------------------------------------- */

/* Length of the line at b (up to and excluding '\n'), and where the next
 * line starts. */
static size_t line_at(const char *b, size_t len, size_t pos, size_t *next)
{
    const char *nl = memchr(b + pos, '\n', len - pos);
    size_t end = nl ? (size_t)(nl - b) : len;
    *next = nl ? end + 1 : len;
    return end - pos;
}

/* Parse the header block at the start of b.  Fields go to out (at most
 * max; the rest are skipped).  Returns the offset of the body: after the
 * blank line, or at the first line that is neither a field nor a
 * continuation (where a broken header block ends), or len. */
static size_t parse_headers(const char *b, size_t len, rb_hdr *out, size_t max, size_t *nout)
{
    size_t pos = 0, n = 0;
    rb_hdr *cur = NULL;
    while (pos < len) {
        size_t next, ll = line_at(b, len, pos, &next);
        const char *line = b + pos;
        size_t l = ll;
        if (l && line[l - 1] == '\r') l--;
        if (l == 0) { *nout = n; return next; }                 /* blank line: body follows */
        if (line[0] == ' ' || line[0] == '\t') {                  /* folded continuation */
            if (cur) cur->vlen = (size_t)(line + l - cur->val);
            pos = next;
            continue;
        }
        size_t c = 0;
        while (c < l && line[c] != ':' && (unsigned char)line[c] > ' ' && (unsigned char)line[c] < 127) c++;
        size_t nlen = c;
        while (c < l && (line[c] == ' ' || line[c] == '\t')) c++;  /* "Subject :" */
        if (c >= l || line[c] != ':' || nlen == 0) {
            /* Not a field.  A run of non-blank characters inside a header
             * block is a folded value that lost its indentation (long
             * base64 tokens in Microsoft's X- headers): keep reading, as
             * GMime does.  Prose (a line with blanks) starts the body. */
            if (cur && !memchr(line, ' ', l) && !memchr(line, '\t', l)) {
                cur->vlen = (size_t)(line + l - cur->val);
                pos = next;
                continue;
            }
            *nout = n;
            return pos;
        }
        if (n < max) {
            cur = &out[n++];
            cur->name = line;
            cur->nlen = nlen;
            cur->val = line + c + 1;
            cur->vlen = l - c - 1;
            cur->dec = NULL;
        } else {
            cur = NULL;
        }
        pos = next;
    }
    *nout = n;
    return len;
}

/* A field name's bit in rb_msg.hdr_bits: from its length and its first
 * byte (either case); a name whose bit is not set is not in the header. */
static uint64_t hdr_bit(size_t nlen, unsigned char c0)
{
    return 1ull << ((nlen * 7u + (c0 | 0x20u)) & 63u);
}

/* The length and the first letter (either case) before strncasecmp. */
static const rb_hdr *find_hdr(const rb_hdr *h, size_t n, const char *name)
{
    size_t nl = strlen(name);
    unsigned char f0 = (unsigned char)(name[0] | 0x20);
    for (size_t i = 0; i < n; i++)
        if (h[i].nlen == nl && (unsigned char)(h[i].name[0] | 0x20) == f0 && strncasecmp(h[i].name, name, nl) == 0)
            return &h[i];
    return NULL;
}

/* Unfold a raw value into out (CR/LF dropped, whitespace runs kept as they
 * are, leading and trailing whitespace trimmed). */
static size_t unfold(const char *v, size_t n, char *out, size_t outlen)
{
    size_t w = 0;
    for (size_t i = 0; i < n && w + 1 < outlen; i++)
        if (v[i] != '\r' && v[i] != '\n') out[w++] = v[i];
    out[w] = '\0';
    size_t s = 0;
    while (s < w && (out[s] == ' ' || out[s] == '\t')) s++;
    while (w > s && (out[w - 1] == ' ' || out[w - 1] == '\t')) out[--w] = '\0';
    if (s) memmove(out, out + s, w - s + 1);
    return w - s;
}

static int all_ascii(const char *s, size_t n);

/* The decoded (RFC 2047), unfolded value of a field, made valid UTF-8;
 * decoded once and kept in the pool. */
static const char *hdr_value(rb_msg *m, rb_hdr *h)
{
    if (h->dec) return h->dec;
    char stack[512];
    size_t cap = h->vlen + 1;
    char *raw = cap <= sizeof stack ? stack : g_malloc(cap);
    size_t rl;
    if (!memchr(h->val, '\n', h->vlen) && !memchr(h->val, '\r', h->vlen)) {
        /* one line (most fields): trimmed, no line breaks to drop */
        const char *v = h->val, *e = h->val + h->vlen;
        while (v < e && (*v == ' ' || *v == '\t')) v++;
        while (e > v && (e[-1] == ' ' || e[-1] == '\t')) e--;
        rl = (size_t)(e - v);
        memcpy(raw, v, rl);
        raw[rl] = '\0';
    } else {
        rl = unfold(h->val, h->vlen, raw, cap);
    }
    char *dec = strstr(raw, "=?") ? g_mime_utils_header_decode_text(NULL, raw) : NULL;
    if (dec) {
        if (!g_utf8_validate(dec, -1, NULL)) {
            char *x = g_utf8_make_valid(dec, -1);
            h->dec = msg_strdup(m, x);
            g_free(x);
        } else {
            h->dec = msg_strdup(m, dec);
        }
        g_free(dec);
    } else if (all_ascii(raw, rl) || g_utf8_validate(raw, (gssize)rl, NULL)) {
        h->dec = g_string_chunk_insert_len(m->pool, raw, (gssize)rl);
    } else {
        char *x = g_utf8_make_valid(raw, -1);
        h->dec = msg_strdup(m, x);
        g_free(x);
    }
    if (raw != stack) g_free(raw);
    return h->dec;
}

const char *rb_msg_header(rb_msg *m, const char *name)
{
    if (!(m->hdr_bits & hdr_bit(strlen(name), (unsigned char)name[0]))) return NULL;
    rb_hdr *h = (rb_hdr *)find_hdr(m->hdrs, m->nhdrs, name);
    return h ? hdr_value(m, h) : NULL;
}

int rb_msg_header_contains(rb_msg *m, const char *name, const char *needle)
{
    size_t nl = strlen(name);
    unsigned char f0 = (unsigned char)(name[0] | 0x20);
    if (!(m->hdr_bits & hdr_bit(nl, f0))) return 0;
    for (size_t i = 0; i < m->nhdrs; i++) {
        const rb_hdr *h = &m->hdrs[i];
        if (h->nlen == nl && (unsigned char)(h->name[0] | 0x20) == f0 && strncasecmp(h->name, name, nl) == 0 &&
            rb_strcasestrn(h->val, h->vlen, needle))
            return 1;
    }
    return 0;
}

/* Look a header up in the returned message's header block.  Leniently:
 * returned headers are often mangled on the way (continuation lines that
 * lost their indentation), so every line up to the blank line is looked
 * at, not only well-formed fields. */
static const char *block_header(rb_msg *m, const char *blk, size_t len, const char *name)
{
    size_t nl = strlen(name);
    unsigned char f0 = (unsigned char)g_ascii_tolower(name[0]);
    size_t pos = 0;
    while (pos < len) {   /* line by line, as rb_next_line */
        const char *line = blk + pos;
        const char *e = memchr(line, '\n', len - pos);
        size_t ll = e ? (size_t)(e - line) : len - pos;
        pos += ll + (e ? 1 : 0);
        if (ll == 0 || (ll == 1 && line[0] == '\r')) break; /* end of the header block */
        if (ll > nl && line[nl] == ':' && (unsigned char)g_ascii_tolower(line[0]) == f0 &&
            strncasecmp(line, name, nl) == 0) {
            /* the value and its continuation lines, joined by a space (each
             * replaces a '\n': the span's size bounds the result) */
            size_t vend = pos;
            while (vend < len && (blk[vend] == ' ' || blk[vend] == '\t')) {
                const char *e2 = memchr(blk + vend, '\n', len - vend);
                vend = e2 ? (size_t)(e2 - blk) + 1 : len;
            }
            const char *vs = line + nl + 1;
            size_t span = (size_t)(blk + vend - vs);
            char stack[1024];
            char *v = span + 1 <= sizeof stack ? stack : g_malloc(span + 1);
            size_t w = ll - nl - 1;
            memcpy(v, vs, w);
            for (size_t q = pos; q < vend;) {
                const char *e2 = memchr(blk + q, '\n', vend - q);
                size_t l2 = e2 ? (size_t)(e2 - (blk + q)) : vend - q;
                v[w++] = ' ';
                memcpy(v + w, blk + q, l2);
                w += l2;
                q += l2 + (e2 ? 1 : 0);
            }
            v[w] = '\0';
            /* plain ASCII without an encoded word: nothing to decode (GMime
             * would give it back as it is, at ~2,700 instructions a field),
             * and valid UTF-8 as it is */
            int plain = !strstr(v, "=?") && all_ascii(v, w);
            const char *out;
            if (plain) {
                rb_squeeze(v);
                out = msg_strdup(m, v);
            } else {
                char *dec = g_mime_utils_header_decode_text(NULL, v);
                char *s2 = dec ? dec : g_strdup("");
                if (!g_utf8_validate(s2, -1, NULL)) {
                    char *x = g_utf8_make_valid(s2, -1);
                    g_free(s2);
                    s2 = x;
                }
                rb_squeeze(s2);
                out = msg_strdup(m, s2);
                g_free(s2);
            }
            if (v != stack) g_free(v);
            return out;
        }
    }
    return NULL;
}

const char *rb_msg_orig_header(rb_msg *m, const char *name)
{
    if (!m->orig || !m->orig_len) return NULL;
    return block_header(m, m->orig, m->orig_len, name);
}

void rb_msg_set_orig(rb_msg *m, const char *start, size_t len)
{
    /* Skip leading blank lines, then keep up to the first blank line. */
    while (len && (*start == '\n' || *start == '\r' || *start == ' ' || *start == '\t')) { start++; len--; }
    size_t end = 0;
    while (end < len) {
        const char *nl = memchr(start + end, '\n', len - end);
        if (!nl) { end = len; break; }
        size_t next = (size_t)(nl - start) + 1;
        if (next < len && (start[next] == '\n' || (start[next] == '\r' && next + 1 < len && start[next + 1] == '\n'))) {
            end = next;
            break;
        }
        end = next;
    }
    if (end > 256 * 1024) end = 256 * 1024;
    char *copy = g_string_chunk_insert_len(m->pool, start, (gssize)end);
    m->orig = copy;
    m->orig_len = end;
}

/* ---- Content-Type ------------------------------------------------------------ */
typedef struct {
    char type[64], sub[64];     /* lowercased; "" when absent */
    char boundary[256];
    char charset[64];
    char report_type[64];
} ctinfo;

/* Copy a parameter value (quoted-string or token) from *p into out
 * (appending: RFC 2231 continuations come in order); advances *p. */
static void param_value(const char **p, char *out, size_t outlen)
{
    const char *s = *p;
    size_t w = strlen(out);
    if (*s == '"') {
        s++;
        while (*s && *s != '"') {
            if (*s == '\\' && s[1]) s++;
            if (w + 1 < outlen) out[w++] = *s;
            s++;
        }
        if (*s == '"') s++;
    } else {
        while (*s && *s != ';' && !isspace((unsigned char)*s)) {
            if (w + 1 < outlen) out[w++] = *s;
            s++;
        }
    }
    out[w] = '\0';
    *p = s;
}

static void parse_ct(const rb_hdr *h, ctinfo *ct)
{
    memset(ct, 0, sizeof *ct);
    if (!h) return;
    char v[2048];
    unfold(h->val, h->vlen, v, sizeof v);
    const char *p = v;
    while (*p == ' ' || *p == '\t') p++;
    size_t i = 0;
    while (*p && *p != '/' && *p != ';' && !isspace((unsigned char)*p)) {
        if (i + 1 < sizeof ct->type) ct->type[i++] = (char)tolower((unsigned char)*p);
        p++;
    }
    ct->type[i] = '\0';
    if (*p == '/') {
        p++;
        i = 0;
        while (*p && *p != ';' && !isspace((unsigned char)*p)) {
            if (i + 1 < sizeof ct->sub) ct->sub[i++] = (char)tolower((unsigned char)*p);
            p++;
        }
        ct->sub[i] = '\0';
    }
    /* parameters: name=value; name*0=...; name*=charset''%xx (not decoded: boundaries and charsets are ASCII) */
    while ((p = strchr(p, ';'))) {
        p++;
        while (*p == ' ' || *p == '\t') p++;
        const char *ns = p;
        while (*p && *p != '=' && *p != ';' && !isspace((unsigned char)*p)) p++;
        size_t nl = (size_t)(p - ns);
        while (*p == ' ' || *p == '\t') p++;
        if (*p != '=') continue;
        p++;
        while (*p == ' ' || *p == '\t') p++;
        size_t base = nl;
        const char *star = memchr(ns, '*', nl);
        if (star) base = (size_t)(star - ns);
        char *dst = NULL;
        size_t dl = 0;
        if (base == 8 && strncasecmp(ns, "boundary", 8) == 0) { dst = ct->boundary; dl = sizeof ct->boundary; }
        else if (base == 7 && strncasecmp(ns, "charset", 7) == 0) { dst = ct->charset; dl = sizeof ct->charset; }
        else if (base == 11 && strncasecmp(ns, "report-type", 11) == 0) { dst = ct->report_type; dl = sizeof ct->report_type; }
        if (!dst) {
            char skip[8] = "";
            param_value(&p, skip, 1);
            continue;
        }
        if (!star) dst[0] = '\0';   /* a plain parameter replaces; continuations append */
        param_value(&p, dst, dl);
        if (star && star[1] == '*' ) {
            /* charset''value: drop the language prefix */
            char *q = strstr(dst, "''");
            if (q) memmove(dst, q + 2, strlen(q + 2) + 1);
        }
    }
    rb_lower(ct->report_type);
}

static int ct_is(const ctinfo *ct, const char *type, const char *sub)
{
    return strcmp(ct->type, type) == 0 && (strcmp(sub, "*") == 0 || strcmp(ct->sub, sub) == 0);
}

/* ---- transfer encodings and charsets ------------------------------------------ */
enum { CTE_IDENTITY, CTE_BASE64, CTE_QP, CTE_UU };

static int parse_cte(const rb_hdr *h)
{
    if (!h) return CTE_IDENTITY;
    char v[64];
    unfold(h->val, h->vlen < 63 ? h->vlen : 63, v, sizeof v);
    if (strncasecmp(v, "base64", 6) == 0) return CTE_BASE64;
    if (strncasecmp(v, "quoted-printable", 16) == 0) return CTE_QP;
    if (strncasecmp(v, "x-uuencode", 10) == 0 || strncasecmp(v, "uuencode", 8) == 0) return CTE_UU;
    return CTE_IDENTITY;
}

static int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* "=" and two hex digits (either case) is the byte they spell; "=" before
 * LF or CR LF is a soft line break, dropped; any other "=" is kept with
 * the two bytes after it (which are not looked at again); an "=" among the
 * last two bytes is dropped with what follows it.  Trailing spaces are
 * kept.  The runs between "=" are copied whole. */
size_t rb_qp_decode(const char *in, size_t n, char *out)
{
    const char *p = in, *end = in + n;
    char *w = out;
    while (p < end) {
        const char *eq = memchr(p, '=', (size_t)(end - p));
        size_t run = eq ? (size_t)(eq - p) : (size_t)(end - p);
        memcpy(w, p, run);
        w += run;
        if (!eq || end - eq < 3) break;   /* "=", "=\n" or "=x" at the end: nothing more */
        unsigned char a = (unsigned char)eq[1], b = (unsigned char)eq[2];
        if (a == '\n') { p = eq + 2; continue; }   /* soft break: the next byte is read again */
        p = eq + 3;
        int ha = hex_digit(a), hb = hex_digit(b);
        if (ha >= 0 && hb >= 0) *w++ = (char)(ha << 4 | hb);
        else if (a != '\r' || b != '\n') { w[0] = '='; w[1] = (char)a; w[2] = (char)b; w += 3; }
    }
    return (size_t)(w - out);
}

/* Undo the transfer encoding; returns a g_malloc'ed buffer (NUL-terminated). */
static char *decode_cte(const char *b, size_t n, int cte, size_t *outlen)
{
    unsigned char *out = g_malloc(n + 4);
    size_t w;
    int state = 0;
    guint32 save = 0;
    switch (cte) {
    case CTE_BASE64:
        w = g_mime_encoding_base64_decode_step((const unsigned char *)b, n, out, &state, &save);
        break;
    case CTE_QP:
        w = rb_qp_decode(b, n, (char *)out);
        break;
    case CTE_UU:
        state = GMIME_UUDECODE_STATE_INIT;
        w = g_mime_encoding_uudecode_step((const unsigned char *)b, n, out, &state, &save);
        if (!(state & GMIME_UUDECODE_STATE_BEGIN)) { memcpy(out, b, n); w = n; }  /* no "begin" line: plain text */
        break;
    default:
        memcpy(out, b, n);
        w = n;
    }
    out[w] = '\0';
    *outlen = w;
    return (char *)out;
}

/* Convert with iconv, skipping bytes the charset cannot decode (a text
 * labelled ISO-2022-JP that is really EUC-JP loses its Japanese, not
 * its English).  g_malloc'ed, NUL-terminated. */
static char *convert(iconv_t cd, const char *in, size_t n, size_t *outlen)
{
    size_t cap = n * 2 + 16, w = 0;
    char *out = g_malloc(cap);
    char *ip = (char *)in;
    size_t il = n;
    while (il > 0) {
        char *op = out + w;
        size_t ol = cap - w - 1;
        size_t r = iconv(cd, &ip, &il, &op, &ol);
        w = (size_t)(op - out);
        if (r != (size_t)-1) break;
        if (errno == E2BIG) {
            cap *= 2;
            out = g_realloc(out, cap);
        } else {          /* EILSEQ / EINVAL: skip one byte, start over in the initial state */
            ip++;
            il--;
            iconv(cd, NULL, NULL, NULL, NULL);
        }
    }
    /* flush the shift state */
    char *op = out + w;
    size_t ol = cap - w - 1;
    iconv(cd, NULL, NULL, &op, &ol);
    w = (size_t)(op - out);
    out[w] = '\0';
    *outlen = w;
    return out;
}

/* NUL bytes into spaces (memchr: most texts have none) */
static void nul_to_space(char *d, size_t dl)
{
    for (char *z = d; (z = memchr(z, '\0', dl - (size_t)(z - d))) != NULL;) *z++ = ' ';
}

/* Only bytes below 0x80?  (Then, without NULs, the text is valid UTF-8.) */
static int all_ascii(const char *s, size_t n)
{
    uint64_t acc = 0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        uint64_t w[4];
        memcpy(w, s + i, sizeof w);
        acc |= w[0] | w[1] | w[2] | w[3];
        if (acc & 0x8080808080808080ull) return 0;
    }
    for (; i < n; i++) acc |= (unsigned char)s[i];
    return !(acc & 0x8080808080808080ull);
}

/* Does charset, for a text of ASCII bytes other than ESC, SO and SI, decode
 * each byte to itself?  The ISO 8859 and Windows code pages, KOI8 and
 * ISO-2022-JP (whose initial state is ASCII) do; Shift_JIS (0x5C, 0x7E),
 * UTF-7 ('+'), UTF-16 and EBCDIC do not and go through iconv. */
static int ascii_is_identity(const char *charset)
{
    static const char *const prefixes[] = {"iso-8859-", "iso8859-", "iso_8859-", "windows-125", "cp125", "koi8-"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (g_ascii_strncasecmp(charset, prefixes[i], strlen(prefixes[i])) == 0) return 1;
    return g_ascii_strcasecmp(charset, "iso-2022-jp") == 0;
}

/* Decoded text of a leaf: transfer encoding undone, converted from its
 * charset to UTF-8 (invalid sequences repaired), NULs turned into spaces
 * (a QP "=00" must not cut the text short).  g_malloc'ed. */
static char *leaf_text(const char *b, size_t n, int cte, const char *charset, size_t *outlen)
{
    size_t dl;
    char *d = decode_cte(b, n, cte, &dl);
    nul_to_space(d, dl);   /* before iconv, which stops at NUL */
    if (charset[0] && g_ascii_strcasecmp(charset, "utf-8") && g_ascii_strcasecmp(charset, "us-ascii") &&
        g_ascii_strcasecmp(charset, "utf8") && g_ascii_strcasecmp(charset, "ascii") &&
        !(ascii_is_identity(charset) && all_ascii(d, dl) && !memchr(d, 0x1b, dl) && !memchr(d, 0x0e, dl) &&
          !memchr(d, 0x0f, dl))) {   /* (that text converts to itself: no iconv) */
        iconv_t cd = g_mime_iconv_open("UTF-8", charset);
        if (cd != (iconv_t)-1) {
            size_t cl;
            char *c = convert(cd, d, dl, &cl);
            g_mime_iconv_close(cd);
            if (c) {
                g_free(d);
                d = c;
                dl = cl;
            }
        }
    }
    nul_to_space(d, dl);
    if (!all_ascii(d, dl) && !g_utf8_validate(d, (gssize)dl, NULL)) {
        char *v = g_utf8_make_valid(d, (gssize)dl);
        g_free(d);
        d = v;
        dl = strlen(v);
    }
    *outlen = dl;
    return d;
}

/* ---- the walk ------------------------------------------------------------------- */
static void append_text(GString *dst, const char *t, size_t n)
{
    if (dst->len >= MAX_TEXT) return;
    if (n > MAX_TEXT - dst->len) n = MAX_TEXT - dst->len;
    /* normalise CRLF / CR to LF while appending, copying the runs between */
    size_t i = 0;
    while (i < n) {
        const char *cr = memchr(t + i, '\r', n - i);
        size_t run = cr ? (size_t)(cr - (t + i)) : n - i;
        g_string_append_len(dst, t + i, (gssize)run);
        i += run;
        if (i < n) {                                /* at a CR */
            if (!(i + 1 < n && t[i + 1] == '\n')) g_string_append_c(dst, '\n');
            i++;
        }
    }
    if (dst->len && dst->str[dst->len - 1] != '\n') g_string_append_c(dst, '\n');
}

static void add_groups(rb_fields **dst, size_t *ndst, rb_fields *src, size_t nsrc)
{
    if (!nsrc) { free(src); return; }
    if (!*dst) { *dst = src; *ndst = nsrc; return; }
    rb_fields *n = realloc(*dst, (*ndst + nsrc) * sizeof *n);
    if (!n) {
        for (size_t i = 0; i < nsrc; i++) rb_fields_free(&src[i]);
        free(src);
        return;
    }
    memcpy(n + *ndst, src, nsrc * sizeof *src);
    *dst = n;
    *ndst += nsrc;
    free(src);
}

typedef struct {
    const char *p;
    size_t n;
} span;

/* Split a multipart body at "--boundary" lines.  parts[] gets the content
 * of each part (without the line break before the next delimiter); the
 * preamble is what comes before the first delimiter.  A part cut off by
 * the end of the input (truncated MIME) ends there.  Returns the number of
 * parts. */
static size_t split_multipart(const char *b, size_t len, const char *boundary, span *preamble, span *parts,
                              size_t maxparts)
{
    size_t bl = strlen(boundary), np = 0;
    size_t pos = 0;
    long start = -1;     /* start of the current part's content */
    preamble->p = b;
    preamble->n = len;
    while (pos < len) {
        size_t next, ll = line_at(b, len, pos, &next);
        const char *line = b + pos;
        if (ll >= bl + 2 && line[0] == '-' && line[1] == '-' && memcmp(line + 2, boundary, bl) == 0) {
            const char *rest = line + 2 + bl;
            size_t rl = ll - 2 - bl;
            int close = rl >= 2 && rest[0] == '-' && rest[1] == '-';
            size_t k = close ? 2 : 0;
            while (k < rl && (rest[k] == ' ' || rest[k] == '\t' || rest[k] == '\r')) k++;
            if (k == rl) {  /* a delimiter line */
                /* the line break before the delimiter belongs to it */
                size_t end = pos;
                if (end > 0 && b[end - 1] == '\n') end--;
                if (end > 0 && b[end - 1] == '\r') end--;
                if (start < 0) {
                    preamble->n = end;
                } else if (np < maxparts) {
                    parts[np].p = b + start;
                    parts[np].n = end > (size_t)start ? end - (size_t)start : 0;
                    np++;
                }
                if (close) return np;
                start = (long)next;
            }
        }
        pos = next;
    }
    if (start >= 0 && (size_t)start < len && np < maxparts) {   /* no closing delimiter */
        parts[np].p = b + start;
        parts[np].n = len - (size_t)start;
        np++;
    }
    return np;
}

static void walk(rb_msg *m, const rb_hdr *h, size_t nh, const char *body, size_t blen, int depth, GString *text);

/* A text/html part, decoded only when its text is asked for. */
typedef struct {
    const char *p;          /* in m->raw */
    size_t n;
    int cte;
    const char *charset;    /* in m->pool */
} html_part;

const char *rb_msg_html(rb_msg *m, size_t *len)
{
    if (!m->html) {
        GString *html = g_string_new(NULL);
        for (guint i = 0; m->html_parts && i < m->html_parts->len; i++) {
            const html_part *hp = &g_array_index(m->html_parts, html_part, i);
            size_t tl;
            char *t = leaf_text(hp->p, hp->n, hp->cte, hp->charset, &tl);
            append_text(html, t, tl);
            g_free(t);
        }
        m->html_len = html->len;
        m->html = g_string_free(html, FALSE);
    }
    *len = m->html_len;
    return m->html;
}

/* Parse a part (header block + content) and walk it. */
static void walk_part(rb_msg *m, const char *b, size_t n, int depth, GString *text)
{
    rb_hdr h[MAX_PART_HEADERS];
    size_t nh;
    size_t off = parse_headers(b, n, h, MAX_PART_HEADERS, &nh);
    walk(m, h, nh, b + off, n - off, depth, text);
}

static int part_is_text_plain(const char *b, size_t n)
{
    rb_hdr h[MAX_PART_HEADERS];
    size_t nh;
    parse_headers(b, n, h, MAX_PART_HEADERS, &nh);
    ctinfo ct;
    parse_ct(find_hdr(h, nh, "Content-Type"), &ct);
    return ct_is(&ct, "text", "plain") || !ct.type[0];
}

static void walk(rb_msg *m, const rb_hdr *h, size_t nh, const char *body, size_t blen, int depth, GString *text)
{
    if (depth > MAX_DEPTH) return;
    ctinfo ct;
    parse_ct(find_hdr(h, nh, "Content-Type"), &ct);
    int top = depth == 0;
    if (top) {
        if (ct.type[0]) {
            char mt[130];
            snprintf(mt, sizeof mt, "%s/%s", ct.type, ct.sub);
            m->content_type = msg_strdup(m, mt);
        }
        if (ct.report_type[0]) m->report_type = msg_strdup(m, ct.report_type);
    }

    if (strcmp(ct.type, "multipart") == 0) {
        span pre, *parts = g_new(span, MAX_PARTS);
        size_t np = ct.boundary[0] ? split_multipart(body, blen, ct.boundary, &pre, parts, MAX_PARTS) : 0;
        if (!ct.boundary[0]) { pre.p = body; pre.n = blen; }
        if (top && pre.n) {
            m->prologue = g_string_chunk_insert_len(m->pool, pre.p, (gssize)pre.n);
            m->prologue_len = pre.n;
        }
        if (np == 0) {
            /* a multipart whose boundary never occurs: the whole text is the
             * preamble (old sendmail DSNs written without their parts) */
            append_text(text, pre.p, pre.n);
        } else if (ct_is(&ct, "multipart", "alternative")) {
            size_t pick = np;
            for (size_t i = 0; i < np && pick == np; i++)
                if (part_is_text_plain(parts[i].p, parts[i].n)) pick = i;
            if (pick < np) walk_part(m, parts[pick].p, parts[pick].n, depth + 1, text);
            else for (size_t i = 0; i < np; i++) walk_part(m, parts[i].p, parts[i].n, depth + 1, text);
        } else {
            for (size_t i = 0; i < np; i++) walk_part(m, parts[i].p, parts[i].n, depth + 1, text);
        }
        g_free(parts);
        return;
    }

    int cte = parse_cte(find_hdr(h, nh, "Content-Transfer-Encoding"));
    size_t len = 0;
    if (ct_is(&ct, "message", "delivery-status") || ct_is(&ct, "message", "global-delivery-status") ||
        ct_is(&ct, "message", "feedback-report")) {
        char *t = leaf_text(body, blen, cte, "", &len);
        rb_fields *g = NULL;
        size_t ng = rb_parse_field_groups(t, len, &g);
        if (ct_is(&ct, "message", "feedback-report")) add_groups(&m->fb, &m->nfb, g, ng);
        else add_groups(&m->ds, &m->nds, g, ng);
        g_free(t);
        return;
    }
    if (ct_is(&ct, "message", "rfc822") || ct_is(&ct, "message", "global") || ct_is(&ct, "message", "news")) {
        /* the returned message: its raw text (for formats that nest a whole
         * bounce in it) and its header block; never parsed further */
        if (m->attached) return;
        char *t = decode_cte(body, blen, cte, &len);
        m->attached = g_string_chunk_insert_len(m->pool, t, (gssize)len);
        m->attached_len = len;
        if (!m->orig) rb_msg_set_orig(m, t, len);
        g_free(t);
        return;
    }
    if (ct_is(&ct, "text", "rfc822-headers") || ct_is(&ct, "message", "rfc822-headers") ||
        ct_is(&ct, "message", "global-headers")) {
        if (m->orig) return;
        char *t = leaf_text(body, blen, cte, ct.charset, &len);
        rb_msg_set_orig(m, t, len);
        g_free(t);
        return;
    }
    if (ct_is(&ct, "text", "html")) {
        /* decoded when asked for (rb_msg_html) */
        html_part hp = {body, blen, cte, msg_strdup(m, ct.charset)};
        if (!m->html_parts) m->html_parts = g_array_new(FALSE, FALSE, sizeof(html_part));
        g_array_append_val(m->html_parts, hp);
        return;
    }
    if (ct_is(&ct, "text", "*") || !ct.type[0]) {
        char *t = leaf_text(body, blen, cte, ct.charset, &len);
        append_text(text, t, len);
        g_free(t);
        return;
    }
}

/* Minimal HTML to text: tags that break lines become newlines, others go,
 * a few entities are decoded.  Enough for NDRs that come in HTML only. */
static void html_to_text(const char *h, size_t n, GString *out)
{
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        if (c == '<') {
            size_t j = i + 1;
            while (j < n && h[j] != '>') j++;
            const char *tag = h + i + 1;
            size_t tl = j - i - 1;
            if (tl >= 2 && (strncasecmp(tag, "br", 2) == 0 || strncasecmp(tag, "p", 1) == 0 ||
                            strncasecmp(tag, "/p", 2) == 0 || strncasecmp(tag, "div", 3) == 0 ||
                            strncasecmp(tag, "/div", 4) == 0 || strncasecmp(tag, "tr", 2) == 0 ||
                            strncasecmp(tag, "/tr", 3) == 0 || strncasecmp(tag, "li", 2) == 0))
                g_string_append_c(out, '\n');
            else if (tl == 1 && (tag[0] == 'p' || tag[0] == 'P'))
                g_string_append_c(out, '\n');
            else if (tl >= 3 && (strncasecmp(tag, "td", 2) == 0 || strncasecmp(tag, "/td", 3) == 0))
                g_string_append_c(out, ' ');
            i = j;
            continue;
        }
        if (c == '&') {
            static const struct { const char *e; char c; } ents[] = {
                {"&nbsp;", ' '}, {"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&#39;", '\''},
            };
            int done = 0;
            for (size_t k = 0; k < sizeof ents / sizeof ents[0]; k++) {
                size_t el = strlen(ents[k].e);
                if (i + el <= n && strncasecmp(h + i, ents[k].e, el) == 0) {
                    g_string_append_c(out, ents[k].c);
                    i += el - 1;
                    done = 1;
                    break;
                }
            }
            if (done) continue;
        }
        g_string_append_c(out, c);
    }
}

static const char *hdr(rb_msg *m, const char *name)
{
    const char *v = rb_msg_header(m, name);
    return v ? v : "";
}

rb_status rb_msg_open(rb_msg *m, const rb_ctx *ctx, const char *data, size_t len, rb_error *err)
{
    memset(m, 0, sizeof *m);
    m->ctx = ctx;
    m->pool = g_string_chunk_new(4096);

    /* one private copy; CR-only line endings (old Mac) become LF */
    char *copy = g_malloc(len + 1);
    memcpy(copy, data, len);
    copy[len] = '\0';
    if (len && !memchr(copy, '\n', len) && memchr(copy, '\r', len))
        for (size_t i = 0; i < len; i++) if (copy[i] == '\r') copy[i] = '\n';
    m->raw = copy;
    m->raw_len = len;

    m->hdrs = g_new(rb_hdr, MAX_TOP_HEADERS);
    size_t off = parse_headers(copy, len, m->hdrs, MAX_TOP_HEADERS, &m->nhdrs);
    if (m->nhdrs == 0) {
        rb_seterr(err, "not a mail message (no header field at byte 0)");
        return RB_ERR_PARSE;
    }
    for (size_t i = 0; i < m->nhdrs; i++) m->hdr_bits |= hdr_bit(m->hdrs[i].nlen, (unsigned char)m->hdrs[i].name[0]);

    m->from = hdr(m, "From");
    char addr[RB_ADDR_MAX] = "";
    rb_find_address(m->from, addr, sizeof addr);
    m->from_addr = msg_strdup(m, addr);
    m->subject = hdr(m, "Subject");
    m->to = hdr(m, "To");
    m->date = hdr(m, "Date");
    m->message_id = hdr(m, "Message-ID");
    m->content_type = "text/plain";
    m->report_type = "";

    GString *body = g_string_sized_new(4096);
    walk(m, m->hdrs, m->nhdrs, copy + off, len - off, 0, body);
    if (body->len == 0 && m->html_parts) {
        size_t hl;
        const char *html = rb_msg_html(m, &hl);
        if (hl) html_to_text(html, hl, body);
    }
    m->body_len = body->len;
    m->body = g_string_free(body, FALSE);
    return RB_OK;
}

void rb_msg_close(rb_msg *m)
{
    g_free(m->raw);
    g_free(m->hdrs);
    g_free(m->body);
    g_free(m->html);
    if (m->html_parts) g_array_free(m->html_parts, TRUE);
    for (size_t i = 0; i < m->nds; i++) rb_fields_free(&m->ds[i]);
    free(m->ds);
    for (size_t i = 0; i < m->nfb; i++) rb_fields_free(&m->fb[i]);
    free(m->fb);
    if (m->pool) g_string_chunk_free(m->pool);
    memset(m, 0, sizeof *m);
}
