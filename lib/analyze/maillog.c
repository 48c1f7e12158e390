/* maillog.c -- Postfix log lines, queue-ID correlation, attempt records.
 *
 * The parser is a single left-to-right pass over a bounded line: timestamp,
 * host, "program[pid]: ", an optional "QUEUEID: ", then the message.  Only
 * lines of a Postfix program ("syslog_name/agent", any instance name) with
 * a queue ID matter; everything else is counted and dropped early, which
 * keeps a 1 GB log close to the speed of reading it.
 *
 * Per open queue ID we keep the Message-ID (cleanup), the sender (qmgr
 * from=) and the recipients still deferred, so that qmgr's "status=expired,
 * returned to sender" can be reported per recipient.  The entry goes at
 * qmgr's "removed"; memory is bounded by the queue, not by the log.
 * A submission's SASL login (smtpd "client=..., sasl_username=U") is kept
 * with its queue ID too, for the compromised-account check; smtpd lines
 * without one are dropped as before.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "rb_internal.h"
#include "rebound_guard.h"
#include "rebound_maillog.h"

/* ctype without the locale table call: these run for every byte of a line */
#define IS_DIGIT(c) ((unsigned char)((c) - '0') < 10)
#define IS_LOWER(c) ((unsigned char)((c) - 'a') < 26)
#define IS_UPPER(c) ((unsigned char)((c) - 'A') < 26)
#define IS_ALNUM(c) (IS_DIGIT(c) || IS_LOWER(c) || IS_UPPER(c))

/* Byte classes for the scanning loops: 1 letter or digit (queue IDs),
 * 2 ends a program name ('[', ':', ' ', NUL). */
static const unsigned char cls[256] = {
    [0] = 2, [' '] = 2, [':'] = 2, ['['] = 2,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1,
    ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1,
    ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1,
    ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1,
    ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

/* ---- timestamps -------------------------------------------------------------- */
void rb_logclock_init(rb_logclock *c, int64_t reftime)
{
    memset(c, 0, sizeof *c);
    c->reftime = reftime;
    time_t rt = (time_t)reftime;
    struct tm tm;
    localtime_r(&rt, &tm);
    c->ref_year = tm.tm_year + 1900;
}

static int month_of(const char *p)
{
    static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    for (int i = 0; i < 12; i++)
        if (p[0] == names[i * 3] && p[1] == names[i * 3 + 1] && p[2] == names[i * 3 + 2]) return i + 1;
    return 0;
}

static int dig2(const char *p)
{
    if (!IS_DIGIT(p[0]) || !IS_DIGIT(p[1])) return -1;
    return (p[0] - '0') * 10 + (p[1] - '0');
}

static int64_t local_hour(int year, int mon, int day, int hour)
{
    struct tm tm = {0};
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_isdst = -1;
    return (int64_t)mktime(&tm);
}

/* "Nov 23 06:25:01" (day may be space-padded); returns bytes used or 0. */
static size_t parse_syslog_time(rb_logclock *c, const char *s, size_t len, int64_t *t)
{
    if (len < 16 || s[3] != ' ' || s[6] != ' ' || s[9] != ':' || s[12] != ':') return 0;
    if (c->hour_start && memcmp(c->key, s, 9) == 0) {
        /* the hour of the line before (month, day and hour checked then):
         * only the minutes and seconds are new */
        int mm = dig2(s + 10), ss = dig2(s + 13);
        if (mm < 0 || mm > 59 || ss < 0 || ss > 60) return 0;
        size_t n = 15;
        if (n < len && s[n] == '.') {
            n++;
            while (n < len && IS_DIGIT(s[n])) n++;
        }
        if (n >= len || s[n] != ' ') return 0;
        *t = c->hour_start + mm * 60 + ss;
        return n;
    }
    int mon = month_of(s);
    int day = s[4] == ' ' ? (IS_DIGIT(s[5]) ? s[5] - '0' : -1) : dig2(s + 4);
    int hh = dig2(s + 7), mm = dig2(s + 10), ss = dig2(s + 13);
    if (!mon || day < 1 || day > 31 || hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60) return 0;
    size_t n = 15;
    if (n < len && s[n] == '.') {          /* fractional seconds some syslogs add */
        n++;
        while (n < len && IS_DIGIT(s[n])) n++;
    }
    if (n >= len || s[n] != ' ') return 0;
    if (memcmp(c->key, s, 9) != 0 || !c->hour_start) {
        /* The year that puts the line at or before the reference time (a
         * day of slack for clocks and time zones): a December line in a
         * log read in January is last year's. */
        int y = c->ref_year;
        int64_t h = local_hour(y, mon, day, hh);
        if (c->reftime && h > c->reftime + 86400) h = local_hour(--y, mon, day, hh);
        memcpy(c->key, s, 9);
        c->hour_start = h;
    }
    *t = c->hour_start + mm * 60 + ss;
    return n;
}

/* RFC 3339 / ISO 8601 with 'T' or ' ', optional fraction, Z / +hh:mm / +hhmm
 * (no zone: local time). */
static size_t parse_iso_time(const char *s, size_t len, int64_t *t)
{
    if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' || s[16] != ':')
        return 0;
    int y1 = dig2(s), y2 = dig2(s + 2), mon = dig2(s + 5), day = dig2(s + 8);
    int hh = dig2(s + 11), mm = dig2(s + 14), ss = dig2(s + 17);
    if (y1 < 0 || y2 < 0 || mon < 1 || mon > 12 || day < 1 || day > 31 || hh < 0 || hh > 23 || mm < 0 ||
        mm > 59 || ss < 0 || ss > 60)
        return 0;
    size_t n = 19;
    if (n < len && (s[n] == '.' || s[n] == ',')) {
        n++;
        while (n < len && IS_DIGIT(s[n])) n++;
    }
    int year = y1 * 100 + y2;
    int64_t off = 0;
    int have_zone = 0;
    if (n < len && (s[n] == 'Z' || s[n] == 'z')) {
        n++;
        have_zone = 1;
    } else if (n + 5 <= len && (s[n] == '+' || s[n] == '-')) {
        int oh = dig2(s + n + 1), om;
        size_t k = n + 3;
        if (k < len && s[k] == ':') k++;
        om = k + 2 <= len ? dig2(s + k) : -1;
        if (oh < 0 || om < 0 || oh > 23 || om > 59) return 0;
        off = (oh * 3600 + om * 60) * (s[n] == '-' ? -1 : 1);
        n = k + 2;
        have_zone = 1;
    }
    if (n >= len || s[n] != ' ') return 0;
    if (have_zone)
        *t = rb_days_from_civil(year, (unsigned)mon, (unsigned)day) * 86400 + hh * 3600 + mm * 60 + ss - off;
    else
        *t = local_hour(year, mon, day, hh) + mm * 60 + ss;
    return n;
}

/* ---- the line ---------------------------------------------------------------- */
/* The first of bytes a, b, c in [p, end), or end: 16 bytes at a time
 * while 16 are left (within the line), then one by one. */
static inline const char *find3(const char *p, const char *end, char a, char b, char c)
{
#ifdef __SSE2__
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        int mask = _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(a)), _mm_cmpeq_epi8(v, _mm_set1_epi8(b))),
                                                  _mm_cmpeq_epi8(v, _mm_set1_epi8(c))));
        if (mask) return p + __builtin_ctz((unsigned)mask);
        p += 16;
    }
#endif
    while (p < end && *p != a && *p != b && *p != c) p++;
    return p;
}


static int known_agent(const char *a, size_t n)
{
    /* the most frequent first; memcmp of a constant length is inlined */
#define A(x) if (n == sizeof x - 1 && memcmp(a, x, sizeof x - 1) == 0) return 1;
    A("smtp") A("qmgr") A("cleanup") A("smtpd") A("pickup") A("postscreen") A("bounce") A("lmtp") A("local")
    A("virtual") A("pipe") A("error") A("retry") A("discard") A("defer") A("trace") A("nqmgr") A("oqmgr")
    A("dnsblog") A("tlsproxy") A("anvil") A("scache") A("verify") A("master") A("postdrop") A("sendmail")
    A("postsuper") A("postqueue") A("showq") A("flush") A("tlsmgr") A("proxymap") A("proxywrite") A("spawn")
    A("postlogd") A("postmap") A("postfix-script") A("postfix") A("submission") A("smtps") A("relay")
#undef A
    return 0;
}

/* The time of a line whose shape scan() accepted (0 if unreadable). */
static int64_t line_time(rb_logclock *c, const char *s, size_t len)
{
    int64_t t = 0;
    if (IS_DIGIT(s[0])) parse_iso_time(s, len, &t);
    else parse_syslog_time(c, s, len, &t);
    return t;
}

/* Split a line into its parts.  The timestamp is only stepped over unless
 * want_time: most lines of a busy log (connects, client=, removed, other
 * daemons) are dropped without ever converting a date. */
static int scan(rb_logclock *c, const char *s, size_t len, rb_logline *o, int want_time)
{
    size_t n;
    o->t = 0;
    o->qid = NULL;
    o->qidlen = 0;
    if (len < 20) return 0;
    if (want_time) {
        if (IS_DIGIT(s[0])) n = parse_iso_time(s, len, &o->t);
        else n = parse_syslog_time(c, s, len, &o->t);
    } else if (IS_DIGIT(s[0])) {
        const char *sp = s[4] == '-' ? memchr(s, ' ', len) : NULL;
        n = sp ? (size_t)(sp - s) : 0;
    } else {
        n = s[3] == ' ' && s[6] == ' ' && s[9] == ':' ? 15 : 0;
        if (n && s[n] == '.') {
            n++;
            while (n < len && IS_DIGIT(s[n])) n++;
        }
        if (n >= len || s[n] != ' ') n = 0;
    }
    if (!n) return 0;
    const char *p = s + n + 1, *end = s + len;
    while (p < end && *p == ' ') p++;
    /* host */
    o->host = p;
    p = find3(p, end, ' ', ' ', ' ');
    if (p >= end) return 0;
    o->hostlen = (size_t)(p - o->host);
    if (p >= end || !o->hostlen) return 0;
    p++;
    /* program[pid]: -- the name ends at the first ' ', ':', '[' or NUL;
     * its first '/' ends the instance, its last starts the agent */
    o->prog = p;
    const char *sl1 = NULL, *sl2 = NULL;
#ifdef __SSE2__
    if (end - p >= 32) {   /* the common case: a name within 32 bytes, found with its slashes */
#define STOP(v) _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')), _mm_cmpeq_epi8(v, _mm_set1_epi8(':'))), \
                             _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('[')), _mm_cmpeq_epi8(v, _mm_setzero_si128())))
        __m128i v0 = _mm_loadu_si128((const __m128i *)p), v1 = _mm_loadu_si128((const __m128i *)(p + 16));
        uint32_t stop = (uint32_t)_mm_movemask_epi8(STOP(v0)) | (uint32_t)_mm_movemask_epi8(STOP(v1)) << 16;
#undef STOP
        if (stop) {
            unsigned k = (unsigned)__builtin_ctz(stop);
            uint32_t sl = ((uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v0, _mm_set1_epi8('/'))) |
                           (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v1, _mm_set1_epi8('/'))) << 16) &
                          (uint32_t)((1ull << k) - 1);
            if (sl) {
                sl1 = p + __builtin_ctz(sl);
                sl2 = p + 31 - __builtin_clz(sl);
            }
            p += k;
            goto prog_end;
        }
        p += 32;
    }
    while (end - p >= 16) {   /* the first ' ', ':', '[' or NUL, 16 bytes at a time */
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        int mask = _mm_movemask_epi8(
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')), _mm_cmpeq_epi8(v, _mm_set1_epi8(':'))),
                         _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('[')), _mm_cmpeq_epi8(v, _mm_setzero_si128()))));
        if (mask) {
            p += __builtin_ctz((unsigned)mask);
            goto prog_long;
        }
        p += 16;
    }
#endif
    while (p < end && cls[(unsigned char)*p] != 2) p++;
#ifdef __SSE2__
prog_long:
#endif
    if (p > o->prog) {
        sl1 = memchr(o->prog, '/', (size_t)(p - o->prog));
        sl2 = sl1 ? memrchr(o->prog, '/', (size_t)(p - o->prog)) : NULL;
    }
#ifdef __SSE2__
prog_end:
#endif
    o->proglen = (size_t)(p - o->prog);
    if (p >= end || !o->proglen) return 0;
    if (*p == '[') {
        p++;
#ifdef __SSE2__
        if (end - p >= 16) {   /* the pid's digits, 16 bytes at a time */
            __m128i v = _mm_loadu_si128((const __m128i *)p);
            unsigned dig = (unsigned)_mm_movemask_epi8(_mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
                                                                     _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1))));
            p += __builtin_ctz(~dig);   /* 16 when all are: the loop goes on */
        }
#endif
        while (p < end && IS_DIGIT(*p)) p++;
        if (p >= end || *p != ']') return 0;
        p++;
    }
    if (end - p < 2 || p[0] != ':' || p[1] != ' ') return 0;
    p += 2;
    if (!sl2) return 0;
    o->instlen = (size_t)(sl1 - o->prog);
    o->agent = sl2 + 1;
    o->agentlen = (size_t)(o->prog + o->proglen - o->agent);
    if (!known_agent(o->agent, o->agentlen)) return 0;
    /* QUEUEID: -- short (hex) or long (enable_long_queue_ids) form; words
     * like "warning:" are all lower case, NOQUEUE is no queue ID. */
    const char *q = p;
    int upper_or_digit = 0;
    const char *qend = end - p > RB_QID_MAX - 1 ? p + RB_QID_MAX - 1 : end;
#ifdef __SSE2__
    if (end - p >= 16) {   /* the letters and digits, 16 bytes at a time */
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        /* x in [lo, hi] as a signed compare: x > lo - 1 and x < hi + 1 */
#define IN(lo, hi) _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8((char)((lo) - 1))), _mm_cmplt_epi8(v, _mm_set1_epi8((char)((hi) + 1))))
        __m128i lower = IN('a', 'z');
        __m128i ud = _mm_or_si128(IN('0', '9'), IN('A', 'Z'));
#undef IN
        unsigned alnum = (unsigned)_mm_movemask_epi8(_mm_or_si128(lower, ud));
        unsigned updig = (unsigned)_mm_movemask_epi8(ud);
        unsigned k = (unsigned)__builtin_ctz(~alnum);   /* 16 when all are */
        if (k > (unsigned)(qend - p)) k = (unsigned)(qend - p);
        upper_or_digit = (updig & ((1u << k) - 1)) != 0;
        q = p + k;
    }
#endif
    while (q < qend && cls[(unsigned char)*q] == 1) {
        upper_or_digit |= !IS_LOWER(*q);
        q++;
    }
    if (q - p >= 5 && end - q >= 1 && *q == ':' && (q + 1 == end || q[1] == ' ') && upper_or_digit &&
        !(q - p == 7 && memcmp(p, "NOQUEUE", 7) == 0)) {
        o->qid = p;
        o->qidlen = (size_t)(q - p);
        p = q + 1;
        if (p < end && *p == ' ') p++;
    }
    o->msg = p;
    o->msglen = (size_t)(end - p);
    return 1;
}

int rb_logline_parse(rb_logclock *c, const char *s, size_t len, rb_logline *o)
{
    memset(o, 0, sizeof *o);
    return scan(c, s, len, o, 1);
}

/* ---- records ------------------------------------------------------------------ */
const char *const rb_logrec_fields[] = {"queue_id", "delivery_status", "relay", "delay", "delays", "to",
                                        "instance", "agent"};

size_t rb_logrec_nfields(void)
{
    return sizeof rb_logrec_fields / sizeof rb_logrec_fields[0];
}

const char *rb_logrec_get(const rb_logrec *r, size_t i)
{
    switch (i) {
    case 0: return r->queue_id;
    case 1: return r->delivery_status;
    case 2: return r->relay;
    case 3: return r->delay;
    case 4: return r->delays;
    case 5: return r->to;
    case 6: return r->instance;
    case 7: return r->agent;
    default: return "";
    }
}

/* The spans of a deferred record (report, rb_maillog_finish). */
enum { SP_RCPT, SP_TO, SP_RELAY, SP_DELAY, SP_DELAYS, SP_DSN, SP_TEXT, SP_QID, SP_INST, SP_AGENT, SP_HOST, SP_RMTA,
       SP_MSGID, SP_FROM,   /* the queue entry's, copied after the line */
       SP_LINE = SP_MSGID   /* the spans of the line itself */ };
static void field(char *dst, size_t size, const char *s, size_t n);

#define LR_SIZE(f) sizeof(((rb_logrec *)0)->f)
/* The extra fields in order: the span each comes from in a lazy record
 * (-1: delivery_status, always filled), and the size of its field. */
static const signed char lazy_span[] = {SP_QID, -1, SP_RELAY, SP_DELAY, SP_DELAYS, SP_TO, SP_INST, SP_AGENT};
static const unsigned short lazy_size[] = {LR_SIZE(queue_id), LR_SIZE(delivery_status), LR_SIZE(relay),
                                           LR_SIZE(delay), LR_SIZE(delays), LR_SIZE(to), LR_SIZE(instance),
                                           LR_SIZE(agent)};
#define LAZY_ROOM (LR_SIZE(queue_id) + LR_SIZE(relay) + LR_SIZE(delay) + LR_SIZE(delays) + LR_SIZE(to) + \
                   LR_SIZE(instance) + LR_SIZE(agent))

/* 1 when [s, s+n) is printable ASCII only: field() would copy it as it is. */
static int plain_ascii(const char *s, size_t n)
{
    size_t k = 0;
#ifdef __SSE2__
    for (; n - k >= 16; k += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + k));
        if (_mm_movemask_epi8(_mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                                           _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f)))))
            return 0;
    }
    if (n - k >= 8) {
        __m128i v = _mm_loadl_epi64((const __m128i *)(s + k));
        if (_mm_movemask_epi8(_mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                                           _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f)))) & 0xff)
            return 0;
        k += 8;
    }
#endif
    for (; k < n; k++)
        if ((unsigned char)(s[k] - 0x20) >= 0x5f) return 0;
    return 1;
}

/* The extra fields' values and lengths: a lazy record's from its spans,
 * as field() would have left them (cleaned into scratch when needed). */
static void ext_vals(const rb_logrec *r, const char **v, size_t *l, char *scratch)
{
    for (size_t i = 0; i < rb_logrec_nfields(); i++) {
        int sp = lazy_span[i];
        if (r->lazy && sp >= 0) {
            const char *s = r->raw + r->span[sp].off;
            size_t n = r->span[sp].len;
            if (r->lazy == 2 && n < lazy_size[i]) {
                v[i] = s;
                l[i] = n;
            } else {
                field(scratch, lazy_size[i], s, n);
                v[i] = scratch;
                l[i] = strlen(scratch);
                scratch += lazy_size[i];
            }
        } else {
            v[i] = rb_logrec_get(r, i);
            l[i] = strlen(v[i]);
        }
    }
}

int rb_logrec_to_jsonl(const rb_logrec *r, rb_buf *out)
{
    const char *v[16];
    size_t l[16];
    char scratch[LAZY_ROOM];
    ext_vals(r, v, l, scratch);
    return rb_record_to_jsonl_ext(&r->rec, rb_logrec_fields, v, l, rb_logrec_nfields(), out);
}

int rb_logrec_to_csv(const rb_logrec *r, rb_buf *out)
{
    const char *v[16];
    size_t l[16];
    char scratch[LAZY_ROOM + 8 * 8];
    if (r->lazy) {   /* CSV values are NUL-terminated: each cleaned into scratch */
        char *o = scratch;
        for (size_t i = 0; i < rb_logrec_nfields(); i++) {
            int sp = lazy_span[i];
            if (sp < 0) { v[i] = rb_logrec_get(r, i); continue; }
            field(o, lazy_size[i], r->raw + r->span[sp].off, r->span[sp].len);
            v[i] = o;
            o += lazy_size[i];
        }
    } else {
        ext_vals(r, v, l, scratch);
    }
    return rb_record_to_csv_ext(&r->rec, v, rb_logrec_nfields(), out);
}

int rb_logrec_csv_header(rb_buf *out)
{
    return rb_csv_header_ext(rb_logrec_fields, rb_logrec_nfields(), out);
}

/* ---- the correlator --------------------------------------------------------------- */
typedef struct dfr {          /* a recipient whose last attempt was deferred */
    struct dfr *next;
    int64_t t;
    char *rcpt, *to, *relay, *dsn, *diag, *delay, *host;
} dfr;

typedef struct qent {
    struct qent *next;
    uint64_t h;
    int64_t t;                /* first seen */
    char *msgid, *from;
    char *sasl;               /* smtpd's sasl_username= (an authenticated submission) */
    int comp;                 /* the compromised-account verdict: 0 not worked out yet, 1 no, 2 yes */
    dfr *deferred;
    size_t klen;              /* strlen(key): compared before the bytes */
    char key[];               /* "instance/QID" */
} qent;

#define CCACHE 8192           /* classification cache entries */
#define PCACHE 16384          /* provider cache entries */
#define POLCACHE 64           /* policy cache entries */
typedef struct {
    uint64_t h;
    int st, valid, tmp;
    char reason[RB_SHORT_MAX];
    char evidence[16];
    rb_policy_entry pe;
} polentry;
typedef struct {
    uint64_t h;
    char *key;
    char provider[RB_SHORT_MAX];
    int src;                    /* RB_PSRC_* */
} pentry;
typedef struct {
    uint64_t h;
    char *key;
    char reason[RB_SHORT_MAX];
    char evidence[16];
    char rule[RB_HOST_MAX];
} centry;

struct rb_maillog {
    const rb_ctx *ctx;
    rb_maillog_opts o;
    qent **tab;
    size_t nb, n;
    centry *cache;
    pentry *pcache;
    polentry polcache[POLCACHE];
    int64_t date_t;
    char date[RB_SHORT_MAX];
    int64_t fin_date_t;       /* the same for the finish (another thread's) */
    char fin_date[RB_SHORT_MAX];
    rb_maillog_stats st;
    rb_logrec lr;
    rb_logrec *cur;           /* where the next attempt goes: &lr or the caller's */
    int defer_finish;         /* rb_maillog_finish left to the caller */
    char keybuf[RB_TEXT_MAX + 256];
};

/* 8 bytes at a time (a multiply-xorshift mix), the last 1-7 one by one;
 * only ever compared within one run (the state file lists the queue IDs
 * in table order, which nothing depends on). */
static uint64_t hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0x9E3779B97F4A7C15ULL;
        h ^= h >> 32;
    }
    for (; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 32;
    return h;
}

rb_status rb_maillog_new(const rb_ctx *ctx, const rb_maillog_opts *opts, rb_maillog **out, rb_error *err)
{
    rb_maillog *m = calloc(1, sizeof *m);
    if (m) {
        m->nb = 1024;
        m->tab = calloc(m->nb, sizeof *m->tab);
    }
    /* the caches are allocated on first use (a log with no attempts needs none) */
    if (!m || !m->tab) {
        rb_maillog_free(m);
        rb_seterr(err, "out of memory");
        return RB_ERR_NOMEM;
    }
    m->ctx = ctx;
    m->cur = &m->lr;
    if (opts) m->o = *opts;
    *out = m;
    return RB_OK;
}

static void dfr_free(dfr *d)
{
    free(d->rcpt); free(d->to); free(d->relay); free(d->dsn); free(d->diag); free(d->delay); free(d->host);
    free(d);
}

static void qent_free(qent *e)
{
    for (dfr *d = e->deferred, *nx; d; d = nx) { nx = d->next; dfr_free(d); }
    free(e->msgid);
    free(e->from);
    free(e->sasl);
    free(e);
}

void rb_maillog_free(rb_maillog *m)
{
    if (!m) return;
    if (m->tab)
        for (size_t i = 0; i < m->nb; i++)
            for (qent *e = m->tab[i], *nx; e; e = nx) { nx = e->next; qent_free(e); }
    free(m->tab);
    if (m->cache)
        for (size_t i = 0; i < CCACHE; i++) free(m->cache[i].key);
    free(m->cache);
    if (m->pcache)
        for (size_t i = 0; i < PCACHE; i++) free(m->pcache[i].key);
    free(m->pcache);
    free(m);
}

void rb_maillog_set_rec(rb_maillog *m, rb_logrec *lr) { m->cur = lr ? lr : &m->lr; }
const rb_maillog_stats *rb_maillog_get_stats(const rb_maillog *m) { return &m->st; }
size_t rb_maillog_open_count(const rb_maillog *m) { return m->n; }

/* The open queue IDs: a chained table of our own rather than a GHashTable
 * (the one used elsewhere), because it is looked up once or twice per log
 * line with the queue ID as a span of the line (pointer and length), where
 * a GHashTable key would need a copy and a NUL each time, and because the
 * saved state lists the IDs in its order.  Not measured against GHashTable:
 * the reason is the copy on the hot path, not a figure. */
static qent *q_find(rb_maillog *m, const char *key, size_t klen, uint64_t h, qent ***slot)
{
    qent **pp = &m->tab[h & (m->nb - 1)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->h == h && (*pp)->klen == klen && memcmp((*pp)->key, key, klen) == 0) break;
    if (slot) *slot = pp;
    return *pp;
}

static void q_grow(rb_maillog *m)
{
    size_t nb = m->nb * 2;
    qent **t = calloc(nb, sizeof *t);
    if (!t) return;                 /* keep the old table: slower, still right */
    for (size_t i = 0; i < m->nb; i++)
        for (qent *e = m->tab[i], *nx; e; e = nx) {
            nx = e->next;
            e->next = t[e->h & (nb - 1)];
            t[e->h & (nb - 1)] = e;
        }
    free(m->tab);
    m->tab = t;
    m->nb = nb;
}

static qent *q_get(rb_maillog *m, const char *key, size_t klen, int64_t t)
{
    uint64_t h = hash(key, klen);
    qent **slot;
    qent *e = q_find(m, key, klen, h, &slot);
    if (e) return e;
    e = calloc(1, sizeof *e + klen + 1);
    if (!e) return NULL;
    memcpy(e->key, key, klen);
    e->klen = klen;
    e->h = h;
    e->t = t;
    *slot = e;
    if (++m->n > m->st.open_max) m->st.open_max = m->n;
    if (m->n > m->nb) q_grow(m);
    return e;
}

static void q_del(rb_maillog *m, const char *key, size_t klen)
{
    qent **slot;
    qent *e = q_find(m, key, klen, hash(key, klen), &slot);
    if (!e) return;
    *slot = e->next;
    qent_free(e);
    m->n--;
}

static char *dupn(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) { memcpy(d, s, n); d[n] = '\0'; }
    return d;
}

static void set_str(char **dst, const char *s, size_t n)
{
    char *d = dupn(s, n);
    if (!d) return;
    free(*dst);
    *dst = d;
}

/* "<addr>" at p (quoted local parts may hold '>' in quotes); returns the
 * end (after the closing bracket) or NULL; a and alen: the address inside. */
static const char *angle_addr(const char *p, const char *end, const char **a, size_t *alen)
{
    if (p >= end || *p != '<') return NULL;
    const char *q = p + 1;
    int quoted = 0;
    q = find3(q, end, '>', '"', '\\');   /* the common case: no quotes, no backslash */
    while (q < end && (quoted || *q != '>')) {
        if (*q == '"') quoted = !quoted;
        else if (*q == '\\' && q + 1 < end) q++;
        q++;
    }
    if (q >= end) return NULL;
    *a = p + 1;
    *alen = (size_t)(q - p - 1);
    return q + 1;
}

static int starts(const char *p, const char *end, const char *lit, size_t n)
{
    return (size_t)(end - p) >= n && memcmp(p, lit, n) == 0;
}
#define STARTS(p, end, lit) starts(p, end, lit, sizeof lit - 1)

/* Copy at most n bytes into a fixed field, as valid UTF-8 and without
 * control characters (a log may hold anything). */
static void field(char *dst, size_t size, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < size;) {
        size_t k = i, lim = i + (size - 1 - o < n - i ? size - 1 - o : n - i);
#ifdef __SSE2__
        while (lim - k >= 16) {   /* printable ASCII, 16 bytes at a time */
            __m128i v = _mm_loadu_si128((const __m128i *)(s + k));
            int mask = _mm_movemask_epi8(_mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                                                      _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f))));
            if (mask) { k += (size_t)__builtin_ctz((unsigned)mask); goto run_end; }
            k += 16;
        }
        if (lim - k >= 8) {       /* then 8 */
            __m128i v = _mm_loadl_epi64((const __m128i *)(s + k));
            int mask = _mm_movemask_epi8(_mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                                                      _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f)))) & 0xff;
            if (mask) { k += (size_t)__builtin_ctz((unsigned)mask); goto run_end; }
            k += 8;
        }
#endif
        while (k < lim && (unsigned char)(s[k] - 0x20) < 0x5f) k++;   /* printable ASCII */
#ifdef __SSE2__
    run_end:
#endif
        if (k > i) {
            memcpy(dst + o, s + i, k - i);
            o += k - i;
            i = k;
            continue;
        }
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            dst[o++] = ' ';      /* control characters */
            i++;
            continue;
        }
        gunichar u = g_utf8_get_char_validated(s + i, (gssize)(n - i));
        if (u != (gunichar)-1 && u != (gunichar)-2) {
            size_t w = (size_t)g_utf8_skip[c];
            if (o + w >= size) break;
            memcpy(dst + o, s + i, w);
            o += w;
            i += w;
            continue;
        }
        dst[o++] = '?';
        i++;
    }
    dst[o] = '\0';
}

/* The reason of a failed attempt, by the rules, through a small cache: the
 * same remote texts come back for thousands of recipients.  The key masks
 * addresses and bracketed IPs, which vary and which no rule looks at. */
static void classify_cached(rb_maillog *m, rb_record *r)
{
    char *k = m->keybuf;
    size_t o = 0, cap = sizeof m->keybuf - 1;
    o += (size_t)snprintf(k, cap, "%s|%s|%s|", r->status, r->reply_code, r->smtp_command);
    for (const char *p = r->diagnostic; *p && o < cap;) {
        if (*p == '<') {
            const char *q = strchr(p, '>');
            if (q && memchr(p, '@', (size_t)(q - p))) {
                k[o++] = '<';
                if (o < cap) k[o++] = '>';
                p = q + 1;
                continue;
            }
        }
        if (*p == '[') {
            const char *q = strchr(p, ']');
            if (q && q - p < 48 && strspn(p + 1, "0123456789.:abcdefABCDEFIPv") >= (size_t)(q - p - 1)) {
                /* "host mx.example.net[192.0.2.1]": the name goes too */
                while (o > 0 && k[o - 1] != ' ' && k[o - 1] != '|') o--;
                k[o++] = '[';
                if (o < cap) k[o++] = ']';
                p = q + 1;
                continue;
            }
        }
        /* a long token mixing letters and at least three digits is an ID,
         * a time stamp or a host name (gsmtp tokens, MxId=..., internal
         * Exchange hosts): no rule looks at those */
        if ((p == r->diagnostic || p[-1] == ' ') && *p != ' ') {
            size_t tl = strcspn(p, " ");
            if (tl >= 12) {
                size_t nd = 0, na = 0;
                for (size_t i = 0; i < tl; i++) {
                    if (IS_DIGIT(p[i])) nd++;
                    else if (IS_LOWER(p[i]) || IS_UPPER(p[i])) na++;
                }
                if (nd >= 3 && na >= 1) {
                    k[o++] = '#';
                    p += tl;
                    continue;
                }
            }
        }
        k[o++] = *p++;
    }
    k[o < cap ? o : cap] = '\0';
    size_t klen = strlen(k);
    uint64_t h = hash(k, klen);
    if (!m->cache && !(m->cache = calloc(CCACHE, sizeof *m->cache))) {
        rb_classify_reason(m->ctx, r, NULL);   /* no memory for a cache: uncached */
        return;
    }
    centry *c = &m->cache[h & (CCACHE - 1)];
    if (c->key && c->h == h && strcmp(c->key, k) == 0) {
        rb_strlcpy(r->reason, c->reason, sizeof r->reason);
        rb_strlcpy(r->evidence, c->evidence, sizeof r->evidence);
        rb_strlcpy(r->rule, c->rule, sizeof r->rule);
        return;
    }
    rb_classify_reason(m->ctx, r, NULL);
    free(c->key);
    c->key = dupn(k, klen);
    c->h = h;
    rb_strlcpy(c->reason, r->reason, sizeof c->reason);
    rb_strlcpy(c->evidence, r->evidence, sizeof c->evidence);
    rb_strlcpy(c->rule, r->rule, sizeof c->rule);
}

/* Empty every string of a record (cheaper than zeroing ~7 KB per attempt). */
static void clear_rec(rb_logrec *lr)
{
    rb_record *r = &lr->rec;
    char *const f[] = {r->source, r->recipient, r->reason, r->status, r->reply_code, r->bounce_type, r->action,
                       r->diagnostic, r->remote_mta, r->reporting_mta, r->provider, r->feedback_type,
                       r->addresser, r->original_message_id, r->original_subject, r->date, r->decoded_by,
                       r->smtp_command, r->dsn_action, r->original_recipient, r->evidence, r->rule, r->provider_source, r->alert, r->account, lr->queue_id, lr->delivery_status, lr->relay, lr->delay,
                       lr->delays, lr->to, lr->instance, lr->agent};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) f[i][0] = '\0';
    lr->t = 0;
}

/* provider_source for a guess: the relay the attempt went to, else the
 * recipient's domain. */
static void set_psrc(rb_record *r, int src)
{
    rb_strlcpy(r->provider_source, src == RB_PSRC_HOST ? "relay" : src == RB_PSRC_DOMAIN ? "domain" : "",
               sizeof r->provider_source);
}

/* Provider by remote host and recipient domain, through a small cache. */
static void provider_cached(rb_maillog *m, rb_record *r)
{
    const char *at = strrchr(r->recipient, '@');
    const char *dom = at ? at + 1 : "";
    size_t hl = strlen(r->remote_mta), dl = strlen(dom);
    uint64_t h = hash(r->remote_mta, hl) * 31 + hash(dom, dl);
    if (!m->pcache && !(m->pcache = calloc(PCACHE, sizeof *m->pcache))) {
        set_psrc(r, rb_providers_guess(m->ctx->providers, r->remote_mta, r->recipient, r->provider, sizeof r->provider));
        return;
    }
    pentry *c = &m->pcache[h & (PCACHE - 1)];
    if (c->key && c->h == h && strlen(c->key) == hl + 1 + dl && memcmp(c->key, r->remote_mta, hl) == 0 &&
        memcmp(c->key + hl + 1, dom, dl) == 0) {
        rb_strlcpy(r->provider, c->provider, sizeof r->provider);
        set_psrc(r, c->src);
        return;
    }
    int src = rb_providers_guess(m->ctx->providers, r->remote_mta, r->recipient, r->provider, sizeof r->provider);
    set_psrc(r, src);
    char *k = malloc(hl + dl + 2);
    if (!k) return;
    memcpy(k, r->remote_mta, hl);
    k[hl] = '|';
    memcpy(k + hl + 1, dom, dl + 1);
    free(c->key);
    c->key = k;
    c->h = h;
    rb_strlcpy(c->provider, r->provider, sizeof c->provider);
    c->src = src;
}

static const char *const status_names[] = {"sent", "deferred", "bounced", "expired", "undeliverable"};

/* ---- mailing senders and the compromised-account check ---------------------------- */
int rb_maillog_sender_spec_ok(const char *spec)
{
    if (!spec || !*spec || strchr(spec, ' ') || strchr(spec, ',')) return 0;
    const char *star = strchr(spec, '*');
    if (star) return strchr(star + 1, '*') == NULL;          /* one '*' */
    const char *at = strrchr(spec, '@');
    return at && at[1] && strchr(at + 1, '.') && !strchr(spec, '<');   /* addr@domain, @domain */
}

int rb_maillog_sender_match(const char *spec, const char *addr)
{
    if (!spec || !addr || !*addr) return 0;
    size_t sl = strlen(spec), al = strlen(addr);
    const char *star = strchr(spec, '*');
    if (star) {
        size_t pl = (size_t)(star - spec), xl = sl - pl - 1;
        return al >= pl + xl && g_ascii_strncasecmp(addr, spec, pl) == 0 &&
               g_ascii_strcasecmp(addr + al - xl, star + 1) == 0;
    }
    if (spec[0] == '@') {
        const char *at = strrchr(addr, '@');
        return at && at > addr && g_ascii_strcasecmp(at + 1, spec + 1) == 0;
    }
    return g_ascii_strcasecmp(addr, spec) == 0;
}

/* A submission by a SASL login of ours whose sender is not ours, or (with
 * mailing senders) not one of them: rebound_maillog.h.  Worked out once
 * per queue ID (again when its sender or login changes). */
static int compromised(rb_maillog *m, qent *e)
{
    if (!e || !e->sasl || !e->from || !e->from[0] || !m->o.n_our_domains) return 0;
    if (!e->comp) {
        int c = 0;
        if (rb_guard_domain_is_ours(e->sasl, m->o.our_domains, m->o.n_our_domains)) {
            /* a mailing sender given is never flagged, at whatever domain
             * (an ESP's bounce domain); else a sender outside our domains
             * is, and with mailing senders given any other sender too */
            int mailing = 0;
            for (size_t i = 0; i < m->o.n_mailing_senders && !mailing; i++)
                mailing = rb_maillog_sender_match(m->o.mailing_senders[i], e->from);
            c = !mailing && (m->o.n_mailing_senders ||
                             !rb_guard_domain_is_ours(e->from, m->o.our_domains, m->o.n_our_domains));
        }
        e->comp = c ? 2 : 1;
    }
    return e->comp == 2;
}

/* Fill and report one attempt.  st: index into status_names. */
/* A VERP sender names the recipient when the line does not. */
static void verp(rb_logrec *lr)
{
    rb_record *r = &lr->rec;
    if (!r->recipient[0] && r->addresser[0]) rb_verp_decode(r->addresser, r->recipient, sizeof r->recipient);
}

/* source ("file:line", without snprintf: every attempt), decoded_by and
 * date; the date through a cache of the last time formatted. */
static void set_origin(rb_record *r, const char *source, uint64_t lineno, int64_t t, int64_t *date_t, char *date,
                       size_t datesz)
{
    size_t sl = rb_strlcpy(r->source, source ? source : "-", sizeof r->source - 22);
    if (sl > sizeof r->source - 23) sl = sizeof r->source - 23;
    char num[24];
    int nl = 0;
    uint64_t v = lineno;
    do { num[nl++] = (char)('0' + v % 10); v /= 10; } while (v);
    r->source[sl++] = ':';
    while (nl) r->source[sl++] = num[--nl];
    r->source[sl] = '\0';
    rb_strlcpy(r->decoded_by, "maillog", sizeof r->decoded_by);
    if (t && t != *date_t) {
        rb_time_format_iso(t, date, datesz);
        *date_t = t;
    }
    if (t) rb_strlcpy(r->date, date, sizeof r->date);
}

static int report(rb_maillog *m, qent *e, int st, int64_t t, const rb_logline *ll, const char *source,
                  uint64_t lineno, const char *rcpt, size_t rlen, const char *to, size_t tolen, const char *relay,
                  size_t relaylen, const char *dsn, size_t dsnlen, const char *delay, size_t delaylen,
                  const char *delays, size_t delayslen, const char *text, size_t textlen, int in_line,
                  rb_logrec_cb cb, void *arg)
{
    m->st.attempts++;
    m->st.by_status[st]++;
    if (m->o.since && t < m->o.since) return 0;
    rb_logrec *lr = m->cur;
    rb_record *r = &lr->rec;
    clear_rec(lr);
    lr->t = t;
    rb_strlcpy(lr->delivery_status, status_names[st], sizeof lr->delivery_status);
    /* relay=host[ip]:port -> the remote MTA's name */
    size_t hl = (size_t)(find3(relay, relay + relaylen, '[', ':', ':') - relay);
    if (hl == 4 && memcmp(relay, "none", 4) == 0) hl = 0;
    lr->nspans = 0;
    lr->lazy = 0;
    if (m->defer_finish && ll) {
        /* the fields as spans of a copy of the line, cleaned up by the
         * finish (on the writer thread) -- when they all are in the line */
        const char *base = ll->host, *lend = ll->msg + ll->msglen;
        const char *const sp[SP_LINE] = {rcpt, to, relay, delay, delays, dsn, text, ll->qid, ll->prog, ll->agent,
                                         ll->host, relay};
        const size_t sl[SP_LINE] = {rlen, tolen, relaylen, delaylen, delayslen, dsnlen, textlen, ll->qidlen,
                                    ll->instlen, ll->agentlen, ll->hostlen, hl};
        /* and the queue entry's message-id and sender, after the line */
        size_t n = (size_t)(lend - base), ml = e && e->msgid ? strlen(e->msgid) : 0,
               fl = e && e->from ? strlen(e->from) : 0;
        int ok = lend > base && n + ml + fl <= sizeof lr->raw;
        for (int i = 0; ok && !in_line && i < SP_LINE; i++)   /* an attempt's are all in its line */
            if (sl[i] && (sp[i] < base || sp[i] + sl[i] > lend)) ok = 0;
        if (ok) {
            memcpy(lr->raw, base, n);
            if (ml) memcpy(lr->raw + n, e->msgid, ml);
            if (fl) memcpy(lr->raw + n + ml, e->from, fl);
            lr->rawlen = (uint32_t)(n + ml + fl);
            for (int i = 0; i < SP_LINE; i++) {
                lr->span[i].off = sl[i] ? (uint32_t)(sp[i] - base) : 0;
                lr->span[i].len = (uint32_t)sl[i];
            }
            lr->span[SP_MSGID].off = (uint32_t)n;
            lr->span[SP_MSGID].len = (uint32_t)ml;
            lr->span[SP_FROM].off = (uint32_t)(n + ml);
            lr->span[SP_FROM].len = (uint32_t)fl;
            lr->nspans = RB_LOGREC_SPANS;
        }
    }
    if (!lr->nspans) {
        field(r->recipient, sizeof r->recipient, rcpt, rlen);
        field(lr->to, sizeof lr->to, to, tolen);
        field(lr->relay, sizeof lr->relay, relay, relaylen);
        field(lr->delay, sizeof lr->delay, delay, delaylen);
        field(lr->delays, sizeof lr->delays, delays, delayslen);
        field(r->status, sizeof r->status, dsn, dsnlen);
        field(r->diagnostic, sizeof r->diagnostic, text, textlen);
        if (ll) {
            field(lr->queue_id, sizeof lr->queue_id, ll->qid, ll->qidlen);
            field(lr->instance, sizeof lr->instance, ll->prog, ll->instlen);
            field(lr->agent, sizeof lr->agent, ll->agent, ll->agentlen);
            field(r->reporting_mta, sizeof r->reporting_mta, ll->host, ll->hostlen);
        } else {
            const char *sl = strrchr(e->key, '/');
            if (sl) {
                rb_strlcpy(lr->queue_id, sl + 1, sizeof lr->queue_id);
                field(lr->instance, sizeof lr->instance, e->key, (size_t)(sl - e->key));
            }
            rb_strlcpy(lr->agent, "qmgr", sizeof lr->agent);
        }
        field(r->remote_mta, sizeof r->remote_mta, relay, hl);
    }
    if (e && !lr->nspans) {
        if (e->msgid) field(r->original_message_id, sizeof r->original_message_id, e->msgid, strlen(e->msgid));
        if (e->from) field(r->addresser, sizeof r->addresser, e->from, strlen(e->from));
    }
    if (!lr->nspans) verp(lr);
    if (lr->nspans) {   /* deferred with its spans: the finish formats these */
        lr->src = source;
        lr->lineno = lineno;
    } else {
        set_origin(r, source, lineno, t, &m->date_t, m->date, sizeof m->date);
    }
    /* The null sender (from=<>): a bounce notice, not mail we sent -- our
     * server's own notice to the (often forged) sender of mail that came
     * in, or one passing through.  Whatever becomes of it says nothing
     * about a contact: alert backscatter, recorded only (rebound_guard.h).
     * Mail sent through a hijacked account of ours says nothing about the
     * recipient, and its delivery is no send of ours.  The alert is set
     * here (from the queue entry); its effect on the action in the finish. */
    if (e && e->from && !e->from[0]) rb_strlcpy(r->alert, "backscatter", sizeof r->alert);
    else if (compromised(m, e)) {
        rb_strlcpy(r->alert, "compromised_account", sizeof r->alert);
        rb_strlcpy(r->account, e->sasl, sizeof r->account);
    }
    lr->fin_st = st + 1;
    if (!m->defer_finish) rb_maillog_finish(m, lr);
    return cb ? cb(arg, lr) : 0;
}

void rb_maillog_set_defer_finish(rb_maillog *m, int on) { m->defer_finish = on != 0; }

/* The rest of an attempt's record, from its own fields only: reply code,
 * command and status from the text, classification, policy, provider. */
static void finish(rb_maillog *m, rb_logrec *lr, int lazy);
void rb_maillog_finish(rb_maillog *m, rb_logrec *lr) { finish(m, lr, 0); }
void rb_maillog_finish_lazy(rb_maillog *m, rb_logrec *lr) { finish(m, lr, 1); }

static void finish(rb_maillog *m, rb_logrec *lr, int lazy)
{
    if (!lr->fin_st) return;
    int st = lr->fin_st - 1;
    lr->fin_st = 0;
    rb_record *r = &lr->rec;
    if (lr->nspans == RB_LOGREC_SPANS) {   /* the fields, from the spans of the line */
        char *const dst[RB_LOGREC_SPANS] = {r->recipient, lr->to, lr->relay, lr->delay, lr->delays, r->status,
                                            r->diagnostic, lr->queue_id, lr->instance, lr->agent, r->reporting_mta,
                                            r->remote_mta, r->original_message_id, r->addresser};
        const size_t dsz[RB_LOGREC_SPANS] = {sizeof r->recipient, sizeof lr->to, sizeof lr->relay, sizeof lr->delay,
                                             sizeof lr->delays, sizeof r->status, sizeof r->diagnostic,
                                             sizeof lr->queue_id, sizeof lr->instance, sizeof lr->agent,
                                             sizeof r->reporting_mta, sizeof r->remote_mta,
                                             sizeof r->original_message_id, sizeof r->addresser};
        /* lazy: what only the output reads stays a span (rb_logrec_to_jsonl) */
        static const unsigned char out_only[RB_LOGREC_SPANS] = {[SP_TO] = 1, [SP_RELAY] = 1, [SP_DELAY] = 1,
                                                                [SP_DELAYS] = 1, [SP_QID] = 1, [SP_INST] = 1,
                                                                [SP_AGENT] = 1};
        /* a line of printable ASCII only (nearly all): field() would copy
         * each span as it is, up to its field's size */
        int plain = plain_ascii(lr->raw, lr->rawlen);
        for (int i = 0; i < RB_LOGREC_SPANS; i++) {
            if (lazy && out_only[i]) continue;
            const char *s = lr->raw + lr->span[i].off;
            size_t n = lr->span[i].len;
            if (plain) {
                if (n > dsz[i] - 1) n = dsz[i] - 1;
                memcpy(dst[i], s, n);
                dst[i][n] = '\0';
            } else {
                field(dst[i], dsz[i], s, n);
            }
        }
        lr->nspans = 0;
        lr->lazy = lazy ? 1 + plain : 0;
        verp(lr);
        set_origin(r, lr->src, lr->lineno, lr->t, &m->fin_date_t, m->fin_date, sizeof m->fin_date);
    }
    rb_find_reply(r->diagnostic, r->reply_code, sizeof r->reply_code);
    if (st != 0) rb_find_command(r->diagnostic, r->smtp_command, sizeof r->smtp_command);
    if (!r->status[0]) rb_find_status(r->diagnostic, r->status, sizeof r->status);
    static const char *const actions[] = {"delivered", "delayed", "failed", "failed", "failed"};
    rb_strlcpy(r->dsn_action, actions[st], sizeof r->dsn_action);
    if (st == 0) rb_strlcpy(r->reason, "delivered", sizeof r->reason);
    else if (st == 3) rb_strlcpy(r->reason, "expired", sizeof r->reason);
    else {
        classify_cached(m, r);
        /* a deferral says no more than "not yet": with no better reason, the
         * message will expire (as analyze reads a delayed DSN) */
        if (st == 1 && (!strcmp(r->reason, "undefined") || !strcmp(r->reason, "onhold"))) {
            rb_strlcpy(r->reason, "expired", sizeof r->reason);
            rb_strlcpy(r->evidence, "class", sizeof r->evidence);
            rb_strlcpy(r->rule, "deferred", sizeof r->rule);
        }
    }
    {   /* the policy by (reason, evidence, temporary or not, attempt status),
         * through a small cache: what rb_policy_for_record looks at here */
        int tmp = r->status[0] == '4' || (!r->status[0] && r->reply_code[0] == '4');
        uint64_t h = ((hash(r->reason, strlen(r->reason)) ^ hash(r->evidence, strlen(r->evidence))) * 8 + (uint64_t)st) * 2 +
                     (uint64_t)tmp;
        polentry *pc = &m->polcache[h & (POLCACHE - 1)];
        if (!pc->valid || pc->h != h || pc->st != st || pc->tmp != tmp || strcmp(pc->reason, r->reason) ||
            strcmp(pc->evidence, r->evidence)) {
            /* the cache is not keyed by the alert: the policy is worked out
             * without it, and the alert applied after, as below */
            char a0 = r->alert[0];
            r->alert[0] = '\0';
            rb_policy_for_record(m->ctx, r, &pc->pe);
            r->alert[0] = a0;
            rb_strlcpy(pc->reason, r->reason, sizeof pc->reason);
            rb_strlcpy(pc->evidence, r->evidence, sizeof pc->evidence);
            pc->h = h;
            pc->st = st;
            pc->tmp = tmp;
            pc->valid = 1;
        }
        rb_strlcpy(r->bounce_type, pc->pe.bounce_type, sizeof r->bounce_type);
        rb_strlcpy(r->action, pc->pe.action, sizeof r->action);
    }
    /* an alert (backscatter, compromised_account) is recorded only */
    if (r->alert[0] && (!strcmp(r->action, "disable") || !strcmp(r->action, "count")))
        rb_strlcpy(r->action, "record", sizeof r->action);
    provider_cached(m, r);
}

/* to=<a>, orig_to=<b>, relay=..., conn_use=N, delay=..., delays=..., dsn=..., status=X (text) */
static int attempt(rb_maillog *m, qent *e, const rb_logline *ll, const char *source, uint64_t lineno,
                   rb_logrec_cb cb, void *arg)
{
    const char *p = ll->msg, *end = ll->msg + ll->msglen;
    const char *to = NULL, *orig = NULL, *relay = "", *delay = "", *delays = "", *dsn = "", *stp = NULL;
    size_t tolen = 0, origlen = 0, relaylen = 0, delaylen = 0, delayslen = 0, dsnlen = 0, stlen = 0;
    while (p < end) {
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (!eq) break;
        const char *name = p;
        size_t nlen = (size_t)(eq - p);
        const char *v = eq + 1, *vend;
        if (nlen == 6 && memcmp(name, "status", 6) == 0) {
            stp = v;
            while (v < end && *v != ' ' && *v != ',') v++;
            stlen = (size_t)(v - stp);
            p = v;
            break;
        }
        if (v < end && *v == '<') {
            const char *a;
            size_t alen;
            vend = angle_addr(v, end, &a, &alen);
            if (!vend) return 0;
            if (nlen == 2 && memcmp(name, "to", 2) == 0) { to = a; tolen = alen; }
            else if (nlen == 7 && memcmp(name, "orig_to", 7) == 0) { orig = a; origlen = alen; }
        } else {
            vend = find3(v, end, ',', ',', ',');
            size_t vl = (size_t)(vend - v);
            if (nlen == 5 && memcmp(name, "relay", 5) == 0) { relay = v; relaylen = vl; }
            else if (nlen == 5 && memcmp(name, "delay", 5) == 0) { delay = v; delaylen = vl; }
            else if (nlen == 6 && memcmp(name, "delays", 6) == 0) { delays = v; delayslen = vl; }
            else if (nlen == 3 && memcmp(name, "dsn", 3) == 0) { dsn = v; dsnlen = vl; }
        }
        p = vend;
        if (p < end && *p == ',') p++;
        while (p < end && *p == ' ') p++;
    }
    if (!to || !stp) return 0;
    int st = -1;
    for (int i = 0; i < 5; i++)
        if (strlen(status_names[i]) == stlen && memcmp(stp, status_names[i], stlen) == 0) st = i;
    if (st < 0) return 0;     /* deliverable (address probes), SOFTBOUNCE, ... */
    /* the text: "(...)" after the status, to its last ')' */
    const char *text = "";
    size_t textlen = 0;
    while (p < end && (*p == ',' || *p == ' ')) p++;
    if (st == 3 && STARTS(p, end, "returned to sender")) {
        p += sizeof "returned to sender" - 1;
        while (p < end && *p == ' ') p++;
    }
    if (p < end && *p == '(') {
        const char *q = end;
        while (q > p + 1 && q[-1] != ')') q--;
        text = p + 1;
        textlen = q > p + 1 ? (size_t)(q - 1 - text) : (size_t)(end - text);
    }
    const char *rcpt = orig ? orig : to;
    size_t rlen = orig ? origlen : tolen;

    /* keep the recipients still deferred, for an expiry reported by qmgr */
    if (e) {
        dfr **pp = &e->deferred;
        while (*pp && !(strlen((*pp)->rcpt) == rlen && memcmp((*pp)->rcpt, rcpt, rlen) == 0)) pp = &(*pp)->next;
        if (st == 1) {
            dfr *d = *pp;
            if (!d && (d = calloc(1, sizeof *d))) {
                d->rcpt = dupn(rcpt, rlen);
                d->next = e->deferred;
                e->deferred = d;
                if (!d->rcpt) { e->deferred = d->next; free(d); d = NULL; }
            }
            if (d) {
                d->t = ll->t;
                set_str(&d->to, to, tolen);
                set_str(&d->relay, relay, relaylen);
                set_str(&d->dsn, dsn, dsnlen);
                set_str(&d->diag, text, textlen);
                set_str(&d->delay, delay, delaylen);
                set_str(&d->host, ll->host, ll->hostlen);
            }
        } else if (*pp) {
            dfr *d = *pp;
            *pp = d->next;
            dfr_free(d);
        }
    }
    return report(m, e, st, ll->t, ll, source, lineno, rcpt, rlen, to, tolen, relay, relaylen, dsn, dsnlen, delay,
                  delaylen, delays, delayslen, text, textlen, 1, cb, arg);
}

/* qmgr: "from=<s>, status=expired, returned to sender": every recipient
 * still deferred has now failed for good. */
static int expire_all(rb_maillog *m, qent *e, const rb_logline *ll, const char *source, uint64_t lineno,
                      rb_logrec_cb cb, void *arg)
{
    int rc = 0;
    while (e->deferred && !rc) {
        dfr *d = e->deferred;
        e->deferred = d->next;
        char *relay = d->relay ? d->relay : (char *)"";
        const char *dsn = d->dsn ? d->dsn : "";
        rc = report(m, e, 3, ll->t, ll, source, lineno, d->rcpt, strlen(d->rcpt), d->to ? d->to : "",
                    d->to ? strlen(d->to) : 0, relay, strlen(relay), dsn, strlen(dsn), "", 0, "", 0,
                    d->diag ? d->diag : "", d->diag ? strlen(d->diag) : 0, 0, cb, arg);
        /* the qmgr line reports the expiry; keep the attempt's own host */
        dfr_free(d);
    }
    return rc;
}

int rb_maillog_feed(rb_maillog *m, rb_logclock *clock, const char *line, size_t len, const char *source,
                    uint64_t lineno, rb_logrec_cb cb, void *arg)
{
    rb_logline ll;
    m->st.lines++;
    if (len > RB_LOGLINE_MAX) { m->st.skipped_long++; return 0; }
    if (!scan(clock, line, len, &ll, 0)) return 0;
    m->st.postfix_lines++;
    if (!ll.qid) return 0;
    const char *p = ll.msg, *end = ll.msg + ll.msglen;
    int is_to = STARTS(p, end, "to=<"), is_from = !is_to && STARTS(p, end, "from=<");
    const char *sasl = NULL;
    size_t sasllen = 0;
    if (!is_to && !is_from && ll.agentlen == 5 && memcmp(ll.agent, "smtpd", 5) == 0 && STARTS(p, end, "client=")) {
        /* "client=NAME[ADDR], sasl_method=M, sasl_username=U[, sasl_sender=S][, orig_...]"
         * (smtpd.c); a client name never holds ", " */
        static const char key[] = ", sasl_username=";
        const char *u = NULL;     /* memmem, by its first byte (few commas in a line) */
        for (const char *c = p; (c = memchr(c, ',', (size_t)(end - c))) != NULL; c++)
            if (STARTS(c, end, ", sasl_username=")) { u = c; break; }
        if (!u) return 0;                /* not authenticated: nothing to keep */
        sasl = u + sizeof key - 1;
        const char *ue = sasl;
        while ((ue = memchr(ue, ',', (size_t)(end - ue))) != NULL && !(end - ue >= 2 && ue[1] == ' ')) ue++;
        sasllen = (size_t)((ue ? ue : end) - sasl);
        if (!sasllen) return 0;
    } else if (!is_to && !is_from && !STARTS(p, end, "removed") && !STARTS(p, end, "message-id=")) {
        return 0;
    }
    if (is_to || is_from || sasl || ll.msg[0] == 'm') {   /* to=, from=, client=...sasl_username=, message-id= */
        ll.t = line_time(clock, line, len);
        if (!ll.t) { m->st.skipped_junk++; return 0; }
    }
    /* key: the instance (syslog_name up to its first '/') and the queue ID */
    size_t il = ll.instlen;
    char key[RB_SHORT_MAX + RB_QID_MAX + 2];
    if (il > RB_SHORT_MAX) il = RB_SHORT_MAX;
    memcpy(key, ll.prog, il);
    key[il] = '/';
    memcpy(key + il + 1, ll.qid, ll.qidlen);
    size_t klen = il + 1 + ll.qidlen;
    key[klen] = '\0';

    if (is_to) {
        qent *e = q_get(m, key, klen, ll.t);
        return attempt(m, e, &ll, source, lineno, cb, arg);
    }
    if (sasl) {
        qent *e = q_get(m, key, klen, ll.t);
        char clean[RB_ADDR_MAX];
        field(clean, sizeof clean, sasl, sasllen);
        if (e) {
            set_str(&e->sasl, clean, strlen(clean));
            e->comp = 0;
        }
        return 0;
    }
    if (STARTS(p, end, "removed")) {
        q_del(m, key, klen);
        return 0;
    }
    if (STARTS(p, end, "message-id=")) {
        qent *e = q_get(m, key, klen, ll.t);
        const char *v = p + sizeof "message-id=" - 1;
        size_t vl = (size_t)(end - v);
        if (vl && *v == '<') { v++; vl--; }
        const char *gt = memchr(v, '>', vl);
        if (gt) vl = (size_t)(gt - v);
        char clean[RB_HOST_MAX];
        field(clean, sizeof clean, v, vl);      /* a log may hold any bytes */
        if (e) set_str(&e->msgid, clean, strlen(clean));
        return 0;
    }
    if (is_from) {
        const char *a;
        size_t alen;
        const char *q = angle_addr(p + 5, end, &a, &alen);
        if (!q) return 0;
        qent *e = q_get(m, key, klen, ll.t);
        if (!e) return 0;
        char clean[RB_ADDR_MAX];
        field(clean, sizeof clean, a, alen);
        set_str(&e->from, clean, strlen(clean));
        e->comp = 0;
        if (STARTS(q, end, ", status=expired")) return expire_all(m, e, &ll, source, lineno, cb, arg);
        return 0;
    }
    return 0;
}

/* ---- open queue IDs in the state file --------------------------------------------- */
static int put_esc(rb_buf *b, const char *s)
{
    if (!s) s = "";
    for (const char *p = s; *p; p++) {
        const char *rep = NULL;
        if (*p == '\\') rep = "\\\\";
        else if (*p == '\t') rep = "\\t";
        else if (*p == '\n') rep = "\\n";
        else if (*p == '\r') rep = "\\r";
        if (rep ? rb_buf_puts(b, rep) : rb_buf_append(b, p, 1)) return -1;
    }
    return 0;
}

rb_status rb_maillog_save_open(const rb_maillog *m, rb_buf *out, int64_t now, int64_t max_age, rb_error *err)
{
    for (size_t i = 0; i < m->nb; i++)
        for (const qent *e = m->tab[i]; e; e = e->next) {
            if (max_age && e->t && e->t < now - max_age) continue;
            char num[32];
            snprintf(num, sizeof num, "%lld", (long long)e->t);
            if (rb_buf_puts(out, "open\t") || put_esc(out, e->key) || rb_buf_puts(out, "\t") ||
                rb_buf_puts(out, num) || rb_buf_puts(out, "\t") || put_esc(out, e->msgid) ||
                rb_buf_puts(out, "\t") ||
                /* the null sender as <> (a bounce notice), told from a sender not seen yet */
                (e->from && !e->from[0] ? rb_buf_puts(out, "<>") : put_esc(out, e->from)) ||
                /* the SASL login, a sixth field only when there is one (state v2;
                 * a state without logins stays readable by v1) */
                (e->sasl && (rb_buf_puts(out, "\t") || put_esc(out, e->sasl))) ||
                rb_buf_puts(out, "\n"))
                goto oom;
            for (const dfr *d = e->deferred; d; d = d->next) {
                snprintf(num, sizeof num, "%lld", (long long)d->t);
                const char *const f[] = {d->rcpt, d->to, d->relay, d->dsn, d->delay, d->host, d->diag};
                if (rb_buf_puts(out, "dfr\t") || put_esc(out, e->key) || rb_buf_puts(out, "\t") ||
                    rb_buf_puts(out, num))
                    goto oom;
                for (size_t k = 0; k < sizeof f / sizeof f[0]; k++)
                    if (rb_buf_puts(out, "\t") || put_esc(out, f[k])) goto oom;
                if (rb_buf_puts(out, "\n")) goto oom;
            }
        }
    return RB_OK;
oom:
    rb_seterr(err, "out of memory");
    return RB_ERR_NOMEM;
}

/* Split a tab-separated line in place, unescaping; returns the field count. */
static size_t split_tabs(char *s, char **f, size_t max)
{
    size_t n = 0;
    char *w = s;
    f[n++] = w;
    for (char *p = s; *p; p++) {
        if (*p == '\t') {
            *w++ = '\0';
            if (n == max) return n;
            f[n++] = w;
        } else if (*p == '\\' && p[1]) {
            p++;
            *w++ = *p == 't' ? '\t' : *p == 'n' ? '\n' : *p == 'r' ? '\r' : *p;
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
    return n;
}

rb_status rb_maillog_load_open(rb_maillog *m, const char *line, rb_error *err)
{
    char *s = strdup(line);
    if (!s) { rb_seterr(err, "out of memory"); return RB_ERR_NOMEM; }
    char *f[10];
    size_t n = split_tabs(s, f, 10);
    rb_status rc = RB_OK;
    if ((n == 5 || n == 6) && !strcmp(f[0], "open")) {   /* v1: 5 fields; v2: the SASL login */
        qent *e = q_get(m, f[1], strlen(f[1]), strtoll(f[2], NULL, 10));
        if (e) {
            if (f[3][0]) set_str(&e->msgid, f[3], strlen(f[3]));
            if (!strcmp(f[4], "<>")) set_str(&e->from, "", 0);
            else if (f[4][0]) set_str(&e->from, f[4], strlen(f[4]));
            if (n == 6 && f[5][0]) set_str(&e->sasl, f[5], strlen(f[5]));
            e->comp = 0;
        }
    } else if (n == 10 && !strcmp(f[0], "dfr")) {
        qent *e = q_get(m, f[1], strlen(f[1]), 0);
        dfr *d = e ? calloc(1, sizeof *d) : NULL;
        if (d) {
            d->t = strtoll(f[2], NULL, 10);
            d->rcpt = strdup(f[3]); d->to = strdup(f[4]); d->relay = strdup(f[5]); d->dsn = strdup(f[6]);
            d->delay = strdup(f[7]); d->host = strdup(f[8]); d->diag = strdup(f[9]);
            if (!d->rcpt) dfr_free(d);
            else { d->next = e->deferred; e->deferred = d; }
        }
    } else {
        rb_seterr(err, "not a queue-ID line");
        rc = RB_ERR_PARSE;
    }
    free(s);
    return rc;
}
