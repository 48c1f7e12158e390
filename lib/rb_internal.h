/* rb_internal.h -- what the library's modules share; not installed.
 *
 * A bounce is read once with GMime into an rb_msg: the top-level headers,
 * the decoded human-readable text ("body", LF line endings, UTF-8), the
 * machine-readable delivery-status fields, the ARF feedback fields, and the
 * headers of the returned original message.  Format modules (lhost_*.c)
 * look at that view and fill rb_record entries; analyze.c then completes
 * and classifies them.
 */
#ifndef RB_INTERNAL_H
#define RB_INTERNAL_H

#include <gmime/gmime.h>
#include <stdarg.h>
#include <stdio.h>
#include "rebound.h"

/* ---- small string helpers (util.c) ------------------------------------- */
size_t rb_strlcpy(char *dst, const char *src, size_t size);
size_t rb_strlcpyn(char *dst, const char *src, size_t n, size_t size);
void rb_seterr(rb_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int rb_strcaseprefix(const char *s, const char *prefix);      /* 1 if s starts with prefix */
const char *rb_strcasestr(const char *hay, const char *needle);
const char *rb_strcasestrn(const char *hay, size_t len, const char *needle);
/* Data-file comments: '#' at the start of a line or after a space or tab
 * starts one, anywhere else it is text.  Its offset in [line, line+n), or n. */
size_t rb_comment_at(const char *line, size_t n);

/* The one reader of data files (rules, policy, providers):
 *
 *     rb_conf c;
 *     if ((st = rb_conf_open(&c, path, "policy", 0, err)) != RB_OK) return st;
 *     while (rb_conf_next(&c))
 *         if (c.line[0]) ... c.line, c.lineno for messages ...
 *     rb_conf_close(&c);
 *
 * Each line comes without its line end and its comment, trimmed.  With
 * patterns (rules files), the comment scan stops at "~ " at the start or
 * " ~ ": the pattern after it runs to the end of the line. */
typedef struct {
    FILE *f;
    const char *path;
    char *line;          /* the current line */
    size_t cap;
    int lineno;          /* 1-based, of the current line */
    int patterns;
} rb_conf;
rb_status rb_conf_open(rb_conf *c, const char *path, const char *what, int patterns, rb_error *err);
int rb_conf_next(rb_conf *c);            /* 1: c->line holds the next line; 0: the end */
void rb_conf_close(rb_conf *c);
int rb_is_blank(const char *s, size_t n);                    /* only whitespace (or empty) */
char *rb_trim(char *s);                                       /* in place, returns s */
void rb_lower(char *s);
/* collapse runs of whitespace (incl. newlines) into one space, trim */
void rb_squeeze(char *s);
/* Find the first thing that looks like an e-mail address in s; copy the
 * bare address (no <>, no mailto:) to out.  Returns pointer just after it in
 * s, or NULL. */
const char *rb_find_address(const char *s, char *out, size_t outlen);
/* Clean an address-ish string in place: strip rfc822; <> quotes, mailto:,
 * trailing dots.  Returns 1 if the result looks like local@domain. */
int rb_clean_address(char *addr);
/* Extract a DSN status code (x.y.z) from text; returns 1 and fills out. */
int rb_find_status(const char *text, char *out, size_t outlen);
/* Extract an SMTP reply code (2xx-5xx) from text; returns 1 and fills out. */
int rb_find_reply(const char *text, char *out, size_t outlen);
/* Find the SMTP command named in text ("in reply to RCPT TO command"). */
int rb_find_command(const char *text, char *out, size_t outlen);

/* ---- UTF-8 (util.c; GLib's checks, a NUL byte counted valid) ------------- */
/* Length of the valid sequence at p (n bytes available), 0 if invalid. */
size_t rb_utf8_seq(const char *p, size_t n);
/* text.c: [s, s+n) as a JSON string (as rb_json_str) */
int rb_json_strn(rb_buf *b, const char *s, size_t n);
/* "key":"value" at o, with room for klen + 4 + vlen * 6 + 2 bytes; returns the end */
char *rb_json_put_member(char *o, const char *key, size_t klen, const char *val, size_t vlen);
/* "value" at o, with room for vlen * 6 + 2 bytes; returns the end */
char *rb_json_put_str(char *o, const char *val, size_t vlen);
int rb_csv_row(rb_buf *b, const char *const *vals, size_t n);   /* one CSV row and CRLF */
/* Offset of the first invalid sequence in [s, s+n), or -1. */
long rb_utf8_invalid_at(const char *s, size_t n);

/* ---- DSN / header-style field lists ------------------------------------- */
typedef struct {
    char *name;     /* as written */
    char *value;    /* unfolded */
} rb_field;

typedef struct {
    rb_field *v;
    size_t n, cap;
} rb_fields;

void rb_fields_free(rb_fields *f);
int rb_fields_add(rb_fields *f, const char *name, size_t nlen, const char *value, size_t vlen);
const char *rb_fields_get(const rb_fields *f, const char *name);   /* case-insensitive, first */

/* Parse "Name: value" lines (with folding) from text into groups separated
 * by blank lines.  groups[0] is the first group.  Returns number of groups. */
size_t rb_parse_field_groups(const char *text, size_t len, rb_fields **groups);

/* ---- the message view ---------------------------------------------------- */
/* One header field, pointing into the message's private copy. */
typedef struct {
    const char *name;   /* field name as written (not NUL-terminated) */
    size_t nlen;
    const char *val;    /* raw value after the colon, folding included */
    size_t vlen;
    const char *dec;    /* decoded, unfolded value once asked for (pool) */
} rb_hdr;

typedef struct rb_msg {
    const rb_ctx *ctx;
    char *raw;               /* private copy of the message (LF or CRLF) */
    size_t raw_len;
    rb_hdr *hdrs;            /* top-level header fields, in order */
    size_t nhdrs;
    uint64_t hdr_bits;       /* a bit per (length, first letter) of a field name present */

    /* decoded top-level headers; "" when absent */
    const char *from;        /* full From: text */
    const char *from_addr;   /* bare address of From: */
    const char *subject;
    const char *to;
    const char *date;
    const char *message_id;
    const char *content_type;    /* top-level mime type, lowercased "type/subtype" */
    const char *report_type;     /* report-type= parameter, lowercased */

    /* decoded text parts, LF line endings */
    char *body;
    size_t body_len;
    char *html;                  /* decoded text of text/html parts, tags kept: read it through
                                  * rb_msg_html (decoded when first asked for) */
    size_t html_len;
    GArray *html_parts;          /* the text/html parts not decoded yet, in order */

    /* machine-readable parts */
    rb_fields *ds;               /* message/delivery-status groups; ds[0] per-message */
    size_t nds;
    rb_fields *fb;               /* message/feedback-report groups */
    size_t nfb;

    /* returned original message */
    char *orig;                  /* its header block (raw text, LF) */
    size_t orig_len;
    const char *attached;        /* raw text of the first message/rfc822 part */
    size_t attached_len;
    const char *prologue;        /* top-level multipart preamble (raw), or NULL */
    size_t prologue_len;

    /* scratch strings live as long as the rb_msg */
    GStringChunk *pool;
} rb_msg;

/* Top-level header, decoded (RFC 2047) and unfolded; NULL when absent. */
const char *rb_msg_header(rb_msg *m, const char *name);
/* Does any top-level header called name contain needle (raw value,
 * case-insensitive)?  For fields like Received: that need no decoding. */
int rb_msg_header_contains(rb_msg *m, const char *name, const char *needle);
/* The decoded text of the message's text/html parts (tags kept), "" when
 * none; decoded on the first call (most analyses never need it). */
const char *rb_msg_html(rb_msg *m, size_t *len);
/* Header from the original message's header block; NULL when absent. */
const char *rb_msg_orig_header(rb_msg *m, const char *name);
/* Set orig from a text: everything from `start` (a header block that ends
 * at the first blank line). */
void rb_msg_set_orig(rb_msg *m, const char *start, size_t len);

/* ---- format modules -------------------------------------------------------- */
/* A module looks at the message and appends one rb_record per recipient it
 * finds (only the fields it knows; analyze.c completes the rest).  It returns
 * the number of records appended; 0 means "not mine". */
typedef int (*rb_lhost_fn)(rb_msg *m, rb_result *res);

typedef struct {
    const char *name;          /* decoded_by */
    rb_lhost_fn parse;
} rb_lhost;

/* Module tables, in the order they are tried; each ends with {NULL, NULL}.
 * lhost_mta.c: classic MTAs; lhost_cloud.c: mailbox providers and
 * gateways; lhost_misc.c: everything else. */
extern const rb_lhost rb_lhost_mta[];
extern const rb_lhost rb_lhost_cloud[];
extern const rb_lhost rb_lhost_misc[];


/* Generic parsers usable by modules */
int rb_parse_rfc3464(rb_msg *m, rb_result *res);      /* delivery-status fields */
int rb_parse_arf(rb_msg *m, rb_result *res);          /* feedback-report */
int rb_parse_rfc3834(rb_msg *m, rb_result *res);      /* auto-replies */
int rb_parse_fallback(rb_msg *m, rb_result *res);     /* free text scan */
/* From, Return-Path, Subject or a delivery-status part say "bounce". */
int rb_msg_looks_like_bounce(rb_msg *m);

/* Fill one record from a per-recipient DSN field group (Final-Recipient,
 * Status, Diagnostic-Code, Remote-MTA, Action, ...).  Returns 1 if it has a
 * recipient. */
int rb_record_from_dsfields(const rb_fields *g, const rb_fields *msgfields, rb_record *r);

/* Body line iteration: next line of text starting at *pos (advanced); the
 * line (without '\n') is [*line, *line+*len). Returns 0 at the end. */
int rb_next_line(const char *text, size_t textlen, size_t *pos, const char **line, size_t *len);

/* Does this text look like the start of the returned message's headers
 * (e.g. a line "Received:" / "Return-Path:" / "From:")?  Used to stop scans. */
int rb_looks_like_header_line(const char *line, size_t len);

/* ---- rules / policy / providers (rules.c, policy.c, provider.c) ------------ */
typedef struct rb_rules rb_rules;
rb_status rb_rules_load(const char *path, rb_rules **out, rb_error *err);
void rb_rules_free(rb_rules *r);
/* The winning rule for the record (strongest evidence, then earliest line):
 * 1 and hit filled, or 0 when no rule matches. */
int rb_rules_match(const rb_rules *rules, const rb_record *r, const char *subject, rb_rule_hit *hit);
size_t rb_rules_explain(const rb_rules *rs, const rb_record *rec, const char *subject, rb_rule_hit *hits, size_t max);
/* For the tests: the pattern rules without a literal prefilter (count, and
 * their file:line in out), and whether the prefilter lets through every
 * rule whose regex matches text (0 and why filled when not). */
size_t rb__rules_unfiltered(const rb_rules *rs, char *out, size_t outlen);
int rb__rules_prefilter_sound(const rb_rules *rs, const char *text, char *why, size_t whylen);

typedef struct rb_policy rb_policy;
rb_status rb_policy_load(const char *path, rb_policy **out, rb_error *err);
void rb_policy_free(rb_policy *p);

typedef struct rb_providers rb_providers;
rb_status rb_providers_load(const char *path, rb_providers **out, rb_error *err);
void rb_providers_free(rb_providers *p);

struct rb_ctx {
    rb_rules *rules;
    rb_policy *policy;
    rb_providers *providers;
    /* Converters from charsets common in bounces, held open for the life
     * of the context and never used: while one is open, glibc keeps its
     * gconv module loaded, so converting a message does not dlopen() and
     * dlclose() it each time. */
    void *iconv_keep[24];
    size_t niconv_keep;
};

/* policy internals used by rb_ctx */
const char *rb_policy_lookup_raw(const rb_policy *p, const char *reason,
                                 const char **action);
const rb_policy_settings *rb_policy_settings_of(const rb_policy *p);
const char *rb_policy_lookup_known(const rb_policy *p, const char *reason, const char **action, int *named);
/* The provider by the remote host, else by the recipient's domain: returns
 * RB_PSRC_HOST or RB_PSRC_DOMAIN for the rule that matched, 0 (out "") for
 * none.  rb_providers_host: by a host name only. */
enum { RB_PSRC_NONE = 0, RB_PSRC_HOST = 1, RB_PSRC_DOMAIN = 2 };
int rb_providers_guess(const rb_providers *p, const char *remote_host,
                       const char *recipient, char *out, size_t outlen);
int rb_providers_host(const rb_providers *p, const char *host, char *out, size_t outlen);

/* mx.c: the provider of domain's MX hosts into out: 1 found, 0 none (or a
 * temporary DNS failure), -1 a store error.  write: keep new answers in
 * the store's mx_cache (a committing run). */
struct rb_mx;
struct rb_store;
int rb_mx_provider(struct rb_mx *mx, struct rb_store *st, const rb_providers *pv, const char *domain, int write,
                   int64_t now, char *out, size_t outlen, rb_error *err);

/* csv.c's raw line access, for recin.c's JSONL reading: the first byte that
 * is not blank (-1 at the end), and the next whole line. */
struct rb_csv;
int rb__csv_peek(struct rb_csv *c, rb_error *err);
int rb__csv_line(struct rb_csv *c, char **text, size_t *len, unsigned long *line, rb_error *err);

/* Records with extra fields after the standard ones (maillog's); xlens:
 * the values' lengths (need not be NUL-terminated then), or NULL for
 * NUL-terminated values. */
int rb_record_to_jsonl_ext(const rb_record *r, const char *const *xnames, const char *const *xvals,
                           const size_t *xlens, size_t nx, rb_buf *out);
int rb_record_to_csv_ext(const rb_record *r, const char *const *xvals, size_t nx, rb_buf *out);
int rb_csv_header_ext(const char *const *xnames, size_t nx, rb_buf *out);

/* Note a recipient left out (unusable address, over a cap): counts it in
 * res->dropped and keeps the first message in res->warning. */
void rb_result_warn(rb_result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Case-insensitive substring test that also folds U+2018/U+2019 to '
 * (analyze.c, for --subject-contains and --body-contains). */
int rb_text_contains(const char *hay, size_t len, const char *needle);

/* ---- classification (classify.c) ------------------------------------------ */
/* The reason of a record by the rules alone (reason, evidence, rule;
 * "undefined" with evidence none when no rule matches). */
void rb_classify_reason(const rb_ctx *ctx, rb_record *r, const char *subject);
/* rb_classify with the message's subject for the rules that look at it. */
void rb_classify_subject(const rb_ctx *ctx, rb_record *r, const char *subject);

/* ---- time (time.c; rb_time_parse and rb_time_format_iso in rebound.h) ---- */
/* Days since 1970-01-01 of a proleptic Gregorian date (m 1-12, d 1-31). */
int64_t rb_days_from_civil(int64_t y, unsigned m, unsigned d);
/* t as "YYYY-MM-DD"; 1, or 0 with out "" when out of range or len < 11. */
int rb_time_format_date(int64_t t, char *out, size_t len);
/* An RFC 5322 date text as ISO 8601 UTC (GMime's parser).  1 on success. */
int rb_time_rfc5322_to_iso(const char *text, char *out, size_t outlen);

/* share/api_request.c: a reported status's name (rebound_api.h RB_API_*), "?" if none */
const char *rb__api_status_name(int s);

#endif
