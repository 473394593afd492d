"""What else the machine did while a scenario ran: CPU seconds of other processes and stolen by
the hypervisor.

Two runs of the same full export on this 2-vCPU VM took 20.6 s and 35 s on different days (same
code, one hour apart: 20.6 s and 29.9 s while another agent installed packages). A wall time
means little without the work it competed with, so each scenario records it: the machine's busy
CPU (``/proc/stat``) over the scenario, less dotsync's own and the emulator's."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuSnapshot:
    busy_s: float  # every CPU's non-idle time since boot (user, nice, system, irq, softirq)
    steal_s: float  # time the hypervisor gave the VM's CPUs to someone else
    emulator_s: float  # the emulator process's own CPU time (user + system)

    @classmethod
    def take(cls, emulator_pid: int | None) -> CpuSnapshot:
        fields = Path("/proc/stat").read_text(encoding="ascii").splitlines()[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
        return cls(
            busy_s=(user + nice + system + irq + softirq) / _TICK,
            steal_s=steal / _TICK,
            emulator_s=_process_cpu(emulator_pid) if emulator_pid else 0.0,
        )


def _process_cpu(pid: int) -> float:
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return 0.0
    after_name = text.rsplit(")", 1)[1].split()
    return (int(after_name[11]) + int(after_name[12])) / _TICK  # utime, stime


def competing_load(
    before: CpuSnapshot, after: CpuSnapshot, *, dotsync_cpu_s: float, wall_s: float
) -> dict[str, float]:
    """CPU seconds over the scenario: the emulator's, other processes' (the machine's busy time
    less dotsync and the emulator; the benchmark's own polling is in it, a few ms) and stolen;
    ``other_share`` is the other processes' seconds per wall second (0.5: half a CPU busy with
    something else, on average)."""
    emulator = after.emulator_s - before.emulator_s
    other = max(0.0, after.busy_s - before.busy_s - emulator - dotsync_cpu_s)
    return {
        "emulator_cpu_s": round(emulator, 2),
        "other_cpu_s": round(other, 2),
        "steal_s": round(after.steal_s - before.steal_s, 2),
        "other_share": round(other / wall_s, 3) if wall_s > 0 else 0.0,
    }
