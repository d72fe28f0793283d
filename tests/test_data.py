"""Toy shapes (determinism, splits, tight boxes, balance); COCO files (round trip, errors)."""

import json

import numpy as np
import pytest
from PIL import Image

from minirpn.data import (
    BAR,
    MAX_BAR_ASPECT,
    MAX_BOX_IOU,
    MAX_OBJECTS,
    MAX_SIZE,
    MIN_BAR_ASPECT,
    MIN_BAR_LENGTH,
    MIN_SIZE,
    TOY_CLASS_NAMES,
    CocoDataset,
    DataError,
    ToyShapes,
    VocDataset,
    data_format,
    make_toy_data,
    write_coco,
)
from minirpn.ops.reference import box_iou


def test_same_seed_and_index_give_identical_samples():
    first, again = ToyShapes("train", seed=3)[17], ToyShapes("train", seed=3)[17]
    np.testing.assert_array_equal(first.image, again.image)
    np.testing.assert_array_equal(first.boxes, again.boxes)
    np.testing.assert_array_equal(first.labels, again.labels)
    assert first.file_name == again.file_name == "train_00017.png"
    assert not np.array_equal(first.image, ToyShapes("train", seed=3)[18].image)
    assert not np.array_equal(first.image, ToyShapes("train", seed=4)[17].image)


def test_splits_are_disjoint_and_have_fixed_sizes():
    train, val = ToyShapes("train"), ToyShapes("val")
    assert (len(train), len(val)) == (2000, 200)
    train_images = {train[i].image.tobytes() for i in range(100)}
    val_images = {val[i].image.tobytes() for i in range(100)}
    assert len(train_images) == len(val_images) == 100
    # Disjoint -- in particular index i of one split is not index i of the other: the split
    # is part of the seed.
    assert not train_images & val_images


def test_sample_types_and_ranges():
    ds = ToyShapes("val", num_images=40)
    for i in range(len(ds)):
        s = ds[i]
        assert s.image.dtype == np.uint8 and s.image.shape == (128, 128, 3)
        assert s.boxes.dtype == np.float32 and s.labels.dtype == np.int64
        assert 1 <= len(s.labels) <= MAX_OBJECTS and s.boxes.shape == (len(s.labels), 4)
        assert s.labels.min() >= 1 and s.labels.max() <= len(ds.class_names)
        assert (s.boxes >= 0).all() and (s.boxes <= 128).all()


def test_boxes_are_the_exact_extent_of_the_drawn_shapes():
    ds = ToyShapes("train", seed=1)
    for i in range(60):
        sample, masks, colors = ds.render(i)
        assert masks.shape == (len(sample.labels), 128, 128)
        # Masks never overlap, so every object is fully visible.
        assert (masks.sum(axis=0) <= 1).all()
        for box, mask, color in zip(sample.boxes, masks, colors, strict=True):
            rows, cols = np.nonzero(mask)
            x1, y1, x2, y2 = box
            # Pixel i spans [i, i + 1): every shape pixel lies inside the box ...
            assert (cols >= x1).all() and (cols + 1 <= x2).all()
            assert (rows >= y1).all() and (rows + 1 <= y2).all()
            # ... and the shape touches all four sides.
            assert cols.min() == x1 and cols.max() + 1 == x2
            assert rows.min() == y1 and rows.max() + 1 == y2
            # What the mask says is drawn is really there, in the object's colour.
            assert (sample.image[mask] == color).all()
        if len(sample.boxes) > 1:
            iou = box_iou(sample.boxes, sample.boxes)
            assert iou[~np.eye(len(iou), dtype=bool)].max() <= MAX_BOX_IOU


def test_shapes_have_their_sizes_and_aspect_ratios():
    ds = ToyShapes("train", seed=2)
    for i in range(80):
        s = ds[i]
        w, h = s.boxes[:, 2] - s.boxes[:, 0], s.boxes[:, 3] - s.boxes[:, 1]
        long, short = np.maximum(w, h), np.minimum(w, h)
        assert ((long >= MIN_SIZE) & (long <= MAX_SIZE)).all()
        bars = s.labels == BAR
        assert (long[bars] / short[bars] >= MIN_BAR_ASPECT).all()
        assert (short[bars] >= MIN_BAR_LENGTH // MAX_BAR_ASPECT).all()
        # Circles, squares and equilateral triangles are close to square (1:1 .. 1.2:1).
        assert (long[~bars] / short[~bars] <= 1.2).all()


def test_classes_are_roughly_balanced():
    ds = ToyShapes("train", seed=0)
    labels = np.concatenate([ds[i].labels for i in range(500)])
    counts = np.bincount(labels, minlength=5)[1:]
    # ~1250 objects over 4 classes: each class within 20 % of the mean (binomial sd ~ 4 %).
    assert counts.min() > 0.8 * counts.mean() and counts.max() < 1.2 * counts.mean()


def test_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        ToyShapes("test")
    with pytest.raises(ValueError, match="image_size"):
        ToyShapes(image_size=64)
    with pytest.raises(TypeError, match="num_images"):
        ToyShapes(num_images=2.5)
    ds = ToyShapes("val", num_images=3)
    with pytest.raises(IndexError, match="index 3"):
        ds[3]
    np.testing.assert_array_equal(ds[-1].image, ds[2].image)


# --------------------------------------------------------------------- COCO files


def test_coco_round_trip_reproduces_the_samples(tmp_path):
    ds = ToyShapes("val", num_images=6, seed=5)
    json_path = make_toy_data(tmp_path, "val", num_images=6, seed=5)
    assert json_path == tmp_path / "annotations.json"
    assert not list(tmp_path.rglob("*.tmp"))  # atomic writes leave nothing behind
    back = CocoDataset(tmp_path)
    assert len(back) == len(ds)
    assert back.class_names == ds.class_names
    assert back.category_ids == (1, 2, 3, 4)
    for i in range(len(ds)):
        a, b = ds[i], back[i]
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.labels, b.labels)
        assert a.file_name == b.file_name
    # The file itself follows COCO: [x, y, w, h] boxes and w * h areas.
    coco = json.loads(json_path.read_text())
    first = ds[0]
    ann = [a for a in coco["annotations"] if a["image_id"] == 1][0]
    x1, y1, x2, y2 = first.boxes[0].tolist()
    assert ann["bbox"] == [x1, y1, x2 - x1, y2 - y1]
    assert ann["area"] == (x2 - x1) * (y2 - y1)
    assert ann["category_id"] == first.labels[0] and ann["iscrowd"] == 0


def write_json(path, coco):
    path.write_text(json.dumps(coco))
    return path


def test_coco_dataset_maps_arbitrary_category_ids(tmp_path):
    Image.fromarray(np.full((20, 30), 90, dtype=np.uint8)).save(tmp_path / "gray.png")
    coco = {
        "images": [{"id": 5, "file_name": "gray.png", "width": 30, "height": 20}],
        "annotations": [
            {"id": 1, "image_id": 5, "category_id": 12, "bbox": [1.5, 2, 10, 5], "iscrowd": 0},
            {"id": 2, "image_id": 5, "category_id": 7, "bbox": [0, 0, 4, 4]},
            {"id": 3, "image_id": 5, "category_id": 7, "bbox": [0, 0, 30, 20], "iscrowd": 1},
        ],
        "categories": [{"id": 12, "name": "dog"}, {"id": 7, "name": "cat"}],
    }
    ds = CocoDataset(write_json(tmp_path / "mine.json", coco))
    assert ds.class_names == ("cat", "dog") and ds.category_ids == (7, 12)
    s = ds[0]
    assert s.image.shape == (20, 30, 3) and (s.image == 90).all()  # grayscale -> RGB
    np.testing.assert_array_equal(s.boxes, [[1.5, 2, 11.5, 7], [0, 0, 4, 4]])
    np.testing.assert_array_equal(s.labels, [2, 1])  # dog = label 2, cat = label 1; crowd dropped
    # Writing it back keeps the original category ids.
    back = CocoDataset(write_coco(ds, tmp_path / "copy"))
    assert back.category_ids == (7, 12)
    np.testing.assert_array_equal(back[0].labels, [2, 1])


def test_write_coco_refuses_labels_outside_the_classes(tmp_path):
    class Broken(ToyShapes):
        def __getitem__(self, index):
            sample = super().__getitem__(index)
            return sample._replace(labels=np.zeros_like(sample.labels))

    with pytest.raises(ValueError, match=r"labels of sample 0 .* must be in 1\.\.4"):
        write_coco(Broken("val", num_images=1), tmp_path)


def test_coco_errors_name_the_file(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="broken.json"):
        CocoDataset(broken)
    with pytest.raises(ValueError, match="not found"):
        CocoDataset(tmp_path / "absent.json")
    twice = {
        "images": [{"id": i, "file_name": f"{i}.png"} for i in (4, 7, 4, 9, 7)],
        "annotations": [],
        "categories": [{"id": 1, "name": "x"}],
    }
    with pytest.raises(ValueError, match=r"twice.json': duplicate image ids \[4, 7\]"):
        CocoDataset(write_json(tmp_path / "twice.json", twice))
    with pytest.raises(ValueError, match="'categories'"):
        CocoDataset(write_json(tmp_path / "a.json", {"images": [], "annotations": []}))
    coco = {
        "images": [{"id": 1, "file_name": "lost.png"}],
        "annotations": [],
        "categories": [{"id": 1, "name": "x"}],
    }
    with pytest.raises(ValueError, match="lost.png"):
        CocoDataset(write_json(tmp_path / "b.json", coco))
    coco["images"] = []
    coco["annotations"] = [{"id": 9, "image_id": 1, "category_id": 1, "bbox": [0, 0, 3, 0]}]
    with pytest.raises(ValueError, match="c.json: annotation 9: has a degenerate bbox"):
        CocoDataset(write_json(tmp_path / "c.json", coco))
    coco["annotations"][0]["bbox"] = [0, 0, 3]
    with pytest.raises(ValueError, match=r"annotation 9: has bbox \[0, 0, 3\]"):
        CocoDataset(write_json(tmp_path / "c.json", coco))
    coco["annotations"][0] = {"id": 9, "image_id": 1, "bbox": [0, 0, 3, 3]}
    with pytest.raises(ValueError, match="c.json.*missing field 'category_id'"):
        CocoDataset(write_json(tmp_path / "c.json", coco))
    (tmp_path / "bad.png").write_bytes(b"not a png")
    coco = {
        "images": [{"id": 1, "file_name": "bad.png"}],
        "annotations": [],
        "categories": [{"id": 1, "name": "x"}],
    }
    ds = CocoDataset(write_json(tmp_path / "d.json", coco))
    with pytest.raises(ValueError, match="bad.png"):
        ds[0]


# --------------------------------------------------------------------- Pascal VOC


def voc_object(name, xmin, ymin, xmax, ymax, difficult="0"):
    return (
        f"<object><name>{name}</name><difficult>{difficult}</difficult><bndbox>"
        f"<xmin>{xmin}</xmin><ymin>{ymin}</ymin><xmax>{xmax}</xmax><ymax>{ymax}</ymax>"
        f"</bndbox></object>"
    )


def voc_folder(root, images: dict, splits: dict):
    """images: id -> <object> strings (each image 30 x 20 grey); splits: name -> ids."""
    for image_id, objects in images.items():
        (root / "Annotations").mkdir(parents=True, exist_ok=True)
        (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((20, 30, 3), 50, np.uint8)).save(
            root / "JPEGImages" / f"{image_id}.jpg"
        )
        (root / "Annotations" / f"{image_id}.xml").write_text(
            f"<annotation><filename>{image_id}.jpg</filename>"
            f"<size><width>30</width><height>20</height><depth>3</depth></size>"
            + "".join(objects)
            + "</annotation>"
        )
    (root / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
    for split, ids in splits.items():
        (root / "ImageSets" / "Main" / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
    return root


def test_voc_coordinates_difficult_objects_and_class_names_from_the_data(tmp_path):
    root = voc_folder(
        tmp_path,
        {
            "000001": [voc_object("dog", 1, 1, 10, 5), voc_object("cat", 3, 4, 8, 9, "1")],
            "000002": [voc_object("bird", 2, 2, 30, 20)],
        },
        {"train": ["000001"], "val": ["000002"]},
    )
    train = VocDataset(root, "train")
    # Names from both splits, sorted (VOC's usual order): bird, cat, dog.
    assert train.class_names == ("bird", "cat", "dog") == VocDataset(root, "val").class_names
    s = train[0]
    # 1-based inclusive pixels 1..10 are our continuous [0, 10].
    np.testing.assert_array_equal(s.boxes, [[0, 0, 10, 5]])
    np.testing.assert_array_equal(s.labels, [3])
    # The difficult cat is kept out of the training boxes and carried for evaluation.
    np.testing.assert_array_equal(s.difficult_boxes, [[2, 3, 8, 9]])
    np.testing.assert_array_equal(s.difficult_labels, [2])
    assert s.image.shape == (20, 30, 3) and s.file_name == "000001.jpg"


def test_voc_problems_are_all_reported_naming_file_object_and_value(tmp_path):
    root = voc_folder(
        tmp_path,
        {
            "a": [
                voc_object("dog", 1, 1, 10, 5),
                voc_object("dog", 12, 1, 10, 5),  # xmin > xmax
                voc_object("dog", "one", 1, 10, 5),
                voc_object("dog", 1, 1, 10, 5, difficult="maybe"),
                "<object><name>dog</name></object>",
            ]
        },
        {"train": ["a", "lost"]},
    )
    with pytest.raises(DataError) as info:
        VocDataset(root, "train")
    message = str(info.value)
    xml = str(root / "Annotations" / "a.xml")
    for fragment in (
        f"{xml}: object 2 (dog): has an empty or inverted box (xmin=12, ymin=1, xmax=10, ymax=5",
        f"{xml}: object 3 (dog): has bndbox/xmin 'one', expected a number",
        f"{xml}: object 4 (dog): has difficult 'maybe', expected 0 or 1",
        f"{xml}: object 5 (dog): has no bndbox/xmin",
        f"{root / 'Annotations' / 'lost.xml'}: annotation file does not exist",
    ):
        assert fragment in message, (fragment, message)
    assert message.splitlines()[0].endswith("5 problem(s)")


def test_an_unreadable_annotation_file_is_the_one_problem_of_its_image(tmp_path):
    """Without its XML the image's name is unknown: no guessed 'lost.jpg does not exist' for
    an image stored as a PNG."""
    root = voc_folder(tmp_path, {"a": [voc_object("dog", 1, 1, 10, 5)]}, {"train": ["a", "b"]})
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(root / "JPEGImages" / "b.png")
    (root / "Annotations" / "b.xml").write_text("<annotation><filename>b.png</file")
    with pytest.raises(DataError) as info:
        VocDataset(root, "train", class_names=["dog"])
    (problem,) = info.value.problems
    assert problem.file == str(root / "Annotations" / "b.xml")
    assert problem.message.startswith("annotation file cannot be read")


def test_voc_round_trip_keeps_samples_and_class_order(tmp_path):
    toy = ToyShapes("val", num_images=3, seed=2)
    list_path = make_toy_data(tmp_path, "val", num_images=3, seed=2, format="voc")
    assert list_path == tmp_path / "ImageSets" / "Main" / "val.txt"
    back = VocDataset(tmp_path, "val")
    assert back.class_names == TOY_CLASS_NAMES  # classes.txt keeps the order (not sorted)
    for i in range(3):
        np.testing.assert_array_equal(back[i].image, toy[i].image)
        np.testing.assert_array_equal(back[i].boxes, toy[i].boxes)
        np.testing.assert_array_equal(back[i].labels, toy[i].labels)
    xml = (tmp_path / "Annotations" / "val_00000.xml").read_text()
    x1, y1, x2, y2 = (int(v) for v in toy[0].boxes[0])
    assert f"<xmin>{x1 + 1}</xmin>" in xml and f"<xmax>{x2}</xmax>" in xml  # 1-based inclusive
    assert data_format(tmp_path) == "voc"
