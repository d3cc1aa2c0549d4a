"""`coco:ANNOTATIONS` (detection): COCO-format JSON as CVAT, Label Studio or Roboflow export it.

ANNOTATIONS is a JSON file, a comma list of them (`split=path` items name the
split), or a folder holding them (also in `annotations/`). A file's split comes
from its name or its folder (`instances_train2017.json`, `valid/_annotations.coco.json`);
a file without one is split by hash. Images are looked up under `images_dir`,
beside the JSON, in `images/` next to it or next to its folder. Category ids may
be anything (1, 3, 7...): they map to contiguous labels in id order, with their
names. `iscrowd` boxes leave training and are flagged in evaluation; `bbox` is
x, y, width, height in pixels.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys

from mnv2_tf.data.own import images
from mnv2_tf.data.own.manifest import Manifest, Options, Record, assign_splits, split_name
from mnv2_tf.errors import DatasetError

KIND = "coco"
_SPLIT_WORD = re.compile(r"(?:^|[^a-z])(train|training|val|valid|validation|test|testing)(?:[^a-z]|\d|$)")


def _json_files(spec: str) -> list[tuple[str | None, str]]:
    """[(split or None, json path)] from the spec."""
    out = []
    for item in [s for s in spec.split(",") if s]:
        given, sep, path = item.partition("=")
        if not sep:
            given, path = None, item
        elif split_name(given) is None:
            raise DatasetError(f"coco:{spec}: {given!r} is not a split name (train, validation, test)")
        if os.path.isdir(path):
            folder = os.path.join(path, "annotations") if os.path.isdir(os.path.join(path, "annotations")) else path
            found = _jsons_in(folder) or [f for d in _split_folders(folder) for f in _jsons_in(d)]
            if not found:
                raise DatasetError(f"coco:{path}: no .json annotation file in {folder} (nor in train/ valid/ test/ "
                                   "folders inside it)")
            out += [(split_name(given) if given else None, f) for f in found]
        elif os.path.isfile(path):
            out.append((split_name(given) if given else None, path))
            _note_ignored_siblings(path)
        else:
            raise DatasetError(f"coco:{path}: no such file or folder")
    if not out:
        raise DatasetError("coco: needs an annotations JSON, e.g. --dataset=coco:annotations/instances_train.json")
    return [(split or _split_of(path), path) for split, path in out]


def _jsons_in(folder: str) -> list[str]:
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.lower().endswith(".json"))


def _split_folders(folder: str) -> list[str]:
    """train/ valid/ test/ inside `folder` (Roboflow's export, each with its _annotations.coco.json)."""
    return [os.path.join(folder, d) for d in sorted(os.listdir(folder))
            if split_name(d) and os.path.isdir(os.path.join(folder, d))]


def _note_ignored_siblings(path: str) -> None:
    """One JSON of an export with split folders: say which sibling splits are not read."""
    here = os.path.dirname(os.path.abspath(path))
    if not split_name(os.path.basename(here)):
        return
    others = [d for d in _split_folders(os.path.dirname(here)) if d != here and _jsons_in(d)]
    if others:
        print(f"note: coco:{path} reads this split only; {', '.join(os.path.basename(d) + '/' for d in others)} "
              f"beside it hold their own annotations (pass coco:{os.path.dirname(here)} to read every split)",
              file=sys.stderr, flush=True)


def _split_of(path: str) -> str | None:
    for part in (os.path.splitext(os.path.basename(path))[0], os.path.basename(os.path.dirname(path))):
        m = _SPLIT_WORD.search(part.lower())
        if m:
            return split_name(m.group(1))
    return None


@functools.lru_cache(maxsize=8)
def _load(path: str, mtime_ns: int) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path} is not valid JSON ({e}); re-export it from your labelling tool") from None
    except RecursionError:
        raise DatasetError(f"{path} is nested too deeply to be a COCO file; re-export it from your labelling tool") from None
    missing = [k for k in ("images", "annotations", "categories") if not isinstance(data, dict) or k not in data]
    if missing:
        raise DatasetError(f"{path} is not a COCO detection file: it lacks {', '.join(missing)} "
                           "(expected keys images, annotations, categories)")
    return data


def load(path: str) -> dict:
    return _load(path, os.stat(path).st_mtime_ns)


def _image_path(json_path: str, file_name: str, options: Options) -> str | None:
    here = os.path.dirname(os.path.abspath(json_path))
    roots = [options.images_dir] if options.images_dir else []
    roots += [here, os.path.join(here, "images"), os.path.join(os.path.dirname(here), "images"),
              os.path.dirname(here)]
    for root in roots:
        for name in (file_name, os.path.basename(file_name)):
            candidate = os.path.join(root, name)
            if os.path.isfile(candidate):
                return candidate
    return None


def roots(spec: str, options: Options) -> list[str]:
    """Where a COCO export's files may live: each JSON's folder and the one above it (images/ beside
    annotations/, Roboflow's train/ valid/ test/), and --images_dir."""
    found = [os.path.dirname(os.path.dirname(os.path.abspath(p))) for _, p in _json_files(spec)]
    return found + ([options.images_dir] if options.images_dir else [])


def files(spec: str, options: Options) -> list[str]:
    out = []
    for _, path in _json_files(spec):
        out.append(path)
        for entry in load(path)["images"]:
            found = _image_path(path, str(entry.get("file_name", "")), options)
            if found:
                out.append(found)
    return out


def _categories(jsons) -> tuple[list[int], list[str], list[str]]:
    """(ids, names, unused names): categories no annotation uses (Roboflow's supercategory, id 0) are
    left out of the classes, so they never become class 0 of the model and its labels."""
    names: dict[int, str] = {}
    used = set()
    for _, path in jsons:
        data = load(path)
        for c in data["categories"]:
            cid, name = int(c["id"]), str(c.get("name", c["id"]))
            if names.setdefault(cid, name) != name:
                raise DatasetError(f"{path}: category id {cid} is {name!r} here but {names[cid]!r} in another file")
        used.update(a.get("category_id") for a in data["annotations"])
    if not names:
        raise DatasetError(f"{jsons[0][1]}: no categories")
    ids = sorted(i for i in names if i in used) or sorted(names)
    return ids, [names[i] for i in ids], [names[i] for i in sorted(names) if i not in ids]


def scan(spec: str, options: Options) -> Manifest:
    jsons = _json_files(spec)
    ids, names, unused = _categories(jsons)
    label_of = {cid: i for i, cid in enumerate(ids)}
    manifest = Manifest(KIND, names, [])
    if unused:
        manifest.count(f"categories no annotation uses, left out ({', '.join(unused[:5])})", len(unused))
    missing = []
    for split, path in jsons:
        data = load(path)
        by_image: dict = {}
        for a in data["annotations"]:
            if a.get("category_id") not in label_of:
                raise DatasetError(f"{path}: annotation {a.get('id')} has category_id {a.get('category_id')}, which is "
                                   f"not in its categories ({ids[:10]}); fix the export or add the category")
            by_image.setdefault(a.get("image_id"), []).append(a)
        for entry in data["images"]:
            file_name = str(entry.get("file_name", ""))
            image = _image_path(path, file_name, options)
            if image is None:
                missing.append(file_name)
                continue
            size = (entry.get("width"), entry.get("height"))
            record = Record(image, split, size=size if all(size) else None,
                            key=os.path.relpath(image, os.path.dirname(path)))
            for a in by_image.get(entry.get("id"), []):
                try:
                    x, y, w, h = (float(v) for v in a["bbox"])
                except (KeyError, TypeError, ValueError):
                    raise DatasetError(f"{path}: annotation {a.get('id')} has no bbox [x, y, width, height]") from None
                record.boxes.append((x, y, x + w, y + h))
                record.labels.append(label_of[a["category_id"]])
                record.flags.append(bool(a.get("iscrowd", 0)))
            manifest.records.append(record)
        known = {entry.get("id") for entry in data["images"]}
        orphans = sum(len(found) for image_id, found in by_image.items() if image_id not in known)
        if orphans:  # an export cut short, or images removed by hand: counted, never silent
            manifest.count(f"annotations of images the JSON does not list (left out, {os.path.basename(path)})",
                           orphans)
    if missing and not options.skip_missing:
        raise DatasetError(f"{len(missing)} image(s) named in the annotations were not found (first: {missing[0]!r}; "
                           f"looked beside the JSON, in images/ and in --images_dir). Point --images_dir at them, "
                           "or pass --skip_missing to leave them out")
    if missing:
        manifest.count("images missing (skipped)", len(missing))
    if not manifest.records:
        raise DatasetError(f"coco:{spec}: no images")
    assign_splits(manifest.records, options)
    return manifest
