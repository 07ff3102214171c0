/* Permission checks after dropping root (setgroups/setgid/setuid in the program): open modes, search
 * permission, sticky directories, chmod/chown by a non-owner, access() with real ids, umask. */
#include "fs_common.h"
#include <grp.h>
#include <sys/wait.h>

int main(void) {
    umask(022);
    Q(mkdir("pub", 0777));
    Q(chmod("pub", 0777));
    Q(mkdir("sticky", 0777));
    Q(chmod("sticky", 01777));
    Q(mkdir("closed", 0700));
    Q(mkdir("ronly", 0555));
    put_file("rootfile", "secret");
    Q(chmod("rootfile", 0600));
    put_file("world", "hello");
    Q(chmod("world", 0644));
    put_file("sticky/rootowned", "r");
    Q(chmod("sticky/rootowned", 0666));
    put_file("closed/inside", "x");
    put_file("groupfile", "g");
    Q(chown("groupfile", 0, 1234));
    Q(chmod("groupfile", 0660));
    Q(chmod(".", 0777));

    Q(setgroups(1, (gid_t[]){1234}));
    Q(setgid(1000));
    Q(setuid(1000));
    printf("ids: %d %d %d %d\n", getuid(), geteuid(), getgid(), getegid());
    T(open("rootfile", O_RDONLY));
    T(open("world", O_RDONLY) >= 0);
    T(open("world", O_WRONLY));
    T(open("groupfile", O_RDWR) >= 0);
    T(open("closed/inside", O_RDONLY));
    T(access("closed/inside", F_OK));
    T(access("world", W_OK));
    T(access("world", R_OK));
    T(mkdir("ronly/sub", 0755));
    T(mkdir("pub/mine", 0755));
    show("pub/mine");
    put_file("pub/myfile", "m");
    show("pub/myfile");
    T(unlink("sticky/rootowned"));
    put_file("sticky/mine", "mine");
    T(unlink("sticky/mine"));
    T(chmod("world", 0666));
    T(chown("pub/myfile", 0, 1000));
    T(chown("pub/myfile", -1, 1234));
    show("pub/myfile");
    T(chown("pub/myfile", -1, 4321));
    T(chmod("pub/myfile", 02755));
    show("pub/myfile");
    T(rmdir("closed"));
    T(link("rootfile", "pub/hard"));
    T(truncate("world", 0));
    T(utimensat(AT_FDCWD, "world", NULL, 0));
    struct timespec ts[2] = {{1, 0}, {1, 0}};
    T(utimensat(AT_FDCWD, "world", ts, 0));
    T(utimensat(AT_FDCWD, "pub/myfile", ts, 0));
    T(rename("world", "pub/world"));
    T(setuid(0));
    T(mknod("pub/dev", S_IFCHR | 0600, makedev(1, 3)));
    T(chroot("pub"));
    return 0;
}
