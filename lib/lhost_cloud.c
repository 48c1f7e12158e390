/* lhost_cloud.c -- format modules (cloud group); see rb_internal.h for the contract. */
#include <string.h>

#include "rb_internal.h"

const rb_lhost rb_lhost_cloud[] = {
    {NULL, NULL},
};
