"""A MessagePack encoder for document and log bodies (maps with field
names, as the host reads them). Decimals are written as their exact text.
Only what a body holds: None, bools, ints, floats, text, bytes, lists,
tuples and dicts with text keys, and Decimals."""

import decimal
import struct


def encode(value) -> bytes:
    """The MessagePack bytes of `value`.

    Raises `TypeError` for a value a body cannot hold."""
    out = bytearray()
    _write(value, out)
    return bytes(out)


def _write(v, out: bytearray) -> None:
    if v is None:
        out.append(0xC0)
    elif v is True:
        out.append(0xC3)
    elif v is False:
        out.append(0xC2)
    elif isinstance(v, int):
        _int(v, out)
    elif isinstance(v, float):
        out.append(0xCB)
        out += struct.pack(">d", v)
    elif isinstance(v, decimal.Decimal):
        _str(str(v), out)
    elif isinstance(v, str):
        _str(v, out)
    elif isinstance(v, (bytes, bytearray)):
        n = len(v)
        if n < 0x100:
            out += bytes([0xC4, n])
        elif n < 0x10000:
            out.append(0xC5)
            out += struct.pack(">H", n)
        else:
            out.append(0xC6)
            out += struct.pack(">I", n)
        out += v
    elif isinstance(v, (list, tuple)):
        _header(len(v), 0x90, 0xDC, 0xDD, out)
        for item in v:
            _write(item, out)
    elif isinstance(v, dict):
        _header(len(v), 0x80, 0xDE, 0xDF, out)
        for key, item in v.items():
            if not isinstance(key, str):
                raise TypeError(f"a body's map keys are text, not {type(key).__name__}")
            _str(key, out)
            _write(item, out)
    else:
        raise TypeError(f"a body cannot hold {type(v).__name__}")


def _header(n: int, fix: int, b16: int, b32: int, out: bytearray) -> None:
    if n < 16:
        out.append(fix | n)
    elif n < 0x10000:
        out.append(b16)
        out += struct.pack(">H", n)
    else:
        out.append(b32)
        out += struct.pack(">I", n)


def _str(s: str, out: bytearray) -> None:
    data = s.encode("utf-8")
    n = len(data)
    if n < 32:
        out.append(0xA0 | n)
    elif n < 0x100:
        out += bytes([0xD9, n])
    elif n < 0x10000:
        out.append(0xDA)
        out += struct.pack(">H", n)
    else:
        out.append(0xDB)
        out += struct.pack(">I", n)
    out += data


def _int(n: int, out: bytearray) -> None:
    if 0 <= n < 0x80:
        out.append(n)
    elif -32 <= n < 0:
        out += struct.pack(">b", n)
    elif 0 <= n < 2**64:
        out.append(0xCF)
        out += struct.pack(">Q", n)
    elif -(2**63) <= n < 0:
        out.append(0xD3)
        out += struct.pack(">q", n)
    else:
        raise TypeError(f"{n} does not fit 64 bits")


def decode(data: bytes):
    """The value of MessagePack `data` (for tests: what a body holds).

    Raises `ValueError` for bytes that are not one whole value."""
    value, at = _read(data, 0)
    if at != len(data):
        raise ValueError(f"{len(data) - at} bytes after the value")
    return value


def _read(b: bytes, i: int):
    if i >= len(b):
        raise ValueError("the value ends early")
    t = b[i]
    i += 1
    if t < 0x80:
        return t, i
    if t >= 0xE0:
        return t - 0x100, i
    if 0x80 <= t <= 0x8F:
        return _map(b, i, t & 0x0F)
    if 0x90 <= t <= 0x9F:
        return _array(b, i, t & 0x0F)
    if 0xA0 <= t <= 0xBF:
        n = t & 0x1F
        return b[i:i + n].decode("utf-8"), i + n
    fixed = {
        0xC0: (None, 0), 0xC2: (False, 0), 0xC3: (True, 0),
    }
    if t in fixed:
        return fixed[t][0], i
    sizes = {
        0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q",
        0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q",
        0xCA: ">f", 0xCB: ">d",
    }
    if t in sizes:
        fmt = sizes[t]
        n = struct.calcsize(fmt)
        return struct.unpack(fmt, b[i:i + n])[0], i + n
    lengths = {0xD9: ">B", 0xDA: ">H", 0xDB: ">I", 0xC4: ">B", 0xC5: ">H", 0xC6: ">I",
               0xDC: ">H", 0xDD: ">I", 0xDE: ">H", 0xDF: ">I"}
    if t in lengths:
        fmt = lengths[t]
        size = struct.calcsize(fmt)
        (n,) = struct.unpack(fmt, b[i:i + size])
        i += size
        if t in (0xD9, 0xDA, 0xDB):
            return b[i:i + n].decode("utf-8"), i + n
        if t in (0xC4, 0xC5, 0xC6):
            return bytes(b[i:i + n]), i + n
        if t in (0xDC, 0xDD):
            return _array(b, i, n)
        return _map(b, i, n)
    raise ValueError(f"MessagePack type 0x{t:02x} is not read here")


def _array(b: bytes, i: int, n: int):
    out = []
    for _ in range(n):
        v, i = _read(b, i)
        out.append(v)
    return out, i


def _map(b: bytes, i: int, n: int):
    out = {}
    for _ in range(n):
        k, i = _read(b, i)
        v, i = _read(b, i)
        out[k] = v
    return out, i
