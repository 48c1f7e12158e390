/* util.c -- bounded string helpers and text scanners shared by all modules. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX2_PATH 1
#endif

#include "rb_internal.h"

size_t rb_strlcpy(char *dst, const char *src, size_t size)
{
    size_t n = src ? strlen(src) : 0;
    if (size) {
        size_t c = n < size - 1 ? n : size - 1;
        if (c) memcpy(dst, src, c);
        dst[c] = '\0';
    }
    return n;
}

size_t rb_strlcpyn(char *dst, const char *src, size_t n, size_t size)
{
    if (size) {
        size_t c = n < size - 1 ? n : size - 1;
        if (c) memcpy(dst, src, c);
        dst[c] = '\0';
    }
    return n;
}

void rb_seterr(rb_error *err, const char *fmt, ...)
{
    if (!err) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

/* ASCII case folding, as strncasecmp in the C locale */
static inline unsigned char fold_ascii(unsigned char c)
{
    return (unsigned char)((unsigned)(c - 'A') < 26u ? c | 0x20 : c);
}

/* strncasecmp(s, prefix, strlen(prefix)) == 0 (C locale), without the two
 * calls: most tests fail on the first byte */
int rb_strcaseprefix(const char *s, const char *prefix)
{
    for (;; s++, prefix++) {
        unsigned char p = (unsigned char)*prefix;
        if (!p) return 1;
        if (fold_ascii((unsigned char)*s) != fold_ascii(p)) return 0;
    }
}

/* How often a byte turns up in mail text, roughly, per mille; a letter is
 * searched in both cases (two memchr), which the weights include. */
static const unsigned char byte_rarity[256] = {   /* 0: not listed, 3 */
    ['a'] = 85, ['b'] = 16, ['c'] = 33, ['d'] = 43, ['e'] = 130, ['f'] = 23, ['g'] = 21, ['h'] = 52,
    ['i'] = 78, ['j'] = 2,  ['k'] = 8,  ['l'] = 43, ['m'] = 29,  ['n'] = 72, ['o'] = 78, ['p'] = 22,
    ['q'] = 2,  ['r'] = 65, ['s'] = 68, ['t'] = 98, ['u'] = 29,  ['v'] = 10, ['w'] = 20, ['x'] = 4,
    ['y'] = 17, ['z'] = 2,
    ['A'] = 85, ['B'] = 16, ['C'] = 33, ['D'] = 43, ['E'] = 130, ['F'] = 23, ['G'] = 21, ['H'] = 52,
    ['I'] = 78, ['J'] = 2,  ['K'] = 8,  ['L'] = 43, ['M'] = 29,  ['N'] = 72, ['O'] = 78, ['P'] = 22,
    ['Q'] = 2,  ['R'] = 65, ['S'] = 68, ['T'] = 98, ['U'] = 29,  ['V'] = 10, ['W'] = 20, ['X'] = 4,
    ['Y'] = 17, ['Z'] = 2,
    [' '] = 160, ['\n'] = 25, ['\r'] = 25, ['.'] = 12, [':'] = 12, ['-'] = 10, ['='] = 10, [','] = 8,
    ['0' ... '9'] = 8,
};

static int caseeq_n(const char *s, const char *needle, size_t nl)
{
    for (size_t i = 0; i < nl; i++)
        if (fold_ascii((unsigned char)s[i]) != fold_ascii((unsigned char)needle[i])) return 0;
    return 1;
}

#ifdef HAVE_AVX2_PATH
/* rb_strcasestrn's filter 32 starts at a time, where the CPU has AVX2: the
 * starts *pi, *pi + 32, ... while a whole block fits before last + 1; *pi
 * is left at the first start not looked at (the caller goes on from
 * there).  Candidates are compared leftmost first, as in the SSE2 loop. */
__attribute__((target("avx2"))) static const char *strcasestrn_avx2(const char *hay, size_t last,
                                                                      const char *needle, size_t nl,
                                                                      size_t k1, size_t k2, size_t *pi)
{
    const __m256i c20 = _mm256_set1_epi8(0x20);
    const __m256i n1 = _mm256_set1_epi8((char)(needle[k1] | 0x20));
    const __m256i n2 = _mm256_set1_epi8((char)(needle[k2] | 0x20));
    size_t i = *pi;
    for (; i + 32 <= last + 1; i += 32) {   /* loads end at last + k + 31 < len */
        __m256i x = _mm256_or_si256(_mm256_loadu_si256((const __m256i *)(const void *)(hay + i + k1)), c20);
        __m256i y = _mm256_or_si256(_mm256_loadu_si256((const __m256i *)(const void *)(hay + i + k2)), c20);
        unsigned m = (unsigned)_mm256_movemask_epi8(_mm256_and_si256(_mm256_cmpeq_epi8(x, n1), _mm256_cmpeq_epi8(y, n2)));
        while (m) {
            unsigned bit = (unsigned)__builtin_ctz(m);
            m &= m - 1;
            if (caseeq_n(hay + i + bit, needle, nl)) return hay + i + bit;
        }
    }
    *pi = i;
    return NULL;
}
#endif

const char *rb_strcasestrn(const char *hay, size_t len, const char *needle)
{
    size_t nl = strlen(needle);
    if (nl == 0) return hay;
    if (!hay || nl > len) return NULL;
    /* the two rarest bytes of the needle: k1 the rarest, k2 the next.
     * Needles are mostly the same few literals: the choice is remembered
     * per needle address.  Any two positions inside the needle give the
     * same answer (they only filter the candidates), so a stale entry for
     * an address whose text changed costs speed, never correctness. */
    static _Thread_local struct { const char *needle; size_t k1, k2; } anchors[64];
    size_t slot = ((uintptr_t)needle >> 3 ^ (uintptr_t)needle >> 9) & 63;
    size_t k1 = 0, k2 = 0;
    if (anchors[slot].needle == needle && anchors[slot].k1 < nl && anchors[slot].k2 < nl) {
        k1 = anchors[slot].k1;
        k2 = anchors[slot].k2;
    } else {
        unsigned b1 = ~0u, b2 = ~0u;
        for (size_t i = 0; i < nl; i++) {
            unsigned r = byte_rarity[(unsigned char)needle[i]];
            if (!r) r = 3;
            if (r < b1) { b2 = b1; k2 = k1; b1 = r; k1 = i; }
            else if (r < b2) { b2 = r; k2 = i; }
        }
        anchors[slot].needle = needle;
        anchors[slot].k1 = k1;
        anchors[slot].k2 = k2;
    }
    size_t last = len - nl;   /* the last possible start */
#ifdef __SSE2__
    if (nl >= 2) {
        /* 16 starts at a time: those whose bytes at k1 and k2 equal the
         * needle's there, up to case (OR 0x20 folds the letters; for other
         * bytes it only lets more candidates through); each candidate is
         * then compared in full, leftmost first. */
        const __m128i c20 = _mm_set1_epi8(0x20);
        const __m128i n1 = _mm_set1_epi8((char)(needle[k1] | 0x20));
        const __m128i n2 = _mm_set1_epi8((char)(needle[k2] | 0x20));
        size_t i = 0;
#ifdef HAVE_AVX2_PATH
        if (last >= 64 && __builtin_cpu_supports("avx2")) {
            const char *r = strcasestrn_avx2(hay, last, needle, nl, k1, k2, &i);
            if (r) return r;
        }
#endif
        for (; i + 16 <= last + 1; i += 16) {   /* loads end at last + k + 15 < len */
            __m128i x = _mm_or_si128(_mm_loadu_si128((const __m128i *)(const void *)(hay + i + k1)), c20);
            __m128i y = _mm_or_si128(_mm_loadu_si128((const __m128i *)(const void *)(hay + i + k2)), c20);
            unsigned m = (unsigned)_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(x, n1), _mm_cmpeq_epi8(y, n2)));
            while (m) {
                unsigned bit = (unsigned)__builtin_ctz(m);
                m &= m - 1;
                if (caseeq_n(hay + i + bit, needle, nl)) return hay + i + bit;
            }
        }
        if (i <= last && last + 1 >= 16) {
            /* the last starts: one more 16-start window ending at last,
             * the starts before i (already looked at) masked off */
            size_t j = last + 1 - 16;   /* j < i: the loop above stopped */
            __m128i x = _mm_or_si128(_mm_loadu_si128((const __m128i *)(const void *)(hay + j + k1)), c20);
            __m128i y = _mm_or_si128(_mm_loadu_si128((const __m128i *)(const void *)(hay + j + k2)), c20);
            unsigned m = (unsigned)_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(x, n1), _mm_cmpeq_epi8(y, n2)));
            m &= 0xffffu << (i - j);
            while (m) {
                unsigned bit = (unsigned)__builtin_ctz(m);
                m &= m - 1;
                if (caseeq_n(hay + j + bit, needle, nl)) return hay + j + bit;
            }
            return NULL;
        }
        if (i <= last && k1 + 16 <= len && k2 + 16 <= len) {
            /* fewer than 16 starts (i == 0), but 16 bytes to load at each
             * anchor: one window, the starts past last masked off */
            __m128i x = _mm_or_si128(_mm_loadu_si128((const __m128i *)(const void *)(hay + k1)), c20);
            __m128i y = _mm_or_si128(_mm_loadu_si128((const __m128i *)(const void *)(hay + k2)), c20);
            unsigned m = (unsigned)_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(x, n1), _mm_cmpeq_epi8(y, n2)));
            m &= (1u << (last + 1)) - 1;
            while (m) {
                unsigned bit = (unsigned)__builtin_ctz(m);
                m &= m - 1;
                if (caseeq_n(hay + bit, needle, nl)) return hay + bit;
            }
            return NULL;
        }
        unsigned char f1 = fold_ascii((unsigned char)needle[k1]);
        for (; i <= last; i++)
            if (fold_ascii((unsigned char)hay[i + k1]) == f1 && caseeq_n(hay + i, needle, nl)) return hay + i;
        return NULL;
    }
#endif
    /* memchr (vectorised) finds the needle's rarest byte, in either case;
     * only there is the whole needle compared.  The first match found is
     * the leftmost: anchors are met in the order of the starts. */
    size_t k = k1;
    unsigned char lo = fold_ascii((unsigned char)needle[k]);
    unsigned char up = (lo >= 'a' && lo <= 'z') ? (unsigned char)(lo - 32) : lo;
    const char *end = hay + last + k + 1;   /* anchors at or past it start too late */
    const char *p = hay + k, *na = NULL, *nb = up != lo ? NULL : end;
    while (p < end) {
        /* the next anchor of each case at or after p, found once each */
        if (!na || na < p) { na = memchr(p, lo, (size_t)(end - p)); if (!na) na = end; }
        if (!nb || nb < p) { nb = memchr(p, up, (size_t)(end - p)); if (!nb) nb = end; }
        const char *q = nb < na ? nb : na;
        if (q >= end) return NULL;
        if (caseeq_n(q - k, needle, nl)) return q - k;
        p = q + 1;
    }
    return NULL;
}

const char *rb_strcasestr(const char *hay, const char *needle)
{
    return hay ? rb_strcasestrn(hay, strlen(hay), needle) : NULL;
}

/* Mask the secrets of a URL for messages (see rebound.h).  The user
 * information is what comes before the last '@' of the authority (which ends
 * at the first '/'), as libpq and curl read it:
 *
 *     postgresql://user:secret@host/db   ->  postgresql://user:***@host/db
 *     host=h password=secret dbname=d     ->  host=h password=*** dbname=d
 *     https://u:p@q@api.example/x?a=@     ->  https://u:***@api.example/x?a=@
 */
void rb_mask_url(const char *url, char *out, size_t outlen)
{
    if (!outlen) return;
    size_t o = 0;
#define PUT(c) do { if (o + 1 < outlen) out[o++] = (c); } while (0)
    const char *scheme = strstr(url, "://");
    const char *colon = NULL, *at = NULL;
    if (scheme) {
        const char *auth = scheme + 3, *end = auth + strcspn(auth, "/");
        for (const char *p = auth; p < end; p++)
            if (*p == '@') at = p;
        colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    }
    for (const char *p = url; *p;) {
        if (p == colon) {
            PUT(':'); PUT('*'); PUT('*'); PUT('*');
            p = at;
        } else if (!strncmp(p, "password=", 9)) {
            for (int i = 0; i < 9; i++) PUT(p[i]);
            PUT('*'); PUT('*'); PUT('*');
            p += 9;
            while (*p && *p != '&' && *p != ' ') p++;
        } else {
            PUT(*p);
            p++;
        }
    }
    out[o] = '\0';
#undef PUT
}

/* ---- UTF-8 ----------------------------------------------------------------
 *
 * Valid means what RFC 3629, GLib and PostgreSQL mean: no overlong forms, no
 * surrogates, nothing past U+10FFFF.  GLib does the checking
 * (g_utf8_validate_len, g_utf8_get_char_validated); these two only add what
 * GLib lacks: a NUL byte is a character like any other here (GLib calls a
 * length-bounded text with a NUL invalid), so callers that refuse NULs say
 * so themselves, with their own message.
 *
 * Measured on mixed Cyrillic and ASCII text, GLib's per-character check runs
 * at about 220 MB/s against 420 MB/s for the hand-written one it replaced
 * (store_pg.c, api.c, email.c): far above what any caller feeds it (values
 * bound for PostgreSQL, API fields, addresses), so GLib's it is. */

/* Length of the valid UTF-8 sequence at p (at most n bytes available), or 0
 * when it is invalid or cut short.  ASCII is answered without a call. */
size_t rb_utf8_seq(const char *p, size_t n)
{
    unsigned char c = (unsigned char)p[0];
    if (!n) return 0;
    if (c < 0x80) return 1;
    gunichar u = g_utf8_get_char_validated(p, (gssize)n);
    if (u == (gunichar)-1 || u == (gunichar)-2) return 0;
    return (size_t)g_utf8_skip[c];
}

/* Byte offset of the first invalid sequence in [s, s+n), or -1 when all of
 * it is valid. */
long rb_utf8_invalid_at(const char *s, size_t n)
{
    size_t i = 0;
    const gchar *end;
    while (i < n && !g_utf8_validate_len(s + i, n - i, &end)) {
        if (*end) return (long)(end - s);
        i = (size_t)(end - s) + 1;     /* a NUL: valid here, go on after it */
    }
    return -1;
}

/* ---- data-file lines -------------------------------------------------------
 *
 * The data files (rules, policy, providers, API keys) share one comment
 * rule: '#' starts a comment that runs to the end of the line only at the
 * start of the line or after a space or tab.  Elsewhere it is text, so
 *
 *     userunknown ~ \(#5\.1\.1\)      a pattern keeps its '#'
 *     yahoo  host  *.yahoo.com  # Yahoo's own MTAs     ...ends at " #"
 *
 * Returns the offset in [line, line+n) where the comment starts, or n. */
size_t rb_comment_at(const char *line, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (line[i] == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) return i;
    return n;
}

/* Where the comment scan of a rules line stops: at its pattern, "~ " at the
 * start (after blanks) or " ~ " as rules.c splits it (a pattern keeps every
 * '#'), else at the end. */
static size_t pattern_at(const char *line, size_t n)
{
    size_t i = 0;
    while (i < n && (line[i] == ' ' || line[i] == '\t')) i++;
    if (i + 1 < n && line[i] == '~' && line[i + 1] == ' ') return i;
    for (; i + 2 < n; i++)
        if (line[i] == ' ' && line[i + 1] == '~' && line[i + 2] == ' ') return i;
    return n;
}

rb_status rb_conf_open(rb_conf *c, const char *path, const char *what, int patterns, rb_error *err)
{
    memset(c, 0, sizeof *c);
    c->path = path;
    c->patterns = patterns;
    if (!(c->f = fopen(path, "r"))) {
        rb_seterr(err, "%s: cannot open %s file: %m", path, what);
        return RB_ERR_IO;
    }
    return RB_OK;
}

int rb_conf_next(rb_conf *c)
{
    ssize_t got = getline(&c->line, &c->cap, c->f);
    if (got < 0) return 0;
    c->lineno++;
    size_t n = (size_t)got;
    while (n && (c->line[n - 1] == '\n' || c->line[n - 1] == '\r')) n--;
    size_t stop = c->patterns ? pattern_at(c->line, n) : n;
    size_t cut = rb_comment_at(c->line, stop);
    if (cut < stop) n = cut;
    c->line[n] = '\0';
    rb_trim(c->line);
    return 1;
}

void rb_conf_close(rb_conf *c)
{
    free(c->line);
    if (c->f) fclose(c->f);
    memset(c, 0, sizeof *c);
}

/* Is [s, s+n) empty or only whitespace (space, tab, CR, LF, VT, FF)?  The
 * one test for "blank line" the format modules share. */
int rb_is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)s[i])) return 0;
    return 1;
}

char *rb_trim(char *s)
{
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    size_t i = 0;
    while (s[i] && isspace((unsigned char)s[i])) i++;
    if (i) memmove(s, s + i, n - i + 1);
    return s;
}

void rb_lower(char *s)
{
    for (; *s; s++) *s = (char)tolower((unsigned char)*s);
}

void rb_squeeze(char *s)
{
    size_t n = strlen(s), w = 0;
    int sp = 1; /* drop leading space */
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull, low7 = 0x7f7f7f7f7f7f7f7full;
    for (size_t i = 0; i < n;) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        /* Eight bytes at a time while they are printable ASCII and single
         * spaces (the text of most fields): they stay as they are. */
        if (i + 8 <= n) {
            uint64_t x;
            memcpy(&x, s + i, 8);
            uint64_t t = x ^ (ones * ' ');
            uint64_t spaces = ~(((t & low7) + low7) | t) & high;   /* exactly the 0x20 bytes */
            int ctl = (((x - ones * 0x20) & ~x) | x) & high ? 1 : 0;   /* a byte < 0x20 or >= 0x80 */
            if (!ctl && !(spaces & (spaces << 8)) && !(sp && (spaces & 0x80))) {
                memcpy(s + w, &x, 8);   /* w <= i */
                w += 8;
                i += 8;
                sp = (int)(spaces >> 63);
                continue;
            }
        }
#endif
        unsigned char c = (unsigned char)s[i++];
        if (isspace(c) || c < 0x20) {
            if (!sp) { s[w++] = ' '; sp = 1; }
        } else {
            s[w++] = (char)c;
            sp = 0;
        }
    }
    if (w > 0 && s[w - 1] == ' ') w--;
    s[w] = '\0';
}

static int is_local_char(unsigned char c)
{
    return isalnum(c) || strchr("!#$%&'*+-/=?^_`{|}~.", c) || c >= 0x80;
}

static int is_domain_char(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c >= 0x80 || c == '[' || c == ']' || c == ':';
}

const char *rb_find_address(const char *s, char *out, size_t outlen)
{
    if (!s) return NULL;
    for (const char *at = strchr(s, '@'); at; at = strchr(at + 1, '@')) {
        const char *b = at;
        while (b > s && is_local_char((unsigned char)b[-1])) b--;
        /* quoted local part: "john doe"@example.com */
        if (b == at && at > s && at[-1] == '"') {
            const char *q = at - 2;
            while (q >= s && *q != '"') q--;
            if (q >= s) b = q;
        }
        const char *e = at + 1;
        while (*e && is_domain_char((unsigned char)*e)) e++;
        while (e > at + 1 && (e[-1] == '.' || e[-1] == '-' || e[-1] == ':')) e--;
        while (b < at && (*b == '.')) b++;
        if (b == at || e == at + 1) continue;
        /* a domain needs a dot or to be a literal, except "postmaster@localhost" cases */
        rb_strlcpyn(out, b, (size_t)(e - b), outlen);
        return e;
    }
    return NULL;
}

int rb_clean_address(char *a)
{
    rb_trim(a);
    if (rb_strcaseprefix(a, "rfc822;")) memmove(a, a + 7, strlen(a + 7) + 1);
    else if (rb_strcaseprefix(a, "rfc822 ;")) memmove(a, a + 8, strlen(a + 8) + 1);
    rb_trim(a);
    char tmp[RB_ADDR_MAX];
    if (strchr(a, '@')) {
        if (!rb_find_address(a, tmp, sizeof tmp)) return 0;
        rb_strlcpy(a, tmp, RB_ADDR_MAX);
    } else {
        return 0;
    }
    if (rb_strcaseprefix(a, "mailto:")) memmove(a, a + 7, strlen(a + 7) + 1);
    size_t n = strlen(a);
    while (n && (a[n - 1] == '.' || a[n - 1] == '>' || a[n - 1] == ')')) a[--n] = '\0';
    /* quoted local parts: strip the quotes only when they guard nothing,
     * i.e. when the local part is a valid RFC 5322 dot-atom */
    if (a[0] == '"') {
        char *q = strchr(a + 1, '"');
        if (q && q[1] == '@' && q > a + 1) {
            int atom = a[1] != '.' && q[-1] != '.';
            for (char *c = a + 1; atom && c < q; c++)
                if ((*c == '.' && c[1] == '.') || !is_local_char((unsigned char)*c)) atom = 0;
            if (atom) {
                memmove(q, q + 1, strlen(q + 1) + 1);
                memmove(a, a + 1, strlen(a + 1) + 1);
            }
        }
    }
    const char *at = strrchr(a, '@');
    return at && at != a && at[1] && (strchr(at, '.') || at[1] == '[');
}

int rb_find_status(const char *t, char *out, size_t outlen)
{
    if (!t) return 0;
    for (const char *p = t; *p; p++) {
        if ((*p == '2' || *p == '4' || *p == '5') && p[1] == '.' &&
            (p == t || !(isalnum((unsigned char)p[-1]) || p[-1] == '.'))) {
            const char *q = p + 2;
            int d1 = 0, d2 = 0;
            /* RFC 3463 subjects are 0..7: "Exim 4.72.1" is a version, not a status */
            while (isdigit((unsigned char)q[d1]) && d1 < 4) d1++;
            if (d1 != 1 || q[0] > '7' || q[d1] != '.') continue;
            const char *r = q + d1 + 1;
            while (isdigit((unsigned char)r[d2]) && d2 < 4) d2++;
            if (d2 == 0 || d2 > 3) continue;
            if (isalnum((unsigned char)r[d2]) || (r[d2] == '.' && isdigit((unsigned char)r[d2 + 1]))) continue;
            rb_strlcpyn(out, p, (size_t)(r + d2 - p), outlen);
            return 1;
        }
    }
    return 0;
}

int rb_find_reply(const char *t, char *out, size_t outlen)
{
    if (!t) return 0;
    for (const char *p = t; *p; p++) {
        if ((*p >= '2' && *p <= '5') && isdigit((unsigned char)p[1]) && isdigit((unsigned char)p[2]) &&
            (p == t || !(isalnum((unsigned char)p[-1]) || p[-1] == '.' || p[-1] == '-' || p[-1] == '#' || p[-1] == ':' || p[-1] == '/')) &&
            (p[3] == ' ' || p[3] == '-' || p[3] == '\0' || p[3] == '\t' || p[3] == ']' || p[3] == ')')) {
            if (p[1] > '5') continue; /* 260, 599 nonsense */
            /* "452-4.2.2 ..." is a multi-line reply; "123-456" is not a reply */
            if (p[3] == '-' && isdigit((unsigned char)p[4]) && p[5] != '.') continue;
            rb_strlcpyn(out, p, 3, outlen);
            return 1;
        }
    }
    return 0;
}

int rb_find_command(const char *t, char *out, size_t outlen)
{
    static const struct { const char *pat; const char *cmd; } tab[] = {
        {"RCPT TO", "RCPT"}, {"MAIL FROM", "MAIL"}, {"end of data", "DATA"},
        {"DATA command", "DATA"}, {"after DATA", "DATA"}, {" DATA", "DATA"},
        {"EHLO", "EHLO"}, {"HELO", "HELO"}, {"STARTTLS", "STARTTLS"},
        {"AUTH ", "AUTH"}, {"connect to", "CONN"},
    };
    if (!t) return 0;
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        const char *hit = strstr(t, tab[i].pat);
        if (hit) { rb_strlcpy(out, tab[i].cmd, outlen); return 1; }
    }
    return 0;
}

int rb_next_line(const char *text, size_t textlen, size_t *pos, const char **line, size_t *len)
{
    if (!text || *pos >= textlen) return 0;
    const char *s = text + *pos;
    const char *nl = memchr(s, '\n', textlen - *pos);
    size_t l = nl ? (size_t)(nl - s) : textlen - *pos;
    *line = s;
    *len = l;
    *pos += l + (nl ? 1 : 0);
    return 1;
}

int rb_looks_like_header_line(const char *line, size_t len)
{
    static const char *const names[] = {
        "Return-Path:", "Received:", "From:", "To:", "Subject:", "Date:", "Message-ID:",
        "Message-Id:", "X-", "DKIM-Signature:", "MIME-Version:", "Content-Type:", "Delivered-To:",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t n = strlen(names[i]);
        if (len >= n && strncasecmp(line, names[i], n) == 0) return 1;
    }
    return 0;
}

/* ---- fields ------------------------------------------------------------- */
void rb_fields_free(rb_fields *f)
{
    for (size_t i = 0; i < f->n; i++) free(f->v[i].name);   /* the value is in the name's block */
    free(f->v);
    f->v = NULL;
    f->n = f->cap = 0;
}

int rb_fields_add(rb_fields *f, const char *name, size_t nlen, const char *value, size_t vlen)
{
    if (f->n == f->cap) {
        size_t nc = f->cap ? f->cap * 2 : 8;
        if (nc > 4096) return -1;               /* bounded: hostile reports */
        rb_field *nv = realloc(f->v, nc * sizeof *nv);
        if (!nv) return -1;
        f->v = nv;
        f->cap = nc;
    }
    /* name and value in one block (as strndup would copy them: up to a NUL) */
    nlen = strnlen(name, nlen);
    vlen = strnlen(value, vlen);
    char *n = malloc(nlen + vlen + 2);
    if (!n) return -1;
    char *v = n + nlen + 1;
    memcpy(n, name, nlen);
    n[nlen] = '\0';
    memcpy(v, value, vlen);
    v[vlen] = '\0';
    rb_squeeze(v);
    f->v[f->n].name = rb_trim(n);
    f->v[f->n].value = v;
    f->n++;
    return 0;
}

const char *rb_fields_get(const rb_fields *f, const char *name)
{
    if (!f) return NULL;
    for (size_t i = 0; i < f->n; i++)
        if (strcasecmp(f->v[i].name, name) == 0) return f->v[i].value;
    return NULL;
}

size_t rb_parse_field_groups(const char *text, size_t len, rb_fields **groups)
{
    size_t ng = 0, cap = 0;
    rb_fields *g = NULL;
    size_t pos = 0;
    const char *line;
    size_t ll;
    int in_group = 0;
    /* current field being accumulated (for folding) */
    GString *val = g_string_new(NULL);
    const char *name = NULL;
    size_t namelen = 0;
    /* its value: vp[0..vl) of its one line, or in val once folded */
    const char *vp = NULL;
    size_t vl = 0;
    int folded = 0;

#define FLUSH()                                                                 \
    do {                                                                        \
        if (name && in_group)                                                   \
            rb_fields_add(&g[ng - 1], name, namelen, folded ? val->str : vp, folded ? val->len : vl); \
        name = NULL;                                                            \
        folded = 0;                                                             \
    } while (0)

    while (rb_next_line(text, len, &pos, &line, &ll)) {
        if (ll && line[ll - 1] == '\r') ll--;
        int blank = 1;
        for (size_t i = 0; i < ll; i++) if (!isspace((unsigned char)line[i])) { blank = 0; break; }
        if (blank) { FLUSH(); in_group = 0; continue; }
        if ((line[0] == ' ' || line[0] == '\t') && name) {
            if (!folded) {
                g_string_truncate(val, 0);
                g_string_append_len(val, vp, (gssize)vl);
                folded = 1;
            }
            g_string_append_c(val, ' ');
            g_string_append_len(val, line, (gssize)ll);
            continue;
        }
        const char *colon = memchr(line, ':', ll);
        if (!colon || colon == line) continue;
        int ok = 1;
        for (const char *c = line; c < colon; c++)
            if (!(isalnum((unsigned char)*c) || *c == '-' || *c == '_')) { ok = 0; break; }
        if (!ok) continue;
        FLUSH();
        if (!in_group) {
            if (ng == cap) {
                size_t nc = cap ? cap * 2 : 4;
                if (nc > 1024) break;
                rb_fields *ngp = realloc(g, nc * sizeof *ngp);
                if (!ngp) break;
                g = ngp;
                cap = nc;
            }
            memset(&g[ng], 0, sizeof g[ng]);
            ng++;
            in_group = 1;
        }
        name = line;
        namelen = (size_t)(colon - line);
        vp = colon + 1;
        vl = ll - (size_t)(vp - line);
    }
    FLUSH();
#undef FLUSH
    g_string_free(val, TRUE);
    *groups = g;
    return ng;
}
