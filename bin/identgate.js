#!/usr/bin/env node
// The identgate command. It runs the compiled build in dist/ (made by `npm install` / `npm run build`).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/entry.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('identgate: the build is missing; run `npm run build` (npm install does it too)\n');
  process.exit(1);
}
await import(entry.href);
