/* rules.c -- the classification table (docs/rules-format.md).
 *
 * Rules are read once (a file may `include` others), consecutive rules with
 * the same reason, conditions and evidence are merged into one alternation
 * of capturing groups (the group that matched names the line), and every
 * pattern is compiled with the PCRE2 JIT.  Each rule carries the strength
 * of its evidence (vendor > phrase > status > reply > class > none); the
 * table is stably sorted by that strength, so walking it in order and
 * taking the first rule whose conditions all hold gives the strongest
 * evidence, and among equals the earliest line.  A compiled table is
 * read-only and shared by all threads (each match allocates its own match
 * data); the only thing done after loading is the JIT compilation of a
 * rule on its first use, under a g_once.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <fnmatch.h>
#include <glob.h>
#include <libgen.h>
#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_internal.h"

enum { IN_DIAG = 0, IN_SUBJECT, IN_ANY };

/* A condition's comma list, split once at load time. */
typedef struct {
    char **v;
    size_t n;
    unsigned char *kind;   /* per item: 0 a plain word, 1 a glob (fnmatch), 2 "-" */
} glist;

typedef struct {
    char reason[RB_SHORT_MAX];
    char *status, *reply, *command, *vendor; /* comma lists as written, NULL = any */
    glist st, rp, cm, vd;                    /* the same, split */
    int in;
    GString *pattern;   /* NULL = no pattern */
    pcre2_code *re;
    /* Prefilter: every top-level branch of the pattern begins with one of
     * these literals (ASCII, lowercased).  If none occurs in the text the
     * pattern cannot match and PCRE2 is not called.  nlit == 0: no
     * prefilter (some branch has no literal start). */
    char **lit;
    size_t nlit;
    int nofilter;       /* some branch has no literal start */
    int line;           /* first line */
    int file;           /* index into rb_rules.files */
    int evidence;       /* RB_EV_* */
    /* the lines merged into this rule: for line k, the pattern's capture
     * group that is set when that line's piece matched */
    int *lines, *groups;
    size_t *offs;       /* where each line's "(piece)" starts in pattern */
    size_t nlines;
    uint32_t ncapture;  /* capture groups in the merged pattern */
    /* JIT-compiled on first use (g_once: thread-safe): most rules of a large
     * lexicon are never reached on a given mail stream, because their
     * prefilter literals never occur, and compiling them all costs more
     * than a run of thousands of bounces spends matching */
    gsize jitted;
} rule;

struct rb_rules {
    rule *v;
    size_t n, cap;
    char path[512];
    char **files;       /* the files read, relative to the first one's folder */
    size_t nfiles;
    char dir[512];      /* the first file's folder */
    /* The literal index: every prefilter literal of every rule, bucketed by
     * its first three (lowercased) bytes.  One pass over a text marks the
     * rules one of whose literals occurs; the others are not looked at. */
    uint32_t *boff;     /* NBUCKET + 1 offsets into ents */
    /* pre: the literal's first min(len, 8) bytes as a word (loaded as the
     * text's are), mask: the bytes of that word that count; compared with one load of
     * the text before the rest of a longer literal */
    struct litent { uint64_t pre, mask; uint32_t rule; uint32_t len; const char *lit; } *ents;
    uint64_t *tribits;  /* NTRI bits: which trigram buckets have a literal */
    uint32_t maxcap;    /* capture groups + 1 of the largest rule */
    uint32_t nduo;      /* two-byte literals in the index */
};
/* Literals of three bytes or more are bucketed by their first three bytes
 * (NTRI buckets), two-byte ones (rare) by their two bytes (4096 buckets
 * after those), in one table. */
#define NTRI 65536u
#define NBUCKET (NTRI + 4096u)

static const char *const known_reasons[] = {
    "userunknown", "mailboxfull", "hostunknown", "filtered", "blocked", "spamdetected",
    "policyviolation", "securityerror", "systemerror", "networkerror", "expired", "suspend",
    "rejected", "norelaying", "notaccept", "hasmoved", "mesgtoobig", "exceedlimit",
    "contenterror", "toomanyconn", "speeding", "mailererror", "systemfull", "syntaxerror",
    "virusdetected", "authfailure", "badreputation", "requireptr", "notcompliantrfc",
    "failedstarttls", "suppressed", "feedback", "vacation", "delivered", "onhold", "undefined",
    "emptyaddress",
};

static int known_reason(const char *r)
{
    for (size_t i = 0; i < sizeof known_reasons / sizeof known_reasons[0]; i++)
        if (strcmp(r, known_reasons[i]) == 0) return 1;
    return 0;
}

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void glist_free(glist *g)
{
    for (size_t i = 0; i < g->n; i++) free(g->v[i]);
    free(g->v);
    free(g->kind);
    g->kind = NULL;
    g->v = NULL;
    g->n = 0;
}

static int glist_split(glist *g, const char *list)
{
    if (!list) return 0;
    char *copy = strdup(list), *save = NULL;
    if (!copy) return -1;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char **nv = realloc(g->v, (g->n + 1) * sizeof *nv);
        if (!nv || !(nv[g->n] = strdup(t))) { free(copy); if (nv) g->v = nv; return -1; }
        g->v = nv;
        g->n++;
    }
    free(copy);
    if (g->n && !(g->kind = malloc(g->n))) return -1;
    for (size_t i = 0; i < g->n; i++)
        g->kind[i] = (unsigned char)(g->v[i][0] == '-' && !g->v[i][1] ? 2 : strpbrk(g->v[i], "*?[") ? 1 : 0);
    return 0;
}

static void rule_free(rule *r)
{
    free(r->lines);
    free(r->groups);
    free(r->offs);
    for (size_t i = 0; i < r->nlit; i++) free(r->lit[i]);
    free(r->lit);
    r->lit = NULL;
    r->nlit = 0;
    glist_free(&r->st); glist_free(&r->rp); glist_free(&r->cm); glist_free(&r->vd);
    free(r->status); free(r->reply); free(r->command); free(r->vendor);
    if (r->pattern) g_string_free(r->pattern, TRUE);
    if (r->re) pcre2_code_free(r->re);
}

void rb_rules_free(rb_rules *rs)
{
    if (!rs) return;
    for (size_t i = 0; i < rs->n; i++) rule_free(&rs->v[i]);
    free(rs->v);
    for (size_t i = 0; i < rs->nfiles; i++) free(rs->files[i]);
    free(rs->files);
    free(rs->boff);
    free(rs->ents);
    free(rs->tribits);
    free(rs);
}

/* The literal a regex branch starts with: characters up to the first
 * metacharacter (an escaped punctuation character counts as itself).  A
 * character followed by a quantifier is not required, so it is dropped.
 * Returns the length written to out (0: the branch has no literal start). */
static size_t branch_literal(const char *b, size_t n, char *out, size_t outlen)
{
    size_t w = 0, i = 0;
    while (i < n && w + 1 < outlen) {
        unsigned char c = (unsigned char)b[i];
        size_t step = 1;
        if (c == '\\') {
            if (i + 1 >= n) break;
            unsigned char e = (unsigned char)b[i + 1];
            if (isalnum(e) || e >= 0x80) break;        /* \s \d \b ...: not a literal */
            c = e;
            step = 2;
        } else if (c >= 0xE3 && c <= 0xEF && i + 2 < n && ((unsigned char)b[i + 1] & 0xC0) == 0x80 &&
                   ((unsigned char)b[i + 2] & 0xC0) == 0x80) {
            /* a three-byte UTF-8 character from U+3000 on (kana, CJK,
             * Hangul): these have no case, so the bytes are the literal */
            if (i + 3 < n && strchr("*?{", b[i + 3])) break;
            if (w + 4 >= outlen) break;
            memcpy(out + w, b + i, 3);
            w += 3;
            i += 3;
            continue;
        } else if (strchr("()[]{}.*+?|^$", c) || c >= 0x80) {
            break;
        }
        if (i + step < n && strchr("*?{", b[i + step])) break;   /* optional: stop before it */
        out[w++] = (char)tolower(c);
        i += step;
    }
    out[w] = '\0';
    return w;
}

/* The bucket of a literal, or of a text position: its first three bytes
 * (TRI), or its two bytes for a two-byte literal (DUO, a bucket range of
 * its own). */
#define TRI(a, b, c) ((uint32_t)((((uint32_t)(unsigned char)(a) | (uint32_t)(unsigned char)(b) << 8 | \
                                    (uint32_t)(unsigned char)(c) << 16) * 2654435761u) >> 16))
#define DUO(a, b) ((uint32_t)(NTRI + ((((unsigned char)(a)) * 131u + (unsigned char)(b)) & 4095u)))
static uint32_t bucket_of(const char *l, size_t len)
{
    return len >= 3 ? TRI(l[0], l[1], l[2]) : DUO(l[0], l[1]);
}

/* Index just past the group that opens at b[i] ('('), or n if unclosed. */
static size_t group_end(const char *b, size_t n, size_t i)
{
    int depth = 0, in_class = 0;
    for (; i < n; i++) {
        char c = b[i];
        if (c == '\\') { i++; continue; }
        if (in_class) { if (c == ']') in_class = 0; continue; }
        if (c == '[') in_class = 1;
        else if (c == '(') depth++;
        else if (c == ')' && --depth == 0) return i + 1;
    }
    return n;
}

/* Call fn for each top-level alternative of b[0..n). */
static int each_branch(const char *b, size_t n, int (*fn)(rule *, const char *, size_t, int), rule *r, int level)
{
    size_t start = 0;
    int depth = 0, in_class = 0;
    for (size_t i = 0; i <= n; i++) {
        char c = i < n ? b[i] : '|';
        if (i < n && c == '\\') { i++; continue; }
        if (in_class) { if (c == ']') in_class = 0; continue; }
        if (c == '[') { in_class = 1; continue; }
        if (c == '(') depth++;
        else if (c == ')') depth--;
        else if (c == '|' && depth == 0) {
            if (fn(r, b + start, i - start, level) < 0) return -1;
            start = i + 1;
        }
    }
    return 0;
}

static int add_literal(rule *r, const char *lit)
{
    char **nv = realloc(r->lit, (r->nlit + 1) * sizeof *nv);
    if (!nv) return -1;
    r->lit = nv;
    if (!(r->lit[r->nlit] = strdup(lit))) return -1;
    r->nlit++;
    return 0;
}

/* The longest run of literal characters that every match of the branch
 * b[0..n) must contain somewhere (not only at its start): characters at
 * the top level, outside groups and classes, not made optional or
 * repeatable by a quantifier.  "\b[45]\d\d <[^>]+>: user unknown" gives
 * ">: user unknown".  Returns its length (0: none). */
static size_t inner_literal(const char *b, size_t n, char *out, size_t outlen)
{
    char run[128];
    size_t rl = 0, best = 0;
    out[0] = '\0';
#define END_RUN() do { if (rl > best) { memcpy(out, run, rl); out[rl] = '\0'; best = rl; } rl = 0; } while (0)
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)b[i];
        size_t step = 1;
        int lit = 0;
        if (c == '\\') {
            if (i + 1 >= n) break;
            unsigned char e = (unsigned char)b[i + 1];
            step = 2;
            if (!isalnum(e) && e < 0x80) { lit = 1; c = e; }
            else if (e == 'x' || e == 'p' || e == 'P' || e == 'N' || e == 'k' || e == 'g' || e == 'Q') {
                END_RUN();   /* \x{..}, \p{..}, \Q...: leave the rest alone */
                break;
            }
        } else if (c == '(') {
            END_RUN();
            i = group_end(b, n, i);
            if (i < n && strchr("?*+{", b[i])) i++;
            continue;
        } else if (c == '[') {
            END_RUN();
            size_t j = i + 1;
            if (j < n && b[j] == '^') j++;
            if (j < n && b[j] == ']') j++;
            while (j < n && b[j] != ']') j += b[j] == '\\' ? 2 : 1;
            i = j + 1;
            continue;
        } else if (!strchr(".^$|*+?{}", c) && c < 0x80) {
            lit = 1;
        }
        size_t next = i + step;
        int quantified = next < n && strchr("*+?{", b[next]);
        if (lit && !quantified && rl + 1 < sizeof run && rl + 1 < outlen) {
            run[rl++] = (char)tolower(c);
        } else {
            END_RUN();
            if (quantified && b[next] == '{') { while (next < n && b[next] != '}') next++; next++; }
            else if (quantified) next++;
        }
        i = next;
    }
    END_RUN();
#undef END_RUN
    return best;
}

/* One branch: the literal it must start with (after zero-width
 * assertions); a branch that starts with a non-optional group of
 * alternatives gives one literal per alternative.  -1: no literal. */
static int branch_literals(rule *r, const char *b, size_t n, int level)
{
    size_t i = 0;
    for (;;) {   /* zero-width starts do not change what text must be present */
        if (i + 1 < n && b[i] == '\\' && (b[i + 1] == 'b' || b[i + 1] == 'B')) i += 2;
        else if (i < n && b[i] == '^') i++;
        else if (i + 2 < n && b[i] == '(' && b[i + 1] == '?' && (b[i + 2] == '=' || b[i + 2] == '!' || b[i + 2] == '<') &&
                 !(b[i + 2] == '<' && i + 3 < n && b[i + 3] != '=' && b[i + 3] != '!'))
            i = group_end(b, n, i);
        else break;
    }
    char lit[128];
    /* a long literal required anywhere in the branch filters better than
     * short ones it may start with ("(?:no|fix) reverse dns") */
    if (inner_literal(b + i, n - i, lit, sizeof lit) >= 6) return add_literal(r, lit);
    if (i + 2 < n && b[i] == '(' && b[i + 1] == '?' && b[i + 2] == ':' && level < 2) {
        size_t e = group_end(b, n, i);
        /* a group of alternatives: one literal per alternative; an optional
         * group proves nothing.  Else a literal further on. */
        if (e <= n && !(e < n && strchr("?*{", b[e])) &&
            each_branch(b + i + 3, e - i - 4, branch_literals, r, level + 1) == 0)
            return 0;
        return inner_literal(b + i, n - i, lit, sizeof lit) >= 3 ? add_literal(r, lit) : -1;
    }
    if (branch_literal(b + i, n - i, lit, sizeof lit) >= 2) return add_literal(r, lit);
    return inner_literal(b, n, lit, sizeof lit) >= 3 ? add_literal(r, lit) : -1;
}

static void disable_prefilter(rule *r)
{
    for (size_t k = 0; k < r->nlit; k++) free(r->lit[k]);
    free(r->lit);
    r->lit = NULL;
    r->nlit = 0;
    r->nofilter = 1;
}

/* Collect the literals every match of pat must start with; a branch
 * without one disables the prefilter for the rule. */
static int build_prefilter(rule *r, const char *pat)
{
    if (r->nofilter) return 0;
    if (each_branch(pat, strlen(pat), branch_literals, r, 0) < 0) disable_prefilter(r);
    return 0;
}

/* ---- evidence ------------------------------------------------------------------ */
static const char *const evidence_names[] = {"none", "class", "reply", "status", "phrase", "vendor"};

const char *rb_evidence_name(int ev)
{
    return ev >= 0 && ev < (int)(sizeof evidence_names / sizeof evidence_names[0]) ? evidence_names[ev] : "none";
}

int rb_evidence_parse(const char *name)
{
    for (size_t i = 0; name && i < sizeof evidence_names / sizeof evidence_names[0]; i++)
        if (strcasecmp(name, evidence_names[i]) == 0) return (int)i;
    return -1;
}

/* What a rule rests on when it does not say (docs/rules-format.md):
 * vendor= -> vendor; a pattern -> phrase; exact status codes -> status;
 * reply= or command= -> reply; status with wildcards -> class; nothing -> none. */
static int infer_evidence(const rule *r)
{
    if (r->vendor && !r->pattern) return RB_EV_VENDOR;   /* the format module's own code */
    if (r->pattern) return RB_EV_PHRASE;                  /* with vendor=: a phrase of that vendor */
    if (r->status && !strpbrk(r->status, "*?[")) return RB_EV_STATUS;
    if (r->reply || r->command) return RB_EV_REPLY;
    if (r->status) return RB_EV_CLASS;
    return RB_EV_NONE;
}

/* ---- loading ------------------------------------------------------------------- */
static int add_file(rb_rules *rs, const char *path)
{
    const char *rel = path;
    size_t dl = strlen(rs->dir);
    if (dl && strncmp(path, rs->dir, dl) == 0 && path[dl] == '/') rel = path + dl + 1;
    char **nv = realloc(rs->files, (rs->nfiles + 1) * sizeof *nv);
    if (!nv) return -1;
    rs->files = nv;
    if (!(rs->files[rs->nfiles] = strdup(rel))) return -1;
    return (int)rs->nfiles++;
}

static int append_size(size_t **v, size_t n, size_t x)
{
    size_t *nv = realloc(*v, (n + 1) * sizeof *nv);
    if (!nv) return -1;
    nv[n] = x;
    *v = nv;
    return 0;
}

static int append_int(int **v, size_t n, int x)
{
    int *nv = realloc(*v, (n + 1) * sizeof *nv);
    if (!nv) return -1;
    nv[n] = x;
    *v = nv;
    return 0;
}

/* The capturing groups a pattern opens: "(" not followed by "?" or "*",
 * and named groups.  Needed to find a merged rule's groups without
 * compiling each piece (compiling the table is the start-up cost). */
static uint32_t count_captures(const char *p)
{
    uint32_t n = 0;
    int in_class = 0;
    for (; *p; p++) {
        if (*p == '\\') {
            if (p[1] == 'Q') {
                const char *e = strstr(p, "\\E");
                if (!e) break;
                p = e + 1;
            } else if (p[1]) {
                p++;
            }
            continue;
        }
        if (in_class) { if (*p == ']') in_class = 0; continue; }
        if (*p == '[') {
            in_class = 1;
            if (p[1] == '^') p++;
            if (p[1] == ']') p++;
            continue;
        }
        if (*p != '(') continue;
        if (p[1] != '?' && p[1] != '*') n++;
        else if (p[1] == '?' && ((p[2] == '<' && p[3] != '=' && p[3] != '!') || (p[2] == 'P' && p[3] == '<') || p[2] == '\''))
            n++;
    }
    return n;
}

/* A merged rule did not compile: compile its pieces alone to name the
 * line that is wrong. */
static void name_bad_piece(const rb_rules *rs, const rule *r, rb_error *err)
{
    const char *pat = r->pattern->str;
    size_t len = r->pattern->len;
    for (size_t k = 0; k < r->nlines; k++) {
        size_t a = r->offs[k] + 1, b = k + 1 < r->nlines ? r->offs[k + 1] - 2 : len - 1;
        char *piece = g_strndup(pat + a, b > a ? b - a : 0);
        int ec;
        PCRE2_SIZE off;
        pcre2_code *t = pcre2_compile((PCRE2_SPTR)piece, PCRE2_ZERO_TERMINATED, PCRE2_CASELESS | PCRE2_UTF, &ec, &off, NULL);
        g_free(piece);
        if (t) { pcre2_code_free(t); continue; }
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        rb_seterr(err, "%s:%d: bad pattern at offset %zu: %s", rs->files[r->file], r->lines[k], (size_t)off, (char *)msg);
        return;
    }
}

static rb_status load_file(rb_rules *rs, const char *path, int depth, rb_error *err);

/* include PATTERN: a file or a glob, relative to the including file. */
static rb_status do_include(rb_rules *rs, const char *from, int lineno, const char *arg, int depth, rb_error *err)
{
    if (depth >= 8) {
        rb_seterr(err, "%s:%d: includes nested deeper than 8 (a loop?)", from, lineno);
        return RB_ERR_CONFIG;
    }
    char pat[1024];
    if (arg[0] == '/') rb_strlcpy(pat, arg, sizeof pat);
    else {
        char tmp[1024];
        rb_strlcpy(tmp, from, sizeof tmp);
        snprintf(pat, sizeof pat, "%s/%s", dirname(tmp), arg);
    }
    glob_t g;
    int rc = glob(pat, 0, NULL, &g);
    if (rc == GLOB_NOMATCH) {
        if (!strpbrk(arg, "*?[")) {
            rb_seterr(err, "%s:%d: include: %s: no such file", from, lineno, pat);
            return RB_ERR_CONFIG;
        }
        return RB_OK;   /* an empty rules.d/ is fine */
    }
    if (rc != 0) {
        rb_seterr(err, "%s:%d: include: %s: cannot list", from, lineno, pat);
        return RB_ERR_IO;
    }
    rb_status st = RB_OK;
    for (size_t i = 0; st == RB_OK && i < g.gl_pathc; i++) st = load_file(rs, g.gl_pathv[i], depth + 1, err);
    globfree(&g);
    return st;
}

static int parse_line(rb_rules *rs, int file, char *line, int lineno, rb_error *err)
{
    const char *fname = rs->files[file];
    rule r;
    memset(&r, 0, sizeof r);
    r.line = lineno;
    r.file = file;
    r.evidence = -1;
    char *pat = NULL;
    char *tilde = strstr(line, " ~ ");
    if (!tilde && strncmp(line, "~ ", 2) == 0) tilde = line - 1;
    if (tilde) {
        *tilde = '\0';
        pat = rb_trim(tilde + 3);
    }
    char *save = NULL;
    char *tok = strtok_r(line, " \t", &save);
    if (!tok) { rb_seterr(err, "%s:%d: a rule needs a reason", fname, lineno); return -1; }
    if (!known_reason(tok)) {
        rb_seterr(err, "%s:%d: unknown reason '%s'", fname, lineno, tok);
        return -1;
    }
    rb_strlcpy(r.reason, tok, sizeof r.reason);
    while ((tok = strtok_r(NULL, " \t", &save))) {
        char *eq = strchr(tok, '=');
        if (!eq) { rb_seterr(err, "%s:%d: expected key=value, got '%s'", fname, lineno, tok); rule_free(&r); return -1; }
        *eq = '\0';
        const char *k = tok, *v = eq + 1;
        char **slot = NULL;
        if (strcmp(k, "status") == 0) slot = &r.status;
        else if (strcmp(k, "reply") == 0) slot = &r.reply;
        else if (strcmp(k, "command") == 0) slot = &r.command;
        else if (strcmp(k, "vendor") == 0) slot = &r.vendor;
        else if (strcmp(k, "in") == 0) {
            if (strcmp(v, "diagnostic") == 0) r.in = IN_DIAG;
            else if (strcmp(v, "subject") == 0) r.in = IN_SUBJECT;
            else if (strcmp(v, "any") == 0) r.in = IN_ANY;
            else { rb_seterr(err, "%s:%d: in= takes diagnostic, subject or any", fname, lineno); rule_free(&r); return -1; }
            continue;
        } else if (strcmp(k, "evidence") == 0) {
            if ((r.evidence = rb_evidence_parse(v)) < 0) {
                rb_seterr(err, "%s:%d: evidence= takes vendor, phrase, status, reply, class or none", fname, lineno);
                rule_free(&r);
                return -1;
            }
            continue;
        } else {
            rb_seterr(err, "%s:%d: unknown condition '%s'", fname, lineno, k);
            rule_free(&r);
            return -1;
        }
        free(*slot);
        *slot = strdup(v);
    }
    uint32_t ncap = 0;
    if (pat && *pat) {
        ncap = count_captures(pat);
        build_prefilter(&r, pat);
        r.pattern = g_string_new("(");
        g_string_append(r.pattern, pat);
        g_string_append(r.pattern, ")");
    }
    if (r.evidence < 0) r.evidence = infer_evidence(&r);
    /* merge into the previous rule when only the pattern differs */
    if (rs->n && r.pattern) {
        rule *p = &rs->v[rs->n - 1];
        if (p->pattern && p->file == r.file && p->evidence == r.evidence && strcmp(p->reason, r.reason) == 0 &&
            p->in == r.in && same_str(p->status, r.status) && same_str(p->reply, r.reply) &&
            same_str(p->command, r.command) && same_str(p->vendor, r.vendor)) {
            if (append_int(&p->lines, p->nlines, lineno) < 0 ||
                append_int(&p->groups, p->nlines, (int)p->ncapture + 1) < 0 ||
                append_size(&p->offs, p->nlines, p->pattern->len + 1) < 0) {
                rule_free(&r);
                rb_seterr(err, "out of memory");
                return -1;
            }
            p->nlines++;
            p->ncapture += 1 + ncap;
            g_string_append_c(p->pattern, '|');
            g_string_append(p->pattern, r.pattern->str);
            /* the merged rule's prefilter: the union of both, or none */
            if (r.nofilter) disable_prefilter(p);
            for (size_t k = 0; !p->nofilter && k < r.nlit; k++) {
                char **nv = realloc(p->lit, (p->nlit + 1) * sizeof *nv);
                if (!nv) { disable_prefilter(p); break; }
                p->lit = nv;
                p->lit[p->nlit++] = r.lit[k];
                r.lit[k] = NULL;
            }
            rule_free(&r);
            return 0;
        }
    }
    if (append_int(&r.lines, 0, lineno) < 0 || append_int(&r.groups, 0, 1) < 0 || append_size(&r.offs, 0, 0) < 0) {
        rule_free(&r);
        rb_seterr(err, "out of memory");
        return -1;
    }
    r.nlines = 1;
    r.ncapture = r.pattern ? 1 + ncap : 0;
    if (rs->n == rs->cap) {
        size_t nc = rs->cap ? rs->cap * 2 : 64;
        rule *nv = realloc(rs->v, nc * sizeof *nv);
        if (!nv) { rule_free(&r); rb_seterr(err, "out of memory"); return -1; }
        rs->v = nv;
        rs->cap = nc;
    }
    rs->v[rs->n++] = r;
    return 0;
}

static rb_status load_file(rb_rules *rs, const char *path, int depth, rb_error *err)
{
    rb_conf cf;
    rb_status st = rb_conf_open(&cf, path, "rules", 1, err);
    if (st != RB_OK) return st;
    int file = add_file(rs, path);
    if (file < 0) { rb_conf_close(&cf); rb_seterr(err, "out of memory"); return RB_ERR_NOMEM; }
    while (st == RB_OK && rb_conf_next(&cf)) {
        char *line = cf.line;
        if (!line[0]) continue;
        if (strncmp(line, "include", 7) == 0 && (line[7] == ' ' || line[7] == '\t')) {
            st = do_include(rs, path, cf.lineno, rb_trim(line + 8), depth, err);
            /* a rule after an include never merges into the included file's last rule */
            continue;
        }
        if (parse_line(rs, file, line, cf.lineno, err) < 0) st = RB_ERR_CONFIG;
    }
    rb_conf_close(&cf);
    return st;
}

/* Stable sort by evidence, strongest first (insertion sort: a few hundred rules). */
static void sort_by_evidence(rb_rules *rs)
{
    for (size_t i = 1; i < rs->n; i++) {
        rule t = rs->v[i];
        size_t j = i;
        while (j > 0 && rs->v[j - 1].evidence < t.evidence) { rs->v[j] = rs->v[j - 1]; j--; }
        rs->v[j] = t;
    }
}

static int filtered(const rule *r)
{
    return r->re && r->nlit && !r->nofilter;
}

static int build_index(rb_rules *rs)
{
    size_t n = 0;
    rs->maxcap = 1;
    for (size_t i = 0; i < rs->n; i++) {
        if (filtered(&rs->v[i])) n += rs->v[i].nlit;
        if (rs->v[i].ncapture + 1 > rs->maxcap) rs->maxcap = rs->v[i].ncapture + 1;
    }
    rs->boff = calloc(NBUCKET + 1, sizeof *rs->boff);
    rs->ents = calloc(n ? n : 1, sizeof *rs->ents);
    rs->tribits = calloc(NTRI / 64, sizeof *rs->tribits);
    if (!rs->boff || !rs->ents || !rs->tribits) return -1;
    for (size_t i = 0; i < rs->n; i++)
        for (size_t k = 0; filtered(&rs->v[i]) && k < rs->v[i].nlit; k++)
            rs->boff[bucket_of(rs->v[i].lit[k], strlen(rs->v[i].lit[k])) + 1]++;
    for (size_t b = 0; b < NBUCKET; b++) rs->boff[b + 1] += rs->boff[b];
    uint32_t *fill = calloc(NBUCKET, sizeof *fill);
    if (!fill) return -1;
    for (size_t i = 0; i < rs->n; i++)
        for (size_t k = 0; filtered(&rs->v[i]) && k < rs->v[i].nlit; k++) {
            const char *l = rs->v[i].lit[k];
            uint32_t b = bucket_of(l, strlen(l));
            struct litent *e = &rs->ents[rs->boff[b] + fill[b]++];
            e->rule = (uint32_t)i;
            e->len = (uint32_t)strlen(l);
            e->lit = l;
            size_t pl = e->len < 8 ? e->len : 8;
            unsigned char pb[8] = {0}, mb[8] = {0};   /* as the text's bytes are loaded: any byte order */
            memcpy(pb, l, pl);
            memset(mb, 0xff, pl);
            memcpy(&e->pre, pb, 8);
            memcpy(&e->mask, mb, 8);
            if (e->len < 3) rs->nduo++;
            else rs->tribits[b / 64] |= 1ull << (b % 64);
        }
    free(fill);
    return 0;
}

/* Mark in cand[] the rules one of whose literals occurs in low (the text,
 * ASCII-lowercased). */
static void mark_candidates(const rb_rules *rs, const char *low, size_t len, uint8_t *cand)
{
    const unsigned char *u = (const unsigned char *)low;
    for (size_t i = 0; i + 1 < len; i++) {
        uint32_t b;
        if (i + 2 < len) {   /* literals of three bytes or more */
            b = TRI(u[i], u[i + 1], u[i + 2]);
            if (rs->tribits[b / 64] >> (b % 64) & 1) {
                if (i + 8 <= len) {   /* the first 8 bytes in one word */
                    uint64_t w;
                    memcpy(&w, u + i, 8);
                    for (uint32_t j = rs->boff[b]; j < rs->boff[b + 1]; j++) {
                        const struct litent *e = &rs->ents[j];
                        if ((w & e->mask) != e->pre || cand[e->rule]) continue;
                        if (e->len <= 8 || (e->len <= len - i && memcmp(low + i + 8, e->lit + 8, e->len - 8) == 0))
                            cand[e->rule] = 1;
                    }
                } else {
                    for (uint32_t j = rs->boff[b]; j < rs->boff[b + 1]; j++) {
                        const struct litent *e = &rs->ents[j];
                        if (!cand[e->rule] && e->len <= len - i && memcmp(low + i, e->lit, e->len) == 0)
                            cand[e->rule] = 1;
                    }
                }
            }
        }
        if (!rs->nduo) continue;   /* two-byte literals (rare) */
        b = DUO(u[i], u[i + 1]);
        for (uint32_t j = rs->boff[b]; j < rs->boff[b + 1]; j++) {
            const struct litent *e = &rs->ents[j];
            if (!cand[e->rule] && e->len <= len - i && memcmp(low + i, e->lit, e->len) == 0) cand[e->rule] = 1;
        }
    }
}

rb_status rb_rules_load(const char *path, rb_rules **out, rb_error *err)
{
    rb_rules *rs = calloc(1, sizeof *rs);
    if (!rs) { rb_seterr(err, "out of memory"); return RB_ERR_NOMEM; }
    rb_strlcpy(rs->path, path, sizeof rs->path);
    char tmp[1024];
    rb_strlcpy(tmp, path, sizeof tmp);
    rb_strlcpy(rs->dir, dirname(tmp), sizeof rs->dir);
    rb_status st = load_file(rs, path, 0, err);
    for (size_t i = 0; st == RB_OK && i < rs->n; i++) {
        rule *r = &rs->v[i];
        if (glist_split(&r->st, r->status) || glist_split(&r->rp, r->reply) || glist_split(&r->cm, r->command) ||
            glist_split(&r->vd, r->vendor)) {
            rb_seterr(err, "out of memory");
            st = RB_ERR_NOMEM;
            break;
        }
        if (!r->pattern) continue;
        int ec;
        PCRE2_SIZE off;
        r->re = pcre2_compile((PCRE2_SPTR)r->pattern->str, PCRE2_ZERO_TERMINATED,
                              PCRE2_CASELESS | PCRE2_UTF, &ec, &off, NULL);
        if (!r->re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(ec, msg, sizeof msg);
            rb_seterr(err, "%s:%d: bad pattern: %s", rs->files[r->file], r->line, (char *)msg);
            name_bad_piece(rs, r, err);
            st = RB_ERR_CONFIG;
            break;
        }
        /* the groups must be where count_captures() put them */
        uint32_t nc = 0;
        pcre2_pattern_info(r->re, PCRE2_INFO_CAPTURECOUNT, &nc);
        if (nc != r->ncapture) {
            rb_seterr(err, "%s:%d: pattern uses a construct that renumbers groups ((?|...)?)", rs->files[r->file], r->line);
            st = RB_ERR_CONFIG;
            break;
        }
    }
    if (st != RB_OK) { rb_rules_free(rs); return st; }
    sort_by_evidence(rs);
    if (build_index(rs) < 0) {
        rb_rules_free(rs);
        rb_seterr(err, "out of memory");
        return RB_ERR_NOMEM;
    }
    *out = rs;
    return RB_OK;
}

/* ---- matching ------------------------------------------------------------------ */
/* Does value match one of the globs?  An absent condition matches all;
 * "-" matches an empty value.  Plain words are compared without fnmatch. */
static int list_match(const char *list, const glist *g, const char *value)
{
    if (!list) return 1;
    int empty = !value || !*value;
    for (size_t i = 0; i < g->n; i++) {
        const char *t = g->v[i];
        if (g->kind[i] == 2) { if (empty) return 1; continue; }
        if (empty) continue;
        if (g->kind[i] == 0) {   /* the first byte (either case) before strcasecmp */
            if (((unsigned char)t[0] | 0x20) == ((unsigned char)value[0] | 0x20) && strcasecmp(t, value) == 0) return 1;
        }
        else if (fnmatch(t, value, FNM_CASEFOLD) == 0) return 1;
    }
    return 0;
}

/* Texts are made valid UTF-8 before matching (PCRE2_MATCH_INVALID_UTF is
 * not used: with the JIT in PCRE2 10.42 it makes \S and \w miss non-ASCII
 * characters), so the match can skip PCRE2's own UTF check.
 * text: the UTF-8 text; low: the same, ASCII-lowercased (for the prefilter).
 * Returns the line of the rule's piece that matched, 0 for none. */
static int re_match(const rule *r, pcre2_match_data *md, const char *text, size_t len, int candidate,
                    size_t *mstart, size_t *mend)
{
    if (!text || !*text) return 0;
    if (filtered(r) && !candidate) return 0;   /* none of its literals occurs in the text */
    gsize *jitted = (gsize *)&r->jitted;   /* the one field set after loading */
    if (g_once_init_enter(jitted)) {
        pcre2_jit_compile(r->re, PCRE2_JIT_COMPLETE);   /* else PCRE2's interpreter */
        g_once_init_leave(jitted, 1);
    }
    int rc = pcre2_match(r->re, (PCRE2_SPTR)text, len, 0, PCRE2_NO_UTF_CHECK, md, NULL);
    if (rc < 0) return 0;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    uint32_t npairs = pcre2_get_ovector_count(md);
    if (mstart) *mstart = ov[0];
    if (mend) *mend = ov[1];
    for (size_t k = 0; k < r->nlines; k++) {
        uint32_t g = (uint32_t)r->groups[k];
        if (g < npairs && g < (uint32_t)rc && ov[2 * g] != PCRE2_UNSET) return r->lines[k];
    }
    return r->line;
}

static char *ascii_lower_copy(const char *s, size_t *len)
{
    *len = s ? strlen(s) : 0;
    char *o = malloc(*len + 1);
    if (!o) return NULL;
    for (size_t i = 0; i < *len; i++) o[i] = (char)tolower((unsigned char)s[i]);
    o[*len] = '\0';
    return o;
}

/* s (NULL: "") ASCII-lowercased into buf when it fits, else into a malloc'ed
 * copy (*own, to free); *high: s has a byte >= 0x80.  NULL: out of memory. */
static char *lower_into(const char *s, size_t *len, char *buf, size_t cap, char **own, int *high)
{
    *len = s ? strlen(s) : 0;
    *own = NULL;
    char *o = buf;
    if (*len >= cap && !(o = *own = malloc(*len + 1))) return NULL;
    unsigned char any = 0;
    size_t i = 0;
    const uint64_t h = 0x8080808080808080ull;
    for (; i + 8 <= *len; i += 8) {   /* eight ASCII bytes at a time: 'A'..'Z' get 0x20 */
        uint64_t x;
        memcpy(&x, s + i, 8);
        if (x & h) break;
        uint64_t ge_a = x + 0x3f3f3f3f3f3f3f3full, gt_z = x + 0x2525252525252525ull;   /* no carries: bytes < 0x80 */
        x |= ((ge_a & ~gt_z) & h) >> 2;
        memcpy(o + i, &x, 8);
    }
    for (; i < *len; i++) {
        unsigned char c = (unsigned char)s[i];
        any |= c;
        o[i] = (char)((unsigned)(c - 'A') < 26u ? c | 0x20 : c);
    }
    o[*len] = '\0';
    *high = any >= 0x80;
    return o;
}

static const char *valid_utf8(const char *s, char **owned)
{
    *owned = NULL;
    if (!s || g_utf8_validate(s, -1, NULL)) return s;
    *owned = g_utf8_make_valid(s, -1);
    return *owned;
}

/* Walk the table (strongest evidence first); fill up to max hits, stop at
 * the first when max is 1.  Returns the number of hits. */
static size_t walk(const rb_rules *rs, const rb_record *rec, const char *subject, rb_rule_hit *hits, size_t max)
{
    if (!rs || !max) return 0;
    pcre2_match_data *md = NULL;
    size_t nhit = 0;
    char *own_d = NULL, *own_s = NULL, *own_dl = NULL, *own_sl = NULL;
    const char *diag = rec->diagnostic;
    size_t dlen, slen;
    int dhigh, shigh;
    /* lowercased on the stack; a text with non-ASCII bytes is checked for
     * UTF-8 (and lowercased again if it had to be made valid) */
    char dbuf[1024], sbuf[512];
    char *dlow = lower_into(diag, &dlen, dbuf, sizeof dbuf, &own_dl, &dhigh);
    char *slow = lower_into(subject, &slen, sbuf, sizeof sbuf, &own_sl, &shigh);
    if (dlow && dhigh && (diag = valid_utf8(diag, &own_d)) != rec->diagnostic) {
        free(own_dl);
        dlow = lower_into(diag, &dlen, dbuf, sizeof dbuf, &own_dl, &dhigh);
    }
    if (slow && shigh) {
        const char *orig = subject;
        if ((subject = valid_utf8(subject, &own_s)) != orig) {
            free(own_sl);
            slow = lower_into(subject, &slen, sbuf, sizeof sbuf, &own_sl, &shigh);
        }
    }
    uint8_t stackc[2 * 1024];
    uint8_t *dcand = rs->n <= 1024 ? stackc : calloc(2 * rs->n, 1);
    if (!dcand) goto out;
    uint8_t *scand = dcand + rs->n;
    memset(dcand, 0, 2 * rs->n);
    int scand_done = 0;
    if (dlow) mark_candidates(rs, dlow, dlen, dcand);
    for (size_t i = 0; i < rs->n && nhit < max; i++) {
        const rule *r = &rs->v[i];
        if (r->in == IN_DIAG && filtered(r) && !dcand[i]) continue;
        if (!list_match(r->status, &r->st, rec->status)) continue;
        if (!list_match(r->reply, &r->rp, rec->reply_code)) continue;
        if (!list_match(r->command, &r->cm, rec->smtp_command)) continue;
        if (!list_match(r->vendor, &r->vd, rec->decoded_by)) continue;
        int line = r->line, in_subject = 0;
        size_t ms = 0, me = 0;
        if (r->re) {
            if (!md && !(md = pcre2_match_data_create(rs->maxcap, NULL))) break;
            line = 0;
            if ((r->in == IN_DIAG || r->in == IN_ANY) && dlow) line = re_match(r, md, diag, dlen, dcand[i], &ms, &me);
            if (!line && (r->in == IN_SUBJECT || r->in == IN_ANY) && slow) {
                if (!scand_done) { mark_candidates(rs, slow, slen, scand); scand_done = 1; }
                line = re_match(r, md, subject, slen, scand[i], &ms, &me);
                in_subject = line != 0;
            }
            if (!line) continue;
        }
        rb_rule_hit *h = &hits[nhit++];
        memset(h, 0, sizeof *h);
        h->reason = r->reason;
        h->evidence = r->evidence;
        h->file = rs->files[r->file];
        h->line = line;
        h->in_subject = in_subject;
        if (r->re) {
            const char *t = in_subject ? subject : diag;
            size_t n = me > ms ? me - ms : 0;
            rb_strlcpyn(h->matched, t + ms, n, sizeof h->matched);
        }
    }
    if (dcand != stackc) free(dcand);
out:
    if (md) pcre2_match_data_free(md);
    g_free(own_d);
    g_free(own_s);
    free(own_dl);
    free(own_sl);
    return nhit;
}

int rb_rules_match(const rb_rules *rs, const rb_record *rec, const char *subject, rb_rule_hit *hit)
{
    return walk(rs, rec, subject, hit, 1) == 1;
}

size_t rb_rules_explain(const rb_rules *rs, const rb_record *rec, const char *subject, rb_rule_hit *hits, size_t max)
{
    return walk(rs, rec, subject, hits, max);
}

void rb_rule_hit_where(const rb_rule_hit *h, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s:%d", h->file ? h->file : "?", h->line);
}

/* ---- checks for the tests -------------------------------------------------------- */
size_t rb__rules_unfiltered(const rb_rules *rs, char *out, size_t outlen)
{
    size_t n = 0, o = 0;
    if (outlen) out[0] = '\0';
    for (size_t i = 0; i < rs->n; i++) {
        const rule *r = &rs->v[i];
        if (!r->re || (r->nlit && !r->nofilter)) continue;
        n++;
        if (o < outlen) o += (size_t)snprintf(out + o, outlen - o, "%s%s:%d", o ? " " : "", rs->files[r->file], r->line);
    }
    return n;
}

int rb__rules_prefilter_sound(const rb_rules *rs, const char *text, char *why, size_t whylen)
{
    size_t len;
    char *low = ascii_lower_copy(text, &len);
    uint8_t *cand = calloc(rs->n ? rs->n : 1, 1);
    pcre2_match_data *md = pcre2_match_data_create(rs->maxcap, NULL);
    int ok = 1;
    if (low && cand) mark_candidates(rs, low, len, cand);
    for (size_t i = 0; low && cand && md && ok && i < rs->n; i++) {
        const rule *r = &rs->v[i];
        if (!r->re) continue;
        int full = pcre2_match(r->re, (PCRE2_SPTR)text, len, 0, 0, md, NULL) >= 0;
        int through = re_match(r, md, text, len, cand[i], NULL, NULL) != 0;
        if (full && !through) {
            snprintf(why, whylen, "%s:%d matches \"%.200s\" but its prefilter says no", rs->files[r->file], r->line, text);
            ok = 0;
        }
    }
    pcre2_match_data_free(md);
    free(cand);
    free(low);
    return ok;
}
