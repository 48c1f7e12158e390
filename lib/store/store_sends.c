/* store_sends.c -- deliveries a Postfix log shows accepted (table sends).
 *
 * Written by rebound maillog for every status=sent attempt; read back to tie
 * a later NDR to its send and to tell our own mail from backscatter.  Plain
 * parameterised statements through the backend's query(): both backends
 * cache the prepared statement, and the volume is one row per send. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_internal.h"
#include "store_impl.h"

rb_status rb_store_sends_insert(rb_store *st, const rb_send *s, size_t n, rb_error *err)
{
    return rb_store_sends_insert_n(st, s, n, NULL, err);
}

/* rb_store_sends_insert_n: store_rollup.c (a send links its NDR and keeps its rollup) */

static int one_row(void *arg, int ncols, const char *const *vals)
{
    *(int *)arg = 1;
    return 1;   /* one is enough */
}

rb_status rb_store_send_known(rb_store *st, const char *message_id, const char *recipient_norm, int *found,
                              rb_error *err)
{
    char mid[RB_HOST_MAX];
    *found = 0;
    if (!message_id) return RB_OK;
    while (*message_id == ' ' || *message_id == '<') message_id++;
    rb_strlcpy(mid, message_id, sizeof mid);
    size_t l = strlen(mid);
    while (l && (mid[l - 1] == '>' || mid[l - 1] == ' ')) mid[--l] = '\0';
    if (!mid[0]) return RB_OK;
    if (recipient_norm && *recipient_norm) {
        const char *p[] = {mid, recipient_norm};
        return st->ops->query(st, "SELECT 1 FROM sends WHERE message_id = $1 AND recipient_norm = $2 LIMIT 1", 2,
                              p, one_row, found, err);
    }
    const char *p[] = {mid};
    return st->ops->query(st, "SELECT 1 FROM sends WHERE message_id = $1 LIMIT 1", 1, p, one_row, found, err);
}

rb_status rb_store_sends_any(rb_store *st, int *found, rb_error *err)
{
    *found = 0;
    return st->ops->query(st, "SELECT 1 FROM sends LIMIT 1", 0, NULL, one_row, found, err);
}

typedef struct {
    rb_send_cb cb;
    void *arg;
} sends_ctx;

static int send_row(void *arg, int ncols, const char *const *v)
{
    sends_ctx *c = arg;
    if (ncols < 9) return 0;
    rb_send s;
    memset(&s, 0, sizeof s);
    rb_strlcpy(s.key, v[0] ? v[0] : "", sizeof s.key);
    rb_strlcpy(s.queue_id, v[1] ? v[1] : "", sizeof s.queue_id);
    rb_strlcpy(s.message_id, v[2] ? v[2] : "", sizeof s.message_id);
    rb_strlcpy(s.recipient_norm, v[3] ? v[3] : "", sizeof s.recipient_norm);
    s.sent_at = v[4] ? strtoll(v[4], NULL, 10) : 0;
    rb_strlcpy(s.relay, v[5] ? v[5] : "", sizeof s.relay);
    rb_strlcpy(s.provider, v[6] ? v[6] : "", sizeof s.provider);
    rb_strlcpy(s.reply, v[7] ? v[7] : "", sizeof s.reply);
    rb_strlcpy(s.source, v[8] ? v[8] : "", sizeof s.source);
    return c->cb(c->arg, &s);
}

rb_status rb_store_sends_of(rb_store *st, const char *recipient_norm, int limit, rb_send_cb cb, void *arg,
                            rb_error *err)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit > 0 ? limit : 20);
    const char *p[] = {recipient_norm, lim};
    sends_ctx c = {cb, arg};
    return st->ops->query(st,
                          "SELECT key, queue_id, message_id, recipient_norm, sent_at, relay, provider, reply, source"
                          " FROM sends WHERE recipient_norm = $1 ORDER BY sent_at DESC LIMIT $2",
                          2, p, send_row, &c, err);
}
