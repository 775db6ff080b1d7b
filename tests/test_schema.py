"""sinecli.schema: the one home of every saved or configured shape (docs/cli.md, "Config
keys"). Its bounds and choices are enforced by one check, its errors name the field, it
imports no torch, and a checkpoint written before it existed reads back the same."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import assert_exit, invoke
from typer.testing import CliRunner

from sinecli.errors import SinecliError
from sinecli.schema.checkpoint import CheckpointPayload
from sinecli.schema.fields import Bounds, FieldError, check, defaults
from sinecli.schema.generate import GenerateSpec
from sinecli.schema.history import KEYS, History
from sinecli.schema.train import TrainConfig, validate

DATA = Path(__file__).parent / "data"


def _step(edge: float) -> float:
    """A step past `edge` that float64 still resolves (1e8 + 1e-9 is 1e8)."""
    return max(1e-9, abs(edge) * 1e-12)


def _out_of_bounds(bounds: Bounds) -> list[float]:
    """Values just outside `bounds` on each side it has (the edge itself when it is open)."""
    values = []
    if bounds.low is not None:
        values.append(bounds.low if bounds.low_open else bounds.low - _step(bounds.low))
    if bounds.high is not None:
        values.append(bounds.high if bounds.high_open else bounds.high + _step(bounds.high))
    return values


def _inside(bounds: Bounds) -> list[float]:
    values = []
    if bounds.low is not None:
        values.append(bounds.low + _step(bounds.low) if bounds.low_open else bounds.low)
    if bounds.high is not None:
        values.append(bounds.high - _step(bounds.high) if bounds.high_open else bounds.high)
    return values


@pytest.mark.parametrize("cls", [TrainConfig, GenerateSpec])
def test_each_bound_is_enforced_at_its_edge_and_names_its_field(cls: type) -> None:
    """For every bounded field: the edge values it allows pass, the ones just past fail with
    a FieldError naming that field (a one-character change to a bound fails here)."""
    bounded = [f for f in dataclasses.fields(cls) if f.metadata.get("bounds")]
    assert bounded
    for f in bounded:
        bounds = f.metadata["bounds"]
        for value in _inside(bounds):
            check(cls(**{f.name: value}), "here")
        for value in _out_of_bounds(bounds):
            with pytest.raises(FieldError) as caught:
                check(cls(**{f.name: value}), "here")
            assert (caught.value.where, caught.value.field) == ("here", f.name)
            assert str(caught.value) == f"here: {f.name} {bounds.describe()}, got {value}"


def test_bounds_describe_the_ranges_the_messages_have_always_given() -> None:
    fields = {f.name: f.metadata["bounds"] for f in dataclasses.fields(TrainConfig)
              if f.metadata.get("bounds")}
    assert fields["val_fraction"].describe() == "must be in [0, 1)"
    assert fields["lr"].describe() == "must be > 0"
    assert fields["epochs"].describe() == "must be >= 1"
    assert fields["steps"].describe() == "must be in [0, 1e8]"
    assert fields["ensemble"].describe() == "must be in [1, 64]"


def test_choices_and_the_checks_that_join_two_fields() -> None:
    with pytest.raises(FieldError, match=r"^train: optimizer must be adam or sgd, got 'rmsprop'"):
        validate(TrainConfig(optimizer="rmsprop"), "train")
    with pytest.raises(FieldError, match="patience needs a validation split") as caught:
        validate(TrainConfig(patience=2, val_fraction=0.0), "train")
    assert caught.value.field == "patience"
    validate(TrainConfig(patience=2), "train")  # with the default split it is fine


def test_a_flag_s_error_names_the_flag_and_a_file_s_names_the_key(tmp_path: Path) -> None:
    """The CLI reads FieldError.field: no rewriting of messages."""
    runner = CliRunner()
    flag = invoke(runner, "train", "--print-config", "--val-fraction", "1.5")
    assert_exit(flag, 2)
    assert flag.stderr.strip() == \
        "sinecli: error: --val-fraction must be in [0, 1), got 1.5"
    cfg = tmp_path / "c.toml"
    cfg.write_text("[train]\nval_fraction = 1.5\n")
    from_file = invoke(runner, "train", "--print-config", "-c", cfg)
    assert_exit(from_file, 2)
    assert from_file.stderr.strip() == \
        f"sinecli: error: config {cfg} [train]: val_fraction must be in [0, 1), got 1.5"
    typed_badly = invoke(runner, "generate", "-o", tmp_path / "d.npz", "--noise-std", "nan")
    assert_exit(typed_badly, 2)
    assert typed_badly.stderr.strip() == "sinecli: error: --noise-std: must be finite, got nan"


def test_the_schema_imports_neither_torch_nor_numpy() -> None:
    code = ("import sys; import sinecli.schema.checkpoint, sinecli.schema.train, "
            "sinecli.schema.generate, sinecli.schema.history, sinecli.schema.models, "
            "sinecli.schema.runtime; "
            "print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_defaults_are_the_dataclass_s() -> None:
    assert defaults(TrainConfig) == TrainConfig().to_dict()
    spec = GenerateSpec().to_dict()
    assert {k: v for k, v in defaults(GenerateSpec).items() if k != "classes"} == \
        {k: v for k, v in spec.items() if k != "classes"}


def _payload() -> dict[str, Any]:
    history = {"epoch": [1, 2], "train_loss": [0.9, 0.5], "val_loss": [0.8, 0.6],
               "val_accuracy": [0.5, 0.75], "seconds": [0.1, 0.2], "step": [], "step_loss": []}
    return {"model_config": {"kind": "gru"}, "state_dict": {}, "class_names": ["a", "b"],
            "train_config": TrainConfig().to_dict(), "history": history, "seed": 0,
            "epoch": 2, "best_epoch": 1, "channel_names": None, "dataset": "d.npz"}


def test_payload_round_trips_and_reads_the_best_epoch() -> None:
    raw = _payload()
    meta = CheckpointPayload.from_dict(raw, "here")
    assert meta.to_dict() == raw
    assert CheckpointPayload.from_dict(meta.to_dict(), "here") == meta
    assert (meta.at_best("val_loss"), meta.at_best("val_accuracy")) == (0.8, 0.5)
    assert meta.train_seconds() == pytest.approx(0.1 + 0.2)
    assert meta.get("dataset") == "d.npz"


@pytest.mark.parametrize("change, message", [
    ({"epoch": 3}, "history: missing or invalid 'epoch'"),  # one entry per epoch run
    ({"best_epoch": 3}, "invalid best_epoch 3 (epoch 2)"),
    ({"class_names": []}, "invalid class_names"),
    ({"channel_names": [1]}, "invalid channel_names"),
    ({"seed": "0"}, "missing or invalid 'seed'"),
    ({"ensemble": 2}, "expected one entry per member under 'members' (2)"),
    ({"refit": {"best_epoch": 0}}, "refit: expected best_epoch, epochs_run and steps >= 1"),
])
def test_payload_checks_name_what_is_wrong(change: dict[str, Any], message: str) -> None:
    with pytest.raises(SinecliError) as caught:
        CheckpointPayload.from_dict({**_payload(), **change}, "checkpoint x.pt")
    assert str(caught.value).startswith(f"checkpoint x.pt: {message}"), str(caught.value)


def test_history_keys_and_value_at_an_epoch() -> None:
    h = History(epoch=[1, 2, 3], train_loss=[3.0, 2.0, 1.0], val_loss=[None, None, None],
                val_accuracy=[None] * 3, seconds=[1.0, None, 2.0])
    assert tuple(h.to_dict()) == KEYS
    assert [h.at(e, "train_loss") for e in (0, 1, 3)] == [None, 3.0, 1.0]
    assert h.total_seconds() == 3.0


# --- a checkpoint written before the schema (commit 7ba7359): a GRU ensemble of 2, --refit,
# log_every 2, on tests/data/schema_before_train.npz; its `info --json` and predictions then.

def test_a_checkpoint_from_before_the_schema_reads_back_the_same() -> None:
    runner = CliRunner()
    result = invoke(runner, "info", DATA / "schema_before_gru.pt", "--json")
    assert_exit(result, 0)
    now, then = json.loads(result.stdout), json.loads(
        (DATA / "schema_before_gru_info.json").read_text())
    now, then = (x[0] if isinstance(x, list) else x for x in (now, then))
    for key in ("file",):  # the path as typed
        now.pop(key), then.pop(key)
    assert now == then


def test_a_checkpoint_from_before_the_schema_predicts_as_it_did() -> None:
    runner = CliRunner()
    result = invoke(runner, "predict", DATA / "schema_before_gru.pt",
                    DATA / "schema_before_train.npz", "--format", "csv", "--device", "cpu",
                    "-q")
    assert_exit(result, 0)
    now = list(csv.DictReader(io.StringIO(result.stdout)))
    then = list(csv.DictReader(io.StringIO((DATA / "schema_before_gru_pred.csv").read_text())))
    assert [r["predicted_class"] for r in now] == [r["predicted_class"] for r in then]
    # a GRU's float32 sums may round otherwise on another CPU's instructions: 1e-6 apart
    for a, b in zip(now, then, strict=True):
        for key in a:
            if key.startswith("p_"):
                assert math.isclose(float(a[key]), float(b[key]), abs_tol=1e-6), key
