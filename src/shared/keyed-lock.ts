/**
 * Async mutual exclusion by key within one process: `acquire` resolves once every key is free and
 * returns the release. Keys are taken in sorted order, so two holders of overlapping sets can
 * never wait for each other.
 */
export class KeyedLock {
  private tails = new Map<string, Promise<void>>();
  async acquire(keys: string[]) {
    const releases: (() => void)[] = [];
    for (const key of [...new Set(keys)].sort()) {
      const before = this.tails.get(key) ?? Promise.resolve();
      let release!: () => void;
      const mine = new Promise<void>((r) => {
        release = r;
      });
      const tail = before.then(() => mine);
      this.tails.set(key, tail);
      await before;
      releases.push(() => {
        release();
        if (this.tails.get(key) === tail) this.tails.delete(key);
      });
    }
    return () => {
      for (const r of releases) r();
    };
  }
}
