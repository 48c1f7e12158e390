/* report.c -- `rebound report`: the provider view of the store, in the
 * terminal, as JSON or CSV for other tools, or as one self-contained HTML
 * page with inline SVG charts.  The numbers come from rb_report_build()
 * (lib/share/report.c) as one JSON document; every output is drawn from it. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "rebound_report.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: rebound report [--db URL] [--since TIME] [--until TIME] [--provider NAME]\n"
            "                      [--source NAME] [--format table|json|csv] [--html FILE] [--top N]\n"
            "                      [--rebuild]\n\n"
            "The provider view of the store: sends and bounces per day by type; per provider\n"
            "the sends, the sends accepted with 250 and bounced later (count, share, median\n"
            "delay), hard-bounce and block rates, and the dead addresses still in the queue;\n"
            "reasons per provider; the top diagnostic texts (addresses masked); per import\n"
            "source; the soft-bounce pipeline; the diagnostics no rule classified.\n\n"
            "  --since, --until TIME  the period [since, until) in whole UTC days: since is taken\n"
            "                         back to its day's start, until on to the end of its day\n"
            "                         (default: the 30 days up to now, today included);\n"
            "                         2026-11-01, 2026-11-01T10:00:00Z or seconds since the epoch\n"
            "  --provider NAME        only this provider (business_microsoft, google, ...)\n"
            "  --source NAME          only the contacts of this import source\n"
            "  --format FMT           table (default: aligned tables, colour on a terminal\n"
            "                         unless NO_COLOR is set),\n"
            "                         json (every number), csv (section,key,metric,value)\n"
            "  --html FILE            also write the report as one self-contained HTML page\n"
            "  --top N                rows of the diagnostic lists (default 20)\n"
            "  --rebuild              first compute the store's report rollups again from its\n"
            "                         events, sends and contacts (after rows were written by\n"
            "                         hand, or to count old bounces under the contacts' present\n"
            "                         provider and source); rebound keeps them as it writes\n\n"
            "Exit status: 0 ok; 64 usage; 73 the HTML file cannot be written; 75 store failure.\n");
}

/* ---- terminal -------------------------------------------------------------------- */
static int tty;
static const char *B(void) { return tty ? "\033[1m" : ""; }
static const char *N(void) { return tty ? "\033[0m" : ""; }
static const char *RED(void) { return tty ? "\033[31m" : ""; }

static long long I(json_t *o, const char *k) { return (long long)json_integer_value(json_object_get(o, k)); }
static const char *S(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* a share as "12.5%", "-" when undefined */
static const char *pct(json_t *v, char *buf, size_t len)
{
    if (!json_is_number(v)) snprintf(buf, len, "-");
    else snprintf(buf, len, "%.1f%%", json_number_value(v) * 100.0);
    return buf;
}

static const char *dur(json_t *v, char *buf, size_t len)
{
    if (!json_is_integer(v)) { snprintf(buf, len, "-"); return buf; }
    long long s = (long long)json_integer_value(v);
    if (s < 120) snprintf(buf, len, "%llds", s);
    else if (s < 7200) snprintf(buf, len, "%lldm", s / 60);
    else if (s < 172800) snprintf(buf, len, "%.1fh", s / 3600.0);
    else snprintf(buf, len, "%.1fd", s / 86400.0);
    return buf;
}

static void print_table(json_t *r)
{
    json_t *p = json_object_get(r, "period"), *t = json_object_get(r, "totals"), *f = json_object_get(r, "filters");
    char a[32], b[32];
    printf("%srebound report%s  %s .. %s (%lld days), store %s", B(), N(), S(p, "since"), S(p, "until"),
           I(p, "days"), S(r, "store"));
    if (S(f, "provider")[0]) printf(", provider %s", S(f, "provider"));
    if (S(f, "source")[0]) printf(", source %s", S(f, "source"));
    printf("\n\n");
    printf("%sTotals%s\n", B(), N());
    printf("  sends %lld   bounces %lld (hard %lld, soft %lld, blocked %lld, complaint %lld)\n", I(t, "sends"),
           I(t, "bounces"), I(t, "hard"), I(t, "soft"), I(t, "blocked"), I(t, "complaint"));
    printf("  accepted then NDR %lld (%s)   hard rate %s   block rate %s\n", I(t, "accepted_then_ndr"),
           pct(json_object_get(t, "accepted_then_ndr_share"), a, sizeof a), pct(json_object_get(t, "hard_rate"), b, sizeof b),
           pct(json_object_get(t, "block_rate"), (char[32]){0}, 32));
    printf("  dead addresses in the queue %s%lld%s (at the start of the period %lld)\n\n",
           I(t, "dead_in_queue") ? RED() : "", I(t, "dead_in_queue"), I(t, "dead_in_queue") ? N() : "",
           I(t, "dead_in_queue_at_since"));

    printf("%sPer provider%s\n", B(), N());
    printf("  %-24s %9s %9s %7s %9s %7s %7s %6s %6s\n", "provider", "sent", "acc+NDR", "share", "median", "hard%", "block%",
           "dead", "dead0");
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(r, "providers"), i, x) {
        char c1[32], c2[32], c3[32], c4[32];
        printf("  %-24s %9lld %9lld %7s %9s %7s %7s %s%6lld%s %6lld\n", S(x, "provider"), I(x, "sent"),
               I(x, "accepted_then_ndr"), pct(json_object_get(x, "accepted_then_ndr_share"), c1, sizeof c1),
               dur(json_object_get(x, "median_queued_to_ndr_seconds"), c2, sizeof c2),
               pct(json_object_get(x, "hard_rate"), c3, sizeof c3), pct(json_object_get(x, "block_rate"), c4, sizeof c4),
               I(x, "dead_in_queue") ? RED() : "", I(x, "dead_in_queue"), I(x, "dead_in_queue") ? N() : "",
               I(x, "dead_in_queue_at_since"));
    }
    printf("\n%sBounces per provider and reason%s\n", B(), N());
    printf("  %-24s %-22s %9s\n", "provider", "reason", "count");
    json_array_foreach(json_object_get(r, "reasons"), i, x)
        printf("  %-24s %-22s %9lld\n", S(x, "provider"), S(x, "reason"), I(x, "count"));

    printf("\n%sPer import source%s\n", B(), N());
    printf("  %-30s %9s %9s %9s %9s %9s %8s %6s\n", "source", "contacts", "bounced", "complaint", "blocked", "bounces",
           "disabled", "dead");
    json_array_foreach(json_object_get(r, "sources"), i, x) {
        char c1[32];
        printf("  %-30s %9lld %9lld %9lld %9lld %9lld %8s %6lld\n", S(x, "source"), I(x, "contacts"), I(x, "bounced"),
               I(x, "complaint"), I(x, "blocked"), I(x, "bounces"), pct(json_object_get(x, "disabled_share"), c1, sizeof c1),
               I(x, "dead_in_queue"));
    }
    json_t *sp = json_object_get(r, "soft_pipeline");
    printf("\n%sSoft-bounce pipeline%s\n", B(), N());
    printf("  soft bounces %lld: counted %lld, quarantined %lld, disabled %lld, other %lld; released %lld; in quarantine now %lld\n",
           I(sp, "soft_bounces"), I(sp, "counted"), I(sp, "quarantined"), I(sp, "disabled"), I(sp, "other"),
           I(sp, "released"), I(sp, "in_quarantine_now"));

    json_t *d = json_object_get(r, "diagnostics");
    printf("\n%sTop diagnostic texts%s (%lld bounces, %lld distinct texts)\n", B(), N(), I(d, "total"), I(d, "distinct"));
    json_array_foreach(json_object_get(d, "top"), i, x) printf("  %7lld  %.110s\n", I(x, "count"), S(x, "text"));
    json_t *al = json_object_get(r, "alerts");
    printf("\n%sAlerts%s (bounces that say nothing about their recipient; no contact changed)\n", B(), N());
    printf("  backscatter (mail we never sent) %lld; compromised account (sent through a hacked account of ours) %lld\n",
           I(al, "backscatter"), I(al, "compromised_account"));
    json_array_foreach(json_object_get(al, "by_provider"), i, x)
        printf("  %7lld  %-20s %s\n", I(x, "count"), S(x, "alert"), S(x, "provider"));
    json_array_foreach(json_object_get(al, "by_account"), i, x)
        printf("  %7lld  %-20s account %s\n", I(x, "count"), S(x, "alert"), S(x, "account"));
    json_t *u = json_object_get(r, "unclassified");
    printf("\n%sUnclassified diagnostics%s (onhold/undefined: %lld, %lld distinct texts) -- rules to add\n", B(), N(),
           I(u, "total"), I(u, "distinct"));
    json_array_foreach(json_object_get(u, "top"), i, x)
        printf("  %7lld  %-9s %.100s\n", I(x, "count"), S(x, "reason"), S(x, "text"));
}

/* ---- CSV: section,key,metric,value -------------------------------------------------- */
static void csv_value(FILE *f, json_t *v)
{
    if (json_is_integer(v)) fprintf(f, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v)) fprintf(f, "%.6f", json_real_value(v));
    else if (json_is_string(v)) csv_field(f, json_string_value(v));
}

static void csv_row(FILE *f, const char *section, const char *key, const char *metric, json_t *v)
{
    csv_field(f, section);
    fputc(',', f);
    csv_field(f, key);
    fputc(',', f);
    csv_field(f, metric);
    fputc(',', f);
    csv_value(f, v);
    fputc('\n', f);
}

static void csv_obj(FILE *f, const char *section, json_t *o)
{
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        char sub[128];
        snprintf(sub, sizeof sub, "%s%s%s", section, section[0] ? "." : "", k);
        if (json_is_object(v)) csv_obj(f, sub, v);
        else if (json_is_array(v)) {
            size_t i;
            json_t *row;
            json_array_foreach(v, i, row) {
                /* the key: the row's string fields joined by '/' */
                char key[4096] = "";
                const char *rk;
                json_t *rv;
                json_object_foreach(row, rk, rv)
                    if (json_is_string(rv)) {
                        if (key[0]) strncat(key, "/", sizeof key - strlen(key) - 1);
                        strncat(key, json_string_value(rv), sizeof key - strlen(key) - 1);
                    }
                json_object_foreach(row, rk, rv)
                    if (!json_is_string(rv)) csv_row(f, sub, key, rk, rv);
            }
        } else if (section[0]) csv_row(f, section, "", k, v);
        else csv_row(f, k, "", "", v);
    }
}

/* ---- HTML ---------------------------------------------------------------------------- */
static void esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* a number of the JSON, marked with its path so that a reader (the test)
 * can check it against `report --format json` */
static void num(FILE *f, json_t *v, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void num(FILE *f, json_t *v, const char *fmt, ...)
{
    char path[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    char buf[64];
    fprintf(f, "<span class=\"n\" data-k=\"");
    esc(f, path);
    if (json_is_integer(v)) fprintf(f, "\" data-v=\"%lld\">%lld</span>", (long long)json_integer_value(v),
                                    (long long)json_integer_value(v));
    else if (json_is_real(v)) fprintf(f, "\" data-v=\"%.9g\">%s</span>", json_real_value(v), pct(v, buf, sizeof buf));
    else fprintf(f, "\" data-v=\"\">-</span>");
}

static long long nice_max(long long m)
{
    if (m <= 4) return 4;
    long long p = 1;
    while (p * 10 < m) p *= 10;
    static const int steps[] = {1, 2, 4, 5, 8, 10};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (steps[i] * p >= m && (steps[i] * p) % 4 == 0) return steps[i] * p;
    return 10 * p;
}

#define CW 720
#define CH 260
#define ML 56
#define MR 12
#define MT 12
#define MB 44

/* Columns per day, stacked over k series (values[s][i]); line: one series as a line. */
static void chart_days(FILE *f, const char *id, const char *title, const char *unit, size_t n, char (*labels)[16],
                       size_t k, const char *const *names, const char *const *cls, long long **values, int line)
{
    long long max = 0, tot[8] = {0};
    for (size_t i = 0; i < n; i++) {
        long long sum = 0;
        for (size_t s = 0; s < k; s++) { sum += values[s][i]; tot[s] += values[s][i]; }
        if (sum > max) max = sum;
    }
    long long ymax = nice_max(max);
    double pw = CW - ML - MR, ph = CH - MT - MB, bw = pw / (double)(n ? n : 1);
    fprintf(f, "<figure class=\"chart\"><figcaption>%s</figcaption>\n", title);
    fprintf(f, "<svg id=\"%s\" class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"", id, CW, CH);
    esc(f, title);
    fprintf(f, "\">\n");
    for (int t = 0; t <= 4; t++) {
        double y = MT + ph - ph * t / 4.0;
        fprintf(f, "<line class=\"grid\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>", ML, CW - MR, y, y);
        fprintf(f, "<text class=\"tick\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%lld</text>\n", ML - 6, y + 4,
                ymax * t / 4);
    }
    fprintf(f, "<text class=\"axis-title\" transform=\"translate(12 %.1f) rotate(-90)\" text-anchor=\"middle\">%s</text>\n",
            MT + ph / 2, unit);
    size_t every = n > 8 ? (n + 6) / 7 : 1;
    for (size_t i = 0; i < n; i++)
        if (i % every == 0 || i + 1 == n)
            fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>", ML + bw * (i + 0.5),
                    CH - MB + 16, labels[i] + 5);
    fprintf(f, "\n<text class=\"axis-title\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">day (UTC, month-day)</text>\n",
            ML + pw / 2, CH - 6);
    if (line) {
        fprintf(f, "<path class=\"line %s\" d=\"", cls[0]);
        for (size_t i = 0; i < n; i++)
            fprintf(f, "%c%.1f %.1f", i ? 'L' : 'M', ML + bw * (i + 0.5), MT + ph - ph * values[0][i] / (double)ymax);
        fprintf(f, "\"/>\n");
        for (size_t i = 0; i < n; i++)
            fprintf(f, "<circle class=\"dot %s\" cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\"><title>%s: %lld</title></circle>", cls[0],
                    ML + bw * (i + 0.5), MT + ph - ph * values[0][i] / (double)ymax, labels[i], values[0][i]);
    } else {
        for (size_t i = 0; i < n; i++) {
            double y = MT + ph;
            for (size_t s = 0; s < k; s++) {
                if (!values[s][i]) continue;
                double h = ph * values[s][i] / (double)ymax;
                y -= h;
                fprintf(f, "<rect class=\"bar %s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"><title>%s %s: %lld</title></rect>",
                        cls[s], ML + bw * i + bw * 0.1, y, bw * 0.8, h, labels[i], names[s], values[s][i]);
            }
        }
    }
    fprintf(f, "\n<line class=\"axis\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>", ML, CW - MR, MT + ph, MT + ph);
    fprintf(f, "<line class=\"axis\" x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%.1f\"/>\n</svg>\n", ML, ML, MT, MT + ph);
    fprintf(f, "<ul class=\"legend\">");
    for (size_t s = 0; s < k; s++)
        fprintf(f, "<li><i class=\"sw %s\"></i>%s: %s %lld</li>", cls[s], names[s], line ? "at the end" : "total",
                line ? (n ? values[s][n - 1] : 0) : tot[s]);
    fprintf(f, "</ul></figure>\n");
}

/* Horizontal bars, one row per label, stacked over k series. */
static void chart_rows(FILE *f, const char *id, const char *title, const char *unit, size_t n, const char **labels,
                       size_t k, const char *const *names, const char *const *cls, long long **values)
{
    long long max = 0, tot[8] = {0};
    for (size_t i = 0; i < n; i++) {
        long long sum = 0;
        for (size_t s = 0; s < k; s++) { sum += values[s][i]; tot[s] += values[s][i]; }
        if (sum > max) max = sum;
    }
    long long xmax = nice_max(max);
    int lw = 170, rowh = 26, h = MT + (int)n * rowh + 40;
    double pw = CW - lw - MR - 40;
    fprintf(f, "<figure class=\"chart\"><figcaption>%s</figcaption>\n", title);
    fprintf(f, "<svg id=\"%s\" class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"", id, CW, h);
    esc(f, title);
    fprintf(f, "\">\n");
    double base = MT + n * rowh;
    for (int t = 0; t <= 4; t++) {
        double x = lw + pw * t / 4.0;
        fprintf(f, "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%.1f\"/>", x, x, MT, base);
        fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%lld</text>\n", x, base + 14,
                xmax * t / 4);
    }
    fprintf(f, "<text class=\"axis-title\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", lw + pw / 2,
            base + 32, unit);
    for (size_t i = 0; i < n; i++) {
        double y = MT + i * rowh + 4, x = lw;
        long long sum = 0;
        fprintf(f, "<text class=\"label\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">", lw - 8, y + 13);
        esc(f, labels[i]);
        fprintf(f, "</text>");
        for (size_t s = 0; s < k; s++) {
            sum += values[s][i];
            if (!values[s][i]) continue;
            double w = pw * values[s][i] / (double)xmax;
            fprintf(f, "<rect class=\"bar %s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"18\"><title>", cls[s], x, y, w);
            esc(f, labels[i]);
            fprintf(f, " %s: %lld</title></rect>", names[s], values[s][i]);
            x += w;
        }
        fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\">%lld</text>\n", x + 4, y + 13, sum);
    }
    fprintf(f, "<line class=\"axis\" x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%.1f\"/>", lw, lw, MT, base);
    fprintf(f, "<line class=\"axis\" x1=\"%d\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>\n</svg>\n", lw, lw + pw, base, base);
    fprintf(f, "<ul class=\"legend\">");
    for (size_t s = 0; s < k; s++)
        fprintf(f, "<li><i class=\"sw %s\"></i>%s: total %lld</li>", cls[s], names[s], tot[s]);
    fprintf(f, "</ul></figure>\n");
}

static const char CSS[] =
    ":root{--bg:#fff;--fg:#1d2330;--mute:#5b6475;--line:#d6dae3;--card:#f6f7fa;--hard:#c62828;--soft:#ef9a1a;"
    "--blocked:#6a3fb5;--complaint:#1f78b4;--sends:#2e7d32;--dead:#c62828;--q:#ef9a1a;--rel:#2e7d32}\n"
    "@media (prefers-color-scheme:dark){:root{--bg:#14171d;--fg:#e6e9ef;--mute:#a3acbd;--line:#39404d;--card:#1d2129;"
    "--hard:#ff6b6b;--soft:#ffb74d;--blocked:#b39ddb;--complaint:#64b5f6;--sends:#81c784;--dead:#ff6b6b;--q:#ffb74d;--rel:#81c784}}\n"
    "*{box-sizing:border-box}body{margin:0 auto;max-width:1100px;padding:16px;background:var(--bg);color:var(--fg);"
    "font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}\n"
    "h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.15em;margin:1.6em 0 .5em;border-bottom:1px solid var(--line);padding-bottom:.2em}"
    "p.meta,.note{color:var(--mute)}\n"
    ".kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px}"
    ".kpi{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px}"
    ".kpi b{display:block;font-size:1.5em}.kpi small{color:var(--mute)}\n"
    ".grid2{display:grid;grid-template-columns:1fr 1fr;gap:16px}@media (max-width:800px){.grid2{grid-template-columns:1fr}}\n"
    "figure.chart{margin:0 0 12px;background:var(--card);border:1px solid var(--line);border-radius:8px;padding:8px}"
    "figcaption{font-weight:600;margin-bottom:4px}svg.chart{width:100%;height:auto;display:block}\n"
    "svg .grid{stroke:var(--line);stroke-width:1}svg .axis{stroke:var(--mute);stroke-width:1.2}"
    "svg text{fill:var(--mute);font-size:11px}svg .axis-title{font-size:12px;fill:var(--fg)}svg .label{fill:var(--fg);font-size:12px}\n"
    ".hard{fill:var(--hard);background:var(--hard)}.soft{fill:var(--soft);background:var(--soft)}"
    ".blocked{fill:var(--blocked);background:var(--blocked)}.complaint{fill:var(--complaint);background:var(--complaint)}"
    ".sends{fill:var(--sends);background:var(--sends)}.dead{fill:var(--dead);background:var(--dead)}"
    ".q{fill:var(--q);background:var(--q)}.rel{fill:var(--rel);background:var(--rel)}\n"
    "path.line{fill:none;stroke:var(--dead);stroke-width:2}\n"
    "ul.legend{list-style:none;padding:0;margin:6px 0 0;display:flex;flex-wrap:wrap;gap:4px 16px;font-size:.9em}"
    "i.sw{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:5px;vertical-align:-1px}\n"
    ".tw{overflow-x:auto}table{border-collapse:collapse;width:100%;font-size:.92em}"
    "th,td{padding:4px 8px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}"
    "th:first-child,td:first-child,td.t{text-align:left}td.t{white-space:normal;word-break:break-word}"
    "thead th{background:var(--card)}tfoot td{font-weight:600}\n"
    "@media print{:root{--bg:#fff;--fg:#000;--mute:#333;--card:#fff;--line:#bbb}body{max-width:none;font-size:11pt}"
    "section,figure,table{break-inside:avoid}.tw{overflow:visible}a{color:inherit}}\n";

static void th(FILE *f, const char *const *cols, size_t n)
{
    fprintf(f, "<div class=\"tw\"><table><thead><tr>");
    for (size_t i = 0; i < n; i++) fprintf(f, "<th>%s</th>", cols[i]);
    fprintf(f, "</tr></thead><tbody>\n");
}

/* A table of counted rows (count, two text columns) with its header:
 * the count checked against the JSON at PATH.N.count. */
static void count_rows(FILE *f, json_t *rows, const char *path, const char *k1, const char *h1, const char *k2,
                       const char *h2, int long_text)
{
    size_t i;
    json_t *x;
    th(f, (const char *const[]){"bounces", h1, h2}, 3);
    json_array_foreach(rows, i, x) {
        fprintf(f, "<tr><td>");
        num(f, json_object_get(x, "count"), "%s.%zu.count", path, i);
        fprintf(f, "</td><td>");
        esc(f, S(x, k1));
        fprintf(f, long_text ? "</td><td class=\"t\">" : "</td><td>");
        esc(f, S(x, k2));
        fprintf(f, "</td></tr>\n");
    }
}

static int write_html(const char *path, json_t *r)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    json_t *p = json_object_get(r, "period"), *t = json_object_get(r, "totals"), *fl = json_object_get(r, "filters");
    json_t *daily = json_object_get(r, "daily"), *provs = json_object_get(r, "providers");
    size_t n = json_array_size(daily), i;
    json_t *x;
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
               "<meta name=\"color-scheme\" content=\"light dark\">"
               "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
               "<title>rebound report %s .. %s</title>\n<style>%s</style></head><body>\n",
            S(p, "since"), S(p, "until"), CSS);
    fprintf(f, "<header><h1>Bounces by provider</h1><p class=\"meta\">%s to %s (%lld days, UTC)", S(p, "since"),
            S(p, "until"), I(p, "days"));
    if (S(fl, "provider")[0]) { fprintf(f, " &middot; provider "); esc(f, S(fl, "provider")); }
    if (S(fl, "source")[0]) { fprintf(f, " &middot; source "); esc(f, S(fl, "source")); }
    fprintf(f, " &middot; store %s &middot; generated %s by rebound report</p></header>\n", S(r, "store"), S(r, "generated"));

    fprintf(f, "<section><h2>Summary</h2><div class=\"kpis\">\n");
    static const struct { const char *k, *label; } kp[] = {
        {"sends", "sends (250 accepted)"}, {"bounces", "bounces"}, {"hard", "hard bounces"}, {"blocked", "blocked"},
        {"accepted_then_ndr", "accepted, then NDR"}, {"accepted_then_ndr_share", "share accepted then NDR"},
        {"hard_rate", "hard-bounce rate"}, {"block_rate", "block rate"}, {"dead_in_queue", "dead addresses still queued"},
    };
    for (size_t k = 0; k < sizeof kp / sizeof kp[0]; k++) {
        fprintf(f, "<div class=\"kpi\"><b>");
        num(f, json_object_get(t, kp[k].k), "totals.%s", kp[k].k);
        fprintf(f, "</b><small>%s</small></div>\n", kp[k].label);
    }
    fprintf(f, "</div></section>\n");

    /* per day */
    char (*labels)[16] = calloc(n ? n : 1, sizeof *labels);
    long long *v[5];
    for (int s = 0; s < 5; s++) v[s] = calloc(n ? n : 1, sizeof **v);
    json_array_foreach(daily, i, x) {
        snprintf(labels[i], sizeof labels[i], "%s", S(x, "day"));
        v[0][i] = I(x, "hard"); v[1][i] = I(x, "soft"); v[2][i] = I(x, "blocked"); v[3][i] = I(x, "complaint");
        v[4][i] = I(x, "sends");
    }
    static const char *const btn[] = {"hard", "soft", "blocked", "complaint"};
    fprintf(f, "<section><h2>Per day</h2><div>\n");
    static const char *const sn[] = {"sends"};
    chart_days(f, "chart-sends", "Sends per day (accepted with 250)", "sends per day", n, labels, 1, sn, sn, &v[4], 0);
    chart_days(f, "chart-bounces", "Bounces per day by type", "bounces per day", n, labels, 4, btn, btn, v, 0);
    fprintf(f, "</div>\n");
    static const char *const dc[] = {"sends", "hard", "soft", "blocked", "complaint"};
    th(f, (const char *const[]){"day", "sends", "hard", "soft", "blocked", "complaint"}, 6);
    json_array_foreach(daily, i, x) {
        if (!I(x, "sends") && !I(x, "hard") && !I(x, "soft") && !I(x, "blocked") && !I(x, "complaint")) continue;
        fprintf(f, "<tr><td>%s</td>", S(x, "day"));
        for (int s = 0; s < 5; s++) { fprintf(f, "<td>"); num(f, json_object_get(x, dc[s]), "daily.%zu.%s", i, dc[s]); fprintf(f, "</td>"); }
        fprintf(f, "</tr>\n");
    }
    fprintf(f, "</tbody><tfoot><tr><td>total</td>");
    for (int s = 0; s < 5; s++) { fprintf(f, "<td>"); num(f, json_object_get(t, dc[s]), "totals.%s", dc[s]); fprintf(f, "</td>"); }
    fprintf(f, "</tr></tfoot></table></div><p class=\"note\">Days without sends or bounces are left out of the table.</p></section>\n");

    /* per provider */
    size_t np = json_array_size(provs);
    const char **pl = calloc(np ? np : 1, sizeof *pl);
    long long *pv[4];
    for (int s = 0; s < 4; s++) pv[s] = calloc(np ? np : 1, sizeof **pv);
    json_array_foreach(provs, i, x) {
        pl[i] = S(x, "provider");
        for (int s = 0; s < 4; s++) pv[s][i] = I(x, btn[s]);
    }
    fprintf(f, "<section><h2>Per provider</h2>\n");
    chart_rows(f, "chart-providers", "Bounces per provider by type", "bounces in the period", np, pl, 4, btn, btn, pv);
    th(f, (const char *const[]){"provider", "sent", "accepted, then NDR", "share", "median 250 &rarr; NDR", "hard",
                                 "hard rate", "blocked", "block rate", "soft", "complaint", "dead in queue",
                                 "dead at start"}, 13);
    json_array_foreach(provs, i, x) {
        fprintf(f, "<tr><td>");
        esc(f, S(x, "provider"));
        fprintf(f, "</td>");
        static const char *const pc[] = {"sent", "accepted_then_ndr", "accepted_then_ndr_share", "median_queued_to_ndr_seconds",
                                         "hard", "hard_rate", "blocked", "block_rate", "soft", "complaint", "dead_in_queue",
                                         "dead_in_queue_at_since"};
        for (size_t c = 0; c < sizeof pc / sizeof pc[0]; c++) {
            fprintf(f, "<td>");
            json_t *val = json_object_get(x, pc[c]);
            if (c == 3 && json_is_integer(val)) {
                char d[32];
                num(f, val, "providers.%zu.%s", i, pc[c]);
                fprintf(f, " s (%s)", dur(val, d, sizeof d));
            } else num(f, val, "providers.%zu.%s", i, pc[c]);
            fprintf(f, "</td>");
        }
        fprintf(f, "</tr>\n");
    }
    /* the totals row, column by column (NULL: the median, which has no total) */
    static const char *const tcols[] = {"sends", "accepted_then_ndr", "accepted_then_ndr_share", NULL, "hard",
                                        "hard_rate", "blocked", "block_rate", "soft", "complaint", "dead_in_queue",
                                        "dead_in_queue_at_since"};
    fprintf(f, "</tbody><tfoot><tr><td>total</td>");
    for (size_t c = 0; c < sizeof tcols / sizeof tcols[0]; c++) {
        fprintf(f, "<td>");
        if (tcols[c]) num(f, json_object_get(t, tcols[c]), "totals.%s", tcols[c]);
        fprintf(f, "</td>");
    }
    fprintf(f, "</tr></tfoot></table></div>\n<p class=\"note\">Sent: deliveries the Postfix log shows accepted "
               "(250). Accepted, then NDR: such a send followed by a bounce (hard, soft or blocked) for the same "
               "recipient before the next send to it; the median is the time from the 250 to that bounce. Rates are "
               "per send. Dead in queue: contacts disabled by a hard bounce or a complaint that are still in the "
               "mailing queue &mdash; what a provider counts as mail to dead mailboxes (trap hits).</p></section>\n");

    /* dead in queue over time */
    json_t *dd = json_object_get(r, "dead_in_queue_daily");
    long long *dv = calloc(n ? n : 1, sizeof *dv);
    json_array_foreach(dd, i, x) if (i < n) dv[i] = I(x, "dead_in_queue");
    fprintf(f, "<section><h2>Dead addresses still in the queue</h2>\n");
    static const char *const dn[] = {"dead addresses queued"}, *const dcl[] = {"dead"};
    chart_days(f, "chart-dead", "Dead addresses still in the queue, by the day they died", "contacts", n, labels, 1, dn,
               dcl, &dv, 1);
    fprintf(f, "<p class=\"note\">At the start of the period ");
    num(f, json_object_get(t, "dead_in_queue_at_since"), "totals.dead_in_queue_at_since");
    fprintf(f, ", now ");
    num(f, json_object_get(t, "dead_in_queue"), "totals.dead_in_queue");
    fprintf(f, ". The queue keeps no history: the curve counts the contacts in today's queue that were disabled by "
               "the end of each day. Rebuild the queue (rebound queue rebuild) to take them out.</p></section>\n");

    /* reasons */
    fprintf(f, "<section><h2>Reasons per provider</h2>\n");
    th(f, (const char *const[]){"provider", "reason", "bounces"}, 3);
    json_array_foreach(json_object_get(r, "reasons"), i, x) {
        fprintf(f, "<tr><td>");
        esc(f, S(x, "provider"));
        fprintf(f, "</td><td class=\"t\">");
        esc(f, S(x, "reason"));
        fprintf(f, "</td><td>");
        num(f, json_object_get(x, "count"), "reasons.%zu.count", i);
        fprintf(f, "</td></tr>\n");
    }
    fprintf(f, "</tbody><tfoot><tr><td>total</td><td></td><td>");
    num(f, json_object_get(t, "bounces"), "totals.bounces");
    fprintf(f, "</td></tr></tfoot></table></div></section>\n");

    /* diagnostics */
    json_t *dg = json_object_get(r, "diagnostics");
    fprintf(f, "<section><h2>Top diagnostic texts</h2><p class=\"note\">Addresses masked; ");
    num(f, json_object_get(dg, "total"), "diagnostics.total");
    fprintf(f, " bounces, ");
    num(f, json_object_get(dg, "distinct"), "diagnostics.distinct");
    fprintf(f, " distinct texts.</p>\n");
    th(f, (const char *const[]){"bounces", "diagnostic text"}, 2);
    json_array_foreach(json_object_get(dg, "top"), i, x) {
        fprintf(f, "<tr><td>");
        num(f, json_object_get(x, "count"), "diagnostics.top.%zu.count", i);
        fprintf(f, "</td><td class=\"t\">");
        esc(f, S(x, "text"));
        fprintf(f, "</td></tr>\n");
    }
    fprintf(f, "</tbody></table></div></section>\n");

    /* sources */
    fprintf(f, "<section><h2>Per import source</h2>\n");
    th(f, (const char *const[]){"source", "contacts", "active", "bounced", "complaint", "blocked", "quarantined",
                                 "disabled share", "bounces", "hard", "soft", "blocked bounces", "complaints",
                                 "dead in queue"}, 14);
    json_array_foreach(json_object_get(r, "sources"), i, x) {
        static const char *const sc[] = {"contacts", "active", "bounced", "complaint", "blocked", "quarantined",
                                         "disabled_share", "bounces", "hard_bounces", "soft_bounces", "blocked_bounces",
                                         "complaint_bounces", "dead_in_queue"};
        fprintf(f, "<tr><td>");
        esc(f, S(x, "source"));
        fprintf(f, "</td>");
        for (size_t c = 0; c < sizeof sc / sizeof sc[0]; c++) {
            fprintf(f, "<td>");
            num(f, json_object_get(x, sc[c]), "sources.%zu.%s", i, sc[c]);
            fprintf(f, "</td>");
        }
        fprintf(f, "</tr>\n");
    }
    fprintf(f, "</tbody></table></div><p class=\"note\">Contacts by their status now; bounces in the period. "
               "Disabled share: bounced or complaint over all contacts of the source &mdash; which list is dirty.</p></section>\n");

    /* soft pipeline */
    json_t *sp = json_object_get(r, "soft_pipeline");
    fprintf(f, "<section><h2>Soft-bounce pipeline</h2>\n");
    static const char *const sk[] = {"counted", "quarantined", "disabled", "other", "released", "in_quarantine_now"};
    static const char *const sl[] = {"counted", "quarantined", "disabled", "recorded or unchanged", "released",
                                     "in quarantine now"};
    long long sv0[6];
    const char *slab[6];
    for (int s = 0; s < 6; s++) { sv0[s] = I(sp, sk[s]); slab[s] = sl[s]; }
    long long *svp = sv0;
    static const char *const spn[] = {"contacts / soft bounces"}, *const spc[] = {"q"};
    chart_rows(f, "chart-soft", "Soft bounces: counted, quarantined, released", "soft bounces (counted, quarantined, "
               "disabled, recorded) and contacts (released, in quarantine)", 6, slab, 1, spn, spc, &svp);
    fprintf(f, "<p>Soft bounces in the period: ");
    num(f, json_object_get(sp, "soft_bounces"), "soft_pipeline.soft_bounces");
    for (int s = 0; s < 6; s++) {
        fprintf(f, " &middot; %s ", sl[s]);
        num(f, json_object_get(sp, sk[s]), "soft_pipeline.%s", sk[s]);
    }
    fprintf(f, "</p></section>\n");

    /* alerts */
    json_t *al = json_object_get(r, "alerts");
    fprintf(f, "<section><h2>Alerts</h2><p class=\"note\">Bounces that say nothing about their recipient, recorded "
               "without changing any contact: backscatter (a bounce of mail we never sent) ");
    num(f, json_object_get(al, "backscatter"), "alerts.backscatter");
    fprintf(f, ", compromised account (mail sent through a hacked account of ours; look at that account) ");
    num(f, json_object_get(al, "compromised_account"), "alerts.compromised_account");
    fprintf(f, ".</p>\n");
    count_rows(f, json_object_get(al, "by_provider"), "alerts.by_provider", "alert", "alert", "provider", "provider", 0);
    fprintf(f, "</tbody></table></div>\n");
    if (json_array_size(json_object_get(al, "by_account"))) {
        fprintf(f, "<p>The accounts of ours the compromised-account bounces name (change their passwords):</p>\n");
        count_rows(f, json_object_get(al, "by_account"), "alerts.by_account", "alert", "alert", "account", "account", 0);
        fprintf(f, "</tbody></table></div>\n");
    }
    fprintf(f, "</section>\n");

    /* unclassified */
    json_t *u = json_object_get(r, "unclassified");
    fprintf(f, "<section><h2>Diagnostics no rule classified</h2><p class=\"note\">Reason onhold or undefined, grouped by "
               "their masked text: the rules to add. ");
    num(f, json_object_get(u, "total"), "unclassified.total");
    fprintf(f, " bounces, ");
    num(f, json_object_get(u, "distinct"), "unclassified.distinct");
    fprintf(f, " distinct texts.</p>\n");
    count_rows(f, json_object_get(u, "top"), "unclassified.top", "reason", "reason", "text", "diagnostic text", 1);
    fprintf(f, "</tbody></table></div></section>\n</body></html>\n");
    for (int s = 0; s < 5; s++) free(v[s]);
    for (int s = 0; s < 4; s++) free(pv[s]);
    free(labels);
    free(pl);
    free(dv);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) return -1;
    return 0;
}

int cmd_report(int argc, char **argv)
{
    const char *html = NULL, *provider = NULL, *source = NULL;
    rb_report_opts o = {0};
    int64_t since = 0, until = 0, now = (int64_t)time(NULL);
    int have_since = 0, have_until = 0, fmt = 0, rebuild = 0;
    unsigned long top = 0;
    static const opt_keyword formats[] = {{"table", 0}, {"json", 1}, {"csv", 2}, {0}};
    const opt_desc opts[] = {
        {OPT_TIME, "since", 0, &since, .given = &have_since},
        {OPT_TIME, "until", 0, &until, .given = &have_until},
        {OPT_TIME, "now", 0, &now},
        {OPT_STRING, "provider", 0, &provider},
        {OPT_STRING, "source", 0, &source},
        {OPT_KEYWORD, "format", 0, &fmt, formats},
        {OPT_STRING, "html", 0, &html},
        {OPT_ULONG, "top", 0, &top, .min = 1, .max = 100000},
        {OPT_FLAG, "rebuild", 0, &rebuild},
        {OPT_INHERIT, .inherit = shared_store_options},
        {0},
    };
    char **pos;
    int npos = opt_parse("report", opts, argc, argv, &pos);
    if (npos == OPT_HELP) { help(stdout); return 0; }
    if (npos < 0) return EX_USAGE_;
    if (npos > 0) {
        fprintf(stderr, "rebound report: unexpected argument '%s' (see `rebound report --help`)\n", pos[0]);
        return EX_USAGE_;
    }
    int rcf = shared_finish("report");
    if (rcf) return rcf;
    const char *db = opt_shared.db;
    const char *format = fmt == 1 ? "json" : fmt == 2 ? "csv" : "table";
    o.now = now;
    o.provider = provider;
    o.source = source;
    o.top = (int)top;
    o.until = have_until ? until : o.now;
    o.since = have_since ? since : o.until - 29 * 86400;   /* 30 whole days with today's */
    if (o.until <= o.since) { fprintf(stderr, "rebound report: --until must be after --since\n"); return EX_USAGE_; }
    if ((o.until - o.since) / 86400 > 3650) { fprintf(stderr, "rebound report: the period is longer than 10 years\n"); return EX_USAGE_; }

    rb_store *st = open_store("report", db);
    if (!st) return store_exit();
    rb_error err = {{0}};
    json_t *r = NULL;
    if (rebuild && rb_store_rollup_rebuild(st, &err) != RB_OK) {
        fprintf(stderr, "rebound report: --rebuild: %s\n", err.msg);
        rb_store_close(st);
        return EX_TEMPFAIL_;
    }
    if (rb_report_build(st, &o, &r, &err) != RB_OK) {
        fprintf(stderr, "rebound report: %s\n", err.msg);
        rb_store_close(st);
        return EX_TEMPFAIL_;
    }
    rb_store_close(st);
    int rc = EX_OK_;
    if (html && write_html(html, r) != 0) {
        fprintf(stderr, "rebound report: %s: cannot write the HTML report\n", html);
        rc = 73;
    }
    if (!strcmp(format, "json")) {
        json_dumpf(r, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
    } else if (!strcmp(format, "csv")) {
        printf("section,key,metric,value\n");
        csv_obj(stdout, "", r);
    } else {
        tty = isatty(1) && !getenv("NO_COLOR");
        print_table(r);
        if (html && rc == EX_OK_) printf("\nHTML report: %s\n", html);
    }
    json_decref(r);
    if (fflush(stdout) != 0 && rc == EX_OK_) rc = EX_FAIL;
    return rc;
}
