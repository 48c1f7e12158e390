/* options.c -- the option tables' parser, the shared options and the
 * configuration file.  See options.h. */
#include <ctype.h>
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "options.h"

shared_opts opt_shared;

const opt_desc shared_store_options[] = {
    {OPT_STRING, "db", 0, &opt_shared.db},
    {OPT_STRING, "config", 0, &opt_shared.config},
    {0},
};

const opt_desc shared_progress_options[] = {
    {OPT_FLAG, "quiet", 'q', &opt_shared.quiet},
    {OPT_ULONG, "progress-every", 0, &opt_shared.progress_every, .min = 1, .max = 1000000000L},
    {0},
};

const opt_desc shared_mx_options[] = {
    {OPT_FLAG, "resolve-mx", 0, &opt_shared.resolve_mx},
    {OPT_STRING, "dns-server", 0, &opt_shared.dns_server},
    {0},
};

const opt_desc shared_options[] = {
    {OPT_INHERIT, .inherit = shared_store_options},
    {OPT_STRING, "datadir", 0, &opt_shared.datadir},
    {OPT_STRING, "rules", 0, &opt_shared.rules},
    {OPT_STRING, "policy", 0, &opt_shared.policy},
    {OPT_STRING, "providers", 0, &opt_shared.providers},
    {OPT_INHERIT, .inherit = shared_progress_options},
    {0},
};

/* ---- parsing ----------------------------------------------------------------- */

typedef struct {
    const opt_desc *exact, *prefix;
    int nprefix;
} lookup;

static void find_long(const opt_desc *opts, const char *name, size_t len, lookup *l)
{
    for (const opt_desc *o = opts; o->kind != OPT_END; o++) {
        if (o->kind == OPT_INHERIT) {
            find_long(o->inherit, name, len, l);
            continue;
        }
        if (strncmp(o->name, name, len)) continue;
        if (o->name[len] == '\0') { if (!l->exact) l->exact = o; }   /* a command's own row before inherited ones */
        else if (!l->prefix || l->prefix != o) { l->prefix = o; l->nprefix++; }
    }
}

static const opt_desc *find_short(const opt_desc *opts, char c)
{
    for (const opt_desc *o = opts; o->kind != OPT_END; o++) {
        if (o->kind == OPT_INHERIT) {
            const opt_desc *r = find_short(o->inherit, c);
            if (r) return r;
        } else if (o->letter == c) {
            return o;
        }
    }
    return NULL;
}

static int usage_error(const char *cmd, const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "rebound %s: ", cmd);
    fprintf(stderr, fmt, a, b);
    /* the command's name without its subcommand: `rebound queue --help` */
    int n = (int)strcspn(cmd, " ");
    fprintf(stderr, " (see `rebound %.*s --help`)\n", n, cmd);
    return OPT_ERROR;
}

static int takes_value(const opt_desc *o)
{
    return o->kind != OPT_FLAG;
}

/* Store value v (or the flag) through o. */
static int set_value(const char *cmd, const opt_desc *o, const char *v)
{
    char *end;
    if (o->given) *o->given = 1;
    switch (o->kind) {
    case OPT_FLAG: *(int *)o->out = o->min ? (int)o->min : 1; return 0;
    case OPT_STRING: *(const char **)o->out = v; return 0;
    case OPT_LIST: {
        opt_list *l = o->out;
        if (l->n >= l->max) return usage_error(cmd, "--%s given too often%s", o->name, "");
        l->v[l->n++] = v;
        return 0;
    }
    case OPT_ULONG: {
        errno = 0;
        unsigned long x = strtoul(v, &end, 10);
        if (!*v || *end || errno || v[0] == '-' || (o->max > 0 && (x < (unsigned long)o->min || x > (unsigned long)o->max))) {
            if (o->max > 0) {
                char range[64];
                snprintf(range, sizeof range, " (%ld to %ld)", o->min, o->max);
                fprintf(stderr, "rebound %s: --%s takes a whole number%s, not '%s'", cmd, o->name, range, v);
                int n = (int)strcspn(cmd, " ");
                fprintf(stderr, " (see `rebound %.*s --help`)\n", n, cmd);
                return OPT_ERROR;
            }
            return usage_error(cmd, "--%s takes a whole number, not '%s'", o->name, v);
        }
        *(unsigned long *)o->out = x;
        return 0;
    }
    case OPT_LONG: {
        errno = 0;
        long x = strtol(v, &end, 10);
        if (!*v || *end || errno || (o->max > o->min && (x < o->min || x > o->max)))
            return usage_error(cmd, "--%s takes a whole number in range, not '%s'", o->name, v);
        *(long *)o->out = x;
        return 0;
    }
    case OPT_DOUBLE: {
        errno = 0;
        double x = strtod(v, &end);
        if (!*v || *end || errno || !(x >= 0))
            return usage_error(cmd, "--%s takes a number of 0 or more, not '%s'", o->name, v);
        *(double *)o->out = x;
        return 0;
    }
    case OPT_TIME:
        if (!rb_time_parse(v, (int64_t *)o->out))
            return usage_error(cmd, "--%s: cannot read '%s' as a time (2026-06-23, 2026-06-23T10:00:00Z or Unix seconds)",
                               o->name, v);
        return 0;
    case OPT_KEYWORD: {
        for (const opt_keyword *k = o->keywords; k->name; k++)
            if (!strcmp(k->name, v)) { *(int *)o->out = k->value; return 0; }
        char names[256] = "";
        size_t len = 0;
        for (const opt_keyword *k = o->keywords; k->name && len < sizeof names - 40; k++)
            len += (size_t)snprintf(names + len, sizeof names - len, isalnum((unsigned char)k->name[0]) ? "%s%s" : "%s'%s'",
                                    len ? ", " : "", k->name);
        fprintf(stderr, "rebound %s: --%s: unknown value '%s' (%s)", cmd, o->name, v, names);
        int n = (int)strcspn(cmd, " ");
        fprintf(stderr, " (see `rebound %.*s --help`)\n", n, cmd);
        return OPT_ERROR;
    }
    case OPT_END:
    case OPT_INHERIT: break;
    }
    return OPT_ERROR;
}

int opt_parse(const char *cmd, const opt_desc *opts, int argc, char **argv, char ***pos)
{
    /* positional arguments are moved to the front of argv[1..], in order */
    char **out = argv + 1;
    int npos = 0, only_pos = 0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == '\0') {
            out[npos++] = a;
            continue;
        }
        if (!strcmp(a, "--")) { only_pos = 1; continue; }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return OPT_HELP;
        if (a[1] == '-') {
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            lookup l = {0};
            find_long(opts, name, len, &l);
            const opt_desc *o = l.exact ? l.exact : l.nprefix == 1 ? l.prefix : NULL;
            if (!o) {
                char shown[80];
                snprintf(shown, sizeof shown, "--%.*s", (int)(len > 60 ? 60 : len), name);
                return usage_error(cmd, l.nprefix > 1 ? "ambiguous option '%s'%s" : "unknown option '%s'%s", shown, "");
            }
            const char *v = NULL;
            if (takes_value(o)) {
                if (eq) v = eq + 1;
                else if (i + 1 < argc) v = argv[++i];
                else return usage_error(cmd, "--%s needs a value%s", o->name, "");
            } else if (eq) {
                return usage_error(cmd, "--%s takes no value%s", o->name, "");
            }
            if (set_value(cmd, o, v) < 0) return OPT_ERROR;
            continue;
        }
        /* short options: -q, -qv, -o FILE, -oFILE */
        for (char *p = a + 1; *p; p++) {
            const opt_desc *o = find_short(opts, *p);
            if (!o) {
                char shown[3] = {'-', *p, '\0'};
                return usage_error(cmd, "unknown option '%s'%s", shown, "");
            }
            if (!takes_value(o)) {
                if (set_value(cmd, o, NULL) < 0) return OPT_ERROR;
                continue;
            }
            const char *v = p[1] ? p + 1 : i + 1 < argc ? argv[++i] : NULL;
            if (!v) return usage_error(cmd, "--%s needs a value%s", o->name, "");
            if (set_value(cmd, o, v) < 0) return OPT_ERROR;
            break;
        }
    }
    *pos = out;
    return npos;
}

/* ---- configuration file -------------------------------------------------------- */

#define DEFAULT_CONFIG "/etc/rebound/rebound.conf"

/* What the file may say: [group] key.  Anything else is refused, so a
 * misspelt key does not silently leave a cron job on the defaults. */
static const struct {
    const char *group, *key;
} known_keys[] = {
    {"store", "url"},          {"data", "dir"},
    {"data", "rules"},         {"data", "policy"},
    {"data", "providers"},     {"notify", "url"},
    {"notify", "key-file"},    {"mail", "our-domains"},
    {"mail", "verp-secret-file"}, {"mail", "mailing-sender"},
};

static GKeyFile *config;

const char *config_get(const char *group, const char *key)
{
    if (!config) return NULL;
    /* g_key_file_get_string's result is kept: values are read a handful of
     * times per run, and the caller holds on to them until exit */
    static GPtrArray *kept;
    gchar *v = g_key_file_get_string(config, group, key, NULL);
    if (!v) return NULL;
    g_strstrip(v);
    if (!kept) kept = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(kept, v);
    return v;
}

static int load_config(const char *cmd, const char *path, int must_exist)
{
    if (!must_exist && access(path, F_OK) != 0) return 0;
    GError *ge = NULL;
    GKeyFile *kf = g_key_file_new();
    if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &ge)) {
        fprintf(stderr, "rebound %s: configuration %s: %s\n", cmd, path, ge->message);
        g_error_free(ge);
        g_key_file_free(kf);
        return EX_CONFIG_;
    }
    gsize ng = 0;
    gchar **groups = g_key_file_get_groups(kf, &ng);
    int bad = 0;
    for (gsize g = 0; g < ng && !bad; g++) {
        gsize nk = 0;
        gchar **keys = g_key_file_get_keys(kf, groups[g], &nk, NULL);
        for (gsize k = 0; k < nk && !bad; k++) {
            int ok = 0;
            for (size_t i = 0; i < sizeof known_keys / sizeof known_keys[0]; i++)
                if (!strcmp(known_keys[i].group, groups[g]) && !strcmp(known_keys[i].key, keys[k])) ok = 1;
            if (!ok) {
                fprintf(stderr, "rebound %s: configuration %s: unknown setting '%s' in [%s] (see rebound(1), FILES)\n",
                        cmd, path, keys[k], groups[g]);
                bad = 1;
            }
        }
        g_strfreev(keys);
    }
    g_strfreev(groups);
    if (bad) {
        g_key_file_free(kf);
        return EX_CONFIG_;
    }
    config = kf;
    return 0;
}

static const char *first(const char *a, const char *b, const char *c)
{
    if (a && *a) return a;
    if (b && *b) return b;
    return c && *c ? c : NULL;
}

int shared_finish(const char *cmd)
{
    static int done;
    if (done) return 0;
    done = 1;
    const char *env_conf = getenv("REBOUND_CONFIG");
    int rc;
    if (opt_shared.config && *opt_shared.config) rc = load_config(cmd, opt_shared.config, 1);
    else if (env_conf && *env_conf) rc = load_config(cmd, env_conf, 1);
    else rc = load_config(cmd, DEFAULT_CONFIG, 0);
    if (rc) return rc;
    opt_shared.db = first(opt_shared.db, getenv("REBOUND_DB"), config_get("store", "url"));
    opt_shared.datadir = first(opt_shared.datadir, getenv("REBOUND_DATADIR"), config_get("data", "dir"));
    opt_shared.rules = first(opt_shared.rules, NULL, config_get("data", "rules"));
    opt_shared.policy = first(opt_shared.policy, NULL, config_get("data", "policy"));
    opt_shared.providers = first(opt_shared.providers, NULL, config_get("data", "providers"));
    return 0;
}
