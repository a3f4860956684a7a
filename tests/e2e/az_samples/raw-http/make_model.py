"""Write the sample's image, sample-data/image.png: a 16x8 RGB gradient (no model is needed)."""

import struct
import zlib
from pathlib import Path

WIDTH, HEIGHT = 16, 8


def chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data)
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


rows = b"".join(
    b"\x00" + bytes(v for x in range(WIDTH) for v in (x * 16, y * 32, 255 - x * 16))
    for y in range(HEIGHT)
)
png = (
    b"\x89PNG\r\n\x1a\n"
    + chunk(b"IHDR", struct.pack(">IIBBBBB", WIDTH, HEIGHT, 8, 2, 0, 0, 0))
    + chunk(b"IDAT", zlib.compress(rows))
    + chunk(b"IEND", b"")
)
Path("sample-data").mkdir(exist_ok=True)
Path("sample-data/image.png").write_bytes(png)
