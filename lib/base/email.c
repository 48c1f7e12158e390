/* email.c -- normalise an address for lookups (rb_email_normalize, see
 * rebound_store.h).
 *
 * The form: trimmed, without one pair of <> and a leading mailto:, ASCII
 * lower-cased.  The address must then be a plausible dot-atom address:
 *   local part: 1-64 bytes of RFC 5322 atext and dots (UTF-8 allowed,
 *     RFC 6531), no leading or trailing dot, no "..";  quoted local parts
 *     ("john doe"@example.com) are rejected: they are rare in lists and
 *     nobody agrees on how to compare them;
 *   domain: at most 253 bytes, labels of 1-63 bytes of [a-z0-9-] (or UTF-8
 *     for IDN) not starting or ending with '-', at least two labels, the
 *     last not all digits; or an address literal [192.0.2.1] / [IPv6:...];
 *   at most 254 bytes in all, valid UTF-8, no spaces or control characters.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "rb_internal.h"
#include "rebound_guard.h"
#include "rebound_store.h"

#define ADDR_MAX 254
#define LOCAL_MAX 64
#define DOMAIN_MAX 253
#define LABEL_MAX 63

static int fail(char *out, size_t outlen, const char *why)
{
    if (outlen) rb_strlcpy(out, why, outlen);
    return 0;
}

static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* RFC 5322 atext, ASCII part */
static int is_atext(unsigned char c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

static int ipv4_ok(const char *s, size_t n)
{
    int parts = 0;
    size_t i = 0;
    while (i < n) {
        size_t d = 0;
        unsigned v = 0;
        while (i < n && isdigit((unsigned char)s[i]) && d < 4) { v = v * 10 + (unsigned)(s[i] - '0'); i++; d++; }
        if (d == 0 || d > 3 || v > 255) return 0;
        parts++;
        if (i == n) break;
        if (s[i] != '.' || parts == 4) return 0;
        i++;
        if (i == n) return 0;
    }
    return parts == 4;
}

/* [1.2.3.4] or [ipv6:...] (already lower-cased) */
static int literal_ok(const char *d, size_t n)
{
    if (n < 3 || d[0] != '[' || d[n - 1] != ']') return 0;
    d++;
    n -= 2;
    if (n > 5 && memcmp(d, "ipv6:", 5) == 0) {
        d += 5;
        n -= 5;
        int colons = 0;
        for (size_t i = 0; i < n; i++) {
            if (d[i] == ':') colons++;
            else if (!isxdigit((unsigned char)d[i]) && d[i] != '.') return 0;
        }
        return colons >= 2 && n <= 45;
    }
    return ipv4_ok(d, n);
}

int rb_email_normalize(const char *in, char *out, size_t outlen)
{
    if (!in) return fail(out, outlen, "empty");
    const char *s = in, *e = in + strlen(in);
    int had_mailto = 0, had_angle = 0;
    for (;;) {
        while (s < e && is_ws((unsigned char)*s)) s++;
        while (e > s && is_ws((unsigned char)e[-1])) e--;
        if (!had_mailto && e - s >= 7 && strncasecmp(s, "mailto:", 7) == 0) {
            s += 7;
            had_mailto = 1;
            continue;
        }
        if (!had_angle && e - s >= 2 && *s == '<' && e[-1] == '>') {
            s++;
            e--;
            had_angle = 1;
            continue;
        }
        break;
    }
    size_t n = (size_t)(e - s);
    if (n == 0) return fail(out, outlen, "empty");
    if (n > ADDR_MAX) return fail(out, outlen, "too long");

    char a[ADDR_MAX + 1];
    for (size_t i = 0; i < n; i++) a[i] = (char)tolower((unsigned char)s[i]);
    a[n] = '\0';

    if (a[0] == '"') return fail(out, outlen, "quoted local part");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)a[i];
        if (c <= 0x20 || c == 0x7F) return fail(out, outlen, "space or control character");
    }
    /* a has no NUL (refused above), so GLib's check is the whole check */
    if (!g_utf8_validate_len(a, n, NULL)) return fail(out, outlen, "invalid UTF-8");

    char *at = strchr(a, '@');
    if (!at) return fail(out, outlen, "no @");
    if (strchr(at + 1, '@')) return fail(out, outlen, "more than one @");

    /* local part */
    size_t ll = (size_t)(at - a);
    if (ll == 0) return fail(out, outlen, "empty local part");
    if (ll > LOCAL_MAX) return fail(out, outlen, "local part too long");
    for (size_t i = 0; i < ll; i++) {
        unsigned char c = (unsigned char)a[i];
        if (c == '.') {
            if (i == 0 || i == ll - 1 || a[i - 1] == '.') return fail(out, outlen, "bad dots in local part");
        } else if (!is_atext(c) && c < 0x80) {
            return fail(out, outlen, "bad character in local part");
        }
    }

    /* domain */
    const char *d = at + 1;
    size_t dl = n - ll - 1;
    if (dl == 0) return fail(out, outlen, "empty domain");
    if (dl > DOMAIN_MAX) return fail(out, outlen, "domain too long");
    if (d[0] == '[') {
        if (!literal_ok(d, dl)) return fail(out, outlen, "bad address literal");
    } else {
        size_t labels = 0, i = 0;
        int last_numeric = 0;
        while (i <= dl) {
            size_t b = i;
            int numeric = 1;
            while (i < dl && d[i] != '.') {
                unsigned char c = (unsigned char)d[i];
                if (!(isalnum(c) || c == '-' || c >= 0x80)) return fail(out, outlen, "bad domain");
                if (!isdigit(c)) numeric = 0;
                i++;
            }
            size_t len = i - b;
            if (len == 0 || len > LABEL_MAX || d[b] == '-' || d[i - 1] == '-')
                return fail(out, outlen, "bad domain");
            labels++;
            last_numeric = numeric;
            i++;    /* past the dot (or the end) */
        }
        if (labels < 2) return fail(out, outlen, "no dot in domain");
        if (last_numeric) return fail(out, outlen, "bad domain");
    }

    if (outlen <= n) return fail(out, outlen, "too long");
    memcpy(out, a, n + 1);
    return 1;
}

/* ---- our domains (rebound_guard.h) --------------------------------------------
 * Here in base rather than with the guard in decide: rebound maillog
 * (analyse) asks the same question of a SASL login and a sender. */

/* d is x or a subdomain of x (both lower case) */
static int domain_within(const char *d, const char *x)
{
    size_t dl = strlen(d), xl = strlen(x);
    if (!xl || dl < xl) return 0;
    if (dl == xl) return strcmp(d, x) == 0;
    return d[dl - xl - 1] == '.' && strcmp(d + dl - xl, x) == 0;
}

int rb_guard_domain_is_ours(const char *addr, const char *const *domains, size_t n)
{
    const char *at = addr ? strrchr(addr, '@') : NULL;
    if (!at || !strchr(at + 1, '.')) return 0;       /* no bare TLD */
    char d[RB_HOST_MAX];
    rb_strlcpy(d, at + 1, sizeof d);
    rb_lower(d);
    for (size_t i = 0; i < n; i++) {
        char x[RB_HOST_MAX];
        rb_strlcpy(x, domains[i] ? domains[i] : "", sizeof x);
        rb_lower(rb_trim(x));
        if (x[0] == '@') memmove(x, x + 1, strlen(x));
        if (!x[0]) continue;
        if (domain_within(d, x)) return 1;
        /* the parent, one label up: bounce.example.org -> example.org (not
         * further: bounce.example.co.uk must not make co.uk ours) */
        const char *dot = strchr(x, '.');
        if (dot && strchr(dot + 1, '.') && strcmp(dot + 1, d) == 0) return 1;
    }
    return 0;
}
