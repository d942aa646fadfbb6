"""Trains tiny-llama: a byte-level BPE tokenizer and a ~4.4M-parameter Llama-architecture causal LM.

Input:  tools/train/corpus/data/{train.jsonl, heldout.txt}  (made by corpus/prepare_corpus.py)
Output: <out>/ config.json, model.safetensors (float16), tokenizer.json, tokenizer_config.json (with the
        chat template), special_tokens_map.json, generation_config.json, train_log.json

Runs on one CUDA GPU (bf16 autocast) in a couple of minutes; `--device cpu --steps 20` is a smoke test.
Every random choice is seeded (tokenizer training is deterministic for a given input); GPU kernels are
not bit-reproducible, so a rerun gives close but not identical weights.

Held-out evaluation, quoted in the model card and reproducible by any runtime: heldout.txt is split on
"\n\n%\n\n" into documents; each becomes [<s>] + tokens + [</s>]; the concatenation is cut into
non-overlapping windows of `seq_len` tokens (the last partial window included); loss = mean next-token
cross-entropy (nats) over all predicted positions, computed in float32.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

ROOT = Path(__file__).resolve().parents[2]
SPECIALS = ['<pad>', '<s>', '</s>', '<|im_start|>', '<|im_end|>']
PAD_ID, BOS_ID, EOS_ID, IM_START_ID, IM_END_ID = range(5)
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
HELDOUT_SEPARATOR = '\n\n%\n\n'


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', default=str(ROOT / 'tools/train/corpus/data'))
    ap.add_argument('--out', default=str(ROOT / 'models/tiny-llama'))
    ap.add_argument('--device', default='cuda')
    ap.add_argument('--seed', type=int, default=1234)
    ap.add_argument('--vocab-size', type=int, default=4096)
    ap.add_argument('--hidden', type=int, default=256)
    ap.add_argument('--layers', type=int, default=6)
    ap.add_argument('--heads', type=int, default=8)
    ap.add_argument('--kv-heads', type=int, default=2)
    ap.add_argument('--intermediate', type=int, default=512)
    ap.add_argument('--seq-len', type=int, default=512)
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--steps', type=int, default=3000)
    ap.add_argument('--lr', type=float, default=2e-3)
    ap.add_argument('--min-lr', type=float, default=1e-4)
    ap.add_argument('--warmup', type=int, default=200)
    ap.add_argument('--weight-decay', type=float, default=0.1)
    ap.add_argument('--dropout', type=float, default=0.1)
    ap.add_argument('--eval-every', type=int, default=150)
    ap.add_argument('--max-minutes', type=float, default=6.0)
    ap.add_argument('--eval-max-windows', type=int, default=None, help='smoke tests only')
    ap.add_argument('--tokenizer-only', action='store_true')
    return ap.parse_args()


def load_records(data: Path) -> tuple[list[dict], list[str]]:
    records = [json.loads(line) for line in (data / 'train.jsonl').read_text(encoding='utf-8').splitlines()]
    heldout = (data / 'heldout.txt').read_text(encoding='utf-8').rstrip('\n').split(HELDOUT_SEPARATOR)
    return records, heldout


def train_tokenizer(records: list[dict], vocab_size: int) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    # GPT-2's split regex (use_regex) so llama.cpp's "gpt2" pre-tokenizer reproduces it from GGUF.
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator((r['text'] for r in records if r['kind'] == 'text'), trainer=trainer)
    # Llama convention: encode() prepends <s>; the chat template writes <s> itself and is encoded
    # with add_special_tokens=False.
    tok.post_processor = processors.TemplateProcessing(
        single='<s> $A', pair='<s> $A <s> $B', special_tokens=[('<s>', BOS_ID)])
    for i, s in enumerate(SPECIALS):
        assert tok.token_to_id(s) == i, (s, tok.token_to_id(s))
    return tok


def save_tokenizer(tok: Tokenizer, out: Path, seq_len: int):
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token='<s>', eos_token='</s>', pad_token='<pad>',
        extra_special_tokens=['<|im_start|>', '<|im_end|>'], model_max_length=seq_len,
        clean_up_tokenization_spaces=False)
    hf.chat_template = CHAT_TEMPLATE
    hf.save_pretrained(str(out))
    # Keep everything a browser runtime needs in the two JSON files it reads: the chat template inside
    # tokenizer_config.json (transformers 5 writes it to chat_template.jinja) and special_tokens_map.json.
    # Rewritten in the long-standing layout (tokenizer_class PreTrainedTokenizerFast, chat template and
    # additional_special_tokens inline) that transformers 4 and 5, transformers.js and our own loader read;
    # transformers 5 alone would write "TokenizersBackend" and a separate chat_template.jinja.
    cfg = {
        'tokenizer_class': 'PreTrainedTokenizerFast',
        'bos_token': '<s>', 'eos_token': '</s>', 'pad_token': '<pad>',
        'additional_special_tokens': ['<|im_start|>', '<|im_end|>'],
        'model_max_length': seq_len, 'clean_up_tokenization_spaces': False,
        'add_bos_token': True, 'add_eos_token': False,
        'chat_template': CHAT_TEMPLATE,
    }
    (out / 'tokenizer_config.json').write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + '\n')
    jinja = out / 'chat_template.jinja'
    if jinja.exists():
        jinja.unlink()
    (out / 'special_tokens_map.json').write_text(json.dumps({
        'bos_token': '<s>', 'eos_token': '</s>', 'pad_token': '<pad>',
        'additional_special_tokens': ['<|im_start|>', '<|im_end|>'],
    }, indent=2) + '\n')
    reloaded = AutoTokenizer.from_pretrained(str(out))
    assert reloaded.chat_template == CHAT_TEMPLATE
    assert reloaded.convert_tokens_to_ids(SPECIALS) == list(range(len(SPECIALS)))
    return reloaded


def encode_stream(records: list[dict], hf: PreTrainedTokenizerFast) -> np.ndarray:
    ids: list[int] = []
    for r in records:
        if r['kind'] == 'text':
            ids.extend(hf.encode(r['text'], add_special_tokens=True))
        else:
            rendered = hf.apply_chat_template(r['messages'], tokenize=False)
            ids.extend(hf.encode(rendered, add_special_tokens=False))
        ids.append(EOS_ID)
    return np.asarray(ids, dtype=np.int64)


def encode_heldout(docs: list[str], hf: PreTrainedTokenizerFast) -> np.ndarray:
    ids: list[int] = []
    for d in docs:
        ids.extend(hf.encode(d, add_special_tokens=True))
        ids.append(EOS_ID)
    return np.asarray(ids, dtype=np.int64)


def add_residual_dropout(model: LlamaForCausalLM, p: float) -> list:
    # LlamaConfig has no residual dropout; hooks add it to both residual branches for training only,
    # so the saved model is a plain Llama.
    def hook(module, inputs, output):
        return F.dropout(output, p=p, training=module.training)
    handles = []
    for layer in model.model.layers:
        handles.append(layer.self_attn.o_proj.register_forward_hook(hook))
        handles.append(layer.mlp.register_forward_hook(hook))
    return handles


@torch.no_grad()
def mean_loss(model: LlamaForCausalLM, stream: torch.Tensor, seq_len: int, device: str,
              starts: list[int] | None = None, autocast: bool = False, max_windows: int | None = None) -> float:
    """Mean next-token loss over windows stream[s : s + seq_len + 1] (default: non-overlapping, all)."""
    model.eval()
    if starts is None:
        starts = list(range(0, stream.numel() - 1, seq_len))
    if max_windows is not None:
        starts = starts[:max_windows]
    full = [s for s in starts if s + seq_len + 1 <= stream.numel()]
    tail = [s for s in starts if s + seq_len + 1 > stream.numel()]
    total, count = 0.0, 0
    groups = [full[i:i + 32] for i in range(0, len(full), 32)] + [[s] for s in tail]
    for group in groups:
        # [len(group), <= seq_len + 1]
        x = torch.stack([stream[s:s + seq_len + 1] for s in group]).to(device)
        with torch.autocast('cuda', dtype=torch.bfloat16, enabled=autocast and device == 'cuda'):
            logits = model(x[:, :-1]).logits.float()
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1), reduction='sum').item()
        count += x[:, 1:].numel()
    model.train()
    return total / count


def lr_at(step: int, args: argparse.Namespace) -> float:
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    t = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * min(1.0, t)))


def generate_samples(model: LlamaForCausalLM, hf: PreTrainedTokenizerFast, device: str, seed: int) -> list[dict]:
    model.eval()
    prompts = ['And God said', 'A computer is', 'The best thing about', 'Love is']
    out = []
    for p in prompts:
        ids = torch.tensor([hf.encode(p)], device=device)
        greedy = model.generate(ids, max_new_tokens=48, do_sample=False, eos_token_id=[EOS_ID, IM_END_ID],
                                pad_token_id=PAD_ID)
        torch.manual_seed(seed)
        sampled = model.generate(ids, max_new_tokens=48, do_sample=True, temperature=0.8, top_k=40,
                                 eos_token_id=[EOS_ID, IM_END_ID], pad_token_id=PAD_ID)
        out.append({'prompt': p, 'greedy': hf.decode(greedy[0], skip_special_tokens=True),
                    'sampled_t0.8_k40': hf.decode(sampled[0], skip_special_tokens=True)})
    chat = hf.apply_chat_template([{'role': 'user', 'content': 'Tell me a fortune.'}],
                                  tokenize=False, add_generation_prompt=True)
    ids = torch.tensor([hf.encode(chat, add_special_tokens=False)], device=device)
    torch.manual_seed(seed)
    sampled = model.generate(ids, max_new_tokens=64, do_sample=True, temperature=0.8, top_k=40,
                             eos_token_id=[EOS_ID, IM_END_ID], pad_token_id=PAD_ID)
    out.append({'prompt': chat, 'sampled_t0.8_k40': hf.decode(sampled[0][ids.shape[1]:], skip_special_tokens=True)})
    model.train()
    return out


def main() -> None:
    args = parse_args()
    t_start = time.time()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = args.device

    records, heldout_docs = load_records(Path(args.data))
    tok = train_tokenizer(records, args.vocab_size)
    hf = save_tokenizer(tok, out, args.seq_len)
    train_ids = encode_stream(records, hf)
    held_ids = encode_heldout(heldout_docs, hf)
    chars = sum(len(r['text']) for r in records if r['kind'] == 'text')
    print(f'tokenizer: vocab {tok.get_vocab_size()}, train tokens {train_ids.size}, held-out tokens '
          f'{held_ids.size}, chars/token {chars / train_ids.size:.2f}', flush=True)
    if args.tokenizer_only:
        return

    config = LlamaConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=args.hidden, intermediate_size=args.intermediate,
        num_hidden_layers=args.layers, num_attention_heads=args.heads, num_key_value_heads=args.kv_heads,
        head_dim=args.hidden // args.heads, max_position_embeddings=args.seq_len, rms_norm_eps=1e-5,
        rope_theta=10000.0, hidden_act='silu', tie_word_embeddings=True, attention_bias=False,
        mlp_bias=False, bos_token_id=BOS_ID, eos_token_id=EOS_ID, pad_token_id=PAD_ID)
    torch.manual_seed(args.seed)
    model = LlamaForCausalLM(config).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    print(f'model: {n_params} parameters (tied embeddings counted once)', flush=True)
    handles = add_residual_dropout(model, args.dropout)

    if device == 'cuda':
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': args.weight_decay},
                             {'params': no_decay, 'weight_decay': 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8, fused=(device == 'cuda'))

    train_t = torch.from_numpy(train_ids)
    held_t = torch.from_numpy(held_ids)
    gen = torch.Generator().manual_seed(args.seed)
    history = []
    best = (float('inf'), -1)
    best_state = None
    t_train = time.time()
    step = 0
    model.train()
    for step in range(args.steps):
        for g in opt.param_groups:
            g['lr'] = lr_at(step, args)
        # [batch, seq_len + 1] random windows of the token stream
        starts = torch.randint(0, train_t.numel() - args.seq_len - 1, (args.batch,), generator=gen)
        batch = torch.stack([train_t[s:s + args.seq_len + 1] for s in starts.tolist()]).to(device, non_blocking=True)
        with torch.autocast('cuda', dtype=torch.bfloat16, enabled=(device == 'cuda')):
            logits = model(batch[:, :-1]).logits
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        last = step == args.steps - 1
        out_of_time = (time.time() - t_train) / 60 > args.max_minutes
        if step % args.eval_every == 0 or last or out_of_time:
            held = mean_loss(model, held_t, args.seq_len, device, autocast=True,
                             max_windows=args.eval_max_windows)
            entry = {'step': step, 'train_batch_loss': round(loss.item(), 4), 'heldout_loss_bf16': round(held, 4),
                     'lr': lr_at(step, args), 'elapsed_s': round(time.time() - t_train, 1)}
            history.append(entry)
            print(json.dumps(entry), flush=True)
            if held < best[0]:
                best = (held, step)
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if out_of_time:
            print('stopping: time budget reached', flush=True)
            break
    train_seconds = time.time() - t_train
    for h in handles:
        h.remove()
    model.load_state_dict(best_state)

    # The shipped weights are float16; every figure below is measured on those weights in float32.
    model = model.to(torch.float16).to(torch.float32)
    final_held = mean_loss(model, held_t, args.seq_len, device, max_windows=args.eval_max_windows)
    gen_eval = torch.Generator().manual_seed(args.seed + 1)
    train_starts = torch.randint(0, train_t.numel() - args.seq_len - 1, (200 if args.eval_max_windows is None else 4,), generator=gen_eval).tolist()
    final_train = mean_loss(model, train_t, args.seq_len, device, starts=train_starts)
    samples = generate_samples(model, hf, device, args.seed)
    for s in samples:
        print(json.dumps(s, ensure_ascii=False), flush=True)

    model.to(torch.float16).save_pretrained(str(out), safe_serialization=True)
    cfg_path = out / 'config.json'
    cfg = json.loads(cfg_path.read_text())
    # Older readers (transformers 4.x, transformers.js, llama.cpp converters) look for a top-level rope_theta.
    cfg['rope_theta'] = 10000.0
    cfg_path.write_text(json.dumps(cfg, indent=2) + '\n')
    GenerationConfig(bos_token_id=BOS_ID, eos_token_id=[EOS_ID, IM_END_ID], pad_token_id=PAD_ID,
                     do_sample=True, temperature=0.8, top_k=40, top_p=1.0, repetition_penalty=1.0,
                     max_new_tokens=128).save_pretrained(str(out))

    log = {
        'args': vars(args), 'parameters': n_params, 'train_tokens': int(train_ids.size),
        'heldout_tokens': int(held_ids.size), 'best_step': best[1], 'steps_run': step + 1,
        'final_train_loss_f32': final_train, 'final_heldout_loss_f32': final_held,
        'final_heldout_perplexity': math.exp(final_held), 'train_seconds': train_seconds,
        'total_seconds': time.time() - t_start, 'history': history, 'samples': samples,
        'torch': torch.__version__, 'device_name': torch.cuda.get_device_name() if device == 'cuda' else 'cpu',
    }
    (out / 'train_log.json').write_text(json.dumps(log, indent=2, ensure_ascii=False) + '\n')
    print(json.dumps({k: v for k, v in log.items() if k not in ('history', 'samples', 'args')}, indent=2), flush=True)


if __name__ == '__main__':
    main()
