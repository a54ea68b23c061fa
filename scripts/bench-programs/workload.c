/* The benchmark workloads as a plain C program, for external-program mode. Times its own loop
 * (process start-up excluded) and prints nanoseconds per iteration.
 *   workload w1 N    socket + close
 *   workload w2 N    loopback TCP socket + connect + accept + close of both
 *   workload w3 N    1 MiB echoed over one loopback TCP connection, in 64 KiB writes, by a
 *                    server thread of this program (reads and writes on both ends) */
#include <arpa/inet.h>
#include <pthread.h>
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

enum { CHUNK = 64 * 1024, MIB = 1024 * 1024 };

/* The echo server of w3: sends back what it reads until the client closes. */
static void *echo(void *arg) {
    int c = accept(*(int *)arg, NULL, NULL);
    static char buf[CHUNK];
    for (ssize_t n; c >= 0 && (n = read(c, buf, sizeof buf)) > 0;) {
        for (ssize_t done = 0, w; done < n; done += w)
            if ((w = write(c, buf + done, n - done)) <= 0) { close(c); return NULL; }
    }
    if (c >= 0) close(c);
    return NULL;
}

static int w3(int n, int ln, struct sockaddr_in *sin) {
    pthread_t server;
    pthread_create(&server, NULL, echo, &ln);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)sin, sizeof *sin)) { perror("connect"); return 1; }
    static char out[CHUNK], in[CHUNK];
    memset(out, 'x', sizeof out);
    double start = now();
    for (int i = 0; i < n; i++) {
        for (int sent = 0; sent < MIB; sent += CHUNK) {
            for (ssize_t done = 0, w; done < CHUNK; done += w)
                if ((w = write(fd, out + done, CHUNK - done)) <= 0) { perror("write"); return 1; }
            for (ssize_t got = 0, r; got < CHUNK; got += r)
                if ((r = read(fd, in, CHUNK - got)) <= 0) { perror("read"); return 1; }
        }
    }
    printf("%.1f\n", (now() - start) / n);
    close(fd);
    pthread_join(server, NULL);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: workload w1|w2|w3 N\n"); return 2; }
    int n = atoi(argv[2]), w2 = strcmp(argv[1], "w2") == 0, data = strcmp(argv[1], "w3") == 0;
    int ln = -1;
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (w2 || data) {
        ln = socket(AF_INET, SOCK_STREAM, 0);
        socklen_t len = sizeof sin;
        if (bind(ln, (struct sockaddr *)&sin, sizeof sin) || listen(ln, 128) ||
            getsockname(ln, (struct sockaddr *)&sin, &len)) { perror("listen"); return 1; }
    }
    if (data) return w3(n, ln, &sin);
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
