"""The recurrent kinds (gru, lstm, rnn) as ONNX's own GRU, LSTM and RNN operators.

torch.onnx's exporter (torch.export, then onnxscript) fixes the time axis of a bidirectional
network or of a tanh RNN to the example's length, and cannot trace `pack_padded_sequence`.
ONNX's recurrent operators take each sequence's step count (`sequence_lens`) and read a
sequence in reverse from its own last step: exactly what the packed sequences of
`RecurrentClassifier` compute. So this module emits them directly (`torch.onnx.ops`), with
torch's weights reordered into ONNX's gate order; everything around them (scaling, patches,
head) is the model's own torch code. Outside an export, `forward` runs the model itself.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sinecli.models.base import as_3d
from sinecli.models.recurrent import RecurrentClassifier, patch_steps

#: torch's gate rows, in the order ONNX wants them: GRU torch (r, z, n) -> ONNX (z, r, h);
#: LSTM torch (i, f, g, o) -> ONNX (i, o, f, c); RNN one gate.
_GATE_ORDER = {"gru": (1, 0, 2), "lstm": (0, 3, 1, 2), "rnn": (0,)}
_OP = {"gru": "GRU", "lstm": "LSTM", "rnn": "RNN"}


def _reorder(weight: torch.Tensor, kind: str) -> torch.Tensor:
    """(G * H, ...) rows in torch's gate order -> ONNX's."""
    gates = weight.chunk(len(_GATE_ORDER[kind]), dim=0)
    return torch.cat([gates[g] for g in _GATE_ORDER[kind]], dim=0)


def onnx_weights(rnn: nn.RNNBase, kind: str, layer: int
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One layer's W (D, G*H, I), R (D, G*H, H) and B (D, 2*G*H), as ONNX's operator reads
    them (D directions, forward first)."""
    ws, rs, bs = [], [], []
    for suffix in ("", "_reverse")[: 2 if rnn.bidirectional else 1]:
        def param(name: str, suffix: str = suffix) -> torch.Tensor:
            return _reorder(getattr(rnn, f"{name}_l{layer}{suffix}").detach(), kind)

        ws.append(param("weight_ih"))
        rs.append(param("weight_hh"))
        bs.append(torch.cat([param("bias_ih"), param("bias_hh")]))
    return torch.stack(ws), torch.stack(rs), torch.stack(bs)


class RecurrentGraph(nn.Module):
    """x (B, C, T) raw, lengths (B,) -> probabilities (B, K), through ONNX recurrent ops."""

    def __init__(self, model: RecurrentClassifier) -> None:
        super().__init__()
        self.model = model
        cfg = model.cfg
        self.kind, self.patch, self.hidden = cfg.kind, cfg.patch, cfg.hidden
        self.directions = 2 if cfg.bidirectional else 1
        for layer in range(cfg.layers):
            w, r, b = onnx_weights(model.rnn, cfg.kind, layer)
            self.register_buffer(f"w{layer}", w)
            self.register_buffer(f"r{layer}", r)
            self.register_buffer(f"b{layer}", b)
        self.layers = cfg.layers

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # x (B, C, T) raw, lengths (B,) -> probabilities (B, K)
        if not torch.onnx.is_in_onnx_export():
            return torch.softmax(self.model(x, lengths), dim=-1)
        x = as_3d(x)
        b, c, t = x.shape
        lengths = torch.clamp(lengths, 1, t)
        steps_in, steps = patch_steps(self.model.normalise(x, lengths), lengths, self.patch,
                                      steps_wide=(t + self.patch - 1) // self.patch)
        assert steps is not None  # (B,) each sequence's step count
        seq = steps_in.transpose(0, 1)  # (S, B, C * patch), time-major as ONNX reads it
        s = seq.shape[0]
        lens = steps.to(torch.int32)
        attrs: dict[str, Any] = {"hidden_size": self.hidden,
                 "direction": "bidirectional" if self.directions == 2 else "forward"}
        if self.kind == "gru":
            attrs["linear_before_reset"] = 1  # torch's GRU applies r after the product
        h_last = seq
        for layer in range(self.layers):
            w, r, bias = (getattr(self, f"{n}{layer}") for n in "wrb")
            inputs = [seq, w, r, bias, lens]
            outputs = torch.onnx.ops.symbolic_multi_out(
                f"::{_OP[self.kind]}", inputs, attrs,
                dtypes=[seq.dtype, seq.dtype] + ([seq.dtype] if self.kind == "lstm" else []),
                shapes=[[s, self.directions, b, self.hidden], [self.directions, b, self.hidden]]
                + ([[self.directions, b, self.hidden]] if self.kind == "lstm" else []))
            y, h_last = outputs[0], outputs[1]  # (S, D, B, H), (D, B, H)
            seq = y.permute(0, 2, 1, 3).reshape(s, b, self.directions * self.hidden)
        last = h_last.transpose(0, 1).reshape(b, self.directions * self.hidden)  # (B, D*H)
        return torch.softmax(self.model.head(last), dim=-1)
