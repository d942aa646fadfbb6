/** The CDN bundle (dist/accel.min.js): every element and the whole engine API in one file. */
export * from './index.js';
export * from '../engine/index.js';
