/** A unified diff as lines the page can colour; no DOM. */
export type DiffLineKind = 'meta' | 'hunk' | 'added' | 'removed' | 'context';

export interface DiffLine {
  readonly kind: DiffLineKind;
  readonly text: string;
}

export function diffLines(unified: string): DiffLine[] {
  const lines = unified.replace(/\n$/, '').split('\n');
  return lines
    .filter((line, index) => !(line === '' && index === lines.length - 1))
    .map((text) => {
      if (text.startsWith('+++') || text.startsWith('---') || text.startsWith('diff ') || text.startsWith('index ') || text.startsWith('\\') || text.startsWith('Index: ') || /^=+$/.test(text)) return { kind: 'meta', text };
      if (text.startsWith('@@')) return { kind: 'hunk', text };
      if (text.startsWith('+')) return { kind: 'added', text };
      if (text.startsWith('-')) return { kind: 'removed', text };
      return { kind: 'context', text };
    });
}

/** "+3 −1" for a diff's body lines. */
export function diffStat(lines: readonly DiffLine[]): { added: number; removed: number } {
  return {
    added: lines.filter((line) => line.kind === 'added').length,
    removed: lines.filter((line) => line.kind === 'removed').length,
  };
}
