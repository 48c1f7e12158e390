/* message.h -- opening and closing the rb_msg view (message.c). */
#ifndef RB_MESSAGE_H
#define RB_MESSAGE_H
#include "rb_internal.h"

/* Parse data (any line endings) into m.  On error m is still safe to close. */
rb_status rb_msg_open(rb_msg *m, const rb_ctx *ctx, const char *data, size_t len, rb_error *err);
void rb_msg_close(rb_msg *m);

/* Quoted-printable decoding of in[0..n) into out (room for n bytes), the
 * way GMime's g_mime_encoding_quoted_decode_step decodes it in one step
 * (tests/test_message.c compares the two).  Returns the bytes written. */
size_t rb_qp_decode(const char *in, size_t n, char *out);

#endif
