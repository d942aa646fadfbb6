"""Makes the two random-weight test checkpoints (float32, Hugging Face layout), on CPU, seeded:

  models/tiny-gpt2/  GPT-2: 2 layers, n_embd 64, 4 heads, 128 positions, GELU (tanh, "gelu_new"),
                     vocab 4096 = the tiny-llama byte-level BPE tokenizer (its files are copied).
  models/tiny-bert/  BERT encoder + pooler: 2 layers, hidden 64, 4 heads, intermediate 128, 128 positions,
                     2 token types, GELU (erf); a 2048-entry lower-cased WordPiece vocabulary trained here on
                     the same corpus (vocab.txt and tokenizer.json).

initializer_range is 0.2 instead of the usual 0.02 so that logits and hidden states spread over whole
units: a runtime that gets attention or the MLP wrong then misses the fixtures by far more than the
1e-3 tolerance, which near-uniform 0.02-initialised outputs would not guarantee. Biases and LayerNorm
weights are randomised too (see randomize_affine).
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch
from tokenizers import BertWordPieceTokenizer, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, BertConfig, BertModel, GPT2Config, GPT2LMHeadModel

ROOT = Path(__file__).resolve().parents[2]
SEED = 4242
BERT_SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']


def randomize_affine(model: torch.nn.Module) -> None:
    """transformers initialises biases to 0 and norm weights to 1; randomise them so a runtime that drops
    a bias or a LayerNorm affine term fails the fixtures instead of passing by accident."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim != 1:
                continue
            if name.endswith('bias'):
                p.normal_(0.0, 0.1)
            elif 'ln' in name.lower() or 'layernorm' in name.lower():
                p.copy_(1.0 + 0.1 * torch.randn_like(p))


def make_gpt2(out: Path, llama: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(llama / 'tokenizer.json', out / 'tokenizer.json')
    shutil.copyfile(llama / 'special_tokens_map.json', out / 'special_tokens_map.json')
    tcfg = json.loads((llama / 'tokenizer_config.json').read_text())
    tcfg.pop('chat_template')
    tcfg['model_max_length'] = 128
    (out / 'tokenizer_config.json').write_text(json.dumps(tcfg, indent=2) + '\n')
    config = GPT2Config(vocab_size=4096, n_positions=128, n_embd=64, n_layer=2, n_head=4, n_inner=None,
                        activation_function='gelu_new', resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                        layer_norm_epsilon=1e-5, initializer_range=0.2, bos_token_id=1, eos_token_id=2,
                        pad_token_id=0, tie_word_embeddings=True)
    torch.manual_seed(SEED)
    model = GPT2LMHeadModel(config).eval()
    randomize_affine(model)
    model.save_pretrained(str(out), safe_serialization=True)
    model.generation_config.save_pretrained(str(out))
    print(f'tiny-gpt2: {sum(p.numel() for p in model.parameters())} parameters')


def make_bert(out: Path, corpus: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    texts = [json.loads(line)['text'] for line in (corpus / 'train.jsonl').read_text(encoding='utf-8').splitlines()
             if '"kind": "text"' in line]
    tok = Tokenizer(models.WordPiece(unk_token='[UNK]', max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None,
                                                lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=2048, min_frequency=2, special_tokens=BERT_SPECIALS,
                                        show_progress=False, continuing_subword_prefix='##')
    tok.train_from_iterator(texts, trainer=trainer)
    cls_id, sep_id = tok.token_to_id('[CLS]'), tok.token_to_id('[SEP]')
    tok.post_processor = processors.TemplateProcessing(
        single='[CLS] $A [SEP]', pair='[CLS] $A [SEP] $B:1 [SEP]:1',
        special_tokens=[('[CLS]', cls_id), ('[SEP]', sep_id)])
    tok.decoder = decoders.WordPiece(prefix='##')
    tok.save(str(out / 'tokenizer.json'))
    vocab = tok.get_vocab()
    by_id = sorted(vocab.items(), key=lambda kv: kv[1])
    assert [i for _, i in by_id] == list(range(len(by_id)))
    (out / 'vocab.txt').write_text(''.join(t + '\n' for t, _ in by_id), encoding='utf-8')
    (out / 'tokenizer_config.json').write_text(json.dumps({
        'tokenizer_class': 'BertTokenizer', 'do_lower_case': True, 'tokenize_chinese_chars': True,
        'strip_accents': None, 'unk_token': '[UNK]', 'sep_token': '[SEP]', 'pad_token': '[PAD]',
        'cls_token': '[CLS]', 'mask_token': '[MASK]', 'model_max_length': 128,
        'clean_up_tokenization_spaces': False,
    }, indent=2) + '\n')
    (out / 'special_tokens_map.json').write_text(json.dumps({
        'unk_token': '[UNK]', 'sep_token': '[SEP]', 'pad_token': '[PAD]', 'cls_token': '[CLS]',
        'mask_token': '[MASK]'}, indent=2) + '\n')
    # vocab.txt alone must rebuild the same tokenizer as tokenizer.json
    probe = ['The LORD is my shepherd; I shall not want.', "Don't PANIC! naïve café 42 tokens."]
    from_vocab = BertWordPieceTokenizer(str(out / 'vocab.txt'), lowercase=True, strip_accents=None)
    auto = AutoTokenizer.from_pretrained(str(out))
    for p in probe:
        assert from_vocab.encode(p).ids == auto.encode(p) == tok.encode(p).ids, p

    config = BertConfig(vocab_size=len(vocab), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=128, hidden_act='gelu', hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0, max_position_embeddings=128, type_vocab_size=2,
                        initializer_range=0.2, layer_norm_eps=1e-12, pad_token_id=0)
    torch.manual_seed(SEED)
    model = BertModel(config, add_pooling_layer=True).eval()
    randomize_affine(model)
    model.save_pretrained(str(out), safe_serialization=True)
    print(f'tiny-bert: {sum(p.numel() for p in model.parameters())} parameters, vocab {len(vocab)}')


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('--models', default=str(ROOT / 'models'))
    ap.add_argument('--corpus', default=str(ROOT / 'tools/train/corpus/data'))
    args = ap.parse_args()
    models_dir = Path(args.models)
    make_gpt2(models_dir / 'tiny-gpt2', models_dir / 'tiny-llama')
    make_bert(models_dir / 'tiny-bert', Path(args.corpus))


if __name__ == '__main__':
    main()
