/**
 * CSV previews for output review, with cells holding small counts flagged as a disclosure risk. The rule is
 * the server's (lambdas/adapters/disclosure.ts): a whole number from 1 to threshold - 1; zero discloses
 * nothing. The server's own findings are flagged too, so the page never shows less than the check found.
 */
import type { FindingJson } from '../runs-types.js';

/** Parses CSV text (RFC 4180: quotes, doubled quotes, quoted newlines) into rows of cells. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else cell += c;
  }
  if (cell !== '' || row.length > 0) {
    row.push(cell);
    rows.push(row);
  }
  return rows.filter((r) => !(r.length === 1 && r[0] === ''));
}

const NUMBER = /^-?\d+(\.\d+)?$/;

/** The first row is a header when any of its cells is text (not empty, not a number): the server's rule. */
export function hasHeader(rows: readonly (readonly string[])[]): boolean {
  return (rows[0] ?? []).some((cell) => cell.trim() !== '' && !NUMBER.test(cell.trim()));
}

export function isSmallCount(value: string, threshold: number): boolean {
  const trimmed = value.trim();
  if (!/^\d+$/.test(trimmed)) return false;
  const n = Number(trimmed);
  return n > 0 && n < threshold;
}

export interface CsvPreview {
  readonly header?: readonly string[];
  /** Body rows, each with the row's 1-based number in the file (as findings name it). */
  readonly rows: readonly { readonly number: number; readonly cells: readonly { readonly value: string; readonly flagged: boolean; readonly why?: string }[] }[];
  readonly flaggedCount: number;
  /** Rows left out of the preview (over `maxRows`). */
  readonly omittedRows: number;
}

/** "row 3, column 2 (count)" as the server words a finding's place. */
export function findingCell(finding: Pick<FindingJson, 'where'>): { row: number; column: number } | undefined {
  const match = /row (\d+), column (\d+)/.exec(finding.where);
  return match ? { row: Number(match[1]), column: Number(match[2]) } : undefined;
}

export function csvPreview(text: string, threshold: number, findings: readonly FindingJson[] = [], maxRows = 500): CsvPreview {
  const all = parseCsv(text);
  const header = hasHeader(all) ? all[0] : undefined;
  const fromServer = new Map<string, string>();
  for (const finding of findings) {
    const cell = findingCell(finding);
    if (cell) fromServer.set(`${cell.row}:${cell.column}`, finding.detail);
  }
  let flaggedCount = 0;
  const start = header ? 1 : 0;
  const body = all.slice(start, start + maxRows).map((cells, index) => {
    const number = start + index + 1;
    return {
      number,
      cells: cells.map((value, column) => {
        const server = fromServer.get(`${number}:${column + 1}`);
        const flagged = server !== undefined || isSmallCount(value, threshold);
        if (flagged) flaggedCount++;
        return flagged ? { value, flagged, why: server ?? `${value.trim()} is below ${threshold}` } : { value, flagged };
      }),
    };
  });
  return { header, rows: body, flaggedCount, omittedRows: Math.max(0, all.length - start - maxRows) };
}
