"""COCO box mAP (mAP@[.5:.95], mAP@.5) through tf-models-official's COCOEvaluator (pycocotools).

Ground truth comes from the evaluation pipeline (no annotation file needed), in
pixels of the original image. TFDS `coco` labels are contiguous 0..79, not
COCO's category ids; results for COCO datasets use the real ids
(`COCO_CATEGORY_IDS`), so exported detections match the official annotations.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import tensorflow as tf

# COCO 2014/2017 category ids of TFDS coco labels 0..79 (ids 12, 26, 29, 30, 45, 66, 68, 69, 71, 83 unused).
COCO_CATEGORY_IDS = tuple(i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83))


def category_ids(dataset: str, num_classes: int) -> np.ndarray:
    if dataset.split("/")[0].split(":")[0] == "coco":
        return np.array(COCO_CATEGORY_IDS)
    return np.arange(1, num_classes + 1)


def _pixels(boxes, height, width):
    scale = np.stack([height, width, height, width], -1).astype(np.float32)[:, None, :]
    return boxes * scale


def coco_map(inference_model, examples: tf.data.Dataset, batch_size: int, ids: np.ndarray,
             progress: bool = False) -> dict:
    """Runs `inference_model` over `examples` (see data.detection.eval_examples); returns metrics."""
    from official.vision.evaluation import coco_evaluator  # imports pycocotools (slow), only when used
    import keras

    evaluator = coco_evaluator.COCOEvaluator(annotation_file=None, include_mask=False,
                                             need_rescale_bboxes=False)
    batches = examples.batch(batch_size)
    bar = keras.utils.Progbar(None, unit_name="batch") if progress else None
    detections = 0
    for batch in batches:
        out = inference_model(batch["image"], training=False)
        b = {k: v.numpy() for k, v in batch.items() if k != "image"}
        h, w = b["height"], b["width"]
        gt_classes = np.where(b["gt_classes"] >= 0, ids[np.maximum(b["gt_classes"], 0)], -1)
        groundtruths = {"source_id": b["id"], "height": h, "width": w, "num_detections": b["num_gt"],
                        "boxes": _pixels(b["gt_boxes"], h, w), "classes": gt_classes,
                        "is_crowds": b["gt_crowd"].astype(np.int32)}
        count = out["count"].numpy()
        detections += int(count.sum())
        predictions = {"source_id": b["id"], "num_detections": count,
                       "detection_boxes": _pixels(out["boxes"].numpy(), h, w),
                       "detection_classes": ids[out["classes"].numpy()],
                       "detection_scores": out["scores"].numpy()}
        as_tensors = lambda d: {k: tf.convert_to_tensor(v) for k, v in d.items()}  # noqa: E731
        evaluator.update_state(as_tensors(groundtruths), as_tensors(predictions))
        if bar:
            bar.add(1)
    if not detections:
        return {"mAP": 0.0, "mAP@0.5": 0.0, "detections": 0}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its whole summary
        result = evaluator.result()
    return {"mAP": float(result["AP"]), "mAP@0.5": float(result["AP50"]),
            "mAP@0.75": float(result["AP75"]), "detections": detections}
