import { appendFileSync } from 'node:fs';

type Write = typeof process.stdout.write;

/**
 * Moves the stage handlers' structured log lines (Powertools JSON with `"service":"nightshift"`) from the terminal
 * to a JSON Lines file, where they can be searched (`grep`, `jq`), leaving the terminal to the progress display.
 */
export class StageLogCapture {
  private originals: { out: Write; err: Write } | undefined;

  constructor(private readonly file: string) {}

  start(): void {
    if (this.originals) return;
    const originals = {
      out: process.stdout.write.bind(process.stdout),
      err: process.stderr.write.bind(process.stderr),
    };
    this.originals = originals;
    const divert =
      (original: Write): Write =>
      (chunk: unknown, ...rest: unknown[]) => {
        const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString();
        if (text.startsWith('{') && text.includes('"service":"nightshift"')) {
          appendFileSync(this.file, text.endsWith('\n') ? text : `${text}\n`);
          const callback = rest.find((arg) => typeof arg === 'function') as (() => void) | undefined;
          callback?.();
          return true;
        }
        return (original as (...args: unknown[]) => boolean)(chunk, ...rest);
      };
    process.stdout.write = divert(originals.out);
    process.stderr.write = divert(originals.err);
  }

  stop(): void {
    if (!this.originals) return;
    process.stdout.write = this.originals.out;
    process.stderr.write = this.originals.err;
    this.originals = undefined;
  }
}
