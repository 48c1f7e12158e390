/* postfix_config.c -- `rebound postfix-config`: print (or write) the Postfix
 * snippets that send every bounce for the bounce domain to `rebound pipe`,
 * with the paths of this installation: main.cf, master.cf, the transport
 * and recipient regexp tables, and the one-time set-up commands.
 *
 * Two layouts:
 *   a dedicated bounce domain (default; bounce.example.org): Postfix relays
 *     the domain, transport_maps sends it to the pipe, and
 *     relay_recipient_maps accepts only the return-path forms;
 *   --shared-domain (return paths like bounce-*@example.com in a domain Postfix
 *     already delivers locally): the regexp transport sends only the return
 *     paths to the pipe, local_recipient_maps is told they exist.
 * The recipient is never rewritten on the way (no virtual alias), so the
 * pipe's ${recipient} is the VERP address itself. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: rebound postfix-config [--domain DOMAIN] [--user USER] [--db PATH|URL]\n"
            "                              [--prefix LOCAL] [--verp-secret-file FILE | --no-secret]\n"
            "                              [--shared-domain] [--transport NAME] [--bin PATH]\n"
            "                              [--datadir DIR] [--write-dir DIR]\n\n"
            "Prints the Postfix configuration that delivers every bounce for DOMAIN to\n"
            "`rebound pipe`: lines for main.cf and master.cf, the transport and recipient\n"
            "tables, and the commands to run once -- with this installation's paths.\n\n"
            "  --domain DOMAIN     the bounce domain of the return paths (bounce.example.org)\n"
            "  --user USER         the system user the pipe runs as (rebound); not root,\n"
            "                      not postfix; it must be able to write the store\n"
            "  --db PATH|URL       the store (/var/lib/rebound/rebound.db)\n"
            "  --prefix LOCAL      the return paths' local-part prefix (bounce): accepts\n"
            "                      bounce-...@DOMAIN and bounce+...@DOMAIN\n"
            "  --verp-secret-file F  the signing secret (/etc/rebound/verp.key); --no-secret\n"
            "                      leaves it out (the backscatter guard is then lenient)\n"
            "  --shared-domain     DOMAIN is already a local domain of this Postfix (the\n"
            "                      bounce-*@example.com form): only the return paths are piped\n"
            "  --transport NAME    the master.cf service name (rebound)\n"
            "  --bin PATH          the rebound binary (default: this one, /proc/self/exe)\n"
            "  --datadir DIR       the rules/policy directory (default: the one this binary uses)\n"
            "  --write-dir DIR     write main.cf, master.cf, rebound_transport,\n"
            "                      rebound_recipients and setup.sh into DIR instead\n\n"
            "Exit status: 0 printed; 64 usage; 73 DIR cannot be written.\n");
}

typedef struct {
    const char *domain, *user, *db, *prefix, *secret, *transport, *bin, *datadir;
    int shared;
    char re_domain[600], re_prefix[200];
} cfg;

static int valid_host(const char *s)
{
    if (!*s || strlen(s) > 253 || !strchr(s, '.') || *s == '.' || *s == '-') return 0;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '.' || *s == '-')) return 0;
    return 1;
}

static int valid_name(const char *s, const char *extra)
{
    if (!*s || strlen(s) > 64) return 0;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || strchr(extra, *s))) return 0;
    return 1;
}

/* master.cf splits argv on white space; keep paths simple */
static int valid_path(const char *s)
{
    if (!*s || strlen(s) > 1000) return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == '{' || *s == '}' || *s == '$') return 0;
    return 1;
}

static void regex_escape(const char *s, char *out, size_t outlen)
{
    size_t n = 0;
    for (; *s && n + 3 < outlen; s++) {
        if (*s == '.') out[n++] = '\\';
        out[n++] = (char)tolower((unsigned char)*s);
    }
    out[n] = '\0';
}

static void emit_setup(FILE *f, const cfg *c, int as_script)
{
    const char *p = as_script ? "" : "#   ";
    char dbdir[1024];
    int sqlite = strncmp(c->db, "postgres", 8) != 0;
    rb_strlcpy(dbdir, c->db, sizeof dbdir);
    char *slash = strrchr(dbdir, '/');
    if (slash && slash != dbdir) *slash = '\0';
    else rb_strlcpy(dbdir, ".", sizeof dbdir);
    if (as_script)
        fprintf(f, "#!/bin/sh\n# rebound + Postfix: the one-time set-up (run as root; read it first)\nset -e\n");
    fprintf(f, "%sid %s >/dev/null 2>&1 || useradd --system --home-dir %s --shell /usr/sbin/nologin %s\n", p, c->user,
            sqlite ? dbdir : "/nonexistent", c->user);
    if (sqlite)
        fprintf(f, "%sinstall -d -o %s -g %s -m 0750 %s\n", p, c->user, c->user, dbdir);
    if (c->secret) {
        char sdir[1024];
        rb_strlcpy(sdir, c->secret, sizeof sdir);
        char *s = strrchr(sdir, '/');
        if (s && s != sdir) *s = '\0';
        fprintf(f, "%sinstall -d -m 0755 %s\n", p, sdir);
        fprintf(f, "%s[ -s %s ] || (umask 027; head -c 32 /dev/urandom | base64 > %s)\n", p, c->secret, c->secret);
        fprintf(f, "%schgrp %s %s && chmod 0640 %s\n", p, c->user, c->secret, c->secret);
    }
    /* the pipe never creates a store (it answers 75 until there is one) */
    if (sqlite) fprintf(f, "%srunuser -u %s -- %s init --db %s\n", p, c->user, c->bin, c->db);
    else fprintf(f, "%s%s init --db '%s'\n", p, c->bin, c->db);
    fprintf(f, "%s# the pipe user must be able to run %s and read %s\n", p, c->bin, c->datadir);
    if (sqlite)
        fprintf(f, "%s# run other rebound commands on this store as %s too (runuser -u %s -- rebound ...):\n"
                   "%s# SQLite's -wal/-shm files must stay writable by the pipe\n", p, c->user, c->user, p);
    if (!c->shared)
        fprintf(f, "%s# DNS: %s. MX 10 <this host>  (the return paths' domain must reach this Postfix)\n", p,
                c->domain);
    if (as_script)
        fprintf(f, "# then: append main.cf and master.cf to /etc/postfix/*, copy rebound_transport and\n"
                   "# rebound_recipients to /etc/postfix/, and run: postfix check && postfix reload\n");
}

static void emit_main(FILE *f, const cfg *c)
{
    fprintf(f, "# --- rebound: bounces for %s go to the %s pipe transport ---\n", c->domain, c->transport);
    if (!c->shared) {
        fprintf(f,
                "# Postfix relays the bounce domain (add it to relay_domains if that is set already:\n"
                "# postconf relay_domains) and hands it to rebound instead of relaying it.\n"
                "relay_domains = %s\n"
                "transport_maps = regexp:/etc/postfix/rebound_transport\n"
                "# only return paths are accepted (RCPT TO of anything else: 550); if relay_recipient_maps\n"
                "# is set already, add this table to its list\n"
                "relay_recipient_maps = regexp:/etc/postfix/rebound_recipients\n",
                c->domain);
    } else {
        fprintf(f,
                "# %s is a local domain already: send only the return paths to rebound (add the\n"
                "# table to transport_maps if that is set already) and tell the local recipient check\n"
                "# they exist (keep whatever local_recipient_maps holds now: postconf local_recipient_maps).\n"
                "# (A virtual domain checks recipients with virtual_mailbox_maps / virtual_alias_maps\n"
                "# instead: the return paths must pass that check too.)\n"
                "transport_maps = regexp:/etc/postfix/rebound_transport\n"
                "local_recipient_maps = proxy:unix:passwd.byname $alias_maps regexp:/etc/postfix/rebound_recipients\n",
                c->domain);
    }
    fprintf(f,
            "# one recipient per delivery: the pipe's ${recipient} is the return path\n"
            "%s_destination_recipient_limit = 1\n",
            c->transport);
}

static void emit_master(FILE *f, const cfg *c)
{
    fprintf(f,
            "# --- rebound: the pipe transport (exit 75 = Postfix keeps the message and retries) ---\n"
            "%s    unix  -       n       n       -       4       pipe\n"
            "  flags=X user=%s argv=",
            c->transport, c->user);
    if (strcmp(c->datadir, REBOUND_DATADIR) != 0) fprintf(f, "/usr/bin/env REBOUND_DATADIR=%s ", c->datadir);
    fprintf(f, "%s pipe --db %s", c->bin, c->db);
    if (c->secret) fprintf(f, " --verp-secret-file %s", c->secret);
    fprintf(f, "\n  --queue-id ${queue_id} --sender ${sender} --recipient ${recipient}\n");
}

static void emit_transport(FILE *f, const cfg *c)
{
    fprintf(f, "# /etc/postfix/rebound_transport (regexp: no postmap needed)\n");
    if (c->shared) fprintf(f, "/^%s[-+][^@]*@%s$/    %s:\n", c->re_prefix, c->re_domain, c->transport);
    else fprintf(f, "/@%s$/    %s:\n", c->re_domain, c->transport);
}

static void emit_recipients(FILE *f, const cfg *c)
{
    fprintf(f,
            "# /etc/postfix/rebound_recipients (regexp): the return paths rebound accepts --\n"
            "# %s-<anything>@ (signed: %s-user=example.com-TAG@, or an opaque ID: %s-123456789@)\n"
            "# and %s+user=example.com@ (plain VERP)\n"
            "/^%s[-+][^@]+@%s$/    OK\n",
            c->prefix, c->prefix, c->prefix, c->prefix, c->re_prefix, c->re_domain);
}

static void emit_all(FILE *f, const cfg *c)
{
    fprintf(f,
            "# rebound postfix-config: the Postfix side of the bounce catch-all.\n"
            "# binary %s, data %s, store %s\n"
            "# Every message to %s%s@%s is piped into `rebound pipe`, analysed, and\n"
            "# applied to the store; see `rebound pipe --help` and `man rebound-pipe`.\n\n",
            c->bin, c->datadir, c->db, c->shared ? c->prefix : "*", c->shared ? "[-+]*" : "", c->domain);
    fprintf(f, "#### 0. once, as root\n");
    emit_setup(f, c, 0);
    fprintf(f, "\n#### 1. /etc/postfix/main.cf (append)\n");
    emit_main(f, c);
    fprintf(f, "\n#### 2. /etc/postfix/master.cf (append)\n");
    emit_master(f, c);
    fprintf(f, "\n#### 3. /etc/postfix/rebound_transport\n");
    emit_transport(f, c);
    fprintf(f, "\n#### 4. /etc/postfix/rebound_recipients\n");
    emit_recipients(f, c);
    fprintf(f, "\n#### 5. activate (as root)\n#   postfix check && postfix reload\n");
    fprintf(f, "\n#### 6. sending: one return path (envelope sender) per recipient\n");
    if (c->secret)
        fprintf(f, "#   signed:   %s verp sign --secret-file %s --prefix %s --domain %s jan@example.be\n", c->bin,
                c->secret, c->prefix, c->domain);
    fprintf(f, "#   %s%s verp encode --prefix %s --domain %s jan@example.be\n", c->secret ? "unsigned: " : "",
            c->bin, c->prefix, c->domain);
    fprintf(f, "\n#### 7. try it without Postfix (nothing written)\n");
    if (c->secret)
        fprintf(f, "#   %s pipe --check --db %s --verp-secret-file %s \\\n"
                   "#       --recipient \"$(%s verp sign --secret-file %s --prefix %s --domain %s jan@example.be)\""
                   " < bounce.eml\n",
                c->bin, c->db, c->secret, c->bin, c->secret, c->prefix, c->domain);
    else
        fprintf(f, "#   %s pipe --check --db %s --recipient %s+jan=example.be@%s < bounce.eml\n", c->bin, c->db,
                c->prefix, c->domain);
}

typedef void (*emit_fn)(FILE *, const cfg *);

static int write_file(const char *dir, const char *name, emit_fn fn, const cfg *c, int script)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) { fprintf(stderr, "rebound postfix-config: %s: %s\n", path, strerror(errno)); return -1; }
    if (script) emit_setup(f, c, 1);
    else fn(f, c);
    if (fclose(f) != 0) { fprintf(stderr, "rebound postfix-config: %s: %s\n", path, strerror(errno)); return -1; }
    if (script) chmod(path, 0755);
    printf("wrote %s\n", path);
    return 0;
}

int cmd_postfix_config(int argc, char **argv)
{
    cfg c = {"bounce.example.org", "rebound", "/var/lib/rebound/rebound.db", "bounce", "/etc/rebound/verp.key",
             "rebound", NULL, NULL, 0, "", ""};
    const char *write_dir = NULL;
    int shared = 0, no_secret = 0;
    const opt_desc opts[] = {
        {OPT_STRING, "domain", 0, &c.domain},
        {OPT_STRING, "user", 0, &c.user},
        {OPT_STRING, "db", 0, &c.db},
        {OPT_STRING, "prefix", 0, &c.prefix},
        {OPT_STRING, "verp-secret-file", 0, &c.secret},
        {OPT_FLAG, "no-secret", 0, &no_secret},
        {OPT_FLAG, "shared-domain", 0, &shared},
        {OPT_STRING, "transport", 0, &c.transport},
        {OPT_STRING, "bin", 0, &c.bin},
        {OPT_STRING, "datadir", 0, &c.datadir},
        {OPT_STRING, "write-dir", 0, &write_dir},
        {0},
    };
    char **pos;
    int npos = opt_parse("postfix-config", opts, argc, argv, &pos);
    if (npos == OPT_HELP) { help(stdout); return 0; }
    if (npos < 0) return EX_USAGE_;
    if (npos > 0) {
        fprintf(stderr, "rebound postfix-config: unexpected argument '%s' (see `rebound postfix-config --help`)\n", pos[0]);
        return EX_USAGE_;
    }
    if (no_secret) c.secret = NULL;
    c.shared = shared;
    char exe[PATH_MAX], dd[PATH_MAX];
    if (!c.bin) {
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0) rb_strlcpy(exe, "/usr/local/bin/rebound", sizeof exe);
        else exe[n] = '\0';
        c.bin = exe;
    }
    /* the data directory this binary reads, as an absolute path for master.cf */
    if (!c.datadir) c.datadir = realpath(data_dir(), dd) ? dd : data_dir();
    const char *bad = NULL;
    if (!valid_host(c.domain)) bad = "--domain: a host name (letters, digits, '.', '-')";
    else if (!valid_name(c.user, "_-") || !strcmp(c.user, "root") || !strcmp(c.user, "postfix"))
        bad = "--user: a system user name, not root or postfix (pipe(8) refuses them)";
    else if (!valid_name(c.prefix, "._")) bad = "--prefix: letters, digits, '.', '_'";
    else if (!valid_name(c.transport, "_-")) bad = "--transport: letters, digits, '_', '-'";
    else if (!valid_path(c.db) || !valid_path(c.bin) || !valid_path(c.datadir) || (c.secret && !valid_path(c.secret)))
        bad = "paths in master.cf cannot hold white space, '$', '{' or '}'";
    if (bad) { fprintf(stderr, "rebound postfix-config: %s\n", bad); return EX_USAGE_; }
    regex_escape(c.domain, c.re_domain, sizeof c.re_domain);
    regex_escape(c.prefix, c.re_prefix, sizeof c.re_prefix);

    if (!write_dir) {
        emit_all(stdout, &c);
        return 0;
    }
    if (g_mkdir_with_parents(write_dir, 0755) != 0) {
        fprintf(stderr, "rebound postfix-config: --write-dir %s: %s\n", write_dir, g_strerror(errno));
        return 73;
    }
    if (write_file(write_dir, "main.cf", emit_main, &c, 0) || write_file(write_dir, "master.cf", emit_master, &c, 0) ||
        write_file(write_dir, "rebound_transport", emit_transport, &c, 0) ||
        write_file(write_dir, "rebound_recipients", emit_recipients, &c, 0) ||
        write_file(write_dir, "setup.sh", NULL, &c, 1))
        return 73;
    return 0;
}
