"""Whole programs of the emulator core (tests/emulator/c/): each runs natively and inside an lxfs image;
stdout and exit status must be identical. Static glibc and musl builds, and a dynamic glibc build
(the image gets the host's loader and libc)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.emulator.fs_harness import first_difference, make_image, run_in_image, run_native
from tests.emulator.harness import compile_program

FLAVOURS = ["glibc", "musl", pytest.param("dynamic", marks=pytest.mark.slow)]


def check(tmp_path: Path, name: str, flavour: str, args: list[str] | None = None) -> None:
    prog = compile_program(name, flavour)
    native_out, native_status = run_native(prog, tmp_path / "native", args)
    image = make_image(tmp_path, {"/prog": prog}, dynamic=flavour == "dynamic")
    out, status, err = run_in_image(image, "/prog", args)
    detail = err.decode(errors="replace")[-3000:]
    assert out == native_out, f"{name} ({flavour}) differs at {first_difference(native_out, out)}\n{detail}"
    assert status == native_status, detail


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_hello_prints_argv_floats_and_exit_status(tmp_path: Path, flavour: str) -> None:
    check(tmp_path, "hello", flavour, ["a", "bc"])


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_fork_exit_statuses_wait4_waitid_vfork_and_pgids_match_native(tmp_path: Path, flavour: str) -> None:
    check(tmp_path, "fork_wait", flavour)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_execve_passes_argv_env_and_exit_status(tmp_path: Path, flavour: str) -> None:
    check(tmp_path, "exec", flavour)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_pthread_mutex_counter_and_condvar_queue_are_exact(tmp_path: Path, flavour: str) -> None:
    check(tmp_path, "threads", flavour)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_signal_handlers_sigreturn_restart_eintr_timers_and_default_kill(tmp_path: Path, flavour: str) -> None:
    check(tmp_path, "signals", flavour)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_mmap_shared_across_fork_munmap_mprotect_faults_mremap_stack_growth(tmp_path: Path, flavour: str) -> None:
    check(tmp_path, "memory", flavour)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_floating_point_output_is_bit_identical(tmp_path: Path, flavour: str) -> None:
    check(tmp_path, "fpu", flavour)


@pytest.mark.parametrize("flavour", ["glibc", "musl"])
def test_compute_sieve(tmp_path: Path, flavour: str) -> None:
    check(tmp_path, "sieve", flavour, ["300000"])


@pytest.mark.parametrize("flavour", ["glibc", "musl"])
def test_atomic_increments_from_four_threads_are_exact_under_preemption(tmp_path: Path, flavour: str) -> None:
    check(tmp_path, "atomics", flavour)


@pytest.mark.parametrize("flavour", ["glibc", "musl"])
def test_execve_errors_enoexec_eacces_enoent_leave_the_caller_running(tmp_path: Path, flavour: str) -> None:
    check(tmp_path, "exec_errors", flavour)


@pytest.mark.parametrize("flavour", ["glibc", "musl"])
def test_uid_gid_calls_follow_linux_rules_after_dropping_root(tmp_path: Path, flavour: str) -> None:
    check(tmp_path, "creds", flavour)


@pytest.mark.parametrize("flavour", ["glibc", "musl"])
def test_proc_self_agrees_with_syscalls(tmp_path: Path, flavour: str) -> None:
    check(tmp_path, "procself", flavour, ["arg1"])


@pytest.mark.parametrize("flavour", ["glibc", "musl"])
def test_bad_pointers_and_arguments_give_linux_errnos(tmp_path: Path, flavour: str) -> None:
    check(tmp_path, "efault", flavour)


def test_static_pie_program_runs(tmp_path: Path) -> None:
    check(tmp_path, "hello", "static-pie", ["p"])


@pytest.mark.parametrize("name", ["hello", "memory", "atomics"])
def test_ctypes_fallback_engine_runs_programs_like_native(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LXFS_CTYPES_ENGINE", "1")
    check(tmp_path, name, "glibc", ["x"] if name == "hello" else None)


@pytest.mark.parametrize("flavour", ["glibc", "musl"])
def test_sigtimedwait_and_stop_continue_kill_of_a_child(tmp_path: Path, flavour: str) -> None:
    check(tmp_path, "sigwait", flavour)


@pytest.mark.parametrize("flavour", ["glibc", "musl"])
def test_robust_mutex_of_a_dead_thread_gives_eownerdead(tmp_path: Path, flavour: str) -> None:
    check(tmp_path, "robust", flavour)


@pytest.mark.parametrize("flavour", ["glibc", "musl"])
def test_shared_file_mappings_are_coherent_across_mmaps_and_processes(tmp_path: Path, flavour: str) -> None:
    check(tmp_path, "shared_file", flavour)


@pytest.mark.parametrize("flavour", ["glibc", "musl"])
def test_signal_handler_gets_initial_fpu_state_and_sigreturn_restores_it(tmp_path: Path, flavour: str) -> None:
    check(tmp_path, "fpsig", flavour)


@pytest.mark.parametrize("name", ["atomics", "threads", "signals"])
def test_wheel_unicorn_with_block_hook_preemption_runs_programs_like_native(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fallback when the install could not build the patched Unicorn (setup.py): preemption through the
    per-block hook must be as exact as the timer's direct stops."""
    monkeypatch.setenv("LXFS_STOCK_UNICORN", "1")
    check(tmp_path, name, "glibc")


@pytest.mark.parametrize("flavour", ["glibc", "musl"])
def test_itimer_virtual_and_prof_count_cpu_time_not_sleep(tmp_path: Path, flavour: str) -> None:
    check(tmp_path, "cputimers", flavour)


@pytest.mark.parametrize("flavour", ["glibc", "musl"])
def test_user_and_system_time_are_told_apart(tmp_path: Path, flavour: str) -> None:
    check(tmp_path, "systime", flavour)


@pytest.mark.parametrize("flavour", ["glibc", "musl"])
def test_fork_shares_read_only_memory_until_a_side_writes_it(tmp_path: Path, flavour: str) -> None:
    check(tmp_path, "cow", flavour)


@pytest.mark.parametrize("flavour", ["glibc", "musl"])
def test_mremap_moves_keep_shared_mappings_shared_and_private_contents(tmp_path: Path, flavour: str) -> None:
    check(tmp_path, "mremap", flavour)
