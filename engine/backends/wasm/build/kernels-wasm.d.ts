// Types of the module tools/build-wasm.mjs generates beside this file (kernels-wasm.js, git-ignored).
/** The kernels over a plain imported memory (single-threaded), base64. */
export declare const KERNELS_WASM_BASE64: string;
/** The kernels over an imported shared memory (worker pool), base64. */
export declare const KERNELS_THREADS_WASM_BASE64: string;
