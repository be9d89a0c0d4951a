// bench/experiments/splice-vs-copy.c: would a zero-copy NBD data path make nbdcopy faster on this machine?
//
// Moves 1 GiB between a file and a loopback TCP socket in 256 KiB pieces (nbdcopy's request size): the server's
// share of NBD reads ("out": file -> socket) or writes ("in": socket -> file), done two ways:
//   copy   pread + send, recv + pwrite (what blkmq serve and nbdkit do);
//   splice file -> pipe -> socket, socket -> pipe -> file (no copy through user memory).
// A child process is the client: it only receives (out) or sends (in).
//
//   gcc -O2 -Wall -o /tmp/splice-vs-copy bench/experiments/splice-vs-copy.c
//   dd if=/dev/urandom of=/dev/shm/img bs=1M count=1024
//   for dir in out in; do for mode in copy splice; do /tmp/splice-vs-copy /dev/shm/img $mode $dir; done; done
//
// Results (8 December 2026): docs/file-driver.md, "Not done yet".
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PIECE (256 * 1024)
#define TOTAL (1L << 30)

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void client(struct sockaddr_in *address, int in)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(s, (struct sockaddr *)address, sizeof *address) < 0)
        die("connect");
    char *buffer = malloc(PIECE);
    memset(buffer, 7, PIECE);
    for (long moved = 0; moved < TOTAL;) {
        ssize_t n = in ? send(s, buffer, PIECE, 0) : recv(s, buffer, PIECE, 0);
        if (n <= 0)
            break;
        moved += n;
    }
    if (in) {
        shutdown(s, SHUT_WR);
        recv(s, buffer, 1, 0); // until the server has written everything and closed
    }
    _exit(0);
}

// Moves exactly `length` bytes from `from` to `to` with splice (offsets only for the file side).
static void splice_all(int from, loff_t *from_offset, int to, loff_t *to_offset, size_t length, unsigned flags)
{
    for (size_t done = 0; done < length;) {
        ssize_t n = splice(from, from_offset, to, to_offset, length - done, flags);
        if (n <= 0)
            die("splice");
        done += n;
    }
}

static void copy_out(int file, int s, char *buffer, long offset)
{
    ssize_t n = pread(file, buffer, PIECE, offset);
    for (ssize_t sent = 0; sent < n;) {
        ssize_t k = send(s, buffer + sent, n - sent, 0);
        if (k <= 0)
            die("send");
        sent += k;
    }
}

static void copy_in(int file, int s, char *buffer, long offset)
{
    for (ssize_t got = 0; got < PIECE;) {
        ssize_t k = recv(s, buffer + got, PIECE - got, 0);
        if (k <= 0)
            die("recv");
        got += k;
    }
    if (pwrite(file, buffer, PIECE, offset) != PIECE)
        die("pwrite");
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s FILE copy|splice out|in\n", argv[0]);
        return 2;
    }
    int splicing = strcmp(argv[2], "splice") == 0;
    int in = strcmp(argv[3], "in") == 0;

    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof address;
    if (bind(listener, (struct sockaddr *)&address, sizeof address) < 0 || listen(listener, 1) < 0
        || getsockname(listener, (struct sockaddr *)&address, &length) < 0)
        die("listen");
    pid_t child = fork();
    if (child == 0)
        client(&address, in);

    int s = accept(listener, NULL, NULL);
    int file = open(argv[1], O_RDWR);
    if (s < 0 || file < 0)
        die("accept/open");
    char *buffer = aligned_alloc(4096, PIECE);
    int pipe_fds[2];
    if (pipe(pipe_fds) < 0 || fcntl(pipe_fds[1], F_SETPIPE_SZ, PIECE) < 0)
        die("pipe");

    double start = now();
    for (long offset = 0; offset < TOTAL; offset += PIECE) {
        loff_t file_offset = offset;
        if (!splicing)
            (in ? copy_in : copy_out)(file, s, buffer, offset);
        else if (in) {
            splice_all(s, NULL, pipe_fds[1], NULL, PIECE, SPLICE_F_MOVE);
            splice_all(pipe_fds[0], NULL, file, &file_offset, PIECE, SPLICE_F_MOVE);
        } else {
            splice_all(file, &file_offset, pipe_fds[1], NULL, PIECE, SPLICE_F_MOVE);
            splice_all(pipe_fds[0], NULL, s, NULL, PIECE, SPLICE_F_MOVE | SPLICE_F_MORE);
        }
    }
    close(s);
    double seconds = now() - start;
    waitpid(child, NULL, 0);
    printf("%-3s %-6s %6.0f MiB/s\n", argv[3], argv[2], 1024 / seconds);
    return 0;
}
