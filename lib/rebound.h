/* rebound.h -- public interface of librebound, the bounce analysis library.
 *
 * The library never prints and never exits.  Every function that can fail
 * returns an rb_status and fills an rb_error with a message naming what
 * failed (file, position, reason).  There is no global mutable state: all
 * configuration lives in an rb_ctx that callers create and pass around; an
 * rb_ctx is read-only after creation and may be shared between threads.
 */
#ifndef REBOUND_H
#define REBOUND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define REBOUND_VERSION "0.1.0"

typedef enum {
    RB_OK = 0,
    RB_ERR_IO,        /* a file could not be opened / read / written */
    RB_ERR_PARSE,     /* input is malformed beyond recovery */
    RB_ERR_CONFIG,    /* a rules / policy file is wrong */
    RB_ERR_NOMEM,
    RB_ERR_EMPTY,     /* input holds nothing to analyse (0-byte file, ...) */
    RB_ERR_ARG,       /* caller error */
    RB_ERR_DB,        /* store failure */
    RB_ERR_NOSTORE,   /* the store does not exist (and was not to be created) */
} rb_status;

typedef struct {
    char msg[512];
} rb_error;

/* Field sizes are bounds, Postfix style: longer values are truncated. */
#define RB_ADDR_MAX   320
#define RB_TEXT_MAX   1024
#define RB_HOST_MAX   256
#define RB_SHORT_MAX  64
#define RB_SOURCE_MAX 1024

/* One failed (or reported) recipient: the unit every consumer works on. */
typedef struct {
    char source[RB_SOURCE_MAX];        /* path; path#N for the Nth message of an mbox */
    char recipient[RB_ADDR_MAX];
    char reason[RB_SHORT_MAX];         /* Sisimai vocabulary */
    char status[RB_SHORT_MAX];         /* DSN status, e.g. 5.1.10 */
    char reply_code[8];                /* 550, empty if none */
    char bounce_type[RB_SHORT_MAX];    /* hard soft blocked complaint none */
    char action[RB_SHORT_MAX];         /* policy action: disable count ignore ... */
    char diagnostic[RB_TEXT_MAX];      /* remote server's text, one line */
    char remote_mta[RB_HOST_MAX];
    char reporting_mta[RB_HOST_MAX];
    char provider[RB_SHORT_MAX];
    char feedback_type[RB_SHORT_MAX];
    char addresser[RB_ADDR_MAX];       /* original sender / return path */
    char original_message_id[RB_HOST_MAX];
    char original_subject[RB_HOST_MAX];
    char date[RB_SHORT_MAX];           /* ISO 8601 UTC */
    char decoded_by[RB_SHORT_MAX];     /* format module */
    char smtp_command[16];             /* RCPT DATA MAIL CONN ... */
    char dsn_action[RB_SHORT_MAX];     /* failed delayed delivered relayed expanded */
    char original_recipient[RB_ADDR_MAX]; /* ORCPT / Original-Recipient: the address subscribed */
    char evidence[16];                 /* what the reason rests on: vendor phrase status reply class none */
    char rule[RB_HOST_MAX];            /* the rule that gave the reason: file:line, or module:NAME */
    char provider_source[RB_SHORT_MAX]; /* where provider came from: relay ndr domain api mx */
    char alert[RB_SHORT_MAX];          /* "", backscatter, compromised_account */
    char account[RB_ADDR_MAX];         /* with compromised_account: our account the mail was sent through */
} rb_record;

/* How strong the evidence for a reason is, weakest first
 * (docs/rules-format.md): a rule's evidence decides its precedence, and
 * the policy disables a contact only on strong enough evidence. */
typedef enum { RB_EV_NONE = 0, RB_EV_CLASS, RB_EV_REPLY, RB_EV_STATUS, RB_EV_PHRASE, RB_EV_VENDOR } rb_evidence;
const char *rb_evidence_name(int ev);
int rb_evidence_parse(const char *name);   /* -1: not an evidence name */

/* The field names, in output order (JSONL keys, CSV header). */
extern const char *const rb_record_fields[];
size_t rb_record_nfields(void);
const char *rb_record_get(const rb_record *r, size_t field);

/* ---- context: rules + policy + providers, compiled once ---------------- */
typedef struct rb_ctx rb_ctx;

typedef struct {
    const char *rules_path;     /* NULL: rules.conf in datadir */
    const char *policy_path;    /* NULL: policy.conf in datadir */
    const char *providers_path; /* NULL: providers.conf in datadir */
    const char *datadir;        /* NULL or "": rb_default_datadir() */
} rb_ctx_opts;

rb_status rb_ctx_new(const rb_ctx_opts *opts, rb_ctx **out, rb_error *err);
void rb_ctx_free(rb_ctx *ctx);

/* The data directory compiled in (where rules.conf etc. are installed).
 * The library reads no environment: a program that lets the user choose
 * another passes it as rb_ctx_opts.datadir. */
const char *rb_default_datadir(void);

/* ---- analysis of one message -------------------------------------------- */
typedef struct {
    rb_record *recs;
    size_t n, cap;
    int is_bounce;              /* 0: not a bounce (no records unless --all) */
    int filtered;               /* 1: left out by rb_analyze_opts filters */
    char note[256];             /* why not a bounce / a parse warning */
    char subject[RB_HOST_MAX];  /* the bounce's own Subject (for rb_explain) */
    size_t dropped;             /* recipients left out: unusable address or over the cap */
    char warning[512];          /* what was left out, for the caller to print */
} rb_result;

void rb_result_init(rb_result *res);
void rb_result_clear(rb_result *res);    /* keeps capacity */
void rb_result_free(rb_result *res);
/* Append an empty record and return it (NULL on OOM or past RB_RESULT_CAP). */
#define RB_RESULT_CAP 100000
rb_record *rb_result_add(rb_result *res);

/* Optional filters: a message is analysed only if its Subject contains one
 * of subject_contains (case-insensitive) and its decoded text contains one
 * of body_contains (case-insensitive; typographic apostrophes match ').
 * Empty lists do not filter. */
typedef struct {
    const char *const *subject_contains;
    size_t nsubject;
    const char *const *body_contains;
    size_t nbody;
} rb_analyze_opts;

/* Analyse one raw RFC 5322 message (any line endings).  `source` is copied
 * into every record.  Returns RB_OK also for non-bounces (res->is_bounce=0)
 * and for messages the filters leave out (res->filtered=1); an error only
 * for input that cannot be read as a message at all.  opts may be NULL. */
rb_status rb_analyze_message(const rb_ctx *ctx, const char *data, size_t len,
                             const char *source, const rb_analyze_opts *opts,
                             rb_result *res, rb_error *err);

/* ---- reading messages from mboxes, Maildirs, folders, files, stdin ------ */
typedef struct rb_reader rb_reader;

typedef struct {
    char *data;           /* owned by the reader until the next call */
    size_t len;
    char source[RB_SOURCE_MAX];
    uint64_t offset;      /* byte offset of the message in its file */
} rb_rawmsg;

/* paths: files, directories (recursively; Maildir cur/ new/ ), "-" = stdin.
 * .gz files are decompressed transparently. */
rb_status rb_reader_open(const char *const *paths, size_t npaths,
                         rb_reader **out, rb_error *err);
/* Returns 1 and fills msg; 0 at end; -1 on an error for one input (err set;
 * the caller may report it and call again to go on with the next input). */
int rb_reader_next(rb_reader *rd, rb_rawmsg *msg, rb_error *err);
/* The same as rb_reader_next, for a message the caller will not read: only
 * its length is returned (*len; 0 unless 1 is returned). */
int rb_reader_skip(rb_reader *rd, size_t *len, rb_error *err);
void rb_reader_free(rb_reader *rd);
/* Bytes of input consumed so far and in all (file sizes as stored, so a
 * .gz counts compressed); total is 0 when unknown (stdin). */
void rb_reader_progress(const rb_reader *rd, uint64_t *done, uint64_t *total);

/* ---- output ------------------------------------------------------------- */
typedef enum { RB_FMT_JSONL, RB_FMT_CSV, RB_FMT_TABLE } rb_format;

/* The growable byte buffer (text.c): always NUL-terminated once written
 * to; the functions that allocate return 0, or -1 when memory ran out. */
typedef struct {
    char *buf;
    size_t len, cap;
} rb_buf;
void rb_buf_init(rb_buf *b);
void rb_buf_free(rb_buf *b);
int rb_buf_reserve(rb_buf *b, size_t n);        /* room for n more bytes and the NUL */
int rb_buf_append(rb_buf *b, const char *s, size_t n);
int rb_buf_puts(rb_buf *b, const char *s);
/* s as a JSON string: quoted, escaped (controls and DEL as \u00XX),
 * invalid UTF-8 as U+FFFD. */
int rb_json_str(rb_buf *b, const char *s);
/* s as one RFC 4180 CSV field (quoted only when it must be). */
int rb_csv_field(rb_buf *b, const char *s);
/* A diagnostic text with each address masked ("<address>") and white space
 * collapsed, into out (text.c): what the report groups diagnostics by. */
void rb_mask_addresses(const char *in, char *out, size_t outlen);

/* Append one record in the given format. */

int rb_record_to_jsonl(const rb_record *r, rb_buf *out);
int rb_record_to_csv(const rb_record *r, rb_buf *out);
int rb_csv_header(rb_buf *out);

/* ---- classification ------------------------------------------------------ */
/* Fill reason (if empty), bounce_type and action of a record from the
 * context's rules and policy.  When the rules give the reason, evidence
 * and rule say what it rests on. */
void rb_classify(const rb_ctx *ctx, rb_record *r);

/* One rule that matched a record (rb_explain). */
typedef struct {
    const char *reason;
    int evidence;               /* rb_evidence */
    const char *file;           /* the rules file, relative to the main one's folder */
    int line;
    int in_subject;             /* matched the Subject, not the diagnostic */
    char matched[256];          /* the text the pattern matched ("" for a rule without one) */
} rb_rule_hit;

/* Every rule that matches the record, in precedence order (the first is
 * the one rb_classify uses); subject may be NULL.  Returns the number of
 * hits (at most max). */
size_t rb_explain(const rb_ctx *ctx, const rb_record *r, const char *subject, rb_rule_hit *hits, size_t max);
void rb_rule_hit_where(const rb_rule_hit *h, char *out, size_t outlen);   /* "file:line" */

typedef struct {
    char bounce_type[RB_SHORT_MAX];
    char action[RB_SHORT_MAX];
} rb_policy_entry;
/* Fills out; returns 1 when the policy table names the reason, 0 when its
 * `*` default applied (an unknown reason). */
int rb_policy_lookup(const rb_ctx *ctx, const char *reason, rb_policy_entry *out);

/* The policy for one record: as rb_policy_lookup for its reason, except
 * that a delay (dsn_action "delayed": a deferral in the Postfix log, a
 * "delivery delayed" warning) is not a bounce yet -- the sender is still
 * retrying and will report the final failure or expiry -- so it is at most
 * soft and only recorded: never counted, never disabling.  A record with an
 * alert (backscatter, compromised_account: rebound_guard.h) is only
 * recorded too. */
int rb_policy_for_record(const rb_ctx *ctx, const rb_record *r, rb_policy_entry *out);

/* Policy thresholds (apply uses them) */
typedef struct {
    int soft_threshold;        /* soft bounces ... */
    int soft_window_days;      /* ... within this many days disable */
    int quarantine_days;
    int mailboxfull_is_hard;
    int disable_min_evidence;            /* rb_evidence: weaker never disables */
    int disable_min_evidence_plaintext;  /* the same for free-text bounces (no report) */
    int temporary_is_soft;               /* a 4.x.x status is never hard */
} rb_policy_settings;
const rb_policy_settings *rb_policy_get_settings(const rb_ctx *ctx);

/* ---- small helpers ---- */
/* strlcpy: copy with truncation, always NUL-terminated; returns strlen(src). */
size_t rb_strlcpy(char *dst, const char *src, size_t size);
/* A URL or connection string fit to show: the password of
 * scheme://user:password@host masked as ***, and so is every password=...
 * value.  Built in one pass into out: a truncated result keeps no part of a
 * secret. */
void rb_mask_url(const char *url, char *out, size_t outlen);

/* ---- time (time.c) ---------------------------------------------------------- */
/* Parse a record date: ISO 8601 / RFC 3339 (with Z or an offset, 'T' or a
 * space), a plain date, or an RFC 5322 date.  Returns 1 and sets *t
 * (seconds since the epoch). */
int rb_time_parse(const char *s, int64_t *t);
/* t as ISO 8601 UTC, "YYYY-MM-DDTHH:MM:SSZ" (21 bytes with the NUL).
 * Returns 1; 0 with out "" when len < 21 or the year is not 0000-9999. */
int rb_time_format_iso(int64_t t, char *out, size_t len);

/* ---- VERP ---------------------------------------------------------------- */
/* Decode list+user=example.com@domain into user@example.com.  Returns 1 if
 * the address was a VERP address and out was filled. */
int rb_verp_decode(const char *addr, char *out, size_t outlen);
int rb_verp_encode(const char *prefix_local, const char *domain,
                   const char *recipient, char *out, size_t outlen);

#ifdef __cplusplus
}
#endif
#endif
