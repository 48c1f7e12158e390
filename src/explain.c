/* explain.c -- `rebound explain FILE...`: why each recipient of a bounce got
 * its reason and what the policy does about it.  The same as
 * `rebound analyze --explain` (one process, so the text comes in input
 * order as it is produced). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_explain(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: rebound explain [--rules FILE] [--policy FILE] [--providers FILE] PATH...\n\n"
                   "For every failed recipient of the bounces in PATH (as rebound analyze reads\n"
                   "them): the text looked at, every rule that matched with its evidence and\n"
                   "file:line, which one won and why, and the policy step that follows.\n"
                   "Same as rebound analyze --explain; see rebound-analyze(1).\n");
            return 0;
        }
    char **av = calloc((size_t)argc + 5, sizeof *av);
    if (!av) return EX_SOFTWARE_;
    int n = 0;
    av[n++] = "analyze";
    av[n++] = "--explain";
    av[n++] = "--jobs";
    av[n++] = "1";
    av[n++] = "-q";
    for (int i = 1; i < argc; i++) av[n++] = argv[i];
    int rc = cmd_analyze(n, av);
    free(av);
    return rc;
}
