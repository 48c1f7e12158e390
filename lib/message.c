/* message.c -- read one raw message with GMime into an rb_msg view.
 *
 * Only what bounce analysis needs is decoded: text parts (to UTF-8), the
 * delivery-status and feedback-report parts (as field groups), and the
 * header block of the returned original message.  The body of the returned
 * message is never decoded: that is most of the bytes and none of the
 * answer.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"

#define MAX_DEPTH 24
#define MAX_TEXT (4u << 20) /* bound decoded text per message */

const char *rb_msg_strdup(rb_msg *m, const char *s)
{
    return g_string_chunk_insert(m->pool, s ? s : "");
}

const char *rb_msg_header(rb_msg *m, const char *name)
{
    if (!m->mime) return NULL;
    const char *v = g_mime_object_get_header(GMIME_OBJECT(m->mime), name);
    return v;
}

/* Look a header up in a raw header block; unfolds into the pool. */
static const char *block_header(rb_msg *m, const char *blk, size_t len, const char *name)
{
    size_t nl = strlen(name);
    size_t pos = 0;
    const char *line;
    size_t ll;
    while (rb_next_line(blk, len, &pos, &line, &ll)) {
        if (ll == 0) break; /* end of the header block */
        if (ll > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
            GString *v = g_string_new_len(line + nl + 1, (gssize)(ll - nl - 1));
            const char *l2;
            size_t ll2;
            while (rb_next_line(blk, len, &pos, &l2, &ll2) && ll2 && (l2[0] == ' ' || l2[0] == '\t')) {
                g_string_append_c(v, ' ');
                g_string_append_len(v, l2, (gssize)ll2);
            }
            char *dec = g_mime_utils_header_decode_text(NULL, v->str);
            g_string_free(v, TRUE);
            char *s = dec ? dec : g_strdup("");
            rb_squeeze(s);
            const char *out = rb_msg_strdup(m, s);
            g_free(s);
            return out;
        }
    }
    return NULL;
}

const char *rb_msg_orig_header(rb_msg *m, const char *name)
{
    if (!m->orig || !m->orig_len) return NULL;
    return block_header(m, m->orig, m->orig_len, name);
}

void rb_msg_set_orig(rb_msg *m, const char *start, size_t len)
{
    /* Skip leading blank lines, then keep up to the first blank line. */
    while (len && (*start == '\n' || *start == '\r' || *start == ' ' || *start == '\t')) { start++; len--; }
    size_t end = 0;
    while (end < len) {
        const char *nl = memchr(start + end, '\n', len - end);
        if (!nl) { end = len; break; }
        size_t next = (size_t)(nl - start) + 1;
        if (next < len && (start[next] == '\n' || (start[next] == '\r' && next + 1 < len && start[next + 1] == '\n'))) {
            end = next;
            break;
        }
        end = next;
    }
    if (end > 256 * 1024) end = 256 * 1024;
    char *copy = g_string_chunk_insert_len(m->pool, start, (gssize)end);
    m->orig = copy;
    m->orig_len = end;
}

/* The returned original message (message/rfc822) is usually half of a
 * bounce, and all we read of it is its header block.  GMime would parse it
 * to the last part and build an object for each; instead the part's type is
 * renamed, in our private copy, to the private type message/x-rb82 (the
 * same length, so nothing moves), which GMime keeps as one opaque leaf.
 * walk() reads its header block only. */
static void opaque_returned_messages(char *b, size_t len)
{
    static const char pat[] = "message/rfc822";
    const size_t pl = sizeof pat - 1;
    for (size_t i = 0; i + pl <= len; i++) {
        if ((b[i] != 'm' && b[i] != 'M') || strncasecmp(b + i, pat, pl) != 0) continue;
        /* only in a Content-Type field: find the start of the line (or of
         * the folded field) */
        size_t ls = i;
        while (ls > 0 && b[ls - 1] != '\n') ls--;
        while (ls > 1 && (b[ls] == ' ' || b[ls] == '\t')) {      /* folded: go up one line */
            ls--;
            while (ls > 0 && b[ls - 1] != '\n') ls--;
        }
        if (i - ls > 200 || strncasecmp(b + ls, "Content-Type:", 13) != 0) continue;
        size_t after = i + pl;
        if (after < len && (isalnum((unsigned char)b[after]) || b[after] == '-')) continue;
        memcpy(b + i + 8, "x-rb82", 6);   /* "message/" + "rfc822" -> "message/" + "x-rb82" */
        i = after;
    }
}

/* Decoded content of a leaf part, UTF-8 for text parts; caller frees. */
static char *part_text(GMimePart *part, size_t *len)
{
    /* Decoded bytes, converted from the part's charset; a NUL (QP "=00")
     * would cut the text short, so it becomes a space. */
    GMimeDataWrapper *dw = g_mime_part_get_content(part);
    if (!dw) return NULL;
    GMimeStream *ms = g_mime_stream_mem_new(), *out = ms;
    const char *cs = GMIME_IS_TEXT_PART(part) ? g_mime_object_get_content_type_parameter(GMIME_OBJECT(part), "charset") : NULL;
    GMimeFilter *f = cs && g_ascii_strcasecmp(cs, "utf-8") ? g_mime_filter_charset_new(cs, "UTF-8") : NULL;
    if (f) {
        out = g_mime_stream_filter_new(ms);
        g_mime_stream_filter_add(GMIME_STREAM_FILTER(out), f);
        g_object_unref(f);
    }
    g_mime_data_wrapper_write_to_stream(dw, out);
    if (out != ms) { g_mime_stream_flush(out); g_object_unref(out); }
    GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(ms));
    char *t = g_malloc(ba->len + 1);
    for (guint i = 0; i < ba->len; i++) t[i] = ba->data[i] ? (char)ba->data[i] : ' ';
    t[ba->len] = '\0';
    g_object_unref(ms);
    if (!g_utf8_validate(t, -1, NULL)) {
        char *v = g_utf8_make_valid(t, -1);
        g_free(t);
        t = v;
    }
    *len = strlen(t);
    return t;
}

static void append_text(GString *dst, const char *t, size_t n)
{
    if (dst->len >= MAX_TEXT) return;
    if (n > MAX_TEXT - dst->len) n = MAX_TEXT - dst->len;
    /* normalise CRLF / CR to LF while appending */
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (c == '\r') {
            if (i + 1 < n && t[i + 1] == '\n') continue;
            c = '\n';
        }
        g_string_append_c(dst, c);
    }
    if (dst->len && dst->str[dst->len - 1] != '\n') g_string_append_c(dst, '\n');
}

static void add_groups(rb_fields **dst, size_t *ndst, rb_fields *src, size_t nsrc)
{
    if (!nsrc) { free(src); return; }
    if (!*dst) { *dst = src; *ndst = nsrc; return; }
    rb_fields *n = realloc(*dst, (*ndst + nsrc) * sizeof *n);
    if (!n) {
        for (size_t i = 0; i < nsrc; i++) rb_fields_free(&src[i]);
        free(src);
        return;
    }
    memcpy(n + *ndst, src, nsrc * sizeof *src);
    *dst = n;
    *ndst += nsrc;
    free(src);
}

static int mime_is(GMimeContentType *ct, const char *type, const char *sub)
{
    return ct && g_mime_content_type_is_type(ct, type, sub);
}

static void walk(rb_msg *m, GMimeObject *obj, int depth, GString *body, GString *html)
{
    if (depth > MAX_DEPTH || !obj) return;
    GMimeContentType *ct = g_mime_object_get_content_type(obj);

    if (GMIME_IS_MULTIPART(obj)) {
        GMimeMultipart *mp = GMIME_MULTIPART(obj);
        int n = g_mime_multipart_get_count(mp);
        if (n == 0) {
            /* a multipart whose boundary never occurs: the whole text is
             * the prologue (old sendmail DSNs written without their parts) */
            const char *pro = g_mime_multipart_get_prologue(mp);
            if (pro) append_text(body, pro, strlen(pro));
            return;
        }
        if (mime_is(ct, "multipart", "alternative")) {
            for (int i = 0; i < n; i++) {
                GMimeObject *c = g_mime_multipart_get_part(mp, i);
                if (mime_is(g_mime_object_get_content_type(c), "text", "plain")) {
                    walk(m, c, depth + 1, body, html);
                    return;
                }
            }
        }
        for (int i = 0; i < n; i++) walk(m, g_mime_multipart_get_part(mp, i), depth + 1, body, html);
        return;
    }
    if (GMIME_IS_MESSAGE_PART(obj)) {
        GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
        if (inner && !m->orig) {
            char *h = g_mime_object_get_headers(GMIME_OBJECT(inner), NULL);
            if (h) {
                size_t hl = strlen(h);
                char *c = g_string_chunk_insert_len(m->pool, h, (gssize)hl);
                m->orig = c;
                m->orig_len = hl;
                g_free(h);
            }
        }
        return;
    }
    if (!GMIME_IS_PART(obj)) return;
    GMimePart *part = GMIME_PART(obj);
    size_t len = 0;

    if (mime_is(ct, "message", "delivery-status") || mime_is(ct, "message", "global-delivery-status") ||
        mime_is(ct, "message", "feedback-report")) {
        char *t = part_text(part, &len);
        if (!t) return;
        rb_fields *g = NULL;
        size_t ng = rb_parse_field_groups(t, len, &g);
        if (mime_is(ct, "message", "feedback-report"))
            add_groups(&m->fb, &m->nfb, g, ng);
        else
            add_groups(&m->ds, &m->nds, g, ng);
        g_free(t);
        return;
    }
    if (mime_is(ct, "message", "x-rb82") || mime_is(ct, "text", "rfc822-headers") || mime_is(ct, "message", "rfc822-headers") ||
        mime_is(ct, "message", "rfc822") || mime_is(ct, "message", "global") ||
        mime_is(ct, "message", "global-headers")) {
        if (m->orig) return;
        char *t = part_text(part, &len);
        if (t) { rb_msg_set_orig(m, t, len); g_free(t); }
        return;
    }
    if (mime_is(ct, "text", "html")) {
        char *t = part_text(part, &len);
        if (t) { append_text(html, t, len); g_free(t); }
        return;
    }
    if (mime_is(ct, "text", "*") || !ct) {
        char *t = part_text(part, &len);
        if (t) { append_text(body, t, len); g_free(t); }
        return;
    }
}

/* Minimal HTML to text: tags that break lines become newlines, others go,
 * a few entities are decoded.  Enough for NDRs that come in HTML only. */
static void html_to_text(const char *h, size_t n, GString *out)
{
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        if (c == '<') {
            size_t j = i + 1;
            while (j < n && h[j] != '>') j++;
            const char *tag = h + i + 1;
            size_t tl = j - i - 1;
            if (tl >= 2 && (strncasecmp(tag, "br", 2) == 0 || strncasecmp(tag, "p", 1) == 0 ||
                            strncasecmp(tag, "/p", 2) == 0 || strncasecmp(tag, "div", 3) == 0 ||
                            strncasecmp(tag, "/div", 4) == 0 || strncasecmp(tag, "tr", 2) == 0 ||
                            strncasecmp(tag, "/tr", 3) == 0 || strncasecmp(tag, "li", 2) == 0))
                g_string_append_c(out, '\n');
            else if (tl == 1 && (tag[0] == 'p' || tag[0] == 'P'))
                g_string_append_c(out, '\n');
            else if (tl >= 3 && (strncasecmp(tag, "td", 2) == 0 || strncasecmp(tag, "/td", 3) == 0))
                g_string_append_c(out, ' ');
            i = j;
            continue;
        }
        if (c == '&') {
            static const struct { const char *e; char c; } ents[] = {
                {"&nbsp;", ' '}, {"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&#39;", '\''},
            };
            int done = 0;
            for (size_t k = 0; k < sizeof ents / sizeof ents[0]; k++) {
                size_t el = strlen(ents[k].e);
                if (i + el <= n && strncasecmp(h + i, ents[k].e, el) == 0) {
                    g_string_append_c(out, ents[k].c);
                    i += el - 1;
                    done = 1;
                    break;
                }
            }
            if (done) continue;
        }
        g_string_append_c(out, c);
    }
}

/* Header values from GMime are decoded; make them valid UTF-8 and bounded. */
static const char *hdr(rb_msg *m, const char *name)
{
    const char *v = rb_msg_header(m, name);
    if (!v) return "";
    if (!g_utf8_validate(v, -1, NULL)) {
        char *x = g_utf8_make_valid(v, -1);
        const char *r = rb_msg_strdup(m, x);
        g_free(x);
        return r;
    }
    return v;
}

rb_status rb_msg_open(rb_msg *m, const rb_ctx *ctx, const char *data, size_t len, rb_error *err)
{
    memset(m, 0, sizeof *m);
    m->ctx = ctx;
    m->pool = g_string_chunk_new(4096);

    /* CR-only line endings (old Mac): GMime wants LF or CRLF. */
    /* GMime parses from our own copy, which we may adjust (see below). */
    guint8 *copy = g_malloc(len ? len : 1);
    memcpy(copy, data, len);
    if (len && !memchr(copy, '\n', len) && memchr(copy, '\r', len))
        for (size_t i = 0; i < len; i++) if (copy[i] == '\r') copy[i] = '\n';
    if (!getenv("RB_NO_OPAQUE")) opaque_returned_messages((char *)copy, len);
    GMimeStream *st = g_mime_stream_mem_new_with_byte_array(g_byte_array_new_take(copy, len));
    GMimeParser *p = g_mime_parser_new_with_stream(st);
    g_mime_parser_set_format(p, GMIME_FORMAT_MESSAGE);
    m->mime = g_mime_parser_construct_message(p, NULL);
    g_object_unref(p);
    g_object_unref(st);
    if (!m->mime) {
        rb_seterr(err, "not a MIME message (no header block could be parsed)");
        return RB_ERR_PARSE;
    }

    m->from = hdr(m, "From");
    char addr[RB_ADDR_MAX] = "";
    rb_find_address(m->from, addr, sizeof addr);
    m->from_addr = rb_msg_strdup(m, addr);
    const char *subj = g_mime_message_get_subject(m->mime);
    m->subject = subj ? rb_msg_strdup(m, subj) : "";
    if (!g_utf8_validate(m->subject, -1, NULL)) {
        char *x = g_utf8_make_valid(m->subject, -1);
        m->subject = rb_msg_strdup(m, x);
        g_free(x);
    }
    m->to = hdr(m, "To");
    m->date = hdr(m, "Date");
    m->message_id = hdr(m, "Message-ID");

    m->root = g_mime_message_get_mime_part(m->mime);
    GMimeContentType *ct = m->root ? g_mime_object_get_content_type(m->root) : NULL;
    if (ct) {
        char *mt = g_mime_content_type_get_mime_type(ct);
        if (mt) { rb_lower(mt); m->content_type = rb_msg_strdup(m, mt); g_free(mt); }
        const char *rt = g_mime_content_type_get_parameter(ct, "report-type");
        if (rt) {
            char *r = g_strdup(rt);
            rb_lower(r);
            m->report_type = rb_msg_strdup(m, r);
            g_free(r);
        }
    }
    if (!m->content_type) m->content_type = "text/plain";
    if (!m->report_type) m->report_type = "";

    GString *body = g_string_sized_new(4096), *html = g_string_new(NULL);
    walk(m, m->root, 0, body, html);
    if (body->len == 0 && html->len) html_to_text(html->str, html->len, body);
    m->body_len = body->len;
    m->body = g_string_free(body, FALSE);
    m->html_len = html->len;
    m->html = g_string_free(html, FALSE);
    return RB_OK;
}

void rb_msg_close(rb_msg *m)
{
    if (m->mime) g_object_unref(m->mime);
    g_free(m->body);
    g_free(m->html);
    for (size_t i = 0; i < m->nds; i++) rb_fields_free(&m->ds[i]);
    free(m->ds);
    for (size_t i = 0; i < m->nfb; i++) rb_fields_free(&m->fb[i]);
    free(m->fb);
    if (m->pool) g_string_chunk_free(m->pool);
    memset(m, 0, sizeof *m);
}
