"""Compare training recipes under the leave-one-network-out protocol (GPU-sized; see model/README.md).

  python -m model.experiments run --recipes a,b --out DIR [--workers N] [--budget-s S]
      trains every recipe's outer / inner / final models, writes DIR/results.json (per capture and pooled
      held-out per-sequence metrics under each threshold rule) and DIR/<recipe>.pt (fold + final weights)
  python -m model.experiments materialize --bundle DIR/<recipe>.pt --rule R --version V
      writes model/versions/V from a bundle (ONNX, manifest, golden, loco/) and regenerates EVALUATION.md
  python -m model.experiments compare --runs flow-1.2.0,DIR/results.json:<recipe>,... [--rule inner_fpr]
      per held-out capture TP / FP of committed versions (their manifest) and run results, pooled F1 / FPR with and
      without the largest benign capture (the DEFAULT rule in model/README.md), as a markdown table
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .corpus import Corpus, build_corpus
from .evaluate import binary_metrics, capture_metrics
from .data import labelled_captures, synthetic_captures
from .loco import THRESHOLD_RULES, TRAIN_ONLY, assemble, corpus_folds, plan, run_tasks
from .training import RECIPES, TrainConfig

def recipe_metrics(corpus: Corpus, bundle: dict) -> dict:
    folds = corpus_folds(corpus)
    oof = bundle["oof"]
    out = {}
    for rule in THRESHOLD_RULES:
        if any(rule not in f["thresholds"] for f in bundle["folds"].values()):
            continue
        thr = np.zeros(corpus.count, np.float32)
        for k, f in bundle["folds"].items():
            thr[folds == k] = f["thresholds"][rule]
        lab = (corpus.y >= 0) & ~np.isin(folds, list(TRAIN_ONLY))
        pooled = binary_metrics(corpus.y[lab], oof[lab] >= thr[lab])
        caps = {}
        for ci, cap in enumerate(corpus.captures):
            if folds[corpus.capture == ci][0] in TRAIN_ONLY:
                continue
            t = float(bundle["folds"][folds[corpus.capture == ci][0]]["thresholds"][rule])
            caps[cap.name] = capture_metrics(corpus, ci, oof, t)["per_sequence"]
        out[rule] = {"pooled": pooled, "captures": caps, "thresholds": {k: f["thresholds"][rule] for k, f in bundle["folds"].items()},
                     "final_threshold": bundle.get("final", {}).get("thresholds", {}).get(rule)}
    return out


def run_counts(run: str, rule: str) -> dict[str, dict]:
    """{capture: per-sequence counts} of a committed version (`flow-1.2.0`) or a run (`DIR/results.json:<recipe>`)."""
    from .spec_paths import VERSIONS_DIR

    if ":" in run:
        path, recipe = run.rsplit(":", 1)
        res = json.loads(Path(path).read_text())
        if recipe not in res or "metrics" not in res[recipe]:
            raise ValueError(f"{path} has no complete results for recipe {recipe!r} (has: {', '.join(res)})")
        if rule not in res[recipe]["metrics"]:
            raise ValueError(f"{run} has no {rule!r} thresholds (has: {', '.join(res[recipe]['metrics'])})")
        return res[recipe]["metrics"][rule]["captures"]
    manifest = VERSIONS_DIR / run / "manifest.json"
    if not manifest.exists():
        raise ValueError(f"{run!r} is neither a committed version ({manifest} missing) nor DIR/results.json:<recipe>")
    return {c["capture"]: c["model"]["per_sequence"] for c in json.loads(manifest.read_text())["metrics"]["captures"]}


def _pooled(counts: list[dict]) -> dict:
    tp, fp, tn, fn = (sum(c[k] for c in counts) for k in ("tp", "fp", "tn", "fn"))
    return {"f1": 2 * tp / (2 * tp + fp + fn) if tp + fn else float("nan"), "fpr": fp / (fp + tn) if fp + tn else float("nan"),
            "tp": tp, "fp": fp}


def compare_table(runs: list[str], rule: str = "inner_fpr") -> str:
    data = {r: run_counts(r, rule) for r in runs}
    caps = list(data[runs[0]])
    for r, d in data.items():
        if set(d) != set(caps):
            raise ValueError(f"{r} covers other captures than {runs[0]}: {sorted(set(d) ^ set(caps))}")
    ref = data[runs[0]]
    largest = max(caps, key=lambda c: ref[c]["fp"] + ref[c]["tn"])
    lines = ["| capture | " + " | ".join(f"{r.split('/')[-2] + ':' + r.rsplit(':', 1)[1] if ':' in r else r} TP / FP" for r in runs) + " |",
             "|---|" + "---:|" * len(runs)]
    for c in caps:
        lines.append(f"| {c} | " + " | ".join(f"{data[r][c]['tp']:,} / {data[r][c]['fp']:,}" for r in runs) + " |")
    for label, keep in (("pooled", caps), (f"pooled without {largest}", [c for c in caps if c != largest])):
        cells = [_pooled([data[r][c] for c in keep]) for r in runs]
        lines.append(f"| **{label}** F1 / FPR (TP / FP) | " + " | ".join(
            f"{p['f1']:.4f} / {p['fpr']:.4f} ({p['tp']:,} / {p['fp']:,})" for p in cells) + " |")
    return "\n".join(lines) + "\n"


def cmd_run(args) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = args.recipes.split(",")
    synthetic = any(RECIPES[n].synthetic for n in names)
    corpus = build_corpus(labelled_captures() + (synthetic_captures() if synthetic else []))
    inner = not args.no_inner
    jobs = [(n, RECIPES[n], t) for n in names for t in plan(corpus, RECIPES[n], inner)]
    if args.only_inner:
        jobs = [j for j in jobs if j[2][0] == "inner"]
    # Outer folds and final models of every recipe first, then inner folds, recipe by recipe.
    jobs.sort(key=lambda j: (j[2][0] == "inner", names.index(j[0]) if j[2][0] == "inner" else 0))
    t0 = time.time()
    log = lambda m: print(f"[{time.time() - t0:5.0f}s] {m}", file=sys.stderr, flush=True)
    res = run_tasks(corpus, jobs, args.workers, log=log, deadline=t0 + args.budget_s if args.budget_s else None)
    if args.only_inner:
        torch.save({(n, t): {"eval_idx": v["eval_idx"], "eval_score": v["eval_score"], "seconds": v["seconds"]}
                    for (n, t), v in res.items()}, out / "inner.pt")
        return 0
    summary = {}
    for n in names:
        r = {task: v for (name, task), v in res.items() if name == n}
        bundle = assemble(corpus, RECIPES[n], r)
        if bundle is None:
            summary[n] = {"incomplete": True}
            continue
        summary[n] = {"config": RECIPES[n].to_dict(), "metrics": recipe_metrics(corpus, bundle),
                      "seconds": {str(t): round(v["seconds"], 1) for t, v in r.items()}}
        torch.save(bundle, out / f"{n}.pt")
        for rule, m in summary[n]["metrics"].items():
            p = m["pooled"]
            log(f"{n} [{rule}] pooled F1 {p['f1']:.4f} FPR {p['fpr']:.4f} P {p['precision']:.4f} R {p['recall']:.4f}")
    (out / "results.json").write_text(json.dumps(summary, indent=1, default=float) + "\n")
    return 0


def materialize(bundle_path: Path, rule: str, version: str, selection_note: str | None = None,
                device: str | None = None) -> Path:
    return write_bundle(torch.load(bundle_path, map_location="cpu", weights_only=False), rule, version, selection_note,
                        device=device)


def write_bundle(bundle: dict, rule: str, version: str, selection_note: str | None = None, corpus: Corpus | None = None,
                 device: str | None = None, final_rule: str | None = None) -> Path:
    """A version folder from a recipe's bundle: the final model with its `final_rule` threshold (default: `rule`),
    loco/ fold models with their `rule` thresholds, then EVALUATION.md and the manifest metrics from the exported
    ONNX models. The final model's inner_* thresholds come from the fold models' held-out scores, so they need no
    inner folds."""
    final_rule = final_rule or rule
    from .evaluate import finish_evaluation
    from .export import write_version
    from .net import FlowSequenceEncoder
    from .train import training_data_list

    synthetic = bool(bundle["config"].get("synthetic"))
    corpus = corpus if corpus is not None else build_corpus(labelled_captures() + (synthetic_captures() if synthetic else []))

    def load(part: dict) -> FlowSequenceEncoder:
        m = FlowSequenceEncoder(**part["config"])
        m.load_state_dict(part["state"])
        return m.eval()

    fin = bundle["final"]
    model = load(fin)
    hist = fin["hist"]
    cfg = dict(bundle["config"], threshold=rule, final_threshold=final_rule)
    out = write_version(
        model, version, trained_tactics=hist["trained_tactics"], metrics={"note": "see evaluation"},
        thresholds={"score": float(fin["thresholds"][final_rule])}, training_data=training_data_list(corpus),
        training={"config": cfg, "history": {k: v for k, v in hist.items() if k != "trained_tactics"},
                  "device": device or bundle.get("device", "cuda"), "threads": 1,
                  "thresholds_by_rule": {"final": fin["thresholds"], **{k: f["thresholds"] for k, f in bundle["folds"].items()}}},
        extra={"selection_note": selection_note} if selection_note else None,
    )
    folds = {k: {"model": load(f), "threshold": float(f["thresholds"][rule]), "seconds": f["seconds"],
                 "train_captures": f["train_captures"]} for k, f in bundle["folds"].items()}
    # Evaluation is on the real captures only (the simulator's network is never held out).
    real = corpus if not any(c.network in TRAIN_ONLY for c in corpus.captures) else build_corpus(labelled_captures())
    finish_evaluation(out, model, real, folds, float(fin["thresholds"][final_rule]))
    return out


def merge_inner(bundle_path: Path, inner_path: Path, recipe: str, out_path: Path) -> dict:
    """Adds inner-fold thresholds (from a separate --only-inner run) to a bundle whose outer folds lacked them."""
    from .training import choose_threshold_f1, choose_threshold_fpr

    bundle = torch.load(bundle_path, map_location="cpu", weights_only=False)
    inner = {t: v for (n, t), v in torch.load(inner_path, weights_only=False).items() if n == recipe}
    corpus = build_corpus()
    cfg = TrainConfig(**bundle["config"])
    for k, f in bundle["folds"].items():
        parts = [inner.get(("inner", k, j)) for j in bundle["folds"] if j != k]
        if any(p is None for p in parts):
            continue
        idx = np.concatenate([p["eval_idx"] for p in parts])
        sc = np.concatenate([p["eval_score"] for p in parts])
        f["thresholds"]["inner_f1"] = choose_threshold_f1(sc, corpus.y[idx])
        f["thresholds"]["inner_fpr"] = choose_threshold_fpr(sc, corpus.y[idx], cfg.inner_fpr)
        f["inner_seconds"] = [round(p["seconds"], 1) for p in parts]
    torch.save(bundle, out_path)
    return recipe_metrics(corpus, bundle)


def bench_export(final_path: Path, version: str) -> None:
    """model.onnx + model.pt only (for bench/model-throughput.py on a machine without the version)."""
    from .export import export_onnx
    from .net import FlowSequenceEncoder
    from .spec_paths import VERSIONS_DIR

    part = torch.load(final_path, map_location="cpu", weights_only=False)
    m = FlowSequenceEncoder(**part["config"])
    m.load_state_dict(part["state"])
    out = VERSIONS_DIR / version
    out.mkdir(parents=True, exist_ok=True)
    export_onnx(m.eval(), out / "model.onnx")
    torch.save({"config": m.config, "state_dict": m.state_dict()}, out / "model.pt")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="model.experiments")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--recipes", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--workers", type=int, default=1)
    r.add_argument("--budget-s", type=float)
    r.add_argument("--no-inner", action="store_true")
    r.add_argument("--only-inner", action="store_true", help="inner folds only, raw scores to OUT/inner.pt")
    b = sub.add_parser("bench-export")
    b.add_argument("--final", required=True)
    b.add_argument("--version", required=True)
    c = sub.add_parser("compare")
    c.add_argument("--runs", required=True, help="comma-separated: a committed version or DIR/results.json:<recipe>")
    c.add_argument("--rule", default="inner_fpr", choices=THRESHOLD_RULES, help="threshold rule of the runs (versions: as committed)")
    m = sub.add_parser("materialize")
    m.add_argument("--bundle", required=True)
    m.add_argument("--rule", required=True, choices=THRESHOLD_RULES)
    m.add_argument("--version", required=True)
    m.add_argument("--selection-note")
    m.add_argument("--device", choices=("cpu", "cuda"), help="where the bundle was trained (recorded in the manifest)")
    args = ap.parse_args(argv)
    if args.cmd == "run":
        return cmd_run(args)
    if args.cmd == "compare":
        print(compare_table(args.runs.split(","), args.rule), end="")
        return 0
    if args.cmd == "bench-export":
        bench_export(Path(args.final), args.version)
        return 0
    print(materialize(Path(args.bundle), args.rule, args.version, args.selection_note, args.device))
    return 0


if __name__ == "__main__":
    sys.exit(main())
