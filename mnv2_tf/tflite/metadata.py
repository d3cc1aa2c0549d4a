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

import io
import zipfile

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as tfl
from ai_edge_litert.interpreter import Interpreter

from mnv2_tf import compat
from mnv2_tf.errors import ExportError

METADATA_NAME = "TFLITE_METADATA"
IDENTIFIER = b"M001"
MIN_PARSER_VERSION = "1.2.1"  # ValueRange / BoundingBoxProperties need >= 1.2
CUSTOM_PARSER_VERSION = "1.5.0"  # SubGraphMetadata.custom_metadata needs >= 1.5
ACTIVATIONS = {"none": 0, "sigmoid": 1, "softmax": 2}  # image_segmenter_metadata_schema.fbs
# Union type ids and enums (metadata_schema.fbs).
IMAGE_PROPERTIES, BOUNDING_BOX_PROPERTIES, FEATURE_PROPERTIES = 2, 3, 1
NORMALIZATION_OPTIONS = 1
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
        """fields: slot -> ("offset"|"byte"|"int"|"uint", value); None values skipped."""
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
    units = None
    if t.get("normalization"):
        mean, std = w.scalars([t["normalization"][0]], "float"), w.scalars([t["normalization"][1]], "float")
        norm = w.table({0: ("offset", mean), 1: ("offset", std)}, 2)
        units = w.vector([w.table({0: ("byte", NORMALIZATION_OPTIONS), 1: ("offset", norm)}, 2)])
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


def _embed(model_content: bytes, metadata: bytes, files: dict[str, str]) -> bytes:
    model = tfl.ModelT.InitFromPackedBuf(bytearray(model_content), 0)
    model.metadata = [m for m in (model.metadata or []) if m.name.decode() != METADATA_NAME]
    buffer = tfl.BufferT()
    buffer.data = np.frombuffer(metadata, np.uint8)
    model.buffers.append(buffer)
    entry = tfl.MetadataT()
    entry.name, entry.buffer = METADATA_NAME, len(model.buffers) - 1
    model.metadata.append(entry)
    builder = flatbuffers.Builder(len(model_content) + len(metadata) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    out = io.BytesIO(bytes(builder.Output()))
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_STORED) as z:
        for file_name, text in files.items():
            z.writestr(file_name, text)
    return out.getvalue()


def _output_names(content: bytes) -> list[str]:
    """Signature output names in the subgraph's output order."""
    interpreter = Interpreter(model_content=content)
    by_index = {i: n for n, i in compat.signature_output_indices(interpreter).items()}
    return [by_index[d["index"]] for d in interpreter.get_output_details()]


LABEL_KINDS = {"axis": TENSOR_AXIS_LABELS, "value": TENSOR_VALUE_LABELS}


def attach(content: bytes, name: str, description: str, input_size, class_names: list[str],
           outputs: dict[str, dict], custom: dict[str, bytes] | None = None) -> bytes:
    """Adds metadata (name, version, labels, normalization, output semantics) to an exported model.

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
    image = dict(name="image", image=True, normalization=(127.5, 127.5), stats=(0.0, 255.0),
                 description=f"RGB image {h}x{w}; float input: (pixel - 127.5) / 127.5; "
                             "uint8 input: raw 0-255 pixels.")
    labels = "\n".join(class_names) + "\n"  # detection: real classes only, as the op's class ids
    metadata = build(name, description, _version(), [image], tensors, custom=custom)
    return _embed(content, metadata, {LABELS_FILE: labels})


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
    """{name, description, version, min_parser_version, inputs, outputs, files} of a .tflite file."""
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
        units = _tables(t, 4)
        if units:
            norm = _table(units[0].Bytes, units[0].Indirect(units[0].Pos + _field(units[0], 1)))
            mean_o, std_o = _field(norm, 0), _field(norm, 1)
            out["normalization"] = (norm.Get(flatbuffers.number_types.Float32Flags, norm.Vector(mean_o)),
                                    norm.Get(flatbuffers.number_types.Float32Flags, norm.Vector(std_o)))
        return out

    with zipfile.ZipFile(io.BytesIO(content)) as z:
        files = {n: z.read(n).decode() for n in z.namelist()}
    return {"name": _str(root, 0), "description": _str(root, 1), "version": _str(root, 2),
            "min_parser_version": _str(root, 7), "inputs": [tensor(t) for t in _tables(subgraph, 2)],
            "outputs": [tensor(t) for t in _tables(subgraph, 3)], "files": files}
