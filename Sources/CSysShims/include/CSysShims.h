#ifndef CSYSSHIMS_H
#define CSYSSHIMS_H

#include <sys/socket.h>

/// The symbolic name of an errno ("ECONNREFUSED"), or NULL when the platform defines none.
/// Wraps glibc's strerrorname_np, which Swift's Glibc module does not export.
const char *st_errno_name(int err);

/// The message of an errno ("Connection refused"), thread-safe (GNU strerror_r).
const char *st_errno_message(int err, char *buf, unsigned long size);

/// accept4(2), which glibc declares only under _GNU_SOURCE.
int st_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);

#endif
