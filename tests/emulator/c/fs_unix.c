/* AF_UNIX: socketpair stream/dgram/seqpacket, bind/listen/connect/accept on a path and in the
 * abstract namespace, SCM_RIGHTS, SCM_CREDENTIALS, SO_PEERCRED, shutdown, errors. */
#include "fs_common.h"
#include <signal.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

static int send_fd(int sock, int fd, const char *data) {
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof cbuf);
    struct iovec iov = {(void *)data, strlen(data)};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    return sendmsg(sock, &msg, 0);
}

static int recv_fd(int sock, char *data, int size, int *fdout, int *flags) {
    char cbuf[CMSG_SPACE(sizeof(int) * 4)];
    struct iovec iov = {data, size};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    int n = recvmsg(sock, &msg, 0);
    *fdout = -1;
    *flags = msg.msg_flags;
    if (n < 0)
        return n;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            memcpy(fdout, CMSG_DATA(c), sizeof(int));
    printf("controllen=%zu\n", (size_t)msg.msg_controllen);
    return n;
}

int main(void) {
    char buf[256];
    int sv[2];
    signal(SIGPIPE, SIG_IGN);

    /* stream socketpair */
    T(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    T(write(sv[0], "ping", 4));
    T(write(sv[0], "pong", 4));
    T(read(sv[1], buf, 100));
    printf("[%.8s]\n", buf);
    T(send(sv[1], "abc", 3, 0));
    T(recv(sv[0], buf, 1, MSG_PEEK));
    T(recv(sv[0], buf, 100, MSG_DONTWAIT));
    T(recv(sv[0], buf, 100, MSG_DONTWAIT));
    int n;
    T(write(sv[0], "12345", 5));
    T(ioctl(sv[1], FIONREAD, &n));
    printf("fionread=%d\n", n);
    T(shutdown(sv[0], SHUT_WR));
    T(read(sv[1], buf, 100));
    T(read(sv[1], buf, 100));
    T(write(sv[0], "x", 1));
    T(write(sv[1], "back", 4));
    T(read(sv[0], buf, 100));
    T(shutdown(sv[0], 7));
    int type;
    socklen_t len = sizeof type;
    T(getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &type, &len));
    printf("type=%d len=%d\n", type, len);
    struct ucred cr;
    len = sizeof cr;
    T(getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &cr, &len));
    printf("peercred pid_is_me=%d uid=%d gid=%d\n", cr.pid == getpid(), cr.uid, cr.gid);
    close(sv[0]);
    T(read(sv[1], buf, 100));
    T(write(sv[1], "x", 1));
    close(sv[1]);

    /* unread data at close: ECONNRESET */
    T(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    T(write(sv[1], "unread", 6));
    close(sv[0]);
    T(read(sv[1], buf, 100));
    T(read(sv[1], buf, 100));
    close(sv[1]);

    /* SCM_RIGHTS */
    T(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
    T(fcntl(sv[0], F_GETFD));
    int fd = open("passed", O_RDWR | O_CREAT | O_TRUNC, 0644);
    write(fd, "contents of passed", 18);
    T(send_fd(sv[0], fd, "F"));
    T(write(sv[0], "after", 5));
    int got, flags;
    T(recv_fd(sv[1], buf, 100, &got, &flags));
    printf("got fd ok=%d flags=%d\n", got > fd, flags);
    T(lseek(got, 0, SEEK_CUR));
    T(lseek(fd, 0, SEEK_SET));
    T(read(got, buf, 8));
    printf("[%.8s]\n", buf);
    T(read(sv[1], buf, 100));
    close(got);
    /* rights with a too small control buffer */
    T(send_fd(sv[0], fd, "G"));
    struct iovec iov = {buf, 10};
    char small[4];
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = small, .msg_controllen = sizeof small};
    T(recvmsg(sv[1], &msg, 0));
    printf("flags ctrunc=%d controllen=%zu\n", !!(msg.msg_flags & MSG_CTRUNC), (size_t)msg.msg_controllen);
    /* passing a socket through itself, and bad fds */
    T(send_fd(sv[0], 99, "H"));
    T(send_fd(sv[0], sv[1], "I"));
    T(recv_fd(sv[1], buf, 100, &got, &flags));
    printf("data=%.1s\n", buf);
    close(got);
    close(sv[0]);
    close(sv[1]);

    /* across fork */
    T(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        int f2 = open("fromchild", O_RDWR | O_CREAT | O_TRUNC, 0644);
        write(f2, "child wrote this", 16);
        lseek(f2, 6, SEEK_SET);
        send_fd(sv[1], f2, "C");
        read(sv[1], buf, 1);
        _exit(0);
    }
    close(sv[1]);
    T(recv_fd(sv[0], buf, 100, &got, &flags));
    T(read(got, buf, 100));
    printf("[%.10s]\n", buf);
    write(sv[0], "k", 1);
    int status;
    waitpid(pid, &status, 0);
    close(sv[0]);
    close(got);

    /* MSG_WAITALL waits for the whole request (or the end of the stream) */
    T(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        close(sv[0]);
        write(sv[1], "abc", 3);
        usleep(30000);
        write(sv[1], "defgh", 5);
        usleep(30000);
        write(sv[1], "tail", 4);
        _exit(0);
    }
    close(sv[1]);
    T(recv(sv[0], buf, 8, MSG_WAITALL));
    printf("[%.8s]\n", buf);
    T(recv(sv[0], buf, 100, MSG_WAITALL));
    printf("[%.4s]\n", buf);
    waitpid(pid, &status, 0);
    close(sv[0]);

    /* datagram socketpair */
    T(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    T(send(sv[0], "one", 3, 0));
    T(send(sv[0], "twotwo", 6, 0));
    T(send(sv[0], "", 0, 0));
    T(recv(sv[1], buf, 2, 0));
    T(recv(sv[1], buf, 100, MSG_TRUNC));
    T(recv(sv[1], buf, 100, 0));
    T(recv(sv[1], buf, 100, MSG_DONTWAIT));
    iov.iov_len = 2;
    msg = (struct msghdr){.msg_iov = &iov, .msg_iovlen = 1};
    T(send(sv[0], "truncated", 9, 0));
    T(recvmsg(sv[1], &msg, 0));
    printf("msg_flags trunc=%d\n", !!(msg.msg_flags & MSG_TRUNC));
    int sent = 0;
    while (send(sv[0], "q", 1, MSG_DONTWAIT) == 1)
        sent++;
    printf("dgram queue filled: %s\n", errname(errno));
    close(sv[1]);
    T(send(sv[0], "x", 1, 0));
    T(send(sv[0], "x", 1, 0));
    close(sv[0]);

    /* seqpacket */
    T(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
    T(send(sv[0], "rec1", 4, 0));
    T(send(sv[0], "record2", 7, 0));
    T(recv(sv[1], buf, 100, 0));
    T(recv(sv[1], buf, 3, 0));
    close(sv[0]);
    T(recv(sv[1], buf, 100, 0));
    close(sv[1]);

    /* path sockets */
    int srv = socket(AF_UNIX, SOCK_STREAM, 0);
    T(srv >= 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strcpy(addr.sun_path, "sock");
    T(listen(srv, 5));
    T(bind(srv, (struct sockaddr *)&addr, sizeof addr));
    T(bind(srv, (struct sockaddr *)&addr, sizeof addr));
    show("sock");
    int other = socket(AF_UNIX, SOCK_STREAM, 0);
    T(bind(other, (struct sockaddr *)&addr, sizeof addr));
    T(connect(other, (struct sockaddr *)&addr, sizeof addr));
    T(listen(srv, 5));
    int cli = socket(AF_UNIX, SOCK_STREAM, 0);
    T(connect(cli, (struct sockaddr *)&addr, offsetof(struct sockaddr_un, sun_path) + 5));
    T(connect(cli, (struct sockaddr *)&addr, sizeof addr));
    struct sockaddr_un peer;
    len = sizeof peer;
    int acc = accept(srv, (struct sockaddr *)&peer, &len);
    T(acc >= 0);
    printf("accept addrlen=%d family=%d\n", len, peer.sun_family);
    len = sizeof peer;
    T(getsockname(acc, (struct sockaddr *)&peer, &len));
    printf("getsockname: len=%d path=%s\n", len, peer.sun_path);
    len = sizeof peer;
    T(getpeername(cli, (struct sockaddr *)&peer, &len));
    printf("getpeername: len=%d path=%s\n", len, peer.sun_path);
    len = sizeof peer;
    T(getpeername(srv, (struct sockaddr *)&peer, &len));
    T(write(cli, "over path", 9));
    T(read(acc, buf, 100));
    T(fcntl(srv, F_SETFL, O_NONBLOCK));
    T(accept4(srv, NULL, NULL, SOCK_NONBLOCK));
    T(write(srv, "x", 1));
    T(read(srv, buf, 1));
    int acceptconn;
    len = sizeof acceptconn;
    T(getsockopt(srv, SOL_SOCKET, SO_ACCEPTCONN, &acceptconn, &len));
    printf("acceptconn=%d\n", acceptconn);
    close(cli);
    close(acc);
    close(srv);
    cli = socket(AF_UNIX, SOCK_STREAM, 0);
    T(connect(cli, (struct sockaddr *)&addr, sizeof addr));
    T(unlink("sock"));
    T(connect(cli, (struct sockaddr *)&addr, sizeof addr));
    close(cli);
    put_file("notsock", "x");
    strcpy(addr.sun_path, "notsock");
    cli = socket(AF_UNIX, SOCK_STREAM, 0);
    T(connect(cli, (struct sockaddr *)&addr, sizeof addr));
    strcpy(addr.sun_path, "nodir/sock");
    T(connect(cli, (struct sockaddr *)&addr, sizeof addr));
    T(bind(cli, (struct sockaddr *)&addr, sizeof addr));
    close(cli);

    /* server in a child process */
    strcpy(addr.sun_path, "sock2");
    srv = socket(AF_UNIX, SOCK_STREAM, 0);
    T(bind(srv, (struct sockaddr *)&addr, sizeof addr));
    T(listen(srv, 1));
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        int c = accept(srv, NULL, NULL);
        char b[64];
        int k = read(c, b, sizeof b);
        for (int i = 0; i < k; i++)
            b[i] = b[i] >= 'a' && b[i] <= 'z' ? b[i] - 32 : b[i];
        write(c, b, k);
        close(c);
        _exit(0);
    }
    close(srv);
    cli = socket(AF_UNIX, SOCK_STREAM, 0);
    T(connect(cli, (struct sockaddr *)&addr, sizeof addr));
    T(write(cli, "shout", 5));
    T(read(cli, buf, 100));
    printf("[%.5s]\n", buf);
    T(read(cli, buf, 100));
    waitpid(pid, &status, 0);
    close(cli);

    /* abstract and datagram with addresses */
    int d1 = socket(AF_UNIX, SOCK_DGRAM, 0);
    int d2 = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un a1 = {.sun_family = AF_UNIX};
    snprintf(a1.sun_path + 1, 30, "lxfs-test-%08d", (int)getpid() % 100000000);
    socklen_t a1len = offsetof(struct sockaddr_un, sun_path) + 19;
    T(bind(d1, (struct sockaddr *)&a1, a1len));
    T(bind(d2, (struct sockaddr *)&a1, a1len));
    T(bind(d2, (struct sockaddr *)&a1, sizeof(sa_family_t)));
    T(sendto(d2, "to abstract", 11, 0, (struct sockaddr *)&a1, a1len));
    struct sockaddr_un from;
    socklen_t fromlen = sizeof from;
    T(recvfrom(d1, buf, 100, 0, (struct sockaddr *)&from, &fromlen));
    printf("from: len=%d autobound=%d\n", fromlen, fromlen == offsetof(struct sockaddr_un, sun_path) + 6 && from.sun_path[0] == 0);
    T(sendto(d1, "reply", 5, 0, (struct sockaddr *)&from, fromlen));
    T(recv(d2, buf, 100, 0));
    T(send(d2, "x", 1, 0));
    T(connect(d2, (struct sockaddr *)&a1, a1len));
    T(send(d2, "connected", 9, 0));
    T(recv(d1, buf, 100, 0));
    T(getsockname(d1, (struct sockaddr *)&from, &(socklen_t){sizeof from}));
    close(d1);
    close(d2);

    /* SCM_CREDENTIALS */
    T(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    int one = 1;
    T(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one));
    T(send(sv[0], "cred", 4, 0));
    char cbuf[CMSG_SPACE(sizeof(struct ucred))];
    iov = (struct iovec){buf, 100};
    msg = (struct msghdr){.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    T(recvmsg(sv[1], &msg, 0));
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (c) {
        memcpy(&cr, CMSG_DATA(c), sizeof cr);
        printf("cmsg level=%d type=%d pid_is_me=%d uid=%d gid=%d\n", c->cmsg_level, c->cmsg_type, cr.pid == getpid(),
               cr.uid, cr.gid);
    } else {
        printf("no cmsg\n");
    }
    close(sv[0]);
    close(sv[1]);

    /* errors */
    T(socket(AF_UNIX, 99, 0));
    T(socket(AF_UNIX, SOCK_STREAM, 5));
    T(socketpair(AF_UNIX, SOCK_STREAM, 0, (int *)8));
    fd = open("passed", O_RDONLY);
    T(send(fd, "x", 1, 0));
    T(listen(fd, 1));
    T(shutdown(fd, SHUT_RD));
    T(send(99, "x", 1, 0));
    int s = socket(AF_UNIX, SOCK_DGRAM, 0);
    T(listen(s, 1));
    T(accept(s, NULL, NULL));
    T(send(s, "x", 1, 0));
    int st = socket(AF_UNIX, SOCK_STREAM, 0);
    T(read(st, buf, 1));
    T(write(st, buf, 1));
    T(accept(st, NULL, NULL));
    T(listen(st, 1));
    return 0;
}
