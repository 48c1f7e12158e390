/* verp.c -- Variable Envelope Return Paths, plain and signed.
 *
 * Plain: the form Postfix and qmail use: the original recipient
 * user@example.com is folded into the return path's local part as
 *     PREFIX+user=example.com@bounce.domain
 * (recipient_delimiter '+', '@' written as '=').
 *
 * Signed (rebound_guard.h): PREFIX-ID-TAG@bounce.domain, ID the normalised
 * recipient with '@' as '=', TAG two base32 characters of the signing day
 * and ten of HMAC-SHA256(secret, "rebound-verp-1" NUL ID NUL day).
 *
 * A third form that senders use, bounce-ID@domain with an opaque ID (a
 * time stamp, a database key), names nobody by itself; rb_verp_decode()
 * says so.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "rb_internal.h"
#include "rebound_guard.h"
#include "rebound_store.h"

static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";

static int b32_val(int c)
{
    if (c >= 'a' && c <= 'z') return c - 'a';
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= '2' && c <= '7') return c - '2' + 26;
    return -1;
}

static int is_host_char(int c)
{
    return isalnum(c) || c == '.' || c == '-';
}

/* ---- plain VERP -------------------------------------------------------------- */
int rb_verp_decode(const char *addr, char *out, size_t outlen)
{
    if (!addr) return 0;
    /* the signed form first: its ID looks like a plain VERP's tail */
    if (rb_verp_signed_decode(addr, out, outlen)) return 1;
    char a[RB_ADDR_MAX];
    rb_strlcpy(a, addr, sizeof a);
    if (!rb_clean_address(a)) return 0;
    char *at = strrchr(a, '@');
    *at = '\0';
    /* PREFIX+user=domain: the delimiter is the first '+' (as Postfix's
     * recipient_delimiter splits), the domain follows the last '=' (a
     * domain has none); the user part may hold '+' and '=' of its own */
    char *eq = strrchr(a, '=');
    if (!eq || !eq[1]) return 0;
    char *plus = strchr(a, '+');
    if (!plus || plus == a || plus > eq) return 0;
    const char *user = plus + 1;
    size_t ulen = (size_t)(eq - user);
    const char *domain = eq + 1;
    if (ulen == 0 || !strchr(domain, '.')) return 0;
    for (const char *d = domain; *d; d++)
        if (!is_host_char((unsigned char)*d)) return 0;
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

/* ---- keys and HMAC ------------------------------------------------------------- */
rb_status rb_verp_key_set(rb_verp_key *key, const void *data, size_t len, rb_error *err)
{
    if (len < RB_VERP_KEY_MIN) {
        rb_seterr(err, "VERP secret too short: %zu bytes, at least %d wanted", len, RB_VERP_KEY_MIN);
        return RB_ERR_ARG;
    }
    if (len > RB_VERP_KEY_MAX) {
        rb_seterr(err, "VERP secret too long: %zu bytes, at most %d", len, RB_VERP_KEY_MAX);
        return RB_ERR_ARG;
    }
    memcpy(key->key, data, len);
    key->len = len;
    return RB_OK;
}

rb_status rb_verp_key_load(const char *path, rb_verp_key *key, rb_error *err)
{
    memset(key, 0, sizeof *key);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rb_seterr(err, "%s: %s", path, strerror(errno));
        return RB_ERR_IO;
    }
    unsigned char buf[RB_VERP_KEY_MAX + 2];
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, sizeof buf - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            rb_seterr(err, "%s: %s", path, strerror(errno));
            close(fd);
            return RB_ERR_IO;
        }
        if (r == 0 || (n += (size_t)r) == sizeof buf) break;
    }
    close(fd);
    if (n == sizeof buf) {
        rb_seterr(err, "%s: a VERP secret of more than %d bytes", path, RB_VERP_KEY_MAX);
        return RB_ERR_ARG;
    }
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t')) n--;
    rb_status st = rb_verp_key_set(key, buf, n, err);
    if (st != RB_OK) {
        char m[sizeof err->msg];
        rb_strlcpy(m, err->msg, sizeof m);
        rb_seterr(err, "%s: %s (make one with: head -c 32 /dev/urandom | base64 > %s)", path, m, path);
    }
    memset(buf, 0, sizeof buf);
    return st;
}

void rb_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len, unsigned char out[32])
{
    GHmac *h = g_hmac_new(G_CHECKSUM_SHA256, key, keylen);
    g_hmac_update(h, data, (gssize)len);
    gsize olen = 32;
    g_hmac_get_digest(h, out, &olen);
    g_hmac_unref(h);
}

/* ---- signed VERP ------------------------------------------------------------------- */
#define DAY_MOD 1024

/* The 10 MAC characters for id and the 2 day characters. */
static void mac_chars(const rb_verp_key *key, const char *id, const char day[2], char out[10])
{
    static const char ctx[] = "rebound-verp-1";
    char msg[sizeof ctx + RB_ADDR_MAX + 4];
    size_t idl = strlen(id), n = 0;
    memcpy(msg, ctx, sizeof ctx);   /* with its NUL */
    n = sizeof ctx;
    memcpy(msg + n, id, idl);
    n += idl;
    msg[n++] = '\0';
    msg[n++] = day[0];
    msg[n++] = day[1];
    unsigned char d[32];
    rb_hmac_sha256(key->key, key->len, msg, n, d);
    /* the first 50 bits, 5 at a time */
    uint64_t bits = 0;
    for (int i = 0; i < 7; i++) bits = bits << 8 | d[i];    /* 56 bits */
    for (int i = 0; i < 10; i++) out[i] = b32[(bits >> (51 - 5 * i)) & 31];
    memset(d, 0, sizeof d);
}

static int valid_prefix(const char *p)
{
    if (!*p) return 0;
    for (; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '.' || *p == '_')) return 0;
    return 1;
}

/* An ID's local part: atext without the characters that need quoting
 * anywhere or that some MTAs mangle; '-' '+' '=' '.' are fine. */
static int id_local_ok(const char *s, size_t n)
{
    if (!n) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~.", c)))) return 0;
    }
    return 1;
}

static int id_domain_ok(const char *s)
{
    if (!*s || !strchr(s, '.') || *s == '.' || *s == '-') return 0;
    for (; *s; s++)
        if (!is_host_char((unsigned char)*s)) return 0;
    return 1;
}

rb_status rb_verp_sign(const rb_verp_key *key, const char *prefix, const char *domain, const char *recipient,
                       int64_t now, char *out, size_t outlen, rb_error *err)
{
    if (!key || key->len < RB_VERP_KEY_MIN) { rb_seterr(err, "no VERP secret"); return RB_ERR_ARG; }
    if (!prefix) prefix = "bounce";
    char pfx[RB_SHORT_MAX];
    rb_strlcpy(pfx, prefix, sizeof pfx);
    rb_lower(pfx);
    if (strlen(prefix) >= sizeof pfx || !valid_prefix(pfx)) {
        rb_seterr(err, "VERP prefix '%s': letters, digits, '.' and '_' only (no '-', '+' or '=')", prefix);
        return RB_ERR_ARG;
    }
    char dom[RB_HOST_MAX];
    rb_strlcpy(dom, domain ? domain : "", sizeof dom);
    rb_lower(dom);
    if (!domain || strlen(domain) >= sizeof dom || !id_domain_ok(dom)) {
        rb_seterr(err, "VERP domain '%s' is not a host name", domain ? domain : "");
        return RB_ERR_ARG;
    }
    char id[RB_ADDR_MAX];
    if (!recipient || !rb_email_normalize(recipient, id, sizeof id)) {
        rb_seterr(err, "%s: not an e-mail address (%s)", recipient ? recipient : "(null)", recipient ? id : "");
        return RB_ERR_ARG;
    }
    char *at = strrchr(id, '@');
    if (!id_local_ok(id, (size_t)(at - id)) || !id_domain_ok(at + 1)) {
        rb_seterr(err, "%s: cannot be carried in a return path (address literal or special characters)", recipient);
        return RB_ERR_ARG;
    }
    *at = '=';
    if (now <= 0) now = (int64_t)time(NULL);
    int64_t day = now / 86400;
    char tag[RB_VERP_TAG_LEN + 1];
    tag[0] = b32[(day % DAY_MOD) >> 5];
    tag[1] = b32[day % 32];
    mac_chars(key, id, tag, tag + 2);
    tag[RB_VERP_TAG_LEN] = '\0';
    int n = snprintf(out, outlen, "%s-%s-%s@%s", pfx, id, tag, dom);
    if (n < 0 || (size_t)n >= outlen) {
        rb_seterr(err, "%s: the signed return path is too long", recipient);
        return RB_ERR_ARG;
    }
    return RB_OK;
}

/* Split a signed-form address: id (lower case, '=' form) and tag.
 * Returns 1 when addr has the form. */
static int parse_signed(const char *addr, char *id, size_t idlen, char tag[RB_VERP_TAG_LEN + 1], char *rcpt,
                        size_t rlen)
{
    if (!addr) return 0;
    char a[RB_ADDR_MAX];
    if (strlen(addr) >= sizeof a) return 0;
    rb_strlcpy(a, addr, sizeof a);
    if (!rb_clean_address(a)) return 0;
    rb_lower(a);
    char *at = strrchr(a, '@');
    *at = '\0';
    char *first = strchr(a, '-'), *last = strrchr(a, '-');
    if (!first || first == last || first == a) return 0;
    *first = '\0';
    if (!valid_prefix(a)) return 0;
    const char *t = last + 1;
    if (strlen(t) != RB_VERP_TAG_LEN) return 0;
    for (int i = 0; i < RB_VERP_TAG_LEN; i++)
        if (b32_val((unsigned char)t[i]) < 0) return 0;
    *last = '\0';
    char *idp = first + 1;
    char *eq = strrchr(idp, '=');
    if (!eq || !id_local_ok(idp, (size_t)(eq - idp)) || !id_domain_ok(eq + 1)) return 0;
    char r[RB_ADDR_MAX], norm[RB_ADDR_MAX];
    snprintf(r, sizeof r, "%.*s@%s", (int)(eq - idp), idp, eq + 1);
    if (!rb_email_normalize(r, norm, sizeof norm)) return 0;
    if (rb_strlcpy(id, idp, idlen) >= idlen) return 0;
    memcpy(tag, t, RB_VERP_TAG_LEN);
    tag[RB_VERP_TAG_LEN] = '\0';
    if (rcpt && rb_strlcpy(rcpt, norm, rlen) >= rlen) return 0;
    return 1;
}

int rb_verp_signed_decode(const char *addr, char *recipient, size_t rlen)
{
    char id[RB_ADDR_MAX], tag[RB_VERP_TAG_LEN + 1], r[RB_ADDR_MAX];
    if (!parse_signed(addr, id, sizeof id, tag, r, sizeof r)) return 0;
    if (recipient && rb_strlcpy(recipient, r, rlen) >= rlen) return 0;
    return 1;
}

int rb_verp_verify(const rb_verp_key *key, const char *addr, int64_t now, int max_age_days, char *recipient,
                   size_t rlen)
{
    char id[RB_ADDR_MAX], tag[RB_VERP_TAG_LEN + 1], r[RB_ADDR_MAX];
    if (recipient && rlen) recipient[0] = '\0';
    if (!parse_signed(addr, id, sizeof id, tag, r, sizeof r)) return RB_VERP_NOT_SIGNED;
    if (recipient) rb_strlcpy(recipient, r, rlen);
    if (!key || key->len < RB_VERP_KEY_MIN) return RB_VERP_FORGED;
    char want[10];
    mac_chars(key, id, tag, want);
    /* constant time: no early exit on the first differing character */
    unsigned diff = 0;
    for (int i = 0; i < 10; i++) diff |= (unsigned)(want[i] ^ tag[2 + i]);
    if (diff) return RB_VERP_FORGED;
    if (max_age_days > 0) {
        if (now <= 0) now = (int64_t)time(NULL);
        int signed_day = b32_val(tag[0]) * 32 + b32_val(tag[1]);
        int today = (int)((now / 86400) % DAY_MOD);
        int age = ((today - signed_day) % DAY_MOD + DAY_MOD) % DAY_MOD;
        if (age > DAY_MOD - 3) age = 0;       /* dated up to 2 days ahead: clock skew */
        if (age > max_age_days) return RB_VERP_EXPIRED;
    }
    return RB_VERP_VALID;
}
