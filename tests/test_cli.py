"""The ``minirpn`` command: a detect round trip, toy data on disk, and one-line errors."""

import argparse
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import run_main
from PIL import Image

from minirpn import Config
from minirpn.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from minirpn.cli import EXIT_ERROR, EXIT_USAGE
from minirpn.data import TOY_CLASS_NAMES, CocoDataset, Sample, ToyShapes, write_coco
from minirpn.model import Detector
from minirpn.run_state import RunState
from minirpn.runs import CHECKPOINT_NAME, load_run


def assert_one_line_error(code, err, expected_code, *fragments):
    assert code == expected_code
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err


def test_make_toy_data_then_detect_round_trip(tmp_path, run_dir, capsys):
    code, out, _ = run_main(
        capsys, "make-toy-data", "--out", tmp_path / "toy", "--split", "val", "--num-images", 3
    )
    assert code == 0
    data = CocoDataset(tmp_path / "toy")
    toy = ToyShapes("val", num_images=3)
    assert len(data) == 3 and data.class_names == TOY_CLASS_NAMES
    np.testing.assert_array_equal(data[1].image, toy[1].image)
    np.testing.assert_allclose(data[1].boxes, toy[1].boxes)

    images = sorted((tmp_path / "toy" / "images").iterdir())
    gray = tmp_path / "gray.png"
    Image.open(images[0]).convert("L").save(gray)  # grayscale input works too
    inputs = [*images, gray]
    code, out, err = run_main(
        capsys, "detect", "--run", run_dir, *inputs, "--out", tmp_path / "det"
    )
    assert code == 0, err

    results = json.loads((tmp_path / "det" / "detections.json").read_text())
    detector = load_run(run_dir).detector
    for image_id, path in enumerate(inputs, start=1):
        with Image.open(tmp_path / "det" / f"{path.stem}_detections.png") as picture:
            assert picture.format == "PNG" and picture.size[0] > 4 * 128  # enlarged to read
        mine = [r for r in results if r["image_id"] == image_id]
        boxes, scores, labels = detector.detect(np.asarray(Image.open(path)))
        assert len(mine) == len(boxes) > 0
        for r, box, score, label in zip(mine, boxes, scores, labels, strict=True):
            assert r["file_name"] == str(path)  # as given on the command line
            assert r["category_id"] == label and 1 <= label <= len(TOY_CLASS_NAMES)
            assert r["category_name"] == TOY_CLASS_NAMES[label - 1]
            x, y, w, h = r["bbox"]  # COCO: top-left corner, width, height
            np.testing.assert_allclose([x, y, x + w, y + h], box, rtol=1e-6)
            assert w >= 0 and h >= 0 and r["score"] == pytest.approx(float(score))


def test_detect_with_missing_image(tmp_path, run_dir, capsys):
    code, _, err = run_main(
        capsys, "detect", "--run", run_dir, tmp_path / "nope.png", "--out", tmp_path
    )
    assert_one_line_error(code, err, EXIT_ERROR, "nope.png", "does not exist")


def test_detect_with_unreadable_image(tmp_path, run_dir, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"this is not a PNG")
    code, _, err = run_main(capsys, "detect", "--run", run_dir, bad, "--out", tmp_path / "out")
    assert_one_line_error(code, err, EXIT_ERROR, "bad.png")
    assert not (tmp_path / "out" / "detections.json").exists()


def test_missing_and_corrupt_checkpoints(tmp_path, capsys):
    code, _, err = run_main(capsys, "eval", "--run", tmp_path / "no_run")
    assert_one_line_error(code, err, EXIT_ERROR, "checkpoint.npz", "does not exist")
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"garbage")
    code, _, err = run_main(capsys, "eval", "--run", tmp_path)
    assert_one_line_error(code, err, EXIT_ERROR, "not a readable minirpn checkpoint")
    code, _, err = run_main(capsys, "train", "--resume", tmp_path, "--no-progress")
    assert_one_line_error(code, err, EXIT_ERROR, "not a readable minirpn checkpoint")


def test_an_old_checkpoint_without_training_state_is_refused_naming_the_field(
    tmp_path, run_dir, capsys
):
    """A version-2 checkpoint whose free-form state has no seed: its run state is checked whole
    on load, so resuming and evaluating it are refused naming the file and the field."""
    with np.load(run_dir / CHECKPOINT_NAME) as archive:
        entries = {k: archive[k] for k in archive.files if k != "run_state"}
    entries["format_version"] = np.array(2)
    entries["extra"] = np.array(json.dumps({"class_names": ["a"] * 4}))
    with open(tmp_path / CHECKPOINT_NAME, "wb") as f:
        np.savez(f, **entries)
    for argv in (("train", "--resume", tmp_path, "--no-progress"), ("eval", "--run", tmp_path)):
        code, _, err = run_main(capsys, *argv)
        assert_one_line_error(code, err, EXIT_ERROR, CHECKPOINT_NAME, "run state field seed")


def test_bad_command_lines_are_usage_errors(tmp_path, capsys):
    code, _, err = run_main(capsys, "train", "--iters", "-5")
    assert_one_line_error(code, err, EXIT_USAGE, "--iters")
    code, _, err = run_main(capsys, "train", "--iters", "abc")
    assert_one_line_error(
        code, err, EXIT_USAGE, "argument --iters: must be a positive integer, got 'abc'"
    )
    assert "_positive_int" not in err
    code, _, err = run_main(
        capsys, "detect", "--run", "toy", "x.png", "--out", tmp_path, "--score-threshold", "2"
    )
    assert_one_line_error(code, err, EXIT_USAGE, "--score-threshold: must be a number from 0 to 1")
    code, _, err = run_main(capsys, "frobnicate")
    assert_one_line_error(code, err, EXIT_USAGE, "frobnicate")
    code, _, err = run_main(capsys, "train", "--resume", tmp_path, "--lr", "0.1")
    assert_one_line_error(code, err, EXIT_USAGE, "--lr")


def test_console_script_error_has_no_traceback(tmp_path):
    """The real process: exit code and stderr as a user sees them."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "minirpn.cli",
            "detect",
            "--run",
            str(tmp_path),
            str(tmp_path / "x.png"),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_one_line_error(proc.returncode, proc.stderr, EXIT_ERROR, "checkpoint")


def test_the_command_chooses_its_blas_threads_before_numpy_loads():
    """OPENBLAS_NUM_THREADS counts only if set before NumPy loads, so importing the package
    and its command line must not import NumPy (when Config imported the RoI layers, it did:
    training ran two BLAS threads, 3-6x slower on a busy two-core machine)."""
    code = "import sys, minirpn.cli; print(sorted(m for m in sys.modules if 'numpy' in m)[:3])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_train_writes_the_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, err = run_main(
        capsys,
        "train",
        "--out",
        out,
        "--iters",
        2,
        "--batch-size",
        1,
        "--val-images",
        6,
        "--no-progress",
    )
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    types = {
        "map50": float,
        "map": float,
        "per_class_ap50": dict,
        "per_class_ap": dict,
        "coco": dict,
        "num_images": int,
        "split_images": int,
        "train_seconds": float,
        "iterations": int,
        "seconds_per_iteration": float,
        "images_per_batch": int,
        "class_names": list,
    }
    assert {key: type(value) for key, value in metrics.items()} == types
    assert metrics["iterations"] == 2 and metrics["num_images"] == 6
    assert metrics["images_per_batch"] == 1 and metrics["class_names"] == list(TOY_CLASS_NAMES)
    assert 0.0 <= metrics["map"] <= metrics["map50"] <= 1.0
    for key in ("per_class_ap50", "per_class_ap"):
        assert list(metrics[key]) == list(TOY_CLASS_NAMES)
        assert all(ap is None or isinstance(ap, float) for ap in metrics[key].values())
    assert metrics["seconds_per_iteration"] == pytest.approx(metrics["train_seconds"] / 2)
    pictures = (
        "loss_curve.png",
        "val_detections.png",
        "anchors.png",
        "labels.png",
        "proposals.png",
    )
    for name in ("checkpoint.npz", "history.csv", *pictures):
        assert (out / name).stat().st_size > 0
    lines = stdout.splitlines()
    assert lines[0] == f"run folder: {out}"
    for name in ("checkpoint.npz", "metrics.json", "history.csv", *pictures):  # and what each is
        assert any(line.startswith(f"  {name} ") and len(line) > 40 for line in lines), name
    assert any(line.startswith("validation mAP@0.5 = ") for line in lines)
    assert "(6 of the split's 200 images)" in stdout
    assert "COCO's mAP" in stdout and "tight" in stdout  # why the two mAPs differ
    assert f"AP at IoU 0.75: {metrics['coco']['AP75']:.4f}" in stdout
    for command in ("eval --run", "detect --run", "show detections --checkpoint"):
        assert f"minirpn {command} {out}" in stdout
    history = np.genfromtxt(out / "history.csv", delimiter=",", names=True)
    assert history["iteration"].tolist() == [1, 2]
    assert np.isnan(history["val_map50"]).all()  # no --eval-every


def test_train_and_eval_on_a_coco_folder(tmp_path, capsys):
    """make-toy-data writes DIR/train and DIR/val; --data trains and evaluates on them."""
    data = tmp_path / "toy"
    assert run_main(capsys, "make-toy-data", "--out", data, "--num-images", 4)[0] == 0
    out = tmp_path / "run"
    code, _, err = run_main(
        capsys,
        "train",
        "--data",
        data,
        "--out",
        out,
        "--iters",
        2,
        "--val-images",
        3,
        "--no-progress",
    )
    assert code == 0, err
    assert json.loads((out / "metrics.json").read_text())["num_images"] == 3
    run = load_run(out)
    assert run.data == str(data.resolve()) and run.class_names == TOY_CLASS_NAMES
    code, stdout, err = run_main(capsys, "eval", "--run", out)  # the run's own data
    assert code == 0 and "mAP@0.5" in stdout, err

    (data / "val" / "annotations.json").unlink()
    code, _, err = run_main(capsys, "train", "--data", data, "--out", out, "--overwrite")
    assert_one_line_error(code, err, EXIT_ERROR, "annotations.json")


# ----------------------------------------------------------------- issue 13: bad input


def test_eval_with_a_class_missing_from_the_images_says_so(run_dir, capsys):
    """D1: the first validation image holds only circles; the other classes have no AP."""
    assert ToyShapes("val")[0].labels.tolist() == [1]
    code, out, err = run_main(capsys, "eval", "--run", run_dir, "--val-images", 1)
    assert code == 0, err
    assert "AP@0.5 square     n/a (no ground truth in these images)" in out


@pytest.mark.parametrize("command", ["train", "make-toy-data"])
def test_a_negative_seed_is_a_usage_error_naming_the_option(tmp_path, capsys, command):
    code, _, err = run_main(capsys, command, "--out", tmp_path, "--seed", -1)
    assert_one_line_error(code, err, EXIT_USAGE, "--seed", "-1")


def test_a_batch_that_cannot_fit_in_memory_is_refused_before_training(tmp_path, capsys):
    code, _, err = run_main(capsys, "train", "--out", tmp_path, "--batch-size", 100000)
    assert_one_line_error(code, err, EXIT_ERROR, "--batch-size 100000 would need about", "GB")
    assert not (tmp_path / CHECKPOINT_NAME).exists()


def test_bad_data_is_listed_before_training_starts(tmp_path, capsys):
    data = tmp_path / "toy"
    assert run_main(capsys, "make-toy-data", "--out", data, "--num-images", 3)[0] == 0
    json_path = data / "train" / "annotations.json"
    coco = json.loads(json_path.read_text())
    coco["annotations"][0]["bbox"] = [500, 500, 10, 10]  # outside the 128x128 image
    coco["annotations"][1]["bbox"][2] = 0  # empty
    coco["annotations"][2]["bbox"][0] = -3  # partly outside: clipped, a warning
    json_path.write_text(json.dumps(coco))
    (data / "val" / "images" / "val_00001.png").write_bytes(b"\x89PNG broken")
    code, _, err = run_main(capsys, "train", "--data", data, "--out", tmp_path / "run")
    assert code == EXIT_ERROR and "Traceback" not in err
    lines = err.strip().splitlines()
    first_error = next(i for i, line in enumerate(lines) if line.startswith("minirpn: error"))
    warnings, errors = lines[:first_error], lines[first_error:]
    assert all(line.startswith("minirpn: warning: ") for line in warnings)
    assert any("annotation 3: bbox [-3, " in line for line in warnings)
    assert errors[0] == f"minirpn: error: data folder {str(data)!r} cannot be used: 3 problem(s)"
    for fragment in (
        f"{json_path}: annotation 1: bbox [500, 500, 10, 10] lies entirely",
        f"{json_path}: annotation 2: has a degenerate bbox",
        "val_00001.png: cannot read image",
    ):
        assert sum(fragment in line for line in errors[1:]) == 1, (fragment, errors)
    assert len(errors) == 4
    assert not (tmp_path / "run" / CHECKPOINT_NAME).exists()


def test_voc_and_coco_forms_of_the_same_images_train_and_evaluate_alike(tmp_path, capsys):
    """make-toy-data --format voc; train --data on either layout: the same weights and mAP."""
    metrics, params = {}, {}
    for fmt in ("coco", "voc"):
        data = tmp_path / fmt
        argv = ["make-toy-data", "--out", data, "--num-images", 4, "--format", fmt]
        assert run_main(capsys, *argv)[0] == 0
        out = tmp_path / f"run_{fmt}"
        code, _, err = run_main(
            capsys, "train", "--data", data, "--out", out, "--iters", 2, "--batch-size", 1,
            "--val-images", 3, "--no-progress",
        )  # fmt: skip
        assert code == 0, err
        metrics[fmt] = json.loads((out / "metrics.json").read_text())
        params[fmt] = load_checkpoint(out / CHECKPOINT_NAME).params
        assert load_run(out).class_names == TOY_CLASS_NAMES
        assert metrics[fmt]["class_names"] == list(TOY_CLASS_NAMES)
    assert (tmp_path / "voc" / "ImageSets" / "Main" / "val.txt").is_file()
    for key in ("map50", "map", "per_class_ap50"):
        assert metrics["voc"][key] == metrics["coco"][key]
    for name, value in params["coco"].items():
        np.testing.assert_array_equal(params["voc"][name], value)
    code, out, err = run_main(capsys, "eval", "--run", tmp_path / "run_voc")
    assert code == 0 and "mAP@0.5" in out, err


# ------------------------------------------- eval and detect against hand-worked answers
CATS_AND_DOGS = ("cat", "dog")


def rigged_run(path, category_ids):
    """A run folder for the classes cat and dog with the given COCO category ids."""
    cfg = Config.tiny()
    save_checkpoint(
        path / CHECKPOINT_NAME,
        Checkpoint(
            config=cfg,
            params=Detector(cfg, num_classes=2, seed=0).params,
            momentum={},
            iteration=0,
            rng_state=np.random.default_rng(0).bit_generator.state,
            run=RunState(
                seed=0,
                scheme="approximate-joint",
                data=None,
                class_names=CATS_AND_DOGS,
                category_ids=tuple(category_ids),
            ),
        ),
    )
    return path


def test_detect_writes_coco_results_through_the_category_ids(tmp_path, capsys, monkeypatch):
    """A detector with known output: the JSON holds [x, y, w, h] and the category id of
    each label (labels 1, 2 -> ids 17, 90 of the training data's COCO file)."""
    run = rigged_run(tmp_path / "run", category_ids=(17, 90))
    boxes = np.array([[1.5, 2.0, 11.5, 22.0], [30.0, 40.0, 60.0, 45.0]], np.float32)
    scores = np.array([0.75, 0.5], np.float32)
    monkeypatch.setattr(
        Detector, "detect", lambda self, image: (boxes, scores, np.array([2, 1], np.int64))
    )
    images = []
    for name in ("a.png", "b.png"):
        images.append(tmp_path / name)
        Image.fromarray(np.zeros((64, 80, 3), np.uint8)).save(images[-1])
    code, out, err = run_main(capsys, "detect", "--run", run, *images, "--out", tmp_path / "det")
    assert code == 0, err
    # A score equal to the threshold (0.5) is drawn, and counted as drawn.
    picture = tmp_path / "det" / "a_detections.png"
    assert out.splitlines()[0] == f"{images[0]}: 2 detections, 2 scoring >= 0.5 drawn in {picture}"
    expected = [
        {
            "image_id": image_id,
            "file_name": str(path),
            "category_id": cat,
            "category_name": name,
            "bbox": bbox,
            "score": sc,
        }
        for image_id, path in enumerate(images, start=1)
        for cat, name, bbox, sc in (
            (90, "dog", [1.5, 2.0, 10.0, 20.0], 0.75),
            (17, "cat", [30.0, 40.0, 30.0, 5.0], 0.5),
        )
    ]
    assert json.loads((tmp_path / "det" / "detections.json").read_text()) == expected
    with Image.open(tmp_path / "det" / "a_detections.png") as picture:
        assert picture.format == "PNG"
    # --score-threshold: what is drawn and counted; the JSON keeps every detection.
    code, out, err = run_main(
        capsys,
        "detect",
        "--run",
        run,
        images[0],
        "--out",
        tmp_path / "d2",
        "--score-threshold",
        0.6,
    )
    assert code == 0, err
    picture = tmp_path / "d2" / "a_detections.png"
    assert out.splitlines()[0] == f"{images[0]}: 2 detections, 1 scoring >= 0.6 drawn in {picture}"
    assert len(json.loads((tmp_path / "d2" / "detections.json").read_text())) == 2


class _Images:
    """A two-image validation split for write_coco: image 1 all 10s, image 2 all 20s."""

    class_names = CATS_AND_DOGS

    def __init__(self):
        self.samples = [
            Sample(
                np.full((32, 32, 3), 10, np.uint8),
                np.array([[2, 2, 12, 12], [16, 16, 30, 30]], np.float32),
                np.array([1, 2]),
                "a.png",
            ),
            Sample(
                np.full((32, 32, 3), 20, np.uint8),
                np.array([[0, 0, 10, 10]], np.float32),
                np.array([1]),
                "b.png",
            ),
        ]

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        return self.samples[index]


def test_eval_prints_the_aps_worked_by_hand(tmp_path, capsys, monkeypatch):
    """cat: TP (0.9), FP (0.8), TP (0.6) of G = 2 -> recall 1/2, 1/2, 1 at precision 1, 1/2,
    2/3 -> AP 1/2 + 1/2 * 2/3 = 5/6 at every IoU threshold (the hits are exact).
    dog: one detection at IoU exactly 0.5 (half of the box) -> AP 1 at 0.5, 0 above.
    mAP@0.5 = (5/6 + 1) / 2 = 0.9167; COCO mAP = (11/12 + 9 * 5/12) / 10 = 0.4667."""
    write_coco(_Images(), tmp_path / "data" / "val")
    run = rigged_run(tmp_path / "run", category_ids=(1, 2))
    by_image = {
        10: ([[2, 2, 12, 12], [20, 0, 30, 10], [16, 16, 30, 23]], [0.9, 0.8, 0.7], [1, 1, 2]),
        20: ([[0, 0, 10, 10]], [0.6], [1]),
    }

    def detect(self, image):
        boxes, scores, labels = by_image[int(image[0, 0, 0])]
        return np.array(boxes, np.float32), np.array(scores, np.float32), np.array(labels)

    monkeypatch.setattr(Detector, "detect", detect)
    results = tmp_path / "results.json"
    code, out, err = run_main(
        capsys, "eval", "--run", run, "--data", tmp_path / "data", "--out", results
    )
    assert code == 0, err
    # COCO's summary: every object is small (areas 100, 196, 100). AP75: cat 5/6, dog 0.
    # AR (the recall at the end): cat 1 at every threshold, dog 1 at 0.5 only (1/10);
    # one detection per image and class keeps cat's hits (0.9 and 0.6): AR1 = AR100.
    assert out.splitlines() == [
        "validation mAP@0.5 = 0.9167   COCO mAP@[.5:.95] = 0.4667   (2 of the split's 2 images)",
        "  AP@0.5 cat        0.8333",
        "  AP@0.5 dog        1.0000",
        "COCO summary (AP computed as above, all-point):",
        "  AP        0.4667  IoU 0.50:0.95, every size, at most 100 detections per image and class",
        "  AP50      0.9167  IoU 0.50",
        "  AP75      0.4167  IoU 0.75",
        "  AP_small  0.4667  objects of area < 32² pixels",
        "  AP_medium n/a     objects of area 32² to 96² (no object of this size)",
        "  AP_large  n/a     objects of area > 96² (no object of this size)",
        "  AR1       0.5500  recall with at most 1 detection per image and class, IoU 0.50:0.95",
        "  AR10      0.5500  at most 10",
        "  AR100     0.5500  at most 100",
        "  AR_small  0.5500  at most 100, objects of area < 32²",
        "  AR_medium n/a     objects of area 32² to 96² (no object of this size)",
        "  AR_large  n/a     objects of area > 96² (no object of this size)",
        f"wrote {results}",
    ]
    written = json.loads(results.read_text())
    assert written["map50"] == pytest.approx(11 / 12) and written["num_images"] == 2
    assert written["coco"]["AP75"] == pytest.approx(5 / 12) and written["run"] == str(run)


def permuted_copy(source, target, new_id):
    """``target``: the COCO split folder ``source`` with every category id replaced by
    ``new_id[id]`` (the names stay with their objects, the label order changes)."""
    coco = json.loads((source / "annotations.json").read_text())
    for category in coco["categories"]:
        category["id"] = new_id[category["id"]]
    for annotation in coco["annotations"]:
        annotation["category_id"] = new_id[annotation["category_id"]]
    target.mkdir(parents=True)
    (target / "annotations.json").write_text(json.dumps(coco))
    (target / "images").symlink_to(source / "images")
    return target


@pytest.mark.kernel_sensitive  # the shipped model finds the objects (mAP > 0.5)
def test_a_val_set_with_permuted_category_ids_scores_the_same(tmp_path, capsys):
    """Classes are matched by name: the toy val set with its ids permuted (so its label
    order is square, bar, circle, triangle) scores exactly what the original does."""
    original = tmp_path / "original"
    argv = ["make-toy-data", "--out", original / "val", "--split", "val", "--num-images", 12]
    assert run_main(capsys, *argv)[0] == 0
    permuted = tmp_path / "permuted"
    permuted_copy(original / "val", permuted / "val", {1: 3, 2: 1, 3: 4, 4: 2})
    assert CocoDataset(permuted / "val").class_names == ("square", "bar", "circle", "triangle")
    results = {}
    for data in (original, permuted):
        out = tmp_path / f"{data.name}.json"
        code, _, err = run_main(capsys, "eval", "--run", "toy", "--data", data, "--out", out)
        assert code == 0, err
        results[data.name] = json.loads(out.read_text())
    for key in ("map50", "map", "per_class_ap50", "per_class_ap", "coco"):
        assert results["permuted"][key] == results["original"][key], key
    assert results["original"]["map50"] > 0.5  # the classes really were matched

    coco = json.loads((permuted / "val" / "annotations.json").read_text())
    coco["categories"][0]["name"] = "disc"
    (permuted / "val" / "annotations.json").write_text(json.dumps(coco))
    code, _, err = run_main(capsys, "eval", "--run", "toy", "--data", permuted)
    assert_one_line_error(
        code,
        err,
        EXIT_ERROR,
        "the data's classes ['square', 'bar', 'disc', 'triangle'] are not the run's "
        "['circle', 'square', 'triangle', 'bar']",
    )


def test_roi_op_option_reaches_the_config_and_cannot_change_on_resume(
    tmp_path, capsys, monkeypatch
):
    import minirpn.train

    seen = {}

    def fake_train(cfg, run_dir, **kwargs):  # the option's effect, without the training
        seen["cfg"] = cfg
        raise ValueError("stop here")

    monkeypatch.setattr(minirpn.train, "train", fake_train)
    code, _, err = run_main(capsys, "train", "--out", tmp_path, "--roi-op", "align")
    assert "stop here" in err and seen["cfg"].roi_op == "align"
    run_main(capsys, "train", "--out", tmp_path)
    assert seen["cfg"].roi_op == "pool"  # the paper's RoI pooling by default (F19)
    code, _, err = run_main(capsys, "train", "--resume", tmp_path, "--roi-op", "pool")
    assert_one_line_error(code, err, EXIT_USAGE, "--roi-op")
    code, _, err = run_main(capsys, "train", "--roi-op", "max")
    assert_one_line_error(code, err, EXIT_USAGE, "--roi-op")
    # Non-approximate joint training needs RoIAlign: chosen for it, pool refused.
    run_main(capsys, "train", "--out", tmp_path, "--scheme", "non-approximate-joint")
    assert seen["cfg"].roi_op == "align"
    code, _, err = run_main(
        capsys, "train", "--scheme", "non-approximate-joint", "--roi-op", "pool"
    )
    assert_one_line_error(code, err, EXIT_USAGE, "needs a --roi-op with a gradient", "(align)")


def test_scheme_choices_follow_the_registry(tmp_path, capsys, monkeypatch):
    import minirpn.train
    from minirpn.schemes import SCHEMES

    seen = []

    def fake_train(cfg, run_dir, **kwargs):
        seen.append(kwargs["scheme"])
        raise ValueError("stop here")

    monkeypatch.setattr(minirpn.train, "train", fake_train)
    for name in SCHEMES:
        run_main(capsys, "train", "--out", tmp_path, "--scheme", name)
    assert seen == list(SCHEMES)
    code, _, err = run_main(capsys, "train", "--scheme", "joint")
    assert_one_line_error(code, err, EXIT_USAGE, "--scheme", "alternating")


def test_alternating_gets_the_original_budget_unless_iters_is_given(tmp_path, capsys, monkeypatch):
    """py-faster-rcnn: 80k + 40k + 80k + 40k alternating where end to end runs 70k (F20)."""
    import minirpn.train
    from minirpn.schemes.alternating import step_iterations

    seen = {}

    def fake_train(cfg, run_dir, **kwargs):
        seen["cfg"] = cfg
        raise ValueError("stop here")

    monkeypatch.setattr(minirpn.train, "train", fake_train)
    run_main(capsys, "train", "--out", tmp_path, "--scheme", "alternating")
    # 2500 x 240 / 70 = 8571.4; the lr step 2000 x 8571 / 2500 = 6856.7.
    assert (seen["cfg"].max_iters, seen["cfg"].lr_steps) == (8571, (6857,))
    assert step_iterations(seen["cfg"]) == (2857, 1428, 2857, 1429)
    run_main(capsys, "train", "--out", tmp_path, "--scheme", "alternating", "--iters", "600")
    assert seen["cfg"].max_iters == 600
    run_main(capsys, "train", "--out", tmp_path)
    assert seen["cfg"].max_iters == 2500


# ----------------------------------------------------------------- issue 23: commands


def test_one_bad_image_is_reported_by_name_and_the_others_are_processed(tmp_path, capsys):
    good = [tmp_path / "a.png", tmp_path / "c.png"]
    for path in good:
        Image.fromarray(ToyShapes("val")[0].image).save(path)
    bad = tmp_path / "b.png"
    bad.write_bytes(b"not an image")
    out = tmp_path / "det"
    code, stdout, err = run_main(
        capsys, "detect", "--run", "toy", good[0], bad, good[1], "--out", out
    )
    assert code == EXIT_ERROR
    lines = err.strip().splitlines()
    assert len(lines) == 2 and "cannot read image" in lines[0] and str(bad) in lines[0]
    assert lines[1] == f"minirpn: error: 1 of 3 images could not be used (named above): {bad}"
    results = json.loads((out / "detections.json").read_text())
    assert {r["image_id"] for r in results} == {1, 3}  # ids are places on the command line
    assert sorted(p.name for p in out.iterdir()) == [
        "a_detections.png",
        "c_detections.png",
        "detections.json",
    ]
    assert [line.split(":")[0] for line in stdout.splitlines()[:2]] == [str(p) for p in good]


def test_version(capsys):
    from minirpn import __version__

    with pytest.raises(SystemExit) as info:
        run_main(capsys, "--version")
    assert info.value.code == 0 and capsys.readouterr().out == f"minirpn {__version__}\n"


def test_every_option_of_every_command_says_what_it_does_and_its_default():
    """Help text for every option; a default stated for every option that has one (argparse's
    own default, or the config's when the option is left out)."""
    from minirpn.cli import build_parser

    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    missing = []
    for name, sub in commands.choices.items():
        assert sub.description, name
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            label = f"{name} {'/'.join(action.option_strings) or action.dest}"
            if not action.help:
                missing.append(f"{label}: no help")
            takes_value = action.nargs != 0 and action.option_strings and not action.required
            if takes_value and action.dest not in (
                "out",
                "resume",
                "data",
                "image",
                "box",
                "checkpoint",
                "run",
            ):
                if "default" not in action.help:
                    missing.append(f"{label}: no default stated")
    assert missing == []


def test_resuming_a_finished_run_says_so_and_redoes_nothing(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    argv = f"train --out {out} --iters 2 --batch-size 1 --val-images 2 --no-progress".split()
    assert run_main(capsys, *argv)[0] == 0
    metrics = (out / "metrics.json").read_text()
    import minirpn.evaluation
    import minirpn.train

    def refuse(*args, **kwargs):
        raise AssertionError("nothing should train or evaluate again")

    monkeypatch.setattr(minirpn.train, "train", refuse)
    monkeypatch.setattr(minirpn.evaluation, "evaluate_detector", refuse)
    code, stdout, err = run_main(capsys, "train", "--resume", out)
    assert code == 0, err
    assert err == f"run {str(out)!r} is complete (2 of 2 iterations): nothing to resume\n"
    assert stdout.splitlines()[0] == f"run folder: {out}" and "mAP@0.5" in stdout
    assert (out / "metrics.json").read_text() == metrics


@pytest.mark.parametrize("flag, value", [("--flip", True), ("--no-flip", False)])
def test_flip_and_eval_every_reach_training_and_flip_cannot_change_on_resume(
    tmp_path, capsys, monkeypatch, flag, value
):
    import minirpn.train

    seen = {}

    def fake_train(cfg, run_dir, **kwargs):
        seen.update(cfg=cfg, **kwargs)
        raise ValueError("stop here")

    monkeypatch.setattr(minirpn.train, "train", fake_train)
    run_main(capsys, "train", "--out", tmp_path, flag, "--eval-every", 250)
    assert seen["cfg"].flip is value and seen["eval_every"] == 250
    run_main(capsys, "train", "--out", tmp_path)
    assert seen["cfg"].flip is Config.tiny().flip and seen["eval_every"] is None
    code, _, err = run_main(capsys, "train", "--resume", tmp_path, flag)
    assert_one_line_error(code, err, EXIT_USAGE, "--flip cannot change when resuming")


def test_eval_says_how_many_images_it_used(run_dir, capsys):
    code, out, err = run_main(capsys, "eval", "--run", run_dir, "--val-images", 5000)
    assert code == 0
    assert err == (
        "minirpn: warning: --val-images 5000: the validation split has 200 images; all are "
        "evaluated\n"
    )
    assert "(200 of the split's 200 images)" in out.splitlines()[0]
