/* A TCP client: connects to 127.0.0.1:PORT N times (from T threads) and prints each outcome.
 * Built statically by the tests to show supervision needs no dynamic linking.
 *   client PORT [N [THREADS]]    exit status: the number of failed connects (at most 100) */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int port, per_thread;
static int failed;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *run(void *arg) {
    (void)arg;
    for (int i = 0; i < per_thread; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) { perror("socket"); continue; }
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int rc = connect(fd, (struct sockaddr *)&sin, sizeof sin);
        int err = errno;
        pthread_mutex_lock(&lock);
        if (rc == 0) printf("connected\n"); else { printf("connect: %s\n", strerror(err)); failed++; }
        pthread_mutex_unlock(&lock);
        close(fd);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: client PORT [N [THREADS]]\n"); return 100; }
    port = atoi(argv[1]);
    int n = argc > 2 ? atoi(argv[2]) : 1, threads = argc > 3 ? atoi(argv[3]) : 1;
    per_thread = n / threads;
    pthread_t t[64];
    for (int i = 0; i < threads && i < 64; i++) pthread_create(&t[i], NULL, run, NULL);
    for (int i = 0; i < threads && i < 64; i++) pthread_join(t[i], NULL);
    fflush(stdout);
    return failed > 100 ? 100 : failed;
}
