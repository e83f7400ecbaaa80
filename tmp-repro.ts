import { execa } from 'execa';
import { readdirSync } from 'node:fs';
import { startPgWriter } from './torture/pg-writer.ts';
const file = '/tmp/pgt/backups/daily/' + readdirSync('/tmp/pgt/backups/daily').find((n) => n.endsWith('.gz'))!;
for (let i = 0; i < Number(process.argv[2]); i += 1) {
  const w = await startPgWriter(process.env.DATABASE_URL!, `/tmp/pgt/ids-${i}.txt`, `r${i}`, i + 1, i % 2 ? 'busy' : 'calm');
  await new Promise((r) => setTimeout(r, 300 + i * 97 % 700));
  const r = await execa('node', ['/work/wt/i21t/bin/migrate-guard.js', 'restore', file, '--yes', '--json'], { reject: false, cwd: '/tmp/pgt' });
  const stop = await w.stop();
  let msg = '';
  try { const j = JSON.parse(r.stdout); msg = j.error?.message ?? ''; } catch { msg = r.stderr.slice(-300); }
  console.log(i, 'exit', r.exitCode, msg.slice(0, 600), '| writer', stop.slice(0, 200));
}
