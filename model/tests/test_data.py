import pytest

from model.data import labelled_captures, read_capture, read_user_file, tactic_matrix, TACTICS


def _cap(name):
    return next(c for c in labelled_captures() if c.name == name)


def test_iot23_42_1_merged_label_field_and_irc_correction():
    t = read_capture(_cap("iot23-42-1"))
    assert t["label"].shape[0] == 4426
    # 3 FileDownload + 3 C&C-FileDownload upstream, plus the 1,947 IRC C&C flows we relabel malicious.
    assert int((t["label"] == 1).sum()) == 6 + 1947
    assert int((t["attack"] == "C&C-IRC (corrected)").sum()) == 1947


def test_nmap_json_without_labels():
    t = read_capture(_cap("nmap-portscan"))
    assert t["label"].shape[0] == 4504
    assert int((t["label"] == 1).sum()) == 4496 and int((t["label"] == 0).sum()) == 8
    tac = tactic_matrix("nmap-portscan", t["label"], t["attack"])
    assert tac[:, TACTICS.index("TA0043")].sum() == 4496


def test_ctu50_background_is_unlabelled_and_relative_times_kept():
    t = read_capture(_cap("ctu50-normal-40-day1"))
    assert (int((t["label"] == 1).sum()), int((t["label"] == 0).sum()), int((t["label"] == -1).sum())) == (4201, 1402, 60)
    b = read_capture(_cap("mcfp-botnet-4"))
    assert b["start_ms"].min() == 10_300 or b["start_ms"].min() < 20_000


def test_tempo_csv_and_zeek_tsv(tmp_path):
    csv = tmp_path / "flows.csv"
    csv.write_text(
        "timestamp,flow_dur,src_ip,dest_ip,src_port,dest_port,fwd_bytes,bwd_bytes,total_fwd_pkts,total_bwd_pkts,label\n"
        "1700000000.5,1.25,10.0.0.1,10.0.0.2,50000,443,100,200,2,3,0\n"
        "2023-11-14T22:13:21Z,0,10.0.0.1,10.0.0.3,50001,22,5,0,1,0,malicious\n"
        "not-a-time,0,10.0.0.1,10.0.0.3,1,2,3,4,5,6,1\n"
    )
    t = read_user_file(csv)
    assert t["label"].tolist() == [0, 1]
    assert t["start_ms"].tolist() == [1700000000500, 1700000001000]
    assert t["end_ms"][0] == 1700000001750 and t["protocol"].tolist() == [0, 0]
    assert t["tcp_flags"].tolist() == [0, 0], "no tcp_flags column: unknown"
    flagged = tmp_path / "flags.csv"
    flagged.write_text(
        "timestamp,flow_dur,src_ip,dest_ip,src_port,dest_port,fwd_bytes,bwd_bytes,total_fwd_pkts,total_bwd_pkts,label,protocol,attack,tcp_flags\n"
        "1700000000.5,1,10.0.0.1,10.0.0.2,50000,22,100,200,3,4,0,6,,27\n"
        "1700000000.5,1,10.0.0.1,10.0.0.2,50001,22,100,200,3,4,0,6,,0x12\n"
        "1700000000.5,1,10.0.0.1,10.0.0.2,50002,53,100,200,1,1,0,17,,\n"
    )
    assert read_user_file(flagged)["tcp_flags"].tolist() == [27, 0x12, 0]
    zeek = tmp_path / "conn.log"
    zeek.write_text(
        "#separator \\x09\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\tlabel\tdetailed-label\n"
        "1.5\tC1\t10.0.0.1\t5000\t10.0.0.2\t23\ttcp\t-\t-\t-\t-\tS0\t-\t-\t0\tS\t1\t40\t0\t0\t-   Malicious   PartOfAHorizontalPortScan\n"
    )
    z = read_user_file(zeek)
    assert z["label"].tolist() == [1] and z["attack"].tolist() == ["PartOfAHorizontalPortScan"]
    assert z["tcp_flags"].tolist() == [0x02] and z["end_ms"].tolist() == [1500]
