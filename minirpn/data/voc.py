"""Pascal VOC folders: :class:`VocDataset` reads ``Annotations/*.xml``, ``JPEGImages/`` and
``ImageSets/Main/*.txt``; :func:`write_voc` writes a dataset in that layout.
"""

from __future__ import annotations

import collections
import contextlib
import math
import os
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
from PIL import Image

from minirpn.data.base import (
    ImageRecord,
    Problem,
    _AnnotatedFiles,
    _box_array,
    _declared_size,
    file_in,
)
from minirpn.fileio import atomic_write, regular_file

VOC_ANNOTATION_DIR = "Annotations"
VOC_IMAGE_DIR = "JPEGImages"
VOC_SPLIT_DIR = Path("ImageSets") / "Main"
# Not part of VOC: the class order minirpn writes (labels 1..C). Without it the names found
# in the annotations are sorted, which for VOC itself is the usual order (aeroplane, ...).
VOC_CLASSES_NAME = "classes.txt"


class VocDataset(_AnnotatedFiles):
    """A Pascal VOC folder: ``Annotations/*.xml``, ``JPEGImages/``, ``ImageSets/Main/*.txt``.

    root:        the folder holding those three (e.g. ``VOCdevkit/VOC2007``).
    split:       the image list ``ImageSets/Main/<split>.txt`` to read ("train", "val", ...).
    class_names: the classes in label order 1..C; by default ``classes.txt`` in ``root``
                 if there is one (:func:`write_voc` writes it), else every object name of
                 the ``train`` and ``val`` lists (and ``split``'s), sorted.
    strict:      as for :class:`CocoDataset`.

    Coordinates: VOC counts pixels from 1 and its ``xmax``/``ymax`` name the last pixel
    *inside* the box, so ``xmin=1, xmax=10`` covers the first ten columns. In our continuous
    corners (pixel i spans [i, i + 1)) that is ``x1 = xmin - 1 = 0, x2 = xmax = 10``:
    ``(x1, y1, x2, y2) = (xmin - 1, ymin - 1, xmax, ymax)``.

    Objects marked ``<difficult>1</difficult>`` are kept out of training and ignored in
    evaluation, as VOC does (:attr:`Sample.difficult_boxes`).
    """

    category_ids = None  # labels are the ids

    @staticmethod
    def file_box_text(box: np.ndarray) -> str:
        """Corners (4,) as the XML's 1-based inclusive ``<bndbox>`` (see the class docstring)."""
        x1, y1, x2, y2 = (float(v) for v in box)
        return f"box (xmin={x1 + 1:g}, ymin={y1 + 1:g}, xmax={x2:g}, ymax={y2:g})"

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        class_names=None,
        *,
        strict: bool = True,
    ):
        self.root = Path(root)
        self.split = split
        list_file = self.root / VOC_SPLIT_DIR / f"{split}.txt"
        ids = _read_image_list(list_file)
        self.problems, self.warnings = [], []
        parsed = [self._parse_xml(image_id) for image_id in ids]
        if class_names is None:
            class_names = self._find_class_names(parsed)
        self.class_names = tuple(str(name) for name in class_names)
        label_of = {name: label for label, name in enumerate(self.class_names, start=1)}
        self.records = []
        for xml_path, image_path, size, objects in parsed:
            if image_path is None:  # leading outside the folder, or no readable annotation
                continue
            boxes, labels, difficult, names = [], [], [], []
            for object_id, name, box, hard in objects:
                if name not in label_of:
                    self.problems.append(
                        Problem(
                            str(xml_path),
                            object_id,
                            f"class {name!r} is not one of {list(self.class_names)}",
                        )
                    )
                    continue
                boxes.append(box)
                labels.append(label_of[name])
                difficult.append(hard)
                names.append(object_id)
            self.records.append(
                ImageRecord(
                    image_path,
                    str(xml_path),
                    _box_array(boxes),
                    np.array(labels, dtype=np.int64),
                    np.array(difficult, dtype=bool),
                    tuple(names),
                    size,
                )
            )
        self._finish(f"VOC folder {str(self.root)!r} (split {split!r})", strict)

    def _parse_xml(self, image_id: str):
        """-> (xml path, image path, declared size, [(object id, name, box, difficult)]);
        the image path is None (and a problem recorded) where a path would lead outside the
        folder or the annotation file cannot be read.
        """
        list_file = str(self.root / VOC_SPLIT_DIR / f"{self.split}.txt")
        try:
            xml_path = file_in(self.root / VOC_ANNOTATION_DIR, f"{image_id}.xml", "image id")
        except ValueError as error:
            self.problems.append(Problem(list_file, None, str(error)))
            return None, None, None, []
        # Without its annotation file the image's name is unknown (only <filename> says it is
        # a .png rather than a .jpg): the one problem is the annotation file.
        try:
            tree = ElementTree.parse(regular_file(xml_path, "annotation file"))
        except FileNotFoundError:
            self.problems.append(Problem(str(xml_path), None, "annotation file does not exist"))
            return xml_path, None, None, []
        except (OSError, ValueError, ElementTree.ParseError) as error:
            message = f"annotation file cannot be read ({error})"
            self.problems.append(Problem(str(xml_path), None, message))
            return xml_path, None, None, []
        root = tree.getroot()
        file_name = (root.findtext("filename") or "").strip() or f"{image_id}.jpg"
        try:
            image_path = file_in(self.root / VOC_IMAGE_DIR, file_name, "<filename>")
        except ValueError as error:
            self.problems.append(Problem(str(xml_path), None, str(error)))
            return xml_path, None, None, []
        size = _declared_size(root.findtext("size/height"), root.findtext("size/width"))
        objects = []
        for number, obj in enumerate(root.iter("object"), start=1):
            name = (obj.findtext("name") or "").strip()
            object_id = f"object {number} ({name or 'no name'})"
            try:
                box = _voc_box(obj)
                hard = (obj.findtext("difficult") or "0").strip()
                if hard not in ("0", "1"):
                    raise ValueError(f"has difficult {hard!r}, expected 0 or 1")
                if not name:
                    raise ValueError("has no <name>")
            except ValueError as error:
                self.problems.append(Problem(str(xml_path), object_id, str(error)))
                continue
            objects.append((object_id, name, box, hard == "1"))
        return xml_path, image_path, size, objects

    def _find_class_names(self, parsed) -> list[str]:
        classes_file = self.root / VOC_CLASSES_NAME
        if os.path.lexists(classes_file):
            return _read_class_names(classes_file)
        counts = collections.Counter(name for *_, objects in parsed for _, name, _, _ in objects)
        for other in ("train", "val"):  # the same classes (and labels) for every split
            if other != self.split and (self.root / VOC_SPLIT_DIR / f"{other}.txt").is_file():
                for image_id in _read_image_list(self.root / VOC_SPLIT_DIR / f"{other}.txt"):
                    with contextlib.suppress(OSError, ValueError, ElementTree.ParseError):
                        xml_path = file_in(self.root / VOC_ANNOTATION_DIR, f"{image_id}.xml", "")
                        tree = ElementTree.parse(regular_file(xml_path, "annotation file"))
                        counts.update((n.text or "").strip() for n in tree.iterfind("object/name"))
        counts.pop("", None)
        if not counts:
            raise ValueError(f"VOC folder {str(self.root)!r}: no object names in its annotations")
        names = sorted(counts)
        # Not silent: a typo in one <name> would be a class of its own.
        found = ", ".join(f"{name} ({counts[name]})" for name in names)
        self.warnings.append(
            Problem(
                str(self.root),
                None,
                f"has no {VOC_CLASSES_NAME}: the classes are the object names found, sorted, "
                f"with their objects: {found}; list them in {VOC_CLASSES_NAME} (one per line) "
                "to fix the classes and their order",
            )
        )
        return names


def _read_image_list(list_file: Path) -> list[str]:
    """The image ids of an ``ImageSets/Main/<split>.txt`` file, one per line."""
    lines = _text_lines(list_file, "the VOC image list")
    # Per-class lists ("000005 -1") carry a flag after the id; plain lists only the id.
    return [line.split()[0] for line in lines if line.strip()]


def _read_class_names(classes_file: Path) -> list[str]:
    """The class names of ``classes.txt``, one per line; ValueError if it lists none or one
    twice (a class that could never occur, whose AP would count as 0 or be undefined)."""
    names = [line.strip() for line in _text_lines(classes_file, "the class list") if line.strip()]
    if not names:
        raise ValueError(f"the class list {str(classes_file)!r} names no class")
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"the class list {str(classes_file)!r} names {twice} more than once")
    return names


def _text_lines(path: Path, what: str) -> list[str]:
    """The lines of a UTF-8 text file (a byte order mark is dropped); ValueError naming it."""
    try:
        return regular_file(path, what).read_text(encoding="utf-8-sig").splitlines()
    except (OSError, ValueError) as error:  # UnicodeDecodeError: a binary file
        if str(error).startswith(what):
            raise ValueError(str(error)) from None
        raise ValueError(f"cannot read {what} {str(path)!r}: {error}") from None


def _voc_box(obj) -> list[float]:
    """The <bndbox> of a VOC <object> as our continuous corners; ValueError says what is wrong."""
    values = {}
    for key in ("xmin", "ymin", "xmax", "ymax"):
        text = obj.findtext(f"bndbox/{key}")
        if text is None:
            raise ValueError(f"has no bndbox/{key}")
        try:
            values[key] = float(text)
        except ValueError:
            raise ValueError(f"has bndbox/{key} {text.strip()!r}, expected a number") from None
    box = [values["xmin"] - 1, values["ymin"] - 1, values["xmax"], values["ymax"]]
    if not (all(math.isfinite(v) for v in box) and box[2] > box[0] and box[3] > box[1]):
        shown = ", ".join(f"{k}={v:g}" for k, v in values.items())
        raise ValueError(f"has an empty or inverted box ({shown}; need xmin <= xmax)")
    return box


def write_voc(dataset, out_dir: str | os.PathLike, split: str = "train") -> Path:
    """Write ``dataset`` as a Pascal VOC folder (images as PNG); return the image list's path.

    Writes ``out_dir/JPEGImages/<file_name>`` (PNG files under VOC's folder name: lossless,
    so the COCO and VOC forms of the toy data hold the same pixels), one
    ``out_dir/Annotations/<stem>.xml`` per image with 1-based inclusive coordinates
    (``xmin = x1 + 1``, ``xmax = x2``, see :class:`VocDataset`), the image list
    ``out_dir/ImageSets/Main/<split>.txt`` and the class order in ``out_dir/classes.txt``.
    Difficult boxes of the samples are written with ``<difficult>1</difficult>``. Calling it
    once per split fills one folder, as VOC is laid out.
    """
    out_dir = Path(out_dir)
    names = list(dataset.class_names)
    ids = []
    for index in range(len(dataset)):
        sample = dataset[index]
        image_id = Path(sample.file_name).stem
        ids.append(image_id)
        height, width = sample.image.shape[:2]
        annotation = ElementTree.Element("annotation")
        ElementTree.SubElement(annotation, "folder").text = out_dir.name
        ElementTree.SubElement(annotation, "filename").text = sample.file_name
        size = ElementTree.SubElement(annotation, "size")
        for tag, value in (("width", width), ("height", height), ("depth", 3)):
            ElementTree.SubElement(size, tag).text = str(value)
        objects = [(b, lab, 0) for b, lab in zip(sample.boxes, sample.labels, strict=True)]
        objects += [
            (b, lab, 1)
            for b, lab in zip(sample.difficult_boxes, sample.difficult_labels, strict=True)
        ]
        for box, label, difficult in objects:
            if not 1 <= label <= len(names):
                raise ValueError(
                    f"labels of sample {index} ({sample.file_name!r}) must be in "
                    f"1..{len(names)}, got {int(label)}"
                )
            obj = ElementTree.SubElement(annotation, "object")
            ElementTree.SubElement(obj, "name").text = names[label - 1]
            ElementTree.SubElement(obj, "truncated").text = "0"
            ElementTree.SubElement(obj, "difficult").text = str(difficult)
            bndbox = ElementTree.SubElement(obj, "bndbox")
            x1, y1, x2, y2 = (float(v) for v in box)
            for tag, value in (("xmin", x1 + 1), ("ymin", y1 + 1), ("xmax", x2), ("ymax", y2)):
                ElementTree.SubElement(bndbox, tag).text = _number_text(value)
        ElementTree.indent(annotation)
        with atomic_write(out_dir / VOC_ANNOTATION_DIR / f"{image_id}.xml") as f:
            ElementTree.ElementTree(annotation).write(f, encoding="utf-8", xml_declaration=False)
        with atomic_write(out_dir / VOC_IMAGE_DIR / sample.file_name) as f:
            Image.fromarray(sample.image).save(f, format="PNG")
    list_path = out_dir / VOC_SPLIT_DIR / f"{split}.txt"
    with atomic_write(list_path) as f:
        f.write("".join(f"{image_id}\n" for image_id in ids).encode("utf-8"))
    with atomic_write(out_dir / VOC_CLASSES_NAME) as f:
        f.write("".join(f"{name}\n" for name in names).encode("utf-8"))
    return list_path


def _number_text(value: float) -> str:
    """A coordinate as text: whole numbers without a decimal point (as VOC writes them)."""
    return str(int(value)) if value.is_integer() else repr(value)
