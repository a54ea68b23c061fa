/* A pre-forking server: the master listens on 127.0.0.1 (ephemeral port), forks WORKERS
 * children that each accept one connection, then connects to itself once per worker and waits.
 * Each worker prints what its accept returned; a worker whose accept fails exits 1.
 *   prefork [WORKERS]    exit status: the number of workers that failed */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int workers = argc > 1 ? atoi(argv[1]) : 2;
    int ln = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (ln < 0 || bind(ln, (struct sockaddr *)&sin, sizeof sin) != 0 || listen(ln, 16) != 0) { perror("listen"); return 100; }
    socklen_t len = sizeof sin;
    getsockname(ln, (struct sockaddr *)&sin, &len);
    for (int i = 0; i < workers; i++) {
        if (fork() == 0) {
            struct sockaddr_in peer;
            socklen_t plen = sizeof peer;
            int c = accept(ln, (struct sockaddr *)&peer, &plen);
            if (c < 0) { printf("worker %d: accept: %s\n", i, strerror(errno)); fflush(stdout); _exit(1); }
            printf("worker %d: accepted from %s\n", i, inet_ntoa(peer.sin_addr));
            fflush(stdout);
            close(c);
            _exit(0);
        }
    }
    int clients[16];
    for (int i = 0; i < workers && i < 16; i++) {
        clients[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(clients[i], (struct sockaddr *)&sin, sizeof sin) != 0) perror("connect");
    }
    int failed = 0, status;
    for (int i = 0; i < workers; i++) {
        /* a worker that failed leaves its connection queued: give it to nobody */
        if (wait(&status) > 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) failed++;
    }
    for (int i = 0; i < workers && i < 16; i++) close(clients[i]);
    close(ln);
    return failed;
}
