#define _GNU_SOURCE
#include "CSupervisor.h"
#include "seccomp_compat.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/close_range.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>


#if defined(__x86_64__)
#define ST_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "unsupported architecture"
#endif

static const struct { long nr; int op; } trapped[] = {
    {__NR_socket, ST_OP_SOCKET}, {__NR_bind, ST_OP_BIND}, {__NR_connect, ST_OP_CONNECT},
    {__NR_listen, ST_OP_LISTEN},
#ifdef __NR_accept
    {__NR_accept, ST_OP_ACCEPT},
#endif
    {__NR_accept4, ST_OP_ACCEPT4}, {__NR_getsockopt, ST_OP_GETSOCKOPT}, {__NR_close, ST_OP_CLOSE},
    {__NR_close_range, ST_OP_CLOSE_RANGE},
#ifdef __NR_dup2
    {__NR_dup2, ST_OP_DUP2},
#endif
    {__NR_dup3, ST_OP_DUP3}, {__NR_execve, ST_OP_EXECVE}, {__NR_execveat, ST_OP_EXECVEAT},
    {__NR_exit_group, ST_OP_EXIT_GROUP},
    {__NR_read, ST_OP_READ}, {__NR_readv, ST_OP_READV}, {__NR_recvfrom, ST_OP_RECVFROM},
    {__NR_recvmsg, ST_OP_RECVMSG}, {__NR_recvmmsg, ST_OP_RECVMMSG},
    {__NR_write, ST_OP_WRITE}, {__NR_writev, ST_OP_WRITEV}, {__NR_sendto, ST_OP_SENDTO},
    {__NR_sendmsg, ST_OP_SENDMSG}, {__NR_sendmmsg, ST_OP_SENDMMSG}, {__NR_shutdown, ST_OP_SHUTDOWN},
};
#define TRAPPED (sizeof trapped / sizeof trapped[0])
_Static_assert(ST_OP_COUNT <= 32, "the trap set is a 32-bit mask");

static int op_of(int nr) {
    for (size_t i = 0; i < TRAPPED; i++) if (trapped[i].nr == nr) return trapped[i].op;
    return ST_OP_OTHER;
}

/* Only the calls in `ops` of this architecture's native ABI go to the supervisor; everything
 * else (x32, 32-bit socketcall) runs untouched. */
static int install_filter(uint32_t ops) {
    struct sock_filter code[4 + 2 * TRAPPED];
    size_t n = 0;
    code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ST_AUDIT_ARCH, 1, 0);
    code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    for (size_t i = 0; i < TRAPPED; i++) {
        if (!(ops & (1u << trapped[i].op))) continue;
        code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)trapped[i].nr, 0, 1);
        code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF);
    }
    /* the last "not this one" jump lands here */
    struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_filter program[sizeof code / sizeof code[0] + 1];
    memcpy(program, code, n * sizeof code[0]);
    program[n++] = allow;
    struct sock_fprog prog = {.len = (unsigned short)n, .filter = program};
    return (int)syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
}

/* Child to parent before the filter is in place: a failure record {stage, errno}. */
static void child_fail(int sock, int stage) {
    int record[2] = {stage, errno};
    (void)!write(sock, record, sizeof record);
    _exit(127);
}

/* How the child hands the listener over: its number in a page both share. Not a message: once
 * the filter is in place the child's sendmsg and write may be trapped (the data path), and
 * nobody could answer them before the parent has the listener. The parent takes a copy of it
 * with pidfd_getfd; the child's own closes at exec (seccomp makes it close-on-exec). */
struct handoff { int ready; int listener; };

pid_t st_spawn_supervised(const char *path, char *const argv[], char *const envp[], uint32_t ops,
                          int *listener, int *exec_status, int *stage, int *err) {
    int sv[2];
    *listener = -1;
    *exec_status = -1;
    *stage = ST_STAGE_NONE;
    *err = 0;
    struct handoff *handoff = mmap(NULL, sizeof *handoff, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (handoff == MAP_FAILED) { *stage = ST_STAGE_FORK; *err = errno; return -1; }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        *stage = ST_STAGE_SOCKETPAIR; *err = errno;
        munmap(handoff, sizeof *handoff);
        return -1;
    }
    /* A file without "#!" that the kernel will not run (ENOEXEC) is run by /bin/sh, as execvp and
     * a shell do: its argument list, made before the fork (the child may not allocate). */
    size_t argc = 0;
    while (argv[argc]) argc++;
    const char *sh_argv[argc + 2];
    sh_argv[0] = "sh";
    sh_argv[1] = path;
    for (size_t i = 1; i <= argc; i++) sh_argv[i + 1] = argv[i];
    pid_t pid = fork();
    if (pid < 0) {
        *stage = ST_STAGE_FORK; *err = errno;
        close(sv[0]); close(sv[1]);
        munmap(handoff, sizeof *handoff);
        return -1;
    }
    if (pid == 0) {
        /* Child: async-signal-safe calls only. sv[1] closes by itself at exec, and so does every
         * descriptor of the tool's but the standard three: the program gets none of them. */
        syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
        setpgid(0, 0);
        /* The program never outlives the tool, even one killed with SIGKILL. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() == 1) _exit(127);
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) child_fail(sv[1], ST_STAGE_NO_NEW_PRIVS);
        int fd = install_filter(ops);
        if (fd < 0) child_fail(sv[1], ST_STAGE_SECCOMP);
        /* From here on the calls below may be trapped (exec, and the write of a failure record):
         * the supervisor answers them once it has the listener. */
        handoff->listener = fd;
        __atomic_store_n(&handoff->ready, 1, __ATOMIC_RELEASE);
        execve(path, argv, envp);
        if (errno == ENOEXEC) execve("/bin/sh", (char *const *)sh_argv, envp);
        child_fail(sv[1], ST_STAGE_EXEC);
    }
    close(sv[1]);
    setpgid(pid, pid);      /* also from here, so the group exists whoever runs first */

    /* The listener, or the child's failure record (or its end: EOF). */
    int number = -1;
    for (;;) {
        if (__atomic_load_n(&handoff->ready, __ATOMIC_ACQUIRE)) { number = handoff->listener; break; }
        struct pollfd p = {.fd = sv[0], .events = POLLIN};
        int ready = poll(&p, 1, 1);
        if (__atomic_load_n(&handoff->ready, __ATOMIC_ACQUIRE)) { number = handoff->listener; break; }
        if (ready < 0 && errno == EINTR) continue;
        if (ready != 0) break;
    }
    munmap(handoff, sizeof *handoff);
    if (number >= 0) {
        int pidfd = st_pidfd_open(pid);
        *listener = pidfd >= 0 ? st_pidfd_getfd(pidfd, number) : -1;
        if (pidfd >= 0) close(pidfd);
        if (*listener >= 0) {       /* pidfd_getfd's copy is close-on-exec */
            /* The exec may be trapped: whoever answers the listener's calls reads the outcome after. */
            *exec_status = sv[0];
            return pid;
        }
        *stage = ST_STAGE_RECEIVE; *err = errno;
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        close(sv[0]);
        return -1;
    }
    int record[2] = {ST_STAGE_RECEIVE, ECHILD};
    char *p = (char *)record;
    size_t have = 0;
    while (have < sizeof record) {
        ssize_t r = read(sv[0], p + have, sizeof record - have);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        have += (size_t)r;
    }
    *stage = record[0]; *err = record[1];
    close(sv[0]);
    return -1;
}

int st_exec_outcome(int exec_status, int *stage, int *err) {
    /* EOF: exec succeeded (the child's end closed on exec). A record: exec failed. */
    int record[2];
    ssize_t r;
    do { r = read(exec_status, record, sizeof record); } while (r < 0 && errno == EINTR);
    close(exec_status);
    if (r == (ssize_t)sizeof record) {
        *stage = record[0]; *err = record[1];
        return -1;      /* the child has exited 127; the caller reaps it */
    }
    return 0;
}

int st_notif_recv(int listener, st_notification *out) {
    struct seccomp_notif req;
    memset(&req, 0, sizeof req);
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0) return -1;
    out->id = req.id;
    out->pid = (int32_t)req.pid;
    out->op = op_of(req.data.nr);
    for (int i = 0; i < 6; i++) out->args[i] = req.data.args[i];
    return 0;
}

int st_notif_respond(int listener, uint64_t id, int64_t val, int error) {
    struct seccomp_notif_resp resp = {.id = id, .val = error ? 0 : val, .error = error ? -error : 0, .flags = 0};
    return ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
}

int st_notif_continue(int listener, uint64_t id) {
    struct seccomp_notif_resp resp = {.id = id, .val = 0, .error = 0, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE};
    return ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
}

int st_notif_valid(int listener, uint64_t id) {
    return ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}


int st_notif_addfd(int listener, uint64_t id, int src, int cloexec, int send) {
    struct seccomp_notif_addfd addfd = {.id = id, .flags = send ? SECCOMP_ADDFD_FLAG_SEND : 0,
                                        .srcfd = (uint32_t)src, .newfd = 0,
                                        .newfd_flags = cloexec ? O_CLOEXEC : 0};
    return ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd);
}

int st_notif_sync_wakeup(int listener) {
    return ioctl(listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
}

int st_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }
int st_pidfd_getfd(int pidfd, int fd) { return (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0); }

ssize_t st_vm_read(pid_t pid, uint64_t addr, void *buf, size_t len) {
    struct iovec local = {.iov_base = buf, .iov_len = len};
    struct iovec remote = {.iov_base = (void *)(uintptr_t)addr, .iov_len = len};
    return process_vm_readv(pid, &local, 1, &remote, 1, 0);
}

ssize_t st_vm_write(pid_t pid, uint64_t addr, const void *buf, size_t len) {
    struct iovec local = {.iov_base = (void *)buf, .iov_len = len};
    struct iovec remote = {.iov_base = (void *)(uintptr_t)addr, .iov_len = len};
    return process_vm_writev(pid, &local, 1, &remote, 1, 0);
}

int st_signal_thread(pid_t tgid, pid_t tid, int signal) { return (int)syscall(SYS_tgkill, tgid, tid, signal); }

static volatile sig_atomic_t forward_pgid = 0;
static volatile sig_atomic_t interrupts = 0;
/* Processes of the program outside its group (a daemon that called setsid), signalled too. */
#define ST_MAX_STRAYS 64
static volatile pid_t strays[ST_MAX_STRAYS];
static volatile sig_atomic_t stray_count = 0;

void st_forward_also(pid_t pid) {
    for (int i = 0; i < stray_count; i++) if (strays[i] == pid) return;
    if (stray_count < ST_MAX_STRAYS) { strays[stray_count] = pid; stray_count = stray_count + 1; }
}

/* The first interrupting signal goes to the program's group as it is; a second one means
 * "stop now" (the program ignored or is still handling the first) and kills the group. */
static void forward(int sig) {
    if (forward_pgid <= 0) return;
    interrupts = interrupts + 1;
    kill(-forward_pgid, interrupts > 1 ? SIGKILL : sig);
    for (int i = 0; i < stray_count; i++) kill(strays[i], interrupts > 1 ? SIGKILL : sig);
}

void st_forward_signals(pid_t pgid) {
    static const int signals[] = {SIGINT, SIGTERM, SIGHUP};
    forward_pgid = pgid;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof signals / sizeof *signals; i++) sigaddset(&sa.sa_mask, signals[i]);
    for (size_t i = 0; i < sizeof signals / sizeof *signals; i++) {
        struct sigaction old;
        /* A signal ignored on entry stays ignored, as a shell keeps it (nohup, background jobs);
         * the program inherited that disposition too. */
        if (sigaction(signals[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue;
        sigaction(signals[i], &sa, NULL);
    }
}

int st_user_notif_available(void) {
    unsigned int action = SECCOMP_RET_USER_NOTIF;
    return syscall(__NR_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0;
}

void st_become_subreaper(void) { prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }

static void wakeup(int sig) { (void)sig; }

void st_install_wakeup_signal(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = wakeup;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR2, &sa, NULL);
}

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

int st_alarm_create(void **alarm) {
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_signo = SIGUSR2;
    ev.sigev_notify_thread_id = (pid_t)syscall(SYS_gettid);
    timer_t timer;
    if (timer_create(CLOCK_MONOTONIC, &ev, &timer) != 0) return -1;
    *alarm = (void *)timer;
    return 0;
}

int st_alarm_set(void *alarm, long nanoseconds) {
    struct itimerspec when;
    memset(&when, 0, sizeof when);
    when.it_value.tv_sec = nanoseconds / 1000000000L;
    when.it_value.tv_nsec = nanoseconds % 1000000000L;
    return timer_settime((timer_t)alarm, 0, &when, NULL);
}

void st_alarm_delete(void *alarm) { timer_delete((timer_t)alarm); }

/* The sentinel: a process of its own that waits for the end of a pipe only the tool holds. When
 * the tool is gone (exited, crashed, killed with SIGKILL) the pipe ends, and the sentinel kills
 * the program's process group and every pid the tool wrote to the pipe, then exits. */
int st_spawn_sentinel(pid_t pgid, pid_t *sentinel) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) { close(p[0]); close(p[1]); return -1; }
    if (pid == 0) {
        /* Async-signal-safe calls only. Keep nothing of the tool's open but the pipe: its output
         * must end when the tool ends. Signals meant for the tool's job are not for it. */
        signal(SIGINT, SIG_IGN); signal(SIGTERM, SIG_IGN); signal(SIGHUP, SIG_IGN); signal(SIGQUIT, SIG_IGN);
        setpgid(0, 0);      /* not in the tool's group: a kill of that group spares it */
        close(p[1]);        /* only the tool holds the write end (whatever close_range can do) */
        int in = p[0];
        if (in != 3) { dup2(in, 3); in = 3; }
        syscall(SYS_close_range, 0, 2, 0);
        syscall(SYS_close_range, 4, ~0U, 0);
        pid_t pids[1024];
        int count = 0;
        for (;;) {
            pid_t got;
            ssize_t r = read(in, &got, sizeof got);
            if (r == (ssize_t)sizeof got) {
                if (got < 0) _exit(0);      /* disarmed: the tool ended the program itself */
                if (count < 1024) pids[count++] = got;
                continue;
            }
            if (r < 0 && errno == EINTR) continue;
            break;
        }
        kill(-pgid, SIGKILL);
        for (int i = 0; i < count; i++) kill(pids[i], SIGKILL);
        _exit(0);
    }
    close(p[0]);
    *sentinel = pid;
    return p[1];
}

int st_sentinel_disarm(int sentinel) {
    pid_t none = -1;
    return write(sentinel, &none, sizeof none) == (ssize_t)sizeof none ? 0 : -1;
}

int st_sentinel_watch(int sentinel, pid_t pid) {
    return write(sentinel, &pid, sizeof pid) == (ssize_t)sizeof pid ? 0 : -1;
}

int st_take_terminal(pid_t pgid, pid_t *previous) {
    if (!isatty(0)) return -1;
    *previous = tcgetpgrp(0);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTTOU);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int r = tcsetpgrp(0, pgid);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return r;
}

int st_tcp_was_established(int fd) {
    struct tcp_info info;
    socklen_t len = sizeof info;
    memset(&info, 0, sizeof info);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return 0;
    /* A connect the peer refused got one segment (its RST); one that was answered got the
     * SYN-ACK and more, even if the connection was reset since. */
    enum { syn_sent = 2, closed = 7 };     /* the kernel's TCP states (net/tcp_states.h) */
    return info.tcpi_segs_in >= 2 || (info.tcpi_state != closed && info.tcpi_state != syn_sent);
}
