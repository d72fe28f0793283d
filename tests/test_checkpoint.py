"""Checkpoints: round trip, atomic writes, and refusal of pickled or corrupt files."""

import io
import json
import zipfile

import numpy as np
import numpy.lib.format
import pytest

from minirpn import Config
from minirpn.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from minirpn.model import Detector
from minirpn.run_state import RunState

CONFIG = Config.tiny(rpn_nms_thresh=0.6)
CLASS_NAMES = ("cat", "dog")
SHAPES = {name: p.shape for name, p in Detector(CONFIG, len(CLASS_NAMES)).params.items()}
RUN = RunState(
    seed=3,
    scheme="alternating",
    data="/data/shapes",
    class_names=CLASS_NAMES,
    category_ids=(17, 90),
    loss_names=("rpn_cls", "rpn_reg", "cls", "reg"),
    loss_history=((1.0, 0.5, 0.25, 0.125),),
    train_seconds=2.5,
    phase=1,
)


def make_checkpoint(iteration=7, fill=1.0):
    """The parameters of the detector CONFIG describes (two classes), filled with ``fill``."""
    rng = np.random.default_rng(123)
    rng.standard_normal(5)  # move the generator away from its seed state
    params = {name: np.full(shape, fill, np.float32) for name, shape in SHAPES.items()}
    params["roi_head.cls_score.bias"] = np.arange(3, dtype=np.float32)
    momentum = {name: np.full_like(p, -fill) for name, p in params.items()}
    return Checkpoint(
        config=CONFIG,
        params=params,
        momentum=momentum,
        iteration=iteration,
        rng_state=rng.bit_generator.state,
        run=RUN,
    )


def assert_same(a: Checkpoint, b: Checkpoint):
    assert a.config == b.config
    assert a.iteration == b.iteration
    assert a.rng_state == b.rng_state
    assert a.run == b.run
    for mine, theirs in ((a.params, b.params), (a.momentum, b.momentum)):
        assert mine.keys() == theirs.keys()
        for name in mine:
            assert mine[name].dtype == theirs[name].dtype
            np.testing.assert_array_equal(mine[name], theirs[name])


def test_round_trip_restores_everything_including_the_generator(tmp_path):
    original = make_checkpoint()
    save_checkpoint(tmp_path / "checkpoint.npz", original)
    loaded = load_checkpoint(tmp_path / "checkpoint.npz")
    assert_same(original, loaded)
    # The restored generator continues with the very same numbers.
    a, b = np.random.default_rng(), np.random.default_rng()
    a.bit_generator.state = original.rng_state
    b.bit_generator.state = loaded.rng_state
    np.testing.assert_array_equal(a.random(10), b.random(10))


def test_failure_during_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.npz"
    good = make_checkpoint(iteration=7, fill=1.0)
    save_checkpoint(path, good)

    # Simulate a disk error after the first few arrays of the new checkpoint are written.
    real_write_array = numpy.lib.format.write_array
    calls = []

    def failing_write_array(*args, **kwargs):
        calls.append(1)
        if len(calls) > 3:
            raise OSError("simulated: no space left on device")
        return real_write_array(*args, **kwargs)

    monkeypatch.setattr(numpy.lib.format, "write_array", failing_write_array)
    with pytest.raises(OSError, match="simulated"):
        save_checkpoint(path, make_checkpoint(iteration=8, fill=2.0))
    monkeypatch.undo()

    assert len(calls) > 3  # the failure really happened in the middle of the write
    assert_same(good, load_checkpoint(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.npz"]  # no temp litter


@pytest.mark.parametrize("key", ["param/backbone.0.weight", "run_state"])
def test_object_array_is_refused_without_unpickling(tmp_path, key):
    path = tmp_path / "evil.npz"
    save_checkpoint(path, make_checkpoint())
    with np.load(path) as archive:
        entries = {k: archive[k] for k in archive.files}
    entries[key] = np.array([{"payload": 1}], dtype=object)
    np.savez(path, **entries)  # np.savez pickles object arrays
    with pytest.raises(ValueError, match=f"evil.npz.*{key}"):
        load_checkpoint(path)


@pytest.mark.parametrize("content", [b"", b"not a zip file at all", b"PK\x03\x04truncated"])
def test_corrupt_file_gives_value_error_naming_the_path(tmp_path, content):
    path = tmp_path / "broken.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="broken.npz"):
        load_checkpoint(path)


def test_foreign_npz_and_missing_file(tmp_path):
    path = tmp_path / "foreign.npz"
    np.savez(path, weights=np.zeros(3))
    with pytest.raises(ValueError, match="foreign.npz.*missing entries"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="nowhere.npz"):
        load_checkpoint(tmp_path / "nowhere.npz")


OLD_EXTRA = {"seed": 3, "class_names": list(CLASS_NAMES), "loss_history": [[1.0, 0.5, 0.25, 0.125]]}


def as_old_version(path, version, extra=OLD_EXTRA, rename=False):
    """Rewrite the checkpoint at ``path`` as format ``version`` (1 or 2) wrote it: a free-form
    ``extra`` object instead of the run state; ``rename`` gives the second stage's parameters
    format 1's names ("head.*")."""
    with np.load(path) as archive:
        entries = {k: archive[k] for k in archive.files}
    if rename:
        entries = {k.replace("/roi_head.", "/head."): v for k, v in entries.items()}
    entries.pop("run_state", None)
    entries["format_version"] = np.array(version, dtype=np.int64)
    entries["extra"] = np.array(json.dumps(extra))
    with open(path, "wb") as f:
        np.savez(f, **entries)


def test_versions_1_and_2_are_converted_to_the_stage_names_and_a_run_state(tmp_path):
    """Before the stages became objects, the second stage's parameters were "head.*"; before
    the run state, a free-form ``extra`` held the four losses of a two-stage step unnamed."""
    path = tmp_path / "old.npz"
    save_checkpoint(path, make_checkpoint())
    as_old_version(path, 1, rename=True)
    state = load_checkpoint(path)
    assert set(state.params) == set(state.momentum) == set(SHAPES)
    np.testing.assert_array_equal(state.params["roi_head.cls_score.bias"], np.arange(3))
    # The toy data's category ids are the labels; no scheme was joint training; phase 0.
    assert state.run == RunState(
        seed=3,
        scheme="approximate-joint",
        data=None,
        class_names=CLASS_NAMES,
        category_ids=(1, 2),
        loss_names=("rpn_cls", "rpn_reg", "cls", "reg"),
        loss_history=((1.0, 0.5, 0.25, 0.125),),
    )
    # A version-2 file keeps its names as they are ("head." is no parameter then) and its
    # extra's scheme, data and category ids.
    save_checkpoint(path, make_checkpoint())
    as_old_version(path, 2, rename=True)
    with pytest.raises(ValueError, match=r"param/head\.\S+ is not a parameter"):
        load_checkpoint(path)
    save_checkpoint(path, make_checkpoint())
    extra = {**OLD_EXTRA, "scheme": "alternating", "data": "/d", "category_ids": [5, 9]}
    as_old_version(path, 2, extra)
    state = load_checkpoint(path)
    assert (state.run.scheme, state.run.data, state.run.category_ids) == (
        "alternating",
        "/d",
        (5, 9),
    )
    # An old file without the training state (no seed) is refused naming the field.
    as_old_version(path, 2, {"class_names": list(CLASS_NAMES)})
    with pytest.raises(ValueError, match=r"old.npz.*run state field seed .* got None"):
        load_checkpoint(path)
    rewrite(path, format_version=np.array(4, dtype=np.int64))
    with pytest.raises(ValueError, match="format version 4, this minirpn reads version 3"):
        load_checkpoint(path)


def rewrite(path, **changes):
    """Rewrite the checkpoint at ``path`` with some entries replaced (None: removed)."""
    with np.load(path) as archive:
        entries = {k: archive[k] for k in archive.files}
    for key, value in changes.items():
        if value is None:
            entries.pop(key)
        else:
            entries[key] = value
    with open(path, "wb") as f:  # keep the name: np.savez would append ".npz" to a str
        np.savez(f, **entries)


def test_npy_file_named_like_a_checkpoint(tmp_path):
    path = tmp_path / "checkpoint.npz"
    with open(path, "wb") as f:
        np.save(f, np.zeros((3, 3), np.float32))
    with pytest.raises(ValueError, match=r"checkpoint.npz.*\.npy file"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "key, value, expected",
    [
        (
            "run_state",
            np.array('["not", "a", "dict"]'),
            "run_state must be a JSON object, got list",
        ),
        ("run_state", np.array("42"), "run_state must be a JSON object, got int 42"),
        ("run_state", np.array("{broken"), "run_state is not valid JSON"),
        ("rng_state", np.array("null"), "rng_state must be a JSON object, got NoneType"),
        ("format_version", np.array("one"), "format_version must be an integer, got 'one'"),
        ("format_version", np.array(4), "format version 4"),
        ("iteration", np.array(1.5), "iteration must be an integer, got 1.5"),
        ("iteration", np.array(-3), "negative iteration -3"),
        ("config", np.array(3), "config must be a JSON string"),
        ("param/roi_head.cls_score.bias", np.arange(3), "cls_score.bias has dtype int64"),
        ("param/roi_head.cls_score.bias", np.array(list("abc")), "has dtype <U1"),
        ("momentum/roi_head.cls_score.bias", np.ones(3, np.complex64), "has dtype complex64"),
        ("param/roi_head.cls_score.bias", np.ones(3, bool), "has dtype bool"),
    ],
)
def test_bad_entries_are_refused_naming_the_file_and_the_value(tmp_path, key, value, expected):
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, make_checkpoint())
    rewrite(path, **{key: value})
    with pytest.raises(ValueError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "checkpoint.npz" in message and expected in message, message


def test_a_bad_config_in_a_checkpoint_names_the_file_and_the_field(tmp_path):
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, make_checkpoint())
    text = Config.tiny().to_json().replace('"max_iters": 2500', '"max_iters": "many"')
    rewrite(path, config=np.array(text))
    with pytest.raises(ValueError, match=r"checkpoint.npz.*max_iters.*'many'"):
        load_checkpoint(path)


def test_an_object_header_is_refused_even_with_the_data_size_it_announces(tmp_path):
    """An entry claiming 2 Python objects followed by exactly 16 bytes: what a pickle would
    be read from. Refused from its header, never turned into objects."""
    path = tmp_path / "evil.npz"
    save_checkpoint(path, make_checkpoint())
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|O", "fortran_order": False, "shape": (2,)}
    )
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    members["run_state.npy"] = header.getvalue() + bytes(16)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ValueError, match="entry run_state: holds Python objects"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("seed", "x", "run state field seed must be a non-negative int, got 'x'"),
        ("seed", True, "run state field seed must be a non-negative int, got True"),
        ("seed", -1, "run state field seed must be a non-negative int, got -1"),
        ("data", 5, "run state field data must be a non-empty string, got 5"),
        ("class_names", [], "run state field class_names is empty"),
        ("class_names", [None, "dog"], "class_names must be a list of non-empty strings"),
        ("category_ids", [1], "category_ids must be 2 distinct ints"),
        ("category_ids", [7, 7], r"category_ids must be 2 distinct ints .* got \[7, 7\]"),
        ("loss_history", [[1.0]], r"loss_history\[0\] must be a row of 4 numbers"),
        ("train_seconds", -1.0, "train_seconds must be a finite number >= 0"),
        ("train_seconds", float("inf"), "train_seconds must be a finite number >= 0, got inf"),
        ("phase", 1.5, "run state field phase must be a non-negative int"),
        ("surprise", 1, r"unknown fields \['surprise'\]"),
    ],
)
def test_a_bad_run_state_field_is_named(tmp_path, field, value, expected):
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, make_checkpoint())
    rewrite(path, run_state=np.array(json.dumps({**RUN.to_dict(), field: value})))
    with pytest.raises(ValueError, match=rf"checkpoint.npz.*{expected}"):
        load_checkpoint(path)


def test_weights_momentum_and_generator_state_are_checked(tmp_path):
    path = tmp_path / "checkpoint.npz"
    checkpoint = make_checkpoint()
    nan = np.full(SHAPES["backbone.0.weight"], np.nan, np.float32)
    for changes, expected in (
        ({"param/backbone.0.weight": nan}, "parameter backbone.0.weight has non-finite values"),
        ({"momentum/backbone.0.weight": nan}, "momentum backbone.0.weight has non-finite"),
        ({"momentum/nowhere": np.zeros(2)}, r"momentum/nowhere is not a parameter"),
        ({"rng_state": np.array("{}")}, "rng_state is not a generator state"),
    ):
        save_checkpoint(path, checkpoint)
        rewrite(path, **changes)
        with pytest.raises(ValueError, match=rf"checkpoint.npz.*{expected}"):
            load_checkpoint(path)
