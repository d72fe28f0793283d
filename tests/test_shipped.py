"""The shipped toy weights: ``minirpn.pretrained("toy")``, the file format, and ``toy`` in
the command line wherever a run is asked for."""

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import run_main
from PIL import Image

import minirpn
from minirpn import Config
from minirpn.data import TOY_CLASS_NAMES, ToyShapes
from minirpn.model import Detector
from minirpn.ops import box_iou
from minirpn.runs import CHECKPOINT_NAME, load_run
from minirpn.shipped import SHIPPED, read_weights, save_weights


def test_pretrained_toy_is_the_shipped_file_as_a_float32_detector_in_eval_mode():
    detector = minirpn.pretrained("toy")
    assert isinstance(detector, Detector) and not detector.training
    assert detector.dtype == np.float32 and detector.num_classes == len(TOY_CLASS_NAMES)
    assert detector.cfg == Config.tiny(), "Config.tiny() changed: python benchmarks/toy_weights.py"
    with np.load(SHIPPED["toy"], allow_pickle=False) as archive:
        stored = {k.removeprefix("param/"): archive[k] for k in archive.files if "/" in k}
        made = json.loads(str(archive["made"]))
    assert stored.keys() == detector.params.keys()
    for name, value in stored.items():
        assert value.dtype == np.float16, name
        assert np.array_equal(detector.params[name], value.astype(np.float32)), name
    assert made["seed"] == 0 and made["iterations"] == Config.tiny().max_iters
    assert SHIPPED["toy"].stat().st_size < 5e6


def test_an_unknown_name_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match=r"no shipped weights called 'vgg16'; known: toy"):
        minirpn.pretrained("vgg16")


def test_weights_round_trip_in_float16_and_refuse_what_float16_cannot_hold(tmp_path):
    cfg = Config.tiny(fc_channels=32)
    detector = Detector(cfg, num_classes=2, seed=1)
    detector.params["roi_head.cls_score.bias"][:] = [0.1, -2.5, 1e-3]  # not all exact in float16
    path = tmp_path / "w.npz"
    save_weights(path, detector, ("cat", "dog"), (17, 18), {"seed": 1})
    back = read_weights(path)
    assert back.detector.cfg == cfg and not back.detector.training
    assert back.class_names == ("cat", "dog") and back.category_ids == (17, 18)
    assert back.made == {"seed": 1}
    for name, value in detector.params.items():
        half = value.astype(np.float16).astype(np.float32)
        assert np.array_equal(back.detector.params[name], half), name
    assert back.detector.params["roi_head.cls_score.bias"][0] != np.float32(0.1)  # rounded

    detector.params["rpn.conv.bias"][0] = 7e4  # beyond float16's largest, 65504
    with pytest.raises(ValueError, match=r"rpn\.conv\.bias.*float16"):
        save_weights(tmp_path / "big.npz", detector, ("cat", "dog"), (1, 2), {})
    assert not (tmp_path / "big.npz").exists()

    (tmp_path / "junk.npz").write_bytes(b"not an archive")
    with pytest.raises(ValueError, match="junk.npz"):
        read_weights(tmp_path / "junk.npz")


def test_the_name_toy_wins_over_a_folder_called_toy(tmp_path, run_dir, monkeypatch):
    """A data or run folder called toy is common; "toy" still means the shipped weights,
    "./toy" or Path("toy") the folder."""
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / CHECKPOINT_NAME).write_bytes((run_dir / CHECKPOINT_NAME).read_bytes())
    monkeypatch.chdir(tmp_path)
    shipped, folder = minirpn.pretrained("toy"), load_run(run_dir).detector
    name = "roi_head.fc6.weight"
    assert np.array_equal(load_run("toy").detector.params[name], shipped.params[name])
    for other in ("./toy", Path("toy")):
        assert np.array_equal(load_run(other).detector.params[name], folder.params[name])
    assert load_run("toy").class_names == TOY_CLASS_NAMES and load_run("toy").data is None


@pytest.mark.kernel_sensitive
def test_eval_run_toy_reaches_the_main_jobs_acceptance(capsys):
    code, out, err = run_main(capsys, "eval", "--run", "toy")
    assert code == 0, err
    map50 = float(out.split("mAP@0.5 = ")[1].split()[0])
    assert map50 >= 0.98, out


@pytest.mark.kernel_sensitive
def test_detect_run_toy_finds_every_object_of_toy_images(tmp_path, capsys):
    """Each object of four validation images: a detection of its class, score >= 0.5, IoU >= 0.7."""
    val = ToyShapes("val")
    paths = []
    for index in range(4):
        paths.append(tmp_path / f"val_{index}.png")
        Image.fromarray(val[index].image).save(paths[-1])
    code, _, err = run_main(capsys, "detect", "--run", "toy", *paths, "--out", tmp_path / "d")
    assert code == 0, err
    found = json.loads((tmp_path / "d" / "detections.json").read_text())
    for index in range(4):
        sample = val[index]
        mine = [d for d in found if d["image_id"] == index + 1 and d["score"] >= 0.5]
        boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (d["bbox"] for d in mine)])
        iou = box_iou(sample.boxes, boxes.reshape(-1, 4))
        iou[sample.labels[:, None] != np.array([d["category_id"] for d in mine])[None, :]] = 0
        assert (iou.max(axis=1, initial=0) >= 0.7).all(), (index, iou)


@pytest.mark.parametrize("kind", ["proposals", "detections"])
def test_show_takes_toy_as_checkpoint(tmp_path, kind, capsys, monkeypatch):
    """The picture is drawn with the shipped detector, not a folder's or an untrained one."""
    import matplotlib.pyplot as plt

    from minirpn.visualize import scenes

    drawn = []

    def record(image, detector, *args):
        drawn.append(detector)
        return plt.figure()

    monkeypatch.setattr(scenes, f"{kind}_figure", record)
    out = tmp_path / "p.png"
    code, _, err = run_main(capsys, "show", kind, "--checkpoint", "toy", "--out", out)
    assert code == 0 and out.exists(), err
    name = "rpn.cls_score.weight"
    assert np.array_equal(drawn[0].params[name], minirpn.pretrained("toy").params[name])
