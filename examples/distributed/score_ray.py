r"""Batch inference with Ray: score many new users' histories with a trained MetaTL model.

    python score_ray.py --model model.safetensors --histories users.parquet --out recs/ \
        --top-n 10 --actors 4 --batch-size 1024

Input (``--histories``: a parquet file, a folder of them, or anything ray.data.read_parquet
reads), one of two layouts:

  * wide (one row per user): ``user`` int64, ``history`` list<int64>, the user's item ids
    oldest first (other integer widths are cast to int64; other columns are ignored);
  * long (one row per interaction): ``user`` int64, ``item`` int64, ``timestamp`` (a number):
    grouped by user here and sorted by time (equal times by item id, since a shuffle does not
    keep file order).

For a model trained on string ids (ASINs, RecBole tokens) the items are strings
(``history`` list<string>, ``item`` string, and ``items`` list<string> out); ``user`` may be a
string column in any case.

Output (``--out``): parquet with ``user`` int64, ``items`` list<int64> (best first),
``scores`` list<float32> (the model's scores, as Model.recommend gives them) and
``unknown_items`` int64 (ids of the history the model did not know, which were skipped). A user
with fewer than two known items gets empty lists. ``--out`` ending in ``.parquet`` is one
file written by this (driver) process from the streamed results; anything else is a folder
that the workers write into in parallel (the scalable choice).

How it works: the checkpoint's bytes go into Ray's object store once; Ray Data reads the
parquet, cuts it into blocks of ``--batch-size`` users and streams them through a fixed pool of
``--actors`` actors, each holding one model built from those bytes (``Model.from_bytes``) and
scoring a block with one ``Model.recommend_batch`` call. A user's recommendations depend only on
the model and that user's history, so the output is the same, bit for bit, as single-process
``recommend_batch``/``recommend``, whatever the number of actors or the batch size.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Dict, List, Optional, Tuple

# Ray must not try the network or start services nobody asked for: no usage statistics (set
# before `import ray`; workers started by this driver inherit the environment).
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import ray  # noqa: E402

import metatl  # noqa: E402


class Scorer:
    """One model per actor. Ray Data constructs it once per actor process (an actor pool), so
    the checkpoint is parsed once per process, not once per batch; each call scores one block."""

    def __init__(self, model_bytes: Any, top_n: int, exclude_history: bool, debug_pid: bool = False) -> None:
        # An ObjectRef: fetched from the object store (zero-copy on the same node). Ray resolves
        # top-level ObjectRef arguments of actor constructors itself, but do it explicitly in case.
        if isinstance(model_bytes, ray.ObjectRef):
            model_bytes = ray.get(model_bytes)
        # Serving only: without Adam's state, a third of the memory; the same recommendations.
        self.model = metatl.Model.from_bytes(bytes(model_bytes), serving_only=True)
        self.string_ids = self.model.item_ids.dtype == object   # a model trained on string ids
        self.top_n = top_n
        self.exclude_history = exclude_history
        self.debug_pid = debug_pid

    def __call__(self, batch: pa.Table) -> pa.Table:
        users = batch.column("user").combine_chunks()
        if pa.types.is_integer(users.type):
            users = users.cast(pa.int64())
        histories = batch.column("history").combine_chunks()
        if histories.null_count:
            histories = histories.fill_null([])   # a missing history is an empty one
        if self.string_ids:
            # str ids: Python lists of str (the model translates them to its codes once per call).
            rows = histories.cast(pa.list_(pa.string())).to_pylist()
        else:
            histories = histories.cast(pa.list_(pa.int64()))
            # The list column's flat values and offsets (into those values) as numpy, without
            # copies: each user's history is then a view, which recommend_batch flattens once more.
            offsets = histories.offsets.to_numpy()
            values = histories.values.to_numpy()
            rows = [values[offsets[i]:offsets[i + 1]] for i in range(len(histories))]
        recs = self.model.recommend_batch(rows, top_n=self.top_n, exclude_history=self.exclude_history)
        # Padded users x top_n arrays (-1 or None, NaN past each user's count) to variable-length lists.
        keep = np.arange(recs.items.shape[1])[None, :] < recs.counts[:, None]
        list_offsets = pa.array(np.concatenate([[0], np.cumsum(recs.counts)]).astype(np.int32))
        item_type = pa.string() if self.string_ids else pa.int64()
        columns: Dict[str, Any] = {
            "user": users,
            "items": pa.ListArray.from_arrays(list_offsets, pa.array(recs.items[keep], item_type)),
            "scores": pa.ListArray.from_arrays(list_offsets, pa.array(recs.scores[keep], pa.float32())),
            "unknown_items": pa.array(recs.unknown_items, pa.int64()),
        }
        if self.debug_pid:   # which process scored the row (the test checks there were several)
            columns["pid"] = pa.array(np.full(len(users), os.getpid(), np.int64))
        return pa.table(columns)


def _history_of_group(group: Dict[str, np.ndarray]) -> pa.Table:
    """One user's interactions (long layout) to one wide row, items in time order. Returned as
    an Arrow table so that the history is a list<int64> (a dict of numpy arrays would become
    Ray's variable-shaped tensor type)."""
    order = np.lexsort((group["item"], group["timestamp"]))   # by time, then item id
    items = np.asarray(group["item"])
    strings = items.dtype.kind in "OUS"
    item_type = pa.string() if strings else pa.int64()
    users = np.asarray(group["user"])[:1]
    return pa.table({"user": pa.array(users.tolist() if users.dtype.kind in "OUS" else users,
                                      None if users.dtype.kind in "OUS" else pa.int64()),
                     "history": pa.array([(items[order].tolist() if strings else items.astype(np.int64)[order])],
                                         pa.list_(item_type))})


def read_checkpoint(path: str) -> Tuple[bytes, int]:
    """The checkpoint's bytes and its thread count; fails here, once, on a bad checkpoint rather
    than in every actor."""
    with open(path, "rb") as f:
        model_bytes = f.read()
    return model_bytes, int(metatl.Model.from_bytes(model_bytes).config["threads"])


def score(model_path: str, histories: str, out: str, top_n: int = 10, actors: int = 2, batch_size: int = 1024,
          exclude_history: bool = True, debug_pid: bool = False) -> None:
    """Scores every user of ``histories`` into ``out`` on the Ray cluster ray.init() connected to."""
    model_bytes, threads = read_checkpoint(model_path)
    # The engine runs `threads` threads per call (the checkpoint's setting: the Python API cannot
    # change a loaded model's; a model trained with the default threads=1 uses one): each actor
    # reserves that many CPUs so that actors do not oversubscribe a node. Results do not depend
    # on it (recommend_batch gives each user the same items and scores for any thread count).
    # Once into the object store, shared by every actor. (Ray logs an error-level line that the
    # actors' constructor arguments are in the object store and would be lost for a restart if
    # they went out of scope: model_ref lives until the job ends, so they do not.)
    model_ref = ray.put(model_bytes)

    # Keep the input's order in the output (costs little here), so that the same input gives the
    # same output file, row for row.
    ray.data.DataContext.get_current().execution_options.preserve_order = True
    ds = ray.data.read_parquet(histories)
    names = ds.schema().names
    if "history" not in names:
        if not {"user", "item", "timestamp"} <= set(names):
            raise SystemExit(f"{histories}: expected columns user, history (wide) or user, item, timestamp (long); "
                             f"found {names}")
        ds = ds.select_columns(["user", "item", "timestamp"]).groupby("user").map_groups(
            _history_of_group, batch_format="numpy")
    else:
        ds = ds.select_columns(["user", "history"])
    # A file is read as one block, and Ray Data hands a block to one actor: cut the data into
    # blocks of one batch each so that the pool's actors share the work.
    ds = ds.repartition(target_num_rows_per_block=batch_size)
    ds = ds.map_batches(
        Scorer,
        fn_constructor_kwargs={"model_bytes": model_ref, "top_n": top_n, "exclude_history": exclude_history,
                               "debug_pid": debug_pid},
        batch_size=batch_size,
        batch_format="pyarrow",                            # the list column without a pandas detour
        compute=ray.data.ActorPoolStrategy(size=actors),   # a fixed pool: N processes, N models
        num_cpus=threads,
    )
    if out.endswith(".parquet"):
        # One file: the driver streams the results into it (never holding them all).
        writer: Optional[pq.ParquetWriter] = None
        try:
            for table in ds.iter_batches(batch_format="pyarrow", batch_size=None):
                if writer is None:
                    writer = pq.ParquetWriter(out, table.schema)
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise SystemExit(f"{histories}: no users")
    else:
        ds.write_parquet(out)   # a folder of files, written by the workers


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="checkpoint (.safetensors) from `metatl train --out` or Model.save")
    p.add_argument("--histories", required=True, help="parquet file or folder (the layouts above)")
    p.add_argument("--out", required=True, help="output folder, or a file ending in .parquet")
    p.add_argument("--top-n", type=int, default=10, help="recommendations per user (default 10)")
    p.add_argument("--actors", type=int, default=2, help="actor processes, one model each (default 2)")
    p.add_argument("--batch-size", type=int, default=1024, help="users per recommend_batch call (default 1024)")
    p.add_argument("--include-history", action="store_true", help="allow items of the user's history")
    p.add_argument("--address", default=None,
                   help="Ray cluster to use (ray://head:10001, or `auto` for the one `ray start` began here; "
                        "default: RAY_ADDRESS, else a new local cluster that ends with this command)")
    p.add_argument("--num-cpus", type=int, default=None,
                   help="CPUs of the local cluster (default: enough for the actors and a reader)")
    p.add_argument("--debug-pid", action="store_true", help="add a pid column: the process that scored the row")
    args = p.parse_args(argv)
    for name in ("top_n", "actors", "batch_size"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")

    address = args.address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        # A local cluster: no dashboard (a web server, and metrics agents), and CPUs for every
        # actor (as many as the model's threads) plus one, so that reading is not starved by
        # the actors (a 2-core machine would otherwise give both cores to two actors and leave
        # none for the read). These are Ray's logical CPUs: it may count more than the machine has.
        threads = read_checkpoint(args.model)[1]
        num_cpus = args.num_cpus or max(os.cpu_count() or 1, args.actors * threads + 1)
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    try:
        score(args.model, args.histories, args.out, top_n=args.top_n, actors=args.actors,
              batch_size=args.batch_size, exclude_history=not args.include_history, debug_pid=args.debug_pid)
    finally:
        ray.shutdown()   # a local cluster's processes end here; a remote one is only disconnected
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
