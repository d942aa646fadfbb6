"""Exports models/tiny-llama (Hugging Face layout) to GGUF v3: tiny-llama-q8_0.gguf and tiny-llama-q4_0.gguf.

Needs numpy and safetensors only (no torch, no gguf package).

Tensor names follow llama.cpp's llama architecture; weights keep PyTorch's [out, in] order, so ne[0] = in.
  model.embed_tokens.weight                       -> token_embd.weight       (also the tied lm_head)
  model.layers.N.input_layernorm.weight            -> blk.N.attn_norm.weight  F32
  model.layers.N.self_attn.{q,k,v,o}_proj.weight   -> blk.N.attn_{q,k,v,output}.weight
  model.layers.N.post_attention_layernorm.weight   -> blk.N.ffn_norm.weight   F32
  model.layers.N.mlp.{gate,up,down}_proj.weight    -> blk.N.ffn_{gate,up,down}.weight
  model.norm.weight                                -> output_norm.weight      F32
No output.weight is written: llama.cpp then uses token_embd.weight as the output projection.

RoPE layout: HF Llama rotates dimension i with i + head_dim/2 ("rotate_half"); ggml's llama rope rotates
adjacent pairs (2i, 2i+1). As llama.cpp's converter does, attn_q / attn_k rows are permuted within
each head so that new row 2i + j = old row j * head_dim/2 + i (j in {0, 1}); a reader that uses HF-style
rotate_half must undo it (see unpermute_rope in this file).

Quantization: in the q8_0 file every 2-D weight is Q8_0. In the q4_0 file every 2-D weight is Q4_0
except token_embd.weight, which stays Q8_0 because it is also the output projection (llama.cpp keeps
that matrix at higher precision too). 1-D norm weights are F32 in both.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from gguf_writer import FILE_TYPE, GGMLType, GGUFWriter, ValueType

ROOT = Path(__file__).resolve().parents[2]
TOKEN_NORMAL, TOKEN_CONTROL = 1, 3


def permute_rope(w: np.ndarray, n_head: int) -> np.ndarray:
    """[n_head * head_dim, in] HF rotate_half rows -> ggml adjacent-pair rows."""
    out_dim = w.shape[0]
    return w.reshape(n_head, 2, out_dim // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute_rope(w: np.ndarray, n_head: int) -> np.ndarray:
    out_dim = w.shape[0]
    return w.reshape(n_head, out_dim // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def tokenizer_metadata(w: GGUFWriter, folder: Path) -> None:
    tj = json.loads((folder / 'tokenizer.json').read_text(encoding='utf-8'))
    tcfg = json.loads((folder / 'tokenizer_config.json').read_text(encoding='utf-8'))
    model = tj['model']
    if model['type'] != 'BPE':
        raise ValueError('only byte-level BPE tokenizers are exported')
    vocab: dict[str, int] = dict(model['vocab'])
    for added in tj.get('added_tokens', []):
        vocab[added['content']] = added['id']
    n = max(vocab.values()) + 1
    tokens = [''] * n
    for tok, i in vocab.items():
        tokens[i] = tok
    if any(t == '' for t in tokens):
        raise ValueError('token ids are not contiguous')
    special_ids = {a['id'] for a in tj.get('added_tokens', []) if a.get('special')}
    merges = [m if isinstance(m, str) else f'{m[0]} {m[1]}' for m in model['merges']]
    ids = {t: i for i, t in enumerate(tokens)}
    w.add('tokenizer.ggml.model', ValueType.STRING, 'gpt2')
    w.add('tokenizer.ggml.pre', ValueType.STRING, 'gpt2')
    w.add_array('tokenizer.ggml.tokens', ValueType.STRING, tokens)
    w.add_array('tokenizer.ggml.token_type', ValueType.INT32,
                [TOKEN_CONTROL if i in special_ids else TOKEN_NORMAL for i in range(n)])
    w.add_array('tokenizer.ggml.merges', ValueType.STRING, merges)
    w.add('tokenizer.ggml.bos_token_id', ValueType.UINT32, ids[tcfg['bos_token']])
    w.add('tokenizer.ggml.eos_token_id', ValueType.UINT32, ids[tcfg['eos_token']])
    w.add('tokenizer.ggml.padding_token_id', ValueType.UINT32, ids[tcfg['pad_token']])
    if '<|im_end|>' in ids:
        w.add('tokenizer.ggml.eot_token_id', ValueType.UINT32, ids['<|im_end|>'])
    w.add('tokenizer.ggml.add_bos_token', ValueType.BOOL, bool(tcfg.get('add_bos_token', True)))
    w.add('tokenizer.ggml.add_eos_token', ValueType.BOOL, bool(tcfg.get('add_eos_token', False)))
    w.add('tokenizer.chat_template', ValueType.STRING, tcfg['chat_template'])


def export(folder: Path, out_path: Path, weight_type: GGMLType, name: str) -> int:
    cfg = json.loads((folder / 'config.json').read_text())
    if cfg['model_type'] != 'llama' or not cfg.get('tie_word_embeddings', False):
        raise ValueError('expects a Llama config with tied embeddings')
    sd = {k: v.astype(np.float32) for k, v in load_file(str(folder / 'model.safetensors')).items()}
    n_head, n_kv = cfg['num_attention_heads'], cfg['num_key_value_heads']
    head_dim = cfg.get('head_dim') or cfg['hidden_size'] // n_head
    rope_theta = cfg.get('rope_theta') or cfg['rope_parameters']['rope_theta']

    w = GGUFWriter()
    w.add('general.architecture', ValueType.STRING, 'llama')
    w.add('general.name', ValueType.STRING, name)
    w.add('general.license', ValueType.STRING, 'apache-2.0')
    w.add('general.file_type', ValueType.UINT32, FILE_TYPE[weight_type])
    w.add('general.quantization_version', ValueType.UINT32, 2)
    w.add('llama.vocab_size', ValueType.UINT32, cfg['vocab_size'])
    w.add('llama.context_length', ValueType.UINT32, cfg['max_position_embeddings'])
    w.add('llama.embedding_length', ValueType.UINT32, cfg['hidden_size'])
    w.add('llama.block_count', ValueType.UINT32, cfg['num_hidden_layers'])
    w.add('llama.feed_forward_length', ValueType.UINT32, cfg['intermediate_size'])
    w.add('llama.attention.head_count', ValueType.UINT32, n_head)
    w.add('llama.attention.head_count_kv', ValueType.UINT32, n_kv)
    w.add('llama.attention.key_length', ValueType.UINT32, head_dim)
    w.add('llama.attention.value_length', ValueType.UINT32, head_dim)
    w.add('llama.attention.layer_norm_rms_epsilon', ValueType.FLOAT32, cfg['rms_norm_eps'])
    w.add('llama.rope.dimension_count', ValueType.UINT32, head_dim)
    w.add('llama.rope.freq_base', ValueType.FLOAT32, float(rope_theta))
    tokenizer_metadata(w, folder)

    embd_type = GGMLType.Q8_0 if weight_type in (GGMLType.Q8_0, GGMLType.Q4_0) else weight_type
    w.add_tensor('token_embd.weight', sd['model.embed_tokens.weight'], embd_type)
    for i in range(cfg['num_hidden_layers']):
        p = f'model.layers.{i}.'
        b = f'blk.{i}.'
        w.add_tensor(b + 'attn_norm.weight', sd[p + 'input_layernorm.weight'], GGMLType.F32)
        w.add_tensor(b + 'attn_q.weight', permute_rope(sd[p + 'self_attn.q_proj.weight'], n_head), weight_type)
        w.add_tensor(b + 'attn_k.weight', permute_rope(sd[p + 'self_attn.k_proj.weight'], n_kv), weight_type)
        w.add_tensor(b + 'attn_v.weight', sd[p + 'self_attn.v_proj.weight'], weight_type)
        w.add_tensor(b + 'attn_output.weight', sd[p + 'self_attn.o_proj.weight'], weight_type)
        w.add_tensor(b + 'ffn_norm.weight', sd[p + 'post_attention_layernorm.weight'], GGMLType.F32)
        w.add_tensor(b + 'ffn_gate.weight', sd[p + 'mlp.gate_proj.weight'], weight_type)
        w.add_tensor(b + 'ffn_up.weight', sd[p + 'mlp.up_proj.weight'], weight_type)
        w.add_tensor(b + 'ffn_down.weight', sd[p + 'mlp.down_proj.weight'], weight_type)
    w.add_tensor('output_norm.weight', sd['model.norm.weight'], GGMLType.F32)
    return w.write(out_path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default=str(ROOT / 'models/tiny-llama'))
    args = ap.parse_args()
    folder = Path(args.model)
    for t, suffix in ((GGMLType.Q8_0, 'q8_0'), (GGMLType.Q4_0, 'q4_0')):
        path = folder / f'tiny-llama-{suffix}.gguf'
        size = export(folder, path, t, 'tiny-llama')
        print(f'{path}: {size} bytes')


if __name__ == '__main__':
    main()
