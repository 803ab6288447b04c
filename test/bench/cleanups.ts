/**
 * What must be undone however the benchmark ends (normally, on an error, on a signal, or at its time
 * limit): runtimes, processes, temp folders. Run last-added first, each at most once.
 */
import { readdir, readFile } from 'node:fs/promises';

export class Cleanups {
  private readonly tasks = new Map<number, () => Promise<void>>();
  private next = 0;
  private running: Promise<void> = Promise.resolve();

  /** Register a task; the returned function forgets it (when its owner has cleaned up itself). */
  add(task: () => Promise<void>): () => void {
    const id = this.next++;
    this.tasks.set(id, task);
    return () => void this.tasks.delete(id);
  }

  /**
   * Run every task still registered, newest first; failures are reported, not thrown. A call made while
   * another is running waits for it (so nobody exits while a runtime is still closing).
   */
  run(report: (message: string) => void = () => undefined): Promise<void> {
    this.running = this.running.then(async () => {
      for (const id of [...this.tasks.keys()].reverse()) {
        const task = this.tasks.get(id);
        this.tasks.delete(id);
        try {
          await task?.();
        } catch (error) {
          report(`cleanup failed: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
    });
    return this.running;
  }
}

/**
 * Processes this process started that are still alive (direct children: the workspaces' Jupyter and
 * gate, the gate benchmark's tool and gate). Read from /proc; empty where there is no /proc.
 */
export async function childProcessIds(): Promise<number[]> {
  const entries = await readdir('/proc').catch(() => [] as string[]);
  const children: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid ...: comm may hold spaces and parentheses, so read after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === process.pid) children.push(Number(entry));
  }
  return children;
}
