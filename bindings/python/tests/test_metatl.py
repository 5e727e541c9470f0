"""The Python API and its misuse: every misuse is an exception, never a dead interpreter."""
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import metatl

ROOT = Path(__file__).resolve().parents[3]


def small_model(**kw):
    settings = dict(dim=16, hidden=(32, 24), batch_size=128, threads=1, learning_rate=0.005, sampler="contiguous")
    settings.update(kw)
    return metatl.Model(**settings)


@pytest.fixture(scope="module")
def data():
    return metatl.Dataset.synthetic(side=12, train_users=400, new_users=200, seed=3)


@pytest.fixture(scope="module")
def trained(data):
    model = small_model()
    model.fit(data, 40, progress=False)
    return model


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


TRAIN = "1\t10\t1\n1\t11\t2\n1\t12\t3\n1\t13\t4\n2\t11\t1\n2\t12\t2\n2\t14\t3\n"
TEST = "7\t10\t1\n7\t11\t2\n7\t12\t3\n7\t13\t4\n8\t12\t1\n8\t13\t2\n8\t14\t3\n8\t10\t4\n"


# ---- datasets ----------------------------------------------------------------------------

def test_version():
    assert metatl.version() == metatl._metatl.HEADER_VERSION == metatl.__version__
    # The package's metadata carries the same version (pyproject.toml cannot read it from the library).
    pyproject = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pyproject.toml")
    declared = re.search(r'^version = "([^"]+)"', open(pyproject).read(), re.M)
    assert declared is not None and declared.group(1) == metatl.__version__


def test_dataset_from_files(tmp_path):
    d = metatl.Dataset.from_files(write(tmp_path, "a_train.csv", TRAIN), str(write(tmp_path, "a_test.csv", TEST)), K=3, seed=1)
    assert d.items == 5 and d.K == 3
    assert d.info["train_users"] == 2 and d.info["valid_users"] + d.info["test_users"] == 2
    assert "5 items" in repr(d)


def test_dataset_from_arrays_accepts_lists_and_arrays():
    users, items, ts = [1, 1, 1, 2, 2], [10, 11, 12, 10, 12], [0, 1, 2, 0, 1]
    tu, ti, tt = np.array([9, 9, 9, 9]), np.array([10, 11, 12, 10], dtype=np.int32), np.arange(4.0)
    d = metatl.Dataset.from_arrays(users, items, ts, tu, ti, tt, K=3, seed=2)
    assert d.items == 3


def test_dataset_from_pandas_columns():
    pd = pytest.importorskip("pandas")
    train = pd.DataFrame({"u": [1, 1, 1], "i": [5, 6, 7], "t": [0, 1, 2]})
    test = pd.DataFrame({"u": [4, 4, 4, 4], "i": [5, 6, 7, 5], "t": [0, 1, 2, 3]})
    d = metatl.Dataset.from_arrays(train.u, train.i, train.t, test.u, test.i, test.t)
    assert d.items == 3


def test_dataset_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        metatl.Dataset.from_files(tmp_path / "missing.csv", tmp_path / "missing2.csv")
    bad = write(tmp_path, "bad_train.csv", "1\t10\t1\n1\t11\tlater\n")
    with pytest.raises(ValueError, match=r"bad_train.csv:2: field 'timestamp': expected a finite number, found 'later'"):
        metatl.Dataset.from_files(bad, write(tmp_path, "t.csv", TEST))
    with pytest.raises(TypeError, match="integer ids"):
        metatl.Dataset.from_arrays([1.5, 2.0], [1, 2], [0, 1], [3], [1], [0])
    with pytest.raises(ValueError, match="one-dimensional"):
        metatl.Dataset.from_arrays(np.ones((2, 2), dtype=int), [1, 2], [0, 1], [3], [1], [0])
    with pytest.raises(ValueError, match="same length"):
        metatl.Dataset.from_arrays([1, 1], [1], [0, 1], [3], [1], [0])
    with pytest.raises(ValueError, match="non-negative"):
        metatl.Dataset.from_arrays([1, 1], [1, -2], [0, 1], [3, 3, 3, 3], [1, 1, 1, 1], [0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"train->count must be at least 1"):
        metatl.Dataset.from_arrays([], [], [], [3], [1], [0])
    with pytest.raises(ValueError, match="side"):
        metatl.Dataset.synthetic(side=1)


# ---- training and evaluation --------------------------------------------------------------

def test_fit_returns_the_learning_curve(data):
    model = small_model()
    history = model.fit(data, 30, eval_every=10, patience=0, progress=False)
    assert [h["step"] for h in history] == [0, 10, 20, 30]
    assert history[0]["train_loss"] is None and history[0]["steps_per_second"] == 0
    assert all(0 <= h["valid_sampled_mrr"] <= 1 and 0 <= h["valid_full_mrr"] <= 1 for h in history)
    assert all(h["train_loss"] > 0 and h["steps_per_second"] > 0 for h in history[1:])
    assert [h["selected"] for h in history].count(True) == 1
    assert model.step == history.best_step == next(h["step"] for h in history if h["selected"])
    start = model.step
    more = model.fit(data, 5, eval_every=5, progress=False)
    assert [h["step"] for h in more] == [start, start + 5]


def test_fit_prints_plain_progress_without_tqdm(data, capsys, monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):
        if name.startswith("tqdm"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    small_model().fit(data, 20, progress=True)
    assert "step 20/20" in capsys.readouterr().err


def test_same_seed_same_model(data):
    a, b = small_model(seed=5), small_model(seed=5)
    a.fit(data, 10, progress=False)
    b.fit(data, 10, progress=False)
    assert np.array_equal(a.item_embeddings, b.item_embeddings)
    assert a.evaluate(data) == b.evaluate(data)


def test_evaluate(trained, data):
    for split in ("valid", "test"):
        for protocol in ("sampled", "full"):
            m = trained.evaluate(data, split=split, protocol=protocol)
            assert set(m) == {"MRR", "NDCG@1", "NDCG@5", "NDCG@10", "Hits@1", "Hits@5", "Hits@10", "users"}
            assert 0 < m["MRR"] <= 1 and m["users"] == data.info[f"{split}_users"]
    with pytest.raises(ValueError, match="split"):
        trained.evaluate(data, split="train")
    with pytest.raises(ValueError, match="protocol"):
        trained.evaluate(data, protocol="partial")


def test_fit_errors(data, tmp_path):
    with pytest.raises(ValueError, match="max_steps must be in 0"):
        small_model().fit(data, -5)
    with pytest.raises(ValueError, match="eval_every"):
        small_model().fit(data, 5, eval_every=0)
    with pytest.raises(TypeError, match="metatl.Dataset"):
        small_model().fit("data.csv", 5)
    with pytest.raises(ValueError, match="dim must be in"):
        small_model(dim=0).fit(data, 1)
    with pytest.raises(ValueError, match="sampler"):
        metatl.Model(sampler="fancy")
    with pytest.raises(RuntimeError, match="call fit"):
        metatl.Model().recommend([1, 2])
    other = metatl.Dataset.from_files(write(tmp_path, "o_train.csv", TRAIN), write(tmp_path, "o_test.csv", TEST))
    model = small_model()
    model.fit(data, 1, progress=False)
    with pytest.raises(ValueError, match="vocabulary"):
        model.fit(other, 1, progress=False)


@pytest.fixture(autouse=True)
def default_sigint():
    """The Ctrl-C tests need Python's default SIGINT handler. A process started in the background
    by a non-interactive shell inherits SIGINT ignored, and Python then installs none (Ctrl-C and
    _thread.interrupt_main do nothing): install it for the test and put the old one back."""
    previous = signal.getsignal(signal.SIGINT)
    if previous == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    if previous == signal.SIG_IGN:
        signal.signal(signal.SIGINT, previous)


def interrupt_once_training(model, send, settle=0.0):
    """A thread that waits until `model` trains, lets it run `settle` seconds more, then calls
    `send` (a SIGINT of some kind)."""

    def run():
        # Training has started once the model exists and has taken a step (reading the step
        # waits for the current one and never fails).
        deadline = time.time() + 30
        while time.time() < deadline:
            if model._handle is not None and model._handle.step() > 0:
                break
            time.sleep(0.001)
        time.sleep(settle)
        send()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_ctrl_c_during_fit_returns_the_curve_so_far(data):
    # 100000 steps record every 5000: before, Ctrl-C returned [] after thousands of steps.
    model = small_model()
    sender = interrupt_once_training(model, lambda: os.kill(os.getpid(), signal.SIGINT), settle=0.2)
    history = model.fit(data, 100000, patience=0, progress=False)
    sender.join()
    assert history.interrupted is True
    assert isinstance(history, metatl.History) and isinstance(history, list)
    # The steps since the last validation were validated: the curve ends where Ctrl-C stopped.
    last = history[-1]
    assert 0 < last["step"] < 100000 and last["train_loss"] > 0 and last["steps_per_second"] > 0
    assert [h["step"] for h in history] == sorted({h["step"] for h in history})
    assert model.step == history.best_step
    # Python's handler is untouched, and the model serves and trains on.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert model.recommend(model.item_ids[:3], top_n=3)[0].shape == (3,)
    again = model.fit(data, 5, eval_every=5, progress=False)
    assert again.interrupted is False and [h["step"] for h in again] == [history.best_step, history.best_step + 5]


def test_ctrl_c_during_fit_with_model_selection_keeps_the_best_model(data):
    import _thread
    model = small_model()
    sender = interrupt_once_training(model, _thread.interrupt_main, settle=0.3)
    history = model.fit(data, 100000, eval_every=5, patience=0, progress=False)
    sender.join()
    assert history.interrupted is True and len(history) >= 2
    evaluated = [h for h in history if "valid_full_mrr" in h]
    chosen = [h for h in evaluated if h["selected"]]
    assert len(chosen) == 1 and model.step == chosen[0]["step"]
    assert model.evaluate(data, split="valid")["MRR"] == chosen[0]["valid_sampled_mrr"]
    # Every evaluated record is whole (an interrupt never leaves one half written).
    assert all({"valid_sampled_mrr", "valid_sampled_hits10", "valid_full_mrr", "valid_full_hits10"} <= set(h) for h in evaluated)


def test_ctrl_c_under_a_programs_own_handler_is_caught_too(data):
    # fit leaves a handler of the program's own in place; the KeyboardInterrupt it raises is
    # handled as Ctrl-C is.
    def own_handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, own_handler)
    try:
        model = small_model()
        sender = interrupt_once_training(model, lambda: signal.pthread_kill(threading.main_thread().ident, signal.SIGINT),
                                         settle=0.2)
        history = model.fit(data, 100000, patience=0, progress=False)
        sender.join()
        assert signal.getsignal(signal.SIGINT) is own_handler
    finally:
        signal.signal(signal.SIGINT, previous)
    assert 0 < model.step < 100000
    assert len(history) >= 1, f"an empty learning curve after {model.step} steps"
    assert history.interrupted is True and 0 < history[-1]["step"] < 100000 and model.step == history.best_step
    assert model.recommend(model.item_ids[:3], top_n=3)[0].shape == (3,)


def data_ids(model):
    return model.item_ids


# ---- serving ----------------------------------------------------------------------------

def test_adapt_score_recommend(trained):
    ids = trained.item_ids
    history = ids[[4, 5, 6]]
    r = trained.adapt(history)
    assert r.dtype == np.float32 and r.shape == (16,)
    assert np.array_equal(trained.adapt(list(history)), r)
    top, scores = trained.recommend(history, top_n=7)
    assert top.dtype == np.int64 and scores.dtype == np.float32 and top.shape == (7,)
    assert np.all(np.diff(scores) <= 0)
    assert not set(top) & set(history)
    assert np.allclose(trained.score(history, top), scores)
    everything, _ = trained.recommend(history, top_n=10**6, exclude_history=False)
    assert len(everything) == len(ids)
    assert trained.item_embeddings.shape == (len(ids), 16)


def test_serving_errors(trained):
    ids = trained.item_ids
    with pytest.raises(ValueError, match="unknown item id 987654321"):
        trained.recommend([ids[0], 987654321])
    with pytest.raises(ValueError, match="at least 2"):
        trained.adapt([ids[0]])
    with pytest.raises(TypeError, match="integer ids"):
        trained.adapt(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="one-dimensional"):
        trained.recommend(np.array([[1, 2], [3, 4]]))
    with pytest.raises(ValueError, match="top_n must be at least 1"):
        trained.recommend(ids[:3], top_n=0)
    with pytest.raises(ValueError, match="top_n must be at least 1"):
        trained.recommend(ids[:3], top_n=-4)
    with pytest.raises(ValueError, match="candidate_count"):
        trained.score(ids[:3], [])


def test_serving_while_training(data):
    """A model serves while another thread trains it: serving waits for the current step and never
    fails; a second training call at the same time is refused at once (BusyError)."""
    model = small_model(batch_size=512)
    model.fit(data, 1, progress=False)
    history = model.item_ids[:3]
    errors = []

    def train():
        try:
            model._handle.train(data._handle, 1000)
        except RuntimeError as e:
            errors.append(e)

    t = threading.Thread(target=train)
    t.start()
    deadline = time.time() + 60
    while t.is_alive() and model._handle.step() <= 1 and time.time() < deadline:
        time.sleep(0.001)
    served, refused = 0, 0
    while t.is_alive() and time.time() < deadline:
        assert model.recommend(history, top_n=3)[0].shape == (3,)
        served += 1
        try:
            model._handle.train(data._handle, 1)
        except metatl.BusyError as e:
            assert "already being trained" in str(e)
            refused += 1
    t.join()
    assert errors == []
    assert served > 0 and refused > 0
    assert model.recommend(history, top_n=3)[0].shape == (3,)


# ---- checkpoints --------------------------------------------------------------------------

def test_save_load_round_trip(trained, data, tmp_path):
    path = tmp_path / "m.safetensors"
    trained.save(path)
    loaded = metatl.Model.load(path)
    history = trained.item_ids[[1, 2, 3]]
    assert np.array_equal(loaded.recommend(history)[0], trained.recommend(history)[0])
    assert np.array_equal(loaded.item_embeddings, trained.item_embeddings)
    assert loaded.evaluate(data, protocol="full") == trained.evaluate(data, protocol="full")
    assert loaded.config == trained.config and loaded.step == trained.step


def test_checkpoint_opens_with_safetensors(trained, tmp_path):
    safetensors = pytest.importorskip("safetensors.numpy")
    path = tmp_path / "m.safetensors"
    trained.save(path)
    tensors = safetensors.load_file(str(path))
    assert tensors["embedding.embedding.weight"].shape == (len(trained.item_ids) + 1, 16)
    assert tensors["relation_learner.rel_fc1.fc.weight"].shape == (32, 32)
    assert np.array_equal(tensors["embedding.embedding.weight"][1:], trained.item_embeddings)
    assert np.array_equal(tensors["vocabulary.item_ids"][1:], trained.item_ids)
    assert "optimizer.exp_avg.embedding.embedding.weight" in tensors


def test_checkpoint_errors(trained, tmp_path):
    with pytest.raises(FileNotFoundError):
        metatl.Model.load(tmp_path / "none.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    with pytest.raises(ValueError, match="header is not valid JSON"):
        metatl.Model.load(junk)
    path = tmp_path / "m.safetensors"
    trained.save(path)
    data = path.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.safetensors"):
        metatl.Model.load(cut)
    with pytest.raises(FileNotFoundError):
        trained.save(tmp_path / "no-such-folder" / "m.safetensors")


@pytest.mark.parametrize("select_by", [None, "sampled_mrr", "full_mrr"])
def test_fit_with_patience_keeps_the_best_model(data, select_by):
    model = small_model()
    chosen_by = {} if select_by is None else {"select_by": select_by}
    history = model.fit(data, 60, eval_every=6, patience=3, progress=False, **chosen_by)
    # The default is the full-catalogue MRR, as Swift's FitOptions and `metatl train` choose.
    key, protocol = {None: ("valid_full_mrr", "full"), "full_mrr": ("valid_full_mrr", "full"),
                     "sampled_mrr": ("valid_sampled_mrr", "sampled")}[select_by]
    evals = list(history)
    assert evals[0]["step"] == 0 and all("valid_sampled_mrr" in h and "valid_full_mrr" in h for h in evals)
    chosen = [h for h in evals if h["selected"]]
    assert len(chosen) == 1
    best = max(evals, key=lambda h: (h[key], -h["step"]))
    assert chosen[0] is best
    assert model.step == best["step"]
    # The kept model is exactly the one evaluated then.
    assert model.evaluate(data, split="valid", protocol=protocol)["MRR"] == best[key]
    straight = small_model()
    if best["step"] > 0:
        straight.train(data, best["step"])
        np.testing.assert_array_equal(model.item_embeddings, straight.item_embeddings)
    # Early stopping follows the rule.
    since, stop = 0, None
    for i, h in enumerate(evals[1:], 1):
        since = 0 if h[key] > max(e[key] for e in evals[:i]) else since + 1
        if since >= 3:
            stop = i
            break
    assert evals[-1]["step"] == (evals[stop]["step"] if stop else 60)


def test_fit_selection_arguments_are_checked(data):
    with pytest.raises(ValueError, match="select_by"):
        small_model().fit(data, 5, eval_every=1, patience=2, select_by="auc")
    with pytest.raises(ValueError, match="patience must be"):
        small_model().fit(data, 5, eval_every=1, patience=-1)



# ---- pickling and copying: models through their checkpoint bytes; the rest a clear TypeError ------

PICKLE_PROBE = """
import copy, pickle, sys
import metatl
data = metatl.Dataset.synthetic(side=5, train_users=40, new_users=20, seed=1)
model = metatl.Model(dim=8, hidden=(8, 8), batch_size=16)
model.fit(data, 2, progress=False)
objects = {"Model": model, "unfitted Model": metatl.Model(), "Dataset": data,
           "model handle": model._handle, "dataset handle": data._handle, "snapshot": model._handle.snapshot()}
how = sys.argv[1]
for name, obj in objects.items():
    print(name, end=": ", flush=True)
    try:
        if how == "copy":
            copy.copy(obj)
        elif how == "deepcopy":
            copy.deepcopy(obj)
        else:
            pickle.dumps(obj, protocol=int(how))
        print("no error", flush=True)
    except TypeError as e:
        print("TypeError:", e, flush=True)
"""


def probe(how):
    import subprocess
    import sys
    run = subprocess.run([sys.executable, "-c", PICKLE_PROBE, how], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"the interpreter died (status {run.returncode}):\n{run.stdout}{run.stderr[-2000:]}"
    return dict(line.split(": ", 1) for line in run.stdout.splitlines())


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickling_works_for_models_and_is_a_clear_type_error_for_the_rest(protocol):
    # In a subprocess: protocols 0 and 1 used to abort the interpreter (pybind11 threw through C).
    said = probe(str(protocol))
    assert said["Model"] == "no error" and said["unfitted Model"] == "no error"
    assert said["Dataset"].startswith("TypeError: metatl.Dataset cannot be pickled yet; build it again")
    for name in ("model handle", "dataset handle", "snapshot"):
        assert said[name].startswith("TypeError: metatl._metatl.") and "cannot be pickled or copied" in said[name], name


@pytest.mark.parametrize("how", ["copy", "deepcopy"])
def test_copying_models_works_and_the_rest_is_a_clear_type_error(how):
    said = probe(how)
    assert said["Model"] == "no error" and said["unfitted Model"] == "no error"
    assert said["Dataset"].startswith("TypeError: metatl.Dataset cannot be copied yet")
    for name in ("model handle", "dataset handle", "snapshot"):
        assert said[name].startswith("TypeError:") and "cannot be pickled or copied" in said[name], name


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_a_pickled_model_recommends_identically(trained, data, protocol):
    again = pickle.loads(pickle.dumps(trained, protocol=protocol))
    history = trained.item_ids[[4, 5, 6]]
    ids, scores = trained.recommend(history, top_n=10)
    ids2, scores2 = again.recommend(history, top_n=10)
    assert np.array_equal(ids, ids2) and np.array_equal(scores, scores2)
    assert again.config == trained.config and again.step == trained.step
    assert again.evaluate(data, protocol="full") == trained.evaluate(data, protocol="full")
    fresh = pickle.loads(pickle.dumps(small_model(seed=9), protocol=protocol))
    assert fresh.config == small_model(seed=9).config and fresh.step == 0


def test_model_bytes_round_trip_and_copies_are_independent(trained, data, tmp_path):
    raw = trained.to_bytes()
    trained.save(tmp_path / "m.safetensors")
    assert raw == (tmp_path / "m.safetensors").read_bytes()
    for source in (raw, bytearray(raw), memoryview(raw)):
        back = metatl.Model.from_bytes(source)
        assert np.array_equal(back.item_embeddings, trained.item_embeddings)
    import copy
    twin = copy.deepcopy(trained)
    before = trained.item_embeddings.copy()
    twin.train(data, 2)
    assert np.array_equal(trained.item_embeddings, before) and twin.step == trained.step + 2
    damaged = bytearray(raw)
    damaged[len(raw) // 2] ^= 0x40
    with pytest.raises(ValueError, match="checkpoint bytes"):
        metatl.Model.from_bytes(bytes(damaged))
    with pytest.raises(TypeError, match="data must be bytes"):
        metatl.Model.from_bytes("not bytes")
    with pytest.raises(RuntimeError, match="call fit"):
        metatl.Model().to_bytes()


# ---- paths: what open() accepts, and a NUL byte refused as open() refuses it ------------------

class FsPath:
    def __init__(self, path):
        self.path = path

    def __fspath__(self):
        return self.path


def test_paths_with_a_nul_byte_are_refused_as_open_refuses_them(trained, tmp_path):
    train, test = write(tmp_path, "n_train.csv", TRAIN), write(tmp_path, "n_test.csv", TEST)
    saved = tmp_path / "m.safetensors"
    trained.save(saved)
    for bad in (str(train) + "\0x", os.fsencode(train) + b"\0x", FsPath(str(train) + "\0x")):
        with pytest.raises(ValueError, match="embedded null byte"):
            open(bad)
        with pytest.raises(ValueError, match="train: embedded null byte"):
            metatl.Dataset.from_files(bad, test)
    with pytest.raises(ValueError, match="test: embedded null byte"):
        metatl.Dataset.from_files(train, str(test) + "\0x")
    with pytest.raises(ValueError, match="embedded null byte"):
        metatl.Model.load(str(saved) + "\0junk")
    with pytest.raises(ValueError, match="embedded null byte"):
        metatl.Model.load(FsPath(os.fsencode(saved) + b"\0junk"))
    target = tmp_path / "new.safetensors"
    with pytest.raises(ValueError, match="embedded null byte"):
        trained.save(str(target) + "\0.bak")
    assert not target.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors", "n_test.csv", "n_train.csv"]
    with pytest.raises(TypeError, match="path: expected str, bytes or os.PathLike object, not int"):
        metatl.Model.load(3)


def test_paths_are_taken_as_open_takes_them(trained, tmp_path):
    train, test = write(tmp_path, "b_train.csv", TRAIN), write(tmp_path, "b_test.csv", TEST)
    assert metatl.Dataset.from_files(os.fsencode(train), FsPath(str(test))).items == 5
    assert metatl.Dataset.from_files(FsPath(os.fsencode(train)), str(test)).items == 5
    saved = tmp_path / "é.safetensors"
    trained.save(os.fsencode(saved))
    assert metatl.Model.load(FsPath(str(saved))).step == metatl.Model.load(saved).step == trained.step


def test_paths_that_are_not_utf8_are_refused_not_mangled(trained, tmp_path):
    # libmetatl reads paths as UTF-8 and replaces invalid bytes: b"m\xff" used to write "m\ufffd".
    before = sorted(os.listdir(tmp_path))
    odd = os.fsencode(str(tmp_path)) + b"/m\xff.safetensors"
    for path in (odd, os.fsdecode(odd)):
        with pytest.raises(ValueError, match=r"^path: .* is not valid UTF-8"):
            trained.save(path)
        with pytest.raises(ValueError, match=r"^path: .* is not valid UTF-8"):
            metatl.Model.load(path)
    assert sorted(os.listdir(tmp_path)) == before


# ---- presets -------------------------------------------------------------------------------

REFERENCE = dict(K=3, dim=100, hidden=(500, 200), batch_size=1024, learning_rate=np.float32(0.001), beta=5.0,
                 margin=1.0, dropout=0.5, seed=1, sampler="reference", inner_step="reference", threads=1,
                 loss="margin", shared_negatives=1024, tail_embeddings=False, item_bias=False,
                 zero_initial_relation=False, relation_penalty=0.0, negatives="uniform", eval_mode_after=None,
                 table_decay=0.0, query_margin=False, optimizer="adam")


def test_the_reference_preset_is_the_notebooks():
    assert metatl.Model(preset="reference").config == REFERENCE


def test_the_default_is_the_recommended_preset():
    default = metatl.Model().config
    assert default["loss"] == "softmax"
    assert default == metatl.Model(preset="recommended").config != REFERENCE
    assert set(default) == set(REFERENCE)


def test_settings_change_only_what_they_name(data):
    model = metatl.Model(preset="reference", dim=8, hidden=(8, 6), batch_size=16, shared_negatives=0,
                         relation_penalty=0.5, negatives="mixed", eval_mode_after=4, sampler="window",
                         table_decay=0.25, query_margin=True, optimizer="sparse_adam")
    assert model.config == dict(REFERENCE, dim=8, hidden=(8, 6), batch_size=16, shared_negatives=0,
                                relation_penalty=0.5, negatives="mixed", eval_mode_after=4, sampler="window",
                                table_decay=0.25, query_margin=True, optimizer="sparse_adam")
    recommended = metatl.Model(dim=8, hidden=(8, 6), batch_size=16, threads=1, eval_mode_after=None)
    recommended.fit(data, 3, progress=False)
    assert recommended.config == dict(metatl.Model().config, dim=8, hidden=(8, 6), batch_size=16)
    # The margin loss's score has no bias: left out, item_bias follows (as `metatl train` does).
    assert metatl.Model(loss="margin").config["item_bias"] is False
    with pytest.raises(ValueError, match="an item bias needs the softmax loss"):
        metatl.Model(loss="margin", item_bias=True, dim=8, hidden=(8, 6), batch_size=16).fit(data, 1, progress=False)


def test_the_command_trains_what_python_and_c_default_to(tmp_path):
    """`metatl train` with no settings, C's mt_config_default() (through Model()) and Swift's
    Configuration() (which both wrap) agree setting for setting; only threads differs by design
    (the command defaults to every core, the library to 1)."""
    root = Path(__file__).resolve().parents[3]
    binary = root / ".build" / "debug" / "metatl-cli"
    if not binary.exists():
        pytest.skip(f"{binary} is not built (make test builds it first)")
    # Enough new users for some to be validation users (the command's fit selects on them).
    many = "".join(f"{u}\t{10 + (u + t) % 5}\t{t}\n" for u in range(100, 130) for t in range(4))
    train, test = write(tmp_path, "a_train.csv", TRAIN), write(tmp_path, "a_test.csv", many)
    out = tmp_path / "m.json"
    subprocess.run([str(binary), "train", "--train", str(train), "--test", str(test), "--steps", "0",
                    "--metrics-json", str(out)], check=True, capture_output=True)
    command = json.load(open(out))["configuration"]
    library = metatl.Model().config
    for name, value in library.items():
        if name == "threads":
            continue
        assert name in command, f"the command's JSON lacks {name}"
        if isinstance(value, float):
            assert command[name] == pytest.approx(value, rel=1e-6), name
        else:
            assert command[name] == (list(value) if isinstance(value, tuple) else value), name


def test_every_setting_is_reachable_from_python_and_the_command_with_the_same_fit_defaults():
    """Every setting of mt_config (Model().config) is a keyword of Model and an option of
    `metatl train` under the same name; fit's settings are the command's, with the library's
    defaults (mt_fit_params_default, Swift's FitOptions)."""
    import inspect
    root = Path(__file__).resolve().parents[3]
    binary = root / ".build" / "debug" / "metatl-cli"
    if not binary.exists():
        pytest.skip(f"{binary} is not built (make test builds it first)")
    help_text = subprocess.run([str(binary), "train", "--help"], check=True, capture_output=True, text=True).stdout
    keywords = inspect.signature(metatl.Model).parameters
    for name in metatl.Model().config:
        assert name in keywords, f"Model() has no keyword {name}"
        option = "--K" if name == "K" else "--" + name.replace("_", "-")
        assert re.search(rf"(^|\s){re.escape(option)}[\s,]", help_text), f"metatl train has no {option}"
    defaults = metatl._metatl.fit_defaults()
    assert defaults == {"max_steps": 20000, "eval_every": 250, "patience": 8, "select_by": "full_mrr"}
    fit = inspect.signature(metatl.Model.fit).parameters
    for name, value in defaults.items():
        assert fit[name].default is None   # None: the library's default
        option = "--" + name.replace("_", "-")
        block = next((b for b in re.split(r"\n(?=  --)", help_text) if b.strip().startswith(option + " ")
                      or b.strip().startswith(option + ",")), "")
        shown = re.search(r"default: ([^)]+)\)", " ".join(block.split()))
        assert shown and shown.group(1) == str(value), f"{option}: {shown and shown.group(1)} vs {value}"


def test_release_threads_ends_the_workers_and_changes_no_result(data):
    a, b = small_model(threads=2), small_model(threads=2)
    a.train(data, 4)
    count = len(os.listdir("/proc/self/task"))
    metatl.release_threads()
    assert len(os.listdir("/proc/self/task")) < count
    b.train(data, 4)
    np.testing.assert_array_equal(a.item_embeddings, b.item_embeddings)


def test_a_model_evaluates_a_new_cohort_with_unknown_items_skipped_and_counted(tmp_path):
    train_rows = "".join(f"{u}\t{10 + (u * 7 + t * 3) % 40}\t{t}\n" for u in range(80) for t in range(6))
    test_rows = "".join(f"{u}\t{10 + (u * 5 + t * 3) % 40}\t{t}\n" for u in range(100, 160) for t in range(5))
    data = metatl.Dataset.from_files(write(tmp_path, "a_train.csv", train_rows), write(tmp_path, "a_test.csv", test_rows))
    model = small_model()
    model.train(data, 5)
    # Next month: the same users plus interactions with items the model never saw.
    extra = "".join(f"{u}\t{99000 + u}\t9\n" for u in range(100, 160, 6))
    cohort = metatl.Dataset.for_model(model, write(tmp_path, "b_train.csv", train_rows + "3\t98000\t9\n"),
                                      write(tmp_path, "b_test.csv", test_rows + extra))
    assert cohort.info["unknown_interactions"] == 1 + len(range(100, 160, 6))
    assert data.info["unknown_interactions"] == 0
    assert model.evaluate(cohort, protocol="full") == model.evaluate(data, protocol="full")
    with pytest.raises(ValueError, match="b_train.csv: row .*: field 'item': item id 98000"):
        metatl.Dataset.for_model(model, tmp_path / "b_train.csv", tmp_path / "b_test.csv", unknown_items="error")
    with pytest.raises(RuntimeError, match="call fit"):
        metatl.Dataset.for_model(metatl.Model(), tmp_path / "b_train.csv", tmp_path / "b_test.csv")


def test_per_user_ranks_give_the_metrics(trained, data):
    for split in ("valid", "test"):
        for protocol in ("sampled", "full"):
            users, ranks = trained.ranks(data, split=split, protocol=protocol)
            m = trained.evaluate(data, split=split, protocol=protocol)
            assert len(users) == len(ranks) == m["users"] == data.info[f"{split}_users"]
            rr = np.where(ranks > 0, 1.0 / np.maximum(ranks, 1), 0.0)
            assert abs(rr.mean() - m["MRR"]) < 1e-12 and abs((ranks[ranks > 0] <= 10).sum() / len(ranks) - m["Hits@10"]) < 1e-12
    with pytest.raises(ValueError, match="split"):
        trained.ranks(data, split="train")


def test_baselines_from_python_on_the_same_users(trained, data):
    users, model_ranks = trained.ranks(data, protocol="full")
    for name in ("popularity", "transition", "transition2"):
        m = data.baseline(name, split="test", protocol="full")
        b_users, ranks = data.baseline_ranks(name, split="test", protocol="full")
        assert np.array_equal(b_users, users) and m["users"] == len(ranks)
        assert abs(np.where(ranks > 0, 1.0 / np.maximum(ranks, 1), 0).mean() - m["MRR"]) < 1e-12
    with pytest.raises(ValueError, match="baseline"):
        data.baseline("knn")


def test_untrained_items_are_recommended_only_when_asked(tmp_path):
    train_rows = "".join(f"{u}\t{10 + (u * 7 + t * 3) % 40}\t{t}\n" for u in range(80) for t in range(6))
    test_rows = "".join(f"{u}\t{(900 + u) if t == 2 else 10 + (u * 5 + t * 3) % 40}\t{t}\n" for u in range(100, 160) for t in range(5))
    data = metatl.Dataset.from_files(write(tmp_path, "u_train.csv", train_rows), write(tmp_path, "u_test.csv", test_rows))
    model = small_model()
    model.train(data, 3)
    history = model.item_ids[:3]
    served, _ = model.recommend(history, top_n=10**6)
    everything, _ = model.recommend(history, top_n=10**6, include_untrained=True)
    assert not any(1000 <= i < 1060 for i in served) and sum(1000 <= i < 1060 for i in everything) == 60
    batch = model.recommend_batch([history], top_n=10**5, include_untrained=True)
    assert np.array_equal(batch.items[0][:batch.counts[0]], everything)


def test_dataset_from_pandas_with_datetimes_and_integer_ids(tmp_path):
    pd = pytest.importorskip("pandas")
    train_rows = [(u, 10 + (u * 7 + t * 3) % 40, t) for u in range(80) for t in range(6)]
    test_rows = [(u, 10 + (u * 5 + t * 3) % 40, t) for u in range(100, 160) for t in range(5)]
    start = pd.Timestamp("2014-03-01", tz="UTC")

    def frame(rows):
        return pd.DataFrame({"userId": [r[0] for r in rows], "movieId": pd.Categorical([r[1] for r in rows]),
                             "rating": 4.0, "when": [start + pd.Timedelta(hours=r[2]) for r in rows]})

    data = metatl.Dataset.from_pandas(frame(train_rows), frame(test_rows), user="userId", item="movieId", time="when")
    files = metatl.Dataset.from_files(
        write(tmp_path, "p_train.csv", "".join(f"{u}\t{i}\t{t}\n" for u, i, t in train_rows)),
        write(tmp_path, "p_test.csv", "".join(f"{u}\t{i}\t{t}\n" for u, i, t in test_rows)))
    assert data.info == files.info
    a, b = small_model(), small_model()
    a.fit(data, 6, eval_every=3, progress=False)
    b.fit(files, 6, eval_every=3, progress=False)
    assert np.array_equal(a.item_embeddings, b.item_embeddings)   # times only order each user's items
    with pytest.raises(ValueError, match="no column 'item' for the item"):
        metatl.Dataset.from_pandas(frame(train_rows), frame(test_rows), user="userId", time="when")


def _asin(i):
    """ASIN-like string ids; every fourth all digits with leading zeros (ISBN-style ASINs)."""
    return f"{i:010d}" if i % 4 == 0 else f"B{i:09X}"


def test_dataset_from_pandas_with_string_ids_and_datetimes(tmp_path):
    """String ids and datetime64 times train exactly as the equivalent file does; the model then
    takes and returns the strings, pickles, and serves a cohort by them."""
    pd = pytest.importorskip("pandas")
    train_rows = [(f"A{u:05d}", _asin(10 + (u * 7 + t * 3) % 40), t) for u in range(80) for t in range(6)]
    test_rows = [(f"A{u:05d}", _asin(10 + (u * 5 + t * 3) % 40), t) for u in range(100, 160) for t in range(5)]
    start = pd.Timestamp("2014-03-01")

    def frame(rows, item_dtype=object):
        return pd.DataFrame({"reviewerID": [r[0] for r in rows], "asin": pd.Series([r[1] for r in rows], dtype=item_dtype),
                             "overall": 5.0, "when": [start + pd.Timedelta(hours=r[2]) for r in rows]})

    kw = dict(user="reviewerID", item="asin", time="when")
    data = metatl.Dataset.from_pandas(frame(train_rows), frame(test_rows), **kw)
    files = metatl.Dataset.from_files(
        write(tmp_path, "s_train.csv", "".join(f"{u}\t{i}\t{t * 3600}\n" for u, i, t in train_rows)),
        write(tmp_path, "s_test.csv", "".join(f"{u}\t{i}\t{t * 3600}\n" for u, i, t in test_rows)))
    assert data.info == files.info
    assert data.item_strings == files.item_strings == sorted({r[1] for r in train_rows + test_rows})
    assert data.user_strings == files.user_strings
    # pandas' string and categorical dtypes give the same dataset.
    for dtype in ("string", "category"):
        other = metatl.Dataset.from_pandas(frame(train_rows, dtype), frame(test_rows, dtype), **kw)
        assert other.item_strings == data.item_strings and other.info == data.info
    a, b = small_model(), small_model()
    a.fit(data, 6, eval_every=3, progress=False)
    b.fit(files, 6, eval_every=3, progress=False)
    assert np.array_equal(a.item_embeddings, b.item_embeddings)
    assert list(a.item_ids) == data.item_strings
    history = [train_rows[0][1], train_rows[1][1], train_rows[2][1]]
    items, scores = a.recommend(history, top_n=5)
    assert items.dtype == object and all(isinstance(i, str) for i in items) and set(items) <= set(data.item_strings)
    again = pickle.loads(pickle.dumps(a))
    items2, scores2 = again.recommend(history, top_n=5)
    assert list(items2) == list(items) and np.array_equal(scores2, scores)
    assert np.array_equal(a.score(history, items), scores)
    with pytest.raises(ValueError, match="item id 'B-NOT-THERE' is not in the model's vocabulary"):
        a.recommend(["B-NOT-THERE"] + history)
    with pytest.raises(TypeError, match="the model's item ids are strings"):
        a.recommend([1, 2, 3])
    batch = a.recommend_batch([history, ["B-NOT-THERE"] + history, history[:1]], top_n=5, blocked=[items[0], "B-NOT-THERE"])
    assert list(batch.unknown_items) == [0, 1, 0] and list(batch.counts) == [5, 5, 0]
    assert items[0] not in batch.items[0] and batch.items[2][0] is None
    with pytest.raises(ValueError, match="B-NOT-THERE"):
        a.recommend_batch([["B-NOT-THERE"] + history], unknown_items="error")
    users, ranks = a.ranks(data)
    assert all(isinstance(u, str) and u.startswith("A") for u in users) and len(users) == len(ranks)
    # A cohort file for the model: items matched by text, the unknown one skipped and counted.
    cohort = "".join(f"{u}\t{i}\t{t}\n" for u, i, t in test_rows) + "Z1\tNEW\t1\nZ1\t0000000012\t2\n"
    c = metatl.Dataset.for_model(a, write(tmp_path, "s_train.csv", "".join(f"{u}\t{i}\t{t}\n" for u, i, t in train_rows)),
                                 write(tmp_path, "c_test.csv", cohort))
    assert c.info["unknown_interactions"] == 1 and c.item_strings == data.item_strings
    # Lists of str through from_arrays; mixed or missing ids are a clear error.
    arrays = metatl.Dataset.from_arrays([r[0] for r in train_rows], [r[1] for r in train_rows], [r[2] for r in train_rows],
                                        [r[0] for r in test_rows], [r[1] for r in test_rows], [r[2] for r in test_rows])
    assert arrays.item_strings == data.item_strings
    with pytest.raises(TypeError, match="integer ids or string ids"):
        metatl.Dataset.from_arrays(np.array(["a", 1], dtype=object), [1, 2], [0, 1], [1], [1], [0])
    with pytest.raises(TypeError, match="not a str"):
        metatl.Dataset.from_pandas(frame(train_rows).assign(asin=lambda d: d["asin"].where(d.index > 0, None)), frame(test_rows), **kw)


def test_recommend_batch_equals_recommend_per_history(trained):
    ids = trained.item_ids
    histories = [ids[[1, 2, 3]], list(ids[[4, 5]]), [ids[6], 10**15, ids[7], ids[8]], [ids[9]]]
    got = trained.recommend_batch(histories, top_n=5)
    assert got.items.shape == (4, 5) and got.scores.dtype == np.float32
    assert list(got.counts) == [5, 5, 5, 0] and list(got.unknown_items) == [0, 0, 1, 0]
    for u, h in enumerate(histories[:3]):
        known = [i for i in h if i != 10**15]
        one, s = trained.recommend(known, top_n=5)
        assert np.array_equal(got.items[u], one) and np.array_equal(got.scores[u], s)
    assert np.all(got.items[3] == -1) and np.all(np.isnan(got.scores[3]))
    allowed = ids[10:20]
    only = trained.recommend_batch(histories[:1], top_n=4, allowed=allowed, blocked=[ids[10]])
    assert set(only.items[0]) <= set(allowed[1:])
    with pytest.raises(ValueError, match="history 2: unknown item id"):
        trained.recommend_batch(histories, unknown_items="error")
    with pytest.raises(ValueError, match="unknown_items"):
        trained.recommend_batch(histories, unknown_items="drop")
    with pytest.raises(TypeError, match="histories must be"):
        trained.recommend_batch("1,2,3")
    assert trained.recommend_batch([]).items.shape == (0, 10)


def test_train_takes_exactly_the_steps_and_keeps_the_last_model(data):
    model = small_model()
    loss = model.train(data, 7)
    assert model.step == 7 and loss > 0
    again = small_model()
    again.train(data, 3)
    again.train(data, 4)
    np.testing.assert_array_equal(model.item_embeddings, again.item_embeddings)
    with pytest.raises(ValueError, match="steps must be at least 1"):
        model.train(data, 0)


def test_fit_callback_sees_every_step_and_validation_and_can_stop(data):
    model = small_model()
    seen = []
    history = model.fit(data, 40, eval_every=5, patience=0, progress=False,
                        callback=lambda event: seen.append(event) or event["step"] >= 7 and event["validation"] is None)
    steps = [e for e in seen if e["validation"] is None]
    validations = [e["validation"] for e in seen if e["validation"] is not None]
    assert [e["done"] for e in steps] == list(range(1, 8)) and all(e["total"] == 40 for e in steps)
    assert validations == [{k: v for k, v in h.items() if k != "selected"} for h in history]
    assert [h["step"] for h in history] == [0, 5, 7]
    assert history.interrupted is False and model.step == history.best_step
    # An exception raised by the callback stops the fit and is raised again; the best model is kept.

    def fail(event):
        if event["step"] == 3:
            raise ValueError("enough")

    other = small_model()
    with pytest.raises(ValueError, match="enough"):
        other.fit(data, 40, eval_every=2, patience=0, progress=False, callback=fail)
    assert other.step in (0, 2, 3)
    with pytest.raises(TypeError, match="callback must be callable"):
        small_model().fit(data, 4, progress=False, callback=3)


def test_unknown_presets_are_errors():
    with pytest.raises(ValueError, match="unknown preset 'fancy'; expected 'recommended' or 'reference'"):
        metatl.Model(preset="fancy")
    with pytest.raises(ValueError, match="embedded null byte"):
        metatl.Model(preset="reference\0")
    for value in (1, b"reference", ["reference"]):
        with pytest.raises(TypeError, match="^preset must be a str"):
            metatl.Model(preset=value)


# ---- settings and arguments: as strict as Python itself -------------------------------------

def call_sites(data, trained, tmp_path):
    """Every scalar argument of the package, as (name, call with the value)."""
    ids = trained.item_ids[:3]
    train, test = write(tmp_path, "s_train.csv", TRAIN), write(tmp_path, "s_test.csv", TEST)
    arrays = ([1, 1, 1], [10, 11, 12], [0, 1, 2], [9, 9, 9, 9], [10, 11, 12, 10], [0, 1, 2, 3])
    sites = [(name, (lambda name: lambda v: metatl.Model(**{name: v}))(name))
             for name in ("K", "dim", "batch_size", "seed", "threads", "shared_negatives", "eval_mode_after")]
    sites += [
        ("hidden[0]", lambda v: metatl.Model(hidden=(v, 24))),
        ("hidden[1]", lambda v: metatl.Model(hidden=(32, v))),
        ("max_steps", lambda v: small_model().fit(data, v, progress=False)),
        ("eval_every", lambda v: small_model().fit(data, 2, eval_every=v, progress=False)),
        ("patience", lambda v: small_model().fit(data, 2, eval_every=1, patience=v, progress=False)),
        ("top_n", lambda v: trained.recommend(ids, top_n=v)),
        ("side", lambda v: metatl.Dataset.synthetic(side=v, train_users=10, new_users=10)),
        ("train_users", lambda v: metatl.Dataset.synthetic(side=5, train_users=v, new_users=10)),
        ("new_users", lambda v: metatl.Dataset.synthetic(side=5, train_users=10, new_users=v)),
        ("seed", lambda v: metatl.Dataset.synthetic(side=5, train_users=10, new_users=10, seed=v)),
        ("K", lambda v: metatl.Dataset.from_files(train, test, K=v)),
        ("seed", lambda v: metatl.Dataset.from_files(train, test, seed=v)),
        ("K", lambda v: metatl.Dataset.from_arrays(*arrays, K=v)),
        ("seed", lambda v: metatl.Dataset.from_arrays(*arrays, seed=v)),
    ]
    return sites


@pytest.mark.parametrize("value", [8.7, 3.0, True, False, np.float64(2.0), np.True_, "3", b"3"])
def test_int_arguments_refuse_bools_floats_and_strings(data, trained, tmp_path, value):
    # Before: dim=8.7 was 8, dim=True was 1, k=2.9 was 2, steps=1.5 was 1.
    for name, call in call_sites(data, trained, tmp_path):
        with pytest.raises(TypeError, match=rf"^{re.escape(name)} must be an integer, got "):
            call(value)


def test_int_arguments_beyond_their_c_type_are_overflow_errors(data, trained, tmp_path):
    # Before: RuntimeError "Unable to cast" or TypeError "incompatible function arguments".
    limits = {"seed": (-1, 2**64), "top_n": (None, 2**63), "max_steps": (-2**63 - 1, 2**63),
              "eval_every": (-2**63 - 1, 2**63), "patience": (-2**63 - 1, 2**63), "eval_mode_after": (-2**63 - 1, 2**63)}
    for name, call in call_sites(data, trained, tmp_path):
        low, high = limits.get(name, (-2**31 - 1, 2**31))
        for value in (low, high):
            if value is not None:
                with pytest.raises(OverflowError, match=rf"^{re.escape(name)} must fit in u?int(32|64) "):
                    call(value)


def test_int_arguments_below_the_bound_the_binding_knows_are_value_errors(data, trained):
    for call, message in ((lambda: trained.recommend(trained.item_ids[:3], top_n=0), "top_n must be at least 1, got 0"),
                          (lambda: small_model().fit(data, -2), "max_steps must be in 0...2147483647 (got -2)"),
                          (lambda: small_model().fit(data, 2, eval_every=0), "eval_every must be in 1...2147483647 (got 0)"),
                          (lambda: small_model().fit(data, 2, eval_every=1, patience=-1),
                           "patience must be in 0...2147483647 (got -1)"),
                          (lambda: metatl.Model(eval_mode_after=-1), "eval_mode_after must be at least 0, got -1")):
        with pytest.raises(ValueError, match=re.escape(message)):
            call()


def test_int_arguments_take_numpy_integers(data, trained):
    model = small_model(K=np.int64(3), dim=np.int32(16), hidden=(np.uint16(32), np.int8(24)), batch_size=np.int64(128),
                        seed=np.uint64(7), threads=np.int16(1))
    assert model.config["dim"] == 16 and type(model.config["dim"]) is int and model.config["hidden"] == (32, 24)
    history = model.fit(data, np.int64(4), eval_every=np.int32(2), patience=np.uint8(0), progress=False)
    assert model.step == history.best_step and len(history) == 3
    assert trained.recommend(trained.item_ids[:3], top_n=np.uint64(4))[0].shape == (4,)
    assert metatl.Dataset.synthetic(side=np.int64(5), train_users=np.int32(10), new_users=np.int8(10),
                                    seed=np.uint64(2)).items == 25


def test_float_settings_refuse_bools_and_strings(data):
    for name in ("learning_rate", "beta", "margin", "dropout", "relation_penalty", "table_decay"):
        for value in (True, np.False_, "0.1", b"0.1", None, [0.1]):
            with pytest.raises(TypeError, match=rf"^{name} must be a real number, got "):
                metatl.Model(**{name: value})
        with pytest.raises(OverflowError, match=rf"^{name} is too large for a float32"):
            metatl.Model(**{name: 1e39})
    model = metatl.Model(learning_rate=np.float32(0.25), beta=2, margin=np.float64(0.5), dropout=np.int64(0))
    assert model.config["learning_rate"] == 0.25 and model.config["beta"] == 2.0 and model.config["dropout"] == 0.0


def test_bool_arguments_refuse_non_bools(data, trained):
    # Before: exclude_history="no" was truthy.
    ids = trained.item_ids[:3]
    for value in ("no", "", 0, 1, 1.0, None, np.int64(1), [True]):
        with pytest.raises(TypeError, match="^exclude_history must be True or False, got "):
            trained.recommend(ids, exclude_history=value)
        with pytest.raises(TypeError, match="^progress must be True or False, got "):
            small_model().fit(data, 1, progress=value)
    for name in ("tail_embeddings", "item_bias", "zero_initial_relation", "query_margin"):
        for value in ("no", 0, 1, None, np.int64(1)):
            with pytest.raises(TypeError, match=f"^{name} must be True or False, got "):
                metatl.Model(**{name: value})
        assert metatl.Model(**{name: np.False_}).config[name] is False
    kept = trained.recommend(ids, top_n=len(trained.item_ids), exclude_history=np.False_)[0]
    assert set(ids) <= set(kept)
    assert not set(ids) & set(trained.recommend(ids, top_n=5, exclude_history=np.True_)[0])
    assert np.array_equal(trained.recommend(ids, top_n=5, exclude_history=True)[0],
                          trained.recommend(ids, top_n=5, exclude_history=np.bool_(True))[0])


def test_choices_refuse_other_types_and_names(trained, data):
    for name, call in (("sampler", lambda v: metatl.Model(sampler=v)), ("inner_step", lambda v: metatl.Model(inner_step=v)),
                       ("loss", lambda v: metatl.Model(loss=v)), ("negatives", lambda v: metatl.Model(negatives=v)),
                       ("optimizer", lambda v: metatl.Model(optimizer=v)),
                       ("split", lambda v: trained.evaluate(data, split=v)),
                       ("protocol", lambda v: trained.evaluate(data, protocol=v))):
        with pytest.raises(TypeError, match=f"^{name} must be one of "):
            call(1)
        with pytest.raises(ValueError, match=f"^{name} must be one of .*, got 'fancy'"):
            call("fancy")
    with pytest.raises(ValueError, match="hidden must be two sizes"):
        metatl.Model(hidden=(8, 8, 8))
    with pytest.raises(TypeError, match="hidden must be a pair of sizes"):
        metatl.Model(hidden=8)


def test_the_extension_refuses_arrays_that_are_not_one_dimensional(trained):
    # Before: the extension read a 2-D array flattened (history [[a, b], [c, d]] as [a, b, c, d]).
    handle, ids = trained._handle, trained.item_ids
    square = np.array([ids[:2], ids[2:4]])
    relation = trained.adapt(ids[:3])
    calls = (("history", lambda: handle.adapt(square)), ("history", lambda: handle.recommend(square, 3, True, False, False)),
             ("history", lambda: handle.adapt(np.int64(ids[0]))),
             ("relation", lambda: handle.score(relation.reshape(2, -1), int(ids[2]), ids[:4])),
             ("candidates", lambda: handle.score(relation, int(ids[2]), square)))
    for name, call in calls:
        with pytest.raises(ValueError, match=rf"^{name} must be one-dimensional, got shape \("):
            call()
    one = np.array([1, 1, 1])
    columns = [one, one, one.astype(float), one, one, one.astype(float)]
    names = ["users", "items", "timestamps", "test_users", "test_items", "test_timestamps"]
    for i, name in enumerate(names):
        args = list(columns)
        args[i] = np.stack([args[i], args[i]])
        u, it, t, tu, ti, tt = args
        with pytest.raises(ValueError, match=rf"^{name} must be one-dimensional, got shape \(2, 3\)"):
            metatl._metatl.dataset_from_interactions(u, it, t, None, None, tu, ti, tt, None, None, 3, 1)
    with pytest.raises(ValueError, match=r"^history must be one-dimensional, got shape \(2, 2\)"):
        trained.recommend(square)


# ---- errors of their own kind --------------------------------------------------------------

def test_busy_and_diverged_errors_are_runtime_errors_of_their_own(data):
    for error in (metatl.BusyError, metatl.DivergedError):
        assert issubclass(error, RuntimeError) and error.__module__ == "metatl" and error.__name__ in metatl.__all__
        assert error.__doc__ and pickle.loads(pickle.dumps(error("x"))).args == ("x",)
    assert metatl.BusyError is metatl._metatl.BusyError and metatl.DivergedError is metatl._metatl.DivergedError
    assert not issubclass(metatl.BusyError, metatl.DivergedError) and not issubclass(metatl.DivergedError, metatl.BusyError)
    # MT_ERR_BUSY arrives as BusyError: a second training call while another thread trains.
    model = small_model(batch_size=512)
    model.fit(data, 1, progress=False)
    caught = []

    def train():
        while True:   # until this thread is the one training (the main thread may hold it first)
            try:
                model._handle.train(data._handle, 300)
                return
            except metatl.BusyError:
                continue

    trainer = threading.Thread(target=train)
    trainer.start()
    deadline = time.time() + 60
    while trainer.is_alive() and model._handle.step() < 3 and time.time() < deadline:
        time.sleep(0.001)   # reading the step waits for a step, never fails
    while trainer.is_alive() and time.time() < deadline and not caught:
        try:
            model._handle.train(data._handle, 1)
        except RuntimeError as e:
            caught.append(e)
    trainer.join()
    assert caught and type(caught[0]) is metatl.BusyError and "being trained" in str(caught[0])


def test_a_diverging_fit_stops_with_the_reason_and_a_finite_model(data):
    model = small_model(learning_rate=1e30)
    with pytest.warns(RuntimeWarning, match="diverged at step 1|step 1"):
        history = model.fit(data, 20, progress=False)
    assert history.diverged is not None and "step 1" in history.diverged
    assert model.step == 0 and [h["step"] for h in history] == [0]
    with pytest.warns(RuntimeWarning):
        selected = small_model(learning_rate=1e30).fit(data, 20, eval_every=5, patience=2, progress=False)
    assert selected.diverged is not None
    assert all(0 <= r["valid_sampled_mrr"] <= 1 for r in selected)
    with pytest.raises(metatl.DivergedError):
        model._handle.train(data._handle, 3)   # the engine's own status, as C sees it
    assert np.isfinite(model.item_embeddings).all()


def test_native_handles_cannot_be_made_directly():
    # __new__ without the package's constructors (as a crafted pickle would call it) used to
    # hand the engine a garbage handle and kill the interpreter.
    code = ("import metatl\n"
            "for cls in (metatl._metatl.Model, metatl._metatl.Dataset, metatl._metatl.Snapshot):\n"
            "    try:\n"
            "        cls.__new__(cls)\n"
            "    except TypeError as e:\n"
            "        assert 'not directly' in str(e), e\n"
            "    else:\n"
            "        raise SystemExit('made ' + cls.__name__)\n"
            "print('ok')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ok", (r.returncode, r.stdout, r.stderr[-2000:])


def test_a_data_file_beyond_max_file_bytes_is_refused(tmp_path):
    train = tmp_path / "t.tsv"
    train.write_text("".join(f"{u}\t{100 + (u + t) % 9}\t{t}\n" for u in range(20) for t in range(6)))
    test = tmp_path / "n.tsv"
    test.write_text("".join(f"{1000 + u}\t{100 + (2 * u + t) % 9}\t{t}\n" for u in range(10) for t in range(5)))
    assert metatl.DEFAULT_MAX_FILE_BYTES == 4 << 30
    metatl.Dataset.from_files(train, test, max_file_bytes=train.stat().st_size)
    with pytest.raises(ValueError, match="t.tsv"):
        metatl.Dataset.from_files(train, test, max_file_bytes=train.stat().st_size - 1)
    with pytest.raises(TypeError):
        metatl.Dataset.from_files(train, test, max_file_bytes=1.5)


# ---- the transition prior ------------------------------------------------------------------

def test_transition_prior(data, tmp_path):
    model = small_model()
    model.fit(data, 10, progress=False)
    history = model.item_ids[[1, 2, 3]]
    pure_ids, pure_scores = model.recommend(history)
    pure_full = model.evaluate(data, protocol="full")
    assert model.transition_prior_weight == 0.0
    # weight 0: exactly the pure model
    assert model.attach_transition_prior(data, 0) == 0.0
    ids, scores = model.recommend(history)
    assert np.array_equal(ids, pure_ids) and np.array_equal(scores, pure_scores)
    assert model.evaluate(data, protocol="full") == pure_full
    # a fixed weight only ever raises scores, by weight * log(1 + count)
    assert model.attach_transition_prior(data, 2.0) == 2.0
    assert model.transition_prior_weight == 2.0
    candidates = model.item_ids
    blended = model.score(history, candidates)
    model.attach_transition_prior(data, 0)
    plain = model.score(history, candidates)
    assert np.all(blended >= plain) and np.any(blended > plain)
    # auto: a grid weight chosen on validation, saved with the model
    chosen = model.attach_transition_prior(data)
    assert chosen in (0, 0.25, 0.5, 1, 2, 4, 8, 16, 32)
    path = tmp_path / "prior.safetensors"
    model.save(path)
    loaded = metatl.Model.load(path)
    assert loaded.transition_prior_weight == chosen
    assert np.array_equal(loaded.recommend(history)[1], model.recommend(history)[1])
    for bad in (-1, float("nan"), "often"):
        with pytest.raises(ValueError):
            model.attach_transition_prior(data, bad)
    with pytest.raises(ValueError):
        model.attach_transition_prior(data, float("inf"))
    with pytest.raises(TypeError):
        model.attach_transition_prior(data, True)
    with pytest.raises(TypeError):
        model.attach_transition_prior("data", 1)


def test_sampled_negatives_and_cutoffs_are_options(tmp_path, trained, data):
    """sampled_negatives bounds the sampled ranks (and leaves the full protocol alone); cutoffs add
    NDCG@k and Hits@k by the same rule as 1, 5 and 10, for models and baselines."""
    rows = "".join(f"{u}\t{10 + (u * 7 + t * 3) % 40}\t{t}\n" for u in range(80) for t in range(6))
    test_rows = "".join(f"{u}\t{10 + (u * 5 + t * 3) % 40}\t{t}\n" for u in range(100, 160) for t in range(5))
    a, b = write(tmp_path, "n_train.csv", rows), write(tmp_path, "n_test.csv", test_rows)
    standard, five = metatl.Dataset.from_files(a, b), metatl.Dataset.from_files(a, b, sampled_negatives=5)
    model = small_model()
    model.train(standard, 3)
    _, ranks = model.ranks(five, protocol="sampled")
    assert ranks.min() >= 1 and ranks.max() <= 6
    assert model.evaluate(five, protocol="full") == model.evaluate(standard, protocol="full")
    with pytest.raises(ValueError, match="sampledNegatives must be in 1...100000"):
        metatl.Dataset.from_files(a, b, sampled_negatives=0)
    m = trained.evaluate(data, "test", "full", cutoffs=(10, 20))
    plain = trained.evaluate(data, "test", "full")   # Hits@10 from mt_model_evaluate; with cutoffs=(10,) from the ranks
    assert m["Hits@10"] == pytest.approx(plain["Hits@10"], abs=1e-12) and m["NDCG@10"] == pytest.approx(plain["NDCG@10"], abs=1e-12)
    assert m["Hits@20"] >= m["Hits@10"] and m["NDCG@20"] >= m["NDCG@10"]
    _, r = trained.ranks(data, "test", "full")
    assert m["Hits@20"] == np.mean((r >= 1) & (r <= 20))
    base = data.baseline("transition", "test", "full", cutoffs=(20,))
    assert base["Hits@20"] >= base["Hits@10"]
    with pytest.raises(ValueError, match="k must be at least 1"):
        trained.evaluate(data, cutoffs=(0,))


def test_from_pandas_splits_one_log_as_split_and_from_files_do(tmp_path):
    """One DataFrame (string ids, datetime64 times) is split in memory (C mt_dataset_split) into the
    same dataset, and the same trained model, as metatl.split of the file then Dataset.from_files."""
    pd = pytest.importorskip("pandas")
    start = pd.Timestamp("2014-03-01")
    rows = [(f"A{u:04d}", _asin(10 + (u * 7 + t * 3) % 40), start + pd.Timedelta(hours=u * 3 + t)) for u in range(120)
            for t in range(4 + u % 3)]
    log = pd.DataFrame({"reviewerID": [r[0] for r in rows], "asin": [r[1] for r in rows], "overall": 4.0,
                        "unixReviewTime": [r[2] for r in rows]})
    data = metatl.Dataset.from_pandas(log, user="reviewerID", item="asin", time="unixReviewTime", new_user_fraction=0.25)
    path = tmp_path / "log.csv"
    log.assign(unixReviewTime=(log["unixReviewTime"] - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)).to_csv(path, index=False)
    info = metatl.split(path, tmp_path / "a.csv", tmp_path / "b.csv", new_user_fraction=0.25)
    files = metatl.Dataset.from_files(tmp_path / "a.csv", tmp_path / "b.csv")
    assert data.split_info == info and files.split_info is None
    assert data.info == files.info and data.item_strings == files.item_strings and data.user_strings == files.user_strings
    a, b = small_model(), small_model()
    a.train(data, 3)
    b.train(files, 3)
    assert np.array_equal(a.item_embeddings, b.item_embeddings)
    with pytest.raises(ValueError, match="split one frame"):
        metatl.Dataset.from_pandas(log, log, user="reviewerID", item="asin", time="unixReviewTime", cut_time=5)


def test_ranks_with_target_scores(trained, data):
    """ranks(scores=True) adds each target's score (the C contract test checks the full protocol's
    against the serving score); the baselines give theirs."""
    users, ranks, scores = trained.ranks(data, "test", "full", scores=True)
    u2, r2 = trained.ranks(data, "test", "full")
    assert np.array_equal(users, u2) and np.array_equal(ranks, r2) and scores.dtype == np.float64
    assert np.isfinite(scores).all() and len(scores) == len(ranks)
    bu, br, bs = data.baseline_ranks("popularity", "test", "full", scores=True)
    assert np.array_equal(bu, users) and ((bs >= 0) & (bs < 1)).all()
    with pytest.raises(TypeError):
        trained.ranks(data, scores=1)


def test_an_attached_index_serves_recommend_and_steps_aside_when_asked(data):
    model = small_model()
    model.fit(data, 40, progress=False)
    ids = model.item_ids
    histories = [list(ids[[u, u + 3, u + 7]]) for u in range(0, 60, 3)]
    exact = model.recommend_batch(histories, top_n=8)
    assert model.index_info is None
    info = model.attach_index(lists=3, probes=3)   # every list: the exact answer
    assert info["lists"] == 3 and info["probes"] == 3 and info["items"] > 100 and info["bytes"] > 0
    assert model.index_info == info
    got = model.recommend_batch(histories, top_n=8)
    assert np.array_equal(got.items, exact.items) and np.array_equal(got.scores, exact.scores)
    model.attach_index(lists=3, probes=1)   # one list of three: fewer items searched, exact scores
    one = model.recommend_batch(histories, top_n=8)
    for h, items, scores in zip(histories, one.items, one.scores):
        np.testing.assert_array_equal(model.score(h, items), scores)
        single, single_scores = model.recommend(h, top_n=8)
        assert np.array_equal(single, items) and np.array_equal(single_scores, scores)
    again = model.recommend_batch(histories, top_n=8, exact=True)
    assert np.array_equal(again.items, exact.items)
    assert np.array_equal(model.recommend(histories[0], top_n=8, exact=True)[0], exact.items[0])
    with pytest.raises(ValueError, match="probes"):
        model.attach_index(probes=0)
    with pytest.raises(ValueError, match="lists"):
        model.attach_index(lists=10**6)
    with pytest.raises(OverflowError):
        model.attach_index(lists=-1)
    restored = pickle.loads(pickle.dumps(model))   # the index is not pickled
    assert restored.index_info is None
    model.detach_index()
    assert model.index_info is None


def test_a_model_loaded_for_serving_only_serves_identically_and_refuses_to_train(trained, data, tmp_path):
    path = tmp_path / "m.safetensors"
    trained.save(path)
    lean = metatl.Model.load(path, serving_only=True)
    lean_bytes = metatl.Model.from_bytes(trained.to_bytes(), serving_only=True)
    assert lean.serving_only and lean_bytes.serving_only and not trained.serving_only
    histories = [list(trained.item_ids[[u, u + 2, u + 5]]) for u in range(0, 30, 3)]
    want = trained.recommend_batch(histories, top_n=6)
    for model in (lean, lean_bytes):
        got = model.recommend_batch(histories, top_n=6)
        assert np.array_equal(got.items, want.items) and np.array_equal(got.scores, want.scores)
        assert model.evaluate(data, protocol="full") == trained.evaluate(data, protocol="full")
        with pytest.raises(RuntimeError, match="loaded for serving only"):
            model.train(data, 1)
        with pytest.raises(RuntimeError, match="loaded for serving only"):
            model.save(tmp_path / "again.safetensors")
        with pytest.raises(RuntimeError, match="loaded for serving only"):
            pickle.dumps(model)
    with pytest.raises(TypeError):
        metatl.Model.load(path, serving_only="yes")
