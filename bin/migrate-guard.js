#!/usr/bin/env node
// The CLI runs the compiled JavaScript in dist/ (`npm run build`; `prepare` builds it on install
// and pack). Projects can still write their migrations, knexfile and migrate-guard.config in
// TypeScript without a build step: src/load-module.ts loads tsx for those files only.
import { main } from '../dist/cli/main.js';

const exitCode = await main({
  argv: process.argv.slice(2),
  env: process.env,
  cwd: process.cwd(),
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  onSignal(listener) {
    process.on('SIGINT', listener);
    process.on('SIGTERM', listener);
    return () => {
      process.off('SIGINT', listener);
      process.off('SIGTERM', listener);
    };
  },
});
process.exitCode = exitCode;
// The run is over, but a project's own modules may keep the event loop alive (the knex pool of
// its Umzug's context, say): exit once what we wrote has reached stdout and stderr.
process.stdout.write('', () => process.stderr.write('', () => process.exit(exitCode)));
