#!/usr/bin/env python3
"""The book's convnet in Keras, on the same MNIST files, for side-by-side timing and accuracy.

    pip install tensorflow-cpu==2.21.0
    python3 scripts/keras_mnist.py [--epochs 5] [--threads 2] [--limit N] [--data data/mnist]
    python3 scripts/keras_mnist.py --inference [--threads 2]

Prints one line per epoch (seconds, loss, accuracy) and, like `convnets train`, ends with
`test loss: <f> - test accuracy: <f>`. With `--inference`, times `model.predict` on the 10,000
test images at batch 256 instead (best of three) and prints `inference: <n> images/s`.
"""
import argparse
import gzip
import os
import time

import numpy as np


def read_idx(path):
    """An IDX file (gzipped or not) as a numpy array of unsigned bytes."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    assert raw[0] == 0 and raw[1] == 0 and raw[2] == 0x08, f"{path}: not a u8 IDX file"
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def timed(run):
    """Seconds `run()` takes."""
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=0, help="0: TensorFlow's default (all cores)")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--inference", action="store_true", help="time predict at batch 256")
    parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "data", "mnist"))
    args = parser.parse_args()

    import tensorflow as tf
    from tensorflow import keras
    from tensorflow.keras import layers

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    load = lambda name: read_idx(os.path.join(args.data, name + ".gz"))
    train_images = load("train-images-idx3-ubyte").reshape((-1, 28, 28, 1)).astype("float32") / 255
    test_images = load("t10k-images-idx3-ubyte").reshape((-1, 28, 28, 1)).astype("float32") / 255
    train_labels = keras.utils.to_categorical(load("train-labels-idx1-ubyte"), 10)
    test_labels = keras.utils.to_categorical(load("t10k-labels-idx1-ubyte"), 10)
    if args.limit:
        train_images, train_labels = train_images[: args.limit], train_labels[: args.limit]

    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])

    if args.inference:
        model.predict(test_images[:256], batch_size=256, verbose=0)  # builds the graph
        best = min(timed(lambda: model.predict(test_images, batch_size=256, verbose=0)) for _ in range(3))
        print(f"inference: {len(test_images) / best:.0f} images/s")
        return

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.perf_counter() - self.start
            print(f"keras epoch {epoch + 1}/{args.epochs}: {seconds:.1f}s - loss: {logs['loss']:.4f}"
                  f" - accuracy: {logs['accuracy']:.4f}", flush=True)

    model.fit(train_images, train_labels, epochs=args.epochs, batch_size=args.batch_size, verbose=0,
              callbacks=[EpochTimer()])
    loss, accuracy = model.evaluate(test_images, test_labels, verbose=0)
    print(f"test loss: {loss:.4f} - test accuracy: {accuracy:.4f}")


if __name__ == "__main__":
    main()
