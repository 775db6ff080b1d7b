"""`sinecli export`: a checkpoint as an ONNX model (`sinecli.export`), checked on write.

Usage errors are reported before anything heavy is imported: `-o -` (an ONNX model is
binary), a suffix other than `.onnx`, an output that cannot be written or is the checkpoint
itself, and a missing `sinecli[onnx]` extra (exit 2 with the pip line). Then the checkpoint is
loaded (a damaged one is exit 2), exported, run once with onnxruntime and compared with
sinecli's probabilities (exit 1 over the tolerance, nothing written), and written atomically.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from sinecli import dataset
from sinecli.atomic import STDOUT, check_suffix, check_writable, write_bytes
from sinecli.errors import SinecliError
from sinecli.export import require_extra


def run(model_path: Path, output: Path, *, quiet: bool = False) -> dict[str, Any]:
    """Export `model_path` to `output`; return a summary (the `--json` keys)."""
    if str(output) == STDOUT:
        raise SinecliError("-o -: an ONNX model is binary and is not written to stdout; "
                           "give -o FILE.onnx")
    check_suffix(output, ".onnx", "ONNX model", stdout=False)
    check_writable(output, "output", inputs=(model_path,))
    require_extra("export")
    t0 = time.perf_counter()

    # torch and the extra are imported only now: usage errors above are reported fast.
    from sinecli import checkpoint
    from sinecli.export import onnx_file

    ckpt = checkpoint.load(model_path)
    exported = onnx_file.export(ckpt, dataset.sha256(model_path))
    write_bytes(output, exported.data, "output")
    seconds = time.perf_counter() - t0
    summary: dict[str, Any] = {
        "output": str(output),
        "model": ckpt.model_config.kind,
        "inputs": [onnx_file.INPUT, *([onnx_file.LENGTHS] if exported.reads_lengths else [])],
        "dynamic_time": exported.dynamic_time,
        "opset": onnx_file.OPSET,
        "checked": exported.checked,
        "max_difference": exported.max_difference,
        "tolerance": onnx_file.TOLERANCE,
        "size_bytes": len(exported.data),
        "seconds": round(seconds, 3),
    }
    if not quiet:
        print(f"exported {ckpt.model_config.kind} model {model_path} to {output} "
              f"({len(exported.data):,} bytes, opset {onnx_file.OPSET}) in {seconds:.1f}s; "
              f"onnxruntime matches sinecli within {exported.max_difference:.2g} on "
              f"{exported.checked} sequences (tolerance {onnx_file.TOLERANCE:g})",
              file=sys.stderr)
    return summary
