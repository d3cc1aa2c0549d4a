"""The four own-data sources prepare with the right counts, names, boxes (exact) and masks (exact)."""

import os

import numpy as np
import own_fixtures as fx
import pytest
import tensorflow_datasets as tfds

from mnv2_tf.data import own
from mnv2_tf.data.own.manifest import Options


def _open(spec, tmp_path, **options):
    return own.open_builder(spec, str(tmp_path / "data"), Options(**options))


def _examples(builder, split):
    return {ex["image/filename"].decode(): ex for ex in tfds.as_numpy(builder.as_dataset(split=split))}


def test_image_folder_real_world_images(tmp_path):
    root = tmp_path / "photos"
    fx.image(f"{root}/cat/rotated.jpg", (30, 20), orientation=6)  # phone photo: stored landscape, shown portrait
    fx.image(f"{root}/cat/UPPER.JPG")
    fx.image(f"{root}/cat/gray.png", mode="L")
    fx.image(f"{root}/cat/rgba.png", mode="RGBA")
    fx.image(f"{root}/dog/palette.png", mode="P")
    fx.image(f"{root}/dog/deep.png", mode="I;16", value=65535)
    fx.image(f"{root}/dog/cmyk.jpg", mode="CMYK")
    fx.image(f"{root}/dog/huge.jpg", (4000, 3000), value=90)
    (root / "dog" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    fx.image(f"{root}/dog/garbage.jpg", (64, 64))  # a valid header, then noise where the picture should be
    data = bytearray((root / "dog" / "garbage.jpg").read_bytes())
    start = data.find(b"\xff\xda") + 20
    data[start:-2] = np.random.default_rng(0).integers(0, 255, len(data) - 2 - start, dtype=np.uint8).tobytes()
    (root / "dog" / "garbage.jpg").write_bytes(bytes(data))
    (root / "dog" / "notes.txt").write_text("not an image")
    builder = _open(f"image_folder:{root}", tmp_path, validation_fraction=0.0)
    assert builder.info.features["label"].names == ["cat", "dog"]
    got = _examples(builder, "train")
    assert len(got) == 8 and "dog/broken.jpg" not in got
    assert got["cat/rotated.jpg"]["image"].shape == (30, 20, 3)  # EXIF orientation applied
    assert all(ex["image"].shape[-1] == 3 for ex in got.values())
    assert got["dog/deep.png"]["image"].min() == 255  # 16-bit white is white, not clipped garbage
    assert got["dog/huge.jpg"]["image"].shape == (768, 1024, 3)
    assert abs(int(got["dog/huge.jpg"]["image"].mean()) - 90) <= 2
    assert got["cat/UPPER.JPG"]["label"] == 0 and got["dog/cmyk.jpg"]["label"] == 1
    report = builder.info.metadata["report"]
    assert report["unreadable"] == 2 and report["unreadable_files"] == ["dog/broken.jpg", "dog/garbage.jpg"]


def test_image_folder_split_folders_and_missing_class(tmp_path):
    root = tmp_path / "splits"
    for i in range(3):
        fx.image(f"{root}/train/ant/{i}.jpg", seed=i)
        fx.image(f"{root}/train/bee/{i}.jpg", seed=i)
    fx.image(f"{root}/val/bee/0.jpg")
    fx.image(f"{root}/test/wasp/0.jpg")  # a class only the test split has
    builder = _open(f"image_folder:{root}", tmp_path)
    assert builder.info.features["label"].names == ["ant", "bee", "wasp"]
    assert {k: v.num_examples for k, v in builder.info.splits.items()} == {"train": 6, "validation": 1, "test": 1}
    assert _examples(builder, "test")["test/wasp/0.jpg"]["label"] == 2


def test_hash_split_is_stable_and_fingerprint_reprepares(tmp_path):
    root = tmp_path / "pool"
    for i in range(40):
        fx.image(f"{root}/a/{i}.jpg", seed=i)
    first = _open(f"image_folder:{root}", tmp_path, validation_fraction=0.25)
    val = set(_examples(first, "validation"))
    assert 3 <= len(val) <= 18
    again = _open(f"image_folder:{root}", tmp_path, validation_fraction=0.25)
    assert again.data_dir == first.data_dir  # reused, not prepared again
    for i in range(40, 60):
        fx.image(f"{root}/a/{i}.jpg", seed=i)
    grown = _open(f"image_folder:{root}", tmp_path, validation_fraction=0.25)
    assert grown.data_dir != first.data_dir  # the file list changed: a new copy
    new_val = set(_examples(grown, "validation"))
    assert val <= new_val and all(int(k[2:-4]) >= 40 for k in new_val - val)  # nothing moved


def test_coco_ids_crowd_clipping_and_exact_boxes(tmp_path):
    root = tmp_path / "coco"
    fx.image(f"{root}/images/a.jpg", (100, 50))
    fx.image(f"{root}/images/b.jpg", (40, 40))
    cats = [{"id": 7, "name": "cup"}, {"id": 1, "name": "bowl"}, {"id": 3, "name": "fork"}]
    anns = [{"id": 1, "image_id": 10, "category_id": 7, "bbox": [10, 5, 20, 10], "iscrowd": 0},
            {"id": 2, "image_id": 10, "category_id": 3, "bbox": [90, 40, 30, 20], "iscrowd": 0},  # past the edge
            {"id": 3, "image_id": 10, "category_id": 1, "bbox": [0, 0, 100, 50], "iscrowd": 1},
            {"id": 4, "image_id": 11, "category_id": 1, "bbox": [5, 5, 0, 10], "iscrowd": 0},  # zero width
            {"id": 5, "image_id": 99, "category_id": 7, "bbox": [1, 1, 5, 5], "iscrowd": 0},  # no such image
            {"id": 6, "image_id": 99, "category_id": 3, "bbox": [1, 1, 5, 5], "iscrowd": 0}]
    fx.coco_json(f"{root}/annotations/instances_train.json",
                 [{"id": 10, "file_name": "a.jpg", "width": 100, "height": 50},
                  {"id": 11, "file_name": "b.jpg", "width": 40, "height": 40}], anns, cats)
    builder = _open(f"coco:{root}/annotations/instances_train.json", tmp_path, validation_fraction=0.0)
    assert builder.info.features["objects"]["label"].names == ["bowl", "fork", "cup"]  # id order 1, 3, 7
    got = _examples(builder, "train")
    a, b = got["../images/a.jpg"]["objects"], got["../images/b.jpg"]["objects"]
    np.testing.assert_allclose(a["bbox"], [[0.1, 0.1, 0.3, 0.3], [0.8, 0.9, 1.0, 1.0], [0, 0, 1, 1]], atol=1e-7)
    assert a["label"].tolist() == [2, 1, 0] and a["is_crowd"].tolist() == [False, False, True]
    assert len(b["bbox"]) == 0
    report = builder.info.metadata["report"]
    assert report["boxes clipped to the image"] == 1
    assert report["boxes with zero or negative size (dropped)"] == 1
    assert report["annotations of images the JSON does not list (left out, instances_train.json)"] == 2


def test_coco_split_per_file_and_images_dir(tmp_path):
    pics = tmp_path / "elsewhere"
    for name in ("t.jpg", "v.jpg"):
        fx.image(f"{pics}/{name}")
    entry = lambda i, n: {"id": i, "file_name": n, "width": 24, "height": 16}  # noqa: E731
    cats = [{"id": 2, "name": "x"}]
    fx.coco_json(f"{tmp_path}/ann/instances_train2017.json", [entry(1, "t.jpg")], [], cats)
    fx.coco_json(f"{tmp_path}/ann/instances_val2017.json", [entry(1, "v.jpg")], [], cats)
    builder = _open(f"coco:{tmp_path}/ann", tmp_path, images_dir=str(pics))
    assert {k: v.num_examples for k, v in builder.info.splits.items()} == {"train": 1, "validation": 1}


def test_voc_layout_and_labelimg_flat(tmp_path):
    voc = tmp_path / "VOC"
    for stem, split in (("000001", "train"), ("000002", "val")):
        fx.image(f"{voc}/JPEGImages/{stem}.jpg", (50, 40))
        fx.voc_xml(f"{voc}/Annotations/{stem}.xml", f"{stem}.jpg", (50, 40),
                   [("dog", (11, 5, 30, 25), False), ("cat", (1, 1, 50, 40), True)])
        os.makedirs(f"{voc}/ImageSets/Main", exist_ok=True)
        with open(f"{voc}/ImageSets/Main/{split}.txt", "a") as f:
            f.write(stem + "\n")
    builder = _open(f"voc:{voc}", tmp_path)
    assert builder.info.features["objects"]["label"].names == ["cat", "dog"]
    assert {k: v.num_examples for k, v in builder.info.splits.items()} == {"train": 1, "validation": 1}
    obj = _examples(builder, "train")["JPEGImages/000001.jpg"]["objects"]
    np.testing.assert_allclose(obj["bbox"], [[4 / 40, 10 / 50, 24 / 40, 29 / 50], [0, 0, 39 / 40, 49 / 50]],
                               atol=1e-7)
    assert obj["label"].tolist() == [1, 0] and obj["is_difficult"].tolist() == [False, True]

    flat = tmp_path / "labelimg"
    fx.image(f"{flat}/IMG_1.JPG")
    fx.voc_xml(f"{flat}/IMG_1.xml", "IMG_1.JPG", (24, 16), [("bird", (2, 2, 10, 10), False)])
    (flat / "labels.txt").write_text("background\nbird\nplane\n")
    flat_builder = _open(f"voc:{flat}", tmp_path, validation_fraction=0.0)
    assert flat_builder.info.features["objects"]["label"].names == ["bird", "plane"]
    assert flat_builder.info.splits["train"].num_examples == 1


def test_masks_palette_grayscale_names_and_resized_large_pairs(tmp_path):
    root = tmp_path / "seg"
    values = np.zeros((16, 24), np.uint8)
    values[2:8, 3:9], values[10:, :] = 2, 255
    fx.image(f"{root}/train/images/a.jpg")
    fx.mask(f"{root}/train/masks/a.png", values)
    fx.image(f"{root}/val/images/b.png", fmt="PNG")
    fx.mask(f"{root}/val/masks/b.png", np.ones((16, 24)), palette=False)
    builder = _open(f"masks:{root}", tmp_path)
    assert builder.info.metadata["class_names"] == ["background", "class_1", "class_2"]
    train = _examples(builder, "train")["train/images/a.jpg"]
    np.testing.assert_array_equal(train["segmentation_mask"][..., 0], values)
    val = _examples(builder, "validation")["val/images/b.png"]
    assert (val["segmentation_mask"] == 1).all()
    (root / "labels.txt").write_text("background\nroad\ncar\nsign\n")
    named = _open(f"masks:{root}", tmp_path)
    assert named.info.metadata["class_names"] == ["background", "road", "car", "sign"]

    big = tmp_path / "big"
    fx.image(f"{big}/images/p.jpg", (2400, 1200), value=50)
    large = np.zeros((1200, 2400), np.uint8)
    large[:, 1200:] = 1
    fx.mask(f"{big}/masks/p.png", large)
    ex = _examples(_open(f"masks:{big}", tmp_path, validation_fraction=0.0), "train")["images/p.jpg"]
    assert ex["image"].shape == (512, 1024, 3) and ex["segmentation_mask"].shape == (512, 1024, 1)
    assert (ex["segmentation_mask"][:, :512] == 0).all() and (ex["segmentation_mask"][:, 512:] == 1).all()


def test_not_a_tfds_name_or_source(tmp_path):
    from mnv2_tf.data import tfds_io
    from mnv2_tf.errors import DatasetError

    with pytest.raises(DatasetError, match="image_folder:"):
        tfds_io.get_builder(str(tmp_path), str(tmp_path / "data"))
    with pytest.raises(DatasetError, match="needs a path"):
        own.parse("voc:")


def test_prepared_copy_serves_after_the_files_are_gone(tmp_path):
    import shutil

    root = tmp_path / "gone"
    fx.image(f"{root}/a/1.jpg")
    fx.image(f"{root}/b/1.jpg")
    first = _open(f"image_folder:{root}", tmp_path, validation_fraction=0)
    shutil.rmtree(root)
    again = _open(f"image_folder:{root}", tmp_path, validation_fraction=0)
    assert again.data_dir == first.data_dir and again.info.features["label"].names == ["a", "b"]


def test_rgb_masks_in_the_voc_palette_or_gray(tmp_path):
    """RGB masks as annotation tools save them: VOC palette colours (255 = the border colour) or
    R = G = B = class id, read as the class ids; a colour outside the palette is named."""
    from PIL import Image

    from mnv2_tf.data.own.images import voc_palette
    from mnv2_tf.errors import DatasetError
    ids = np.zeros((16, 24), np.uint8)
    ids[2:8, 3:9], ids[8:12], ids[12:] = 1, 15, 255  # aeroplane, person, the ignored border
    root = tmp_path / "rgb"
    for name, pixels in (("voc", voc_palette()[ids]), ("gray", np.repeat(ids[..., None], 3, axis=-1))):
        fx.image(f"{root}/images/{name}.jpg")
        os.makedirs(root / "masks", exist_ok=True)
        Image.fromarray(pixels, "RGB").save(root / "masks" / f"{name}.png")
    (root / "labels.txt").write_text("".join(f"c{i}\n" for i in range(16)))
    got = _examples(_open(f"masks:{root}", tmp_path, validation_fraction=0.0), "train")
    for name in ("voc", "gray"):
        np.testing.assert_array_equal(got[f"images/{name}.jpg"]["segmentation_mask"][..., 0], ids)
    odd = voc_palette()[ids]
    odd[0, 0] = (1, 2, 3)
    Image.fromarray(odd, "RGB").save(root / "masks" / "voc.png")
    with pytest.raises(DatasetError, match=r"voc.png: an RGB mask with 1 colour\(s\) outside the VOC palette "
                                           r"\(first: \(1, 2, 3\)\)"):
        _open(f"masks:{root}", tmp_path / "second", validation_fraction=0.0)


def test_the_fingerprint_follows_content_not_modification_times(tmp_path):
    from mnv2_tf.data.own.manifest import HASHED_BYTES, fingerprint
    small, large = tmp_path / "a.jpg", tmp_path / "b.jpg"
    small.write_bytes(b"x" * 1000)
    large.write_bytes(bytes(range(256)) * (3 * HASHED_BYTES // 256))
    files, options = [str(small), str(large)], Options()
    first = fingerprint("image_folder", files, options)
    os.utime(small, (1, 1))
    large.write_bytes(large.read_bytes())  # touched and rewritten with the same bytes: the same data
    assert fingerprint("image_folder", files, options) == first
    data = bytearray(large.read_bytes())
    data[-10] ^= 1  # an edit in the last 64 KiB
    large.write_bytes(bytes(data))
    edited = fingerprint("image_folder", files, options)
    assert edited != first
    data[len(data) // 2] ^= 1  # an edit between the hashed ends goes unseen (the price of not reading it all)
    large.write_bytes(bytes(data))
    assert fingerprint("image_folder", files, options) == edited
    small.write_bytes(b"y" + b"x" * 999)
    assert fingerprint("image_folder", files, options) != edited
