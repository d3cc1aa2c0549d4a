"""TFLite metadata (the TFLITE_METADATA buffer + packed label files) for phone runtimes.

MediaPipe Tasks and the TFLite Support library find a model's input
normalization, output semantics and labels here. No writer installs beside
TensorFlow 2.20 (tflite-support needs protobuf < 4; mediapipe's writers need a
compiled module its current wheel lacks; see ../shared/design/ecosystem-notes.md),
so this module builds the flatbuffer itself with `flatbuffers`, following
`metadata_schema.fbs` (file identifier "M001"), and packs the label files as
a zip appended to the model, as the official writers do.

Field slots below are the schema's table field order (a union takes two
slots: its type, then its value).
"""

from __future__ import annotations

import dataclasses
import io
import zipfile

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as tfl
from ai_edge_litert.interpreter import Interpreter

from mnv2_tf import compat
from mnv2_tf.defaults import PIXEL_MEAN, PIXEL_STD
from mnv2_tf.errors import ExportError

METADATA_NAME = "TFLITE_METADATA"
IDENTIFIER = b"M001"
MIN_PARSER_VERSION = "1.2.1"  # ValueRange / BoundingBoxProperties need >= 1.2
CUSTOM_PARSER_VERSION = "1.5.0"  # SubGraphMetadata.custom_metadata needs >= 1.5
ACTIVATIONS = {"none": 0, "sigmoid": 1, "softmax": 2}  # image_segmenter_metadata_schema.fbs
# Union type ids and enums (metadata_schema.fbs).
IMAGE_PROPERTIES, BOUNDING_BOX_PROPERTIES, FEATURE_PROPERTIES = 2, 3, 1
NORMALIZATION_OPTIONS, SCORE_THRESHOLDING_OPTIONS = 1, 3
TENSOR_AXIS_LABELS, TENSOR_VALUE_LABELS = 2, 3
RGB, BOUNDARIES, RATIO = 1, 1, 0
LABELS_FILE = "labels.txt"


class _Writer:
    def __init__(self):
        self.b = flatbuffers.Builder(1024)
        self.b.ForceDefaults(True)  # enum values equal to the default (e.g. RATIO = 0) are still written

    def string(self, s):
        return self.b.CreateString(s) if s is not None else None

    def vector(self, offsets):
        self.b.StartVector(4, len(offsets), 4)
        for o in reversed(offsets):
            self.b.PrependUOffsetTRelative(o)
        return self.b.EndVector()

    def scalars(self, values, kind):
        prepend, size = {"float": (self.b.PrependFloat32, 4), "uint": (self.b.PrependUint32, 4)}[kind]
        self.b.StartVector(size, len(values), size)
        for v in reversed(values):
            prepend(v)
        return self.b.EndVector()

    def table(self, fields: dict, slots: int):
        """fields: slot -> ("offset"|"byte"|"int"|"uint"|"float", value); None values skipped."""
        self.b.StartObject(slots)
        for slot, (kind, value) in sorted(fields.items()):
            if value is None:
                continue
            if kind == "offset":
                self.b.PrependUOffsetTRelativeSlot(slot, value, 0)
            elif kind == "byte":
                self.b.PrependUint8Slot(slot, value, 0)
            elif kind == "int":
                self.b.PrependInt32Slot(slot, value, 0)
            elif kind == "float":
                self.b.PrependFloat32Slot(slot, value, 0.0)
            else:
                self.b.PrependUint32Slot(slot, value, 0)
        return self.b.EndObject()


def _tensor(w: _Writer, t: dict):
    file = None
    if t.get("labels"):
        f = w.table({0: ("offset", w.string(LABELS_FILE)), 1: ("offset", w.string("Class names.")),
                     2: ("byte", t["labels"])}, 5)
        file = w.vector([f])
    props_type, props = None, None
    if t.get("image"):
        props_type, props = IMAGE_PROPERTIES, w.table({0: ("byte", RGB)}, 2)
    elif t.get("box_index"):
        index = w.scalars(t["box_index"], "uint")
        props_type, props = BOUNDING_BOX_PROPERTIES, w.table(
            {0: ("offset", index), 1: ("byte", BOUNDARIES), 2: ("byte", RATIO)}, 3)
    elif t.get("feature"):
        props_type, props = FEATURE_PROPERTIES, w.table({}, 0)
    value_range = None
    if t.get("range"):
        value_range = w.table({0: ("int", t["range"][0]), 1: ("int", t["range"][1])}, 2)
    content = w.table({0: ("byte", props_type), 1: ("offset", props), 2: ("offset", value_range)}, 3) \
        if props_type or value_range else None
    units = []
    if t.get("normalization"):
        mean, std = w.scalars([t["normalization"][0]], "float"), w.scalars([t["normalization"][1]], "float")
        norm = w.table({0: ("offset", mean), 1: ("offset", std)}, 2)
        units.append(w.table({0: ("byte", NORMALIZATION_OPTIONS), 1: ("offset", norm)}, 2))
    if t.get("score_threshold") is not None:
        threshold = w.table({0: ("float", float(t["score_threshold"]))}, 1)
        units.append(w.table({0: ("byte", SCORE_THRESHOLDING_OPTIONS), 1: ("offset", threshold)}, 2))
    units = w.vector(units) if units else None
    stats = None
    if t.get("stats"):
        stats = w.table({0: ("offset", w.scalars([t["stats"][1]], "float")),
                         1: ("offset", w.scalars([t["stats"][0]], "float"))}, 2)
    name, description = w.string(t["name"]), w.string(t.get("description"))
    return w.table({0: ("offset", name), 1: ("offset", description), 3: ("offset", content),
                    4: ("offset", units), 5: ("offset", stats), 6: ("offset", file)}, 7)


def segmenter_options(activation: str) -> bytes:
    """MediaPipe's SEGMENTER_METADATA (`ImageSegmenterOptions`, file identifier V001): the activation
    it applies to the output ("none" when the graph already ends in softmax)."""
    w = _Writer()
    root = w.table({0: ("byte", ACTIVATIONS[activation])}, 2)
    w.b.Finish(root, file_identifier=b"V001")
    return bytes(w.b.Output())


def detector_options(anchors_center_size: np.ndarray, num_classes: int, box_scales) -> bytes:
    """MediaPipe's DETECTOR_METADATA (`ObjectDetectorOptions`, object_detector_metadata_schema.fbs, V001)
    for a raw SSD output: every anchor, and how to decode the (ty, tx, th, tw) encodings against them
    (no keypoints; MediaPipe still requires num_values_per_keypoint = 2)
    (faster_rcnn coder: exponential box size; scores are already sigmoids). `num_classes` counts
    the score columns, background included."""
    w = _Writer()
    anchors = [w.table({0: ("float", float(x)), 1: ("float", float(y)), 2: ("float", float(wd)),
                        3: ("float", float(h))}, 4) for y, x, h, wd in np.asarray(anchors_center_size)]
    schema = w.table({0: ("offset", w.vector(anchors))}, 1)
    ssd = w.table({0: ("offset", schema)}, 1)
    y, x, h, wd = box_scales
    decoding = w.table({0: ("int", num_classes), 1: ("int", len(anchors)), 2: ("int", 4), 3: ("int", 0),
                        4: ("int", 0), 5: ("int", 2), 6: ("float", float(x)), 7: ("float", float(y)),
                        8: ("float", float(wd)), 9: ("float", float(h)), 10: ("byte", 1), 11: ("byte", 0)}, 12)
    root = w.table({0: ("offset", w.string(CUSTOM_PARSER_VERSION)), 1: ("offset", ssd), 2: ("offset", decoding)}, 3)
    w.b.Finish(root, file_identifier=b"V001")
    return bytes(w.b.Output())


def _custom(w: _Writer, name: str, data: bytes):
    w.b.StartVector(1, len(data), 16)  # data: [ubyte] (force_align: 16)
    for byte in reversed(data):
        w.b.PrependUint8(byte)
    vector = w.b.EndVector()
    return w.table({0: ("offset", w.string(name)), 1: ("offset", vector)}, 2)


def build(name: str, description: str, version: str, inputs: list[dict], outputs: list[dict],
          author: str = "mnv2_tf", license_: str = "Apache-2.0", custom: dict[str, bytes] | None = None) -> bytes:
    """The ModelMetadata flatbuffer for one subgraph (tensor dicts in the subgraph's order;
    `custom`: subgraph custom metadata by name, e.g. SEGMENTER_METADATA)."""
    w = _Writer()
    ins = w.vector([_tensor(w, t) for t in inputs])
    outs = w.vector([_tensor(w, t) for t in outputs])
    extra = w.vector([_custom(w, k, v) for k, v in custom.items()]) if custom else None
    subgraph = w.table({0: ("offset", w.string(name)), 2: ("offset", ins), 3: ("offset", outs),
                        9: ("offset", extra)}, 10)
    fields = {0: ("offset", w.string(name)), 1: ("offset", w.string(description)),
              2: ("offset", w.string(version)), 3: ("offset", w.vector([subgraph])),
              4: ("offset", w.string(author)), 5: ("offset", w.string(license_)),
              7: ("offset", w.string(CUSTOM_PARSER_VERSION if custom else MIN_PARSER_VERSION))}
    root = w.table(fields, 8)
    w.b.Finish(root, file_identifier=IDENTIFIER)
    return bytes(w.b.Output())


def with_buffer(content: bytes, name: str, data: bytes, files: dict | None = None) -> bytes:
    """`content` with a model metadata entry `name` holding `data` (replacing one of that name), and
    `files` zipped after the flatbuffer (None: the files it had, e.g. labels, are kept)."""
    model = tfl.ModelT.InitFromPackedBuf(bytearray(content), 0)
    for entry in model.metadata or []:
        if entry.name.decode() == name:
            model.buffers[entry.buffer].data = None  # the old entry's bytes go with it
    model.metadata = [m for m in (model.metadata or []) if m.name.decode() != name]
    buffer = tfl.BufferT()
    buffer.data = np.frombuffer(data, np.uint8)
    model.buffers.append(buffer)
    entry = tfl.MetadataT()
    entry.name, entry.buffer = name, len(model.buffers) - 1
    model.metadata.append(entry)
    return repack(model, content, files)


def repack(model, content: bytes, files: dict | None = None) -> bytes:
    """The flatbuffer of `model` (a `ModelT` read from `content`), with `files` zipped after it
    (None: the files `content` had)."""
    builder = flatbuffers.Builder(len(content) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return _with_files(bytes(builder.Output()), associated_files(content) if files is None else files)


def associated_files(content: bytes) -> dict[str, bytes]:
    """The files zipped after a model's flatbuffer (TFLite metadata's associated files)."""
    if not zipfile.is_zipfile(io.BytesIO(content)):
        return {}
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        return {n: z.read(n) for n in z.namelist()}


def _with_files(model_content: bytes, files: dict) -> bytes:
    if not files:
        return model_content
    out = io.BytesIO(model_content)
    out.seek(0, io.SEEK_END)
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_STORED) as z:
        for file_name, data in files.items():  # a fixed date: the same model gives the same bytes
            z.writestr(zipfile.ZipInfo(file_name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return out.getvalue()


def _output_names(content: bytes) -> list[str]:
    """Signature output names in the subgraph's output order."""
    interpreter = Interpreter(model_content=content)
    by_index = {i: n for n, i in compat.signature_output_indices(interpreter).items()}
    return [by_index[d["index"]] for d in interpreter.get_output_details()]


LABEL_KINDS = {"axis": TENSOR_AXIS_LABELS, "value": TENSOR_VALUE_LABELS}


@dataclasses.dataclass
class ModelInfo:
    """What the metadata says about the model (`mnv2-export --name --version --author --description`)."""

    name: str
    description: str
    version: str | None = None  # None: the installed mnv2_tf version
    author: str = "mnv2_tf"


def attach(content: bytes, info: ModelInfo, input_size, labels: list[str], outputs: dict[str, dict],
           custom: dict[str, bytes] | None = None) -> bytes:
    """Adds metadata (name, version, labels, normalization, output semantics) to an exported model.

    labels: the rows of the packed labels.txt (the task decides, e.g. a raw detector's background row);
    outputs: signature output name -> tensor metadata (the task's `output_metadata`); an output
    without an entry is an error, so a renamed output cannot lose its metadata silently.
    """
    h, w = input_size
    names = _output_names(content)
    missing = [n for n in names if n not in outputs]
    if missing:
        raise ExportError(f"no metadata for the outputs {missing}; the task's output_metadata has {sorted(outputs)}")
    tensors = []
    for n in names:
        t = dict(outputs[n])
        if t.get("labels"):
            t["labels"] = LABEL_KINDS[t["labels"]]
        tensors.append(t)
    # stats: the range the input tensor holds (the official writers' convention): raw pixels for a uint8
    # input, the normalized (pixel - mean) / std range for a float one (`defaults.input_contract`).
    uint8 = Interpreter(model_content=content).get_input_details()[0]["dtype"] == np.uint8
    image = dict(name="image", image=True, normalization=(PIXEL_MEAN, PIXEL_STD), stats=(0.0, 255.0) if uint8 else (-1.0, 1.0),
                 description=f"RGB image {h}x{w}; float input: (pixel - {PIXEL_MEAN:g}) / {PIXEL_STD:g}; "
                             "uint8 input: raw 0-255 pixels.")
    metadata = build(info.name, info.description, info.version or _version(), [image], tensors,
                     author=info.author, custom=custom)
    return with_buffer(content, METADATA_NAME, metadata, {LABELS_FILE: "\n".join(labels) + "\n"})


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("mnv2_tf")
    except PackageNotFoundError:
        return "0"


# ---- reading back (tests, and users checking a file) ----

def _table(buf, pos):
    from flatbuffers.table import Table
    return Table(buf, pos)


def _field(t, slot):
    o = t.Offset(4 + 2 * slot)
    return o or None


def _str(t, slot):
    o = _field(t, slot)
    return t.String(o + t.Pos).decode() if o else None


def _tables(t, slot):
    o = _field(t, slot)
    if not o:
        return []
    start, n = t.Vector(o), t.VectorLen(o)
    return [_table(t.Bytes, t.Indirect(start + 4 * i)) for i in range(n)]


def read(content: bytes) -> dict:
    """{name, description, version, author, min_parser_version, inputs, outputs (name, description,
    associated_file, normalization, score_threshold, stats), custom (name -> bytes), files} of a .tflite file."""
    model = tfl.Model.GetRootAs(bytearray(content), 0)
    index = next((model.Metadata(i).Buffer() for i in range(model.MetadataLength())
                  if model.Metadata(i).Name().decode() == METADATA_NAME), None)
    if index is None:
        raise ExportError("the model has no TFLITE_METADATA")
    data = bytearray(model.Buffers(index).DataAsNumpy().tobytes())
    if data[4:8] != IDENTIFIER:
        raise ExportError("TFLITE_METADATA is not a metadata flatbuffer (identifier M001)")
    root = _table(data, flatbuffers.encode.Get(flatbuffers.packer.uoffset, data, 0))
    subgraph = _tables(root, 3)[0]

    def tensor(t):
        out = {"name": _str(t, 0), "description": _str(t, 1)}
        files = _tables(t, 6)
        if files:
            out["associated_file"] = _str(files[0], 0)
        f32 = flatbuffers.number_types.Float32Flags
        for unit in _tables(t, 4):
            kind = unit.Get(flatbuffers.number_types.Uint8Flags, unit.Pos + _field(unit, 0))
            options = _table(unit.Bytes, unit.Indirect(unit.Pos + _field(unit, 1)))
            if kind == NORMALIZATION_OPTIONS:
                out["normalization"] = (options.Get(f32, options.Vector(_field(options, 0))),
                                        options.Get(f32, options.Vector(_field(options, 1))))
            elif kind == SCORE_THRESHOLDING_OPTIONS:
                out["score_threshold"] = options.Get(f32, options.Pos + _field(options, 0))
        stats = _field(t, 5)
        if stats:
            st = _table(t.Bytes, t.Indirect(t.Pos + stats))
            out["stats"] = (st.Get(f32, st.Vector(_field(st, 1))), st.Get(f32, st.Vector(_field(st, 0))))
        return out

    with zipfile.ZipFile(io.BytesIO(content)) as z:
        files = {n: z.read(n).decode() for n in z.namelist()}
    custom = {}
    for c in _tables(subgraph, 9):
        o = _field(c, 1)
        custom[_str(c, 0)] = bytes(c.Bytes[c.Vector(o):c.Vector(o) + c.VectorLen(o)])
    return {"name": _str(root, 0), "description": _str(root, 1), "version": _str(root, 2),
            "author": _str(root, 4), "min_parser_version": _str(root, 7), "custom": custom, "inputs": [tensor(t) for t in _tables(subgraph, 2)],
            "outputs": [tensor(t) for t in _tables(subgraph, 3)], "files": files}
