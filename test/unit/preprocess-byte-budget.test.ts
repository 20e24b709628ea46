import { describe, expect, it } from 'vitest';
import { ByteBudget } from '../../stages/preprocess/byte-budget.ts';

/** Lets every settled promise's callbacks run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('ByteBudget', () => {
  it('holds what fits at once and starts a waiter when enough is given back', async () => {
    const budget = new ByteBudget(100);
    const started: string[] = [];
    const releases = new Map<string, () => void>();
    const hold = (name: string, bytes: number) =>
      budget.hold(bytes).then((release) => {
        started.push(name);
        releases.set(name, release);
      });

    void hold('a', 60);
    void hold('b', 40);
    void hold('c', 30);
    await settle();
    const first = [...started];
    releases.get('a')?.();
    await settle();

    expect(first).toEqual(['a', 'b']);
    expect(started).toEqual(['a', 'b', 'c']);
  });

  it('lets an object larger than the whole budget go alone, and keeps the order of the waiters', async () => {
    const budget = new ByteBudget(100);
    const started: string[] = [];
    const releases = new Map<string, () => void>();
    const hold = (name: string, bytes: number) =>
      budget.hold(bytes).then((release) => {
        started.push(name);
        releases.set(name, release);
      });

    void hold('small', 10);
    void hold('huge', 500);
    void hold('after', 10);
    await settle();
    const whileSmallHeld = [...started];
    releases.get('small')?.();
    await settle();
    const whileHugeHeld = [...started];
    releases.get('huge')?.();
    releases.get('huge')?.();
    await settle();

    expect(whileSmallHeld).toEqual(['small']);
    expect(whileHugeHeld).toEqual(['small', 'huge']);
    expect(started).toEqual(['small', 'huge', 'after']);
  });
});
