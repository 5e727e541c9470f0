"""Memory and step time of training against the catalogue's size (the README's measured numbers).

    python measure_catalogue.py 100000 1000000      # items; each size in a fresh process

For each size: 25,000 training users' random sequences over that many items (every item
occurring; at least 40 interactions a user, more where the catalogue needs them), a model of
the default settings (dim 100, tail table, item bias, softmax over 1,024 shared negatives,
batch 1,024) but ``threads`` 1, its resident memory after creation (RSS over what the process
held with the dataset alone), the checkpoint's size and the memory of a model loaded from
it (each per item), the wall time of a training step and the fixed cost of a
``train()`` call (from a call of 10 steps and one of 40). One JSON line per size.
"""
import json
import subprocess
import sys
import time


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def measure(items: int, steps: int = 40) -> dict:
    import numpy as np
    import metatl

    rng = np.random.default_rng(1)
    # The same training users at every size (so that only the catalogue changes), with
    # sequences long enough for every item to occur.
    users = 25_000
    per_user = max(40, -(-items // users))
    item_seq = rng.integers(0, items, users * per_user)
    item_seq[:items] = np.arange(items)   # every item occurs in training
    u = np.repeat(np.arange(users), per_user)
    t = np.tile(np.arange(per_user, dtype=np.float64), users)
    test_users = 1000
    tu = np.repeat(np.arange(users, users + test_users), 5)
    ti = rng.integers(0, items, test_users * 5)
    tt = np.tile(np.arange(5, dtype=np.float64), test_users)
    data = metatl.Dataset.from_arrays(u, item_seq, t, tu, ti, tt)
    before = rss_bytes()
    model = metatl.Model(threads=1)
    start = time.perf_counter()
    model.train(data, 1)   # creates the model (the catalogue comes from the data) and takes step 1
    first = time.perf_counter() - start
    created = rss_bytes()
    # Two calls of different lengths: their difference is the per-step cost, the rest a
    # per-call cost (what a train() call does before and after its steps).
    start = time.perf_counter()
    model.train(data, steps // 4)
    short = time.perf_counter() - start
    start = time.perf_counter()
    model.train(data, steps)
    long = time.perf_counter() - start
    step = (long - short) / (steps - steps // 4)
    call = long - steps * step
    c = model.config
    # Serving: the checkpoint's size (what score_ray.py ships to each actor) and what a model
    # loaded from it holds in memory (what each actor holds).
    blob = model.to_bytes()
    loaded_before = rss_bytes()
    served = metatl.Model.from_bytes(blob)
    loaded = rss_bytes() - loaded_before
    del served
    return {"items": data.items, "dim": c["dim"], "tail_embeddings": c["tail_embeddings"],
            "model_rss_bytes": created - before, "model_rss_bytes_per_item": (created - before) / data.items,
            "first_step_s_incl_create": round(first, 3), "step_s": round(step, 4), "per_train_call_s": round(call, 3),
            "steps_timed": steps,
            "threads": c["threads"], "batch_size": c["batch_size"],
            "checkpoint_bytes_per_item": len(blob) / data.items, "loaded_rss_bytes_per_item": loaded / data.items}


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        print(json.dumps(measure(int(sys.argv[2]))), flush=True)
    else:
        for n in sys.argv[1:] or ["100000", "1000000"]:
            subprocess.run([sys.executable, __file__, "--one", n], check=True)
