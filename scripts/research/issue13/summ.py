import json, glob, sys, re
from collections import defaultdict
pat = sys.argv[1] if len(sys.argv) > 1 else ""
rows = []
for f in sorted(glob.glob("runs/*.json")):
    tag = f[5:-5]
    if pat and not re.search(pat, tag): continue
    d = json.load(open(f))["summary"]
    p, q = d["pure"], d["prior"]
    rows.append((tag, p, q, d))
print("%-34s | %6s %6s %6s %6s %6s %6s | %5s %6s | %4s %6s %6s %6s %6s | %5s" % ("tag", "vF", "tF", "tH10", "tH1", "tS", "vS", "step", "trn_s", "w", "vF", "tF", "tH10", "tS", "steps"))
for tag, p, q, d in rows:
    print("%-34s | %.4f %.4f %.4f %.4f %.4f %.4f | %5d %6.0f | %4g %.4f %.4f %.4f %.4f | %5d" % (tag, p["vF"], p["tF"], p["tH10"], p["tH1"], p["tS"], p["vS"], p["step"], p["train_s"], q["w"], q["vF"], q["tF"], q["tH10"], q["tS"], d["steps_run"]))
