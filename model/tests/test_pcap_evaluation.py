"""The raw-capture evaluation (model.evaluate_pcaps): ground-truth matching as ground_truth.json defines it, and the
committed PCAP_EVALUATION numbers reproduce through softflowd, the collector's decoder and `tidewatch evaluate`."""

import ipaddress
import json
import shutil

import pytest

from model.evaluate_pcaps import PCAPS, Rule, evaluate_capture, label_of
from model.spec_paths import VERSIONS_DIR

VERSION = (VERSIONS_DIR / "DEFAULT").read_text().strip()


def test_a_rule_matches_either_direction_on_the_b_side_port():
    rules = [Rule({"label": "malicious", "a": ["10.0.0.1/32"], "b": ["192.0.2.0/24"], "proto": "tcp", "ports": [443]}),
             Rule({"label": "benign", "a": ["0.0.0.0/0"], "b": ["224.0.0.252/32"], "proto": "udp", "ports": [5355]}),
             Rule({"label": "unknown", "a": ["10.0.0.1/32"], "b": ["192.0.2.0/24"], "proto": "any", "ports": []})]

    def flow(src, dst, proto, sport, dport):
        return {"src_ip": src, "dst_ip": dst, "protocol": proto, "src_port": sport, "dst_port": dport}

    assert label_of(flow("10.0.0.1", "192.0.2.9", 6, 50000, 443), rules, "benign")[0] == "malicious"
    # the reply direction: the b side's port is the source port
    assert label_of(flow("192.0.2.9", "10.0.0.1", 6, 443, 50000), rules, "benign")[0] == "malicious"
    # a's port being 443 does not make it match: the port belongs to the b side
    assert label_of(flow("10.0.0.1", "192.0.2.9", 6, 443, 50000), rules, "benign")[0] == "unknown"
    assert label_of(flow("10.0.0.1", "192.0.2.9", 17, 50000, 443), rules, "benign")[0] == "unknown"
    assert label_of(flow("10.9.9.9", "224.0.0.252", 17, 5355, 5355), rules, "malicious")[0] == "benign"
    assert label_of(flow("10.9.9.9", "198.51.100.1", 6, 1, 2), rules, "malicious")[0] == "malicious"
    assert label_of(flow("2001:db8::1", "192.0.2.9", 6, 1, 443), rules, "benign")[0] == "benign"
    assert label_of(flow("", "192.0.2.9", 6, 1, 443), rules, "benign")[0] == "unknown"
    assert ipaddress.ip_address("192.0.2.9") in rules[0].b[0]


@pytest.mark.skipif(shutil.which("softflowd") is None or not PCAPS.exists(), reason="needs softflowd and the pcaps")
@pytest.mark.parametrize("name", ["zeek_ftp_bruteforce.pcap", "slips_test-cc-capture-2.pcap", "dnsmal_dnscat2.pcap"])
def test_committed_capture_rows_reproduce(name, tmp_path):
    committed = json.loads((VERSIONS_DIR / VERSION / "pcap_evaluation.json").read_text())
    row = next(r for r in committed["captures"] if r["capture"] == name)
    truth = json.loads((PCAPS / "ground_truth.json").read_text())["files"][name]
    got = evaluate_capture(name, truth, VERSION, committed["netflow"], tmp_path)
    assert got == row
    # every decoded record is a row the importer took, and every labelled flow is counted
    assert got["rejected"] == 0 and got["rows"] == got["records"] == sum(got["flows"].values())
