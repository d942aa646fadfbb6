"""Makes the random-weight ViT test checkpoint and its PyTorch reference, on CPU, seeded:

  python tools/train/make_vision.py        (torch, transformers, safetensors, numpy, pillow)

  models/tiny-vit/                       ViTForImageClassification: 32×32 RGB input, 8×8 patches (16 patches + CLS),
                                         hidden 64, 2 layers, 4 heads, intermediate 128, GELU (erf), 10 labels;
                                         preprocessor_config.json: resize to 32×32 bilinear, 1/255, ImageNet mean/std.
  test/fixtures/images/vit-*.png         two synthetic RGB test images (seeded noise over gradients and a disc):
                                         48×40 (downscaled, so PIL's antialiasing matters) and 20×27 (upscaled).
  test/fixtures/models/tiny-vit/reference.json
      per image: its RGBA bytes (base64), pixel_values from transformers' PIL image processor (bilinear, as
      the checkpoint's preprocessor_config.json says) and, for the preprocessing test only, with bicubic
      resampling; logits of ViTForImageClassification (float32, eager attention) and the top-5 labels.

Weights use initializer_range 0.2 and random biases / LayerNorm affines (as make_random.py) so that a runtime
that drops a term misses the 1e-3 logit tolerance by far.
"""
from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import numpy as np
import PIL
import torch
import transformers
from PIL import Image
from transformers import ViTConfig, ViTForImageClassification
from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

ROOT = Path(__file__).resolve().parents[2]
SEED = 4242
LABELS = ['apple', 'bicycle', 'cloud', 'dolphin', 'envelope', 'feather', 'guitar', 'harbour', 'igloo', 'jellyfish']
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def f32list(t) -> list:
    a = np.asarray(t, dtype=np.float32)
    return [float(v) for v in a.reshape(-1)]


def randomize_affine(model: torch.nn.Module) -> None:
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim != 1:
                continue
            if name.endswith('bias'):
                p.normal_(0.0, 0.1)
            elif 'layernorm' in name.lower():
                p.copy_(1.0 + 0.1 * torch.randn_like(p))


def test_image(width: int, height: int, seed: int) -> np.ndarray:
    """RGB uint8 [H, W, 3]: colour gradients, a bright disc and noise, so resizing has edges to get right."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    r = 255 * x / max(width - 1, 1)
    g = 255 * y / max(height - 1, 1)
    b = 128 + 100 * np.sin(x / 3.0) * np.cos(y / 4.0)
    img = np.stack([r, g, b], -1)
    disc = (x - width * 0.6) ** 2 + (y - height * 0.4) ** 2 < (min(width, height) * 0.25) ** 2
    img[disc] = [250, 240, 30]
    img += rng.normal(0, 20, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@torch.no_grad()
def main() -> None:
    out = ROOT / 'models/tiny-vit'
    out.mkdir(parents=True, exist_ok=True)
    config = ViTConfig(image_size=32, patch_size=8, num_channels=3, hidden_size=64, num_hidden_layers=2,
                       num_attention_heads=4, intermediate_size=128, hidden_act='gelu', hidden_dropout_prob=0.0,
                       attention_probs_dropout_prob=0.0, layer_norm_eps=1e-12, qkv_bias=True, initializer_range=0.2,
                       id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)})
    torch.manual_seed(SEED)
    model = ViTForImageClassification(config).eval()
    randomize_affine(model)
    model.save_pretrained(str(out), safe_serialization=True)
    processor = ViTImageProcessorPil(size={'height': 32, 'width': 32}, resample=2, image_mean=MEAN, image_std=STD)
    processor.save_pretrained(str(out))
    bicubic = ViTImageProcessorPil(size={'height': 32, 'width': 32}, resample=3, image_mean=MEAN, image_std=STD)
    model = ViTForImageClassification.from_pretrained(str(out), dtype=torch.float32, attn_implementation='eager').eval()
    print(f'tiny-vit: {sum(p.numel() for p in model.parameters())} parameters')

    images_dir = ROOT / 'test/fixtures/images'
    images_dir.mkdir(parents=True, exist_ok=True)
    cases = []
    for name, (w, h, seed) in {'vit-down': (48, 40, 1), 'vit-up': (20, 27, 2)}.items():
        rgb = test_image(w, h, seed)
        png = images_dir / f'{name}.png'
        Image.fromarray(rgb, 'RGB').save(png, optimize=True)
        assert np.array_equal(np.asarray(Image.open(png).convert('RGB')), rgb)
        rgba = np.concatenate([rgb, np.full((h, w, 1), 255, np.uint8)], -1)
        pil = Image.fromarray(rgb, 'RGB')
        pv = processor(images=pil, return_tensors='pt')['pixel_values']
        pv_bicubic = bicubic(images=pil, return_tensors='pt')['pixel_values']
        logits = model(pixel_values=pv).logits[0]
        probs = torch.softmax(logits, -1)
        top = torch.topk(probs, 5)
        cases.append({
            'name': name, 'png': f'test/fixtures/images/{name}.png', 'width': w, 'height': h,
            'rgba_base64': base64.b64encode(rgba.tobytes()).decode(),
            'pixel_values': f32list(pv[0]), 'pixel_values_bicubic': f32list(pv_bicubic[0]),
            'logits': f32list(logits),
            'top5': [{'label': LABELS[int(i)], 'index': int(i), 'score': float(np.float32(s))} for s, i in zip(top.values, top.indices)],
        })
        print(f'  {name}: logits {np.round(logits.numpy(), 3).tolist()} top {cases[-1]["top5"][0]}')

    card = out / 'MODEL_CARD.md'
    card.write_text(f"""# tiny-vit — random-weight test checkpoint

Made by `tools/train/make_vision.py` (transformers {transformers.__version__}, torch {torch.__version__}, CPU,
`torch.manual_seed({SEED})`); not trained, so its labels mean nothing.

- `ViTForImageClassification`: 32×32 RGB input, 8×8 patches (16 + CLS = 17 tokens), hidden 64, 2 pre-LayerNorm
  layers, 4 heads, intermediate 128, GELU (erf), LayerNorm eps 1e-12, qkv bias, 10 made-up labels
  ({', '.join(LABELS)}); {sum(p.numel() for p in model.parameters())} parameters, float32.
- `initializer_range` 0.2 and random biases / LayerNorm weights.
- `preprocessor_config.json`: ViTImageProcessor, resize to 32×32 with PIL bilinear, rescale 1/255, ImageNet
  mean/std.
- Fixture: `test/fixtures/models/tiny-vit/reference.json` (pixel values and logits for the two images in
  `test/fixtures/images/`).
""")
    ref = {
        'model': 'models/tiny-vit',
        'meta': {'generator': 'tools/train/make_vision.py', 'torch': torch.__version__, 'transformers': transformers.__version__,
                 'pillow': PIL.__version__, 'device': 'cpu', 'dtype': 'float32', 'attn_implementation': 'eager',
                 'image_processor': type(processor).__name__,
                 'files_sha256': {f: sha256(out / f) for f in ['model.safetensors', 'config.json', 'preprocessor_config.json']}},
        'images': cases,
    }
    dest = ROOT / 'test/fixtures/models/tiny-vit/reference.json'
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(ref, separators=(',', ':')) + '\n')
    print(f'wrote {dest.relative_to(ROOT)}')


if __name__ == '__main__':
    main()
