"""The mutant catalogue's locator (benchmarks/mutants.py): code found by scope and tokens."""

import importlib.util
import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("mutants", ROOT / "benchmarks" / "mutants.py")
mutants = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mutants)

SOURCE = textwrap.dedent(
    '''\
    def method(self):
        x = f(a, b)


    class Outer:
        """x = f(a, b) in a docstring is one string token, not these tokens."""

        class Inner:
            def method(self):
                def helper():
                    return 0
                x = f(a, b)  # the one in Outer.Inner.method
                return helper()

        def other(self):
            y = f(a, b)
    '''
)


def span(text, scope, old):
    start, end = mutants.locate(text, scope, old)
    return text[start:end]


def test_a_scope_is_found_through_nesting_and_its_header_counts():
    start, _ = mutants.locate(SOURCE, "Outer.Inner.method", "x = f(a, b)")
    assert SOURCE[start:].startswith("x = f(a, b)  # the one in Outer.Inner.method")
    start, _ = mutants.locate(SOURCE, "method", "x = f(a, b)")  # the module-level one
    assert start == SOURCE.index("x = f(a, b)")
    assert span(SOURCE, "Outer.Inner.method.helper", "return 0") == "return 0"
    assert span(SOURCE, "Outer.other", "def other(self") == "def other(self"
    assert mutants.enclosing(SOURCE, SOURCE.index("return 0")) == "Outer.Inner.method.helper"
    assert mutants.enclosing(SOURCE, SOURCE.index("y = f")) == "Outer.other"
    assert mutants.enclosing(SOURCE, 0) == "method"
    assert mutants.enclosing(SOURCE, SOURCE.index("class Outer") - 1) == ""


def test_layout_and_comments_do_not_matter_and_the_span_is_the_code():
    spread = "f(  # a comment inside\n" + " " * 20 + "a,\n" + " " * 20 + "b,\n" + " " * 16 + ")"
    reformatted = SOURCE.replace("x = f(a, b)  # the one in Outer.Inner.method", f"x = {spread}")
    for old in ("x = f(a, b)", "x=f(a,\n   b)", "    x = f(a,  # said twice\n b)"):
        assert span(SOURCE, "Outer.Inner.method", old) == "x = f(a, b)"
    assert span(reformatted, "Outer.Inner.method", "f(a, b,)") == spread
    # Tokens, not text: Outer's docstring holds the same characters, but as one string.
    start, _ = mutants.locate(SOURCE, "Outer", "x = f(a, b)")
    assert start == mutants.locate(SOURCE, "Outer.Inner.method", "x = f(a, b)")[0]


def test_code_found_twice_or_nowhere_and_a_missing_or_repeated_scope_are_refused():
    with pytest.raises(ValueError, match=r"occurs 3 times in the module .*method, Outer\.Inner"):
        mutants.locate(SOURCE, "", "= f(a, b)")
    with pytest.raises(
        ValueError, match=r"occurs 0 times in Outer\.other .*\(in the file: nowhere"
    ):
        mutants.locate(SOURCE, "Outer.other", "g(a, b)")
    with pytest.raises(ValueError, match=r"0 blocks named 'Outer.method'"):
        mutants.locate(SOURCE, "Outer.method", "x = f(a, b)")
    twice = SOURCE + "\n\ndef method(self):\n    return 1\n"
    with pytest.raises(ValueError, match=r"2 blocks named 'method'"):
        mutants.locate(twice, "method", "return 1")
    with pytest.raises(ValueError, match="cannot read"):
        mutants.locate(SOURCE, "", "a\n    b\n  c")  # an indentation no block can have


CYTHON = textwrap.dedent(
    """\
    ctypedef fused real:
        float
        double

    cdef double SLACK = 1e-9

    cdef inline real _area(real x1, real y1, real x2, real y2) noexcept nogil:
        cdef real w = x2 - x1
        return w * (y2 - y1) if w > 0 else 0

    cdef class _Grid:
        cdef double[:, ::1] cells

        def __init__(self, double[:, ::1] cells):
            self.cells = cells

    def total(const real[:, ::1] boxes):
        cdef Py_ssize_t i
        cdef real s = 0
        with nogil:
            for i in range(boxes.shape[0]):
                s += _area(boxes[i, 0], boxes[i, 1], boxes[i, 2], boxes[i, 3])
        return s
    """
)


def test_cython_cdef_functions_and_classes_are_scopes_declarations_are_not():
    assert span(CYTHON, "_area", "w = x2 - x1") == "w = x2 - x1"
    assert span(CYTHON, "_Grid.__init__", "self.cells = cells") == "self.cells = cells"
    assert span(CYTHON, "total", "cdef real s = 0") == "cdef real s = 0"
    assert mutants.enclosing(CYTHON, CYTHON.index("s += _area")) == "total"
    assert mutants.enclosing(CYTHON, CYTHON.index("SLACK")) == ""
    for declared in ("w", "s", "SLACK", "cells"):  # cdef declarations open no block
        with pytest.raises(ValueError, match="0 blocks named"):
            mutants.locate(CYTHON, declared, "0")


def test_mutate_replaces_the_tokens_and_indents_the_new_lines():
    mutant = mutants.Mutant(
        "x", "source.py", "Outer.Inner.method", "x = f(a, b)", "y = 1\nx = g(a,\n    b)", (), ""
    )
    mutated = mutants.mutate(SOURCE, mutant)
    indent = " " * 12
    expected = f"y = 1\n{indent}x = g(a,\n{indent}    b)  # the one in Outer.Inner.method"
    assert mutated == SOURCE.replace("x = f(a, b)  # the one in Outer.Inner.method", expected)
    compile(mutated, "source.py", "exec")


def test_every_catalogue_entry_finds_its_code_and_names_tests_that_exist():
    """A stale entry (its code moved, changed or repeated in its scope) fails here, in the
    fast suite, not only when someone runs the mutants."""
    names = [m.name for m in mutants.MUTANTS]
    assert len(set(names)) == len(names)
    texts = {}
    for m in mutants.MUTANTS:
        text = texts.setdefault(m.path, (ROOT / m.path).read_text(encoding="utf-8"))
        assert mutants.mutate(text, m) != text, m.name
        for test in m.tests:
            path, _, function = test.partition("::")
            source = (ROOT / path).read_text(encoding="utf-8")
            assert not function or re.search(rf"^def {function}\(", source, re.M), (m.name, test)
