import { Template } from '@huggingface/jinja';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { FormatError, InvalidArgumentError } from '../errors.js';
import { type GgufHeader, ggufString, ggufStringArray } from './gguf.js';

/**
 * Our tokenizer interface over @huggingface/tokenizers (tokenizer.json + tokenizer_config.json) and
 * @huggingface/jinja (chat templates). GGUF files are served by building a tokenizer.json in memory
 * from their `tokenizer.ggml.*` metadata and loading it through the same library.
 */

export interface ChatMessage {
  role: string;
  content: string;
  [key: string]: unknown;
}

export interface ChatTemplateOptions {
  addGenerationPrompt?: boolean;
  /** Extra template variables (tools, documents, enable_thinking…). */
  extra?: Record<string, unknown>;
}

/** Incremental detokenizer: feed ids one at a time, get only text whose UTF-8 is complete. */
export interface DecodeStream {
  push(id: number): string;
  /** Whatever is still held back (an incomplete character at the end of generation). */
  flush(): string;
}

export interface Tokenizer {
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
  decodeStream(options?: { skipSpecialTokens?: boolean }): DecodeStream;
  applyChatTemplate(messages: readonly ChatMessage[], options?: ChatTemplateOptions): string;
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  readonly padTokenId: number | null;
  readonly unkTokenId: number | null;
  /** One past the largest id (added tokens included): the embedding rows the model needs. */
  readonly vocabSize: number;
  readonly chatTemplate: string | null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseJson(input: unknown, fileName: string): Record<string, unknown> {
  let json = input;
  if (typeof input === 'string') {
    try { json = JSON.parse(input); } catch (cause) {
      throw new FormatError(fileName, `the file is not valid JSON (${(cause as Error).message}); it is truncated or corrupt.`, { cause });
    }
  }
  if (!isObject(json)) throw new FormatError(fileName, 'the file must hold a JSON object.');
  return json;
}

/** A special token in tokenizer_config.json is a string or an AddedToken object `{content, …}`. */
function tokenContent(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (isObject(v) && typeof v['content'] === 'string') return v['content'];
  return null;
}

/** The shape the library dereferences without checking; anything else becomes a FormatError here. */
/** Unused ids tolerated past the listed tokens (reserved slots); see validateTokenizerJson. */
const MAX_ID_GAP = 65_536;

function validateTokenizerJson(json: Record<string, unknown>, fileName: string): void {
  const model = json['model'];
  if (!isObject(model)) throw new FormatError(fileName, '"model" must be an object describing the tokenizer model (BPE, WordPiece, Unigram…).');
  const vocab = model['vocab'];
  if (vocab !== undefined && !isObject(vocab) && !Array.isArray(vocab)) throw new FormatError(fileName, '"model.vocab" must be an object or an array.');
  if (isObject(vocab)) {
    for (const [tok, id] of Object.entries(vocab)) {
      if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) throw new FormatError(fileName, `vocab entry ${JSON.stringify(tok)} has id ${JSON.stringify(id)}; ids must be non-negative integers.`);
    }
  }
  const merges = model['merges'];
  if (merges !== undefined && (!Array.isArray(merges) || !merges.every((m) => typeof m === 'string' || (Array.isArray(m) && m.length === 2 && m.every((x) => typeof x === 'string'))))) {
    throw new FormatError(fileName, '"model.merges" must be a list of "a b" strings or [a, b] pairs.');
  }
  const added = json['added_tokens'] ?? [];
  if (!Array.isArray(added)) throw new FormatError(fileName, '"added_tokens" must be an array.');
  for (const t of added) {
    if (!isObject(t) || typeof t['content'] !== 'string' || typeof t['id'] !== 'number' || !Number.isSafeInteger(t['id']) || t['id'] < 0) {
      throw new FormatError(fileName, `added token ${JSON.stringify(t)} needs a string "content" and a non-negative integer "id".`);
    }
  }
  // The tokenizers library sizes its id → token table by the largest id and walks it end to end
  // (get_vocab), so one id of 2^31 in a 300-entry file costs minutes and gigabytes. Real vocabularies
  // are dense (a few reserved holes at most): ids beyond the entry count plus MAX_ID_GAP are corrupt.
  const entries = (isObject(vocab) ? Object.keys(vocab).length : Array.isArray(vocab) ? vocab.length : 0) + added.length;
  const idLimit = entries + MAX_ID_GAP;
  const ids = [...(isObject(vocab) ? Object.entries(vocab) : []), ...added.map((t) => [(t as Record<string, unknown>)['content'], (t as Record<string, unknown>)['id']] as const)];
  for (const [tok, id] of ids) {
    if ((id as number) >= idLimit) throw new FormatError(fileName, `token ${JSON.stringify(tok)} has id ${id as number}, far beyond the ${entries} tokens the file lists (ids must stay below ${idLimit}); the file is corrupt.`);
  }
  for (const key of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder']) {
    const v = json[key];
    if (v !== undefined && v !== null && !isObject(v)) throw new FormatError(fileName, `"${key}" must be an object or null.`);
  }
}

function pickChatTemplate(config: Record<string, unknown>, fileName: string): string | null {
  const t = config['chat_template'];
  if (t === undefined || t === null) return null;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t.filter((x): x is { name: string; template: string } => isObject(x) && typeof x['name'] === 'string' && typeof x['template'] === 'string');
    return (named.find((x) => x.name === 'default') ?? named[0])?.template ?? null;
  }
  throw new FormatError(fileName, '"chat_template" must be a string or a list of {name, template}.');
}

/** Largest UTF-8 sequence plus byte-fallback slack: after this many held ids, text is emitted as is. */
const MAX_PENDING = 8;

class LoadedTokenizer implements Tokenizer {
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  readonly padTokenId: number | null;
  readonly unkTokenId: number | null;
  readonly vocabSize: number;
  readonly chatTemplate: string | null;
  readonly #tok: HfTokenizer;
  readonly #config: Record<string, unknown>;
  readonly #configFile: string;
  readonly #tokFile: string;
  #template: Template | null = null;

  constructor(tok: HfTokenizer, config: Record<string, unknown>, configFile: string, tokFile = 'tokenizer.json') {
    this.#tok = tok;
    this.#tokFile = tokFile;
    this.#config = config;
    this.#configFile = configFile;
    const id = (key: string): number | null => {
      const c = tokenContent(config[key]);
      return c === null ? null : tok.token_to_id(c) ?? null;
    };
    this.bosTokenId = id('bos_token');
    this.eosTokenId = id('eos_token');
    this.padTokenId = id('pad_token');
    this.unkTokenId = id('unk_token');
    let max = -1;
    for (const v of tok.get_vocab(true).values()) if (v > max) max = v;
    this.vocabSize = max + 1;
    this.chatTemplate = pickChatTemplate(config, configFile);
  }

  encode(text: string, options: { addSpecialTokens?: boolean } = {}): number[] {
    const enc = this.#tok.encode(text, { add_special_tokens: options.addSpecialTokens ?? true });
    // The library yields `undefined` for a piece its vocabulary lacks when there is no unk_token;
    // passing that on would be a silently wrong prompt.
    const bad = enc.ids.findIndex((id) => !Number.isSafeInteger(id));
    if (bad >= 0) {
      throw new FormatError(this.#tokFile, `has no id for the piece ${JSON.stringify(enc.tokens[bad])} of the text and no usable "unk_token"; the vocabulary is incomplete or corrupt.`);
    }
    return enc.ids;
  }

  decode(ids: readonly number[], options: { skipSpecialTokens?: boolean } = {}): string {
    if (ids.length === 0) return '';
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) throw new InvalidArgumentError(`decode: token id ${id} is outside the vocabulary [0, ${this.vocabSize}).`);
    }
    return this.#tok.decode([...ids], { skip_special_tokens: options.skipSpecialTokens ?? false, clean_up_tokenization_spaces: false });
  }

  tokenToId(token: string): number | undefined {
    return this.#tok.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.#tok.id_to_token(id);
  }

  /**
   * Decodes the ids emitted last (`context`) together with the new ones, so decoders that look at
   * neighbours (leading-space stripping) behave as on the whole text, and emits the new suffix once
   * it no longer ends in U+FFFD (the mark of a character whose bytes are still coming).
   */
  decodeStream(options: { skipSpecialTokens?: boolean } = {}): DecodeStream {
    let context: number[] = [];
    let contextText = '';
    let pending: number[] = [];
    const emit = (text: string): string => {
      const out = text.startsWith(contextText) ? text.slice(contextText.length) : text;
      const pendingText = this.decode(pending, options);
      if (pendingText.length > 0) {
        context = pending;
        contextText = pendingText;
      }
      pending = [];
      return out;
    };
    return {
      push: (id: number): string => {
        pending.push(id);
        const text = this.decode([...context, ...pending], options);
        if (text.endsWith('\uFFFD') && pending.length < MAX_PENDING) return '';
        return emit(text);
      },
      flush: (): string => (pending.length === 0 ? '' : emit(this.decode([...context, ...pending], options))),
    };
  }

  applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
    if (this.chatTemplate === null) {
      throw new FormatError(this.#configFile, 'has no "chat_template"; this model is not a chat model (format the prompt yourself).');
    }
    if (this.#template === null) {
      try {
        this.#template = new Template(this.chatTemplate);
      } catch (cause) {
        throw new FormatError(this.#configFile, `the chat template does not parse: ${(cause as Error).message}.`, { cause });
      }
    }
    const special: Record<string, string> = {};
    for (const key of ['bos_token', 'eos_token', 'pad_token', 'unk_token']) {
      const c = tokenContent(this.#config[key]);
      if (c !== null) special[key] = c;
    }
    try {
      return this.#template.render({
        ...special,
        ...options.extra,
        messages: messages.map((m) => ({ ...m })),
        add_generation_prompt: options.addGenerationPrompt ?? false,
      });
    } catch (cause) {
      throw new FormatError(this.#configFile, `the chat template failed to render: ${(cause as Error).message}.`, { cause });
    }
  }
}

/** Loads tokenizer.json (+ tokenizer_config.json), each as text or parsed JSON. */
export function loadTokenizer(tokenizerJson: unknown, tokenizerConfig: unknown = {}, fileNames: { tokenizer?: string; config?: string } = {}): Tokenizer {
  const tokFile = fileNames.tokenizer ?? 'tokenizer.json';
  const cfgFile = fileNames.config ?? 'tokenizer_config.json';
  const json = parseJson(tokenizerJson, tokFile);
  const config = parseJson(tokenizerConfig, cfgFile);
  validateTokenizerJson(json, tokFile);
  let tok: HfTokenizer;
  try {
    // Decoding keeps text as produced; transformers-style space clean-up would break streaming.
    tok = new HfTokenizer(json, { ...config, clean_up_tokenization_spaces: false });
  } catch (cause) {
    throw new FormatError(tokFile, `could not be loaded: ${(cause as Error).message}. The file may come from a newer tokenizers version or be corrupt.`, { cause });
  }
  return new LoadedTokenizer(tok, config, cfgFile, tokFile);
}

const GPT2_BYTE_LEVEL = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };

/** Pre-tokenizers of the `tokenizer.ggml.pre` names llama.cpp writes, rebuilt as tokenizer.json parts. */
function ggufPreTokenizer(pre: string | undefined, fileName: string): Record<string, unknown> {
  const split = (regex: string) => ({
    type: 'Sequence',
    pretokenizers: [
      { type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false },
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    ],
  });
  switch (pre ?? 'default') {
    case 'default': case 'gpt-2': case 'gpt2':
      return GPT2_BYTE_LEVEL;
    case 'llama-bpe': case 'llama3':
      return split("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+");
    case 'qwen2':
      return split("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+");
    case 'smollm':
      return { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, GPT2_BYTE_LEVEL] };
    default:
      throw new FormatError(fileName, `tokenizer.ggml.pre = "${pre}" is not a pre-tokenizer this engine knows (default, gpt-2, llama-bpe, qwen2, smollm); load the model's tokenizer.json instead.`);
  }
}

/** GGUF token types (llama.cpp): 3 = control (special), 4 = user-defined (added, not special). */
const TOKEN_CONTROL = 3;
const TOKEN_USER_DEFINED = 4;

/**
 * A tokenizer from GGUF metadata. Only `tokenizer.ggml.model = "gpt2"` (byte-level BPE: tokens +
 * merges) is supported; SentencePiece ("llama") vocabularies need their own model and are refused.
 */
export function tokenizerFromGguf(h: GgufHeader): Tokenizer {
  const fileName = h.fileName;
  const model = ggufString(h, 'tokenizer.ggml.model');
  if (model === undefined) throw new FormatError(fileName, 'has no tokenizer (tokenizer.ggml.model is missing); load tokenizer.json instead.');
  if (model !== 'gpt2') throw new FormatError(fileName, `tokenizer.ggml.model = "${model}" is not supported from GGUF (only "gpt2" byte-level BPE); load the model's tokenizer.json instead.`);
  const tokens = ggufStringArray(h, 'tokenizer.ggml.tokens');
  const merges = ggufStringArray(h, 'tokenizer.ggml.merges');
  if (!tokens || tokens.length === 0) throw new FormatError(fileName, 'tokenizer.ggml.tokens is missing or empty.');
  if (!merges) throw new FormatError(fileName, 'tokenizer.ggml.merges is missing; a BPE tokenizer needs its merges.');
  const types = h.metadata.get('tokenizer.ggml.token_type');
  if (types !== undefined && !(types instanceof Int32Array && types.length === tokens.length)) {
    throw new FormatError(fileName, `tokenizer.ggml.token_type must be an int32 array with one entry per token (${tokens.length}).`);
  }
  const vocab: Record<string, number> = Object.create(null);
  tokens.forEach((t, i) => { if (!(t in vocab)) vocab[t] = i; });
  const added = [];
  if (types) {
    for (let i = 0; i < tokens.length; i++) {
      if (types[i] === TOKEN_CONTROL || types[i] === TOKEN_USER_DEFINED) {
        added.push({ id: i, content: tokens[i]!, single_word: false, lstrip: false, rstrip: false, normalized: false, special: types[i] === TOKEN_CONTROL });
      }
    }
  }
  const id = (key: string): number | null => {
    const v = h.metadata.get(key);
    if (v === undefined) return null;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= tokens.length) throw new FormatError(fileName, `${key} = ${String(v)} is not a token id below ${tokens.length}.`);
    return v;
  };
  const bos = id('tokenizer.ggml.bos_token_id');
  const eos = id('tokenizer.ggml.eos_token_id');
  const pad = id('tokenizer.ggml.padding_token_id');
  const unk = id('tokenizer.ggml.unknown_token_id');
  const flag = (key: string): boolean => h.metadata.get(key) === true;
  const addBos = flag('tokenizer.ggml.add_bos_token') && bos !== null;
  const addEos = flag('tokenizer.ggml.add_eos_token') && eos !== null;
  const seq = (ab: 'A' | 'B') => [
    ...(addBos ? [{ SpecialToken: { id: tokens[bos!]!, type_id: 0 } }] : []),
    { Sequence: { id: ab, type_id: 0 } },
    ...(addEos ? [{ SpecialToken: { id: tokens[eos!]!, type_id: 0 } }] : []),
  ];
  const specials: Record<string, unknown> = {};
  if (addBos) specials[tokens[bos!]!] = { id: tokens[bos!]!, ids: [bos], tokens: [tokens[bos!]!] };
  if (addEos) specials[tokens[eos!]!] = { id: tokens[eos!]!, ids: [eos], tokens: [tokens[eos!]!] };
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: ggufPreTokenizer(ggufString(h, 'tokenizer.ggml.pre'), fileName),
    post_processor: addBos || addEos
      ? { type: 'TemplateProcessing', single: seq('A'), pair: [...seq('A'), ...seq('B')], special_tokens: specials }
      : { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: unk === null ? null : tokens[unk], continuing_subword_prefix: null,
      end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges,
    },
  };
  const config: Record<string, unknown> = {};
  if (bos !== null) config['bos_token'] = tokens[bos];
  if (eos !== null) config['eos_token'] = tokens[eos];
  if (pad !== null) config['pad_token'] = tokens[pad];
  if (unk !== null) config['unk_token'] = tokens[unk];
  const template = ggufString(h, 'tokenizer.chat_template');
  if (template !== undefined) config['chat_template'] = template;
  return loadTokenizer(json, config, { tokenizer: fileName, config: fileName });
}
