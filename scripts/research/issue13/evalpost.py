"""Re-evaluate a saved run's chosen (pure) model with other evaluation settings: evalpost.py TAG beta_eval..."""
import sys, json, argparse, numpy as np, torch, data as D, metatl as M
torch.set_num_threads(1)
tag = sys.argv[1]; bes = [float(x) for x in sys.argv[2].split(',')]; res = [float(x) for x in sys.argv[3].split(',')] if len(sys.argv) > 3 else [1.0]
d = json.load(open(f"runs/{tag}.json"))["summary"]; a = d["args"]
st = torch.load(f"runs/{tag}.pt")["pure"]
cfg = argparse.Namespace(**a)
ds = D.beauty(cfg.K, cfg.seed) if cfg.data == "beauty" else D.synthetic(cfg.seed, cfg.K)
model = M.MetaTL(ds.rows, cfg.K, cfg.d, dropout=cfg.dropout, sep_tail=cfg.sep_tail, bias=cfg.bias, scale=cfg.scale,
                 learn_scale=cfg.learn_scale, beta=cfg.beta, learn_beta=cfg.learn_beta, pop=ds.pop)
model.load_state_dict(st)
cfg.logq = None
if cfg.neg_dist != "uniform":
    q = (ds.pop + 1) ** (1.0 if cfg.neg_dist == "pop" else 0.75); q[0] = 0; q /= q.sum()
    cfg.logq = torch.tensor(np.log(np.maximum(q * cfg.negs, 1e-30)), dtype=torch.float32)
else:
    q = np.ones(ds.rows); q[0] = 0; q /= q.sum()
eval_neg = None
if cfg.negs > 0:
    erng = np.random.default_rng([cfg.seed, 555])
    eval_neg = torch.from_numpy(np.minimum(np.searchsorted(np.cumsum(q), erng.random(cfg.negs)), ds.rows - 1))
with torch.no_grad():
    print("table norms: mean", float(model.E.norm(dim=1).mean()), "alpha", float(model.log_scale.exp()))
import itertools
for be, re_ in itertools.product(bes, res):
    cfg.beta_eval = be; cfg.r_eval = re_
    out = {}
    for split in ["valid", "test"]:
        f, s = M.evaluate(model, ds, getattr(ds, split), cfg, eval_neg, (0.0,))[0.0]
        out[split] = dict(F=round(D.metrics(f)["MRR"], 4), H10=round(D.metrics(f)["H10"], 4), S=round(D.metrics(s)["MRR"], 4))
    print(json.dumps(dict(tag=tag, beta_eval=be, r_eval=re_, **out)), flush=True)
