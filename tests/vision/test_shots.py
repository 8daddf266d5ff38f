"""Hard cuts at known seconds are found within one scanned frame."""

from pathlib import Path

import pytest

from pipelines.datasets.synthetic import ClipSpec, Scene, render_clip
from pipelines.vision.shots import ShotParams, find_cuts, motion_level, scan_video
from tests.conftest import SAMPLES


@pytest.mark.parametrize("cut_s", [1.72, 2.4])
def test_generated_cut_is_found_within_one_scanned_frame(tmp_path: Path, cut_s: float):
    spec = ClipSpec("cut", "", "", "", [Scene("skimage:chelsea"), Scene("skimage:rocket")], cut_s, "local-hit", "test")
    render_clip(spec, tmp_path / "cut.mp4", tmp_path)
    params = ShotParams()
    scan = scan_video(tmp_path / "cut.mp4", params)
    step = scan.times_s[1] - scan.times_s[0]
    assert len(scan.cuts_s) == 1
    assert abs(scan.cuts_s[0] - cut_s) <= step + 1e-6
    assert len(scan.shots) == 2 and scan.shots[0] == (0.0, scan.cuts_s[0])


def test_sample_clips_cuts_match_their_truth(sample_rows):
    for row in sample_rows:
        if "cuts_s" not in row["truth"]:
            continue
        scan = scan_video(SAMPLES / row["path"])
        step = scan.times_s[1] - scan.times_s[0]
        assert len(scan.cuts_s) == len(row["truth"]["cuts_s"]), row["id"]
        for found, truth in zip(scan.cuts_s, row["truth"]["cuts_s"]):
            assert abs(found - truth) <= step + 1e-6, row["id"]


def test_cut_rule_ignores_steady_motion_and_merges_close_cuts():
    import numpy as np

    params = ShotParams(threshold=0.08, ratio=3.0, window=9, min_shot_s=0.4)
    steady = np.full(50, 0.1)  # a fast pan: large but uniform differences
    assert find_cuts(steady, params, 0.08) == []
    spikes = np.full(50, 0.01)
    spikes[[10, 11, 30]] = [0.3, 0.5, 0.4]  # two spikes one frame apart count once (the larger)
    assert find_cuts(spikes, params, 0.08) == [12, 31]


def test_motion_levels():
    assert motion_level(None) == "unknown"
    assert motion_level(0.0) == "static" and motion_level(0.02) == "moderate" and motion_level(0.5) == "high"
