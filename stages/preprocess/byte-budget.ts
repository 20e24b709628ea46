/**
 * The bytes a batch's downloads may hold at once. A download waits until its object fits in what is left and holds
 * its bytes until its image is done, so many downloads in flight cannot hold more than the function's memory
 * allows; an object larger than the whole budget goes when nothing else is held, alone. Waiters go in order, so a
 * large object is not passed over for ever by small ones.
 */
export class ByteBudget {
  private held = 0;
  private readonly waiting: { readonly bytes: number; readonly start: () => void }[] = [];

  constructor(private readonly limit: number) {}

  /** Waits until `bytes` fit, then holds them; the function returned gives them back (once). */
  async hold(bytes: number): Promise<() => void> {
    if (this.waiting.length === 0 && this.fits(bytes)) this.held += bytes;
    else await new Promise<void>((start) => this.waiting.push({ bytes, start }));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.held -= bytes;
      this.admit();
    };
  }

  private fits(bytes: number): boolean {
    return this.held === 0 || this.held + bytes <= this.limit;
  }

  private admit(): void {
    for (let next = this.waiting[0]; next !== undefined && this.fits(next.bytes); next = this.waiting[0]) {
      this.waiting.shift();
      this.held += next.bytes;
      next.start();
    }
  }
}
