/**
 * The state folder's lock: a process that starts servers of its own on the folder's data holds it, because two
 * servers cannot share dynalite's LevelDB or s3rver's files (the second would fail, and its clients would see a
 * refused connection). `nightshift local up`'s shared servers make it unnecessary.
 */

import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CliFailure } from '../run-backend/failures.ts';
import { isRunning, type ProcessIdentity, processIdentity } from './process-identity.ts';
import { readStateFile } from './state-file.ts';

export const STATE_LOCK_FILE = 'runtime.lock';

/** What `runtime.lock` says: the process running servers of its own on the state folder. */
export interface StateLock extends ProcessIdentity {
  readonly command: string;
  readonly since: string;
}

/**
 * Takes the state folder for this process's own servers (two sets of servers on one folder's data would corrupt
 * it, and the second would answer ECONNREFUSED to the first's clients). A lock whose owner is gone is taken over.
 * Resolves to a release function.
 */
export async function acquireStateLock(stateDir: string): Promise<() => Promise<void>> {
  const path = join(stateDir, STATE_LOCK_FILE);
  const me = processIdentity() as ProcessIdentity;
  const lock: StateLock = { ...me, command: process.argv.slice(1).join(' '), since: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx');
      await handle.writeFile(`${JSON.stringify(lock)}\n`);
      await handle.close();
      return async () => {
        const current = await readLock(stateDir);
        if (current?.pid === me.pid) await rm(path, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const held = await readLock(stateDir);
      if (held && isRunning(held)) throw folderInUse(stateDir, held);
      await rm(path, { force: true });
    }
  }
  throw new CliFailure('STATE_IN_USE', `could not take ${path}: another process keeps taking it`);
}

/** Removes a lock whose owner is gone. */
export async function releaseStaleLock(stateDir: string): Promise<void> {
  const held = await readLock(stateDir);
  if (held && !isRunning(held)) await rm(join(stateDir, STATE_LOCK_FILE), { force: true });
}

/** The lock's holder, if the file exists and parses. */
export async function readLock(stateDir: string): Promise<StateLock | undefined> {
  const parsed = (await readStateFile(join(stateDir, STATE_LOCK_FILE))) as StateLock | null | undefined;
  return typeof parsed?.pid === 'number' ? parsed : undefined;
}

/** The error that names the folder's holder and the way out. */
export function folderInUse(stateDir: string, lock: StateLock): CliFailure {
  return new CliFailure(
    'STATE_IN_USE',
    `the local state folder ${stateDir} is in use by process ${lock.pid} (${lock.command}, since ${lock.since}), ` +
      'which runs its own servers on it: wait for it to finish, or start shared servers with `nightshift local up` ' +
      'so local runs can run side by side',
  );
}
