/* main.c -- the rebound command: one subcommand per file, thin over librebound. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    cmd_fn fn;
    const char *summary;
} commands[] = {
    {"analyze", cmd_analyze, "read bounce mail and say who bounced, why, and what to do"},
    {"apply", cmd_apply, "apply analysed bounces to the contacts (--check, then --commit)"},
    {"init", cmd_init, "create the store (every other command needs one that exists)"},
    {"explain", cmd_explain, "why a bounce got its reason: the rules that matched, the policy step"},
    {"contacts", cmd_contacts, "import, show and export contacts"},
    {"keys", cmd_keys, "add, list and revoke the status API's keys"},
    {"maillog", cmd_maillog, "read Postfix logs: every delivery attempt, incrementally"},
    {"notify", cmd_notify, "push changed contacts to a status API, through the store's outbox"},
    {"pipe", cmd_pipe, "Postfix pipe transport: analyse one bounce on stdin and apply it"},
    {"postfix-config", cmd_postfix_config, "print the Postfix set-up for the bounce catch-all"},
    {"queue", cmd_queue, "rebuild, inspect and export the mailing queue"},
    {"report", cmd_report, "the provider view: bounces, rates and dead addresses, as tables, JSON, CSV or HTML"},
    {"serve", cmd_serve, "the status API: providers report bounces over HTTP"},
    {"verp", cmd_verp, "encode, decode, sign and verify VERP return-path addresses"},
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: rebound COMMAND [OPTIONS] [ARGS]\n"
            "       rebound --version | --help\n\n"
            "rebound handles bounces for bulk mail senders: it analyses bounce messages\n"
            "(RFC 3464 DSNs, ARF reports, vendor NDRs), classifies them, and keeps the\n"
            "contacts of a mailing list clean.\n\n"
            "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-15s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'rebound COMMAND --help' describes a command; man rebound-analyze(1).\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) { usage(stderr); return EX_USAGE_; }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("rebound %s\n", REBOUND_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "rebound: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return EX_USAGE_;
}
