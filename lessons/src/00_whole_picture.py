# %% [markdown]
# # Lesson 00 — The whole picture (F21, F5)
#
# **You will learn** what Faster R-CNN's four parts are and what array flows from each to the
# next, by running a small trained detector stage by stage; and why a detector asks a
# proposal network for a few hundred regions instead of classifying every window.
#
# **Why it is needed.** Every later lesson zooms in on one box of this picture. Keep it at
# hand: when a lesson talks about "the shared map" or "the proposals", this is where they
# come from and where they go.

# %%
import matplotlib.pyplot as plt
import numpy as np

from minirpn import pretrained
from minirpn.backbone import preprocess
from minirpn.blas import use_one_thread
from minirpn.config import Config
from minirpn.data import ToyShapes
from minirpn.exercises import check
from minirpn.ops import box_iou
from minirpn.roi_head import postprocess
from minirpn.visualize import charts, draw_detection_boxes

one_thread = use_one_thread()  # NumPy's BLAS on one thread, as the minirpn command runs it

# %% [markdown]
# ## A trained detector at work
#
# `pretrained("toy")` is a tiny Faster R-CNN trained on the package's toy data: 128×128
# images with one to four shapes of four classes (circle, square, triangle, bar). It is the
# detector the main job, `minirpn train`, trains in a few minutes; its weights ship with
# minirpn, so it loads at once and finds the same objects on every machine. We ask it for
# the objects in one validation image, which it never saw during training.

# %%
detector = pretrained("toy")
val = ToyShapes("val")
class_names = val.class_names
sample = val[12]
boxes, scores, labels = detector.detect(sample.image)
print(f"classes: {class_names}")
print(f"ground truth: {[class_names[k - 1] for k in sample.labels]}")
for box, score, label in zip(boxes[:5], scores[:5], labels[:5], strict=True):
    print(f"  {class_names[label - 1]:8} {score:.2f}  box {np.round(box).astype(int)}")
print(f"... {len(boxes)} detections in all, scores from {scores[0]:.2f} down to {scores[-1]:.2f}")

# %% [markdown]
# `detect` returns every box whose class probability is above 0.05, best first. The image
# holds four shapes, and the detector finds each of them with a high score: for every
# object, the detection of its class that overlaps it most covers it well (IoU at least 0.7;
# IoU, the overlap measure, is lesson 04's) and scores at least 0.9:

# %%
iou = box_iou(sample.boxes, boxes)  # (objects, detections)
iou[sample.labels[:, None] != labels[None, :]] = 0.0  # only detections of the object's class
best_iou, best_score = iou.max(axis=1), scores[iou.argmax(axis=1)]
print(f"each object's best detection: IoU {best_iou.round(2)}, score {best_score.round(2)}")
assert (best_iou >= 0.7).all() and (best_score >= 0.9).all()

# %% [markdown]
# The picture shows the detections scoring at least 0.5, with the ground truth dashed in
# white:

# %%
fig, ax = plt.subplots(figsize=(6, 6.4))
draw_detection_boxes(sample.image, boxes, scores, labels, class_names, gt_boxes=sample.boxes, ax=ax)
plt.show()

# %% [markdown]
# ## The four parts (F21)
#
# Faster R-CNN is four parts in a row. We run them one by one on the same image, with the
# package's functions, and keep the shape of every array that passes between them.
#
# 1. **Feature extraction** (`detector.features`, which runs `detector.backbone`):
#    convolutions and poolings turn the image into a *shared feature map*. The tiny
#    backbone has 64 channels and stride 8 (one cell per 8×8 pixels); VGG-16 has 512
#    channels and stride 16 (lessons 01, 02).
#
# Every `forward` in the package returns two things: its output and its *cache*, what its
# backward pass will need (the tape of the call, lesson 06). Here we only look, so we drop
# the caches (`_`), and nothing of the forward pass stays behind.

# %%
image_batch = preprocess(sample.image[None], detector.dtype)  # (N, 3, H, W), normalised
features, _ = detector.features(sample.image[None])  # preprocess + backbone: a list of maps
(feature_map,) = features  # the tiny backbone makes one map
print(f"image {image_batch.shape} -> shared map {feature_map.shape}")

# %% [markdown]
# 2. **The RPN** (`detector.rpn`): a 3×3 convolution slides over the map, and two 1×1
#    convolutions give, for each of the $k = 9$ anchors of every cell, two object / not-object
#    scores ($2k = 18$ channels) and four box deltas ($4k = 36$ channels) (lesson 03). Its
#    output holds, for each map, the scores, the deltas and the anchors they belong to.

# %%
rpn_out, _ = detector.rpn.forward(features)
(rpn_scores,), (rpn_deltas,), (anchors,) = rpn_out  # one entry per map
print(f"RPN scores {rpn_scores.shape}, deltas {rpn_deltas.shape}, {len(anchors)} anchors")

# %% [markdown]
# 3. **The proposal layer** (`detector.rpn.propose`, no weights): moves each anchor by its
#    deltas, keeps the best-scoring boxes and removes near-duplicates with NMS (lesson 07).
#    The tiny detector keeps 100 at test time; VGG-16's Faster R-CNN keeps 300.

# %%
(proposed,) = detector.rpn.propose(rpn_out, sample.image.shape[:2], train=False)  # one image
proposals = proposed.boxes  # best first; proposed.scores holds their objectness
print(f"{len(anchors)} anchors -> {len(proposals)} proposals {proposals.shape}")

# %% [markdown]
# 4. **RoI pooling + classifier** (`detector.roi_head`): every proposal is cut out of the
#    *same* shared map and max-pooled to 7×7 cells (lesson 08), then two fully connected
#    layers and two siblings give $C + 1 = 5$ class scores (background and the four shapes)
#    and $4(C + 1) = 20$ class-specific box deltas (lesson 09). Here is the pooling on its
#    own (the head's RoI layer, `roi_head.roi_op`), to see its shape; `roi_head.forward`
#    does the pooling and the rest.

# %%
rois = np.hstack([np.zeros((len(proposals), 1), detector.dtype), proposals])  # (R, 5): image 0
pooled, _ = detector.roi_head.roi_op.forward(feature_map, rois)
(cls_logits, box_deltas), _ = detector.roi_head.forward(feature_map, rois)
print(f"pooled {pooled.shape}, class scores {cls_logits.shape}, box deltas {box_deltas.shape}")

# %% [markdown]
# The check: the shapes are what the description above predicts for a 128×128 image
# (128 / 8 = 16 cells a side), and the four parts run by hand give exactly what `detect`
# gave (the last step, `postprocess`, turns scores and deltas into boxes; lesson 09).

# %%
assert image_batch.shape == (1, 3, 128, 128)
assert feature_map.shape == (1, 64, 16, 16)
assert rpn_scores.shape == (1, 18, 16, 16) and rpn_deltas.shape == (1, 36, 16, 16)
assert proposals.shape == (100, 4)
assert pooled.shape == (100, 64, 7, 7)
assert cls_logits.shape == (100, 5) and box_deltas.shape == (100, 20)
by_hand = postprocess(proposals, cls_logits, box_deltas, sample.image.shape[:2], detector.cfg)
for ours, theirs in zip(by_hand, (boxes, scores, labels), strict=True):
    np.testing.assert_array_equal(ours, theirs)
print("every shape as predicted; the four parts by hand = detector.detect")

# %% [markdown]
# The diagram, with the shapes we just measured on the arrows. Note the arrow on the left:
# the shared map is used twice, by the RPN and by RoI pooling. That sharing is what makes
# Faster R-CNN fast: the expensive convolutions run once per image, not once per region.

# %%
fmt = lambda shape: str(tuple(shape))  # noqa: E731
nodes = [
    "image",
    "1  feature extraction\n(backbone: conv + ReLU, max-pooling)",
    "2  region proposal network (RPN)\n(3×3 conv, 1×1 cls and 1×1 reg)",
    "3  proposal layer\n(decode, clip, top scores, NMS)",
    "4  RoI pooling\n(each proposal → 7×7 cells)",
    "4  classifier\n(fc6, fc7, cls_score, bbox_pred)",
    "detections\n(per-class NMS, score threshold)",
]
edges = [
    (0, 1, fmt(image_batch.shape)),
    (1, 2, f"shared map {fmt(feature_map.shape)}"),
    (2, 3, f"scores {fmt(rpn_scores.shape)}\ndeltas {fmt(rpn_deltas.shape)}"),
    (3, 4, f"{len(proposals)} proposals {fmt(proposals.shape)}"),
    (1, 4, f"shared map\n{fmt(feature_map.shape)}"),
    (4, 5, f"pooled {fmt(pooled.shape)}"),
    (5, 6, f"class scores {fmt(cls_logits.shape)}\nbox deltas {fmt(box_deltas.shape)}"),
]
fig, ax = plt.subplots(figsize=(8, 7))
charts.data_flow(ax, nodes, edges, plain=[0, 6], title="Faster R-CNN's four parts, 128×128 image")
plt.show()

# %% [markdown]
# ## Why proposals? Count the windows (F5)
#
# Before region proposals, a detector could slide a classifier over the image: every
# position, several sizes, several shapes. How many windows is that for the 600×1000
# images Faster R-CNN works on? Our assumptions, modest for such a detector:
#
# * square-root-of-area sizes 32, 45, 64, ..., 512 pixels (9 sizes, a factor $\sqrt 2$
#   apart — objects in photographs come in every size);
# * aspect ratios (height / width) 0.5, 1 and 2, as the anchors use;
# * a stride of 8 pixels between neighbouring windows;
# * only windows entirely inside the image.
#
# A window $w$ wide fits at $\lfloor (W - w) / s \rfloor + 1$ horizontal positions (F1, the
# same count as a convolution's output), and likewise vertically.

# %%
HEIGHT, WIDTH, STRIDE = 600, 1000, 8
SIZES = 32 * np.sqrt(2) ** np.arange(9)  # 32 ... 512
RATIOS = (0.5, 1.0, 2.0)  # h / w


def count_windows(height, width, sizes, ratios, stride):
    """Windows of every size and ratio at every stride-spaced position inside the image."""
    total = 0
    for size in sizes:
        for ratio in ratios:
            w, h = round(size / np.sqrt(ratio)), round(size * np.sqrt(ratio))  # area size²
            if w <= width and h <= height:
                total += ((width - w) // stride + 1) * ((height - h) // stride + 1)
    return total


windows = count_windows(HEIGHT, WIDTH, SIZES, RATIOS, STRIDE)
proposals_paper = Config().rpn_post_nms_top_n_test  # the paper's VGG-16 setting
print(f"sliding windows on a {HEIGHT}x{WIDTH} image: {windows:,}")
print(
    f"proposals Faster R-CNN classifies: {proposals_paper}, {windows / proposals_paper:,.0f}x fewer"
)

# %% [markdown]
# A hand check of one term: a 32×32 window fits at $\lfloor 968 / 8 \rfloor + 1 = 122$
# positions across and $\lfloor 568 / 8 \rfloor + 1 = 72$ down, 8,784 windows of that
# size and shape alone.

# %%
assert count_windows(HEIGHT, WIDTH, [32], [1.0], STRIDE) == 122 * 72 == 8784
assert proposals_paper == 300
assert windows > 100 * proposals_paper

# %% [markdown]
# About 150,000 windows — 500 times the 300 proposals — and each would go
# through the classifier: in Faster R-CNN that is RoI pooling and two fully connected layers
# with 4096 outputs (about 120 million multiply-adds per region for VGG-16). That cost is
# the first reason (F5).
#
# The second is what those windows contain. Measure it on the toy validation images: slide
# windows over them (sizes 16 to 64, the three ratios, stride 4) and count how many overlap
# an object well (IoU ≥ 0.5, lesson 04's F9), against the trained detector's 100 proposals.


# %%
def windows_in(height, width, sizes, ratios, stride):
    """(N, 4) corner boxes of the windows count_windows counts."""
    boxes = []
    for size in sizes:
        for ratio in ratios:
            w, h = round(size / np.sqrt(ratio)), round(size * np.sqrt(ratio))
            xs, ys = np.arange(0, width - w + 1, stride), np.arange(0, height - h + 1, stride)
            x, y = np.meshgrid(xs, ys)
            boxes.append(np.stack([x, y, x + w, y + h], axis=-1).reshape(-1, 4))
    return np.concatenate(boxes).astype(np.float64)


toy_windows = windows_in(128, 128, [16, 24, 32, 48, 64], RATIOS, 4)
assert len(toy_windows) == count_windows(128, 128, [16, 24, 32, 48, 64], RATIOS, 4)
window_hits, proposal_hits, num_proposals = 0, 0, 0
for index in range(20):
    image_sample = val[index]
    window_hits += (box_iou(toy_windows, image_sample.boxes).max(axis=1) >= 0.5).sum()
    image_features, _ = detector.features(image_sample.image[None])
    image_rpn_out, _ = detector.rpn.forward(image_features)
    (image_proposals,) = detector.rpn.propose(image_rpn_out, (128, 128), train=False)
    proposal_hits += (box_iou(image_proposals.boxes, image_sample.boxes).max(axis=1) >= 0.5).sum()
    num_proposals += len(image_proposals.boxes)
window_share = window_hits / (20 * len(toy_windows))
proposal_share = proposal_hits / num_proposals
print(f"{len(toy_windows):,} windows per image: {window_share:.1%} on an object (IoU >= 0.5)")
print(f"{num_proposals // 20} proposals per image: {proposal_share:.1%} on an object")
richer, fewer = proposal_share / window_share, len(toy_windows) / (num_proposals / 20)
print(f"the proposals: {richer:.0f}x richer in objects, {fewer:.0f}x fewer")
assert window_share < 0.02 and richer > 5 and proposal_share < 0.5  # and still mostly background

# %% [markdown]
# About 1% of the windows sit on an object; the other 99% are background — here plain
# toy-image backdrop, in photographs sky, grass, walls and floors. A classifier fed those
# spends nearly all its time and nearly all its training signal on "background": the few
# real classes are drowned out (F5). The proposals are many times richer in objects and
# far fewer (both factors printed). Most of the 100 are still background — many are
# near-copies of the same object, or weak guesses kept to fill the quota — which is why the
# second stage still has a background class, and samples its training RoIs with a fixed
# share of foreground (lesson 09).
#
# ## Summary
#
# * Faster R-CNN (F21) = **feature extraction** → **RPN** → **proposal layer** → **RoI
#   pooling + classifier**. The shared map feeds both the RPN and RoI pooling, so the
#   convolutions run once per image.
# * For a 128×128 image the tiny detector passes (1, 3, 128, 128) → (1, 64, 16, 16) →
#   scores (1, 18, 16, 16) and deltas (1, 36, 16, 16) → 100 proposals → (100, 64, 7, 7) →
#   (100, 5) class scores and (100, 20) box deltas.
# * Sliding a classifier over a 600×1000 image means hundreds of thousands of windows, about
#   99% background; a learned proposal network hands the classifier 300 (F5).
#
# ## Exercises
#
# **1.** Count the sliding windows of the F5 section again with a stride of 16 pixels
# instead of 8 (same sizes, ratios and image). Roughly how much did you save, and why is it
# not exactly 4×?

# %%
windows_stride_16 = ...  # an int

# %%
check("00.windows_stride_16", windows_stride_16)

# %% [markdown]
# **2.** Part 4 is where the cost per region goes. VGG-16's fc6 and fc7 take about 120
# million multiply-adds for each region. How many do the tiny detector's fc6 and fc7 take
# for all 100 proposals of one image? fc6 reads the pooled cells of one proposal and has
# `detector.cfg.fc_channels` outputs, fc7 reads those and has as many; a fully connected
# layer with $n$ inputs and $m$ outputs does $n \cdot m$ multiply-adds.

# %%
head_multiply_adds = ...  # an int

# %%
check("00.head_multiply_adds", head_multiply_adds)

# %% [markdown]
# **3.** Feed the tiny detector a 600×1000 image. How many anchors does its RPN score?
# (The backbone keeps the size through its convolutions and halves it in each of its three
# poolings; every cell has 9 anchors.)

# %%
anchors_600x1000 = ...  # an int

# %%
check("00.anchors_600x1000", anchors_600x1000)
