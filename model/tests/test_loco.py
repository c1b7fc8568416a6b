"""Leave-one-network-out tasks: no model scores a network it trained on, and fold thresholds come only from
scores on the fold's training networks (inner held-out models)."""

import numpy as np
import torch

from model.corpus import build_corpus
from model.data import labelled_captures
from model.loco import assemble, corpus_folds, fold_of, plan, run_tasks
from model.training import TrainConfig, choose_threshold_fpr

NAMES = ("nmap-portscan", "iot23-honeypot-7-1", "iot23-42-1", "ctu50-normal-40-day1")


def test_outer_inner_and_final_tasks_respect_the_held_out_networks():
    torch.set_num_threads(1)
    corpus = build_corpus([c for c in labelled_captures() if c.name in NAMES])
    folds = corpus_folds(corpus)
    cfg = TrainConfig(d=16, layers=1, heads=2, ff=32, pretrain_epochs=0, epochs=1, max_tokens=2048, max_batch=256,
                      evidence=True, flow_head=True, evidence_dropout=0.2, threshold="inner_fpr")
    tasks = plan(corpus, cfg, inner=True)
    assert len(tasks) == 3 + 1 + 3 * 2
    res = run_tasks(corpus, [("t", cfg, t) for t in tasks], 1, log=lambda _: None)
    res = {t: v for (_, t), v in res.items()}
    for (kind, k, j), r in res.items():
        if kind == "outer":
            assert set(folds[r["eval_idx"]]) == {k}
            assert not {c.name for c in corpus.captures if fold_of(c.network) == k} & set(r["train_captures"])
        if kind == "inner":
            assert set(folds[r["eval_idx"]]) == {j} and j != k
    bundle = assemble(corpus, cfg, res)
    assert not np.isnan(bundle["oof"]).any()
    for k, f in bundle["folds"].items():
        inner = [res[("inner", k, j)] for j in bundle["folds"] if j != k]
        idx = np.concatenate([x["eval_idx"] for x in inner])
        assert k not in set(folds[idx])
        sc = np.concatenate([x["eval_score"] for x in inner])
        assert f["thresholds"]["inner_fpr"] == choose_threshold_fpr(sc, corpus.y[idx], cfg.inner_fpr)
        np.testing.assert_array_equal(f["inner_scores"]["idx"], idx)
        np.testing.assert_array_equal(f["inner_scores"]["score"], sc)
    assert set(bundle["final"]["thresholds"]) == {"train_fpr", "inner_f1", "inner_fpr"}
