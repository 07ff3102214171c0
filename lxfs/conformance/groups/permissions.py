# mypy: disable-error-code="func-returns-value"
# Checks read "do it, then observe": lambda: (op(), observation)[1].
"""Permission checks as a non-root user: owner/group/other classes, supplementary groups, directory
search and write, sticky directories, setgid directories, suid/sgid cleared on write, chmod/chown/utime
rules. Root makes the fixtures; a forked child with setresuid does the checks."""

from __future__ import annotations

import os

from lxfs.conformance.model import Check, Identity, Tester, in_child, perm, read_file, write_file

SUPP = 4242  # a supplementary group of the checking user
STRANGER = 12345  # owns files the user does not


def _fixture(path: bytes, uid: int, gid: int, mode: int, data: bytes = b"x") -> None:
    write_file(path, data)
    os.chown(path, uid, gid)
    os.chmod(path, mode)


def _dir(path: bytes, uid: int, gid: int, mode: int) -> None:
    os.mkdir(path)
    os.chown(path, uid, gid)
    os.chmod(path, mode)


def _write(path: bytes, data: bytes = b"w") -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def run(t: Tester, who: Identity | None = None) -> None:
    if not t.root:
        t.skip("permission_checks_need_root_for_fixtures", "ok")
        return
    user = who or Identity(65534, 65534)
    user = Identity(user.uid, user.gid, (user.gid, SUPP))
    U, G = user.uid, user.gid
    p = t.p
    os.chmod(t.dir, 0o755)

    def reach() -> list[Check]:
        c = Tester(t.group, t.dir, root=False)
        c.expect("scratch_directory_reachable_by_the_user", "ok", lambda: (os.listdir(t.dir), None)[1])
        return c.checks

    reached = in_child(user, reach)
    t.checks.extend(reached)
    if not reached[0].passed:
        return  # every check below would fail for the same reason: make PATH's parents searchable
    _fixture(p("own600"), U, G, 0o600)
    _fixture(p("root644"), 0, 0, 0o644)
    _fixture(p("grp640"), 0, G, 0o640)
    _fixture(p("grp604"), 0, G, 0o604)
    _fixture(p("supp640"), 0, SUPP, 0o640)
    _fixture(p("own066"), U, 0, 0o066)
    _fixture(p("root600"), 0, 0, 0o600)
    _fixture(p("root666"), 0, 0, 0o666)
    _fixture(p("exec755"), 0, 0, 0o755)
    _fixture(p("suid"), U, G, 0o4755)
    _fixture(p("sgid"), U, G, 0o2775)
    _fixture(p("suidtrunc"), U, G, 0o4755, b"0123")
    _fixture(p("rootsuid"), 0, 0, 0o4755)
    _fixture(p("ownstranger"), U, STRANGER, 0o644)
    _fixture(p("ownsupp"), U, G, 0o644)
    _dir(p("rdir"), 0, 0, 0o744)
    write_file(p("rdir", "inner"))
    _dir(p("xdir"), 0, 0, 0o711)
    write_file(p("xdir", "known"), b"known")
    _dir(p("rodir"), 0, 0, 0o755)
    write_file(p("rodir", "victim"))
    _dir(p("open"), 0, 0, 0o777)
    _fixture(p("open", "rootfile"), 0, 0, 0o600)
    _dir(p("sticky"), 0, 0, 0o1777)
    _fixture(p("sticky", "theirs"), STRANGER, STRANGER, 0o666)
    _fixture(p("sticky", "mine"), U, G, 0o644)
    _dir(p("sg"), 0, SUPP, 0o2777)

    def as_user() -> list[Check]:
        c = Tester(t.group, t.dir, root=False)
        c.expect("owner_reads_own_0600", b"x", lambda: read_file(p("own600")))
        c.expect("owner_writes_own_0600", "ok", lambda: _write(p("own600")))
        c.expect("other_reads_0644", b"x", lambda: read_file(p("root644")))
        c.expect("other_cannot_write_0644", "EACCES", lambda: _write(p("root644")))
        c.expect("group_reads_0640", b"x", lambda: read_file(p("grp640")))
        c.expect("group_bits_win_over_other_0604", "EACCES", lambda: read_file(p("grp604")))
        c.expect("supplementary_group_reads_0640", b"x", lambda: read_file(p("supp640")))
        c.expect("owner_bits_win_over_group_0066", "EACCES", lambda: read_file(p("own066")))
        c.expect("other_cannot_read_0600", "EACCES", lambda: read_file(p("root600")))
        c.expect(
            "access_reports_modes",
            [False, True, False, True, True, False],
            lambda: [
                os.access(p("root600"), os.R_OK),
                os.access(p("root600"), os.F_OK),
                os.access(p("root644"), os.W_OK),
                os.access(p("exec755"), os.X_OK),
                os.access(p("root666"), os.R_OK | os.W_OK),
                os.access(p("root644"), os.X_OK),
            ],
        )
        c.expect("list_dir_without_search_is_ok", ["inner"], lambda: [os.fsdecode(n) for n in os.listdir(p("rdir"))])
        c.expect("stat_in_dir_without_search_is_EACCES", "EACCES", lambda: os.stat(p("rdir", "inner")))
        c.expect("list_dir_without_read_is_EACCES", "EACCES", lambda: os.listdir(p("xdir")))
        c.expect("known_name_in_search_only_dir_opens", b"known", lambda: read_file(p("xdir", "known")))
        c.expect("create_in_readonly_dir_is_EACCES", "EACCES", lambda: write_file(p("rodir", "new")))
        c.expect("mkdir_in_readonly_dir_is_EACCES", "EACCES", lambda: os.mkdir(p("rodir", "sub")))
        c.expect("unlink_in_readonly_dir_is_EACCES", "EACCES", lambda: os.unlink(p("rodir", "victim")))
        c.expect(
            "rename_into_readonly_dir_is_EACCES", "EACCES", lambda: os.rename(p("sticky", "mine"), p("rodir", "m"))
        )
        c.expect("unlink_others_file_in_open_dir_is_ok", "ok", lambda: os.unlink(p("open", "rootfile")))
        c.expect("sticky_unlink_others_file_is_EPERM", "EPERM", lambda: os.unlink(p("sticky", "theirs")))
        c.expect(
            "sticky_rename_others_file_is_EPERM", "EPERM", lambda: os.rename(p("sticky", "theirs"), p("sticky", "t2"))
        )
        c.expect("sticky_others_file_still_writable", "ok", lambda: _write(p("sticky", "theirs")))
        c.expect("sticky_unlink_own_file_is_ok", "ok", lambda: os.unlink(p("sticky", "mine")))
        c.expect("chmod_by_non_owner_is_EPERM", "EPERM", lambda: os.chmod(p("root644"), 0o666))
        c.expect("chown_to_other_user_is_EPERM", "EPERM", lambda: os.chown(p("own600"), 0, -1))
        c.expect("chgrp_to_non_member_group_is_EPERM", "EPERM", lambda: os.chown(p("own600"), -1, STRANGER))
        c.expect(
            "chgrp_to_supplementary_group_is_ok",
            SUPP,
            lambda: (os.chown(p("own600"), -1, SUPP), os.stat(p("own600")).st_gid)[1],
        )
        c.expect("chown_to_self_is_ok", "ok", lambda: os.chown(p("own600"), U, -1))
        c.expect(
            "chmod_setgid_by_non_member_is_dropped",
            0o755,
            lambda: (os.chmod(p("ownstranger"), 0o2755), perm(p("ownstranger")))[1],
        )
        c.expect(
            "chmod_setgid_by_member_is_kept", 0o2755, lambda: (os.chmod(p("ownsupp"), 0o2755), perm(p("ownsupp")))[1]
        )
        c.expect("write_clears_suid", 0o755, lambda: (_write(p("suid")), perm(p("suid")))[1])
        c.expect("write_clears_sgid_with_group_exec", 0o775, lambda: (_write(p("sgid")), perm(p("sgid")))[1])
        c.expect("truncate_clears_suid", 0o755, lambda: (os.truncate(p("suidtrunc"), 1), perm(p("suidtrunc")))[1])
        c.expect("utime_now_with_write_permission_is_ok", "ok", lambda: os.utime(p("root666")))
        c.expect("utime_explicit_by_non_owner_is_EPERM", "EPERM", lambda: os.utime(p("root666"), ns=(1, 1)))
        c.expect("utime_now_without_write_permission_is_EACCES", "EACCES", lambda: os.utime(p("root644")))
        c.expect(
            "create_in_setgid_dir_takes_dir_group",
            SUPP,
            lambda: (write_file(p("sg", "userfile")), os.stat(p("sg", "userfile")).st_gid)[1],
        )
        c.expect("user_setxattr_needs_write_permission", "EACCES", lambda: os.setxattr(p("root644"), b"user.x", b"1"))
        c.expect("user_getxattr_needs_read_permission", "EACCES", lambda: os.getxattr(p("root600"), b"user.x"))
        return c.checks

    t.checks.extend(in_child(user, as_user))

    t.expect("root_write_keeps_suid", 0o4755, lambda: (_write(p("rootsuid")), perm(p("rootsuid")))[1])
    t.expect("chown_clears_suid_even_for_root", 0o755, lambda: (os.chown(p("rootsuid"), 0, 0), perm(p("rootsuid")))[1])
    t.expect("root_reads_0000_file", b"x", lambda: (os.chmod(p("root600"), 0), read_file(p("root600")))[1])
    t.expect(
        "setgid_dir_file_inherits_group",
        SUPP,
        lambda: (write_file(p("sg", "rootfile")), os.stat(p("sg", "rootfile")).st_gid)[1],
    )
    t.expect(
        "setgid_dir_subdir_inherits_group_and_bit",
        [SUPP, True],
        lambda: (os.mkdir(p("sg", "sub")), [os.stat(p("sg", "sub")).st_gid, bool(perm(p("sg", "sub")) & 0o2000)])[1],
    )
