"""Every use of a private Keras / LiteRT API, in one place to audit on an upgrade.

Each hook says why the public API does not suffice and which upstream issue it
works around. `PRIVATE_SYMBOLS` lists them; `tests/test_package.py` asserts
each still exists in the installed versions.
"""

from __future__ import annotations

import contextlib
import warnings


def _litert_interpreter():
    from ai_edge_litert.interpreter import Interpreter
    return Interpreter


def _keras_model():
    import keras
    return keras.Model


def _keras_layer():
    import keras
    return keras.layers.Dense(1)  # an instance: `_inbound_nodes` is set per layer


def _keras_adam():
    import keras
    optimizer = keras.optimizers.Adam()
    optimizer.build([keras.Variable(0.0)])
    return optimizer


def _keras_tf_trainer():
    from keras.src.backend.tensorflow import trainer
    return trainer


# (owner getter, attribute, why)
PRIVATE_SYMBOLS = [
    (_litert_interpreter, "_get_full_signature_list",
     "signature output name -> tensor index: the public get_signature_list() gives names only, and "
     "output details come in subgraph order, not signature order (tensorflow/tensorflow#53044)"),
    (_litert_interpreter, "_get_ops_details",
     "operators in execution order with their tensors, for peak tensor memory and the same-graph "
     "check; no public equivalent in LiteRT 2.x"),
    (_keras_layer, "_flatten_layers", "every nested layer (Keras 3 has no public recursive walk)"),
    (_keras_layer, "_inbound_nodes", "which tensors feed a layer call, for the activation-memory walk"),
    (_keras_model, "_symbolic_build", "build metrics/loss/optimizer from one local batch before fit() "
     "under tf.distribute (keras-team/keras#20585)"),
    (_keras_model, "_maybe_symbolic_build", "skip Keras' own build from the first distributed batch "
     "(keras-team/keras#20585)"),
    (_keras_adam, "_get_variable_index", "which slot belongs to a variable, for the fused Adam update "
     "(training/adam.py): Keras's optimizers have no public slot lookup"),
    (_keras_adam, "_momentums", "Adam's first-moment slots, for the same update"),
    (_keras_adam, "_velocities", "Adam's second-moment slots, for the same update"),
    (_keras_tf_trainer, "reduce_per_replica", "scalar logs under MultiWorkerMirroredStrategy "
     "(keras-team/keras#20585)"),
    (_keras_tf_trainer, "_collective_all_reduce_multi_worker", "the same patch's multi-worker test"),
]


def adam_slots(optimizer, variable) -> tuple:
    """Keras Adam's (first moment, second moment) slot variables of `variable`."""
    index = optimizer._get_variable_index(variable)
    return optimizer._momentums[index], optimizer._velocities[index]


def signature_output_indices(interpreter, signature: str = "serving_default") -> dict[str, int]:
    """Signature output name -> output tensor index."""
    return interpreter._get_full_signature_list()[signature]["outputs"]


def ops_details(interpreter) -> list[dict]:
    """Operators in execution order: op_name, inputs, outputs (tensor indices)."""
    return interpreter._get_ops_details()


def flatten_layers(model) -> list:
    return list(model._flatten_layers(include_self=False, recursive=True))


def inbound_nodes(layer) -> list:
    return layer._inbound_nodes


def build_before_fit(model, batch) -> None:
    """Builds metrics, loss and optimizer from one local batch and turns off Keras' build in fit().

    Under a tf.distribute strategy Keras 3's fit() builds them from the first
    *distributed* batch instead: it all-reduces that batch eagerly, which fails
    under MultiWorkerMirroredStrategy (keras-team/keras#20585), and it consumes
    that batch, which would shift the exact resumable input stream by one batch
    per fit() call.
    """
    model._symbolic_build(data_batch=batch)
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None


@contextlib.contextmanager
def quiet_keras_data_warnings():
    """Evaluation datasets are finite with an unknown length (corrupt images may be dropped), and
    Keras warns each time one ends; the training stream never ends. Scoped to a run or an evaluation."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        warnings.filterwarnings("ignore", message="`shuffle=True` was passed")
        yield


@contextlib.contextmanager
def ema_not_finalized(optimizer):
    """Keras swaps EMA weights into the model at the end of every fit() (`finalize_variable_values`,
    called by fit's internals); a partial (resumed) epoch must not, or training would continue from
    the EMA weights. Patched on this optimizer instance only, for the duration of the block."""
    if not optimizer.use_ema:
        yield
        return
    optimizer.finalize_variable_values = lambda var_list: None
    try:
        yield
    finally:
        del optimizer.finalize_variable_values


def patch_multi_worker_reduce() -> None:
    """Keras 3 reduces each per-step log value across workers with
    `strategy.reduce("MEAN", v, axis=0)`, which fails on the scalar losses and
    metrics under MultiWorkerMirroredStrategy (keras-team/keras#20585). Reduce
    scalars over replicas only (axis=None); everything else is left to Keras."""
    import keras
    import tensorflow as tf

    trainer = _keras_tf_trainer()
    if getattr(trainer.reduce_per_replica, "_mnv2_patched", False):
        return
    original = trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if trainer._collective_all_reduce_multi_worker(strategy) and reduction in ("auto", "mean"):
            def reduce(v):
                local = v.values[0] if isinstance(v, tf.distribute.DistributedValues) else v
                if getattr(local, "shape", None) is not None and local.shape.rank == 0:
                    return strategy.reduce("MEAN", v, axis=None)
                return original(v, strategy, reduction)
            return keras.tree.map_structure(reduce, values)
        return original(values, strategy, reduction)

    reduce_per_replica._mnv2_patched = True
    trainer.reduce_per_replica = reduce_per_replica


@contextlib.contextmanager
def without_global_seed():  # public API only: here beside the other TF workarounds
    """TensorFlow's global seed unset inside, restored after. A dataset's shuffle seeds fold in the
    global seed, and with a global seed of 0 (what `keras.utils.set_random_seed(0)` sets) a tensor op
    seed fails TF's `seeds == (0, 0)` check (OperatorNotAllowedInGraphError): the training stream is
    built without it, so its order depends on the run's own seed alone, whatever the caller set.
    (`get_seed(None)` reads the global seed; restoring it resets TF's per-op seed counter, as any
    `tf.random.set_seed` does.)"""
    import tensorflow as tf

    before = tf.compat.v1.random.get_seed(None)[0]
    tf.random.set_seed(None)
    try:
        yield
    finally:
        if before is not None:
            tf.random.set_seed(before)

