"""sinecli.optim: torch's Adam and SGD, bit for bit, without importing torch._dynamo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from helpers.cli import probe

from sinecli import dataset, optim
from sinecli.generate import make_dataset
from sinecli.schema.generate import GenerateSpec

CASES = [
    ("Adam", {"lr": 0.02}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01}),
]


def trained(optimizer_cls: Any, kwargs: dict[str, Any], steps: int = 5
            ) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    """A small GRU after `steps` clipped steps on fixed random data."""
    torch.manual_seed(0)
    model = torch.nn.GRU(3, 5, batch_first=True)
    opt = optimizer_cls(model.parameters(), **kwargs)
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.randn(4, 6, 3, generator=g)  # (B, T, input)
        loss = model(x)[0].pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return model, opt


def same_state(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a["param_groups"] != b["param_groups"] or a["state"].keys() != b["state"].keys():
        return False
    return all(
        sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
        for sa, sb in ((a["state"][i], b["state"][i]) for i in a["state"])
    )


@pytest.mark.parametrize(("name", "kwargs"), CASES)
def test_same_weights_and_state_as_torch(name: str, kwargs: dict[str, Any]) -> None:
    ours_model, ours = trained(getattr(optim, name), kwargs)
    torch_model, theirs = trained(getattr(torch.optim, name), kwargs)
    assert isinstance(ours, getattr(torch.optim, name))
    for p, q in zip(ours_model.parameters(), torch_model.parameters(), strict=True):
        assert torch.equal(p, q)
    assert same_state(ours.state_dict(), theirs.state_dict())


@pytest.mark.parametrize(("name", "kwargs"), CASES)
def test_state_dicts_load_both_ways(name: str, kwargs: dict[str, Any]) -> None:
    """Checkpoints written with torch's optimizers resume with ours, and back."""
    _, theirs = trained(getattr(torch.optim, name), kwargs)
    model, ours = trained(getattr(optim, name), kwargs, steps=1)
    ours.load_state_dict(theirs.state_dict())
    assert same_state(ours.state_dict(), theirs.state_dict())
    fresh = getattr(torch.optim, name)(model.parameters(), **kwargs)
    fresh.load_state_dict(ours.state_dict())
    assert same_state(fresh.state_dict(), ours.state_dict())


def test_step_hooks_still_run() -> None:
    model = torch.nn.Linear(2, 1)
    opt = optim.Adam(model.parameters(), lr=0.1)
    calls: list[str] = []
    opt.register_step_pre_hook(lambda *_: calls.append("pre"))
    opt.register_step_post_hook(lambda *_: calls.append("post"))
    model(torch.ones(1, 2)).sum().backward()
    before = model.weight.detach().clone()
    opt.step()
    assert calls == ["pre", "post"] and not torch.equal(model.weight, before)


def test_step_does_not_record_a_graph() -> None:
    model = torch.nn.Linear(2, 1)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
    model(torch.ones(1, 2)).sum().backward()
    opt.step()
    assert model.weight.grad_fn is None and model.weight.is_leaf


def test_a_default_train_imports_neither_dynamo_nor_sklearn(tmp_path: Path) -> None:
    """torch._dynamo, torch._inductor and sklearn each cost 1-1.5 s of a ~2 s process."""
    data = tmp_path / "d.npz"
    dataset.save(data, make_dataset(GenerateSpec(samples_per_class=6, points=16)))
    watch = ["torch", "torch._dynamo", "torch._inductor", "sklearn", "matplotlib"]
    report = probe(["train", data, "-o", "m.pt", "-q"], tmp_path, watch)
    assert report == {"code": 0, "heavy": ["torch"]}
