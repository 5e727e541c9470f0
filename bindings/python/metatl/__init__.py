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
>>> ids, scores = model.recommend(data.item_ids[:3], top_n=5)

What importing it does to the process: unless ``OPENBLAS_CORETYPE`` or ``METATL_KEEP_BLAS_KERNEL``
is already set, it sets ``OPENBLAS_CORETYPE`` in ``os.environ`` (so for child processes too) to
the best OpenBLAS kernel the CPU supports, ``SkylakeX`` (AVX-512) or ``Haswell`` (AVX2 and FMA),
before the library and its OpenBLAS load, whatever kernel OpenBLAS would have picked: Debian's
OpenBLAS 0.3.21 runs 3-5x slower generic kernels on CPUs it does not recognise. Set
``METATL_KEEP_BLAS_KERNEL=1`` before the import to keep OpenBLAS's own choice. Every OpenBLAS
loaded after that reads the variable, numpy's own too if numpy was not imported before (metatl
imports it right after); one already loaded keeps its kernel. While a call runs, the library's
OpenBLAS is single-threaded, and its previous thread count is set back when the call returns; a
model with ``threads > 1`` keeps ``threads - 1`` worker threads, asleep when idle. The C header's
"The process" section (include/metatl.h) says all of it.
"""
from __future__ import annotations

import os
import sys
import time
import warnings
from typing import Any, Callable, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union


def _prefer_fast_blas_kernel() -> None:
    """Debian's OpenBLAS 0.3.21 falls back to slow generic kernels on CPUs it does not know.
    OpenBLAS reads OPENBLAS_CORETYPE once, when it loads (with the extension below), so name the
    best kernel this CPU supports unless the variable is already set (or METATL_KEEP_BLAS_KERNEL
    is: the opt-out). The `metatl` command does the same by restarting itself. It changes
    os.environ for the whole process, which the module docstring tells users."""
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

__all__ = ["BatchRecommendations", "BusyError", "DEFAULT_MAX_FILE_BYTES", "Dataset", "DivergedError", "History", "Model",
           "release_threads", "split", "version"]
__version__ = _metatl.version()  # the library's (one place: Sources/MetaTL/Support/Version.swift)

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
IdsLike = Union[Sequence[int], Sequence[str], np.ndarray, Iterable[int], Iterable[str]]

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


def release_threads() -> None:
    """Ends the engine's worker threads (C ``mt_threads_release``): they stop and are joined,
    and the next call with ``threads`` > 1 starts them again; results do not change. For a
    long-lived process that trained once and now only serves, or before forking workers."""
    _metatl.threads_release()


def split(input: PathLike, train_out: PathLike, test_out: PathLike, *, cut_time: Any = None,
          new_user_fraction: Optional[float] = None, columns: Union[None, str, Sequence[Union[str, int]]] = None,
          min_train_interactions: Optional[int] = None, min_new_interactions: Optional[int] = None,
          max_file_bytes: Optional[int] = None) -> Dict[str, Any]:
    """The paper's cold-start split of one interaction log (C ``mt_split_files``): users whose
    first interaction is before the cut are training users (all their interactions kept), the
    others new users; writes ``train_out`` and ``test_out`` (``user<TAB>item<TAB>timestamp``,
    sorted by user then time), the files :meth:`Dataset.from_files` reads.

    ``input`` is CSV or TSV (the delimiter found from the first line); a header names the
    columns (user/user_id/userId/reviewerID, item/item_id/movieId/asin, timestamp/time/ts/unixReviewTime,
    RecBole's ``name:type``), other columns are ignored; times are numbers or ISO 8601 dates
    (seconds since 1970). ``columns`` chooses them instead: ``"userId,movieId,timestamp"``,
    ``"0,1,3"`` or a sequence of three names or 0-based positions. The cut is ``cut_time`` (a
    number of seconds, an ISO 8601 string or a :class:`datetime.datetime`, naive meaning UTC),
    or else the time that makes ``new_user_fraction`` (default 0.2) of the users new. Training
    users with fewer than ``min_train_interactions`` (2) and new users with fewer than
    ``min_new_interactions`` (4, K + 1 for K = 3) interactions are dropped.

    Returns the counts: cut_time, train_users, train_interactions, new_users, new_interactions,
    dropped_train_users, dropped_new_users, new_items_not_in_training."""
    if columns is not None and not isinstance(columns, str):
        picked = list(columns)
        if len(picked) != 3 or not all(isinstance(c, (str, int)) and not isinstance(c, bool) for c in picked):
            raise TypeError(f"columns must be a str or three names or 0-based positions (user, item, time), got {columns!r}")
        columns = ",".join(str(c) for c in picked)
    return _metatl.split_files(input, train_out, test_out, _cut_seconds(cut_time), new_user_fraction, columns,
                               min_train_interactions, min_new_interactions, max_file_bytes)


def _cut_seconds(cut_time: Any) -> Any:
    """A cut time as seconds since 1970: a number as it is, an ISO 8601 string, a date or a
    datetime (naive meaning UTC); None stays None."""
    import datetime as _dt
    if isinstance(cut_time, str):
        text = cut_time.strip()
        try:
            cut_time = float(text)
        except ValueError:
            try:
                cut_time = _dt.datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "Zz" and text else text)
            except ValueError:
                raise ValueError(f"cut_time: expected a number or an ISO 8601 date (2014-03-01, 2014-03-01T12:00:00Z), "
                                 f"found {cut_time!r}") from None
    if isinstance(cut_time, _dt.date) and not isinstance(cut_time, _dt.datetime):
        cut_time = _dt.datetime(cut_time.year, cut_time.month, cut_time.day)
    if isinstance(cut_time, _dt.datetime):
        if cut_time.tzinfo is None:
            cut_time = cut_time.replace(tzinfo=_dt.timezone.utc)
        cut_time = cut_time.timestamp()
    return cut_time


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


_Packed = Optional[Tuple[bytes, np.ndarray]]


def _pack(strings: Sequence[str], name: str) -> Tuple[bytes, np.ndarray]:
    """String ids as the C ABI's mt_string_ids takes them: UTF-8 bytes one after another and
    count + 1 int64 offsets."""
    try:
        encoded = [s.encode("utf-8") for s in strings]
    except UnicodeEncodeError as e:
        raise ValueError(f"{name} holds a string id that is not valid Unicode ({e.reason})") from None
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    return b"".join(encoded), offsets


def _id_column(values: Any, name: str) -> Tuple[np.ndarray, _Packed]:
    """An id column as (int64 ids, None) for integers, or (int64 codes, packed strings) for string
    ids: str values (numpy str or object arrays, lists, pandas string columns) or categoricals
    (by their values: integer categories are integer ids, str categories string ids). The engine
    numbers string ids itself (in sorted order), so how they are coded here does not matter."""
    dtype = getattr(values, "dtype", None)
    if dtype is not None and getattr(dtype, "name", "") == "category":
        categories = np.asarray(values.cat.categories)
        codes = np.asarray(values.cat.codes, dtype=np.int64)
        if (codes < 0).any():
            raise ValueError(f"{name} holds a missing id")
        if categories.dtype.kind in "iu":
            return _ids(categories[codes], name), None
        if not all(isinstance(c, str) for c in categories):
            raise TypeError(f"{name} must hold integer or string ids, got categories of {categories.dtype}")
        return np.ascontiguousarray(codes), _pack([str(c) for c in categories], name)
    array = np.asarray(list(values) if not hasattr(values, "__len__") else values)
    if array.size == 0 or array.dtype.kind in "iu":
        return _ids(array, name), None
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    if array.dtype.kind == "U" or (array.dtype.kind == "O" and all(isinstance(v, str) for v in array)):
        uniques, codes = np.unique(array.astype(object) if array.dtype.kind == "O" else array, return_inverse=True)
        return np.ascontiguousarray(codes.reshape(-1), dtype=np.int64), _pack([str(u) for u in uniques], name)
    raise TypeError(f"{name} must hold integer ids or string ids (str), got dtype {array.dtype}"
                    + (" with a value that is not a str (a missing id?)" if array.dtype.kind == "O" else ""))


def _column_times(column: Any, name: str) -> np.ndarray:
    """A time column as seconds: numbers as they are, datetime64 (naive or with a time zone) since
    1970, timedelta64 as durations."""
    dtype = getattr(column, "dtype", None)
    if dtype is not None and getattr(dtype, "tz", None) is not None:
        column = column.dt.tz_convert("UTC").dt.tz_localize(None)
    values = np.asarray(column)
    if values.dtype.kind == "M":
        if np.isnat(values).any():
            raise ValueError(f"{name} holds a missing time (NaT)")
        return (values.astype("datetime64[ns]").astype(np.int64) / 1e9).astype(np.float64)
    if values.dtype.kind == "m":
        return (values.astype("timedelta64[ns]").astype(np.int64) / 1e9).astype(np.float64)
    return _times(values, name)


def _at_cutoffs(ranks: np.ndarray, cutoffs: Sequence[int]) -> Dict[str, float]:
    """NDCG@k and Hits@k of per-user ranks at each cutoff (C ``mt_metrics_at_cutoff``)."""
    out: Dict[str, float] = {}
    for k in cutoffs:
        ndcg, hits = _metatl.metrics_at_cutoff(ranks, k)
        out[f"NDCG@{k}"], out[f"Hits@{k}"] = ndcg, hits
    return out


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


class BatchRecommendations(NamedTuple):
    """What :meth:`Model.recommend_batch` returns (one row per history)."""

    items: np.ndarray          #: users x top_n int64 ids, best first; -1 past the user's count (str / None for string ids)
    scores: np.ndarray         #: users x top_n float32; NaN past the user's count
    counts: np.ndarray         #: int64, items returned per user
    unknown_items: np.ndarray  #: int64, ids of each history the model did not know (skipped)


class History(List[Dict[str, Any]]):
    """The learning curve :meth:`Model.fit` returns: a list of records (dicts), oldest first.
    ``best_step`` is the step of the model kept (the record with ``selected`` True);
    ``stopped_early`` is True when patience ran out; ``interrupted`` is True when Ctrl-C stopped
    ``fit`` (what it had not done yet was skipped); ``diverged`` holds the reason when a training
    step diverged and ended ``fit`` (else None)."""

    best_step: int = 0
    stopped_early: bool = False
    interrupted: bool = False
    diverged: Optional[str] = None


class Dataset(_Native):
    """A cold-start dataset: training users' sequences, and new users split into validation
    (30%) and test (70%) with the seed. Only new users with more than K interactions are
    evaluated: their first K items are the input, the next one the target.

    Immutable; cannot be pickled or copied (share it, or build it again)."""

    _instead = "build it again with Dataset.from_files, from_arrays or synthetic (it never changes: share it)"

    #: What :meth:`from_pandas` did when it split one log (the counts :func:`split` returns); None otherwise.
    split_info: Optional[Dict[str, Any]] = None

    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self._info = handle.info()
        self._user_strings: Optional[List[str]] = handle.user_strings()
        self._item_strings: Optional[List[str]] = handle.item_strings()

    @property
    def user_strings(self) -> Optional[List[str]]:
        """The users' string ids in code order (the user ids :meth:`Model.ranks` would give as
        codes), or None when user ids are integers."""
        return None if self._user_strings is None else list(self._user_strings)

    @property
    def item_strings(self) -> Optional[List[str]]:
        """The items' string ids in code order, or None when item ids are integers."""
        return None if self._item_strings is None else list(self._item_strings)

    def _users(self, ids: np.ndarray) -> np.ndarray:
        """User ids as the caller knows them: the string ids (an object array) when users are strings."""
        if self._user_strings is None:
            return ids
        names = self._user_strings
        return np.array([names[c] for c in ids], dtype=object)

    @classmethod
    def for_model(cls, model: "Model", train: PathLike, test: PathLike, K: Optional[int] = None,
                  seed: Optional[int] = None, max_file_bytes: Optional[int] = None,
                  unknown_items: str = "skip", sampled_negatives: Optional[int] = None) -> "Dataset":
        """A new cohort for a trained ``model`` (C ``mt_dataset_load_for_model``): the files as
        :meth:`from_files` reads them, over the model's item vocabulary, so that the model
        evaluates, serves and trains on it as on its own data. Interactions whose item the model
        does not know are left out and counted (``info["unknown_interactions"]``), or, with
        ``unknown_items="error"``, the first raises ValueError naming the file, row and id.
        ``K`` and ``seed`` default to the model's; ``sampled_negatives`` (default 100, the reference's) is how many negatives each new user's
        target is ranked against in the sampled protocol."""
        if not isinstance(model, Model):
            raise TypeError(f"model must be a metatl.Model, got {type(model).__name__}")
        if unknown_items not in ("skip", "error"):
            raise ValueError(f'unknown_items must be "skip" or "error", got {unknown_items!r}')
        config = model.config
        return cls(_metatl.dataset_for_model(train, test, config["K"] if K is None else K,
                                             config["seed"] if seed is None else seed, max_file_bytes,
                                             sampled_negatives, model._trained(), unknown_items == "error"))

    @classmethod
    def from_files(cls, train: PathLike, test: PathLike, K: int = 3, seed: int = 1,
                   max_file_bytes: Optional[int] = None, sampled_negatives: Optional[int] = None) -> "Dataset":
        """Reads the reference's files: ``user<TAB>item<TAB>timestamp`` rows (the delimiter, TAB,
        comma or ``::``, from the first line; a header's columns found by name, extra columns
        ignored; times as numbers or ISO 8601 dates; a leading UTF-8 byte-order mark skipped;
        :func:`split` makes both files from one log) of training users
        (``train``) and new users (``test``). Paths are str, bytes or os.PathLike, as
        :func:`open` takes them; either may be a pipe. Each file may hold at most
        ``max_file_bytes`` (default :data:`DEFAULT_MAX_FILE_BYTES`, 4 GiB; ``2**64 - 1`` for no
        limit): a larger file, or a pipe that gives more, is a ValueError naming it. ``sampled_negatives`` (default 100, the reference's) is how many negatives each new user's
        target is ranked against in the sampled protocol."""
        return cls(_metatl.dataset_from_files(train, test, K, seed, max_file_bytes, sampled_negatives))

    @classmethod
    def from_arrays(cls, users: IdsLike, items: IdsLike, timestamps: Any,
                    test_users: IdsLike, test_items: IdsLike, test_timestamps: Any,
                    K: int = 3, seed: int = 1, sampled_negatives: Optional[int] = None) -> "Dataset":
        """Builds a dataset from columns (numpy arrays, lists or pandas columns): training users'
        interactions, then new users' interactions. Ids are integers or strings (str; a column of
        strings in one and integers in the other is read as strings, the integers in decimal)."""
        return cls._from_columns(
            (_id_column(users, "users"), _id_column(items, "items"), _times(timestamps, "timestamps")),
            (_id_column(test_users, "test_users"), _id_column(test_items, "test_items"),
             _times(test_timestamps, "test_timestamps")), K, seed, sampled_negatives)

    @classmethod
    def from_pandas(cls, train: Any, test: Any = None, *, user: str = "user", item: str = "item", time: str = "timestamp",
                    K: int = 3, seed: int = 1, sampled_negatives: Optional[int] = None, cut_time: Any = None,
                    new_user_fraction: Optional[float] = None, min_train_interactions: Optional[int] = None,
                    min_new_interactions: Optional[int] = None) -> "Dataset":
        """A dataset from pandas DataFrames, each with the columns named by ``user``, ``item``
        and ``time`` (other columns are ignored). Ids are integer or string columns (str, object
        or pandas' string dtype) or categoricals of either; times are numbers, datetime64 (any
        unit and time zone: seconds since 1970) or timedelta64.

        Two frames are training users' interactions and new users'. One frame (``test`` left
        out) is one log, split as :func:`split` splits a file (C ``mt_dataset_split``; ``cut_time``,
        ``new_user_fraction``, ``min_train_interactions``, ``min_new_interactions`` as there):
        the same dataset as :func:`split` then :meth:`from_files`. What the split did is in
        ``dataset.split_info``."""
        split_args = (cut_time, new_user_fraction, min_train_interactions, min_new_interactions)
        frames = {"train": train} if test is None else {"train": train, "test": test}
        if test is not None and any(a is not None for a in split_args):
            raise ValueError("cut_time, new_user_fraction, min_train_interactions and min_new_interactions split one "
                             "frame; with two frames (train and test) the split is made already")
        columns = {}
        for which, frame in frames.items():
            label = which if test is not None else "log"
            if not hasattr(frame, "columns") or not hasattr(frame, "__getitem__"):
                raise TypeError(f"{label} must be a pandas DataFrame, got {type(frame).__name__}")
            for role, name in (("user", user), ("item", item), ("time", time)):
                if name not in frame.columns:
                    raise ValueError(f"{label}: no column {name!r} for the {role} (columns: {list(frame.columns)}); "
                                     f"name it with {role}=...")
            columns[which] = (_id_column(frame[user], f"{label}[{user!r}]"), _id_column(frame[item], f"{label}[{item!r}]"),
                              _column_times(frame[time], f"{label}[{time!r}]"))
        if test is not None:
            return cls._from_columns(columns["train"], columns["test"], K, seed, sampled_negatives)
        (u, us), (i, is_), t = columns["train"]
        handle, info = _metatl.dataset_split(u, i, t, us, is_, _cut_seconds(cut_time), new_user_fraction,
                                             min_train_interactions, min_new_interactions, K, seed, sampled_negatives)
        dataset = cls(handle)
        dataset.split_info = info
        return dataset

    @classmethod
    def _from_columns(cls, train: Tuple[Any, Any, np.ndarray], test: Tuple[Any, Any, np.ndarray], K: int, seed: int,
                      sampled_negatives: Optional[int]) -> "Dataset":
        """C ``mt_dataset_from_interactions`` on two sets of (user column, item column, times)."""
        ((u, us), (i, is_), t), ((tu, tus), (ti, tis), tt) = train, test
        return cls(_metatl.dataset_from_interactions(u, i, t, us, is_, tu, ti, tt, tus, tis, K, seed, sampled_negatives))

    @classmethod
    def synthetic(cls, side: int = 40, train_users: int = 4000, new_users: int = 2000, seed: int = 1) -> "Dataset":
        """The built-in synthetic data of ``metatl demo``: items are the cells of a side x side grid
        and every user follows one of eight planted directions (10% random jumps). K = 3."""
        return cls(_metatl.dataset_synthetic(side, train_users, new_users, seed))

    @property
    def info(self) -> Dict[str, int]:
        """Counts: items, items_not_in_training, train_users, train_interactions, valid_users, test_users, K,
        unknown_interactions (left out by :meth:`for_model`; 0 otherwise)."""
        return dict(self._info)

    def baseline(self, name: str, split: str = "test", protocol: str = "sampled", cutoffs: Sequence[int] = ()) -> Dict[str, float]:
        """A baseline's metrics on this dataset's users, as :meth:`Model.evaluate` gives a
        model's (the same users and candidates): "popularity" (most popular item), "transition"
        (count(last input -> candidate), popularity breaking ties) or "transition2"
        (second-order counts, backing off to first order), fitted on the training users.
        ``cutoffs`` adds NDCG@k and Hits@k at more cutoffs (C ``mt_metrics_at_cutoff``)."""
        metrics = dict(self._handle.baseline_metrics(name, split, protocol))
        if cutoffs:
            metrics.update(_at_cutoffs(self.baseline_ranks(name, split, protocol)[1], cutoffs))
        return metrics

    def baseline_ranks(self, name: str, split: str = "test", protocol: str = "sampled", scores: bool = False) -> Tuple[np.ndarray, ...]:
        """A baseline's per-user ranks ``(user_ids, ranks)``, as :meth:`Model.ranks` gives a
        model's: pair them user by user for a paired comparison. With ``scores=True`` also the
        baseline's score of each target (float64): ``(user_ids, ranks, scores)``."""
        users, ranks, target_scores = self._handle.baseline_ranks(name, split, protocol)
        return (self._users(users), ranks, target_scores) if _metatl.flag(scores, "scores") else (self._users(users), ranks)

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
    loss on each query; True or False), ``negatives`` ("uniform", "popularity" or "mixed"),
    ``eval_mode_after`` (train in evaluation mode from that step on; None: never) and
    ``optimizer``, the item tables' optimiser: "adam" (both presets: exact lazy Adam, dense
    Adam's values bit for bit) or "sparse_adam" (PyTorch SparseAdam / TensorFlow LazyAdam: a row's
    moments and value change only at steps that read it, bias-corrected by the global step count;
    no catch-up of idle rows, so faster on large catalogues; the relation learner, item bias and
    scale stay on dense Adam).

    Settings are checked as Python checks arguments: an int setting refuses bools and floats
    (TypeError) and values beyond its C type (OverflowError); numpy integers are ints. The engine
    checks their ranges when the model is created (ValueError).

    A model may serve ``adapt``/``score``/``recommend``/``evaluate`` from many threads at once,
    also while another thread runs ``fit``: each training step holds the model for an instant and
    serving calls wait for it, so neither fails. A training call made while another one runs on
    the model raises :class:`BusyError`; ``fit`` trains in chunks of such calls, so do not run
    two ``fit`` on one model at once (they would fail or interleave). Pickling and
    ``copy.deepcopy`` go through :meth:`to_bytes` (the checkpoint) and give an independent model
    that recommends identically."""

    _instead = "save it with model.save(path) and read it back with metatl.Model.load(path)"

    def __init__(self, *, preset: Optional[str] = None, K: int = _PRESET, dim: int = _PRESET,
                 hidden: Tuple[int, int] = _PRESET, batch_size: int = _PRESET, learning_rate: float = _PRESET,
                 beta: float = _PRESET, margin: float = _PRESET, dropout: float = _PRESET, seed: int = _PRESET,
                 sampler: str = _PRESET, inner_step: str = _PRESET, threads: int = _PRESET, loss: str = _PRESET,
                 shared_negatives: int = _PRESET, tail_embeddings: bool = _PRESET, item_bias: bool = _PRESET,
                 zero_initial_relation: bool = _PRESET, relation_penalty: float = _PRESET,
                 negatives: str = _PRESET, eval_mode_after: Optional[int] = _PRESET, table_decay: float = _PRESET,
                 query_margin: bool = _PRESET, optimizer: str = _PRESET) -> None:
        given = {name: value for name, value in dict(
            K=K, dim=dim, hidden=hidden, batch_size=batch_size, learning_rate=learning_rate, beta=beta,
            margin=margin, dropout=dropout, seed=seed, sampler=sampler, inner_step=inner_step, threads=threads,
            loss=loss, shared_negatives=shared_negatives, tail_embeddings=tail_embeddings, item_bias=item_bias,
            zero_initial_relation=zero_initial_relation, relation_penalty=relation_penalty, negatives=negatives,
            eval_mode_after=eval_mode_after, table_decay=table_decay, query_margin=query_margin,
            optimizer=optimizer).items()
            if value is not _PRESET}
        if isinstance(loss, str) and loss == "margin" and "item_bias" not in given:
            given["item_bias"] = False   # the margin loss's score has no bias (the command does the same)
        # Converted now (errors at construction), exactly as the model will be created from them.
        self._settings: Dict[str, Any] = _metatl.settings(preset, given)
        self._handle: Optional[Any] = None

    # -- training -------------------------------------------------------------------------

    def fit(self, dataset: Dataset, max_steps: Optional[int] = None, eval_every: Optional[int] = None,
            progress: bool = True, patience: Optional[int] = None, select_by: Optional[str] = None,
            callback: Optional[Callable[[Dict[str, Any]], Any]] = None) -> History:
        """Trains with validation-driven model selection, exactly as ``metatl train``, Swift's
        ``MetaTLModel.fit`` and C's ``mt_model_fit`` do (this is that function): the validation
        users are evaluated before training, every ``eval_every`` steps and after the last; the
        best model by ``select_by`` (the first on ties) competes throughout; training stops at
        ``max_steps``, after ``patience`` validations in a row without a new best (0: never early),
        on Ctrl-C, when ``callback`` asks, or at a step that diverges; and the model is then put
        back exactly as it was at the best validation (parameters, Adam state, BatchNorm
        statistics, step). Settings left as None take the library's defaults
        (``mt_fit_params_default()``: ``max_steps`` 20000, ``eval_every`` 250, ``patience`` 8,
        ``select_by`` "full_mrr", the full-catalogue ranking users get; "sampled_mrr" is the
        reference's protocol). The dataset needs validation users.

        ``progress`` shows a tqdm bar (plain lines without tqdm) and a line per validation.
        ``callback``, when given, is called after every step with a dict (``done``, ``total``,
        ``step``, ``query_loss``, ``validation``: None, or after a validation that validation's
        record) and stops the fit by returning True. Ctrl-C (or an exception raised by
        ``callback``) stops it too: the steps since the last validation are validated and
        compete, and the best model is kept; Ctrl-C then returns the history with
        ``interrupted`` True, another exception is raised again.

        Returns the learning curve (a :class:`History`, a list): one dict per validation, under
        the names of ``metatl train``'s ``--curve-csv`` and JSON ``learning_curve``: ``step``,
        ``elapsed_seconds`` (since ``fit`` began), ``steps_per_second``, ``train_loss`` (mean
        query loss since the previous record; None for the one before training),
        ``valid_sampled_mrr``, ``valid_sampled_hits10``, ``valid_full_mrr``,
        ``valid_full_hits10``, and ``selected`` (True on the kept model's record).

        Divergence ends ``fit`` without an error: a step that would make a value non-finite or
        carry it past the model's limits is not applied, the model after the last good step
        competes, ``history.diverged`` holds the reason and a RuntimeWarning says so. Other threads
        may serve the model meanwhile. Raises :class:`BusyError` if another training call is
        using the model.
        """
        if not isinstance(dataset, Dataset):
            raise TypeError(f"dataset must be a metatl.Dataset, got {type(dataset).__name__}")
        defaults = _metatl.fit_defaults()
        settings = {"max_steps": max_steps, "eval_every": eval_every, "patience": patience, "select_by": select_by}
        settings = {name: defaults[name] if value is None else value for name, value in settings.items()}
        progress = _metatl.flag(progress, "progress")
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable, got {type(callback).__name__}")
        if self._handle is None:
            self._handle = _metatl.model_create(self._settings, dataset._handle)
        bar = _Progress(int(settings["max_steps"]), enabled=progress)

        def on_progress(done: int, total: int, step: int, query_loss: float, validation: Optional[Dict[str, Any]]) -> bool:
            if validation is None:
                bar.update(done, query_loss)
            else:
                loss = validation["train_loss"]
                bar.write(f"step {validation['step']}: loss {'-' if loss is None else f'{loss:.4f}'}, valid "
                          f"sampled MRR {validation['valid_sampled_mrr']:.4f}, full MRR {validation['valid_full_mrr']:.4f}")
            if callback is None:
                return False
            return bool(callback({"done": done, "total": total, "step": step, "query_loss": query_loss,
                                  "validation": validation}))

        try:
            result = self._handle.fit(dataset._handle, settings["max_steps"], settings["eval_every"],
                                      settings["patience"], settings["select_by"], on_progress)
        finally:
            bar.close()
        history = History(result["curve"])
        for record in history:
            record["selected"] = record["step"] == result["best_step"]   # steps are increasing
        history.best_step = result["best_step"]
        history.stopped_early = result["stopped_early"]
        error = result["error"]
        if isinstance(error, KeyboardInterrupt):
            history.interrupted = True
            bar.write(f"interrupted after {result['steps_taken']} steps")
        elif error is not None:
            raise error
        if result["divergence"] is not None:
            history.diverged = result["divergence"]
            warnings.warn(f"training stopped: {history.diverged}", RuntimeWarning, stacklevel=2)
        if progress:
            print(f"kept the model of step {result['best_step']} (valid {settings['select_by']} "
                  f"{result['best_score']:.4f})", file=sys.stderr)
        return history

    def train(self, dataset: Dataset, steps: int, progress: bool = False) -> float:
        """Trains exactly ``steps`` (>= 1) meta steps and keeps the last model (C's
        ``mt_model_train``, Swift's ``train(on:steps:)``): no validation, no selection (for that,
        :meth:`fit`). Returns the mean query loss. Ctrl-C stops it after the current step (the
        steps taken are kept; :attr:`step` counts them) and raises KeyboardInterrupt.
        ``progress`` shows a bar. A diverging step raises :class:`DivergedError` (the model is
        left as it was after the last good step)."""
        if not isinstance(dataset, Dataset):
            raise TypeError(f"dataset must be a metatl.Dataset, got {type(dataset).__name__}")
        progress = _metatl.flag(progress, "progress")
        if self._handle is None:
            self._handle = _metatl.model_create(self._settings, dataset._handle)
        bar = _Progress(_metatl.integer(steps, "steps", 1), enabled=progress)

        def on_step(done: int, total: int, step: int, query_loss: float, validation: Any) -> bool:
            bar.update(done, query_loss)
            return False

        try:
            loss, error = self._handle.train(dataset._handle, steps, on_step)
        finally:
            bar.close()
        if error is not None:
            raise error
        return float(loss)

    # -- measuring ------------------------------------------------------------------------

    def evaluate(self, dataset: Dataset, split: str = "test", protocol: str = "sampled",
                 cutoffs: Sequence[int] = ()) -> Dict[str, float]:
        """MRR, NDCG@1/5/10 and Hits@1/5/10 (and ``users``) on one split of new users.
        ``protocol`` is "sampled" (target vs the dataset's sampled negatives, 100 by default as in
        the reference) or "full" (target vs the whole catalogue except the user's inputs). Ranks
        are pessimistic. Scores blend in the transition prior when one is attached
        (:meth:`attach_transition_prior`). ``cutoffs`` adds NDCG@k and Hits@k at more cutoffs
        (e.g. ``cutoffs=(20, 50)``; C ``mt_metrics_at_cutoff`` on :meth:`ranks`)."""
        if not isinstance(dataset, Dataset):
            raise TypeError(f"dataset must be a metatl.Dataset, got {type(dataset).__name__}")
        metrics = dict(self._trained().evaluate(dataset._handle, split, protocol))
        if cutoffs:
            metrics.update(_at_cutoffs(self.ranks(dataset, split, protocol)[1], cutoffs))
        return metrics

    def ranks(self, dataset: Dataset, split: str = "test", protocol: str = "sampled", scores: bool = False) -> Tuple[np.ndarray, ...]:
        """Each user's rank of their target (int64; 1 is best, 0 a miss), with the users' ids:
        ``(user_ids, ranks)``, what :meth:`evaluate` summarises (MRR is ``mean(1 / ranks)`` over
        the ranked), for per-user analyses and paired tests against other systems on the same
        users (C ``mt_model_evaluate_targets``). String user ids come back as str (an object
        array). With ``scores=True`` also the model's score of each target (float64; NaN for a
        target that could not be ranked): ``(user_ids, ranks, scores)``."""
        if not isinstance(dataset, Dataset):
            raise TypeError(f"dataset must be a metatl.Dataset, got {type(dataset).__name__}")
        users, ranks, target_scores = self._trained().ranks(dataset._handle, split, protocol)
        return (dataset._users(users), ranks, target_scores) if _metatl.flag(scores, "scores") else (dataset._users(users), ranks)

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
        first (str for a model of string ids). The most recent K are used; at least 2 are needed;
        unknown ids raise ValueError."""
        return self._trained().adapt(self._item_codes(history, "history"))

    def score(self, history: IdsLike, candidates: IdsLike) -> np.ndarray:
        """Scores (float32, higher is better) of ``candidates`` as the next item after the last
        item of ``history``, with u = E[last] + r' - T[candidate] (T is E without
        ``tail_embeddings``): ``-a * ||u||^2 + b[candidate]`` with ``loss="softmax"`` (a learned
        scale, b the item bias or 0), ``-||u||`` with ``loss="margin"``; plus the transition
        prior's ``weight * log(1 + count(last -> candidate))`` when one is attached."""
        h = self._item_codes(history, "history")
        model = self._trained()
        relation = model.adapt(h)
        if len(h) == 0:
            raise ValueError("history is empty")
        return model.score(relation, int(h[-1]), self._item_codes(candidates, "candidates"))

    def attach_index(self, lists: Optional[int] = None, probes: Optional[int] = None) -> Dict[str, Any]:
        """Builds an approximate index of the catalogue and attaches it (C ``mt_model_attach_index``):
        from then on :meth:`recommend` and :meth:`recommend_batch` score only the items of the
        ``probes`` k-means cells nearest to each user's query (plus the transition prior's successors
        of the last item), with the exact scores, instead of every item; an item outside them is
        missed, and searching every list is exact. ``lists`` is the number of cells (None or 0:
        sqrt(items)), ``probes`` the cells searched per user (None: 24). Calls with ``exact=True``,
        ``include_untrained=True`` or an ``allowed`` list rank every item; :meth:`evaluate` always
        does. Training the model further rebuilds the index on the next call. The index is not
        saved or pickled with the model: attach it again after loading. Returns :attr:`index_info`."""
        return dict(self._trained().attach_index(lists, probes))

    def detach_index(self) -> None:
        """Removes the attached index: recommend ranks every item again."""
        self._trained().detach_index()

    @property
    def index_info(self) -> Optional[Dict[str, Any]]:
        """The attached index's ``lists``, ``probes``, ``items``, ``bytes``, ``build_seconds`` and
        ``imbalance`` (lists * sum(size^2) / items^2; 1 when all lists are equal), or None when none
        is attached."""
        return None if self._handle is None else self._handle.index_info()

    def recommend(self, history: IdsLike, top_n: int = 10, exclude_history: bool = True, *,
                  include_untrained: bool = False, exact: bool = False,
                  k: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
        """The ``top_n`` best next items over the whole catalogue: (item ids int64, or str in an
        object array for a model of string ids; scores float32), best first; the scores are
        :meth:`score`'s, and ties go to the item listed first in :attr:`item_ids` (the order
        ``evaluate(protocol="full")`` ranks a target by). The history's items are left out
        unless ``exclude_history`` is False (a bool: True or False, numpy's too); ``top_n`` is an
        int of at least 1 (fewer come back when the catalogue is smaller). Items that were not in
        the model's training data (never learned) are left out unless ``include_untrained``.
        With an index attached (:meth:`attach_index`) only the items it searches are scored,
        unless ``exact``. ``k`` is the old name of ``top_n`` (deprecated)."""
        if k is not None:
            warnings.warn("recommend(k=...) is now recommend(top_n=...)", DeprecationWarning, stacklevel=2)
            top_n = k
        items, scores = self._trained().recommend(self._item_codes(history, "history"), top_n, exclude_history,
                                                  include_untrained, exact)
        return self._item_names(items), scores

    def recommend_batch(self, histories: Sequence[IdsLike], top_n: int = 10, exclude_history: bool = True,
                        allowed: Optional[IdsLike] = None, blocked: Optional[IdsLike] = None,
                        unknown_items: str = "skip", include_untrained: bool = False,
                        exact: bool = False) -> "BatchRecommendations":
        """:meth:`recommend` for many users in one call (C ``mt_model_recommend_batch``; the
        users are split over the model's threads, the GIL released): the same items and scores
        per history. ``allowed`` (only these items may be recommended) and ``blocked`` (never
        these) are id arrays; ids the model does not know in them are ignored. A history's ids
        the model does not know are skipped and counted (``unknown_items="skip"``) or raise
        ValueError (``"error"``). Returns :class:`BatchRecommendations`: ``items`` (users x
        top_n int64, -1 past each user's count; for a model of string ids an object array of
        str, None there), ``scores`` (float32, NaN there), ``counts`` and ``unknown_items`` per
        user; a user whose history keeps fewer than 2 known items gets count 0. ``exact`` ranks
        every item even with an index attached (:meth:`attach_index`)."""
        if unknown_items not in ("skip", "error"):
            raise ValueError(f'unknown_items must be "skip" or "error", got {unknown_items!r}')
        if isinstance(histories, (str, bytes)) or not isinstance(histories, Sequence):
            raise TypeError(f"histories must be a sequence of id sequences, got {type(histories).__name__}")
        strict = unknown_items == "error"
        rows = [self._item_codes(h, f"histories[{i}]", unknown_is_error=strict) for i, h in enumerate(histories)]
        for i, r in enumerate(rows):
            if r.ndim != 1:
                raise ValueError(f"histories[{i}] must be one-dimensional")
        offsets = np.zeros(len(rows) + 1, dtype=np.uint64)
        np.cumsum([len(r) for r in rows], out=offsets[1:])
        flat = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        items, scores, counts, unknown = self._trained().recommend_batch(
            np.ascontiguousarray(flat, dtype=np.int64), offsets, top_n, exclude_history,
            None if allowed is None else self._item_codes(allowed, "allowed", unknown_is_error=False),
            self._item_codes([] if blocked is None else blocked, "blocked", unknown_is_error=False), strict,
            include_untrained, exact)
        return BatchRecommendations(self._item_names(items), scores, counts, unknown)

    # -- string item ids ----------------------------------------------------------------------

    def _strings(self) -> Tuple[Optional[List[str]], Optional[Dict[str, int]]]:
        """The model's item string ids and their codes (None, None for integer ids), read once
        per native model (its vocabulary never changes)."""
        handle = self._trained()
        cached = getattr(self, "_strings_cache", None)
        if cached is None or cached[0] is not handle:
            names = handle.item_strings()
            codes = None if names is None else {n: c for c, n in enumerate(names)}
            cached = (handle, names, codes)
            self._strings_cache = cached
        return cached[1], cached[2]

    def _item_codes(self, ids: IdsLike, name: str, unknown_is_error: bool = True) -> np.ndarray:
        """Item ids as the engine takes them: integers as they are; for a model of string ids,
        str ids as their codes (an unknown one is a ValueError naming it, or -1, an id no model
        has, that the engine skips, with ``unknown_is_error=False``)."""
        names, codes = self._strings()
        if codes is None:
            return _ids(ids, name)
        values = list(ids) if not isinstance(ids, np.ndarray) else ids.tolist()
        out = np.empty(len(values), dtype=np.int64)
        for j, v in enumerate(values):
            if not isinstance(v, str):
                raise TypeError(f"{name}: the model's item ids are strings; got {type(v).__name__} {v!r}")
            c = codes.get(v)
            if c is None:
                if unknown_is_error:
                    raise ValueError(f"{name}: item id {v!r} is not in the model's vocabulary of {len(names)} items")
                c = -1
            out[j] = c
        return out

    def _item_names(self, items: np.ndarray) -> np.ndarray:
        """Engine item ids as the caller knows them: for a model of string ids an object array of
        str (None for -1, "no item")."""
        names, _ = self._strings()
        if names is None:
            return items
        out = np.empty(items.shape, dtype=object)
        flat, src = out.reshape(-1), items.reshape(-1)
        for j, c in enumerate(src.tolist()):
            flat[j] = names[c] if c >= 0 else None
        return out

    # -- the catalogue ----------------------------------------------------------------------

    @property
    def item_ids(self) -> np.ndarray:
        """External ids of the catalogue's items (int64, or str in an object array for a model
        of string ids), in the order of :attr:`item_embeddings`."""
        return self._item_names(self._trained().item_table(False)[0])

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
    def load(cls, path: PathLike, serving_only: bool = False) -> "Model":
        """A model from a checkpoint written by :meth:`save` (or by ``metatl train --out``).
        ``serving_only`` leaves Adam's state out (C ``mt_model_load_for_serving``): about a third
        of the memory, the same recommendations, scores and evaluations bit for bit, but the model
        cannot be trained, saved or pickled (:attr:`serving_only`)."""
        return cls._wrap(_metatl.model_load(path, serving_only))

    def to_bytes(self) -> bytes:
        """The checkpoint :meth:`save` writes, as bytes (C ``mt_model_save_bytes``): to ship the
        model to another process or store it anywhere; :meth:`from_bytes` reads it back."""
        return self._trained().to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes, serving_only: bool = False) -> "Model":
        """A model from :meth:`to_bytes`'s bytes (or a checkpoint file's contents), validated as
        :meth:`load` validates a file (ValueError on damage); ``serving_only`` as for :meth:`load`."""
        return cls._wrap(_metatl.model_from_bytes(data, serving_only))

    @property
    def serving_only(self) -> bool:
        """Whether the model was loaded with ``serving_only`` (it serves and evaluates, but does
        not train or save)."""
        return False if self._handle is None else bool(self._handle.serving_only())

    @classmethod
    def _wrap(cls, handle: Any) -> "Model":
        model = cls.__new__(cls)
        model._handle = handle
        model._settings = {}
        return model

    # Pickling, copy and deepcopy go through the checkpoint bytes: the copy is an independent
    # model that serves, evaluates and trains on exactly as the original would. A model not
    # trained yet (no catalogue) travels as its settings.
    def __reduce_ex__(self, protocol: Any) -> Any:
        if self._handle is None:
            return (_model_from_settings, (dict(self._settings),))
        return (Model.from_bytes, (self.to_bytes(),))

    def __copy__(self) -> "Model":
        if self._handle is None:
            return _model_from_settings(dict(self._settings))
        return Model.from_bytes(self.to_bytes())

    def __deepcopy__(self, memo: Any) -> "Model":
        return self.__copy__()

    def _trained(self) -> Any:
        if self._handle is None:
            raise RuntimeError("the model has no catalogue yet: call fit() first or use Model.load()")
        return self._handle

    def __repr__(self) -> str:
        c = self.config
        return f"Model(dim={c['dim']}, hidden={tuple(c['hidden'])}, K={c['K']}, step={self.step})"


def _model_from_settings(settings: Dict[str, Any]) -> "Model":
    """A model not trained yet, from its converted settings (unpickling)."""
    model = Model.__new__(Model)
    model._settings = settings
    model._handle = None
    return model


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

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
