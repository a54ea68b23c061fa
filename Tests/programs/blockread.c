/* A signal while a blocking read() on a socket waits: connects to 127.0.0.1:PORT, a thread sends
 * the main thread SIGUSR1 after 300 ms (the handler only counts), and the main thread reads.
 *   blockread PORT restart|plain    (the handler installed with SA_RESTART or without)
 * Prints "read N DATA" or "read failed ENAME", and how often the handler ran. Exit status 0. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static atomic_int handled;
static pthread_t main_thread;

static void on_signal(int sig) { (void)sig; handled++; }

static void *pester(void *arg) {
    (void)arg;
    usleep(300000);
    pthread_kill(main_thread, SIGUSR1);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: blockread PORT restart|plain\n"); return 2; }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = strcmp(argv[2], "restart") == 0 ? SA_RESTART : 0;
    sigaction(SIGUSR1, &sa, NULL);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    sin.sin_addr.s_addr = inet_addr("127.0.0.1");
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0) { perror("connect"); return 1; }
    main_thread = pthread_self();
    pthread_t t;
    pthread_create(&t, NULL, pester, NULL);
    char buf[100];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n >= 0) printf("read %zd %.*s, handled %d\n", n, (int)n, buf, (int)handled);
    else printf("read failed %s, handled %d\n", errno == EINTR ? "EINTR" : strerror(errno), (int)handled);
    pthread_join(t, NULL);
    return 0;
}
