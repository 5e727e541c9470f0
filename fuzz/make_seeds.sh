#!/usr/bin/env bash
# Regenerates the checkpoint fuzzer's seeds (fuzz/corpus/checkpoint) with the debug libmetatl:
# two tiny MetaTL checkpoints and, derived from the first, a reference state_dict (what
# `safetensors.torch.save_file(model.state_dict(), path)` writes: no metadata, no optimizer or
# vocabulary tensors). The data-file and serving seeds are hand-written and committed as is.
set -euo pipefail
cd "$(dirname "$0")/.."
lib=.build/debug
out=fuzz/corpus/checkpoint
mkdir -p "$out" "$lib"
${CC:-cc} -std=c11 -Wall -Wextra -Werror -Iinclude fuzz/make_checkpoint_seeds.c -L"$lib" -lmetatl \
    -Wl,-rpath,"$PWD/$lib" -o "$lib/make-checkpoint-seeds"
"$lib/make-checkpoint-seeds" "$out"
python3 - "$out/metatl_k3.safetensors" "$out/reference_state_dict.safetensors" <<'PY'
import json, struct, sys
src, dst = sys.argv[1:]
blob = open(src, "rb").read()
n = struct.unpack("<Q", blob[:8])[0]
header = json.loads(blob[8:8 + n])
data = blob[8 + n:]
keep = sorted((k for k in header if k != "__metadata__" and not k.startswith(("optimizer.", "vocabulary."))),
              key=lambda k: header[k]["data_offsets"][0])
out_header, chunks, offset = {}, [], 0
for k in keep:
    b, e = header[k]["data_offsets"]
    chunks.append(data[b:e])
    out_header[k] = {"dtype": header[k]["dtype"], "shape": header[k]["shape"], "data_offsets": [offset, offset + e - b]}
    offset += e - b
text = json.dumps(out_header, separators=(",", ":")).encode()
text += b" " * (-len(text) % 8)
open(dst, "wb").write(struct.pack("<Q", len(text)) + text + b"".join(chunks))
PY
ls -l "$out"
