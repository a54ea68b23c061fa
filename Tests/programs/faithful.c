/* Socket calls whose outcome depends on the caller's context or on the kernel's argument checks,
 * each printed as one line "name: ok" or "name: ERRNAME", so that a run under socktest-lua can
 * be compared line by line with the same program run natively.
 *   faithful drop UNIXPATH ROOTDIR      drop to uid/gid 65534, then: raw and packet sockets,
 *                                       bind port 81, connect to a root-only unix socket, bind in
 *                                       a root-only directory
 *   faithful netns PORT                 unshare the network namespace, then connect to PORT
 *   faithful chroot DIR                 chroot(DIR), then bind "/jail.sock" and "rel.sock"
 *   faithful umask PATH                 umask 077, bind PATH, print the file's mode
 *   faithful args PORT                  connect/bind with odd address lengths, accept with odd
 *                                       length pointers
 *   faithful closerange                 a socket's number reused for /dev/null after
 *                                       close_range; the file's close must succeed
 *   faithful exec                       the same after an exec closed the socket (CLOEXEC)
 *   faithful race PORT THREADS ROUNDS   threads racing socket/connect/close
 *   faithful copies PORT                connect through a dup'd and an SCM_RIGHTS-passed
 *                                       descriptor of the same socket */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

static void say(const char *name, int rc) {
    if (rc < 0) printf("%s: %s\n", name, strerrorname_np(errno));
    else printf("%s: ok\n", name);
    fflush(stdout);
}

static struct sockaddr_in loopback(int port) {
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sin;
}

static struct sockaddr_un unix_address(const char *path) {
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    strncpy(sun.sun_path, path, sizeof sun.sun_path - 1);
    return sun;
}

static int drop(const char *unix_path, const char *root_dir) {
    if (setgroups(0, NULL) || setgid(65534) || setuid(65534)) { perror("drop"); return 1; }
    say("raw socket", socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
    say("packet socket", socket(AF_PACKET, SOCK_RAW, 0));
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in low = loopback(81);
    say("bind port 81", bind(s, (struct sockaddr *)&low, sizeof low));
    close(s);
    s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = unix_address(unix_path);
    say("connect root-only unix socket", connect(s, (struct sockaddr *)&sun, sizeof sun));
    close(s);
    char path[200];
    snprintf(path, sizeof path, "%s/mine.sock", root_dir);
    s = socket(AF_UNIX, SOCK_STREAM, 0);
    sun = unix_address(path);
    say("bind in root-only directory", bind(s, (struct sockaddr *)&sun, sizeof sun));
    close(s);
    return 0;
}

static int netns(int port) {
    if (unshare(CLONE_NEWNET) != 0) { perror("unshare"); return 1; }
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = loopback(port);
    say("connect host port from a new namespace", connect(s, (struct sockaddr *)&sin, sizeof sin));
    close(s);
    return 0;
}

static int jail(const char *dir) {
    if (chroot(dir) != 0 || chdir("/") != 0) { perror("chroot"); return 1; }
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = unix_address("/jail.sock");
    say("bind /jail.sock", bind(s, (struct sockaddr *)&sun, sizeof sun));
    close(s);
    s = socket(AF_UNIX, SOCK_STREAM, 0);
    sun = unix_address("rel.sock");
    say("bind rel.sock", bind(s, (struct sockaddr *)&sun, sizeof sun));
    close(s);
    return 0;
}

static int mask(const char *path) {
    umask(077);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = unix_address(path);
    say("bind", bind(s, (struct sockaddr *)&sun, sizeof sun));
    struct stat info;
    if (stat(path, &info) == 0) printf("mode: %o\n", info.st_mode & 07777);
    close(s);
    return 0;
}

static int args(int port) {
    struct sockaddr_storage big;
    memset(&big, 0, sizeof big);
    struct sockaddr_in sin = loopback(port);
    memcpy(&big, &sin, sizeof sin);
    char wide[600];
    memset(wide, 0, sizeof wide);
    memcpy(wide, &sin, sizeof sin);
    int lengths[] = {129, 200, 512, -1, 0, 3};
    for (size_t i = 0; i < sizeof lengths / sizeof *lengths; i++) {
        char name[64];
        int s = socket(AF_INET, SOCK_STREAM, 0);
        snprintf(name, sizeof name, "connect len %d", lengths[i]);
        say(name, connect(s, (struct sockaddr *)wide, (socklen_t)lengths[i]));
        close(s);
        s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in any = loopback(0);
        memcpy(wide, &any, sizeof any);
        snprintf(name, sizeof name, "bind len %d", lengths[i]);
        say(name, bind(s, (struct sockaddr *)wide, (socklen_t)lengths[i]));
        memcpy(wide, &sin, sizeof sin);
        close(s);
    }
    int ln = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in any = loopback(0);
    socklen_t len = sizeof any;
    if (bind(ln, (struct sockaddr *)&any, sizeof any) || listen(ln, 8) || getsockname(ln, (struct sockaddr *)&any, &len)) {
        perror("listen"); return 1;
    }
    for (int i = 0; i < 3; i++) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        connect(c, (struct sockaddr *)&any, sizeof any);
    }
    struct sockaddr_in peer;
    socklen_t bad = (socklen_t)-1;
    say("accept len -1", accept(ln, (struct sockaddr *)&peer, &bad));
    say("accept NULL len", accept(ln, (struct sockaddr *)&peer, NULL));
    socklen_t zero = 0;
    int c = accept(ln, (struct sockaddr *)&peer, &zero);
    say("accept len 0", c);
    printf("accept len 0 wrote: %u\n", zero);
    return 0;
}

/* A socket's number handed to /dev/null behind the switch's back; closing the file must work
 * even when the script fails closes of sockets. */
static int reuse_after(int (*away)(int)) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (away(s) != 0) { perror("away"); return 1; }
    int f = open("/dev/null", O_RDONLY);
    printf("same number: %s\n", f == s ? "yes" : "no");
    say("close the file", close(f));
    return 0;
}

static int by_close_range(int fd) { return (int)syscall(SYS_close_range, fd, fd, 0); }

static int race_port;
static int race_rounds;

static void *racer(void *arg) {
    (void)arg;
    struct sockaddr_in sin = loopback(race_port);
    for (int i = 0; i < race_rounds; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0) continue;
        connect(s, (struct sockaddr *)&sin, sizeof sin);
        if (i % 3 == 0) { int d = dup(s); close(s); s = d; }
        close(s);
    }
    return NULL;
}

static int race(int port, int threads, int rounds) {
    race_port = port;
    race_rounds = rounds;
    pthread_t t[64];
    if (threads > 64) threads = 64;
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, racer, NULL);
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    printf("raced\n");
    return 0;
}

static int pass_fd(int fd) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return -1;
    char byte = 0, control[CMSG_SPACE(sizeof(int))] = {0};
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    if (sendmsg(sv[0], &msg, 0) != 1) return -1;
    memset(control, 0, sizeof control);
    msg.msg_controllen = sizeof control;
    if (recvmsg(sv[1], &msg, 0) != 1) return -1;
    int got;
    memcpy(&got, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof got);
    close(sv[0]);
    close(sv[1]);
    return got;
}

static int copies(int port) {
    struct sockaddr_in sin = loopback(port);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int d = dup(s);
    say("connect through a dup", connect(d, (struct sockaddr *)&sin, sizeof sin));
    int t = socket(AF_INET, SOCK_STREAM, 0);
    int r = pass_fd(t);
    close(t);
    say("connect through a passed descriptor", connect(r, (struct sockaddr *)&sin, sizeof sin));
    close(s);
    close(d);
    close(r);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: faithful MODE ...\n"); return 2; }
    const char *mode = argv[1];
    if (!strcmp(mode, "drop") && argc == 4) return drop(argv[2], argv[3]);
    if (!strcmp(mode, "netns") && argc == 3) return netns(atoi(argv[2]));
    if (!strcmp(mode, "chroot") && argc == 3) return jail(argv[2]);
    if (!strcmp(mode, "umask") && argc == 3) return mask(argv[2]);
    if (!strcmp(mode, "args") && argc == 3) return args(atoi(argv[2]));
    if (!strcmp(mode, "closerange")) return reuse_after(by_close_range);
    if (!strcmp(mode, "exec") && argc == 2) {
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        char number[16];
        snprintf(number, sizeof number, "%d", s);
        execl("/proc/self/exe", argv[0], "exec", number, (char *)NULL);
        perror("exec");
        return 1;
    }
    if (!strcmp(mode, "exec") && argc == 3) {
        int f = open("/dev/null", O_RDONLY);
        printf("same number: %s\n", f == atoi(argv[2]) ? "yes" : "no");
        say("close the file", close(f));
        return 0;
    }
    if (!strcmp(mode, "race") && argc == 5) return race(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
    if (!strcmp(mode, "copies") && argc == 3) return copies(atoi(argv[2]));
    fprintf(stderr, "faithful: bad arguments\n");
    return 2;
}
