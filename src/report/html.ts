import sharp from 'sharp';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { ClassReport } from '../train/evaluate.js';
import type { EpochMetrics } from '../train/fit.js';
import type { LrFindResult } from '../train/lr-find.js';
import { readableNumber } from '../numbers.js';

/**
 * Self-contained HTML reports: the charts are vega-lite specifications rendered to SVG here, in
 * Node, and the digits are inline PNGs, so the file opens offline in any browser (no scripts, no CDN).
 */

export interface DigitTile {
  /** 28×28 values in [0, 1]. */
  pixels: Float32Array;
  label: number;
  predicted: number;
  confidence: number;
}

export interface TrainingReport {
  title: string;
  /** Shown as a two-column table. */
  config: Record<string, string | number | boolean | undefined>;
  history: EpochMetrics[];
  classes?: ClassReport;
  /** Class i's name (a CSV's named classes); default the class numbers. */
  classNames?: string[];
  /** The most confidently wrong test digits (MNIST-shaped data only). */
  wrong?: DigitTile[];
  /** Training digits as they are and as each epoch's augmentation distorted them: a row of 28×28 values in [0, 1] each. */
  augmented?: { description: string; rows: Float32Array[][] };
}

export interface TimingReport {
  title: string;
  config: Record<string, string | number | boolean | undefined>;
  /** One bar each. */
  bars: { label: string; seconds: number; group?: string }[];
  /** A log axis for timings that span decades (bench); a linear one shows a ratio as it is (compare). */
  scale: 'linear' | 'log';
  /** Tables below the chart, each under its heading (compare's figures, bench's targets). */
  tables?: { heading: string; header: string[]; rows: string[][] }[];
}

export interface LrFindReport {
  title: string;
  config: Record<string, string | number | boolean | undefined>;
  result: LrFindResult;
}

async function svgOf(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  return view.toSVG();
}

const escape = (text: string): string =>
  text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

function table(header: string[], rows: string[][]): string {
  const cells = (tag: string, row: string[]): string =>
    `<tr>${row.map((cell) => `<${tag}>${escape(cell)}</${tag}>`).join('')}</tr>`;
  return `<table class="figures">${cells('th', header)}${rows.map((row) => cells('td', row)).join('')}</table>`;
}

function configTable(config: Record<string, string | number | boolean | undefined>): string {
  const rows = Object.entries(config)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `<tr><th>${escape(k)}</th><td>${escape(String(v))}</td></tr>`);
  return `<table class="config">${rows.join('')}</table>`;
}

function page(title: string, sections: string[]): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; }
table.config th { text-align: left; padding-right: 1.5em; font-weight: 600; white-space: nowrap; } table.config td { font-family: ui-monospace, monospace; }
.charts { display: flex; flex-wrap: wrap; gap: 1.5em; }
.digits { display: grid; grid-template-columns: repeat(9, 72px); gap: 10px; }
.digit { text-align: center; font-size: 12px; } .digit img { width: 56px; height: 56px; image-rendering: pixelated; border: 1px solid #ccc; }
.digit .wrong { color: #b00; font-weight: 600; }
table.figures { border-collapse: collapse; } table.figures th, table.figures td { padding: 2px 10px; text-align: right; } table.figures th:first-child, table.figures td:first-child { text-align: left; }
table.figures tr:nth-child(even) td { background: #f4f6f8; }
</style></head><body>
<h1>${escape(title)}</h1>
${sections.join('\n')}
</body></html>
`;
}

async function digitPng(pixels: Float32Array): Promise<string> {
  const gray = Buffer.from(Array.from(pixels, (v) => Math.round(255 - 255 * Math.min(1, Math.max(0, v)))));
  const png = await sharp(gray, { raw: { width: 28, height: 28, channels: 1 } })
    .png()
    .toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}

function learningCurves(history: EpochMetrics[], measure: 'accuracy' | 'error'): TopLevelSpec {
  const values = history
    .flatMap((m) => [
      { epoch: m.epoch, set: 'train', value: measure === 'accuracy' ? m.trainAccuracy : m.trainError },
      { epoch: m.epoch, set: 'validation', value: measure === 'accuracy' ? m.valAccuracy : m.valError },
    ])
    .filter((v) => v.value !== undefined);
  const large = values.some((v) => Math.abs(v.value!) >= 1e5);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: measure === 'accuracy' ? 'Accuracy per epoch' : 'Error per epoch',
    // Two of these, with their axes and legends, fit side by side on the page (max-width 1100 px).
    width: 340,
    height: 260,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      // Whole epochs, and a run of one epoch still gets an axis from 1 to 2 (not one tick reading 1.000000).
      x: {
        field: 'epoch',
        type: 'quantitative',
        axis: { tickMinStep: 1, format: 'd' },
        scale: { domain: [1, Math.max(2, history.length)] },
      },
      // An unscaled regression's error reads 1.6e+11, not 160,000,000,000.
      y: {
        field: 'value',
        type: 'quantitative',
        title: measure,
        scale: { zero: false },
        axis: large ? { format: '.5~g' } : {},
      },
      color: { field: 'set', type: 'nominal', title: null },
    },
  };
}

/**
 * The confusion matrix as a heat map, with each class's precision and recall beside its row: one
 * chart, so the rows line up. An empty cell is white and unlabelled, never the palest blue of a
 * count of one.
 */
function confusionHeatmap(classes: ClassReport, names: string[]): TopLevelSpec {
  const { confusion, precision, recall } = classes;
  const values = confusion.flatMap((row, label) =>
    row.map((count, predicted) => ({ label: names[label], predicted: names[predicted], count })),
  );
  const largest = Math.max(1, ...values.map((v) => v.count));
  const decades = Math.floor(Math.log10(largest));
  // 0 and 1 sit too close on the gradient to label both, unless nothing reaches 10.
  const legendValues = [
    1,
    ...Array.from({ length: Math.max(decades, 1) }, (_, i) => 10 ** (decades > 0 ? i + 1 : i)),
  ].filter((v, i, all) => all.indexOf(v) === i);
  const cell = 360 / names.length;
  const y = { field: 'label', type: 'ordinal', title: 'true class', sort: names } as const;
  const scores = names.flatMap((name, i) => [
    { label: name, measure: 'precision', text: precision[i].toFixed(4) },
    { label: name, measure: 'recall', text: recall[i].toFixed(4) },
  ]);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Confusion matrix (rows: true class)',
    hconcat: [
      {
        width: 360,
        height: 360,
        data: { values },
        encoding: {
          x: { field: 'predicted', type: 'ordinal', title: 'predicted', sort: names, axis: { labelAngle: 0 } },
          y,
        },
        layer: [
          {
            mark: 'rect',
            // On a symlog scale, evenly spaced ticks crowd at the top; powers of ten spread evenly.
            encoding: {
              color: {
                condition: { test: 'datum.count === 0', value: '#ffffff' },
                field: 'count',
                type: 'quantitative',
                scale: { type: 'symlog', scheme: 'blues', domainMin: 1 },
                legend: { gradientLength: 340, values: legendValues },
              },
            },
          },
          {
            mark: { type: 'text', fontSize: Math.min(10, cell / 3) },
            transform: [{ filter: 'datum.count > 0' }],
            encoding: {
              text: { field: 'count', type: 'quantitative' },
              color: { condition: { test: 'datum.count > 200', value: 'white' }, value: 'black' },
            },
          },
        ],
      },
      {
        width: 150,
        height: 360,
        data: { values: scores },
        mark: { type: 'text', fontSize: 11 },
        encoding: {
          x: {
            field: 'measure',
            type: 'nominal',
            title: null,
            sort: ['precision', 'recall'],
            axis: { orient: 'top', labelAngle: 0 },
          },
          y: { ...y, axis: null },
          text: { field: 'text' },
        },
      },
    ],
    resolve: { scale: { y: 'shared' } },
  };
}

/** Learning curves, the confusion matrix as a heat map, the most confidently wrong digits, the configuration. */
export async function trainingReport(report: TrainingReport): Promise<string> {
  const sections = [`<h2>Configuration</h2>${configTable(report.config)}`];
  if (report.history.length) {
    const charts = await Promise.all([
      svgOf(learningCurves(report.history, 'accuracy')),
      svgOf(learningCurves(report.history, 'error')),
    ]);
    const hasAccuracy = report.history.some((m) => m.trainAccuracy !== undefined);
    sections.push(
      `<h2>Learning curves</h2><div class="charts">${(hasAccuracy ? charts : charts.slice(1)).join('')}</div>`,
    );
  }
  if (report.classes) {
    const c = report.classes;
    const names = report.classNames ?? c.precision.map((_, i) => String(i));
    sections.push(
      `<h2>Validation: accuracy ${c.accuracy.toFixed(4)}, error ${c.error.toFixed(4)}</h2><div class="charts">${await svgOf(confusionHeatmap(c, names))}</div>`,
    );
  } else if (report.history.length) {
    // A regression has no classes to tabulate: its final errors, as the terminal prints them.
    const last = report.history[report.history.length - 1];
    const figures = [
      `training error ${readableNumber(last.trainError)}`,
      ...(last.valError === undefined ? [] : [`validation error ${readableNumber(last.valError)}`]),
    ];
    sections.push(`<h2>Final epoch (${last.epoch}): ${figures.join(', ')}</h2>`);
  }
  if (report.wrong?.length) {
    const tiles = await Promise.all(
      report.wrong.map(
        async (d) =>
          `<div class="digit"><img alt="a ${d.label} read as ${d.predicted}" src="${await digitPng(d.pixels)}"><br>true ${d.label}<br><span class="wrong">read ${d.predicted}</span> ${(d.confidence * 100).toFixed(0)}%</div>`,
      ),
    );
    sections.push(
      `<h2>The ${report.wrong.length} most confidently wrong test digits</h2><div class="digits">${tiles.join('')}</div>`,
    );
  }
  if (report.augmented?.rows.length) {
    const { description, rows } = report.augmented;
    const tiles = await Promise.all(
      rows.flatMap((row) =>
        row.map(
          async (pixels, i) =>
            `<div class="digit"><img alt="${i === 0 ? 'a training digit' : `epoch ${i}'s distortion`}" src="${await digitPng(pixels)}"><br>${i === 0 ? 'as it is' : `epoch ${i}`}</div>`,
        ),
      ),
    );
    sections.push(
      `<h2>Augmented training digits (${description})</h2><p>Each row is one digit: as the data hold it, then as each epoch trained on it.</p><div class="digits">${tiles.join('')}</div>`,
    );
  }
  return page(report.title, sections);
}

/** Bar charts of seconds per epoch (for `compare` and `bench`), with their tables of figures. */
export async function timingReport(report: TimingReport): Promise<string> {
  const log = report.scale === 'log';
  // A log axis has no zero: the bars start at the power of ten below the fastest.
  const start = log ? 10 ** Math.floor(Math.log10(Math.min(...report.bars.map((bar) => bar.seconds)))) : 0;
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `Seconds per training epoch${log ? ' (log scale)' : ''}`,
    width: 560,
    data: { values: report.bars },
    mark: 'bar',
    encoding: {
      // Labels such as 'native avx512 ×2, H 1024, batch 100' are read whole, not cut at Vega's 180 px.
      y: { field: 'label', type: 'nominal', sort: null, title: null, axis: { labelLimit: 320 } },
      x: { field: 'seconds', type: 'quantitative', scale: log ? { type: 'log', domainMin: start } : { zero: true } },
      x2: { datum: start },
      color: { field: 'group', type: 'nominal', title: null },
      tooltip: [{ field: 'label' }, { field: 'seconds', format: '.4f' }],
    },
  };
  const tables = (report.tables ?? []).map((t) => `<h2>${escape(t.heading)}</h2>${table(t.header, t.rows)}`);
  return page(report.title, [
    `<h2>Configuration</h2>${configTable(report.config)}`,
    `<h2>Timings</h2>${await svgOf(spec)}`,
    ...tables,
  ]);
}

/** The learning-rate finder's losses against the rate (a log axis), the suggested rate marked. */
export async function lrFindReport(report: LrFindReport): Promise<string> {
  const { points, suggestion, minimum, steepest } = report.result;
  const values = points
    .flatMap((p) => [
      { rate: p.learningRate, loss: p.loss, series: 'batch loss' },
      { rate: p.learningRate, loss: p.smoothed, series: 'smoothed' },
    ])
    .filter((v) => Number.isFinite(v.loss));
  // The loss axis ends at the first smoothed loss, as in the terminal: a diverging tail would flatten the rest.
  const top = Math.max(points[0].smoothed, Math.min(...values.map((v) => v.loss)) * 1.0001);
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Loss against the learning rate',
    width: 640,
    height: 320,
    layer: [
      {
        data: { values },
        mark: { type: 'line', clip: true },
        encoding: {
          x: {
            field: 'rate',
            type: 'quantitative',
            scale: { type: 'log' },
            title: 'learning rate',
            axis: { format: '.0e', grid: false },
          },
          y: { field: 'loss', type: 'quantitative', scale: { zero: false, domainMax: top }, title: 'loss' },
          color: { field: 'series', type: 'nominal', title: null },
          opacity: { condition: { test: "datum.series === 'smoothed'", value: 1 }, value: 0.35 },
        },
      },
      {
        data: { values: [{ rate: suggestion, label: `suggested ${suggestion.toPrecision(2)}` }] },
        mark: { type: 'rule', strokeDash: [4, 3], color: '#b00' },
        encoding: { x: { field: 'rate', type: 'quantitative' } },
      },
    ],
  };
  const figures = [
    ["suggested (fastai's valley)", suggestion.toPrecision(3)],
    ['lowest smoothed loss at', minimum.toPrecision(3)],
    ['fastest fall at', steepest.toPrecision(3)],
    ['batches', String(points.length)],
  ];
  return page(report.title, [
    `<h2>Configuration</h2>${configTable(report.config)}`,
    `<h2>The probe</h2>${await svgOf(spec)}`,
    `<h2>Rates</h2>${table(['', 'learning rate'], figures)}`,
  ]);
}
