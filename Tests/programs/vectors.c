/* The vectored and message calls on loopback sockets of its own: writev and readv on a TCP
 * connection, sendmsg and recvmsg (with the sender's address), sendmmsg and recvmmsg on UDP.
 * Prints each call's result (and what it moved). Exit status 0, or 1 when a setup call fails. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static struct sockaddr_in bound(int fd) {
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = inet_addr("127.0.0.1");
    socklen_t len = sizeof sin;
    if (bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0 || getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
        perror("bind");
        _exit(1);
    }
    return sin;
}

int main(void) {
    /* TCP: writev, readv */
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in at = bound(l);
    listen(l, 1);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&at, sizeof at) != 0) { perror("connect"); return 1; }
    int a = accept(l, NULL, NULL);
    struct iovec out[2] = {{"hello ", 6}, {"world\n", 6}};
    printf("writev %zd\n", writev(c, out, 2));
    usleep(50000);
    char b1[4], b2[10];
    struct iovec in[2] = {{b1, sizeof b1}, {b2, sizeof b2}};
    ssize_t n = readv(a, in, 2);
    char joined[14];
    memcpy(joined, b1, 4);
    memcpy(joined + 4, b2, 10);
    printf("readv %zd %.*s\n", n, n > 0 ? (int)n : 0, joined);

    /* UDP: sendmsg, recvmsg with the sender's address */
    int u1 = socket(AF_INET, SOCK_DGRAM, 0), u2 = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = bound(u1), from = bound(u2);
    struct iovec parts[2] = {{"abc", 3}, {"def", 3}};
    struct msghdr m = {.msg_name = &to, .msg_namelen = sizeof to, .msg_iov = parts, .msg_iovlen = 2};
    printf("sendmsg %zd\n", sendmsg(u2, &m, 0));
    char r1[2], r2[10];
    struct iovec rin[2] = {{r1, sizeof r1}, {r2, sizeof r2}};
    struct sockaddr_in sender;
    memset(&sender, 0, sizeof sender);
    struct msghdr rm = {.msg_name = &sender, .msg_namelen = sizeof sender, .msg_iov = rin, .msg_iovlen = 2};
    n = recvmsg(u1, &rm, 0);
    char got[12];
    memcpy(got, r1, 2);
    memcpy(got + 2, r2, 10);
    printf("recvmsg %zd %.*s from sender %d namelen %u flags %d\n", n, n > 0 ? (int)n : 0, got,
           sender.sin_port == from.sin_port, rm.msg_namelen, rm.msg_flags);

    /* UDP: sendmmsg, recvmmsg */
    struct iovec one = {"first", 5}, two = {"second", 6};
    struct mmsghdr mm[2];
    memset(mm, 0, sizeof mm);
    mm[0].msg_hdr = (struct msghdr){.msg_name = &to, .msg_namelen = sizeof to, .msg_iov = &one, .msg_iovlen = 1};
    mm[1].msg_hdr = (struct msghdr){.msg_name = &to, .msg_namelen = sizeof to, .msg_iov = &two, .msg_iovlen = 1};
    int sent = sendmmsg(u2, mm, 2, 0);
    printf("sendmmsg %d len %u\n", sent, mm[0].msg_len);
    usleep(50000);
    char x[20], y[20];
    struct iovec xi = {x, sizeof x}, yi = {y, sizeof y};
    struct mmsghdr rmm[2];
    memset(rmm, 0, sizeof rmm);
    rmm[0].msg_hdr = (struct msghdr){.msg_iov = &xi, .msg_iovlen = 1};
    rmm[1].msg_hdr = (struct msghdr){.msg_iov = &yi, .msg_iovlen = 1};
    int received = recvmmsg(u1, rmm, 2, MSG_DONTWAIT, NULL);
    printf("recvmmsg %d %.*s\n", received, received > 0 ? (int)rmm[0].msg_len : 0, x);
    return 0;
}
