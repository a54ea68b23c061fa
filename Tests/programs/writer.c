/* A TCP client that writes a patterned buffer to 127.0.0.1:PORT and says what write() did:
 *   writer once PORT BYTES   one write(); prints "wrote N"
 *   writer loop PORT BYTES   write() until every byte is written, as a correct program does;
 *                            prints "wrote N in C calls, checksum X" (FNV-1a of the bytes)
 * Exits 0, or 1 with the failing call's error. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: writer once|loop PORT BYTES\n"); return 2; }
    int loop = strcmp(argv[1], "loop") == 0;
    size_t size = strtoul(argv[3], NULL, 10);
    unsigned char *buf = malloc(size);
    uint32_t sum = 2166136261u;
    for (size_t i = 0; i < size; i++) {
        buf[i] = (unsigned char)(i * 7 + i / 251);
        sum = (sum ^ buf[i]) * 16777619u;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    sin.sin_addr.s_addr = inet_addr("127.0.0.1");
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0) { perror("connect"); return 1; }
    if (!loop) {
        ssize_t n = write(fd, buf, size);
        if (n < 0) { perror("write"); return 1; }
        printf("wrote %zd\n", n);
    } else {
        size_t total = 0;
        int calls = 0;
        while (total < size) {
            ssize_t n = write(fd, buf + total, size - total);
            if (n < 0) { perror("write"); return 1; }
            total += (size_t)n;
            calls++;
        }
        printf("wrote %zu in %d calls, checksum %u\n", total, calls, sum);
    }
    close(fd);
    return 0;
}
