#!/usr/bin/env python3
"""Writes the TensorFlow reference values under tests/fixtures/ that the Rust tests compare with.

Run:  pip install tensorflow-cpu==2.21.0 && python3 scripts/make_fixtures.py

Every case stores its inputs and TensorFlow's outputs as flat row-major lists with their
shapes (NHWC activations, HWIO kernels, as Keras keeps them). Gradients are taken of
`loss = sum(y * dy)` for a random `dy`, so `dx`, `dkernel`, `dbias` are exactly what a
backward pass receiving `dy` must return. The tests never need TensorFlow.
"""
import json
import os

import numpy as np
import tensorflow as tf

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures")
rng = np.random.default_rng(5_1)


def rand(*shape):
    return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)


def flat(a):
    a = np.asarray(a, dtype=np.float32)
    return {"shape": list(a.shape), "data": [float(v) for v in a.reshape(-1)]}


# (name, batch, height, width, in_channels, filters, kernel, strides, padding)
CONV_CASES = [
    ("conv_valid_s1_k3_odd", 2, 7, 7, 3, 4, 3, (1, 1), "valid"),
    ("conv_same_s1_k3_even", 2, 6, 6, 2, 3, 3, (1, 1), "same"),
    ("conv_valid_s2_k3_odd", 2, 7, 7, 3, 2, 3, (2, 2), "valid"),
    ("conv_valid_s2_k3_even", 1, 8, 8, 2, 3, 3, (2, 2), "valid"),
    ("conv_same_s2_k3_odd", 2, 7, 7, 2, 3, 3, (2, 2), "same"),
    ("conv_same_s2_k3_even", 2, 8, 8, 3, 2, 3, (2, 2), "same"),
    ("conv_valid_s1_k5_odd", 2, 9, 9, 3, 4, 5, (1, 1), "valid"),
    ("conv_same_s1_k5_even", 1, 8, 8, 2, 3, 5, (1, 1), "same"),
    ("conv_same_s2_k5_odd", 2, 9, 9, 2, 2, 5, (2, 2), "same"),
    ("conv_same_s1_k2_even", 2, 6, 6, 2, 3, 2, (1, 1), "same"),
    ("conv_same_s21_k3_rect", 2, 7, 6, 2, 3, 3, (2, 1), "same"),
    ("conv_valid_s12_k5x3_rect", 1, 9, 8, 3, 2, (5, 3), (1, 2), "valid"),
]

# (name, kind, batch, height, width, channels, pool, strides, padding)
POOL_CASES = [
    ("max_valid_p2_even", "max", 2, 6, 6, 3, 2, (2, 2), "valid"),
    ("max_valid_p2_odd", "max", 2, 7, 7, 2, 2, (2, 2), "valid"),
    ("max_valid_p3_s2_odd", "max", 1, 9, 9, 2, 3, (2, 2), "valid"),
    ("max_same_p2_odd", "max", 2, 7, 7, 2, 2, (2, 2), "same"),
    ("max_same_p3_s1_even", "max", 1, 6, 6, 2, 3, (1, 1), "same"),
    ("avg_valid_p2_even", "avg", 2, 6, 6, 3, 2, (2, 2), "valid"),
    ("avg_valid_p2_odd", "avg", 2, 7, 7, 2, 2, (2, 2), "valid"),
    ("avg_same_p2_odd", "avg", 2, 7, 7, 2, 2, (2, 2), "same"),
    ("avg_same_p3_s1_even", "avg", 1, 6, 6, 2, 3, (1, 1), "same"),
]


def conv_cases():
    cases = []
    for name, n, h, w, cin, cout, k, strides, padding in CONV_CASES:
        kh, kw = (k, k) if isinstance(k, int) else k
        x, kernel, bias = tf.Variable(rand(n, h, w, cin)), tf.Variable(rand(kh, kw, cin, cout)), tf.Variable(rand(cout))
        layer = tf.keras.layers.Conv2D(cout, (kh, kw), strides=strides, padding=padding)
        layer.build((None, h, w, cin))
        layer.kernel.assign(kernel)
        layer.bias.assign(bias)
        with tf.GradientTape() as tape:
            y = layer(x)
            dy = tf.constant(rand(*y.shape))
            loss = tf.reduce_sum(y * dy)
        dx, dk, db = tape.gradient(loss, [x, layer.kernel, layer.bias])
        cases.append({
            "name": name, "strides": list(strides), "padding": padding,
            "x": flat(x), "kernel": flat(kernel), "bias": flat(bias), "y": flat(y),
            "dy": flat(dy), "dx": flat(dx), "dkernel": flat(dk), "dbias": flat(db),
        })
    return cases


def pool_cases():
    cases = []
    for name, kind, n, h, w, c, p, strides, padding in POOL_CASES:
        x = tf.Variable(rand(n, h, w, c))
        cls = tf.keras.layers.MaxPooling2D if kind == "max" else tf.keras.layers.AveragePooling2D
        layer = cls((p, p), strides=strides, padding=padding)
        with tf.GradientTape() as tape:
            y = layer(x)
            dy = tf.constant(rand(*y.shape))
            loss = tf.reduce_sum(y * dy)
        dx = tape.gradient(loss, x)
        cases.append({
            "name": name, "kind": kind, "pool": [p, p], "strides": list(strides), "padding": padding,
            "x": flat(x), "y": flat(y), "dy": flat(dy), "dx": flat(dx),
        })
    return cases


def dense_cases():
    cases = []
    for name, n, inputs, units, activation in [("dense_linear", 3, 5, 4, None), ("dense_relu", 4, 6, 3, "relu")]:
        x = tf.Variable(rand(n, inputs))
        layer = tf.keras.layers.Dense(units, activation=activation)
        layer.build((None, inputs))
        layer.kernel.assign(rand(inputs, units))
        layer.bias.assign(rand(units))
        with tf.GradientTape() as tape:
            y = layer(x)
            dy = tf.constant(rand(*y.shape))
            loss = tf.reduce_sum(y * dy)
        dx, dk, db = tape.gradient(loss, [x, layer.kernel, layer.bias])
        cases.append({
            "name": name, "activation": activation or "linear",
            "x": flat(x), "kernel": flat(layer.kernel), "bias": flat(layer.bias), "y": flat(y),
            "dy": flat(dy), "dx": flat(dx), "dkernel": flat(dk), "dbias": flat(db),
        })
    return cases


def crossentropy_cases():
    """Softmax on logits, then Keras's categorical cross-entropy (mean over the batch).

    A tensor made by Keras's softmax remembers its logits, and Keras then computes the
    cross-entropy from the logits (log-softmax, no clipping): that is `loss`, and its
    gradient is exactly (p - y) / batch even where a probability underflows: `dlogits`.
    Probabilities that come from elsewhere (a plain tensor) are clipped to
    [1e-7, 1 - 1e-7] before the log: that is `loss_from_probs`.
    """
    cases = []
    for name, n, classes, scale in [("ce_small", 4, 5, 1.0), ("ce_confident", 3, 10, 12.0)]:
        logits = tf.Variable(rand(n, classes) * scale)
        labels = rng.integers(0, classes, size=n)
        y = tf.keras.utils.to_categorical(labels, classes).astype(np.float32)
        loss_fn = tf.keras.losses.CategoricalCrossentropy()
        probs = tf.keras.activations.softmax(logits)
        loss = loss_fn(y, probs)
        loss_from_probs = loss_fn(y, tf.constant(probs.numpy()))

        @tf.function
        def training_gradient():
            with tf.GradientTape() as tape:
                loss = loss_fn(y, tf.keras.activations.softmax(logits))
            return tape.gradient(loss, logits)

        cases.append({
            "name": name, "logits": flat(logits), "targets": flat(y), "probs": flat(probs),
            "loss": float(loss), "loss_from_probs": float(loss_from_probs), "dlogits": flat(training_gradient()),
        })
    return cases


def rmsprop_cases():
    """Two steps of Keras's RMSprop (default settings) on given gradients."""
    w0, g1, g2 = rand(7), rand(7), rand(7) * 0.01
    w = tf.Variable(w0)
    opt = tf.keras.optimizers.RMSprop()
    config = opt.get_config()
    opt.apply_gradients([(tf.constant(g1), w)])
    w1 = w.numpy().copy()
    opt.apply_gradients([(tf.constant(g2), w)])
    w2 = w.numpy().copy()
    return [{
        "name": "rmsprop_two_steps", "learning_rate": float(config["learning_rate"]), "rho": float(config["rho"]),
        "epsilon": float(config["epsilon"]), "momentum": float(config["momentum"]), "centered": config["centered"],
        "w0": flat(w0), "g1": flat(g1), "w1": flat(w1), "g2": flat(g2), "w2": flat(w2),
    }]


def main():
    os.makedirs(OUT, exist_ok=True)
    files = [
        ("conv2d.json", conv_cases()), ("pooling.json", pool_cases()), ("dense.json", dense_cases()),
        ("crossentropy.json", crossentropy_cases()), ("rmsprop.json", rmsprop_cases()),
    ]
    for file, cases in files:
        with open(os.path.join(OUT, file), "w") as f:
            json.dump({"tensorflow": tf.__version__, "cases": cases}, f)
        print(f"wrote {len(cases)} cases to tests/fixtures/{file}")


if __name__ == "__main__":
    main()
