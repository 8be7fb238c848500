#!/usr/bin/env python3
"""Copy a Hugging Face LLaMA directory with its F32 safetensors tensors converted to F16.

Used to give `sqz bench` an fp16 baseline for a model written by `sqz train` (which stores fp32), e.g. the
LLaMA-7B-shaped 2-layer model of docs/results.md section 4:

  sqz train --data CALIB.txt -o big --dim 4096 --layers 2 --heads 32 --hidden 11008 --vocab 1024 --ctx 16 --batch 1 --steps 1
  python3 bench/to_fp16.py big big-f16
"""
import json
import os
import shutil
import struct
import sys
from array import array


def main(src, dst):
    tmp = dst + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    for name in os.listdir(src):
        if not name.endswith(".safetensors"):
            shutil.copy(os.path.join(src, name), tmp)
    for name in os.listdir(src):
        if not name.endswith(".safetensors"):
            continue
        with open(os.path.join(src, name), "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            header = json.loads(f.read(n))
            base = 8 + n
            meta = header.pop("__metadata__", None)
            out_header, chunks, off = {}, [], 0
            for key, t in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
                b, e = t["data_offsets"]
                f.seek(base + b)
                raw = f.read(e - b)
                dtype = t["dtype"]
                if dtype == "F32":
                    vals = array("f")
                    vals.frombytes(raw)
                    step = 1 << 20
                    raw = b"".join(struct.pack("<%de" % len(vals[i:i + step]), *vals[i:i + step])
                                   for i in range(0, len(vals), step))
                    dtype = "F16"
                out_header[key] = {"dtype": dtype, "shape": t["shape"], "data_offsets": [off, off + len(raw)]}
                chunks.append(raw)
                off += len(raw)
        if meta is not None:
            out_header["__metadata__"] = meta
        h = json.dumps(out_header).encode()
        h += b" " * ((8 - len(h) % 8) % 8)
        with open(os.path.join(tmp, name), "wb") as f:
            f.write(struct.pack("<Q", len(h)))
            f.write(h)
            for c in chunks:
                f.write(c)
    cfg = os.path.join(tmp, "config.json")
    with open(cfg) as f:
        c = json.load(f)
    c["torch_dtype"] = "float16"
    with open(cfg, "w") as f:
        json.dump(c, f, indent=2)
    shutil.rmtree(dst, ignore_errors=True)
    os.rename(tmp, dst)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: to_fp16.py SRC_DIR DST_DIR")
    main(sys.argv[1], sys.argv[2])
