"""Mutation testing: plant one plausible bug at a time and check that the fast tests catch it.

A test suite is only as good as the bugs it would notice. Each entry of ``MUTANTS`` below is
one small, plausible mistake -- a ``>`` for a ``>=``, a forgotten ``+ 1``, PyTorch's momentum
where Caffe's was meant -- with the fast test files (or test ids) that should fail because
of it. An entry finds its place by syntax, not by exact text:

* ``path`` and ``scope``: the file, and the qualified name of the function, method or class
  that holds the code (``"RoIHead.backward"``, ``"_per_anchor_rows"``; ``""`` for the whole
  module). Cython's ``cdef``/``cpdef`` functions and ``cdef class`` es are scopes too;
* ``old``: the code to change, compared as a sequence of Python tokens (names, operators,
  numbers, strings) that must occur exactly once in that scope, its ``def``/``class`` line
  included. Spaces, line breaks and comments do not count, so reformatting the file or
  editing a comment never breaks an entry, and no source line ever has to be written, or
  kept, to make an entry's text unique: naming a smaller scope does that;
* ``new``: the text that replaces the matched tokens. Its first line continues where the
  match began; its later lines are indented by that line's indentation plus their own.

The runner

1. copies the tree to a temporary folder (``git ls-files``: tracked and untracked files that
   are not ignored, as they are in the working tree, so no build output) and builds the
   Cython kernels there once (``python setup.py build_ext --inplace``);
2. runs every named test on that unmutated copy: they must all pass, or it stops; and
   locates every chosen entry (a stale one is an error naming where its tokens occur now,
   not a silent pass);
3. for each mutant: copies the built tree again, applies it, rebuilds the kernels if a
   ``.pyx`` file changed, checks that ``import minirpn`` really loads the copy (not the
   editable install), runs the named tests with ``pytest -x`` and ``PYTHONPATH=<copy>``,
   and records whether some test failed (killed) or all passed (survived), the first
   failing test id, and the time;
4. prints the table and exits with status 1 if any mutant survived.

    python benchmarks/mutants.py -j 2         # every mutant, two at a time: ~10 min on 2 cores
    python benchmarks/mutants.py --list       # the catalogue
    python benchmarks/mutants.py --only nms   # mutants whose name or file contains "nms"
    python benchmarks/mutants.py --only relu,evaluation.iou   # any of several

When code moves, its entries move with it: point them at the code that now does the same
job, keeping the bug meaningful. New code gets new entries, each named after the fast tests
that should catch it (never the training test alone: a mutant that only a 30-second run
notices is a missing unit test).
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import tokenize
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_SECONDS = 600  # a mutant that makes a test loop forever counts as killed, marked so


class Mutant(NamedTuple):
    """One planted bug: in ``scope`` of ``path``, ``old``'s tokens become ``new``."""

    name: str
    path: str  # relative to the repository root
    scope: str  # qualified name of the def/class holding the code, "" for the whole file
    old: str  # Python tokens that occur exactly once in the scope
    new: str
    tests: tuple[str, ...]  # test files or test ids, each fast
    bug: str  # the mistake in words


def M(name, path, scope, old, new, tests, bug):
    tests = (tests,) if isinstance(tests, str) else tuple(tests)
    return Mutant(name, path, scope, old, new, tuple(f"tests/{t}" for t in tests), bug)


MUTANTS = [
    # ------------------------------------------------------------------ anchors (F7)
    M(
        "anchors.no_rounding",
        "minirpn/anchors.py",
        "generate_base_anchors",
        "widths = np.round(np.sqrt(area / ratios_arr))",
        "widths = np.sqrt(area / ratios_arr)",
        "test_anchors.py",
        "base anchor widths not rounded to whole pixels as the original does",
    ),
    M(
        "anchors.ratio_is_w_over_h",
        "minirpn/anchors.py",
        "generate_base_anchors",
        "heights = np.round(widths * ratios_arr)",
        "heights = np.round(widths / ratios_arr)",
        "test_anchors.py",
        "aspect ratio read as w / h instead of h / w",
    ),
    M(
        "anchors.inclusive_centre",
        "minirpn/anchors.py",
        "generate_base_anchors",
        "center = base_size / 2.0",
        "center = (base_size - 1) / 2.0",
        "test_anchors.py",
        "Caffe's inclusive-pixel centre (7.5) in the continuous convention",
    ),
    M(
        "anchors.grid_column_major",
        "minirpn/anchors.py",
        "grid_anchors",
        "sx, sy = np.meshgrid(shift_x, shift_y)",
        "sy, sx = np.meshgrid(shift_y, shift_x)",
        "test_anchors.py",
        "cells enumerated column by column, not in the head's row-major order",
    ),
    # ------------------------------------------------------------------ boxes (F10)
    M(
        "boxes.encode_log_ratio_inverted",
        "minirpn/boxes.py",
        "encode",
        "np.log(gw / aw)",
        "np.log(aw / gw)",
        "test_boxes.py",
        "t_w = log(w_a / w) instead of log(w / w_a)",
    ),
    M(
        "boxes.decode_from_corner",
        "minirpn/boxes.py",
        "_decode_terms",
        "ax = anchors[:, 0] + 0.5 * aw",
        "ax = anchors[:, 0]",
        "test_boxes.py",
        "decode moves the corner instead of the centre",
    ),
    M(
        "boxes.decode_no_clamp",
        "minirpn/boxes.py",
        "_decode_terms",
        "w = aw * np.exp(np.minimum(deltas[:, 2], BBOX_XFORM_CLIP))",
        "w = aw * np.exp(deltas[:, 2])",
        "test_boxes.py",
        "t_w not clamped before exp (overflow on wild predictions)",
    ),
    M(
        "boxes.clip_x_to_height",
        "minirpn/boxes.py",
        "clip_boxes",
        "np.clip(boxes[:, 0::2], 0, width, out=out[:, 0::2])",
        "np.clip(boxes[:, 0::2], 0, height, out=out[:, 0::2])",
        "test_boxes.py",
        "x clipped to the image height (height and width swapped)",
    ),
    M(
        "boxes.min_size_strict",
        "minirpn/boxes.py",
        "remove_small_boxes",
        "(widths >= min_size) & (heights >= min_size)",
        "(widths > min_size) & (heights > min_size)",
        "test_boxes.py",
        "boxes exactly min_size wide are dropped",
    ),
    M(
        "boxes.encode_stds_multiply",
        "minirpn/boxes.py",
        "encode",
        'deltas = deltas / _coord_vector(stds, "stds", deltas.dtype, positive=True)',
        'deltas = deltas * _coord_vector(stds, "stds", deltas.dtype, positive=True)',
        "test_boxes.py",
        "target normalisation multiplies by the stds instead of dividing",
    ),
    # ------------------------------------------------------------------ rpn (F6, F11)
    M(
        "rpn_head.flatten_anchor_major",
        "minirpn/rpn_head.py",
        "_per_anchor_rows",
        ".transpose(2, 3, 0, 1)",
        ".transpose(0, 2, 3, 1)",
        "test_rpn.py",
        "rows flattened anchor-major, not in grid-anchor order",
    ),
    M(
        "rpn_head.backward_drops_reg_branch",
        "minirpn/rpn_head.py",
        "RPNHead.backward",
        "+ self.bbox_pred.backward(",
        "+ 0 * self.bbox_pred.backward(",
        "test_rpn.py",
        "the hidden map's gradient takes only the cls sibling's share",
    ),
    M(
        "rpn_head.n_reg_counts_anchors",
        "minirpn/rpn_head.py",
        "rpn_loss",
        "targets, cfg, feat_h * feat_w",
        "targets, cfg, feat_h * feat_w * (scores.shape[1] // 2)",
        "test_rpn.py",
        "N_reg counts anchors instead of anchor locations (one image, one map)",
    ),
    M(
        "rpn.n_reg_counts_anchors",
        "minirpn/rpn.py",
        "RPNOutput.num_locations",
        "s.shape[2] * s.shape[3]",
        "s.shape[1] // 2 * s.shape[2] * s.shape[3]",
        "test_rpn.py",
        "the stage's N_reg counts anchors instead of anchor locations",
    ),
    M(
        "rpn.n_reg_of_the_first_map",
        "minirpn/rpn.py",
        "RPNOutput.num_locations",
        "for s in self.scores",
        "for s in self.scores[:1]",
        "test_rpn.py::test_the_stage_on_two_maps_of_different_sizes_gradient_check",
        "N_reg counts the cells of the first map only, not of every map",
    ),
    M(
        "rpn_head.no_lambda",
        "minirpn/rpn_head.py",
        "rpn_loss_rows",
        "scale = cfg.rpn_lambda / n_reg",
        "scale = 1.0 / n_reg",
        "test_rpn.py",
        "lambda forgotten in the paper's normalisation",
    ),
    M(
        "rpn_head.gradient_not_scaled",
        "minirpn/rpn_head.py",
        "rpn_loss_rows",
        "dpred * pred.dtype.type(scale)",
        "dpred",
        "test_rpn.py",
        "regression gradient not scaled like the loss",
    ),
    M(
        "rpn_head.sigma_ignored",
        "minirpn/rpn_head.py",
        "rpn_loss_rows",
        "sigma=cfg.rpn_sigma,",
        "sigma=1.0,",
        "test_rpn.py",
        "smooth L1 with sigma 1 instead of the RPN's 3",
    ),
    # ------------------------------------------------------------------ rpn: the stage, many maps
    M(
        "rpn.rows_take_the_first_map_anchors",
        "minirpn/rpn.py",
        "RPNOutput.rows",
        "_stack_rows(self.anchors)",
        "self.anchors[0]",
        "test_rpn.py::test_the_stage_on_two_maps_of_different_sizes_gradient_check",
        "an image's rows pair every map's scores with the first map's anchors",
    ),
    M(
        "rpn.scatter_rows_restarts_each_map",
        "minirpn/rpn.py",
        "RPNOutput.scatter_rows",
        "start = stop",
        "start = 0",
        "test_rpn.py::test_the_stage_on_two_maps_of_different_sizes_gradient_check",
        "every map's gradient read from the first rows: the second map gets the first one's",
    ),
    M(
        "rpn.anchor_targets_of_the_first_map",
        "minirpn/rpn.py",
        "RegionProposalNetwork.anchor_targets",
        "anchors = np.concatenate(out.anchors)",
        "anchors = out.anchors[0]",
        "test_rpn.py::test_the_stage_on_two_maps_of_different_sizes_gradient_check",
        "anchor targets computed for the first map's anchors only",
    ),
    M(
        "rpn.backward_pairs_maps_wrongly",
        "minirpn/rpn.py",
        "RegionProposalNetwork.backward",
        "zip(dscores, ddeltas, cache, strict=True)",
        "zip(dscores, ddeltas, cache[::-1], strict=True)",
        "test_rpn.py::test_the_stage_on_two_maps_of_different_sizes_gradient_check",
        "each map's gradient sent back through another map's head cache",
    ),
    M(
        "rpn.batch_score_gradient_summed",
        "minirpn/rpn.py",
        "RegionProposalNetwork.loss",
        "for grad in dscores + ddeltas:",
        "for grad in ddeltas:",
        (
            "test_rpn.py",
            "test_train.py::test_a_batch_gradient_is_the_mean_of_its_images_gradients",
        ),
        "the RPN's score gradient summed over the images while its loss is averaged",
    ),
    # ------------------------------------------------------------------ proposal (F15, F16)
    M(
        "proposal.background_column",
        "minirpn/proposal.py",
        "",
        "OBJECT = 1",
        "OBJECT = 0",
        "test_proposal.py",
        "objectness read from the background column",
    ),
    M(
        "proposal.min_size_not_scaled",
        "minirpn/proposal.py",
        "propose_rows",
        "remove_small_boxes(boxes, cfg.rpn_min_size * image_scale)",
        "remove_small_boxes(boxes, cfg.rpn_min_size)",
        "test_proposal.py",
        "minimum size not multiplied by the image scale",
    ),
    M(
        "proposal.no_clip",
        "minirpn/proposal.py",
        "propose_rows",
        "boxes = clip_boxes(boxes, image_size)",
        "boxes = boxes",
        "test_proposal.py",
        "proposals not clipped to the image",
    ),
    M(
        "proposal.post_nms_uses_pre_n",
        "minirpn/proposal.py",
        "propose_rows",
        "max_output=post_nms_top_n)",
        "max_output=pre_nms_top_n)",
        "test_proposal.py",
        "the post-NMS cap uses the pre-NMS number",
    ),
    M(
        "proposal.train_test_swapped",
        "minirpn/proposal.py",
        "propose_rows",
        "if train:",
        "if not train:",
        "test_proposal.py",
        "training and test top-N values swapped",
    ),
    # ------------------------------------------------------------------ receptive_field (F1-F4)
    M(
        "receptive_field.padding_enlarges",
        "minirpn/receptive_field.py",
        "_compose",
        "size = (size - 1) * s + k  # F3",
        "size = (size - 1) * s + k + 2 * p  # F3",
        "test_receptive_field.py",
        "F2's input-size formula used for the receptive field (padding counted)",
    ),
    M(
        "receptive_field.centre_offset_missing_half",
        "minirpn/receptive_field.py",
        "receptive_field",
        "offset=shift + 0.5)",
        "offset=shift)",
        "test_receptive_field.py",
        "cell-index centre returned as a continuous coordinate (off by half a pixel)",
    ),
    M(
        "receptive_field.padding_sign",
        "minirpn/receptive_field.py",
        "_compose",
        "shift = s * shift + ((k - 1) / 2 - p)",
        "shift = s * shift + ((k - 1) / 2 + p)",
        "test_receptive_field.py",
        "F4 with + padding",
    ),
    M(
        "receptive_field.ceil_mode_no_correction",
        "minirpn/receptive_field.py",
        "output_size",
        "if ceil_mode and (out - 1) * stride >= size + padding:",
        "if False:",
        "test_receptive_field.py",
        "ceil mode keeps a last window that starts in the padding",
    ),
    M(
        "receptive_field.inverse_shift_sign",
        "minirpn/receptive_field.py",
        "_affine",
        "return 1.0 / jump, -shift / jump",
        "return 1.0 / jump, shift / jump",
        "test_receptive_field.py",
        "mapping away from the image inverts the shift with the wrong sign",
    ),
    # ------------------------------------------------------------------ nn: layers
    M(
        "nn.conv_col2im_assigns",
        "minirpn/nn/reference.py",
        "col2im",
        "dxp[:, :, i : i + sh * ho : sh, j : j + sw * wo : sw] += windows[:, :, i, j]",
        "dxp[:, :, i : i + sh * ho : sh, j : j + sw * wo : sw] = windows[:, :, i, j]",
        "test_nn_conv.py",
        "the twin's col2im overwrites instead of adding overlapping windows' gradients",
    ),
    M(
        "kernel.im2col_stride_ignored",
        "kernels/col2im.pyx",
        "im2col",
        "window = &padded[n, oy * sh, ox * sw, 0]",
        "window = &padded[n, oy * sh, ox, 0]",
        "test_nn_conv.py",
        "im2col reads neighbouring pixels instead of every sw-th one (strided convolutions)",
    ),
    M(
        "kernel.im2col_right_padding_left_unwritten",
        "kernels/col2im.pyx",
        "to_padded_channels_last",
        "memset(&out[n, ph + y, pw + width, 0], 0, pw * channels * sizeof(real))",
        "memset(&out[n, ph + y, pw + width, 0], 0, 0)",
        "test_nn_conv.py",
        "im2col leaves the right padding as np.empty left it, not 0",
    ),
    M(
        "kernel.im2col_copy_ignores_kernel_row",
        "kernels/col2im.pyx",
        "im2col",
        "_copy_run(dst, window + i * row, run)",
        "_copy_run(dst, window, run)",
        "test_nn_conv.py",
        "im2col copies the same input row for every kernel row i",
    ),
    M(
        "kernel.im2col_channels_read_as_rows",
        "kernels/col2im.pyx",
        "to_padded_channels_last",
        "height * width, &out[n, ph + y, pw, 0]",
        "width, &out[n, ph + y, pw, 0]",
        "test_nn_conv.py",
        "the channels-last copy steps from channel to channel by one row instead of one map",
    ),
    M(
        "kernel.col2im_assigns",
        "kernels/col2im.pyx",
        "col2im",
        "_add_run(&padded[n, oy * sh + i, ox * sw, 0],",
        "_copy_run(&padded[n, oy * sh + i, ox * sw, 0],",
        "test_nn_conv.py",
        "col2im overwrites instead of adding overlapping windows' gradients",
    ),
    M(
        "kernel.col2im_windows_left_to_right",
        "kernels/col2im.pyx",
        "col2im",
        "for ox in range(wo - 1, -1, -1):",
        "for ox in range(wo):",
        "test_nn_conv.py::test_col2im_kernel_equals_its_numpy_twin_bit_for_bit",
        "the kernel adds a pixel's contributions in another order than its twin (last bits)",
    ),
    M(
        "kernel.col2im_copies_back_the_padding",
        "kernels/col2im.pyx",
        "from_padded_channels_last",
        "&padded[n, ph + y, pw, 0]",
        "&padded[n, y, 0, 0]",
        "test_nn_conv.py",
        "the gradient copied back to NCHW starts at the padding's corner, not the input's",
    ),
    M(
        "kernel.conv_bias_not_added",
        "kernels/col2im.pyx",
        "add_bias_transposed",
        "&b[0])",
        "NULL)",
        "test_nn_conv.py",
        "the transposing pass forgets the bias",
    ),
    M(
        "nn.conv_skips_dw_without_dx",
        "minirpn/nn/layers.py",
        "Sequential.backward",
        "layer.param_backward(dout, cache)\nreturn None",
        "return None",
        "test_nn_layers.py::test_a_sequential_without_dx_adds_the_same_parameter_gradients",
        "the first layer's parameters get no gradient when nobody needs the input's",
    ),
    M(
        "nn.conv_db_first_image",
        "minirpn/nn/conv.py",
        "conv2d_backward",
        "db = dout_flat.sum(axis=(0, 2))",
        "db = dout_flat[0].sum(axis=1)",
        "test_nn_conv.py",
        "bias gradient summed over the first image of the batch only",
    ),
    M(
        "nn.conv_dx_untransposed_weight",
        "minirpn/nn/conv.py",
        "conv2d_backward",
        "dcols = dout_flat.transpose(0, 2, 1) @ _flat_filters(w)",
        "dcols = dout_flat.transpose(0, 2, 1) @ _flat_filters(np.flip(w, (2, 3)))",
        "test_nn_conv.py",
        "kernel flipped in the input gradient (convolution vs cross-correlation mix-up)",
    ),
    M(
        "nn.pool_last_max_wins",
        "kernels/max_pool.pyx",
        "max_pool_forward",
        "later = value > current",
        "later = value >= current",
        "test_nn_pool.py",
        "ties route the gradient to the last maximum, not the first (Caffe)",
    ),
    M(
        "nn.pool_nan_lost",
        "kernels/max_pool.pyx",
        "max_pool_forward",
        "keep = (current > value) | (current != current)",
        "keep = current >= value",
        "test_nn_pool.py",
        "a NaN in a window is replaced by a later number (np.maximum keeps it)",
    ),
    M(
        "nn.pool_backward_assigns",
        "kernels/max_pool.pyx",
        "max_pool_backward",
        "plane[oy * sh * width + ox * sw + shift[place]] += dout[n, c, oy, ox]",
        "plane[oy * sh * width + ox * sw + shift[place]] = dout[n, c, oy, ox]",
        "test_nn_pool.py",
        "overlapping windows' gradients overwrite each other",
    ),
    M(
        "nn.pool_halving_last_max_wins",
        "kernels/max_pool.pyx",
        "max_pool_2x2_forward",
        "(2 + (d > c))",
        "(2 + (d >= c))",
        "test_nn_pool.py",
        "2x2 path: of equal numbers in the lower row the later takes the place",
    ),
    M(
        "nn.pool_halving_nan_hides_place",
        "kernels/max_pool.pyx",
        "max_pool_2x2_forward",
        "if candidate > top",
        "if bottom > top",
        "test_nn_pool.py",
        "2x2 path: a NaN at the lower right hides a larger lower left from the place",
    ),
    M(
        "nn.pool_halving_nan_lost",
        "kernels/max_pool.pyx",
        "max_pool_2x2_forward",
        "best[ox] = top if (top > bottom) | (a != a) | (b != b) else bottom",
        "best[ox] = top if top > bottom else bottom",
        "test_nn_pool.py",
        "2x2 path: a NaN in the upper row is replaced by the lower row's maximum",
    ),
    M(
        "nn.pool_halving_places_not_narrowed",
        "kernels/max_pool.pyx",
        "max_pool_2x2_forward",
        "place[ox] = <unsigned char>places[ox]",
        "place[ox] = 0",
        "test_nn_pool.py",
        "2x2 path: the row of places is computed but not stored",
    ),
    M(
        "nn.pool_halving_backward_keeps_negative_zero",
        "kernels/max_pool.pyx",
        "max_pool_2x2_backward",
        "upper[2 * ox] = zero + (g if p == 0 else zero)",
        "upper[2 * ox] = g if p == 0 else zero",
        "test_nn_pool.py",
        "2x2 path: a -0.0 gradient stays -0.0 (the general kernel adds it to 0.0: +0.0)",
    ),
    M(
        "nn.pool_halving_backward_wrong_cell",
        "kernels/max_pool.pyx",
        "max_pool_2x2_backward",
        "lower[2 * ox] = zero + (g if p == 2 else zero)",
        "lower[2 * ox] = zero + (g if p == 1 else zero)",
        "test_nn_pool.py",
        "2x2 path: place 1 (upper right) also sends its gradient to the lower left",
    ),
    M(
        "nn.pool_halving_backward_damage_unseen",
        "kernels/max_pool.pyx",
        "max_pool_2x2_backward",
        "outside += p > 3",
        "outside += p > 4",
        "test_nn_pool.py",
        "2x2 path: an argmax of 4, beyond the window, is not reported",
    ),
    M(
        "kernel.roi_pool_first_cell_skipped_in_every_row",
        "kernels/roi_pool.pyx",
        "_bin_argmax",
        "range(left + 1 if h == top else left, right)",
        "range(left + 1, right)",
        "test_ops_roi_pool.py",
        "a bin's first column is left out below its first row (it is only its first cell)",
    ),
    M(
        "kernel.roi_pool_transpose_block_unturned",
        "kernels/roi_pool.pyx",
        "_transpose",
        "target[(c + j) * rows + r + i] = block[i][j]",
        "target[(c + j) * rows + r + i] = block[j][i]",
        "test_ops_roi_pool.py",
        "a 4 x 4 block is copied without being transposed",
    ),
    M(
        "kernel.roi_pool_transpose_edge_rows",
        "kernels/roi_pool.pyx",
        "_transpose",
        "target[(c + j) * rows + r] = source[r * cols + c + j]",
        "target[(c + j) * rows + r] = source[r * cols + c]",
        "test_ops_roi_pool.py",
        "the rows beyond a multiple of 4 take one column's numbers for four",
    ),
    M(
        "nn.pool_twin_backward_last_max",
        "minirpn/nn/reference.py",
        "max_pool2d_backward",
        "first = window.reshape(n, c, -1).argmax(axis=2)",
        "first = window.reshape(n, c, -1)[..., ::-1].argmax(axis=2)",
        "test_nn_pool.py",
        "the twin sends the gradient to a window's last maximum (wrong place when flipped)",
    ),
    M(
        "nn.pool_pads_with_zero",
        "minirpn/nn/pool.py",
        "max_pool2d_forward",
        "fill=-np.inf)",
        "fill=0.0)",
        "test_nn_pool.py",
        "padding filled with 0, so it wins over negative inputs",
    ),
    M(
        "nn.linear_db_mean",
        "minirpn/nn/linear.py",
        "linear_backward",
        "dout.sum(axis=0).astype(b_dtype, copy=False)",
        "dout.mean(axis=0).astype(b_dtype, copy=False)",
        "test_nn_layers.py",
        "bias gradient averaged over the batch instead of summed",
    ),
    M(
        "kernel.relu_gradient_at_zero",
        "kernels/relu.pyx",
        "relu_forward",
        "positive = value > zero",
        "positive = value >= zero",
        "test_nn_activation.py",
        "the kink at 0 passes the gradient",
    ),
    M(
        "kernel.relu_hides_nan",
        "kernels/relu.pyx",
        "relu_forward",
        "out[i] = value if (positive | (value != value)) else zero",
        "out[i] = value if positive else zero",
        "test_nn_activation.py",
        "ReLU turns a NaN into 0, hiding a diverged layer from the NaN checks",
    ),
    M(
        "nn.relu_backward_product",
        "minirpn/nn/activation.py",
        "relu_backward",
        "return (dout.view(bits) * cache).view(dout.dtype)",
        "return dout * cache",
        "test_nn_activation.py",
        "ReLU's gradient as a product with the mask: NaN and -0.0 where it must be +0.0",
    ),
    M(
        "nn.dropout_not_rescaled",
        "minirpn/nn/activation.py",
        "dropout_forward",
        "mask = (rng.random(x.shape) >= p).astype(x.dtype) / x.dtype.type(1.0 - p)",
        "mask = (rng.random(x.shape) >= p).astype(x.dtype)",
        "test_nn_activation.py",
        "plain dropout instead of inverted (expected output shrinks)",
    ),
    # ------------------------------------------------------------------ nn: losses (F11, F12)
    M(
        "nn.smooth_l1_switch_at_one_over_sigma",
        "minirpn/nn/loss.py",
        "smooth_l1",
        "quadratic = abs_x < 1.0 / sigma2",
        "quadratic = abs_x < 1.0 / sigma",
        "test_nn_losses.py",
        "smooth L1 switches at 1/sigma instead of 1/sigma^2",
    ),
    M(
        "nn.smooth_l1_offset_without_sigma",
        "minirpn/nn/loss.py",
        "smooth_l1",
        "abs_x - 0.5 / sigma2)",
        "abs_x - 0.5)",
        "test_nn_losses.py",
        "linear piece offset 0.5 regardless of sigma (pieces no longer meet)",
    ),
    M(
        "nn.cross_entropy_mean_over_all_rows",
        "minirpn/nn/loss.py",
        "softmax_cross_entropy",
        "loss = -float(log_prob[picked, target].sum()) / num_kept",
        "loss = -float(log_prob[picked, target].sum()) / n",
        "test_nn_losses.py",
        "ignored rows counted in the mean (N_cls wrong)",
    ),
    M(
        "nn.softmax_no_shift",
        "minirpn/nn/loss.py",
        "log_softmax",
        "shifted = logits - logits.max(axis=1, keepdims=True)",
        "shifted = logits",
        "test_nn_losses.py",
        "softmax without the log-sum-exp shift (overflows for large logits)",
    ),
    # ------------------------------------------------------------------ nn: optim, init (F14)
    M(
        "kernel.sgd_pytorch_momentum",
        "kernels/sgd.pyx",
        "sgd_update",
        "velocity[i] = velocity[i] * momentum_ + lr_ * g\nparam[i] = param[i] - velocity[i]",
        "velocity[i] = velocity[i] * momentum_ + g\nparam[i] = param[i] - lr_ * velocity[i]",
        "test_nn_optim.py",
        "PyTorch's momentum form instead of Caffe's (differs after a rate change)",
    ),
    M(
        "nn.sgd_decays_biases",
        "minirpn/nn/optim.py",
        "SGD.step",
        'decay = self.weight_decay if name.endswith("weight") else 0.0',
        "decay = self.weight_decay",
        "test_nn_optim.py",
        "weight decay applied to biases too",
    ),
    M(
        "nn.step_lr_off_by_one",
        "minirpn/nn/optim.py",
        "step_lr",
        "bisect.bisect_right(steps, iteration)",
        "bisect.bisect_left(steps, iteration)",
        "test_nn_optim.py",
        "the rate drops one iteration late",
    ),
    M(
        "nn.init_variance_for_std",
        "minirpn/nn/init.py",
        "gaussian",
        "return (rng.standard_normal(shape) * std).astype(dtype)",
        "return (rng.standard_normal(shape) * std**2).astype(dtype)",
        ("test_nn_layers.py", "test_rpn.py"),
        "the variance used as the standard deviation",
    ),
    M(
        "nn.he_fan_in_ignores_kernel",
        "minirpn/nn/init.py",
        "he_normal",
        "fan_in = math.prod(shape[1:])",
        "fan_in = shape[1]",
        "test_nn_layers.py",
        "He's fan-in without the kernel area",
    ),
    # ------------------------------------------------------------------ Cython kernels (.pyx)
    M(
        "kernel.nms_keeps_one_more",
        "kernels/boxes.pyx",
        "greedy_nms",
        "if kept == max_output:",
        "if kept == max_output + 1:",
        "test_ops_nms.py",
        "NMS stops one kept box after max_output",
    ),
    M(
        "kernel.iou_union_without_intersection",
        "kernels/boxes.pyx",
        "_iou",
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
        "_finite_boxes",
        "and isfinite(boxes[i, 2]) and isfinite(boxes[i, 3])):",
        "and isfinite(boxes[i, 2])):",
        "test_ops_iou.py",
        "a NaN or infinite y2 does not empty the box",
    ),
    M(
        "kernel.nms_suppresses_at_threshold",
        "kernels/boxes.pyx",
        "_suppress_if_overlapping",
        "xs[0, j], xs[1, j], xs[2, j], xs[3, j], xs[4, j]) > t:",
        "xs[0, j], xs[1, j], xs[2, j], xs[3, j], xs[4, j]) >= t:",
        "test_ops_nms.py",
        "NMS drops boxes whose IoU equals the threshold",
    ),
    M(
        "kernel.nms_window_for_equal_widths",
        "kernels/boxes.pyx",
        "_reach",
        "(1.0 - t) / (2.0 * t) * (x2 - x1)",
        "(1.0 - t) / (1.0 + t) * (x2 - x1)",
        "test_ops_nms.py",
        "the search window assumes boxes as wide as the kept one (misses wider boxes)",
    ),
    M(
        "kernel.nms_ignores_classes",
        "kernels/boxes.pyx",
        "_suppress_if_overlapping",
        "if xs_class[j] != xs_class[i]:",
        "if False:",
        "test_ops_nms.py",
        "batched NMS lets classes suppress each other",
    ),
    M(
        "kernel.nms_y_test_skips_overlaps",
        "kernels/boxes.pyx",
        "_suppress_if_overlapping",
        "if xs[1, j] >= xs[3, i] or xs[3, j] <= xs[1, i]:",
        "if xs[1, j] >= xs[3, i] or xs[3, j] <= xs[3, i]:",
        "test_ops_nms.py",
        "the y test before the IoU skips boxes that end above the kept box's bottom",
    ),
    # Issue 24's sampling path: NMS against the kept boxes, log_softmax by columns.
    M(
        "kernel.nms_top_window_from_centre",
        "kernels/boxes.pyx",
        "greedy_nms_top",
        "first = _first_at_least(&centres[0], stored, centre - reach)",
        "first = _first_at_least(&centres[0], stored, centre)",
        "test_ops_nms.py",
        "the kept boxes are searched from the candidate's centre, missing those to its left",
    ),
    M(
        "kernel.nms_top_inserts_unsorted",
        "kernels/boxes.pyx",
        "greedy_nms_top",
        "place = _first_at_least(&centres[0], stored, centre)",
        "place = stored",
        "test_ops_nms.py",
        "a kept box is appended, not inserted in centre order: the bisection misses boxes",
    ),
    M(
        "kernel.nms_top_ignores_classes",
        "kernels/boxes.pyx",
        "greedy_nms_top",
        "kept_boxes[5, k] == label",
        "True",
        "test_ops_nms.py",
        "batched NMS against the kept boxes lets classes suppress each other",
    ),
    M(
        "kernel.nms_top_y_test_skips_overlaps",
        "kernels/boxes.pyx",
        "greedy_nms_top",
        "kept_boxes[3, k] > y1",
        "kept_boxes[3, k] > y2",
        "test_ops_nms.py",
        "the y test before the IoU skips kept boxes that end above the candidate's bottom",
    ),
    M(
        "kernel.nms_top_suppresses_at_threshold",
        "kernels/boxes.pyx",
        "greedy_nms_top",
        "kept_boxes[4, k], x1, y1, x2, y2, area) > t)",
        "kept_boxes[4, k], x1, y1, x2, y2, area) >= t)",
        "test_ops_nms.py",
        "NMS against the kept boxes drops boxes whose IoU equals the threshold",
    ),
    M(
        "ops.batched_nms_classes_as_floats",
        "minirpn/ops/__init__.py",
        "batched_nms",
        "np.unique(class_ids, return_inverse=True)[1].astype(np.float64)",
        "class_ids.astype(np.float64)",
        "test_ops_nms.py",
        "class ids passed to the kernels as float64 unnumbered: large ids collide",
    ),
    M(
        "loss.log_softmax_first_entry_added_last",
        "minirpn/nn/loss.py",
        "log_softmax",
        "total = exp[0] + exp[1]",
        "total = exp[1:].sum(axis=0) + exp[0]",
        "test_nn_losses.py",
        "the row sum in another order than NumPy's (other bits)",
    ),
    M(
        "loss.log_softmax_columns_from_eight",
        "minirpn/nn/loss.py",
        "",
        "FEW_CLASSES = 7",
        "FEW_CLASSES = 8",
        "test_nn_losses.py",
        "the column loops also for 8 classes, where NumPy sums a row in eight parts",
    ),
    M(
        "kernel.roi_align_no_half_pixel_shift",
        "kernels/roi_align.pyx",
        "_axis_samples",
        "cdef double offset = 0.5 if aligned else 0.0",
        "cdef double offset = 0.0",
        "test_ops_roi_align.py",
        "RoIAlign forgets aligned=True's -0.5 shift (pixel centres)",
    ),
    M(
        "kernel.roi_align_samples_at_bin_start",
        "kernels/roi_align.pyx",
        "_axis_samples",
        "p = p0 + i * bin_size + (k + 0.5) * bin_size / ratio",
        "p = p0 + i * bin_size + k * bin_size / ratio",
        "test_ops_roi_align.py",
        "RoIAlign samples at the start of each sub-bin, not its centre",
    ),
    M(
        "kernel.roi_align_clamp_strict",
        "kernels/roi_align.pyx",
        "_axis_samples",
        "if p <= 0.0:",
        "if p < 0.0:",
        "test_ops_roi_align.py",
        "a sample exactly at position 0 treated as interior (its position gradient kept)",
    ),
    M(
        "kernel.roi_align_stretched_end_moves",
        "kernels/roi_align.pyx",
        "_axis_samples",
        "dstart[n] = spatial_scale",
        "dstart[n] = (1.0 - t) * spatial_scale",
        "test_ops_roi_align.py",
        "a RoI stretched to one cell (aligned=False) differentiated as if its end mattered",
    ),
    M(
        "reference.roi_align_no_half_pixel_shift",
        "minirpn/ops/reference.py",
        "roi_align_axis",
        "offset = 0.5 if aligned else 0.0",
        "offset = 0.0",
        "test_ops_roi_align.py",
        "the NumPy twin of RoIAlign forgets the -0.5 shift",
    ),
    M(
        "boxes.decode_backward_clip_inclusive",
        "minirpn/boxes.py",
        "decode_backward",
        "inside = (decoded.boxes >= 0) & (decoded.boxes <= limits)",
        "inside = (decoded.boxes > 0) & (decoded.boxes < limits)",
        "test_boxes.py",
        "a coordinate exactly on the image border loses its gradient (the clip is inactive there)",
    ),
    M(
        "boxes.decode_backward_no_stds",
        "minirpn/boxes.py",
        "decode_backward",
        'dt = dt * _coord_vector(stds, "stds", dtype, positive=True)',
        "pass",
        "test_boxes.py",
        "the normalisation's stds left out of the chain rule",
    ),
    M(
        "schemes.non_approximate_drops_the_coordinate_path",
        "minirpn/schemes/non_approximate_joint.py",
        "NonApproximateJoint.rpn_deltas_gradient",
        "[a + b for a, b in",
        "[a + 0 * b for a, b in",
        "test_schemes.py::test_non_approximate_joint_whole_model_gradient_check_float64",
        "non-approximate joint training loses the gradient through the RoI corners (F20 (3))",
    ),
    M(
        "roi_ops.align_backward_unaligned",
        "minirpn/roi_ops/align.py",
        "RoIAlign.backward",
        "cache.rois, *self._args())",
        "cache.rois, *self._args()[:3], not self.aligned)",
        ("test_roi_ops.py", "test_roi_head.py"),
        "RoIAlign's backward without the half-pixel shift its forward used",
    ),
    M(
        "schemes.alternating_step3_trains_the_backbone",
        "minirpn/schemes/alternating.py",
        "",
        '("3-rpn", ("rpn",),',
        '("3-rpn", ("backbone", "rpn"),',
        "test_schemes.py::test_alternating_phases_train_their_stages_on_proposals_made_once_by_the_right_network",
        "alternating step 3 fine-tunes the shared backbone, which the original freezes (F20 (1))",
    ),
    M(
        "kernel.roi_pool_floor_corners",
        "kernels/roi_pool.pyx",
        "roi_pool_forward",
        "x1 = round(coords[r, 0] * spatial_scale)",
        "x1 = floor(coords[r, 0] * spatial_scale)",
        "test_ops_roi_pool.py",
        "RoI corner floored instead of rounded",
    ),
    M(
        "kernel.roi_pool_size_without_plus_one",
        "kernels/roi_pool.pyx",
        "roi_pool_forward",
        "_bin_edges(y1, fmax(y2 - y1 + 1.0, 1.0), pooled_h, height, h_lo, h_hi)",
        "_bin_edges(y1, fmax(y2 - y1, 1.0), pooled_h, height, h_lo, h_hi)",
        "test_ops_roi_pool.py",
        "RoI height without Caffe's inclusive + 1",
    ),
    M(
        "kernel.roi_pool_bin_end_floor",
        "kernels/roi_pool.pyx",
        "_bin_edges",
        "hi[k] = <Py_ssize_t>fmin(fmax(ceil((k + 1) * bin_size) + start, 0.0), limit)",
        "hi[k] = <Py_ssize_t>fmin(fmax(floor((k + 1) * bin_size) + start, 0.0), limit)",
        "test_ops_roi_pool.py",
        "bin end floored (bins lose their shared cell)",
    ),
    M(
        "kernel.roi_pool_last_max_wins",
        "kernels/roi_pool.pyx",
        "_bin_argmax",
        "take = (value > current) |",
        "take = (value >= current) |",
        "test_ops_roi_pool.py",
        "ties go to the last maximum, not the first",
    ),
    M(
        "kernel.roi_pool_backward_assigns",
        "kernels/roi_pool.pyx",
        "roi_pool_backward",
        "plane[cell] += grad[k]",
        "plane[cell] = grad[k]",
        "test_ops_roi_pool.py",
        "bins sharing an argmax overwrite each other's gradient",
    ),
    M(
        "kernel.roi_pool_backward_first_image",
        "kernels/roi_pool.pyx",
        "roi_pool_backward",
        "plane = &grad_features[batch_index[r], c, 0]",
        "plane = &grad_features[0, c, 0]",
        "test_ops_roi_pool.py",
        "every RoI's gradient lands in image 0",
    ),
    # ------------------------------------------------------------------ ops twins (reference.py)
    M(
        "reference.iou_union_without_intersection",
        "minirpn/ops/reference.py",
        "pairwise_iou",
        "union = box_areas(a)[:, None] + box_areas(b)[None, :] - inter",
        "union = box_areas(a)[:, None] + box_areas(b)[None, :]",
        "test_ops_iou.py",
        "the twin's union counts the intersection twice",
    ),
    M(
        "reference.nms_strict_keep",
        "minirpn/ops/reference.py",
        "nms",
        "remaining = rest[overlaps <= iou_threshold]",
        "remaining = rest[overlaps < iou_threshold]",
        "test_ops_nms.py",
        "the twin drops boxes at exactly the threshold",
    ),
    M(
        "reference.nms_max_output_one_more",
        "minirpn/ops/reference.py",
        "nms",
        "while remaining.size and len(keep) < max_output:",
        "while remaining.size and len(keep) <= max_output:",
        "test_ops_nms.py",
        "the twin keeps one box more than max_output",
    ),
    M(
        "geometry.round_half_up_only_above",
        "minirpn/ops/geometry.py",
        "round_half_away_from_zero",
        "whole + (magnitude - whole >= 0.5)",
        "whole + (magnitude - whole > 0.5)",
        "test_ops_roi_pool.py",
        "halves rounded towards zero",
    ),
    M(
        "geometry.roi_size_without_plus_one",
        "minirpn/ops/geometry.py",
        "roi_pool_bins",
        "roi_width = np.maximum(x2 - x1 + 1.0, 1.0)",
        "roi_width = np.maximum(x2 - x1, 1.0)",
        "test_ops_roi_pool.py",
        "the twin's RoI width without + 1",
    ),
    M(
        "reference.backward_fancy_index_add",
        "minirpn/ops/reference.py",
        "roi_pool_backward",
        "np.add.at(grad_features, cells, grad_out[used])",
        "grad_features[cells] += grad_out[used]",
        "test_ops_roi_pool.py",
        "repeated argmax cells added once (fancy-index += does not accumulate)",
    ),
    # ------------------------------------------------------------------ evaluation
    M(
        "evaluation.iou_strictly_above",
        "minirpn/evaluation.py",
        "_precision_recall",
        "overlaps.max() >= threshold",
        "overlaps.max() > threshold",
        "test_evaluation.py",
        "IoU exactly at the threshold is a miss (VOC and COCO say hit)",
    ),
    M(
        "evaluation.duplicates_match_again",
        "minirpn/evaluation.py",
        "_precision_recall",
        "overlaps = np.where(taken[image] | hard, -1.0, iou)  # taken or difficult: -1",
        "overlaps = np.where(hard, -1.0, iou)  # taken or difficult: -1",
        "test_evaluation.py",
        "a ground truth can be matched twice (duplicates become true positives)",
    ),
    M(
        "evaluation.ascending_scores",
        "minirpn/evaluation.py",
        "_rank_class",
        'order = np.argsort(-np.concatenate(det_scores), kind="stable")',
        'order = np.argsort(np.concatenate(det_scores), kind="stable")',
        "test_evaluation.py",
        "detections ranked by increasing score",
    ),
    M(
        "evaluation.no_envelope",
        "minirpn/evaluation.py",
        "average_precision",
        "envelope = np.maximum.accumulate(prec[::-1])[::-1]",
        "envelope = prec",
        "test_evaluation.py",
        "raw precision instead of its monotone envelope",
    ),
    M(
        "evaluation.eleven_point_strict",
        "minirpn/evaluation.py",
        "average_precision",
        "best = [precision[recall >= level].max(initial=0.0)",
        "best = [precision[recall > level].max(initial=0.0)",
        "test_evaluation.py",
        "11-point AP looks only beyond each recall level",
    ),
    M(
        "evaluation.class_blind_matching",
        "minirpn/evaluation.py",
        "_rank_class",
        "theirs = im.gt_labels == label",
        "theirs = im.gt_labels > 0",
        "test_evaluation.py",
        "a detection may match a ground truth of another class",
    ),
    M(
        "evaluation.empty_classes_in_mean",
        "minirpn/evaluation.py",
        "evaluate",
        "scored = [a for a in ap.values() if a is not None]",
        "scored = [np.zeros(len(thresholds)) if a is None else a for a in ap.values()]",
        "test_evaluation.py",
        "classes without ground truth count as AP 0 in the means",
    ),
    # ------------------------------------------------------------------ data
    M(
        "data.box_end_inclusive",
        "minirpn/data/toy.py",
        "mask_to_box",
        "cols[-1] + 1, rows[-1] + 1",
        "cols[-1], rows[-1]",
        "test_data.py",
        "box ends at the last pixel's index instead of one past it",
    ),
    M(
        "data.coco_read_wh_as_corner",
        "minirpn/data/coco.py",
        "_coco_box",
        'return [x, y, x + w, y + h], row_of[ann["image_id"]]',
        'return [x, y, w, h], row_of[ann["image_id"]]',
        "test_data.py",
        "COCO [x, y, w, h] read as corners",
    ),
    M(
        "data.coco_write_corners",
        "minirpn/data/coco.py",
        "write_coco",
        '"bbox": [x1, y1, x2 - x1, y2 - y1],',
        '"bbox": [x1, y1, x2, y2],',
        "test_data.py",
        "COCO written with corners instead of [x, y, w, h]",
    ),
    M(
        "data.splits_share_a_stream",
        "minirpn/data/toy.py",
        "",
        '_SPLIT_STREAMS = {"train": 0, "val": 1}',
        '_SPLIT_STREAMS = {"train": 0, "val": 0}',
        "test_data.py",
        "validation images identical to training images",
    ),
    # ------------------------------------------------------------------ checkpoint, fileio
    M(
        "checkpoint.object_arrays_read",
        "minirpn/checkpoint.py",
        "_read_entry",
        "if dtype.hasobject:",
        "if False:",
        "test_checkpoint.py",
        "an entry holding Python objects (a pickle) is read instead of refused",
    ),
    M(
        "checkpoint.entry_read_past_its_header",
        "minirpn/checkpoint.py",
        "_read_exactly",
        "if f.read(1):",
        "if False:",
        "test_redteam.py::test_r5_a_zip_bomb_behind_a_valid_header_stops_at_the_header_size",
        "an entry longer than its header announces (a zip bomb behind it) is accepted",
    ),
    M(
        "checkpoint.parameter_shape_unchecked",
        "minirpn/checkpoint.py",
        "_parameter_header",
        "if tuple(shape) != tuple(expected):",
        "if False:",
        "test_redteam.py::test_r5_a_header_claiming_terabytes_is_refused_before_reading",
        "a parameter's header is read without comparing its shape with the model's",
    ),
    M(
        "checkpoint.iteration_not_saved",
        "minirpn/checkpoint.py",
        "save_checkpoint",
        '"iteration": np.array(checkpoint.iteration, dtype=np.int64),',
        '"iteration": np.array(0, dtype=np.int64),',
        "test_checkpoint.py",
        "the iteration count is lost on save",
    ),
    M(
        "checkpoint.momentum_prefix_collides",
        "minirpn/checkpoint.py",
        "",
        '_MOMENTUM = "momentum/"',
        '_MOMENTUM = "param/"',
        "test_checkpoint.py",
        "momentum buffers stored under the parameters' names",
    ),
    M(
        "fileio.temp_file_left_behind",
        "minirpn/fileio.py",
        "atomic_write",
        "tmp.unlink(missing_ok=True)\nraise _naming(",
        "raise _naming(",
        "test_checkpoint.py",
        "a write that fails (a full disk) leaves its temporary file",
    ),
    M(
        "fileio.temp_file_left_after_an_exception",
        "minirpn/fileio.py",
        "atomic_write",
        "except BaseException:\ntmp.unlink(missing_ok=True)",
        "except BaseException:",
        "test_fileio.py",
        "a write interrupted by an exception (Ctrl-C) leaves its temporary file",
    ),
    M(
        "fileio.no_parent_folder",
        "minirpn/fileio.py",
        "atomic_write",
        "path.parent.mkdir(parents=True, exist_ok=True)",
        "pass",
        ("test_checkpoint.py", "test_data.py"),
        "writing into a folder that does not exist yet fails",
    ),
    # ------------------------------------------------------------------ gradcheck, config
    M(
        "gradcheck.one_sided_step",
        "minirpn/gradcheck.py",
        "numerical_gradient",
        "grad[index] = (f_plus - f_minus) / (2.0 * h)",
        "grad[index] = (f_plus - f_minus) / h",
        "test_gradcheck.py",
        "centred difference divided by h instead of 2 h",
    ),
    M(
        "gradcheck.x_not_restored",
        "minirpn/gradcheck.py",
        "numerical_gradient",
        "x[index] = original\ngrad[index]",
        "x[index] = original + h - h\ngrad[index]",
        "test_gradcheck.py",
        "x restored by arithmetic, which need not give back the same float",
    ),
    M(
        "gradcheck.relative_error_one_norm",
        "minirpn/gradcheck.py",
        "relative_error",
        "scale = np.linalg.norm(a) + np.linalg.norm(b)",
        "scale = np.linalg.norm(b)",
        "test_gradcheck.py",
        "relative error divided by one norm only (can exceed 1)",
    ),
    M(
        "config.json_lists_stay_lists",
        "minirpn/config.py",
        "_checked",
        "return tuple(",
        "return list(",
        "test_config.py",
        "float sequences kept as lists (JSON gives lists): the frozen config is not hashable",
    ),
    M(
        "config.num_anchors_sum",
        "minirpn/config.py",
        "Config.num_anchors",
        "return len(self.anchor_ratios) * len(self.anchor_scales)",
        "return len(self.anchor_ratios) + len(self.anchor_scales)",
        "test_config.py",
        "k = ratios + scales instead of ratios x scales",
    ),
    M(
        "config.rpn_sigma_default",
        "minirpn/config.py",
        "Config",
        "rpn_sigma: float = 3.0",
        "rpn_sigma: float = 1.0",
        "test_config.py",
        "the paper's defaults drift (RPN smooth-L1 sigma)",
    ),
    M(
        "config.negative_overlap_default",
        "minirpn/config.py",
        "Config",
        "rpn_negative_overlap: float = 0.3",
        "rpn_negative_overlap: float = 0.5",
        "test_config.py",
        "the paper's defaults drift (negative IoU threshold)",
    ),
    # ------------------------------------------------------------------ matching (F8, F13, F17)
    M(
        "matching.positive_strictly_above",
        "minirpn/matching.py",
        "threshold_labels",
        "labels[max_iou >= positive_iou] = POSITIVE",
        "labels[max_iou > positive_iou] = POSITIVE",
        ("test_matching.py", "test_anchor_target.py"),
        "IoU exactly 0.7 (anchors) or 0.5 (RoIs) not positive (the code says >=)",
    ),
    M(
        "matching.negative_inclusive",
        "minirpn/matching.py",
        "threshold_labels",
        "(max_iou < hi)",
        "(max_iou <= hi)",
        ("test_matching.py", "test_anchor_target.py"),
        "IoU exactly 0.3 negative for anchors, exactly 0.5 background for RoIs",
    ),
    M(
        "matching.bg_lower_bound_strict",
        "minirpn/matching.py",
        "threshold_labels",
        "(max_iou >= lo)",
        "(max_iou > lo)",
        ("test_matching.py", "test_proposal_target.py"),
        "background lower bound exclusive (0.1 not background; 0.0 no longer admits IoU 0)",
    ),
    M(
        "matching.best_anchor_without_overlap",
        "minirpn/matching.py",
        "best_for_each_gt",
        "return ((iou == gt_best[None, :]) & (gt_best[None, :] > 0)).any(axis=1)",
        "return (iou == gt_best[None, :]).any(axis=1)",
        ("test_matching.py", "test_anchor_target.py"),
        "a ground truth no anchor touches makes every anchor positive",
    ),
    M(
        "matching.bg_quota_ignores_few_fg",
        "minirpn/matching.py",
        "sample_balanced",
        "max_negative = batch_size - min(positive.size, max_positive)",
        "max_negative = batch_size - max_positive",
        ("test_matching.py", "test_anchor_target.py"),
        "with few positives the batch is not filled with negatives",
    ),
    M(
        "matching.ties_go_to_the_last_gt",
        "minirpn/matching.py",
        "match",
        "matched = iou.argmax(axis=1)  # (M,)",
        "matched = iou.shape[1] - 1 - iou[:, ::-1].argmax(axis=1)  # (M,)",
        "test_matching.py",
        "a candidate tied between two ground truths takes the last, not the first",
    ),
    M(
        "matching.max_positive_truncates",
        "minirpn/matching.py",
        "max_positive",
        "return int(np.round(fraction * batch_size))",
        "return int(fraction * batch_size)",
        "test_matching.py",
        "the positive quota truncated (3.5 -> 3) instead of rounded",
    ),
    M(
        "matching.positives_drawn_with_replacement",
        "minirpn/matching.py",
        "sample_balanced",
        "size=positive.size - max_positive, replace=False)",
        "size=positive.size - max_positive, replace=True)",
        "test_matching.py",
        "surplus positives drawn with replacement: too few are dropped, the cap is exceeded",
    ),
    # ------------------------------------------------------------------ anchor_target (F8 e)
    M(
        "anchor_target.border_x_against_height",
        "minirpn/anchor_target.py",
        "inside_image",
        "& (anchors[:, 2] <= width + allowed_border)",
        "& (anchors[:, 2] <= height + allowed_border)",
        "test_anchor_target.py",
        "the border test compares x with the height",
    ),
    # ------------------------------------------------------------------ proposal_target (F17)
    M(
        "proposal_target.gt_not_candidates",
        "minirpn/proposal_target.py",
        "proposal_targets",
        "candidates = np.concatenate([proposals, gt_boxes])",
        "candidates = np.concatenate([proposals, gt_boxes[:0]])",
        "test_proposal_target.py",
        "ground-truth boxes not added to the candidate RoIs",
    ),
    M(
        "proposal_target.targets_not_normalised",
        "minirpn/proposal_target.py",
        "proposal_targets",
        "cfg.bbox_normalize_stds",
        "None",
        "test_proposal_target.py",
        "second-stage targets not divided by the stds",
    ),
    M(
        "proposal_target.class_block_off_by_one",
        "minirpn/proposal_target.py",
        "proposal_targets",
        "columns = COORDS_PER_BOX * labels[:num_fg, None] +",
        "columns = COORDS_PER_BOX * (labels[:num_fg, None] - 1) +",
        "test_proposal_target.py",
        "class-specific targets one block to the left (C vs C + 1 columns)",
    ),
    # ------------------------------------------------------------------ roi_head (F17-F19)
    M(
        "roi_head.backward_drops_reg_branch",
        "minirpn/roi_head.py",
        "RoIHead.backward",
        "+ self.bbox_pred.backward(",
        "+ 0 * self.bbox_pred.backward(",
        "test_roi_head.py",
        "fc7's gradient takes only the classifier's share, not the box regressor's",
    ),
    M(
        "roi_head.backward_skips_relu7",
        "minirpn/roi_head.py",
        "RoIHead.backward",
        "self.fc7.backward(self.relu7.backward(dhidden, cache.relu7), cache.fc7)",
        "self.fc7.backward(dhidden, cache.fc7)",
        "test_roi_head.py",
        "the backward pass forgets fc7's ReLU (gradient flows through inactive units)",
    ),
    M(
        "roi_head.reg_loss_over_foreground",
        "minirpn/roi_head.py",
        "roi_head_loss",
        "scale = 1.0 / max(num_rois, 1)",
        "scale = 1.0 / max(int((targets.labels > 0).sum()), 1)",
        "test_roi_head.py",
        "the box loss divided by the foreground RoIs instead of all R (the original's N)",
    ),
    M(
        "roi_head.reg_gradient_not_scaled",
        "minirpn/roi_head.py",
        "roi_head_loss",
        "dreg * box_deltas.dtype.type(scale)",
        "dreg",
        "test_roi_head.py",
        "the box loss's gradient not divided by R like the loss",
    ),
    M(
        "roi_head.score_thresh_inclusive",
        "minirpn/roi_head.py",
        "postprocess",
        "keep = np.flatnonzero(scores > cfg.test_score_thresh)",
        "keep = np.flatnonzero(scores >= cfg.test_score_thresh)",
        "test_model.py::test_postprocess_drops_a_score_exactly_at_the_threshold",
        "a box scoring exactly test_score_thresh kept (the original keeps only > thresh)",
    ),
    M(
        "roi_head.background_column_scored",
        "minirpn/roi_head.py",
        "postprocess",
        "probs = softmax(cls_logits)[:, BACKGROUND + 1 :]  # (P, C)",
        "probs = softmax(cls_logits)[:, :num_cls]  # (P, C)",
        "test_model.py::test_postprocess_skips_the_background_column_and_keeps_the_last_class",
        "class k scored by column k - 1: background becomes class 1, the last class is lost",
    ),
    M(
        "roi_head.class_block_of_the_previous_class",
        "minirpn/roi_head.py",
        "postprocess",
        "COORDS_PER_BOX)[:, BACKGROUND + 1 :]",
        "COORDS_PER_BOX)[:, :num_cls]",
        "test_model.py::test_postprocess_decodes_each_class_with_its_own_block",
        "class k's box decoded with class k - 1's deltas (the background block counted in)",
    ),
    M(
        "roi_head.nms_across_classes",
        "minirpn/roi_head.py",
        "postprocess",
        "batched_nms(boxes, scores, labels, cfg.test_nms,",
        "batched_nms(boxes, scores, np.zeros_like(labels), cfg.test_nms,",
        "test_model.py::test_postprocess_nms_keeps_iou_exactly_at_test_nms_and_never_crosses_classes",
        "NMS across classes: a detection of one class suppresses another class's box",
    ),
    M(
        "roi_head.max_detections_off_by_one",
        "minirpn/roi_head.py",
        "postprocess",
        "max_output=cfg.test_max_detections)",
        "max_output=cfg.test_max_detections - 1)",
        "test_model.py::test_postprocess_keeps_exactly_test_max_detections_best_first",
        "one detection fewer than test_max_detections kept",
    ),
    # ------------------------------------------------------------------ schemes (F20)
    M(
        "schemes.roi_path_gradient_dropped",
        "minirpn/schemes/approximate_joint.py",
        "ApproximateJoint.backward",
        "dfeatures = [a + b for a, b in zip(dfeatures, drpn, strict=True)]",
        "dfeatures = drpn",
        "test_schemes.py",
        "the shared map gets only the RPN's gradient, not RoI pooling's (F20)",
    ),
    M(
        "schemes.frozen_head_still_backpropagates",
        "minirpn/schemes/approximate_joint.py",
        "ApproximateJoint.backward",
        'if "roi_head" not in self.frozen:',
        "if True:",
        "test_schemes.py",
        "a frozen RoI head's grads are touched (and its gradient reaches the backbone)",
    ),
    M(
        "schemes.frozen_backbone_still_backpropagates",
        "minirpn/schemes/approximate_joint.py",
        "ApproximateJoint.backward",
        'if "backbone" not in self.frozen and dfeatures is not None:',
        "if dfeatures is not None:",
        "test_schemes.py",
        "a frozen backbone's grads are touched",
    ),
    M(
        "schemes.parameters_keep_frozen_stages",
        "minirpn/schemes/approximate_joint.py",
        "ApproximateJoint.parameters",
        'if name.split(".", 1)[0] not in self.frozen',
        'if name.split(".")[-1] not in self.frozen',
        "test_schemes.py",
        "parameters() tests the wrong part of the name: frozen stages reach the optimiser",
    ),
    # ------------------------------------------------------------------ backbone, train
    M(
        "backbone.preprocess_not_standardised",
        "minirpn/backbone.py",
        "preprocess",
        "return ((x - scalar(PIXEL_MEAN)) / scalar(PIXEL_STD)).transpose(0, 3, 1, 2)",
        "return (x - scalar(PIXEL_MEAN)).transpose(0, 3, 1, 2)",
        "test_model.py::test_preprocess_layout_and_scale",
        "pixels centred but not divided by their spread",
    ),
    M(
        "backbone.float_pixels_without_slack",
        "minirpn/backbone.py",
        "check_images",
        "if low < -FLOAT_PIXEL_SLACK or high > 1.0 + FLOAT_PIXEL_SLACK:",
        "if low < 0.0 or high > 1.0:",
        "test_model.py::test_float_pixels_may_stray_by_the_slack_and_no_further",
        "float images a rounding error above 1 (resized images) refused",
    ),
    M(
        "backbone.nan_pixels_pass",
        "minirpn/backbone.py",
        "check_images",
        "finite = np.isfinite(images)",
        "finite = ~np.isinf(images)",
        "test_model.py::test_float_pixels_may_stray_by_the_slack_and_no_further",
        "only infinite pixels refused: a NaN pixel passes and spreads through the network",
    ),
    M(
        "train.warmup_from_zero",
        "minirpn/train.py",
        "learning_rate",
        "lr *= cfg.warmup_factor * (1.0 - alpha) + alpha",
        "lr *= alpha",
        "test_train.py::test_learning_rate_warm_up_then_steps",
        "warm-up starts at rate 0 instead of warmup_factor * lr",
    ),
    M(
        "train.rate_of_the_next_iteration",
        "minirpn/train.py",
        "_iterate",
        "learning_rate(phase.schedule, in_phase)",
        "learning_rate(phase.schedule, in_phase + 1)",
        "test_train.py::test_one_sgd_step_is_the_update_worked_by_hand",
        "each step uses the next iteration's rate (warm-up and drops one step early)",
    ),
    M(
        "train.proposals_after_fresh_weights",
        "minirpn/train.py",
        "_start_phase",
        """if phase.given_proposals:
    path = run.run_dir / f"proposals-{phase.name}.npz"
    if starting:
        images = _phase_images(run, first, phase.iterations)
        proposals = _make_proposals(run, images)
        _save_proposals(path, proposals)
    else:
        proposals = _load_proposals(path)
if starting and phase.fresh:
    det = run.detector
    fresh = Detector(
        run.cfg, det.num_classes, seed=run.state.seed + phase.seed_offset, dtype=det.dtype
    )
    for name, param in det.params.items():
        if name.split(".", 1)[0] in phase.fresh:
            param[...] = fresh.params[name]""",
        """if starting and phase.fresh:
    det = run.detector
    fresh = Detector(
        run.cfg, det.num_classes, seed=run.state.seed + phase.seed_offset, dtype=det.dtype
    )
    for name, param in det.params.items():
        if name.split(".", 1)[0] in phase.fresh:
            param[...] = fresh.params[name]
if phase.given_proposals:
    path = run.run_dir / f"proposals-{phase.name}.npz"
    if starting:
        images = _phase_images(run, first, phase.iterations)
        proposals = _make_proposals(run, images)
        _save_proposals(path, proposals)
    else:
        proposals = _load_proposals(path)""",
        "test_schemes.py::test_alternating_phases_train_their_stages_on_proposals_made_once_by_the_right_network",
        "step 2's proposals made by the freshly initialised backbone instead of step 1's RPN",
    ),
    M(
        "train.fresh_weights_of_the_run_seed",
        "minirpn/train.py",
        "_start_phase",
        "seed=run.state.seed + phase.seed_offset",
        "seed=run.state.seed",
        "test_schemes.py::test_alternating_phases_train_their_stages_on_proposals_made_once_by_the_right_network",
        "a phase's fresh stages start from step 1's initial weights again (the same seed)",
    ),
    M(
        "train.stop_saves_a_phase_start",
        "minirpn/train.py",
        "run_phase",
        "if stop[0] is not None and run.iteration > first:",
        "if stop[0] is not None:",
        "test_train.py::test_a_stop_while_a_phase_starts_lets_its_first_iteration_run",
        "a stop during a phase's start saves its fresh weights as the previous phase's end",
    ),
    M(
        "train.resumed_phase_makes_new_proposals",
        "minirpn/train.py",
        "_start_phase",
        "if starting:",
        "if True:",
        "test_train.py::test_alternating_training_interrupted_in_any_phase_resumes_bit_identically",
        "a run resumed inside a detector phase makes its proposals again, from the moved network",
    ),
    # ------------------------------------------------------------------ checkpoint version 1
    M(
        "checkpoint.v1_names_kept",
        "minirpn/checkpoint.py",
        "",
        '_RENAMED_PREFIXES = {1: ("head.", "roi_head.")}',
        '_RENAMED_PREFIXES = {1: ("head.", "head.")}',
        "test_checkpoint.py",
        "a version-1 checkpoint's head.* parameters are not renamed to roi_head.*",
    ),
    M(
        "checkpoint.v1_momentum_not_renamed",
        "minirpn/checkpoint.py",
        "load_checkpoint",
        "if old and name.startswith(old):",
        "if old and prefix == _PARAM and name.startswith(old):",
        "test_checkpoint.py",
        "version 1: the weights are renamed but their momentum buffers are not",
    ),
    # ------------------------------------------------------------------ data: Pascal VOC
    M(
        "data.voc_xmin_not_shifted",
        "minirpn/data/voc.py",
        "_voc_box",
        'box = [values["xmin"] - 1, values["ymin"] - 1, values["xmax"], values["ymax"]]',
        'box = [values["xmin"], values["ymin"], values["xmax"], values["ymax"]]',
        "test_data.py",
        "VOC's 1-based xmin, ymin read as continuous corners (boxes one pixel too small)",
    ),
    M(
        "data.voc_xmax_shifted_too",
        "minirpn/data/voc.py",
        "_voc_box",
        'box = [values["xmin"] - 1, values["ymin"] - 1, values["xmax"], values["ymax"]]',
        'box = [values["xmin"] - 1, values["ymin"] - 1, values["xmax"] - 1, values["ymax"] - 1]',
        "test_data.py",
        "VOC's inclusive xmax shifted like xmin (boxes one pixel too small on the right)",
    ),
    M(
        "data.voc_write_xmin_unshifted",
        "minirpn/data/voc.py",
        "write_voc",
        '("xmin", x1 + 1), ("ymin", y1 + 1)',
        '("xmin", x1), ("ymin", y1)',
        "test_data.py",
        "write_voc writes 0-based xmin, ymin",
    ),
    M(
        "data.voc_difficult_trained_on",
        "minirpn/data/base.py",
        "_AnnotatedFiles.__getitem__",
        "easy, hard = keep & ~record.difficult, keep & record.difficult",
        "easy, hard = keep, keep & record.difficult",
        "test_data.py",
        "difficult boxes kept among the training boxes",
    ),
    # ------------------------------------------------------------------ datacheck
    M(
        "datacheck.box_at_the_edge_only_warned",
        "minirpn/datacheck.py",
        "_check_boxes",
        "outside = (clipped[:, 2] <= clipped[:, 0]) | (clipped[:, 3] <= clipped[:, 1])  # (K,)",
        "outside = (clipped[:, 2] < clipped[:, 0]) | (clipped[:, 3] < clipped[:, 1])  # (K,)",
        "test_datacheck.py",
        "a box starting exactly at the image's right edge (empty once clipped) only warned about",
    ),
    M(
        "datacheck.difficult_boxes_counted",
        "minirpn/datacheck.py",
        "check_dataset",
        "for label in record.labels[~record.difficult]:",
        "for label in record.labels:",
        "test_datacheck.py",
        "difficult boxes counted as training boxes (a class with only those is not warned of)",
    ),
    # ------------------------------------------------------------------ evaluation: difficult
    M(
        "evaluation.difficult_counted_in_g",
        "minirpn/evaluation.py",
        "evaluate",
        "int(((im.gt_labels == label) & ~im.difficult).sum())",
        "int((im.gt_labels == label).sum())",
        "test_evaluation.py",
        "difficult boxes counted in G (missing them lowers the recall)",
    ),
    M(
        "evaluation.difficult_box_matched",
        "minirpn/evaluation.py",
        "_precision_recall",
        "overlaps = np.where(taken[image] | hard, -1.0, iou)  # taken or difficult: -1",
        "overlaps = np.where(taken[image], -1.0, iou)  # taken or difficult: -1",
        "test_evaluation.py",
        "a detection of a difficult box counts as a true positive",
    ),
    M(
        "evaluation.difficult_ignored_strictly_above",
        "minirpn/evaluation.py",
        "_precision_recall",
        "elif (iou[hard] >= threshold).any() or",
        "elif (iou[hard] > threshold).any() or",
        "test_evaluation.py",
        "a detection at IoU exactly t with a difficult box is a false positive, not ignored",
    ),
    M(
        "evaluation.ground_truth_flag_off_by_one",
        "minirpn/evaluation.py",
        "ground_truth",
        "difficult = np.arange(len(labels)) >= len(sample.labels)",
        "difficult = np.arange(len(labels)) > len(sample.labels)",
        "test_evaluation.py",
        "the first difficult box of a sample is flagged as ordinary",
    ),
    # ------------------------------------------------------------------ memory, fileio
    M(
        "memory.per_pixel_bytes_times_cells",
        "minirpn/memory.py",
        "batch_memory_bytes",
        "per_pixel_bytes(detector) * pixels",
        "per_pixel_bytes(detector) * cells",
        "test_memory.py",
        "the bytes kept per input pixel scaled by the feature map's cells, not the image's pixels",
    ),
    M(
        "memory.tape_counts_the_parameters",
        "minirpn/memory.py",
        "per_pixel_bytes",
        "exclude=detector.params.values()",
        "exclude=()",
        "test_memory.py",
        "the weights a cache refers to counted as memory the batch needs, per pixel",
    ),
    M(
        "memory.tape_counts_views_again",
        "minirpn/memory.py",
        "tape_bytes.visit",
        "owner = item.base if isinstance(item.base, np.ndarray) else item",
        "owner = item",
        "test_memory.py",
        "a view kept in a cache counted as memory of its own, beside the array it views",
    ),
    M(
        "memory.all_of_memavailable_usable",
        "minirpn/memory.py",
        "check_batch_memory",
        "if need > usable:",
        "if need > available:",
        "test_memory.py",
        "the whole of MemAvailable planned for one batch, none left for the OS",
    ),
    M(
        "memory.meminfo_unit_ignored",
        "minirpn/memory.py",
        "available_memory_bytes",
        'return int(value) * (1024 if unit.lower() == "kb" else 1)',
        "return int(value)",
        "test_memory.py",
        "MemAvailable's kB read as bytes (every batch refused)",
    ),
    M(
        "memory.inference_all_of_memavailable_usable",
        "minirpn/memory.py",
        "check_inference_memory",
        "need > USABLE_FRACTION * available",
        "need > available",
        "test_memory.py",
        "the whole of MemAvailable planned for one detection, none left for the OS",
    ),
    M(
        "fileio.private_files",
        "minirpn/fileio.py",
        "",
        "NEW_FILE_MODE = 0o666",
        "NEW_FILE_MODE = 0o600",
        "test_fileio.py",
        "files created 0600 whatever the umask (mkstemp's mode)",
    ),
    M(
        "fileio.leftover_temp_file_kept",
        "minirpn/fileio.py",
        "atomic_write",
        "tmp.unlink(missing_ok=True)\nfd = os.open(",
        "fd = os.open(",
        "test_fileio.py",
        "a temporary file left by a killed write blocks every later write (O_EXCL)",
    ),
    # ------------------------------------------------------------------ visualize, report
    M(
        "axes.box_one_pixel_wider",
        "minirpn/visualize/axes.py",
        "add_box",
        "Rectangle((x1, y1), x2 - x1, y2 - y1,",
        "Rectangle((x1, y1), x2 - x1 + 1, y2 - y1 + 1,",
        "test_visualize.py",
        "boxes drawn with Caffe's width x2 - x1 + 1: every outline one pixel too wide and tall",
    ),
    M(
        "curves.loss_average_shifted",
        "minirpn/visualize/curves.py",
        "draw_loss_curves",
        "iterations[window - 1 :],",
        "iterations[: iterations.size - window + 1],",
        "test_visualize.py",
        "the moving average plotted at the start of its window (the curve leads the data)",
    ),
    M(
        "curves.loss_average_divisor",
        "minirpn/visualize/curves.py",
        "_moving_average",
        "return (sums[window:] - sums[:-window]) / window",
        "return (sums[window:] - sums[:-window]) / (window + 1)",
        "test_visualize.py",
        "the moving average divided by one value too many",
    ),
    M(
        "axes.image_half_pixel_shift",
        "minirpn/visualize/axes.py",
        "show_image",
        "ax.imshow(image, extent=(0, width, height, 0), **kwargs)",
        "ax.imshow(image, extent=(-0.5, width - 0.5, height - 0.5, -0.5), **kwargs)",
        "test_visualize_stages.py",
        "images shown at matplotlib's default extent: every box half a pixel off its pixels",
    ),
    M(
        "stages.legend_positives_not_by_rule",
        "minirpn/visualize/stages.py",
        "draw_minibatch",
        'f"positive: IoU ≥ {positive_overlap:g} (F8 b) ({int((~by_best).sum())})"',
        'f"positive: IoU ≥ {positive_overlap:g} (F8 b) ({positive.size})"',
        "test_visualize_stages.py",
        "the legend counts every positive under rule F8 b (IoU >= 0.7), the best-anchor ones too",
    ),
    M(
        "stages.legend_minibatch_count_off_by_one",
        "minirpn/visualize/stages.py",
        "draw_label_map",
        'f"in the minibatch ({int(sampled.sum())})",',
        'f"in the minibatch ({int(sampled.sum()) + 1})",',
        "test_visualize_stages.py",
        "the label map's legend counts one sampled anchor too many",
    ),
    M(
        "detections.draw_threshold_strict",
        "minirpn/visualize/detections.py",
        "draw_detection_boxes",
        "shown = np.flatnonzero(scores >= score_thresh)",
        "shown = np.flatnonzero(scores > score_thresh)",
        "test_visualize.py::test_detections_at_exactly_the_threshold_are_drawn_and_below_are_not",
        "a detection scoring exactly the threshold (0.5) not drawn",
    ),
    # ------------------------------------------------------------------ cli, runs
    M(
        "cli.detect_bbox_as_corners",
        "minirpn/cli.py",
        "_detect_one",
        '"bbox": [x1, y1, x2 - x1, y2 - y1],',
        '"bbox": [x1, y1, x2, y2],',
        "test_cli.py::test_detect_writes_coco_results_through_the_category_ids",
        "detections.json written with corners where COCO results hold [x, y, w, h]",
    ),
    M(
        "cli.detect_category_is_the_label",
        "minirpn/cli.py",
        "_detect_one",
        '"category_id": run.category_ids[label - 1],',
        '"category_id": label,',
        "test_cli.py::test_detect_writes_coco_results_through_the_category_ids",
        "results name the label 1..C, not the training data's (non-contiguous) category id",
    ),
    M(
        "runs.category_ids_forgotten",
        "minirpn/runs.py",
        "load_run",
        "state.category_ids",
        "tuple(range(1, len(state.class_names) + 1))",
        "test_cli.py::test_detect_writes_coco_results_through_the_category_ids",
        "a loaded run forgets the category ids saved in its checkpoint",
    ),
    # ------------------------------------------------------------------ shipped weights, BLAS
    M(
        "shipped.float32_on_disk",
        "minirpn/shipped.py",
        "save_weights",
        "arrays[_PARAM + name] = param.astype(np.float16)",
        "arrays[_PARAM + name] = param",
        "test_shipped.py::test_weights_round_trip_in_float16_and_refuse_what_float16_cannot_hold",
        "weights written in float32: twice the size, not what the format says",
    ),
    M(
        "shipped.float16_range_unchecked",
        "minirpn/shipped.py",
        "save_weights",
        "if not (np.abs(param) <= np.finfo(np.float16).max).all():",
        "if False:",
        "test_shipped.py::test_weights_round_trip_in_float16_and_refuse_what_float16_cannot_hold",
        "a weight beyond float16's range is stored as inf without a word",
    ),
    M(
        "runs.folder_wins_over_the_name",
        "minirpn/runs.py",
        "load_run",
        "if isinstance(run, str) and run in SHIPPED:",
        "if isinstance(run, str) and run in SHIPPED and not Path(run).is_dir():",
        "test_shipped.py::test_the_name_toy_wins_over_a_folder_called_toy",
        "toy means another model in a directory that holds a folder called toy",
    ),
    M(
        "blas.threads_not_set",
        "minirpn/blas.py",
        "use_one_thread",
        "set_threads(1)",
        "pass",
        "test_blas_kernels.py::test_use_one_thread_pins_blas_unless_the_user_chose",
        "use_one_thread leaves OpenBLAS on every core",
    ),
    # ------------------------------------------------------------------ exercises
    M(
        "exercises.default_tolerance_loose",
        "minirpn/exercises/__init__.py",
        "number_close_to",
        "def number_close_to(expected: float, *, rtol: float = 1e-6, mistakes=()) -> Callable:",
        "def number_close_to(expected: float, *, rtol: float = 1e-2, mistakes=()) -> Callable:",
        "test_exercises.py",
        "a 1% default tolerance: 01.smallest_width accepts 1000 (a wrong width)",
    ),
    M(
        "exercises.smallest_width_off_by_one",
        "minirpn/exercises/lesson01.py",
        "_smallest_width",
        "while _conv5_3_size(600, width)[1] < columns:",
        "while _conv5_3_size(600, width)[1] < columns - 1:",
        "test_exercises.py",
        "the reference answer is the smallest width for 62 columns: 977 accepted, 993 refused",
    ),
    M(
        "exercises.step3_is_step2",
        "minirpn/exercises/lesson10.py",
        "",
        "STEP_3 = step_iterations(CLI_BUDGET)[2]",
        "STEP_3 = step_iterations(CLI_BUDGET)[1]",
        "test_exercises.py",
        "exercise 10.step3_iters's reference answer is step (ii)'s 1428, not step (iii)'s 2857",
    ),
    M(
        "exercises.ramp_gradient_per_cell",
        "minirpn/exercises/lesson11.py",
        "_ramp_gradient",
        "_, drois = roi_align_backward(dout, _ramp(), ROI, 1, TINY_SCALE, RATIO, True)",
        "_, drois = roi_align_backward(dout, _ramp(), ROI, 1, 1.0, RATIO, True)",
        "test_exercises.py",
        "exercise 11.ramp_gradient's reference answer is per map cell (0.5), not per pixel",
    ),
    M(
        "paper_claims.noise_from_the_smaller_spread",
        "minirpn/paper_claims.py",
        "difference",
        'spread = max(a[f"{measure}_spread"], b[f"{measure}_spread"])',
        'spread = min(a[f"{measure}_spread"], b[f"{measure}_spread"])',
        "test_paper_claims.py::test_difference_is_judged_against_twice_the_larger_spread",
        "a difference within the noisier row's spread is called beyond the noise in a lesson",
    ),
    # ------------------------------------------------------------------ lessons/sync.py
    M(
        "lessons.sync_pairs_by_default",
        "lessons/sync.py",
        "main",
        "notebook_from_source(source, paired=args.pair)",
        "notebook_from_source(source, paired=True)",
        "test_lessons.py::test_pairing_is_for_developers_and_a_plain_sync_undoes_it",
        "every sync pairs the notebooks: a learner's save in Jupyter rewrites lessons/src",
    ),
    M(
        "lessons.copy_replaces_a_learners_copy",
        "lessons/sync.py",
        "main",
        "            if target.exists():\n                kept.append(target.name)",
        "            if False:\n                kept.append(target.name)",
        "test_lessons.py::test_copies_are_clean_and_a_learners_copy_is_never_replaced",
        "--copy writes over a learner's own notebook: their experiments are lost",
    ),
    # ------------------------------------------------------------------ issue 23 additions
    M(
        "batching.flip_caffe_minus_one",
        "minirpn/batching.py",
        "flip_horizontally",
        "flipped[:, 0] = width - boxes[:, 2]",
        "flipped[:, 0] = width - boxes[:, 2] - 1",
        "test_train.py::test_a_flipped_image_and_its_boxes_match_one_flipped_by_hand",
        "py-faster-rcnn's inclusive-pixel flip (W - x2 - 1) on continuous corners: boxes shift",
    ),
    M(
        "batching.first_mirror_is_an_original",
        "minirpn/batching.py",
        "load_batch",
        "mirrored = flip and index >= len(dataset)",
        "mirrored = flip and index > len(dataset)",
        "test_train.py::test_with_flips_an_epoch_holds_every_image_and_its_mirror",
        "index len(dataset), the first mirror image, read as an original (out of range)",
    ),
    M(
        "evaluation.size_limit_exclusive",
        "minirpn/evaluation.py",
        "_of_size",
        "(_area(boxes) > high)",
        "(_area(boxes) >= high)",
        "test_evaluation.py::test_an_object_at_a_size_limit_counts_in_both_sizes_as_in_pycocotools",
        "an object of area exactly 32^2 counted as medium only (pycocotools includes both ends)",
    ),
    M(
        "evaluation.ar_at_one_uses_every_detection",
        "minirpn/evaluation.py",
        "coco_summary",
        "run(max_detections=k)",
        "run(max_detections=most)",
        "test_evaluation.py::test_coco_summary_worked_by_hand_by_size_and_detection_count",
        "AR1 and AR10 computed with 100 detections per image: the same as AR100",
    ),
    M(
        "evaluation.classes_matched_by_position",
        "minirpn/evaluation.py",
        "match_classes",
        "return np.array([0] + [run_label[name] for name in data_names], dtype=np.int64)",
        "return np.arange(len(data_names) + 1, dtype=np.int64)",
        "test_evaluation.py::test_classes_are_matched_by_name_and_refused_with_both_lists",
        "the data's label k scored as the run's label k: a reordered category list swaps classes",
    ),
    M(
        "history.total_misses_a_loss",
        "minirpn/history.py",
        "IterationLog.write",
        "values = [*row, sum(row), rate, seconds, *val]",
        "values = [*row, sum(row[1:]), rate, seconds, *val]",
        "test_train.py::test_history_csv_holds_every_iteration_and_eval_every_changes_no_training",
        "history.csv's total leaves out the first loss (rpn_cls)",
    ),
    M(
        "axes.any_suffix_written_as_png",
        "minirpn/visualize/axes.py",
        "figure_format",
        "if suffix not in FIGURE_FORMATS:\n        raise",
        "if False:\n        raise",
        "test_visualize.py",
        "--out x.jpg writes PNG bytes under a JPEG name",
    ),
    M(
        "cli.detect_counts_strictly_above",
        "minirpn/cli.py",
        "_detect_one",
        "shown = int((scores >= threshold).sum())",
        "shown = int((scores > threshold).sum())",
        "test_cli.py",
        "detect's line counts one drawing fewer than it draws when a score equals the threshold",
    ),
    # ------------------------------------------------------------------ issue 12/14 additions
    M(
        "schemes.coordinate_weight_ignored",
        "minirpn/schemes/non_approximate_joint.py",
        "NonApproximateJoint.rpn_deltas_gradient",
        "drois * self.detector.cfg.roi_coord_grad_weight,",
        "drois,",
        "test_schemes.py::test_non_approximate_joint_coordinate_gradient_weight",
        "roi_coord_grad_weight has no effect: the tiny preset trains with the exact path",
    ),
    M(
        "schemes.coordinate_weight_on_the_rpn_loss",
        "minirpn/schemes/non_approximate_joint.py",
        "NonApproximateJoint.rpn_deltas_gradient",
        "[a + b for a, b in",
        "[a * self.detector.cfg.roi_coord_grad_weight + b for a, b in",
        "test_schemes.py::test_non_approximate_joint_coordinate_gradient_weight",
        "the weight scales the RPN loss's own gradient too, not the coordinate path alone",
    ),
    M(
        "model.anchor_center_ignored",
        "minirpn/model.py",
        "Detector.__init__",
        "center = float(rf.center(0)) if cfg.anchor_center is None else cfg.anchor_center",
        "center = float(rf.center(0))",
        "test_model.py::test_anchor_center_moves_every_anchor_by_the_same_offset",
        "cfg.anchor_center has no effect: the corner anchors of the localisation study are centred",
    ),
    M(
        "config.float_or_none_unchecked",
        "minirpn/config.py",
        "_checked",
        "return None if value is None else _checked(name, value, kind.split()[0], *bounds)",
        "return value",
        "test_config.py",
        "anchor_center='4' (a string) or NaN accepted, failing later inside the anchors",
    ),
    M(
        "paper_claims.ratio_to_the_last_row",
        "minirpn/paper_claims.py",
        "claims_table",
        'ratio = r["train_seconds"] / rows[0]["train_seconds"]',
        'ratio = r["train_seconds"] / rows[-1]["train_seconds"]',
        "test_paper_claims.py",
        "lesson 10's time ratios relative to the last scheme instead of approximate joint",
    ),
    M(
        "schemes.alternating_budget_ratio_inverted",
        "minirpn/schemes/alternating.py",
        "",
        "ORIGINAL_BUDGET_RATIO = 240 / 70",
        "ORIGINAL_BUDGET_RATIO = 240 / 80",
        "test_cli.py::test_alternating_gets_the_original_budget_unless_iters_is_given",
        "the original's budget read as 80k per step rather than 70k end to end",
    ),
    M(
        "cli.alternating_budget_overrides_iters",
        "minirpn/cli.py",
        "_config",
        'if args.scheme == "alternating" and args.iters is None:',
        'if args.scheme == "alternating":',
        "test_cli.py::test_alternating_gets_the_original_budget_unless_iters_is_given",
        "--iters ignored for alternating runs: the original budget replaces what was asked",
    ),
    M(
        "schemes.alternating_lr_steps_unscaled",
        "minirpn/schemes/alternating.py",
        "original_budget",
        "lr_steps = _scaled_steps(cfg.lr_steps, total / cfg.max_iters)",
        "lr_steps = cfg.lr_steps",
        "test_cli.py::test_alternating_gets_the_original_budget_unless_iters_is_given",
        "the learning rate drops at 2000 of 8571 iterations: most of the budget at a tenth",
    ),
    # ------------------------------------------------------------------ RoI ops registry
    M(
        "roi_ops.pool_claims_a_box_gradient",
        "minirpn/roi_ops/pool.py",
        "RoIPool",
        "box_differentiable = False",
        "box_differentiable = True",
        (
            "test_roi_ops.py",
            "test_schemes.py::test_non_approximate_joint_frozen_stages_and_bad_arguments",
        ),
        "RoI pooling, which rounds the corners, offered for non-approximate joint training",
    ),
    M(
        "roi_ops.registry_ignores_the_flag",
        "minirpn/roi_ops/__init__.py",
        "box_differentiable_ops",
        "for name, op in ROI_OPS.items() if op.box_differentiable",
        "for name, op in ROI_OPS.items()",
        "test_roi_ops.py",
        "every RoI op listed as differentiable in the box, whatever its flag says",
    ),
    M(
        "schemes.non_approximate_accepts_any_roi_op",
        "minirpn/schemes/non_approximate_joint.py",
        "NonApproximateJoint.__init__",
        "if not op.box_differentiable:",
        "if False:",
        "test_schemes.py::test_non_approximate_joint_frozen_stages_and_bad_arguments",
        "non-approximate joint training built on RoI pooling, failing only at the first backward",
    ),
    # ------------------------------------------------------------------ nn: the layer tape
    M(
        "nn.layer_gradients_overwritten",
        "minirpn/nn/layers.py",
        "Layer._accumulate",
        'self.grads["weight"] += dw',
        'self.grads["weight"][...] = dw',
        "test_nn_layers.py",
        "a layer applied twice keeps the weight gradient of its last backward only",
    ),
    M(
        "nn.sequential_caches_in_forward_order",
        "minirpn/nn/layers.py",
        "Sequential.backward",
        "zip(reversed(self.layers), reversed(caches), strict=True)",
        "zip(reversed(self.layers), caches, strict=True)",
        "test_nn_layers.py",
        "the backward walks the layers from the end but the caches from the start",
    ),
    M(
        "nn.conv_keeps_its_input",
        "minirpn/nn/layers.py",
        "Conv2d.forward",
        "return conv2d_forward(",
        "self.last_input = x\nreturn conv2d_forward(",
        "test_model.py::test_after_detect_no_layer_or_stage_holds_an_array_but_its_parameters_and_gradients",
        "a layer keeps its last input on itself: inference holds every image after it returns",
    ),
    # ------------------------------------------------------------------ run state
    M(
        "run_state.category_ids_may_repeat",
        "minirpn/run_state.py",
        "RunState.from_dict",
        "if len(ids) != len(names) or len(set(ids)) != len(ids):",
        "if len(ids) != len(names):",
        "test_checkpoint.py",
        "two classes with the same category id accepted (their results merge in COCO)",
    ),
    M(
        "run_state.negative_int_accepted",
        "minirpn/run_state.py",
        "_int",
        "or value < 0",
        "",
        "test_checkpoint.py",
        "a negative seed or phase read from a checkpoint",
    ),
    M(
        "run_state.infinite_train_seconds",
        "minirpn/run_state.py",
        "_seconds",
        "math.isfinite(value) and value >= 0",
        "value >= 0",
        "test_checkpoint.py",
        "an infinite training time read from a checkpoint",
    ),
    M(
        "run_state.loss_rows_of_any_width",
        "minirpn/run_state.py",
        "_rows",
        "or len(row) != width",
        "",
        "test_checkpoint.py",
        "a loss history row with another number of losses than loss_names accepted",
    ),
    M(
        "run_state.unknown_fields_ignored",
        "minirpn/run_state.py",
        "RunState.from_dict",
        "if unknown or missing:",
        "if missing:",
        "test_checkpoint.py",
        "a run state with fields this version does not know read without a word",
    ),
]


# --------------------------------------------------------------------------- locator

# Tokens that only lay the code out; every other token (names, operators, numbers, strings)
# is compared.
_LAYOUT = {
    tokenize.NEWLINE,
    tokenize.NL,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.COMMENT,
    tokenize.ENDMARKER,
}
_LINE_BREAKS = {tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT}
_BLOCK_KEYWORDS = {"def", "class", "cdef", "cpdef"}  # cdef, cpdef: Cython


class _Scope(NamedTuple):
    qualname: str
    first: int  # index of the token that opens its header (def, class, cdef, cpdef)
    stop: int  # index past the last token of its block


def _tokens(text: str, what: str) -> list[tokenize.TokenInfo]:
    """Python's tokens of ``text`` (Python or Cython source, or a snippet of it).

    A snippet may end inside brackets (``f(a,``): the tokenizer then stops at the end with
    every token read. Anything else it cannot read is a ValueError naming ``what``.
    """
    tokens = []
    try:
        tokens.extend(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):  # an IndentationError is a SyntaxError
        pass
    read = [t.end for t in tokens if t.type not in _LAYOUT or t.type == tokenize.COMMENT]
    end = read[-1] if read else (1, 0)
    if _offset(text, end) < len(text.rstrip()):
        raise ValueError(f"cannot read {what} as Python tokens after line {end[0]}")
    return tokens


def _offset(text: str, position: tuple[int, int]) -> int:
    """The character offset of a tokenizer ``(row, column)`` in ``text``."""
    row, column = position
    return sum(len(line) for line in io.StringIO(text).readlines()[: row - 1]) + column


def _header(tokens, i: int) -> tuple[str, int] | None:
    """The block header opened by ``tokens[i]`` (a def, class, cdef or cpdef keyword):
    ``(name, stop)``, where ``stop`` is None if the block is indented below the header, else
    the index past a one-line block. None if it declares a name without opening a block
    (Cython's ``cdef double x``): no ':' outside brackets ends the header."""
    depth, name = 0, None
    for j in range(i + 1, len(tokens)):
        token = tokens[j]
        if token.type == tokenize.NEWLINE:
            return None
        if token.string in ("(", "[", "{"):
            if token.string == "(" and depth == 0 and name is None:
                name = tokens[j - 1].string  # def f(, class C(, cdef double f(
            depth += 1
        elif token.string in (")", "]", "}"):
            depth -= 1
        elif token.string == ":" and depth == 0:
            name = name or tokens[j - 1].string  # class C:, cdef class C:
            newline = next(k for k in range(j, len(tokens)) if tokens[k].type == tokenize.NEWLINE)
            body = [t for t in tokens[j + 1 : newline] if t.type != tokenize.COMMENT]
            return name, (newline if body else None)
    return None


def _scopes(tokens) -> list[_Scope]:
    """Every def and class block of a file (Cython's cdef and cpdef ones too), nested or not,
    with its qualified name (``"Outer.method"``, ``"function.helper"``)."""
    scopes, open_blocks, depth = [], [], 0  # open_blocks: (qualname, first, depth of its body)
    for i, token in enumerate(tokens):
        if token.type == tokenize.INDENT:
            depth += 1
        elif token.type == tokenize.DEDENT:
            depth -= 1
            while open_blocks and open_blocks[-1][2] > depth:
                qualname, first, _ = open_blocks.pop()
                scopes.append(_Scope(qualname, first, i))
        elif token.string in _BLOCK_KEYWORDS and (i == 0 or tokens[i - 1].type in _LINE_BREAKS):
            header = _header(tokens, i)
            if header is None:
                continue
            name, stop = header
            qualname = f"{open_blocks[-1][0]}.{name}" if open_blocks else name
            if stop is None:
                open_blocks.append((qualname, i, depth + 1))
            else:
                scopes.append(_Scope(qualname, i, stop))
    return scopes


def _matches(code, want: list[str]) -> list[int]:
    """Indices in the token list ``code`` where the token strings ``want`` begin."""
    strings = [t.string for t in code]
    return [k for k in range(len(code) - len(want) + 1) if strings[k : k + len(want)] == want]


def locate(text: str, scope: str, old: str, where: str = "the file") -> tuple[int, int]:
    """Character span ``(start, end)`` of the one occurrence of ``old``'s tokens in ``scope``.

    text: Python or Cython source; scope: a qualified def/class name, "" for the whole text;
    old: a snippet of code (its indentation, line breaks and comments do not matter).
    ValueError, naming ``where`` and the scopes the tokens do occur in, unless the scope
    exists once and holds the tokens exactly once.
    """
    tokens = _tokens(text, where)
    first, stop = 0, len(tokens)
    if scope:
        found = [s for s in _scopes(tokens) if s.qualname == scope]
        if len(found) != 1:
            raise ValueError(f"{where} has {len(found)} blocks named {scope!r}, expected one")
        first, stop = found[0].first, found[0].stop
    want = [t.string for t in _tokens(textwrap.dedent(old), repr(old)) if t.type not in _LAYOUT]
    if not want:
        raise ValueError(f"the code to find is empty: {old!r}")
    code = [t for t in tokens[first:stop] if t.type not in _LAYOUT]
    hits = _matches(code, want)
    if len(hits) != 1:
        everywhere = [t for t in tokens if t.type not in _LAYOUT]
        places = [
            enclosing(text, _offset(text, everywhere[k].start)) or "the module"
            for k in _matches(everywhere, want)
        ]
        raise ValueError(
            f"{old!r} occurs {len(hits)} times in {scope or 'the module'} of {where}, "
            f"expected once (in the file: {', '.join(places) or 'nowhere'})"
        )
    return _offset(text, code[hits[0]].start), _offset(text, code[hits[0] + len(want) - 1].end)


def enclosing(text: str, offset: int) -> str:
    """The qualified name of the innermost def/class whose block holds the character at
    ``offset`` ("" if none): the ``scope`` an entry for the code there names."""
    tokens = _tokens(text, "the text")
    best = ""
    for scope in _scopes(tokens):
        last = next(t for t in reversed(tokens[: scope.stop]) if t.type not in _LAYOUT)
        inside = _offset(text, tokens[scope.first].start) <= offset < _offset(text, last.end)
        if inside and len(scope.qualname) > len(best):  # the innermost has the longest name
            best = scope.qualname
    return best


def mutate(text: str, mutant: Mutant) -> str:
    """``text`` with the mutant applied: its tokens replaced by ``new``, whose later lines
    get the indentation of the line the match starts on."""
    start, end = locate(text, mutant.scope, mutant.old, mutant.path)
    line = text[text.rfind("\n", 0, start) + 1 :]
    indent = line[: len(line) - len(line.lstrip(" \t"))]
    return text[:start] + mutant.new.replace("\n", "\n" + indent) + text[end:]


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
    path.write_text(mutate(path.read_text(encoding="utf-8"), mutant), encoding="utf-8")


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
            print(f"{m.name} {m.path} {m.scope or '(module)'}: {m.bug}\n    tests: {tests}")
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
        for m in chosen:  # stale entries fail fast, before anything is built or run
            try:
                locate((base / m.path).read_text(encoding="utf-8"), m.scope, m.old, m.path)
            except (OSError, ValueError) as error:
                raise SystemExit(f"mutant {m.name}: {error}") from None
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
