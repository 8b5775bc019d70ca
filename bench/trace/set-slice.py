#!/usr/bin/env python3
"""`set-slice.py TID MICROSECONDS`: asks the kernel (6.12 and later, EEVDF)
for a time slice of MICROSECONDS for thread TID, under the normal policy
(SCHED_OTHER) at its nice value, and reads it back (exits non-zero when the
kernel kept another slice: before 6.12, or out of its bounds): a thread with a shorter slice than the one running may
preempt it when it wakes. sched_setattr has no wrapper in Python or
util-linux 2.38, hence the system call by number (x86-64 and arm64)."""
import ctypes
import os
import platform
import sys

SYS_SCHED_SETATTR = {'x86_64': 314, 'aarch64': 274}[platform.machine()]
SCHED_OTHER = 0


class SchedAttr(ctypes.Structure):
    _fields_ = [
        ('size', ctypes.c_uint32), ('sched_policy', ctypes.c_uint32), ('sched_flags', ctypes.c_uint64),
        ('sched_nice', ctypes.c_int32), ('sched_priority', ctypes.c_uint32), ('sched_runtime', ctypes.c_uint64),
        ('sched_deadline', ctypes.c_uint64), ('sched_period', ctypes.c_uint64),
    ]


def main() -> None:
    tid, micros = int(sys.argv[1]), int(sys.argv[2])
    nice = os.getpriority(os.PRIO_PROCESS, tid)
    attr = SchedAttr(size=ctypes.sizeof(SchedAttr), sched_policy=SCHED_OTHER, sched_nice=nice, sched_runtime=micros * 1000)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(SYS_SCHED_SETATTR, tid, ctypes.byref(attr), 0) != 0:
        sys.exit(f'sched_setattr({tid}): {os.strerror(ctypes.get_errno())}')
    with open(f'/proc/{tid}/sched') as sched:
        kept = next((line.split(':')[1].strip() for line in sched if line.startswith('se.slice')), None)
    if kept != str(micros * 1000):
        sys.exit(f'thread {tid}: asked for a slice of {micros * 1000} ns, the kernel keeps {kept}')


if __name__ == '__main__':
    main()
