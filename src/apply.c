/* apply.c -- `rebound apply`: decide what the bounces mean for the contacts,
 * report it (--check, the default), or do it (--commit). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "rebound_input.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: rebound apply [--check | --commit] [--db URL] [--policy FILE] [OPTIONS] INPUT...\n\n"
            "Apply bounce records (the CSV or JSONL of `rebound analyze`, or another tool's CSV\n"
            "with an email column; - for standard input) to the contacts in the store.  A\n"
            "record names its contact by the original recipient first (original_recipient:\n"
            "ORCPT / Original-Recipient, the address subscribed), else by the final\n"
            "recipient (recipient); the plan's matched_by column says which.\n\n"
            "  --check              report only (the default): read everything, write nothing,\n"
            "                       print what would change\n"
            "  --commit             apply it, in batched transactions; running it twice changes\n"
            "                       nothing the second time, and a run killed half-way is\n"
            "                       completed by running it again\n"
            "  --db URL             store: a SQLite file or postgresql://... (default $REBOUND_DB,\n"
            "                       else rebound.db)\n"
            "  --policy FILE        bounce types, actions and soft-bounce thresholds\n"
            "                       (default: the installed policy.conf)\n"
            "  --rules FILE         classification rules, for records without a reason\n"
            "  --write-csv FILE     the plan (or what was done) row by row\n"
            "  --progress-every N   a progress line every N records (a live bar on a terminal)\n"
            "  --batch N            records per transaction (default 50000)\n"
            "  --now TIME           the time to use for 'now' (ISO 8601), for undated records\n"
            "  --delimiter D        CSV: , ; tab, or auto (the default: guessed from the\n"
            "                       header row)\n"
            "  --provider-source S  the contacts' provider source for records that give\n"
            "                       none (default: ndr, or relay for maillog records)\n"
            "  --resolve-mx         a record with no provider: its domain's MX hosts name it\n"
            "                       (providers.conf host rows; cached a week in the store)\n"
            "  --dns-server A[:P]   the DNS server to ask (IPv4; default: /etc/resolv.conf's)\n"
            "  -q, --quiet          no summary\n\n"
            "Policy: hard bounce -> disabled (status bounced); soft bounce -> counted, 3\n"
            "within 30 days (set soft_threshold / soft_window_days) -> quarantined for 14 days\n"
            "(quarantine_days), then disabled if it bounces again during the\n"
            "quarantine; blocked (policy/spam) -> recorded, never disables; complaint ->\n"
            "disabled as a complaint.  A bounce is never stored as an unsubscribe.\n\n"
            "CSV may use , ; or TAB; a file that is not UTF-8 is read as Windows-1252 (said on\n"
            "stderr), one with a UTF-16 byte order mark as UTF-16.\n\n"
            "Exit status: 0 done; 1 some rows were rejected (each reported with its line);\n"
            "64 usage; 65 bad input: a CSV header without a recipient column, or a contact\n"
            "list; 66 an input cannot be read; 75 the store failed (nothing of the\n"
            "failed batch was written: run again); 78 bad policy/rules.\n");
}

typedef struct {
    FILE *plan;
    const char *path;       /* input being read */
    unsigned long rejected;
    int commit;
} plan_ctx;

static void on_row(void *arg, const rb_plan_row *row)
{
    plan_ctx *pc = arg;
    if (row->decision == RB_DEC_INVALID) {
        fprintf(stderr, "rebound apply: %s:%lu: %s\n", pc->path, row->line, row->note);
        pc->rejected++;
    }
    if (!pc->plan) return;
    char t1[32], t2[32];
    FILE *f = pc->plan;
    fprintf(f, "%s,%lu,", pc->path, row->line);
    csv_field(f, row->rec->recipient);
    fputc(',', f);
    csv_field(f, row->email_norm);
    fprintf(f, ",%s,%s,%s,%s,%s,%d,%s,%s,", row->rec->reason, row->rec->bounce_type, rb_decision_name(row->decision),
            row->old_status >= 0 ? rb_contact_status_name(row->old_status) : "",
            row->new_status >= 0 ? rb_contact_status_name(row->new_status) : "", row->soft_count,
            fmt_time(row->event_time, t1, sizeof t1), fmt_time(row->quarantine_until, t2, sizeof t2));
    csv_field(f, row->rec->status);
    fputc(',', f);
    csv_field(f, row->rec->reply_code);
    fputc(',', f);
    csv_field(f, row->rec->diagnostic);
    fputc(',', f);
    csv_field(f, row->rec->source);
    fputc(',', f);
    csv_field(f, row->note ? row->note : "");
    fputc(',', f);
    csv_field(f, row->rec->original_recipient);
    fprintf(f, ",%s\n", row->matched_by ? row->matched_by : "");
}

/* Does the record say anything about a bounce: a reason, a status code
 * (2.x.x-5.x.x: a contact list's "status" column says "active"), a reply
 * code, or a diagnostic text? */
static int has_evidence(const rb_record *r)
{
    const char *s = r->status;
    int code = (s[0] == '2' || s[0] == '4' || s[0] == '5') && s[1] == '.' && isdigit((unsigned char)s[2]);
    const char *c = r->reply_code;
    int reply = (c[0] >= '2' && c[0] <= '5') && isdigit((unsigned char)c[1]) && isdigit((unsigned char)c[2]) && !c[3];
    return r->reason[0] || code || reply || r->diagnostic[0];
}

int cmd_apply(int argc, char **argv)
{
    int check = 0, commit = 0;
    const char *csv_path = NULL, *psrc = NULL;
    unsigned long batch = 0;
    int64_t now = 0;
    int delim = 0;
    static const opt_keyword delims[] = {
        {"auto", 0}, {"tab", '\t'}, {"comma", ','}, {"semicolon", ';'}, {",", ','}, {";", ';'}, {0},
    };
    const opt_desc opts[] = {
        {OPT_KEYWORD, "delimiter", 0, &delim, .keywords = delims},
        {OPT_FLAG, "check", 0, &check},
        {OPT_FLAG, "check-db", 0, &check},
        {OPT_FLAG, "commit", 0, &commit},
        {OPT_STRING, "write-csv", 0, &csv_path},
        {OPT_ULONG, "batch", 0, &batch, .min = 1, .max = 10000000},
        {OPT_TIME, "now", 0, &now},
        {OPT_STRING, "provider-source", 0, &psrc},
        {OPT_INHERIT, .inherit = shared_mx_options},
        {OPT_INHERIT, .inherit = shared_options},
        {0},
    };
    char **pos;
    int npos = opt_parse("apply", opts, argc, argv, &pos);
    if (npos == OPT_HELP) { help(stdout); return 0; }
    if (npos < 0) return EX_USAGE_;
    if (check && commit) {
        fprintf(stderr, "rebound apply: give --check or --commit, not both (see `rebound apply --help`)\n");
        return EX_USAGE_;
    }
    if (npos == 0) {
        fprintf(stderr, "rebound apply: no INPUT given (the CSV or JSONL of rebound analyze; - for standard input; "
                        "see `rebound apply --help`)\n");
        return EX_USAGE_;
    }
    int rcf = shared_finish("apply");
    if (rcf) return rcf;
    const char *db = opt_shared.db, *policy = NULL, *rules = NULL;
    unsigned long every = opt_shared.progress_every;
    int quiet = opt_shared.quiet;
    rb_ctx *ctx = load_ctx(rules, policy, NULL);
    if (!ctx) return EX_CONFIG_;
    rb_store *st = open_store("apply", db);
    if (!st) { rb_ctx_free(ctx); return store_exit(); }

    plan_ctx pc = {NULL, "", 0, commit};
    if (csv_path) {
        if (!(pc.plan = fopen(csv_path, "w"))) {
            fprintf(stderr, "rebound apply: %s: %m\n", csv_path);
            rb_store_close(st);
            rb_ctx_free(ctx);
            return EX_NOINPUT_;
        }
        fputs("input,line,recipient,email_norm,reason,bounce_type,decision,old_status,new_status,soft_count,"
              "event_time,quarantine_until,status,reply_code,diagnostic,source,note,original_recipient,matched_by\n",
              pc.plan);
    }
    rb_apply *ap = NULL;
    rb_error err = {{0}};
    int rc = EX_OK_, mxrc;
    rb_mx *mx = open_mx("apply", &mxrc);
    /* on_row reports the invalid rows; the contact's state on duplicates
     * is needed only by the --plan file */
    rb_apply_opts ao = {commit, batch, now, psrc, on_row, &pc, mx, 0, pc.plan != NULL};
    if (mxrc) { rc = mxrc; goto out; }
    unsigned long bad_rows = 0, n = 0;
    if (rb_apply_new(st, ctx, &ao, &ap, &err) != RB_OK) {
        fprintf(stderr, "rebound apply: %s\n", err.msg);
        rc = EX_SOFTWARE_;
        goto out;
    }
    progress pg;
    progress_init(&pg, every, "records");
    rb_record *rec = malloc(sizeof *rec);
    if (!rec) { fprintf(stderr, "rebound apply: out of memory\n"); rc = EX_SOFTWARE_; goto out; }
    /* An input that cannot be read (or stops being readable: a truncated
     * .gz) is reported and the others are still applied; what was read of
     * it counts.  A store failure stops everything. */
    int unreadable = 0, dbfail = 0, contact_lists = 0, bad_headers = 0;
    rb_csv_opts copts = {(char)delim};
    /* the bar: bytes of all inputs together (as stored; compressed for .gz) */
    uint64_t all_bytes = 0, prev_bytes = 0;
    for (int i = 0; i < npos; i++) {
        struct stat sb;
        if (strcmp(pos[i], "-") != 0 && stat(pos[i], &sb) == 0 && S_ISREG(sb.st_mode)) all_bytes += (uint64_t)sb.st_size;
        else if (!strcmp(pos[i], "-")) { all_bytes = 0; break; }      /* stdin: size unknown */
    }
    for (int i = 0; i < npos && !dbfail; i++) {
        rb_recin *in = NULL;
        rb_status os = rb_recin_open_opts(pos[i], &copts, &in, &err);
        if (os != RB_OK) {
            fprintf(stderr, "rebound apply: %s\n", err.msg);
            if (os == RB_ERR_PARSE) bad_headers++;     /* the header row: bad input, 65 */
            else unreadable++;
            continue;
        }
        int told = 0;
        pc.path = pos[i];
        unsigned long line;
        int r;
        /* A row that names no reason, status, reply code or diagnostic is no
         * bounce: rejected, never a made-up soft bounce.  Until a row with
         * evidence shows up, the rejected lines are only noted: a file
         * without any (a contact list) gets one message, not one a row. */
        unsigned long noev = 0, noev_lines[20], evidence_rows = 0;
        while ((r = rb_recin_next(in, rec, &line, &err)) != 0) {
            if (r == -1) { fprintf(stderr, "rebound apply: %s\n", err.msg); bad_rows++; continue; }
            if (r < -1) { fprintf(stderr, "rebound apply: %s\n", err.msg); unreadable++; break; }
            if (!told) {
                rb_csv_info ci;
                rb_recin_get_info(in, &ci);
                if (ci.encoding == RB_ENC_CP1252) {
                    fprintf(stderr, "rebound apply: %s: not UTF-8: read as Windows-1252\n", pos[i]);
                    told = 1;
                }
            }
            if (!has_evidence(rec)) {
                if (evidence_rows)
                    fprintf(stderr, "rebound apply: %s:%lu: no reason, status, reply code or diagnostic: rejected\n",
                            pos[i], line);
                else if (noev < 20)
                    noev_lines[noev] = line;
                noev++;
                bad_rows++;
                continue;
            }
            if (!evidence_rows++ && noev) {
                for (unsigned long k = 0; k < noev && k < 20; k++)
                    fprintf(stderr, "rebound apply: %s:%lu: no reason, status, reply code or diagnostic: rejected\n",
                            pos[i], noev_lines[k]);
                if (noev > 20) fprintf(stderr, "rebound apply: %s: ... and %lu more such rows before line %lu\n",
                                       pos[i], noev - 20, line);
            }
            if (rb_apply_add(ap, rec, line, &err) != RB_OK) {
                fprintf(stderr, "rebound apply: %s\n", err.msg);
                dbfail = 1;
                break;
            }
            n++;
            if (every) {
                uint64_t done, total;
                rb_recin_progress(in, &done, &total);
                progress_update(&pg, n, all_bytes ? prev_bytes + done : 0, all_bytes);
            }
        }
        if (noev && !evidence_rows) {
            fprintf(stderr, "rebound apply: %s: this looks like a contact list (no row has a reason, status, reply "
                            "code or diagnostic): did you mean `rebound contacts import`?  Nothing of it was applied.\n",
                    pos[i]);
            contact_lists++;
        }
        rb_csv_info ci;
        rb_recin_get_info(in, &ci);
        if (ci.recoded)
            fprintf(stderr, "rebound apply: %s: %llu byte%s that %s not UTF-8 read as Windows-1252\n", pos[i],
                    (unsigned long long)ci.recoded, ci.recoded == 1 ? "" : "s", ci.recoded == 1 ? "was" : "were");
        uint64_t done, total;
        rb_recin_progress(in, &done, &total);
        prev_bytes += total;
        /* decide this input's last records while its name is the current one */
        if (!dbfail && rb_apply_finish(ap, &err) != RB_OK) {
            fprintf(stderr, "rebound apply: %s\n", err.msg);
            dbfail = 1;
        }
        rb_recin_free(in);
    }
    free(rec);
    progress_finish(&pg, n);
    if (dbfail) {
        fprintf(stderr, "rebound apply: stopped; %s; run the same command again to complete the work\n",
                commit ? "the transactions committed before the failure stay applied" : "nothing was written");
        rc = EX_TEMPFAIL_;
    } else {
        if (!quiet && !((contact_lists || bad_headers) && !n)) print_apply_summary(rb_apply_get_summary(ap), commit, bad_rows, st);
        rc = unreadable ? EX_NOINPUT_ : contact_lists || bad_headers ? EX_DATAERR_ : bad_rows || pc.rejected ? EX_FAIL : EX_OK_;
    }
out:
    rb_apply_free(ap);
    mx_summary("apply", mx);
    rb_mx_free(mx);
    if (pc.plan && fclose(pc.plan) != 0) {
        fprintf(stderr, "rebound apply: %s: %m\n", csv_path);
        if (rc == EX_OK_) rc = EX_FAIL;
    }
    rb_store_close(st);
    rb_ctx_free(ctx);
    return rc;
}
