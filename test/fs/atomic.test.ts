import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { temporaryOwner, temporaryPath, writeFileAtomic, writeStreamAtomic } from '../../src/fs/atomic.ts';
import { execa } from 'execa';
import { REPO, TempProject } from '../helpers/project.ts';

let project: TempProject;
beforeEach(async () => {
  project = await TempProject.create();
});
afterEach(async () => {
  await project.cleanup();
});

const at = (name: string) => path.join(project.dir, name);
/** Every name in the project folder but the migrations folder TempProject makes. */
const leftovers = async () => (await readdir(project.dir)).filter((name) => name !== 'migrations').sort();

describe('temporaryPath / temporaryOwner', () => {
  it('puts a hidden, pid-stamped, unguessable name beside the file', () => {
    expect(temporaryPath('/srv/app/backups/daily/app.db', 4242)).toMatch(/^\/srv\/app\/backups\/daily\/\.app\.db\.tmp-4242-[0-9a-f]{16}$/);
    expect(temporaryPath('/srv/app/x.json')).toMatch(new RegExp(`^/srv/app/\\.x\\.json\\.tmp-${process.pid}-[0-9a-f]{16}$`));
    expect(temporaryPath('/srv/app/x.json')).not.toBe(temporaryPath('/srv/app/x.json'));
  });

  it('still reads the pid from the names older versions wrote (.<name>.tmp-<pid>), to sweep them', () => {
    expect(temporaryOwner('.app_daily_20260101_000000.db.tmp-4242')).toBe(4242);
    expect(temporaryOwner('.app_daily_20260101_000000.db.tmp-4242-journal')).toBe(4242);
  });

  it('reads the pid back, from the temporary file and its SQLite side files and .gz', () => {
    const name = path.basename(temporaryPath('/b/app_daily_20260101_000000.db', 31337));
    expect(temporaryOwner(name)).toBe(31337);
    for (const suffix of ['-journal', '-wal', '-shm', '.gz']) expect(temporaryOwner(`${name}${suffix}`)).toBe(31337);
  });

  it('owns nothing that is not one of its temporary names', () => {
    for (const name of [
      'app.db',
      'app.db.tmp-12',
      '.app.db',
      '.app.db.tmp-',
      '.app.db.tmp-12x',
      '.app.db.tmp-abc',
      '.app.db.tmp-12-zz',
      '.app.db.tmp-12-0123',
      '.tmp-12',
      'app.db-wal',
    ]) {
      expect(temporaryOwner(name), name).toBeNull();
    }
  });
});

describe('writeFileAtomic', () => {
  it('writes a new file and replaces an old one, leaving no temporary behind', async () => {
    await writeFileAtomic(at('state.json'), '{"v":1}\n');
    expect(await readFile(at('state.json'), 'utf8')).toBe('{"v":1}\n');
    await writeFileAtomic(at('state.json'), 'second');
    expect(await readFile(at('state.json'), 'utf8')).toBe('second');
    expect(await leftovers()).toEqual(['state.json']);
  });

  it('fails in a folder that does not exist, creating nothing', async () => {
    await expect(writeFileAtomic(at('missing/state.json'), 'x')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await leftovers()).toEqual([]);
  });

  // Regression (this test found it): the rename (commitTemporary) runs outside the cleanup in writeFileAtomic, so when it
  // fails the `.state.json.tmp-<pid>` file stays behind beside the target.
  it('removes its temporary file when the rename into place fails', async () => {
    await mkdir(at('state.json'));
    await writeFile(at('state.json/keep'), 'a folder is in the way');
    await expect(writeFileAtomic(at('state.json'), 'x')).rejects.toThrow();
    expect(await leftovers()).toEqual(['state.json']);
  });
});

describe('writeStreamAtomic', () => {
  it('streams many chunks into the file, exactly', async () => {
    const chunk = 'x'.repeat(64 * 1024 - 1) + '\n';
    await writeStreamAtomic(at('out.sql'), async (write) => {
      for (let i = 0; i < 80; i += 1) await write(chunk);
    });
    expect(await readFile(at('out.sql'), 'utf8')).toBe(chunk.repeat(80));
    expect(await leftovers()).toEqual(['out.sql']);
  });

  it('shows the old file until the new one is whole', async () => {
    await writeFile(at('out.sql'), 'old');
    let seenWhileWriting = '';
    await writeStreamAtomic(at('out.sql'), async (write) => {
      await write('new part 1;');
      seenWhileWriting = await readFile(at('out.sql'), 'utf8');
      await write('new part 2;');
    });
    expect(seenWhileWriting).toBe('old');
    expect(await readFile(at('out.sql'), 'utf8')).toBe('new part 1;new part 2;');
  });

  it('removes the temporary file and keeps the old file when the producer throws after writing', async () => {
    await writeFile(at('out.sql'), 'old');
    await expect(
      writeStreamAtomic(at('out.sql'), async (write) => {
        // Enough to open the stream and wait on back-pressure: every write has landed when it throws.
        for (let i = 0; i < 8; i += 1) await write('y'.repeat(64 * 1024));
        throw new Error('producer failed');
      }),
    ).rejects.toThrow('producer failed');
    expect(await readFile(at('out.sql'), 'utf8')).toBe('old');
    expect(await leftovers()).toEqual(['out.sql']);
  });

  // Regression (this test found it): when the producer throws before the write stream has opened its file, `stream.destroy()`
  // does not wait for the pending open: the unlink runs first, then the open creates
  // `.new.sql.tmp-<pid>`, which stays behind (restore-table --out on a table that fails at once).
  it('creates nothing when the producer throws before the stream opened', async () => {
    await expect(writeStreamAtomic(at('new.sql'), async () => Promise.reject(new Error('nothing to write')))).rejects.toThrow(
      'nothing to write',
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await leftovers()).toEqual([]);
  });

  // Regression (this test found it): when the producer throws while a write is still in flight (a row written, the next read
  // fails), `stream.destroy()` makes that write emit ERR_STREAM_DESTROYED on a stream with no
  // 'error' listener: the whole process dies of an uncaught exception instead of the producer's
  // error being thrown. Run in a child process, so the crash cannot take the test worker down.
  it('rejects with the producer error, without crashing, when it throws mid-write', async () => {
    const script = `
      const { writeStreamAtomic } = await import(${JSON.stringify(path.join(REPO, 'src/fs/atomic.ts'))});
      const failed = await writeStreamAtomic(process.argv[1], async (write) => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        await write('one row;');
        throw new Error('the next row cannot be read');
      }).catch((error) => error.message);
      await new Promise((resolve) => setTimeout(resolve, 50));
      console.log(failed);`;
    const child = await execa('node', ['--import', 'tsx', '--input-type=module', '-e', script, at('mid.sql')], {
      reject: false,
      cwd: REPO,
    });
    expect(child.stderr).not.toContain('ERR_STREAM_DESTROYED');
    expect({ exitCode: child.exitCode, stdout: child.stdout }).toEqual({ exitCode: 0, stdout: 'the next row cannot be read' });
    expect(await leftovers()).toEqual([]);
  });

  // Regression (this test found it): as in writeFileAtomic, a failing rename leaves `.out.sql.tmp-<pid>` behind.
  it('removes its temporary file when the rename into place fails', async () => {
    await mkdir(at('out.sql'));
    await writeFile(at('out.sql/keep'), 'a folder is in the way');
    await expect(writeStreamAtomic(at('out.sql'), async (write) => write('x'))).rejects.toThrow();
    expect(await leftovers()).toEqual(['out.sql']);
  });
});
