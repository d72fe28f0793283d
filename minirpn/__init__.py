"""minirpn: Faster R-CNN built from scratch in NumPy, with Cython kernels and lessons.

Conventions, used everywhere in the package:

* boxes are continuous corners ``(x1, y1, x2, y2)``; width = ``x2 - x1``; pixel ``i``
  covers ``[i, i + 1)``, so its centre is ``i + 0.5``;
* images and feature maps are NCHW arrays;
* weights use PyTorch's layouts: conv ``(C_out, C_in, kH, kW)``, linear ``(out, in)``;
* training runs in float32, gradient checks in float64.

``minirpn.Config`` is imported on first use: importing the package itself runs nothing,
so that the ``minirpn`` command can take over Ctrl-C before anything else loads
(:mod:`minirpn.__main__`).
"""

__all__ = ["Config", "pretrained"]
__version__ = "0.1.0"


def pretrained(name: str):
    """The trained detector of the weights minirpn ships, in float32 and eval mode.

    ``pretrained("toy")`` is the main job's detector for the toy data (Config.tiny(), its
    classes circle, square, triangle, bar); a name minirpn does not ship raises ValueError
    listing those it does. How the weights were made: :mod:`minirpn.shipped`.
    """
    from minirpn.shipped import load_shipped  # NumPy loads here, not at `import minirpn`

    return load_shipped(name).detector


def __getattr__(name):
    if name == "Config":
        from minirpn.config import Config

        return Config
    raise AttributeError(f"module 'minirpn' has no attribute {name!r}")
