/* rebound_maillog.h -- reading Postfix logs: lines, queue-ID correlation,
 * delivery-attempt records, and the incremental state of a log set.
 *
 * A Postfix log tells, per queue ID: the Message-ID (cleanup), the sender
 * (qmgr from=, often a VERP address), and one line per delivery attempt per
 * recipient (smtp/lmtp/local/virtual/pipe/error/retry: to=, orig_to=, relay=,
 * delay=, delays=, dsn=, status=sent|deferred|bounced|expired|undeliverable
 * and the remote's text).  rb_maillog turns each attempt into a record in
 * the format rebound analyze writes (plus queue ID, attempt status, relay,
 * delay), classified by the same rules and policy, so that apply takes both.
 * Memory is bounded by the queue IDs open at once, not by the log's size.
 *
 * smtpd's "QID: client=NAME[ADDR], sasl_method=M, sasl_username=U" (the
 * order Postfix's smtpd.c logs them in; sasl_sender= and orig_queue_id= may
 * follow) gives the account a submission was authenticated by: kept with
 * the queue ID for the compromised-account check (rb_maillog_opts). */
#ifndef REBOUND_MAILLOG_H
#define REBOUND_MAILLOG_H

#include <stddef.h>
#include <stdint.h>

#include "rebound.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RB_QID_MAX 32
#define RB_LOGLINE_MAX 65536   /* longer lines are reported and skipped */

/* ---- one log line ----------------------------------------------------------
 * Timestamps: traditional syslog ("Nov 23 06:25:01", local time, no year:
 * the year is the one that puts the line at or before the reference time,
 * so a December line read in January is last year's), RFC 3339 /
 * high-precision rsyslog ("2026-11-23T06:25:01.123456+01:00") and
 * journalctl -o short-iso ("2026-11-23T06:25:01+0100"). */
typedef struct {
    int64_t t;                       /* seconds since the epoch; 0 if no timestamp */
    const char *host; size_t hostlen;
    const char *prog; size_t proglen;    /* "postfix-out/smtp" */
    size_t instlen;                      /* "postfix-out": up to the first '/' */
    const char *agent; size_t agentlen;  /* "smtp" */
    const char *qid; size_t qidlen;      /* 0 when the line has no queue ID */
    const char *msg; size_t msglen;      /* after "prog[pid]: " and "QID: " */
} rb_logline;

/* Year inference and a cache of local-time conversions. */
typedef struct {
    int64_t reftime;                 /* lines are dated at or before this */
    int ref_year;
    char key[10];                    /* "Nov 23 06" of the cached hour */
    int64_t hour_start;
} rb_logclock;

void rb_logclock_init(rb_logclock *c, int64_t reftime);

/* Parse a line (no newline).  Returns 1 for a Postfix line (a program name
 * "X/agent" with a known Postfix agent), 0 for anything else (other
 * daemons, journal markers, junk); never reads past len. */
int rb_logline_parse(rb_logclock *c, const char *line, size_t len, rb_logline *out);

/* ---- delivery-attempt records --------------------------------------------- */
#define RB_LOGREC_SPANS 14
typedef struct {
    rb_record rec;                   /* recipient = orig_to if given, else to */
    char queue_id[RB_QID_MAX];
    char delivery_status[16];        /* sent deferred bounced expired undeliverable */
    char relay[RB_HOST_MAX];         /* "mx.example.net[192.0.2.1]:25", "none", "local" */
    char delay[24];                  /* seconds, as logged */
    char delays[64];                 /* a/b/c/d */
    char to[RB_ADDR_MAX];            /* the final recipient as logged */
    char instance[RB_SHORT_MAX];     /* "postfix", "postfix-out" */
    char agent[16];
    int64_t t;
    int fin_st;                      /* 1 + status while rb_maillog_finish is pending, else 0 */
    /* while the finish is pending, maybe: the fields as spans of a copy of
     * the line and of the queue entry's message-id and sender copied after it
     * (nspans == RB_LOGREC_SPANS), cleaned up by the finish */
    int nspans;
    /* after rb_maillog_finish_lazy: the fields only written out (the extra
     * fields but delivery_status) are still spans of raw (see there); 2
     * when the line is printable ASCII only (nothing to clean) */
    int lazy;
    uint32_t rawlen;                 /* bytes of the line in raw */
    const char *src;                 /* with the spans: source and line, formatted by the finish */
    uint64_t lineno;
    struct { uint32_t off, len; } span[RB_LOGREC_SPANS];
    char raw[2048];
} rb_logrec;

/* The extra fields of a log record, after analyze's (JSONL keys / CSV). */
extern const char *const rb_logrec_fields[];
size_t rb_logrec_nfields(void);
const char *rb_logrec_get(const rb_logrec *r, size_t field);
int rb_logrec_to_jsonl(const rb_logrec *r, rb_buf *out);
int rb_logrec_to_csv(const rb_logrec *r, rb_buf *out);
int rb_logrec_csv_header(rb_buf *out);

/* ---- the correlator --------------------------------------------------------- */
typedef struct rb_maillog rb_maillog;

/* Called for every attempt; return non-zero to stop. */
typedef int (*rb_logrec_cb)(void *arg, const rb_logrec *r);

/* The compromised-account check (the meaning of rebound_guard.h's alert,
 * read from the log): a message submitted with a SASL login whose domain is
 * one of our_domains (rb_guard_domain_is_ours), and whose envelope sender
 * (qmgr from=, not <>) matches none of the mailing senders and
 *   - is not in our_domains (a stolen login sending as anyone), or
 *   - mailing senders are given (then only they may use our logins)
 * is mail sent through a hijacked account: every attempt of it gets alert
 * "compromised_account" and rb_record.account, and is recorded only (a
 * delivery of it is no send of ours).  No our_domains: no check.  The
 * arrays must outlive the rb_maillog. */
typedef struct {
    int64_t since;                   /* attempts before this are not reported (0: all) */
    const char *const *our_domains;
    size_t n_our_domains;
    const char *const *mailing_senders;   /* rb_maillog_sender_match specs */
    size_t n_mailing_senders;
} rb_maillog_opts;

/* A mailing sender: "addr@domain" (that address), "@domain" (any sender at
 * that domain), or a pattern with one '*' ("bounces+*@news.example", a VERP
 * prefix; "bounce-*": any domain).  ASCII case is ignored.
 * rb_maillog_sender_spec_ok: 1 when spec has one of these forms. */
int rb_maillog_sender_spec_ok(const char *spec);
int rb_maillog_sender_match(const char *spec, const char *addr);

typedef struct {
    uint64_t lines, postfix_lines, attempts, skipped_long, skipped_junk;
    uint64_t by_status[5];           /* sent deferred bounced expired undeliverable */
    uint64_t open_max;               /* most queue IDs open at once */
} rb_maillog_stats;

rb_status rb_maillog_new(const rb_ctx *ctx, const rb_maillog_opts *opts, rb_maillog **out, rb_error *err);
void rb_maillog_free(rb_maillog *m);

/* Feed one line (without its newline).  source/lineno name it in records
 * ("mail.log:1234").  cb may be called zero or more times (an expiry
 * reports every recipient still deferred).  Returns what cb returned last
 * (0 normally). */
int rb_maillog_feed(rb_maillog *m, rb_logclock *clock, const char *line, size_t len, const char *source,
                    uint64_t lineno, rb_logrec_cb cb, void *arg);
/* With rb_maillog_set_defer_finish on, a record's source ("file:line")
 * may be formatted by its finish: `source` must stay valid until then. */
/* Where the next attempt is filled in: lr (its strings are overwritten,
 * never read), or NULL for the correlator's own record.  A callback that
 * hands its record on (to another thread) sets the next one here before it
 * returns; the correlator never touches a record after its callback. */
void rb_maillog_set_rec(rb_maillog *m, rb_logrec *lr);
const rb_maillog_stats *rb_maillog_get_stats(const rb_maillog *m);
/* With on, the callback gets each record before its finish (reply code,
 * command, classification, policy, provider: what is worked out from the
 * record's own fields; for a record carrying a copy of its line, also its
 * fields, source and date), and whoever takes the record calls
 * rb_maillog_finish on it -- e.g. a formatting thread, while the
 * correlator reads on.  The finish uses the handle's caches: call it from
 * one thread at a time; the correlator itself no longer does.  The
 * record's alert is set before; its effect on the action after. */
void rb_maillog_set_defer_finish(rb_maillog *m, int on);
void rb_maillog_finish(rb_maillog *m, rb_logrec *lr);
/* The same, for a record that is only written out next: the fields nothing
 * else reads (queue_id, relay, delay, delays, to, instance, agent) may stay
 * spans of the record's copy of its line, which rb_logrec_to_jsonl and
 * rb_logrec_to_csv clean as they write them (the same bytes as after
 * rb_maillog_finish).  rb_logrec_get does not see them: use
 * rb_maillog_finish on a record that is read field by field. */
void rb_maillog_finish_lazy(rb_maillog *m, rb_logrec *lr);
size_t rb_maillog_open_count(const rb_maillog *m);

/* Queue IDs still open (message-id, sender, SASL login, deferred recipients), as text
 * lines for the state file, and back.  Entries older than max_age seconds
 * before `now` are dropped on save (a queue ID whose "removed" line we
 * never saw). */
rb_status rb_maillog_save_open(const rb_maillog *m, rb_buf *out, int64_t now, int64_t max_age, rb_error *err);
rb_status rb_maillog_load_open(rb_maillog *m, const char *line, rb_error *err);

/* ---- the incremental state of a set of logs ----------------------------------
 * Per log file: the fingerprint of its first line (which survives renaming
 * and compression: mail.log -> mail.log.1 -> mail.log.2.gz), the offset read
 * up to (always after a complete line) and the path/inode last seen. */
typedef struct {
    char fp[24];                     /* hex of a hash of the first line */
    uint64_t offset;                 /* uncompressed bytes read */
    uint64_t inode;
    char path[1024];
} rb_logpos;

typedef struct rb_logstate rb_logstate;
/* A missing file, or path NULL, gives an empty state. */
rb_status rb_logstate_load(const char *path, rb_maillog *m, rb_logstate **out, rb_error *err);
const rb_logpos *rb_logstate_find(const rb_logstate *s, const char *fp);
/* The position a file with this fingerprint was read to in this run (a
 * second copy of the same log: mail.log.1 and mail.log.1.gz), or NULL. */
const rb_logpos *rb_logstate_find_now(const rb_logstate *s, const char *fp);
/* Record how far a file was read this run (the furthest, for two copies). */
rb_status rb_logstate_set(rb_logstate *s, const rb_logpos *pos, rb_error *err);
/* Previous positions whose fingerprint was not seen this run (rotated away). */
size_t rb_logstate_unseen(const rb_logstate *s, const rb_logpos **out, size_t max);
/* Write atomically (temp file + rename): the positions set this run and the open queue IDs. */
rb_status rb_logstate_save(const rb_logstate *s, const char *path, const rb_maillog *m, int64_t now, rb_error *err);
void rb_logstate_free(rb_logstate *s);

/* Order a rotated set oldest first: mail.log.3.gz mail.log.2.gz mail.log.1
 * mail.log (numeric suffixes descending, dated suffixes ascending, the
 * live file last); other names keep their relative order.  Sorts in place. */
void rb_logfiles_sort(const char **paths, size_t n);

/* ---- reading a log file (plain or gzip) line by line -------------------------- */
typedef struct rb_logfile rb_logfile;
/* Opens path; computes its fingerprint; when resume_fp matches, skips to
 * resume_offset (a truncated file, shorter than that, starts over). */
rb_status rb_logfile_open(const char *path, rb_logfile **out, rb_error *err);
const char *rb_logfile_fp(const rb_logfile *f);          /* "" while the first line is incomplete */
uint64_t rb_logfile_inode(const rb_logfile *f);
int rb_logfile_is_live(const rb_logfile *f);              /* not a rotated name (.N, .gz, -date) */
int rb_logfile_name_is_live(const char *path);
rb_status rb_logfile_skip(rb_logfile *f, uint64_t offset, rb_error *err);
/* Next complete line: 1 (line/len set, valid until the next call), 0 at the
 * end (a final line without newline is returned only for rotated files: the
 * live file's partial line is read on the next run), -1 on a read error.
 * Over-long lines are skipped and counted (*skipped_long). */
int rb_logfile_next(rb_logfile *f, const char **line, size_t *len, uint64_t *lineno, uint64_t *skipped_long,
                    rb_error *err);
uint64_t rb_logfile_offset(const rb_logfile *f);          /* after the last complete line returned */
uint64_t rb_logfile_size(const rb_logfile *f);            /* on disk (compressed size for .gz) */
uint64_t rb_logfile_read_bytes(const rb_logfile *f);      /* on-disk bytes consumed so far */
void rb_logfile_close(rb_logfile *f);

#ifdef __cplusplus
}
#endif
#endif
