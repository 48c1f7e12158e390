/* mx.c -- the provider of a custom domain, from the hosts its mail goes to.
 *
 * A bounce for jan@contoso-mail.example names no provider when the NDR is
 * terse and the domain is not one of the big consumer ones; its MX record
 * (contoso-mail-example.mail.protection.outlook.com) does.  With
 * --resolve-mx, apply and maillog ask DNS for the MX hosts of such a
 * recipient's domain and match them against the host rows of
 * providers.conf; the contact's provider_source is then "mx" (weaker than
 * a relay or an NDR's own hosts, stronger than the domain name).
 *
 * Answers are kept in the store's mx_cache (schema version 5) for a week,
 * "no MX" and "no such domain" too, so a run asks DNS once per domain and a
 * later run not at all; a temporary failure (timeout, SERVFAIL, REFUSED) is
 * not kept and leaves the provider unknown.  A check run (no --commit)
 * reads the cache but does not write it.
 *
 * The resolver is glibc's res_nquery() with a private resolver state, so
 * --dns-server ADDR[:PORT] (IPv4) can point one run at another server
 * (the tests' dnsmasq on loopback) without touching /etc/resolv.conf.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>

#include "rb_internal.h"
#include "store_impl.h"

#define MX_TTL (7 * 86400)
#define MX_MAX 16

struct rb_mx {
    struct __res_state res;
    GHashTable *memo;               /* this run's answers: domain -> provider ("" for none) */
    rb_mx_stats stats;
};

rb_status rb_mx_new(const char *server, rb_mx **out, rb_error *err)
{
    *out = NULL;
    rb_mx *mx = calloc(1, sizeof *mx);
    if (!mx) { rb_seterr(err, "out of memory"); return RB_ERR_NOMEM; }
    if (res_ninit(&mx->res) != 0) {
        free(mx);
        rb_seterr(err, "cannot set up the DNS resolver (/etc/resolv.conf)");
        return RB_ERR_CONFIG;
    }
    mx->res.retrans = 2;    /* seconds per try */
    mx->res.retry = 2;
    if (server && server[0]) {
        char host[64];
        const char *colon = strrchr(server, ':');
        size_t hl = colon ? (size_t)(colon - server) : strlen(server);
        long port = 53;
        if (colon) {
            char *end;
            port = strtol(colon + 1, &end, 10);
            if (*end || port < 1 || port > 65535) hl = sizeof host;
        }
        struct in_addr a;
        if (hl >= sizeof host) goto bad;
        memcpy(host, server, hl);
        host[hl] = '\0';
        if (inet_pton(AF_INET, host, &a) != 1) goto bad;
        mx->res.nscount = 1;
        mx->res.nsaddr_list[0].sin_family = AF_INET;
        mx->res.nsaddr_list[0].sin_addr = a;
        mx->res.nsaddr_list[0].sin_port = htons((uint16_t)port);
    }
    mx->memo = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    *out = mx;
    return RB_OK;
bad:
    res_nclose(&mx->res);
    free(mx);
    rb_seterr(err, "DNS server '%s': expected an IPv4 address, optionally with :PORT", server);
    return RB_ERR_ARG;
}

void rb_mx_free(rb_mx *mx)
{
    if (!mx) return;
    if (mx->memo) g_hash_table_destroy(mx->memo);
    res_nclose(&mx->res);
    free(mx);
}

const rb_mx_stats *rb_mx_get_stats(const rb_mx *mx) { return &mx->stats; }

typedef struct {
    int pref;
    char host[RB_HOST_MAX];
} mx_rr;

static int rr_cmp(const void *a, const void *b)
{
    const mx_rr *x = a, *y = b;
    return x->pref - y->pref;
}

/* The MX hosts of domain, best first: their number (0: the domain has none
 * or does not exist), or -1 on a temporary failure. */
static int lookup(rb_mx *mx, const char *domain, mx_rr *rr, int max)
{
    unsigned char ans[4096];
    int len = res_nquery(&mx->res, domain, ns_c_in, ns_t_mx, ans, sizeof ans);
    if (len < 0) {
        int h = mx->res.res_h_errno;
        return h == HOST_NOT_FOUND || h == NO_DATA ? 0 : -1;
    }
    ns_msg msg;
    if (ns_initparse(ans, len, &msg) < 0) return -1;
    int n = 0, count = ns_msg_count(msg, ns_s_an);
    for (int i = 0; i < count && n < max; i++) {
        ns_rr r;
        if (ns_parserr(&msg, ns_s_an, i, &r) < 0) return -1;
        if (ns_rr_type(r) != ns_t_mx || ns_rr_rdlen(r) < 3) continue;
        rr[n].pref = ns_get16(ns_rr_rdata(r));
        if (dn_expand(ns_msg_base(msg), ns_msg_end(msg), ns_rr_rdata(r) + 2, rr[n].host, sizeof rr[n].host) < 0)
            continue;
        n++;
    }
    qsort(rr, (size_t)n, sizeof *rr, rr_cmp);
    return n;
}

static int cache_row(void *arg, int n, const char *const *v)
{
    char *const *out = arg;
    if (n >= 2) {
        rb_strlcpy(out[0], v[0] ? v[0] : "", RB_SHORT_MAX);
        rb_strlcpy(out[1], v[1] ? v[1] : "0", 32);
    }
    return 0;
}

int rb_mx_provider(rb_mx *mx, rb_store *st, const rb_providers *pv, const char *domain, int write, int64_t now,
                   char *out, size_t outlen, rb_error *err)
{
    out[0] = '\0';
    if (!domain[0] || strlen(domain) >= RB_HOST_MAX) return 0;
    const char *known = g_hash_table_lookup(mx->memo, domain);
    if (known) {
        rb_strlcpy(out, known, outlen);
        return out[0] != '\0';
    }
    int have = 0;
    char prov[RB_SHORT_MAX] = "", when[32] = "0";
    if (st) {
        char *cols[2] = {prov, when};
        const char *p[] = {domain};
        if (st->ops->query(st, "SELECT provider, checked_at FROM mx_cache WHERE domain = $1", 1, p, cache_row, cols,
                           err) != RB_OK)
            return -1;
        have = strtoll(when, NULL, 10) > now - MX_TTL;
    }
    if (have) {
        mx->stats.cached++;
    } else {
        mx_rr rr[MX_MAX];
        mx->stats.queried++;
        int n = lookup(mx, domain, rr, MX_MAX);
        if (n < 0) {
            mx->stats.failed++;
            return 0;   /* not kept: asked again next time */
        }
        prov[0] = '\0';
        char hosts[512] = "";
        for (int i = 0; i < n; i++) {
            if (!prov[0]) rb_providers_host(pv, rr[i].host, prov, sizeof prov);
            size_t l = strlen(hosts);
            snprintf(hosts + l, sizeof hosts - l, "%s%s", l ? " " : "", rr[i].host);
        }
        if (st && write) {
            char t[32];
            snprintf(t, sizeof t, "%lld", (long long)now);
            const char *p[] = {domain, prov, hosts, t};
            if (st->ops->query(st,
                               "INSERT INTO mx_cache (domain, provider, mx, checked_at) VALUES ($1, $2, $3, $4)"
                               " ON CONFLICT (domain) DO UPDATE SET provider = excluded.provider, mx = excluded.mx,"
                               " checked_at = excluded.checked_at",
                               4, p, NULL, NULL, err) != RB_OK)
                return -1;
        }
    }
    g_hash_table_insert(mx->memo, g_strdup(domain), g_strdup(prov));
    if (prov[0]) mx->stats.found++;
    rb_strlcpy(out, prov, outlen);
    return out[0] != '\0';
}
