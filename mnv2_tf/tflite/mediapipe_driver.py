"""Runs one .tflite file in MediaPipe Tasks, the runtime phone apps use, on uint8 images.

Executed by the MediaPipe venv's Python (`make mediapipe-venv`: mediapipe cannot be
installed beside tf-models-official), as a file, not a module of the package, so it
needs only mediapipe and numpy:

  .venv-mediapipe/bin/python mnv2_tf/tflite/mediapipe_driver.py TASK MODEL IMAGES.npy OUT.npz

TASK is classifier, detector or segmenter; IMAGES.npy holds uint8 [N, H, W, 3] at the
model's input size. OUT.npz holds per image: classifier `scores` [N, C] (by category
index) and `names`; detector `boxes` [N, K, 4] (ymin, xmin, ymax, xmax in pixels),
`classes` (-1 where MediaPipe gives no index), `names` [N, K], `scores`, `count` (a raw detector's
background column is denied, as a phone app would); segmenter `category_mask` [N, H, W].
"""

import sys

import numpy as np


def main(task: str, model: str, images_path: str, out_path: str) -> None:
    import mediapipe as mp
    from mediapipe.tasks import python as tasks
    from mediapipe.tasks.python import vision

    base = tasks.BaseOptions(model_asset_path=model)
    images = np.load(images_path)
    frames = [mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(x)) for x in images]
    out = {}
    if task == "classifier":
        with vision.ImageClassifier.create_from_options(
                vision.ImageClassifierOptions(base_options=base, max_results=-1)) as runner:
            results = [runner.classify(f).classifications[0].categories for f in frames]
        n = max(c.index for c in results[0]) + 1
        scores = np.zeros((len(frames), n), np.float32)
        names = [""] * n
        for i, categories in enumerate(results):
            for c in categories:
                scores[i, c.index] = c.score
                names[c.index] = c.category_name or ""
        out.update(scores=scores, names=np.array(names))
    elif task == "detector":
        with vision.ObjectDetector.create_from_options(
                vision.ObjectDetectorOptions(base_options=base, max_results=-1, score_threshold=0.0,
                                             category_denylist=["background"])) as runner:
            results = [runner.detect(f).detections for f in frames]
        k = max([len(r) for r in results] + [1])
        boxes, classes, scores = (np.zeros((len(frames), k, 4), np.float32), np.full((len(frames), k), -1),
                                  np.zeros((len(frames), k), np.float32))
        names = np.full((len(frames), k), "", dtype=object)
        for i, detections in enumerate(results):
            for j, d in enumerate(detections):
                b, c = d.bounding_box, d.categories[0]
                boxes[i, j] = (b.origin_y, b.origin_x, b.origin_y + b.height, b.origin_x + b.width)
                classes[i, j] = -1 if c.index is None else c.index
                scores[i, j], names[i, j] = c.score, c.category_name or ""
        out.update(boxes=boxes, classes=classes, scores=scores, count=np.array([len(r) for r in results]),
                   names=names.astype(str))
    elif task == "segmenter":
        with vision.ImageSegmenter.create_from_options(
                vision.ImageSegmenterOptions(base_options=base, output_category_mask=True)) as runner:
            out["category_mask"] = np.stack([runner.segment(f).category_mask.numpy_view().copy() for f in frames])
    else:
        raise SystemExit(f"unknown task {task!r}: classifier, detector or segmenter")
    np.savez(out_path, **out)


if __name__ == "__main__":
    main(*sys.argv[1:5])
