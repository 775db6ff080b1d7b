"""The calibrated head fitted from features computed a chunk at a time: for training sets too
large for the exact leave-one-out fit (`head.fit_head`), in memory and time linear in N.

A seeded slice of the training set is held out (`held_out_size`); its features, computed
once, give the standardisation (mean and std) and judge the candidates. The candidates are
multinomial logistic regressions, one per L2 penalty in `PENALTIES`, trained together by Adam
on the same minibatches of the other sequences (their features are computed once per chunk
and shared, so P heads cost barely more than one). After each epoch every candidate's
held-out log loss, at its own fitted temperature, is measured; the (penalty, epoch) with the
least is kept, and its temperature fitted on the held-out slice as the exact head's is on
the leave-one-out decisions.

The training features are held in memory when they fit in `CACHE_BYTES`, else computed again
each epoch; either way each minibatch holds the same rows with the same features, so the two
give the same head to the bit. Under torchrun each rank computes its own rows of each chunk
(every `world_size`-th, from its rank), the gradient sums are all-reduced before every step,
and the held-out features are gathered, so every rank takes the same steps and decisions.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from sinecli.distributed import Local
from sinecli.models.features.head import FittedHead, fit_temperature, held_out_figures
from sinecli.threads import one_thread

#: L2 penalties (on the mean cross-entropy, standardised features) trained side by side.
PENALTIES = (1e-4, 1e-3, 1e-2, 1e-1)
#: Sequences per minibatch, and Adam's learning rate times sqrt(F) (decayed by a cosine to
#: 0): Adam moves every weight by about the rate, so a logit by about rate * sqrt(F) on
#: standardised features of random signs.
BATCH = 256
LR = 0.1
#: At most this many sequences are held out (a fifth of a smaller set).
MAX_HELD_OUT = 4096
#: Training features kept in memory between epochs up to this many bytes (float32).
CACHE_BYTES = 512 * 2**20
#: Rows whose features are computed at once (a multiple of BATCH).
CHUNK_ROWS = 4 * BATCH
#: Sequences seen in all, for the default epoch count (at least 2 epochs, at most 50).
SEEN = 200_000


def held_out_size(n: int) -> int:
    return min(MAX_HELD_OUT, math.ceil(n / 5))


def default_epochs(n_train: int) -> int:
    return max(2, min(50, math.ceil(SEEN / n_train)))


#: features_of(rows) -> (len(rows), F) float32 features of those training rows (indices).
FeaturesOf = Callable[[np.ndarray], torch.Tensor]


@dataclass
class StreamedFit:
    head: FittedHead
    train_loss: float  # the chosen candidate's mean minibatch loss in its chosen epoch
    epochs: int
    best_epoch: int
    held_out: int


def fit_streamed(features_of: FeaturesOf, y: np.ndarray, num_classes: int,
                 rng: np.random.Generator, *, epochs: int = 0, group: Local | None = None,
                 cache_bytes: int = CACHE_BYTES, penalties: tuple[float, ...] = PENALTIES,
                 on_chunk: Callable[[], None] | None = None) -> StreamedFit:
    """Fit the head on the N sequences whose labels are y (N,), reading their features
    through `features_of` a chunk at a time. `epochs` 0 takes `default_epochs`. `on_chunk`
    runs between chunks (a stop check). Every draw comes from `rng`."""
    with _flushing_denormals():
        return _fit_streamed(features_of, y, num_classes, rng, epochs=epochs, group=group,
                             cache_bytes=cache_bytes, penalties=penalties, on_chunk=on_chunk)


@contextlib.contextmanager
def _flushing_denormals() -> Iterator[None]:
    """Denormal floats flushed to zero: on separable data the gradients and Adam's moments
    shrink into the denormal range, where every step ran 100x slower (25 ms an Adam step on
    120k weights, 10^4 sine sequences); torch's default (off) afterwards."""
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def _fit_streamed(features_of: FeaturesOf, y: np.ndarray, num_classes: int,
                  rng: np.random.Generator, *, epochs: int, group: Local | None,
                  cache_bytes: int, penalties: tuple[float, ...],
                  on_chunk: Callable[[], None] | None) -> StreamedFit:
    group = group if group is not None else Local()
    n = len(y)
    order = rng.permutation(n)
    h = held_out_size(n)
    held, train = np.sort(order[:h]), np.sort(order[h:])
    epochs = epochs or default_epochs(len(train))
    held_z = gather_features(features_of, held, group, on_chunk)  # (h, F), standardised below
    mean, std = _moments(held_z)
    mean32, std32 = mean.float(), std.float()
    held_z.sub_(mean32).div_(std32)
    f = held_z.shape[1]
    p = len(penalties)
    weight = torch.zeros(p, num_classes, f)  # (P, K, F)
    bias = torch.zeros(p, num_classes)  # (P, K)
    lr = LR / math.sqrt(f)
    optimizer = torch.optim.Adam([weight, bias], lr=lr)
    steps_per_epoch = math.ceil(len(train) / BATCH)
    total = epochs * steps_per_epoch
    penalty = torch.tensor(penalties, dtype=torch.float32)[:, None, None]  # (P, 1, 1)
    labels = torch.from_numpy(np.asarray(y, dtype=np.int64))
    position = np.empty(n, dtype=np.int64)  # where each training row is in `train`
    position[train] = np.arange(len(train))
    cached = None  # (n_train, F) every training row's standardised features, if they fit
    if len(train) * f * 4 <= cache_bytes:
        cached = gather_features(features_of, train, group, on_chunk).sub_(mean32).div_(std32)
    held_y = np.asarray(y)[held]
    best: _Best | None = None
    step = 0
    for epoch in range(1, epochs + 1):
        seq = train[rng.permutation(len(train))]
        losses = torch.zeros(p, dtype=torch.float64)
        for lo in range(0, len(seq), CHUNK_ROWS):
            if on_chunk is not None:
                on_chunk()
            chunk = seq[lo: lo + CHUNK_ROWS]
            mine = np.arange(group.rank, len(chunk), group.world_size)  # this rank's positions
            z = cached[position[chunk[mine]]] if cached is not None else \
                (features_of(chunk[mine]) - mean32) / std32  # (rows of this rank, F)
            with one_thread():  # small steps (see sinecli.threads.one_thread)
                for s in range(0, len(chunk), BATCH):
                    a, b = np.searchsorted(mine, (s, s + BATCH))
                    rows = min(BATCH, len(chunk) - s)
                    for group_ in optimizer.param_groups:  # cosine decay to 0 over the run
                        group_["lr"] = lr * 0.5 * (1.0 + math.cos(math.pi * step / total))
                    losses += _step(optimizer, z[a:b], labels[chunk[mine[a:b]]], rows, weight,
                                    bias, penalty, group)
                    step += 1
        best = _judged(held_z, held_y, weight, bias, epoch, losses / len(train), best)
    assert best is not None
    loss, best_epoch, i, w, b, temperature, best_train, decision = best
    _, accuracy, brier = held_out_figures(decision, held_y, temperature)
    head = FittedHead(mean=mean.numpy(), std=std.numpy(), weight=w.numpy(), bias=b.numpy(),
                      temperature=temperature, alpha=penalties[i], cv_loss=loss,
                      cv_accuracy=accuracy, cv_brier=brier, standardised_on=h)
    return StreamedFit(head, best_train, epochs, best_epoch, h)


#: The best (penalty, epoch) so far: its held-out loss, epoch, penalty's index, weights (K, F)
#: and bias (K,), temperature, mean training loss, and held-out decision values (h, K).
_Best = tuple[float, int, int, torch.Tensor, torch.Tensor, float, float, np.ndarray]


def _judged(held_z: torch.Tensor, held_y: np.ndarray, weight: torch.Tensor, bias: torch.Tensor,
            epoch: int, train_losses: torch.Tensor, best: _Best | None) -> _Best | None:
    """Each penalty's head after `epoch`, calibrated on the held-out rows (h, F): the best so
    far by held-out log loss."""
    p, num_classes, f = weight.shape
    p_k = weight.view(p * num_classes, f)
    decisions = ((held_z @ p_k.T).view(-1, p, num_classes) + bias).double().transpose(0, 1)
    for i in range(p):
        decision = decisions[i].numpy()
        temperature, loss = fit_temperature(decision, held_y, smoothing=1.0 / (len(held_y) + 2))
        if best is None or loss < best[0] - 1e-9:
            best = (loss, epoch, i, weight[i].clone(), bias[i].clone(), temperature,
                    float(train_losses[i]), decision)
    return best


def _step(optimizer: torch.optim.Optimizer, z: torch.Tensor, target: torch.Tensor, rows: int,
          weight: torch.Tensor, bias: torch.Tensor, penalty: torch.Tensor, group: Local
          ) -> torch.Tensor:
    """One Adam step of every candidate on a minibatch of `rows` sequences, of which this
    rank holds z (b, F) and their labels: the ranks' gradient and loss sums added up, divided
    by `rows`, plus each candidate's L2 penalty. Returns the candidates' summed losses (P,)."""
    grads, ce = _gradient(z, target, weight, bias)
    sums = group.all_reduce(torch.cat([*(g.view(-1) for g in grads), ce])) / rows
    cut = weight.numel()
    weight.grad = sums[:cut].view_as(weight) + weight * penalty
    bias.grad = sums[cut: cut + bias.numel()].view_as(bias)
    optimizer.step()
    return sums[cut + bias.numel():].double() * rows


def _moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each column's mean and standard deviation (1 where it is constant), in float64, a
    block of rows at a time (no float64 copy of x)."""
    total = torch.zeros(x.shape[1], dtype=torch.float64)
    for lo in range(0, len(x), CHUNK_ROWS):
        total += x[lo: lo + CHUNK_ROWS].sum(0, dtype=torch.float64)
    mean = total / len(x)
    square = torch.zeros_like(total)
    for lo in range(0, len(x), CHUNK_ROWS):
        square += (x[lo: lo + CHUNK_ROWS].double() - mean).square().sum(0)
    std = (square / len(x)).sqrt()
    return mean, torch.where(std > 1e-12, std, torch.ones_like(std))


def _gradient(z: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor
              ) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
    """For each of the P candidates, the gradient of the summed cross-entropy of rows z
    (b, F) with labels `target` (b,): d/dW = (softmax - onehot)^T z, d/db its column sums;
    and the summed cross-entropies (P,). The P candidates' K classes are one (P K, F) matrix,
    so each product is one matrix multiplication."""
    p, k, f = weight.shape
    logits = (z @ weight.view(p * k, f).T).view(-1, p, k) + bias  # (b, P, K)
    logp = torch.log_softmax(logits, dim=-1)
    rows = torch.arange(len(target))
    ce = -logp[rows, :, target].sum(0)  # (P,)
    g = logp.exp()
    g[rows, :, target] -= 1.0  # (b, P, K) d(sum of CE)/d logits
    flat = g.view(-1, p * k)
    return ((flat.T @ z).view(p, k, f), g.sum(0)), ce


def gather_features(features_of: FeaturesOf, rows: np.ndarray, group: Local,
                    on_chunk: Callable[[], None] | None = None) -> torch.Tensor:
    """The features (len(rows), F) of `rows` on every rank, computed a chunk at a time into
    one array: of each chunk of rows, each rank computes every world_size-th, then all share
    them (every rank takes the same number of chunks, so their stop checks and collectives
    pair up)."""
    step = CHUNK_ROWS * group.world_size
    out: torch.Tensor | None = None
    for lo in range(0, len(rows), step):
        if on_chunk is not None:
            on_chunk()
        chunk = rows[lo: lo + step]
        mine = features_of(chunk[group.rank:: group.world_size])
        if out is None:
            out = torch.empty(len(rows), mine.shape[1])
        if group.world_size == 1:
            out[lo: lo + len(chunk)] = mine
            continue
        shares = group.all_gather_rows(mine, len(chunk))  # (world_size) x (per_rank, F)
        for r, share in enumerate(shares):
            count = len(range(r, len(chunk), group.world_size))
            out[lo + r: lo + len(chunk): group.world_size] = share[:count]
    assert out is not None, "no rows"
    return out
