#!/usr/bin/env node
// Runs a wasm32-wasip1 program (a test binary built by cargo) with Node.js's built-in WASI.
//
// Used as cargo's runner:
//   CARGO_TARGET_WASM32_WASIP1_RUNNER="node --no-warnings $PWD/.ci/wasi-runner.mjs" \
//     cargo test -p orchestrator-core --target wasm32-wasip1
//
// cargo calls it as `wasi-runner.mjs path/to/test.wasm [args...]`. The program sees the
// arguments, the environment and the file system under the current directory (libtest
// needs none of it, but it costs nothing), and its exit code becomes ours.

import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
import process from 'node:process';

const [wasmPath, ...args] = process.argv.slice(2);
if (!wasmPath) {
  console.error('usage: wasi-runner.mjs <program.wasm> [args...]');
  process.exit(2);
}

const wasi = new WASI({
  version: 'preview1',
  args: [wasmPath, ...args],
  env: process.env,
  preopens: { '.': process.cwd() },
  returnOnExit: true,
});

try {
  const module = await WebAssembly.compile(await readFile(wasmPath));
  const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
  const code = wasi.start(instance);
  process.exit(code ?? 0);
} catch (error) {
  // A trap (a panic under panic=abort ends in `unreachable`) or a bad module.
  console.error(`wasi-runner: ${wasmPath}: ${error?.stack ?? error}`);
  process.exit(101);
}
