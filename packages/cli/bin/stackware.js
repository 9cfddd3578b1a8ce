#!/usr/bin/env node
// The `stackware` command. Registers the TypeScript loader, then runs the CLI.
import { registerLoaders } from '@stackware/loader';

registerLoaders();
const { main } = await import('../src/main.ts');
await main(process.argv.slice(2));
