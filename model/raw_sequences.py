"""Contract-shaped sequence dicts for every sequence of a corpus (for sub-scores and fixtures)."""

from __future__ import annotations

from .corpus import Corpus
from .data import read_capture
from .sequencing import build_sequences, sequence_dicts


def corpus_raw_sequences(corpus: Corpus) -> list[dict]:
    out: list[dict] = []
    for cap in corpus.captures:
        t = read_capture(cap)
        out.extend(sequence_dicts(t, build_sequences(t)))
    assert len(out) == corpus.count
    return out
