/* provider.c -- which mailbox provider a recipient belongs to, from the
 * remote MTA's host name or the recipient's domain (data/providers.conf):
 *
 *     PROVIDER  host    GLOB...     match the remote MTA host name
 *     PROVIDER  domain  GLOB...     match the recipient's domain
 *
 * Host rules are tried first (a company domain hosted at Microsoft is a
 * Microsoft mailbox), then domain rules; first match wins.
 */
#include <fnmatch.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rb_internal.h"

static inline unsigned char fold_ascii(unsigned char c)
{
    return (unsigned char)((unsigned)(c - 'A') < 26u ? c | 0x20 : c);
}

typedef struct {
    char provider[RB_SHORT_MAX];
    int is_host;
    int kind;          /* 0: exact name, 1: "*.suffix", 2: any other glob */
    size_t suffix_len; /* kind 1: length of ".suffix" */
    size_t glob_len;   /* kind 0: length of the name */
    unsigned char last; /* kinds 0 and 1: the last byte, ASCII-lowercased */
    char glob[192];
} prule;

/* The rules a lookup can match, by its kind (0 domain, 1 host) and the
 * subject's last byte c (lowercased): idx[off[h * 256 + c] ..
 * off[h * 256 + c + 1]) in table order -- the names and suffixes that end
 * in c, and every other glob. */
struct rb_providers {
    prule *v;
    size_t n, cap;
    uint32_t *idx;
    uint32_t off[2 * 256 + 1];
};

void rb_providers_free(rb_providers *p)
{
    if (!p) return;
    free(p->v);
    free(p->idx);
    free(p);
}

static int build_index(rb_providers *p)
{
    uint32_t *count = calloc(2 * 256, sizeof *count);
    if (!count) return -1;
    for (size_t i = 0; i < p->n; i++) {
        const prule *r = &p->v[i];
        unsigned base = r->is_host ? 256u : 0u;
        if (r->kind == 2) for (unsigned c = 0; c < 256; c++) count[base + c]++;
        else count[base + r->last]++;
    }
    uint32_t total = 0;
    for (unsigned s = 0; s < 2 * 256; s++) {
        p->off[s] = total;
        total += count[s];
        count[s] = p->off[s];   /* now: where the slot's next entry goes */
    }
    p->off[2 * 256] = total;
    p->idx = malloc((total ? total : 1) * sizeof *p->idx);
    if (!p->idx) { free(count); return -1; }
    for (size_t i = 0; i < p->n; i++) {   /* in table order: first match wins */
        const prule *r = &p->v[i];
        unsigned base = r->is_host ? 256u : 0u;
        if (r->kind == 2) for (unsigned c = 0; c < 256; c++) p->idx[count[base + c]++] = (uint32_t)i;
        else p->idx[count[base + r->last]++] = (uint32_t)i;
    }
    free(count);
    return 0;
}

rb_status rb_providers_load(const char *path, rb_providers **out, rb_error *err)
{
    rb_conf cf;
    rb_status st = rb_conf_open(&cf, path, "providers", 0, err);
    if (st != RB_OK) return st;
    rb_providers *p = calloc(1, sizeof *p);
    if (!p) { rb_conf_close(&cf); return RB_ERR_NOMEM; }
    while (rb_conf_next(&cf)) {
        int lineno = cf.lineno;
        char *save = NULL;
        char *name = strtok_r(cf.line, " \t\r\n", &save);
        if (!name) continue;
        char *kind = strtok_r(NULL, " \t\r\n", &save);
        if (!kind || (strcmp(kind, "host") && strcmp(kind, "domain"))) {
            rb_seterr(err, "%s:%d: expected PROVIDER host|domain GLOB...", path, lineno);
            st = RB_ERR_CONFIG;
            break;
        }
        for (char *g = strtok_r(NULL, " \t\r\n", &save); g; g = strtok_r(NULL, " \t\r\n", &save)) {
            if (p->n == p->cap) {
                size_t nc = p->cap ? p->cap * 2 : 64;
                prule *nv = realloc(p->v, nc * sizeof *nv);
                if (!nv) { st = RB_ERR_NOMEM; break; }
                p->v = nv;
                p->cap = nc;
            }
            prule *r = &p->v[p->n++];
            rb_strlcpy(r->provider, name, sizeof r->provider);
            r->is_host = kind[0] == 'h';
            rb_strlcpy(r->glob, g, sizeof r->glob);
            /* most globs are a name or "*.suffix": match those without fnmatch */
            if (!strpbrk(g, "*?[")) r->kind = 0;
            else if (g[0] == '*' && g[1] == '.' && !strpbrk(g + 1, "*?[")) { r->kind = 1; r->suffix_len = strlen(g + 1); }
            else r->kind = 2;
            r->glob_len = strlen(r->glob);
            r->last = r->glob_len ? fold_ascii((unsigned char)r->glob[r->glob_len - 1]) : 0;
        }
    }
    rb_conf_close(&cf);
    if (st == RB_OK && build_index(p)) st = RB_ERR_NOMEM;
    if (st != RB_OK) { rb_providers_free(p); return st; }
    *out = p;
    return RB_OK;
}

/* Does rule kind `host` (1) or domain (0) match subject? */
static int match(const rb_providers *p, int host, const char *subject, char *out, size_t outlen)
{
    size_t sl = strlen(subject);
    if (!sl) return 0;
    unsigned slot = (host ? 256u : 0u) + fold_ascii((unsigned char)subject[sl - 1]);
    for (uint32_t j = p->off[slot]; j < p->off[slot + 1]; j++) {
        const prule *r = &p->v[p->idx[j]];   /* a glob, or a name or suffix that ends as the subject does */
        if (r->kind == 0 && r->glob_len != sl) continue;
        int hit = r->kind == 0   ? strcasecmp(r->glob, subject) == 0
                  : r->kind == 1 ? sl > r->suffix_len && strcasecmp(subject + sl - r->suffix_len, r->glob + 1) == 0
                                 : fnmatch(r->glob, subject, FNM_CASEFOLD) == 0;
        if (hit) {
            rb_strlcpy(out, r->provider, outlen);
            return 1;
        }
    }
    return 0;
}

int rb_providers_host(const rb_providers *p, const char *host, char *out, size_t outlen)
{
    out[0] = '\0';
    if (!p || !host) return 0;
    /* "dns; mx.example.com [192.0.2.1]." -> mx.example.com */
    while (*host == ' ' || *host == '\t') host++;
    if (!strncasecmp(host, "dns;", 4)) host += 4;
    while (*host == ' ' || *host == '\t') host++;
    char h[RB_HOST_MAX];
    rb_strlcpy(h, host, sizeof h);
    char *sp = strpbrk(h, " [(;:\t");
    if (sp) *sp = '\0';
    size_t n = strlen(h);
    while (n && h[n - 1] == '.') h[--n] = '\0';
    return match(p, 1, h, out, outlen);
}

int rb_providers_guess(const rb_providers *p, const char *host, const char *rcpt, char *out, size_t outlen)
{
    out[0] = '\0';
    if (!p) return RB_PSRC_NONE;
    if (host && *host && rb_providers_host(p, host, out, outlen)) return RB_PSRC_HOST;
    const char *dom = rcpt ? strrchr(rcpt, '@') : NULL;
    if (dom && match(p, 0, dom + 1, out, outlen)) return RB_PSRC_DOMAIN;
    return RB_PSRC_NONE;
}
