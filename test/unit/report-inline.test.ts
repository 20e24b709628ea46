import { describe, expect, it } from 'vitest';
import { escapeHtml, inlineScriptSource, jsonForScriptBlock } from '../../stages/report/report-html.ts';

describe('inlining into report.html', () => {
  it('escapes every character that could open a tag or leave an attribute', () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe(
      '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;',
    );
  });

  it('keeps a value holding </script> from closing the data block, and reads it back unchanged', () => {
    const value = { key: '</script><script>alert(1)</script>' };

    const text = jsonForScriptBlock(value);

    expect(text).not.toContain('<');
    expect(JSON.parse(text)).toEqual(value);
  });

  it('keeps script source meaning the same while removing </script and the source map comment', () => {
    const source = 'var a = "</script>"; var b = /<!--/.test("<!--");\n//# sourceMappingURL=chart.umd.js.map';

    const inlined = inlineScriptSource(source);

    expect(inlined).not.toMatch(/<\/script|<!--|sourceMappingURL/i);
    expect(new Function(`${inlined}; return [a, b];`)()).toEqual(['</script>', true]);
  });
});
