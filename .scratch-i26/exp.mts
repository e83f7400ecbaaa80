import { postgresEngine } from '/work/wt/i26/src/engines/postgres/engine.ts';
import { compareRestored } from '/work/wt/i26/src/backup/compare-facts.ts';
const url = process.argv[2]!;
const engine = postgresEngine(url, { stateDir: '/tmp', sessionProven: true });
const target = `/tmp/i26-exp-${Date.now()}.dump`;
try {
  const facts = await engine.snapshot(target, undefined, async () => []);
  const proof = await engine.proveSnapshot(target, async () => []);
  console.log('integrity', proof.integrity, 'unreadable', proof.unreadable);
  console.log('diff', proof.facts ? compareRestored(facts!, proof.facts) : 'no facts');
} catch (e) { console.log('threw', (e as Error).message); }
process.exit(0);
