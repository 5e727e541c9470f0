#!/usr/bin/env python3
"""Runs the measurements behind docs/RESULTS.md and writes it (`make results`).

Each experiment is a `metatl train` (beauty) or `metatl demo` (built-in synthetic data) run with
validation-driven model selection, for several seeds. Every run's metrics JSON and learning
curve CSV are kept under docs/results/runs/ and reused when present (delete a file to rerun
it), so the tables can be rebuilt without retraining and every number can be traced to a run.

Usage: scripts/results.py [--data DIR] [--only NAME ...] [--seeds 1,2,3] [--binary PATH]
DIR holds beauty_train.csv and beauty_test_new_user.csv; without it only synthetic runs happen.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = os.path.join(ROOT, "docs", "results", "runs")

# name, dataset, extra flags, description. "defaults" uses no tuning flags at all (the
# recommended preset, with the transition prior chosen on validation); it and the rows in
# FOR_EVERY_SEED run for every seed. The one-change rows start from the recommended preset and
# run for the ablation seeds. The "reference" rows are the notebook's settings with the model
# chosen by sampled MRR, as it was before issue 13 ("reference-dropout0" was the default then).
REF = ["--preset", "reference", "--select-by", "sampled_mrr"]
EXPERIMENTS = [
    ("defaults", "beauty", [], "`metatl train` defaults (recommended preset)"),
    ("reference-dropout", "beauty", REF, "the reference preset (the notebook's settings)"),
    ("reference-dropout0", "beauty", REF + ["--dropout", "0"], "reference + dropout 0 (the default before issue 13)"),
    ("rec-lr-0.001", "beauty", ["--lr", "0.001"], "recommended + learning rate 0.001"),
    ("rec-lr-0.00025", "beauty", ["--lr", "0.00025"], "recommended + learning rate 0.00025"),
    ("rec-query-margin", "beauty", ["--query-margin", "on"], "recommended + the margin loss on each query as well"),
    ("rec-negatives-uniform", "beauty", ["--negatives", "uniform"], "recommended + uniform shared negatives"),
    ("rec-negatives-mixed", "beauty", ["--negatives", "mixed"], "recommended + mixed (half uniform) negatives"),
    ("rec-table-decay-0.05", "beauty", ["--table-decay", "0.05"], "recommended + table decay 0.05"),
    ("rec-sampler-window", "beauty", ["--sampler", "window"], "recommended + users equally likely (window sampler)"),
    ("rec-margin", "beauty", ["--loss", "margin", "--item-bias", "off"], "recommended with the reference's margin loss"),
    ("defaults", "synthetic", [], "`metatl demo` defaults (recommended preset)"),
    ("reference-dropout", "synthetic", REF, "the reference preset (the notebook's settings)"),
    ("reference-dropout0", "synthetic", REF + ["--dropout", "0"], "reference + dropout 0 (the default before issue 13)"),
]
FOR_EVERY_SEED = ("defaults", "reference-dropout", "reference-dropout0", "rec-lr-0.00025")


def run(binary, name, dataset, flags, seed, data_dir, threads, tables_only=False):
    stem = os.path.join(RUNS, f"{dataset}-{name}-s{seed}")
    if os.path.exists(stem + ".json"):
        return json.load(open(stem + ".json"))
    if tables_only:
        return None
    if dataset == "beauty":
        cmd = [binary, "train", "--train", os.path.join(data_dir, "beauty_train.csv"),
               "--test", os.path.join(data_dir, "beauty_test_new_user.csv")]
    else:
        cmd = [binary, "demo"]
    cmd += flags + ["--seed", str(seed)] + (["--threads", str(threads)] if threads else [])
    cmd += ["--metrics-json", stem + ".json.tmp", "--curve-csv", stem + ".csv"]
    print("running:", " ".join(cmd[1:]), file=sys.stderr, flush=True)
    start = time.time()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    m = json.load(open(stem + ".json.tmp"))
    m["command"] = command(cmd[1:-4], data_dir)
    m["wall_seconds"] = time.time() - start
    with open(stem + ".json", "w") as f:
        json.dump(m, f, indent=1, sort_keys=True)
    os.remove(stem + ".json.tmp")
    return m


def command(args, data_dir):
    """The command line as RESULTS.md shows it: the data folder as $DATA, no output files."""
    shown = []
    for a in args:
        if data_dir and a.startswith(os.path.join(data_dir, "")):
            a = "$DATA/" + a[len(os.path.join(data_dir, "")):]
        shown.append(a)
    return "metatl " + " ".join(shown)


def mean_spread(values):
    if not values:
        return "-"
    m = statistics.mean(values)
    if len(values) == 1:
        return f"{m:.4f}"
    return f"{m:.4f} ± {statistics.stdev(values):.4f}"


def table(rows, header):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.environ.get("METATL_DATA"))
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "metatl-cli"))
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "RESULTS.md"))
    ap.add_argument("--jobs", type=int, default=1,
                    help="runs at once (each then gets --threads cores/jobs; results differ per thread count only in the last bits)")
    ap.add_argument("--ablation-seeds", default=None, help="seeds for the one-change rows (default: --seeds)")
    ap.add_argument("--tables-only", action="store_true", help="tabulate the runs present; run nothing")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    os.makedirs(RUNS, exist_ok=True)
    have_beauty = args.tables_only or (args.data and os.path.exists(os.path.join(args.data, "beauty_train.csv")))
    if not have_beauty:
        print("no beauty data (--data DIR or METATL_DATA): synthetic runs only", file=sys.stderr)

    ablation_seeds = [int(s) for s in args.ablation_seeds.split(",")] if args.ablation_seeds else seeds
    threads = max(1, (os.cpu_count() or 1) // args.jobs) if args.jobs > 1 else None
    work = []
    for name, dataset, flags, _ in EXPERIMENTS:
        if args.only and name not in args.only:
            continue
        if dataset == "beauty" and not have_beauty:
            continue
        for s in (seeds if name in FOR_EVERY_SEED else ablation_seeds):
            work.append((name, dataset, flags, s))
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        done = list(pool.map(lambda w: (w, run(args.binary, w[0], w[1], w[2], w[3], args.data, threads,
                                                args.tables_only)), work))
    results = {}
    for (name, dataset, _, _), m in done:
        if m is not None:
            results.setdefault((dataset, name), []).append(m)

    lines = ["Generated by `make results` (scripts/results.py) from the runs under "
             "`docs/results/runs/`; every number is a mean ± standard deviation over seeds "
             f"{', '.join(map(str, seeds))}. Test metrics are always those of the model chosen on the "
             "validation users (see `metatl train --help`: `--eval-every`, `--patience`, `--select-by`). "
             "Seeds vary the data split, the initialisation and every sampled task. "
             "Baselines, on the same users and candidates: most popular item, item-to-item transition counts "
             "(last input item → candidate, popularity breaks ties) and second-order transition counts "
             "((second-last, last) → candidate, backing off to first order). \"MetaTL alone\" is the same "
             "model as the default row without the transition prior blended in. Full ranking (every item "
             "but the user's inputs) comes first: it is what `recommend` serves.", ""]
    for dataset, title in (("beauty", "Amazon Beauty (cold-start split of ../shared/data)"),
                           ("synthetic", "Built-in synthetic data (`metatl demo`)")):
        runs = results.get((dataset, "defaults"))
        if not runs:
            continue
        lines += [f"## {title}", "", "With the defaults (no tuning flags):", ""]
        rows = []
        systems = (("metatl+prior", "MetaTL + transition prior (the default)"), ("metatl", "MetaTL alone (no prior)"),
                   ("transition2", "second-order transitions"), ("transition", "item transitions"),
                   ("popularity", "most popular"), ("oracle", "oracle (knows each user's direction)"))
        for system, label in systems:
            if not all(system in r["test"] for r in runs):
                continue
            row = [label]
            for key in (("test", "full", "MRR"), ("test", "full", "Hits@10"), ("test", "full", "Hits@1"),
                        ("test", "sampled", "MRR"), ("test", "sampled", "Hits@10"), ("valid", "full", "MRR"),
                        ("valid", "sampled", "MRR")):
                row.append(mean_spread([r[key[0]][system][key[1]][key[2]] for r in runs]))
            rows.append(row)
        lines.append(table(rows, ["system", "test full MRR", "test full Hits@10", "test full Hits@1", "test sampled MRR",
                                  "test sampled Hits@10", "valid full MRR", "valid sampled MRR"]))
        weights = [r.get("transition_prior_weight") for r in runs]
        if any(w is not None for w in weights):
            lines += ["", "Transition prior weight chosen on validation: " + ", ".join(str(w) for w in weights) + "."]
        chosen = [r["chosen_step"] for r in runs]
        taken = [r["steps"] for r in runs]
        secs = [r["train_seconds"] for r in runs]
        threads = sorted({r["configuration"]["threads"] for r in runs})
        lines += ["", f"Chosen step {', '.join(map(str, chosen))}; steps run {', '.join(map(str, taken))}; "
                      f"training time {', '.join(f'{s:.0f} s' for s in secs)} ({'/'.join(map(str, threads))} thread(s) per run, "
                      "two runs at a time on a shared 2-core machine: times are indicative). Commands:", ""]
        lines += ["    " + r["command"] for r in runs]
        lines.append("")

    for dataset, title in (("beauty", "beauty"), ("synthetic", "synthetic data")):
        rows_of = [(n, d) for n, ds, _, d in EXPERIMENTS if ds == dataset and (dataset, n) in results]
        if len(rows_of) < 2:
            continue
        lines += [f"## What each setting does ({title})", "",
                  "MetaTL only; test metrics of the validation-chosen model; seeds per row as listed.", ""]
        rows = []
        for name, desc in rows_of:
            runs = results[(dataset, name)]
            def col(split, system, proto, metric="MRR"):
                vals = [r[split][system][proto][metric] for r in runs if system in r[split]]
                return mean_spread(vals) if len(vals) == len(runs) else "-"
            rows.append([desc,
                         ", ".join(str(r["configuration"]["seed"]) for r in runs),
                         col("test", "metatl", "full"), col("test", "metatl", "full", "Hits@10"),
                         col("test", "metatl", "sampled"),
                         col("test", "metatl+prior", "full"), col("test", "metatl+prior", "sampled"),
                         col("valid", "metatl", "full"),
                         ", ".join(str(r["chosen_step"]) for r in runs),
                         f"{statistics.mean(r['train_seconds'] for r in runs):.0f} s"])
        lines.append(table(rows, ["setting", "seeds", "test full MRR", "test full Hits@10", "test sampled MRR",
                                  "+ prior: test full MRR", "+ prior: test sampled MRR", "valid full MRR",
                                  "chosen steps", "mean time"]))
        lines.append("")
    # The tables go between the markers; text around them (findings, discussion) is kept.
    begin, end = "<!-- results:begin (make results) -->", "<!-- results:end -->"
    generated = begin + "\n" + "\n".join(lines) + "\n" + end
    text = open(args.out).read() if os.path.exists(args.out) else ""
    if begin in text and end in text:
        text = text[:text.index(begin)] + generated + text[text.index(end) + len(end):]
    else:
        text = generated + "\n"
    with open(args.out, "w") as f:
        f.write(text)
    print(f"wrote {os.path.relpath(args.out, ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
