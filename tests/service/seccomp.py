"""systemd's `MemoryDenyWriteExecute=yes`, installed on the calling process
without systemd: the same seccomp rules (systemd's
seccomp_memory_deny_write_execute), for x86-64. Refused with EPERM:
mmap() asking for writable and executable memory at once, mprotect() and
pkey_mprotect() adding PROT_EXEC, shmat() with SHM_EXEC. Irrevocable."""

from __future__ import annotations

import ctypes
import platform
import struct

_PROT_WRITE, _PROT_EXEC, _SHM_EXEC = 0x2, 0x4, 0o100000
_MMAP, _MPROTECT, _SHMAT, _PKEY_MPROTECT = 9, 10, 30, 329  # x86-64 syscall numbers
_AUDIT_ARCH_X86_64 = 0xC000003E
# BPF opcodes: load word at absolute offset, jump if equal, jump if bits set, and, return.
_LOAD, _JUMP_EQUAL, _JUMP_SET, _AND, _RETURN = 0x20, 0x15, 0x45, 0x54, 0x06
_ALLOW, _REFUSE = 0x7FFF0000, 0x00050000 | 1  # SECCOMP_RET_ERRNO | EPERM
_ARCH, _NUMBER, _THIRD_ARGUMENT = 4, 0, 16 + 2 * 8  # offsets in struct seccomp_data


def supported() -> bool:
    return platform.system() == "Linux" and platform.machine() == "x86_64"


def deny_write_execute() -> None:
    """Install the rules on this process (and any it starts)."""
    program = _program()
    buffer = ctypes.create_string_buffer(program)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(program) // 8, ctypes.addressof(buffer))
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_no_new_privs, pr_set_seccomp, seccomp_mode_filter = 38, 22, 2
    if libc.prctl(pr_set_no_new_privs, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if libc.prctl(pr_set_seccomp, seccomp_mode_filter, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")


def _program() -> bytes:
    """The filter as BPF; labels stand for jump targets until assembled."""
    code: list[tuple[int, int | str, int | str, int] | str] = [
        (_LOAD, 0, 0, _ARCH),
        (_JUMP_EQUAL, 0, "allow", _AUDIT_ARCH_X86_64),
        (_LOAD, 0, 0, _NUMBER),
        (_JUMP_EQUAL, 0, "not mmap", _MMAP),
        (_LOAD, 0, 0, _THIRD_ARGUMENT),
        (_AND, 0, 0, _PROT_WRITE | _PROT_EXEC),
        (_JUMP_EQUAL, "refuse", "allow", _PROT_WRITE | _PROT_EXEC),
        "not mmap",
        (_JUMP_EQUAL, "adds exec", 0, _MPROTECT),
        (_JUMP_EQUAL, "adds exec", 0, _PKEY_MPROTECT),
        (_JUMP_EQUAL, 0, "allow", _SHMAT),
        (_LOAD, 0, 0, _THIRD_ARGUMENT),
        (_JUMP_SET, "refuse", "allow", _SHM_EXEC),
        "adds exec",
        (_LOAD, 0, 0, _THIRD_ARGUMENT),
        (_JUMP_SET, "refuse", "allow", _PROT_EXEC),
        "allow",
        (_RETURN, 0, 0, _ALLOW),
        "refuse",
        (_RETURN, 0, 0, _REFUSE),
    ]
    labels: dict[str, int] = {}
    for item in code:
        if isinstance(item, str):
            labels[item] = sum(1 for i in code[: code.index(item)] if not isinstance(i, str))
    instructions = [item for item in code if not isinstance(item, str)]
    assembled = b""
    for index, (op, if_true, if_false, operand) in enumerate(instructions):
        jumps = [labels[t] - index - 1 if isinstance(t, str) else t for t in (if_true, if_false)]
        assembled += struct.pack("HBBI", op, *jumps, operand)
    return assembled
