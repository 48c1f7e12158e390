/* store_keys.c -- the status API's keys (table api_keys): one per provider,
 * stored as the hex SHA-256 of the key, never the key itself.
 *
 * Plain parameterised statements through the backend's query(); the server
 * reads the active keys once a second and compares in memory, so none of
 * this is on the request path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_internal.h"
#include "rebound_api.h"
#include "store_impl.h"

#define KEY_COLS "name, hash, created_at, revoked_at, last_used_at"

int rb_store_key_name_valid(const char *name)
{
    size_t n = 0;
    for (const char *p = name; *p; p++, n++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-' || c == ':' || c == '+'))
            return 0;
    }
    return n >= 1 && n < RB_API_NAME_MAX;
}

static void key_from_row(rb_api_key *k, const char *const *v)
{
    memset(k, 0, sizeof *k);
    rb_strlcpy(k->name, v[0] ? v[0] : "", sizeof k->name);
    rb_strlcpy(k->hash, v[1] ? v[1] : "", sizeof k->hash);
    k->created_at = v[2] ? strtoll(v[2], NULL, 10) : 0;
    k->revoked_at = v[3] ? strtoll(v[3], NULL, 10) : 0;
    k->last_used_at = v[4] ? strtoll(v[4], NULL, 10) : 0;
}

static int first_key(void *arg, int ncols, const char *const *vals)
{
    if (ncols >= 5) key_from_row(arg, vals);
    return 1;
}

rb_status rb_store_api_key_add(rb_store *st, const char *name, const char *hash_hex, int64_t now, rb_error *err)
{
    if (!rb_store_key_name_valid(name)) {
        rb_seterr(err, "invalid key name '%.80s': 1 to %d characters of A-Z a-z 0-9 . _ - : +", name,
                  RB_API_NAME_MAX - 1);
        return RB_ERR_ARG;
    }
    char t[32];
    snprintf(t, sizeof t, "%lld", (long long)now);
    rb_status s = rb_store_begin(st, err);
    if (s != RB_OK) return s;
    rb_api_key k;
    memset(&k, 0, sizeof k);
    const char *p1[] = {name};
    s = st->ops->query(st, "SELECT " KEY_COLS " FROM api_keys WHERE name = $1", 1, p1, first_key, &k, err);
    if (s != RB_OK) goto fail;
    if (k.name[0] && !k.revoked_at) {
        rb_seterr(err, "a key named '%s' exists and is active: revoke it first", name);
        s = RB_ERR_ARG;
        goto fail;
    }
    const char *p[] = {name, hash_hex, t};
    if (k.name[0])      /* revoked: the name is given a new key */
        s = st->ops->query(st, "UPDATE api_keys SET hash = $2, created_at = $3, revoked_at = 0, last_used_at = 0"
                               " WHERE name = $1", 3, p, NULL, NULL, err);
    else
        s = st->ops->query(st, "INSERT INTO api_keys (name, hash, created_at) VALUES ($1, $2, $3)", 3, p, NULL,
                           NULL, err);
    if (s != RB_OK) goto fail;
    return rb_store_commit(st, err);
fail:;
    rb_error e2;
    rb_store_rollback(st, &e2);
    return s;
}

static int count_row(void *arg, int ncols, const char *const *vals)
{
    (void)ncols; (void)vals;
    (*(int *)arg)++;
    return 0;
}

rb_status rb_store_api_key_revoke(rb_store *st, const char *name, int64_t now, int *revoked, rb_error *err)
{
    char t[32];
    snprintf(t, sizeof t, "%lld", (long long)now);
    const char *p[] = {name, t};
    *revoked = 0;
    /* RETURNING: one statement, both backends (SQLite 3.35+) */
    return st->ops->query(st, "UPDATE api_keys SET revoked_at = $2 WHERE name = $1 AND revoked_at = 0 RETURNING id",
                          2, p, count_row, revoked, err);
}

typedef struct {
    rb_api_key_cb cb;
    void *arg;
} key_iter;

static int key_row(void *arg, int ncols, const char *const *vals)
{
    key_iter *it = arg;
    if (ncols < 5) return 0;
    rb_api_key k;
    key_from_row(&k, vals);
    return it->cb(it->arg, &k);
}

rb_status rb_store_api_keys_each(rb_store *st, int active_only, rb_api_key_cb cb, void *arg, rb_error *err)
{
    key_iter it = {cb, arg};
    return st->ops->query(st,
                          active_only ? "SELECT " KEY_COLS " FROM api_keys WHERE revoked_at = 0 ORDER BY name"
                                      : "SELECT " KEY_COLS " FROM api_keys ORDER BY name",
                          0, NULL, key_row, &it, err);
}

rb_status rb_store_api_key_touch(rb_store *st, const char *name, int64_t t, rb_error *err)
{
    char ts[32];
    snprintf(ts, sizeof ts, "%lld", (long long)t);
    const char *p[] = {name, ts};
    return st->ops->query(st, "UPDATE api_keys SET last_used_at = $2 WHERE name = $1 AND last_used_at < $2", 2, p,
                          NULL, NULL, err);
}
