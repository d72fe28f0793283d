"""Build minirpn: a pure-Python package plus the Cython kernels in ``kernels/``.

Every ``kernels/NAME.pyx`` becomes the extension module ``minirpn._kernels.NAME``;
``minirpn.ops`` wraps them with input validation. Nothing here needs CUDA.
"""

from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, find_packages, setup

HERE = Path(__file__).parent

extensions = [
    Extension(
        f"minirpn._kernels.{pyx.stem}",
        [str(pyx.relative_to(HERE))],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=["-O3"],
    )
    for pyx in sorted((HERE / "kernels").glob("*.pyx"))
]

setup(
    name="minirpn",
    version="0.1.0",
    description="Faster R-CNN from scratch in NumPy and Cython, with lessons",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["minirpn", "minirpn.*"]),
    # The trained toy weights (minirpn.pretrained("toy"), made by benchmarks/toy_weights.py).
    package_data={"minirpn": ["weights/*.npz"]},
    ext_modules=cythonize(
        extensions,
        compiler_directives={"language_level": 3},
    ),
    install_requires=[
        "numpy>=2.0",
        "matplotlib>=3.7",
        "pillow>=10",
        "tqdm>=4.60",
    ],
    extras_require={
        "test": [
            "pytest>=7",
            "hypothesis>=6",
            "nbclient>=0.10",
            "nbformat>=5.9",
            "ipykernel>=6",
            "jupytext>=1.16",
            "ruff>=0.6",
        ],
        # Open the lessons: pip install -e ".[lessons]" && jupyter lab lessons/
        "lessons": [
            "jupyterlab>=4",
            "jupytext>=1.16",
        ],
    },
    entry_points={"console_scripts": ["minirpn=minirpn.__main__:run"]},
    zip_safe=False,
)
