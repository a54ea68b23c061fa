/* The floors of external-program mode, for the benchmarks: runs a program under a seccomp filter
 * that traps the same calls socktest-lua traps (socket bind connect listen accept accept4
 * getsockopt close), with SYNC_WAKE_UP set as socktest-lua sets it. No switch, no filters.
 *   notify-floor PROGRAM [ARG...]               every call answered "continue" at once: the
 *                                               cost of trapping alone
 *   notify-floor --on-behalf PROGRAM [ARG...]   socket, connect and accept made here on the
 *                                               program's behalf, the way socktest-lua makes
 *                                               them (below); the rest "continue"
 *   notify-floor --books PROGRAM [ARG...]       every call "continue", after the system calls
 *                                               socktest-lua's books make to stay exact (below):
 *                                               the floor of any tool that keeps them
 *   notify-floor --data PROGRAM [ARG...]        the data path trapped too (read, write, their
 *                                               vector and socket forms, shutdown), as
 *                                               socktest-lua traps it under a data-path filter;
 *                                               every call answered "continue"
 * Exit status: the program's. */
#define _GNU_SOURCE     /* accept4, process_vm_readv */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../Sources/CSupervisor/seccomp_compat.h"


#define TRAP(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), \
                 BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF)

static int install_filter(int data) {
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        TRAP(__NR_socket), TRAP(__NR_bind), TRAP(__NR_connect), TRAP(__NR_listen),
        TRAP(__NR_accept), TRAP(__NR_accept4), TRAP(__NR_getsockopt), TRAP(__NR_close),
        /* --data: the data path (dropped from the program below otherwise) */
        TRAP(__NR_read), TRAP(__NR_readv), TRAP(__NR_recvfrom), TRAP(__NR_recvmsg), TRAP(__NR_recvmmsg),
        TRAP(__NR_write), TRAP(__NR_writev), TRAP(__NR_sendto), TRAP(__NR_sendmsg), TRAP(__NR_sendmmsg),
        TRAP(__NR_shutdown),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    unsigned short len = sizeof code / sizeof *code;
    if (!data) {   /* the data path's 11 TRAPs (2 instructions each) dropped: ALLOW moves up */
        code[len - 23] = code[len - 1];
        len -= 22;
    }
    struct sock_fprog prog = {.len = len, .filter = code};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) return -1;
    return (int)syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
}

enum { HANDOVER_FD = 999 };

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

/* Answers with a descriptor made here: put into the program and the call answered in one step. */
static void answer_with_fd(int listener, uint64_t id, int fd) {
    struct seccomp_notif_addfd addfd = {.id = id, .flags = SECCOMP_ADDFD_FLAG_SEND, .srcfd = fd};
    ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd);
    close(fd);
}

static void answer(int listener, uint64_t id, int rc) {
    struct seccomp_notif_resp resp = {.id = id, .val = rc, .error = rc < 0 ? -errno : 0};
    ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
}

/* --on-behalf: socket made here; connect and accept on a copy of the program's descriptor
 * (pidfd_getfd), the address read from its memory; new descriptors put in with
 * SECCOMP_ADDFD_FLAG_SEND. Returns 0 for a call left to "continue": anything else, and an accept
 * that asks for the peer's address. A blocking accept with no client queued would hold up every
 * other call here: the benchmark workloads always have one queued. */
static int on_behalf(int listener, int pidfd, const struct seccomp_notif *req) {
    const __u64 *a = req->data.args;
    int nr = req->data.nr;
    if (nr == __NR_socket) {
        int fd = socket((int)a[0], (int)a[1] | SOCK_CLOEXEC, (int)a[2]);
        if (fd < 0) answer(listener, req->id, -1); else answer_with_fd(listener, req->id, fd);
        return 1;
    }
    if (nr != __NR_connect && !((nr == __NR_accept || nr == __NR_accept4) && a[1] == 0)) return 0;
    struct sockaddr_storage address;
    struct iovec here = {&address, a[2]}, there = {(void *)(uintptr_t)a[1], a[2]};
    if (nr == __NR_connect && (a[2] > sizeof address || process_vm_readv(req->pid, &here, 1, &there, 1, 0) != (ssize_t)a[2]))
        return 0;
    int copy = (int)syscall(SYS_pidfd_getfd, pidfd, (int)a[0], 0);
    if (copy < 0) return 0;
    if (nr == __NR_connect) {
        answer(listener, req->id, connect(copy, (struct sockaddr *)&address, (socklen_t)a[2]));
    } else {
        int flags = (nr == __NR_accept4 ? (int)a[3] : 0) | SOCK_CLOEXEC;
        int fd = accept4(copy, NULL, NULL, flags);
        if (fd < 0) answer(listener, req->id, -1); else answer_with_fd(listener, req->id, fd);
    }
    close(copy);
    return 1;
}

/* --books: the system calls socktest-lua's books make while the kernel makes the calls
 * (Sources/SockTestSupervisor/ProgramBooks.swift), with no table beyond one mark per descriptor
 * number: a socket is learned by its inode the first time a trapped call shows its descriptor
 * while the program owes a socket() or accept() (pidfd_getfd, fstat, getsockname, close of the
 * copy), and a connect let through is settled before its descriptor goes (pidfd_getfd,
 * getpeername, close): how else would a tool know it connected? One process, as the workloads. */
enum { UNKNOWN, LEARNED, CONNECT_OWED };
static unsigned char marks[65536];
static int owed;

static int copy_of(int pidfd, int fd) { return (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0); }

static void learn(int pidfd, int fd) {
    int copy = copy_of(pidfd, fd);
    if (copy < 0) return;
    struct stat info;
    struct sockaddr_storage local;
    socklen_t length = sizeof local;
    if (fstat(copy, &info) == 0 && S_ISSOCK(info.st_mode) && getsockname(copy, (struct sockaddr *)&local, &length) == 0) {
        marks[fd] = LEARNED;
        owed--;
    }
    close(copy);
}

static void keep_books(int pidfd, const struct seccomp_notif *req) {
    int nr = req->data.nr, fd = (int)req->data.args[0];
    if (nr == __NR_socket || nr == __NR_accept || nr == __NR_accept4) owed++;
    if (nr == __NR_socket || fd < 0 || fd >= (int)sizeof marks) return;
    if (marks[fd] == UNKNOWN && owed > 0) learn(pidfd, fd);
    if (nr == __NR_connect && marks[fd] == LEARNED) marks[fd] = CONNECT_OWED;
    if (nr != __NR_close) return;
    if (marks[fd] == CONNECT_OWED) {
        int copy = copy_of(pidfd, fd);
        struct sockaddr_storage peer;
        socklen_t length = sizeof peer;
        if (copy >= 0) { getpeername(copy, (struct sockaddr *)&peer, &length); close(copy); }
    }
    marks[fd] = UNKNOWN;
}

int main(int argc, char **argv) {
    int behalf = argc > 1 && strcmp(argv[1], "--on-behalf") == 0;
    argv += behalf, argc -= behalf;
    int keeping = argc > 1 && strcmp(argv[1], "--books") == 0;
    argv += keeping, argc -= keeping;
    int data = argc > 1 && strcmp(argv[1], "--data") == 0;
    argv += data, argc -= data;
    if (argc < 2) { fprintf(stderr, "usage: notify-floor [--on-behalf | --books] [--data] PROGRAM [ARG...]\n"); return 2; }
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 2; }
    if (pid == 0) {
        /* The listener is handed over without a trapped call (sendmsg and write may be trapped):
         * at a number agreed on, while the child stops itself; both copies close at exec. */
        int listener = install_filter(data);
        if (listener < 0 || dup2(listener, HANDOVER_FD) < 0) _exit(126);
        fcntl(listener, F_SETFD, FD_CLOEXEC);
        fcntl(HANDOVER_FD, F_SETFD, FD_CLOEXEC);
        raise(SIGSTOP);
        execvp(argv[1], argv + 1);
        _exit(127);
    }
    int status = 0;
    if (waitpid(pid, &status, WUNTRACED) != pid || !WIFSTOPPED(status)) { fprintf(stderr, "notify-floor: the child did not stop\n"); return 2; }
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    int listener = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, HANDOVER_FD, 0);
    if (listener < 0) { fprintf(stderr, "notify-floor: no seccomp listener\n"); return 2; }
    kill(pid, SIGCONT);
    ioctl(listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);

    struct seccomp_notif req;
    struct seccomp_notif_resp resp;
    for (;;) {
        struct pollfd p = {.fd = listener, .events = POLLIN};
        if (poll(&p, 1, -1) < 0 && errno != EINTR) break;
        if (p.revents & POLLHUP) break;                 /* the program is gone */
        if (!(p.revents & POLLIN)) continue;
        memset(&req, 0, sizeof req);
        if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req)) continue;
        if (behalf && on_behalf(listener, pidfd, &req)) continue;
        if (keeping) keep_books(pidfd, &req);
        memset(&resp, 0, sizeof resp);
        resp.id = req.id;
        resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
        ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
