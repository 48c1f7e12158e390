/* policy.c -- reason -> bounce type and action, plus the soft-bounce
 * thresholds.  The table is data (data/policy.conf):
 *
 *     REASON   BOUNCE_TYPE   ACTION
 *     set NAME VALUE
 *
 * `*` as REASON is the default for reasons the table does not name.
 * Mailbox full is hard by default; `set mailboxfull soft` makes it a
 * counted soft bounce in one switch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_internal.h"

typedef struct {
    char reason[RB_SHORT_MAX];
    char type[RB_SHORT_MAX];
    char action[RB_SHORT_MAX];
} entry;

struct rb_policy {
    entry *v;
    size_t n, cap;
    entry dflt;
    rb_policy_settings s;
};

static const char *const bounce_types[] = {"hard", "soft", "blocked", "complaint", "none"};

void rb_policy_free(rb_policy *p)
{
    if (!p) return;
    free(p->v);
    free(p);
}

static int parse_int(const char *v, int *out)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || x < 0 || x > 100000) return -1;
    *out = (int)x;
    return 0;
}

rb_status rb_policy_load(const char *path, rb_policy **out, rb_error *err)
{
    rb_conf cf;
    rb_status st = rb_conf_open(&cf, path, "policy", 0, err);
    if (st != RB_OK) return st;
    rb_policy *p = calloc(1, sizeof *p);
    if (!p) { rb_conf_close(&cf); return RB_ERR_NOMEM; }
    p->s.soft_threshold = 3;
    p->s.soft_window_days = 30;
    p->s.quarantine_days = 14;
    p->s.mailboxfull_is_hard = 1;
    p->s.disable_min_evidence = RB_EV_STATUS;
    p->s.disable_min_evidence_plaintext = RB_EV_PHRASE;
    p->s.temporary_is_soft = 1;
    rb_strlcpy(p->dflt.type, "soft", sizeof p->dflt.type);
    rb_strlcpy(p->dflt.action, "count", sizeof p->dflt.action);

    while (rb_conf_next(&cf)) {
        const char *line = cf.line;
        int lineno = cf.lineno;
        char a[128] = "", b[128] = "", c[128] = "", d[8] = "";
        int n = sscanf(line, "%127s %127s %127s %7s", a, b, c, d);
        if (n <= 0) continue;
        if (strcmp(a, "set") == 0) {
            if (n != 3) { rb_seterr(err, "%s:%d: set NAME VALUE", path, lineno); st = RB_ERR_CONFIG; break; }
            int bad = 0;
            if (strcmp(b, "soft_threshold") == 0) bad = parse_int(c, &p->s.soft_threshold);
            else if (strcmp(b, "soft_window_days") == 0) bad = parse_int(c, &p->s.soft_window_days);
            else if (strcmp(b, "quarantine_days") == 0) bad = parse_int(c, &p->s.quarantine_days);
            else if (strcmp(b, "temporary_is_soft") == 0) {
                if (!strcmp(c, "yes")) p->s.temporary_is_soft = 1;
                else if (!strcmp(c, "no")) p->s.temporary_is_soft = 0;
                else bad = -1;
            } else if (strcmp(b, "disable_min_evidence") == 0)
                bad = (p->s.disable_min_evidence = rb_evidence_parse(c)) < 0;
            else if (strcmp(b, "disable_min_evidence_plaintext") == 0)
                bad = (p->s.disable_min_evidence_plaintext = rb_evidence_parse(c)) < 0;
            else if (strcmp(b, "mailboxfull") == 0) {
                if (strcmp(c, "hard") == 0) p->s.mailboxfull_is_hard = 1;
                else if (strcmp(c, "soft") == 0) p->s.mailboxfull_is_hard = 0;
                else bad = -1;
            } else { rb_seterr(err, "%s:%d: unknown setting '%s'", path, lineno, b); st = RB_ERR_CONFIG; break; }
            if (bad) { rb_seterr(err, "%s:%d: bad value '%s' for %s", path, lineno, c, b); st = RB_ERR_CONFIG; break; }
            continue;
        }
        if (n != 3) {
            rb_seterr(err, "%s:%d: expected REASON BOUNCE_TYPE ACTION", path, lineno);
            st = RB_ERR_CONFIG;
            break;
        }
        int ok = 0;
        for (size_t i = 0; i < sizeof bounce_types / sizeof bounce_types[0]; i++)
            if (strcmp(b, bounce_types[i]) == 0) ok = 1;
        if (!ok) {
            rb_seterr(err, "%s:%d: unknown bounce type '%s' (hard, soft, blocked, complaint, none)", path, lineno, b);
            st = RB_ERR_CONFIG;
            break;
        }
        static const char *const actions[] = {"disable", "count", "record", "ignore"};
        ok = 0;
        for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
            if (strcmp(c, actions[i]) == 0) ok = 1;
        if (!ok) {
            rb_seterr(err, "%s:%d: unknown action '%s' (disable, count, record, ignore)", path, lineno, c);
            st = RB_ERR_CONFIG;
            break;
        }
        entry e;
        rb_strlcpy(e.reason, a, sizeof e.reason);
        rb_strlcpy(e.type, b, sizeof e.type);
        rb_strlcpy(e.action, c, sizeof e.action);
        if (strcmp(a, "*") == 0) { p->dflt = e; continue; }
        if (p->n == p->cap) {
            size_t nc = p->cap ? p->cap * 2 : 32;
            entry *nv = realloc(p->v, nc * sizeof *nv);
            if (!nv) { st = RB_ERR_NOMEM; break; }
            p->v = nv;
            p->cap = nc;
        }
        p->v[p->n++] = e;
    }
    rb_conf_close(&cf);
    if (st != RB_OK) { rb_policy_free(p); return st; }
    *out = p;
    return RB_OK;
}

const char *rb_policy_lookup_raw(const rb_policy *p, const char *reason, const char **action)
{
    return rb_policy_lookup_known(p, reason, action, NULL);
}

/* As rb_policy_lookup_raw; *named says whether the table names the reason
 * (0: the `*` default applied). */
const char *rb_policy_lookup_known(const rb_policy *p, const char *reason, const char **action, int *named)
{
    if (named) *named = 1;
    if (p->s.mailboxfull_is_hard == 0 && strcmp(reason, "mailboxfull") == 0) {
        *action = "count";
        return "soft";
    }
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->v[i].reason, reason) == 0) { *action = p->v[i].action; return p->v[i].type; }
    if (named) *named = 0;
    *action = p->dflt.action;
    return p->dflt.type;
}

const rb_policy_settings *rb_policy_settings_of(const rb_policy *p)
{
    return &p->s;
}
