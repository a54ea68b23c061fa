/* Seccomp constants newer than Debian 12's kernel headers (the running kernel has them: SET_FLAGS
 * and SYNC_WAKE_UP since 6.6, ADDFD_FLAG_SEND since 5.14). Shared with the benchmarks' floor,
 * scripts/bench-programs/notify-floor.c. */
#ifndef ST_SECCOMP_COMPAT_H
#define ST_SECCOMP_COMPAT_H
#include <linux/seccomp.h>

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif
#ifndef SECCOMP_ADDFD_FLAG_SEND
#define SECCOMP_ADDFD_FLAG_SEND (1UL << 1)
#endif

#endif
