"""`sinecli export` (issue 23): every family as ONNX, its probabilities under onnxruntime
against sinecli's own, rocket's features to the bit, and the command's rules.

The tolerance is `onnx_file.TOLERANCE` (1e-5) on probabilities: both sides compute in
float32 with the same weights, and only the order of additions inside a matrix product or a
recurrent cell differs (onnxruntime's kernels against torch's), about 1e-7 relative per logit,
which moves a probability by less than that; the differences measured here are 1e-8 to 1e-7.
Rocket's features are counts of comparisons, so they must be equal to the bit, not close:
a different rounding of one kernel output would flip a count.

One tiny checkpoint per family, each exported once per module (an export takes seconds).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers.cli import assert_exit, invoke, probe
from typer.testing import CliRunner

from sinecli import checkpoint, dataset
from sinecli.generate import make_dataset
from sinecli.schema.generate import GenerateSpec

pytest.importorskip("onnxruntime", reason="the sinecli[onnx] extra is not installed")

from sinecli.export import onnx_file  # noqa: E402
from sinecli.export.graph import probability_graph  # noqa: E402
from sinecli.inference import predict_proba  # noqa: E402
from sinecli.models.rocket import MiniRocketClassifier, RocketConfig, fit  # noqa: E402
from sinecli.models.rocket.graph import GraphMiniRocket  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_globals")

POINTS = 24
CPU = torch.device("cpu")
#: kind -> (the [model] table, the [train] table): tiny, a few seconds to train and export.
FAMILIES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "rocket": ({"kind": "rocket", "num_features": 4 * 84}, {}),
    "gru": ({"kind": "gru", "hidden": 6}, {}),
    "lstm": ({"kind": "lstm", "hidden": 5, "layers": 2, "bidirectional": True, "patch": 3}, {}),
    "rnn": ({"kind": "rnn", "hidden": 6, "patch": 1}, {}),
    "notebook": ({"kind": "notebook", "hidden": 6}, {}),
    "fcn": ({"kind": "fcn", "width": 0.0625}, {}),
    "resnet": ({"kind": "resnet", "width": 0.0625, "depth": 1}, {}),
    "inception": ({"kind": "inception", "width": 0.125, "depth": 3}, {}),
    "ensemble": ({"kind": "rocket", "num_features": 2 * 84}, {"ensemble": 2}),
    "multirocket": ({"kind": "multirocket", "num_features": 672}, {}),
    "hydra": ({"kind": "hydra", "groups": 4, "kernels_per_group": 4}, {}),
    "mrhydra": ({"kind": "mrhydra", "num_features": 672, "groups": 2, "kernels_per_group": 4},
                {}),
}
#: The feature families: no gradient training (their head is fitted in closed form).
FEATURE_KINDS = ("rocket", "multirocket", "hydra", "mrhydra")
GRADIENT = {"epochs": 1, "batch_size": 16, "val_fraction": 0.0}


def ragged(ds: dataset.Dataset, seed: int, channels: int = 1) -> dataset.Dataset:
    """`ds` with `channels` channels (the others scaled copies) and lengths in [T / 2, T],
    zeros past each (the first sequence whole)."""
    rng = np.random.default_rng(seed)
    x = np.stack([ds.X * (1.0 + c) for c in range(channels)], axis=1).astype(np.float32)
    lengths = rng.integers(POINTS // 2, POINTS + 1, size=ds.n)
    lengths[0] = POINTS
    x *= np.arange(POINTS)[None, None, :] < lengths[:, None, None]
    return dataclasses.replace(ds, X=x, lengths=lengths.astype(np.int64))


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Per family a checkpoint and its exported ONNX bytes; the datasets they read."""
    from sinecli.commands.train import run as train

    folder = tmp_path_factory.mktemp("export")
    spec = GenerateSpec(samples_per_class=14, points=POINTS, seed=1)
    whole = make_dataset(spec)
    test = make_dataset(dataclasses.replace(spec, seed=2, samples_per_class=13))  # 39
    data = {"whole": whole, "test_whole": test,
            "ragged": ragged(whole, 1, channels=2), "test_ragged": ragged(test, 2, channels=2)}
    paths = {name: folder / f"{name}.npz" for name in data}
    for name, ds in data.items():
        dataset.save(paths[name], ds)
    out: dict[str, Any] = {"folder": folder, "data": data, "paths": paths}
    with torch.random.fork_rng():
        for name, (model, train_flags) in FAMILIES.items():
            fixed = name == "notebook"  # fixed length, one channel: whole sequences
            flags = {**({} if model["kind"] in FEATURE_KINDS else GRADIENT), **train_flags,
                     "seed": 0}
            ckpt_path = folder / f"{name}.pt"
            train(paths["whole" if fixed else "ragged"], ckpt_path, None, model, flags,
                  device_spec="cpu", quiet=True)
            ckpt = checkpoint.load(ckpt_path)
            exported = onnx_file.export(ckpt, dataset.sha256(ckpt_path))
            out[name] = (ckpt, exported)
    return out


def _test_set(work: dict[str, Any], name: str) -> dataset.Dataset:
    return work["data"]["test_whole" if name == "notebook" else "test_ragged"]


def _compare(work: dict[str, Any], name: str, x: np.ndarray, lengths: np.ndarray | None
             ) -> float:
    """max |onnxruntime - sinecli| of the probabilities of x (N, C, T)."""
    ckpt, exported = work[name]
    got = onnx_file.run(onnx_file.session(exported.data), x, lengths)
    want = predict_proba(ckpt.model(CPU), x, CPU, lengths=lengths)
    assert got.shape == want.shape == (len(x), len(ckpt.class_names))
    return float(np.abs(got - want).max())


@pytest.mark.parametrize("name", list(FAMILIES))
@pytest.mark.parametrize("batch", [1, 37])
def test_onnxruntime_matches_sinecli_predict(work: dict[str, Any], name: str,
                                             batch: int) -> None:
    """Batches of 1 and 37 held-out sequences, with their unequal lengths where the family
    reads them: the probabilities `sinecli predict` computes (inference.predict_proba)."""
    ds = _test_set(work, name)
    x = ds.X if ds.X.ndim == 3 else ds.X[:, None, :]
    rows = slice(1, 1 + batch)  # row 0 is whole; these have other lengths
    lengths = None if ds.lengths is None else ds.lengths[rows]
    if lengths is not None and batch > 1:
        assert len(set(lengths.tolist())) > 3  # unequal lengths are exercised
    assert _compare(work, name, x[rows], lengths) <= 1e-5


@pytest.mark.parametrize("name", [n for n in FAMILIES if n != "notebook"])
def test_time_axis_is_dynamic(work: dict[str, Any], name: str) -> None:
    """Sequences longer and shorter than the training length read as sinecli reads them."""
    ckpt, exported = work[name]
    assert exported.dynamic_time and exported.reads_lengths
    rng = np.random.default_rng(3)
    for width in (POINTS + 13, POINTS // 2):
        x = rng.normal(size=(5, ckpt.model_config.channels, width)).astype(np.float32)
        lengths = np.array([width, width - 1, max(1, width - 7), width, 3])
        x *= np.arange(width)[None, None, :] < lengths[:, None, None]
        assert _compare(work, name, x, lengths) <= 1e-5


def test_notebook_graph_is_fixed_length(work: dict[str, Any]) -> None:
    ckpt, exported = work["notebook"]
    assert not exported.reads_lengths and not exported.dynamic_time
    sess = onnx_file.session(exported.data)
    assert [i.name for i in sess.get_inputs()] == ["x"]
    assert sess.get_inputs()[0].shape == ["batch", 1, POINTS]


def test_export_check_measured_its_difference(work: dict[str, Any]) -> None:
    """Each export ran its own check: a few sequences, and a difference within tolerance."""
    for name in FAMILIES:
        _, exported = work[name]
        assert exported.checked == onnx_file.CHECK_SEQUENCES
        assert 0.0 <= exported.max_difference <= onnx_file.TOLERANCE


# --- rocket's features, to the bit --------------------------------------------------------

def _fitted_rocket(channels: int, fill: bool) -> tuple[MiniRocketClassifier, torch.Tensor,
                                                       torch.Tensor]:
    """A small rocket fitted on integer-valued series (ties with the biases are common),
    and its scaled training batch."""
    rng = np.random.default_rng(channels)
    n, width = 30, 40
    lengths = rng.integers(9, width + 1, size=n)
    lengths[0] = width
    x = rng.integers(-4, 5, size=(n, channels, width)).astype(np.float32)
    x *= np.arange(width)[None, None, :] < lengths[:, None, None]
    cfg = RocketConfig(num_features=6 * 84, seq_len=width, channels=channels,
                       fill_to_longest=fill)
    model = MiniRocketClassifier(cfg)
    fit(model, x, lengths, np.arange(n) % 3)
    xt, lt = torch.from_numpy(x), torch.from_numpy(lengths)
    return model.eval(), model.normalise(xt, lt), lt


@pytest.mark.parametrize(("channels", "fill"), [(1, True), (3, True), (2, False)])
def test_rocket_graph_features_are_the_transform_s_bits(channels: int, fill: bool) -> None:
    """GraphMiniRocket against MiniRocketTransform.forward: torch.equal, on the whole batch,
    on a narrower one (other widths: other padding) and one sequence at a time."""
    model, xs, lengths = _fitted_rocket(channels, fill)
    graph = GraphMiniRocket(model.transform)
    with torch.no_grad():
        assert torch.equal(graph(xs, lengths), model.transform(xs, lengths))
        narrow = lengths.clamp(max=30)
        xn = xs[:, :, :30] * (torch.arange(30) < narrow[:, None])[:, None, :]
        assert torch.equal(graph(xn, narrow), model.transform(xn, narrow))
        assert torch.equal(graph(xs[4:5], lengths[4:5]), model.transform(xs[4:5], lengths[4:5]))


def test_rocket_features_under_onnxruntime_are_the_same_bits() -> None:
    """The feature graph alone, exported and run by onnxruntime: the same float32 bits as
    the transform's forward (every kernel output made by the same operations)."""
    model, xs, lengths = _fitted_rocket(2, True)
    graph = GraphMiniRocket(model.transform).eval()
    proto = onnx_file.to_onnx(_Features(graph), xs.numpy(), lengths.numpy(), True)
    sess = onnx_file.session(proto.SerializeToString())
    got = sess.run(None, {"x": xs.numpy(), "lengths": lengths.numpy()})[0]
    with torch.no_grad():
        want = model.transform(xs, lengths).numpy()
    assert got.dtype == want.dtype == np.float32
    assert np.array_equal(got, want)


def _ragged_ints(channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer-valued series (ties are common), lengths in [1, 40], zeros past each."""
    rng = np.random.default_rng(channels)
    lengths = rng.integers(2, 41, size=30)
    lengths[:2] = 40, 1
    x = rng.integers(-4, 5, size=(30, channels, 40)).astype(np.float32)
    x *= np.arange(40)[None, None, :] < lengths[:, None, None]
    return x, lengths


@pytest.mark.parametrize(("channels", "fill"), [(1, True), (3, False)])
def test_multirocket_graph_features_match_the_transform(channels: int, fill: bool) -> None:
    """GraphMultiRocket against MultiRocketTransform.forward: PPV, MIPV and LSPV to the bit
    (counts, index sums, runs), MPV (another order of its sums) to the last bits."""
    from sinecli.models.multirocket import MultiRocketClassifier, MultiRocketConfig
    from sinecli.models.multirocket import fit as fit_multirocket

    x, lengths = _ragged_ints(channels)
    model = MultiRocketClassifier(MultiRocketConfig(num_features=2 * 672, seq_len=40,
                                                    channels=channels, fill_to_longest=fill))
    fit_multirocket(model, x, lengths, np.arange(30) % 3)
    lt = torch.from_numpy(lengths)
    xs = model.eval().normalise(torch.from_numpy(x), lt)
    with torch.no_grad():
        got = model.transform.export_graph()(xs, lt).view(30, 2, 4, -1)  # rep, operator
        want = model.transform(xs, lt).view(30, 2, 4, -1)
    assert torch.equal(got[:, :, [0, 2, 3]], want[:, :, [0, 2, 3]])
    torch.testing.assert_close(got[:, :, 1], want[:, :, 1], rtol=1e-5, atol=0.0)


@pytest.mark.parametrize(("channels", "fill"), [(1, True), (3, False)])
def test_hydra_graph_features_match_the_transform(channels: int, fill: bool) -> None:
    """GraphHydra against HydraTransform.forward: the hard counts to the bit (the same
    responses, the same winners), the soft counts (another order of sums) to the last bits."""
    from sinecli.models.hydra import HydraClassifier, HydraConfig
    from sinecli.models.hydra import fit as fit_hydra

    x, lengths = _ragged_ints(channels)
    model = HydraClassifier(HydraConfig(groups=4, kernels_per_group=4, seq_len=40,
                                        channels=channels, fill_to_longest=fill))
    fit_hydra(model, x, lengths, np.arange(30) % 3)
    lt = torch.from_numpy(lengths)
    xs = model.eval().normalise(torch.from_numpy(x), lt)
    with torch.no_grad():
        got = model.transform.export_graph()(xs, lt).view(30, -1, 2, 8)  # pair, soft/hard
        want = model.transform(xs, lt).view(30, -1, 2, 8)
    assert torch.equal(got[:, :, 1], want[:, :, 1])
    torch.testing.assert_close(got[:, :, 0], want[:, :, 0], rtol=1e-5, atol=1e-6)


class _Features(torch.nn.Module):
    def __init__(self, graph: torch.nn.Module) -> None:
        super().__init__()
        self.features = graph

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.features(x, lengths)


def test_a_transform_without_a_hook_is_used_as_it_is() -> None:
    """The plug-in rule for feature families: `export_graph()` when the transform has one,
    else the transform itself (whose forward must then be traceable)."""
    from sinecli.export.graph import FeatureGraph, export_graph_of

    plain = torch.nn.Identity()
    assert export_graph_of(plain) is plain
    model = MiniRocketClassifier(RocketConfig(num_features=84, seq_len=20))
    assert isinstance(FeatureGraph(model).features, GraphMiniRocket)
    assert isinstance(probability_graph(model, True), FeatureGraph)


# --- the command -------------------------------------------------------------------------

def test_cli_export_writes_a_model_that_predicts_as_sinecli_predict(
        work: dict[str, Any], tmp_path: Path) -> None:
    """`sinecli export` then onnxruntime on a dataset, against `sinecli predict`'s CSV (its
    9 significant digits), and the metadata: classes, version, the checkpoint's sha256."""
    runner = CliRunner()
    model = work["folder"] / "rocket.pt"
    out = tmp_path / "rocket.onnx"
    result = invoke(runner, "export", model, "-o", out, "--json", "-q")
    assert_exit(result, 0)
    summary = json.loads(result.stdout)
    assert summary["inputs"] == ["x", "lengths"] and summary["max_difference"] <= 1e-5
    pred = tmp_path / "pred.csv"
    assert_exit(invoke(runner, "predict", model, work["paths"]["test_ragged"], "-o", pred,
                       "-q"), 0)
    table = np.genfromtxt(pred, delimiter=",", names=True)
    ds = work["data"]["test_ragged"]
    got = onnx_file.run(onnx_file.session(str(out)), ds.X, ds.lengths)
    want = np.stack([table[f"p_{c}"] for c in ds.class_names], axis=1)
    assert np.abs(got - want).max() <= 1e-5
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(meta["class_names"]) == ds.class_names
    assert meta["checkpoint_sha256"] == dataset.sha256(model)
    assert meta["sinecli_version"] == __import__("sinecli").__version__


def test_info_on_an_onnx_file(work: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "gru.onnx"
    out.write_bytes(work["gru"][1].data)
    result = invoke(CliRunner(), "info", out, "--json")
    assert_exit(result, 0)
    (info,) = json.loads(result.stdout)
    assert info["kind"] == "onnx" and info["opset"] == onnx_file.OPSET
    assert [i["name"] for i in info["inputs"]] == ["x", "lengths"]
    assert info["inputs"][0]["shape"] == ["batch", 2, "time"]
    assert info["outputs"] == [{"name": "probabilities", "dtype": "float32",
                                "shape": ["batch", 3]}]
    assert info["class_names"] == work["gru"][0].class_names
    assert info["checkpoint_sha256"] == dataset.sha256(work["folder"] / "gru.pt")
    table = invoke(CliRunner(), "info", out)
    assert_exit(table, 0)
    assert "x float32 (batch, 2, time); lengths int64 (batch)" in table.stdout


@pytest.mark.parametrize(("output", "message"), [
    ("-", "binary"), ("model.txt", "written as .onnx files; give -o ")])
def test_output_rules(work: dict[str, Any], tmp_path: Path, output: str,
                      message: str) -> None:
    result = invoke(CliRunner(), "export", work["folder"] / "gru.pt", "-o",
                    output if output == "-" else tmp_path / output)
    assert_exit(result, 2)
    assert message in result.stderr and list(tmp_path.iterdir()) == []


def test_damaged_checkpoint_is_exit_2(work: dict[str, Any], tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes((work["folder"] / "gru.pt").read_bytes()[:-100])
    out = tmp_path / "bad.onnx"
    result = invoke(CliRunner(), "export", bad, "-o", out)
    assert_exit(result, 2)
    assert "bad.pt" in result.stderr and not out.exists()


@pytest.mark.parametrize("module", ["onnx", "onnxscript", "onnxruntime"])
def test_missing_extra_is_exit_2_with_the_pip_line(
        work: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        module: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now fails
    out = tmp_path / "m.onnx"
    result = invoke(CliRunner(), "export", work["folder"] / "gru.pt", "-o", out)
    assert_exit(result, 2)
    assert "pip install 'sinecli[onnx]'" in result.stderr and module in result.stderr
    assert not out.exists()


def test_a_difference_over_the_tolerance_is_exit_1_and_writes_nothing(
        work: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = onnx_file.run
    monkeypatch.setattr(onnx_file, "run", lambda *a: real(*a) + np.float32(3e-4))
    out = tmp_path / "m.onnx"
    out.write_bytes(b"old")
    result = invoke(CliRunner(), "export", work["folder"] / "gru.pt", "-o", out)
    assert_exit(result, 1)
    assert "differ from sinecli's by up to 0.0003" in result.stderr
    assert "tolerance 1e-05" in result.stderr and out.read_bytes() == b"old"


def test_no_other_command_imports_the_extra(tmp_path: Path) -> None:
    """onnx, onnxscript and onnxruntime load only for `export` (start-up unchanged)."""
    watch = ("onnx", "onnxscript", "onnxruntime")
    commands: list[list[str | Path]] = [["--help"], ["generate", "-o", tmp_path / "d.npz", "-q"],
                                        ["info", tmp_path / "d.npz"], ["export", "--help"]]
    for args in commands:
        seen = probe(args, tmp_path, watch=watch)
        assert seen == {"code": 0, "heavy": []}, (args, seen)


def test_a_family_without_a_traceable_transform_says_so(
        work: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """A feature family whose transform has no export_graph() and a forward pass that
    torch.export cannot trace (rocket's own, with its hook taken away): exit 1, naming the
    kind and the hook, never a traceback."""
    from sinecli.models.rocket.transform import MiniRocketTransform

    monkeypatch.delattr(MiniRocketTransform, "export_graph")
    ckpt, _ = work["rocket"]
    with pytest.raises(onnx_file.ExportFailed, match=r"rocket models cannot be exported yet: "
                       r"their transform has no export_graph\(\)") as caught:
        onnx_file.export(ckpt, "0" * 64)
    assert caught.value.exit_code == 1 and "\x1b[" not in str(caught.value)
