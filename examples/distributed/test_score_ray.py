"""score_ray.py end to end on a local Ray cluster: the output equals single-process
Model.recommend_batch / Model.recommend for every user, bit for bit, the work ran in at least two
actor processes, and no process of the cluster outlives the command.

Run with `make test-distributed` (a virtual environment with metatl, ray[data] and pytest).
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import metatl

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "score_ray.py"
USERS = 300
TOP_N = 7
UNKNOWN = 10**12   # ids from here on are not in the model's catalogue


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny trained model (threads=1) saved as a checkpoint, and USERS histories: lengths 0 to
    12, some with ids the model does not know (recommend_batch skips them), some repeated items."""
    d = tmp_path_factory.mktemp("score_ray")
    data = metatl.Dataset.synthetic(side=12, train_users=400, new_users=100, seed=1)
    model = metatl.Model(dim=8, hidden=(8, 8), batch_size=64, threads=1, seed=1)
    model.train(data, 20)
    model.save(d / "model.safetensors")
    ids = model.item_ids
    rng = np.random.default_rng(7)
    users = (np.arange(USERS, dtype=np.int64) * 13 + 5)   # not 0..n-1: ids are carried, not positions
    histories = []
    for u in range(USERS):
        h = rng.choice(ids, int(rng.integers(0, 13))).astype(np.int64)
        if u % 4 == 0 and len(h):
            h[rng.integers(0, len(h))] = UNKNOWN + u
        histories.append(h)
    wide = d / "histories.parquet"
    pq.write_table(pa.table({"user": pa.array(users, pa.int64()),
                             "history": pa.array(histories, pa.list_(pa.int64()))}), wide)
    # The same users in the long layout, rows shuffled (the script must group and sort them).
    rows = [(users[u], item, float(100 * u + t)) for u, h in enumerate(histories) for t, item in enumerate(h)]
    order = rng.permutation(len(rows))
    long = d / "interactions.parquet"
    pq.write_table(pa.table({"user": pa.array([rows[i][0] for i in order], pa.int64()),
                             "item": pa.array([rows[i][1] for i in order], pa.int64()),
                             "timestamp": pa.array([rows[i][2] for i in order], pa.float64())}), long)
    return {"dir": d, "model": d / "model.safetensors", "wide": wide, "long": long,
            "users": users, "histories": histories}


def run_script(args):
    """Runs score_ray.py in its own process (its own local Ray cluster), with a marker in its
    environment that every process it starts inherits; returns the marker."""
    marker = uuid.uuid4().hex
    env = dict(os.environ, METATL_RAY_TEST=marker, RAY_USAGE_STATS_ENABLED="0")
    # A short temp root of our own: Ray's socket paths must stay under 108 characters.
    env["RAY_TMPDIR"] = root = tempfile.mkdtemp(prefix="mtray-", dir="/tmp")
    done = subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, f"{done.stdout[-4000:]}{done.stderr[-4000:]}\n(Ray's logs: {root})"
    shutil.rmtree(root, ignore_errors=True)   # the session's logs, kept only when it failed
    return marker


def processes_with(marker):
    """PIDs of live processes whose environment holds the marker (the cluster's, if any remain)."""
    needle = f"METATL_RAY_TEST={marker}".encode()
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    found.append(int(pid))
        except OSError:
            pass   # gone meanwhile, or not ours to read
    return found


def assert_no_leftovers(marker, pids):
    deadline = time.monotonic() + 20
    while True:
        left = processes_with(marker) + [p for p in pids if os.path.exists(f"/proc/{p}")]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert not left, f"processes of the Ray cluster still running after the command: {sorted(set(left))}"


def expected(model_path, histories):
    """Single process: recommend_batch over every history, and recommend per user (on the known
    ids, which recommend_batch keeps) agreeing with it."""
    model = metatl.Model.load(model_path)
    known = set(model.item_ids.tolist())
    batch = model.recommend_batch(histories, top_n=TOP_N)
    out = []
    for i, h in enumerate(histories):
        n = int(batch.counts[i])
        items, scores = batch.items[i, :n], batch.scores[i, :n]
        kept = np.array([x for x in h if x in known], dtype=np.int64)
        assert batch.unknown_items[i] == len(h) - len(kept)
        if len(kept) >= 2:
            one_items, one_scores = model.recommend(kept, top_n=TOP_N)
            assert np.array_equal(one_items, items) and one_scores.tobytes() == scores.tobytes()
        else:
            assert n == 0
        out.append((items, scores, int(batch.unknown_items[i])))
    return out


def check_output(table, users, histories, model_path):
    assert table.schema.field("user").type == pa.int64()
    assert table.schema.field("items").type == pa.list_(pa.int64())
    assert table.schema.field("scores").type == pa.list_(pa.float32())
    got = {u: (np.asarray(i, np.int64), np.asarray(s, np.float32), k) for u, i, s, k in zip(
        table.column("user").to_pylist(), table.column("items").to_pylist(),
        table.column("scores").to_pylist(), table.column("unknown_items").to_pylist())}
    assert len(got) == table.num_rows == len(users)   # every user once
    want = expected(model_path, histories)
    scored = 0
    for u, (items, scores, unknown) in zip(users.tolist(), want):
        g_items, g_scores, g_unknown = got[u]
        assert np.array_equal(g_items, items), u
        assert g_scores.tobytes() == scores.tobytes(), u   # float32 bit for bit
        assert g_unknown == unknown, u
        scored += len(items) > 0
    assert scored > len(users) // 2   # most users did get recommendations


def test_wide_histories_on_two_actors(setup):
    out = setup["dir"] / "recs.parquet"
    marker = run_script(["--model", setup["model"], "--histories", setup["wide"], "--out", out,
                         "--top-n", TOP_N, "--actors", 2, "--batch-size", 32, "--debug-pid"])
    table = pq.read_table(out)
    # The input's order is kept (preserve_order), so the rows come back as they went in.
    assert table.column("user").to_pylist() == setup["users"].tolist()
    pids = set(table.column("pid").to_pylist())
    assert len(pids) >= 2, f"all batches ran in one process: {pids}"
    assert os.getpid() not in pids
    check_output(table, setup["users"], setup["histories"], setup["model"])
    assert_no_leftovers(marker, pids)


def test_long_interactions_into_a_folder(setup):
    out = setup["dir"] / "recs-long"
    marker = run_script(["--model", setup["model"], "--histories", setup["long"], "--out", out,
                         "--top-n", TOP_N, "--actors", 2, "--batch-size", 64])
    table = pq.read_table(out)   # the folder of files the workers wrote
    # Users without interactions have no rows in the long layout, so none in the output.
    present = np.array([len(h) > 0 for h in setup["histories"]])
    users = setup["users"][present]
    histories = [h for h, p in zip(setup["histories"], present) if p]
    check_output(table, users, histories, setup["model"])
    assert_no_leftovers(marker, [])


def test_string_ids(setup):
    """A model trained on string item ids (and string users): histories of str in, str out, the
    same as single-process recommend_batch, bit for bit."""
    pd = pytest.importorskip("pandas")
    d = setup["dir"]
    names = lambda i: f"{i:010d}" if i % 4 == 0 else f"B{i:09X}"   # ASIN-like, some all digits
    rows = [(f"A{u:05d}", names(10 + (u * 7 + t * 3) % 40), t) for u in range(300) for t in range(6)]
    fresh = [(f"N{u:05d}", names(10 + (u * 5 + t * 3) % 40), t) for u in range(120) for t in range(5)]
    frame = lambda r: pd.DataFrame({"user": [x[0] for x in r], "item": [x[1] for x in r], "timestamp": [x[2] for x in r]})
    data = metatl.Dataset.from_pandas(frame(rows), frame(fresh))
    model = metatl.Model(dim=8, hidden=(8, 8), batch_size=64, threads=1, seed=1)
    model.train(data, 10)
    path = d / "strings.safetensors"
    model.save(path)
    ids = list(model.item_ids)
    rng = np.random.default_rng(3)
    users = [f"N{u:05d}" for u in range(150)]
    histories = [[ids[j] for j in rng.integers(0, len(ids), int(rng.integers(0, 8)))] + (["NOT-AN-ITEM"] if u % 5 == 0 else [])
                 for u in range(150)]
    wide = d / "string-histories.parquet"
    pq.write_table(pa.table({"user": pa.array(users, pa.string()), "history": pa.array(histories, pa.list_(pa.string()))}), wide)
    out = d / "string-recs.parquet"
    marker = run_script(["--model", path, "--histories", wide, "--out", out, "--top-n", TOP_N, "--actors", 2, "--batch-size", 32])
    table = pq.read_table(out)
    assert table.schema.field("items").type == pa.list_(pa.string())
    assert table.column("user").to_pylist() == users
    want = model.recommend_batch(histories, top_n=TOP_N)
    for i, (items, scores, unknown) in enumerate(zip(table.column("items").to_pylist(), table.column("scores").to_pylist(),
                                                    table.column("unknown_items").to_pylist())):
        n = int(want.counts[i])
        assert items == list(want.items[i, :n]) and np.asarray(scores, np.float32).tobytes() == want.scores[i, :n].tobytes()
        assert unknown == want.unknown_items[i]
    assert sum(int(c) > 0 for c in want.counts) > 100
    assert_no_leftovers(marker, [])
