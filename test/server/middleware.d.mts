import type { IncomingMessage, ServerResponse } from 'node:http';

export declare function handleLoaderRequest(req: IncomingMessage, res: ServerResponse, setStatus?: (status: number) => void): Promise<boolean>;
export declare const testServerMiddleware: ((ctx: unknown, next: () => Promise<unknown>) => Promise<unknown>)[];
export declare function createLoaderTestServer(): Promise<{ origin: string; close: () => Promise<void> }>;
