"""PyTorch eager (transformers, bf16, no torch.compile) decode and prefill on the same GPU, same shapes, same
prompt length and token count as bench-decode.ts, whose JSON it reads and extends (key `pytorch`).
Random weights (LlamaForCausalLM initialised on the GPU). The baseline is transformers' generate() (greedy,
exactly `tokens` new tokens, prefill time subtracted); a plain Python loop of model(next_id,
past_key_values=...) is also timed (decodeTokPerS) and is several times slower under transformers 5.
  python tools/bench-gpu/torch_decode.py $OUT/gpu-decode.json
"""
import json
import sys
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM


@torch.no_grad()
def run(shape: dict, prompt: int, tokens: int) -> dict:
    cfg = LlamaConfig(**{k: v for k, v in shape.items() if k != 'model_type'})
    torch.manual_seed(0)
    with torch.device('cuda'):
        model = LlamaForCausalLM(cfg).to(torch.bfloat16).eval()
    ids = torch.arange(prompt, device='cuda').unsqueeze(0) * 7919 % cfg.vocab_size

    def prefill():
        out = model(ids, use_cache=True)
        return out, out.logits[0, -1].argmax()

    for _ in range(2):  # warm-up
        out, nxt = prefill()
        for _ in range(4):
            out = model(nxt.view(1, 1), past_key_values=out.past_key_values, use_cache=True)
            nxt = out.logits[0, -1].argmax()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    out, nxt = prefill()
    int(nxt)
    prefill_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    for _ in range(tokens):
        out = model(nxt.view(1, 1), past_key_values=out.past_key_values, use_cache=True)
        nxt = out.logits[0, -1].argmax()
        int(nxt)  # the id goes back to the host each step, as in generation
    decode_s = time.perf_counter() - t1
    # transformers' own generate() as a cross-check of the loop (greedy, exactly `tokens` new tokens)
    torch.cuda.synchronize()
    t2 = time.perf_counter()
    model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=tokens, min_new_tokens=tokens)
    torch.cuda.synchronize()
    generate_s = time.perf_counter() - t2
    params = sum(p.numel() for p in model.parameters())
    device = str(next(model.parameters()).device)
    del model, out
    torch.cuda.empty_cache()
    return {'params': params, 'device': device, 'prefillTokPerS': prompt / prefill_s, 'decodeTokPerS': tokens / decode_s,
            'decodeMsPerToken': 1000 * decode_s / tokens, 'generateTokPerS': tokens / max(1e-9, generate_s - prefill_s)}


def main() -> None:
    path = sys.argv[1]
    data = json.load(open(path))
    res = {}
    for name in sorted({r['model'] for r in data['results']}):
        res[name] = run(data['shapes'][name], data['prompt'], data['tokens'])
        print(f"pytorch eager bf16 {name} on {res[name]['device']}: decode {res[name]['decodeTokPerS']:.1f} tok/s (generate(): {res[name]['generateTokPerS']:.1f}), prefill {res[name]['prefillTokPerS']:.0f} tok/s", flush=True)
    data['pytorch'] = {'torch': torch.__version__, 'dtype': 'bfloat16', 'results': res}
    print('\n| model | ours decode tok/s | PyTorch eager bf16 generate() tok/s | ratio |')
    print('| --- | --- | --- | --- |')
    for r in data['results']:
        p = res[r['model']]
        print(f"| {r['model']} q{r['bits']} | {r['decodeTokPerS']:.1f} | {p['generateTokPerS']:.1f} | {r['decodeTokPerS'] / p['generateTokPerS']:.2f}× |")
    json.dump(data, open(path, 'w'), indent=2)


if __name__ == '__main__':
    main()
