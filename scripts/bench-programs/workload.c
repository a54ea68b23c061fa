/* The benchmark workloads as a plain C program, for external-program mode. Times its own loop
 * (process start-up excluded) and prints nanoseconds per iteration.
 *   workload w1 N    socket + close
 *   workload w2 N    loopback TCP socket + connect + accept + close of both */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: workload w1|w2 N\n"); return 2; }
    int n = atoi(argv[2]), w2 = strcmp(argv[1], "w2") == 0;
    int ln = -1;
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (w2) {
        ln = socket(AF_INET, SOCK_STREAM, 0);
        socklen_t len = sizeof sin;
        if (bind(ln, (struct sockaddr *)&sin, sizeof sin) || listen(ln, 128) ||
            getsockname(ln, (struct sockaddr *)&sin, &len)) { perror("listen"); return 1; }
    }
    double start = now();
    for (int i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) { perror("socket"); return 1; }
        if (w2) {
            if (connect(fd, (struct sockaddr *)&sin, sizeof sin)) { perror("connect"); return 1; }
            int c = accept(ln, NULL, NULL);
            if (c < 0) { perror("accept"); return 1; }
            close(c);
        }
        close(fd);
    }
    printf("%.1f\n", (now() - start) / n);
    if (ln >= 0) close(ln);
    return 0;
}
