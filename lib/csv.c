/* csv.c -- a streaming, bounded RFC 4180 CSV reader (see rebound_input.h).
 *
 * Input goes through zlib's gzread, which passes plain files through and
 * inflates gzip ones (recognised by their magic bytes), in 256 KiB blocks
 * into one buffer; buf[start..len) is unread.  A row is parsed from the
 * buffer into `out` (unescaped, one NUL after each field); when the buffer
 * ends inside a row, more is read and the row is parsed again from its
 * start -- rows are small next to the block size, so that costs nothing
 * and keeps the parser free of saved state.  A row may not exceed 1 MiB,
 * so neither buffer grows past about 2 MiB.
 *
 * After a bad row the reader resynchronises on the line following the
 * line the row started on; when that line lies beyond the buffer (a row of
 * several MiB), the rest of the line is read and dropped ("skipping").
 *
 * recin.c reads JSONL through the same buffer: rb__csv_peek() and
 * rb__csv_line() at the end of this file are its (private) interface.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "rb_internal.h"
#include "rebound_input.h"

/* Both can be made small (-D) for fuzzing the buffer edges. */
#ifndef RB_CSV_CHUNK
#define RB_CSV_CHUNK (256 * 1024)
#endif
#ifndef RB_CSV_ROW_MAX
#define RB_CSV_ROW_MAX (1024 * 1024)
#endif
#define CHUNK RB_CSV_CHUNK
#define BUF_START (16 * 1024)
#define ROW_MAX RB_CSV_ROW_MAX    /* bytes of one row, without its line end */
#define FIELDS_MAX 256

struct rb_csv {
    gzFile gz;
    uint64_t size;                /* of a regular file as stored (0: unknown) */
    char *path;                   /* as given */
    const char *name;             /* for messages: path, or "stdin" */
    char *buf;
    size_t len, cap, start;
    int eof;                      /* the input is exhausted */
    int primed;                   /* BOM check done */
    int skipping;                 /* dropping input up to the next LF */
    int dead;                     /* a fatal error happened: fatal[] */
    unsigned long line;           /* line number of buf[start] */
    char *out;                    /* the current row, unescaped */
    size_t outcap;
    const char *fields[FIELDS_MAX];
    char fatal[sizeof(((rb_error *)0)->msg)];
};

/* Bytes that end a run of plain unquoted field text. */
static const unsigned char special[256] = {
    [0] = 1, ['\n'] = 1, ['\r'] = 1, [','] = 1, ['"'] = 1,
};

void rb_csv_progress(const rb_csv *c, uint64_t *done, uint64_t *total)
{
    z_off_t off = c->gz ? gzoffset(c->gz) : 0;     /* raw bytes read, compressed for .gz */
    *done = off > 0 ? (uint64_t)off : 0;
    *total = c->size;
}

rb_status rb_csv_open(const char *path, rb_csv **out, rb_error *err)
{
    *out = NULL;
    if (!path || !*path) { rb_seterr(err, "no input path given"); return RB_ERR_ARG; }
    int is_stdin = strcmp(path, "-") == 0;
    int fd = is_stdin ? dup(0) : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rb_seterr(err, "%s: %s", is_stdin ? "stdin" : path, strerror(errno));
        return RB_ERR_IO;
    }
    struct stat sb;
    if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        close(fd);
        rb_seterr(err, "%s: is a directory", path);
        return RB_ERR_IO;
    }
    rb_csv *c = calloc(1, sizeof *c);
    if (!c || !(c->path = strdup(path))) {
        free(c);
        close(fd);
        rb_seterr(err, "%s: out of memory", path);
        return RB_ERR_NOMEM;
    }
    c->name = is_stdin ? "stdin" : c->path;
    c->line = 1;
    c->size = S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;
    c->gz = gzdopen(fd, "rb");
    if (!c->gz) {
        close(fd);
        rb_seterr(err, "%s: cannot read", c->name);
        rb_csv_free(c);
        return RB_ERR_IO;
    }
    gzbuffer(c->gz, 64 * 1024);    /* zlib's own buffers; blocks of CHUNK bypass them */
    *out = c;
    return RB_OK;
}

const char *rb_csv_path(const rb_csv *c)
{
    return c->path;
}

void rb_csv_free(rb_csv *c)
{
    if (!c) return;
    if (c->gz) gzclose(c->gz);
    free(c->path);
    free(c->buf);
    free(c->out);
    free(c);
}

/* A fatal error: remembered, and returned again by every later call. */
static int die(rb_csv *c, rb_error *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int die(rb_csv *c, rb_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->fatal, sizeof c->fatal, fmt, ap);
    va_end(ap);
    c->dead = 1;
    rb_seterr(err, "%s", c->fatal);
    return -2;
}

/* Read one more block.  Returns the bytes read, 0 at the end of the input,
 * -2 on a fatal error (err set). */
static long fill(rb_csv *c, rb_error *err)
{
    if (c->dead) { rb_seterr(err, "%s", c->fatal); return -2; }
    if (c->eof) return 0;
    if (c->start) {
        memmove(c->buf, c->buf + c->start, c->len - c->start);
        c->len -= c->start;
        c->start = 0;
    }
    /* The buffer starts small (most inputs are) and doubles on every read
     * until it holds two blocks; past that it grows only for a long row. */
    if (c->cap < 2 * (size_t)CHUNK || c->cap - c->len < (size_t)CHUNK + 1) {
        size_t nc = c->cap ? c->cap * 2 : BUF_START;
        while (nc - c->len < (nc / 2 < (size_t)CHUNK ? nc / 2 : (size_t)CHUNK) + 1) nc *= 2;
        char *nb = realloc(c->buf, nc);
        if (!nb) return die(c, err, "%s: out of memory", c->name);
        c->buf = nb;
        c->cap = nc;
    }
    size_t want = c->cap - c->len - 1;    /* one byte stays free for a NUL */
    if (want > (size_t)CHUNK) want = CHUNK;
    int got = gzread(c->gz, c->buf + c->len, (unsigned)want);
    if (got < 0) {
        int zerr;
        const char *m = gzerror(c->gz, &zerr);
        return die(c, err, "%s: read error: %s", c->name, zerr == Z_ERRNO ? strerror(errno) : m);
    }
    if (got == 0) {
        /* zlib reports a gzip stream cut short only through gzerror */
        int zerr;
        const char *m = gzerror(c->gz, &zerr);
        if (zerr != Z_OK) return die(c, err, "%s: read error: %s (truncated .gz?)", c->name, m);
        c->eof = 1;
    }
    c->len += (size_t)got;
    return got;
}

/* Skip a UTF-8 BOM at the very start. */
static int prime(rb_csv *c, rb_error *err)
{
    if (c->primed) return 0;
    while (c->len - c->start < 3 && !c->eof)
        if (fill(c, err) < 0) return -2;
    c->primed = 1;
    if (c->len - c->start >= 3 && memcmp(c->buf + c->start, "\xEF\xBB\xBF", 3) == 0) c->start += 3;
    return 0;
}

/* Drop input up to and including the next LF.  0 done, -2 fatal. */
static int skip_line(rb_csv *c, rb_error *err)
{
    while (c->skipping) {
        const char *nl = memchr(c->buf + c->start, '\n', c->len - c->start);
        if (nl) {
            c->start = (size_t)(nl - c->buf) + 1;
            c->skipping = 0;
            break;
        }
        c->start = c->len;
        if (c->eof) { c->skipping = 0; break; }
        if (fill(c, err) < 0) return -2;
    }
    return 0;
}

/* After a bad row that started at buf[start] on line c->line: go on at the
 * next line. */
static void resync(rb_csv *c)
{
    const char *nl = memchr(c->buf + c->start, '\n', c->len - c->start);
    if (nl) {
        c->start = (size_t)(nl - c->buf) + 1;
    } else {
        c->start = c->len;
        c->skipping = !c->eof;
    }
    c->line++;
}

enum { P_BAD = -1, P_MORE = 0, P_ROW = 1 };

typedef struct {
    size_t nf;               /* fields */
    size_t used;             /* bytes consumed, line end included */
    size_t rowlen;           /* bytes of the row without its line end */
    unsigned long newlines;  /* LFs consumed, line end included */
    const char *why;
} parse_res;

/* Parse the row at buf[start..]: P_ROW, P_MORE (the buffer ends inside the
 * row and more input may come), or P_BAD (pr->why). */
static int parse_row(rb_csv *c, parse_res *pr)
{
    const unsigned char *b = (const unsigned char *)c->buf + c->start;
    size_t avail = c->len - c->start;
    /* never look further than one byte past the longest row and its CRLF:
     * reaching lim before avail means the row is too long */
    size_t lim = avail < (size_t)ROW_MAX + 2 ? avail : (size_t)ROW_MAX + 2;
    char *o = c->out;
    size_t i = 0, nf = 0;
    unsigned long nl = 0;

#define AT_LIMIT()                                                        \
    do {                                                                  \
        if (lim < avail) { pr->why = "row longer than 1 MiB"; return P_BAD; } \
        if (!c->eof) return P_MORE;                                       \
    } while (0)

    for (;;) {
        if (nf == FIELDS_MAX) { pr->why = "more than 256 fields"; return P_BAD; }
        c->fields[nf++] = o;
        int end_row = 0;     /* 1: the row ends after this field */
        size_t rowlen = 0, used = 0;
        if (i < lim && b[i] == '"') {
            /* quoted field */
            i++;
            for (;;) {
                size_t j = i;
                unsigned char ch = 0;
                while (j < lim && (ch = b[j]) != '"' && ch != '\0') {
                    if (ch == '\n') nl++;
                    j++;
                }
                memcpy(o, b + i, j - i);
                o += j - i;
                if (j == lim) {
                    AT_LIMIT();
                    pr->why = "quoted field not closed at the end of the input";
                    return P_BAD;
                }
                if (ch == '\0') { pr->why = "NUL byte"; return P_BAD; }
                /* a quote: doubled, or the end of the field */
                if (j + 1 == lim) {
                    AT_LIMIT();
                    i = j + 1;   /* closing quote at the end of the input */
                    break;
                }
                if (b[j + 1] == '"') {
                    *o++ = '"';
                    i = j + 2;
                    continue;
                }
                i = j + 1;
                break;
            }
            /* after the closing quote: a comma, a line end or the end of the input */
            if (i == lim) {
                AT_LIMIT();
                end_row = 1; rowlen = used = i;
            } else if (b[i] == ',') {
                i++;
            } else if (b[i] == '\n') {
                end_row = 1; rowlen = i; used = i + 1; nl++;
            } else if (b[i] == '\r') {
                if (i + 1 == lim) {
                    AT_LIMIT();
                    end_row = 1; rowlen = i; used = i + 1;   /* CR then the end of the input */
                } else if (b[i + 1] == '\n') {
                    end_row = 1; rowlen = i; used = i + 2; nl++;
                } else {
                    pr->why = "text after a closing quote";
                    return P_BAD;
                }
            } else {
                pr->why = b[i] == '\0' ? "NUL byte" : "text after a closing quote";
                return P_BAD;
            }
        } else {
            /* unquoted field: runs of plain text, lone CRs are data */
            for (;;) {
                size_t j = i;
                while (j < lim && !special[b[j]]) j++;
                memcpy(o, b + i, j - i);
                o += j - i;
                i = j;
                if (j == lim) {
                    AT_LIMIT();
                    end_row = 1; rowlen = used = j;
                    break;
                }
                unsigned char ch = b[j];
                if (ch == ',') { i = j + 1; break; }
                if (ch == '\n') { end_row = 1; rowlen = j; used = j + 1; nl++; break; }
                if (ch == '"') { pr->why = "quote inside an unquoted field"; return P_BAD; }
                if (ch == '\0') { pr->why = "NUL byte"; return P_BAD; }
                /* CR: a line end before LF, data otherwise */
                if (j + 1 == lim) {
                    AT_LIMIT();
                    end_row = 1; rowlen = j; used = j + 1;   /* CR then the end of the input */
                    break;
                }
                if (b[j + 1] == '\n') { end_row = 1; rowlen = j; used = j + 2; nl++; break; }
                *o++ = '\r';
                i = j + 1;
            }
        }
        *o++ = '\0';
        if (end_row) {
            if (rowlen > (size_t)ROW_MAX) { pr->why = "row longer than 1 MiB"; return P_BAD; }
            pr->nf = nf;
            pr->used = used;
            pr->rowlen = rowlen;
            pr->newlines = nl;
            return P_ROW;
        }
    }
#undef AT_LIMIT
}

int rb_csv_next(rb_csv *c, const char *const **fields, size_t *nfields, unsigned long *line,
                rb_error *err)
{
    if (c->dead) { rb_seterr(err, "%s", c->fatal); return -2; }
    if (prime(c, err) < 0) return -2;
    for (;;) {
        if (c->skipping && skip_line(c, err) < 0) return -2;
        if (c->start == c->len) {
            if (c->eof) return 0;
            if (fill(c, err) < 0) return -2;
            continue;
        }
        /* room for the row unescaped plus a NUL per field */
        size_t avail = c->len - c->start;
        size_t need = (avail < (size_t)ROW_MAX + 2 ? avail : (size_t)ROW_MAX + 2) + FIELDS_MAX + 2;
        if (c->outcap < need) {
            size_t nc = c->outcap ? c->outcap : 4096;
            while (nc < need) nc *= 2;
            char *no = realloc(c->out, nc);
            if (!no) return die(c, err, "%s: out of memory", c->name);
            c->out = no;
            c->outcap = nc;
        }
        parse_res pr = {0};
        int r = parse_row(c, &pr);
        if (r == P_MORE) {
            if (fill(c, err) < 0) return -2;
            continue;
        }
        unsigned long at = c->line;
        if (line) *line = at;
        if (r == P_BAD) {
            rb_seterr(err, "%s:%lu: %s", c->name, at, pr.why);
            resync(c);
            return -1;
        }
        c->start += pr.used;
        c->line += pr.newlines;
        if (pr.nf == 1 && pr.rowlen == 0) continue;      /* an empty line */
        *fields = c->fields;
        *nfields = pr.nf;
        return 1;
    }
}

/* ---- the private line interface recin.c reads JSONL with -------------------------- */

/* The first byte that is not blank (space, tab, CR, LF), without consuming
 * it; leading blank lines are consumed (line numbers kept).  Returns the
 * byte (0..255), -1 when the input holds nothing else, -2 on a fatal error.
 * Looks no further than 1 MiB into one line. */
int rb__csv_peek(rb_csv *c, rb_error *err);
int rb__csv_peek(rb_csv *c, rb_error *err)
{
    if (c->dead) { rb_seterr(err, "%s", c->fatal); return -2; }
    if (prime(c, err) < 0) return -2;
    size_t k = 0;   /* bytes of blanks looked at, from start */
    for (;;) {
        while (c->start + k < c->len) {
            unsigned char ch = (unsigned char)c->buf[c->start + k];
            if (ch == '\n') { c->start += k + 1; k = 0; c->line++; continue; }
            if (ch != ' ' && ch != '\t' && ch != '\r') return ch;
            if (++k > (size_t)ROW_MAX) return ch;     /* a monster blank line: let the reader judge */
        }
        if (c->eof) { c->start = c->len; return -1; }
        if (fill(c, err) < 0) return -2;
    }
}

/* The next physical line, its LF (and a CR before it) removed and a NUL put
 * in its place: *text, *len.  Returns 1, 0 at the end, -1 for a line longer
 * than 1 MiB (err = "PATH:LINE: ...", skipped), -2 on a fatal error. */
int rb__csv_line(rb_csv *c, char **text, size_t *len, unsigned long *line, rb_error *err);
int rb__csv_line(rb_csv *c, char **text, size_t *len, unsigned long *line, rb_error *err)
{
    if (c->dead) { rb_seterr(err, "%s", c->fatal); return -2; }
    if (prime(c, err) < 0) return -2;
    if (c->skipping && skip_line(c, err) < 0) return -2;
    size_t scanned = 0;   /* bytes from start known to hold no LF */
    for (;;) {
        size_t avail = c->len - c->start;
        size_t lim = avail < (size_t)ROW_MAX + 2 ? avail : (size_t)ROW_MAX + 2;
        char *s = c->buf + c->start;
        char *nl = lim > scanned ? memchr(s + scanned, '\n', lim - scanned) : NULL;
        size_t n, used;
        if (nl) {
            n = (size_t)(nl - s);
            used = n + 1;
        } else if (lim < avail || (c->eof && avail > (size_t)ROW_MAX)) {
            if (line) *line = c->line;
            rb_seterr(err, "%s:%lu: line longer than 1 MiB", c->name, c->line);
            resync(c);
            return -1;
        } else if (c->eof) {
            if (avail == 0) return 0;
            n = used = avail;     /* the last line has no LF */
        } else {
            scanned = lim;
            if (fill(c, err) < 0) return -2;
            continue;
        }
        if (n && s[n - 1] == '\r') n--;
        if (line) *line = c->line;
        if (n > (size_t)ROW_MAX) {
            rb_seterr(err, "%s:%lu: line longer than 1 MiB", c->name, c->line);
            c->start += used;
            c->line++;
            return -1;
        }
        s[n] = '\0';           /* the LF or CR; at the end fill() left room */
        c->start += used;
        if (nl) c->line++;
        *text = s;
        *len = n;
        return 1;
    }
}
