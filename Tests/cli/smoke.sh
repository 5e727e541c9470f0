#!/usr/bin/env bash
# The `metatl` command end to end on tiny generated files: a short training run writes the
# metrics JSON with every key, and bad input exits non-zero with the message on stderr.
set -uo pipefail
bin=${1:?usage: smoke.sh PATH/TO/metatl-cli}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
passed=0; failed=0
ok()   { passed=$((passed + 1)); echo "ok: $1"; }
fail() { failed=$((failed + 1)); echo "FAILED: $1"; }

python3 - "$dir" <<'PY'
import random, sys
d = sys.argv[1]; rng = random.Random(3)
with open(f"{d}/tiny_train.csv", "w") as f:
    for u in range(1, 61):
        for t in range(rng.randint(2, 9)): f.write(f"{u}\t{rng.randint(1, 40)}\t{t}\n")
with open(f"{d}/tiny_test_new_user.csv", "w") as f:
    for u in range(100, 140):
        for t in range(rng.randint(4, 6)): f.write(f"{u}\t{rng.randint(1, 40)}\t{t}\n")
PY

args=(train --train "$dir/tiny_train.csv" --test "$dir/tiny_test_new_user.csv" --steps 6 --eval-every 3
      --batch-size 16 --dim 8 --hidden 16,12 --threads 1 --metrics-json "$dir/m.json" --curve-csv "$dir/curve.csv")
if "$bin" "${args[@]}" --per-user-csv "$dir/ranks.csv" >"$dir/out.txt" 2>"$dir/err.txt"; then ok "train runs"; else fail "train runs: $(cat "$dir/err.txt")"; fi
grep -q "test   full      transition" "$dir/out.txt" && ok "table printed" || fail "table printed"
python3 - "$dir/ranks.csv" "$dir/m.json" "$dir/out.txt" <<'PY' && ok "per-user ranks and bootstrap intervals" || fail "per-user ranks and bootstrap intervals"
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
m = json.load(open(sys.argv[2]))
# The per-user ranks give the reported MRR of every system, split and protocol.
for split in ("valid", "test"):
    for system in ("metatl", "metatl+prior", "popularity", "transition", "transition2"):
        for proto in ("sampled", "full"):
            r = [row["rank"] for row in rows if (row["split"], row["system"], row["protocol"]) == (split, system, proto)]
            assert len(r) == m["users"][split], (split, system, proto, len(r))
            mrr = sum(1 / int(x) for x in r if x) / len(r)
            assert abs(mrr - m[split][system][proto]["MRR"]) < 1e-9, (split, system, proto, mrr)
b = m["bootstrap"]["test"]["full"]["metatl+prior-transition"]
assert b["low95"] <= b["mrr_difference"] <= b["high95"], b
assert "paired bootstrap" in open(sys.argv[3]).read()
PY
python3 - "$dir/m.json" <<'PY' && ok "metrics JSON complete" || fail "metrics JSON complete"
import json, sys
m = json.load(open(sys.argv[1]))
names = ["MRR", "NDCG@1", "NDCG@5", "NDCG@10", "Hits@1", "Hits@5", "Hits@10"]
for split in ("valid", "test"):
    for system in ("metatl", "popularity", "transition"):
        for proto in ("sampled", "full"):
            vals = m[split][system][proto]
            assert sorted(vals) == sorted(names), vals
            assert all(0 <= v <= 1 for v in vals.values()), vals
assert m["steps"] == 6 and m["train_seconds"] >= 0 and m["items"] > 0
assert set(m["users"]) == {"train", "valid", "test"}
curve = m["learning_curve"]
assert [p["step"] for p in curve] == [0, 3, 6], curve
# The model is chosen by the default --select-by (FitOptions'), the first best on ties.
key = {"full_mrr": "valid_full", "sampled_mrr": "valid_sampled"}[m["configuration"]["select_by"]]
best = max(curve, key=lambda p: (p[key]["MRR"], -p["step"]))
assert m["chosen_step"] == best["step"], (m["chosen_step"], best)
# The report's validation numbers are the chosen model's.
assert abs(m["valid"]["metatl"]["sampled"]["MRR"] - best["valid_sampled"]["MRR"]) < 1e-12
assert abs(m["valid"]["metatl"]["full"]["MRR"] - best["valid_full"]["MRR"]) < 1e-12
# The command trains the recommended preset unless told otherwise.
assert m["configuration"]["loss"] == "softmax" and m["configuration"]["select_by"] == "full_mrr", m["configuration"]
PY
python3 - "$dir/curve.csv" "$dir/m.json" <<'PY' && ok "learning curve CSV" || fail "learning curve CSV"
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert [int(r["step"]) for r in rows] == [0, 3, 6], rows
assert rows[0]["train_loss"] == "" and float(rows[1]["train_loss"]) > 0
assert all(0 <= float(r["valid_full_mrr"]) <= 1 for r in rows)
# The JSON's curve has every CSV column under the same name, with the same values.
curve = json.load(open(sys.argv[2]))["learning_curve"]
for row, point in zip(rows, curve):
    for name, text in row.items():
        if text == "":
            assert name not in point, (name, point)
        else:
            assert abs(float(text) - float(point[name])) <= 1e-6 * max(1, abs(float(text))), (name, text, point[name])
PY
"$bin" "${args[@]}" --metrics-json "$dir/m2.json" >/dev/null 2>&1
python3 - "$dir/m.json" "$dir/m2.json" <<'PY' && ok "same seed, same metrics" || fail "same seed, same metrics"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
for m in (a, b):
    m.pop("train_seconds")
    for p in m["learning_curve"]:
        p.pop("elapsed_seconds"); p.pop("steps_per_second")
assert a == b
PY

# Save, evaluate and recommend from the checkpoint.
if "$bin" "${args[@]}" --out "$dir/model.safetensors" >/dev/null 2>&1 && [ -s "$dir/model.safetensors" ]; then
    ok "train --out writes a checkpoint"; else fail "train --out writes a checkpoint"; fi
"$bin" evaluate --model "$dir/model.safetensors" --train "$dir/tiny_train.csv" --test "$dir/tiny_test_new_user.csv" \
    --metrics-json "$dir/e.json" >/dev/null 2>&1
python3 - "$dir/m.json" "$dir/e.json" <<'PY' && ok "evaluate reproduces the trained model's metrics" || fail "evaluate reproduces the trained model's metrics"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert a["test"] == b["test"] and a["valid"] == b["valid"], (a["test"], b["test"])
PY
rec=$("$bin" recommend --model "$dir/model.safetensors" --history 3,5,7 --top-n 4 2>&1)
[ "$(echo "$rec" | wc -l)" -eq 4 ] && echo "$rec" | head -1 | grep -qE '^1	[0-9]+	-?[0-9.]+$' \
    && ok "recommend prints the top items" || fail "recommend prints the top items: $rec"
# With an index of one list (40 items: k-means needs 39 per list) every list is searched: the exact answer.
idx=$("$bin" recommend --model "$dir/model.safetensors" --history 3,5,7 --top-n 4 --index 2>&1)
[ "$idx" = "$rec" ] && ok "recommend --index searching every list prints the exact items" \
    || fail "recommend --index: $idx (exact: $rec)"
if "$bin" recommend --model "$dir/model.safetensors" --history 3,5,7 --index --index-lists 2 >/dev/null 2>"$dir/err.txt"; then
    fail "an index of more lists than the items allow exits non-zero"
else
    grep -q "index lists = 2 needs at least 78 trained items" "$dir/err.txt" && ok "too many index lists: the message says why" \
        || fail "too many index lists message: $(cat "$dir/err.txt")"
fi
if "$bin" recommend --model "$dir/model.safetensors" --history 3,999999 >/dev/null 2>"$dir/err.txt"; then
    fail "unknown id exits non-zero"
else
    grep -q "unknown item id 999999" "$dir/err.txt" && ok "unknown id message" || fail "unknown id message: $(cat "$dir/err.txt")"
fi

# --transition-prior auto: the report keeps the pure metatl row (as without the prior) beside
# metatl+prior, the JSON records the chosen weight, and the checkpoint carries the prior.
if "$bin" "${args[@]}" --metrics-json "$dir/p.json" --transition-prior auto --out "$dir/prior.safetensors" \
    >"$dir/out.txt" 2>"$dir/err.txt"; then ok "train --transition-prior auto runs"; else fail "train --transition-prior auto: $(cat "$dir/err.txt")"; fi
grep -q "test   full      metatl+prior" "$dir/out.txt" && grep -q "test   full      metatl  " "$dir/out.txt" \
    && ok "table shows metatl and metatl+prior" || fail "table shows metatl and metatl+prior: $(cat "$dir/out.txt")"
"$bin" "${args[@]}" --metrics-json "$dir/pure.json" --transition-prior off >/dev/null 2>&1
python3 - "$dir/pure.json" "$dir/p.json" "$dir/m.json" <<'PY' && ok "prior metrics JSON" || fail "prior metrics JSON"
import json, sys
pure, prior, default = (json.load(open(p)) for p in sys.argv[1:])
assert prior["transition_prior_weight"] in (0, 0.25, 0.5, 1, 2, 4, 8, 16, 32), prior["transition_prior_weight"]
# auto is the command's default.
assert default["transition_prior_weight"] == prior["transition_prior_weight"] and default["test"] == prior["test"]
assert pure["transition_prior_weight"] is None and "metatl+prior" not in pure["test"]
for split in ("valid", "test"):
    assert prior[split]["metatl"] == pure[split]["metatl"], split
    for proto in ("sampled", "full"):
        assert all(0 <= v <= 1 for v in prior[split]["metatl+prior"][proto].values())
PY
"$bin" evaluate --model "$dir/prior.safetensors" --train "$dir/tiny_train.csv" --test "$dir/tiny_test_new_user.csv" \
    --metrics-json "$dir/pe.json" >/dev/null 2>&1
"$bin" evaluate --model "$dir/prior.safetensors" --train "$dir/tiny_train.csv" --test "$dir/tiny_test_new_user.csv" \
    --transition-prior off --metrics-json "$dir/po.json" >/dev/null 2>&1
python3 - "$dir/p.json" "$dir/pe.json" "$dir/po.json" <<'PY' && ok "evaluate keeps the checkpoint's prior; off drops it" || fail "evaluate with a prior checkpoint"
import json, sys
trained, kept, off = (json.load(open(p)) for p in sys.argv[1:])
assert kept["test"] == trained["test"] and kept["transition_prior_weight"] == trained["transition_prior_weight"]
assert off["transition_prior_weight"] is None and "metatl+prior" not in off["test"]
assert off["test"]["metatl"] == trained["test"]["metatl"]
PY
if "$bin" "${args[@]}" --transition-prior=-1 >/dev/null 2>"$dir/err.txt"; then fail "--transition-prior -1 is refused"; else
    grep -q -- "--transition-prior" "$dir/err.txt" && ok "--transition-prior -1 is refused" || fail "--transition-prior -1: $(cat "$dir/err.txt")"; fi

printf '1\t2\t3\n1\t2\tsoon\n' > "$dir/bad_train.csv"
if "$bin" train --train "$dir/bad_train.csv" --test "$dir/tiny_test_new_user.csv" --steps 1 >/dev/null 2>"$dir/err.txt"; then
    fail "bad input exits non-zero"
else
    grep -q "bad_train.csv:2: field 'timestamp': expected a finite number, found 'soon'" "$dir/err.txt" \
        && ok "bad input exits non-zero with its message" || fail "bad input message: $(cat "$dir/err.txt")"
fi
if "$bin" train --train "$dir/missing.csv" --test "$dir/tiny_test_new_user.csv" >/dev/null 2>"$dir/err.txt"; then
    fail "missing file exits non-zero"
else
    grep -q "missing.csv: no such file" "$dir/err.txt" && ok "missing file message" || fail "missing file message: $(cat "$dir/err.txt")"
fi
# --max-file-bytes: a file over the limit, and a pipe that never ends, stop with a message that
# names the file and the limit and says how to raise it.
if "$bin" train --train "$dir/tiny_train.csv" --test "$dir/tiny_test_new_user.csv" --steps 1 --max-file-bytes 1K \
    >/dev/null 2>"$dir/err.txt"; then
    fail "a file over --max-file-bytes exits non-zero"
else
    grep -q "tiny_train.csv: holds [0-9]* bytes, more than the limit of 1024 bytes (1 KiB) on a data file" "$dir/err.txt" \
        && grep -q -- "--max-file-bytes" "$dir/err.txt" \
        && ok "a file over --max-file-bytes: its message" || fail "a file over --max-file-bytes: $(cat "$dir/err.txt")"
fi
mkfifo "$dir/endless.fifo"
timeout 60 yes "1	2	3" >"$dir/endless.fifo" 2>/dev/null &
writer=$!
if timeout 60 "$bin" train --train "$dir/endless.fifo" --test "$dir/tiny_test_new_user.csv" --steps 1 --max-file-bytes 1M \
    >/dev/null 2>"$dir/err.txt"; then
    fail "an endless pipe exits non-zero"
else
    grep -q "endless.fifo: is a pipe that gave more than the limit of 1048576 bytes (1 MiB) on a data file" "$dir/err.txt" \
        && ok "an endless pipe stops at --max-file-bytes" || fail "an endless pipe: $(cat "$dir/err.txt")"
fi
kill "$writer" 2>/dev/null; wait "$writer" 2>/dev/null
for bad in 0 abc 12Q; do
    if "$bin" train --train "$dir/tiny_train.csv" --test "$dir/tiny_test_new_user.csv" --max-file-bytes "$bad" >/dev/null 2>"$dir/err.txt"; then
        fail "--max-file-bytes $bad is refused"
    else
        grep -q -- "--max-file-bytes" "$dir/err.txt" && ok "--max-file-bytes $bad is refused" || fail "--max-file-bytes $bad: $(cat "$dir/err.txt")"
    fi
done
# A MovieLens-style ratings.csv (a header, four columns) goes through `metatl split` to `metatl
# train` with no editing.
awk 'BEGIN { srand(11); print "userId,movieId,rating,timestamp"
             for (u = 1; u <= 80; u++) { n = 3 + int(rand() * 6); t = 1000000000 + u * 3600
                 for (j = 0; j < n; j++) printf "%d,%d,%.1f,%d\n", u, 1 + int(rand() * 50), 0.5 + int(rand() * 10) / 2, t + j * 60 } }' \
    >"$dir/ratings.csv"
if "$bin" split --input "$dir/ratings.csv" --out-prefix "$dir/ml" >"$dir/out.txt" 2>"$dir/err.txt"; then
    ok "split runs"
else
    fail "split runs: $(cat "$dir/err.txt")"
fi
grep -q "^training users: [0-9]* (" "$dir/out.txt" && grep -q "^new users: [0-9]* (" "$dir/out.txt" \
    && ok "split prints counts" || fail "split prints counts: $(cat "$dir/out.txt")"
[ "$(head -c 2 "$dir/ml_train.csv")" = "1	" ] && ! grep -qv "^[0-9]*	[0-9]*	[0-9]*$" "$dir/ml_train.csv" "$dir/ml_test_new_user.csv" \
    && ok "split writes user<TAB>item<TAB>timestamp" || fail "split output: $(head -3 "$dir/ml_train.csv")"
if "$bin" train --train "$dir/ml_train.csv" --test "$dir/ml_test_new_user.csv" --max-steps 20 --eval-every 10 --threads 1 \
    >"$dir/out.txt" 2>"$dir/err.txt"; then
    ok "train runs on the split of ratings.csv"
else
    fail "train on the split: $(cat "$dir/err.txt")"
fi
if "$bin" split --input "$dir/ratings.csv" --out-prefix "$dir/ml" --columns userId,film,timestamp >/dev/null 2>"$dir/err.txt"; then
    fail "split with an unknown column exits non-zero"
else
    grep -q "ratings.csv:1: the header has no column named 'film'" "$dir/err.txt" \
        && ok "split names a missing column" || fail "split missing column: $(cat "$dir/err.txt")"
fi
"$bin" split --input "$dir/ratings.csv" --out-prefix "$dir/byTime" --columns 0,1,3 --cut-time 1970-01-01T00:00:00Z \
    >/dev/null 2>"$dir/err.txt" && fail "a cut before every user is refused" \
    || { grep -q "no training user" "$dir/err.txt" && ok "a cut before every user is refused" || fail "early cut: $(cat "$dir/err.txt")"; }
# A RecBole atomic .inter file with string tokens (ASIN-like items, some all digits with a
# leading zero; reviewer-like users) goes through split, train, recommend and a cohort evaluation
# with unknown items, with no editing; the ids come back as written.
awk 'BEGIN { srand(5); print "user_id:token\titem_id:token\trating:float\ttimestamp:float"
             for (u = 1; u <= 80; u++) { n = 3 + int(rand() * 6); t = 1000000000 + u * 3600
                 for (j = 0; j < n; j++) { i = 1 + int(rand() * 50)
                     printf "A%05dXZ\t%s\t5.0\t%d\n", u, (i % 4 == 0 ? sprintf("%010d", i) : sprintf("B%09X", i)), t + j * 60 } } }' \
    >"$dir/tokens.inter"
if "$bin" split --input "$dir/tokens.inter" --out-prefix "$dir/rb" >/dev/null 2>"$dir/err.txt" \
    && "$bin" train --train "$dir/rb_train.csv" --test "$dir/rb_test_new_user.csv" --max-steps 20 --eval-every 10 --threads 1 \
        --out "$dir/rb.safetensors" --per-user-csv "$dir/rb_ranks.csv" >"$dir/out.txt" 2>"$dir/err.txt"; then
    ok "a RecBole .inter file of string tokens goes through split and train"
else
    fail "RecBole .inter with string tokens: $(cat "$dir/err.txt")"
fi
grep -q "string ids: users, items" "$dir/err.txt" && grep -q "^A[0-9]*XZ,valid,metatl," "$dir/rb_ranks.csv" \
    && ok "train says the ids are strings; per-user ranks name the users by them" \
    || fail "string ids in the summary or ranks: $(grep data: "$dir/err.txt"; head -2 "$dir/rb_ranks.csv")"
history=$(grep -m 3 "^A00001XZ" "$dir/rb_train.csv" | cut -f 2 | paste -sd, -)
if "$bin" recommend --model "$dir/rb.safetensors" --history "$history" --top-n 3 >"$dir/out.txt" 2>"$dir/err.txt" \
    && [ "$(wc -l <"$dir/out.txt")" -eq 3 ] && ! grep -qv "^[1-3]	\(B[0-9A-F]\{9\}\|[0-9]\{10\}\)	-\?[0-9.]*$" "$dir/out.txt"; then
    ok "recommend takes and prints string ids"
else
    fail "recommend with string ids: $(cat "$dir/out.txt" "$dir/err.txt")"
fi
{ cat "$dir/rb_test_new_user.csv"; printf 'Z1\tNOT-AN-ITEM\t1\nZ1\t%s\t2\n' "$(head -1 "$dir/rb_train.csv" | cut -f 2)"; } >"$dir/rb_cohort.csv"
if "$bin" evaluate --model "$dir/rb.safetensors" --train "$dir/rb_train.csv" --test "$dir/rb_cohort.csv" >/dev/null 2>"$dir/err.txt" \
    && grep -q "^1 interactions have items the model does not know: left out" "$dir/err.txt"; then
    ok "a cohort with an unknown string item is evaluated, the item skipped and counted"
else
    fail "cohort with string ids: $(cat "$dir/err.txt")"
fi
# The sampled protocol's negatives and more cutoffs, as options.
if "$bin" train --train "$dir/tiny_train.csv" --test "$dir/tiny_test_new_user.csv" --max-steps 4 --eval-every 2 --threads 1 \
    --sampled-negatives 7 --cutoffs 20,50 --metrics-json "$dir/neg.json" --per-user-csv "$dir/neg.csv" >"$dir/out.txt" 2>"$dir/err.txt" \
    && python3 - "$dir/neg.json" "$dir/neg.csv" <<'PY'
import csv, json, sys
m = json.load(open(sys.argv[1]))
for system in ("metatl", "transition"):
    full = m["test"][system]["full"]
    assert full["Hits@50"] >= full["Hits@20"] >= full["Hits@10"], full
rows = [r for r in csv.DictReader(open(sys.argv[2])) if r["protocol"] == "sampled" and r["rank"]]
assert rows and all(1 <= int(r["rank"]) <= 8 for r in rows)
PY
then ok "--sampled-negatives bounds the sampled ranks; --cutoffs adds NDCG@k and Hits@k"; else fail "--sampled-negatives / --cutoffs: $(cat "$dir/err.txt")"; fi
grep -q "Hits@50" "$dir/out.txt" && ok "the table shows the added cutoffs" || fail "cutoffs in the table: $(head -2 "$dir/out.txt")"
# --version prints the library's version, the header's.
header=$(sed -n 's/^#define MT_VERSION_STRING "\(.*\)"$/\1/p' "$(dirname "$0")/../../include/metatl.h")
[ -n "$header" ] && [ "$("$bin" --version)" = "$header" ] && ok "--version prints $header" || fail "--version: $("$bin" --version 2>&1), header $header"
echo "cli smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
