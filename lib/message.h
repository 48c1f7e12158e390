/* message.h -- opening and closing the rb_msg view (message.c). */
#ifndef RB_MESSAGE_H
#define RB_MESSAGE_H
#include "rb_internal.h"

/* Parse data (any line endings) into m.  On error m is still safe to close. */
rb_status rb_msg_open(rb_msg *m, const rb_ctx *ctx, const char *data, size_t len, rb_error *err);
void rb_msg_close(rb_msg *m);

#endif
