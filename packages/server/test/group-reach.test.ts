/**
 * The process-group preflight (groups/reach.ts): can a group's user reach its program? Real
 * directories and modes; the check reads mode bits and owners, so it is the same as root or not.
 */
import { describe, expect, it } from '@jest/globals';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '@stackware/testing';
import { unreachable } from '../src/groups/reach.js';

const NOBODY = 65534;

describe('unreachable(path, uid, gid)', () => {
  it('names the first directory the user cannot search, then the file it cannot read, then nothing', async () => {
    const temp = await tempDir('stackware-reach-');
    try {
      await chmod(temp.dir, 0o755);
      const home = join(temp.dir, 'home');
      const file = join(home, 'app', 'site.toml');
      await mkdir(join(home, 'app'), { recursive: true });
      await writeFile(file, 'main = "x"\n');
      await chmod(home, 0o700);
      await chmod(join(home, 'app'), 0o755);
      await chmod(file, 0o600);
      const owner = `${process.getuid!()}:${process.getgid!()}`;
      expect(unreachable(file, NOBODY, NOBODY)).toBe(`${home} (drwx------ ${owner}) is not searchable by it: chmod o+x ${home}, or move the application where that user can read it`);
      await chmod(home, 0o711);
      expect(unreachable(file, NOBODY, NOBODY)).toBe(`${file} (-rw------- ${owner}) is not readable by it: chmod o+r ${file}`);
      await chmod(file, 0o644);
      expect(unreachable(file, NOBODY, NOBODY)).toBeUndefined();
      // the owner's and the group's bits count for the owner and the group
      await chmod(home, 0o700);
      expect(unreachable(file, process.getuid!() === 0 ? 0 : process.getuid!(), NOBODY)).toBeUndefined();
      await chmod(home, 0o710);
      expect(unreachable(file, NOBODY, process.getgid!())).toBeUndefined();
      await chmod(home, 0o755);
      expect(unreachable(join(home, 'missing.ts'), NOBODY, NOBODY)).toBeUndefined(); // not there: not this check's to say
    } finally {
      await temp.cleanup();
    }
  });
});
