"""Builds the tiny-llama training corpus from two Debian packages, reproducibly.

Sources (install with `apt-get install -y fortunes fortunes-min bible-kjv bible-kjv-text`):
  * fortune databases in /usr/share/games/fortunes (Debian `fortunes`, `fortunes-min`; BSD licence,
    see /usr/share/doc/fortunes/copyright), minus the ASCII-art, translate-me and ethnic files;
  * the King James Version of the Bible as printed by `bible` (Debian `bible-kjv-text`; the KJV text
    is public domain, see /usr/share/doc/bible-kjv-text/copyright).

Outputs (tools/train/corpus/data/, git-ignored; carried to the GPU machine):
  train.jsonl    one document a line: {"source", "kind": "text"|"chat", "text" | "messages"}
  heldout.txt    held-out documents (5% of each source, whole documents) separated by blank lines
                 and a line holding only "%"; also copied to models/tiny-llama/heldout.txt
  stats.json     counts and sizes, quoted in the model card

Every choice (which documents are held out, which become chat examples, which prompt they get) comes
from one seeded random.Random, so the same packages give byte-identical files.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

FORTUNE_DIR = Path('/usr/share/games/fortunes')
# art / ascii-art are pictures, translate-me is mostly non-English, ethnic is kept out on purpose.
FORTUNE_SKIP = {'art', 'ascii-art', 'translate-me', 'ethnic'}
HELDOUT_FRACTION = 0.05
CHAT_FRACTION = 0.25
SEED = 20251123
SPECIAL_MARKERS = ('<s>', '</s>', '<pad>', '<|im_start|>', '<|im_end|>')

FORTUNE_PROMPTS = [
    'Tell me a fortune.',
    'Give me a fortune cookie.',
    'Say something wise.',
    'Tell me something funny.',
    'Give me a quote.',
]
TOPIC_PROMPTS = [
    'Tell me something about {topic}.',
    'Give me a quote about {topic}.',
    'What is a good fortune about {topic}?',
]
VERSE_PROMPTS = [
    'Quote a verse from {book}.',
    'Read me a verse from the book of {book}.',
    'Give me a Bible verse.',
]


def clean_fortune(raw: str) -> str | None:
    lines = [re.sub(r'\s+', ' ', line).strip() for line in raw.split('\n')]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    text = re.sub(r'\n{3,}', '\n\n', '\n'.join(lines))
    text = unicodedata.normalize('NFC', text)
    if len(text) < 8 or '\ufffd' in text or any(m in text for m in SPECIAL_MARKERS):
        return None
    letters = sum(ch.isalpha() or ch == ' ' for ch in text)
    if letters / len(text.replace('\n', '')) < 0.7:
        return None
    return text


def read_fortunes() -> list[dict]:
    docs = []
    for path in sorted(FORTUNE_DIR.iterdir()):
        if path.suffix in ('.dat', '.u8') or path.is_symlink() or path.name in FORTUNE_SKIP:
            continue
        raw = path.read_bytes().decode('utf-8', errors='replace')
        for chunk in re.split(r'^%$', raw, flags=re.M):
            text = clean_fortune(chunk)
            if text:
                docs.append({'source': 'fortunes', 'topic': path.name, 'text': text})
    return docs


def read_kjv() -> list[dict]:
    out = subprocess.run(['bible', '-l100000', 'Gen1:1-Rev22:21'], check=True,
                         capture_output=True, text=True).stdout
    docs: list[dict] = []
    header_re = re.compile(r'^((?:[1-3] )?[A-Z][A-Za-z ]+) (\d+)$')
    verse_re = re.compile(r'^\s+(\d+) (.*)$')
    current: dict | None = None
    for line in out.split('\n'):
        if not line.strip():
            continue
        m = header_re.match(line)
        if m:
            current = {'source': 'kjv', 'book': m.group(1), 'chapter': int(m.group(2)), 'verses': []}
            docs.append(current)
            continue
        v = verse_re.match(line)
        if v is None or current is None:
            raise ValueError(f'unexpected line in bible output: {line!r}')
        current['verses'].append(re.sub(r'\s+', ' ', v.group(2)).strip())
    for d in docs:
        d['text'] = f"{d['book']} {d['chapter']}\n\n" + '\n'.join(d['verses'])
    return docs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', default=str(Path(__file__).parent / 'data'))
    ap.add_argument('--heldout-copy', default=str(Path(__file__).parents[3] / 'models/tiny-llama/heldout.txt'))
    args = ap.parse_args()
    rng = random.Random(SEED)

    fortunes = read_fortunes()
    kjv = read_kjv()

    train: list[dict] = []
    heldout: list[str] = []
    for docs in (fortunes, kjv):
        order = list(range(len(docs)))
        rng.shuffle(order)
        n_held = round(len(docs) * HELDOUT_FRACTION)
        held = set(order[:n_held])
        for i, d in enumerate(docs):
            if i in held:
                heldout.append(d['text'])
            else:
                train.append(d)

    records = []
    for d in train:
        records.append({'source': d['source'], 'kind': 'text', 'text': d['text']})
        if rng.random() >= CHAT_FRACTION:
            continue
        # Chat examples repeat a training document inside the chat template, so the model learns the
        # format without any held-out text leaking into it.
        if d['source'] == 'fortunes':
            if rng.random() < 0.5:
                prompt = rng.choice(FORTUNE_PROMPTS)
            else:
                prompt = rng.choice(TOPIC_PROMPTS).format(topic=d['topic'].replace('-', ' and '))
            answer = d['text']
        else:
            prompt = rng.choice(VERSE_PROMPTS).format(book=d['book'])
            answer = rng.choice(d['verses'])
        records.append({'source': d['source'], 'kind': 'chat',
                        'messages': [{'role': 'user', 'content': prompt},
                                     {'role': 'assistant', 'content': answer}]})
    rng.shuffle(records)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / 'train.jsonl', 'w', encoding='utf-8') as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + '\n')
    held_text = '\n\n%\n\n'.join(heldout) + '\n'
    (out / 'heldout.txt').write_text(held_text, encoding='utf-8')
    Path(args.heldout_copy).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(out / 'heldout.txt', args.heldout_copy)

    text_chars = sum(len(r['text']) for r in records if r['kind'] == 'text')
    stats = {
        'fortune_documents': len(fortunes),
        'kjv_chapters': len(kjv),
        'kjv_verses': sum(len(d['verses']) for d in kjv),
        'train_text_documents': sum(r['kind'] == 'text' for r in records),
        'train_chat_documents': sum(r['kind'] == 'chat' for r in records),
        'train_text_chars': text_chars,
        'heldout_documents': len(heldout),
        'heldout_chars': len(held_text),
        'train_jsonl_sha256': hashlib.sha256((out / 'train.jsonl').read_bytes()).hexdigest(),
        'heldout_sha256': hashlib.sha256(held_text.encode('utf-8')).hexdigest(),
    }
    (out / 'stats.json').write_text(json.dumps(stats, indent=2) + '\n')
    print(json.dumps(stats, indent=2))


if __name__ == '__main__':
    main()
