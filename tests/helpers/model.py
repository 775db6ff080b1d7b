"""A tiny trained checkpoint and matching datasets, for the evaluate / predict / plot tests.

`make_workspace(folder)` writes, in about a second on 2 cores:
- `train.npz`: the notebook's 3 classes, 12 sequences each, 24 points (seed 1);
- `test.npz`: the same spec with seed 2 (a held-out set);
- `model.pt`: a GRU with 8 hidden units trained for 2 epochs on train.npz, on the CPU;
- `unlabelled.npz`: test.npz without `y`;
- `stereo.npz`: test.npz with each sequence as two channels (the model reads one);
- `renamed.npz`: test.npz with other class names (does not fit the model's classes).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from sinecli import dataset
from sinecli.generate import make_dataset
from sinecli.schema.generate import GenerateSpec

POINTS = 24
PER_CLASS = 12


def make_workspace(folder: Path) -> dict[str, Path]:
    from sinecli.commands.train import run as train

    spec = GenerateSpec(samples_per_class=PER_CLASS, points=POINTS, seed=1)
    paths = {name: folder / f"{name}.npz"
             for name in ("train", "test", "unlabelled", "stereo", "renamed")}
    dataset.save(paths["train"], make_dataset(spec))
    test = make_dataset(dataclasses.replace(spec, seed=2))
    dataset.save(paths["test"], test)
    dataset.save(paths["unlabelled"], dataclasses.replace(test, y=None))
    dataset.save(paths["stereo"],  # two channels, where the model was trained on one
                 dataclasses.replace(test, X=np.stack([test.X, test.X], axis=1)))
    dataset.save(paths["renamed"],
                 dataclasses.replace(test, class_names=["x", "y", "z"]))
    paths["model"] = folder / "model.pt"
    train(paths["train"], paths["model"], None, {"kind": "gru", "hidden": 8},
          {"epochs": 2, "batch_size": 8, "val_fraction": 0.0, "seed": 0},
          device_spec="cpu", quiet=True)
    return paths
