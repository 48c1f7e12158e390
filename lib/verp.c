/* verp.c -- Variable Envelope Return Paths.
 *
 * The form decoded here is the one Postfix and qmail use: the original
 * recipient user@example.com is folded into the return path's local part
 * as   PREFIX+user=example.com@bounce.domain
 * (recipient_delimiter '+', '@' written as '=').  The other common form,
 * bounce-ID@domain, carries an opaque ID that only the sender's store can
 * resolve; it is not decodable here and rb_verp_decode() says so.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "rb_internal.h"

int rb_verp_decode(const char *addr, char *out, size_t outlen)
{
    if (!addr) return 0;
    char a[RB_ADDR_MAX];
    rb_strlcpy(a, addr, sizeof a);
    if (!rb_clean_address(a)) return 0;
    char *at = strrchr(a, '@');
    *at = '\0';
    /* the delimiter is the first '+' (or '-' for qmail-style prefixes) before an '=' */
    char *eq = strrchr(a, '=');
    if (!eq || !eq[1]) return 0;
    char *plus = NULL;
    for (char *p = eq; p > a; p--)
        if (p[-1] == '+') { plus = p - 1; break; }
    if (!plus) return 0;
    const char *user = plus + 1;
    size_t ulen = (size_t)(eq - user);
    const char *domain = eq + 1;
    if (ulen == 0 || !strchr(domain, '.')) return 0;
    for (const char *d = domain; *d; d++)
        if (!(isalnum((unsigned char)*d) || *d == '.' || *d == '-')) return 0;
    int n = snprintf(out, outlen, "%.*s@%s", (int)ulen, user, domain);
    return n > 0 && (size_t)n < outlen;
}

int rb_verp_encode(const char *prefix_local, const char *domain, const char *recipient,
                   char *out, size_t outlen)
{
    char r[RB_ADDR_MAX];
    rb_strlcpy(r, recipient, sizeof r);
    if (!rb_clean_address(r) || !prefix_local || !*prefix_local || !domain || !*domain) return 0;
    char *at = strrchr(r, '@');
    *at = '=';
    int n = snprintf(out, outlen, "%s+%s@%s", prefix_local, r, domain);
    return n > 0 && (size_t)n < outlen;
}
