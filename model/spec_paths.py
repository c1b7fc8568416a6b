"""Locations of the shared specs (features, sequencing) and their hashes."""

import hashlib
import json
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FEATURE_SPEC_PATH = REPO_ROOT / "packages/features/spec/features.v1.json"
SEQUENCING_SPEC_PATH = REPO_ROOT / "packages/sequencing/spec/sequencing.v1.json"
GOLDEN_FEATURES_PATH = REPO_ROOT / "packages/features/spec/golden.v1.json"
VERSIONS_DIR = REPO_ROOT / "model/versions"
WORK_DIR = REPO_ROOT / "model/.work"
# TW_LABELED_DATA: another copy of the labelled captures (a GPU machine gets its own copy of the repo only).
SHARED_LABELED = Path(os.environ.get("TW_LABELED_DATA") or "/work/shared/testdata/labeled")


def load_json(path: Path) -> dict:
    return json.loads(path.read_text())


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


FEATURE_SPEC = load_json(FEATURE_SPEC_PATH)
# features.v2 = features.v1 + the responder's address scope (context columns); v1 stays the default for old models.
FEATURE_SPEC_PATHS = {"features.v1": FEATURE_SPEC_PATH, "features.v2": REPO_ROOT / "packages/features/spec/features.v2.json"}
GOLDEN_FEATURES_PATHS = {"features.v1": GOLDEN_FEATURES_PATH, "features.v2": REPO_ROOT / "packages/features/spec/golden.v2.json"}
FEATURE_SPEC_HASHES = {k: file_sha256(v) for k, v in FEATURE_SPEC_PATHS.items()}
# subscores.v2: the sub-scores the service flags and explains (a model's in-graph evidence stays features.v1).
SUB_SCORES_V2_PATH = REPO_ROOT / "packages/features/spec/subscores.v2.json"
GOLDEN_SUB_SCORES_V2_PATH = REPO_ROOT / "packages/features/spec/golden.subscores.v2.json"
# subscores.v3: v2 plus reflection (the responder's fan-in of unsolicited amplification-port replies).
SUB_SCORES_V3_PATH = REPO_ROOT / "packages/features/spec/subscores.v3.json"
GOLDEN_SUB_SCORES_V3_PATH = REPO_ROOT / "packages/features/spec/golden.subscores.v3.json"
# subscores.v4: v3 with an inbound (distributed) scan term in scan (the responder's fan-in of probing initiators).
SUB_SCORES_V4_PATH = REPO_ROOT / "packages/features/spec/subscores.v4.json"
GOLDEN_SUB_SCORES_V4_PATH = REPO_ROOT / "packages/features/spec/golden.subscores.v4.json"
# subscores.v5: v4 with brute force's connection-count term off 443 (its own authentication-port list).
SUB_SCORES_V5_PATH = REPO_ROOT / "packages/features/spec/subscores.v5.json"
GOLDEN_SUB_SCORES_V5_PATH = REPO_ROOT / "packages/features/spec/golden.subscores.v5.json"
SUB_SCORES_V6_PATH = REPO_ROOT / "packages/features/spec/subscores.v6.json"
GOLDEN_SUB_SCORES_V6_PATH = REPO_ROOT / "packages/features/spec/golden.subscores.v6.json"
SUB_SCORES_V7_PATH = REPO_ROOT / "packages/features/spec/subscores.v7.json"
GOLDEN_SUB_SCORES_V7_PATH = REPO_ROOT / "packages/features/spec/golden.subscores.v7.json"
SEQUENCING_SPEC = load_json(SEQUENCING_SPEC_PATH)
FEATURE_SPEC_HASH = file_sha256(FEATURE_SPEC_PATH)
