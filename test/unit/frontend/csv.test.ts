import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { csvPreview, findingCell, parseCsv } from '../../../frontend/src/logic/csv.js';

describe('CSV preview', () => {
  it('parses quotes, doubled quotes, quoted newlines and CRLF', () => {
    // Act
    const rows = parseCsv('area,"note, long",n\r\n"North ""A""","two\nlines",3\r\nSouth,,12\n');

    // Assess
    assert.deepEqual(rows, [
      ['area', 'note, long', 'n'],
      ['North "A"', 'two\nlines', '3'],
      ['South', '', '12'],
    ]);
  });

  it('flags whole counts from 1 to threshold - 1, never zero, text or decimals', () => {
    // Act
    const preview = csvPreview('area,count,share\nNorth,3,0.5\nSouth,0,9\nEast,10,x\nWest,42,1.0\n', 10);

    // Assess
    assert.deepEqual(preview.header, ['area', 'count', 'share']);
    const flagged = preview.rows.flatMap((row) => row.cells.filter((c) => c.flagged).map((c) => `${row.number}:${c.value}`));
    assert.deepEqual(flagged, ['2:3', '3:9']);
    assert.equal(preview.flaggedCount, 2);
    assert.equal(preview.rows[0]!.cells[1]!.why, '3 is below 10');
  });

  it("flags what the server's check found even when the page's rule would not", () => {
    // Prepare: the server read a cell as a small count (e.g. another rule); row numbers count the header
    const findings = [{ path: 'out.csv', where: 'row 3, column 2 (count)', rule: 'small-count', detail: '12 is below 15' }];

    // Act
    const preview = csvPreview('area,count\nNorth,40\nSouth,12\n', 10, findings);

    // Assess
    assert.deepEqual(findingCell(findings[0]!), { row: 3, column: 2 });
    assert.equal(preview.rows[1]!.cells[1]!.flagged, true);
    assert.equal(preview.rows[1]!.cells[1]!.why, '12 is below 15');
    assert.equal(preview.rows[0]!.cells[1]!.flagged, false);
  });

  it('treats an all-number first row as data, and caps the rows shown', () => {
    // Act
    const preview = csvPreview('1,2\n30,40\n50,60\n', 10, [], 2);

    // Assess
    assert.equal(preview.header, undefined);
    assert.deepEqual(preview.rows.map((row) => row.number), [1, 2]);
    assert.equal(preview.flaggedCount, 2);
    assert.equal(preview.omittedRows, 1);
  });
});
