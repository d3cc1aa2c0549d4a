"""What a scan of the user's files yields before anything is written: records, classes, splits.

A `Manifest` lists every example (image path, split, label / boxes / mask) and
the class names; the scanners (`image_folder`, `coco`, `voc`, `masks`) build one
and raise `DatasetError` naming the file for anything they cannot use. Split
rules, the same for every source: split names found in the layout are used
(`val`, `valid`, `dev` read as validation); a missing validation (or test, with
`test_fraction` > 0) split is carved out of train by a hash of each file's name,
so adding files never moves the others.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat

from mnv2_tf.data.own.images import MAX_FILE_BYTES
from mnv2_tf.errors import DatasetError

SPLIT_NAMES = {"train": "train", "training": "train", "validation": "validation", "val": "validation",
               "valid": "validation", "dev": "validation", "test": "test", "testing": "test"}
SHOWN_NAMES = 20  # unreadable files listed by name in the preparation report


def split_name(name: str) -> str | None:
    """A folder / file / split name read as train, validation or test (None: not a split name)."""
    return SPLIT_NAMES.get(name.lower())


@dataclasses.dataclass
class Record:
    """One example. Boxes are pixel (xmin, ymin, xmax, ymax) on the annotated image size."""

    image: str
    split: str | None = None
    label: int | None = None
    boxes: list = dataclasses.field(default_factory=list)
    labels: list = dataclasses.field(default_factory=list)
    flags: list = dataclasses.field(default_factory=list)  # COCO iscrowd / VOC difficult
    size: tuple | None = None  # (width, height) the annotation declares
    mask: str | None = None
    key: str = ""  # the file name relative to the source root (split hash, report)


@dataclasses.dataclass
class Options:
    """How a source is read (DataConfig fields; part of the fingerprint)."""

    validation_fraction: float = 0.1
    test_fraction: float = 0.0
    skip_missing: bool = False
    images_dir: str | None = None
    max_side: int = 1024

    def check(self) -> None:
        v, t = self.validation_fraction, self.test_fraction
        if not (0 <= v < 1 and 0 <= t < 1 and v + t < 1):
            raise DatasetError(f"validation_fraction ({v}) and test_fraction ({t}) must each be in [0, 1) "
                               "and leave some training data")


@dataclasses.dataclass
class Manifest:
    kind: str
    class_names: list[str]
    records: list[Record]
    counts: dict = dataclasses.field(default_factory=dict)  # what the scan dropped / fixed, by reason

    def count(self, reason: str, n: int = 1) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + n

    def splits(self) -> dict[str, list[Record]]:
        out: dict[str, list[Record]] = {}
        for record in self.records:
            out.setdefault(record.split, []).append(record)
        return {name: out[name] for name in ("train", "validation", "test") if name in out}


def _unit_hash(key: str) -> float:
    return int(hashlib.sha1(key.encode()).hexdigest()[:12], 16) / 16**12


def assign_splits(records: list[Record], options: Options) -> None:
    """Fills in missing splits: validation / test carved out of train by a hash of the file name."""
    given = {r.split for r in records if r.split}
    v = options.validation_fraction if "validation" not in given else 0.0
    t = options.test_fraction if "test" not in given else 0.0
    for r in records:
        if r.split in (None, "train"):
            u = _unit_hash(r.key or os.path.basename(r.image))
            r.split = "test" if u < t else "validation" if u < t + v else "train"
    if not any(r.split == "train" for r in records):
        raise DatasetError("no training examples are left after the validation / test split; lower "
                           "--validation_fraction / --test_fraction or add images")


def confine(paths: list[str], roots: list[str]) -> None:
    """Every file inside one of the dataset's `roots` once links are resolved, a regular file (not a
    FIFO or a device) and at most MAX_FILE_BYTES: else a DatasetError naming the file and the fix.
    Annotation files can name any path (`../../etc/passwd`, `/dev/zero` behind a link): nothing
    outside the dataset is ever opened."""
    real_roots = [os.path.realpath(r) for r in roots if r]
    for path in paths:
        real = os.path.realpath(path)
        if not any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in real_roots):
            raise DatasetError(f"{path} is outside the dataset ({real} is not under {', '.join(real_roots)}): an "
                               "annotation or link may only name files inside the dataset folder; copy the file "
                               "in, or remove its entry")
        try:
            st = os.stat(real)
        except OSError as e:
            raise DatasetError(f"{path} cannot be read ({e.strerror})") from None
        if not stat.S_ISREG(st.st_mode):
            raise DatasetError(f"{path} is not a regular file (a FIFO, device or socket): remove it from the dataset")
        if st.st_size > MAX_FILE_BYTES:
            raise DatasetError(f"{path} is {st.st_size} bytes, over the {MAX_FILE_BYTES >> 20} MB a dataset file "
                               "may have: shrink or remove it")


HASHED_BYTES = 64 << 10  # of each file's start and end, for the fingerprint


def fingerprint(kind: str, files: list[str], options: Options) -> str:
    """A hash of the reading options, the file list and each file's size and first and last 64 KiB: a
    file touched (same bytes) keeps its prepared copy, a file edited or replaced gets a new one. Only
    the ends are read so that a large dataset is fingerprinted in one pass over its headers."""
    digest = hashlib.sha1(f"{kind}|{sorted(dataclasses.asdict(options).items())}".encode())
    for path in sorted(files):
        size = os.stat(path).st_size
        digest.update(f"{path}|{size}|".encode())
        with open(path, "rb") as f:
            digest.update(f.read(HASHED_BYTES))
            if size > HASHED_BYTES:
                f.seek(max(HASHED_BYTES, size - HASHED_BYTES))
                digest.update(f.read(HASHED_BYTES))
    return digest.hexdigest()[:12]


def walk_files(root: str) -> list[str]:
    """Every file under `root` (hidden ones excluded), sorted."""
    out = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.extend(os.path.join(folder, n) for n in sorted(names) if not n.startswith("."))
    return out


def read_names(path: str) -> list[str]:
    """A labels.txt: one name per line, blank lines ignored."""
    with open(path, encoding="utf-8") as f:
        names = [line.strip() for line in f if line.strip()]
    if len(set(names)) != len(names):
        raise DatasetError(f"{path} names a class twice")
    return names
