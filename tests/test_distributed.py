"""`sinecli train` under torchrun: 2 CPU processes (gloo), DistributedDataParallel, one writer.

Real launches (`python -m torch.distributed.run --standalone`, which picks a free port, so
tests never collide on one), each in a subprocess with a timeout:

- 2 ranks exit 0 and write one checkpoint; progress and `--json` appear once; the checkpoint
  is an ordinary one (`evaluate` needs no launcher) and records the world size and backend.
- Equivalence: with the same seed and global batch, 2 ranks and 1 process take the same steps,
  so their weights agree to float tolerance (ATOL/RTOL below): gradient averaging over equal
  shards is the mean over the batch; only the order of the float sums differs.
- SIGINT to the launcher (which forwards it): every rank stops at a step boundary, the last
  checkpoint loads and resumes under torchrun, bit for bit to the uninterrupted 2-rank run.
- A rank that raises: torchrun exits non-zero, the previous checkpoint intact, no temp file.

Plus, in process: the shard arithmetic, the quiet ranks, and that one process imports none of
torch's launcher.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers.cli import assert_exit, invoke
from typer.testing import CliRunner

from sinecli import checkpoint, dataset, distributed
from sinecli.errors import Interrupted, SinecliError
from sinecli.generate import make_dataset
from sinecli.models import ModelConfig
from sinecli.schema.generate import GenerateSpec
from sinecli.schema.train import TrainConfig
from sinecli.train import fit

pytestmark = [pytest.mark.usefixtures("torch_globals"),
              pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]

EPOCHS = 10
#: ~0.1 s an epoch in 2 processes on 2 cores: after the first checkpoint there is ample time
#: for the SIGINT to land mid-run.
TRAIN = ["--model", "gru",
         "--hidden", "12", "--epochs", str(EPOCHS), "--batch-size", "16", "--checkpoint-every",
         "1", "--seed", "3", "--device", "cpu"]
#: 2 ranks against 1 process: the same steps, sums in another order. Measured differences
#: are ~1e-6 after 10 epochs (330 Adam steps); the bound leaves room for other BLAS builds.
ATOL, RTOL = 1e-4, 1e-4
LAUNCH_TIMEOUT = 120


def torchrun(*args: Any, cwd: Path, script: Path | None = None, nproc: int = 2
             ) -> subprocess.Popen[str]:
    env = {**os.environ, "CI": "true", "OMP_NUM_THREADS": "1"}
    env.pop("SINECLI_DEBUG", None)
    target = [str(script)] if script else ["-m", "sinecli"]
    return subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--standalone",
         f"--nproc_per_node={nproc}", *target, *map(str, args)],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=LAUNCH_TIMEOUT)
    finally:
        proc.kill()
    return proc.returncode, out, err


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def sinecli_lines(err: str) -> list[str]:
    """stderr's lines from sinecli itself (not torchrun's log lines and failure report)."""
    return [line for line in err.splitlines() if line.startswith(("sinecli:", "epoch ",
                                                                   "training ", "wrote "))]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("distributed")
    dataset.save(path / "data.npz",
                 make_dataset(GenerateSpec(samples_per_class=120, points=30, seed=5)))
    return path


@pytest.fixture(scope="module")
def two_ranks(folder: Path) -> tuple[int, str, str, float]:
    """One uninterrupted 2-rank run, shared by the tests below: exit code, stdout, stderr, s."""
    t0 = time.monotonic()
    code, out, err = finish(torchrun("train", "data.npz", "-o", "two.pt", *TRAIN, "--json",
                                     cwd=folder))
    return code, out, err, time.monotonic() - t0


def load_raw(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)


# --- real launches ------------------------------------------------------------------------------


def test_two_ranks_write_one_checkpoint_and_report_once(
    two_ranks: tuple[int, str, str, float], folder: Path, runner: CliRunner
) -> None:
    code, out, err, seconds = two_ranks
    assert code == 0, err
    assert seconds < LAUNCH_TIMEOUT
    assert "Traceback" not in err
    summary = json.loads(out)  # one JSON document on stdout: rank 0's alone
    assert summary["world_size"] == 2 and summary["backend"] == "gloo"
    assert summary["epochs_run"] == EPOCHS
    lines = sinecli_lines(err)
    assert sum(line.startswith("training gru") for line in lines) == 1, err
    assert "2 processes (gloo)" in lines[0]
    assert sum(line.startswith(f"epoch {EPOCHS}/{EPOCHS}") for line in lines) == 1, err
    assert sum(line.startswith("wrote two.pt") for line in lines) == 1, err
    assert not any(line.startswith("sinecli:") for line in lines), err
    assert temp_files(folder) == []
    payload = checkpoint.load(folder / "two.pt").payload
    assert payload["world_size"] == 2 and payload["backend"] == "gloo"
    assert payload["finished"] and payload["epoch"] == EPOCHS
    assert len(payload["resume"]["ranks"]) == 2  # every rank's RNG state
    # an ordinary checkpoint: evaluate runs in this one process, without a launcher
    result = invoke(runner, "evaluate", folder / "two.pt", folder / "data.npz", "--json",
                    "--device", "cpu")
    assert_exit(result, 0)
    assert json.loads(result.stdout)["accuracy"] >= 0.9


def test_two_ranks_take_the_steps_of_one_process(
    two_ranks: tuple[int, str, str, float], folder: Path
) -> None:
    """Same seed, same global batch (16 = 2 x 8): the same steps, weights equal to ATOL/RTOL,
    and so the same accuracy."""
    assert two_ranks[0] == 0, two_ranks[2]
    two = load_raw(folder / "two.pt")
    ds = dataset.load(folder / "data.npz")
    one = fit(ds, ModelConfig(hidden=12), TrainConfig(epochs=EPOCHS, batch_size=16, seed=3,
                                                      checkpoint_every=1), torch.device("cpu"))
    for name in ("state_dict",):
        a, b = one[name], two[name]
        assert a.keys() == b.keys()
        for key in a:
            torch.testing.assert_close(b[key], a[key], atol=ATOL, rtol=RTOL, msg=key)
    a_state, b_state = one["resume"]["model_state"], two["resume"]["model_state"]
    for key in a_state:
        torch.testing.assert_close(b_state[key], a_state[key], atol=ATOL, rtol=RTOL, msg=key)
    for key in ("train_loss", "val_loss"):
        assert two["history"][key] == pytest.approx(one["history"][key], rel=1e-4)
    assert two["history"]["val_accuracy"] == one["history"]["val_accuracy"]
    assert two["best_epoch"] == one["best_epoch"]


def test_sigint_to_the_launcher_leaves_a_checkpoint_that_resumes_bit_for_bit(
    two_ranks: tuple[int, str, str, float], folder: Path, tmp_path: Path
) -> None:
    assert two_ranks[0] == 0, two_ranks[2]
    (tmp_path / "data.npz").symlink_to(folder / "data.npz")
    model = tmp_path / "model.pt"
    proc = torchrun("train", "data.npz", "-o", "model.pt", *TRAIN, cwd=tmp_path)
    try:
        deadline = time.monotonic() + LAUNCH_TIMEOUT
        while not model.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGINT)  # to torchrun alone, which forwards it to the ranks
        code, out, err = finish(proc)
    finally:
        proc.kill()
    lines = sinecli_lines(err)
    assert code != 0, err  # torchrun reports 1 for its interrupted workers
    assert out == ""
    interrupted = [line for line in lines if line.startswith("sinecli: interrupted")]
    assert len(interrupted) == 1 and "--resume model.pt" in interrupted[0], err
    assert temp_files(tmp_path) == []
    saved = checkpoint.load(model)
    stopped_at = saved.payload["epoch"]
    assert 1 <= stopped_at < EPOCHS and saved.payload["finished"] is False
    saved.resume_state()

    code, out, err = finish(torchrun("train", "data.npz", "-o", "model.pt", "--resume",
                                     "model.pt", *TRAIN, cwd=tmp_path))
    assert code == 0, err
    assert f"resuming after epoch {stopped_at}" in err
    a, b = load_raw(model), load_raw(folder / "two.pt")
    assert a["epoch"] == b["epoch"] == EPOCHS
    for name in ("state_dict", "model_state"):
        x = a[name] if name == "state_dict" else a["resume"][name]
        y = b[name] if name == "state_dict" else b["resume"][name]
        assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x), name
    for key in ("train_loss", "val_loss", "val_accuracy"):
        assert a["history"][key] == b["history"][key], key
    assert temp_files(tmp_path) == []


#: Runs sinecli with one rank patched to fail at the start of epoch 3 (after the checkpoint
#: of epoch 2): torchrun runs this file as each rank's program.
FAILING_RANK = """\
import os, sys
import sinecli.train as train
real = train._train_epoch
def epoch(state, *args, **kwargs):
    if os.environ["RANK"] == "1" and state.epoch == 2:
        raise RuntimeError("rank 1 fails on purpose")
    return real(state, *args, **kwargs)
train._train_epoch = epoch
sys.argv = ["sinecli", *sys.argv[1:]]
from sinecli.cli import main
main()
"""


def test_a_rank_that_raises_stops_the_others_and_leaves_the_last_checkpoint(
    folder: Path, tmp_path: Path
) -> None:
    script = tmp_path / "failing_rank.py"
    script.write_text(FAILING_RANK)
    (tmp_path / "data.npz").symlink_to(folder / "data.npz")
    code, out, err = finish(torchrun("train", "data.npz", "-o", "model.pt", *TRAIN,
                                     cwd=tmp_path, script=script))
    assert code != 0, err
    assert out == ""
    assert "sinecli: internal error: RuntimeError: rank 1 fails on purpose" in err
    assert temp_files(tmp_path) == []
    saved = checkpoint.load(tmp_path / "model.pt")
    assert saved.payload["epoch"] == 2 and saved.payload["finished"] is False
    saved.resume_state()


# --- in process ---------------------------------------------------------------------------------


class _Rank(distributed.Group):
    """A Group's arithmetic without a process group."""

    def __init__(self, rank: int, world_size: int) -> None:
        super().__init__(rank, world_size, rank, torch.device("cpu"), "gloo", 1.0)


@pytest.mark.parametrize("b", [1, 5, 16])
@pytest.mark.parametrize("world", [2, 3])
def test_shards_are_equal_and_weight_the_padding_zero(b: int, world: int) -> None:
    batch = torch.arange(100, 100 + b)
    shards = [_Rank(r, world).shard(batch) for r in range(world)]
    assert len({len(s.index) for s in shards}) == 1  # equal shards: no collective waits
    real = torch.cat([s.index[s.weight.bool()] for s in shards if s.weight is not None])
    assert sorted(real.tolist()) == batch.tolist()  # every real row once, padding weighted 0
    # DDP averages the ranks' losses: sum over ranks of (weighted sum / divisor) / world
    losses = torch.rand(b)
    per_rank = [(losses[s.index - 100] * s.weight).sum() / s.divisor for s in shards
                if s.weight is not None]
    assert float(sum(per_rank)) / world == pytest.approx(float(losses.mean()))


def test_validation_shares_cover_the_split_once() -> None:
    rows = [list(range(7))[_Rank(r, 3).rows(7)] for r in range(3)]
    assert sorted(sum(rows, [])) == list(range(7))


def test_ranks_above_zero_are_quiet_about_shared_errors(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    for key, value in (("RANK", "1"), ("WORLD_SIZE", "2"), ("LOCAL_RANK", "1")):
        monkeypatch.setenv(key, value)
    assert distributed.silenced(distributed.Agreed("same everywhere")) == 2
    assert distributed.silenced(distributed.PeerLost("rank 0 is gone")) == 1
    assert distributed.silenced(Interrupted()) == 130
    assert distributed.silenced(SinecliError("only mine")) is None  # its own failure: speaks
    assert distributed.silenced(RuntimeError("a bug")) is None
    monkeypatch.setenv("RANK", "0")
    assert distributed.silenced(distributed.Agreed("x")) is None  # rank 0 always speaks


def test_one_process_imports_no_launcher(tmp_path: Path) -> None:
    """Without torchrun nothing changes: no process group, no launcher or elastic agent."""
    data = tmp_path / "data.npz"
    dataset.save(data, make_dataset(GenerateSpec(samples_per_class=6, points=12, seed=1)))
    probe = (
        "import sys, torch.distributed as dist\n"
        "from sinecli.cli import main\n"
        "sys.argv = ['sinecli', 'train', sys.argv[1], '-o', sys.argv[2], '--model', 'gru',"
        " '--hidden', '4',"
        " '--epochs', '1', '--device', 'cpu', '-q']\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "heavy = [m for m in sys.modules if m.startswith(('torch.distributed.elastic',"
        " 'torch.distributed.launcher', 'torch.distributed.run'))]\n"
        "print(heavy, dist.is_initialized())\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in distributed.ENV}
    done = subprocess.run([sys.executable, "-c", probe, str(data), str(tmp_path / "m.pt")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[] False"
    assert load_raw(tmp_path / "m.pt")["world_size"] == 1


def test_nproc_per_node_hands_the_command_line_to_the_launcher(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Any] = []

    def launch(nproc: int, args: list[str], timeout: float) -> int:
        seen.append((nproc, args, timeout))
        return 0

    monkeypatch.setattr(distributed, "launch", launch)
    result = invoke(runner, "train", "d.npz", "-o", tmp_path / "m.pt", "--nproc-per-node", "2",
                    "--model", "gru",
                    "--hidden", "4", "--unidirectional", "--json", "--dist-timeout", "9")
    assert_exit(result, 0)
    assert seen == [(2, ["train", "d.npz", "--model", "gru",
                                           "--hidden", "4", "--unidirectional", "--dist-timeout",
                         "9.0", "--output", str(tmp_path / "m.pt"), "--json"], 9.0)]


#: The default model on 5,100 sequences: the streamed head (above the default exact_limit;
#: 16 minibatches an epoch) or, with a higher limit, the exact one.
ROCKET = ["--seed", "2", "--device", "cpu", "-c", "rocket.toml"]
ROCKET_TOML = "[model]\nnum_features = 336\nhead_epochs = 3\n"


@pytest.mark.parametrize("exact", [False, True], ids=["streamed", "exact"])
def test_two_ranks_fit_the_default_model_as_one_process_does(tmp_path: Path, exact: bool
                                                            ) -> None:
    """Each rank transforms its share; the exact head gathers the features (the same bits:
    the same predictions), the streamed one all-reduces its gradient sums before each step
    (sums in another order: within ATOL/RTOL after 3 epochs)."""
    from sinecli.models.rocket import RocketConfig

    dataset.save(tmp_path / "data.npz",
                 make_dataset(GenerateSpec(samples_per_class=1700, points=30, seed=5)))
    limit = 8000 if exact else 4096
    (tmp_path / "rocket.toml").write_text(ROCKET_TOML + f"exact_limit = {limit}\n")
    code, out, err = finish(torchrun("train", "data.npz", "-o", "two.pt", *ROCKET, "--json",
                                     cwd=tmp_path))
    assert code == 0, err
    summary = json.loads(out)
    assert summary["world_size"] == 2 and summary["backend"] == "gloo"
    assert sum(line.startswith("wrote two.pt") for line in sinecli_lines(err)) == 1, err
    two = load_raw(tmp_path / "two.pt")
    assert two["fit_report"]["streamed"] == (0 if exact else 1)
    ds = dataset.load(tmp_path / "data.npz")
    cfg = RocketConfig(num_features=336, exact_limit=limit, head_epochs=3)
    one = fit(ds, cfg, TrainConfig(seed=2), torch.device("cpu"))
    a, b = one["state_dict"], two["state_dict"]
    assert a.keys() == b.keys()
    for key in a:
        if exact or not key.startswith("head."):
            assert torch.equal(b[key], a[key]), key
        else:
            torch.testing.assert_close(b[key], a[key], atol=ATOL, rtol=RTOL, msg=key)


def test_a_damaged_rank_rng_state_is_refused_before_resuming(tmp_path: Path) -> None:
    ds = make_dataset(GenerateSpec(samples_per_class=6, points=12, seed=1))
    payload = fit(ds, ModelConfig(hidden=4), TrainConfig(epochs=1, val_fraction=0),
                  torch.device("cpu"))
    rng = payload["resume"]["torch_rng"]
    for ranks, fragment in (([{"torch_rng": rng}], "one RNG state per rank"),
                            ([{"torch_rng": rng}, {"torch_rng": rng[:7]}], "damaged RNG")):
        path = tmp_path / "m.pt"
        checkpoint.save(path, {**payload, "world_size": 2,
                               "resume": {**payload["resume"], "ranks": ranks}})
        with pytest.raises(SinecliError, match=fragment):
            checkpoint.load(path).resume_state()
