import json, sys, time, data
for name in ["beauty", "synthetic"]:
    for seed in [1, 2, 3]:
        t = time.time()
        ds = data.beauty(seed=seed) if name == "beauty" else data.synthetic(seed=seed)
        for split in ["valid", "test"]:
            b = data.baselines(ds, split)
            print(json.dumps(dict(data=name, seed=seed, split=split, n=getattr(ds, split)["n"], **{k: {p: round(v[p]["MRR"], 4) for p in v} | {"fullH10": round(v["full"]["H10"], 4), "fullH1": round(v["full"]["H1"], 4)} for k, v in b.items()})), flush=True)
        print("time", time.time() - t, flush=True)
