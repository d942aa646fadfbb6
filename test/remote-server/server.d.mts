export declare const DEFAULT_MODEL: string;
export interface StartedLlamaServer {
  origin: string;
  baseUrl: string;
  name: string;
  close(): Promise<void>;
}
export declare function startLlamaServer(options?: { modelPath?: string; name?: string; port?: number; host?: string; apiKey?: string; nCtx?: number; threads?: number }): Promise<StartedLlamaServer>;
