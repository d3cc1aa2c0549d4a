"""Your own data as TFDS datasets: `--dataset=<source>:<path>` for every tool.

  image_folder:DIR        classification, a folder per class        (`image_folder`)
  coco:ANNOTATIONS.json   detection, COCO JSON                      (`coco`)
  voc:DIR                 detection, Pascal VOC / LabelImg XML      (`voc`)
  masks:DIR               segmentation, images + PNG masks          (`masks`)

The files are scanned (every problem is an error naming the file, before
anything is written), then prepared once into data_dir as a TFDS dataset with a
progress bar; later runs reuse the copy until a file is added, removed or
changed (the fingerprint of the file list, sizes and modification times).
"""

from __future__ import annotations

import contextlib
import glob
import io
import json
import os
import re
import shutil
import sys

import tensorflow as tf
import tensorflow_datasets as tfds

from mnv2_tf.data.own import builder, coco, image_folder, masks, voc
from mnv2_tf.data.own.manifest import Options, confine, fingerprint
from mnv2_tf.errors import DatasetError

SOURCES = {"image_folder": image_folder, "coco": coco, "voc": voc, "masks": masks}


def parse(spec: str) -> tuple[str, str] | None:
    """"kind:path" -> (kind, path); None when `spec` is not one of ours (a TFDS name)."""
    kind, sep, path = spec.partition(":")
    if not sep or kind not in SOURCES:
        return None
    if not path:
        raise DatasetError(f"--dataset={spec} needs a path after '{kind}:'")
    return kind, path


def not_a_tfds_name(spec: str) -> str | None:
    """The hint for a path given where a source was expected (None: `spec` does not look like a path)."""
    if os.path.exists(os.path.expanduser(spec)) or spec.startswith(("/", "./", "../", "~")):
        return (f"{spec} is a path: name its layout, e.g. --dataset=image_folder:{spec} (classification), "
                f"coco:{spec} or voc:{spec} (detection), masks:{spec} (segmentation)")
    return None


def _absolute(kind: str, path: str) -> str:
    if kind != "coco":
        return os.path.abspath(os.path.expanduser(path))
    items = []
    for item in path.split(","):
        split, sep, p = item.partition("=")
        items.append(f"{split}={os.path.abspath(os.path.expanduser(p))}" if sep
                     else os.path.abspath(os.path.expanduser(item)))
    return ",".join(items)


def absolute_spec(spec: str) -> str:
    """`spec` with its path(s) made absolute ("image_folder:photos" -> "image_folder:/home/me/photos"), so
    a run's config.json finds its data from any directory; a TFDS name is returned as it is."""
    parsed = parse(spec)
    return f"{parsed[0]}:{_absolute(*parsed)}" if parsed else spec


def _first_path(path: str) -> str:
    return path.split(",")[0].partition("=")[2] or path.split(",")[0]


def _config_name(path: str, digest: str) -> str:
    first = _first_path(path)
    stem = os.path.splitext(os.path.basename(first.rstrip(os.sep)))[0] or "data"
    return f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', stem)[:40]}-{digest}"


def open_builder(spec: str, data_dir: str, options: Options) -> tfds.core.DatasetBuilder:
    """The prepared dataset of `spec` ("kind:path"), preparing it first when needed."""
    kind, path = parse(spec)
    path = _absolute(kind, path)
    options.check()
    if not os.path.exists(_first_path(path)):
        copy = _prepared_copy(kind, f"{kind}:{path}", data_dir)
        if copy:
            print(f"{_first_path(path)} is gone; using its prepared copy {copy}", file=sys.stderr, flush=True)
            return tfds.builder_from_directory(copy)
    module = SOURCES[kind]
    roots = module.roots(path, options) if hasattr(module, "roots") else [_first_path(path)]
    listed = module.files(path, options)
    confine(listed, roots)  # before any file is read: inside the dataset, regular, bounded
    name = _config_name(path, fingerprint(kind, listed, options))
    prepared = builder.prepared_dir(kind, data_dir, name)
    with _preparing(os.path.dirname(prepared)):
        if not tf.io.gfile.exists(os.path.join(prepared, "dataset_info.json")):
            _prepare(kind, path, options, module, name, roots, data_dir)
    return tfds.builder_from_directory(prepared)


@contextlib.contextmanager
def _preparing(folder: str):
    """One preparation of a dataset at a time (a lock the OS releases when a process dies); the
    `incomplete.*` folders a killed preparation left are removed once the lock is held."""
    import fcntl

    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, ".lock"), "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # a second process waits for the first to finish, then reuses it
        for leftover in glob.glob(os.path.join(folder, "incomplete.*")):
            shutil.rmtree(leftover, ignore_errors=True)
        yield


def _prepare(kind, path, options, module, name, roots, data_dir) -> None:
    """Scans the files (each inside `roots`) and writes the TFDS copy, reporting what it dropped."""
    prepared = builder.prepared_dir(kind, data_dir, name)
    manifest = module.scan(path, options)
    confine([p for r in manifest.records for p in (r.image, r.mask) if p], roots)
    cls = builder.BUILDERS[kind]
    splits = {k: len(v) for k, v in manifest.splits().items()}
    print(f"Preparing {kind}:{path} ({', '.join(f'{k} {v}' for k, v in splits.items())} images, "
          f"{len(manifest.class_names)} classes) into {prepared}", file=sys.stderr, flush=True)
    fresh = cls(config=builder.OwnConfig(name=name, manifest=manifest, source=f"{kind}:{path}",
                                         max_side=options.max_side), data_dir=data_dir)
    with contextlib.redirect_stdout(io.StringIO()):  # TFDS's "Downloading ... Unknown size" banner: ours said it
        fresh.download_and_prepare()
    print(report_text(fresh.info.metadata["report"]), file=sys.stderr, flush=True)


def _prepared_copy(kind: str, source: str, data_dir: str) -> str | None:
    """The newest prepared copy of `source` in data_dir (evaluate / export after the files moved)."""
    found = []
    for meta in tf.io.gfile.glob(os.path.join(data_dir, builder.BUILDERS[kind].name, "*", builder.VERSION,
                                              "metadata.json")):
        with open(meta) as f:
            if json.load(f).get("source") == source:
                found.append((os.path.getmtime(meta), os.path.dirname(meta)))
    return max(found)[1] if found else None


def report_text(report: dict) -> str:
    """The preparation report in words: what was skipped, fixed or dropped."""
    lines = []
    if report.get("unreadable"):
        shown = report["unreadable_files"]
        lines.append(f"skipped {report['unreadable']} unreadable image(s): {', '.join(shown)}"
                     + (" ..." if report["unreadable"] > len(shown) else ""))
    lines += [f"{reason}: {n}" for reason, n in report.items() if reason not in ("unreadable", "unreadable_files")]
    return "Prepared. " + ("; ".join(lines) if lines else "Every file was read; nothing dropped.")
