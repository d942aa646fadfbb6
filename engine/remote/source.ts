import { SourceError } from '../errors.js';

/** Where an OpenAI-compatible inference server lives and which of its models to use. */
export interface RemoteSource {
  /** The API base, e.g. `https://host/v1` (no trailing slash, no credentials, no fragment). */
  baseUrl: string;
  /** The model name from the `#fragment`, or null to take the server's only model. */
  model: string | null;
}

const PREFIX = /^openai\+/i;

/** True for `openai+http(s)://…` sources, the ones `engine.load()` sends to an inference server. */
export function isRemoteSource(src: unknown): src is string {
  return typeof src === 'string' && PREFIX.test(src.trim());
}

/**
 * `openai+https://host/v1#model-name` (or, with backend "remote", `https://host/v1#model-name`) → base URL
 * and model. The model name is the URL-decoded fragment, so names with `/` or `:` (`org/model`,
 * `llama3:8b`) work as they are. Credentials in the URL are refused: give the key as the apiKey option.
 */
export function parseRemoteSource(src: string): RemoteSource {
  const raw = src.trim().replace(PREFIX, '');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new SourceError(`"${raw.replace(/#.*$/, '')}" is not an absolute URL; a remote model is written openai+https://host/v1#model-name`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new SourceError(`a remote model needs an http: or https: endpoint, not ${url.protocol}`);
  if (url.username || url.password) throw new SourceError('the endpoint URL carries credentials; remove them and pass the key as the apiKey property or option');
  const fragment = url.hash.replace(/^#/, '');
  let model: string | null = null;
  if (fragment) {
    try {
      model = decodeURIComponent(fragment);
    } catch {
      throw new SourceError(`the model name after # ("${fragment}") is not valid percent-encoding`);
    }
  }
  url.hash = '';
  return { baseUrl: url.href.replace(/\/+$/, ''), model };
}

/** `base` + `/route`, keeping a query string (some gateways need `?api-version=…`) after the path. */
export function routeUrl(baseUrl: string, route: string): string {
  const url = new URL(baseUrl);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/${route}`;
  return url.href;
}
