"""Messages between the coordinator (bench.loadgen) and generator workers (bench.worker).

They cross a multiprocessing Pipe, so they are plain picklable dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ConnSpec:
    conn_id: int
    token: str
    #: Index into Setup.node_urls: which server node this client talks to.
    node: int
    rooms: tuple[str, ...]
    sender: bool
    #: Local address to bind (127.x.y.z) when one source IP runs out of ports.
    source_ip: str | None = None


@dataclass(frozen=True, slots=True)
class Setup:
    wire: str
    node_urls: list[str]
    conns: list[ConnSpec]
    connect_concurrency: int = 64
    handshake_timeout: float = 15.0
    #: Add these clients to the ones already set up instead of replacing them.
    append: bool = False
    #: Makes nonces unique across scenarios and runs: chatd stores one message per
    #: (user, nonce), and users are reused from the pool.
    nonce_prefix: str = ""


@dataclass(frozen=True, slots=True)
class Connect:
    """Open and authenticate every client not yet open."""


@dataclass(frozen=True, slots=True)
class Join:
    """Send `join` for every room of every open client."""


@dataclass(frozen=True, slots=True)
class WarmSend:
    """Send one warm-up message per (conn id, room) pair owned by this worker."""

    pairs: list[tuple[int, str]]


@dataclass(frozen=True, slots=True)
class WarmStatus:
    """How many clients per room have seen a warm-up message from someone else."""


@dataclass(frozen=True, slots=True)
class PhaseStart:
    phase: str
    #: This worker's share of the offered load, messages per second.
    rate: float
    t0_ns: int
    duration_s: float
    message_bytes: int


@dataclass(frozen=True, slots=True)
class PhaseProgress:
    """Counts so far in the current phase (the coordinator polls these while draining)."""


@dataclass(frozen=True, slots=True)
class PhaseCollect:
    """End the phase and return its full report."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Open clients and the highest acked / contiguous seq per room."""


@dataclass(frozen=True, slots=True)
class ArmReconnect:
    """From now on a closed client reconnects (with jittered backoff), rejoins and resumes."""

    backoff_min_s: float = 0.1
    backoff_max_s: float = 2.0


@dataclass(frozen=True, slots=True)
class KillAcks:
    """Per room, the highest seq acked before this worker saw the first socket close
    after ArmReconnect: what every member must end up holding."""


@dataclass(frozen=True, slots=True)
class StormStatus:
    """Reconnect progress; with targets, when each client held every seq up to them."""

    targets: dict[str, int] | None = None


@dataclass(frozen=True, slots=True)
class Close:
    pass


# -- replies ---------------------------------------------------------------------------


@dataclass(slots=True)
class ConnectReport:
    opened: int
    failed: int
    errors: dict[str, int]
    seconds: float


@dataclass(slots=True)
class SendReport:
    sent_by_room: dict[str, int]
    send_failed: int
    send_start_ns: int
    send_end_ns: int


@dataclass(slots=True)
class Progress:
    received: int
    acked: int
    rejected_by_room: dict[str, int]
    pending_acks: int
    last_recv_ns: int
    #: Clients still reconnecting (reconnect storm): what they miss now is replayed
    #: once they are back, so a drain must not stop for silence while they are away.
    away: int = 0


@dataclass(slots=True)
class PhaseReport:
    phase: str
    sent_by_room: dict[str, int]
    rejected_by_room: dict[str, int]
    send_failed: int
    acked: int
    received: int
    duplicates: int
    foreign: int
    late: int
    errors: dict[str, int]
    latency: tuple[bytes, int]
    latency_sched: tuple[bytes, int]
    ack_latency: tuple[bytes, int]
    send_lag: tuple[bytes, int]
    first_recv_ns: int
    last_recv_ns: int
    send_start_ns: int
    send_end_ns: int
    cpu_s: float
    wall_s: float
    closed: int
    seq_gaps: int


@dataclass(slots=True)
class SnapshotReport:
    open: int
    max_acked: dict[str, int]
    max_contig: dict[str, int]


@dataclass(slots=True)
class StormReport:
    clients: int
    reconnected: int
    caught_up: int
    last_ready_ns: int
    last_caught_ns: int
    #: Seqs at or below the target that caught-up-pending clients still lack.
    missing: int
    reconnect_attempts: int
    errors: dict[str, int] = field(default_factory=dict)
    #: Per reconnected client: when it was back, and when its successful attempt began.
    ready_ns: list[int] = field(default_factory=list)
    attempt_ns: list[int] = field(default_factory=list)
