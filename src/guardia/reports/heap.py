"""Keep freed memory in the process for reuse: for a one-shot report command only.

A report over a data directory decodes a week of samples a block page at a time: every
page allocates and frees temporaries of a few MB (values, byte planes, zigzag and sum
buffers), some 2 GB of them for 100,000 series.  glibc serves allocations of that size
with fresh memory maps (its threshold adapts only up to the last freed size) and gives
freed heap tops back to the kernel, so each page's temporaries are faulted in and zeroed
again (on the benchmark's 2-vCPU VM: 90,000 page faults and 1-1.8 s of kernel time in a
5 s command).  Raising the map threshold to glibc's maximum (32 MB) and never trimming
lets the next page reuse the previous page's memory (53,000 faults); the peak stays the
same, and a short-lived command hands everything back when it exits.  A long-running
server keeps the defaults (it wants freed memory returned).
"""

from __future__ import annotations

import ctypes

M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 32 << 20  # glibc's largest (HEAP_MAX_SIZE / 2 on 64-bit)
TRIM_THRESHOLD = 2**31 - 1  # (an int) never trim the heap top while the command runs
TOP_PAD = 64 << 20  # grow the heap in big steps (address space only: pages fault on use)


def keep_freed_memory() -> bool:
    """Tune glibc's malloc for a short batch command; False where it is not glibc (or
    refused a setting), which changes nothing but the speed."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = True
    for param, value in ((M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD),
                         (M_TOP_PAD, TOP_PAD)):
        ok = bool(mallopt(param, value)) and ok
    return ok
