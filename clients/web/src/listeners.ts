/** A small typed listener set: the client's own events (status, errors, ...). */

export class Listeners<Args extends unknown[]> {
  private readonly listeners = new Set<(...args: Args) => void>();

  add(listener: (...args: Args) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  get size(): number {
    return this.listeners.size;
  }

  emit(...args: Args): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(...args);
      } catch (error) {
        // A failing UI callback must not derail reconnects; rethrown on its own turn, it
        // still reaches the console and error reporting.
        setTimeout(() => {
          throw error;
        }, 0);
      }
    }
  }
}
