/* logfile.c -- reading a Postfix log set incrementally: files (plain or
 * gzip) line by line, their fingerprints, the state of what was read, and
 * the order of a rotated set.
 *
 * A log file is known by a fingerprint of its first line, not by its name
 * or inode: logrotate renames mail.log to mail.log.1 (same inode) and later
 * compresses it to mail.log.2.gz (new inode, same first line).  The state
 * keeps, per fingerprint, how far we read (always to the end of a complete
 * line), so each line is read once whatever the rotation did in between.
 * A file whose first line we do not know is new: read from the start.  A
 * file shorter than the offset we kept was truncated: read from the start.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "rb_internal.h"
#include "rebound_maillog.h"

#define BUFSZ (1u << 20)

struct rb_logfile {
    char *path;
    int fd;
    gzFile gz;                /* NULL for a plain file */
    int live;
    uint64_t inode, size;
    char fp[24];
    char *buf;                /* BUFSZ + room for one over-long line's head */
    size_t start, end;        /* unread bytes buf[start..end) */
    int eof;
    uint64_t offset;          /* uncompressed offset of buf[start] */
    uint64_t lineno;
    uint64_t line_off;        /* offset after the last complete line returned */
};

/* ".YYYYMMDD-HHMMSS" (postfix logrotate) or "-YYYYMMDD[HH...]" (logrotate
 * dateext) at the end of a name (after .gz is taken off): its length, or 0. */
static size_t date_suffix(const char *name, size_t n)
{
    if (n > 16 && name[n - 16] == '.' && name[n - 7] == '-' && strspn(name + n - 15, "0123456789") == 8 &&
        strspn(name + n - 6, "0123456789") == 6)
        return 16;
    const char *dash = memrchr(name, '-', n);
    if (dash && (size_t)(name + n - dash - 1) >= 8 && strspn(dash + 1, "0123456789") == (size_t)(name + n - dash - 1))
        return (size_t)(name + n - dash);
    return 0;
}

static int is_rotated_name(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 3 && !strcmp(base + n - 3, ".gz")) return 1;
    const char *dot = strrchr(base, '.');
    if (dot && dot[1] && strspn(dot + 1, "0123456789") == strlen(dot + 1)) return 1;
    if (date_suffix(base, n)) return 1;
    return 0;
}

static ssize_t raw_read(rb_logfile *f, char *dst, size_t n)
{
    if (f->gz) {
        int r = gzread(f->gz, dst, (unsigned)n);
        return r;
    }
    for (;;) {
        ssize_t r = read(f->fd, dst, n);
        if (r < 0 && errno == EINTR) continue;
        return r;
    }
}

/* Fill the buffer after the unread bytes; returns bytes added, 0 at EOF, -1 on error. */
static ssize_t fill(rb_logfile *f, rb_error *err)
{
    if (f->eof) return 0;
    if (f->start > 0) {
        memmove(f->buf, f->buf + f->start, f->end - f->start);
        f->end -= f->start;
        f->start = 0;
    }
    if (f->end >= BUFSZ) return 0;
    ssize_t r = raw_read(f, f->buf + f->end, BUFSZ - f->end);
    if (r < 0) {
        int e = 0;
        const char *m = f->gz ? gzerror(f->gz, &e) : strerror(errno);
        rb_seterr(err, "%s: read error near byte %llu: %s", f->path, (unsigned long long)(f->offset + f->end),
                  m);
        return -1;
    }
    if (r == 0) {
        int e = Z_OK;
        if (f->gz) gzerror(f->gz, &e);
        if (e != Z_OK && e != Z_STREAM_END) {
            /* a .gz cut short (rotation interrupted, disk full) */
            rb_seterr(err, "%s: compressed data ends early, after %llu bytes: %s", f->path,
                      (unsigned long long)(f->offset + f->end), gzerror(f->gz, &e));
            return -1;
        }
        f->eof = 1;
    }
    f->end += (size_t)r;
    return r;
}

rb_status rb_logfile_open(const char *path, rb_logfile **out, rb_error *err)
{
    rb_logfile *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path)) || !(f->buf = malloc(BUFSZ + 1))) {
        if (f) { free(f->path); free(f); }
        rb_seterr(err, "out of memory");
        return RB_ERR_NOMEM;
    }
    f->fd = strcmp(path, "-") == 0 ? dup(0) : open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (f->fd < 0 || fstat(f->fd, &sb) < 0) {
        rb_seterr(err, "%s: %s", path, strerror(errno));
        rb_logfile_close(f);
        return RB_ERR_IO;
    }
    if (S_ISDIR(sb.st_mode)) {
        rb_seterr(err, "%s: is a directory", path);
        rb_logfile_close(f);
        return RB_ERR_IO;
    }
    f->inode = (uint64_t)sb.st_ino;
    f->size = (uint64_t)sb.st_size;
    f->live = strcmp(path, "-") != 0 && !is_rotated_name(path);
    unsigned char magic[2];
    ssize_t mn = pread(f->fd, magic, 2, 0);
    if (mn == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
        int fd2 = dup(f->fd);
        if (fd2 < 0 || !(f->gz = gzdopen(fd2, "rb"))) {
            if (fd2 >= 0) close(fd2);
            rb_seterr(err, "%s: cannot read as gzip", path);
            rb_logfile_close(f);
            return RB_ERR_IO;
        }
        gzbuffer(f->gz, 256 * 1024);
        f->live = 0;
    }
    /* the fingerprint: the first line (up to 4 KiB), once it is complete */
    if (fill(f, err) < 0) {
        rb_logfile_close(f);
        return RB_ERR_IO;
    }
    size_t lim = f->end < 4096 ? f->end : 4096;
    const char *nl = memchr(f->buf, '\n', lim);
    if (nl || lim == 4096 || (f->eof && f->end > 0 && !f->live)) {
        size_t n = nl ? (size_t)(nl - f->buf) : lim;
        uint64_t h = 1469598103934665603ULL, h2 = 0x9e3779b97f4a7c15ULL;
        for (size_t i = 0; i < n; i++) {
            h ^= (unsigned char)f->buf[i];
            h *= 1099511628211ULL;
            h2 = (h2 ^ (unsigned char)f->buf[i]) * 0xff51afd7ed558ccdULL;
        }
        snprintf(f->fp, sizeof f->fp, "%016llx%04x", (unsigned long long)h, (unsigned)(h2 >> 48) ^ (unsigned)n);
    }
    *out = f;
    return RB_OK;
}

const char *rb_logfile_fp(const rb_logfile *f) { return f->fp; }
int rb_logfile_name_is_live(const char *path) { return strcmp(path, "-") != 0 && !is_rotated_name(path); }
uint64_t rb_logfile_inode(const rb_logfile *f) { return f->inode; }
int rb_logfile_is_live(const rb_logfile *f) { return f->live; }
uint64_t rb_logfile_offset(const rb_logfile *f) { return f->line_off; }
uint64_t rb_logfile_size(const rb_logfile *f) { return f->size; }

uint64_t rb_logfile_read_bytes(const rb_logfile *f)
{
    if (f->gz) {
        z_off_t o = gzoffset(f->gz);
        return o > 0 ? (uint64_t)o : 0;
    }
    return f->offset + f->end;
}

rb_status rb_logfile_skip(rb_logfile *f, uint64_t offset, rb_error *err)
{
    /* Skip offset bytes of (uncompressed) content, counting lines so that
     * line numbers stay those of the file. */
    while (f->offset + f->start < offset) {
        if (f->start == f->end) {
            f->offset += f->end;
            f->start = f->end = 0;
            ssize_t r = fill(f, err);
            if (r < 0) return RB_ERR_IO;
            if (r == 0) break;
            continue;
        }
        size_t want = offset - (f->offset + f->start);
        size_t have = f->end - f->start;
        size_t k = want < have ? want : have;
        for (const char *p = f->buf + f->start, *e = p + k; (p = memchr(p, '\n', (size_t)(e - p))); p++)
            f->lineno++;
        f->start += k;
    }
    if (f->offset + f->start < offset) {
        rb_seterr(err, "%s: shorter than the %llu bytes read before", f->path, (unsigned long long)offset);
        return RB_ERR_PARSE;
    }
    f->line_off = offset;
    return RB_OK;
}

int rb_logfile_next(rb_logfile *f, const char **line, size_t *len, uint64_t *lineno, uint64_t *skipped_long,
                    rb_error *err)
{
    int skipping = 0;     /* inside an over-long line: drop until its newline */
    for (;;) {
        char *p = f->buf + f->start;
        size_t have = f->end - f->start;
        char *nl = have ? memchr(p, '\n', have) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - p);
            f->start += n + 1;
            f->lineno++;
            f->line_off = f->offset + f->start;
            if (skipping) {
                skipping = 0;
                continue;
            }
            if (n && p[n - 1] == '\r') n--;
            *line = p;
            *len = n;
            *lineno = f->lineno;
            return 1;
        }
        if (f->eof) {
            if (have && !skipping && !f->live) {
                /* a rotated file ends with a cut line: nothing will complete it */
                f->start = f->end;
                f->lineno++;
                f->line_off = f->offset + f->end;
                *line = p;
                *len = have;
                p[have] = '\0';
                *lineno = f->lineno;
                return 1;
            }
            if (skipping && !f->live) f->line_off = f->offset + f->end;
            return 0;
        }
        if (have >= RB_LOGLINE_MAX && !skipping) {
            /* an over-long line: count it, skip to its end */
            skipping = 1;
            if (skipped_long) (*skipped_long)++;
        }
        if (skipping) {
            f->offset += f->end;
            f->start = f->end = 0;
        } else {
            f->offset += f->start;
        }
        ssize_t r = fill(f, err);
        if (r < 0) return -1;
    }
}

void rb_logfile_close(rb_logfile *f)
{
    if (!f) return;
    if (f->gz) gzclose(f->gz);
    if (f->fd >= 0) close(f->fd);
    free(f->buf);
    free(f->path);
    free(f);
}

/* ---- the state ----------------------------------------------------------------------- */
struct rb_logstate {
    rb_logpos *prev, *cur;
    size_t nprev, ncur, capcur;
    int *seen;               /* per prev entry: matched this run */
};

static int unesc_path(char *s)
{
    char *w = s;
    for (char *p = s; *p; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            *w++ = *p == 't' ? '\t' : *p == 'n' ? '\n' : *p;
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
    return 1;
}

rb_status rb_logstate_load(const char *path, rb_maillog *m, rb_logstate **out, rb_error *err)
{
    rb_logstate *s = calloc(1, sizeof *s);
    if (!s) { rb_seterr(err, "out of memory"); return RB_ERR_NOMEM; }
    *out = s;
    if (!path) return RB_OK;        /* no state file: an empty state */
    FILE *fp = fopen(path, "re");
    if (!fp) {
        if (errno == ENOENT) return RB_OK;
        rb_seterr(err, "%s: %s", path, strerror(errno));
        return RB_ERR_IO;
    }
    char *line = NULL;
    size_t cap = 0, cappr = 0;
    ssize_t n;
    unsigned long ln = 0;
    rb_status rc = RB_OK;
    while ((n = getline(&line, &cap, fp)) >= 0) {
        ln++;
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
        if (!n || line[0] == '#') continue;
        if (!strncmp(line, "file\t", 5)) {
            rb_logpos pos = {0};
            char *f[5], *q = line + 5;
            size_t k = 0;
            f[k++] = q;
            while (k < 4 && (q = strchr(q, '\t'))) { *q++ = '\0'; f[k++] = q; }
            if (k < 4 || strlen(f[0]) >= sizeof pos.fp) {
                rb_seterr(err, "%s:%lu: unreadable state line", path, ln);
                rc = RB_ERR_PARSE;
                break;
            }
            rb_strlcpy(pos.fp, f[0], sizeof pos.fp);
            pos.offset = strtoull(f[1], NULL, 10);
            pos.inode = strtoull(f[2], NULL, 10);
            unesc_path(f[3]);
            rb_strlcpy(pos.path, f[3], sizeof pos.path);
            if (s->nprev == cappr) {
                size_t nc = cappr ? cappr * 2 : 16;
                rb_logpos *nv = realloc(s->prev, nc * sizeof *nv);
                if (!nv) { rc = RB_ERR_NOMEM; rb_seterr(err, "out of memory"); break; }
                s->prev = nv;
                cappr = nc;
            }
            s->prev[s->nprev++] = pos;
        } else if (!strncmp(line, "open\t", 5) || !strncmp(line, "dfr\t", 4)) {
            rb_error e2;
            if (m && rb_maillog_load_open(m, line, &e2) != RB_OK) {
                rb_seterr(err, "%s:%lu: %s", path, ln, e2.msg);
                rc = RB_ERR_PARSE;
                break;
            }
        } else {
            rb_seterr(err, "%s:%lu: unreadable state line", path, ln);
            rc = RB_ERR_PARSE;
            break;
        }
    }
    free(line);
    fclose(fp);
    if (rc == RB_OK && s->nprev && !(s->seen = calloc(s->nprev, sizeof *s->seen))) {
        rb_seterr(err, "out of memory");
        rc = RB_ERR_NOMEM;
    }
    return rc;
}

const rb_logpos *rb_logstate_find_now(const rb_logstate *s, const char *fp)
{
    if (!fp || !fp[0]) return NULL;
    for (size_t i = 0; i < s->ncur; i++)
        if (!strcmp(s->cur[i].fp, fp)) return &s->cur[i];
    return NULL;
}

const rb_logpos *rb_logstate_find(const rb_logstate *s, const char *fp)
{
    if (!fp || !fp[0]) return NULL;
    for (size_t i = 0; i < s->nprev; i++)
        if (!strcmp(s->prev[i].fp, fp)) {
            if (s->seen) s->seen[i] = 1;
            return &s->prev[i];
        }
    return NULL;
}

rb_status rb_logstate_set(rb_logstate *s, const rb_logpos *pos, rb_error *err)
{
    for (size_t i = 0; i < s->ncur; i++)
        if (!strcmp(s->cur[i].fp, pos->fp)) {
            /* two copies of one log (mail.log.1 and its .gz while logrotate
             * compresses): the furthest position read counts */
            if (pos->offset >= s->cur[i].offset) s->cur[i] = *pos;
            return RB_OK;
        }
    if (s->ncur == s->capcur) {
        size_t nc = s->capcur ? s->capcur * 2 : 16;
        rb_logpos *nv = realloc(s->cur, nc * sizeof *nv);
        if (!nv) { rb_seterr(err, "out of memory"); return RB_ERR_NOMEM; }
        s->cur = nv;
        s->capcur = nc;
    }
    s->cur[s->ncur++] = *pos;
    return RB_OK;
}

size_t rb_logstate_unseen(const rb_logstate *s, const rb_logpos **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nprev && n < max; i++) {
        int in_cur = 0;
        for (size_t k = 0; k < s->ncur; k++)
            if (!strcmp(s->cur[k].fp, s->prev[i].fp)) in_cur = 1;
        if (!in_cur && !(s->seen && s->seen[i])) out[n++] = &s->prev[i];
    }
    return n;
}

rb_status rb_logstate_save(const rb_logstate *s, const char *path, const rb_maillog *m, int64_t now, rb_error *err)
{
    rb_buf b;
    rb_buf_init(&b);
    rb_status rc = RB_OK;
    if (rb_buf_puts(&b, "# rebound maillog state v2: file FINGERPRINT OFFSET INODE PATH; open queue IDs "
                       "(open KEY FIRST_SEEN MESSAGE_ID SENDER [SASL_LOGIN]; dfr ...)\n")) rc = RB_ERR_NOMEM;
    for (size_t i = 0; rc == RB_OK && i < s->ncur; i++) {
        char head[128];
        snprintf(head, sizeof head, "file\t%s\t%llu\t%llu\t", s->cur[i].fp, (unsigned long long)s->cur[i].offset,
                 (unsigned long long)s->cur[i].inode);
        if (rb_buf_puts(&b, head)) rc = RB_ERR_NOMEM;
        for (const char *p = s->cur[i].path; rc == RB_OK && *p; p++) {
            const char *rep = *p == '\\' ? "\\\\" : *p == '\t' ? "\\t" : *p == '\n' ? "\\n" : NULL;
            if (rep ? rb_buf_puts(&b, rep) : rb_buf_append(&b, p, 1)) rc = RB_ERR_NOMEM;
        }
        if (rc == RB_OK && rb_buf_puts(&b, "\n")) rc = RB_ERR_NOMEM;
    }
    /* queue IDs open for more than 30 days never got their "removed" line */
    if (rc == RB_OK && m) rc = rb_maillog_save_open(m, &b, now, 30 * 86400, err);
    if (rc == RB_ERR_NOMEM) rb_seterr(err, "out of memory");
    if (rc != RB_OK) { rb_buf_free(&b); return rc; }

    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rb_seterr(err, "%s: %s", tmp, strerror(errno));
        rb_buf_free(&b);
        return RB_ERR_IO;
    }
    size_t off = 0;
    while (off < b.len) {
        ssize_t w = write(fd, b.buf + off, b.len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        off += (size_t)w;
    }
    int ok = off == b.len && fsync(fd) == 0;
    int e = errno;
    if (close(fd) != 0) ok = 0;
    rb_buf_free(&b);
    if (!ok || rename(tmp, path) != 0) {
        if (ok) e = errno;
        unlink(tmp);
        rb_seterr(err, "%s: cannot write the state: %s", path, strerror(e));
        return RB_ERR_IO;
    }
    return RB_OK;
}

void rb_logstate_free(rb_logstate *s)
{
    if (!s) return;
    free(s->prev);
    free(s->cur);
    free(s->seen);
    free(s);
}

/* ---- ordering a rotated set ------------------------------------------------------------------ */
typedef struct {
    const char *path;
    size_t idx;
    char base[1024];
    int kind;           /* 0 numbered (.N), 1 dated (-YYYYMMDD), 2 live */
    unsigned long num;
    char date[32];
} sortkey;

static void key_of(const char *path, size_t idx, sortkey *k)
{
    memset(k, 0, sizeof *k);
    k->path = path;
    k->idx = idx;
    rb_strlcpy(k->base, path, sizeof k->base);
    size_t n = strlen(k->base);
    if (n > 3 && !strcmp(k->base + n - 3, ".gz")) k->base[n -= 3] = '\0';
    char *dot = strrchr(k->base, '.'), *slash = strrchr(k->base, '/');
    const char *name = slash ? slash + 1 : k->base;
    size_t ds = date_suffix(name, strlen(name));
    if (dot && (!slash || dot > slash) && dot[1] && strspn(dot + 1, "0123456789") == strlen(dot + 1)) {
        k->kind = 0;
        k->num = strtoul(dot + 1, NULL, 10);
        *dot = '\0';
    } else if (ds) {
        k->kind = 1;
        char *suf = k->base + strlen(k->base) - ds;
        rb_strlcpy(k->date, suf + 1, sizeof k->date);
        *suf = '\0';
    } else {
        k->kind = 2;
    }
}

static int cmp_key(const void *a, const void *b)
{
    const sortkey *x = a, *y = b;
    int c = strcmp(x->base, y->base);
    if (c) return x->idx < y->idx ? -1 : 1;     /* different sets: keep the order given */
    if (x->kind != y->kind) {
        /* numbered (oldest: highest number) and dated first, the live file last */
        return x->kind < y->kind ? -1 : 1;
    }
    if (x->kind == 0 && x->num != y->num) return x->num > y->num ? -1 : 1;
    if (x->kind == 1) return strcmp(x->date, y->date);
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

void rb_logfiles_sort(const char **paths, size_t n)
{
    if (n < 2) return;
    sortkey *k = malloc(n * sizeof *k);
    if (!k) return;
    for (size_t i = 0; i < n; i++) key_of(paths[i], i, &k[i]);
    /* group by set (first appearance), then order within a set */
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (!strcmp(k[j].base, k[i].base)) k[j].idx = k[i].idx;
    /* insertion sort: stable, n is small */
    for (size_t i = 1; i < n; i++) {
        sortkey t = k[i];
        size_t j = i;
        while (j > 0) {
            int c;
            if (k[j - 1].idx != t.idx) c = k[j - 1].idx > t.idx ? 1 : -1;
            else c = cmp_key(&k[j - 1], &t);
            if (c <= 0) break;
            k[j] = k[j - 1];
            j--;
        }
        k[j] = t;
    }
    for (size_t i = 0; i < n; i++) paths[i] = k[i].path;
    free(k);
}
