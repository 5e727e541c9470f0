"""MetaTL: sequential recommendation for cold-start users by meta transitional learning.

A user who arrives with two or three interactions gets a personal "translation" vector, adapted
in one gradient step from their first item-to-item transitions, and the items that come next are
ranked by TransE-style scores: ``-a * ||head + r - tail||^2 + bias[tail]`` with the recommended
preset (the default), ``-||head + r - tail||`` with the reference notebook's
(``Model(preset="reference")``). This package drives the Swift engine through its C ABI.

>>> import metatl
>>> data = metatl.Dataset.synthetic(seed=1)
>>> model = metatl.Model(dim=32, batch_size=256, threads=2)
>>> history = model.fit(data, steps=100, progress=False)
>>> ids, scores = model.recommend(data.item_ids[:3], k=5)
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
import warnings
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

__all__ = ["BusyError", "DEFAULT_MAX_FILE_BYTES", "Dataset", "DivergedError", "History", "Model", "version"]
__version__ = _metatl.version()  # the library's (one place: Sources/MetaTL/Support/Version.swift)

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
IdsLike = Union[Sequence[int], np.ndarray, Iterable[int]]

# Arguments are converted to C values by the extension, once, as strictly as Python itself: an
# int setting refuses bools and floats (TypeError) and values outside its C type (OverflowError),
# a bool setting refuses anything but True/False, a path is what open() accepts (an embedded NUL
# byte is a ValueError), an array must be one-dimensional.

# Status codes of their own (both RuntimeError subclasses; see their docstrings).
BusyError = _metatl.BusyError
DivergedError = _metatl.DivergedError
#: The default of ``Dataset.from_files(max_file_bytes=...)``: the C library's (4 GiB).
DEFAULT_MAX_FILE_BYTES: int = _metatl.DEFAULT_MAX_FILE_BYTES


def version() -> str:
    """The engine's version (libmetatl)."""
    return _metatl.version()


def _ids(values: IdsLike, name: str) -> np.ndarray:
    """A contiguous int64 array of item or user ids, or a clear TypeError/ValueError (the
    extension refuses any but one dimension)."""
    array = np.asarray(list(values) if not hasattr(values, "__len__") else values)
    if array.size and array.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer ids, got dtype {array.dtype}")
    if array.dtype.kind == "u" and array.size and array.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{name} holds an id larger than int64")
    return np.ascontiguousarray(array, dtype=np.int64)


def _times(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.size and array.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold numbers, got dtype {array.dtype}")
    return np.ascontiguousarray(array, dtype=np.float64)


class _Native:
    """Dataset and Model hold native engine objects: pickling or copying one is a TypeError that
    says what to do instead (the handles below refuse too; pickle would otherwise abort)."""

    _instead = ""

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError(f"metatl.{type(self).__name__} cannot be pickled yet; {self._instead}")

    def __copy__(self) -> Any:
        raise TypeError(f"metatl.{type(self).__name__} cannot be copied yet; {self._instead}")

    def __deepcopy__(self, memo: Any) -> Any:
        return self.__copy__()


class History(List[Dict[str, Any]]):
    """The learning curve :meth:`Model.fit` returns: a list of records (dicts), oldest first.
    ``interrupted`` is True when Ctrl-C stopped ``fit`` (what it had not done yet was skipped);
    ``diverged`` holds the reason when a training step diverged and ended ``fit`` (else None)."""

    interrupted: bool = False
    diverged: Optional[str] = None


class Dataset(_Native):
    """A cold-start dataset: training users' sequences, and new users split into validation
    (30%) and test (70%) with the seed. Only new users with more than K interactions are
    evaluated: their first K items are the input, the next one the target.

    Immutable; cannot be pickled or copied (share it, or build it again)."""

    _instead = "build it again with Dataset.from_files, from_arrays or synthetic (it never changes: share it)"

    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self._info = handle.info()

    @classmethod
    def from_files(cls, train: PathLike, test: PathLike, K: int = 3, seed: int = 1,
                   max_file_bytes: Optional[int] = None) -> "Dataset":
        """Reads the reference's files: ``user<TAB>item<TAB>timestamp`` rows (commas and one
        header line accepted, a leading UTF-8 byte-order mark skipped) of training users
        (``train``) and new users (``test``). Paths are str, bytes or os.PathLike, as
        :func:`open` takes them; either may be a pipe. Each file may hold at most
        ``max_file_bytes`` (default :data:`DEFAULT_MAX_FILE_BYTES`, 4 GiB; ``2**64 - 1`` for no
        limit): a larger file, or a pipe that gives more, is a ValueError naming it."""
        return cls(_metatl.dataset_from_files(train, test, K, seed, max_file_bytes))

    @classmethod
    def from_arrays(cls, users: IdsLike, items: IdsLike, timestamps: Any,
                    test_users: IdsLike, test_items: IdsLike, test_timestamps: Any,
                    K: int = 3, seed: int = 1) -> "Dataset":
        """Builds a dataset from columns (numpy arrays, lists or pandas columns): training users'
        interactions, then new users' interactions."""
        return cls(_metatl.dataset_from_arrays(
            _ids(users, "users"), _ids(items, "items"), _times(timestamps, "timestamps"),
            _ids(test_users, "test_users"), _ids(test_items, "test_items"), _times(test_timestamps, "test_timestamps"),
            K, seed))

    @classmethod
    def synthetic(cls, side: int = 40, train_users: int = 4000, new_users: int = 2000, seed: int = 1) -> "Dataset":
        """The built-in synthetic data of ``metatl demo``: items are the cells of a side x side grid
        and every user follows one of eight planted directions (10% random jumps). K = 3."""
        return cls(_metatl.dataset_synthetic(side, train_users, new_users, seed))

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


class _PresetValue:
    """The default of :class:`Model`'s settings: the preset's value."""

    def __repr__(self) -> str:
        return "<the preset's>"


_PRESET: Any = _PresetValue()


class Model(_Native):
    """A MetaTL model. Settings are keyword arguments, each left out taking the value of
    ``preset``: None, the library's default (``mt_config_default()``), which is the recommended
    preset; "recommended" (the engine's objective for full-catalogue ranking: softmax loss over
    shared negatives, a tail item table, an item bias, the relation started at zero, every
    training window equally likely as a task, no dropout); or "reference" (the reference notebook's settings, which reproduce it
    bit for bit). ``Model(preset=...).config`` lists a preset's values. The item catalogue
    comes from the first dataset passed to :meth:`fit`, or from a checkpoint (:meth:`load`).

    The settings have the C library's ``mt_config`` names: ``K``, ``dim``, ``hidden`` (the
    relation learner's two widths), ``batch_size``, ``learning_rate``, ``beta`` (inner step size),
    ``margin``, ``dropout``, ``seed``, ``threads``; ``sampler`` ("reference", "contiguous",
    "window" or "every_window"), ``inner_step`` ("reference" or "per_task"), ``loss`` ("softmax" or "margin"),
    ``shared_negatives`` (the softmax's negatives per step, 0 for every item),
    ``tail_embeddings``, ``item_bias`` (softmax only: left out with ``loss="margin"`` it is
    off, as ``metatl train --loss margin`` does), ``zero_initial_relation`` (True or False),
    ``relation_penalty`` and ``table_decay`` (>= 0), ``query_margin`` (softmax: also the margin
    loss on each query; True or False), ``negatives`` ("uniform", "popularity" or "mixed") and
    ``eval_mode_after`` (train in evaluation mode from that step on; None: never).

    Settings are checked as Python checks arguments: an int setting refuses bools and floats
    (TypeError) and values beyond its C type (OverflowError); numpy integers are ints. The engine
    checks their ranges when the model is created (ValueError).

    A model may serve ``adapt``/``score``/``recommend``/``evaluate`` from many threads at once,
    also while another thread runs ``fit``: each training step holds the model for an instant and
    serving calls wait for it, so neither fails. A training call made while another one runs on
    the model raises :class:`BusyError`; ``fit`` trains in chunks of such calls, so do not run
    two ``fit`` on one model at once (they would fail or interleave). It cannot be
    pickled or copied yet: :meth:`save` and :meth:`load` it."""

    _instead = "save it with model.save(path) and read it back with metatl.Model.load(path)"

    def __init__(self, *, preset: Optional[str] = None, K: int = _PRESET, dim: int = _PRESET,
                 hidden: Tuple[int, int] = _PRESET, batch_size: int = _PRESET, learning_rate: float = _PRESET,
                 beta: float = _PRESET, margin: float = _PRESET, dropout: float = _PRESET, seed: int = _PRESET,
                 sampler: str = _PRESET, inner_step: str = _PRESET, threads: int = _PRESET, loss: str = _PRESET,
                 shared_negatives: int = _PRESET, tail_embeddings: bool = _PRESET, item_bias: bool = _PRESET,
                 zero_initial_relation: bool = _PRESET, relation_penalty: float = _PRESET,
                 negatives: str = _PRESET, eval_mode_after: Optional[int] = _PRESET, table_decay: float = _PRESET,
                 query_margin: bool = _PRESET) -> None:
        given = {name: value for name, value in dict(
            K=K, dim=dim, hidden=hidden, batch_size=batch_size, learning_rate=learning_rate, beta=beta,
            margin=margin, dropout=dropout, seed=seed, sampler=sampler, inner_step=inner_step, threads=threads,
            loss=loss, shared_negatives=shared_negatives, tail_embeddings=tail_embeddings, item_bias=item_bias,
            zero_initial_relation=zero_initial_relation, relation_penalty=relation_penalty, negatives=negatives,
            eval_mode_after=eval_mode_after, table_decay=table_decay, query_margin=query_margin).items()
            if value is not _PRESET}
        if isinstance(loss, str) and loss == "margin" and "item_bias" not in given:
            given["item_bias"] = False   # the margin loss's score has no bias (the command does the same)
        # Converted now (errors at construction), exactly as the model will be created from them.
        self._settings: Dict[str, Any] = _metatl.settings(preset, given)
        self._handle: Optional[Any] = None

    # -- training -------------------------------------------------------------------------

    def fit(self, dataset: Dataset, steps: int, eval_every: Optional[int] = None,
            progress: bool = True, patience: Optional[int] = None,
            select_by: str = "full_mrr") -> History:
        """Trains up to ``steps`` meta steps on ``dataset``'s training users.

        Training runs in chunks of at most 10 steps (the GIL is released inside each), so a
        notebook stays responsive. With ``eval_every``, the validation users are evaluated every
        that many steps.

        Ctrl-C (SIGINT, or a notebook's "interrupt") stops training cleanly instead of raising
        KeyboardInterrupt: ``fit`` finishes the chunk or evaluation under way, skips the rest, and
        returns the history so far with ``interrupted`` set to True; the steps trained since the
        last record become a last record (loss and speed, not evaluated). The model keeps what it
        learned (with model selection: the best model evaluated, as always). To do so ``fit``, when
        it runs in the main thread under Python's default SIGINT handler, installs its own and puts
        the default back when it returns; a KeyboardInterrupt that reaches it otherwise (from a
        handler of the program's own) is caught and handled the same way, minus the chunk it cut.

        Model selection (as ``metatl train`` does it): with ``patience`` (and ``eval_every``), the
        model before training and after every evaluation competes on ``select_by``
        ("full_mrr", the default as in Swift's ``FitOptions`` and ``metatl train``: the
        full-catalogue ranking users get; or "sampled_mrr", the reference's protocol, on the
        validation users); training stops after
        ``patience`` evaluations in a row without a new best (0: never early), and the model is
        then put back exactly as it was at the best evaluation (also after Ctrl-C).

        Returns the learning curve (a :class:`History`, a list): one dict per record with the
        field names of ``metatl train``'s ``--curve-csv`` and JSON ``learning_curve``: ``step``,
        ``elapsed_seconds`` (since ``fit`` began), ``steps_per_second``, ``train_loss`` (mean
        query loss since the last record) and, at evaluations, ``valid_sampled_mrr`` and
        ``valid_sampled_hits10``, plus ``valid_full_mrr``, ``valid_full_hits10`` and
        ``selected`` (True on the kept model's record) with model selection.

        Divergence ends ``fit`` without an error, as Swift's ``fit`` does: a step that would make a
        value non-finite or carry it past the model's limits is not applied (the engine's
        :class:`DivergedError`), training stops there, the model after the last good step is
        evaluated and competes when selecting, ``history.diverged`` holds the reason and a
        RuntimeWarning says so. Raises :class:`BusyError` if another call is using the model.
        """
        if not isinstance(dataset, Dataset):
            raise TypeError(f"dataset must be a metatl.Dataset, got {type(dataset).__name__}")
        steps = _metatl.integer(steps, "steps", 1)
        if eval_every is not None:
            eval_every = _metatl.integer(eval_every, "eval_every", 1)
        progress = _metatl.flag(progress, "progress")
        if patience is not None:
            patience = _metatl.integer(patience, "patience", 0)
            if eval_every is None:
                raise ValueError("patience needs eval_every: model selection evaluates every eval_every steps")
        if select_by not in ("sampled_mrr", "full_mrr"):
            raise ValueError(f"select_by must be 'sampled_mrr' or 'full_mrr', got {select_by!r}")
        if self._handle is None:
            self._handle = _metatl.model_create(self._settings, dataset._handle)
        selecting = patience is not None
        record_every = eval_every if eval_every else max(1, steps // 20)
        chunk = max(1, min(record_every, 10))
        bar = _Progress(steps, enabled=progress)
        history = History()

        def validate(entry: Dict[str, Any]) -> float:
            m = self._handle.evaluate(dataset._handle, "valid", "sampled")
            entry["valid_sampled_mrr"] = m["MRR"]
            entry["valid_sampled_hits10"] = m["Hits@10"]
            if selecting:
                f = self._handle.evaluate(dataset._handle, "valid", "full")
                entry["valid_full_mrr"] = f["MRR"]
                entry["valid_full_hits10"] = f["Hits@10"]
                entry["selected"] = False
            # The score select_by names (only compared when selecting).
            return entry["valid_full_mrr"] if selecting and select_by == "full_mrr" else entry["valid_sampled_mrr"]

        best_score, best_entry, best_state, since_best = -1.0, None, None, 0
        done, since_record, loss_sum, start, record_start = 0, 0, 0.0, time.perf_counter(), time.perf_counter()

        def record() -> Dict[str, Any]:
            nonlocal since_record, loss_sum
            now = time.perf_counter()
            entry: Dict[str, Any] = {"step": self._handle.step(), "elapsed_seconds": now - start,
                                     "steps_per_second": since_record / max(now - record_start, 1e-9),
                                     "train_loss": loss_sum / since_record}
            history.append(entry)
            since_record, loss_sum = 0, 0.0
            return entry

        ctrl_c = _CtrlC()
        try:
            with ctrl_c:
                if selecting:
                    first: Dict[str, Any] = {"step": self._handle.step()}
                    best_score, best_entry, best_state = validate(first), first, self._handle.snapshot()
                    history.append(first)
                while done < steps and not ctrl_c.pressed:
                    n = min(chunk, steps - done, record_every - since_record)
                    before = self._handle.step()
                    try:
                        loss_sum += self._handle.train(dataset._handle, n) * n
                    except DivergedError as e:
                        # The failing step was not applied; the ones before it in this chunk were.
                        history.diverged = str(e)
                        warnings.warn(f"training stopped: {e}", RuntimeWarning, stacklevel=2)
                        done += self._handle.step() - before
                        if selecting and self._handle.step() != (best_entry or {}).get("step"):
                            last: Dict[str, Any] = {"step": self._handle.step()}
                            score = validate(last)
                            history.append(last)
                            if score > best_score:
                                best_score, best_entry, best_state = score, last, self._handle.snapshot()
                        since_record = 0
                        break
                    done += n
                    since_record += n
                    bar.update(done, loss_sum / since_record)
                    if ctrl_c.pressed or (since_record < record_every and done < steps):
                        continue
                    entry = record()
                    if eval_every:
                        score = validate(entry)
                        bar.write(f"step {entry['step']}: loss {entry['train_loss']:.4f}, valid MRR {entry['valid_sampled_mrr']:.4f}")
                        if selecting:
                            if score > best_score:
                                best_score, best_entry, best_state, since_best = score, entry, self._handle.snapshot(), 0
                            else:
                                since_best += 1
                                if patience and since_best >= patience:
                                    bar.write(f"no better validation for {patience} evaluations: stopping")
                                    break
                    record_start = time.perf_counter()
        except KeyboardInterrupt:
            ctrl_c.pressed = True    # raised by a handler fit did not replace (see the docstring)
        finally:
            if ctrl_c.pressed:
                history.interrupted = True
                if since_record:
                    record()
                bar.write(f"interrupted at step {self._handle.step()} ({done} of {steps} steps); "
                          "the model keeps what it learned")
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
        (target vs the whole catalogue except the user's inputs). Ranks are pessimistic. Scores
        blend in the transition prior when one is attached (:meth:`attach_transition_prior`)."""
        if not isinstance(dataset, Dataset):
            raise TypeError(f"dataset must be a metatl.Dataset, got {type(dataset).__name__}")
        return dict(self._trained().evaluate(dataset._handle, split, protocol))

    def attach_transition_prior(self, dataset: Dataset, weight: Union[str, float] = "auto") -> float:
        """Blends first-order transition counts of ``dataset``'s training sequences into every
        score from now on (evaluate, score, recommend; saved with the model):
        ``score(t) = s(t) + weight * log(1 + count(last -> t))``, s the model's own score (:meth:`score`).

        ``weight`` is a number >= 0 (0 scores exactly as without a prior) or "auto": the value of
        {0, 0.25, 0.5, 1, 2, 4, 8, 16, 32} with the best full-ranking MRR on ``dataset``'s
        validation users (the first on ties). Replaces any attached prior and returns the weight
        attached. ``dataset`` must have the model's vocabulary and K."""
        if not isinstance(dataset, Dataset):
            raise TypeError(f"dataset must be a metatl.Dataset, got {type(dataset).__name__}")
        if isinstance(weight, str):
            if weight != "auto":
                raise ValueError(f'weight must be a number >= 0 or "auto", got {weight!r}')
            w = -1.0
        elif isinstance(weight, bool) or not isinstance(weight, (int, float, np.integer, np.floating)):
            raise TypeError(f'weight must be a number >= 0 or "auto", got {type(weight).__name__}')
        else:
            w = float(weight)
            if not w >= 0:
                raise ValueError(f'weight must be a number >= 0 or "auto", got {weight!r}')
        return float(self._trained().attach_transition_prior(dataset._handle, w))

    @property
    def transition_prior_weight(self) -> float:
        """The attached transition prior's weight (0.0 when none is attached)."""
        return 0.0 if self._handle is None else float(self._handle.transition_prior_weight())

    # -- serving a new user -----------------------------------------------------------------

    def adapt(self, history: IdsLike) -> np.ndarray:
        """The user's adapted relation r' (float32, length ``dim``) from their item ids, oldest
        first. The most recent K are used; at least 2 are needed; unknown ids raise ValueError."""
        return self._trained().adapt(_ids(history, "history"))

    def score(self, history: IdsLike, candidates: IdsLike) -> np.ndarray:
        """Scores (float32, higher is better) of ``candidates`` as the next item after the last
        item of ``history``, with u = E[last] + r' - T[candidate] (T is E without
        ``tail_embeddings``): ``-a * ||u||^2 + b[candidate]`` with ``loss="softmax"`` (a learned
        scale, b the item bias or 0), ``-||u||`` with ``loss="margin"``; plus the transition
        prior's ``weight * log(1 + count(last -> candidate))`` when one is attached."""
        h = _ids(history, "history")
        model = self._trained()
        relation = model.adapt(h)
        if len(h) == 0:
            raise ValueError("history is empty")
        return model.score(relation, int(h[-1]), _ids(candidates, "candidates"))

    def recommend(self, history: IdsLike, k: int = 10, exclude_history: bool = True) -> Tuple[np.ndarray, np.ndarray]:
        """The ``k`` best next items over the whole catalogue: (item ids int64, scores float32),
        best first. The history's items are left out unless ``exclude_history`` is False (a bool:
        True or False, numpy's too); ``k`` is an int of at least 1 (fewer come back when the
        catalogue is smaller)."""
        return self._trained().recommend(_ids(history, "history"), k, exclude_history)

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
        """The model's settings (as the engine holds them: float settings are float32)."""
        if self._handle is None:
            return dict(self._settings)
        return dict(self._handle.config())

    @property
    def step(self) -> int:
        """Training steps taken (:class:`BusyError` while another thread trains this model)."""
        return 0 if self._handle is None else int(self._handle.step())

    # -- checkpoints --------------------------------------------------------------------------

    def save(self, path: PathLike) -> None:
        """Writes a safetensors checkpoint (atomically): settings, vocabulary, weights under the
        reference's state_dict names, BatchNorm statistics, Adam state and step. ``path`` is str,
        bytes or os.PathLike, as :func:`open` takes it."""
        self._trained().save(path)

    @classmethod
    def load(cls, path: PathLike) -> "Model":
        """A model from a checkpoint written by :meth:`save` (or by ``metatl train --out``)."""
        handle = _metatl.model_load(path)
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


class _CtrlC:
    """While ``fit`` trains, SIGINT sets ``pressed`` (fit stops at its next check) instead of
    raising KeyboardInterrupt at whatever line runs, which would drop the loss of the chunk just
    trained (CPython raises it as the call returns) or leave a record half written. Only Python's
    default handler is replaced, only from the main thread, and it comes back on exit: a program's
    own handler, SIG_IGN or SIG_DFL stays as it is."""

    def __init__(self) -> None:
        self.pressed = False
        self.installed = False

    def _handler(self, signum: int, frame: Any) -> None:
        self.pressed = True

    def __enter__(self) -> "_CtrlC":
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            try:
                signal.signal(signal.SIGINT, self._handler)
                self.installed = True
            except ValueError:       # not the main interpreter
                pass
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self.installed = False


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
