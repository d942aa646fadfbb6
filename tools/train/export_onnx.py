"""Exports tiny-llama to ONNX as a KV-cache decoder, for comparisons with onnxruntime-web:
models/tiny-llama-onnx/model.onnx.

  python tools/train/export_onnx.py

Graph (opset 18, batch 1 … 64):
  inputs   input_ids                  int64   [batch, sequence]
           past_key_values.{i}.key    float32 [batch, 2, past_sequence, 32]   i = 0 … 5
           past_key_values.{i}.value  float32 [batch, 2, past_sequence, 32]
  outputs  logits                     float32 [batch, sequence, vocab]
           present.{i}.key / value    float32 [batch, 2, past_sequence + sequence, 32]
Positions are past_sequence … past_sequence + sequence − 1 and attention is causal over the cache plus the
new tokens (no attention mask input: batches are unpadded). past_sequence may be 0, so the first call
(the whole prompt, empty past) gives the logits of every prompt position, as the earlier cache-less export
did; this file replaces it. Each later call feeds the new token(s) and the previous call's present.* as
past_key_values.*: the usual decoder-with-past layout (same input/output names as Hugging Face optimum
exports, without attention_mask / position_ids).

Weights are stored as float16 initializers, each widened by a Cast node to float32 at the start of the
graph: the model's own weights are float16 (model.safetensors), so this is exact and halves the file;
all arithmetic is float32. Before the file is kept, onnxruntime (CPU) is checked against transformers
(PyTorch, float32, eager attention) on the reference prompts: full-prompt logits, then the same prompts
fed as a prefill of the first tokens followed by one-token steps through the cache, and 64 greedy tokens;
every logit within 1e-3 and every greedy token equal. Provenance goes into the model's metadata_props.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import transformers
from onnx import TensorProto, helper, numpy_helper
from transformers import AutoModelForCausalLM, DynamicCache

ROOT = Path(__file__).resolve().parents[2]
TOL = 1e-3


class DecoderWithPast(torch.nn.Module):
    """Flat tensors in and out around the Hugging Face model and its DynamicCache."""

    def __init__(self, model) -> None:
        super().__init__()
        self.model = model
        self.layers = model.config.num_hidden_layers

    def forward(self, input_ids: torch.Tensor, *past: torch.Tensor):
        cache = DynamicCache(config=self.model.config)
        for i in range(self.layers):
            cache.update(past[2 * i], past[2 * i + 1], i)
        out = self.model(input_ids=input_ids, past_key_values=cache, use_cache=True)
        present = []
        for i in range(self.layers):
            layer = out.past_key_values.layers[i]
            present += [layer.keys, layer.values]
        return (out.logits, *present)


def weights_to_f16(model: onnx.ModelProto) -> onnx.ModelProto:
    g = model.graph
    casts = []
    kept = []
    for init in g.initializer:
        if init.data_type == TensorProto.FLOAT and int(np.prod(init.dims)) >= 64:
            arr = numpy_helper.to_array(init)
            half = arr.astype(np.float16)
            if not np.array_equal(half.astype(np.float32), arr):
                raise ValueError(f'{init.name} is not exactly representable in float16')
            new = numpy_helper.from_array(half, init.name + '_f16')
            kept.append(new)
            casts.append(helper.make_node('Cast', [new.name], [init.name], to=TensorProto.FLOAT,
                                          name=init.name + '_cast'))
        else:
            kept.append(init)
    del g.initializer[:]
    g.initializer.extend(kept)
    nodes = list(g.node)
    del g.node[:]
    g.node.extend(casts + nodes)
    return model


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class OrtDecoder:
    def __init__(self, path: Path, layers: int, kv_heads: int, head_dim: int) -> None:
        self.sess = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
        self.layers, self.kv_heads, self.head_dim = layers, kv_heads, head_dim
        self.names = [f'past_key_values.{i}.{kv}' for i in range(layers) for kv in ('key', 'value')]
        self.outs = ['logits'] + [f'present.{i}.{kv}' for i in range(layers) for kv in ('key', 'value')]

    def empty(self, batch: int = 1) -> list[np.ndarray]:
        return [np.zeros((batch, self.kv_heads, 0, self.head_dim), np.float32) for _ in self.names]

    def step(self, ids: np.ndarray, past: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        res = self.sess.run(self.outs, {'input_ids': ids.astype(np.int64), **dict(zip(self.names, past))})
        return res[0], res[1:]


def main() -> None:
    folder = ROOT / 'models/tiny-llama'
    out_dir = folder.parent / 'tiny-llama-onnx'
    out_dir.mkdir(exist_ok=True)
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32, attn_implementation='eager').eval()
    cfg = model.config
    layers, kv_heads = cfg.num_hidden_layers, cfg.num_key_value_heads
    head_dim = cfg.hidden_size // cfg.num_attention_heads
    wrapper = DecoderWithPast(model).eval()

    # Example sizes ≥ 2 everywhere so that torch.export specialises no dimension to 0 or 1.
    example_ids = torch.tensor([[400, 273, 1001], [322, 430, 421]])
    example_past = [torch.randn(2, kv_heads, 5, head_dim) for _ in range(2 * layers)]
    batch = torch.export.Dim('batch', min=1, max=64)
    seq = torch.export.Dim('sequence', min=1, max=cfg.max_position_embeddings)
    past_seq = torch.export.Dim('past_sequence', min=0, max=cfg.max_position_embeddings)
    past_names = [f'past_key_values.{i}.{kv}' for i in range(layers) for kv in ('key', 'value')]
    present_names = [f'present.{i}.{kv}' for i in range(layers) for kv in ('key', 'value')]
    tmp = out_dir / 'model.f32.onnx'
    torch.onnx.export(
        wrapper, (example_ids, *example_past), str(tmp),
        input_names=['input_ids', *past_names], output_names=['logits', *present_names],
        dynamic_shapes=({0: batch, 1: seq}, tuple({0: batch, 2: past_seq} for _ in past_names)),
        opset_version=18, dynamo=True, external_data=False)
    m = onnx.load(str(tmp))
    m = weights_to_f16(m)
    versions = {'torch': torch.__version__, 'transformers': transformers.__version__, 'onnx': onnx.__version__,
                'onnxruntime': ort.__version__}
    props = {
        'source': 'models/tiny-llama/model.safetensors',
        'source_sha256': sha256(folder / 'model.safetensors'),
        'exporter': 'tools/train/export_onnx.py (torch.onnx.export dynamo=True, opset 18; float16 initializers + Cast)',
        'versions': json.dumps(versions),
        'layout': 'decoder with past: input_ids, past_key_values.{i}.key/value -> logits, present.{i}.key/value',
    }
    for k, v in props.items():
        m.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
    onnx.checker.check_model(m)
    path = out_dir / 'model.onnx'
    onnx.save(m, str(path))
    for extra in out_dir.glob('*.data'):
        extra.unlink()

    ref = json.loads((ROOT / 'test/fixtures/models/tiny-llama/reference.json').read_text())
    dec = OrtDecoder(path, layers, kv_heads, head_dim)
    worst = {'full prompt vs torch': 0.0, 'full prompt vs fixtures': 0.0, 'prefill + cached steps vs torch': 0.0,
             'batch 2 vs torch': 0.0}
    for p in ref['prompts']:
        ids = np.array([p['input_ids']], dtype=np.int64)
        with torch.no_grad():
            want = model(input_ids=torch.from_numpy(ids), use_cache=False).logits[0].numpy()
        # 1) whole prompt, empty cache
        logits, present = dec.step(ids, dec.empty())
        logits = logits[0]
        worst['full prompt vs torch'] = max(worst['full prompt vs torch'], float(np.abs(logits - want).max()))
        worst['full prompt vs fixtures'] = max(
            worst['full prompt vs fixtures'],
            float(np.abs(logits[-1] - np.array(p['last_logits'], np.float32)).max()),
            float(np.abs(logits[:, :16] - np.array(p['logits_first16'], np.float32)).max()))
        assert logits.argmax(-1).tolist() == p['argmax'], p['name']
        assert all(t.shape == (1, kv_heads, ids.shape[1], head_dim) for t in present)
        # 2) prefill of the first tokens, then one token a step through the cache
        split = max(1, ids.shape[1] // 2)
        got, past = dec.step(ids[:, :split], dec.empty())
        rows = [got[0]]
        for t in range(split, ids.shape[1]):
            got, past = dec.step(ids[:, t:t + 1], past)
            rows.append(got[0])
        stepped = np.concatenate(rows, 0)
        worst['prefill + cached steps vs torch'] = max(worst['prefill + cached steps vs torch'], float(np.abs(stepped - want).max()))
        # 3) greedy decode through the cache equals the reference (EOS not a stop)
        logits, past = dec.step(ids, dec.empty())
        tokens = []
        for _ in range(len(p['greedy']['tokens'])):
            nxt = int(logits[0, -1].argmax())
            tokens.append(nxt)
            logits, past = dec.step(np.array([[nxt]], np.int64), past)
        assert tokens == p['greedy']['tokens'], f"{p['name']}: greedy tokens differ from the reference"
    # 4) batch of two, prefill then a cached step
    pair = np.array([ref['prompts'][0]['input_ids'][:3], ref['prompts'][1]['input_ids'][:3]], np.int64)
    with torch.no_grad():
        want = model(input_ids=torch.from_numpy(pair), use_cache=False).logits.numpy()
    a, past = dec.step(pair[:, :2], dec.empty(2))
    b, _ = dec.step(pair[:, 2:], past)
    worst['batch 2 vs torch'] = float(np.abs(np.concatenate([a, b], 1) - want).max())

    for k, v in worst.items():
        print(f'  max |logit diff| {k}: {v:.2e}')
    print(f'{path}: {path.stat().st_size} bytes, sha256 {sha256(path)}; greedy 64 tokens equal the reference for '
          f'{len(ref["prompts"])} prompts; {versions}')
    assert max(worst.values()) < TOL, worst

    quantized_variants(tmp, out_dir, props, ref, layers, kv_heads, head_dim)
    tmp.unlink()


def quantized_variants(f32_path: Path, out_dir: Path, props: dict, ref: dict, layers: int, kv_heads: int, head_dim: int) -> None:
    """model_q4.onnx (MatMulNBits, 4-bit, blocks of 32, symmetric: onnxruntime's own 4-bit weight format)
    and model_q8.onnx (quantize_dynamic: int8 weights, MatMulInteger with activations quantized per call), both
    from the float32 graph after onnxruntime's basic optimisations, which fold the transpose of the tied
    embedding so that lm_head is quantized too (as in the GGUF files). Reported: max |logit diff| from the
    float model on the reference prompts and how many of the 64 greedy tokens match."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    basic = out_dir / 'model.basic.onnx'
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    so.optimized_model_filepath = str(basic)
    ort.InferenceSession(str(f32_path), so, providers=['CPUExecutionProvider'])
    q4 = out_dir / 'model_q4.onnx'
    quantizer = MatMulNBitsQuantizer(onnx.load(str(basic)), block_size=32, is_symmetric=True)
    quantizer.process()
    quantizer.model.save_model_to_file(str(q4), False)
    q8 = out_dir / 'model_q8.onnx'
    quantize_dynamic(str(basic), str(q8), weight_type=QuantType.QInt8)
    basic.unlink()
    notes = {q4: 'MatMulNBits 4-bit, block 32, symmetric (onnxruntime.quantization.matmul_nbits_quantizer)',
             q8: 'quantize_dynamic, int8 weights (QInt8), MatMulInteger'}
    for path, how in notes.items():
        m = onnx.load(str(path))
        for k, v in {**props, 'quantization': how, 'quantized_from': 'model.onnx (float32 graph, onnxruntime basic optimisations)'}.items():
            m.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
        onnx.save(m, str(path))
        dec = OrtDecoder(path, layers, kv_heads, head_dim)
        worst = 0.0
        same = []
        for p in ref['prompts']:
            ids = np.array([p['input_ids']], dtype=np.int64)
            logits, past = dec.step(ids, dec.empty())
            worst = max(worst, float(np.abs(logits[0, -1] - np.array(p['last_logits'], np.float32)).max()))
            tokens = []
            for _ in range(len(p['greedy']['tokens'])):
                nxt = int(logits[0, -1].argmax())
                tokens.append(nxt)
                logits, past = dec.step(np.array([[nxt]], np.int64), past)
            want = p['greedy']['tokens']
            same.append(next((i for i, (a, b) in enumerate(zip(tokens, want)) if a != b), len(want)))
        print(f'{path}: {path.stat().st_size} bytes ({how}); max |last logit diff| vs float {worst:.3f}; '
              f'leading greedy tokens equal to the float model: {same} of 64')
        assert worst < 2.0, f'{path.name} is too far from the float model'


if __name__ == '__main__':
    main()
