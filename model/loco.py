"""Leave-one-network-out training as independent tasks (one process each when jobs > 1, e.g. on a GPU).

Per recipe: one model per held-out network ("outer"), one per (held-out, second held-out) pair ("inner",
only when the threshold comes from inner leave-one-network-out scores) and the final model on everything.
Thresholds never look at the held-out network: `train_fpr` uses the fold's own training scores (in-sample),
`inner_f1` / `inner_fpr` the fold's inner out-of-network scores on its training networks. The final model's
inner threshold comes from the outer out-of-network scores.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace

import numpy as np
import torch

from .corpus import Corpus, build_corpus, for_spec
from .data import SYNTHETIC_NETWORK
from .training import TrainConfig, choose_threshold, device, choose_threshold_f1, choose_threshold_fpr, predict, train

THRESHOLD_RULES = ("train_fpr", "inner_f1", "inner_fpr")


def fold_of(network: str) -> str:
    return "iot23" if network.startswith("iot23") else network


TRAIN_ONLY = {SYNTHETIC_NETWORK}


def corpus_folds(corpus: Corpus) -> np.ndarray:
    return np.array([fold_of(corpus.captures[c].network) for c in corpus.capture], dtype=object)


def plan(corpus: Corpus, cfg: TrainConfig, inner: bool) -> list[tuple]:
    names = sorted(set(corpus_folds(corpus)) - TRAIN_ONLY)
    tasks = [("outer", k, None) for k in names] + [("final", None, None)]
    if inner:
        tasks += [("inner", k, j) for k in names for j in names if j != k]
    return tasks


_CORPUS: Corpus | None = None


def _init_worker(threads: int, names: list[str]) -> None:
    global _CORPUS
    from .data import labelled_captures, synthetic_captures

    torch.set_num_threads(threads)
    _CORPUS = build_corpus([c for c in labelled_captures() + synthetic_captures() if c.name in names])


def run_task(task: tuple, cfg: TrainConfig, corpus: Corpus | None = None) -> dict:
    corpus = for_spec(corpus if corpus is not None else _CORPUS, cfg.feature_spec)
    kind, k, j = task
    folds = corpus_folds(corpus)
    held = {x for x in (k, j) if x is not None}
    skip = held if cfg.synthetic else held | TRAIN_ONLY
    tr = np.nonzero(~np.isin(folds, list(skip)))[0]
    t0 = time.time()
    model, hist = train(corpus, tr, cfg, log=lambda _: None)
    model = model.to(device())
    out = {"task": task, "seconds": time.time() - t0, "hist": hist}
    if kind == "inner":
        ev = np.nonzero(folds == j)[0]
        out["eval_idx"], out["eval_score"] = ev, predict(model, corpus, ev)["score"]
        return out
    lab = tr[corpus.y[tr] >= 0]
    out["train_idx"], out["train_score"] = lab, predict(model, corpus, lab)["score"]
    if kind == "outer":
        ev = np.nonzero(folds == k)[0]
        out["eval_idx"], out["eval_score"] = ev, predict(model, corpus, ev)["score"]
    out["config"], out["state"] = model.config, {n: v.cpu() for n, v in model.state_dict().items()}
    out["train_captures"] = sorted({corpus.captures[c].name for c in corpus.capture[tr]})
    return out


def _worker(args):
    task, cfg = args
    return run_task(task, cfg)


def run_tasks(corpus: Corpus, jobs: list[tuple[str, TrainConfig, tuple]], workers: int, log=print,
              deadline: float | None = None) -> dict:
    """{(recipe, task): result}. workers == 1 runs in this process; otherwise a spawn pool (CUDA-safe)."""
    results = {}
    if workers <= 1:
        for name, cfg, task in jobs:
            if deadline and time.time() > deadline:
                log(f"deadline: skipping {name} {task}")
                continue
            results[(name, task)] = run_task(task, cfg, corpus)
            log(f"{name} {task}: {results[(name, task)]['seconds']:.0f}s")
        return results
    import multiprocessing as mp
    from concurrent.futures import TimeoutError as FutureTimeout

    ex = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                             initargs=(1, [c.name for c in corpus.captures]))
    futs = {ex.submit(_worker, (task, cfg)): (name, task) for name, cfg, task in jobs}
    try:
        for f in as_completed(futs, timeout=None if deadline is None else max(1.0, deadline - time.time())):
            key = futs[f]
            try:
                results[key] = f.result()
                log(f"{key[0]} {key[1]}: {results[key]['seconds']:.0f}s")
            except Exception as e:  # one failed task must not lose the others
                log(f"{key[0]} {key[1]} failed: {e!r}")
    except FutureTimeout:
        log(f"deadline: {len(futs) - len(results)} tasks not finished")
    procs = list((getattr(ex, "_processes", None) or {}).values())
    ex.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    return results


def assemble(corpus: Corpus, cfg: TrainConfig, results: dict) -> dict | None:
    """One recipe's tasks → fold models, thresholds under every rule that its tasks allow, out-of-network scores."""
    folds = corpus_folds(corpus)
    names = sorted(set(folds) - TRAIN_ONLY)
    outer = {k: results.get(("outer", k, None)) for k in names}
    if any(v is None for v in outer.values()):
        return None
    oof = np.full(corpus.count, np.nan, np.float32)
    for k, r in outer.items():
        oof[r["eval_idx"]] = r["eval_score"]
    bundle = {"config": cfg.to_dict(), "folds": {}, "oof": oof}
    for k, r in outer.items():
        thr = {"train_fpr": choose_threshold(r["train_score"], corpus.y[r["train_idx"]], cfg.target_fpr)}
        inner = [results.get(("inner", k, j)) for j in names if j != k]
        if all(x is not None for x in inner):
            idx = np.concatenate([x["eval_idx"] for x in inner])
            sc = np.concatenate([x["eval_score"] for x in inner])
            y = corpus.y[idx]
            thr["inner_f1"] = choose_threshold_f1(sc, y)
            thr["inner_fpr"] = choose_threshold_fpr(sc, y, cfg.inner_fpr)
        bundle["folds"][k] = {"thresholds": thr, "config": r["config"], "state": r["state"], "seconds": r["seconds"],
                              "train_captures": r["train_captures"]}
        if "inner_fpr" in thr:
            # kept so that other threshold rules can be applied to the same inner scores later
            bundle["folds"][k]["inner_scores"] = {"idx": idx, "score": sc}
    fin = results.get(("final", None, None))
    if fin is not None:
        lab = np.nonzero((corpus.y >= 0) & ~np.isin(folds, list(TRAIN_ONLY)))[0]
        bundle["final"] = {
            "thresholds": {"train_fpr": choose_threshold(fin["train_score"], corpus.y[fin["train_idx"]], cfg.target_fpr),
                           "inner_f1": choose_threshold_f1(oof[lab], corpus.y[lab]),
                           "inner_fpr": choose_threshold_fpr(oof[lab], corpus.y[lab], cfg.inner_fpr)},
            "config": fin["config"], "state": fin["state"], "seconds": fin["seconds"], "hist": fin["hist"]}
    return bundle


def held_out_scores(bundle: dict) -> np.ndarray:
    return bundle["oof"]


def default_workers() -> int:
    if torch.cuda.is_available():
        return max(1, min(12, (os.cpu_count() or 2) - 2))
    return 1


__all__ = ["THRESHOLD_RULES", "assemble", "corpus_folds", "fold_of", "plan", "run_tasks", "replace"]
