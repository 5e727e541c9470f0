"""The Python API and its misuse: every misuse is an exception, never a dead interpreter."""
import os
import signal
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
    bad = write(tmp_path, "bad_train.csv", "1\t10\t1\n1\tx\t2\n")
    with pytest.raises(ValueError, match=r"bad_train.csv:2: field 'item': expected a non-negative integer id, found 'x'"):
        metatl.Dataset.from_files(bad, write(tmp_path, "t.csv", TEST))
    with pytest.raises(TypeError, match="integer ids"):
        metatl.Dataset.from_arrays([1.5, 2.0], [1, 2], [0, 1], [3], [1], [0])
    with pytest.raises(ValueError, match="one-dimensional"):
        metatl.Dataset.from_arrays(np.ones((2, 2), dtype=int), [1, 2], [0, 1], [3], [1], [0])
    with pytest.raises(ValueError, match="same length"):
        metatl.Dataset.from_arrays([1, 1], [1], [0, 1], [3], [1], [0])
    with pytest.raises(ValueError, match="non-negative"):
        metatl.Dataset.from_arrays([1, 1], [1, -2], [0, 1], [3, 3, 3, 3], [1, 1, 1, 1], [0, 1, 2, 3])
    with pytest.raises(ValueError, match="train_count must be at least 1"):
        metatl.Dataset.from_arrays([], [], [], [3], [1], [0])
    with pytest.raises(ValueError, match="side"):
        metatl.Dataset.synthetic(side=1)


# ---- training and evaluation --------------------------------------------------------------

def test_fit_returns_the_learning_curve(data):
    model = small_model()
    history = model.fit(data, 30, eval_every=10, progress=False)
    assert [h["step"] for h in history] == [10, 20, 30]
    assert all(0 <= h["valid_MRR"] <= 1 and h["loss"] > 0 and h["steps_per_s"] > 0 for h in history)
    assert model.step == 30
    more = model.fit(data, 5, progress=False)
    assert more[-1]["step"] == 35 and "valid_MRR" not in more[-1]


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
    with pytest.raises(ValueError, match="steps must be at least 1"):
        small_model().fit(data, 0)
    with pytest.raises(ValueError, match="steps must be at least 1"):
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


def test_ctrl_c_stops_training_cleanly(data):
    model = small_model()

    def interrupt_once_training():
        # Training has started once the model exists and has taken a step (reading the step
        # waits for the current one and never fails).
        deadline = time.time() + 30
        while time.time() < deadline:
            if model._handle is not None and model._handle.step() > 0:
                break
            time.sleep(0.001)
        os.kill(os.getpid(), signal.SIGINT)

    sender = threading.Thread(target=interrupt_once_training)
    sender.start()
    history = model.fit(data, 100000, progress=False)
    sender.join()
    assert 0 < model.step < 100000
    assert model.recommend(data_ids(model)[:3], k=3)[0].shape == (3,)
    assert isinstance(history, list)


def data_ids(model):
    return model.item_ids


# ---- serving ----------------------------------------------------------------------------

def test_adapt_score_recommend(trained):
    ids = trained.item_ids
    history = ids[[4, 5, 6]]
    r = trained.adapt(history)
    assert r.dtype == np.float32 and r.shape == (16,)
    assert np.array_equal(trained.adapt(list(history)), r)
    top, scores = trained.recommend(history, k=7)
    assert top.dtype == np.int64 and scores.dtype == np.float32 and top.shape == (7,)
    assert np.all(np.diff(scores) <= 0)
    assert not set(top) & set(history)
    assert np.allclose(trained.score(history, top), scores)
    everything, _ = trained.recommend(history, k=10**6, exclude_history=False)
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
    with pytest.raises(ValueError, match="k must be at least 1"):
        trained.recommend(ids[:3], k=0)
    with pytest.raises(ValueError, match="k must be at least 1"):
        trained.recommend(ids[:3], k=-4)
    with pytest.raises(ValueError, match="candidate_count"):
        trained.score(ids[:3], [])


def test_serving_while_training(data):
    """A model serves while another thread trains it: serving waits for the current step and never
    fails; a second training call at the same time is refused at once (RuntimeError, busy)."""
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
        assert model.recommend(history, k=3)[0].shape == (3,)
        served += 1
        try:
            model._handle.train(data._handle, 1)
        except RuntimeError as e:
            assert "already being trained" in str(e)
            refused += 1
    t.join()
    assert errors == []
    assert served > 0 and refused > 0
    assert model.recommend(history, k=3)[0].shape == (3,)


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


def test_fit_with_patience_keeps_the_best_model(data):
    model = small_model()
    history = model.fit(data, 60, eval_every=6, patience=3, progress=False)
    evals = [h for h in history if "valid_full_MRR" in h]
    assert evals[0]["step"] == 0 and all("valid_MRR" in h for h in evals)
    chosen = [h for h in evals if h["selected"]]
    assert len(chosen) == 1
    best = max(evals, key=lambda h: (h["valid_MRR"], -h["step"]))
    assert chosen[0] is best
    assert model.step == best["step"]
    # The kept model is exactly the one evaluated then.
    assert model.evaluate(data, split="valid")["MRR"] == best["valid_MRR"]
    straight = small_model()
    if best["step"] > 0:
        straight.fit(data, best["step"], progress=False)
        np.testing.assert_array_equal(model.item_embeddings, straight.item_embeddings)
    # Early stopping follows the rule.
    since, stop = 0, None
    for i, h in enumerate(evals[1:], 1):
        since = 0 if h["valid_MRR"] > max(e["valid_MRR"] for e in evals[:i]) else since + 1
        if since >= 3:
            stop = i
            break
    assert evals[-1]["step"] == (evals[stop]["step"] if stop else 60)


def test_fit_selection_arguments_are_checked(data):
    with pytest.raises(ValueError, match="patience needs eval_every"):
        small_model().fit(data, 5, patience=2)
    with pytest.raises(ValueError, match="select_by"):
        small_model().fit(data, 5, eval_every=1, patience=2, select_by="auc")
    with pytest.raises(ValueError, match="patience must be"):
        small_model().fit(data, 5, eval_every=1, patience=-1)

