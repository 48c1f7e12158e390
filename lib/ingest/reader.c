/* reader.c -- turn paths into a stream of raw messages.
 *
 * A path is a file (one message, or an mbox when it starts with "From "),
 * a directory (every file below it, recursively, in name order; a Maildir's
 * tmp/ is skipped), or "-" for standard input.  A gzip file (one that
 * starts with gzip's two magic bytes) and standard input go through zlib's
 * gzread, which passes plain data through unchanged and inflates gzip, so
 * .gz needs no special case; any other file is read with read() straight
 * into the reader's buffer (gzread would copy it once more).
 *
 * An mbox is split as it is read, with a buffer that holds about one
 * message: memory does not grow with the size of the mbox.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "rb_internal.h"

#define CHUNK (256 * 1024)
#define MAX_MESSAGE (64u * 1024 * 1024)

enum { MODE_NONE, MODE_SINGLE, MODE_MBOX, MODE_DONE };

struct rb_reader {
    uint64_t total_bytes, done_bytes; /* sizes of all files; of the finished ones */
    uint64_t cur_size;
    char **files;
    size_t nfiles, cap, idx;

    gzFile gz;
    int fd;             /* a plain file read with read(), or -1 (gz or none) */
    uint64_t fd_off;    /* bytes read from fd */
    int mode;
    int eof;
    char path[RB_SOURCE_MAX - 24];
    unsigned long msgno;

    char *buf;
    size_t len, cap_buf, start; /* buf[start..len) is unread */
    uint64_t buf_off;           /* file offset of buf[0] */
    int skipping;               /* dropping an oversized message */
    int cr_only;                /* old Mac line endings: CR becomes LF as read */
    int no_source;              /* rb_reader_skip: leave msg->source unset */
};

static int add_file(rb_reader *rd, const char *p)
{
    if (rd->nfiles == rd->cap) {
        size_t nc = rd->cap ? rd->cap * 2 : 64;
        char **nv = realloc(rd->files, nc * sizeof *nv);
        if (!nv) return -1;
        rd->files = nv;
        rd->cap = nc;
    }
    if (!(rd->files[rd->nfiles] = strdup(p))) return -1;
    rd->nfiles++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static rb_status add_dir(rb_reader *rd, const char *dir, int depth, rb_error *err)
{
    if (depth > 32) return RB_OK;
    DIR *d = opendir(dir);
    if (!d) { rb_seterr(err, "%s: cannot open directory: %s", dir, strerror(errno)); return RB_ERR_IO; }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/cur", dir);
    int maildir = is_dir(sub);
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (maildir && strcmp(e->d_name, "tmp") == 0) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nv = realloc(names, cap * sizeof *nv);
            if (!nv) break;
            names = nv;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_str);
    rb_status st = RB_OK;
    for (size_t i = 0; i < n; i++) {
        if (st == RB_OK && names[i]) {
            snprintf(sub, sizeof sub, "%s/%s", dir, names[i]);
            struct stat sb;
            if (stat(sub, &sb) == 0) {
                if (S_ISDIR(sb.st_mode)) st = add_dir(rd, sub, depth + 1, err);
                else if (S_ISREG(sb.st_mode) && add_file(rd, sub)) st = RB_ERR_NOMEM;
            }
        }
        free(names[i]);
    }
    free(names);
    return st;
}

rb_status rb_reader_open(const char *const *paths, size_t npaths, rb_reader **out, rb_error *err)
{
    rb_reader *rd = calloc(1, sizeof *rd);
    if (!rd) return RB_ERR_NOMEM;
    rd->fd = -1;
    for (size_t i = 0; i < npaths; i++) {
        const char *p = paths[i];
        struct stat st;
        if (strcmp(p, "-") == 0) {
            if (add_file(rd, p)) { rb_reader_free(rd); return RB_ERR_NOMEM; }
        } else if (stat(p, &st) != 0) {
            rb_seterr(err, "%s: %s", p, strerror(errno));
            rb_reader_free(rd);
            return RB_ERR_IO;
        } else if (S_ISDIR(st.st_mode)) {
            rb_status s = add_dir(rd, p, 0, err);
            if (s != RB_OK) { rb_reader_free(rd); return s; }
        } else if (add_file(rd, p)) {
            rb_reader_free(rd);
            return RB_ERR_NOMEM;
        }
    }
    for (size_t i = 0; i < rd->nfiles; i++) {
        struct stat st;
        if (strcmp(rd->files[i], "-") != 0 && stat(rd->files[i], &st) == 0) rd->total_bytes += (uint64_t)st.st_size;
    }
    *out = rd;
    return RB_OK;
}

static void close_current(rb_reader *rd)
{
    if (rd->gz) { gzclose(rd->gz); rd->done_bytes += rd->cur_size; }
    if (rd->fd >= 0) { close(rd->fd); rd->done_bytes += rd->cur_size; }
    rd->cur_size = 0;
    rd->gz = NULL;
    rd->fd = -1;
    rd->fd_off = 0;
    rd->mode = MODE_NONE;
    rd->len = rd->start = 0;
    rd->buf_off = 0;
    rd->eof = 0;
    rd->msgno = 0;
    rd->skipping = 0;
    rd->cr_only = 0;
}

/* Read more input into the buffer; returns bytes read, 0 at EOF, -1 on error. */
static long fill(rb_reader *rd, rb_error *err)
{
    if (rd->eof) return 0;
    if (rd->start > 0 && rd->start >= rd->len / 2) {
        memmove(rd->buf, rd->buf + rd->start, rd->len - rd->start);
        rd->len -= rd->start;
        rd->buf_off += rd->start;
        rd->start = 0;
    }
    if (rd->cap_buf - rd->len < CHUNK) {
        size_t nc = rd->cap_buf ? rd->cap_buf * 2 : 4 * CHUNK;
        while (nc - rd->len < CHUNK) nc *= 2;
        char *nb = realloc(rd->buf, nc + 1);
        if (!nb) { rb_seterr(err, "%s: out of memory", rd->path); return -1; }
        rd->buf = nb;
        rd->cap_buf = nc;
    }
    long got;
    if (rd->fd >= 0) {
        do got = read(rd->fd, rd->buf + rd->len, CHUNK);
        while (got < 0 && errno == EINTR);
        if (got < 0) {
            rb_seterr(err, "%s: read error at byte %llu: %s", rd->path, (unsigned long long)(rd->buf_off + rd->len),
                      strerror(errno));
            return -1;
        }
        rd->fd_off += (uint64_t)got;
    } else if ((got = gzread(rd->gz, rd->buf + rd->len, CHUNK)) < 0) {
        int zerr;
        const char *m = gzerror(rd->gz, &zerr);
        rb_seterr(err, "%s: read error at byte %llu: %s", rd->path,
                  (unsigned long long)(rd->buf_off + rd->len), zerr == Z_ERRNO ? strerror(errno) : m);
        return -1;
    }
    if (got == 0) rd->eof = 1;
    if (rd->cr_only)
        for (char *c = rd->buf + rd->len, *e = c + got; c < e; c++) if (*c == '\r') *c = '\n';
    rd->len += (size_t)got;
    rd->buf[rd->len] = '\0';
    return got;
}

static rb_status open_next(rb_reader *rd, rb_error *err)
{
    const char *p = rd->files[rd->idx++];
    rb_strlcpy(rd->path, p, sizeof rd->path);
    int fd = strcmp(p, "-") == 0 ? dup(0) : open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { rb_seterr(err, "%s: %s", p, strerror(errno)); return RB_ERR_IO; }
    struct stat sb;
    int reg = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode);
    rd->cur_size = reg ? (uint64_t)sb.st_size : 0;
    unsigned char magic[2];
    if (reg && strcmp(p, "-") != 0 && !(pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b)) {
        rd->fd = fd;   /* not gzip: read() it (what gzread would pass through) */
    } else {
        rd->gz = gzdopen(fd, "rb");
        if (!rd->gz) { close(fd); rb_seterr(err, "%s: cannot read", p); return RB_ERR_IO; }
        gzbuffer(rd->gz, CHUNK);
    }
    rd->mode = MODE_SINGLE;
    /* peek: an mbox starts with a From_ line */
    while (rd->len < 5 && !rd->eof)
        if (fill(rd, err) < 0) return RB_ERR_IO;
    /* CR-only line endings: no LF in the first chunk, but CRs */
    if (rd->len && !memchr(rd->buf, '\n', rd->len) && memchr(rd->buf, '\r', rd->len)) {
        rd->cr_only = 1;
        for (size_t i = 0; i < rd->len; i++) if (rd->buf[i] == '\r') rd->buf[i] = '\n';
    }
    if (rd->len >= 5 && memcmp(rd->buf, "From ", 5) == 0) rd->mode = MODE_MBOX;
    return RB_OK;
}

/* Is buf[i] (just after a '\n') the start of a From_ separator line? */
static int is_separator(const rb_reader *rd, size_t i)
{
    if (rd->len - i < 5 || memcmp(rd->buf + i, "From ", 5) != 0) return -1;
    /* preceded by a blank line: the classic rule */
    if (i >= 2 && rd->buf[i - 2] == '\n') return 1;
    if (i >= 3 && rd->buf[i - 2] == '\r' && rd->buf[i - 3] == '\n') return 1;
    /* otherwise it must look like a postmark: "From sender Day Mon dd hh:mm:ss yyyy" */
    const char *e = memchr(rd->buf + i, '\n', rd->len - i);
    size_t ll = e ? (size_t)(e - (rd->buf + i)) : rd->len - i;
    if (ll > 200) return 0;
    int colons = 0;
    for (size_t k = 0; k < ll; k++) if (rd->buf[i + k] == ':') colons++;
    return colons >= 2;
}

/* The first "\nFrom " in p[0..n), or NULL: the only lines that can end an
 * mbox message, so the split need not stop at every other line. */
static const char *find_from(const char *p, size_t n)
{
    size_t i = 0;
#ifdef __SSE2__
    const __m128i nl = _mm_set1_epi8('\n'), f = _mm_set1_epi8('F');
    for (; i + 17 <= n; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(p + i + 1));
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(a, nl), _mm_cmpeq_epi8(b, f)));
        while (m) {
            size_t k = i + (size_t)__builtin_ctz(m);
            if (k + 6 <= n && memcmp(p + k + 1, "From ", 5) == 0) return p + k;
            m &= m - 1;
        }
    }
#endif
    return i < n ? memmem(p + i, n - i, "\nFrom ", 6) : NULL;
}

/* Skip the From_ line at buf[start]. Returns 0 if the line is incomplete. */
static int skip_from_line(rb_reader *rd)
{
    const char *e = memchr(rd->buf + rd->start, '\n', rd->len - rd->start);
    if (!e) return 0;
    rd->start = (size_t)(e - rd->buf) + 1;
    return 1;
}

static int next_mbox(rb_reader *rd, rb_rawmsg *msg, rb_error *err)
{
    for (;;) {
        if (rd->start < rd->len && rd->len - rd->start >= 5 && memcmp(rd->buf + rd->start, "From ", 5) == 0) {
            while (!skip_from_line(rd)) {
                long f = fill(rd, err);
                if (f < 0) return -1;
                if (f == 0) { rd->start = rd->len; break; }
            }
        }
        size_t scan = rd->start;
        for (;;) {
            /* lines that do not start with "From " (and lie within
             * MAX_MESSAGE of the start) cannot end the message: skip them
             * in one search; what is left is the line-by-line walk below */
            size_t lim = rd->start + MAX_MESSAGE + 5;
            size_t end = rd->len < lim ? rd->len : lim;
            if (end > scan + 5) {
                const char *c = find_from(rd->buf + scan, end - scan);
                scan = c ? (size_t)(c - rd->buf) : end - 5;
            }
            const char *nl = scan < rd->len ? memchr(rd->buf + scan, '\n', rd->len - scan) : NULL;
            if (nl) {
                size_t i = (size_t)(nl - rd->buf) + 1;
                if (rd->len - i < 5 && !rd->eof) {
                    /* might be a separator cut by the buffer end: read more */
                    size_t keep = scan - rd->start;
                    long f = fill(rd, err);
                    if (f < 0) return -1;
                    scan = rd->start + keep;
                    continue;
                }
                int sep = is_separator(rd, i);
                if (sep == 1) {
                    size_t end = i - 1;
                    if (end > rd->start && rd->buf[end - 1] == '\n') end--;
                    if (end > rd->start && rd->buf[end - 1] == '\r') end--;
                    msg->data = rd->buf + rd->start;
                    msg->len = end - rd->start;
                    msg->offset = rd->buf_off + rd->start;
                    ++rd->msgno;
                    if (!rd->no_source) snprintf(msg->source, sizeof msg->source, "%s#%lu", rd->path, rd->msgno);
                    rd->start = i;
                    return 1;
                }
                scan = i;
                if (scan - rd->start > MAX_MESSAGE) {
                    rb_seterr(err, "%s: message %lu at byte %llu is larger than %u MiB; skipped", rd->path,
                              rd->msgno + 1, (unsigned long long)(rd->buf_off + rd->start), MAX_MESSAGE >> 20);
                    rd->msgno++;
                    /* drop what we have and resynchronise on the next separator */
                    rd->start = scan;
                    return -1;
                }
                continue;
            }
            if (rd->eof) {
                if (rd->len == rd->start) return 0;
                msg->data = rd->buf + rd->start;
                msg->len = rd->len - rd->start;
                msg->offset = rd->buf_off + rd->start;
                ++rd->msgno;
                if (!rd->no_source) snprintf(msg->source, sizeof msg->source, "%s#%lu", rd->path, rd->msgno);
                rd->start = rd->len;
                return 1;
            }
            size_t keep = scan - rd->start;
            long f = fill(rd, err);
            if (f < 0) return -1;
            scan = rd->start + keep;
        }
    }
}

static int next_single(rb_reader *rd, rb_rawmsg *msg, rb_error *err)
{
    while (!rd->eof) {
        if (fill(rd, err) < 0) return -1;
        if (rd->len > MAX_MESSAGE) {
            rb_seterr(err, "%s: message is larger than %u MiB; skipped", rd->path, MAX_MESSAGE >> 20);
            rd->mode = MODE_DONE;
            return -1;
        }
    }
    rd->mode = MODE_DONE;
    if (rd->len == 0) {
        rb_seterr(err, "%s: empty file (0 bytes), no message", rd->path);
        return -1;
    }
    msg->data = rd->buf;
    msg->len = rd->len;
    msg->offset = 0;
    rb_strlcpy(msg->source, rd->path, sizeof msg->source);
    return 1;
}

int rb_reader_next(rb_reader *rd, rb_rawmsg *msg, rb_error *err)
{
    for (;;) {
        if (rd->mode == MODE_NONE) {
            if (rd->idx >= rd->nfiles) return 0;
            if (open_next(rd, err) != RB_OK) { close_current(rd); return -1; }
        }
        int r;
        if (rd->mode == MODE_MBOX) r = next_mbox(rd, msg, err);
        else if (rd->mode == MODE_SINGLE) r = next_single(rd, msg, err);
        else r = 0;
        if (r != 0) {
            if (r < 0 && rd->mode == MODE_DONE) close_current(rd);
            else if (r < 0 && rd->mode == MODE_MBOX && rd->eof && rd->start >= rd->len) close_current(rd);
            return r;
        }
        close_current(rd);
    }
}

int rb_reader_skip(rb_reader *rd, size_t *len, rb_error *err)
{
    rb_rawmsg m;
    rd->no_source = 1;
    int r = rb_reader_next(rd, &m, err);
    rd->no_source = 0;
    *len = r > 0 ? m.len : 0;
    return r;
}

void rb_reader_progress(const rb_reader *rd, uint64_t *done, uint64_t *total)
{
    uint64_t cur = 0;
    if (rd->gz) {
        z_off_t o = gzoffset(rd->gz);
        if (o > 0) cur = (uint64_t)o;
        if (cur > rd->cur_size) cur = rd->cur_size;
    } else if (rd->fd >= 0) {
        cur = rd->fd_off < rd->cur_size ? rd->fd_off : rd->cur_size;
    }
    *done = rd->done_bytes + cur;
    *total = rd->total_bytes;
}

void rb_reader_free(rb_reader *rd)
{
    if (!rd) return;
    close_current(rd);
    for (size_t i = 0; i < rd->nfiles; i++) free(rd->files[i]);
    free(rd->files);
    free(rd->buf);
    free(rd);
}
