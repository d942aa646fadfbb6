"""A small GGUF v3 writer and the Q8_0 / Q4_0 block quantizers, in numpy only.

Written from the GGUF specification (ggml docs/gguf.md):
  header:       magic "GGUF" | u32 version (3) | u64 tensor_count | u64 metadata_kv_count
  metadata kv:  string key | u32 value_type | value
                string = u64 byte length + UTF-8 bytes (no terminator)
                array  = u32 element type | u64 count | elements
  tensor info:  string name | u32 n_dims | u64 ne[n_dims] (ne[0] is the contiguous dimension, i.e. the
                numpy shape reversed) | u32 ggml_type | u64 offset (from the start of the data section,
                a multiple of the alignment)
  padding to `general.alignment` (default 32), then the tensor data, each tensor padded to the alignment.
All integers and floats are little-endian.

Block formats (32 values a block, along ne[0]):
  Q8_0: f16 d | int8 qs[32]                 value = d * qs[i]              (34 bytes)
  Q4_0: f16 d | u8 qs[16]                   value = d * (nibble - 8)       (18 bytes)
        byte j holds value j in its low nibble and value j + 16 in its high nibble.
The quantizers follow ggml's reference rounding (roundf half away from zero for Q8_0; for Q4_0 the
signed value of largest magnitude maps to -8 and codes are truncated from x/d + 8.5, clamped to 15), so
files match what llama.cpp's own quantizer writes for the same float input.
"""
from __future__ import annotations

import struct
from enum import IntEnum
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

GGUF_MAGIC = b'GGUF'
GGUF_VERSION = 3
DEFAULT_ALIGNMENT = 32
QK = 32


class ValueType(IntEnum):
    UINT8 = 0
    INT8 = 1
    UINT16 = 2
    INT16 = 3
    UINT32 = 4
    INT32 = 5
    FLOAT32 = 6
    BOOL = 7
    STRING = 8
    ARRAY = 9
    UINT64 = 10
    INT64 = 11
    FLOAT64 = 12


class GGMLType(IntEnum):
    F32 = 0
    F16 = 1
    Q4_0 = 2
    Q8_0 = 8


# llama_ftype values for general.file_type ("mostly" the named type)
FILE_TYPE = {GGMLType.F32: 0, GGMLType.F16: 1, GGMLType.Q4_0: 2, GGMLType.Q8_0: 7}

_SCALAR_FORMAT = {
    ValueType.UINT8: '<B', ValueType.INT8: '<b', ValueType.UINT16: '<H', ValueType.INT16: '<h',
    ValueType.UINT32: '<I', ValueType.INT32: '<i', ValueType.FLOAT32: '<f', ValueType.BOOL: '<?',
    ValueType.UINT64: '<Q', ValueType.INT64: '<q', ValueType.FLOAT64: '<d',
}

Q8_0_BLOCK = np.dtype([('d', '<f2'), ('qs', 'i1', (QK,))])
Q4_0_BLOCK = np.dtype([('d', '<f2'), ('qs', 'u1', (QK // 2,))])
assert Q8_0_BLOCK.itemsize == 34 and Q4_0_BLOCK.itemsize == 18


def _round_half_away(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.floor(np.abs(x) + np.float32(0.5))


def quantize_q8_0(x: np.ndarray) -> np.ndarray:
    """[..., K] float -> Q8_0 blocks, row-major, K % 32 == 0."""
    blocks = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, QK)
    amax = np.abs(blocks).max(axis=1)
    d = amax / np.float32(127)
    with np.errstate(divide='ignore'):
        inv = np.where(d > 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    out = np.empty(blocks.shape[0], dtype=Q8_0_BLOCK)
    out['d'] = d.astype(np.float16)
    out['qs'] = _round_half_away(blocks * inv[:, None]).astype(np.int8)
    return out


def dequantize_q8_0(blocks: np.ndarray) -> np.ndarray:
    return (blocks['d'].astype(np.float32)[:, None] * blocks['qs'].astype(np.float32)).reshape(-1)


def quantize_q4_0(x: np.ndarray) -> np.ndarray:
    """[..., K] float -> Q4_0 blocks, row-major, K % 32 == 0."""
    blocks = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, QK)
    # the signed value of largest magnitude (first one on ties) becomes code 0, i.e. -8 * d
    idx = np.abs(blocks).argmax(axis=1)
    vmax = blocks[np.arange(blocks.shape[0]), idx]
    d = vmax / np.float32(-8)
    with np.errstate(divide='ignore'):
        inv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    scaled = blocks * inv[:, None] + np.float32(8.5)
    # C's (int8_t) cast truncates toward zero; scaled is >= 0.5 here so floor is the same
    codes = np.minimum(np.float32(15), np.trunc(scaled)).astype(np.uint8)
    out = np.empty(blocks.shape[0], dtype=Q4_0_BLOCK)
    out['d'] = d.astype(np.float16)
    out['qs'] = codes[:, :QK // 2] | (codes[:, QK // 2:] << 4)
    return out


def dequantize_q4_0(blocks: np.ndarray) -> np.ndarray:
    lo = (blocks['qs'] & 0x0F).astype(np.int8) - 8
    hi = (blocks['qs'] >> 4).astype(np.int8) - 8
    codes = np.concatenate([lo, hi], axis=1).astype(np.float32)
    return (blocks['d'].astype(np.float32)[:, None] * codes).reshape(-1)


def _pad(n: int, alignment: int) -> int:
    return (alignment - n % alignment) % alignment


class GGUFWriter:
    """Collects metadata and tensors, then writes one GGUF v3 file with `write(path)`."""

    def __init__(self, alignment: int = DEFAULT_ALIGNMENT) -> None:
        self.alignment = alignment
        self.metadata: list[tuple[str, ValueType, Any, ValueType | None]] = []
        self.tensors: list[tuple[str, tuple[int, ...], GGMLType, bytes]] = []
        if alignment != DEFAULT_ALIGNMENT:
            self.add('general.alignment', ValueType.UINT32, alignment)

    def add(self, key: str, vtype: ValueType, value: Any) -> None:
        if any(k == key for k, *_ in self.metadata):
            raise ValueError(f'duplicate metadata key {key}')
        if vtype == ValueType.ARRAY:
            raise ValueError('use add_array for arrays')
        self.metadata.append((key, vtype, value, None))

    def add_array(self, key: str, elem_type: ValueType, values: list | np.ndarray) -> None:
        if any(k == key for k, *_ in self.metadata):
            raise ValueError(f'duplicate metadata key {key}')
        self.metadata.append((key, ValueType.ARRAY, values, elem_type))

    def add_tensor(self, name: str, array: np.ndarray, ggml_type: GGMLType) -> None:
        """`array` is in numpy (PyTorch) order; it is stored with ne = reversed(shape)."""
        if len(name.encode()) >= 64:
            raise ValueError(f'tensor name too long for ggml: {name}')
        shape = tuple(int(s) for s in array.shape)
        if ggml_type == GGMLType.F32:
            data = np.ascontiguousarray(array, dtype='<f4').tobytes()
        elif ggml_type == GGMLType.F16:
            data = np.ascontiguousarray(array, dtype='<f2').tobytes()
        elif ggml_type in (GGMLType.Q8_0, GGMLType.Q4_0):
            if shape[-1] % QK:
                raise ValueError(f'{name}: last dimension {shape[-1]} is not a multiple of {QK}')
            q = quantize_q8_0(array) if ggml_type == GGMLType.Q8_0 else quantize_q4_0(array)
            data = q.tobytes()
        else:
            raise ValueError(f'unsupported ggml type {ggml_type}')
        self.tensors.append((name, shape, ggml_type, data))

    @staticmethod
    def _string(s: str) -> bytes:
        b = s.encode('utf-8')
        return struct.pack('<Q', len(b)) + b

    def _value(self, vtype: ValueType, value: Any) -> bytes:
        if vtype == ValueType.STRING:
            return self._string(value)
        return struct.pack(_SCALAR_FORMAT[vtype], value)

    def _array(self, elem_type: ValueType, values: list | np.ndarray) -> bytes:
        head = struct.pack('<IQ', int(elem_type), len(values))
        if elem_type == ValueType.STRING:
            return head + b''.join(self._string(v) for v in values)
        if elem_type == ValueType.ARRAY:
            raise ValueError('nested arrays are not needed here')
        fmt = _SCALAR_FORMAT[elem_type]
        return head + np.asarray(values, dtype=np.dtype(fmt)).tobytes()

    def write(self, path: str | Path) -> int:
        with open(path, 'wb') as f:
            return self._write(f)

    def _write(self, f: BinaryIO) -> int:
        out = bytearray()
        out += GGUF_MAGIC + struct.pack('<IQQ', GGUF_VERSION, len(self.tensors), len(self.metadata))
        for key, vtype, value, elem_type in self.metadata:
            out += self._string(key) + struct.pack('<I', int(vtype))
            out += self._array(elem_type, value) if vtype == ValueType.ARRAY else self._value(vtype, value)
        offset = 0
        offsets = []
        for name, shape, ggml_type, data in self.tensors:
            offsets.append(offset)
            offset += len(data) + _pad(len(data), self.alignment)
        for (name, shape, ggml_type, data), off in zip(self.tensors, offsets):
            ne = tuple(reversed(shape))
            out += self._string(name) + struct.pack('<I', len(ne)) + struct.pack(f'<{len(ne)}Q', *ne)
            out += struct.pack('<IQ', int(ggml_type), off)
        out += b'\x00' * _pad(len(out), self.alignment)
        f.write(out)
        total = len(out)
        for name, shape, ggml_type, data in self.tensors:
            f.write(data)
            pad = _pad(len(data), self.alignment)
            f.write(b'\x00' * pad)
            total += len(data) + pad
        return total
