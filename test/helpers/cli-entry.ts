// Runs the identgate CLI from source (through tsx), so tests need no build.
import { run } from '../../src/cli/main.js';

process.exitCode = await run(process.argv.slice(2));
