// What a browser would show as an empty chart, read from a report's SVG: a chart with no marks, a
// bar or heat-map cell of no area, a line of no length. Used by the tests and by
// report-screenshots.sh on the reports it photographs.

/** The problems of every chart in `html`, one line each; none when every mark has a size. */
export function undrawnMarks(html) {
  const problems = [];
  const charts = html.split('<svg').slice(1);
  if (charts.length === 0) problems.push('no chart at all');
  charts.forEach((chart, index) => {
    const title = chart.match(/role-title-text[^>]*>.*?<text[^>]*>([^<]*)</s)?.[1] ?? `chart ${index + 1}`;
    const groups = (kind) =>
      [...chart.matchAll(new RegExp(`class="mark-${kind} role-mark[^"]*"[^>]*>(.*?)</g>`, 'gs'))].map((m) => m[1]);
    const rects = groups('rect').flatMap((g) => [...g.matchAll(/d="M[-\d.e]+,[-\d.e]+h([-\d.e]+)v([-\d.e]+)/g)]);
    const lines = groups('line').flatMap((g) => [...g.matchAll(/d="M([^"]+)"/g)]);
    if (rects.length + lines.length === 0) problems.push(`${title}: no marks`);
    for (const [, width, height] of rects) {
      if (Number(width) === 0 || Number(height) === 0) problems.push(`${title}: a rect of ${width} × ${height}`);
    }
    for (const [, path] of lines) {
      const xs = [...path.matchAll(/(?:^|L)([-\d.e]+),/g)].map((m) => Number(m[1]));
      if (!(Math.max(...xs) > Math.min(...xs))) problems.push(`${title}: a line of no length`);
    }
  });
  return problems;
}
