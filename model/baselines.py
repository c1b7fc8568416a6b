"""Baselines on the same sequences: RITA-style beacon, Slips-style scan / brute force / exfiltration
(the features.v1 sub-scores, one spec shared with TypeScript) and a per-flow ExtraTrees."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import ExtraTreesClassifier

from .corpus import Corpus
from .features import SUB_SCORE_VERSIONS, sub_scores

RULE_THRESHOLD = 0.5
# The inference service raises a finding when the model's verdict is malicious OR any sub-score reaches
# TIDEWATCH_INFERENCE_FLAG_THRESHOLD (services/inference/src/config.ts, default 0.8).
FLAG_THRESHOLD = 0.8
SUB_SCORE_NAMES = ("beacon", "scan", "brute_force", "exfiltration")
# The sub-scores the service flags with (packages/detector's default, subscores.v7: v5's five over the sequence's
# connections, ICMP errors no scan evidence); the rule baselines of EVALUATION.md and a model's in-graph evidence
# stay features.v1.
SERVICE_SUB_SCORES = "v7"


def sub_score_names(version: str) -> tuple[str, ...]:
    return SUB_SCORE_NAMES + (("reflection",) if version in ("v3", "v4", "v5", "v6", "v7") else ())


def corpus_sub_scores(corpus: Corpus, raw: list[dict], version: str = "v1") -> np.ndarray:
    """[S, 4] sub-scores (features.v1 or subscores.v2), [S, 5] for subscores.v3 / v4 (reflection last); raw[i] holds
    sequence i's flows and context as contract dicts (a context without distinct_srcs / distinct_probe_srcs reads
    0 there)."""
    if version not in SUB_SCORE_VERSIONS:
        raise ValueError(f"sub-score version {version!r}: expected one of {', '.join(SUB_SCORE_VERSIONS)}")
    names = sub_score_names(version)
    return np.array([[s[k] for k in names] for s in (sub_scores(r, version) for r in raw)], dtype=np.float64)


def rule_scores(sub: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "rita_beacon": sub[:, 0],
        "slips_rules": sub[:, 1:].max(1),
        "rules_combined": sub.max(1),
    }


def flow_matrix(corpus: Corpus) -> np.ndarray:
    """Per-flow features plus the context of the flow's sequence (no IPs)."""
    return np.concatenate([corpus.flow_x, corpus.ctx[corpus.flow_seq]], axis=1)


def train_extratrees(corpus: Corpus, flow_rows: np.ndarray, seed: int = 7) -> ExtraTreesClassifier:
    x = flow_matrix(corpus)[flow_rows]
    y = corpus.flow_label[flow_rows]
    clf = ExtraTreesClassifier(n_estimators=60, min_samples_leaf=2, n_jobs=1, random_state=seed, class_weight="balanced")
    clf.fit(x, y)
    return clf


def extratrees_scores(clf: ExtraTreesClassifier, corpus: Corpus, flow_rows: np.ndarray) -> np.ndarray:
    p = clf.predict_proba(flow_matrix(corpus)[flow_rows])
    return p[:, list(clf.classes_).index(1)] if 1 in clf.classes_ else np.zeros(flow_rows.shape[0])
