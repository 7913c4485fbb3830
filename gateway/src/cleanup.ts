/**
 * A stack of undo steps. Whatever a start acquires (a TAP, a timer, a socket, a file)
 * pushes the step that releases it; `unwind` runs them all, newest first, whether the
 * start failed half-way or the gateway is stopping. A failing step is reported and the
 * rest still run, so one stuck resource never keeps the others alive.
 */
export class CleanupStack {
  private readonly steps: { readonly what: string; readonly undo: () => Promise<void> | void }[] = [];

  /** Registers `undo` for the resource `what` just acquired. */
  defer(what: string, undo: () => Promise<void> | void): void {
    this.steps.push({ what, undo });
  }

  get size(): number {
    return this.steps.length;
  }

  /** Runs every step in reverse order and empties the stack; `onError` hears each failure. */
  async unwind(onError: (what: string, error: unknown) => void): Promise<void> {
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      try {
        await step.undo();
      } catch (e) {
        onError(step.what, e);
      }
    }
  }
}
