"""Writes PyTorch reference outputs for the shipped models: test/fixtures/models/<model>/reference.json.

  python tools/train/make_references.py

Everything runs with transformers on CPU in float32 ("eager" attention), so the figures are the plain
math of each architecture on the stored weights (tiny-llama's float16 weights are widened to float32
exactly). GPU kernels would differ in the last digits. Needs torch, transformers, safetensors, numpy and,
for the GGUF sections, the `gguf` package (its own dequantizer, independent of our writer).

Per causal LM (tiny-llama, tiny-gpt2) and prompt:
  input_ids               what the tokenizer gives (tiny-llama prepends <s>; the chat prompt is the
                          chat template's text encoded with add_special_tokens=False)
  argmax                  argmax of the logits at every position
  logits_first16          logits[pos][0:16] at every position
  last_logits             all vocab logits at the last position
  greedy.tokens           64 new tokens by argmax, EOS NOT treated as a stop (exactly 64)
  greedy.top1_margin      top-1 minus top-2 logit at each generated step (how safe the argmax is)
  greedy.hf_generate      transformers' generate(do_sample=False, max_new_tokens=64), which stops at EOS
The prompts were picked from a longer candidate list as ones whose 64 greedy steps all have a top-1 /
top-2 logit gap of at least 0.01 (min_margin), ten times the 1e-3 logit tolerance, so a correct float32
runtime cannot flip an argmax by rounding alone.
tiny-llama also has gguf_q8_0 / gguf_q4_0: the same prompts with the weights dequantized from the GGUF
files (q/k rows un-permuted), and heldout: the held-out loss / perplexity (definition in train_tiny.py).
tiny-bert: per input last_hidden_state, pooler_output, cls (= last_hidden_state[0]), mean_pooled (mean
over attention_mask positions), and one padded batch of all inputs to check masking.
"""
from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import transformers
from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parent))

NEW_TOKENS = 64
HELDOUT_SEPARATOR = '\n\n%\n\n'


def f32list(t: torch.Tensor) -> list:
    """float32 values as Python floats: json writes the shortest repr, which parses back to the same float32."""
    return [float(np.float32(v)) for v in t.detach().to(torch.float32).reshape(-1).tolist()] if t.ndim <= 1 else \
        [f32list(row) for row in t]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tokenizer_cases(tok, texts: list[str], pairs: list[tuple[str, str]] | None = None) -> list[dict]:
    out = []
    for t in texts:
        ids = tok.encode(t, add_special_tokens=True)
        ids_plain = tok.encode(t, add_special_tokens=False)
        out.append({
            'text': t, 'ids': ids, 'ids_no_special': ids_plain,
            'tokens': tok.convert_ids_to_tokens(ids),
            'decoded': tok.decode(ids, skip_special_tokens=True),
            'decoded_with_special': tok.decode(ids, skip_special_tokens=False),
            'round_trip': tok.decode(ids, skip_special_tokens=True) == t,
        })
    for a, b in pairs or []:
        enc = tok(a, b)
        out.append({'text': a, 'text_pair': b, 'ids': enc['input_ids'],
                    'token_type_ids': enc.get('token_type_ids'),
                    'tokens': tok.convert_ids_to_tokens(enc['input_ids'])})
    return out


@torch.no_grad()
def greedy(model, ids: list[int], n: int) -> dict:
    seq = torch.tensor([ids])
    tokens, margins, top1 = [], [], []
    for _ in range(n):
        logits = model(seq).logits[0, -1]
        top = torch.topk(logits, 2)
        nxt = int(top.indices[0])
        tokens.append(nxt)
        margins.append(float(top.values[0] - top.values[1]))
        top1.append(float(top.values[0]))
        seq = torch.cat([seq, torch.tensor([[nxt]])], dim=1)
    return {'tokens': tokens, 'top1_logit': top1, 'top1_margin': margins, 'min_margin': min(margins)}


@torch.no_grad()
def causal_case(model, tok, name: str, ids: list[int], eos: list[int], pad: int) -> dict:
    x = torch.tensor([ids])
    logits = model(x).logits[0]
    g = greedy(model, ids, NEW_TOKENS)
    hf = model.generate(x, attention_mask=torch.ones_like(x), do_sample=False, max_new_tokens=NEW_TOKENS,
                        eos_token_id=eos, pad_token_id=pad, repetition_penalty=1.0)[0, len(ids):].tolist()
    # generate() stops at EOS; up to there it must agree with the plain argmax loop
    stop = next((i for i, t in enumerate(g['tokens']) if t in eos), NEW_TOKENS - 1) + 1
    assert hf == g['tokens'][:stop], (name, hf, g['tokens'][:stop])
    g['text'] = tok.decode(g['tokens'], skip_special_tokens=False)
    g['hf_generate'] = hf
    return {
        'name': name, 'input_ids': ids, 'argmax': logits.argmax(-1).tolist(),
        'logits_first16': f32list(logits[:, :16]), 'last_logits': f32list(logits[-1]), 'greedy': g,
    }


@torch.no_grad()
def heldout_loss(model, tok, folder: Path, seq_len: int, max_windows: int | None) -> dict:
    docs = (folder / 'heldout.txt').read_text(encoding='utf-8').rstrip('\n').split(HELDOUT_SEPARATOR)
    ids: list[int] = []
    for d in docs:
        ids.extend(tok.encode(d, add_special_tokens=True))
        ids.append(tok.eos_token_id)
    stream = torch.tensor(ids)
    starts = list(range(0, stream.numel() - 1, seq_len))
    if max_windows is not None:
        starts = starts[:max_windows]
    total, count = 0.0, 0
    for s in starts:
        x = stream[s:s + seq_len + 1]
        logits = model(x[None, :-1]).logits[0]
        total += float(F.cross_entropy(logits, x[1:], reduction='sum'))
        count += x.numel() - 1
    return {'windows': len(starts), 'window_tokens': seq_len, 'predicted_tokens': count,
            'total_stream_tokens': int(stream.numel()), 'mean_loss_nats': total / count,
            'perplexity': math.exp(total / count)}


def load_gguf_into(model, path: Path, cfg: dict) -> None:
    from gguf import GGUFReader
    from gguf.quants import dequantize
    from check_gguf import hf_name
    from export_gguf import unpermute_rope
    sd = model.state_dict()
    new = {}
    for t in GGUFReader(str(path)).tensors:
        name = hf_name(t.name)
        w = dequantize(np.asarray(t.data), t.tensor_type).reshape(tuple(sd[name].shape))
        kind = t.name.split('.')[-2]
        if kind == 'attn_q':
            w = unpermute_rope(w, cfg['num_attention_heads'])
        elif kind == 'attn_k':
            w = unpermute_rope(w, cfg['num_key_value_heads'])
        new[name] = torch.from_numpy(np.array(w, dtype=np.float32, copy=True))
    missing = [k for k in sd if k not in new and k != 'lm_head.weight']
    assert not missing, missing
    model.load_state_dict(new, strict=False)
    model.tie_weights()
    assert torch.equal(model.lm_head.weight, new['model.embed_tokens.weight'])


def meta(folder: Path, files: list[str]) -> dict:
    return {
        'generator': 'tools/train/make_references.py', 'torch': torch.__version__,
        'transformers': transformers.__version__, 'device': 'cpu', 'dtype': 'float32',
        'attn_implementation': 'eager',
        'files_sha256': {f: sha256(folder / f) for f in files if (folder / f).exists()},
    }


def write(name: str, data: dict) -> None:
    out = ROOT / 'test/fixtures/models' / name / 'reference.json'
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, ensure_ascii=False, separators=(',', ':')) + '\n', encoding='utf-8')
    print(f'{out.relative_to(ROOT)}: {out.stat().st_size} bytes')


BPE_TEXTS = [
    'Hello, world!',
    '  leading spaces,\ttabs and\nnew lines\n\n',
    'naïve café — “quotes” 😀 ☃ Ünïcödé',
    '1234567890 3.14159 x=y+1; if (a<b) {return;}',
    'And the LORD spake unto Moses, saying,',
    "Don't panic. It's 42, isn't it?",
    '<|im_start|>user\nhi<|im_end|>\n',
]


def tiny_llama() -> None:
    folder = ROOT / 'models/tiny-llama'
    tok = AutoTokenizer.from_pretrained(str(folder))
    cfg = json.loads((folder / 'config.json').read_text())
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32, attn_implementation='eager').eval()
    eos = [tok.eos_token_id, tok.convert_tokens_to_ids('<|im_end|>')]
    chat_text = tok.apply_chat_template([{'role': 'user', 'content': 'Tell me a fortune.'}], tokenize=False,
                                        add_generation_prompt=True)
    prompts = [
        ('in-the-beginning', tok.encode('In the beginning')),
        ('love-is', tok.encode('Love is')),
        ('dark-and-stormy', tok.encode('It was a dark and stormy night')),
        ('chat-fortune', tok.encode(chat_text, add_special_tokens=False)),
    ]
    cases = [causal_case(model, tok, n, ids, eos, tok.pad_token_id) for n, ids in prompts]
    for c in cases:
        print(f"  {c['name']}: {tok.decode(c['input_ids'])!r} -> {c['greedy']['text'][:100]!r}"
              f" (min margin {c['greedy']['min_margin']:.4f})")
    held = heldout_loss(model, tok, folder, cfg['max_position_embeddings'], None)
    held_short = heldout_loss(model, tok, folder, cfg['max_position_embeddings'], 8)
    print(f"  heldout: {held}\n  heldout first 8 windows: {held_short}")

    gguf = {}
    for q in ('q8_0', 'q4_0'):
        qm = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32, attn_implementation='eager').eval()
        load_gguf_into(qm, folder / f'tiny-llama-{q}.gguf', cfg)
        qcases = []
        for n, ids in prompts:
            c = causal_case(qm, tok, n, ids, eos, tok.pad_token_id)
            qcases.append({k: c[k] for k in ('name', 'input_ids', 'argmax', 'last_logits')} |
                          {'greedy': {k: c['greedy'][k] for k in ('tokens', 'top1_margin', 'min_margin', 'text')}})
        qs = heldout_loss(qm, tok, folder, cfg['max_position_embeddings'], 8)
        max_diff = max(max(abs(a - b) for a, b in zip(qc['last_logits'], c['last_logits']))
                       for qc, c in zip(qcases, cases))
        print(f'  gguf {q}: first-8-window loss {qs["mean_loss_nats"]:.4f}, '
              f'max |last logits - f16 model| {max_diff:.4f}')
        gguf[q] = {'file': f'tiny-llama-{q}.gguf', 'prompts': qcases, 'heldout_first_8_windows': qs,
                   'max_abs_last_logit_diff_vs_hf': max_diff}

    write('tiny-llama', {
        'model': 'models/tiny-llama', 'meta': meta(folder, ['model.safetensors', 'tokenizer.json', 'config.json',
                                                           'tiny-llama-q8_0.gguf', 'tiny-llama-q4_0.gguf']),
        'special_ids': {'pad': 0, 'bos': 1, 'eos': 2, 'im_start': 3, 'im_end': 4},
        'chat_template_render': {'messages': [{'role': 'user', 'content': 'Tell me a fortune.'}],
                                 'add_generation_prompt': True, 'text': chat_text},
        'tokenizer': tokenizer_cases(tok, BPE_TEXTS),
        'prompts': cases, 'heldout': held, 'heldout_first_8_windows': held_short,
        'gguf': gguf,
    })


def tiny_gpt2() -> None:
    folder = ROOT / 'models/tiny-gpt2'
    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32, attn_implementation='eager').eval()
    prompts = [
        ('in-the-beginning', tok.encode('In the beginning')),
        ('letters', tok.encode('A B C D E F')),
        ('cat-on-mat', tok.encode('The cat sat on the mat')),
    ]
    cases = [causal_case(model, tok, n, ids, [tok.eos_token_id], tok.pad_token_id) for n, ids in prompts]
    for c in cases:
        print(f"  {c['name']}: min margin {c['greedy']['min_margin']:.4f}, argmax {c['argmax'][:8]}")
    write('tiny-gpt2', {
        'model': 'models/tiny-gpt2', 'meta': meta(folder, ['model.safetensors', 'tokenizer.json', 'config.json']),
        'tokenizer': tokenizer_cases(tok, BPE_TEXTS[:6]), 'prompts': cases,
    })


@torch.no_grad()
def tiny_bert() -> None:
    folder = ROOT / 'models/tiny-bert'
    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder), dtype=torch.float32, attn_implementation='eager').eval()
    inputs = [
        {'name': 'shepherd', 'text': 'The LORD is my shepherd; I shall not want.'},
        {'name': 'hello', 'text': 'Hello, World!'},
        {'name': 'computers', 'text': 'A computer lets you make more mistakes faster than any invention in human history.'},
        {'name': 'pair', 'text': 'Where is the cat?', 'text_pair': 'The cat sat on the mat.'},
    ]
    cases = []
    for item in inputs:
        enc = tok(item['text'], item.get('text_pair'), return_tensors='pt')
        out = model(**enc)
        h = out.last_hidden_state[0]
        mask = enc['attention_mask'][0].to(torch.float32)
        mean = (h * mask[:, None]).sum(0) / mask.sum()
        cases.append(item | {
            'input_ids': enc['input_ids'][0].tolist(), 'attention_mask': enc['attention_mask'][0].tolist(),
            'token_type_ids': enc['token_type_ids'][0].tolist(),
            'tokens': tok.convert_ids_to_tokens(enc['input_ids'][0].tolist()),
            'last_hidden_state': f32list(h), 'pooler_output': f32list(out.pooler_output[0]),
            'cls': f32list(h[0]), 'mean_pooled': f32list(mean),
            'mean_pooled_normalized': f32list(F.normalize(mean, dim=0)),
        })
    # one right-padded batch: valid positions must match the single runs, padding must not leak in
    texts = [c['text'] for c in inputs]
    pairs = [c.get('text_pair') for c in inputs]
    batch_ids, batch_tt = [], []
    for c in cases:
        batch_ids.append(c['input_ids'])
        batch_tt.append(c['token_type_ids'])
    width = max(len(i) for i in batch_ids)
    ids = torch.tensor([i + [tok.pad_token_id] * (width - len(i)) for i in batch_ids])
    tt = torch.tensor([t + [0] * (width - len(t)) for t in batch_tt])
    am = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i in batch_ids])
    out = model(input_ids=ids, attention_mask=am, token_type_ids=tt)
    batch_mean = (out.last_hidden_state * am[..., None]).sum(1) / am.sum(1, keepdim=True)
    worst = 0.0
    for b, c in enumerate(cases):
        n = len(c['input_ids'])
        worst = max(worst, float((out.last_hidden_state[b, :n] - torch.tensor(c['last_hidden_state'])).abs().max()))
    print(f'  bert: padded batch vs single runs max |diff| {worst:.2e}')
    assert worst < 1e-5
    del texts, pairs
    write('tiny-bert', {
        'model': 'models/tiny-bert', 'meta': meta(folder, ['model.safetensors', 'tokenizer.json', 'vocab.txt',
                                                          'config.json']),
        'tokenizer': tokenizer_cases(tok, ['Hello, World!', 'naïve CAFÉ déjà vu', 'unaffable tokenization',
                                           "Don't panic. It's 42, isn't it?", 'The LORD is my shepherd'],
                                     [('Where is the cat?', 'The cat sat on the mat.')]),
        'inputs': cases,
        'batch': {'input_ids': ids.tolist(), 'attention_mask': am.tolist(), 'token_type_ids': tt.tolist(),
                  'mean_pooled': f32list(batch_mean), 'pooler_output': f32list(out.pooler_output),
                  'max_abs_diff_vs_single': worst},
    })


def main() -> None:
    torch.manual_seed(0)
    print('tiny-llama')
    tiny_llama()
    print('tiny-gpt2')
    tiny_gpt2()
    print('tiny-bert')
    tiny_bert()


if __name__ == '__main__':
    main()
