/* fuzz_input.c -- libFuzzer target for the record and CSV readers and for
 * address normalisation.  The first input byte chooses whether the rest is
 * written to the file as it is or gzip-compressed (to reach the .gz path);
 * the file is then read through rb_recin (JSONL or CSV, by content) and
 * through rb_csv.  Besides memory errors the target checks the readers'
 * promises and aborts when one is broken: every call makes progress (line
 * numbers strictly increase, no more results than lines), no row has more
 * than 256 fields or more than 1 MiB, and an address that normalises
 * normalises again to itself.  For JSONL, every line is also read a second
 * time with a key added that is not a field, which sends it through jansson
 * instead of the fast path: both must give the same result. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "rebound.h"
#include "rebound_input.h"
#include "rebound_store.h"

#ifndef RB_CSV_ROW_MAX
#define RB_CSV_ROW_MAX (1024 * 1024)    /* csv.c's limit, when built with another */
#endif

static char path[64], path2[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    snprintf(path, sizeof path, "/tmp/rebound-fuzz-input.%d", (int)getpid());
    snprintf(path2, sizeof path2, "/tmp/rebound-fuzz-input2.%d", (int)getpid());
    return 0;
}

static void check_address(const char *a)
{
    char n1[RB_ADDR_MAX], n2[RB_ADDR_MAX];
    if (!rb_email_normalize(a, n1, sizeof n1)) return;
    if (strlen(n1) > 254) abort();
    if (!rb_email_normalize(n1, n2, sizeof n2) || strcmp(n1, n2) != 0) abort();
}

static void same_record(const rb_record *a, const rb_record *b)
{
    for (size_t i = 0; i < rb_record_nfields(); i++)
        if (strcmp(rb_record_get(a, i), rb_record_get(b, i)) != 0) abort();
}

/* Copy data with `,"zz_":0` put before the last '}' of every line that ends
 * in one (no comma after a '{'): a valid object stays valid, with a key that
 * is not a field, and an invalid line stays invalid. */
static int write_with_extra_key(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path2, "wb");
    if (!f) return -1;
    size_t b = 0;
    while (b < size) {
        const uint8_t *nl = memchr(data + b, '\n', size - b);
        size_t e = nl ? (size_t)(nl - data) : size;
        size_t k = e;
        while (k > b && strchr(" \t\r", data[k - 1])) k--;
        if (k > b && data[k - 1] == '}') {
            size_t j = k - 1;
            while (j > b && strchr(" \t\r", data[j - 1])) j--;
            fwrite(data + b, 1, k - 1 - b, f);
            fputs(j > b && data[j - 1] == '{' ? "\"zz_\":0" : ",\"zz_\":0", f);
            fwrite(data + k - 1, 1, e - (k - 1), f);
        } else {
            fwrite(data + b, 1, e - b, f);
        }
        if (nl) fputc('\n', f);
        b = e + 1;
    }
    return fclose(f);
}

/* The fast path and jansson agree on every line. */
static void differential_jsonl(const uint8_t *data, size_t size)
{
    size_t maxline = 0, cur = 0;
    for (size_t i = 0; i < size; i++) {
        if (data[i] == '\n') cur = 0;
        else if (++cur > maxline) maxline = cur;
    }
    if (maxline + 16 > RB_CSV_ROW_MAX) return;     /* the added key could make a line too long */
    if (write_with_extra_key(data, size) != 0) return;
    rb_error e1, e2;
    rb_recin *a, *b;
    if (rb_recin_open(path, &a, &e1) != RB_OK) abort();
    if (rb_recin_open(path2, &b, &e2) != RB_OK) abort();
    if (strcmp(rb_recin_format(b), "jsonl") != 0) abort();
    for (;;) {
        rb_record r1, r2;
        unsigned long l1 = 0, l2 = 0;
        int x1 = rb_recin_next(a, &r1, &l1, &e1);
        int x2 = rb_recin_next(b, &r2, &l2, &e2);
        if (x1 != x2) abort();
        if (x1 == 0 || x1 == -2) break;
        if (l1 != l2) abort();
        if (x1 == 1) same_record(&r1, &r2);
    }
    rb_recin_free(a);
    rb_recin_free(b);
    unlink(path2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    int gz = data[0] & 1;
    data++;
    size--;
    if (gz) {
        gzFile g = gzopen(path, "wb1");
        if (!g) return 0;
        if (size) gzwrite(g, data, (unsigned)size);
        gzclose(g);
    } else {
        FILE *f = fopen(path, "wb");
        if (!f) return 0;
        fwrite(data, 1, size, f);
        fclose(f);
    }
    size_t lines = 2;    /* results possible: one per line, plus a last line without LF */
    for (size_t i = 0; i < size; i++) lines += data[i] == '\n';
    if (!gz && size >= 2 && data[0] == 0x1f && data[1] == 0x8b) lines = SIZE_MAX;   /* gzip inside */

    rb_error err;
    rb_recin *in;
    if (rb_recin_open(path, &in, &err) == RB_OK) {
        rb_record rec;
        unsigned long line, last = 0;
        size_t calls = 0;
        int r;
        while ((r = rb_recin_next(in, &rec, &line, &err)) != 0 && r != -2) {
            if (++calls > lines || line <= last) abort();
            last = line;
            if (r == 1) check_address(rec.recipient);
        }
        if (r == -2 && rb_recin_next(in, &rec, &line, &err) != -2) abort();
        int jsonl = strcmp(rb_recin_format(in), "jsonl") == 0;
        rb_recin_free(in);
        if (jsonl && !gz && lines != SIZE_MAX) differential_jsonl(data, size);
    }

    rb_csv *c;
    if (rb_csv_open(path, &c, &err) == RB_OK) {
        const char *const *fields;
        size_t nf, calls = 0;
        unsigned long line, last = 0;
        int r;
        while ((r = rb_csv_next(c, &fields, &nf, &line, &err)) != 0 && r != -2) {
            if (++calls > lines || line <= last) abort();
            last = line;
            if (r == 1) {
                if (nf == 0 || nf > 256) abort();
                size_t total = 0;
                for (size_t i = 0; i < nf; i++) total += strlen(fields[i]);
                if (total > 1024 * 1024) abort();
                check_address(fields[0]);
            }
        }
        rb_csv_free(c);
    }
    unlink(path);
    return 0;
}
