/* rebound_report.h -- `rebound report`: the provider view of the store, as
 * one JSON document (jansson) that every output (terminal, CSV, HTML) is
 * drawn from, so each number shown anywhere is also in the JSON.
 *
 * Everything comes from SQL that both backends accept; the rows are streamed
 * (GROUP BY where the groups are few, the events and sends one row each, so
 * that nothing sorts them), so memory stays flat in the number of events and
 * sends: what is held is per day, per provider, per source and per masked
 * diagnostic text.  Nothing prints, nothing exits. */
#ifndef REBOUND_REPORT_H
#define REBOUND_REPORT_H

#include <jansson.h>
#include "rebound_store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int64_t since, until;           /* [since, until), seconds since the epoch */
    const char *provider;           /* NULL or "": every provider */
    const char *source;             /* NULL or "": every import source (contacts.source) */
    int top;                        /* rows of the top lists (diagnostics, unclassified); 0: 20 */
    int64_t now;                    /* for "generated"; 0: time(NULL) */
} rb_report_opts;

/* Build the report (a new JSON object in *out; json_decref it). */
rb_status rb_report_build(rb_store *st, const rb_report_opts *o, json_t **out, rb_error *err);

#ifdef __cplusplus
}
#endif
#endif
