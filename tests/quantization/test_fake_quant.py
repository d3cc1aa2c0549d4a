"""Fake quantization: the keras.ops arithmetic equals TensorFlow's op (values and gradient), and the TFLite
converter turns a graph holding those ops into a full-integer model with exactly their ranges, no calibration."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mnv2_tf.quantization import fake_quant as fq


@pytest.mark.parametrize("lo, hi, narrow", [(-1.0, 1.0, False), (0.0, 6.0, False), (-0.37, 2.9, False),
                                            (0.5, 3.0, False), (-3.0, 3.0, True)])
def test_keras_ops_equal_tensorflows_fake_quant_and_its_gradient(lo, hi, narrow):
    x = tf.constant(np.random.default_rng(0).uniform(lo - 1, hi + 1, 4000).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours = fq._fake_quant(x, lo, hi, narrow)
        theirs = tf.quantization.fake_quant_with_min_max_vars(x, lo, hi, num_bits=8, narrow_range=narrow)
        loss_ours, loss_theirs = tf.reduce_sum(ours * x), tf.reduce_sum(theirs * x)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-5)
    assert len(np.unique(ours.numpy())) <= (255 if narrow else 256)
    np.testing.assert_allclose(tape.gradient(loss_ours, x).numpy(), tape.gradient(loss_theirs, x).numpy(),
                               atol=1e-4)


def test_symmetric_per_channel_weights_are_int8_multiples_of_the_channel_scale():
    kernel = np.random.default_rng(1).normal(size=(3, 3, 4, 5)).astype(np.float32) * np.arange(1, 6)
    out = keras.ops.convert_to_numpy(fq.symmetric_per_channel(kernel))
    scale = np.abs(kernel).max(axis=(0, 1, 2)) / 127
    steps = out / scale
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-3)  # integers ...
    assert np.abs(np.round(steps)).max() == 127  # ... in [-127, 127], the extremes kept
    np.testing.assert_allclose(out, kernel, atol=scale.max() / 2 + 1e-6)


@pytest.mark.slow  # converts to TFLite
def test_the_converter_quantizes_with_the_fake_quant_ranges_and_no_calibration(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    class Conv(keras.layers.Layer):
        def build(self, shape):
            self.kernel = self.add_weight(shape=(3, 3, shape[-1], 4), initializer="glorot_uniform")

        def call(self, x):
            y = keras.ops.conv(x, fq.symmetric_per_channel(self.kernel), padding="same")
            return fq.fake_quant(keras.ops.relu6(y), 0.0, 6.0)

    inputs = keras.Input((16, 16, 3))
    x = Conv()(keras.layers.Lambda(lambda t: fq.fake_quant(t, -1.0, 1.0))(inputs))
    x = keras.layers.Lambda(lambda t: fq.fake_quant(t, -0.5, 2.5))(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, x)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", lambda image: model(image), input_signature=[tf.TensorSpec((1, 16, 16, 3))])
    archive.write_out(str(tmp_path / "saved"), verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "saved"))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]  # supported_ops=INT8 would demand calibration data
    converter.inference_input_type, converter.inference_output_type = tf.uint8, tf.float32
    interpreter = Interpreter(model_content=converter.convert())  # no representative dataset
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert ops == {"QUANTIZE", "CONV_2D", "MEAN", "DEQUANTIZE"}, ops
    details = interpreter.get_tensor_details()
    scales = {round(d["quantization"][0], 7) for d in details if d["dtype"] in (np.int8, np.uint8)}
    for lo, hi in ((-1.0, 1.0), (0.0, 6.0), (-0.5, 2.5)):  # each range as the tensor's scale
        assert round((hi - lo) / 255, 7) in scales, (lo, hi, scales)
    (weights,) = [d for d in details if d["dtype"] == np.int8 and len(d["shape"]) == 4 and d["shape"][0] == 4]
    kernel = model.layers[2].kernel.numpy()
    np.testing.assert_allclose(weights["quantization_parameters"]["scales"],
                               np.abs(kernel).max(axis=(0, 1, 2)) / 127, rtol=1e-5)
    assert not weights["quantization_parameters"]["zero_points"].any()
    image = np.random.default_rng(0).uniform(-1, 1, (1, 16, 16, 3)).astype(np.float32)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    scale, zero = inp["quantization"]
    interpreter.set_tensor(inp["index"], np.clip(np.round(image / scale + zero), 0, 255).astype(np.uint8))
    interpreter.invoke()
    np.testing.assert_allclose(interpreter.get_tensor(out["index"]), model(image).numpy(), atol=3 / 255 + 1e-6)
