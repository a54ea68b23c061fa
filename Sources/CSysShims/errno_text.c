#define _GNU_SOURCE
#include <string.h>
#include "CSysShims.h"

const char *st_errno_name(int err) { return strerrorname_np(err); }

const char *st_errno_message(int err, char *buf, unsigned long size) { return strerror_r(err, buf, size); }
