/** The human report (a table per figure) and the machine line (one JSON object with every figure). */
import type { LoadFigures } from '../gate/bench-gate.js';
import type { MachineFacts } from './machine.js';
import { formatCounts, type OperationFigures } from './operations.js';
import { median, round1, round2, table, type Summary } from './stats.js';

export interface OpenFigures {
  readonly samples: number;
  readonly pollMs: number;
  readonly jupyterAlone: Summary;
  readonly cold: Summary;
  readonly coldOpenCall: Summary;
  readonly coldUntilReady: Summary;
  readonly warm: Summary;
  readonly stop: Summary;
  readonly overhead: {
    readonly coldMinusAloneMs: number;
    readonly coldOverAlone: number;
    readonly warmMinusAloneMs: number;
    readonly warmOverAlone: number;
    /** Median of each round's own difference (the rounds pair the samples in time, so drift cancels). */
    readonly coldMinusAlonePairedMs: number;
    readonly warmMinusAlonePairedMs: number;
  };
  /** Each round, in order: Jupyter alone, cold open, warm resume (ms). */
  readonly rounds: readonly { readonly alone: number; readonly cold: number; readonly warm: number }[];
}

export interface GateFigures {
  readonly seconds: number;
  readonly connections: number;
  readonly direct: LoadFigures;
  readonly gate: LoadFigures;
  readonly rpsRatio: number;
  readonly addedP50Ms: number;
  readonly addedP99Ms: number;
  /**
   * Mean latency by Little's law (connections / rps) in ms: autocannon's percentiles are whole
   * milliseconds, too coarse for loopback, so this shows the added latency at a finer grain.
   */
  readonly meanLatencyMs: { readonly direct: number; readonly gate: number; readonly added: number };
}

export interface BenchFigures {
  readonly machine: MachineFacts;
  readonly loadAverageAfter: readonly number[];
  readonly durationSeconds: number;
  readonly open: OpenFigures;
  readonly gate: GateFigures;
  readonly dynamodb: OperationFigures & { readonly requestsPerPattern: number };
}

export function overhead(alone: Summary, cold: Summary, warm: Summary, rounds: OpenFigures['rounds']): OpenFigures['overhead'] {
  return {
    coldMinusAlonePairedMs: round1(median(rounds.map((r) => r.cold - r.alone))),
    warmMinusAlonePairedMs: round1(median(rounds.map((r) => r.warm - r.alone))),
    coldMinusAloneMs: round1(cold.median - alone.median),
    coldOverAlone: round2(cold.median / alone.median),
    warmMinusAloneMs: round1(warm.median - alone.median),
    warmOverAlone: round2(warm.median / alone.median),
  };
}

export function gateFigures(seconds: number, connections: number, result: { direct: LoadFigures; gate: LoadFigures }): GateFigures {
  const direct = (connections / result.direct.rps) * 1000;
  const gate = (connections / result.gate.rps) * 1000;
  return {
    seconds,
    connections,
    direct: result.direct,
    gate: result.gate,
    rpsRatio: round2(result.gate.rps / result.direct.rps),
    addedP50Ms: round2(result.gate.p50 - result.direct.p50),
    addedP99Ms: round2(result.gate.p99 - result.direct.p99),
    meanLatencyMs: { direct: round2(direct), gate: round2(gate), added: round2(gate - direct) },
  };
}

export function machineHeader(machine: MachineFacts): string {
  return [
    'carrel benchmark (loopback; figures within one run compare, across runs they do not)',
    `machine: ${machine.cores} cores (${machine.cpuModel}), load average ${machine.loadAverage.join(' / ')} (1/5/15 min), ` +
      `memory ${machine.freeMemoryMiB} MiB free of ${machine.totalMemoryMiB} MiB, node ${machine.node}, ${machine.platform}`,
    '',
  ].join('\n');
}

const times = (ratio: number) => `${ratio.toFixed(2)}×`;
const signed = (ms: number) => (ms >= 0 ? `+${ms}` : String(ms));

export function humanReport(f: BenchFigures): string {
  const o = f.open;
  const summaryRow = (label: string, s: Summary) => [label, s.median, s.min, s.max];
  const open = table(
    `1. Open → Jupyter answering (ms; ${o.samples} samples each after one warm-up round; every poll ${o.pollMs} ms apart)`,
    ['', 'median', 'min', 'max'],
    [
      summaryRow('Jupyter alone: spawn → /api/status 200 (token)', o.jupyterAlone),
      summaryRow('cold open: POST open → /api/status 200 through the gate', o.cold),
      summaryRow('  of which the POST open call', o.coldOpenCall),
      summaryRow('  of which until the desk says ready', o.coldUntilReady),
      summaryRow('warm resume: POST open (stopped) → 200 through the gate', o.warm),
      summaryRow('stop: POST stop → desk says stopped (context)', o.stop),
    ],
  );
  const overheadTable = table(
    '   gate + platform overhead (medians)',
    ['', 'difference ms', 'ratio', 'paired difference ms (median per round)'],
    [
      ['cold open vs Jupyter alone', o.overhead.coldMinusAloneMs, times(o.overhead.coldOverAlone), o.overhead.coldMinusAlonePairedMs],
      ['warm resume vs Jupyter alone', o.overhead.warmMinusAloneMs, times(o.overhead.warmOverAlone), o.overhead.warmMinusAlonePairedMs],
    ],
  );
  const rounds = table(
    '   each round (ms)',
    ['round', 'Jupyter alone', 'cold open', 'warm resume'],
    o.rounds.map((r, i) => [String(i + 1), round1(r.alone), round1(r.cold), round1(r.warm)]),
  );
  const g = f.gate;
  const gate = table(
    `2. Gate throughput and latency, small GET (${g.connections} connections, ${g.seconds} s each after a 1 s warm-up)`,
    ['', 'rps', 'p50 ms', 'p99 ms', 'mean ms (connections/rps)'],
    [
      ['direct to the tool', g.direct.rps, g.direct.p50, g.direct.p99, g.meanLatencyMs.direct],
      ['through the gate', g.gate.rps, g.gate.p50, g.gate.p99, g.meanLatencyMs.gate],
      ['gate vs direct', times(g.rpsRatio), signed(g.addedP50Ms), signed(g.addedP99Ms), signed(g.meanLatencyMs.added)],
    ],
  );
  const d = f.dynamodb;
  const ops = table(
    `3. DynamoDB operations, counted at the client (ops per request; background in a quiet second: ${formatCounts(d.background)})`,
    ['', 'requests', 'ops/request', 'by operation, per request'],
    d.figures.map((x) => [x.pattern, x.requests, x.totalPerRequest, formatCounts(x.perRequest) + (x.note ? `; ${x.note}` : '')]),
  );
  const note = `   (each figure is quantized by the ${o.pollMs} ms poll interval: differences within that and the spread above are noise)\n`;
  return [
    open,
    overheadTable,
    note,
    rounds,
    gate,
    ops,
    `load average after: ${f.loadAverageAfter.join(' / ')}; the whole run took ${f.durationSeconds} s`,
    '',
  ].join('\n');
}
