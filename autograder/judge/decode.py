"""Decode what a submission's kernel recorded (mnist_lab/handin.py) without trusting it: JSON only, arrays from
base64 bytes with an allowed dtype and a shape that matches their size, files opened without following links and
only up to a size limit."""

from __future__ import annotations

import base64
import binascii
import json
import os
import stat
from pathlib import Path

import numpy as np

MAX_FILE_BYTES = 64 * 2**20
DTYPES = ("float32", "float64", "int64", "bool", "uint8")


class HandinError(ValueError):
    pass


def decode_array(value) -> np.ndarray:
    if not isinstance(value, dict) or value.get("dtype") not in DTYPES or not isinstance(value.get("data"), str):
        raise HandinError("a recorded array is malformed")
    shape = value.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and 0 <= d < 2**31 for d in shape):
        raise HandinError("a recorded array has a malformed shape")
    try:
        raw = base64.b64decode(value["data"], validate=True)
    except (binascii.Error, ValueError):
        raise HandinError("a recorded array is not valid base64") from None
    dtype = np.dtype(value["dtype"])
    if len(raw) != dtype.itemsize * int(np.prod(shape, dtype=np.int64)):
        raise HandinError("a recorded array's size does not match its shape")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def read_record(path: Path) -> dict:
    """One hand-in file: a regular file (no symlink), at most MAX_FILE_BYTES, holding a JSON object."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise HandinError(f"cannot open {path.name}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise HandinError(f"{path.name} is not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise HandinError(f"{path.name} is {info.st_size} bytes; the limit is {MAX_FILE_BYTES}")
        data = handle.read(MAX_FILE_BYTES + 1)
    try:
        record = json.loads(data)
    except (ValueError, RecursionError):
        raise HandinError(f"{path.name} is not valid JSON") from None
    if not isinstance(record, dict):
        raise HandinError(f"{path.name} does not hold a JSON object")
    return record
