"""MetaTL: sequential recommendation for cold-start users by meta transitional learning.

A user who arrives with two or three interactions gets a personal "translation" vector, adapted
in one gradient step from their first item-to-item transitions, and the items that come next are
ranked by TransE scores ``-||head + r - tail||``. This package drives the Swift engine through
its C ABI.

>>> import metatl
>>> data = metatl.Dataset.synthetic(seed=1)
>>> model = metatl.Model(dim=32, batch_size=256, threads=2)
>>> history = model.fit(data, steps=100, progress=False)
>>> ids, scores = model.recommend(data.item_ids[:3], k=5)
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union



def _prefer_fast_blas_kernel() -> None:
    """Debian's OpenBLAS 0.3.21 falls back to slow generic kernels on CPUs it does not know.
    OpenBLAS reads OPENBLAS_CORETYPE once, when it loads (with the extension below), so name the
    best kernel this CPU supports unless the variable is already set (or METATL_KEEP_BLAS_KERNEL
    is). The `metatl` command does the same by restarting itself."""
    if "OPENBLAS_CORETYPE" in os.environ or "METATL_KEEP_BLAS_KERNEL" in os.environ:
        return
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return
    flags = set(flags)
    if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= flags:
        os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"
    elif {"avx2", "fma"} <= flags:
        os.environ["OPENBLAS_CORETYPE"] = "Haswell"


_prefer_fast_blas_kernel()

import numpy as np  # noqa: E402

from . import _metatl  # noqa: E402

__all__ = ["Dataset", "Model", "version"]
__version__ = "0.1.0"

PathLike = Union[str, "os.PathLike[str]"]
IdsLike = Union[Sequence[int], np.ndarray, Iterable[int]]

_SAMPLERS = {"reference": _metatl.SAMPLER_REFERENCE, "contiguous": _metatl.SAMPLER_CONTIGUOUS}
_INNER_STEPS = {"reference": _metatl.INNER_STEP_REFERENCE, "per_task": _metatl.INNER_STEP_PER_TASK}
_SPLITS = {"valid": _metatl.SPLIT_VALID, "test": _metatl.SPLIT_TEST}
_PROTOCOLS = {"sampled": _metatl.PROTOCOL_SAMPLED, "full": _metatl.PROTOCOL_FULL}


def version() -> str:
    """The engine's version (libmetatl)."""
    return _metatl.version()


def _ids(values: IdsLike, name: str) -> np.ndarray:
    """A 1-D contiguous int64 array of item or user ids, or a clear TypeError/ValueError."""
    array = np.asarray(list(values) if not hasattr(values, "__len__") else values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size and array.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer ids, got dtype {array.dtype}")
    if array.dtype.kind == "u" and array.size and array.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{name} holds an id larger than int64")
    return np.ascontiguousarray(array, dtype=np.int64)


def _times(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size and array.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold numbers, got dtype {array.dtype}")
    return np.ascontiguousarray(array, dtype=np.float64)


class Dataset:
    """A cold-start dataset: training users' sequences, and new users split into validation
    (30%) and test (70%) with the seed. Only new users with more than K interactions are
    evaluated: their first K items are the input, the next one the target."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self._info = handle.info()

    @classmethod
    def from_files(cls, train: PathLike, test: PathLike, K: int = 3, seed: int = 1) -> "Dataset":
        """Reads the reference's files: ``user<TAB>item<TAB>timestamp`` rows (commas and one
        header line accepted) of training users (``train``) and new users (``test``)."""
        return cls(_metatl.dataset_from_files(os.fspath(train), os.fspath(test), int(K), int(seed)))

    @classmethod
    def from_arrays(cls, users: IdsLike, items: IdsLike, timestamps: Any,
                    test_users: IdsLike, test_items: IdsLike, test_timestamps: Any,
                    K: int = 3, seed: int = 1) -> "Dataset":
        """Builds a dataset from columns (numpy arrays, lists or pandas columns): training users'
        interactions, then new users' interactions."""
        return cls(_metatl.dataset_from_arrays(
            _ids(users, "users"), _ids(items, "items"), _times(timestamps, "timestamps"),
            _ids(test_users, "test_users"), _ids(test_items, "test_items"), _times(test_timestamps, "test_timestamps"),
            int(K), int(seed)))

    @classmethod
    def synthetic(cls, side: int = 40, train_users: int = 4000, new_users: int = 2000, seed: int = 1) -> "Dataset":
        """The built-in synthetic data of ``metatl demo``: items are the cells of a side x side grid
        and every user follows one of eight planted directions (10% random jumps). K = 3."""
        return cls(_metatl.dataset_synthetic(int(side), int(train_users), int(new_users), int(seed)))

    @property
    def info(self) -> Dict[str, int]:
        """Counts: items, items_not_in_training, train_users, train_interactions, valid_users, test_users, K."""
        return dict(self._info)

    @property
    def K(self) -> int:
        return int(self._info["K"])

    @property
    def items(self) -> int:
        return int(self._info["items"])

    def __repr__(self) -> str:
        i = self._info
        return (f"Dataset({i['items']} items, {i['train_users']} training users, "
                f"{i['valid_users']} validation / {i['test_users']} test users, K={i['K']})")


class Model:
    """A MetaTL model. Settings are keyword arguments (defaults are the reference notebook's);
    the item catalogue comes from the first dataset passed to :meth:`fit`, or from a checkpoint
    (:meth:`load`).

    A model may serve ``adapt``/``score``/``recommend``/``evaluate`` from many threads at once,
    also while another thread runs ``fit``: each training step holds the model for an instant and
    serving calls wait for it, so neither fails. A training call made while another one runs on
    the model raises RuntimeError (busy); ``fit`` trains in chunks of such calls, so do not run
    two ``fit`` on one model at once (they would fail or interleave)."""

    def __init__(self, *, K: int = 3, dim: int = 100, hidden: Tuple[int, int] = (500, 200),
                 batch_size: int = 1024, learning_rate: float = 0.001, beta: float = 5.0,
                 margin: float = 1.0, dropout: float = 0.5, seed: int = 1,
                 sampler: str = "reference", inner_step: str = "reference", threads: int = 1) -> None:
        if sampler not in _SAMPLERS:
            raise ValueError(f"sampler must be one of {sorted(_SAMPLERS)}, got {sampler!r}")
        if inner_step not in _INNER_STEPS:
            raise ValueError(f"inner_step must be one of {sorted(_INNER_STEPS)}, got {inner_step!r}")
        if len(tuple(hidden)) != 2:
            raise ValueError(f"hidden must be two sizes, got {hidden!r}")
        self._settings: Dict[str, Any] = dict(
            K=int(K), dim=int(dim), hidden1=int(hidden[0]), hidden2=int(hidden[1]), batch_size=int(batch_size),
            learning_rate=float(learning_rate), beta=float(beta), margin=float(margin), dropout=float(dropout),
            seed=int(seed), sampler=_SAMPLERS[sampler], inner_step=_INNER_STEPS[inner_step], threads=int(threads))
        if self._settings["seed"] < 0:
            raise ValueError(f"seed must be non-negative, got {seed}")
        self._handle: Optional[Any] = None

    # -- training -------------------------------------------------------------------------

    def fit(self, dataset: Dataset, steps: int, eval_every: Optional[int] = None,
            progress: bool = True, patience: Optional[int] = None,
            select_by: str = "sampled_mrr") -> List[Dict[str, Any]]:
        """Trains up to ``steps`` meta steps on ``dataset``'s training users.

        Training runs in chunks (the GIL is released inside each), so a notebook stays responsive
        and Ctrl-C stops cleanly after the current chunk, keeping what was learned. With
        ``eval_every``, the validation users are evaluated every that many steps.

        Model selection (as ``metatl train`` does it): with ``patience`` (and ``eval_every``), the
        model before training and after every evaluation competes on ``select_by``
        ("sampled_mrr" or "full_mrr" on the validation users); training stops after
        ``patience`` evaluations in a row without a new best (0: never early), and the model is
        then put back exactly as it was at the best evaluation (also after Ctrl-C).

        Returns the learning curve: one dict per record with ``step``, ``loss`` (mean query loss
        since the last record), ``steps_per_s`` and, at evaluations, ``valid_MRR`` and
        ``valid_Hits@10`` (sampled protocol), plus ``valid_full_MRR``, ``valid_full_Hits@10`` and
        ``selected`` (True on the kept model's record) with model selection.
        """
        if not isinstance(dataset, Dataset):
            raise TypeError(f"dataset must be a metatl.Dataset, got {type(dataset).__name__}")
        steps = int(steps)
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        if eval_every is not None and int(eval_every) < 1:
            raise ValueError(f"eval_every must be at least 1, got {eval_every}")
        if patience is not None:
            if int(patience) < 0:
                raise ValueError(f"patience must be non-negative, got {patience}")
            if not eval_every:
                raise ValueError("patience needs eval_every: model selection evaluates every eval_every steps")
        if select_by not in ("sampled_mrr", "full_mrr"):
            raise ValueError(f"select_by must be 'sampled_mrr' or 'full_mrr', got {select_by!r}")
        if self._handle is None:
            self._handle = _metatl.model_create(self._settings, dataset._handle)
        selecting = patience is not None
        record_every = int(eval_every) if eval_every else max(1, steps // 20)
        chunk = max(1, min(record_every, 10))
        bar = _Progress(steps, enabled=progress)
        history: List[Dict[str, Any]] = []

        def validate(entry: Dict[str, Any]) -> float:
            m = self._handle.evaluate(dataset._handle, _metatl.SPLIT_VALID, _metatl.PROTOCOL_SAMPLED)
            entry["valid_MRR"] = m["MRR"]
            entry["valid_Hits@10"] = m["Hits@10"]
            if selecting:
                f = self._handle.evaluate(dataset._handle, _metatl.SPLIT_VALID, _metatl.PROTOCOL_FULL)
                entry["valid_full_MRR"] = f["MRR"]
                entry["valid_full_Hits@10"] = f["Hits@10"]
                entry["selected"] = False
            return entry["valid_MRR"] if select_by == "sampled_mrr" else entry["valid_full_MRR"]

        best_score, best_entry, best_state, since_best = -1.0, None, None, 0
        if selecting:
            first: Dict[str, Any] = {"step": self._handle.step()}
            best_score, best_entry, best_state = validate(first), first, self._handle.snapshot()
            history.append(first)
        done, since_record, loss_sum, start, record_start = 0, 0, 0.0, time.perf_counter(), time.perf_counter()
        try:
            while done < steps:
                n = min(chunk, steps - done, record_every - since_record)
                loss_sum += self._handle.train(dataset._handle, n) * n
                done += n
                since_record += n
                bar.update(done, loss_sum / since_record)
                if since_record == record_every or done == steps:
                    now = time.perf_counter()
                    entry: Dict[str, Any] = {"step": self._handle.step(), "loss": loss_sum / since_record,
                                             "steps_per_s": since_record / max(now - record_start, 1e-9)}
                    history.append(entry)
                    since_record, loss_sum = 0, 0.0
                    if eval_every:
                        score = validate(entry)
                        bar.write(f"step {entry['step']}: loss {entry['loss']:.4f}, valid MRR {entry['valid_MRR']:.4f}")
                        if selecting:
                            if score > best_score:
                                best_score, best_entry, best_state, since_best = score, entry, self._handle.snapshot(), 0
                            else:
                                since_best += 1
                                if patience and since_best >= int(patience):
                                    bar.write(f"no better validation for {patience} evaluations: stopping")
                                    break
                    record_start = time.perf_counter()
        except KeyboardInterrupt:
            bar.write(f"interrupted after {done} of {steps} steps; the model keeps what it learned")
        finally:
            bar.close(time.perf_counter() - start)
            if best_state is not None and best_entry is not None:
                self._handle.restore(best_state)
                best_entry["selected"] = True
                if progress:
                    print(f"kept the model of step {best_entry['step']} (valid {select_by} {best_score:.4f})",
                          file=sys.stderr)
        return history

    # -- measuring ------------------------------------------------------------------------

    def evaluate(self, dataset: Dataset, split: str = "test", protocol: str = "sampled") -> Dict[str, float]:
        """MRR, NDCG@1/5/10 and Hits@1/5/10 (and ``users``) on one split of new users.
        ``protocol`` is "sampled" (target vs 100 sampled negatives, the reference's) or "full"
        (target vs the whole catalogue except the user's inputs). Ranks are pessimistic."""
        if split not in _SPLITS:
            raise ValueError(f"split must be 'valid' or 'test', got {split!r}")
        if protocol not in _PROTOCOLS:
            raise ValueError(f"protocol must be 'sampled' or 'full', got {protocol!r}")
        if not isinstance(dataset, Dataset):
            raise TypeError(f"dataset must be a metatl.Dataset, got {type(dataset).__name__}")
        return dict(self._trained().evaluate(dataset._handle, _SPLITS[split], _PROTOCOLS[protocol]))

    # -- serving a new user -----------------------------------------------------------------

    def adapt(self, history: IdsLike) -> np.ndarray:
        """The user's adapted relation r' (float32, length ``dim``) from their item ids, oldest
        first. The most recent K are used; at least 2 are needed; unknown ids raise ValueError."""
        return self._trained().adapt(_ids(history, "history"))

    def score(self, history: IdsLike, candidates: IdsLike) -> np.ndarray:
        """Scores (float32, higher is better) of ``candidates`` as the next item after the last
        item of ``history``: ``-||E[last] + r' - E[candidate]||``."""
        h = _ids(history, "history")
        model = self._trained()
        relation = model.adapt(h)
        if len(h) == 0:
            raise ValueError("history is empty")
        return model.score(relation, int(h[-1]), _ids(candidates, "candidates"))

    def recommend(self, history: IdsLike, k: int = 10, exclude_history: bool = True) -> Tuple[np.ndarray, np.ndarray]:
        """The ``k`` best next items over the whole catalogue: (item ids int64, scores float32),
        best first. The history's items are left out unless ``exclude_history`` is False."""
        if int(k) < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        return self._trained().recommend(_ids(history, "history"), int(k), bool(exclude_history))

    # -- the catalogue ----------------------------------------------------------------------

    @property
    def item_ids(self) -> np.ndarray:
        """External ids of the catalogue's items (int64), in the order of :attr:`item_embeddings`."""
        return self._trained().item_table(False)[0]

    @property
    def item_embeddings(self) -> np.ndarray:
        """The item embedding table, items x dim float32 (the padding row left out)."""
        return self._trained().item_table(True)[1]

    @property
    def config(self) -> Dict[str, Any]:
        """The model's settings."""
        if self._handle is None:
            s = dict(self._settings)
            s["hidden"] = (s.pop("hidden1"), s.pop("hidden2"))
            s["sampler"] = {v: k for k, v in _SAMPLERS.items()}[s["sampler"]]
            s["inner_step"] = {v: k for k, v in _INNER_STEPS.items()}[s["inner_step"]]
            return s
        return dict(self._handle.config())

    @property
    def step(self) -> int:
        """Training steps taken (RuntimeError while another thread trains this model)."""
        return 0 if self._handle is None else int(self._handle.step())

    # -- checkpoints --------------------------------------------------------------------------

    def save(self, path: PathLike) -> None:
        """Writes a safetensors checkpoint (atomically): settings, vocabulary, weights under the
        reference's state_dict names, BatchNorm statistics, Adam state and step."""
        self._trained().save(os.fspath(path))

    @classmethod
    def load(cls, path: PathLike) -> "Model":
        """A model from a checkpoint written by :meth:`save` (or by ``metatl train --out``)."""
        handle = _metatl.model_load(os.fspath(path))
        model = cls.__new__(cls)
        model._handle = handle
        model._settings = {}
        return model

    def _trained(self) -> Any:
        if self._handle is None:
            raise RuntimeError("the model has no catalogue yet: call fit() first or use Model.load()")
        return self._handle

    def __repr__(self) -> str:
        c = self.config
        return f"Model(dim={c['dim']}, hidden={tuple(c['hidden'])}, K={c['K']}, step={self.step})"


class _Progress:
    """tqdm when it is installed, plain lines otherwise (about every 10%)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled, self.last = total, enabled, 0
        self.start = time.perf_counter()
        self.bar = None
        if enabled:
            try:
                from tqdm.auto import tqdm
                self.bar = tqdm(total=total, unit="step")
            except ImportError:
                self.bar = None

    def update(self, done: int, loss: float) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(done - self.last)
            self.bar.set_postfix(loss=f"{loss:.4f}")
        elif done == self.total or done - self.last >= max(1, self.total // 10):
            rate = done / max(time.perf_counter() - self.start, 1e-9)
            print(f"step {done}/{self.total}  {rate:.1f} steps/s  loss {loss:.4f}", file=sys.stderr)
        else:
            return
        self.last = done

    def write(self, text: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(text)
        else:
            print(text, file=sys.stderr)

    def close(self, seconds: float) -> None:
        if self.bar is not None:
            self.bar.close()
