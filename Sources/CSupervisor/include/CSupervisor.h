#ifndef CSUPERVISOR_H
#define CSUPERVISOR_H

/*
 * The kernel side of supervising a program: starting it under a seccomp filter that sends its
 * socket calls to us (SECCOMP_RET_USER_NOTIF), and the ioctls that receive and answer them.
 * Everything the forked child runs before exec is here, in C, and async-signal-safe.
 */

#include <stdint.h>
#include <sys/types.h>

/* The calls the filter can trap, as the supervisor names them: the socket calls, and the calls
 * that change what a descriptor number names without showing it (close_range, dup2, dup3,
 * exec) or end a process (exit_group). */
enum st_op { ST_OP_OTHER = 0, ST_OP_SOCKET, ST_OP_BIND, ST_OP_CONNECT, ST_OP_LISTEN,
             ST_OP_ACCEPT, ST_OP_ACCEPT4, ST_OP_GETSOCKOPT, ST_OP_CLOSE,
             ST_OP_CLOSE_RANGE, ST_OP_DUP2, ST_OP_DUP3, ST_OP_EXECVE, ST_OP_EXECVEAT, ST_OP_EXIT_GROUP,
             /* the data path (SPEC 7): trapped only when the script filters it */
             ST_OP_READ, ST_OP_READV, ST_OP_RECVFROM, ST_OP_RECVMSG, ST_OP_RECVMMSG,
             ST_OP_WRITE, ST_OP_WRITEV, ST_OP_SENDTO, ST_OP_SENDMSG, ST_OP_SENDMMSG, ST_OP_SHUTDOWN,
             ST_OP_COUNT };

typedef struct st_notification {
    uint64_t id;
    int32_t pid;        /* the calling thread */
    int32_t op;         /* enum st_op */
    uint64_t args[6];
} st_notification;

/* Why starting failed: the stage names what was missing. */
enum st_spawn_stage { ST_STAGE_NONE = 0, ST_STAGE_FORK, ST_STAGE_SOCKETPAIR, ST_STAGE_NO_NEW_PRIVS,
                      ST_STAGE_SECCOMP, ST_STAGE_SEND, ST_STAGE_RECEIVE, ST_STAGE_EXEC };

/* Starts `path` with `argv`/`envp` in a new process group under a filter that traps the calls
 * whose bit (1 << op) is set in `ops`. Returns the child's pid, the notification listener in
 * *listener and in *exec_status a descriptor for st_exec_outcome; or -1 with *stage and *err
 * saying why. The child's exec (and its exit, when exec fails) may be trapped: start answering
 * the listener's calls before asking st_exec_outcome. */
pid_t st_spawn_supervised(const char *path, char *const argv[], char *const envp[], uint32_t ops,
                          int *listener, int *exec_status, int *stage, int *err);
/* Waits for the child's exec: 0 when it ran, or -1 with *stage (ST_STAGE_EXEC) and *err when
 * it failed (the child has then exited 127). Closes exec_status. */
int st_exec_outcome(int exec_status, int *stage, int *err);

/* Receives one notification (blocking); 0, or -1 with errno (ENOENT: the caller is gone). */
int st_notif_recv(int listener, st_notification *out);
/* Answers: the call returns `val`, or fails with `error` (a positive errno). */
int st_notif_respond(int listener, uint64_t id, int64_t val, int error);
/* Answers: let the kernel run the call as it is. */
int st_notif_continue(int listener, uint64_t id);
/* Whether the notification is still pending (its caller not gone nor interrupted). */
int st_notif_valid(int listener, uint64_t id);
/* Puts our descriptor `src` into the caller's table and, with `send`, answers the call with
 * its number in the same step (SECCOMP_ADDFD_FLAG_SEND: one handshake instead of two).
 * Returns the number there, or -1. */
int st_notif_addfd(int listener, uint64_t id, int src, int cloexec, int send);
/* Asks the kernel to wake the supervised thread on our CPU (6.6+); 0 or -1. */
int st_notif_sync_wakeup(int listener);

/* pidfd_open(2) and pidfd_getfd(2): a copy of another process's descriptor. */
int st_pidfd_open(pid_t pid);
int st_pidfd_getfd(int pidfd, int fd);

/* Reads or writes another process's memory; bytes moved, or -1. */
ssize_t st_vm_read(pid_t pid, uint64_t addr, void *buf, size_t len);
ssize_t st_vm_write(pid_t pid, uint64_t addr, const void *buf, size_t len);

/* Sends `signal` to thread `tid` of process `tgid` (tgkill); 0 or -1. */
int st_signal_thread(pid_t tgid, pid_t tid, int signal);

/* Forwards SIGINT, SIGTERM and SIGHUP sent to us to the process group `pgid`; a second one
 * kills the group. Signals ignored when we started stay ignored. */
void st_forward_signals(pid_t pgid);

/* Also forwards those signals to `pid`, a process of the program outside its group. */
void st_forward_also(pid_t pid);

/* Starts the sentinel (see supervisor.c): returns the pipe to write pids to (st_sentinel_watch),
 * whose closing makes the sentinel kill the group `pgid` and those pids; -1 when it could not. */
int st_spawn_sentinel(pid_t pgid, pid_t *sentinel);
int st_sentinel_watch(int sentinel, pid_t pid);
/* The tool ended the program itself: the sentinel leaves without killing (the pids it was told
 * of may belong to other processes by now). */
int st_sentinel_disarm(int sentinel);

/* Makes `pgid` the terminal's foreground process group (as a shell does for a job), when
 * standard input is a terminal; *previous is the group to give it back to. 0, or -1. */
int st_take_terminal(pid_t pgid, pid_t *previous);

/* Whether the TCP socket `fd` was ever connected (it may have been reset since); 0 for a socket
 * that is not TCP. */
int st_tcp_was_established(int fd);

/* Installs a do-nothing SIGUSR2 handler without SA_RESTART, so pthread_kill(t, SIGUSR2)
 * interrupts a thread blocked in a notification ioctl. */
void st_install_wakeup_signal(void);

/* A one-shot alarm for the calling thread: when it expires the thread gets SIGUSR2 (the
 * wake-up signal above), so a blocking call it is in returns EINTR. Armed with a delay in
 * nanoseconds, disarmed with 0. Returns 0, or -1 and errno. */
int st_alarm_create(void **alarm);
int st_alarm_set(void *alarm, long nanoseconds);
void st_alarm_delete(void *alarm);

/* Makes orphaned descendants of ours reparent to us (PR_SET_CHILD_SUBREAPER), to be reaped. */
void st_become_subreaper(void);

/* Whether the kernel offers seccomp user notification (the "user_notif" action). */
int st_user_notif_available(void);

#endif
