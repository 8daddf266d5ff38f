"""`m2t data synth` regenerates clips whose facts match their manifest truth."""

import json
from pathlib import Path

import numpy as np

from pipelines.datasets.manifest import load_manifest
from pipelines.datasets.synthetic import SPECS, ClipSpec, Scene, generate_samples
from pipelines.media import probe_media


def test_generated_clip_matches_its_truth(tmp_path: Path):
    spec = ClipSpec("t", "Title", "Desc", "Hello there.", [Scene("skimage:coffee"), Scene("card:GREEN:220,20,20:255,255,255")],
                    2.0, "local-hit", "train")
    silent = ClipSpec("s", "Silent", "", "", [Scene("skimage:horse", caption="HORSE")], None, "local-hit", "test")
    manifest = generate_samples(tmp_path, specs=[spec, silent], include_bunny=False)
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["t", "s"]
    loaded = load_manifest(manifest)
    assert not loaded.errors

    import decord

    for row, item in zip(rows, loaded.items):
        truth = row["truth"]
        reader = decord.VideoReader(item.video_path)
        assert abs(len(reader) / reader.get_avg_fps() - truth["duration_s"]) <= 1 / truth["fps"] + 1e-6
        assert probe_media(Path(item.video_path)).has_audio == truth["has_audio"]

    # the hard cut is at the stated second: the frames just before and after it differ a lot
    reader = decord.VideoReader(loaded.items[0].video_path)
    cut = round(rows[0]["truth"]["cuts_s"][0] * 25)
    before, after, earlier = (reader[i].asnumpy().astype(float) for i in (cut - 1, cut, cut - 2))
    assert np.abs(after - before).mean() > 10 * max(np.abs(before - earlier).mean(), 0.5)
    # the GREEN card: red letters on white
    card = reader[cut + 5].asnumpy()
    reddish = (card[:, :, 0] > 150) & (card[:, :, 1] < 90) & (card[:, :, 2] < 90)
    assert reddish.mean() > 0.02


def test_the_sample_set_is_varied():
    ids = [s.item_id for s in SPECS]
    assert len(ids) == len(set(ids)) and 8 <= len(ids) + 1 <= 12
    assert any(not s.speech for s in SPECS) and any(s.cut_s for s in SPECS)
    assert {s.label for s in SPECS} == {"local-hit", "global-big-hit"} and {s.split for s in SPECS} == {"train", "test"}
