"""Handing freed heap memory back to the OS (glibc's ``malloc_trim``), for the embedded store
and the agent's store alike; a module of its own so that the agent, which keeps no head,
does not load the head's modules (and zstandard) for it."""

from __future__ import annotations

import ctypes
from collections.abc import Callable


def _malloc_trim() -> Callable[[], None]:
    try:
        libc = ctypes.CDLL("libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to do
        return lambda: None

    def release() -> None:
        trim(0)

    return release


release_free_memory = _malloc_trim()
"""Give freed heap memory back to the OS.

Compressing a window (or a burst of scrapes' temporaries) allocates and frees many
medium-sized objects; glibc keeps that memory in its heap, where it would count as resident
forever.
"""
