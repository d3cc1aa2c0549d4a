"""Finding and preparing TFDS datasets without surprises: never a silent download.

- `mnv2_shapes` (the built-in default) and `mnv2_parts` (the benchmark of `reproduce`) are
  generated locally on first use.
- Manual datasets (imagenet2012, ...) are prepared from files the user placed in
  `manual_dir`; a missing file is named in the error.
- Anything else is prepared only with `download=True` (a network fetch);
  otherwise the error says how to get it.
"""

from __future__ import annotations

import contextlib
import io
import os

import tensorflow as tf
import tensorflow_datasets as tfds

from mnv2_tf import workspace
from mnv2_tf.data import own
from mnv2_tf.data.builders import parts, shapes, voc_segmentation  # noqa: F401  (register our builders)

GENERATED = ("mnv2_shapes", "mnv2_parts")  # built-in datasets generated locally on first use
from mnv2_tf.errors import DatasetError

# Files a manual dataset needs in manual_dir (TFDS names them in its instructions);
# a tuple lists alternatives (an archive or its extracted folder).
MANUAL_FILES = {
    "imagenet2012": ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar"),
    "voc_segmentation": (("VOCtrainval_11-May-2012.tar", "VOCdevkit"),),
}


def open_dataset(data) -> tfds.core.DatasetBuilder:
    """The prepared builder of a DataConfig: one of our own-data sources (`own`) or a TFDS name."""
    data_dir = data.data_dir or workspace.data_dir()
    try:
        if own.parse(data.dataset):
            options = own.Options(data.validation_fraction, data.test_fraction, data.skip_missing, data.images_dir)
            return own.open_builder(data.dataset, data_dir, options)
        return get_builder(data.dataset, data_dir, data.manual_dir, data.download)
    except (OSError, tf.errors.PermissionDeniedError, tf.errors.FailedPreconditionError) as e:
        raise DatasetError(_unwritable(data.dataset, data_dir, e)) from None


def _unwritable(name: str, data_dir: str, error: Exception) -> str:
    """The error of a failed preparation, blaming --data_dir only for a path inside it."""
    why = (getattr(error, "strerror", None) or getattr(error, "message", None) or str(error)).splitlines()[0][:200]
    path = getattr(error, "filename", None)
    if os.path.islink(data_dir) and not os.path.exists(data_dir):
        return f"--data_dir {data_dir} is a link to {os.readlink(data_dir)}, which does not exist: fix or remove the link"
    root = os.path.realpath(os.path.abspath(data_dir))
    where = os.path.realpath(os.path.abspath(str(path))) if path else root
    if where != root and not where.startswith(root + os.sep):
        link = " (a link to a missing file)" if os.path.islink(str(path)) and not os.path.exists(str(path)) else ""
        return f"cannot read {path}{link} while preparing {name} ({why}): fix or remove that file"
    return (f"cannot prepare {name} in --data_dir {data_dir} ({why}): pass a writable --data_dir, or one where it "
            "is already prepared")


def get_builder(name: str, data_dir: str | None = None, manual_dir: str | None = None,
                download: bool = False) -> tfds.core.DatasetBuilder:
    """Returns a prepared builder for `name` ("dataset[/config][:version]")."""
    data_dir = data_dir or workspace.data_dir()
    base = name.split("/")[0].split(":")[0]
    hint = own.not_a_tfds_name(name)  # a path given where a TFDS name or a source belongs
    if hint and base not in tfds.list_builders(with_community_datasets=False):
        raise DatasetError(hint)
    try:
        builder = tfds.builder(name, data_dir=data_dir, try_gcs=False)
    except tfds.core.registered.DatasetNotFoundError as e:
        raise DatasetError(f"unknown TFDS dataset {name!r}: {str(e).splitlines()[0]}") from None
    except ValueError:
        raise DatasetError(f"--dataset={name} is neither a TFDS name (imagenet2012, coco/2017, ...) nor one of "
                           f"your own sources ({', '.join(k + ':PATH' for k in own.SOURCES)})") from None
    if _is_prepared(builder):
        return builder
    if base in GENERATED:
        print(f"Generating {name} into {data_dir} (no network needed)...", flush=True)
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # TFDS's "Downloading ... Unknown size" banner
                builder.download_and_prepare()
        except (OSError, tf.errors.PermissionDeniedError, tf.errors.FailedPreconditionError) as e:
            raise DatasetError(_unwritable(name, data_dir, e)) from None
        return builder
    if builder.MANUAL_DOWNLOAD_INSTRUCTIONS:
        manual_dir = manual_dir or os.path.join(data_dir, "downloads", "manual")
        needs = [(f,) if isinstance(f, str) else f for f in MANUAL_FILES.get(base, ())]
        missing = [" or ".join(alternatives) for alternatives in needs
                   if not any(tf.io.gfile.exists(os.path.join(manual_dir, f)) for f in alternatives)]
        if missing or not tf.io.gfile.exists(manual_dir):
            raise DatasetError(
                f"{name} is not prepared in {data_dir} and needs files you download by hand: "
                f"missing in {manual_dir}: {'; '.join(missing) or 'everything'}. "
                "See WORKSPACE.md.")
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
        return builder
    if not download:
        raise DatasetError(
            f"{name} is not prepared in {data_dir}. Pass --download to fetch it (needs network), "
            f"or point --data_dir at a folder where it was prepared.")
    builder.download_and_prepare()
    return builder


def _is_prepared(builder: tfds.core.DatasetBuilder) -> bool:
    return tf.io.gfile.exists(os.path.join(builder.data_dir, "dataset_info.json"))


def recorded_class_names(builder: tfds.core.DatasetBuilder) -> list[str]:
    """Class names kept in a dataset's metadata (our own-data builders); [] when it has none."""
    if not tf.io.gfile.exists(os.path.join(builder.data_dir, "metadata.json")):
        return []
    return list((builder.info.metadata or {}).get("class_names", []))
