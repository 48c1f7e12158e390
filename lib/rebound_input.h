/* rebound_input.h -- reading records and contact lists back in (for
 * `rebound apply` and `rebound contacts import`); public part of librebound.
 *
 * Both readers are bounded, Postfix style: a row or line longer than 1 MiB
 * is reported as a bad row and skipped, memory never grows with the input,
 * and a damaged row costs that row, not the file.  As everywhere in
 * librebound nothing prints and nothing exits.
 *
 * Inputs: a path, or "-" for standard input.  Gzip-compressed input is
 * recognised by its magic bytes (not by the name) and inflated with zlib;
 * a truncated .gz is a fatal read error, reported after the rows that could
 * be read.
 */
#ifndef REBOUND_INPUT_H
#define REBOUND_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include "rebound.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- CSV ---------------------------------------------------------------------
 * A streaming RFC 4180 CSV reader: quoted fields with "" escapes, commas and
 * newlines inside quotes, LF or CRLF, a UTF-8 BOM at the start skipped,
 * "-" = stdin, .gz (by magic bytes, not name) decompressed with zlib.
 *
 * The delimiter is ',' ';' or TAB: given (rb_csv_opts), or guessed from
 * the header row -- the one of the three it has outside quotes; when it has
 * several, the one that most of the next (buffered) rows have as many of;
 * when it has none, ','.
 *
 * Fields are returned as UTF-8: a UTF-16 (LE or BE) input with a byte
 * order mark (Excel's "Unicode text") is decoded; an input any byte of
 * which is not UTF-8 is decoded as Windows-1252 (Excel's "CSV" on Windows)
 * -- all of it: a regular file is read through a second time to know,
 * when it has a byte past ASCII.  From standard input (or a pipe) the
 * buffered part decides; a stray byte after it in an input taken for
 * UTF-8 is read as Windows-1252 alone (counted: rb_csv_info.recoded).
 *
 * Rules beyond RFC 4180:
 *   - empty lines (LF or CRLF alone) are skipped, they are not rows;
 *     a line `""` is a row with one empty field;
 *   - field values are returned exactly as written: no trimming; a lone CR
 *     (not before LF) inside an unquoted field is data;
 *   - a bad row is one with: a NUL byte, a quote inside an unquoted field,
 *     anything but , or the line end after a closing quote, a quote still
 *     open at the end of the input, more than 256 fields, or more than
 *     1 MiB of text (quotes and embedded newlines included).
 *     After a bad row, reading resumes at the line following the line the
 *     bad row started on (the row's text is not trusted, so its quotes are
 *     not trusted to say where it ends).
 */
typedef struct rb_csv rb_csv;

typedef struct {
    char delimiter;          /* ',', ';' or '\t'; 0: guess it (the default) */
} rb_csv_opts;

typedef enum { RB_ENC_UTF8 = 0, RB_ENC_CP1252, RB_ENC_UTF16LE, RB_ENC_UTF16BE } rb_csv_encoding;

/* What the reader found so far (the encoding is decided at the first byte
 * past ASCII: RB_ENC_UTF8 until then). */
typedef struct {
    char delimiter;          /* in use: ',' ';' '\t'; 0 before the first row (or JSONL) */
    int sniffed;             /* 1: guessed, 0: given */
    rb_csv_encoding encoding;
    uint64_t recoded;        /* UTF-8 input: stray bytes read as Windows-1252 */
} rb_csv_info;

/* Open path ("-" = stdin).  Fails with RB_ERR_IO (err = "PATH: why") when
 * the file cannot be opened or is a directory, RB_ERR_ARG for a delimiter
 * that is not , ; or TAB.  Nothing is read yet.  opts may be NULL. */
rb_status rb_csv_open_opts(const char *path, const rb_csv_opts *opts, rb_csv **out, rb_error *err);
rb_status rb_csv_open(const char *path, rb_csv **out, rb_error *err);   /* opts NULL */

void rb_csv_get_info(const rb_csv *c, rb_csv_info *info);
const char *rb_csv_encoding_name(rb_csv_encoding e);     /* "UTF-8", "Windows-1252", ... */
const char *rb_csv_delimiter_name(char d);               /* "','", "';'", "TAB" */

/* A header name that means an email address (any case; spaces, '-', '_'
 * and '.' ignored): email, e-mail, email_address, e-mailadres, emailadres,
 * mail, mailadres, adresse e-mail, courriel, adresse electronique,
 * E-Mail-Adresse, ... */
int rb_csv_name_is_email(const char *name);

/* "read with delimiter ';'; columns: naam, e-mailadres, ..." for an error
 * about a header row: at most out_size bytes, NUL included. */
void rb_csv_header_note(char delimiter, const char *const *fields, size_t n, char *out, size_t out_size);

/* Next row.
 *    1: a row: (*fields)[0 .. *nfields-1], NUL-terminated strings valid
 *       until the next call; *line = the line the row starts on, 1-based;
 *    0: end of input (and on every later call);
 *   -1: a bad row: err = "PATH:LINE: why", *line = the line it starts on;
 *       the caller may call again and reading goes on at the next line;
 *   -2: a fatal read error (err set: I/O error, corrupt or truncated .gz);
 *       every later call returns -2 again.
 * In messages PATH is the path as given, "stdin" for "-". */
int rb_csv_next(rb_csv *c, const char *const **fields, size_t *nfields, unsigned long *line,
                rb_error *err);

/* The path as given to rb_csv_open ("-" for stdin). */
const char *rb_csv_path(const rb_csv *c);

/* Bytes of the file read so far and its size as stored (compressed for a
 * .gz); total is 0 when unknown (stdin, a pipe). */
void rb_csv_progress(const rb_csv *c, uint64_t *done, uint64_t *total);

void rb_csv_free(rb_csv *c);   /* NULL is fine */

/* ---- records -------------------------------------------------------------------
 * Records written by `rebound analyze` (and later `rebound maillog`): JSONL
 * (first non-blank byte '{') or CSV with a header row.  Same return codes as
 * rb_csv_next. rec is zeroed then filled.
 *
 * Values longer than their rb_record field are truncated (at a UTF-8
 * character boundary); everything analyze writes fits, so analyze output
 * reads back byte for byte.  Names are matched case-insensitively to
 * rb_record_fields, plus these aliases used by other tools (a canonical
 * name wins over an alias, the first of two aliases wins):
 *   email, email_address, address, recipient_email   -> recipient
 *     (and the names of rb_csv_name_is_email: e-mail, e-mailadres, courriel...)
 *   status_message, message, diagnostic_code          -> diagnostic
 *   bounce_category                                   -> reason
 *   timestamp, bounced_at, date_time                  -> date
 *   dsn, dsn_status, enhanced_status                  -> status
 *   reply, smtp_code                                  -> reply_code
 *   status_code ("550 5.1.10"): split into reply_code (3 digits) and status
 *     (x.y.z), each only where the record has no value of its own.
 * Unknown names are ignored.
 *
 * JSONL: one object per line; string values copied, numbers (and true /
 * false) converted to text, null and arrays / objects leave the field empty;
 * blank lines are skipped; a line that is not a JSON object is a bad row
 * (-1, err = "PATH:LINE: not a JSON object: <jansson's error text>"), and
 * so is a line longer than 1 MiB.
 *
 * CSV: the first row is the header.  A row with fewer or more fields than
 * the header is a bad row (-1, "PATH:LINE: N fields, the header has M").
 * A header without a recipient column fails the open with RB_ERR_PARSE,
 * the message naming the delimiter in use and the columns read.
 * Decoding and the delimiter as rb_csv; JSONL is read as UTF-8 (a UTF-16
 * byte order mark aside), bytes as they are: jansson judges them.
 */
typedef struct rb_recin rb_recin;

/* Open path ("-" = stdin) and read up to the header: this decides the
 * format.  Fails with RB_ERR_IO when the input cannot be read, and with
 * RB_ERR_PARSE (err names the file and line) when the CSV header row is
 * malformed or has no recipient column.  An empty (or blank-only) input
 * opens fine and yields no records (format "jsonl"). */
rb_status rb_recin_open(const char *path, rb_recin **out, rb_error *err);
/* The same, with a CSV delimiter (JSONL ignores it); opts may be NULL. */
rb_status rb_recin_open_opts(const char *path, const rb_csv_opts *opts, rb_recin **out, rb_error *err);
void rb_recin_get_info(const rb_recin *in, rb_csv_info *info);   /* as rb_csv_get_info */

/* Next record: 1 (rec filled, *line = its line), 0 end, -1 bad row (err =
 * "PATH:LINE: why"; call again to go on), -2 fatal (err set). */
int rb_recin_next(rb_recin *in, rb_record *rec, unsigned long *line, rb_error *err);

const char *rb_recin_format(const rb_recin *in);
void rb_recin_progress(const rb_recin *in, uint64_t *done, uint64_t *total);   /* as rb_csv_progress */   /* "jsonl" or "csv" */

void rb_recin_free(rb_recin *in);   /* NULL is fine */

#ifdef __cplusplus
}
#endif
#endif
