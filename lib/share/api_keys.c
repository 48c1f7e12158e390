/* api_keys.c -- the status API's keys: generation (32 random bytes shown
 * once), SHA-256 hashing, constant-time comparison, and reading a keys file
 * (NAME SHA256HEX lines, as `rebound keys export` writes).
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

/* ---- keys ------------------------------------------------------------------------------------------ */
rb_status rb_api_key_new(char *out, size_t outlen, rb_error *err)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char rnd[33];      /* 32 random bytes, one zero byte of padding for the last group */
    if (outlen < RB_API_KEY_LEN + 1) {
        rb_seterr(err, "key buffer too small");
        return RB_ERR_ARG;
    }
    size_t got = 0;
    while (got < 32) {
        ssize_t r = getrandom(rnd + got, 32 - got, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            rb_seterr(err, "getrandom: %s", strerror(errno));
            return RB_ERR_IO;
        }
        got += (size_t)r;
    }
    rnd[32] = 0;
    memcpy(out, "rbk_", 4);
    size_t o = 4;
    for (size_t i = 0; i < 33; i += 3) {
        unsigned v = (unsigned)rnd[i] << 16 | (unsigned)rnd[i + 1] << 8 | rnd[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = b64[v & 63];
    }
    o = RB_API_KEY_LEN;         /* 32 bytes are 43 characters: the 44th only encodes padding */
    out[o] = '\0';
    memset(rnd, 0, sizeof rnd);
    return RB_OK;
}

void rb_api_key_hash(const char *key, size_t len, char *hex)
{
    GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
    g_checksum_update(ck, (const guchar *)key, (gssize)len);
    rb_strlcpy(hex, g_checksum_get_string(ck), RB_API_HASH_LEN + 1);
    g_checksum_free(ck);
}

int rb_api_ct_equal(const void *a, const void *b, size_t n)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++) d |= x[i] ^ y[i];
    return d == 0;
}

/* ---- a keys file ------------------------------------------------------------------------------------ */
#define KEYS_LINE_MAX 1024          /* a key line is < 130 characters; a longer one is not a keys file */

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* One line (without its '\n') into k: 1 a key, 0 blank or a comment, -1 bad (why in *why). */
static int key_line(char *line, size_t n, rb_api_key *k, const char **why)
{
    size_t i = 0;
    n = rb_comment_at(line, n);
    while (i < n && is_space(line[i])) i++;
    if (i == n) return 0;
    size_t ns = i;
    while (i < n && !is_space(line[i])) i++;
    size_t nl = i - ns;
    while (i < n && is_space(line[i])) i++;
    size_t hs = i;
    while (i < n && !is_space(line[i])) i++;
    size_t hl = i - hs;
    while (i < n && is_space(line[i])) i++;
    if (!hl || i < n) {
        *why = "expected NAME and a SHA-256 in hex";
        return -1;
    }
    if (nl >= RB_API_NAME_MAX) {
        *why = "invalid key name";
        return -1;
    }
    memset(k, 0, sizeof *k);
    memcpy(k->name, line + ns, nl);
    if (!rb_store_key_name_valid(k->name)) {
        *why = "invalid key name";
        return -1;
    }
    if (hl != RB_API_HASH_LEN) {
        *why = "the hash is not 64 hex digits";
        return -1;
    }
    for (size_t j = 0; j < hl; j++) {
        char c = line[hs + j];
        if (c >= 'A' && c <= 'F') c = (char)(c - 'A' + 'a');     /* rb_api_key_hash() writes lower case */
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            *why = "the hash is not 64 hex digits";
            return -1;
        }
        k->hash[j] = c;
    }
    k->hash[hl] = '\0';
    return 1;
}

typedef struct {
    rb_api_key k;
    long line;
} file_key;

static int by_name_line(const void *x, const void *y)
{
    const file_key *a = x, *b = y;
    int c = strcmp(a->k.name, b->k.name);
    return c ? c : (a->line > b->line) - (a->line < b->line);
}

rb_status rb_api_keys_file_read(const char *path, rb_api_key_cb cb, void *arg, rb_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        rb_seterr(err, "%s: %s", path, strerror(errno));
        return RB_ERR_IO;
    }
    file_key *v = NULL;
    size_t nk = 0, cap = 0;
    rb_status s = RB_OK;
    char *line = NULL;
    size_t lcap = 0;
    long lineno = 0;
    ssize_t len;
    errno = 0;
    while ((len = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        size_t n = (size_t)len;
        if (n && line[n - 1] == '\n') n--;
        const char *why = NULL;
        rb_api_key k;
        int r;
        if (n > KEYS_LINE_MAX) {
            why = "line too long";
            r = -1;
        } else if (memchr(line, '\0', n)) {
            why = "a NUL byte";
            r = -1;
        } else
            r = key_line(line, n, &k, &why);
        if (r < 0) {
            rb_seterr(err, "%s:%ld: %s", path, lineno, why);
            s = RB_ERR_PARSE;
            break;
        }
        if (!r) continue;
        if (nk == cap) {
            size_t nc = cap ? cap * 2 : 16;
            file_key *nv = realloc(v, nc * sizeof *nv);
            if (!nv) {
                rb_seterr(err, "out of memory");
                s = RB_ERR_NOMEM;
                break;
            }
            v = nv;
            cap = nc;
        }
        v[nk].k = k;
        v[nk++].line = lineno;
    }
    if (s == RB_OK && ferror(f)) {
        rb_seterr(err, "%s: %s", path, strerror(errno ? errno : EIO));
        s = RB_ERR_IO;
    }
    free(line);
    fclose(f);
    if (s == RB_OK && nk > 1) {     /* a name given twice: sorted, so a file of many keys is no quadratic work */
        qsort(v, nk, sizeof *v, by_name_line);
        for (size_t j = 1; j < nk; j++)
            if (!strcmp(v[j - 1].k.name, v[j].k.name)) {
                rb_seterr(err, "%s:%ld: key name '%s' given twice (first on line %ld)", path, v[j].line, v[j].k.name,
                          v[j - 1].line);
                s = RB_ERR_PARSE;
                break;
            }
    }
    for (size_t j = 0; s == RB_OK && j < nk; j++)
        if (cb(arg, &v[j].k)) break;
    free(v);
    return s;
}

