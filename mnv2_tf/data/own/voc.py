"""`voc:DIR` (detection): Pascal VOC XML, in the VOC layout or LabelImg's flat one.

  DIR/JPEGImages/*.jpg + DIR/Annotations/*.xml [+ DIR/ImageSets/Main/{train,val,trainval,test}.txt]
  DIR/*.jpg with DIR/*.xml beside each (also inside train/ val/ test/ folders)

Class names come from DIR/labels.txt when present (an object named otherwise is
an error), else the sorted names found. `difficult` objects are flagged (left
out of training, ignored in evaluation). Coordinates are VOC's 1-based pixels.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

from mnv2_tf.data.own import images
from mnv2_tf.data.own.manifest import Manifest, Options, Record, assign_splits, read_names, split_name, walk_files
from mnv2_tf.errors import DatasetError

KIND = "voc"
LISTS = (("train", "train"), ("val", "validation"), ("test", "test"), ("trainval", "train"))


def _xmls(root: str) -> list[tuple[str | None, str]]:
    """[(split or None, xml path)]."""
    if not os.path.isdir(root):
        raise DatasetError(f"voc:{root}: no such folder")
    annotations = os.path.join(root, "Annotations")
    if os.path.isdir(annotations):
        xmls = {os.path.splitext(f)[0]: os.path.join(annotations, f)
                for f in sorted(os.listdir(annotations)) if f.lower().endswith(".xml")}
        split_of: dict[str, str] = {}
        for list_name, split in LISTS:
            path = os.path.join(root, "ImageSets", "Main", list_name + ".txt")
            if os.path.isfile(path) and not (list_name == "trainval" and "train" in split_of.values()):
                with open(path, encoding="utf-8") as f:
                    for stem in (line.split()[0] for line in f if line.strip()):
                        split_of.setdefault(stem, split)
        if split_of:
            return [(split_of[s], xmls[s]) for s in xmls if s in split_of]
        return [(None, p) for p in xmls.values()]
    out = []
    for path in walk_files(root):
        if path.lower().endswith(".xml"):
            parts = os.path.relpath(path, root).split(os.sep)
            out.append((split_name(parts[0]) if len(parts) > 1 else None, path))
    return out


def _image_for(xml_path: str, root: str, filename: str | None) -> str | None:
    stem = os.path.splitext(os.path.basename(xml_path))[0]
    folders = [os.path.join(root, "JPEGImages"), os.path.dirname(xml_path)]
    for folder in folders:
        if filename and os.path.isfile(os.path.join(folder, filename)):
            return os.path.join(folder, filename)
        if os.path.isdir(folder):
            for f in os.listdir(folder):
                if os.path.splitext(f)[0] == stem and images.is_image(f):
                    return os.path.join(folder, f)
    return None


def _parse(path: str) -> dict:
    try:
        tree = ET.parse(path).getroot()
        size = tree.find("size")
        declared = (int(float(size.findtext("width"))), int(float(size.findtext("height")))) if size is not None \
            else None
        objects = []
        for obj in tree.findall("object"):
            box = obj.find("bndbox")
            coords = [float(box.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")]
            objects.append((obj.findtext("name", "").strip(), coords, obj.findtext("difficult", "0").strip() == "1"))
    except (ET.ParseError, AttributeError, TypeError, ValueError) as e:
        raise DatasetError(f"{path} is not a valid Pascal VOC annotation ({e}); each <object> needs <name> "
                           "and <bndbox> with xmin, ymin, xmax, ymax") from None
    return {"filename": tree.findtext("filename"), "size": declared if declared and all(declared) else None,
            "objects": objects}


def files(root: str, options: Options) -> list[str]:
    return [p for p in walk_files(root) if images.is_image(p) or p.lower().endswith((".xml", ".txt"))]


def scan(root: str, options: Options) -> Manifest:
    xmls = _xmls(root)
    if not xmls:
        raise DatasetError(f"voc:{root}: no .xml annotations (expected Annotations/*.xml or an .xml beside each image)")
    labels_txt = os.path.join(root, "labels.txt")
    parsed = [(split, path, _parse(path)) for split, path in xmls]
    if os.path.isfile(labels_txt):
        names = [n for n in read_names(labels_txt) if n != "background"]
        for _, path, p in parsed:
            for name, _, _ in p["objects"]:
                if name not in names:
                    raise DatasetError(f"{path}: object {name!r} is not in {labels_txt} ({', '.join(names[:10])}); "
                                       "add it there or fix the annotation")
    else:
        names = sorted({name for _, _, p in parsed for name, _, _ in p["objects"]})
    if not names:
        raise DatasetError(f"voc:{root}: the annotations contain no objects")
    manifest = Manifest(KIND, names, [])
    missing = []
    for split, path, p in parsed:
        image = _image_for(path, root, p["filename"])
        if image is None:
            missing.append(os.path.basename(path))
            continue
        record = Record(image, split, size=p["size"], key=os.path.relpath(image, root))
        for name, (x0, y0, x1, y1), difficult in p["objects"]:
            record.boxes.append((x0 - 1, y0 - 1, x1 - 1, y1 - 1))
            record.labels.append(names.index(name))
            record.flags.append(difficult)
        manifest.records.append(record)
    if missing and not options.skip_missing:
        raise DatasetError(f"{len(missing)} annotation(s) have no image (first: {missing[0]}); put the image beside it "
                           "(or in JPEGImages/), or pass --skip_missing to leave them out")
    if missing:
        manifest.count("images missing (skipped)", len(missing))
    assign_splits(manifest.records, options)
    return manifest
