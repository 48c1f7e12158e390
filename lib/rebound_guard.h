/* rebound_guard.h -- signed VERP return paths and the backscatter guard;
 * public part of librebound.
 *
 * Signed VERP.  A return path of the form
 *     PREFIX-ID-TAG@bounce.domain        e.g. bounce-jan.peeters=example.be-bqx3k7m2a9zd@bounces.example.org
 * names the recipient (ID: the normalised address with '@' written as '=',
 * readable and decodable without a database) and carries TAG: two base32
 * characters for the day it was signed (days since 1970 modulo 1024) and
 * ten base32 characters (50 bits) of HMAC-SHA256(secret, ID and day).  A
 * bounce that comes back to such an address was provoked by a message we
 * really sent to that recipient -- unless the tag does not verify, which
 * only someone without the secret produces.  The token is lower case (MTAs
 * that fold local parts do no harm) and uses only characters every MTA
 * passes unquoted; PREFIX is [a-z0-9._]+ without '-'.
 *
 * The backscatter guard decides, for a bounce that arrived at the catch-all,
 * whether its records may change contacts: see rb_guard_check().
 */
#ifndef REBOUND_GUARD_H
#define REBOUND_GUARD_H

#include <stddef.h>
#include <stdint.h>

#include "rebound.h"
#include "rebound_store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- signed VERP ----------------------------------------------------------- */
#define RB_VERP_KEY_MIN 16          /* bytes of secret at least */
#define RB_VERP_KEY_MAX 1024
#define RB_VERP_TAG_LEN 12          /* 2 day characters + 10 MAC characters */

typedef struct {
    unsigned char key[RB_VERP_KEY_MAX];
    size_t len;
} rb_verp_key;

/* Read a secret from a file: its bytes, trailing white space removed
 * (so `head -c 32 /dev/urandom | base64 > F` works); at least
 * RB_VERP_KEY_MIN bytes. */
rb_status rb_verp_key_load(const char *path, rb_verp_key *key, rb_error *err);
rb_status rb_verp_key_set(rb_verp_key *key, const void *data, size_t len, rb_error *err);

/* HMAC-SHA256 (GLib's GHmac underneath). */
void rb_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len, unsigned char out[32]);

/* PREFIX-ID-TAG@domain for recipient, signed for the day of `now`
 * (seconds; 0 = time(NULL)).  prefix NULL = "bounce". */
rb_status rb_verp_sign(const rb_verp_key *key, const char *prefix, const char *domain, const char *recipient,
                       int64_t now, char *out, size_t outlen, rb_error *err);

typedef enum {
    RB_VERP_NOT_SIGNED = 0,   /* not of the signed form at all */
    RB_VERP_VALID,            /* the tag verifies */
    RB_VERP_FORGED,           /* signed form, the tag does not verify */
    RB_VERP_EXPIRED,          /* the tag verifies but is older than max_age_days */
} rb_verp_check;

/* Check addr (angle brackets allowed).  The recipient the token names is
 * written to recipient (when not NULL) whenever addr has the signed form,
 * whether it verifies or not.  max_age_days 0: tokens never expire; a token
 * dated up to 2 days ahead (clock skew between servers) is accepted. */
int rb_verp_verify(const rb_verp_key *key, const char *addr, int64_t now, int max_age_days, char *recipient,
                   size_t rlen);
/* The recipient a signed-form address names, without checking the tag
 * (rb_verp_decode() calls this first).  Returns 1 if addr has the form. */
int rb_verp_signed_decode(const char *addr, char *recipient, size_t rlen);

/* ---- backscatter guard ---------------------------------------------------------
 * Per record of a bounce:
 *   legitimate   the envelope recipient is a signed return path that
 *                verifies and names this record's recipient, or the
 *                record's original Message-ID is a send to this recipient
 *                in the store's sends table (rebound maillog);
 *   backscatter  strict mode (a VERP secret is configured, or
 *                require_known_send) and not legitimate: no signed return
 *                path, or one whose tag does not verify or has expired, and
 *                no known send;
 *   unknown      lenient mode (no secret, no require_known_send) and no
 *                evidence either way: a fresh install that never ran
 *                maillog must not drop real bounces, so these are applied.
 * The message's verdict: legitimate when some record is, else backscatter
 * when some record is, else unknown.
 *
 * With a valid signed return path the bounce is about the one recipient we
 * sent that message to: records naming other addresses are backscatter,
 * except that when none names it the first record is taken to be about it
 * (a forwarding host reports the address it forwarded to) and its recipient
 * is replaced.  So the holder of one valid return path can affect only the
 * recipient it names. */
typedef enum { RB_GUARD_LEGITIMATE = 0, RB_GUARD_UNKNOWN, RB_GUARD_BACKSCATTER } rb_guard_verdict;
const char *rb_guard_verdict_name(int v);

typedef struct {
    const rb_verp_key *key;         /* NULL: no VERP secret configured */
    int require_known_send;         /* strict without a key: only known sends are legitimate */
    int max_age_days;               /* of signed return paths; 0: never expire */
    const char *const *our_domains; /* for the compromised-account check (with the */
    size_t n_our_domains;           /* envelope recipient's domain and its parent) */
    int64_t now;                    /* 0: time(NULL) */
    int sends_known;                /* the store's sends table holds what we send (maillog runs):
                                     * even in lenient mode a record whose original Message-ID
                                     * is not a send to its recipient is backscatter */
} rb_guard_opts;

typedef struct {
    int verdict;                    /* rb_guard_verdict of the message */
    int strict;
    int verp;                       /* rb_verp_check of the envelope recipient (RB_VERP_NOT_SIGNED
                                     * without a key: it cannot be told) */
    char verp_recipient[RB_ADDR_MAX]; /* whom a signed-form envelope names, verified or not */
    size_t n_legitimate, n_unknown, n_backscatter;
    char reason[512];               /* why (the first backscatter reason, else the first reason) */
    int compromised;                /* "Authenticated sender: X" with X one of our addresses */
    char auth_sender[RB_ADDR_MAX];  /* X, whenever the phrase was found */
    char account[RB_ADDR_MAX];      /* the account a compromised_account alert names */
    size_t n_alert_backscatter;     /* records given alert "backscatter" */
    size_t n_alert_compromised;     /* records given alert "compromised_account" */
} rb_guard_report;

/* Decide for every record of res (a bounce analysed by rb_analyze_message),
 * and set each record's `alert` field:
 *   compromised_account  the returned message names one of our addresses as
 *                        its authenticated sender (Postfix's "(Authenticated
 *                        sender: X)" in Received:, X-Authenticated-Sender:,
 *                        X-Authenticated-User:) and the record is not a
 *                        known send of ours: someone sends with that
 *                        account's password (a hijacked account); or the
 *                        verdict is backscatter (mail we never sent), its
 *                        original sender (addresser) is in our domains, and
 *                        the returned message was submitted with
 *                        authentication to one of our hosts (a Received:
 *                        "by OURHOST ... with ESMTPSA"); the account is
 *                        rep->account;
 *   backscatter          otherwise, the verdict is backscatter: mail we
 *                        never sent, whose sender was forged (spam sent
 *                        in our name);
 *   ""                   a known send, or no evidence either way (an alert
 *                        the record has already is kept).
 * The policy (rb_policy_for_record) never disables nor counts a record
 * with an alert: it is recorded only.
 * envelope_rcpt: the address the bounce was delivered to (may be NULL: then
 * the message's first X-Original-To: or Delivered-To:, if any);
 * msg/len: the raw message (for "Authenticated sender"; may be NULL); st:
 * the store for the sends lookups (may be NULL: nothing is a known send).
 * verdicts[i] (res->n entries, caller-allocated) gets each record's
 * rb_guard_verdict; a record's recipient may be replaced as described
 * above.  An error only when the store fails. */
rb_status rb_guard_check(rb_store *st, const rb_guard_opts *o, const char *envelope_rcpt, const char *msg,
                         size_t len, rb_result *res, int *verdicts, rb_guard_report *rep, rb_error *err);
/* rb_guard_check, then the policy again for every record it gave an alert
 * (action "record": rb_policy_for_record), for a route that outputs or
 * applies the records as they are (rebound analyze). */
rb_status rb_guard_mark(const rb_ctx *ctx, rb_store *st, const rb_guard_opts *o, const char *envelope_rcpt,
                        const char *msg, size_t len, rb_result *res, rb_guard_report *rep, rb_error *err);

/* The X of the first "Authenticated sender: X" in msg (Postfix writes
 * "(Authenticated sender: X)" into its Received: header), else of an
 * "X-Authenticated-Sender: X" or "X-Authenticated-User: X" header that
 * holds an address.  Returns 1. */
int rb_guard_auth_sender(const char *msg, size_t len, char *out, size_t outlen);
/* The host of the first Received: below the message's own header (in the
 * returned message) that records an authenticated submission ("by HOST
 * ... with ESMTPA", ESMTPSA, LMTPA, ...: RFC 3848).  Returns 1. */
int rb_guard_auth_submission(const char *msg, size_t len, char *out, size_t outlen);
/* 1 when addr's domain is one of domains, a subdomain of one, or the
 * parent of one, one label up (bounce.example.org -> example.org; never a
 * bare TLD, nor co.uk from bounce.example.co.uk). */
int rb_guard_domain_is_ours(const char *addr, const char *const *domains, size_t n);

#ifdef __cplusplus
}
#endif
#endif
