"""What a program may use (:class:`Limits`) and what became of it (:class:`Verdict`)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

SANDBOX_UID = 65534  # "nobody": used when the parent runs as root
SANDBOX_GID = 65534


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0  # wall clock
    cpu_s: float | None = None  # RLIMIT_CPU, default = ceil(timeout_s)+1
    memory_mb: int = 1024  # RLIMIT_AS
    file_size_mb: int = 16  # RLIMIT_FSIZE
    max_processes: int = 64  # RLIMIT_NPROC (only meaningful for a non-root uid, see the package doc)
    max_open_files: int = 128  # RLIMIT_NOFILE: also bounds the kernel memory pipes can pin
    output_bytes: int = 64_000  # stdout/stderr kept (truncated beyond, with a marker)
    network: bool = False
    reuse_interpreter: bool = True  # fork programs from a per-worker zygote; False: a fresh interpreter each

    def effective_cpu_s(self) -> int:
        if self.cpu_s is not None:
            return max(1, math.ceil(self.cpu_s))
        return math.ceil(self.timeout_s) + 1

    def rlimits(self) -> list[tuple[str, int, int]]:
        """``(resource name, soft, hard)`` for the program process."""
        cpu = self.effective_cpu_s()
        mb = 1024 * 1024
        return [
            ("RLIMIT_CORE", 0, 0),
            ("RLIMIT_CPU", cpu, cpu + 1),  # SIGXCPU at the soft limit, SIGKILL a second later
            ("RLIMIT_AS", int(self.memory_mb) * mb, int(self.memory_mb) * mb),
            ("RLIMIT_FSIZE", int(self.file_size_mb) * mb, int(self.file_size_mb) * mb),
            ("RLIMIT_NPROC", int(self.max_processes), int(self.max_processes)),
            ("RLIMIT_NOFILE", int(self.max_open_files), int(self.max_open_files)),
        ]


@dataclass(frozen=True)
class Verdict:
    status: str  # "passed" | "failed" | "timeout" | "memory" | "crashed"
    reason: str
    returncode: int | None
    stdout: str
    stderr: str
    elapsed_s: float

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
