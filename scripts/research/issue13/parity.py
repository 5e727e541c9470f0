"""Checks this re-implementation against the notebook's own classes on one batch (train step + eval adaptation)."""
import sys, numpy as np, torch
sys.path.insert(0, "/work/shared/reference")
import run_reference as RR
g = {"__name__": "seedref"}
exec(compile(RR.seed_code(), "seed", "exec"), g)
import metatl as M, data as D
torch.manual_seed(0); torch.set_num_threads(1)
Args = g["Args"]; Args.device = torch.device("cpu"); Args.dropout_p = 0.0
params = dict(Args.__dict__)
rows = 500; K = 3; B = 64
ref = g["MetaTL"](rows - 1, params)
mine = M.MetaTL(rows, K, dropout=0.0)
with torch.no_grad():
    mine.E.copy_(ref.embedding.embedding.weight)
    for i, (fc, bn) in enumerate([(mine.fc1, mine.bn1), (mine.fc2, mine.bn2), (mine.fc3, mine.bn3)]):
        rf = getattr(ref.relation_learner, f"rel_fc{i+1}")
        fc.weight.copy_(rf.fc.weight); fc.bias.copy_(rf.fc.bias)
rng = np.random.default_rng(0)
items = rng.integers(1, rows, size=(B, K + 1)); negs = rng.integers(1, rows, size=(B, K))
def task(items, negs):
    sup = [[[items[b, s], 0, items[b, s + 1]] for s in range(K - 1)] for b in range(B)]
    supn = [[[items[b, s], 0, negs[b, s]] for s in range(K - 1)] for b in range(B)]
    q = [[[items[b, K - 1], 0, items[b, K]]] for b in range(B)]
    qn = [[[items[b, K - 1], 0, negs[b, K - 1]]] for b in range(B)]
    return [sup, supn, q, qn]
ref.train(); mine.train()
opt_r = torch.optim.Adam(ref.parameters(), 1e-3)
p, n = ref(task(items, negs), iseval=False, curr_rel="")
loss_r = ref.loss_func(p, n, torch.ones_like(p)); loss_r.backward()
class C: pass
c = C(); c.K=3; c.margin=1.0; c.loss="margin"; c.inner="margin"; c.outer_support="inner"; c.negs=0; c.inner_scale="ref"; c.l2=0; c.score="dist"; c.logq=None; c.beta_eval=1.0
opt_m = torch.optim.SGD(mine.parameters(), lr=0.0)
ls, lq = M.meta_step(mine, opt_m, (None, items, negs), c, None)
print("query loss ref %.7f mine %.7f" % (loss_r.item(), lq))
gr = ref.embedding.embedding.weight.grad; gm = mine.E.grad
print("embedding grad max abs diff", (gr - gm).abs().max().item(), "scale", gr.abs().max().item())
print("fc1 grad max abs diff", (ref.relation_learner.rel_fc1.fc.weight.grad - mine.fc1.weight.grad).abs().max().item(), "scale", mine.fc1.weight.grad.abs().max().item())
print("bn running mean diff", (ref.relation_learner.rel_fc1.bn.running_mean - mine.bn1.running_mean).abs().max().item())
# evaluation: per-user adaptation (B = 1 in the reference) and scores of target + negatives
ref.eval(); mine.eval(); ref.rel_q_sharing = dict()
U = 5
users = dict(inputs=items[:U, :K], target=items[:U, K], supneg=negs[:U, :K - 1], negs=rng.integers(1, rows, size=(U, 100)), n=U)
for u in range(U):
    sup = [[[items[u, s], u, items[u, s + 1]] for s in range(K - 1)]]
    supn = [[[items[u, s], u, negs[u, s]] for s in range(K - 1)]]
    q = [[[items[u, K - 1], u, items[u, K]]]]
    qn = [[[items[u, K - 1], u, t] for t in users["negs"][u]]]
    p, n = ref([sup, supn, q, qn], iseval=True, curr_rel=u)
    x = torch.cat([n, p], 1).squeeze()
    rank_ref = 1 + (x[:-1] >= x[-1]).sum().item()
    # mine
    inp = torch.from_numpy(items[u:u+1, :K]); sn = torch.from_numpy(negs[u:u+1, :K-1])
    r0 = mine.relation(mine.E[inp[:, :2]], mine.E[inp[:, 1:]]).detach().requires_grad_(True)
    Ls = M.support_loss(mine, r0, inp[:, :2], inp[:, 1:], sn, c, "margin", per_user=True)
    gg = torch.autograd.grad(Ls, r0)[0]
    rq = r0 - 5 * gg
    a = mine.E[inp[:, -1]] + rq
    sc_t = -torch.norm(a - mine.E[items[u, K]], dim=-1)
    print("user", u, "target score ref %.6f mine %.6f" % (p.item(), sc_t.item()), "rank ref", rank_ref)
full, samp = M.evaluate(mine, None, users, c, None, (0.0,))[0.0]
print("mine sampled ranks", samp)
