/* test_input.c -- reading records and contact lists back in: the CSV
 * reader, the record reader (JSONL and CSV, written by record.c), and
 * address normalisation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <jansson.h>
#include <cmocka.h>

#include "rb_internal.h"
#include "rebound_input.h"
#include "rebound_store.h"

#define MiB (1024 * 1024)

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/rebound-test-input.XXXXXX", t && *t ? t : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Write n bytes to a file in the temporary directory; returns its path
 * (static storage, one of a few rotating slots). */
static const char *write_file(const char *name, const void *data, size_t n)
{
    static char paths[4][512];
    static int slot;
    char *p = paths[slot++ % 4];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    return p;
}

static const char *write_str(const char *name, const char *s)
{
    return write_file(name, s, strlen(s));
}

static const char *write_gz(const char *name, const void *data, size_t n)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    gzFile g = gzopen(p, "wb");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, data, (unsigned)n), (int)n);
    assert_int_equal(gzclose(g), Z_OK);
    return p;
}

/* Read the next row and check it is `want` (n fields) starting on `line`. */
static void expect_row(rb_csv *c, unsigned long line, size_t n, const char *const *want)
{
    const char *const *f;
    size_t nf = 0;
    unsigned long at = 0;
    rb_error err = {{0}};
    int r = rb_csv_next(c, &f, &nf, &at, &err);
    if (r != 1) fail_msg("expected a row at line %lu, got %d (%s)", line, r, err.msg);
    assert_int_equal(at, line);
    assert_int_equal(nf, n);
    for (size_t i = 0; i < n; i++) assert_string_equal(f[i], want[i]);
}

#define ROW(c, line, ...)                                                            \
    do {                                                                             \
        const char *const w_[] = {__VA_ARGS__};                                      \
        expect_row((c), (line), sizeof w_ / sizeof w_[0], w_);                       \
    } while (0)

/* Read the next row, expect a bad row at `line` whose message contains why. */
static void expect_bad(rb_csv *c, const char *path, unsigned long line, const char *why)
{
    const char *const *f;
    size_t nf;
    unsigned long at = 0;
    rb_error err = {{0}};
    int r = rb_csv_next(c, &f, &nf, &at, &err);
    if (r != -1) fail_msg("expected a bad row at line %lu, got %d", line, r);
    assert_int_equal(at, line);
    char prefix[600];
    snprintf(prefix, sizeof prefix, "%s:%lu: ", path, line);
    if (strncmp(err.msg, prefix, strlen(prefix)) != 0) fail_msg("message '%s' lacks '%s'", err.msg, prefix);
    if (!strstr(err.msg, why)) fail_msg("message '%s' lacks '%s'", err.msg, why);
}

static void expect_end(rb_csv *c)
{
    const char *const *f;
    size_t nf;
    unsigned long at;
    rb_error err = {{0}};
    assert_int_equal(rb_csv_next(c, &f, &nf, &at, &err), 0);
    assert_int_equal(rb_csv_next(c, &f, &nf, &at, &err), 0);   /* and stays there */
}

static rb_csv *open_csv(const char *path)
{
    rb_csv *c = NULL;
    rb_error err = {{0}};
    if (rb_csv_open(path, &c, &err) != RB_OK) fail_msg("open %s: %s", path, err.msg);
    assert_string_equal(rb_csv_path(c), path);
    return c;
}

/* ---- rb_csv ---------------------------------------------------------------------- */
static void test_csv_quoting(void **state)
{
    (void)state;
    const char *p = write_str("q.csv",
                              "a,b,c\r\n"                               /* 1 */
                              "\"x,1\",\"he said \"\"hi\"\"\",\r\n"     /* 2 */
                              "\"multi\nline\r\nvalue\",,z\n"           /* 3-5 */
                              "\n"                                      /* 6: empty, skipped */
                              "\r\n"                                    /* 7: empty, skipped */
                              "\"\"\n"                                  /* 8: one empty field */
                              "\"q\" ,x\r\n"                          /* 9: bad: text after a quote */
                              "lone\rcr,\"\"\"\"\n"                     /* 10 */
                              "last,\"\",end");                         /* 11, no final newline */
    rb_csv *c = open_csv(p);
    ROW(c, 1, "a", "b", "c");
    ROW(c, 2, "x,1", "he said \"hi\"", "");
    ROW(c, 3, "multi\nline\r\nvalue", "", "z");
    ROW(c, 8, "");
    expect_bad(c, p, 9, "text after a closing quote");
    ROW(c, 10, "lone\rcr", "\"");
    ROW(c, 11, "last", "", "end");
    expect_end(c);
    rb_csv_free(c);

    /* spaces are kept; a trailing comma at the very end is an empty field */
    p = write_str("q2.csv", "  a , b\t,\n\"quoted at eof\"");
    c = open_csv(p);
    ROW(c, 1, "  a ", " b\t", "");
    ROW(c, 2, "quoted at eof");
    expect_end(c);
    rb_csv_free(c);

    /* an empty file and a file of blank lines have no rows */
    c = open_csv(write_str("empty.csv", ""));
    expect_end(c);
    rb_csv_free(c);
    c = open_csv(write_str("blank.csv", "\n\r\n\n"));
    expect_end(c);
    rb_csv_free(c);
}

static void test_csv_bom(void **state)
{
    (void)state;
    rb_csv *c = open_csv(write_str("bom.csv", "\xEF\xBB\xBFrecipient,x\r\n\xEF\xBB\xBF" "a,b\r\n"));
    ROW(c, 1, "recipient", "x");
    ROW(c, 2, "\xEF\xBB\xBF" "a", "b");      /* only a BOM at the very start is skipped */
    expect_end(c);
    rb_csv_free(c);
    c = open_csv(write_str("bomonly.csv", "\xEF\xBB\xBF"));
    expect_end(c);
    rb_csv_free(c);
    c = open_csv(write_str("bomquote.csv", "\xEF\xBB\xBF\"a\"\"b\",c"));
    ROW(c, 1, "a\"b", "c");
    expect_end(c);
    rb_csv_free(c);
}

static void test_csv_bad_rows(void **state)
{
    (void)state;
    rb_buf b;
    rb_buf_init(&b);
    rb_buf_puts(&b, "ok1,a\n"              /* 1 */
                    "bad\"quote,b\n"       /* 2 */
                    "\"x\"y,c\n"           /* 3 */
                    "ok2,d\n");            /* 4 */
    rb_buf_append(&b, "a\0b,e\n", 6);      /* 5 */
    rb_buf_puts(&b, "ok3,f\n");            /* 6 */
    for (int i = 0; i < 257; i++) rb_buf_puts(&b, i ? ",f" : "f");   /* 7: 257 fields */
    rb_buf_puts(&b, "\n");
    for (int i = 0; i < 256; i++) rb_buf_puts(&b, i ? ",g" : "g");   /* 8: 256 fields */
    rb_buf_puts(&b, "\n");
    rb_buf_append(&b, "\"nul\0inside\",h\n", 15);   /* 9 */
    rb_buf_puts(&b, "\"open,i\n"           /* 10: never closed */
                    "ok4,j\n");            /* 11 */
    const char *p = write_file("bad.csv", b.buf, b.len);
    rb_buf_free(&b);

    rb_csv *c = open_csv(p);
    ROW(c, 1, "ok1", "a");
    expect_bad(c, p, 2, "quote inside an unquoted field");
    expect_bad(c, p, 3, "text after a closing quote");
    ROW(c, 4, "ok2", "d");
    expect_bad(c, p, 5, "NUL byte");
    ROW(c, 6, "ok3", "f");
    expect_bad(c, p, 7, "more than 256 fields");
    const char *const *f;
    size_t nf;
    unsigned long at;
    rb_error err = {{0}};
    assert_int_equal(rb_csv_next(c, &f, &nf, &at, &err), 1);
    assert_int_equal(at, 8);
    assert_int_equal(nf, 256);
    assert_string_equal(f[255], "g");
    expect_bad(c, p, 9, "NUL byte");
    /* the open quote swallows the rest of the file: the row is bad, and
     * reading goes on at the line after the one it started on */
    expect_bad(c, p, 10, "quoted field not closed");
    ROW(c, 11, "ok4", "j");
    expect_end(c);
    rb_csv_free(c);
}

static void test_csv_long_rows(void **state)
{
    (void)state;
    size_t big = 2 * MiB;
    char *data = malloc(big + 6 * MiB);
    assert_non_null(data);
    size_t n = 0;
    n += (size_t)sprintf(data + n, "first,1\n");                /* 1 */
    memset(data + n, 'x', big); n += big; data[n++] = '\n';     /* 2: 2 MiB unquoted */
    n += (size_t)sprintf(data + n, "next,2\n");                 /* 3 */
    data[n++] = '"';                                            /* 4: 2 MiB quoted, with newlines */
    for (size_t i = 0; i < big; i++) data[n++] = (i % 1000 == 999) ? '\n' : 'q';
    n += (size_t)sprintf(data + n, "\",z\n");
    size_t q_lines = big / 1000;                                /* LFs inside */
    memset(data + n, 'y', MiB); n += MiB;                       /* exactly 1 MiB: fine */
    n += (size_t)sprintf(data + n, "\r\n");
    memset(data + n, 'w', MiB + 1); n += MiB + 1;               /* 1 MiB + 1: too long */
    n += (size_t)sprintf(data + n, "\r\n");
    memset(data + n, 'v', MiB + 1); n += MiB + 1;               /* the same, with LF */
    n += (size_t)sprintf(data + n, "\nlast,3");
    const char *p = write_file("long.csv", data, n);

    rb_csv *c = open_csv(p);
    ROW(c, 1, "first", "1");
    expect_bad(c, p, 2, "longer than 1 MiB");
    ROW(c, 3, "next", "2");
    /* the quoted row is too long; its lines are then read as rows of their own:
     * the first is qqq... (one field, no quote left), the last is `q...",z` */
    expect_bad(c, p, 4, "longer than 1 MiB");
    const char *const *f;
    size_t nf;
    unsigned long at = 0;
    rb_error err = {{0}};
    unsigned long line = 5;
    for (size_t i = 1; i < q_lines; i++, line++) {
        assert_int_equal(rb_csv_next(c, &f, &nf, &at, &err), 1);
        assert_int_equal(at, line);
        assert_int_equal(nf, 1);
        assert_int_equal(strlen(f[0]), 999);
    }
    expect_bad(c, p, line, "quote inside an unquoted field");
    line++;
    assert_int_equal(rb_csv_next(c, &f, &nf, &at, &err), 1);
    assert_int_equal(at, line);
    assert_int_equal(nf, 1);
    assert_int_equal(strlen(f[0]), MiB);
    line++;
    expect_bad(c, p, line, "longer than 1 MiB");
    expect_bad(c, p, line + 1, "longer than 1 MiB");
    ROW(c, line + 2, "last", "3");
    expect_end(c);
    rb_csv_free(c);

    /* a long row at the very end of the input, without a line end */
    n = (size_t)sprintf(data, "a\n");
    memset(data + n, 'z', big); n += big;
    p = write_file("longend.csv", data, n);
    c = open_csv(p);
    ROW(c, 1, "a");
    expect_bad(c, p, 2, "longer than 1 MiB");
    expect_end(c);
    rb_csv_free(c);
    free(data);
}

static void test_csv_gz(void **state)
{
    (void)state;
    /* many rows so the input spans several read blocks */
    rb_buf b;
    rb_buf_init(&b);
    for (int i = 0; i < 50000; i++) {
        char line[128];
        snprintf(line, sizeof line, "r%d,\"v,%d\",\"multi\nline %d\"\r\n", i, i, i);
        rb_buf_puts(&b, line);
    }
    const char *p = write_gz("rows.dat", b.buf, b.len);      /* no .gz in the name */
    rb_csv *c = open_csv(p);
    const char *const *f;
    size_t nf;
    unsigned long at;
    rb_error err = {{0}};
    for (int i = 0; i < 50000; i++) {
        assert_int_equal(rb_csv_next(c, &f, &nf, &at, &err), 1);
        char want[64];
        assert_int_equal(at, (unsigned long)(2 * i + 1));
        assert_int_equal(nf, 3);
        snprintf(want, sizeof want, "r%d", i);
        assert_string_equal(f[0], want);
        snprintf(want, sizeof want, "v,%d", i);
        assert_string_equal(f[1], want);
        snprintf(want, sizeof want, "multi\nline %d", i);
        assert_string_equal(f[2], want);
    }
    expect_end(c);
    rb_csv_free(c);

    /* a truncated .gz: the rows that could be read, then a fatal error (twice) */
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    FILE *in = fopen(p, "rb");
    assert_non_null(in);
    size_t half = (size_t)sb.st_size / 2;
    char *gz = malloc(half);
    assert_int_equal(fread(gz, 1, half, in), half);
    fclose(in);
    const char *t = write_file("trunc.csv.gz", gz, half);
    free(gz);
    c = open_csv(t);
    int r, rows = 0;
    while ((r = rb_csv_next(c, &f, &nf, &at, &err)) == 1) rows++;
    assert_int_equal(r, -2);
    assert_true(rows > 1000 && rows < 50000);
    assert_non_null(strstr(err.msg, t));
    memset(&err, 0, sizeof err);
    assert_int_equal(rb_csv_next(c, &f, &nf, &at, &err), -2);
    assert_non_null(strstr(err.msg, t));
    rb_csv_free(c);
    rb_buf_free(&b);
}

static void test_csv_stdin_and_errors(void **state)
{
    (void)state;
    const char *p = write_str("stdin.csv", "x,y\n1,\"2\"\"\n");
    int saved = dup(0);
    assert_true(saved >= 0);
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    assert_true(dup2(fileno(f), 0) >= 0);
    fclose(f);
    rb_csv *c = NULL;
    rb_error err = {{0}};
    assert_int_equal(rb_csv_open("-", &c, &err), RB_OK);
    assert_int_equal(dup2(saved, 0), 0);     /* the reader has its own descriptor */
    close(saved);
    assert_string_equal(rb_csv_path(c), "-");
    ROW(c, 1, "x", "y");
    expect_bad(c, "stdin", 2, "quoted field not closed");
    expect_end(c);
    rb_csv_free(c);

    char missing[600];
    snprintf(missing, sizeof missing, "%s/no-such-file.csv", tmpdir);
    c = NULL;
    assert_int_equal(rb_csv_open(missing, &c, &err), RB_ERR_IO);
    assert_null(c);
    assert_non_null(strstr(err.msg, missing));
    assert_int_equal(rb_csv_open(tmpdir, &c, &err), RB_ERR_IO);
    assert_non_null(strstr(err.msg, "directory"));
    rb_recin *in = NULL;
    assert_int_equal(rb_recin_open(missing, &in, &err), RB_ERR_IO);
    assert_null(in);
    rb_csv_free(NULL);
    rb_recin_free(NULL);
}

/* ---- rb_recin ------------------------------------------------------------------------ */
static void set_rec(rb_record *r, size_t field, const char *v)
{
    char *dst = (char *)rb_record_get(r, field);    /* points into r */
    size_t size;
    switch (field) {
    case 0: size = sizeof r->source; break;
    case 1: size = sizeof r->recipient; break;
    case 4: size = sizeof r->reply_code; break;
    case 7: size = sizeof r->diagnostic; break;
    case 8: size = sizeof r->remote_mta; break;
    case 9: size = sizeof r->reporting_mta; break;
    case 12: size = sizeof r->addresser; break;
    case 13: size = sizeof r->original_message_id; break;
    case 14: size = sizeof r->original_subject; break;
    case 17: size = sizeof r->smtp_command; break;
    case 19: size = sizeof r->original_recipient; break;
    case 20: size = sizeof r->evidence; break;
    case 21: size = sizeof r->rule; break;
    case 22: size = sizeof r->provider_source; break;
    case 23: size = sizeof r->alert; break;
    default: size = RB_SHORT_MAX;
    }
    rb_strlcpy(dst, v, size);
}

static void assert_same_record(const rb_record *a, const rb_record *b)
{
    for (size_t i = 0; i < rb_record_nfields(); i++)
        if (strcmp(rb_record_get(a, i), rb_record_get(b, i)) != 0)
            fail_msg("field %s: wrote '%s', read '%s'", rb_record_fields[i], rb_record_get(a, i),
                     rb_record_get(b, i));
}

/* Awkward records: every field distinct, commas, quotes, UTF-8, empty
 * fields, spaces at the ends, values filling their fields. */
static size_t make_records(rb_record *recs, size_t max)
{
    size_t n = 0;
    size_t nf = rb_record_nfields();
    /* 0: every field set to a distinct value naming it */
    memset(&recs[n], 0, sizeof recs[n]);
    for (size_t i = 0; i < nf; i++) {
        char v[64];
        snprintf(v, sizeof v, "%.6s-%zu", rb_record_fields[i], i);
        set_rec(&recs[n], i, v);
    }
    n++;
    /* 1: commas and quotes everywhere */
    memset(&recs[n], 0, sizeof recs[n]);
    for (size_t i = 0; i < nf; i++) set_rec(&recs[n], i, i % 2 ? "a,\"b\"" : "\"q\",,\"\"");
    n++;
    /* 2: all empty but the recipient */
    memset(&recs[n], 0, sizeof recs[n]);
    set_rec(&recs[n], 1, "only@example.org");
    n++;
    /* 3: realistic, with UTF-8 and a quoted diagnostic */
    memset(&recs[n], 0, sizeof recs[n]);
    rb_record *r = &recs[n++];
    strcpy(r->source, "/var/mail/bounces,2024.mbox#17");
    strcpy(r->recipient, "k\xC3\xBC" "ck@example.jp");
    strcpy(r->reason, "userunknown");
    strcpy(r->status, "5.1.1");
    strcpy(r->reply_code, "550");
    strcpy(r->bounce_type, "hard");
    strcpy(r->action, "disable");
    strcpy(r->diagnostic, "550 5.1.1 <k\xC3\xBC" "ck@example.jp>: \"User unknown\", sorry \xE2\x80\x94 \xE6\x97\xA5\xE6\x9C\xAC");
    strcpy(r->original_subject, "  Caf\xC3\xA9, \"news\"  ");
    strcpy(r->date, "2024-03-01T10:00:00Z");
    strcpy(r->smtp_command, "RCPT");
    /* 4: every field full to its last byte (ASCII) */
    memset(&recs[n], 0, sizeof recs[n]);
    for (size_t i = 0; i < nf; i++) {
        char v[RB_TEXT_MAX + 8];
        memset(v, 'a' + (int)(i % 26), sizeof v - 1);
        v[sizeof v - 1] = '\0';
        v[3] = ',';
        v[5] = '"';
        set_rec(&recs[n], i, v);
    }
    n++;
    /* 5: tabs, a backslash, a 4-byte UTF-8 character */
    memset(&recs[n], 0, sizeof recs[n]);
    r = &recs[n++];
    strcpy(r->recipient, "x@y.example");
    strcpy(r->diagnostic, "tab\there \\ back\\slash \xF0\x9F\x98\x80 {\"json\": [1]}");
    strcpy(r->remote_mta, " mx.example.com ");
    assert_true(n <= max);
    return n;
}

static void test_recin_roundtrip(void **state)
{
    (void)state;
    rb_record recs[8];
    size_t n = make_records(recs, 8);
    rb_buf csv, jsonl;
    rb_buf_init(&csv);
    rb_buf_init(&jsonl);
    assert_int_equal(rb_csv_header(&csv), 0);
    for (size_t k = 0; k < 3; k++)           /* three times over, to see line numbers move on */
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(rb_record_to_csv(&recs[i], &csv), 0);
            assert_int_equal(rb_record_to_jsonl(&recs[i], &jsonl), 0);
        }
    const char *paths[4];
    char *pc = strdup(write_file("rt.csv", csv.buf, csv.len));
    char *pj = strdup(write_file("rt.jsonl", jsonl.buf, jsonl.len));
    char *pcz = strdup(write_gz("rt-csv.gz", csv.buf, csv.len));
    char *pjz = strdup(write_gz("rt-jsonl.gz", jsonl.buf, jsonl.len));
    paths[0] = pc; paths[1] = pj; paths[2] = pcz; paths[3] = pjz;
    const char *formats[4] = {"csv", "jsonl", "csv", "jsonl"};
    for (int k = 0; k < 4; k++) {
        rb_recin *in = NULL;
        rb_error err = {{0}};
        if (rb_recin_open(paths[k], &in, &err) != RB_OK) fail_msg("%s", err.msg);
        assert_string_equal(rb_recin_format(in), formats[k]);
        rb_record got;
        unsigned long line;
        for (size_t i = 0; i < 3 * n; i++) {
            memset(&got, 0x55, sizeof got);  /* next must zero it */
            int r = rb_recin_next(in, &got, &line, &err);
            if (r != 1) fail_msg("%s record %zu: %d %s", paths[k], i, r, err.msg);
            assert_int_equal(line, k % 2 ? i + 1 : i + 2);
            assert_same_record(&recs[i % n], &got);
            /* and the bytes after each field's NUL are zero too */
            rb_record z;
            memcpy(&z, &got, sizeof z);
            rb_record clean;
            memset(&clean, 0, sizeof clean);
            for (size_t f = 0; f < rb_record_nfields(); f++) set_rec(&clean, f, rb_record_get(&got, f));
            assert_memory_equal(&clean, &z, sizeof z);
        }
        assert_int_equal(rb_recin_next(in, &got, &line, &err), 0);
        rb_recin_free(in);
    }
    free(pc); free(pj); free(pcz); free(pjz);
    rb_buf_free(&csv);
    rb_buf_free(&jsonl);
}

static rb_recin *open_recin(const char *path)
{
    rb_recin *in = NULL;
    rb_error err = {{0}};
    if (rb_recin_open(path, &in, &err) != RB_OK) fail_msg("open %s: %s", path, err.msg);
    return in;
}

static void next_rec(rb_recin *in, rb_record *r, unsigned long line)
{
    rb_error err = {{0}};
    unsigned long at = 0;
    int got = rb_recin_next(in, r, &at, &err);
    if (got != 1) fail_msg("expected a record at line %lu, got %d (%s)", line, got, err.msg);
    assert_int_equal(at, line);
}

static void bad_rec(rb_recin *in, const char *path, unsigned long line, const char *why)
{
    rb_error err = {{0}};
    rb_record r;
    unsigned long at = 0;
    int got = rb_recin_next(in, &r, &at, &err);
    if (got != -1) fail_msg("expected a bad row at line %lu, got %d", line, got);
    assert_int_equal(at, line);
    char prefix[600];
    snprintf(prefix, sizeof prefix, "%s:%lu: ", path, line);
    if (strncmp(err.msg, prefix, strlen(prefix)) != 0) fail_msg("message '%s' lacks '%s'", err.msg, prefix);
    if (!strstr(err.msg, why)) fail_msg("message '%s' lacks '%s'", err.msg, why);
}

static void end_rec(rb_recin *in)
{
    rb_error err = {{0}};
    rb_record r;
    unsigned long at;
    assert_int_equal(rb_recin_next(in, &r, &at, &err), 0);
}

static void test_recin_aliases(void **state)
{
    (void)state;
    const char *p = write_str("alias.csv",
        " Email ,Status_Message,bounce_category,TIMESTAMP,status_code,unknown,Provider\r\n"
        "a@example.com,\"550 5.1.1 no, such user\",hard_bounce,2024-01-02 03:04:05,550 5.1.10,zzz,gmail\r\n"
        "b@example.com,,,,421-4.7.0,,\r\n"
        "c@example.com,,,,5.7.1,,\r\n"
        "d@example.com,,,,junk 99 1.2,,\r\n");
    rb_recin *in = open_recin(p);
    assert_string_equal(rb_recin_format(in), "csv");
    rb_record r;
    next_rec(in, &r, 2);
    assert_string_equal(r.recipient, "a@example.com");
    assert_string_equal(r.diagnostic, "550 5.1.1 no, such user");
    assert_string_equal(r.reason, "hard_bounce");
    assert_string_equal(r.date, "2024-01-02 03:04:05");
    assert_string_equal(r.reply_code, "550");
    assert_string_equal(r.status, "5.1.10");
    assert_string_equal(r.provider, "gmail");
    assert_string_equal(r.source, "");
    next_rec(in, &r, 3);
    assert_string_equal(r.reply_code, "421");
    assert_string_equal(r.status, "4.7.0");
    next_rec(in, &r, 4);
    assert_string_equal(r.reply_code, "");
    assert_string_equal(r.status, "5.7.1");
    next_rec(in, &r, 5);
    assert_string_equal(r.reply_code, "");
    assert_string_equal(r.status, "");
    end_rec(in);
    rb_recin_free(in);

    /* canonical names win over aliases wherever they stand; explicit
     * reply_code / status win over status_code; other aliases */
    p = write_str("alias2.csv",
                  "email_address,status_code,dsn,recipient,SMTP_CODE,diagnostic_code,message,bounced_at\n"
                  "alias@x.example,550 5.1.1,5.2.2,canon@x.example,552,diag,msg,2024\n"
                  "alias@x.example,550 5.1.1,,canon@x.example,,diag,msg,2024\n");
    in = open_recin(p);
    next_rec(in, &r, 2);
    assert_string_equal(r.recipient, "canon@x.example");
    assert_string_equal(r.status, "5.2.2");
    assert_string_equal(r.reply_code, "552");
    assert_string_equal(r.diagnostic, "diag");       /* the first alias of two */
    assert_string_equal(r.date, "2024");
    next_rec(in, &r, 3);
    assert_string_equal(r.status, "5.1.1");          /* empty: status_code fills it */
    assert_string_equal(r.reply_code, "550");
    end_rec(in);
    rb_recin_free(in);

    const char *names[] = {"address", "recipient_email", "RECIPIENT"};
    for (size_t i = 0; i < 3; i++) {
        char text[128];
        snprintf(text, sizeof text, "x,%s,enhanced_status,reply\n1,who@example.net,4.4.1,451\n", names[i]);
        in = open_recin(write_str("alias3.csv", text));
        next_rec(in, &r, 2);
        assert_string_equal(r.recipient, "who@example.net");
        assert_string_equal(r.status, "4.4.1");
        assert_string_equal(r.reply_code, "451");
        rb_recin_free(in);
    }
}

static void test_recin_csv_errors(void **state)
{
    (void)state;
    /* no recipient column: open fails naming the file */
    const char *p = write_str("norcpt.csv", "\n\nname,status,recipients\nx,5.1.1,y\n");
    rb_recin *in = NULL;
    rb_error err = {{0}};
    assert_int_equal(rb_recin_open(p, &in, &err), RB_ERR_PARSE);
    assert_null(in);
    char want[600];
    snprintf(want, sizeof want, "%s:3: ", p);
    assert_non_null(strstr(err.msg, want));
    assert_non_null(strstr(err.msg, "recipient"));

    /* a malformed header row */
    p = write_str("badhdr.csv", "recipient,\"status\n");
    assert_int_equal(rb_recin_open(p, &in, &err), RB_ERR_PARSE);
    snprintf(want, sizeof want, "%s:1: ", p);
    assert_non_null(strstr(err.msg, want));

    /* field counts, and bad rows in between good ones */
    p = write_str("counts.csv",
                  "recipient,status\n"
                  "a@x.example,5.1.1\n"
                  "b@x.example\n"
                  "c@x.example,5.1.1,extra\n"
                  "d@x.example,\"5.\n1.1\"\n"
                  "e@x.example,5\"1\n"
                  "\n"
                  "f@x.example,\n");
    in = open_recin(p);
    rb_record r;
    next_rec(in, &r, 2);
    assert_string_equal(r.recipient, "a@x.example");
    bad_rec(in, p, 3, "1 field, the header has 2");
    bad_rec(in, p, 4, "3 fields, the header has 2");
    next_rec(in, &r, 5);
    assert_string_equal(r.status, "5.\n1.1");
    bad_rec(in, p, 7, "quote inside an unquoted field");
    next_rec(in, &r, 9);
    assert_string_equal(r.recipient, "f@x.example");
    assert_string_equal(r.status, "");
    end_rec(in);
    rb_recin_free(in);

    /* an empty input, a blank one: no records */
    in = open_recin(write_str("empty.in", ""));
    end_rec(in);
    rb_recin_free(in);
    in = open_recin(write_str("blank.in", "\n  \r\n\t\n"));
    end_rec(in);
    rb_recin_free(in);
}

static void test_recin_jsonl(void **state)
{
    (void)state;
    char over[RB_SHORT_MAX + 40];     /* 62 ASCII bytes, then a 3-byte character */
    memset(over, 'r', 62);
    strcpy(over + 62, "\xE2\x82\xAC" "tail");
    char text[4096];
    snprintf(text, sizeof text,
             "\xEF\xBB\xBF\n"                                                     /* 1 */
             "  {\"recipient\":\"a@x.example\",\"reply_code\":550,\"status\":null,"
             "\"extra\":{\"nested\":[1]},\"diagnostic\":\"line\\nbreak \\u00e9\\u0001\"}\n"  /* 2 */
             "{\"recipient\": \"broken\n"                                        /* 3 */
             "\n"                                                                 /* 4 */
             "   \r\n"                                                            /* 5 */
             "{\"recipient\":\"b@x.example\",\"reason\":\"%s\"}\r\n"             /* 6 */
             "[1,2]\n"                                                            /* 7 */
             "\"just a string\"\n"                                                /* 8 */
             "{\"Recipient\":\"c@x.example\",\"email\":\"alias@x.example\",\"status_code\":\"550 5.1.1\","
             "\"reply\":\"421\",\"smtp_command\":true,\"date\":1.5,\"action\":[\"x\"]}\n"  /* 9 */
             "{\"email\":\"d@x.example\",\"status_code\":550}\n"                  /* 10 */
             "{} trailing\n"                                                      /* 11 */
             "{\"recipient\":\"e@x.example\"}",                                   /* 12, no LF */
             over);
    const char *p = write_str("mixed.jsonl", text);
    rb_recin *in = open_recin(p);
    assert_string_equal(rb_recin_format(in), "jsonl");
    rb_record r;
    next_rec(in, &r, 2);
    assert_string_equal(r.recipient, "a@x.example");
    assert_string_equal(r.reply_code, "550");
    assert_string_equal(r.status, "");
    assert_string_equal(r.diagnostic, "line\nbreak \xC3\xA9\x01");
    bad_rec(in, p, 3, "not a JSON object: ");
    next_rec(in, &r, 6);
    assert_string_equal(r.recipient, "b@x.example");
    assert_int_equal(strlen(r.reason), 62);           /* the cut character is dropped whole */
    assert_memory_equal(r.reason, over, 62);
    bad_rec(in, p, 7, "not a JSON object: an array");
    bad_rec(in, p, 8, "not a JSON object: ");
    next_rec(in, &r, 9);
    assert_string_equal(r.recipient, "c@x.example");  /* canonical name in any case beats the alias */
    assert_string_equal(r.reply_code, "421");         /* the alias beats status_code */
    assert_string_equal(r.status, "5.1.1");
    assert_string_equal(r.smtp_command, "true");
    assert_string_equal(r.date, "1.5");
    assert_string_equal(r.action, "");
    next_rec(in, &r, 10);
    assert_string_equal(r.recipient, "d@x.example");
    assert_string_equal(r.reply_code, "550");
    bad_rec(in, p, 11, "not a JSON object: ");
    next_rec(in, &r, 12);
    assert_string_equal(r.recipient, "e@x.example");
    end_rec(in);
    rb_recin_free(in);

    /* the message carries jansson's own text */
    p = write_str("bad.jsonl", "{\"recipient\":}\n{\"recipient\":\"ok@x.example\"}\n");
    in = open_recin(p);
    rb_error err = {{0}};
    unsigned long at;
    assert_int_equal(rb_recin_next(in, &r, &at, &err), -1);
    json_error_t je;
    json_t *j = json_loads("{\"recipient\":}", 0, &je);
    assert_null(j);
    char want[700];
    snprintf(want, sizeof want, "%s:1: not a JSON object: %s", p, je.text);
    assert_string_equal(err.msg, want);
    next_rec(in, &r, 2);
    assert_string_equal(r.recipient, "ok@x.example");
    end_rec(in);
    rb_recin_free(in);
}

/* Lines as analyze writes them take a fast path; a line with one more key
 * (not a field) goes through jansson.  Both must agree on every string. */
static void test_recin_jsonl_fast_path(void **state)
{
    (void)state;
    static const char *const lits[] = {
        "\"plain\"", "\"\"", "\"esc \\\" \\\\ \\/ \\b\\f\\n\\r\\t\"",
        "\"\\u00e9\\u20AC\\uffff\\u0001\"", "\"pair \\ud83d\\ude00 end\"",
        "\"lone \\ud83d x\"", "\"lone \\udc00\"", "\"high then bad \\ud83d\\u0041\"",
        "\"nul \\u0000\"", "\"bad escape \\x\"", "\"short \\u12\"", "\"short \\u12G4\"",
        "\"raw \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \x7F\"", "\"bad utf8 \xC3(\"",
        "\"overlong \xC0\xAF\"", "\"surrogate \xED\xA0\x80\"", "\"too big \xF4\x90\x80\x80\"",
        "\"cut \xE2\x82\"", "\"tab\tinside\"", "\"ctl \x01n\"", "\"unterminated", "null", "nul", "1", "\"a\" \"b\"",
        "\"trailing backslash \\",
    };
    rb_buf b;
    rb_buf_init(&b);
    for (size_t i = 0; i < sizeof lits / sizeof lits[0]; i++) {
        rb_buf_puts(&b, "{\"recipient\":\"a@x.example\", \"diagnostic\" : ");
        rb_buf_puts(&b, lits[i]);
        rb_buf_puts(&b, "}\n{\"recipient\":\"a@x.example\", \"diagnostic\" : ");
        rb_buf_puts(&b, lits[i]);
        rb_buf_puts(&b, ", \"not_a_field\": 1}\n");
    }
    /* duplicates: the last wins either way; keys with escapes; an empty object */
    rb_buf_puts(&b, "{\"recipient\":\"a\",\"recipient\":null}\n{\"recipient\":\"a\",\"recipient\":null,\"x\":0}\n"
                    "{\"recipient\":null,\"recipient\":\"b\"}\n{\"recipient\":null,\"recipient\":\"b\",\"x\":0}\n"
                    "{\"recip\\u0069ent\":\"c\"}\n{\"recip\\u0069ent\":\"c\",\"x\":0}\n"
                    " { } \n{\"x\":0}\n"
                    "{\"recipient\":\"d\",}\n{\"recipient\":\"d\",,\"x\":0}\n"
                    "{\"recipient\":\"e\"} x\n{\"recipient\":\"e\",\"x\":0} x\n");
    const char *p = write_file("fast.jsonl", b.buf, b.len);
    rb_buf_free(&b);
    rb_recin *in = open_recin(p);
    size_t pairs = 0, good = 0;
    for (;;) {
        rb_record r1, r2;
        rb_error e1 = {{0}}, e2 = {{0}};
        unsigned long l1, l2;
        int x1 = rb_recin_next(in, &r1, &l1, &e1);
        if (x1 == 0) break;
        int x2 = rb_recin_next(in, &r2, &l2, &e2);
        assert_int_equal(l2, l1 + 1);
        if (x1 != x2) fail_msg("line %lu: fast path %d (%s), jansson %d (%s)", l1, x1, e1.msg, x2, e2.msg);
        if (x1 == 1) {
            assert_same_record(&r1, &r2);
            good++;
        }
        pairs++;
    }
    rb_recin_free(in);
    assert_int_equal(pairs, sizeof lits / sizeof lits[0] + 6);
    assert_int_equal(good, 8 + 4);    /* plain, "", esc, \\u, pair, raw, null, 1; and four of the others */
}

static void test_recin_jsonl_long_line(void **state)
{
    (void)state;
    size_t big = 2 * MiB;
    char *data = malloc(big + 256);
    size_t n = (size_t)sprintf(data, "{\"recipient\":\"a@x.example\"}\n{\"diagnostic\":\"");
    memset(data + n, 'd', big); n += big;
    n += (size_t)sprintf(data + n, "\"}\n{\"recipient\":\"b@x.example\"}\n");
    const char *p = write_file("long.jsonl", data, n);
    rb_recin *in = open_recin(p);
    rb_record r;
    next_rec(in, &r, 1);
    bad_rec(in, p, 2, "longer than 1 MiB");
    next_rec(in, &r, 3);
    assert_string_equal(r.recipient, "b@x.example");
    end_rec(in);
    rb_recin_free(in);
    free(data);
}

/* ---- rb_email_normalize ----------------------------------------------------------------- */
static void test_email_accept(void **state)
{
    (void)state;
    static const struct { const char *in, *out; } ok[] = {
        {"  <John.Doe@Example.COM> ", "john.doe@example.com"},
        {"mailto:a@b.c", "a@b.c"},
        {"MAILTO:<X@Y.Example>", "x@y.example"},
        {"<mailto:x@y.example>", "x@y.example"},
        {"\tuser+tag@sub.example.co.uk\r\n", "user+tag@sub.example.co.uk"},
        {"user@[192.0.2.1]", "user@[192.0.2.1]"},
        {"user@[IPv6:2001:db8::1]", "user@[ipv6:2001:db8::1]"},
        {"o'brien!#$%&*/=?^_`{|}~-@x-y.example", "o'brien!#$%&*/=?^_`{|}~-@x-y.example"},
        {"J\xC3\x9CRGEN@B\xC3\xBC" "cher.example", "j\xC3\x9Crgen@b\xC3\xBC" "cher.example"},   /* ASCII only */
        {"a@xn--bcher-kva.example", "a@xn--bcher-kva.example"},
        {"1@2.example3", "1@2.example3"},
    };
    char out[RB_ADDR_MAX];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        if (!rb_email_normalize(ok[i].in, out, sizeof out))
            fail_msg("'%s' rejected: %s", ok[i].in, out);
        assert_string_equal(out, ok[i].out);
    }
    /* 64-byte local part and 254 bytes in all are the limits */
    char a[400];
    memset(a, 'l', 64);
    strcpy(a + 64, "@");
    size_t n = strlen(a);
    while (n < 254 - 4) { a[n++] = 'd'; if ((n - 65) % 60 == 59) a[n++] = '.'; }
    strcpy(a + n, ".com");
    assert_int_equal(strlen(a), 254);
    assert_true(rb_email_normalize(a, out, sizeof out));
    assert_string_equal(out, a);
}

static void test_email_reject(void **state)
{
    (void)state;
    char longaddr[400];
    memset(longaddr, 'a', 300);
    memcpy(longaddr + 280, "@example.com", 12);
    longaddr[300] = '\0';
    char longlocal[100];
    memset(longlocal, 'l', 65);
    strcpy(longlocal + 65, "@x.example");
    char longlabel[100];
    strcpy(longlabel, "a@");
    memset(longlabel + 2, 'b', 64);
    strcpy(longlabel + 66, ".example");
    static const struct { const char *in, *why; } bad[] = {
        {"a@b", "no dot"},
        {"a@@b.c", "more than one @"},
        {"a@x@b.c", "more than one @"},
        {"a b@c.d", "space"},
        {"a@-b.c", "bad domain"},
        {"a@b-.c", "bad domain"},
        {"a..b@c.d", "dots"},
        {".a@c.d", "dots"},
        {"a.@c.d", "dots"},
        {"", "empty"},
        {"   ", "empty"},
        {"<>", "empty"},
        {"nobody", "no @"},
        {"@b.c", "empty local part"},
        {"a@", "empty domain"},
        {"a@b..c", "bad domain"},
        {"a@.b.c", "bad domain"},
        {"a@b.c.", "bad domain"},
        {"a@b_c.d", "bad domain"},
        {"a@1.2.3.4", "bad domain"},
        {"a@[300.1.1.1]", "bad address literal"},
        {"a@[1.2.3]", "bad address literal"},
        {"\"john doe\"@example.com", "quoted"},
        {"a\tb@c.d", "space"},
        {"a\x01@c.d", "control"},
        {"a(b)@c.d", "bad character"},
        {"<a@b.c", "bad character"},
        {"a@b.c>", "bad domain"},
        {"a\xC3@b.c", "UTF-8"},
        {"a\xC0\xAF@b.c", "UTF-8"},
    };
    char out[RB_ADDR_MAX];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(out, 'X', sizeof out);
        if (rb_email_normalize(bad[i].in, out, sizeof out))
            fail_msg("'%s' accepted as '%s'", bad[i].in, out);
        if (!strstr(out, bad[i].why)) fail_msg("'%s': reason '%s', want '%s'", bad[i].in, out, bad[i].why);
    }
    assert_false(rb_email_normalize(longaddr, out, sizeof out));
    assert_string_equal(out, "too long");
    assert_false(rb_email_normalize(longlocal, out, sizeof out));
    assert_string_equal(out, "local part too long");
    assert_false(rb_email_normalize(longlabel, out, sizeof out));
    assert_string_equal(out, "bad domain");
    assert_false(rb_email_normalize(NULL, out, sizeof out));
    /* the output buffer bounds the result */
    char small[6];
    assert_false(rb_email_normalize("abc@example.com", small, sizeof small));
    assert_int_equal(strlen(small), 5);
    assert_true(rb_email_normalize("a@b.c", small, sizeof small));
    assert_string_equal(small, "a@b.c");
}

/* ---- delimiters and encodings ------------------------------------------------------ */
static rb_csv *open_csv_with(const char *path, char delim)
{
    rb_csv *c = NULL;
    rb_error err = {{0}};
    rb_csv_opts o = {delim};
    if (rb_csv_open_opts(path, &o, &c, &err) != RB_OK) fail_msg("open %s: %s", path, err.msg);
    return c;
}

static void expect_info(rb_csv *c, char delim, int sniffed, rb_csv_encoding enc)
{
    rb_csv_info ci;
    rb_csv_get_info(c, &ci);
    assert_int_equal(ci.delimiter, delim);
    assert_int_equal(ci.sniffed, sniffed);
    assert_int_equal(ci.encoding, enc);
}

static void test_csv_sniff(void **state)
{
    (void)state;
    /* semicolon, CRLF, a BOM, decimal commas in the data, a quoted ';' */
    rb_csv *c = open_csv(write_str("semi.csv", "\xEF\xBB\xBFnaam;e-mailadres;bedrag\r\n"
                                               "Jan;jan@example.nl;3,50\r\n"
                                               "\"de Vries; P.\";p@example.nl;\"1;2\"\r\n"));
    ROW(c, 1, "naam", "e-mailadres", "bedrag");
    expect_info(c, ';', 1, RB_ENC_UTF8);
    ROW(c, 2, "Jan", "jan@example.nl", "3,50");
    ROW(c, 3, "de Vries; P.", "p@example.nl", "1;2");
    expect_end(c);
    rb_csv_free(c);

    /* TAB; commas and semicolons in the data do not count */
    c = open_csv(write_str("tab.csv", "name\temail\n\"Doe, John\"\tj;d@example.org\n"));
    ROW(c, 1, "name", "email");
    expect_info(c, '\t', 1, RB_ENC_UTF8);
    ROW(c, 2, "Doe, John", "j;d@example.org");
    expect_end(c);
    rb_csv_free(c);

    /* a delimiter inside a quoted header name does not count */
    c = open_csv(write_str("qhdr.csv", "\"a;b\",c\n1,2\n"));
    ROW(c, 1, "a;b", "c");
    expect_info(c, ',', 1, RB_ENC_UTF8);
    rb_csv_free(c);
    c = open_csv(write_str("qhdr2.csv", "\"x, y\";email\n1;2\n"));
    ROW(c, 1, "x, y", "email");
    expect_info(c, ';', 1, RB_ENC_UTF8);
    rb_csv_free(c);

    /* the header has both: the one the rows agree with wins */
    c = open_csv(write_str("both.csv", "naam;bedrag,eur;email\n"
                                       "Jan;3;j@x.example\n"
                                       "Piet;4,5,6;p@x.example\n"
                                       "Kees;7;k@x.example\n"));
    ROW(c, 1, "naam", "bedrag,eur", "email");
    expect_info(c, ';', 1, RB_ENC_UTF8);
    rb_csv_free(c);
    c = open_csv(write_str("both2.csv", "a;b,c\n1;2,3\nx,y\n4;;5,6\n"));
    ROW(c, 1, "a;b", "c");
    expect_info(c, ',', 1, RB_ENC_UTF8);
    rb_csv_free(c);

    /* one column, leading blank lines: a comma, as before */
    c = open_csv(write_str("one.csv", "\n\r\nemail\na;b@x.example\n"));
    ROW(c, 3, "email");
    expect_info(c, ',', 1, RB_ENC_UTF8);
    ROW(c, 4, "a;b@x.example");
    rb_csv_free(c);

    /* given, not guessed */
    c = open_csv_with(write_str("given.csv", "a,b;c\n1,2;3\n"), ';');
    ROW(c, 1, "a,b", "c");
    expect_info(c, ';', 0, RB_ENC_UTF8);
    ROW(c, 2, "1,2", "3");
    rb_csv_free(c);
    c = open_csv_with(write_str("given2.csv", "a;b\tc\n"), '\t');
    ROW(c, 1, "a;b", "c");
    rb_csv_free(c);
    rb_csv *none = NULL;
    rb_error err = {{0}};
    rb_csv_opts bad = {'|'};
    assert_int_equal(rb_csv_open_opts(write_str("x.csv", "a|b\n"), &bad, &none, &err), RB_ERR_ARG);
    assert_null(none);

    /* with ';' a quote after a closing quote is still an error, and ',' is data */
    c = open_csv(write_str("semibad.csv", "a;b\n\"x\"y;1\n\"p,q\";2\n"));
    ROW(c, 1, "a", "b");
    expect_bad(c, write_str("semibad.csv", "a;b\n\"x\"y;1\n\"p,q\";2\n"), 2, "text after a closing quote");
    ROW(c, 3, "p,q", "2");
    rb_csv_free(c);
}

static void test_csv_encodings(void **state)
{
    (void)state;
    /* Windows-1252: one byte that is not UTF-8 makes the whole file
     * Windows-1252, so C3 A9 is "Ã©" there, not "é" */
    rb_csv *c = open_csv(write_str("cp.csv", "naam;email\r\n"
                                             "Jos\xC3\xA9;a@x.example\r\n"
                                             "Ren\xE9;b@x.example\r\n"
                                             "prijs \x80 5 \x93q\x94;c@x.example\r\n"));
    ROW(c, 1, "naam", "email");
    ROW(c, 2, "Jos\xC3\x83\xC2\xA9", "a@x.example");
    expect_info(c, ';', 1, RB_ENC_CP1252);
    ROW(c, 3, "Ren\xC3\xA9", "b@x.example");
    ROW(c, 4, "prijs \xE2\x82\xAC 5 \xE2\x80\x9Cq\xE2\x80\x9D", "c@x.example");
    expect_end(c);
    rb_csv_free(c);

    /* the same name in UTF-8 stays as it is */
    c = open_csv(write_str("u8.csv", "naam;email\nJos\xC3\xA9;a@x.example\n\xE2\x82\xAC;b@x.example\n"));
    ROW(c, 1, "naam", "email");
    ROW(c, 2, "Jos\xC3\xA9", "a@x.example");
    ROW(c, 3, "\xE2\x82\xAC", "b@x.example");
    expect_info(c, ';', 1, RB_ENC_UTF8);
    rb_csv_info ci;
    rb_csv_get_info(c, &ci);
    assert_int_equal(ci.recoded, 0);
    rb_csv_free(c);

    /* the byte that is not UTF-8 far past the first: the file decides
     * (also gzip-compressed); a BOM first */
    rb_buf b;
    rb_buf_init(&b);
    rb_buf_puts(&b, "naam,email\nJos\xC3\xA9,a@x.example\n");
    for (int i = 0; i < 20000; i++) rb_buf_puts(&b, "filler name,filler@x.example\n");
    rb_buf_puts(&b, "Ren\xE9,b@x.example\n");
    for (int z = 0; z < 2; z++) {
        c = open_csv(z ? write_gz("late.csv.gz", b.buf, b.len) : write_file("late.csv", b.buf, b.len));
        ROW(c, 1, "naam", "email");
        ROW(c, 2, "Jos\xC3\x83\xC2\xA9", "a@x.example");
        expect_info(c, ',', 1, RB_ENC_CP1252);
        for (int i = 0; i < 20000; i++) ROW(c, 3 + (unsigned long)i, "filler name", "filler@x.example");
        ROW(c, 20003, "Ren\xC3\xA9", "b@x.example");
        expect_end(c);
        rb_csv_free(c);
    }

    /* from a pipe what is buffered decides; a stray byte later is read as
     * Windows-1252 alone, and counted */
    const char *p = write_file("late-stdin.csv", b.buf, b.len);
    int saved = dup(0);
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    assert_true(dup2(fileno(f), 0) >= 0);
    fclose(f);
    rb_error err = {{0}};
    c = NULL;
    assert_int_equal(rb_csv_open("-", &c, &err), RB_OK);
    assert_int_equal(dup2(saved, 0), 0);
    close(saved);
    ROW(c, 1, "naam", "email");
    ROW(c, 2, "Jos\xC3\xA9", "a@x.example");
    for (int i = 0; i < 20000; i++) ROW(c, 3 + (unsigned long)i, "filler name", "filler@x.example");
    ROW(c, 20003, "Ren\xC3\xA9", "b@x.example");
    expect_end(c);
    rb_csv_get_info(c, &ci);
    assert_int_equal(ci.encoding, RB_ENC_UTF8);
    assert_int_equal(ci.recoded, 1);
    rb_csv_free(c);
    rb_buf_free(&b);

    /* UTF-16LE with a BOM (Excel's "Unicode text"): TAB, CRLF, é, €, and a
     * character beyond the BMP (a surrogate pair); and UTF-16BE */
    const char *text = "naam\temail\r\nRen\xC3\xA9 \xE2\x82\xAC\t\xF0\x9F\x98\x80@x.example\r\n";
    for (int be = 0; be < 2; be++) {
        unsigned char u16[256];
        size_t n = 0;
        u16[n++] = be ? 0xFE : 0xFF;
        u16[n++] = be ? 0xFF : 0xFE;
        const unsigned char *t = (const unsigned char *)text;
        while (*t) {
            unsigned cp;
            if (*t < 0x80) cp = *t++;
            else if (*t < 0xE0) { cp = (t[0] & 0x1Fu) << 6 | (t[1] & 0x3Fu); t += 2; }
            else if (*t < 0xF0) { cp = (t[0] & 0x0Fu) << 12 | (t[1] & 0x3Fu) << 6 | (t[2] & 0x3Fu); t += 3; }
            else { cp = (t[0] & 0x07u) << 18 | (t[1] & 0x3Fu) << 12 | (t[2] & 0x3Fu) << 6 | (t[3] & 0x3Fu); t += 4; }
            unsigned units[2], nu = 0;
            if (cp >= 0x10000) { units[nu++] = 0xD800 + ((cp - 0x10000) >> 10); units[nu++] = 0xDC00 + ((cp - 0x10000) & 0x3FF); }
            else units[nu++] = cp;
            for (unsigned k = 0; k < nu; k++) {
                u16[n++] = (unsigned char)(be ? units[k] >> 8 : units[k] & 0xFF);
                u16[n++] = (unsigned char)(be ? units[k] & 0xFF : units[k] >> 8);
            }
        }
        c = open_csv(write_file("u16.txt", u16, n));
        ROW(c, 1, "naam", "email");
        expect_info(c, '\t', 1, be ? RB_ENC_UTF16BE : RB_ENC_UTF16LE);
        ROW(c, 2, "Ren\xC3\xA9 \xE2\x82\xAC", "\xF0\x9F\x98\x80@x.example");
        expect_end(c);
        rb_csv_free(c);
        /* cut in the middle of a unit: the odd byte is U+FFFD */
        c = open_csv(write_file("u16odd.txt", u16, 2 + 2 * 4 + 1));
        ROW(c, 1, "naam\xEF\xBF\xBD");
        expect_end(c);
        rb_csv_free(c);
    }
}

static void test_recin_semicolon(void **state)
{
    (void)state;
    /* Dutch headers, ';', Windows-1252 */
    const char *p = write_str("nl.csv", "Naam;E-mailadres;Status;Reden\r\n"
                                        "Ren\xE9;rene@x.example;5.1.1;userunknown\r\n");
    rb_recin *in = open_recin(p);
    rb_record r;
    next_rec(in, &r, 2);
    assert_string_equal(r.recipient, "rene@x.example");
    assert_string_equal(r.status, "5.1.1");
    rb_csv_info ci;
    rb_recin_get_info(in, &ci);
    assert_int_equal(ci.delimiter, ';');
    assert_int_equal(ci.encoding, RB_ENC_CP1252);
    end_rec(in);
    rb_recin_free(in);

    const char *names[] = {"e-mail", "E-Mail-Adresse", "courriel", "Adresse e-mail", "mail", "emailadres"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        assert_true(rb_csv_name_is_email(names[i]));
        char text[128];
        snprintf(text, sizeof text, "x;%s;status\n1;who@example.net;4.4.1\n", names[i]);
        in = open_recin(write_str("syn.csv", text));
        next_rec(in, &r, 2);
        assert_string_equal(r.recipient, "who@example.net");
        rb_recin_free(in);
    }
    assert_false(rb_csv_name_is_email("naam"));
    assert_false(rb_csv_name_is_email("emails sent"));

    /* no recipient column: the message names the delimiter and the columns */
    p = write_str("nl-none.csv", "naam;adres;plaats;a;b;c;d;e\nx;y;z;1;2;3;4;5\n");
    rb_error err = {{0}};
    in = NULL;
    assert_int_equal(rb_recin_open(p, &in, &err), RB_ERR_PARSE);
    assert_null(in);
    if (!strstr(err.msg, "read with delimiter ';'; columns: naam, adres, plaats, a, b, c, ... (8 in all)"))
        fail_msg("message: %s", err.msg);

    /* the delimiter given; JSONL keeps its bytes (jansson rejects them) */
    rb_csv_opts o = {','};
    p = write_str("given.csv", "recipient;status\na@x.example;5.1.1\n");
    assert_int_equal(rb_recin_open_opts(p, &o, &in, &err), RB_ERR_PARSE);
    assert_non_null(strstr(err.msg, "read with delimiter ','; column: recipient;status"));
    in = open_recin(write_str("bad8.jsonl", "{\"recipient\":\"Ren\xE9@x.example\"}\n"));
    bad_rec(in, write_str("bad8.jsonl", "{\"recipient\":\"Ren\xE9@x.example\"}\n"), 1, "not a JSON object");
    rb_recin_free(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_quoting),          cmocka_unit_test(test_csv_bom),
        cmocka_unit_test(test_csv_bad_rows),         cmocka_unit_test(test_csv_long_rows),
        cmocka_unit_test(test_csv_gz),               cmocka_unit_test(test_csv_stdin_and_errors),
        cmocka_unit_test(test_recin_roundtrip),      cmocka_unit_test(test_recin_aliases),
        cmocka_unit_test(test_recin_csv_errors),     cmocka_unit_test(test_recin_jsonl),
        cmocka_unit_test(test_recin_jsonl_fast_path),
        cmocka_unit_test(test_recin_jsonl_long_line), cmocka_unit_test(test_email_accept),
        cmocka_unit_test(test_email_reject),
        cmocka_unit_test(test_csv_sniff),            cmocka_unit_test(test_csv_encodings),
        cmocka_unit_test(test_recin_semicolon),
    };
    return cmocka_run_group_tests_name("input", tests, setup, teardown);
}
