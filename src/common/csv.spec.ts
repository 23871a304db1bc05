import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { escapeFormula, parseCsv, toCsv } from './csv.js';

const spec = { required: ['code', 'name'], optional: ['note'], maxRows: 3 };

describe('parseCsv', () => {
  it('reads a header and rows, with or without BOM, keeping Chinese text', async () => {
    for (const text of ['code,name\r\n1,东沟村\r\n', '\uFEFFcode,name\n1,东沟村\n']) {
      const parsed = await parseCsv(text, spec);
      assert.deepEqual(parsed.problems, []);
      assert.deepEqual(parsed.rows, [{ line: 2, values: { code: '1', name: '东沟村' } }]);
    }
  });

  it('reports every line with the wrong number of values, by line number', async () => {
    const parsed = await parseCsv('code,name\n1,a\n2\n3,c,extra\n', spec);
    assert.deepEqual(
      parsed.problems.map((p) => [p.line, p.rule]),
      [
        [3, 'columnCount'],
        [4, 'columnCount'],
      ],
    );
    assert.equal(parsed.rows.length, 1);
  });

  it('reports an unclosed quote with a line number', async () => {
    const parsed = await parseCsv('code,name\n1,"open\n2,b\n', spec);
    assert.equal(parsed.problems.length, 1);
    assert.equal(parsed.problems[0].rule, 'csvSyntax');
    assert.ok((parsed.problems[0].line ?? 0) >= 2);
  });

  it('refuses unknown, duplicate and missing columns on line 1', async () => {
    const parsed = await parseCsv('code,code,colour\n1,2,3\n', spec);
    assert.deepEqual(parsed.problems.map((p) => `${p.line}:${p.rule}:${p.field}`).sort(), [
      '1:duplicateColumn:code',
      '1:required:name',
      '1:unknownColumn:colour',
    ]);
  });

  it('refuses damaged text (U+FFFD) and files that are empty or too long', async () => {
    assert.equal(
      (await parseCsv('code,name\n1,\uFFFD\uFFFD\n', spec)).problems[0].rule,
      'encoding',
    );
    assert.equal((await parseCsv('', spec)).problems[0].rule, 'required');
    assert.equal(
      (await parseCsv('code,name\n1,a\n2,b\n3,c\n4,d\n', spec)).problems[0].rule,
      'maxRows',
    );
  });

  it('round-trips text that a spreadsheet would run as a formula', async () => {
    const csv = toCsv(['code', 'name'], [['1', escapeFormula('=HYPERLINK("x")')]]);
    assert.ok(csv.startsWith('\uFEFF'));
    assert.match(csv, /'=HYPERLINK/);
    assert.equal((await parseCsv(csv, spec)).rows[0].values.name, '=HYPERLINK("x")');
  });
});
