"""`sinecli export`: a checkpoint as an ONNX model that onnxruntime runs without sinecli.

- `graph`: every family as one traceable torch module, raw values in, probabilities out
  (torch only); `recurrent`: the recurrent kinds through ONNX's own GRU, LSTM and RNN ops.
- `onnx_file`: the export itself (torch.onnx with onnxscript), the metadata, the check of the
  written graph with onnxruntime, and what `sinecli info` shows of a `.onnx` file.

onnx, onnxscript and onnxruntime are the optional extra `sinecli[onnx]`; only `export` and
`info` on a `.onnx` file import them (`require_extra`), so no other command's start-up pays.
"""

from __future__ import annotations

import importlib

from sinecli.errors import SinecliError

#: The extra's modules, in the order they are imported.
EXTRA_MODULES = ("onnx", "onnxscript", "onnxruntime")
INSTALL_LINE = "pip install 'sinecli[onnx]'"


def require_extra(what: str = "export") -> None:
    """Import the extra's modules, or raise SinecliError (exit 2) with the pip line."""
    for name in EXTRA_MODULES:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise SinecliError(f"{what} needs the optional ONNX packages ({name} is missing: "
                               f"{exc}); install them with: {INSTALL_LINE}") from exc
