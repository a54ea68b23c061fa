/* Signals arriving while a call is held: a thread sends SIGUSR1 to the main thread every 5 ms
 * while it connects to or accepts on 127.0.0.1 (a filter delays the call). The handler only
 * counts. Prints the call's outcome and whether the handler ran while the call was held.
 *   signals connect PORT restart|plain
 *   signals accept restart|plain        (listens, a second thread connects after 50 ms)
 * Exit status 0. */
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
#include <time.h>
#include <unistd.h>

static atomic_int handled;
static atomic_int done;
static pthread_t main_thread;
static struct sockaddr_in target;

static void on_signal(int sig) { (void)sig; handled++; }

static void *pester(void *arg) {
    (void)arg;
    while (!done) {
        pthread_kill(main_thread, SIGUSR1);
        usleep(5000);
    }
    return NULL;
}

static void *dial_later(void *arg) {
    (void)arg;
    usleep(50000);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    connect(c, (struct sockaddr *)&target, sizeof target);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    int accepting = !strcmp(argv[1], "accept");
    int restart = !strcmp(argv[accepting ? 2 : 3], "restart");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigaction(SIGUSR1, &sa, NULL);
    main_thread = pthread_self();
    target.sin_family = AF_INET;
    target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0), rc;
    pthread_t p, d;
    if (accepting) {
        socklen_t len = sizeof target;
        if (bind(fd, (struct sockaddr *)&target, sizeof target) || listen(fd, 8) ||
            getsockname(fd, (struct sockaddr *)&target, &len)) { perror("listen"); return 1; }
        pthread_create(&d, NULL, dial_later, NULL);
    } else {
        target.sin_port = htons(atoi(argv[2]));
    }
    pthread_create(&p, NULL, pester, NULL);
    int before = handled;
    rc = accepting ? accept(fd, NULL, NULL) : connect(fd, (struct sockaddr *)&target, sizeof target);
    int err = errno;
    int during = handled - before;
    done = 1;
    pthread_join(p, NULL);
    printf("%s: %s\n", argv[1], rc >= 0 ? "ok" : strerrorname_np(err));
    printf("handler ran while held: %s\n", during > 0 ? "yes" : "no");
    return 0;
}
