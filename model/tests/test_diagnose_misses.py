"""model.diagnose_misses: the sequences it dumps are the ones `tidewatch evaluate` counts, with every sub-score
version, and MISSES.md's sections for the ping sweep, SSH guessing and SNMP reflection reproduce."""

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from model.diagnose_misses import dump_sequences, labelled_flows, summarize
from model.evaluate_pcaps import PCAPS
from model.baselines import SERVICE_SUB_SCORES
from model.features import sub_scores, sub_scores_v2, sub_scores_v3, sub_scores_v4, sub_scores_v5, sub_scores_v6, sub_scores_v7
from model.spec_paths import VERSIONS_DIR

VERSION = (VERSIONS_DIR / "DEFAULT").read_text().strip()
pytestmark = pytest.mark.skipif(shutil.which("softflowd") is None or not PCAPS.exists(),
                                reason="needs softflowd and ../shared/testdata/pcaps")


@pytest.mark.parametrize("name", ["slips_test12-icmp-portscan.pcap", "zeek_ssh_sshguess.pcap",
                                  "stopddos_amp.UDP.snmp.src161.pcapng"])
def test_dumped_sequences_match_the_pcap_evaluation_and_misses_report(name):
    truth = json.loads((PCAPS / "ground_truth.json").read_text())["files"][name]
    with tempfile.TemporaryDirectory() as tmp:
        seqs = dump_sequences(labelled_flows(name, truth, Path(tmp)), VERSION)
    row = next(r for r in json.loads((VERSIONS_DIR / VERSION / "pcap_evaluation.json").read_text())["captures"]
               if r["capture"] == name)
    assert len(seqs) == row["sequences"]
    # The service's flags are the detector's default version's (SERVICE_SUB_SCORES, subscores.v7).
    service = f"sub_{SERVICE_SUB_SCORES}"
    raised = sum(s["score"] >= s["threshold"] or max(s[service].values()) >= 0.8 for s in seqs)
    assert raised == row["alerts_per_sequence"]["tp"] + row["alerts_per_sequence"]["fp"]
    for s in seqs:
        # The TypeScript sub-scores of the dump equal the Python twins on the same sequence.
        for got, want in ((s["sub_v1"], sub_scores(s)), (s["sub_v2"], sub_scores_v2(s)), (s["sub_v3"], sub_scores_v3(s)),
                          (s["sub_v4"], sub_scores_v4(s)), (s["sub_v5"], sub_scores_v5(s)),
                          (s["sub_v6"], sub_scores_v6(s)), (s["sub_v7"], sub_scores_v7(s))):
            assert all(abs(got[k] - want[k]) < 1e-12 for k in want), s["sequence_id"]
    section = "\n".join(summarize(name, seqs))
    assert section in (VERSIONS_DIR / VERSION / "MISSES.md").read_text()
