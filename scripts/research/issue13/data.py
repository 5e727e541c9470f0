"""Data for the MetaTL prototype: beauty files, the engine's synthetic grid, evaluation users,
baselines (popularity, first-order transitions, second-order transitions)."""
import numpy as np
from collections import defaultdict

DATA = "/work/shared/data"


def read_rows(path):
    a = np.loadtxt(path, dtype=np.float64, delimiter=None, ndmin=2)  # tab or space
    return a[:, 0].astype(np.int64), a[:, 1].astype(np.int64), a[:, 2]


def group(users, items, ts):
    order = np.lexsort((np.arange(len(users)), ts, users))
    u, it = users[order], items[order]
    seqs, ids = [], []
    start = 0
    for i in range(1, len(u) + 1):
        if i == len(u) or u[i] != u[start]:
            ids.append(u[start]); seqs.append(it[start:i].copy()); start = i
    return ids, seqs


class Dataset:
    """train: list of row arrays; valid/test: dicts of inputs/targets/supneg/negs (rows)."""

    def __init__(self, train_seqs_ext, new_seqs_ext, K=3, seed=1, new_extra=None):
        self.K = K
        vocab = np.unique(np.concatenate(train_seqs_ext + new_seqs_ext))
        self.P = len(vocab)
        self.rows = self.P + 1
        row_of = {int(v): i + 1 for i, v in enumerate(vocab)}
        self.row_of = row_of
        tr = lambda s: np.array([row_of[int(x)] for x in s], dtype=np.int64)
        self.train = [tr(s) for s in train_seqs_ext]
        new = [tr(s) for s in new_seqs_ext]
        rng = np.random.default_rng([seed, 7])
        valid, test = [], []
        vextra, textra = [], []
        for i, s in enumerate(new):
            if len(s) <= K:
                continue
            (valid if rng.random() < 0.3 else test).append(s)
            if new_extra is not None:
                (vextra if valid and valid[-1] is s else textra).append(new_extra[i])
        self.valid = self._eval_users(valid, rng, vextra if new_extra is not None else None)
        self.test = self._eval_users(test, rng, textra if new_extra is not None else None)
        # popularity and transition counts over training sequences
        pop = np.zeros(self.rows)
        for s in self.train:
            np.add.at(pop, s, 1)
        self.pop = pop
        heads = np.concatenate([s[:-1] for s in self.train])
        tails = np.concatenate([s[1:] for s in self.train])
        import scipy.sparse as sp
        self.C1 = sp.csr_matrix((np.ones(len(heads)), (heads, tails)), shape=(self.rows, self.rows))
        self.C1.sum_duplicates()
        c2 = defaultdict(lambda: defaultdict(float))
        for s in self.train:
            for i in range(len(s) - 2):
                c2[(int(s[i]), int(s[i + 1]))][int(s[i + 2])] += 1
        self.C2 = c2

    def _eval_users(self, seqs, rng, extra):
        K, S, P = self.K, self.K - 1, self.P
        U = len(seqs)
        inputs = np.array([s[:K] for s in seqs], dtype=np.int64).reshape(U, K)
        target = np.array([s[K] for s in seqs], dtype=np.int64)
        supneg = np.zeros((U, S), dtype=np.int64)
        negs = np.zeros((U, 100), dtype=np.int64)
        for i in range(U):
            inp = set(inputs[i].tolist())
            exc = inp | {int(target[i])}
            for s in range(S):
                t = rng.integers(1, P + 1)
                while t in inp:
                    t = rng.integers(1, P + 1)
                supneg[i, s] = t
            for j in range(100):
                t = rng.integers(1, P + 1)
                while t in exc:
                    t = rng.integers(1, P + 1)
                negs[i, j] = t
        d = dict(inputs=inputs, target=target, supneg=supneg, negs=negs, n=U)
        if extra is not None:
            d["extra"] = extra
        return d


def beauty(K=3, seed=1):
    u, i, t = read_rows(f"{DATA}/beauty_train.csv")
    _, tr = group(u, i, t)
    u, i, t = read_rows(f"{DATA}/beauty_test_new_user.csv")
    _, nw = group(u, i, t)
    return Dataset(tr, nw, K, seed)


DIRS = [(1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1), (1, -1), (-1, 1)]


def synthetic(seed=1, K=3, side=40, train_users=4000, new_users=2000, train_len=(5, 20), new_len=(4, 8), noise=0.1):
    """Mirror of Sources/MetaTL/Data/SyntheticData.swift (same distribution, different RNG)."""
    rng = np.random.default_rng([seed, 99])
    cells = side * side
    ids = rng.permutation(cells) + 1  # ids[x*side+y]

    def users(count, lengths):
        seqs, meta = [], []
        for _ in range(count):
            dx, dy = DIRS[rng.integers(8)]
            L = rng.integers(lengths[0], lengths[1] + 1)
            x, y = rng.integers(side), rng.integers(side)
            s, cs = [], []
            for _ in range(L):
                s.append(ids[x * side + y]); cs.append((x, y))
                nx, ny = x + dx, y + dy
                if rng.random() < noise or nx < 0 or ny < 0 or nx >= side or ny >= side:
                    x, y = rng.integers(side), rng.integers(side)
                else:
                    x, y = nx, ny
            seqs.append(np.array(s)); meta.append((dx, dy, cs))
        return seqs, meta

    tr, _ = users(train_users, train_len)
    nw, meta = users(new_users, new_len)
    ds = Dataset(tr, nw, K, seed, new_extra=meta)
    ds.side, ds.ids = side, ids
    return ds


def metrics(ranks):
    r = np.asarray(ranks, dtype=np.float64)
    return dict(MRR=float(np.mean(1 / r)), H1=float(np.mean(r <= 1)), H10=float(np.mean(r <= 10)),
                NDCG10=float(np.mean(np.where(r <= 10, 1 / np.log2(r + 1), 0))))


def rank_dense(scores, users):
    """scores: (U, rows) float64 array; pessimistic full and sampled ranks."""
    U = users["n"]
    idx = np.arange(U)
    t = scores[idx, users["target"]]
    s = scores.copy()
    s[:, 0] = -np.inf
    for k in range(users["inputs"].shape[1]):
        s[idx, users["inputs"][:, k]] = -np.inf
    s[idx, users["target"]] = t
    full = (s >= t[:, None]).sum(1)
    samp = 1 + (scores[idx[:, None], users["negs"]] >= t[:, None]).sum(1)
    return full, samp


def baseline_scores(ds, users, kind):
    U = users["n"]
    pop = ds.pop / (ds.pop.max() + 1)
    sc = np.tile(pop, (U, 1))
    if kind == "popularity":
        return sc
    last = users["inputs"][:, -1]
    c1 = ds.C1[last].toarray()
    if kind == "transition":
        return sc + c1
    if kind == "transition2":  # lexicographic: second-order count, then first-order, then popularity
        big = ds.C1.max() + 1
        for u in range(U):
            d = ds.C2.get((int(users["inputs"][u, -2]), int(last[u])))
            if d:
                cols = np.fromiter(d.keys(), dtype=np.int64); vals = np.fromiter(d.values(), dtype=np.float64)
                sc[u, cols] += big * vals
        return sc + c1
    raise ValueError(kind)


def baselines(ds, split):
    users = getattr(ds, split)
    out = {}
    for kind in ["popularity", "transition", "transition2"]:
        f, s = rank_dense(baseline_scores(ds, users, kind), users)
        out[kind] = dict(full=metrics(f), sampled=metrics(s))
    if "extra" in users:  # synthetic direction oracle: the neighbour of the last input in the user's direction
        side, ids = ds.side, ds.ids
        sc = np.zeros((users["n"], ds.rows))
        for u, (dx, dy, cs) in enumerate(users["extra"]):
            x, y = cs[ds.K - 1]
            nx, ny = x + dx, y + dy
            if 0 <= nx < side and 0 <= ny < side:
                sc[u, ds.row_of[int(ids[nx * side + ny])]] = 1
        f, s = rank_dense(sc, users)
        out["oracle"] = dict(full=metrics(f), sampled=metrics(s))
    return out
