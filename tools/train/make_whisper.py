"""Makes the random-weight Whisper test checkpoint and its PyTorch reference, on CPU, seeded:

  python tools/train/make_whisper.py        (torch, transformers, tokenizers, numpy)

  models/tiny-whisper/     WhisperForConditionalGeneration: 80 mel bins, 3-second windows (max_source_positions 150,
                           so 300 mel frames), d_model 64, 2 + 2 layers, 4 heads, ffn 128, GELU, 448 target positions.
                           Tokenizer: tiny-gpt2's byte-level BPE (4096 entries) + Whisper's special tokens
                           <|endoftext|> 4096, <|startoftranscript|> 4097, <|en|> 4098, <|transcribe|> 4099,
                           <|translate|> 4100, <|notimestamps|> 4101 (vocab 4102). preprocessor_config.json:
                           WhisperFeatureExtractor(chunk_length=3). Random weights: transcripts are nonsense.
  test/fixtures/audio/chirp.wav   2 s, 16 kHz mono 16-bit: a 200 → 1000 Hz chirp plus seeded noise.
  test/fixtures/models/tiny-whisper/reference.json
      input_features        transformers' WhisperFeatureExtractor (its default torch STFT path) [80, 300]
      numpy_path_max_abs_diff  how far its numpy path is from that (~7e-6)
      encoder_last_hidden_state [150, 64]
      prompt                <|startoftranscript|><|en|><|transcribe|><|notimestamps|>
      greedy.tokens         12 tokens by argmax after the prompt (EOS not treated as a stop)
      logits_first16 / argmax at every position of prompt + greedy[:-1] (teacher forcing), last_logits of the prompt
"""
from __future__ import annotations

import hashlib
import json
import shutil
import wave
from pathlib import Path

import numpy as np
import torch
import transformers
from tokenizers import AddedToken, Tokenizer
from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

ROOT = Path(__file__).resolve().parents[2]
SEED = 4242
SPECIALS = ['<|endoftext|>', '<|startoftranscript|>', '<|en|>', '<|transcribe|>', '<|translate|>', '<|notimestamps|>']
NEW_TOKENS = 12


def f32list(t) -> list:
    a = np.asarray(t, dtype=np.float32)
    return [float(v) for v in a.reshape(-1)] if a.ndim <= 1 else [f32list(r) for r in a]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def randomize_affine(model: torch.nn.Module) -> None:
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim != 1:
                continue
            if name.endswith('bias'):
                p.normal_(0.0, 0.1)
            elif 'layer_norm' in name:
                p.copy_(1.0 + 0.1 * torch.randn_like(p))


@torch.no_grad()
def main() -> None:
    out = ROOT / 'models/tiny-whisper'
    out.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer.from_file(str(ROOT / 'models/tiny-gpt2/tokenizer.json'))
    assert tok.get_vocab_size() == 4096
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in SPECIALS])
    ids = {s: tok.token_to_id(s) for s in SPECIALS}
    assert list(ids.values()) == list(range(4096, 4102)), ids
    tok.save(str(out / 'tokenizer.json'))
    (out / 'tokenizer_config.json').write_text(json.dumps({
        'tokenizer_class': 'PreTrainedTokenizerFast', 'bos_token': '<|endoftext|>', 'eos_token': '<|endoftext|>',
        'unk_token': '<|endoftext|>', 'pad_token': '<|endoftext|>', 'model_max_length': 448,
        'clean_up_tokenization_spaces': False}, indent=2) + '\n')

    config = WhisperConfig(vocab_size=4102, num_mel_bins=80, encoder_layers=2, encoder_attention_heads=4,
                           decoder_layers=2, decoder_attention_heads=4, d_model=64, encoder_ffn_dim=128,
                           decoder_ffn_dim=128, activation_function='gelu', max_source_positions=150,
                           max_target_positions=448, dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
                           init_std=0.2, scale_embedding=False, pad_token_id=ids['<|endoftext|>'],
                           bos_token_id=ids['<|endoftext|>'], eos_token_id=ids['<|endoftext|>'],
                           decoder_start_token_id=ids['<|startoftranscript|>'], tie_word_embeddings=True,
                           begin_suppress_tokens=None, suppress_tokens=None)
    torch.manual_seed(SEED)
    model = WhisperForConditionalGeneration(config).eval()
    randomize_affine(model)
    model.save_pretrained(str(out), safe_serialization=True)
    fe = WhisperFeatureExtractor(feature_size=80, sampling_rate=16000, hop_length=160, chunk_length=3, n_fft=400)
    fe.save_pretrained(str(out))
    model = WhisperForConditionalGeneration.from_pretrained(str(out), dtype=torch.float32, attn_implementation='eager').eval()
    print(f'tiny-whisper: {sum(p.numel() for p in model.parameters())} parameters')

    rng = np.random.default_rng(7)
    sr = 16000
    t = np.arange(2 * sr) / sr
    audio = 0.5 * np.sin(2 * np.pi * (200 * t + 200 * t * t)) + 0.02 * rng.standard_normal(t.shape)
    pcm = np.clip(np.rint(audio * 32767), -32768, 32767).astype('<i2')
    wav_path = ROOT / 'test/fixtures/audio/chirp.wav'
    wav_path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(wav_path), 'wb') as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())
    samples = (pcm.astype(np.float32) / 32768.0).astype(np.float32)

    feats = fe(samples, sampling_rate=sr, return_tensors='np')['input_features'][0]
    feats_np = fe._np_extract_fbank_features(np.pad(samples, (0, fe.n_samples - len(samples)))[None], 'cpu')[0]
    print(f'  features {feats.shape}, torch vs numpy path max |diff| {np.abs(feats - feats_np).max():.2e}')
    x = torch.from_numpy(feats)[None]
    enc = model.model.encoder(x).last_hidden_state
    prompt = [ids['<|startoftranscript|>'], ids['<|en|>'], ids['<|transcribe|>'], ids['<|notimestamps|>']]
    seq = list(prompt)
    margins = []
    for _ in range(NEW_TOKENS):
        logits = model(encoder_outputs=(enc,), decoder_input_ids=torch.tensor([seq])).logits[0, -1]
        top2 = torch.topk(logits, 2).values
        margins.append(float(top2[0] - top2[1]))
        seq.append(int(logits.argmax()))
    greedy = seq[len(prompt):]
    full = model(encoder_outputs=(enc,), decoder_input_ids=torch.tensor([seq[:-1]])).logits[0]
    assert full.argmax(-1).tolist()[len(prompt) - 1:] == greedy
    print(f'  greedy {greedy} text {tok.decode(greedy)!r} min margin {min(margins):.4f}')

    (out / 'MODEL_CARD.md').write_text(f"""# tiny-whisper — random-weight test checkpoint

Made by `tools/train/make_whisper.py` (transformers {transformers.__version__}, torch {torch.__version__}, CPU,
`torch.manual_seed({SEED})`); not trained, so what it "transcribes" is nonsense.

- `WhisperForConditionalGeneration`: 80 mel bins, 3-second windows (300 frames → 150 encoder positions), d_model 64,
  2 encoder + 2 decoder layers, 4 heads, ffn 128, GELU, 448 target positions, tied output projection;
  {sum(p.numel() for p in model.parameters())} parameters, float32. `init_std` 0.2 and random biases / LayerNorm weights.
- Tokenizer: tiny-gpt2's byte-level BPE (4096) + {', '.join(f'{s} {i}' for s, i in ids.items())}.
- `preprocessor_config.json`: WhisperFeatureExtractor, 16 kHz, n_fft 400, hop 160, chunk_length 3.
- Fixture: `test/fixtures/models/tiny-whisper/reference.json` for `test/fixtures/audio/chirp.wav`.
""")
    ref = {
        'model': 'models/tiny-whisper',
        'meta': {'generator': 'tools/train/make_whisper.py', 'torch': torch.__version__, 'transformers': transformers.__version__,
                 'device': 'cpu', 'dtype': 'float32', 'attn_implementation': 'eager',
                 'files_sha256': {f: sha256(out / f) for f in ['model.safetensors', 'config.json', 'preprocessor_config.json', 'tokenizer.json']}},
        'audio': 'test/fixtures/audio/chirp.wav', 'sampling_rate': sr, 'samples': len(samples),
        'input_features': f32list(feats), 'numpy_path_max_abs_diff': float(np.abs(feats - feats_np).max()),
        'encoder_last_hidden_state': f32list(enc[0]),
        'prompt': prompt, 'special_ids': ids,
        'greedy': {'tokens': greedy, 'text': tok.decode(greedy), 'top1_margin': margins},
        'argmax': full.argmax(-1).tolist(),
        'logits_first16': f32list(full[:, :16]),
        'last_logits': f32list(full[len(prompt) - 1]),
    }
    dest = ROOT / 'test/fixtures/models/tiny-whisper/reference.json'
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(ref, separators=(',', ':')) + '\n')
    print(f'wrote {dest.relative_to(ROOT)} ({dest.stat().st_size} bytes)')


if __name__ == '__main__':
    main()
