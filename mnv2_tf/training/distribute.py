"""tf.distribute strategies by name, and the batch checks that go with them."""

from __future__ import annotations

import json
import os

import tensorflow as tf

from mnv2_tf import compat
from mnv2_tf.errors import ConfigError


def make_strategy(name: str) -> tf.distribute.Strategy:
    """one_device | mirrored | multi_worker (TF_CONFIG) | tpu.

    one_device is TF's default strategy (the first GPU if any, else the CPU), not OneDeviceStrategy:
    that one rebuilds the input pipeline with tf.data's autotuning thread on again, and deleting
    such an iterator (Keras does at each validation pass) stalled 20 s (`data.stream.without_autotune_thread`).
    """
    if name == "one_device":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ConfigError("strategy=multi_worker needs TF_CONFIG describing the cluster "
                             "(see docs/library.md: Distributed training)")
        compat.patch_multi_worker_reduce()
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ConfigError(f"unknown strategy {name!r}")


def check_global_batch(batch_size: int, strategy: tf.distribute.Strategy) -> int:
    """Returns the per-replica batch; the global batch must split evenly."""
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ConfigError(f"batch_size {batch_size} is not divisible by the {replicas} replicas of "
                         f"this strategy; use a multiple of {replicas}")
    return batch_size // replicas


def is_chief() -> bool:
    """True unless TF_CONFIG names this process a non-chief worker."""
    config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    task = config.get("task", {})
    if not task:
        return True
    if task.get("type") == "chief":
        return True
    return task.get("type") == "worker" and task.get("index", 0) == 0 and "chief" not in config.get("cluster", {})


def worker_id() -> str:
    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
    return f"{task.get('type', 'worker')}_{task.get('index', 0)}"
