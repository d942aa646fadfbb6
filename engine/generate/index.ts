export { generate, type GenerateInput, type GenerateOptions, type Generation, type GenerationMetrics, type GenerationResult, type ServerTimings, type TokenEvent } from './generator.js';
export {
  MinPProcessor, PresenceFrequencyPenaltyProcessor, RepetitionPenaltyProcessor, TemperatureProcessor, TokenHistory, TopKProcessor, TopPProcessor,
  sanitizeLogits, topPositions, type LogitsProcessor, type LogitsRow,
} from './logits-processors.js';
export { TokenSampler, argmaxRow, MAX_DEVICE_CANDIDATES, type LogitsPlan, type SamplingOptions } from './sampler.js';
export { StopCriteria, StopStringMatcher, type FinishReason } from './stopping.js';
export {
  cachedTokens, isMemoryProfile, kvBytesPerToken, memoryProfile, prefillChunkFor, resolveSlidingWindow, windowTokens,
  type MemoryProfile, type MemoryProfileName, type SlidingWindow, type SlidingWindowOptions,
} from './kv-cache.js';
export { Xoshiro128, randomSeed } from './prng.js';
export { generationDefaults, type GenerationDefaults } from './generation-config.js';
