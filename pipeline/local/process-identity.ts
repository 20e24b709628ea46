/**
 * Which process owns something (a local run, the state folder's servers), told apart from a later process that
 * reuses its pid: the pid plus the process's start time, read from `/proc/<pid>/stat` on Linux (field 22, clock ticks
 * after boot; proc(5)). Elsewhere the start time is absent and only the pid is compared.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { RunOwner } from '../../shared/records.ts';

/** A process on a host: the run record's owner shape. */
export type ProcessIdentity = RunOwner;

/** The identity of `pid` (default: this process), or undefined when no such process runs. */
export function processIdentity(pid: number = process.pid): ProcessIdentity | undefined {
  if (!pidAlive(pid)) return undefined;
  const startTime = procStartTime(pid);
  return { pid, ...(startTime ? { startTime } : {}), host: hostname() };
}

/**
 * Whether the process `owner` names still runs: same pid and, where known, the same start time. An owner on another
 * host cannot be checked from here and counts as alive.
 */
export function isRunning(owner: ProcessIdentity): boolean {
  if (owner.host !== hostname()) return true;
  if (!pidAlive(owner.pid)) return false;
  if (owner.startTime === undefined) return true;
  return procStartTime(owner.pid) === owner.startTime;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function procStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces; count fields after its closing one.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}
