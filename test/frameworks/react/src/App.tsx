import { useRef, useState } from 'react';
import { AccelModel, AccelStream, useGenerate, useModel } from 'accel/react';
import type { AccelStream as AccelStreamElement } from 'accel';

export function App() {
  const [src] = useState('/models/tiny-llama/');
  const [backend] = useState<'wasm' | 'cpu' | 'webgpu' | 'auto'>('wasm');
  const [prompt, setPrompt] = useState('You will');
  const [maxTokens] = useState(12);
  const [loadedOn, setLoadedOn] = useState('');
  const [tokens, setTokens] = useState(0);
  const [result, setResult] = useState('');
  const [runtime, setRuntime] = useState('');
  const stream = useRef<AccelStreamElement>(null);
  return (
    <>
      <AccelModel id="tiny" src={src} backend={backend} preload onAccelReady={(e) => setLoadedOn(e.detail.backend)} />
      <label>
        Prompt <input id="prompt" value={prompt} onChange={(e) => setPrompt(e.target.value)} />
      </label>
      <button id="generate" onClick={() => stream.current?.generate()}>Generate</button>
      <AccelStream ref={stream} model="tiny" prompt={prompt} maxTokens={maxTokens} temperature={0}
        onAccelToken={(e) => setTokens(e.detail.index + 1)} onAccelDone={(e) => setResult(e.detail.text)} />
      <p>
        Loaded on <output id="ready">{loadedOn}</output>, <output id="tokens">{tokens}</output> tokens
      </p>
      <p id="result">{result}</p>
      {/* a plain tag works too: React 19 sets properties and listens to on<event-name> (typed by accel/jsx) */}
      <accel-capabilities compact onaccel-capabilities-ready={(e) => setRuntime(e.detail.runtime)} />
      <output id="caps">{runtime}</output>
      <HooksPanel src={src} backend={backend} prompt={prompt} maxTokens={maxTokens} />
    </>
  );
}

/** The same generation through the hooks, no element: the engine shares the model loaded above. */
function HooksPanel(props: { src: string; backend: 'wasm' | 'cpu' | 'webgpu' | 'auto'; prompt: string; maxTokens: number }) {
  const { model, status } = useModel(props.src, { backend: props.backend });
  const { output, running, generate } = useGenerate(model);
  return (
    <section>
      <output id="hook-status">{status}</output>
      <button id="hook-generate" disabled={!model || running} onClick={() => generate(props.prompt, { maxNewTokens: props.maxTokens, temperature: 0 })}>
        Generate with hooks
      </button>
      <p id="hook-result">{running ? '' : output}</p>
    </section>
  );
}
