#!/usr/bin/env node
// The `stackware` command. It runs the compiled JavaScript in dist/ and loads no development
// tool: tsx is registered later, in each process or thread that imports the user's TypeScript.
// STACKWARE_SOURCE=1 runs the TypeScript sources instead (this repository's development flow:
// tsx and the "source" export condition in every process and thread).
import { existsSync } from 'node:fs';

if (process.env.STACKWARE_SOURCE === '1') {
  const { registerLoaders } = await import('@stackware/loader');
  await registerLoaders();
  // The package imports itself by name: with the "source" condition registered above it resolves
  // to the TypeScript entry; the bin itself names no source file.
  const { main } = await import('@stackware/cli');
  await main(process.argv.slice(2));
} else {
  const entry = new URL('../dist/main.js', import.meta.url);
  if (!existsSync(entry)) {
    process.stderr.write('stackware: this @stackware/cli is not built (no dist/main.js): run `pnpm build` in the repository, or set STACKWARE_SOURCE=1 to run the TypeScript sources\n');
    process.exit(1);
  }
  const { main } = await import(entry.href);
  await main(process.argv.slice(2));
}
