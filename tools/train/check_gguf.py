"""Checks the GGUF files against an independent reader: the `gguf` Python package from llama.cpp.

  python tools/train/check_gguf.py [--model models/tiny-llama]

Needs numpy, safetensors and gguf (a wheel of gguf 0.19 is on the developer machine; it is not needed
to write the files). Checks, for each file:
  * the package's GGUFReader parses it: version 3, metadata values, tensor names, shapes and types;
  * our Q8_0 / Q4_0 blocks are byte-identical to gguf.quants.quantize on the same float32 input
    (the package's numpy port of ggml's reference quantizers);
  * dequantized with gguf.quants.dequantize and un-permuted, every weight is within half a
    quantization step (a whole one for the clamped end of Q4_0) of the safetensors weight.
Exits non-zero on the first mismatch.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader
from gguf.quants import dequantize, quantize
from safetensors.numpy import load_file

sys.path.insert(0, str(Path(__file__).parent))
from export_gguf import permute_rope, unpermute_rope  # noqa: E402
from gguf_writer import dequantize_q4_0, dequantize_q8_0, quantize_q4_0, quantize_q8_0  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

HF_NAME = {
    'attn_norm': 'input_layernorm', 'attn_q': 'self_attn.q_proj', 'attn_k': 'self_attn.k_proj',
    'attn_v': 'self_attn.v_proj', 'attn_output': 'self_attn.o_proj', 'ffn_norm': 'post_attention_layernorm',
    'ffn_gate': 'mlp.gate_proj', 'ffn_up': 'mlp.up_proj', 'ffn_down': 'mlp.down_proj',
}


def hf_name(name: str) -> str:
    if name == 'token_embd.weight':
        return 'model.embed_tokens.weight'
    if name == 'output_norm.weight':
        return 'model.norm.weight'
    _, layer, kind, _ = name.split('.')
    return f'model.layers.{layer}.{HF_NAME[kind]}.weight'


def field_value(reader: GGUFReader, key: str):
    return reader.fields[key].contents()


def check_quantizers() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 256)).astype(np.float32)
    x[0, :32] = 0.0  # an all-zero block
    x[1, :32] = 3.0  # all equal
    x[2, 5] = -7.5  # negative extreme
    for ours, deq, qt in ((quantize_q8_0, dequantize_q8_0, GGMLQuantizationType.Q8_0),
                          (quantize_q4_0, dequantize_q4_0, GGMLQuantizationType.Q4_0)):
        mine = ours(x).tobytes()
        ref = quantize(x, qt).tobytes()
        assert mine == ref, f'{qt.name}: quantized bytes differ from gguf.quants'
        back = deq(np.frombuffer(mine, dtype=ours(x[:1]).dtype)).reshape(x.shape)
        assert np.array_equal(back, dequantize(np.frombuffer(ref, dtype=np.uint8).reshape(64, -1), qt)), qt.name
    print('quantizers: byte-identical to gguf.quants for Q8_0 and Q4_0; dequantizers agree')


def check_file(path: Path, folder: Path, embd_type: GGMLQuantizationType, weight_type: GGMLQuantizationType) -> None:
    cfg = json.loads((folder / 'config.json').read_text())
    tok = json.loads((folder / 'tokenizer.json').read_text())
    sd = {k: v.astype(np.float32) for k, v in load_file(str(folder / 'model.safetensors')).items()}
    r = GGUFReader(str(path))
    assert field_value(r, 'GGUF.version') == 3
    assert field_value(r, 'general.architecture') == 'llama'
    assert field_value(r, 'llama.block_count') == cfg['num_hidden_layers']
    assert field_value(r, 'llama.attention.head_count_kv') == cfg['num_key_value_heads']
    assert abs(field_value(r, 'llama.rope.freq_base') - 10000.0) < 1e-3
    tokens = field_value(r, 'tokenizer.ggml.tokens')
    assert len(tokens) == cfg['vocab_size']
    assert tokens[1] == '<s>' and tokens[4] == '<|im_end|>'
    assert tokens[tok['model']['vocab']['Ġthe']] == 'Ġthe'
    merges = field_value(r, 'tokenizer.ggml.merges')
    first = tok['model']['merges'][0]
    assert merges[0] == (first if isinstance(first, str) else ' '.join(first))
    assert field_value(r, 'tokenizer.ggml.token_type')[:6] == [3, 3, 3, 3, 3, 1]
    expected = 2 + 9 * cfg['num_hidden_layers']
    assert len(r.tensors) == expected, (len(r.tensors), expected)
    worst = {}
    for t in r.tensors:
        ref = sd[hf_name(t.name)]
        assert tuple(int(n) for n in t.shape) == tuple(reversed(ref.shape)), t.name
        if ref.ndim == 1:
            assert t.tensor_type == GGMLQuantizationType.F32, t.name
            assert np.array_equal(np.asarray(t.data).reshape(ref.shape), ref), t.name
            continue
        want = embd_type if t.name == 'token_embd.weight' else weight_type
        assert t.tensor_type == want, (t.name, t.tensor_type, want)
        deq = dequantize(np.asarray(t.data), t.tensor_type).reshape(ref.shape)
        kind = t.name.split('.')[-2]
        src = ref
        if kind == 'attn_q':
            deq = unpermute_rope(deq, cfg['num_attention_heads'])
        elif kind == 'attn_k':
            deq = unpermute_rope(deq, cfg['num_key_value_heads'])
        # the bytes must be exactly ggml's quantization of the (permuted) float weight
        permuted = ref
        if kind == 'attn_q':
            permuted = permute_rope(ref, cfg['num_attention_heads'])
        elif kind == 'attn_k':
            permuted = permute_rope(ref, cfg['num_key_value_heads'])
        assert np.asarray(t.data).tobytes() == quantize(permuted, t.tensor_type).tobytes(), t.name
        blocks = src.reshape(-1, 32)
        amax = np.abs(blocks).max(axis=1, keepdims=True)
        step = amax / (127 if t.tensor_type == GGMLQuantizationType.Q8_0 else 8)
        err = np.abs(deq - src).reshape(-1, 32)
        # Q8_0: half a step; Q4_0: a whole step, since +|max| maps to code 16 and is clamped to 15;
        # plus the f16 rounding of the scale (relative 2^-11 of up to 127 or 8 steps)
        half = 0.5 if t.tensor_type == GGMLQuantizationType.Q8_0 else 1.0
        bound = step * (half + 128 * 2.0 ** -11) + 1e-7
        assert (err <= bound).all(), (t.name, float((err - bound).max()))
        worst[t.tensor_type.name] = max(worst.get(t.tensor_type.name, 0.0), float(err.max()))
    print(f'{path.name}: {len(r.tensors)} tensors, {len(r.fields)} fields; max |dequant - weight| {worst}')


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default=str(ROOT / 'models/tiny-llama'))
    args = ap.parse_args()
    folder = Path(args.model)
    check_quantizers()
    # round trip of the rope permutation on a toy matrix
    w = np.arange(64 * 3, dtype=np.float32).reshape(64, 3)
    assert np.array_equal(unpermute_rope(permute_rope(w, 2), 2), w)
    assert np.array_equal(permute_rope(w, 2)[1], w[16])  # row 2i+1 of head 0 comes from row i + hd/2
    check_file(folder / 'tiny-llama-q8_0.gguf', folder, GGMLQuantizationType.Q8_0, GGMLQuantizationType.Q8_0)
    check_file(folder / 'tiny-llama-q4_0.gguf', folder, GGMLQuantizationType.Q8_0, GGMLQuantizationType.Q4_0)
    print('ok')


if __name__ == '__main__':
    main()
