"""Diagnostic: a plain first-order factorised transition model (no meta-learning), full softmax over the catalogue,
trained on consecutive training pairs. Ceiling check for a d=100 item-to-item model under full ranking."""
import sys, time, json, numpy as np, torch, torch.nn.functional as F, data as D
torch.set_num_threads(1); torch.manual_seed(1)
kind = sys.argv[1]; steps = int(sys.argv[2]); wd = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
ds = D.beauty(3, 1)
h = np.concatenate([s[:-1] for s in ds.train]); t = np.concatenate([s[1:] for s in ds.train])
R, d = ds.rows, 100
E = torch.nn.Parameter(torch.empty(R, d)); torch.nn.init.xavier_uniform_(E)
T = torch.nn.Parameter(torch.empty(R, d)); torch.nn.init.xavier_uniform_(T)
b = torch.nn.Parameter(torch.zeros(R)); c = torch.nn.Parameter(torch.zeros(d))
opt = torch.optim.Adam([E, T, b, c], 1e-3)
rng = np.random.default_rng(1)
def scores(hh):
    a = E[hh] + c
    if kind == "dot":
        return a @ T.t() + b
    d2 = (a * a).sum(-1, keepdim=True) - 2 * a @ T.t() + (T * T).sum(-1)[None]
    return -d2 + b
def ev(users):
    with torch.no_grad():
        sc = scores(torch.from_numpy(users["inputs"][:, -1])).double().numpy()
    f, s = D.rank_dense(sc, users); return D.metrics(f)["MRR"], D.metrics(f)["H10"], D.metrics(s)["MRR"]
t0 = time.time(); best = (0,)
for step in range(1, steps + 1):
    i = rng.integers(len(h), size=1024)
    hh, tt = torch.from_numpy(h[i]), torch.from_numpy(t[i])
    lg = scores(hh); loss = F.cross_entropy(lg, tt)
    if wd: loss = loss + wd * ((E[hh] ** 2).sum() + (T[tt] ** 2).sum()) / 1024
    opt.zero_grad(); loss.backward(); opt.step()
    if step % 250 == 0:
        v = ev(ds.valid)
        if v[0] > best[0]: best = (v[0], step, ev(ds.test))
        print(json.dumps(dict(step=step, s=round(time.time() - t0), loss=round(loss.item(), 3), valid=[round(x, 4) for x in v])), flush=True)
print(json.dumps(dict(kind=kind, wd=wd, best_valid=best[0], step=best[1], test=best[2])))
