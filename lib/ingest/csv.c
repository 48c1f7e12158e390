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
 * Text is decoded to UTF-8 as it is read (fill(), decode_new()): a UTF-16
 * byte order mark makes the input UTF-16, decoded block by block; else the
 * input is taken as UTF-8 until the first byte past ASCII, where the
 * encoding is decided for the whole input: Windows-1252 when any byte of
 * it is not UTF-8 (a regular file is read through once more to know; for
 * a pipe what is buffered decides, and a later stray byte is read as
 * Windows-1252 alone, counted in `recoded`).
 *
 * The delimiter (',' ';' TAB) is given, or guessed from the header row
 * and the rows after it that are buffered (sniff()); quoted text does not
 * count.
 *
 * recin.c reads JSONL through the same buffer: rb__csv_peek(),
 * rb__csv_line() and rb__csv_decode() at the end of this file are its
 * (private) interface.
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
    int regular;                  /* a regular file, by path: can be read twice */
    /* decoding to UTF-8 */
    int enc;                      /* ENC_* */
    int enc_auto;                 /* 0: bytes pass as they are (JSONL) */
    size_t vpos;                  /* buf[vpos..len) not decoded yet */
    uint64_t recoded;             /* stray bytes of a UTF-8 input read as Windows-1252 */
    char *tmp;                    /* decode_new()'s scratch */
    size_t tmpcap;
    unsigned char *raw;           /* UTF-16: bytes read, not decoded yet */
    size_t rawlen, rawcap;
    int raw_eof;                  /* UTF-16: the raw input is exhausted */
    /* the delimiter */
    char delim;                   /* 0: not known yet */
    int sniffed;
    unsigned char special[256];   /* bytes that end a run of plain unquoted field text */
    unsigned long line;           /* line number of buf[start] */
    char *out;                    /* the current row, unescaped */
    size_t outcap;
    const char *fields[FIELDS_MAX];
    char fatal[sizeof(((rb_error *)0)->msg)];
};

enum { ENC_ASCII, ENC_UTF8, ENC_CP1252, ENC_UTF16LE, ENC_UTF16BE };

static void set_delim(rb_csv *c, char d)
{
    memset(c->special, 0, sizeof c->special);
    c->special[0] = c->special['\n'] = c->special['\r'] = c->special['"'] = 1;
    c->special[(unsigned char)d] = 1;
    c->delim = d;
}

void rb_csv_progress(const rb_csv *c, uint64_t *done, uint64_t *total)
{
    z_off_t off = c->gz ? gzoffset(c->gz) : 0;     /* raw bytes read, compressed for .gz */
    *done = off > 0 ? (uint64_t)off : 0;
    *total = c->size;
}

rb_status rb_csv_open(const char *path, rb_csv **out, rb_error *err)
{
    return rb_csv_open_opts(path, NULL, out, err);
}

rb_status rb_csv_open_opts(const char *path, const rb_csv_opts *opts, rb_csv **out, rb_error *err)
{
    *out = NULL;
    char d = opts ? opts->delimiter : 0;
    if (d && d != ',' && d != ';' && d != '\t') {
        rb_seterr(err, "delimiter '%c' is not one of , ; TAB", d);
        return RB_ERR_ARG;
    }
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
    c->regular = !is_stdin && S_ISREG(sb.st_mode);
    c->enc_auto = 1;
    if (d) set_delim(c, d);
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
    free(c->tmp);
    free(c->raw);
    free(c);
}

void rb_csv_get_info(const rb_csv *c, rb_csv_info *info)
{
    memset(info, 0, sizeof *info);
    info->delimiter = c->delim;
    info->sniffed = c->sniffed;
    switch (c->enc) {
    case ENC_CP1252: info->encoding = RB_ENC_CP1252; break;
    case ENC_UTF16LE: info->encoding = RB_ENC_UTF16LE; break;
    case ENC_UTF16BE: info->encoding = RB_ENC_UTF16BE; break;
    default: info->encoding = RB_ENC_UTF8; break;
    }
    info->recoded = c->recoded;
}

const char *rb_csv_encoding_name(rb_csv_encoding e)
{
    switch (e) {
    case RB_ENC_CP1252: return "Windows-1252";
    case RB_ENC_UTF16LE: return "UTF-16LE";
    case RB_ENC_UTF16BE: return "UTF-16BE";
    default: return "UTF-8";
    }
}

const char *rb_csv_delimiter_name(char d)
{
    switch (d) {
    case ',': return "','";
    case ';': return "';'";
    case '\t': return "TAB";
    default: return "none";
    }
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

/* ---- decoding ------------------------------------------------------------------- */

/* Windows-1252 0x80..0x9F (the five bytes it leaves undefined map to the C1
 * controls, as the WHATWG encoding standard has it); 0xA0..0xFF are
 * Latin-1. */
static const uint16_t cp1252_hi[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

/* one code point as UTF-8 into o (room for 4): GLib's encoder */
static size_t put_utf8(char *o, unsigned cp) { return (size_t)g_unichar_to_utf8((gunichar)cp, o); }

#define U8_SHORT ((size_t)-1)

/* Length of the UTF-8 sequence at s (no overlongs, surrogates or values
 * past U+10FFFF); 0 if it is not one; U8_SHORT if avail ends inside a
 * sequence that is valid so far. */
static size_t u8len(const unsigned char *s, size_t avail)
{
    if (s[0] < 0x80) return 1;
    /* GLib's decoder: -1 not UTF-8 (overlongs, surrogates and values past
     * U+10FFFF included), -2 valid so far but cut short */
    gunichar u = g_utf8_get_char_validated((const char *)s, (gssize)avail);
    if (u == (gunichar)-2) return U8_SHORT;
    if (u == (gunichar)-1) return 0;
    return (size_t)g_utf8_skip[s[0]];
}

/* Is s[0..n) UTF-8?  A sequence cut short by the end counts as valid
 * unless last (nothing follows). */
static int utf8_valid(const unsigned char *s, size_t n, int last)
{
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) { i++; continue; }
        size_t k = u8len(s + i, n - i);
        if (k == U8_SHORT) return !last;
        if (!k) return 0;
        i += k;
    }
    return 1;
}

/* Read the whole file again from its start: 1 it is UTF-8, 0 it is not,
 * -1 it cannot be read again (then what is buffered decided). */
static int file_is_utf8(const rb_csv *c)
{
    int fd = open(c->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    gzFile g = gzdopen(fd, "rb");
    if (!g) { close(fd); return -1; }
    enum { B = 64 * 1024 };
    unsigned char *b = malloc(B + 4);
    if (!b) { gzclose(g); return -1; }
    size_t keep = 0;
    int res = 1;
    for (;;) {
        int got = gzread(g, b + keep, B);
        if (got < 0) { res = -1; break; }
        size_t n = keep + (size_t)got;
        if (got == 0) { res = keep ? 0 : 1; break; }
        /* a sequence cut by the block end is kept for the next block */
        size_t i = 0;
        while (i < n) {
            if (b[i] < 0x80) { i++; continue; }
            size_t k = u8len(b + i, n - i);
            if (k == U8_SHORT) break;
            if (!k) { res = 0; break; }
            i += k;
        }
        if (res == 0) break;
        keep = n - i;
        memmove(b, b + i, keep);
    }
    free(b);
    gzclose(g);
    return res;
}

/* Read up to want raw bytes into dst: the count, 0 at the end of the input,
 * -2 on a fatal error. */
static long read_raw(rb_csv *c, char *dst, size_t want, rb_error *err)
{
    int got = gzread(c->gz, dst, (unsigned)want);
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
    }
    return got;
}

/* Decode buf[vpos..len) from Windows-1252 (mixed: only the bytes that are
 * not UTF-8, counted in recoded) to UTF-8, in place; the buffer grows as
 * needed.  A sequence cut short at the end stays undecoded until more
 * comes (mixed, not at the end of the input). */
static int recode(rb_csv *c, int mixed, rb_error *err)
{
    size_t n = c->len - c->vpos;
    if (c->tmpcap < 3 * n + 1) {
        size_t nc = c->tmpcap ? c->tmpcap : 4096;
        while (nc < 3 * n + 1) nc *= 2;
        char *nt = realloc(c->tmp, nc);
        if (!nt) return die(c, err, "%s: out of memory", c->name);
        c->tmp = nt;
        c->tmpcap = nc;
    }
    const unsigned char *b = (const unsigned char *)c->buf;
    size_t i = c->vpos, o = 0;
    while (i < c->len) {
        unsigned ch = b[i];
        if (ch < 0x80) { c->tmp[o++] = (char)ch; i++; continue; }
        if (mixed) {
            size_t k = u8len(b + i, c->len - i);
            if (k == U8_SHORT && !c->eof) break;
            if (k && k != U8_SHORT) { memcpy(c->tmp + o, b + i, k); o += k; i += k; continue; }
            c->recoded++;
        }
        o += put_utf8(c->tmp + o, ch >= 0xA0 ? ch : cp1252_hi[ch - 0x80]);
        i++;
    }
    size_t carry = c->len - i, nlen = c->vpos + o + carry;
    if (nlen + 1 > c->cap) {
        char *nb = realloc(c->buf, nlen + 1);
        if (!nb) return die(c, err, "%s: out of memory", c->name);
        c->buf = nb;
        c->cap = nlen + 1;
    }
    memmove(c->buf + c->vpos + o, c->buf + i, carry);     /* o >= i - vpos: it moves forward */
    memcpy(c->buf + c->vpos, c->tmp, o);
    c->len = nlen;
    c->vpos += o;
    return 0;
}

/* Bring what fill() added, buf[vpos..len), to UTF-8. */
static int decode_new(rb_csv *c, rb_error *err)
{
    if (!c->primed) return 0;                     /* prime() looks for a BOM first */
    if (c->vpos < c->start) c->vpos = c->start;
    if (!c->enc_auto || c->enc >= ENC_UTF16LE) { c->vpos = c->len; return 0; }
    const unsigned char *b = (const unsigned char *)c->buf;
    if (c->enc == ENC_ASCII) {
        size_t p = c->vpos;
        while (p < c->len && b[p] < 0x80) p++;
        c->vpos = p;
        if (p == c->len) return 0;
        /* the first byte past ASCII: decide for the whole input */
        int utf8 = utf8_valid(b + p, c->len - p, c->eof);
        if (utf8 && c->regular && !c->eof && file_is_utf8(c) == 0) utf8 = 0;
        c->enc = utf8 ? ENC_UTF8 : ENC_CP1252;
    }
    if (c->enc == ENC_CP1252) return recode(c, 0, err);
    size_t p = c->vpos;
    while (p < c->len) {
        if (b[p] < 0x80) { p++; continue; }
        size_t k = u8len(b + p, c->len - p);
        if (k == U8_SHORT) {
            if (!c->eof) { c->vpos = p; return 0; }
            break;
        }
        if (!k) break;
        p += k;
    }
    c->vpos = p;
    return p == c->len ? 0 : recode(c, 1, err);
}

/* UTF-16: read raw bytes and decode them into buf[len..len+want). */
static long fill_utf16(rb_csv *c, size_t want, rb_error *err)
{
    size_t rawwant = want / 3 * 2;
    if (c->rawcap < rawwant + 4) {
        unsigned char *nr = realloc(c->raw, rawwant + 4);
        if (!nr) return die(c, err, "%s: out of memory", c->name);
        c->raw = nr;
        c->rawcap = rawwant + 4;
    }
    if (!c->raw_eof && c->rawlen < rawwant) {
        long got = read_raw(c, (char *)c->raw + c->rawlen, rawwant - c->rawlen, err);
        if (got < 0) return -2;
        if (got == 0) c->raw_eof = 1;
        c->rawlen += (size_t)got;
    }
    const unsigned char *r = c->raw;
    int le = c->enc == ENC_UTF16LE;
    char *o = c->buf + c->len;
    size_t i = 0, out = 0;
    while (i + 1 < c->rawlen && out + 4 <= want) {
        unsigned u = le ? (unsigned)(r[i] | r[i + 1] << 8) : (unsigned)(r[i] << 8 | r[i + 1]);
        size_t used = 2;
        if (u >= 0xD800 && u <= 0xDBFF) {
            if (i + 3 < c->rawlen) {
                unsigned u2 = le ? (unsigned)(r[i + 2] | r[i + 3] << 8) : (unsigned)(r[i + 2] << 8 | r[i + 3]);
                if (u2 >= 0xDC00 && u2 <= 0xDFFF) {
                    u = 0x10000 + ((u - 0xD800) << 10) + (u2 - 0xDC00);
                    used = 4;
                } else {
                    u = 0xFFFD;
                }
            } else if (!c->raw_eof) {
                break;                                /* the low half is still to come */
            } else {
                u = 0xFFFD;
            }
        } else if (u >= 0xDC00 && u <= 0xDFFF) {
            u = 0xFFFD;
        }
        out += put_utf8(o + out, u);
        i += used;
    }
    if (c->raw_eof && c->rawlen - i == 1 && out + 3 <= want) {   /* an odd byte at the end */
        out += put_utf8(o + out, 0xFFFD);
        i++;
    }
    memmove(c->raw, c->raw + i, c->rawlen - i);
    c->rawlen -= i;
    c->len += out;
    c->vpos = c->len;
    if (c->raw_eof && !c->rawlen) c->eof = 1;
    return (long)out;
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
        c->vpos = c->vpos > c->start ? c->vpos - c->start : 0;
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
    if (c->enc >= ENC_UTF16LE) return fill_utf16(c, want, err);
    long got = read_raw(c, c->buf + c->len, want, err);
    if (got < 0) return -2;
    if (got == 0) c->eof = 1;
    c->len += (size_t)got;
    if (decode_new(c, err) < 0) return -2;
    return got;
}

/* Skip a UTF-8 BOM at the very start; after a UTF-16 one decode UTF-16. */
static int prime(rb_csv *c, rb_error *err)
{
    if (c->primed) return 0;
    while (c->len - c->start < 3 && !c->eof)
        if (fill(c, err) < 0) return -2;
    c->primed = 1;
    const unsigned char *b = (const unsigned char *)c->buf + c->start;
    size_t n = c->len - c->start;
    if (n >= 3 && memcmp(b, "\xEF\xBB\xBF", 3) == 0) {
        c->start += 3;
    } else if (n >= 2 && ((b[0] == 0xFF && b[1] == 0xFE) || (b[0] == 0xFE && b[1] == 0xFF))) {
        c->enc = b[0] == 0xFF ? ENC_UTF16LE : ENC_UTF16BE;
        c->rawcap = n + 4;
        if (!(c->raw = malloc(c->rawcap))) return die(c, err, "%s: out of memory", c->name);
        memcpy(c->raw, b + 2, n - 2);
        c->rawlen = n - 2;
        c->raw_eof = c->eof;
        c->eof = 0;
        c->len = c->start;
        c->vpos = c->len;
        return 0;
    }
    c->vpos = c->start;
    return decode_new(c, err) < 0 ? -2 : 0;
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
            /* after the closing quote: the delimiter, a line end or the end of the input */
            if (i == lim) {
                AT_LIMIT();
                end_row = 1; rowlen = used = i;
            } else if (b[i] == (unsigned char)c->delim) {
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
                while (j < lim && !c->special[b[j]]) j++;
                memcpy(o, b + i, j - i);
                o += j - i;
                i = j;
                if (j == lim) {
                    AT_LIMIT();
                    end_row = 1; rowlen = used = j;
                    break;
                }
                unsigned char ch = b[j];
                if (ch == (unsigned char)c->delim) { i = j + 1; break; }
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

/* Guess the delimiter from the first non-empty row (read whole into the
 * buffer) and the complete rows after it that are buffered too: the
 * candidates are those of ',' ';' TAB the header has outside quotes; of
 * several, the one that the most later rows have as many of wins, then the
 * one the header has most of, then the first in that order.  None: ','. */
static int sniff(rb_csv *c, rb_error *err)
{
    static const char cand[3] = {',', ';', '\t'};
    unsigned hdr[3], match[3];
    for (;;) {
        const unsigned char *b = (const unsigned char *)c->buf + c->start;
        size_t n = c->len - c->start, i = 0;
        int rows = 0, need_more = 0;
        memset(hdr, 0, sizeof hdr);
        memset(match, 0, sizeof match);
        while (i < n && rows < 50) {
            if (b[i] == '\n') { i++; continue; }
            if (b[i] == '\r' && i + 1 < n && b[i + 1] == '\n') { i += 2; continue; }
            unsigned cnt[3] = {0, 0, 0};
            int q = 0, done = 0;
            size_t j = i;
            for (; j < n; j++) {
                unsigned char ch = b[j];
                if (ch == '"') q = !q;
                else if (q) continue;
                else if (ch == '\n') { done = 1; break; }
                else if (ch == ',') cnt[0]++;
                else if (ch == ';') cnt[1]++;
                else if (ch == '\t') cnt[2]++;
            }
            if (!done && !c->eof) break;     /* a row cut by the end of what is buffered */
            for (int d = 0; d < 3; d++) {
                if (!rows) hdr[d] = cnt[d];
                else if (hdr[d] && cnt[d] == hdr[d]) match[d]++;
            }
            rows++;
            i = j + 1;
        }
        need_more = !rows && !c->eof;        /* no header row buffered whole yet */
        if (!need_more || n > (size_t)ROW_MAX + 2) break;
        if (fill(c, err) < 0) return -2;
    }
    int best = -1;
    for (int d = 0; d < 3; d++) {
        if (!hdr[d]) continue;
        if (best < 0 || match[d] > match[best] || (match[d] == match[best] && hdr[d] > hdr[best])) best = d;
    }
    set_delim(c, best < 0 ? ',' : cand[best]);
    c->sniffed = 1;
    return 0;
}

int rb_csv_next(rb_csv *c, const char *const **fields, size_t *nfields, unsigned long *line,
                rb_error *err)
{
    if (c->dead) { rb_seterr(err, "%s", c->fatal); return -2; }
    if (prime(c, err) < 0) return -2;
    if (!c->delim && sniff(c, err) < 0) return -2;
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

/* Decode from here on (1), or pass bytes as they are (0, JSONL).  recin.c
 * turns decoding off before it looks at the first byte, on when the input
 * turns out to be CSV. */
int rb__csv_decode(rb_csv *c, int on, rb_error *err);
int rb__csv_decode(rb_csv *c, int on, rb_error *err)
{
    c->enc_auto = on;
    if (!on) return 0;
    c->vpos = c->start;
    return decode_new(c, err) < 0 ? -2 : 0;
}

/* ---- header names ------------------------------------------------------------------ */

int rb_csv_name_is_email(const char *name)
{
    /* squeezed: lower case, without spaces, '-', '_' and '.' */
    static const char *const names[] = {
        "email", "emailaddress", "emailadres", "emailadresse", "emailadress", "mail", "mailadres",
        "mailadresse", "mailaddress", "adresseemail", "adressemail", "adressemel", "courriel",
        "adresseelectronique", "adresse\xC3\xA9lectronique", "mel", "epost", "epostadresse",
        "correo", "correoelectronico", "correoelectr\xC3\xB3nico",
    };
    char sq[64];
    size_t n = 0;
    for (const char *p = name; *p && n < sizeof sq - 1; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == ' ' || ch == '-' || ch == '_' || ch == '.' || ch == '\t') continue;
        sq[n++] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    }
    sq[n] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(sq, names[i])) return 1;
    return 0;
}

void rb_csv_header_note(char delimiter, const char *const *fields, size_t n, char *out, size_t out_size)
{
    if (!out_size) return;
    size_t len = (size_t)snprintf(out, out_size, "read with delimiter %s; column%s: ",
                                  rb_csv_delimiter_name(delimiter), n == 1 ? "" : "s");
    for (size_t i = 0; i < n && len < out_size; i++) {
        if (i == 6) { snprintf(out + len, out_size - len, ", ... (%zu in all)", n); return; }
        char name[41];
        rb_strlcpy(name, fields[i], sizeof name);
        /* not cut inside a character */
        size_t k = strlen(name);
        if (k == sizeof name - 1) {
            while (k > 0 && ((unsigned char)fields[i][k] & 0xC0) == 0x80) k--;
            name[k] = '\0';
        }
        for (char *p = name; *p; p++)
            if ((unsigned char)*p < 0x20) *p = ' ';
        len += (size_t)snprintf(out + len, out_size - len, "%s%s", i ? ", " : "", *name ? name : "\"\"");
    }
}
