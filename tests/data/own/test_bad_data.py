"""Bad own data: a clear error naming the file and the way out, and nothing half-written in data_dir."""

import os

import numpy as np
import own_fixtures as fx
import pytest

from mnv2_tf.data import own
from mnv2_tf.data.own.manifest import Options
from mnv2_tf.errors import DatasetError


def _fails(spec, tmp_path, match, **options):
    data = tmp_path / "data"
    with pytest.raises(DatasetError, match=match):
        own.open_builder(spec, str(data), Options(**options))
    leftovers = [os.path.join(d, f) for d, _, files in os.walk(data) for f in files if f != ".lock"]
    assert leftovers == [], leftovers


def test_folder_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    _fails(f"image_folder:{tmp_path}/empty", tmp_path, "empty: expected")
    fx.image(f"{tmp_path}/loose/a.jpg")
    _fails(f"image_folder:{tmp_path}/loose", tmp_path, "1 images but no class sub-folders")
    _fails(f"image_folder:{tmp_path}/nowhere", tmp_path, "no such folder")
    fx.image(f"{tmp_path}/one/a/x.jpg")
    _fails(f"image_folder:{tmp_path}/one", tmp_path, "no training examples", validation_fraction=0.9,
           test_fraction=0.09)
    _fails(f"image_folder:{tmp_path}/one", tmp_path, "must each be in", validation_fraction=1.5)


def _coco(tmp_path, images=None, annotations=(), categories=None, name="instances_train.json"):
    fx.image(f"{tmp_path}/c/images/a.jpg")
    return fx.coco_json(f"{tmp_path}/c/{name}", images or [{"id": 1, "file_name": "a.jpg", "width": 24,
                                                            "height": 16}],
                        list(annotations), categories or [{"id": 1, "name": "a"}])


def test_coco_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    _fails(f"coco:{bad}", tmp_path, "bad.json is not valid JSON")
    bad.write_text('{"images": []}')
    _fails(f"coco:{bad}", tmp_path, "lacks annotations, categories")
    path = _coco(tmp_path, annotations=[{"id": 5, "image_id": 1, "category_id": 9, "bbox": [0, 0, 2, 2]}])
    _fails(f"coco:{path}", tmp_path, "annotation 5 has category_id 9, which is not in its categories")
    path = _coco(tmp_path, images=[{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "gone.jpg"}],
                 name="two.json")
    _fails(f"coco:{path}", tmp_path, "1 image.*'gone.jpg'.*--skip_missing")
    builder = own.open_builder(f"coco:{path}", str(tmp_path / "data"), Options(skip_missing=True,
                                                                                validation_fraction=0))
    assert builder.info.splits["train"].num_examples == 1
    assert builder.info.metadata["report"]["images missing (skipped)"] == 1


def test_voc_errors(tmp_path):
    fx.image(f"{tmp_path}/v/a.jpg")
    (tmp_path / "v" / "a.xml").write_text("<annotation><object><name>x</name>")
    _fails(f"voc:{tmp_path}/v", tmp_path, "a.xml is not a valid Pascal VOC annotation")
    fx.voc_xml(f"{tmp_path}/w/a.xml", "a.jpg", (24, 16), [("zebra", (1, 1, 5, 5), False)])
    fx.image(f"{tmp_path}/w/a.jpg")
    (tmp_path / "w" / "labels.txt").write_text("horse\n")
    _fails(f"voc:{tmp_path}/w", tmp_path, "object 'zebra' is not in .*labels.txt")
    fx.voc_xml(f"{tmp_path}/m/b.xml", "b.jpg", (24, 16), [("x", (1, 1, 5, 5), False)])
    _fails(f"voc:{tmp_path}/m", tmp_path, "have no image \\(first: b.xml\\)")


def test_mask_errors(tmp_path):
    fx.image(f"{tmp_path}/s/images/a.jpg", (24, 16))
    fx.mask(f"{tmp_path}/s/masks/a.png", np.zeros((10, 10)))
    _fails(f"masks:{tmp_path}/s", tmp_path, "mask .*a.png is 10x10 but its image .*a.jpg is 24x16")
    fx.image(f"{tmp_path}/t/images/a.jpg", (24, 16))
    fx.mask(f"{tmp_path}/t/masks/a.png", np.full((16, 24), 4))
    (tmp_path / "t" / "labels.txt").write_text("background\nroad\n")
    _fails(f"masks:{tmp_path}/t", tmp_path, "a.png has class id 4 but .*labels.txt names 2 classes")
    fx.image(f"{tmp_path}/u/images/a.jpg", (24, 16))
    fx.image(f"{tmp_path}/u/images/b.jpg", (24, 16))
    fx.mask(f"{tmp_path}/u/masks/a.png", np.ones((16, 24)))
    _fails(f"masks:{tmp_path}/u", tmp_path, "1 image\\(s\\) have no mask \\(first: images/b.jpg")
    (tmp_path / "x").mkdir()
    _fails(f"masks:{tmp_path}/x", tmp_path, "expected .*/images/ and .*/masks/")


def test_error_during_preparation_leaves_nothing(tmp_path):
    """A problem found while writing (a mask the size of its image turned sideways) removes the partial copy."""
    for i in range(3):
        fx.image(f"{tmp_path}/r/images/{i}.jpg", (24, 16))
        fx.mask(f"{tmp_path}/r/masks/{i}.png", np.zeros((16, 24) if i < 2 else (24, 16)))
    _fails(f"masks:{tmp_path}/r", tmp_path, "2.png is 16x24 but its image .*2.jpg is 24x16", validation_fraction=0)


def test_files_outside_the_dataset_are_never_opened(tmp_path, tmp_path_factory):
    """COCO `file_name` with ../ or an absolute path, VOC <filename>, a linked class folder, a link to a
    device and a FIFO named .jpg: each is an error naming the file, before anything is read."""
    outside = tmp_path_factory.mktemp("outside")  # beside tmp_path, not under it
    fx.image(f"{outside}/secret.jpg")
    for name in (f"../../{outside.name}/secret.jpg", str(outside / "secret.jpg")):
        path = _coco(tmp_path, images=[{"id": 1, "file_name": "a.jpg", "width": 24, "height": 16},
                                       {"id": 2, "file_name": name, "width": 24, "height": 16}], name="up.json")
        _fails(f"coco:{path}", tmp_path, "is outside the dataset")
    fx.image(f"{tmp_path}/v/a.jpg")
    (tmp_path / "v" / "a.xml").write_text(
        f"<annotation><filename>{outside}/secret.jpg</filename><size><width>24</width><height>16</height></size>"
        "<object><name>x</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox>"
        "</object></annotation>")
    _fails(f"voc:{tmp_path}/v", tmp_path, "is outside the dataset")
    fx.image(f"{tmp_path}/f/cat/a.jpg")
    os.symlink(outside, f"{tmp_path}/f/linked")  # a linked class folder
    _fails(f"image_folder:{tmp_path}/f", tmp_path, "linked/secret.jpg is outside the dataset")
    os.remove(f"{tmp_path}/f/linked")
    os.symlink("/dev/zero", f"{tmp_path}/f/cat/zero.jpg")
    _fails(f"image_folder:{tmp_path}/f", tmp_path, "zero.jpg is outside the dataset")
    os.remove(f"{tmp_path}/f/cat/zero.jpg")
    os.mkfifo(f"{tmp_path}/f/cat/pipe.jpg")
    _fails(f"image_folder:{tmp_path}/f", tmp_path, "pipe.jpg is not a regular file")


def test_masks_never_wrap_and_a_sparse_palette_without_labels_is_refused(tmp_path):
    from PIL import Image
    fx.image(f"{tmp_path}/w/images/a.jpg", (24, 16))
    os.makedirs(f"{tmp_path}/w/masks")
    wide = np.zeros((16, 24), np.uint16)
    wide[:4] = 300  # 300 stored in 8 bits would be class 44
    Image.fromarray(wide).save(f"{tmp_path}/w/masks/a.png")
    _fails(f"masks:{tmp_path}/w", tmp_path, "has class id 300; stored masks hold ids 0-254")
    fx.image(f"{tmp_path}/p/images/a.jpg", (24, 16))
    sparse = np.zeros((16, 24))
    sparse[:4], sparse[8:] = 37, 190  # what Image.convert('P') of a photo-like mask gives
    fx.mask(f"{tmp_path}/p/masks/a.png", sparse)
    _fails(f"masks:{tmp_path}/p", tmp_path, r"without labels.txt the class ids must run 0-N, but ids \[1, 2, 3")


def test_a_roboflow_coco_export_as_it_comes(tmp_path, capsys):
    """train/ valid/ test/ each with _annotations.coco.json and the images beside it; category 0 is the
    unused supercategory Roboflow writes, which must not become class 0."""
    categories = [{"id": 0, "name": "shapes", "supercategory": "none"},
                  {"id": 1, "name": "circle", "supercategory": "shapes"},
                  {"id": 2, "name": "square", "supercategory": "shapes"}]
    for split, n in (("train", 4), ("valid", 2), ("test", 2)):
        images = []
        for i in range(n):
            fx.image(f"{tmp_path}/rf/{split}/{split}{i}.jpg")
            images.append({"id": i, "file_name": f"{split}{i}.jpg", "width": 24, "height": 16})
        annotations = [{"id": i, "image_id": i, "category_id": 1 + i % 2, "bbox": [1, 1, 8, 6]} for i in range(n)]
        fx.coco_json(f"{tmp_path}/rf/{split}/_annotations.coco.json", images, annotations, categories)
    builder = own.open_builder(f"coco:{tmp_path}/rf", str(tmp_path / "data"), Options())
    assert {k: v.num_examples for k, v in builder.info.splits.items()} == {"train": 4, "validation": 2, "test": 2}
    assert builder.info.features["objects"]["label"].names == ["circle", "square"]
    assert builder.info.metadata["report"]["categories no annotation uses, left out (shapes)"] == 1
    capsys.readouterr()
    own.open_builder(f"coco:{tmp_path}/rf/train/_annotations.coco.json", str(tmp_path / "data2"), Options())
    assert "reads this split only; test/, valid/ beside it" in capsys.readouterr().err


def test_a_killed_preparation_leaves_nothing_the_next_one_keeps(tmp_path):
    fx.image(f"{tmp_path}/k/cat/a.jpg")
    fx.image(f"{tmp_path}/k/dog/b.jpg")
    first = own.open_builder(f"image_folder:{tmp_path}/k", str(tmp_path / "data"), Options(validation_fraction=0))
    folder = os.path.dirname(first.data_dir)
    import shutil
    shutil.rmtree(first.data_dir)  # as if the preparation had been killed half way ...
    os.makedirs(os.path.join(folder, "incomplete.XYZ_1.0.0"))  # ... leaving TFDS's partial folder
    again = own.open_builder(f"image_folder:{tmp_path}/k", str(tmp_path / "data"), Options(validation_fraction=0))
    assert again.info.splits["train"].num_examples == 2
    assert sorted(os.listdir(folder)) == [".lock", os.path.basename(again.data_dir)]


def test_doubtful_class_folders_are_named(tmp_path, capsys):
    """`Cat` and `cat` are two classes, said so; a class with no validation image is named."""
    for folder in ("train/Cat", "train/cat", "train/dog", "val/Cat", "val/cat"):
        fx.image(f"{tmp_path}/f/{folder}/a.jpg")
    builder = own.open_builder(f"image_folder:{tmp_path}/f", str(tmp_path / "data"), Options())
    assert builder.info.features["label"].names == ["Cat", "cat", "dog"]
    out, err = capsys.readouterr()
    assert "Unknown size" not in out + err  # TFDS's download banner is noise for local files
    assert "folders that differ only in case are separate classes: Cat and cat" in err
    assert "1 class(es) have no validation image (first: dog)" in err


def test_a_dangling_data_dir_link_is_named_as_such(tmp_path):
    """The outside check's "a dangling symlink is blamed on --data_dir": a --data_dir that is a link to a
    missing folder says so; a file of the dataset that cannot be read is named, never --data_dir."""
    from mnv2_tf.data.tfds_io import open_dataset
    from mnv2_tf.experiments.schema import DataConfig
    for c in ("a", "b"):
        for i in range(3):
            fx.image(f"{tmp_path}/src/{c}/{i}.jpg")
    os.symlink(tmp_path / "gone", tmp_path / "data")
    with pytest.raises(DatasetError, match=f"--data_dir {tmp_path}/data is a link to {tmp_path}/gone, which does "
                                           "not exist"):
        open_dataset(DataConfig(dataset=f"image_folder:{tmp_path}/src", data_dir=str(tmp_path / "data")))
    os.symlink(tmp_path / "src" / "a" / "missing.jpg", tmp_path / "src" / "a" / "3.jpg")
    with pytest.raises(DatasetError, match=f"{tmp_path}/src/a/3.jpg cannot be read") as raised:
        open_dataset(DataConfig(dataset=f"image_folder:{tmp_path}/src", data_dir=str(tmp_path / "data2")))
    assert "--data_dir" not in str(raised.value)
