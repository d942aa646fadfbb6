"""Exports tiny-llama to ONNX for comparisons with onnxruntime-web: models/tiny-llama-onnx/model.onnx.

  python tools/train/export_onnx.py

Graph: input_ids int64 [batch, sequence] -> logits float32 [batch, sequence, vocab]; no KV cache, no
attention mask (every position attends causally to all earlier ones), opset 18.
Weights are stored as float16 initializers, each widened by a Cast node to float32 at the start of the
graph: the model's own weights are float16 (model.safetensors), so this is exact and halves the file,
and all arithmetic stays float32. The export is checked with onnxruntime (CPU) against transformers on
the reference prompts before the file is kept.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper
from transformers import AutoModelForCausalLM

ROOT = Path(__file__).resolve().parents[2]


class LogitsOnly(torch.nn.Module):
    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, use_cache=False).logits


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


def main() -> None:
    folder = ROOT / 'models/tiny-llama'
    out_dir = folder.parent / 'tiny-llama-onnx'
    out_dir.mkdir(exist_ok=True)
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32, attn_implementation='eager').eval()
    wrapper = LogitsOnly(model).eval()
    # batch 2 and length 5 so that neither dimension is specialised to 1 by torch.export
    example = torch.tensor([[1, 400, 273, 1001, 18], [1, 322, 430, 421, 16]])
    tmp = out_dir / 'model.f32.onnx'
    seq = torch.export.Dim('sequence', min=1, max=512)
    batch = torch.export.Dim('batch', min=1, max=64)
    torch.onnx.export(wrapper, (example,), str(tmp), input_names=['input_ids'], output_names=['logits'],
                      dynamic_shapes={'input_ids': {0: batch, 1: seq}}, opset_version=18, dynamo=True,
                      external_data=False)
    m = onnx.load(str(tmp))
    m = weights_to_f16(m)
    onnx.checker.check_model(m)
    path = out_dir / 'model.onnx'
    onnx.save(m, str(path))
    tmp.unlink()
    for extra in out_dir.glob('*.data'):
        extra.unlink()

    ref = json.loads((ROOT / 'test/fixtures/models/tiny-llama/reference.json').read_text())
    sess = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    worst = 0.0
    for p in ref['prompts']:
        ids = np.array([p['input_ids']], dtype=np.int64)
        logits = sess.run(['logits'], {'input_ids': ids})[0][0]
        worst = max(worst, float(np.abs(logits[-1] - np.array(p['last_logits'], dtype=np.float32)).max()),
                    float(np.abs(logits[:, :16] - np.array(p['logits_first16'], dtype=np.float32)).max()))
        assert logits.argmax(-1).tolist() == p['argmax'], p['name']
    with torch.no_grad():
        pair = torch.tensor([ref['prompts'][0]['input_ids'][:3], ref['prompts'][1]['input_ids'][:3]])
        want = wrapper(pair).numpy()
    got = sess.run(['logits'], {'input_ids': pair.numpy()})[0]
    worst = max(worst, float(np.abs(got - want).max()))
    print(f'{path}: {path.stat().st_size} bytes; onnxruntime vs reference fixtures max |logit diff| {worst:.2e}')
    assert worst < 1e-3


if __name__ == '__main__':
    main()
