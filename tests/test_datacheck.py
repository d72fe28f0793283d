"""Data checked before training: every problem of a COCO or VOC folder reported at once."""

import json

import numpy as np
import pytest
from PIL import Image

from minirpn.data import CocoDataset, DataError, ToyShapes, make_toy_data, open_folder
from minirpn.datacheck import MAX_REPORTED, check_data_folder, check_dataset


def png(path, width=40, height=30):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((height, width, 3), 100, np.uint8)).save(path)
    return path


def coco_folder(root, annotations, images=("a.png", "b.png"), categories=("cat", "dog")):
    for name in images:
        png(root / "images" / name)
    coco = {
        "images": [
            {"id": i, "file_name": name, "width": 40, "height": 30}
            for i, name in enumerate(images, start=1)
        ],
        "annotations": [
            {"id": 100 + k, "image_id": image_id, "category_id": cat, "bbox": bbox}
            for k, (image_id, cat, bbox) in enumerate(annotations)
        ],
        "categories": [{"id": i, "name": n} for i, n in enumerate(categories, start=1)],
    }
    (root / "annotations.json").write_text(json.dumps(coco))
    return root


def test_every_problem_is_reported_at_once_with_file_annotation_and_value(tmp_path):
    root = coco_folder(
        tmp_path / "train",
        [
            (1, 1, [2, 3, 10, 10]),  # 100: fine
            (1, 1, [35, 25, 10, 10]),  # 101: partly outside 40x30 -> clipped, a warning
            (2, 1, [50, 40, 5, 5]),  # 102: entirely outside -> error
            (2, 1, [5, 5, 0, 4]),  # 103: zero width -> error
            (2, 7, [1, 1, 2, 2]),  # 104: unknown category -> error
            (9, 1, [1, 1, 2, 2]),  # 105: unknown image -> error
            (1, 1, [1, 1, "x", 2]),  # 106: not a number -> error
        ],
        images=("a.png", "b.png", "c.png"),
    )
    (root / "images" / "b.png").write_bytes(png(tmp_path / "x.png").read_bytes()[:60])  # cut
    (root / "images" / "c.png").unlink()
    report = check_dataset(CocoDataset(root, strict=False), progress=False)
    errors = [str(p) for p in report.errors]
    json_name = str(root / "annotations.json")
    expected_errors = [
        f"{json_name}: annotation 103: has a degenerate bbox [5, 5, 0, 4]",
        f"{json_name}: annotation 104: has unknown category_id 7",
        f"{json_name}: annotation 105: has unknown image_id 9",
        f"{json_name}: annotation 106: has bbox [1, 1, 'x', 2], expected 4 numbers",
        f"{root / 'images' / 'c.png'}: image file does not exist",
        f"{root / 'images' / 'b.png'}: cannot read image",
    ]
    for expected in expected_errors:
        assert any(e.startswith(expected) for e in errors), (expected, errors)
    assert len(errors) == len(expected_errors)
    # Box 102 is on the unreadable image b.png: it cannot be judged, so one image error only.

    warnings = [str(p) for p in report.warnings]
    assert warnings == [
        f"{json_name}: annotation 101: bbox [35, 25, 10, 10] reaches "
        "outside the 40x30 image; clipped to bbox [35, 25, 5, 5]",
        f"COCO file {json_name!r}: class 'dog' has no training box",
    ]
    assert report.max_image_size == (30, 40)


def test_a_box_entirely_outside_is_an_error_and_a_partial_one_is_clipped(tmp_path):
    root = coco_folder(tmp_path / "train", [(1, 1, [35, 25, 10, 10]), (2, 2, [41, 0, 5, 5])])
    report = check_dataset(CocoDataset(root, strict=False), progress=False)
    assert [str(p) for p in report.errors] == [
        f"{root / 'annotations.json'}: annotation 101: bbox [41, 0, 5, 5] "
        "lies entirely outside the 40x30 image"
    ]
    sample = CocoDataset(root)[0]  # samples are clipped to the image as the warning says
    np.testing.assert_array_equal(sample.boxes, [[35, 25, 40, 30]])


def test_the_list_is_cut_after_a_readable_number(tmp_path):
    bad = [(1, 1, [5, 5, 0, 4])] * (MAX_REPORTED + 7)
    coco_folder(tmp_path / "train", bad)
    coco_folder(tmp_path / "val", [(1, 1, [1, 1, 5, 5]), (1, 2, [1, 1, 5, 5])])
    with pytest.raises(DataError) as info:
        check_data_folder(tmp_path, progress=False)
    lines = str(info.value).splitlines()
    assert (
        lines[0] == f"data folder {str(tmp_path)!r} cannot be used: {MAX_REPORTED + 7} problem(s)"
    )
    assert len(lines) == 1 + MAX_REPORTED + 1 and lines[-1] == "  ... and 7 more"
    assert "annotation 100: has a degenerate bbox [5, 5, 0, 4]" in lines[1]


def test_splits_with_different_classes_are_refused(tmp_path):
    coco_folder(tmp_path / "train", [(1, 1, [1, 1, 5, 5])])
    coco_folder(tmp_path / "val", [(1, 1, [1, 1, 5, 5])], categories=("cat", "cow"))
    with pytest.raises(DataError, match=r"classes differ: train has \['cat', 'dog'\]"):
        check_data_folder(tmp_path, progress=False)


def test_good_toy_folders_pass_in_both_layouts(tmp_path):
    for fmt in ("coco", "voc"):
        root = tmp_path / fmt
        for split in ("train", "val"):
            out = root / split if fmt == "coco" else root
            make_toy_data(out, split, num_images=4, format=fmt)
        reports = check_data_folder(root, progress=False)
        for split, report in reports.items():
            assert not report.errors and report.max_image_size == (128, 128), split
        counts = reports["train"].boxes_per_class
        assert sum(counts.values()) == sum(len(ToyShapes("train", 4)[i].boxes) for i in range(4))


def test_a_folder_in_neither_layout(tmp_path):
    with pytest.raises(ValueError, match="neither a COCO folder .* nor a Pascal VOC folder"):
        check_data_folder(tmp_path, progress=False)


def test_a_missing_folder_or_split_is_named_as_missing(tmp_path):
    """Not "neither COCO nor VOC" for a folder that is not there; the missing file, not its
    folder, for a COCO split that is missing."""
    with pytest.raises(ValueError, match=r"data folder '.*nowhere' does not exist"):
        check_data_folder(tmp_path / "nowhere", progress=False)
    with pytest.raises(ValueError, match=r"data folder '.*a.png' is a file, not a folder"):
        check_data_folder(png(tmp_path / "a.png"), progress=False)
    coco_folder(tmp_path / "data" / "train", [(1, 1, [1, 1, 5, 5])])
    expected = str(tmp_path / "data" / "val" / "annotations.json")
    with pytest.raises(ValueError, match=f"COCO annotation file not found: '{expected}'"):
        check_data_folder(tmp_path / "data", progress=False)


def test_box_messages_show_the_coordinates_the_voc_file_holds(tmp_path):
    """Outside, clipped and inverted boxes are all written as the XML writes them (1-based,
    inclusive), so a user finds the numbers in the file."""
    (tmp_path / "ImageSets" / "Main").mkdir(parents=True)
    (tmp_path / "ImageSets" / "Main" / "train.txt").write_text("1\n")
    (tmp_path / "classes.txt").write_text("cat\n")
    (tmp_path / "Annotations").mkdir()
    png(tmp_path / "JPEGImages" / "1.jpg")  # 40 x 30
    boxes = [(41, 1, 46, 5), (35, 25, 45, 35), (12, 1, 10, 5)]
    (tmp_path / "Annotations" / "1.xml").write_text(
        "<annotation><filename>1.jpg</filename>"
        + "".join(
            f"<object><name>cat</name><bndbox><xmin>{a}</xmin><ymin>{b}</ymin><xmax>{c}</xmax>"
            f"<ymax>{d}</ymax></bndbox></object>"
            for a, b, c, d in boxes
        )
        + "</annotation>"
    )
    report = check_dataset(open_folder(tmp_path, "train", strict=False), progress=False)
    xml = tmp_path / "Annotations" / "1.xml"
    assert [str(p) for p in report.errors] == [
        f"{xml}: object 3 (cat): has an empty or inverted box (xmin=12, ymin=1, xmax=10, "
        "ymax=5; need xmin <= xmax)",
        f"{xml}: object 1 (cat): box (xmin=41, ymin=1, xmax=46, ymax=5) lies entirely outside "
        "the 40x30 image",
    ]
    assert [str(p) for p in report.warnings] == [
        f"{xml}: object 2 (cat): box (xmin=35, ymin=25, xmax=45, ymax=35) reaches outside the "
        "40x30 image; clipped to box (xmin=35, ymin=25, xmax=40, ymax=30)"
    ]


def test_difficult_boxes_are_not_training_boxes(tmp_path):
    """A class whose only boxes are difficult cannot be learnt: counted 0 and warned about."""
    objects = {
        "1": [("cat", 0), ("dog", 1)],
        "2": [("dog", 1), ("cat", 1)],
    }
    (tmp_path / "ImageSets" / "Main").mkdir(parents=True)
    (tmp_path / "ImageSets" / "Main" / "train.txt").write_text("1\n2\n")
    (tmp_path / "classes.txt").write_text("cat\ndog\n")  # else a warning lists the classes
    (tmp_path / "Annotations").mkdir()
    for image_id, items in objects.items():
        png(tmp_path / "JPEGImages" / f"{image_id}.jpg")
        xml = "".join(
            f"<object><name>{name}</name><difficult>{hard}</difficult><bndbox><xmin>2</xmin>"
            f"<ymin>2</ymin><xmax>12</xmax><ymax>12</ymax></bndbox></object>"
            for name, hard in items
        )
        (tmp_path / "Annotations" / f"{image_id}.xml").write_text(
            f"<annotation><filename>{image_id}.jpg</filename>{xml}</annotation>"
        )
    report = check_dataset(open_folder(tmp_path, "train", strict=False), progress=False)
    assert report.boxes_per_class == {"cat": 1, "dog": 0}
    assert [p.message for p in report.warnings] == ["class 'dog' has no training box"]
    assert report.errors == []
