/* A one-connection TCP server with a client thread of its own, for sweep tests.
 *   acceptor good    retries a failed accept (1 ms apart, at most 100 times), then exits 1
 *   acceptor buggy   the same, except that it crashes when accept fails with EMFILE (it uses
 *                    a "connection" it never got) and waits forever when it fails with ENOBUFS
 * Exit status 0 when the round trip worked. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct sockaddr_in server;

static void *client(void *arg) {
    (void)arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return NULL;
    if (connect(fd, (struct sockaddr *)&server, sizeof server) == 0) {
        char buf[8];
        if (write(fd, "ping", 4) == 4 && read(fd, buf, sizeof buf) > 0) printf("client: got reply\n");
    }
    close(fd);
    return NULL;
}

int main(int argc, char **argv) {
    int buggy = argc > 1 && strcmp(argv[1], "buggy") == 0;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    server.sin_family = AF_INET;
    server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof server;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&server, sizeof server) != 0 || listen(lfd, 8) != 0 ||
        getsockname(lfd, (struct sockaddr *)&server, &len) != 0) {
        perror("listener");
        return 2;
    }
    pthread_t t;
    pthread_create(&t, NULL, client, NULL);
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        fd = accept(lfd, NULL, NULL);
        if (fd >= 0) break;
        int err = errno;
        fprintf(stderr, "accept: %s\n", strerror(err));
        if (buggy && err == EMFILE) {
            volatile int *connection = NULL;      /* the bug: as if accept had worked */
            return *connection;
        }
        if (buggy && err == ENOBUFS) for (;;) pause();   /* the bug: waits for what never comes */
        usleep(1000);
    }
    if (fd < 0) {
        fprintf(stderr, "accept: giving up\n");
        close(lfd);               /* resets the queued connection: the client's read ends */
        pthread_join(t, NULL);
        return 1;
    }
    char buf[8];
    if (read(fd, buf, sizeof buf) > 0 && write(fd, "pong", 4) != 4) perror("write");
    close(fd);
    pthread_join(t, NULL);
    close(lfd);
    printf("server: done\n");
    fflush(stdout);
    return 0;
}
