"""Keras 3 on JAX on an accelerator: training / inference speed (ours vs keras.applications, float32 and
mixed bfloat16) and the paper's experiments (`mnv2-reproduce`'s studies) on `mnv2_parts`, many seeds.

No TensorFlow is needed: the model is `mnv2_tf.mobilenet_v2`, the data `parts_drawing.split_arrays`
(the same images `mnv2_parts/64` stores), the recipe the `parts` experiment's (optimizer, schedule,
epochs, batch, crop area, label smoothing). What differs from `mnv2-train`: the crop-and-resize runs on
the device (`jax.image.scale_and_translate`, fractional windows where TF crops whole pixels), and the
seeds of a variant train together, vmapped (one compiled step per variant).

  KERAS_BACKEND=jax python benchmarks/accelerator.py --speed --studies=5,6a,6b,expansion --seeds=5 \
      --out=results_accelerator.json                                      # on the accelerator
  python benchmarks/accelerator.py --render=results_accelerator.json      # here: figures + summary.md
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time

from absl import app, flags

flags.DEFINE_bool("speed", False, "Time training and inference (ours vs keras.applications).")
flags.DEFINE_list("policies", ["float32", "mixed_bfloat16"], "Keras dtype policies to time.")
flags.DEFINE_integer("batch_size", 256, "Batch size of the speed test.")
flags.DEFINE_integer("resolution", 224, "Input resolution of the speed test.")
flags.DEFINE_integer("timed_steps", 30, "Timed steps per model and policy (after 3 untimed).")
flags.DEFINE_list("studies", [], "mnv2-reproduce studies to train (5, 6a, 6b, expansion).")
flags.DEFINE_integer("seeds", 5, "Seeds per variant (trained together, vmapped).")
flags.DEFINE_list("widths", ["0.35", "0.5", "1.0"], "Figure 5 widths.")
flags.DEFINE_list("resolutions", ["40", "48", "64"], "Figure 5 resolutions.")
flags.DEFINE_multi_string("override", [], "Overrides of the parts experiment (section.field=value; repeat the flag).")
flags.DEFINE_integer("train_images", 12_000, "Training images (mnv2_parts/64 has 12,000).")
flags.DEFINE_integer("validation_images", 2_000, "Validation images (mnv2_parts/64 has 2,000): the curves.")
flags.DEFINE_integer("test_images", 10_000, "Test images (mnv2_parts/64 has 10,000): each run's score.")
flags.DEFINE_integer("jobs", 8, "Variants trained at once (processes).")
flags.DEFINE_float("deadline_s", 0, "Stop starting variants after this many seconds (0: none).")
flags.DEFINE_string("out", "results_accelerator.json", "Where the results go (JSON).")
flags.DEFINE_string("render", None, "Draw figures and summary.md from a results JSON (no training).")
flags.DEFINE_string("out_dir", "workspace/results/reproduce_accelerator", "Where --render writes.")
flags.DEFINE_string("variant", None, "Internal: train one variant (its key) in this process.")
flags.DEFINE_string("data", None, "Internal: the .npz of the generated data.")
flags.DEFINE_string("speed_one", None, "Internal: time one policy:model in this process.")
flags.DEFINE_string("lock", None, "Internal: the lock the timed steps hold.")
FLAGS = flags.FLAGS


def _device() -> str:
    import jax
    d = jax.devices()[0]
    return f"{getattr(d, 'device_kind', d.platform)} (Keras {__import__('keras').__version__} on JAX {jax.__version__})"


# --- speed ----------------------------------------------------------------------------------------


def _train_step(model, optimizer, loss_fn):
    import jax

    def step(state, x, y):
        tv, ntv, ov = state

        def compute(tv, ntv):
            out, ntv = model.stateless_call(tv, ntv, x, training=True)
            return loss_fn(y, out), ntv

        (loss, ntv), grads = jax.value_and_grad(compute, has_aux=True)(tv, ntv)
        tv, ov = optimizer.stateless_apply(ov, grads, tv)
        return (tv, ntv, ov), loss
    return step


def _state(model, optimizer):
    return ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
            [v.value for v in optimizer.variables])


def speed(policy: str, which: str, batch: int, resolution: int, steps: int, lock_path: str) -> dict:
    """Images/s of one training step (SGD with momentum, cross-entropy) and one inference step. Compiling
    runs at once in every process; the timed steps hold `lock_path`, so no two processes time together."""
    import fcntl
    import jax
    import keras
    import numpy as np
    keras.config.set_dtype_policy(policy)
    shape = (resolution, resolution, 3)
    if which == "ours":
        from mnv2_tf import BackboneConfig, mobilenet_v2
        model = mobilenet_v2(BackboneConfig(input_shape=shape))
    else:
        model = keras.applications.MobileNetV2(input_shape=shape, weights=None, classifier_activation=None)
    optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
    optimizer.build(model.trainable_variables)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)  # both models end in logits
    step = jax.jit(_train_step(model, optimizer, loss), donate_argnums=0)
    infer = jax.jit(lambda tv, ntv, x: model.stateless_call(tv, ntv, x, training=False)[0])
    rng = np.random.default_rng(0)
    x = jax.device_put(rng.uniform(-1, 1, (batch,) + shape).astype("float32"))
    y = jax.device_put(rng.integers(0, 1000, batch))
    state = _state(model, optimizer)
    out = {"model": which, "policy": policy, "batch": batch, "resolution": resolution}
    runs = (("train", lambda s: step(s, x, y)), ("infer", lambda s: (s, infer(s[0], s[1], x))))
    for name, run in runs:
        start = time.perf_counter()
        for _ in range(3):
            state, r = run(state)
        jax.block_until_ready(r)
        out[f"{name}_compile_s"] = time.perf_counter() - start
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for name, run in runs:
            start = time.perf_counter()
            for _ in range(steps):
                state, r = run(state)
            jax.block_until_ready(r)
            out[f"{name}_images_per_s"] = steps * batch / (time.perf_counter() - start)
    return out


def speed_all(work: str) -> list[dict]:
    """`speed` for ours and keras.applications under every policy, one process each."""
    lock, procs = os.path.join(work, "timing.lock"), []
    for policy in FLAGS.policies:
        for which in ("ours", "keras.applications"):
            out = os.path.join(work, f"speed_{policy}_{which}.json")
            procs.append((out, subprocess.Popen(
                [sys.executable, __file__, f"--speed_one={policy}:{which}", f"--lock={lock}", f"--out={out}",
                 f"--batch_size={FLAGS.batch_size}", f"--resolution={FLAGS.resolution}",
                 f"--timed_steps={FLAGS.timed_steps}"], env=dict(os.environ, XLA_PYTHON_CLIENT_PREALLOCATE="false"))))
    rows = []
    for out, proc in procs:
        if proc.wait() == 0:
            with open(out) as f:
                rows.append(json.load(f))
    print("| model | policy | train img/s | infer img/s | compile s |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['policy']} | {r['train_images_per_s']:,.0f} | {r['infer_images_per_s']:,.0f} | "
              f"{r['train_compile_s']:.0f} |")
    for policy in FLAGS.policies:
        pair = {r["model"]: r for r in rows if r["policy"] == policy}
        if len(pair) == 2:
            print(f"{policy}: ours / keras.applications = train "
                  f"{pair['ours']['train_images_per_s'] / pair['keras.applications']['train_images_per_s']:.2f}, "
                  f"infer {pair['ours']['infer_images_per_s'] / pair['keras.applications']['infer_images_per_s']:.2f}")
    sys.stdout.flush()
    return rows


# --- the paper's experiments -----------------------------------------------------------------------


def _plan(studies_wanted, overrides_list):
    from mnv2_tf import experiments
    from mnv2_tf.experiments import overrides
    from mnv2_tf.reproduce import runner, studies
    base = overrides.apply(experiments.get("parts", "classification"), list(overrides_list))
    chosen = studies.get(studies_wanted, tuple(float(w) for w in FLAGS.widths),
                         tuple(int(r) for r in FLAGS.resolutions))
    plan = {}
    for study in chosen:
        for variant in study.variants:
            key, config = runner.run_key(base, variant.overrides)
            plan.setdefault(key, config)
    return base, chosen, plan


def _augment(x, key, size, crop_area):
    """The Inception crop (area in `crop_area`, aspect 3/4-4/3), resized to `size`, and a random flip."""
    import jax
    import jax.numpy as jnp
    n, s = x.shape[0], x.shape[1]
    ka, kr, ky, kx, kf = jax.random.split(key, 5)
    area = jax.random.uniform(ka, (n,), minval=crop_area[0], maxval=crop_area[1])
    ratio = jnp.exp(jax.random.uniform(kr, (n,), minval=jnp.log(3 / 4), maxval=jnp.log(4 / 3)))
    h = jnp.minimum(jnp.sqrt(area / ratio), 1.0) * s
    w = jnp.minimum(jnp.sqrt(area * ratio), 1.0) * s
    y0 = jax.random.uniform(ky, (n,)) * (s - h)
    x0 = jax.random.uniform(kx, (n,)) * (s - w)

    def one(image, h, w, y0, x0):
        scale = jnp.stack([size / h, size / w])
        return jax.image.scale_and_translate(image, (size, size, 3), (0, 1), scale, -jnp.stack([y0, x0]) * scale,
                                             method="linear", antialias=False)
    out = jax.vmap(one)(x.astype("float32"), h, w, y0, x0)
    flip = jax.random.bernoulli(kf, 0.5, (n, 1, 1, 1))
    return jnp.where(flip, out[:, :, ::-1], out)


def train_variant(key: str, data_path: str, seeds: int, overrides_list) -> dict:
    """Trains one variant at `seeds` seeds at once (vmapped): per-epoch validation top-1 of each seed, and its
    score, the top-1 on the test images at the end (as `mnv2-reproduce` scores a run)."""
    import jax
    import jax.numpy as jnp
    import keras
    import numpy as np
    from mnv2_tf import defaults, mobilenet_v2
    from mnv2_tf.training import optim
    _, _, plan = _plan(FLAGS.studies, overrides_list)
    config = plan[key]
    data = np.load(data_path)
    x_train, y_train = jax.device_put(data["x_train"]), jax.device_put(data["y_train"])
    x_val, y_val = data["x_val"], data["y_val"]
    size, batch, epochs = config.model.input_shape[0], config.train.batch_size, config.train.epochs
    steps_per_epoch = len(data["y_train"]) // batch
    scale = lambda x: (x - defaults.PIXEL_MEAN) / defaults.PIXEL_STD  # noqa: E731
    models = []
    for seed in range(seeds):
        keras.utils.set_random_seed(seed)
        models.append(mobilenet_v2(config.model))
    model = models[0]
    optimizer = optim.make_optimizer(config.train, steps_per_epoch)
    optimizer.build(model.trainable_variables)
    loss = optim.SparseSmoothedCrossEntropy(config.model.num_classes, config.train.label_smoothing)
    states = [_state(m, optimizer) for m in models]
    state = jax.tree.map(lambda *a: jnp.stack(a), *states)
    inner = _train_step(model, optimizer, loss)

    def one_seed(state, index, key):
        x = scale(_augment(jnp.take(x_train, index, axis=0), key, size, config.data.crop_area))
        return inner(state, x, jnp.take(y_train, index, axis=0))
    step = jax.jit(jax.vmap(one_seed), donate_argnums=0)
    val = jax.jit(jax.vmap(lambda tv, ntv, x: jnp.argmax(model.stateless_call(tv, ntv, x, training=False)[0], -1),
                           in_axes=(0, 0, None)))

    def accuracy(x_all, y_all):  # per seed
        correct = np.zeros(seeds)
        for i in range(0, len(y_all), 500):
            x = jnp.asarray(x_all[i:i + 500], "float32")
            x = scale(jax.image.resize(x, (len(x), size, size, 3), "linear", antialias=False))
            correct += (np.asarray(val(state[0], state[1], x)) == y_all[i:i + 500]).sum(axis=1)
        return correct / len(y_all)
    orders = [np.random.default_rng(seed) for seed in range(seeds)]
    history, start, done = [[] for _ in range(seeds)], time.perf_counter(), 0
    for epoch in range(epochs):
        perm = np.stack([o.permutation(len(data["y_train"]))[:steps_per_epoch * batch] for o in orders])
        for s in range(steps_per_epoch):
            keys = jnp.stack([jax.random.fold_in(jax.random.key(seed), done) for seed in range(seeds)])
            state, _ = step(state, perm[:, s * batch:(s + 1) * batch], keys)
            done += 1
        for seed, top1 in enumerate(accuracy(x_val, y_val)):
            history[seed].append((done, float(top1)))
    seconds = time.perf_counter() - start
    test = accuracy(data["x_test"], data["y_test"])
    return {"runs": [{"seed": seed, "top1": float(test[seed]), "split": "test", "val_top1": h[-1][1], "history": h,
                      "seconds": seconds} for seed, h in enumerate(history)]}


def studies_run(report: dict, out_path: str) -> None:
    """Generates the data once, trains every variant (`--jobs` processes at once) and adds the results to
    `report`, rewriting `out_path` after each variant (a run cut short keeps what finished)."""
    import numpy as np
    from mnv2_tf.data.builders import parts_drawing
    start = time.perf_counter()
    x_train, y_train = parts_drawing.split_arrays("train", FLAGS.train_images, 64)
    x_val, y_val = parts_drawing.split_arrays("validation", FLAGS.validation_images, 64)
    x_test, y_test = parts_drawing.split_arrays("test", FLAGS.test_images, 64)
    print(f"generated {len(y_train) + len(y_val) + len(y_test)} images in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    _, _, plan = _plan(FLAGS.studies, FLAGS.override)
    work = tempfile.mkdtemp()
    data = os.path.join(work, "parts64.npz")
    np.savez(data, x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val, x_test=x_test, y_test=y_test)
    env = dict(os.environ, XLA_PYTHON_CLIENT_PREALLOCATE="false")
    pending, running, results = list(plan), {}, {}
    report.update({"studies": list(FLAGS.studies), "seeds": FLAGS.seeds, "overrides": list(FLAGS.override),
                   "widths": list(FLAGS.widths), "resolutions": list(FLAGS.resolutions), "results": results})
    while pending or running:
        late = FLAGS.deadline_s and time.perf_counter() - start > FLAGS.deadline_s
        while pending and len(running) < FLAGS.jobs and not late:
            key = pending.pop(0)
            args = [sys.executable, __file__, f"--variant={key}", f"--data={data}", f"--seeds={FLAGS.seeds}",
                    f"--studies={','.join(FLAGS.studies)}", f"--widths={','.join(FLAGS.widths)}",
                    f"--resolutions={','.join(FLAGS.resolutions)}", f"--out={os.path.join(work, key + '.json')}"]
            args += [f"--override={o}" for o in FLAGS.override]
            running[key] = subprocess.Popen(args, env=env)
        if late and pending:
            print(f"deadline: {len(pending)} variants not started: {', '.join(pending)}", file=sys.stderr)
            pending = []
        for key, proc in list(running.items()):
            if proc.poll() is not None:
                del running[key]
                path = os.path.join(work, key + ".json")
                if proc.returncode == 0 and os.path.exists(path):
                    with open(path) as f:
                        results[key] = json.load(f)
                    print(f"{key}: {[round(r['top1'], 3) for r in results[key]['runs']]} "
                          f"({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
                    report["wall_s"] = time.perf_counter() - start
                    _write(report, out_path)
                else:
                    print(f"{key}: failed (exit {proc.returncode})", file=sys.stderr, flush=True)
        time.sleep(0.5)


def _write(report: dict, path: str) -> None:
    with open(path + ".tmp", "w") as f:
        json.dump(report, f, indent=1)
    os.replace(path + ".tmp", path)


def render(path: str, out_dir: str) -> list[dict]:
    """results.json, summary.md and the figures of `mnv2-reproduce`, from an accelerator's results."""
    from mnv2_tf.reproduce import runner
    with open(path) as f:
        found = json.load(f)
    FLAGS.widths, FLAGS.resolutions = found["widths"], found["resolutions"]
    base, chosen, plan = _plan(found["studies"], found["overrides"])
    results = {}
    for key, config in plan.items():
        if key not in found["results"]:
            continue
        entry = dict(found["results"][key])
        entry.update(zip(("top1_mean", "top1_std"), runner.mean_std([r["top1"] for r in entry["runs"]])))
        entry["madds"] = runner.madds(config)
        results[key] = entry
    scored = sorted({r.get("split", "validation") for e in results.values() for r in e["runs"]})  # older: validation
    context = {"cpu": found["device"], "seeds": found["seeds"], "experiment": "parts", "scored_on": scored,
               "overrides": found["overrides"], "date": found["date"]}
    drawn = []
    for study in chosen:  # a study cut short keeps the variants that finished, and the claims between them
        kept = tuple(v for v in study.variants if runner.run_key(base, v.overrides)[0] in results)
        labels = {v.label for v in kept}
        expect = tuple(p for p in study.expect if all(x in labels for x in p if x != "~"))
        if len(kept) > 1:
            drawn.append(dataclasses.replace(study, variants=kept, expect=expect))
        if len(kept) < len(study.variants):
            print(f"figure {study.key}: {len(study.variants) - len(kept)} of {len(study.variants)} variants have "
                  f"no results: {', '.join(v.label for v in study.variants if v not in kept)}", file=sys.stderr)
    return runner.write_outputs(out_dir, drawn, base, results, context)


def main(argv):
    del argv
    if FLAGS.render:
        for row in render(FLAGS.render, FLAGS.out_dir):
            print(f"| {row['figure']} | {row['claim']} | {row['ours']} | {row['verdict']} |")
        return
    if FLAGS.variant or FLAGS.speed_one:
        if FLAGS.variant:
            result = train_variant(FLAGS.variant, FLAGS.data, FLAGS.seeds, FLAGS.override)
        else:
            policy, which = FLAGS.speed_one.split(":")
            result = speed(policy, which, FLAGS.batch_size, FLAGS.resolution, FLAGS.timed_steps, FLAGS.lock)
        with open(FLAGS.out, "w") as f:
            json.dump(result, f)
        return
    report = {"device": _device(), "date": time.strftime("%Y-%m-%d")}
    if FLAGS.speed:
        report["speed"] = speed_all(tempfile.mkdtemp())
        _write(report, FLAGS.out)
    if FLAGS.studies:
        studies_run(report, FLAGS.out)
    _write(report, FLAGS.out)
    print(f"wrote {FLAGS.out}", file=sys.stderr)


if __name__ == "__main__":
    app.run(main)
