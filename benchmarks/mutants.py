"""Mutation testing: plant one plausible bug at a time and check that the fast tests catch it.

A test suite is only as good as the bugs it would notice. Each entry of ``MUTANTS`` below is
one small, plausible mistake -- a ``>`` for a ``>=``, a forgotten ``+ 1``, PyTorch's momentum
where Caffe's was meant -- written as an exact text replacement in one source file, with
the fast test files (or test ids) that should fail because of it. The runner

1. copies the tree to a temporary folder (``git ls-files``: tracked and untracked files that
   are not ignored, as they are in the working tree, so no build output) and builds the
   Cython kernels there once (``python setup.py build_ext --inplace``);
2. runs every named test on that unmutated copy: they must all pass, or it stops;
3. for each mutant: copies the built tree again, applies the replacement (which must occur
   exactly once: a stale entry is an error, not a silent pass), rebuilds the kernels if a
   ``.pyx`` file changed, checks that ``import minirpn`` really loads the copy (not the
   editable install), runs the named tests with ``pytest -x`` and ``PYTHONPATH=<copy>``,
   and records whether some test failed (killed) or all passed (survived), the first
   failing test id, and the time;
4. prints the table and exits with status 1 if any mutant survived.

    python benchmarks/mutants.py -j 2         # every mutant: ~25 min on a busy 2-core box
    python benchmarks/mutants.py --list       # the catalogue
    python benchmarks/mutants.py --only nms   # mutants whose name or file contains "nms"
    python benchmarks/mutants.py --only relu,evaluation.iou   # any of several
    python benchmarks/mutants.py -j 2         # two mutants at a time

When code moves, its entries move with it: the runner refuses an entry whose text does not
occur exactly once, so a stale catalogue fails loudly instead of passing silently. New
code gets new entries, each named after the fast tests that should catch it (never the
training test alone: a mutant that only a 30-second run notices is a missing unit test).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_SECONDS = 600  # a mutant that makes a test loop forever counts as killed, marked so


class Mutant(NamedTuple):
    """One planted bug: replace ``old`` by ``new`` in ``path``; ``tests`` should fail."""

    name: str
    path: str  # relative to the repository root
    old: str  # must occur exactly once in the file
    new: str
    tests: tuple[str, ...]  # test files or test ids, each fast
    bug: str  # the mistake in words


def M(name, path, old, new, tests, bug):
    tests = (tests,) if isinstance(tests, str) else tuple(tests)
    return Mutant(name, path, old, new, tuple(f"tests/{t}" for t in tests), bug)


MUTANTS = [
    # ------------------------------------------------------------------ anchors (F7)
    M(
        "anchors.no_rounding",
        "minirpn/anchors.py",
        "widths = np.round(np.sqrt(area / ratios_arr))",
        "widths = np.sqrt(area / ratios_arr)",
        "test_anchors.py",
        "base anchor widths not rounded to whole pixels as the original does",
    ),
    M(
        "anchors.ratio_is_w_over_h",
        "minirpn/anchors.py",
        "heights = np.round(widths * ratios_arr)",
        "heights = np.round(widths / ratios_arr)",
        "test_anchors.py",
        "aspect ratio read as w / h instead of h / w",
    ),
    M(
        "anchors.inclusive_centre",
        "minirpn/anchors.py",
        "center = base_size / 2.0",
        "center = (base_size - 1) / 2.0",
        "test_anchors.py",
        "Caffe's inclusive-pixel centre (7.5) in the continuous convention",
    ),
    M(
        "anchors.grid_column_major",
        "minirpn/anchors.py",
        "sx, sy = np.meshgrid(shift_x, shift_y)",
        "sy, sx = np.meshgrid(shift_y, shift_x)",
        "test_anchors.py",
        "cells enumerated column by column, not in the head's row-major order",
    ),
    # ------------------------------------------------------------------ boxes (F10)
    M(
        "boxes.encode_log_ratio_inverted",
        "minirpn/boxes.py",
        "np.log(gw / aw)",
        "np.log(aw / gw)",
        "test_boxes.py",
        "t_w = log(w_a / w) instead of log(w / w_a)",
    ),
    M(
        "boxes.decode_from_corner",
        "minirpn/boxes.py",
        "ax = anchors[:, 0] + 0.5 * aw",
        "ax = anchors[:, 0]",
        "test_boxes.py",
        "decode moves the corner instead of the centre",
    ),
    M(
        "boxes.decode_no_clamp",
        "minirpn/boxes.py",
        "w = aw * np.exp(np.minimum(deltas[:, 2], BBOX_XFORM_CLIP))",
        "w = aw * np.exp(deltas[:, 2])",
        "test_boxes.py",
        "t_w not clamped before exp (overflow on wild predictions)",
    ),
    M(
        "boxes.clip_x_to_height",
        "minirpn/boxes.py",
        "np.clip(boxes[:, 0::2], 0, width, out=out[:, 0::2])",
        "np.clip(boxes[:, 0::2], 0, height, out=out[:, 0::2])",
        "test_boxes.py",
        "x clipped to the image height (height and width swapped)",
    ),
    M(
        "boxes.min_size_strict",
        "minirpn/boxes.py",
        "(widths >= min_size) & (heights >= min_size)",
        "(widths > min_size) & (heights > min_size)",
        "test_boxes.py",
        "boxes exactly min_size wide are dropped",
    ),
    M(
        "boxes.encode_stds_multiply",
        "minirpn/boxes.py",
        'deltas = deltas / _coord_vector(stds, "stds", deltas.dtype, positive=True)',
        'deltas = deltas * _coord_vector(stds, "stds", deltas.dtype, positive=True)',
        "test_boxes.py",
        "target normalisation multiplies by the stds instead of dividing",
    ),
    # ------------------------------------------------------------------ rpn (F6, F11)
    M(
        "rpn.flatten_anchor_major",
        "minirpn/rpn.py",
        ".transpose(2, 3, 0, 1)  # (H, W, A, k)",
        ".transpose(0, 2, 3, 1)  # (H, W, A, k)",
        "test_rpn.py",
        "rows flattened anchor-major, not in grid-anchor order",
    ),
    M(
        "rpn.backward_drops_reg_branch",
        "minirpn/rpn.py",
        "dhidden = self.cls_score.backward(dscores) + self.bbox_pred.backward(ddeltas)",
        "dhidden = self.cls_score.backward(dscores) + 0 * self.bbox_pred.backward(ddeltas)",
        "test_rpn.py",
        "the hidden map's gradient takes only the cls sibling's share",
    ),
    M(
        "rpn.n_reg_counts_anchors",
        "minirpn/rpn.py",
        "n_reg = cfg.rpn_n_reg if cfg.rpn_n_reg is not None else feat_h * feat_w",
        "n_reg = cfg.rpn_n_reg if cfg.rpn_n_reg is not None else feat_h * feat_w * num_anchors",
        "test_rpn.py",
        "N_reg counts anchors instead of anchor locations",
    ),
    M(
        "rpn.no_lambda",
        "minirpn/rpn.py",
        "scale = cfg.rpn_lambda / n_reg",
        "scale = 1.0 / n_reg",
        "test_rpn.py",
        "lambda forgotten in the paper's normalisation",
    ),
    M(
        "rpn.gradient_not_scaled",
        "minirpn/rpn.py",
        "dpred * pred.dtype.type(scale)",
        "dpred",
        "test_rpn.py",
        "regression gradient not scaled like the loss",
    ),
    M(
        "rpn.sigma_ignored",
        "minirpn/rpn.py",
        "sigma=cfg.rpn_sigma,",
        "sigma=1.0,",
        "test_rpn.py",
        "smooth L1 with sigma 1 instead of the RPN's 3",
    ),
    # ------------------------------------------------------------------ proposal (F15, F16)
    M(
        "proposal.background_column",
        "minirpn/proposal.py",
        "OBJECT = 1",
        "OBJECT = 0",
        "test_proposal.py",
        "objectness read from the background column",
    ),
    M(
        "proposal.min_size_not_scaled",
        "minirpn/proposal.py",
        "keep = remove_small_boxes(boxes, cfg.rpn_min_size * image_scale)",
        "keep = remove_small_boxes(boxes, cfg.rpn_min_size)",
        "test_proposal.py",
        "minimum size not multiplied by the image scale",
    ),
    M(
        "proposal.no_clip",
        "minirpn/proposal.py",
        "boxes = clip_boxes(boxes, image_size)",
        "boxes = boxes",
        "test_proposal.py",
        "proposals not clipped to the image",
    ),
    M(
        "proposal.post_nms_uses_pre_n",
        "minirpn/proposal.py",
        "[:post_nms_top_n]",
        "[:pre_nms_top_n]",
        "test_proposal.py",
        "the post-NMS cap uses the pre-NMS number",
    ),
    M(
        "proposal.train_test_swapped",
        "minirpn/proposal.py",
        "    if train:\n        pre_nms_top_n",
        "    if not train:\n        pre_nms_top_n",
        "test_proposal.py",
        "training and test top-N values swapped",
    ),
    # ------------------------------------------------------------------ receptive_field (F1-F4)
    M(
        "receptive_field.padding_enlarges",
        "minirpn/receptive_field.py",
        "size = (size - 1) * s + k  # F3",
        "size = (size - 1) * s + k + 2 * p  # F3",
        "test_receptive_field.py",
        "F2's input-size formula used for the receptive field (padding counted)",
    ),
    M(
        "receptive_field.centre_offset_missing_half",
        "minirpn/receptive_field.py",
        "offset=shift + 0.5)",
        "offset=shift)",
        "test_receptive_field.py",
        "cell-index centre returned as a continuous coordinate (off by half a pixel)",
    ),
    M(
        "receptive_field.padding_sign",
        "minirpn/receptive_field.py",
        "shift = s * shift + ((k - 1) / 2 - p)",
        "shift = s * shift + ((k - 1) / 2 + p)",
        "test_receptive_field.py",
        "F4 with + padding",
    ),
    M(
        "receptive_field.ceil_mode_no_correction",
        "minirpn/receptive_field.py",
        "if ceil_mode and (out - 1) * stride >= size + padding:",
        "if False:",
        "test_receptive_field.py",
        "ceil mode keeps a last window that starts in the padding",
    ),
    M(
        "receptive_field.inverse_shift_sign",
        "minirpn/receptive_field.py",
        "return 1.0 / jump, -shift / jump",
        "return 1.0 / jump, shift / jump",
        "test_receptive_field.py",
        "mapping away from the image inverts the shift with the wrong sign",
    ),
    # ------------------------------------------------------------------ nn: layers
    M(
        "nn.conv_col2im_assigns",
        "minirpn/nn/conv.py",
        "dxp[:, :, i : i + sh * ho : sh, j : j + sw * wo : sw] += dcols[:, :, i, j]",
        "dxp[:, :, i : i + sh * ho : sh, j : j + sw * wo : sw] = dcols[:, :, i, j]",
        "test_nn_conv.py",
        "col2im overwrites instead of adding overlapping windows' gradients",
    ),
    M(
        "nn.conv_db_first_image",
        "minirpn/nn/conv.py",
        "db = dout_flat.sum(axis=(0, 2))",
        "db = dout_flat[0].sum(axis=1)",
        "test_nn_conv.py",
        "bias gradient summed over the first image of the batch only",
    ),
    M(
        "nn.conv_dx_untransposed_weight",
        "minirpn/nn/conv.py",
        "dcols = w.reshape(f, -1).T @ dout_flat",
        "dcols = np.flip(w, (2, 3)).reshape(f, -1).T @ dout_flat",
        "test_nn_conv.py",
        "kernel flipped in the input gradient (convolution vs cross-correlation mix-up)",
    ),
    M(
        "nn.pool_last_max_wins",
        "minirpn/nn/pool.py",
        "better = candidate > out  # strictly",
        "better = candidate >= out  # strictly",
        "test_nn_pool.py",
        "ties route the gradient to the last maximum, not the first (Caffe)",
    ),
    M(
        "nn.pool_backward_assigns",
        "minirpn/nn/pool.py",
        "dxp[:, :, i : i + sh * ho : sh, j : j + sw * wo : sw] += routed",
        "dxp[:, :, i : i + sh * ho : sh, j : j + sw * wo : sw] = routed",
        "test_nn_pool.py",
        "overlapping windows' gradients overwrite each other",
    ),
    M(
        "nn.pool_pads_with_zero",
        "minirpn/nn/pool.py",
        "fill=-np.inf)",
        "fill=0.0)",
        "test_nn_pool.py",
        "padding filled with 0, so it wins over negative inputs",
    ),
    M(
        "nn.linear_db_mean",
        "minirpn/nn/linear.py",
        "dout.sum(axis=0).astype(b_dtype, copy=False)",
        "dout.mean(axis=0).astype(b_dtype, copy=False)",
        "test_nn_layers.py",
        "bias gradient averaged over the batch instead of summed",
    ),
    M(
        "nn.relu_gradient_at_zero",
        "minirpn/nn/activation.py",
        "return np.maximum(x, 0), x > 0",
        "return np.maximum(x, 0), x >= 0",
        "test_nn_activation.py",
        "the kink at 0 passes the gradient",
    ),
    M(
        "nn.dropout_not_rescaled",
        "minirpn/nn/activation.py",
        "mask = (rng.random(x.shape) >= p).astype(x.dtype) / x.dtype.type(1.0 - p)",
        "mask = (rng.random(x.shape) >= p).astype(x.dtype)",
        "test_nn_activation.py",
        "plain dropout instead of inverted (expected output shrinks)",
    ),
    # ------------------------------------------------------------------ nn: losses (F11, F12)
    M(
        "nn.smooth_l1_switch_at_one_over_sigma",
        "minirpn/nn/loss.py",
        "quadratic = abs_x < 1.0 / sigma2",
        "quadratic = abs_x < 1.0 / sigma",
        "test_nn_losses.py",
        "smooth L1 switches at 1/sigma instead of 1/sigma^2",
    ),
    M(
        "nn.smooth_l1_offset_without_sigma",
        "minirpn/nn/loss.py",
        "abs_x - 0.5 / sigma2)",
        "abs_x - 0.5)",
        "test_nn_losses.py",
        "linear piece offset 0.5 regardless of sigma (pieces no longer meet)",
    ),
    M(
        "nn.cross_entropy_mean_over_all_rows",
        "minirpn/nn/loss.py",
        "loss = -float(log_prob[picked, target].sum()) / num_kept",
        "loss = -float(log_prob[picked, target].sum()) / n",
        "test_nn_losses.py",
        "ignored rows counted in the mean (N_cls wrong)",
    ),
    M(
        "nn.softmax_no_shift",
        "minirpn/nn/loss.py",
        "shifted = logits - logits.max(axis=1, keepdims=True)",
        "shifted = logits",
        "test_nn_losses.py",
        "softmax without the log-sum-exp shift (overflows for large logits)",
    ),
    # ------------------------------------------------------------------ nn: optim, init (F14)
    M(
        "nn.sgd_pytorch_momentum",
        "minirpn/nn/optim.py",
        "v += self.lr * grad\n            param -= v",
        "v += grad\n            param -= self.lr * v",
        "test_nn_optim.py",
        "PyTorch's momentum form instead of Caffe's (differs after a rate change)",
    ),
    M(
        "nn.sgd_decays_biases",
        "minirpn/nn/optim.py",
        'if self.weight_decay and name.endswith("weight"):',
        "if self.weight_decay:",
        "test_nn_optim.py",
        "weight decay applied to biases too",
    ),
    M(
        "nn.step_lr_off_by_one",
        "minirpn/nn/optim.py",
        "bisect.bisect_right(steps, iteration)",
        "bisect.bisect_left(steps, iteration)",
        "test_nn_optim.py",
        "the rate drops one iteration late",
    ),
    M(
        "nn.init_variance_for_std",
        "minirpn/nn/init.py",
        "return (rng.standard_normal(shape) * std).astype(dtype)",
        "return (rng.standard_normal(shape) * std**2).astype(dtype)",
        ("test_nn_layers.py", "test_rpn.py"),
        "the variance used as the standard deviation",
    ),
    M(
        "nn.he_fan_in_ignores_kernel",
        "minirpn/nn/init.py",
        "fan_in = math.prod(shape[1:])",
        "fan_in = shape[1]",
        "test_nn_layers.py",
        "He's fan-in without the kernel area",
    ),
    # ------------------------------------------------------------------ Cython kernels (.pyx)
    M(
        "kernel.iou_union_without_intersection",
        "kernels/boxes.pyx",
        "cdef real union = area_a + area_b - inter",
        "cdef real union = area_a + area_b",
        "test_ops_iou.py",
        "union = area_a + area_b (intersection counted twice)",
    ),
    # (Not a mutant: dropping the clamp in _box_area. An inverted box has no intersection
    # with anything, so its area never reaches an IoU: the change is unobservable.)
    M(
        "kernel.iou_y2_not_checked_finite",
        "kernels/boxes.pyx",
        "and isfinite(boxes[i, 2]) and isfinite(boxes[i, 3])):",
        "and isfinite(boxes[i, 2])):",
        "test_ops_iou.py",
        "a NaN or infinite y2 does not empty the box",
    ),
    M(
        "kernel.nms_suppresses_at_threshold",
        "kernels/boxes.pyx",
        "xs[0, j], xs[1, j], xs[2, j], xs[3, j], xs[4, j]) > t:",
        "xs[0, j], xs[1, j], xs[2, j], xs[3, j], xs[4, j]) >= t:",
        "test_ops_nms.py",
        "NMS drops boxes whose IoU equals the threshold",
    ),
    M(
        "kernel.nms_window_symmetric",
        "kernels/boxes.pyx",
        "lo = xs[0, i] - (1.0 - t) / t * width * (1.0 + WINDOW_SLACK) - slack",
        "lo = xs[0, i] - (1.0 - t) * width * (1.0 + WINDOW_SLACK) - slack",
        "test_ops_nms.py",
        "the left search window uses the right one's bound (misses wider boxes)",
    ),
    M(
        "kernel.nms_ignores_classes",
        "kernels/boxes.pyx",
        "if xs_class[j] != xs_class[i]:\n        return",
        "if False:\n        return",
        "test_ops_nms.py",
        "batched NMS lets classes suppress each other",
    ),
    M(
        "kernel.roi_align_no_half_pixel_shift",
        "kernels/roi_align.pyx",
        "cdef double offset = 0.5 if aligned else 0.0",
        "cdef double offset = 0.0",
        "test_ops_roi_align.py",
        "RoIAlign forgets aligned=True's -0.5 shift (pixel centres)",
    ),
    M(
        "kernel.roi_align_samples_at_bin_start",
        "kernels/roi_align.pyx",
        "p = p0 + i * bin_size + (k + 0.5) * bin_size / ratio",
        "p = p0 + i * bin_size + k * bin_size / ratio",
        "test_ops_roi_align.py",
        "RoIAlign samples at the start of each sub-bin, not its centre",
    ),
    M(
        "kernel.roi_align_clamp_strict",
        "kernels/roi_align.pyx",
        "            if p <= 0.0:\n",
        "            if p < 0.0:\n",
        "test_ops_roi_align.py",
        "a sample exactly at position 0 treated as interior (its position gradient kept)",
    ),
    M(
        "kernel.roi_align_stretched_end_moves",
        "kernels/roi_align.pyx",
        "            if stretched:\n                dstart[n] = spatial_scale\n",
        "            if stretched:\n                dstart[n] = (1.0 - t) * spatial_scale\n",
        "test_ops_roi_align.py",
        "a RoI stretched to one cell (aligned=False) differentiated as if its end mattered",
    ),
    M(
        "reference.roi_align_no_half_pixel_shift",
        "minirpn/ops/reference.py",
        "    offset = 0.5 if aligned else 0.0\n    p0 = start * spatial_scale - offset  # (R,)",
        "    offset = 0.0\n    p0 = start * spatial_scale - offset  # (R,)",
        "test_ops_roi_align.py",
        "the NumPy twin of RoIAlign forgets the -0.5 shift",
    ),
    M(
        "boxes.decode_backward_clip_inclusive",
        "minirpn/boxes.py",
        "inside = (decoded.boxes >= 0) & (decoded.boxes <= limits)",
        "inside = (decoded.boxes > 0) & (decoded.boxes < limits)",
        "test_boxes.py",
        "a coordinate exactly on the image border loses its gradient (the clip is inactive there)",
    ),
    M(
        "boxes.decode_backward_no_stds",
        "minirpn/boxes.py",
        '        dt = dt * _coord_vector(stds, "stds", dtype, positive=True)\n    return dt',
        "        dt = dt\n    return dt",
        "test_boxes.py",
        "the normalisation's stds left out of the chain rule",
    ),
    M(
        "schemes.non_approximate_drops_the_coordinate_path",
        "minirpn/schemes/non_approximate_joint.py",
        "            rpn_ddeltas = rpn_ddeltas + roi_boxes_backward(",
        "            rpn_ddeltas = rpn_ddeltas + 0 * roi_boxes_backward(",
        "test_schemes.py::test_non_approximate_joint_whole_model_gradient_check_float64",
        "non-approximate joint training loses the gradient through the RoI corners (F20 (3))",
    ),
    M(
        "roi_head.align_backward_unaligned",
        "minirpn/roi_head.py",
        "                self.sampling_ratio,\n                self.aligned,\n            )\n"
        "            if return_drois:",
        "                self.sampling_ratio,\n                not self.aligned,\n            )\n"
        "            if return_drois:",
        "test_roi_head.py",
        "RoIAlign's backward without the half-pixel shift its forward used",
    ),
    M(
        "schemes.alternating_step3_trains_the_backbone",
        "minirpn/schemes/alternating.py",
        '("backbone", "roi_head"), ("rpn",), ("roi_head",))',
        '("backbone", "roi_head"), ("backbone", "rpn"), ("roi_head",))',
        "test_schemes.py::test_alternating_steps_train_their_stages_on_proposals_made_once_by_the_right_network",
        "alternating step 3 fine-tunes the shared backbone, which the original freezes (F20 (1))",
    ),
    M(
        "schemes.alternating_proposals_after_reinit",
        "minirpn/schemes/alternating.py",
        "        if step in (1, 3):  # proposals from the network as the previous step left it\n"
        "            self.proposals = self.generate_proposals(images, load)\n"
        "        if step == 1:  # a detector of its own: fresh backbone and head\n"
        '            self._reinitialise(("backbone", "roi_head"), FRESH_SEED_OFFSET[1])\n',
        "        if step == 1:  # a detector of its own: fresh backbone and head\n"
        '            self._reinitialise(("backbone", "roi_head"), FRESH_SEED_OFFSET[1])\n'
        "        if step in (1, 3):  # proposals from the network as the previous step left it\n"
        "            self.proposals = self.generate_proposals(images, load)\n",
        "test_schemes.py::test_alternating_steps_train_their_stages_on_proposals_made_once_by_the_right_network",
        "step 2's proposals made by the freshly initialised backbone instead of step 1's RPN",
    ),
    M(
        "kernel.roi_pool_floor_corners",
        "kernels/roi_pool.pyx",
        "x1 = round(coords[r, 0] * spatial_scale)",
        "x1 = floor(coords[r, 0] * spatial_scale)",
        "test_ops_roi_pool.py",
        "RoI corner floored instead of rounded",
    ),
    M(
        "kernel.roi_pool_size_without_plus_one",
        "kernels/roi_pool.pyx",
        "_bin_edges(y1, fmax(y2 - y1 + 1.0, 1.0), pooled_h, height, h_lo, h_hi)",
        "_bin_edges(y1, fmax(y2 - y1, 1.0), pooled_h, height, h_lo, h_hi)",
        "test_ops_roi_pool.py",
        "RoI height without Caffe's inclusive + 1",
    ),
    M(
        "kernel.roi_pool_bin_end_floor",
        "kernels/roi_pool.pyx",
        "hi[k] = <Py_ssize_t>fmin(fmax(ceil((k + 1) * bin_size) + start, 0.0), limit)",
        "hi[k] = <Py_ssize_t>fmin(fmax(floor((k + 1) * bin_size) + start, 0.0), limit)",
        "test_ops_roi_pool.py",
        "bin end floored (bins lose their shared cell)",
    ),
    M(
        "kernel.roi_pool_last_max_wins",
        "kernels/roi_pool.pyx",
        "take = (value > current) |",
        "take = (value >= current) |",
        "test_ops_roi_pool.py",
        "ties go to the last maximum, not the first",
    ),
    M(
        "kernel.roi_pool_backward_assigns",
        "kernels/roi_pool.pyx",
        "plane[cell] += grad[k]",
        "plane[cell] = grad[k]",
        "test_ops_roi_pool.py",
        "bins sharing an argmax overwrite each other's gradient",
    ),
    M(
        "kernel.roi_pool_backward_first_image",
        "kernels/roi_pool.pyx",
        "plane = &grad_features[batch_index[r], c, 0]",
        "plane = &grad_features[0, c, 0]",
        "test_ops_roi_pool.py",
        "every RoI's gradient lands in image 0",
    ),
    # ------------------------------------------------------------------ ops twins (reference.py)
    M(
        "reference.iou_union_without_intersection",
        "minirpn/ops/reference.py",
        "union = box_areas(a)[:, None] + box_areas(b)[None, :] - inter",
        "union = box_areas(a)[:, None] + box_areas(b)[None, :]",
        "test_ops_iou.py",
        "the twin's union counts the intersection twice",
    ),
    M(
        "reference.nms_strict_keep",
        "minirpn/ops/reference.py",
        "remaining = rest[overlaps <= iou_threshold]",
        "remaining = rest[overlaps < iou_threshold]",
        "test_ops_nms.py",
        "the twin drops boxes at exactly the threshold",
    ),
    M(
        "reference.round_half_up_only_above",
        "minirpn/ops/reference.py",
        "whole + (magnitude - whole >= 0.5)",
        "whole + (magnitude - whole > 0.5)",
        "test_ops_roi_pool.py",
        "halves rounded towards zero",
    ),
    M(
        "reference.roi_size_without_plus_one",
        "minirpn/ops/reference.py",
        "roi_width = np.maximum(x2 - x1 + 1.0, 1.0)",
        "roi_width = np.maximum(x2 - x1, 1.0)",
        "test_ops_roi_pool.py",
        "the twin's RoI width without + 1",
    ),
    M(
        "reference.backward_fancy_index_add",
        "minirpn/ops/reference.py",
        "np.add.at(grad_features, cells, grad_out[used])",
        "grad_features[cells] += grad_out[used]",
        "test_ops_roi_pool.py",
        "repeated argmax cells added once (fancy-index += does not accumulate)",
    ),
    # ------------------------------------------------------------------ evaluation
    M(
        "evaluation.iou_strictly_above",
        "minirpn/evaluation.py",
        "overlaps.max() >= threshold",
        "overlaps.max() > threshold",
        "test_evaluation.py",
        "IoU exactly at the threshold is a miss (VOC and COCO say hit)",
    ),
    M(
        "evaluation.duplicates_match_again",
        "minirpn/evaluation.py",
        "overlaps = np.where(taken[image] | hard, -1.0, iou)  # taken or difficult: -1",
        "overlaps = np.where(hard, -1.0, iou)  # taken or difficult: -1",
        "test_evaluation.py",
        "a ground truth can be matched twice (duplicates become true positives)",
    ),
    M(
        "evaluation.ascending_scores",
        "minirpn/evaluation.py",
        'order = np.argsort(-np.concatenate(det_scores), kind="stable")',
        'order = np.argsort(np.concatenate(det_scores), kind="stable")',
        "test_evaluation.py",
        "detections ranked by increasing score",
    ),
    M(
        "evaluation.no_envelope",
        "minirpn/evaluation.py",
        "envelope = np.maximum.accumulate(prec[::-1])[::-1]",
        "envelope = prec",
        "test_evaluation.py",
        "raw precision instead of its monotone envelope",
    ),
    M(
        "evaluation.eleven_point_strict",
        "minirpn/evaluation.py",
        "best = [precision[recall >= level].max(initial=0.0)",
        "best = [precision[recall > level].max(initial=0.0)",
        "test_evaluation.py",
        "11-point AP looks only beyond each recall level",
    ),
    M(
        "evaluation.class_blind_matching",
        "minirpn/evaluation.py",
        "mine, theirs = im.labels == label, im.gt_labels == label",
        "mine, theirs = im.labels == label, im.gt_labels > 0",
        "test_evaluation.py",
        "a detection may match a ground truth of another class",
    ),
    M(
        "evaluation.empty_classes_in_mean",
        "minirpn/evaluation.py",
        "scored = [a for a in ap.values() if a is not None]",
        "scored = [np.zeros(len(thresholds)) if a is None else a for a in ap.values()]",
        "test_evaluation.py",
        "classes without ground truth count as AP 0 in the means",
    ),
    # ------------------------------------------------------------------ data
    M(
        "data.box_end_inclusive",
        "minirpn/data/toy.py",
        "cols[-1] + 1, rows[-1] + 1",
        "cols[-1], rows[-1]",
        "test_data.py",
        "box ends at the last pixel's index instead of one past it",
    ),
    M(
        "data.coco_read_wh_as_corner",
        "minirpn/data/coco.py",
        'return [x, y, x + w, y + h], row_of[ann["image_id"]]',
        'return [x, y, w, h], row_of[ann["image_id"]]',
        "test_data.py",
        "COCO [x, y, w, h] read as corners",
    ),
    M(
        "data.coco_write_corners",
        "minirpn/data/coco.py",
        '"bbox": [x1, y1, x2 - x1, y2 - y1],',
        '"bbox": [x1, y1, x2, y2],',
        "test_data.py",
        "COCO written with corners instead of [x, y, w, h]",
    ),
    M(
        "data.splits_share_a_stream",
        "minirpn/data/toy.py",
        '_SPLIT_STREAMS = {"train": 0, "val": 1}',
        '_SPLIT_STREAMS = {"train": 0, "val": 0}',
        "test_data.py",
        "validation images identical to training images",
    ),
    # ------------------------------------------------------------------ checkpoint, fileio
    M(
        "checkpoint.object_arrays_read",
        "minirpn/checkpoint.py",
        "if dtype.hasobject:  # an object array is a pickle: reading it could run code",
        "if False:  # an object array is a pickle: reading it could run code",
        "test_checkpoint.py",
        "an entry holding Python objects (a pickle) is read instead of refused",
    ),
    M(
        "checkpoint.entry_read_past_its_header",
        "minirpn/checkpoint.py",
        "    if f.read(1):  # reading to the end also checks the entry's CRC",
        "    if False:  # reading to the end also checks the entry's CRC",
        "test_redteam.py::test_r5_a_zip_bomb_behind_a_valid_header_stops_at_the_header_size",
        "an entry longer than its header announces (a zip bomb behind it) is accepted",
    ),
    M(
        "checkpoint.parameter_shape_unchecked",
        "minirpn/checkpoint.py",
        "    if tuple(shape) != tuple(expected):",
        "    if False:",
        "test_redteam.py::test_r5_a_header_claiming_terabytes_is_refused_before_reading",
        "a parameter's header is read without comparing its shape with the model's",
    ),
    M(
        "checkpoint.iteration_not_saved",
        "minirpn/checkpoint.py",
        '"iteration": np.array(checkpoint.iteration, dtype=np.int64),',
        '"iteration": np.array(0, dtype=np.int64),',
        "test_checkpoint.py",
        "the iteration count is lost on save",
    ),
    M(
        "checkpoint.momentum_prefix_collides",
        "minirpn/checkpoint.py",
        '_MOMENTUM = "momentum/"',
        '_MOMENTUM = "param/"',
        "test_checkpoint.py",
        "momentum buffers stored under the parameters' names",
    ),
    M(
        "fileio.temp_file_left_behind",
        "minirpn/fileio.py",
        "        tmp.unlink(missing_ok=True)\n        raise _naming(",
        "        raise _naming(",
        "test_checkpoint.py",
        "a write that fails (a full disk) leaves its temporary file",
    ),
    M(
        "fileio.temp_file_left_after_an_exception",
        "minirpn/fileio.py",
        "    except BaseException:\n        tmp.unlink(missing_ok=True)\n        raise",
        "    except BaseException:\n        raise",
        "test_fileio.py",
        "a write interrupted by an exception (Ctrl-C) leaves its temporary file",
    ),
    M(
        "fileio.no_parent_folder",
        "minirpn/fileio.py",
        "path.parent.mkdir(parents=True, exist_ok=True)",
        "pass",
        ("test_checkpoint.py", "test_data.py"),
        "writing into a folder that does not exist yet fails",
    ),
    # ------------------------------------------------------------------ gradcheck, config
    M(
        "gradcheck.one_sided_step",
        "minirpn/gradcheck.py",
        "grad[index] = (f_plus - f_minus) / (2.0 * h)",
        "grad[index] = (f_plus - f_minus) / h",
        "test_gradcheck.py",
        "centred difference divided by h instead of 2 h",
    ),
    M(
        "gradcheck.x_not_restored",
        "minirpn/gradcheck.py",
        "x[index] = original  # restore",
        "x[index] = original + h - h  # restore",
        "test_gradcheck.py",
        "x restored by arithmetic, which need not give back the same float",
    ),
    M(
        "gradcheck.relative_error_one_norm",
        "minirpn/gradcheck.py",
        "scale = np.linalg.norm(a) + np.linalg.norm(b)",
        "scale = np.linalg.norm(b)",
        "test_gradcheck.py",
        "relative error divided by one norm only (can exceed 1)",
    ),
    M(
        "config.json_lists_stay_lists",
        "minirpn/config.py",
        '        return tuple(\n            _checked(f"{name}[{i}]", v, "float", low, None,',
        '        return list(\n            _checked(f"{name}[{i}]", v, "float", low, None,',
        "test_config.py",
        "float sequences kept as lists (JSON gives lists): the frozen config is not hashable",
    ),
    M(
        "config.num_anchors_sum",
        "minirpn/config.py",
        "return len(self.anchor_ratios) * len(self.anchor_scales)",
        "return len(self.anchor_ratios) + len(self.anchor_scales)",
        "test_config.py",
        "k = ratios + scales instead of ratios x scales",
    ),
    M(
        "config.rpn_sigma_default",
        "minirpn/config.py",
        "rpn_sigma: float = 3.0",
        "rpn_sigma: float = 1.0",
        "test_config.py",
        "the paper's defaults drift (RPN smooth-L1 sigma)",
    ),
    M(
        "config.negative_overlap_default",
        "minirpn/config.py",
        "rpn_negative_overlap: float = 0.3",
        "rpn_negative_overlap: float = 0.5",
        "test_config.py",
        "the paper's defaults drift (negative IoU threshold)",
    ),
    # ------------------------------------------------------------------ matching (F8, F13, F17)
    M(
        "matching.positive_strictly_above",
        "minirpn/matching.py",
        "labels[max_iou >= positive_iou] = POSITIVE",
        "labels[max_iou > positive_iou] = POSITIVE",
        ("test_matching.py", "test_anchor_target.py"),
        "IoU exactly 0.7 (anchors) or 0.5 (RoIs) not positive (the code says >=)",
    ),
    M(
        "matching.negative_inclusive",
        "minirpn/matching.py",
        "(max_iou < hi)",
        "(max_iou <= hi)",
        ("test_matching.py", "test_anchor_target.py"),
        "IoU exactly 0.3 negative for anchors, exactly 0.5 background for RoIs",
    ),
    M(
        "matching.bg_lower_bound_strict",
        "minirpn/matching.py",
        "(max_iou >= lo)",
        "(max_iou > lo)",
        ("test_matching.py", "test_proposal_target.py"),
        "background lower bound exclusive (0.1 not background; 0.0 no longer admits IoU 0)",
    ),
    M(
        "matching.best_anchor_without_overlap",
        "minirpn/matching.py",
        "return ((iou == gt_best[None, :]) & (gt_best[None, :] > 0)).any(axis=1)",
        "return (iou == gt_best[None, :]).any(axis=1)",
        ("test_matching.py", "test_anchor_target.py"),
        "a ground truth no anchor touches makes every anchor positive",
    ),
    M(
        "matching.bg_quota_ignores_few_fg",
        "minirpn/matching.py",
        "max_negative = batch_size - min(positive.size, max_positive)",
        "max_negative = batch_size - max_positive",
        ("test_matching.py", "test_anchor_target.py"),
        "with few positives the batch is not filled with negatives",
    ),
    M(
        "matching.ties_go_to_the_last_gt",
        "minirpn/matching.py",
        "matched = iou.argmax(axis=1)  # (M,)",
        "matched = iou.shape[1] - 1 - iou[:, ::-1].argmax(axis=1)  # (M,)",
        "test_matching.py",
        "a candidate tied between two ground truths takes the last, not the first",
    ),
    M(
        "matching.max_positive_truncates",
        "minirpn/matching.py",
        "return int(np.round(fraction * batch_size))",
        "return int(fraction * batch_size)",
        "test_matching.py",
        "the positive quota truncated (3.5 -> 3) instead of rounded",
    ),
    M(
        "matching.positives_drawn_with_replacement",
        "minirpn/matching.py",
        "size=positive.size - max_positive, replace=False)",
        "size=positive.size - max_positive, replace=True)",
        "test_matching.py",
        "surplus positives drawn with replacement: too few are dropped, the cap is exceeded",
    ),
    # ------------------------------------------------------------------ anchor_target (F8 e)
    M(
        "anchor_target.border_x_against_height",
        "minirpn/anchor_target.py",
        "& (anchors[:, 2] <= width + allowed_border)",
        "& (anchors[:, 2] <= height + allowed_border)",
        "test_anchor_target.py",
        "the border test compares x with the height",
    ),
    # ------------------------------------------------------------------ proposal_target (F17)
    M(
        "proposal_target.gt_not_candidates",
        "minirpn/proposal_target.py",
        "candidates = np.concatenate([proposals, gt_boxes])",
        "candidates = np.concatenate([proposals, gt_boxes[:0]])",
        "test_proposal_target.py",
        "ground-truth boxes not added to the candidate RoIs",
    ),
    M(
        "proposal_target.targets_not_normalised",
        "minirpn/proposal_target.py",
        "            cfg.bbox_normalize_stds,\n        )",
        "            None,\n        )",
        "test_proposal_target.py",
        "second-stage targets not divided by the stds",
    ),
    M(
        "proposal_target.class_block_off_by_one",
        "minirpn/proposal_target.py",
        "columns = COORDS_PER_BOX * labels[:num_fg, None] +",
        "columns = COORDS_PER_BOX * (labels[:num_fg, None] - 1) +",
        "test_proposal_target.py",
        "class-specific targets one block to the left (C vs C + 1 columns)",
    ),
    # ------------------------------------------------------------------ roi_head (F17-F19)
    M(
        "roi_head.backward_drops_reg_branch",
        "minirpn/roi_head.py",
        "dhidden = self.cls_score.backward(dcls_logits) + self.bbox_pred.backward(dbox_deltas)",
        "dhidden = self.cls_score.backward(dcls_logits) + 0 * self.bbox_pred.backward(dbox_deltas)",
        "test_roi_head.py",
        "fc7's gradient takes only the classifier's share, not the box regressor's",
    ),
    M(
        "roi_head.backward_skips_relu7",
        "minirpn/roi_head.py",
        "self.relu6.backward(self.fc7.backward(self.relu7.backward(dhidden)))",
        "self.relu6.backward(self.fc7.backward(dhidden))",
        "test_roi_head.py",
        "the backward pass forgets fc7's ReLU (gradient flows through inactive units)",
    ),
    M(
        "roi_head.reg_loss_over_foreground",
        "minirpn/roi_head.py",
        "scale = 1.0 / max(num_rois, 1)",
        "scale = 1.0 / max(int((targets.labels > 0).sum()), 1)",
        "test_roi_head.py",
        "the box loss divided by the foreground RoIs instead of all R (the original's N)",
    ),
    M(
        "roi_head.reg_gradient_not_scaled",
        "minirpn/roi_head.py",
        "dreg * box_deltas.dtype.type(scale)",
        "dreg",
        "test_roi_head.py",
        "the box loss's gradient not divided by R like the loss",
    ),
    M(
        "roi_head.score_thresh_inclusive",
        "minirpn/roi_head.py",
        "keep = np.flatnonzero(scores > cfg.test_score_thresh)",
        "keep = np.flatnonzero(scores >= cfg.test_score_thresh)",
        "test_model.py::test_postprocess_drops_a_score_exactly_at_the_threshold",
        "a box scoring exactly test_score_thresh kept (the original keeps only > thresh)",
    ),
    M(
        "roi_head.background_column_scored",
        "minirpn/roi_head.py",
        "probs = softmax(cls_logits)[:, BACKGROUND + 1 :]  # (P, C)",
        "probs = softmax(cls_logits)[:, :num_cls]  # (P, C)",
        "test_model.py::test_postprocess_skips_the_background_column_and_keeps_the_last_class",
        "class k scored by column k - 1: background becomes class 1, the last class is lost",
    ),
    M(
        "roi_head.class_block_of_the_previous_class",
        "minirpn/roi_head.py",
        "COORDS_PER_BOX)[:, BACKGROUND + 1 :]",
        "COORDS_PER_BOX)[:, :num_cls]",
        "test_model.py::test_postprocess_decodes_each_class_with_its_own_block",
        "class k's box decoded with class k - 1's deltas (the background block counted in)",
    ),
    M(
        "roi_head.nms_across_classes",
        "minirpn/roi_head.py",
        "keep = batched_nms(boxes, scores, labels, cfg.test_nms)",
        "keep = batched_nms(boxes, scores, np.zeros_like(labels), cfg.test_nms)",
        "test_model.py::test_postprocess_nms_keeps_iou_exactly_at_test_nms_and_never_crosses_classes",
        "NMS across classes: a detection of one class suppresses another class's box",
    ),
    M(
        "roi_head.max_detections_off_by_one",
        "minirpn/roi_head.py",
        "[: cfg.test_max_detections]",
        "[: cfg.test_max_detections - 1]",
        "test_model.py::test_postprocess_keeps_exactly_test_max_detections_best_first",
        "one detection fewer than test_max_detections kept",
    ),
    # ------------------------------------------------------------------ schemes (F20)
    M(
        "schemes.roi_path_gradient_dropped",
        "minirpn/schemes/approximate_joint.py",
        "dfeatures = dfeatures + det.rpn.backward(cache.rpn_dscores, cache.rpn_ddeltas)",
        "dfeatures = det.rpn.backward(cache.rpn_dscores, cache.rpn_ddeltas)",
        "test_schemes.py",
        "the shared map gets only the RPN's gradient, not RoI pooling's (F20)",
    ),
    M(
        "schemes.frozen_head_still_backpropagates",
        "minirpn/schemes/approximate_joint.py",
        'if "roi_head" not in self.frozen:',
        "if True:",
        "test_schemes.py",
        "a frozen RoI head's grads are touched (and its gradient reaches the backbone)",
    ),
    M(
        "schemes.frozen_backbone_still_backpropagates",
        "minirpn/schemes/approximate_joint.py",
        'if "backbone" not in self.frozen and not np.isscalar(dfeatures):',
        "if not np.isscalar(dfeatures):",
        "test_schemes.py",
        "a frozen backbone's grads are touched",
    ),
    M(
        "schemes.parameters_keep_frozen_stages",
        "minirpn/schemes/approximate_joint.py",
        'if name.split(".", 1)[0] not in self.frozen',
        'if name.split(".")[-1] not in self.frozen',
        "test_schemes.py",
        "parameters() tests the wrong part of the name: frozen stages reach the optimiser",
    ),
    M(
        "steps.rpn_batch_gradient_summed",
        "minirpn/schemes/steps.py",
        "dscores[b] = loss.dscores[0] / batch",
        "dscores[b] = loss.dscores[0]",
        "test_train.py::test_a_batch_gradient_is_the_mean_of_its_images_gradients",
        "the RPN's score gradient summed over the images while its loss is averaged",
    ),
    # ------------------------------------------------------------------ backbone, train
    M(
        "backbone.preprocess_not_standardised",
        "minirpn/backbone.py",
        "return ((x - scalar(PIXEL_MEAN)) / scalar(PIXEL_STD)).transpose(0, 3, 1, 2)",
        "return (x - scalar(PIXEL_MEAN)).transpose(0, 3, 1, 2)",
        "test_model.py::test_preprocess_layout_and_scale",
        "pixels centred but not divided by their spread",
    ),
    M(
        "backbone.float_pixels_without_slack",
        "minirpn/backbone.py",
        "if low < -FLOAT_PIXEL_SLACK or high > 1.0 + FLOAT_PIXEL_SLACK:",
        "if low < 0.0 or high > 1.0:",
        "test_model.py::test_float_pixels_may_stray_by_the_slack_and_no_further",
        "float images a rounding error above 1 (resized images) refused",
    ),
    M(
        "backbone.nan_pixels_pass",
        "minirpn/backbone.py",
        "finite = np.isfinite(images)",
        "finite = ~np.isinf(images)",
        "test_model.py::test_float_pixels_may_stray_by_the_slack_and_no_further",
        "only infinite pixels refused: a NaN pixel passes and spreads through the network",
    ),
    M(
        "train.warmup_from_zero",
        "minirpn/train.py",
        "lr *= cfg.warmup_factor * (1.0 - alpha) + alpha",
        "lr *= alpha",
        "test_train.py::test_learning_rate_warm_up_then_steps",
        "warm-up starts at rate 0 instead of warmup_factor * lr",
    ),
    M(
        "train.rate_of_the_next_iteration",
        "minirpn/train.py",
        "optimizer.lr = learning_rate(cfg, iteration)",
        "optimizer.lr = learning_rate(cfg, iteration + 1)",
        "test_train.py::test_one_sgd_step_is_the_update_worked_by_hand",
        "each step uses the next iteration's rate (warm-up and drops one step early)",
    ),
    # ------------------------------------------------------------------ checkpoint version 1
    M(
        "checkpoint.v1_names_kept",
        "minirpn/checkpoint.py",
        '_RENAMED_PREFIXES = {1: ("head.", "roi_head.")}',
        '_RENAMED_PREFIXES = {1: ("head.", "head.")}',
        "test_checkpoint.py",
        "a version-1 checkpoint's head.* parameters are not renamed to roi_head.*",
    ),
    M(
        "checkpoint.v1_momentum_not_renamed",
        "minirpn/checkpoint.py",
        "if old and name.startswith(old):",
        "if old and prefix == _PARAM and name.startswith(old):",
        "test_checkpoint.py",
        "version 1: the weights are renamed but their momentum buffers are not",
    ),
    # ------------------------------------------------------------------ data: Pascal VOC
    M(
        "data.voc_xmin_not_shifted",
        "minirpn/data/voc.py",
        'box = [values["xmin"] - 1, values["ymin"] - 1, values["xmax"], values["ymax"]]',
        'box = [values["xmin"], values["ymin"], values["xmax"], values["ymax"]]',
        "test_data.py",
        "VOC's 1-based xmin, ymin read as continuous corners (boxes one pixel too small)",
    ),
    M(
        "data.voc_xmax_shifted_too",
        "minirpn/data/voc.py",
        'box = [values["xmin"] - 1, values["ymin"] - 1, values["xmax"], values["ymax"]]',
        'box = [values["xmin"] - 1, values["ymin"] - 1, values["xmax"] - 1, values["ymax"] - 1]',
        "test_data.py",
        "VOC's inclusive xmax shifted like xmin (boxes one pixel too small on the right)",
    ),
    M(
        "data.voc_write_xmin_unshifted",
        "minirpn/data/voc.py",
        '("xmin", x1 + 1), ("ymin", y1 + 1)',
        '("xmin", x1), ("ymin", y1)',
        "test_data.py",
        "write_voc writes 0-based xmin, ymin",
    ),
    M(
        "data.voc_difficult_trained_on",
        "minirpn/data/base.py",
        "easy, hard = keep & ~record.difficult, keep & record.difficult",
        "easy, hard = keep, keep & record.difficult",
        "test_data.py",
        "difficult boxes kept among the training boxes",
    ),
    # ------------------------------------------------------------------ datacheck
    M(
        "datacheck.box_at_the_edge_only_warned",
        "minirpn/datacheck.py",
        "outside = (clipped[:, 2] <= clipped[:, 0]) | (clipped[:, 3] <= clipped[:, 1])  # (K,)",
        "outside = (clipped[:, 2] < clipped[:, 0]) | (clipped[:, 3] < clipped[:, 1])  # (K,)",
        "test_datacheck.py",
        "a box starting exactly at the image's right edge (empty once clipped) only warned about",
    ),
    M(
        "datacheck.difficult_boxes_counted",
        "minirpn/datacheck.py",
        "for label in record.labels[~record.difficult]:",
        "for label in record.labels:",
        "test_datacheck.py",
        "difficult boxes counted as training boxes (a class with only those is not warned of)",
    ),
    # ------------------------------------------------------------------ evaluation: difficult
    M(
        "evaluation.difficult_counted_in_g",
        "minirpn/evaluation.py",
        "int(((im.gt_labels == label) & ~im.difficult).sum())",
        "int((im.gt_labels == label).sum())",
        "test_evaluation.py",
        "difficult boxes counted in G (missing them lowers the recall)",
    ),
    M(
        "evaluation.difficult_box_matched",
        "minirpn/evaluation.py",
        "overlaps = np.where(taken[image] | hard, -1.0, iou)  # taken or difficult: -1",
        "overlaps = np.where(taken[image], -1.0, iou)  # taken or difficult: -1",
        "test_evaluation.py",
        "a detection of a difficult box counts as a true positive",
    ),
    M(
        "evaluation.difficult_ignored_strictly_above",
        "minirpn/evaluation.py",
        "elif (iou[hard] >= threshold).any():",
        "elif (iou[hard] > threshold).any():",
        "test_evaluation.py",
        "a detection at IoU exactly t with a difficult box is a false positive, not ignored",
    ),
    M(
        "evaluation.ground_truth_flag_off_by_one",
        "minirpn/evaluation.py",
        "difficult = np.arange(len(labels)) >= len(sample.labels)",
        "difficult = np.arange(len(labels)) > len(sample.labels)",
        "test_evaluation.py",
        "the first difficult box of a sample is flagged as ordinary",
    ),
    # ------------------------------------------------------------------ memory, fileio
    M(
        "memory.pooling_halves_cells",
        "minirpn/memory.py",
        "cells = 4.0**-stage  # cells of this stage's map per input pixel",
        "cells = 2.0**-stage  # cells of this stage's map per input pixel",
        "test_memory.py",
        "a 2x2 pooling counted as halving the cells instead of quartering them",
    ),
    M(
        "memory.all_of_memavailable_usable",
        "minirpn/memory.py",
        "if need > usable:",
        "if need > available:",
        "test_memory.py",
        "the whole of MemAvailable planned for one batch, none left for the OS",
    ),
    M(
        "memory.meminfo_unit_ignored",
        "minirpn/memory.py",
        'return int(value) * (1024 if unit.lower() == "kb" else 1)',
        "return int(value)",
        "test_memory.py",
        "MemAvailable's kB read as bytes (every batch refused)",
    ),
    M(
        "fileio.private_files",
        "minirpn/fileio.py",
        "NEW_FILE_MODE = 0o666",
        "NEW_FILE_MODE = 0o600",
        "test_fileio.py",
        "files created 0600 whatever the umask (mkstemp's mode)",
    ),
    M(
        "fileio.leftover_temp_file_kept",
        "minirpn/fileio.py",
        "        tmp.unlink(missing_ok=True)\n        fd = os.open(",
        "        fd = os.open(",
        "test_fileio.py",
        "a temporary file left by a killed write blocks every later write (O_EXCL)",
    ),
    # ------------------------------------------------------------------ visualize, report
    M(
        "raster.box_half_a_pixel_wide",
        "minirpn/visualize/raster.py",
        "right, bottom = min(math.ceil(x2) - 1, width - 1), min(math.ceil(y2) - 1, height - 1)",
        "right, bottom = min(math.ceil(x2), width - 1), min(math.ceil(y2), height - 1)",
        "test_visualize.py",
        "the outline's right and bottom edges one pixel outside the box",
    ),
    M(
        "raster.box_rounded_not_floored",
        "minirpn/visualize/raster.py",
        "left, top = max(math.floor(x1), 0), max(math.floor(y1), 0)",
        "left, top = max(round(x1), 0), max(round(y1), 0)",
        "test_visualize.py",
        "a fractional left edge rounded: the pixel it touches is left out",
    ),
    M(
        "raster.loss_average_shifted",
        "minirpn/visualize/raster.py",
        "steps[window - 1 :],",
        "steps[: steps.size - window + 1],",
        "test_visualize.py",
        "the moving average plotted at the start of its window (the curve leads the data)",
    ),
    M(
        "raster.loss_average_divisor",
        "minirpn/visualize/raster.py",
        "return (sums[window:] - sums[:-window]) / window",
        "return (sums[window:] - sums[:-window]) / (window + 1)",
        "test_visualize.py",
        "the moving average divided by one value too many",
    ),
    M(
        "axes.image_half_pixel_shift",
        "minirpn/visualize/axes.py",
        "ax.imshow(image, extent=(0, width, height, 0), **kwargs)",
        "ax.imshow(image, extent=(-0.5, width - 0.5, height - 0.5, -0.5), **kwargs)",
        "test_visualize_stages.py",
        "images shown at matplotlib's default extent: every box half a pixel off its pixels",
    ),
    M(
        "stages.legend_positive_count_off_by_one",
        "minirpn/visualize/stages.py",
        'legend_line(GREEN, f"positive ({positive.size})"),',
        'legend_line(GREEN, f"positive ({positive.size - 1})"),',
        "test_visualize_stages.py",
        "the minibatch legend counts one positive too few",
    ),
    M(
        "stages.legend_minibatch_count_off_by_one",
        "minirpn/visualize/stages.py",
        'f"in the minibatch ({int(sampled.sum())})",',
        'f"in the minibatch ({int(sampled.sum()) + 1})",',
        "test_visualize_stages.py",
        "the label map's legend counts one sampled anchor too many",
    ),
    M(
        "report.draw_threshold_strict",
        "minirpn/report.py",
        "shown = scores >= DRAW_SCORE_THRESH",
        "shown = scores > DRAW_SCORE_THRESH",
        "test_visualize.py",
        "a detection scoring exactly 0.5 not drawn",
    ),
    M(
        "report.ground_truth_not_scaled",
        "minirpn/report.py",
        "picture, gt[0] * scale, gt[1], style=",
        "picture, gt[0], gt[1], style=",
        "test_visualize.py",
        "ground truth drawn at the original size on the enlarged picture",
    ),
    # ------------------------------------------------------------------ cli, runs
    M(
        "cli.detect_bbox_as_corners",
        "minirpn/cli.py",
        '"bbox": [x1, y1, x2 - x1, y2 - y1],',
        '"bbox": [x1, y1, x2, y2],',
        "test_cli.py::test_detect_writes_coco_results_through_the_category_ids",
        "detections.json written with corners where COCO results hold [x, y, w, h]",
    ),
    M(
        "cli.detect_category_is_the_label",
        "minirpn/cli.py",
        '"category_id": run.category_ids[label - 1],',
        '"category_id": label,',
        "test_cli.py::test_detect_writes_coco_results_through_the_category_ids",
        "results name the label 1..C, not the training data's (non-contiguous) category id",
    ),
    M(
        "runs.category_ids_forgotten",
        "minirpn/runs.py",
        'ids = state.extra.get("category_ids", list(range(1, len(class_names) + 1)))',
        "ids = list(range(1, len(class_names) + 1))",
        "test_cli.py::test_detect_writes_coco_results_through_the_category_ids",
        "a loaded run forgets the category ids saved in its checkpoint",
    ),
    # ------------------------------------------------------------------ shipped weights, BLAS
    M(
        "shipped.float32_on_disk",
        "minirpn/shipped.py",
        "arrays[_PARAM + name] = param.astype(np.float16)",
        "arrays[_PARAM + name] = param",
        "test_shipped.py::test_weights_round_trip_in_float16_and_refuse_what_float16_cannot_hold",
        "weights written in float32: twice the size, not what the format says",
    ),
    M(
        "shipped.float16_range_unchecked",
        "minirpn/shipped.py",
        "if not (np.abs(param) <= np.finfo(np.float16).max).all():",
        "if False:",
        "test_shipped.py::test_weights_round_trip_in_float16_and_refuse_what_float16_cannot_hold",
        "a weight beyond float16's range is stored as inf without a word",
    ),
    M(
        "runs.folder_wins_over_the_name",
        "minirpn/runs.py",
        "if isinstance(run, str) and run in SHIPPED:",
        "if isinstance(run, str) and run in SHIPPED and not Path(run).is_dir():",
        "test_shipped.py::test_the_name_toy_wins_over_a_folder_called_toy",
        "toy means another model in a directory that holds a folder called toy",
    ),
    M(
        "blas.threads_not_set",
        "minirpn/blas.py",
        "    set_threads(1)\n",
        "",
        "test_blas_kernels.py::test_use_one_thread_pins_blas_unless_the_user_chose",
        "use_one_thread leaves OpenBLAS on every core",
    ),
    # ------------------------------------------------------------------ exercises
    M(
        "exercises.default_tolerance_loose",
        "minirpn/exercises/__init__.py",
        "def number_close_to(expected: float, *, rtol: float = 1e-6, mistakes=()) -> Callable:",
        "def number_close_to(expected: float, *, rtol: float = 1e-2, mistakes=()) -> Callable:",
        "test_exercises.py",
        "a 1% default tolerance: 01.smallest_width accepts 1000 (a wrong width)",
    ),
    M(
        "exercises.smallest_width_off_by_one",
        "minirpn/exercises/lesson01.py",
        "while _conv5_3_size(600, width)[1] < columns:",
        "while _conv5_3_size(600, width)[1] < columns - 1:",
        "test_exercises.py",
        "the reference answer is the smallest width for 62 columns: 977 accepted, 993 refused",
    ),
    M(
        "exercises.step3_is_step2",
        "minirpn/exercises/lesson10.py",
        "STEP_3 = step_iterations(CLI_BUDGET)[2]",
        "STEP_3 = step_iterations(CLI_BUDGET)[1]",
        "test_exercises.py",
        "exercise 10.step3_iters's reference answer is step (ii)'s 1428, not step (iii)'s 2857",
    ),
    M(
        "exercises.ramp_gradient_per_cell",
        "minirpn/exercises/lesson11.py",
        "_, drois = roi_align_backward(dout, _ramp(), ROI, 1, TINY_SCALE, RATIO, True)",
        "_, drois = roi_align_backward(dout, _ramp(), ROI, 1, 1.0, RATIO, True)",
        "test_exercises.py",
        "exercise 11.ramp_gradient's reference answer is per map cell (0.5), not per pixel",
    ),
    M(
        "paper_claims.noise_from_the_smaller_spread",
        "minirpn/paper_claims.py",
        'spread = max(a[f"{measure}_spread"], b[f"{measure}_spread"])',
        'spread = min(a[f"{measure}_spread"], b[f"{measure}_spread"])',
        "test_paper_claims.py::test_difference_is_judged_against_twice_the_larger_spread",
        "a difference within the noisier row's spread is called beyond the noise in a lesson",
    ),
    # ------------------------------------------------------------------ lessons/sync.py
    M(
        "lessons.sync_pairs_by_default",
        "lessons/sync.py",
        "notebook_from_source(source, paired=args.pair)",
        "notebook_from_source(source, paired=True)",
        "test_lessons.py::test_pairing_is_for_developers_and_a_plain_sync_undoes_it",
        "every sync pairs the notebooks: a learner's save in Jupyter rewrites lessons/src",
    ),
    M(
        "lessons.copy_replaces_a_learners_copy",
        "lessons/sync.py",
        "            if target.exists():\n                kept.append(target.name)",
        "            if False:\n                kept.append(target.name)",
        "test_lessons.py::test_copies_are_clean_and_a_learners_copy_is_never_replaced",
        "--copy writes over a learner's own notebook: their experiments are lost",
    ),
    # ------------------------------------------------------------------ issue 12/14 additions
    M(
        "schemes.coordinate_weight_ignored",
        "minirpn/schemes/non_approximate_joint.py",
        "                drois * det.cfg.roi_coord_grad_weight,",
        "                drois,",
        "test_schemes.py::test_non_approximate_joint_coordinate_gradient_weight",
        "roi_coord_grad_weight has no effect: the tiny preset trains with the exact path",
    ),
    M(
        "schemes.coordinate_weight_on_the_rpn_loss",
        "minirpn/schemes/non_approximate_joint.py",
        "        rpn_ddeltas = cache.rpn_ddeltas\n",
        "        rpn_ddeltas = cache.rpn_ddeltas * det.cfg.roi_coord_grad_weight\n",
        "test_schemes.py::test_non_approximate_joint_coordinate_gradient_weight",
        "the weight scales the RPN loss's own gradient too, not the coordinate path alone",
    ),
    M(
        "model.anchor_center_ignored",
        "minirpn/model.py",
        "center = float(rf.center(0)) if cfg.anchor_center is None else cfg.anchor_center",
        "center = float(rf.center(0))",
        "test_model.py::test_anchor_center_moves_every_anchor_by_the_same_offset",
        "cfg.anchor_center has no effect: the corner anchors of the localisation study are centred",
    ),
    M(
        "config.float_or_none_unchecked",
        "minirpn/config.py",
        "return None if value is None else _checked(name, value, kind.split()[0], *bounds)",
        "return value",
        "test_config.py",
        "anchor_center='4' (a string) or NaN accepted, failing later inside the anchors",
    ),
    M(
        "paper_claims.ratio_to_the_last_row",
        "minirpn/paper_claims.py",
        'ratio = r["train_seconds"] / rows[0]["train_seconds"]',
        'ratio = r["train_seconds"] / rows[-1]["train_seconds"]',
        "test_paper_claims.py",
        "lesson 10's time ratios relative to the last scheme instead of approximate joint",
    ),
    M(
        "schemes.alternating_budget_ratio_inverted",
        "minirpn/schemes/alternating.py",
        "ORIGINAL_BUDGET_RATIO = 240 / 70",
        "ORIGINAL_BUDGET_RATIO = 240 / 80",
        "test_cli.py::test_alternating_gets_the_original_budget_unless_iters_is_given",
        "the original's budget read as 80k per step rather than 70k end to end",
    ),
    M(
        "cli.alternating_budget_overrides_iters",
        "minirpn/cli.py",
        'if args.scheme == "alternating" and args.iters is None:',
        'if args.scheme == "alternating":',
        "test_cli.py::test_alternating_gets_the_original_budget_unless_iters_is_given",
        "--iters ignored for alternating runs: the original budget replaces what was asked",
    ),
    M(
        "schemes.alternating_lr_steps_unscaled",
        "minirpn/schemes/alternating.py",
        "    lr_steps = _scaled_steps(cfg.lr_steps, total / cfg.max_iters)\n",
        "    lr_steps = cfg.lr_steps\n",
        "test_cli.py::test_alternating_gets_the_original_budget_unless_iters_is_given",
        "the learning rate drops at 2000 of 8571 iterations: most of the budget at a tenth",
    ),
]


# --------------------------------------------------------------------------- runner


class Outcome(NamedTuple):
    mutant: Mutant
    status: str  # "killed", "survived", "timeout", "error"
    caught_by: str
    seconds: float


def git_files(root: Path) -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [name for name in out.split("\0") if name and (root / name).is_file()]


def child_env(tree: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def build(tree: Path) -> None:
    result = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace", "-q"],
        cwd=tree,
        env=child_env(tree),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"building the kernels in {tree} failed:\n{result.stderr[-3000:]}")


def check_imports_from(tree: Path) -> None:
    """Fail unless ``minirpn`` and its compiled kernels load from ``tree``."""
    code = (
        "import minirpn, minirpn._kernels.boxes as b, minirpn._kernels.roi_pool as r; "
        "print(minirpn.__file__); print(b.__file__); print(r.__file__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tree, env=child_env(tree), capture_output=True, text=True
    )
    paths = result.stdout.split()
    if result.returncode != 0 or len(paths) != 3:
        raise RuntimeError(f"cannot import minirpn from {tree}:\n{result.stderr[-2000:]}")
    for path in paths:
        if not Path(path).resolve().is_relative_to(tree.resolve()):
            raise RuntimeError(f"minirpn was imported from {path}, not from the copy {tree}")


def run_tests(tree: Path, tests, timeout: float):
    """pytest -x on ``tests`` in ``tree`` -> (returncode or None on timeout, output)."""
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "--tb=no", "-rfE", "-p", "no:cacheprovider"]
    try:
        result = subprocess.run(
            cmd + list(tests),
            cwd=tree,
            env=child_env(tree),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return None, ""
    return result.returncode, result.stdout + result.stderr


def first_failure(output: str) -> str:
    match = re.search(r"^(?:FAILED|ERROR) (\S+)", output, flags=re.MULTILINE)
    return match.group(1) if match else ""


def apply(mutant: Mutant, tree: Path) -> None:
    path = tree / mutant.path
    text = path.read_text(encoding="utf-8")
    count = text.count(mutant.old)
    if count != 1:
        raise ValueError(
            f"mutant {mutant.name}: the text to replace occurs {count} times in {mutant.path}, "
            f"expected once (stale catalogue entry?)"
        )
    path.write_text(text.replace(mutant.old, mutant.new), encoding="utf-8")


def run_mutant(mutant: Mutant, base: Path, work: Path, timeout: float) -> Outcome:
    start = time.perf_counter()
    tree = work / mutant.name
    shutil.copytree(base, tree, symlinks=True)  # copy2 keeps mtimes: no needless rebuilds
    try:
        apply(mutant, tree)
        if mutant.path.endswith(".pyx"):
            build(tree)
        check_imports_from(tree)
        code, output = run_tests(tree, mutant.tests, timeout)
    except (RuntimeError, ValueError) as error:
        return Outcome(mutant, "error", str(error).splitlines()[0], time.perf_counter() - start)
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    seconds = time.perf_counter() - start
    if code is None:
        return Outcome(mutant, "timeout", f"(no result in {timeout:.0f} s)", seconds)
    if code == 0:
        return Outcome(mutant, "survived", "", seconds)
    if code == 1:
        return Outcome(mutant, "killed", first_failure(output) or "(see pytest output)", seconds)
    # 2: interrupted (e.g. a collection error), 3-5: internal error, usage, no tests
    tail = " ".join(output.strip().splitlines()[-1:])
    return Outcome(mutant, "error", f"pytest exit {code}: {tail}", seconds)


def print_table(outcomes: list[Outcome]) -> None:
    width = max(len(o.mutant.name) for o in outcomes)
    print(f"{'mutant':<{width}}  {'status':<8}  {'seconds':>7}  caught by")
    for o in outcomes:
        caught = o.caught_by.removeprefix("tests/")
        print(f"{o.mutant.name:<{width}}  {o.status:<8}  {o.seconds:7.1f}  {caught}")
    counts = {s: sum(o.status == s for o in outcomes) for s in ("killed", "survived", "timeout")}
    errors = len(outcomes) - sum(counts.values())
    print(
        f"\n{counts['killed']} killed, {counts['survived']} survived, {counts['timeout']} "
        f"timed out, {errors} errors, of {len(outcomes)} mutants"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only", help="run the mutants whose name or file contains this (comma: any of several)"
    )
    parser.add_argument("--list", action="store_true", help="print the catalogue and exit")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="mutants run at a time")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_SECONDS)
    args = parser.parse_args(argv)

    wanted = None if args.only is None else args.only.split(",")
    chosen = [
        m for m in MUTANTS if wanted is None or any(w in m.name or w in m.path for w in wanted)
    ]
    names = [m.name for m in MUTANTS]
    if len(set(names)) != len(names):
        raise SystemExit("mutant names must be unique")
    if args.list:
        for m in chosen:
            tests = ", ".join(t.removeprefix("tests/") for t in m.tests)
            print(f"{m.name} {m.path}: {m.bug}\n    tests: {tests}")
        print(f"\n{len(chosen)} mutants")
        return 0
    if not chosen:
        raise SystemExit(f"no mutant matches {args.only!r}")

    with tempfile.TemporaryDirectory(prefix="minirpn-mutants-") as tmp:
        work = Path(tmp)
        base = work / "_base"
        start = time.perf_counter()
        for name in git_files(ROOT):
            target = base / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target)
        build(base)
        check_imports_from(base)
        tests = sorted({t for m in chosen for t in m.tests})
        code, output = run_tests(base, tests, args.timeout)
        if code != 0:
            print(output[-5000:])
            raise SystemExit("the unmutated tree fails the named tests: fix that first")
        print(
            f"unmutated tree: {len(tests)} test targets pass ({time.perf_counter() - start:.0f} s)"
        )
        for m in chosen:  # stale entries fail fast, before any test runs
            text = (base / m.path).read_text(encoding="utf-8")
            if text.count(m.old) != 1:
                raise SystemExit(f"mutant {m.name}: its text occurs {text.count(m.old)} times")

        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = [pool.submit(run_mutant, m, base, work, args.timeout) for m in chosen]
            outcomes = []
            for future in futures:
                outcome = future.result()
                outcomes.append(outcome)
                print(f"  {outcome.mutant.name}: {outcome.status} ({outcome.seconds:.0f} s)")
                sys.stdout.flush()
        print()
        print_table(outcomes)
    return 0 if all(o.status in ("killed", "timeout") for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
