"""`image_folder:DIR` (classification): a folder per class, optionally inside split folders.

  DIR/<class>/*.jpg                          one pool, split by hash (validation_fraction)
  DIR/{train,val[idation],test}/<class>/*     given splits

Classes are the sorted folder names over all splits (a class may be missing from
a split). Files that are not images by extension are ignored.
"""

from __future__ import annotations

import os
import sys

from mnv2_tf.data.own import images
from mnv2_tf.data.own.manifest import Manifest, Options, Record, assign_splits, split_name, walk_files
from mnv2_tf.errors import DatasetError

KIND = "image_folder"


def _subdirs(path: str) -> list[str]:
    return sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)) and not d.startswith("."))


def _layout(root: str) -> list[tuple[str | None, str]]:
    """[(split or None, folder holding class folders)]."""
    if not os.path.isdir(root):
        raise DatasetError(f"image_folder:{root}: no such folder")
    top = _subdirs(root)
    if top and all(split_name(d) for d in top):
        return [(split_name(d), os.path.join(root, d)) for d in top]
    return [(None, root)]


def files(root: str, options: Options) -> list[str]:
    return [p for p in walk_files(root) if images.is_image(p)]


def scan(root: str, options: Options) -> Manifest:
    layout = _layout(root)
    per_split = {folder: _subdirs(folder) for _, folder in layout}
    names = sorted({c for classes in per_split.values() for c in classes})
    if not names:
        loose = [f for f in os.listdir(root) if images.is_image(f)]
        raise DatasetError(
            f"image_folder:{root}: " + (f"{len(loose)} images but no class sub-folders; put each class's images "
                                        f"in {root}/<class name>/" if loose else
                                        f"empty: expected {root}/<class name>/<images> (or train/ and val/ "
                                        "folders holding class folders)"))
    records = []
    for split, folder in layout:
        for name in per_split[folder]:
            for path in walk_files(os.path.join(folder, name)):
                if images.is_image(path):
                    records.append(Record(path, split, label=names.index(name), key=os.path.relpath(path, root)))
    if not records:
        raise DatasetError(f"image_folder:{root}: the class folders {names[:5]} hold no images "
                           f"({', '.join(images.EXTENSIONS)})")
    assign_splits(records, options)
    _note_doubtful_classes(root, names, records)
    return Manifest(KIND, names, records)


def _note_doubtful_classes(root: str, names: list[str], records: list[Record]) -> None:
    """Says (on stderr) what a careless copy leaves: folders that differ only in case (`Cat`, `cat`:
    two classes) and classes the validation split does not hold (their accuracy is never measured)."""
    lower: dict[str, list[str]] = {}
    for name in names:
        lower.setdefault(name.casefold(), []).append(name)
    same = [" and ".join(group) for group in lower.values() if len(group) > 1]
    if same:
        print(f"note: image_folder:{root}: folders that differ only in case are separate classes: "
              f"{'; '.join(same)}", file=sys.stderr, flush=True)
    held = {r.label for r in records if r.split == "validation"}
    missing = [names[i] for i in range(len(names)) if i not in held]
    if held and missing:
        print(f"note: image_folder:{root}: {len(missing)} class(es) have no validation image (first: "
              f"{', '.join(missing[:5])}): their accuracy is not measured; add images or raise "
              "--validation_fraction", file=sys.stderr, flush=True)
