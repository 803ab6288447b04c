/** Facts about the machine the figures were measured on: it is shared and noisy, so print them with the figures. */
import os from 'node:os';

export interface MachineFacts {
  readonly cores: number;
  readonly cpuModel: string;
  readonly loadAverage: readonly [number, number, number];
  readonly node: string;
  readonly platform: string;
  readonly totalMemoryMiB: number;
  readonly freeMemoryMiB: number;
}

export function machineFacts(): MachineFacts {
  const [one, five, fifteen] = os.loadavg().map((value) => Math.round(value * 100) / 100);
  return {
    cores: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    loadAverage: [one, five, fifteen],
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    totalMemoryMiB: Math.round(os.totalmem() / 2 ** 20),
    freeMemoryMiB: Math.round(os.freemem() / 2 ** 20),
  };
}
