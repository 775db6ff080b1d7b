"""The ONNX file: the export (torch.onnx, dynamo path, through onnxscript), its metadata, the
check of the written graph with onnxruntime, and what `sinecli info` shows of one.

Imports onnx, onnxscript and onnxruntime (the `sinecli[onnx]` extra) at module level: only
`sinecli.commands.export` and `info` on a `.onnx` file import this module, after
`require_extra` has said what is missing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime
import torch

from sinecli import __version__
from sinecli.checkpoint import Checkpoint
from sinecli.errors import SinecliError
from sinecli.export.graph import FeatureGraph, probability_graph

#: The ONNX operator set written (onnxruntime 1.17 and later run it).
OPSET = 20
#: The largest difference between onnxruntime's probabilities and sinecli's that `export`
#: accepts. Both compute in float32 with the same weights; what differs is the order of the
#: additions inside a matrix product or a recurrent cell (onnxruntime's MLAS kernels against
#: torch's), about 1e-7 relative per logit, so a probability moves by at most
#: p (1 - p) x that, under 1e-7 in practice (tests/test_export.py measures 1e-8 to 1e-7 per
#: family). 1e-5 is a hundred times that margin and still far below what changes a predicted
#: class or a metric's printed digits; rocket's features, counts of comparisons, are equal to
#: the bit (models/rocket/graph.py), so no flipped comparison can move a probability either.
TOLERANCE = 1e-5
#: Sequences of the checkpoint's own shape that the check runs (seeded: the same every time).
CHECK_SEQUENCES = 6
INPUT, LENGTHS, OUTPUT = "x", "lengths", "probabilities"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the colours of torch.onnx's messages


@dataclass
class Exported:
    """A checked ONNX model: its bytes and what the check measured."""

    data: bytes
    max_difference: float
    checked: int  # sequences compared
    reads_lengths: bool
    dynamic_time: bool


def check_inputs(ckpt: Checkpoint, n: int, seed: int = 0
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    """n sequences of the checkpoint's shape (N, C, T), raw values around its input scaling,
    and for a family that reads unequal lengths, lengths (N,) in [T / 2, T], the first whole
    (zeros past each length, as a dataset holds them); None for a fixed-length family."""
    from sinecli.models import family

    cfg = ckpt.model_config
    state = ckpt.payload["state_dict"]
    prefix = "members.0." if ckpt.ensemble > 1 else ""
    shift = state[f"{prefix}shift"].double().numpy().reshape(-1, 1)  # (C, 1) or (1, 1)
    scale = state[f"{prefix}scale"].double().numpy().reshape(-1, 1)
    rng = np.random.default_rng(seed)
    x = (shift + scale * rng.normal(size=(n, cfg.channels, cfg.seq_len))).astype(np.float32)
    if family(cfg.kind).fixed_length:
        return x, None
    lengths = rng.integers(max(1, cfg.seq_len // 2), cfg.seq_len + 1, size=n)
    lengths[0] = cfg.seq_len
    x *= np.arange(cfg.seq_len)[None, None, :] < lengths[:, None, None]
    return x, lengths.astype(np.int64)


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """torch's remarks while exporting (warnings, log lines about optional packages, the
    graph torch.export dumps when it cannot trace) off stderr: the command reports the result
    itself, in one line."""
    logging.disable(logging.WARNING)  # torch's loggers set their own levels: all of them
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(logging.NOTSET)


def to_onnx(graph: torch.nn.Module, x: np.ndarray, lengths: np.ndarray | None,
            dynamic_time: bool) -> onnx.ModelProto:
    """torch.onnx.export (dynamo=True) of `graph` with batch, and time when `dynamic_time`,
    as symbolic axes; the axes named `batch` and `time` in the file."""
    batch = torch.export.Dim("batch", min=1)
    time = torch.export.Dim("time", min=1)
    x_axes = {0: batch, 2: time} if dynamic_time else {0: batch}
    args: tuple[torch.Tensor, ...] = (torch.from_numpy(x),)
    shapes: tuple[dict[int, Any], ...] = (x_axes,)
    if lengths is not None:
        args += (torch.from_numpy(lengths),)
        shapes += ({0: batch},)
    names = [INPUT, LENGTHS][: len(args)]
    try:
        with _quiet_exporter(), torch.no_grad():
            program = torch.onnx.export(graph, args, input_names=names, output_names=[OUTPUT],
                                        dynamic_shapes=shapes, opset_version=OPSET,
                                        dynamo=True, external_data=False, verbose=False)
    except Exception as exc:  # torch.export and onnxscript raise many types
        first = _ANSI.sub("", (str(exc).strip().splitlines() or [type(exc).__name__])[0])
        raise ExportFailed(f"torch.onnx.export failed: {type(exc).__name__}: {first}") from exc
    assert program is not None
    proto = program.model_proto
    _name_axes(proto, dynamic_time)
    return proto


def _name_axes(proto: onnx.ModelProto, dynamic_time: bool) -> None:
    """The symbolic axes of the inputs and the output named `batch` and `time`."""
    for value in [*proto.graph.input, *proto.graph.output]:
        dims = value.type.tensor_type.shape.dim
        dims[0].dim_param = "batch"
        if value.name == INPUT and dynamic_time:
            dims[2].dim_param = "time"


class ExportFailed(SinecliError):
    """The graph could not be exported, or onnxruntime's probabilities differ from sinecli's
    by more than the tolerance: exit 1 (sinecli's own fault, not the user's input)."""

    exit_code = 1


def session(data: bytes | str, threads: int = 1) -> onnxruntime.InferenceSession:
    """An onnxruntime session on the CPU, of a model's bytes or a file's path."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3  # errors only
    return onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def run(sess: onnxruntime.InferenceSession, x: np.ndarray, lengths: np.ndarray | None
        ) -> np.ndarray:
    """Probabilities (N, K) float32 of raw x (N, C, T) and lengths (N,) (when it reads them)."""
    feeds: dict[str, np.ndarray] = {INPUT: np.ascontiguousarray(x, dtype=np.float32)}
    if lengths is not None:
        feeds[LENGTHS] = np.asarray(lengths, dtype=np.int64)
    return sess.run([OUTPUT], feeds)[0]


def metadata(ckpt: Checkpoint, sha256: str, exported: Exported) -> dict[str, str]:
    """The model's metadata_props: what a user of the file alone needs (all strings)."""
    cfg = ckpt.model_config
    inputs = "x (batch, channels, time) float32 raw values" + (
        ", lengths (batch) int64" if exported.reads_lengths else "")
    return {
        "class_names": json.dumps(ckpt.class_names),
        "sinecli_version": __version__,
        "checkpoint_sha256": sha256,
        "checkpoint": ckpt.path.name,
        "model": cfg.kind,
        "ensemble": str(ckpt.ensemble),
        "channels": str(cfg.channels),
        "channel_names": json.dumps(ckpt.channel_names),
        "seq_len": str(cfg.seq_len),
        "inputs": inputs,
        "output": f"{OUTPUT} (batch, classes) float32, softmax",
        "max_difference": f"{exported.max_difference:.3g}",
        "tolerance": f"{TOLERANCE:g}",
    }


def export(ckpt: Checkpoint, sha256: str) -> Exported:
    """The checkpoint as a checked ONNX model: exported, metadata set, run once with
    onnxruntime on CHECK_SEQUENCES sequences of its own shape and compared with sinecli's
    probabilities; ExportFailed (exit 1) when they differ by more than TOLERANCE."""
    from sinecli.inference import predict_proba
    from sinecli.models import family

    fixed = family(ckpt.model_config.kind).fixed_length
    model = ckpt.model("cpu")
    graph = probability_graph(model, reads_lengths=not fixed).eval()
    x, lengths = check_inputs(ckpt, CHECK_SEQUENCES)
    try:
        proto = to_onnx(graph, x, lengths, dynamic_time=not fixed)
    except ExportFailed as exc:
        if any(isinstance(m, FeatureGraph) and not hasattr(m.model.transform, "export_graph")
               for m in graph.modules()):
            raise ExportFailed(f"checkpoint {ckpt.path}: {ckpt.model_config.kind} models cannot "
                               "be exported yet: their transform has no export_graph() and its "
                               f"forward pass is not traceable ({exc})") from exc
        raise
    data = proto.SerializeToString()
    got = run(session(data), x, lengths)
    want = predict_proba(model, x, torch.device("cpu"), lengths=lengths)
    difference = float(np.abs(got.astype(np.float64) - want).max())
    exported = Exported(data, difference, len(x), not fixed, not fixed)
    if not difference <= TOLERANCE:  # NaN too
        raise ExportFailed(f"checkpoint {ckpt.path}: onnxruntime's probabilities differ from "
                           f"sinecli's by up to {difference:.3g} (tolerance {TOLERANCE:g}) "
                           f"on {len(x)} sequences; nothing written")
    onnx.helper.set_model_props(proto, metadata(ckpt, sha256, exported))
    proto.doc_string = (f"sinecli {__version__}: {ckpt.model_config.kind} classifier of "
                        f"{ckpt.path.name}; inputs raw values, output class probabilities")
    exported.data = proto.SerializeToString()
    return exported


def _shape(value: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def _io(values: Any) -> list[dict[str, Any]]:
    return [{"name": v.name,
             "dtype": onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type).name,
             "shape": _shape(v)} for v in values]


def describe(path: Path) -> dict[str, Any]:
    """What `sinecli info` shows of an ONNX model: its inputs, outputs, opset and the sinecli
    metadata (classes, source checkpoint and its sha256), keys in a fixed order."""
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and others
        raise SinecliError(f"{path}: not an ONNX model (damaged, truncated or another "
                           f"format): {type(exc).__name__}") from exc
    if not proto.graph.node or not proto.graph.output:  # protobuf parses most bytes as *some*
        raise SinecliError(f"{path}: not an ONNX model (no graph)")
    meta = {p.key: p.value for p in proto.metadata_props}
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    names = meta.get("class_names")
    return {
        "opset": opset,
        "ir_version": proto.ir_version,
        "producer": f"{proto.producer_name} {proto.producer_version}".strip(),
        "sinecli_version": meta.get("sinecli_version"),
        "model": meta.get("model"),
        "inputs": _io(proto.graph.input),
        "outputs": _io(proto.graph.output),
        "class_names": json.loads(names) if names else None,
        "checkpoint": meta.get("checkpoint"),
        "checkpoint_sha256": meta.get("checkpoint_sha256"),
        "max_difference": meta.get("max_difference"),
        "tolerance": meta.get("tolerance"),
    }
