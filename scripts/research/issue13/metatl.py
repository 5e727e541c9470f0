"""Faithful PyTorch re-implementation of MetaTL (reference notebook) + training-objective levers.

Reference path (--loss margin --inner margin --negs 0): bit-for-bit the notebook's maths
(up to RNG streams): relation learner on concat(h,t) with BatchNorm1d(K-1) over (B,K-1,H),
r = mean over support pairs, score -||h+r-t||_2, margin ranking loss vs one uniform negative
per pair, r' = r - beta * dL_s/dr (batch-mean L_s in training, per-user mean at evaluation),
one backward of L_s + L_q, Adam 1e-3.
"""
import argparse, copy, json, math, os, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import data as D


# ----------------------------------------------------------------------------- sampler
class Sampler:
    """The reference 'mixed' sampler, vectorised (engine semantics, incl. the window slip)."""

    def __init__(self, ds, K, rng, mode="reference", p_sub=0.5):
        self.K, self.rng, self.mode, self.P, self.p_sub = K, rng, mode, ds.P, p_sub
        seqs = [s for s in ds.train]
        self.lens = np.array([len(s) for s in seqs])
        L = self.lens.max()
        self.seq = np.zeros((len(seqs), L), dtype=np.int64)
        for i, s in enumerate(seqs):
            self.seq[i, :len(s)] = s
        self.users = np.nonzero(self.lens >= 2)[0]
        keys = np.unique(np.concatenate([i * ds.rows + np.unique(s) for i, s in enumerate(seqs)]))
        self.keys, self.rowsz = keys, ds.rows
        self.ar = np.arange(L)

    def member(self, u, t):
        k = u * self.rowsz + t
        i = np.searchsorted(self.keys, k)
        i = np.minimum(i, len(self.keys) - 1)
        return self.keys[i] == k

    def neg(self, u):
        t = self.rng.integers(1, self.P + 1, size=u.shape)
        bad = self.member(u, t)
        while bad.any():
            t[bad] = self.rng.integers(1, self.P + 1, size=bad.sum())
            bad = self.member(u, t)
        return t

    def batch(self, B):
        K, rng = self.K, self.rng
        u = self.users[rng.integers(len(self.users), size=B)]
        L = self.lens[u]
        sub = (L > K) & (rng.random(B) < self.p_sub)
        items = np.zeros((B, K + 1), dtype=np.int64)  # x0..xK, 0 = padding
        # subsequence mode: K+1 distinct positions, in order
        if sub.any():
            us, Ls = u[sub], L[sub]
            keys = rng.random((len(us), self.seq.shape[1]))
            keys[self.ar[None, :] >= Ls[:, None]] = np.inf
            pick = np.sort(np.argpartition(keys, K, axis=1)[:, :K + 1], axis=1)
            items[sub] = self.seq[us[:, None], pick]
        w = ~sub
        if w.any():
            uw, Lw = u[w], L[w]
            n = np.where(Lw > K, K + (rng.random(len(uw)) * np.maximum(Lw - K, 1)).astype(np.int64), Lw - 1)
            tgt = self.seq[uw, n]
            if self.mode == "reference":
                ok = n >= K + 1  # n = K and short users: the reference's slice is empty -> all padding
                pos = n[:, None] - 1 - K + np.arange(K)[None, :]
            else:  # contiguous
                ok = n >= K
                pos = n[:, None] - K + np.arange(K)[None, :]
            ww = np.zeros((len(uw), K + 1), dtype=np.int64)
            pos = np.clip(pos, 0, None)
            ww[:, :K] = self.seq[uw[:, None], pos]
            ww[:, K] = tgt
            ww[~ok] = 0
            items[w] = ww
        tails = items[:, 1:]
        negs = np.where(tails != 0, self.neg(np.repeat(u[:, None], K, 1)), 0)
        return u, items, negs


# ----------------------------------------------------------------------------- model
class MetaTL(nn.Module):
    def __init__(self, rows, K, d=100, h1=500, h2=200, dropout=0.0, sep_tail=False, bias=None,
                 scale=None, learn_scale=False, beta=5.0, learn_beta=False, pop=None, bn3_init=None):
        super().__init__()
        S = K - 1
        self.E = nn.Parameter(torch.empty(rows, d)); nn.init.xavier_uniform_(self.E)
        self.T = None
        if sep_tail:
            self.T = nn.Parameter(torch.empty(rows, d)); nn.init.xavier_uniform_(self.T)
        self.b = None
        if bias is not None:
            b = torch.zeros(rows)
            if bias == "logpop":
                p = torch.tensor(pop, dtype=torch.float32)
                b = torch.log(p + 1.0); b = b - b.mean()
            self.b = nn.Parameter(b)
        self.log_scale = nn.Parameter(torch.tensor(math.log(scale if scale else 1.0)), requires_grad=learn_scale)
        self.log_beta = nn.Parameter(torch.tensor(math.log(beta)), requires_grad=learn_beta)
        self.fc1 = nn.Linear(2 * d, h1); self.bn1 = nn.BatchNorm1d(S)
        self.fc2 = nn.Linear(h1, h2); self.bn2 = nn.BatchNorm1d(S)
        self.fc3 = nn.Linear(h2, d); self.bn3 = nn.BatchNorm1d(S)
        for fc in (self.fc1, self.fc2, self.fc3):
            nn.init.xavier_normal_(fc.weight)
        if bn3_init is not None:  # scale of the relation at start (the reference: BatchNorm weight 1, so |r| ~ sqrt(d))
            nn.init.constant_(self.bn3.weight, bn3_init)
        self.drop = nn.Dropout(dropout)

    def tail_table(self):
        return self.E if self.T is None else self.T

    def relation(self, h, t):  # (B,S,d) x2 -> (B,d)
        x = torch.cat([h, t], -1)
        x = self.drop(F.leaky_relu(self.bn1(self.fc1(x)), 0.01))
        x = self.drop(F.leaky_relu(self.bn2(self.fc2(x)), 0.01))
        x = self.bn3(self.fc3(x))
        return x.mean(1)


def pair_score(a, t):  # a = h + r, t: same shape; -||a - t||
    return -torch.norm(a - t, dim=-1)


def dist_to(a, Et, eps=1e-12):
    """a: (n,d), Et: (m,d) -> (n,m) Euclidean distance via ||a||^2 - 2 a.e + ||e||^2."""
    d2 = (a * a).sum(-1, keepdim=True) - 2 * a @ Et.t() + (Et * Et).sum(-1)[None, :]
    return torch.sqrt(d2.clamp_min(eps))


# ----------------------------------------------------------------------------- losses
def logits_shared(model, a, pos_t, neg_ids, cfg, Tt=None):
    """a: (n,d) query points h+r; pos_t: (n,) target ids; neg_ids: (N,) shared negatives.
    Returns (n, 1+N) logits with column 0 the positive; accidental hits masked."""
    Tt = model.tail_table() if Tt is None else Tt
    alpha = model.log_scale.exp()
    if cfg.score == "sqdist":
        f = lambda x: -x.pow(2)
    else:
        f = lambda x: -x
    sp = alpha * f(torch.norm(a - Tt[pos_t], dim=-1))
    sn = alpha * f(dist_to(a, Tt[neg_ids]))
    if model.b is not None:
        sp = sp + model.b[pos_t]
        sn = sn + model.b[neg_ids][None, :]
    if cfg.logq is not None:
        sn = sn - cfg.logq[neg_ids][None, :]
    sn = sn.masked_fill(neg_ids[None, :] == pos_t[:, None], -1e9)
    return torch.cat([sp[:, None], sn], 1)


def pair_loss(kind, lg, valid, cfg):
    """lg: (n, 1+N) logits (col 0 positive). Returns per-row loss (n,) zeroed on invalid rows."""
    if kind == "softmax":
        l = torch.logsumexp(lg, 1) - lg[:, 0]
    elif kind == "bpr":
        l = F.softplus(-(lg[:, :1] - lg[:, 1:])).mean(1)
    elif kind == "marginN":
        l = F.relu(cfg.margin - (lg[:, :1] - lg[:, 1:])).mean(1)
    else:
        raise ValueError(kind)
    return l * valid


class Gathered:
    """A table view: rows gathered once per step (one embedding backward instead of many)."""

    def __init__(self, table, ids):
        self.uniq, inv = torch.unique(ids, return_inverse=True)
        self.rows = F.embedding(self.uniq, table)
        self.map = torch.full((table.shape[0],), -1, dtype=torch.long)
        self.map[self.uniq] = torch.arange(len(self.uniq))

    def __getitem__(self, idx):
        return self.rows[self.map[idx]]


def gathered_tables(model, it, ng, neg_ids):
    ids = torch.cat([it.reshape(-1), ng.reshape(-1)] + ([neg_ids] if neg_ids is not None else []))
    E = Gathered(model.E, ids)
    Tt = E if model.T is None else Gathered(model.T, ids)
    return E, Tt


def support_loss(model, r, sh, st, sn, cfg, kind, per_user, neg_ids=None, tabs=None):
    """Support loss given relation r (B,d) (a leaf to differentiate); sh/st/sn: (B,S) ids.
    per_user: sum over users of each user's mean (evaluation, B=1 in the reference)
    else mean over B*S (training)."""
    E, Tt = tabs if tabs is not None else (model.E, model.tail_table())
    B, S = sh.shape
    a = E[sh] + r[:, None, :]
    if kind == "margin":
        p = pair_score(a, Tt[st]); n = pair_score(a, Tt[sn])
        l = F.relu(cfg.margin - (p - n))  # (B,S); padding rows included, as the reference
    else:
        valid = ((sh != 0) & (st != 0)).float().reshape(-1)
        lg = logits_shared(model, a.reshape(B * S, -1), st.reshape(-1), neg_ids, cfg, Tt)
        l = pair_loss(kind, lg, valid, cfg).reshape(B, S)
    if per_user:
        return l.mean(1).sum()
    return l.mean()


def inner_step(model, r, g, cfg, training):
    beta = model.log_beta.exp()
    if cfg.inner_scale == "task" and training:
        g = g * r.shape[0]  # undo the batch mean: per-task step as at evaluation
    return r - beta * g


# ----------------------------------------------------------------------------- training step
def meta_step(model, opt, batch, cfg, dev_neg):
    u, items, negs = batch
    K, S = cfg.K, cfg.K - 1
    it = torch.from_numpy(items); ng = torch.from_numpy(negs)
    sh, st, sn = it[:, :S], it[:, 1:K], ng[:, :S]
    qh, qt, qn = it[:, K - 1], it[:, K], ng[:, K - 1]
    neg_ids = dev_neg() if cfg.negs > 0 else None
    E, Tt = gathered_tables(model, it, ng, neg_ids)
    r = model.relation(E[sh], Tt[st])
    # inner (support) loss and its gradient at r, as a constant
    Ls = support_loss(model, r, sh, st, sn, cfg, cfg.inner, per_user=False, neg_ids=neg_ids, tabs=(E, Tt))
    g = torch.autograd.grad(Ls, r, retain_graph=True)[0].detach()
    rq = inner_step(model, r, g, cfg, training=True)
    aq = E[qh] + rq
    if cfg.loss == "margin":
        Lq = F.relu(cfg.margin - (pair_score(aq, Tt[qt]) - pair_score(aq, Tt[qn]))).mean()
    else:
        valid = ((qh != 0) & (qt != 0)).float()
        lg = logits_shared(model, aq, qt, neg_ids, cfg, Tt)
        Lq = pair_loss(cfg.loss, lg, valid, cfg).sum() / valid.sum().clamp_min(1)
    if cfg.aux_bigram > 0:  # the query transition scored without the relation (item-to-item part alone)
        valid = ((qh != 0) & (qt != 0)).float()
        lg0 = logits_shared(model, E[qh], qt, neg_ids, cfg, Tt)
        Lq = Lq + cfg.aux_bigram * pair_loss(cfg.loss, lg0, valid, cfg).sum() / valid.sum().clamp_min(1)
    # outer support loss: the reference's L_s (same as inner) unless told otherwise
    if cfg.outer_support == "inner":
        Lso = Ls
    elif cfg.outer_support == "none":
        Lso = torch.zeros(())
    else:
        Lso = support_loss(model, r, sh, st, sn, cfg, cfg.loss, per_user=False, neg_ids=neg_ids, tabs=(E, Tt))
    loss = Lso + Lq
    if cfg.l2 > 0:
        reg = (E.rows ** 2).sum()
        if model.T is not None:
            reg = reg + (Tt.rows ** 2).sum()
        loss = loss + cfg.l2 * reg / it.shape[0]
    opt.zero_grad(set_to_none=False)
    loss.backward()
    opt.step()
    return float(Ls.detach()), float(Lq.detach())


# ----------------------------------------------------------------------------- evaluation
@torch.no_grad()
def _noop():
    pass


def evaluate(model, ds, users, cfg, eval_neg_ids, prior_ws=(0.0,), chunk=512):
    """Returns {w: (full_ranks, sampled_ranks)} for each prior weight w (score + w*log1p(C1[last,t]))."""
    model.eval()
    K, S = cfg.K, cfg.K - 1
    inputs = torch.from_numpy(users["inputs"]); supneg = torch.from_numpy(users["supneg"])
    U = users["n"]
    E, Tt = model.E.detach(), model.tail_table().detach()
    out = {w: ([], []) for w in prior_ws}
    alpha = float(model.log_scale.exp())
    for c0 in range(0, U, chunk):
        c1 = min(U, c0 + chunk)
        inp = inputs[c0:c1]
        sh, st, sn = inp[:, :S], inp[:, 1:], supneg[c0:c1]
        with torch.no_grad():
            r0 = model.relation(E[sh], Tt[st])
        if cfg.beta_eval != 0:
            with torch.enable_grad():
                r = r0.clone().requires_grad_(True)
                Ls = support_loss(model, r, sh, st, sn, cfg, cfg.inner, per_user=True, neg_ids=eval_neg_ids)
                g = torch.autograd.grad(Ls, r)[0]
            beta = float(model.log_beta.exp()) * cfg.beta_eval
            rq = r0 - beta * g
        else:
            rq = r0
        with torch.no_grad():
            a = E[inp[:, -1]] + getattr(cfg, "r_eval", 1.0) * rq
            dist = dist_to(a, Tt)
            sc = -alpha * (dist.pow(2) if cfg.score == "sqdist" else dist)
            if model.b is not None:
                sc = sc + model.b.detach()[None, :]
            sc = sc.double().numpy()
        sub = {k: v[c0:c1] for k, v in users.items() if k not in ("n", "extra")}
        sub["n"] = c1 - c0
        prior = None
        if any(w != 0 for w in prior_ws):
            prior = np.log1p(ds.C1[users["inputs"][c0:c1, -1]].toarray())
        for w in prior_ws:
            s = sc if w == 0 else sc + w * prior
            f, sm = D.rank_dense(s, sub)
            out[w][0].append(f); out[w][1].append(sm)
    model.train()
    return {w: (np.concatenate(v[0]), np.concatenate(v[1])) for w, v in out.items()}


# ----------------------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="beauty")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--K", type=int, default=3)
    ap.add_argument("--B", type=int, default=1024)
    ap.add_argument("--d", type=int, default=100)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--lr_bias", type=float, default=None)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--margin", type=float, default=1.0)
    ap.add_argument("--beta", type=float, default=5.0)
    ap.add_argument("--learn_beta", action="store_true")
    ap.add_argument("--beta_eval", type=float, default=1.0, help="multiplier on beta at evaluation (0: no adaptation)")
    ap.add_argument("--inner_scale", default="ref", choices=["ref", "task"])
    ap.add_argument("--loss", default="margin", choices=["margin", "softmax", "bpr", "marginN"])
    ap.add_argument("--inner", default="margin", choices=["margin", "softmax", "bpr", "marginN"])
    ap.add_argument("--outer_support", default="inner", choices=["inner", "loss", "none"])
    ap.add_argument("--negs", type=int, default=0, help="shared negatives per step (0: reference single negative)")
    ap.add_argument("--neg_dist", default="uniform", choices=["uniform", "pop", "pop75"])
    ap.add_argument("--scale", type=float, default=None)
    ap.add_argument("--learn_scale", action="store_true")
    ap.add_argument("--score", default="dist", choices=["dist", "sqdist"])
    ap.add_argument("--bias", default=None, choices=[None, "zero", "logpop"])
    ap.add_argument("--sep_tail", action="store_true")
    ap.add_argument("--l2", type=float, default=0.0)
    ap.add_argument("--aux_bigram", type=float, default=0.0)
    ap.add_argument("--bn3_init", type=float, default=None)
    ap.add_argument("--r_eval", type=float, default=1.0)
    ap.add_argument("--sampler", default="reference", choices=["reference", "contiguous"])
    ap.add_argument("--p_sub", type=float, default=0.5, help="probability of subsequence mode (reference 0.5)")
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--eval_every", type=int, default=250)
    ap.add_argument("--patience", type=int, default=8)
    ap.add_argument("--max_minutes", type=float, default=8.0)
    ap.add_argument("--prior_ws", default="0,0.5,1,2,4,8,16,32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None)
    ap.add_argument("--tag", default="")
    cfg = ap.parse_args(argv)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng([cfg.seed, 1234])
    ds = D.beauty(cfg.K, cfg.seed) if cfg.data == "beauty" else D.synthetic(cfg.seed, cfg.K)
    sampler = Sampler(ds, cfg.K, rng, cfg.sampler, cfg.p_sub)
    pop = ds.pop
    if cfg.neg_dist == "uniform":
        q = np.ones(ds.rows); q[0] = 0
    else:
        q = (pop + 1) ** (1.0 if cfg.neg_dist == "pop" else 0.75); q[0] = 0
    q = q / q.sum()
    cfg.logq = None if cfg.neg_dist == "uniform" else torch.tensor(np.log(np.maximum(q * cfg.negs, 1e-30)), dtype=torch.float32)
    cq = np.cumsum(q)
    dev_neg = lambda: torch.from_numpy(np.minimum(np.searchsorted(cq, rng.random(cfg.negs)), ds.rows - 1))
    if cfg.negs < 0:  # full softmax over the whole catalogue (rows 1..P)
        allrows = torch.arange(1, ds.rows)
        cfg.negs, cfg.full_softmax = ds.P, True
        dev_neg = lambda: allrows
    eval_neg = None
    if getattr(cfg, "full_softmax", False):
        eval_neg = allrows
    elif cfg.negs > 0:
        erng = np.random.default_rng([cfg.seed, 555])
        eval_neg = torch.from_numpy(np.minimum(np.searchsorted(cq, erng.random(cfg.negs)), ds.rows - 1))
    model = MetaTL(ds.rows, cfg.K, cfg.d, dropout=cfg.dropout, sep_tail=cfg.sep_tail, bias=cfg.bias,
                   scale=cfg.scale, learn_scale=cfg.learn_scale, beta=cfg.beta, learn_beta=cfg.learn_beta, pop=pop, bn3_init=cfg.bn3_init)
    model.train()
    groups = [{"params": [p for n, p in model.named_parameters() if n != "b" and p.requires_grad], "lr": cfg.lr}]
    if model.b is not None:
        groups.append({"params": [model.b], "lr": cfg.lr_bias or cfg.lr})
    opt = torch.optim.Adam(groups, lr=cfg.lr, fused=True)
    ws = [float(x) for x in cfg.prior_ws.split(",")]
    log = []
    best = {}
    states = {}
    bad = 0
    t0 = time.time(); train_s = 0.0
    for step in range(1, cfg.steps + 1):
        ts = time.time()
        ls, lq = meta_step(model, opt, sampler.batch(cfg.B), cfg, dev_neg)
        train_s += time.time() - ts
        if not math.isfinite(lq):
            print(json.dumps({"diverged": step}), flush=True); break
        if step % cfg.eval_every == 0 or step == cfg.steps:
            te = time.time()
            rv = evaluate(model, ds, ds.valid, cfg, eval_neg, ws)
            rec = {"step": step, "train_s": round(train_s, 1), "wall_s": round(time.time() - t0, 1), "Ls": round(ls, 4), "Lq": round(lq, 4),
                   "alpha": round(float(model.log_scale.exp()), 3), "beta": round(float(model.log_beta.exp()), 3)}
            improved = False
            for w in ws:
                mv = D.metrics(rv[w][0]); svv = D.metrics(rv[w][1])
                rec[f"w{w}"] = dict(vF=round(mv["MRR"], 4), vH10=round(mv["H10"], 4), vS=round(svv["MRR"], 4))
                if w not in best or mv["MRR"] > best[w]["vF"]:
                    best[w] = dict(rec[f"w{w}"], step=step, train_s=rec["train_s"])
                    improved = True
            wb = max(best, key=lambda w: best[w]["vF"])
            if best[0.0]["step"] == step:
                states["pure"] = copy.deepcopy(model.state_dict())
            if best[wb]["step"] == step:
                states["prior"] = (wb, copy.deepcopy(model.state_dict()))
            rec["eval_s"] = round(time.time() - te, 1)
            log.append(rec)
            short = {k: rec[k] for k in ("step", "train_s", "eval_s", "Ls", "Lq", "alpha", "beta")}
            short.update({f"w{w}": (rec[f"w{w}"]["vF"], rec[f"w{w}"]["vS"]) for w in ws})
            print(json.dumps(short), flush=True)
            bad = 0 if improved else bad + 1
            if bad >= cfg.patience or (time.time() - t0) / 60 > cfg.max_minutes:
                break
    # test metrics of the validation-chosen models: pure (w = 0) and best prior weight
    def test_of(state, w):
        model.load_state_dict(state)
        f, s_ = evaluate(model, ds, ds.test, cfg, eval_neg, (w,))[w]
        mf, ms = D.metrics(f), D.metrics(s_)
        return dict(tF=round(mf["MRR"], 4), tH10=round(mf["H10"], 4), tH1=round(mf["H1"], 4), tS=round(ms["MRR"], 4), tSH10=round(ms["H10"], 4))
    wbest, st = states["prior"]
    pure = dict(best[0.0], **test_of(states["pure"], 0.0))
    prior = dict(best[wbest], w=wbest, **test_of(st, wbest))
    summary = {"tag": cfg.tag, "data": cfg.data, "seed": cfg.seed, "args": {k: v for k, v in vars(cfg).items() if k != "logq"},
               "pure": pure, "prior": prior, "steps_run": step, "wall_s": round(time.time() - t0, 1)}
    print(json.dumps({"summary": summary}), flush=True)
    if cfg.out:
        torch.save({"pure": states["pure"], "prior": states["prior"]}, cfg.out.replace(".json", ".pt"))
        with open(cfg.out, "w") as f:
            json.dump({"summary": summary, "log": log}, f)
    return summary


if __name__ == "__main__":
    main()
