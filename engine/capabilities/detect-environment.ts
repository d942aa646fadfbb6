import { isNode } from './detect-wasm.js';
import type { BrowserInfo, DeviceReport, RuntimeKind } from './types.js';

interface NavigatorLike {
  userAgent?: string;
  hardwareConcurrency?: number;
  deviceMemory?: number;
  userAgentData?: {
    brands?: { brand: string; version: string }[];
    mobile?: boolean;
    platform?: string;
    getHighEntropyValues?: (hints: string[]) => Promise<{ fullVersionList?: { brand: string; version: string }[]; platformVersion?: string }>;
  };
  storage?: { estimate?: () => Promise<{ quota?: number; usage?: number }>; persisted?: () => Promise<boolean> };
}

function nav(): NavigatorLike | undefined {
  return (globalThis as { navigator?: NavigatorLike }).navigator;
}

export function runtimeKind(): RuntimeKind {
  const g = globalThis as { document?: unknown; WorkerGlobalScope?: unknown; importScripts?: unknown };
  if (typeof g.document === 'object') return 'browser';
  if (typeof g.WorkerGlobalScope === 'function' || typeof g.importScripts === 'function') return 'worker';
  if (isNode()) return 'node';
  return 'unknown';
}

// Client-hint brands include decoys like "Not)A;Brand"; prefer the most specific real one.
function pickBrand(brands: { brand: string; version: string }[]): { brand: string; version: string } | undefined {
  const real = brands.filter((b) => !/not.?a.?brand/i.test(b.brand));
  return real.find((b) => b.brand !== 'Chromium') ?? real[0];
}

const UA_PATTERNS: [string, RegExp][] = [
  ['Edge', /Edg\/([\d.]+)/],
  ['Opera', /OPR\/([\d.]+)/],
  ['Firefox', /Firefox\/([\d.]+)/],
  ['Chromium', /Chromium\/([\d.]+)/],
  ['Chrome', /Chrome\/([\d.]+)/],
  ['Safari', /Version\/([\d.]+).*Safari/],
];

export async function detectBrowser(): Promise<BrowserInfo> {
  const n = nav();
  const uad = n?.userAgentData;
  if (uad?.brands?.length) {
    let list = uad.brands;
    try {
      const high = await uad.getHighEntropyValues?.(['fullVersionList', 'platformVersion']);
      if (high?.fullVersionList?.length) list = high.fullVersionList;
    } catch {
      /* high-entropy hints may be refused; the low-entropy brands remain */
    }
    const b = pickBrand(list);
    if (b) return { name: b.brand, version: b.version, platform: uad.platform ?? '', mobile: uad.mobile ?? null, source: 'userAgentData' };
  }
  const ua = n?.userAgent ?? '';
  if (isNode() && !/Mozilla/.test(ua)) {
    const p = (globalThis as unknown as { process: { versions: { node: string }; platform: string } }).process;
    return { name: 'Node.js', version: p.versions.node, platform: p.platform, mobile: false, source: 'process' };
  }
  for (const [name, re] of UA_PATTERNS) {
    const m = re.exec(ua);
    if (m) return { name, version: m[1]!, platform: /Windows/.test(ua) ? 'Windows' : /Mac OS/.test(ua) ? 'macOS' : /Android/.test(ua) ? 'Android' : /Linux/.test(ua) ? 'Linux' : '', mobile: /Mobi/.test(ua), source: 'userAgent' };
  }
  return { name: 'unknown', version: '', platform: '', mobile: null, source: 'none' };
}

export async function detectDevice(): Promise<DeviceReport> {
  const n = nav();
  const hardwareConcurrency = typeof n?.hardwareConcurrency === 'number' ? n.hardwareConcurrency : null;
  const deviceMemoryGiB = typeof n?.deviceMemory === 'number' ? n.deviceMemory : null;
  let storage: DeviceReport['storage'] = null;
  if (n?.storage?.estimate) {
    try {
      const est = await n.storage.estimate();
      let persisted: boolean | null = null;
      try {
        persisted = (await n.storage.persisted?.()) ?? null;
      } catch {
        persisted = null;
      }
      storage = { quotaBytes: est.quota ?? null, usageBytes: est.usage ?? null, persisted };
    } catch {
      storage = null;
    }
  }
  return { hardwareConcurrency, deviceMemoryGiB, storage };
}
