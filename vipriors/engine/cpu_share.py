"""Whether other processes leave a CPU training the cores its torch threads expect.

torch's CPU kernels run their OpenMP threads in lock step: each parallel region ends when its
slowest thread does. When another process holds one of the cores, the thread scheduled there
waits for it, and so does every other thread at every barrier: a training with two threads on
two cores, one of them taken, can run many times slower than the same training on one thread.
The trainer measures how busy this process's cores are before it starts and warns when fewer
are free than it has threads, naming the fix (OMP_NUM_THREADS, or the recipe runner's --jobs).
"""
from __future__ import annotations

import os
import time

STAT = "/proc/stat"


def _core_times(path: str, cores: set[int]) -> tuple[int, int] | None:
    """(busy, total) jiffies summed over ``cores`` from a /proc/stat file; None where it has
    none of them (another OS, or a container that hides the per-core lines)."""
    busy = total = 0
    found = False
    with open(path, encoding="ascii") as f:
        for line in f:
            name, *fields = line.split()
            if not (name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cores):
                continue
            # user nice system idle iowait irq softirq steal: idle and iowait are the free time
            times = [int(v) for v in fields[:8]]
            total += sum(times)
            busy += sum(times) - times[3] - (times[4] if len(times) > 4 else 0)
            found = True
    return (busy, total) if found else None


def this_process_cores() -> set[int]:
    """The cores this process may run on (its affinity set where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return set(os.sched_getaffinity(0))
    return set(range(os.cpu_count() or 1))


def busy_cores(seconds: float = 0.25, cores: set[int] | None = None, path: str = STAT) -> float | None:
    """How many of ``cores`` (default: the ones this process may run on) other work kept busy
    over the next ``seconds``, as a number of cores; None where /proc/stat cannot tell."""
    cores = this_process_cores() if cores is None else cores
    try:
        before = _core_times(path, cores)
        time.sleep(seconds)
        after = _core_times(path, cores)
    except (OSError, ValueError):
        return None
    if before is None or after is None or after[1] <= before[1]:
        return None
    return len(cores) * (after[0] - before[0]) / (after[1] - before[1])


def crowding_warning(threads: int, cores: int, busy: float | None) -> str | None:
    """The warning for ``threads`` torch threads on ``cores`` cores of which ``busy`` are taken,
    or None when the free cores cover the threads (or nothing was measured)."""
    if busy is None or threads <= 1:
        return None
    free = max(0, int(cores - busy + 0.5))
    if threads <= free:
        return None
    return (f"other processes keep {busy:.1f} of this machine's {cores} cores busy, and this training runs "
            f"{threads} torch threads: each step waits for the threads that share a core and can run many "
            f"times slower. Give it the free cores (OMP_NUM_THREADS={max(1, free)}), stop the other work, or "
            f"run side-by-side trainings through scripts/recipe.py --jobs N, which splits the cores")


def check(threads: int, seconds: float = 0.25) -> str | None:
    """Measures this process's cores for ``seconds`` (skipped for one thread, which cannot wait
    on another) and returns crowding_warning's message."""
    if threads <= 1:
        return None
    cores = this_process_cores()
    return crowding_warning(threads, len(cores), busy_cores(seconds, cores))
