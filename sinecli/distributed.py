"""Several processes: `sinecli train` under torchrun, with DistributedDataParallel.

torchrun (or `sinecli train --nproc-per-node N`, which starts torch's own launcher) runs one
process per device with RANK, WORLD_SIZE and LOCAL_RANK in its environment; `launched()` reads
them. The training loop (sinecli.train) sees one object, a `Local` for one process, whose
collectives do nothing, or a `Group` under the launcher:

- `wrap(model)`: DistributedDataParallel, which averages the gradients over the ranks in
  `backward()` (so clipping and the optimizer step see the same gradients on every rank).
- `shard(batch)`: this rank's share of the global batch, padded to a multiple of the world
  size with duplicates of weight 0, and the divisor that makes DDP's mean of the ranks' losses
  the mean over the global batch: equal shards, equal steps, no collective waits forever.
- `all_reduce(sums)`: loss, correct-prediction and count sums, so that every rank holds the
  same metrics and takes the same early-stopping and best-weights decisions.
- `gather_rng(state)`: every rank's RNG state, for a checkpoint that resumes bit for bit.
- `check_stop()`: Ctrl-C (SIGINT, which torchrun forwards) only sets a flag; at each step
  boundary the ranks agree on it and all stop there.
- `error(message)`: an error every rank reached the same way; only global rank 0 prints it.

Only global rank 0 writes (the checkpoint, progress, logs, `--json`); a barrier follows each
checkpoint write. gloo carries CPU tensors and nccl CUDA ones, chosen explicitly from
`--device`. `torch.distributed`'s launcher and elastic agent are imported only by `launch`.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import signal
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

import torch
from torch import nn

from sinecli._compat import ddp_buffer_sync_option, is_batch_norm
from sinecli.errors import Interrupted, SinecliError

#: What torchrun puts in each worker's environment.
ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
#: `--dist-timeout`: how long a rank waits for the others (to join, or at a collective).
DEFAULT_TIMEOUT = 300.0
#: The longest error message one rank sends the others (bytes of UTF-8).
_MESSAGE = 2048


def launched(environ: Mapping[str, str] | None = None) -> bool:
    """True in a process that torchrun (or `--nproc-per-node`) started."""
    env = os.environ if environ is None else environ
    return all(key in env for key in ENV)


def rank(environ: Mapping[str, str] | None = None) -> int:
    """This process's global rank: 0 without the launcher."""
    env = os.environ if environ is None else environ
    try:
        return int(env.get("RANK", "0")) if launched(env) else 0
    except ValueError:
        return 0


class Agreed(SinecliError):
    """An error that every rank reached together; ranks other than 0 exit with its code and
    say nothing, since rank 0 prints it."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class PeerLost(SinecliError):
    """Another rank failed, was stopped, or did not answer within `--dist-timeout`: exit 1.
    Rank 0 says so; the others are silent (the rank that failed speaks for itself)."""

    exit_code = 1


def silenced(exc: BaseException) -> int | None:
    """The exit code with which this rank ends quietly on `exc`, or None when it should report
    `exc` itself: always None for global rank 0 and without the launcher."""
    if rank() == 0:
        return None
    if isinstance(exc, Agreed | PeerLost):
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):  # Ctrl-C, SIGTERM, SIGHUP: rank 0 says where it stood
        return 128 + int(getattr(exc, "signum", signal.SIGINT))
    return None


@dataclass(frozen=True)
class Shard:
    """This rank's part of one global batch."""

    index: torch.Tensor  # (s,) rows of the training split
    weight: torch.Tensor | None  # (s,) 1 for a real row, 0 for padding; None: all real
    divisor: float  # the rank's loss is sum(weight * loss) / divisor: DDP's mean is the batch's
    real: int  # real rows in the global batch


class Local:
    """One process: the whole batch, and collectives that return their input."""

    rank = 0
    world_size = 1
    backend: str | None = None
    device: torch.device | None = None  # None: `--device` decides, as without the launcher
    is_writer = True

    def wrap(self, model: nn.Module) -> nn.Module:
        return model

    def shard(self, batch: torch.Tensor) -> Shard:
        return Shard(batch, None, float(len(batch)), len(batch))

    def rows(self, n: int) -> slice:
        """This rank's share of `n` validation rows."""
        return slice(0, n)

    def all_reduce(self, sums: torch.Tensor) -> torch.Tensor:
        return sums

    def all_gather_rows(self, part: torch.Tensor, n: int) -> list[torch.Tensor]:
        """Every rank's `part` (rows, ...), this rank's being every world_size-th of `n`
        rows from its rank; padded parts (ceil(n / world_size) rows) under the launcher."""
        return [part]

    def gather_rng(self, state: dict[str, Any]) -> list[dict[str, Any]]:
        return [state]

    def check_stop(self) -> None:
        pass

    def barrier(self) -> None:
        pass

    def error(self, message: str) -> SinecliError:
        return SinecliError(message)

    @contextlib.contextmanager
    def agreement(self) -> Iterator[None]:
        yield

    @contextlib.contextmanager
    def stop_at_step_boundaries(self) -> Iterator[None]:
        yield  # one process: Ctrl-C raises where it lands (sinecli.cli), as it always has

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return ""


class Group(Local):
    """One of WORLD_SIZE processes started by torchrun, in an initialised process group."""

    def __init__(self, rank: int, world_size: int, local_rank: int, device: torch.device,
                 backend: str, timeout: float) -> None:
        self.rank, self.world_size, self.local_rank = rank, world_size, local_rank
        self.device, self.backend, self.timeout = device, backend, timeout
        self.is_writer = rank == 0
        self._stop = False

    # --- training -------------------------------------------------------------------------

    def wrap(self, model: nn.Module) -> nn.Module:
        from torch.nn.parallel import DistributedDataParallel

        batch_norm = any(is_batch_norm(m) for m in model.modules())
        # device_ids=None: the module is on this rank's device already, and DDP must not move
        # the lengths, which the models read on the CPU. Buffers are broadcast from rank 0 only
        # where they change (batch-norm statistics); the input scaling is the same everywhere.
        sync = ddp_buffer_sync_option()
        # DDP's constructor imports torch._dynamo: about 1.5 s of CPU, once per process
        options: dict[str, Any] = {sync: batch_norm}
        return DistributedDataParallel(model, device_ids=None, **options)

    def shard(self, batch: torch.Tensor) -> Shard:
        b, w = len(batch), self.world_size
        per_rank = -(-b // w)
        pos = torch.arange(self.rank * per_rank, (self.rank + 1) * per_rank,
                           device=batch.device)
        weight = (pos < b).to(torch.float32)
        return Shard(batch[pos % b], weight, b / w, b)

    def rows(self, n: int) -> slice:
        return slice(self.rank, n, self.world_size)

    def all_reduce(self, sums: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        with self._contact():
            dist.all_reduce(sums)
        return sums

    def all_gather_rows(self, part: torch.Tensor, n: int) -> list[torch.Tensor]:
        import torch.distributed as dist

        per_rank = -(-n // self.world_size)
        padded = part.new_zeros(per_rank, *part.shape[1:])
        padded[: len(part)] = part
        out = [torch.empty_like(padded) for _ in range(self.world_size)]
        with self._contact():
            dist.all_gather(out, padded)
        return out

    def gather_rng(self, state: dict[str, Any]) -> list[dict[str, Any]]:
        import torch.distributed as dist

        cuda = state.get("cuda_rng")
        flat = torch.cat([state["torch_rng"], cuda if cuda is not None else
                          torch.empty(0, dtype=torch.uint8)])
        out = [torch.empty_like(flat) for _ in range(self.world_size)]
        with self._contact():
            dist.all_gather(out, flat)
        n = len(state["torch_rng"])
        return [{"torch_rng": t[:n].clone(), "cuda_rng": t[n:].clone() if cuda is not None
                 else None} for t in out]

    def check_stop(self) -> None:
        flag = torch.tensor([1 if self._stop else 0], dtype=torch.int32)
        import torch.distributed as dist

        with self._contact():
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        if flag.item():
            raise Interrupted

    def barrier(self) -> None:
        import torch.distributed as dist

        with self._contact():
            dist.barrier()

    def error(self, message: str) -> SinecliError:
        return SinecliError(message) if self.is_writer else Agreed(message)

    # --- agreement and faults -------------------------------------------------------------

    @contextlib.contextmanager
    def agreement(self) -> Iterator[None]:
        """Run a step (loading, checking) that has no collective of its own; then every rank
        says whether it failed, and if any did, all stop with the first failure's message,
        printed once (by rank 0), and its exit code."""
        try:
            yield
        except SinecliError as exc:
            self._agree(str(exc), exc.exit_code)
            raise
        except Exception as exc:
            self._agree(f"internal error: {type(exc).__name__}: {exc}", 1)
            raise
        self._agree(None, 0)

    def _agree(self, message: str | None, code: int) -> None:
        import torch.distributed as dist

        buf = torch.zeros(2 + _MESSAGE, dtype=torch.uint8)
        if message is not None:
            data = message.encode("utf-8", "replace")[:_MESSAGE]
            buf[0], buf[1] = 1, min(code, 255)
            buf[2 : 2 + len(data)] = torch.frombuffer(bytearray(data), dtype=torch.uint8)
        out = [torch.empty_like(buf) for _ in range(self.world_size)]
        with self._contact():
            dist.all_gather(out, buf)
        failed = [(r, int(t[1]), bytes(t[2:].tolist()).rstrip(b"\0").decode("utf-8", "replace"))
                  for r, t in enumerate(out) if t[0]]
        if not failed:
            return
        first, code, text = failed[0]
        if first != self.rank or not self.is_writer:
            text = text if first == 0 else f"rank {first}: {text}"
            if self.is_writer:
                raise SinecliError(text) if code == 2 else PeerLost(text)
            raise Agreed(text, code)

    @contextlib.contextmanager
    def _contact(self) -> Iterator[None]:
        """A collective that fails because another rank is gone or silent: one clear error."""
        try:
            yield
        except (RuntimeError, ValueError) as exc:  # DistError and its kin are RuntimeErrors
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise PeerLost(f"rank {self.rank}: lost contact with the other processes (one "
                           f"failed or was stopped, or did not answer within --dist-timeout "
                           f"{self.timeout:g} s): {first}") from exc

    @contextlib.contextmanager
    def stop_at_step_boundaries(self) -> Iterator[None]:
        """SIGINT sets a flag that `check_stop` shares at the next step boundary, so every
        rank stops after the same step, none of them waiting in a collective."""
        def flag(signum: int, frame: FrameType | None) -> None:
            self._stop = True

        previous = signal.signal(signal.SIGINT, flag)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def close(self) -> None:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()

    def describe(self) -> str:
        return f"{self.world_size} processes ({self.backend})"


def _device(spec: str, local_rank: int) -> torch.device:
    """`--device` under the launcher: cpu, or cuda:LOCAL_RANK for auto (with CUDA) and cuda."""
    from sinecli import device

    wanted = spec.strip().lower()
    device.resolve(spec)  # the single-process checks: the syntax, CUDA there at all
    if wanted == "cpu" or (wanted == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if ":" in wanted:
        raise SinecliError(f"--device {spec}: under torchrun each process uses "
                           "cuda:LOCAL_RANK; pass --device cuda (or auto, or cpu)")
    count = torch.cuda.device_count()
    if local_rank >= count:
        raise SinecliError(f"--device {spec}: LOCAL_RANK {local_rank} needs cuda:{local_rank}, "
                           f"but this machine has {count} CUDA device(s); start at most "
                           f"{count} processes per node, or pass --device cpu")
    return torch.device(f"cuda:{local_rank}")


def setup(device_spec: str, timeout: float = DEFAULT_TIMEOUT) -> Group:
    """Join the process group that torchrun set up the rendezvous for. A `--device` this rank
    cannot use is an error on every rank, with one message."""
    import torch.distributed as dist

    if not timeout > 0:
        raise SinecliError(f"--dist-timeout must be > 0 seconds, got {timeout:g}")
    try:
        rank_, world, local = (int(os.environ[key]) for key in ENV)
    except ValueError as exc:
        raise SinecliError(f"torchrun's environment: {', '.join(ENV)} must be integers "
                           f"({exc})") from None
    problem: SinecliError | None = None
    try:
        dev = _device(device_spec, local)
    except SinecliError as exc:
        problem, dev = exc, torch.device("cpu")
    cuda = dev.type == "cuda" or (problem is not None and device_spec.strip().lower() != "cpu"
                                  and torch.cuda.is_available())
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    # CUDA: nccl carries the gradients and metrics, gloo the small CPU messages (agreement,
    # Ctrl-C, RNG states). CPU: gloo alone.
    backend = "cpu:gloo,cuda:nccl" if cuda else "gloo"
    try:
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout))
    except (RuntimeError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise PeerLost(f"rank {rank_}: the other processes did not join within "
                       f"--dist-timeout {timeout:g} s: {first}") from exc
    group = Group(rank_, world, local, dev, "nccl" if cuda else "gloo", timeout)
    try:
        with group.agreement():
            if problem is not None:
                raise problem
    except BaseException:
        group.close()
        raise
    return group


def launch(nproc: int, args: Sequence[str], timeout: float = DEFAULT_TIMEOUT) -> int:
    """`sinecli train --nproc-per-node N`: torch's own launcher (what `torchrun --standalone`
    runs) starts N processes of `python -m sinecli ARGS` on this machine. Returns the exit
    code to end with: 0, or the first failed rank's own (2, 130, ...), not torchrun's 1."""
    import logging
    import uuid

    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    if nproc < 1:
        raise SinecliError(f"--nproc-per-node must be >= 1, got {nproc}")
    if launched():
        raise SinecliError("--nproc-per-node: this process already runs under torchrun")
    # the workers print their own errors; the launcher's log lines would repeat them
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("torch.distributed.elastic"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    if "OMP_NUM_THREADS" not in os.environ:  # as torchrun does, without its warning
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // nproc))
    config = LaunchConfig(
        min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=f"sinecli-{uuid.uuid4()}",
        rdzv_backend="c10d", rdzv_endpoint="localhost:0", rdzv_configs={"join_timeout": timeout},
        max_restarts=0, monitor_interval=0.1,
    )
    try:
        elastic_launch(config, sys.executable)("-m", "sinecli", *args)
    except ChildFailedError as exc:
        _, failure = exc.get_first_failure()
        code = failure.exitcode
        return 128 - code if code < 0 else (code or 1)
    except SignalException as exc:
        return 128 + int(exc.sigval)
    return 0
