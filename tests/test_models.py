"""The recurrent classifiers (sinecli.models), tested as pure functions of their inputs.

Contract (docs/design.md "The notebook", "Layout"): every model maps X (B, T) to logits (B, K); the
GRU / LSTM / RNN models read one value per step; the `notebook` model is the notebook's cell, same
maths, batched; the input scaling is one global affine transform held in buffers, never a
per-sequence normalisation (amplitude is what separates sin_10hz from sin_10hz_x2).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import pytest
import torch
from torch import nn

from sinecli.errors import SinecliError
from sinecli.models import (
    FAMILIES,
    ModelConfig,
    NotebookRNN,
    RecurrentClassifier,
    build,
    config_from_dict,
    validate,
)

T, K = 12, 4
#: The families built from ModelConfig (the conv and random-kernel ones: tests/test_conv.py,
#: tests/test_rocket.py).
KINDS = tuple(kind for kind, fam in FAMILIES.items() if fam.config is ModelConfig)


pytestmark = pytest.mark.usefixtures("torch_globals")


def make(kind: str = "gru", seed: int = 0, hidden: int = 6, patch: int = 1, **kwargs: Any
         ) -> Any:
    """A freshly initialised model (seeded) for sequences of length T and K classes, reading
    one point a step unless `patch` says otherwise."""
    torch.manual_seed(seed)
    return build(ModelConfig(kind=kind, hidden=hidden, patch=patch, seq_len=T, num_classes=K,
                             **kwargs))


def waves(batch: int, length: int = T, seed: int = 1, dtype: torch.dtype = torch.float32
          ) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, length, generator=g, dtype=dtype)


# --- shapes -------------------------------------------------------------------------------------

SHAPE_CASES = [
    *[(kind, 1, False, 0.0) for kind in KINDS],
    *[(kind, 1, True, 0.0) for kind in ("gru", "lstm", "rnn")],
    *[(kind, 2, False, 0.3) for kind in ("gru", "lstm", "rnn")],
    *[(kind, 2, True, 0.3) for kind in ("gru", "lstm", "rnn")],
]


@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize(("kind", "layers", "bidirectional", "dropout"), SHAPE_CASES)
def test_output_shape_is_batch_by_classes(
    kind: str, layers: int, bidirectional: bool, dropout: float, batch: int
) -> None:
    model = make(kind, layers=layers, bidirectional=bidirectional, dropout=dropout)
    for mode in (model.train, model.eval):
        mode()
        out = model(waves(batch))
        assert out.shape == (batch, K)
        assert out.dtype == torch.float32 and torch.isfinite(out).all()
    # gradients reach every parameter (nothing is accidentally detached or unused)
    model.train()
    model(waves(batch)).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name


@pytest.mark.parametrize("kind", ["gru", "lstm", "rnn"])
@pytest.mark.parametrize("layers", [1, 2])
def test_bidirectional_head_reads_the_last_layer_both_ways(kind: str, layers: int) -> None:
    """The head sees the forward state after the last step and the backward one after the first."""
    model = make(kind, layers=layers, bidirectional=True, dropout=0.2 if layers > 1 else 0.0)
    assert isinstance(model, RecurrentClassifier)
    model.eval()
    x = waves(3)
    hidden = model.cfg.hidden
    seq, _ = model.rnn(model.normalise(x).unsqueeze(-1))  # (B, T, 2H), last layer only
    last = torch.cat([seq[:, -1, :hidden], seq[:, 0, hidden:]], dim=1)  # (B, 2H)
    torch.testing.assert_close(model(x), model.head(last))


@pytest.mark.parametrize("kind", ["gru", "lstm", "rnn"])
def test_unidirectional_head_reads_the_last_step(kind: str) -> None:
    model = make(kind, layers=2, dropout=0.2)
    model.eval()
    x = waves(3)
    seq, _ = model.rnn(model.normalise(x).unsqueeze(-1))  # (B, T, H)
    torch.testing.assert_close(model(x), model.head(seq[:, -1]))


def test_dropout_acts_between_layers_in_training_only() -> None:
    model = make("gru", layers=2, dropout=0.5, hidden=8)
    x = waves(5)
    model.train()
    assert not torch.equal(model(x), model(x))
    model.eval()
    assert torch.equal(model(x), model(x))


def test_one_layer_with_dropout_builds_without_a_torch_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = make("lstm", layers=1, dropout=0.3)
    assert model(waves(2)).shape == (2, K)


def test_kinds_use_the_matching_torch_module() -> None:
    assert isinstance(make("gru").rnn, nn.GRU)
    assert isinstance(make("lstm").rnn, nn.LSTM)
    rnn = make("rnn").rnn
    assert isinstance(rnn, nn.RNN) and rnn.nonlinearity == "tanh"
    assert isinstance(make("notebook"), NotebookRNN)


def test_recurrent_models_accept_other_lengths() -> None:
    # GRU/LSTM/RNN read one value per step, so any length works (the notebook cell does not)
    model = make("gru")
    assert model(waves(2, length=T + 5)).shape == (2, K)


# --- config -------------------------------------------------------------------------------------


def test_config_round_trips_through_a_plain_dict() -> None:
    cfg = ModelConfig(kind="lstm", hidden=7, layers=2, bidirectional=True, dropout=0.1,
                      seq_len=30, num_classes=5)
    plain = cfg.to_dict()
    assert all(isinstance(v, int | float | str | bool) for v in plain.values())
    assert config_from_dict(plain) == cfg
    # extra keys from a newer writer are ignored rather than crashing the reader
    assert config_from_dict({**plain, "future": 1}) == cfg


def test_a_config_without_patch_reads_one_point_a_step() -> None:
    """Checkpoints written before `patch` existed hold models that read one point a step."""
    plain = ModelConfig(patch=4).to_dict()
    del plain["patch"]
    assert config_from_dict(plain).patch == 1
    assert ModelConfig().patch == 4  # while new models default to 4


# --- patches ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gru", "lstm", "rnn"])
@pytest.mark.parametrize("patch", [2, 3, T])
def test_a_patch_is_consecutive_points_read_in_one_step(kind: str, patch: int) -> None:
    assert T % patch == 0
    model = make(kind, patch=patch).eval()
    assert model.rnn.input_size == patch
    x = waves(3)
    steps = model.normalise(x).reshape(3, T // patch, patch)  # (B, T / p, p), in time order
    seq, _ = model.rnn(steps)
    torch.testing.assert_close(model(x), model.head(seq[:, -1]))


@pytest.mark.parametrize("patch", [5, 7, T + 1])
def test_a_ragged_length_is_padded_with_zeros_in_front(patch: int) -> None:
    """T = 12 in patches of 5: 3 zeros (the scaled mean) in front, then 3 whole patches."""
    model = make("gru", patch=patch).eval()
    x = waves(2)
    pad = -T % patch
    padded = torch.cat([torch.zeros(2, pad), model.normalise(x)], dim=1)
    seq, _ = model.rnn(padded.reshape(2, -1, patch))
    assert seq.shape[1] == math.ceil(T / patch)
    torch.testing.assert_close(model(x), model.head(seq[:, -1]))


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"kind": "foo"}, "kind"),
        ({"hidden": 0}, "hidden"),
        ({"layers": 0}, "layers"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"kind": "notebook", "patch": 1, "layers": 2}, "notebook"),
        ({"kind": "notebook", "patch": 1, "bidirectional": True}, "notebook"),
        ({"kind": "notebook", "patch": 1, "dropout": 0.2}, "notebook"),
        ({"kind": "notebook"}, "patch 1"),
        ({"patch": 0}, "patch"),
        ({"num_classes": 1}, "num_classes"),
        ({"seq_len": 0}, "seq_len"),
        ({"kind": "notebook", "patch": 1, "seq_len": 1}, "at least 2 points"),
        ({"kind": "notebook", "patch": 1, "channels": 3}, "one channel"),
        ({"channels": 0}, "channels"),
        ({"kind": "gur"}, "did you mean 'gru'"),
        # absurd sizes are refused before anything is allocated
        ({"hidden": 100_000_000}, r"hidden must be in \[1, 4096\]"),
        ({"layers": 100_000}, r"layers must be in \[1, 32\]"),
        ({"patch": 1_000_000}, "patch"),
        ({"hidden": 4096, "layers": 32, "bidirectional": True}, "parameters"),
        # the notebook cell's weights grow with the length it reads: (T + H) x (H + K)
        ({"kind": "notebook", "patch": 1, "hidden": 4096, "seq_len": 100_000}, "parameters"),
    ],
)
def test_invalid_configs_are_rejected(changes: dict, fragment: str) -> None:
    cfg = ModelConfig(**changes)
    with pytest.raises(SinecliError, match=fragment):
        validate(cfg)
    with pytest.raises(SinecliError, match=fragment):
        build(cfg)


# --- the notebook's cell ------------------------------------------------------------------------


def signal_to_tensor(s: list[float]) -> torch.Tensor:
    """The notebook's encoding: n x 1 x n, value y_t at [t][0][t] ("one-hot in time")."""
    n = len(s)
    tensor = torch.zeros(n, 1, n, dtype=torch.float64)
    for t, y in enumerate(s):
        tensor[t][0][t] = y
    return tensor


class NotebookCell(nn.Module):
    """The notebook's RNN class, verbatim apart from float64."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(input_size + hidden_size, hidden_size)
        self.i2o = nn.Linear(input_size + hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, data: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, ...]:
        combined = torch.cat((data, hidden), 1)
        hidden = self.i2h(combined)
        output = self.i2o(combined)
        output = self.softmax(output)
        return output, hidden

    def initHidden(self) -> torch.Tensor:  # noqa: N802 (the notebook's name)
        return torch.zeros(1, self.hidden_size, dtype=torch.float64)


def notebook_evaluate(cell: NotebookCell, row: torch.Tensor) -> torch.Tensor:
    """The notebook's `evaluate`: loop over all T steps, return the last step's output."""
    X = signal_to_tensor(row.tolist())
    hidden = cell.initHidden()
    output = None
    for i in range(X.size()[0]):
        output, hidden = cell(X[i], hidden)
    assert output is not None
    return output  # (1, K) log-probabilities


def notebook_pair(length: int = 20, hidden: int = 8, seed: int = 0
                  ) -> tuple[NotebookRNN, NotebookCell]:
    torch.manual_seed(seed)
    model = NotebookRNN(ModelConfig(kind="notebook", hidden=hidden, patch=1, seq_len=length,
                                    num_classes=3)).double()
    cell = NotebookCell(length, hidden, 3).double()
    cell.i2h.load_state_dict(model.i2h.state_dict())
    cell.i2o.load_state_dict(model.i2o.state_dict())
    return model, cell


@pytest.mark.parametrize("length", [2, 7, 20])
def test_notebook_model_equals_the_notebooks_per_step_loop(length: int) -> None:
    model, cell = notebook_pair(length)
    X = waves(5, length=length, dtype=torch.float64)
    expected = torch.cat([notebook_evaluate(cell, row) for row in X])  # (B, K)
    got = torch.log_softmax(model(X), dim=1)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    # and batching does not matter: one sequence at a time gives the same rows
    for i, row in enumerate(X):
        torch.testing.assert_close(torch.log_softmax(model(row[None]), 1), expected[i : i + 1],
                                   rtol=0, atol=1e-6)


def test_notebook_model_has_the_notebooks_gradients() -> None:
    """Same loss (NLL of the last step's log-softmax) -> same gradients on i2h and i2o."""
    model, cell = notebook_pair(20)
    X = waves(3, length=20, dtype=torch.float64)
    y = torch.tensor([0, 2, 1])
    loss_ref = sum(nn.functional.nll_loss(notebook_evaluate(cell, row), y[i : i + 1])
                   for i, row in enumerate(X))
    loss_ref.backward()  # type: ignore[union-attr]
    nn.functional.cross_entropy(model(X), y, reduction="sum").backward()
    for name in ("i2h", "i2o"):
        ours, theirs = getattr(model, name), getattr(cell, name)
        torch.testing.assert_close(ours.weight.grad, theirs.weight.grad, rtol=0, atol=1e-9)
        torch.testing.assert_close(ours.bias.grad, theirs.bias.grad, rtol=0, atol=1e-9)


def test_notebook_model_keeps_the_notebooks_parameter_shapes() -> None:
    model = make("notebook", hidden=5)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes == {"shift": (1,), "scale": (1,), "i2h.weight": (5, T + 5), "i2h.bias": (5,),
                      "i2o.weight": (K, T + 5), "i2o.bias": (K,)}


def test_notebook_model_has_no_nonlinearity() -> None:
    """With zero biases the cell is linear in its input: 2x -> 2 logits, x1 + x2 -> sum."""
    model, _ = notebook_pair(20)
    with torch.no_grad():
        model.i2h.bias.zero_()
        model.i2o.bias.zero_()
    x1 = waves(4, length=20, dtype=torch.float64, seed=3)
    x2 = waves(4, length=20, dtype=torch.float64, seed=4)
    out = model(x1)
    assert out.abs().max() > 1e-3  # not trivially zero
    torch.testing.assert_close(model(2 * x1), 2 * out, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(model(x1 + x2), out + model(x2), rtol=1e-9, atol=1e-12)


def test_recurrent_models_are_not_linear() -> None:
    """The contrast that makes the previous test meaningful."""
    model = make("gru")
    with torch.no_grad():
        model.head.bias.zero_()
        for name, p in model.rnn.named_parameters():
            if "bias" in name:
                p.zero_()
    x = waves(4)
    assert not torch.allclose(model(2 * x), 2 * model(x), atol=1e-4)


# --- global input scaling -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_scaling_lives_in_buffers_not_parameters(kind: str) -> None:
    model = make(kind)
    buffers = dict(model.named_buffers())
    assert set(buffers) == {"shift", "scale"}
    assert float(buffers["shift"]) == 0.0 and float(buffers["scale"]) == 1.0
    assert not any(n in ("shift", "scale") for n, _ in model.named_parameters())
    assert {"shift", "scale"} <= set(model.state_dict())  # saved with the weights


@pytest.mark.parametrize("kind", KINDS)
def test_scaling_is_one_global_affine_transform(kind: str) -> None:
    model = make(kind).eval()
    x = waves(5)
    plain = model((x - 0.5) / 2.0)
    model.set_scaling(0.5, 2.0)
    torch.testing.assert_close(model(x), plain)


@pytest.mark.parametrize("kind", KINDS)
def test_no_per_sequence_normalisation(kind: str) -> None:
    """Sequences that differ only in amplitude (or offset) must be told apart."""
    model = make(kind).eval()
    model.set_scaling(0.1, 1.3)  # an arbitrary fitted transform
    t = torch.linspace(0, 1, T)
    base = torch.sin(2 * torch.pi * 3 * t)[None]  # (1, T)
    x = torch.cat([base, 2 * base, base + 1.0])  # (3, T): zero-mean scaled, and offset
    out = model(x)
    assert not torch.allclose(out[0], out[1], atol=1e-5)
    assert not torch.allclose(out[0], out[2], atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_rows_do_not_influence_each_other(kind: str) -> None:
    """No batch statistics either: a row's output does not depend on its batch mates."""
    model = make(kind).eval()
    x = waves(5)
    together = model(x)
    alone = torch.cat([model(x[i : i + 1]) for i in range(5)])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-6)
    x2 = x.clone()
    x2[1:] *= 10
    torch.testing.assert_close(model(x2)[0], together[0], rtol=1e-5, atol=1e-6)


# --- channels and lengths (dataset format 2) ----------------------------------------------------


def ragged(channels: int = 2, width: int = 12, seed: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """(4, C, width) with lengths 5, 12, 7, 1 and random values (not zeros) in the padding."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([5, 12, 7, 1])
    return torch.randn(4, channels, width, generator=g), lengths


@pytest.mark.parametrize("kind", ["gru", "lstm", "rnn"])
@pytest.mark.parametrize("patch", [1, 3, 4])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_of_any_value_never_changes_a_prediction(kind: str, patch: int,
                                                         bidirectional: bool) -> None:
    torch.manual_seed(0)
    model = build(ModelConfig(kind=kind, hidden=6, patch=patch, bidirectional=bidirectional,
                              seq_len=12, num_classes=K, channels=2)).eval()
    x, lengths = ragged()
    wider = torch.cat([x, 100 * torch.randn(4, 2, 9)], dim=2)  # 9 more points of padding
    wider[:, :, :12] = torch.where(torch.arange(12) < lengths[:, None, None], x,
                                   -50.0)  # and other values in the old padding
    with torch.no_grad():
        base = model(x, lengths)
        torch.testing.assert_close(model(wider, lengths), base, rtol=1e-5, atol=1e-6)
        for i, n in enumerate(lengths.tolist()):  # each sequence alone, with no padding at all
            torch.testing.assert_close(model(x[i : i + 1, :, :n]), base[i : i + 1],
                                       rtol=1e-5, atol=1e-6)


def test_every_channel_is_read() -> None:
    torch.manual_seed(0)
    model = build(ModelConfig(hidden=6, seq_len=12, num_classes=K, channels=3)).eval()
    x = torch.randn(2, 3, 12)
    changed = x.clone()
    changed[:, 2] += 1.0
    with torch.no_grad():
        assert not torch.allclose(model(x), model(changed))


def test_scaling_is_per_channel_and_old_scalar_checkpoints_load() -> None:
    model = make("gru", channels=1)
    model.set_scaling([2.0], [4.0])
    state = model.state_dict()
    state["shift"], state["scale"] = torch.tensor(2.0), torch.tensor(4.0)  # format <= 2
    again = make("gru", channels=1)
    again.load_state_dict(state)
    assert again.shift.shape == (1,) and float(again.scale[0]) == 4.0
    two = build(ModelConfig(hidden=4, seq_len=T, num_classes=K, channels=2))
    two.set_scaling([0.0, 10.0], [1.0, 2.0])
    x = torch.stack([torch.ones(1, T), 14 * torch.ones(1, T)], dim=1)  # (1, 2, T)
    torch.testing.assert_close(two.normalise(x), torch.ones(1, 2, T) * torch.tensor(
        [1.0, 2.0])[None, :, None])


def test_the_registry_answers_family_questions() -> None:
    from sinecli.models import DEFAULT_WIDTH, ModelConfig, RocketConfig, kinds_reading, step_width

    assert kinds_reading("hidden") == ["gru", "lstm", "rnn", "notebook"]
    assert "rocket" in kinds_reading("num_features") and "gru" not in kinds_reading("seed")
    assert kinds_reading("no_such_key") == []
    assert step_width(ModelConfig(kind="lstm", hidden=17)) == 17
    assert step_width(RocketConfig()) == DEFAULT_WIDTH


def test_the_notebook_reads_one_point_a_step_by_default() -> None:
    from sinecli.commands.train import resolve

    notebook, gru = (resolve(None, {"kind": kind}, {})[0] for kind in ("notebook", "gru"))
    assert isinstance(notebook, ModelConfig) and isinstance(gru, ModelConfig)
    assert notebook.patch == 1 and gru.patch != 1
