import type { IncomingMessage, ServerResponse } from 'node:http';

export declare const WORDS: string[];
export declare const API_KEY: string;
export declare const stats: { bodies: Record<string, unknown>[]; closedEarly: number; authHeaders: (string | undefined)[] };
export declare function handleOpenAIFault(req: IncomingMessage, res: ServerResponse): Promise<void>;
export declare function createOpenAIFaultServer(): Promise<{ origin: string; close: () => Promise<unknown> }>;
export declare function openAIFaultServer(): { name: string; serve(context: { path: string }): Promise<{ body: string; type: string } | undefined>; serverStop(): Promise<void> };
