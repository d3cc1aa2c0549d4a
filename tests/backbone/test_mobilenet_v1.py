"""The paper's MobileNetV1 baseline (Tables 6 and 7): keras.applications' layers, any output stride, and the
heads on it counted as the paper counts them."""

import keras

from mnv2_tf.backbone import mobilenet_v1
from mnv2_tf.detection import paper as detection_paper
from mnv2_tf.segmentation import paper as segmentation_paper


def test_the_same_parameters_as_keras_applications_and_dilation_keeps_the_stride():
    ours = mobilenet_v1.feature_model((224, 224, 3))
    reference = keras.applications.MobileNet(weights=None, include_top=False, input_shape=(224, 224, 3))
    assert ours.count_params() == reference.count_params() == 3_228_864
    assert ours.output.shape[1:] == reference.output.shape[1:] == (7, 7, 1024)
    assert mobilenet_v1.feature_model((224, 224, 3), output_stride=8).output.shape[1:] == (28, 28, 1024)


def test_table6_v1_ssdlite_and_table7_v1_deeplab_match_the_paper():
    row = detection_paper.analysis.profile(detection_paper.v1_ssdlite())
    assert round(row.params_paper / 1e5) == 51 and round(row.madds / 1e8) == 13  # paper: 5.1M, 1.3B
    v1 = segmentation_paper._v1_profile(513, 16, "tf1")
    assert round(v1.params_trainable / 1e4) == 1115 and abs(v1.madds / 14.25e9 - 1) < 0.01  # 11.15M, 14.25B
